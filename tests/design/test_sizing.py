"""Sizing to a target: whole layers, constant-energy sweeps, vectorised equals one by one,
out-of-reach targets and envelopes, on the bundled reference cells and materials."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.cells import reference_design
from casip.cli import app
from casip.design import evaluate
from casip.design.api import with_updates
from casip.design.sizing import first_whole_reaching, size, size_design, solve_increasing
from casip.errors import CasipInputError
from casip.materials import load_library

LIB = load_library()
POUCH = reference_design("nmc811-pouch")
PRISMATIC = reference_design("lfp-blade")
CYLINDER = reference_design("nmc811-4680")
THICKNESS = np.linspace(60.0, 120.0, 7)


def _energy_at_layers(design, thickness: float, layers: int) -> float:
    d = with_updates(design, {"cathode.thickness_um": thickness, "format.layers": layers})
    return evaluate(d, LIB).energy_Wh


def test_layers_rounded_up_meet_the_target_within_one_layer():
    df = size(POUCH, {"energy_Wh": 100.0}, sweep={"cathode.thickness_um": THICKNESS},
              library=LIB)
    assert df.attrs["rounding"] == "up" and "rounded up" in df.attrs["rounding_rule"]
    assert (df["sizing_status"] == 0).all()
    layers = df["format.layers"].to_numpy()
    assert np.array_equal(layers, np.round(layers))
    for t, n, achieved in zip(THICKNESS, layers, df["achieved_energy_Wh"], strict=True):
        assert achieved >= 100.0
        # one layer fewer misses the target: the overshoot is less than one layer's worth
        assert _energy_at_layers(POUCH, t, int(n) - 1) < 100.0
        assert achieved - 100.0 < achieved / n
    # thicker coatings need fewer layers for the same energy
    assert layers[0] > layers[-1]


def test_nearest_and_down_rounding():
    near = size(POUCH, {"energy_Wh": 100.0}, rounding="nearest",
                sweep={"cathode.thickness_um": THICKNESS}, library=LIB)
    down = size(POUCH, {"energy_Wh": 100.0}, rounding="down",
                sweep={"cathode.thickness_um": THICKNESS}, library=LIB)
    for t, n, e in zip(THICKNESS, near["format.layers"], near["achieved_energy_Wh"],
                       strict=True):
        per_layer = e / n
        assert abs(e - 100.0) <= per_layer / 2 + 1e-9
        other = _energy_at_layers(POUCH, t, int(n) + (1 if e < 100 else -1))
        assert abs(e - 100.0) <= abs(other - 100.0)
    for t, n, e in zip(THICKNESS, down["format.layers"], down["achieved_energy_Wh"],
                       strict=True):
        assert e <= 100.0
        assert _energy_at_layers(POUCH, t, int(n) + 1) > 100.0


@pytest.mark.parametrize(
    ("design", "free"),
    [(POUCH, "layers"), (POUCH, "electrode_height"), (POUCH, "electrode_area"),
     (PRISMATIC, "layers"), (PRISMATIC, "length"), (CYLINDER, "height"),
     (CYLINDER, "diameter")],
)
def test_constant_energy_sweep_meets_target_and_equals_one_by_one(design, free):
    target = 1.2 * evaluate(design, LIB).energy_Wh
    sweep = {"cathode.thickness_um": THICKNESS}
    if design is PRISMATIC and free == "length":
        # a can of given thickness holds as many layers as fit: leave the count free
        data = design.model_dump(by_alias=True, exclude_none=True)
        data["format"].pop("layers")
        design = type(design).model_validate(data)
    df = size(design, {"energy_Wh": target}, free, sweep=sweep, library=LIB)
    assert (df["sizing_status"] == 0).all(), df["sizing_message"].tolist()
    assert (df["achieved_energy_Wh"] >= target).all()
    if free != "layers":  # continuous: met to the solver's tolerance, from above
        np.testing.assert_allclose(df["achieved_energy_Wh"], target, rtol=1e-9)
    for i, t in enumerate(THICKNESS):
        one = with_updates(design, {"cathode.thickness_um": float(t)})
        sized = size_design(one, {"energy_Wh": target}, free, library=LIB)
        m = evaluate(sized, LIB)
        for path in df.attrs["free_paths"]:
            field = path.split(".")[1]
            assert getattr(sized.format, field) == pytest.approx(df[path].iloc[i], rel=1e-12)
        assert m.energy_Wh == pytest.approx(df["energy_Wh"].iloc[i], rel=1e-12)
        assert m.mass_g == pytest.approx(df["mass_g"].iloc[i], rel=1e-12)
        assert m.volume_cm3 == pytest.approx(df["volume_cm3"].iloc[i], rel=1e-12)


def test_prismatic_can_is_the_thinnest_that_holds_the_layers():
    df = size(PRISMATIC, {"energy_Wh": 300.0}, sweep={"cathode.thickness_um": THICKNESS},
              library=LIB)
    assert (df["sizing_status"] == 0).all()
    for t, n, thick in zip(THICKNESS, df["format.layers"], df["format.thickness_mm"],
                           strict=True):
        d = with_updates(PRISMATIC, {"cathode.thickness_um": float(t), "format.layers": int(n),
                                     "format.thickness_mm": float(thick) - 0.001})
        with pytest.raises(CasipInputError, match=r"thicker than the can|outgrows the can"):
            evaluate(d, LIB)


def test_prismatic_height_keeps_the_given_layers():
    target = 1.1 * evaluate(PRISMATIC, LIB).energy_Wh
    sized = size_design(PRISMATIC, {"energy_Wh": target}, "height", library=LIB)
    assert sized.format.layers == PRISMATIC.format.layers
    assert sized.format.height_mm > PRISMATIC.format.height_mm
    assert evaluate(sized, LIB).energy_Wh == pytest.approx(target, rel=1e-9)


def test_capacity_target():
    df = size(CYLINDER, {"capacity_Ah": 30.0}, library=LIB)
    assert df["achieved_capacity_Ah"].iloc[0] == pytest.approx(30.0, rel=1e-9)
    assert df["format.height_mm"].iloc[0] > CYLINDER.format.height_mm  # 4680 holds ~23 Ah


def test_material_sweep_at_constant_energy():
    df = size(POUCH, {"energy_Wh": 100.0}, sweep={"cathode.active": ["NMC811", "LFP"]},
              library=LIB)
    assert (df["achieved_energy_Wh"] >= 100.0).all()
    for active, n in zip(df["cathode.active"], df["format.layers"], strict=True):
        d = size_design(with_updates(POUCH, {"cathode.active": active}), {"energy_Wh": 100.0},
                        library=LIB)
        assert d.format.layers == n


def test_out_of_reach_targets_are_row_statuses_naming_the_target():
    df = size(POUCH, {"energy_Wh": 100_000.0}, sweep={"cathode.thickness_um": [60.0, 120.0]},
              library=LIB)
    assert (df["sizing_status"] == 1).all()
    assert all("energy_Wh 100000" in m and "out of reach" in m for m in df["sizing_message"])
    assert (df["format.layers"] == 500).all()  # the format's limit
    with pytest.raises(CasipInputError, match="energy_Wh 100000"):
        size_design(POUCH, {"energy_Wh": 100_000.0}, library=LIB)
    # a limit envelope: 100 Wh needs more thickness than 4 mm holds at 60 um, not at 120 um
    df = size(POUCH, {"energy_Wh": 100.0}, within_mm=(400, 200, 4.2),
              sweep={"cathode.thickness_um": [60.0, 120.0]}, library=LIB)
    assert df["sizing_status"].tolist() == [3, 0]
    assert "energy_Wh 100" in df["sizing_message"].iloc[0]
    assert "larger than the envelope" in df["sizing_message"].iloc[0]


def test_envelope_fills_the_box():
    box = (320.0, 130.0, 12.0)
    df = size(POUCH, {"envelope_mm": box}, sweep={"cathode.thickness_um": THICKNESS},
              library=LIB)
    assert (df["sizing_status"] == 0).all()
    assert np.allclose(df["cell_width_mm"], 320.0) and np.allclose(df["cell_height_mm"], 130.0)
    assert (df["cell_thickness_mm"] <= 12.0).all()
    for t, n, w, h in zip(THICKNESS, df["format.layers"], df["format.electrode_width_mm"],
                          df["format.electrode_height_mm"], strict=True):
        more = with_updates(POUCH, {"cathode.thickness_um": float(t), "format.layers": int(n) + 1,
                                    "format.electrode_width_mm": float(w),
                                    "format.electrode_height_mm": float(h)})
        assert evaluate(more, LIB).geometry["cell_thickness_mm"] > 12.0
    pri = size(PRISMATIC, {"envelope_mm": (900, 100, 20)}, library=LIB)
    assert pri["status"].iloc[0] == 0
    assert (pri["cell_width_mm"].iloc[0], pri["cell_thickness_mm"].iloc[0]) == (900, 20)
    small = size(POUCH, {"envelope_mm": (10, 130, 12)}, library=LIB)
    assert small["sizing_status"].iloc[0] == 1
    assert "envelope_mm 10 x 130 x 12" in small["sizing_message"].iloc[0]


def test_bad_requests_name_the_field():
    with pytest.raises(CasipInputError, match="target: unknown target"):
        size(POUCH, {"power_W": 10}, library=LIB)
    with pytest.raises(CasipInputError, match="free: not a free dimension of a pouch cell"):
        size(POUCH, {"energy_Wh": 10}, "diameter", library=LIB)
    with pytest.raises(CasipInputError, match=r"format\.layers: the sizing sets this field"):
        size(POUCH, {"energy_Wh": 10}, sweep={"format.layers": [1, 2]}, library=LIB)
    with pytest.raises(CasipInputError, match=r"target\.energy_Wh: must be a positive number"):
        size(POUCH, {"energy_Wh": -1}, library=LIB)
    with pytest.raises(CasipInputError, match="rounding"):
        size(POUCH, {"envelope_mm": (300, 100, 10)}, rounding="up", library=LIB)


def test_solvers_on_nonlinear_functions():
    target = np.array([0.5, 1.0, 17.0, 99.5, 1e6])
    n, ok = first_whole_reaching(lambda n: n**2, target, 1, np.full(5, 100.0))
    brute = [next((k for k in range(1, 101) if k * k >= t), 100) for t in target]
    assert n.tolist() == brute and ok.tolist() == [True] * 4 + [False]
    # NaN below 1 (a design that does not fit), cubic above it
    g = lambda x: np.where(x > 1.0, (x - 1.0) ** 3, np.nan)  # noqa: E731
    a, b, reach = solve_increasing(g, np.array([8.0, 1e-3, 1e9]), 0.0, 100.0)
    assert reach.tolist() == [True, True, False]
    np.testing.assert_allclose(b[:2], [3.0, 1.1], rtol=1e-9)
    assert (g(b[:2]) >= [8.0, 1e-3]).all()
    assert (a[:2] < b[:2]).all() and not (g(a[:2]) >= [8.0, 1e-3]).any()


def test_cli_size_sweep_json_and_csv():
    runner = CliRunner()
    r = runner.invoke(app, ["size", "ref:nmc811-pouch", "--energy-wh", "100", "--sweep",
                            "cathode.thickness_um=60:120:7", "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["free"] == "layers" and body["rounding"] == "up" and body["points"] == 7
    assert all(row["achieved_energy_Wh"] >= 100 for row in body["rows"])
    r = runner.invoke(app, ["size", "ref:nmc811-4680", "--capacity-ah", "30", "--csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("format.height_mm,target_capacity_Ah")
    r = runner.invoke(app, ["size", "ref:nmc811-pouch", "--energy-wh", "100", "--capacity-ah",
                            "3"])
    assert r.exit_code == 2 and "give exactly one target" in r.output
