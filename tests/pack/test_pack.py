"""The pack model: hand-checked arithmetic, properties, invalid files, references, CLI."""

from __future__ import annotations

import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.errors import CasipInputError
from casip.pack import (
    REFERENCE_IDS,
    compare_references,
    evaluate_many,
    evaluate_pack,
    fit_envelope,
    reference_text,
)
from casip.pack.model import evaluate_arrays
from casip.pack.schema import SCHEMA_ID

# --------------------------------------------------------------------------------------------
# Hand-checked arithmetic


def _hand_params() -> dict[str, float]:
    """A small cell-to-pack pack of a 100 x 50 x 10 mm, 500 g, 50 Wh cell, 10s2p, 2 rows."""
    return {
        "series": 10, "parallel": 2, "is_modules": 0, "has_lid": 1, "rows": 2, "layers": 1,
        "cells_per_module": 1, "clearance_mm": 10, "row_gap_mm": 10, "module_gap_mm": 10,
        "busbar_space_mm": 15, "cell_mass_g": 500, "cell_volume_cm3": 50,
        "cell_energy_Wh": 50, "cell_capacity_Ah": 13.5, "cell_voltage_V": 3.7,
        "cell_width_mm": 100, "cell_height_mm": 50, "cell_thickness_mm": 10,
        "swelling_mm": 0.2, "stack_width_mm": 90, "stack_height_mm": 40, "cell_usd_kWh": 100,
        "module_wall_mm": 0, "module_end_plate_mm": 0, "module_electronics_g": 0,
        "module_electronics_usd": 0, "housing_wall_mm": 3, "housing_floor_mm": 3, "lid_mm": 1,
        "current_density_A_mm2": 4, "max_c_rate": 2, "link_extra_mm": 30, "module_link_mm": 0,
        "plate_mm": 4, "channel_fraction": 0.3, "interface_mm": 1, "top_sheet_mm": 1,
        "between_cells_mm": 0, "every_n_cells": 1, "min_pad_mm": 0.5, "pad_compression": 0.5,
        "bms_kg": 4, "harness_g_per_cell": 10, "bms_usd": 250, "harness_usd_per_cell": 0.5,
        "frame_section_mm2": 800, "cross_members": 0, "cross_member_section_mm2": 0,
        "soc_min": 0.05, "soc_max": 0.95, "pressure_MPa": 0, "allow_plate_MPa": 237,
        "allow_tie_MPa": 427, "assembly_usd": 100,
        "rho_pad": 0.35, "rho_between": 0.2, "rho_module": 2.7, "rho_pressure": 7.87,
        "rho_busbar": 8.96, "rho_plate": 2.7, "rho_coolant": 1.07, "rho_interface": 2.6,
        "rho_top": 2.8, "rho_housing": 2.7, "rho_lid": 7.85, "rho_crash": 2.7,
        **{f"usd_kg_{c}": 1.0 for c in (
            "compression_pads", "cell_barriers", "module_housings", "pressure_hardware",
            "busbars", "cold_plates", "coolant", "thermal_interface", "top_insulation",
            "pack_housing", "pack_lid", "crash_structure")},
    }


def test_hand_checked_cell_to_pack() -> None:
    out = {k: float(v) for k, v in evaluate_arrays(_hand_params()).items()}
    # pad = max(0.5, 0.2 / 0.5) = 0.5; pitch = 10 + 0.5 = 10.5; 10 cells per row
    assert out["pitch_mm"] == pytest.approx(10.5)
    # box: X = 10 x 10.5 + 2 x 10 + 2 x 3 = 131; Y = 2 x 100 + 10 + 20 + 6 = 236;
    # Z = (50 + 15 + 1 + 4) + 1 + 10 + 3 floor + 1 lid = 85
    assert (out["length_mm"], out["width_mm"], out["height_mm"]) == pytest.approx((131, 236, 85))
    hand_g = {
        "cells": 20 * 500,
        "compression_pads": 20 * 100 * 50 * 0.5 * 0.35e-3,  # 17.5
        "busbars": (2 * 13.5 * 2 / 4) * (10 * (2 * 10.5 + 30)) * 8.96e-3,  # 13.5 mm2 x 510 mm
        "cold_plates": 105 * 210 * 4 * 0.7 * 2.7e-3,
        "coolant": 105 * 210 * 4 * 0.3 * 1.07e-3,
        "thermal_interface": 2 * 105 * 100 * 1 * 2.6e-3,
        "top_insulation": 105 * 210 * 1 * 2.8e-3,
        "pack_housing": (131 * 236 * 3 + 2 * (131 + 236) * 85 * 3) * 2.7e-3,
        "pack_lid": 131 * 236 * 1 * 7.85e-3,
        "crash_structure": 2 * (131 + 236) * 800 * 2.7e-3,
        "bms_harness": 4000 + 20 * 10,
    }
    for comp, g in hand_g.items():
        assert out[f"mass_{comp}_g"] == pytest.approx(g), comp
    for comp in ("cell_barriers", "module_housings", "module_electronics", "pressure_hardware"):
        assert out[f"mass_{comp}_g"] == 0.0
    total_kg = sum(hand_g.values()) / 1e3  # 17.174 kg
    assert out["mass_kg"] == pytest.approx(total_kg)
    assert out["gross_kWh"] == pytest.approx(1.0)
    assert out["usable_kWh"] == pytest.approx(0.9)
    assert out["nominal_voltage_V"] == pytest.approx(37.0)
    assert out["capacity_Ah"] == pytest.approx(27.0)
    assert out["specific_energy_Wh_kg"] == pytest.approx(1000 / total_kg)
    assert out["gravimetric_cell_to_pack"] == pytest.approx(10.0 / total_kg)
    box_L = 131 * 236 * 85 * 1e-6
    crash_L = hand_g["crash_structure"] / 2.7 * 1e-3
    assert out["volume_L"] == pytest.approx(box_L + crash_L)
    assert out["volumetric_cell_to_pack"] == pytest.approx(1.0 / (box_L + crash_L))
    # cost: 1 kWh of cells at 100 $/kWh + 1 $/kg overheads + 250 + 20 x 0.5 + 100 assembly
    overhead_kg = (sum(hand_g.values()) - hand_g["cells"] - hand_g["bms_harness"]) / 1e3
    assert out["cost_usd"] == pytest.approx(100 + overhead_kg + 260 + 100)


def test_reference_blade_geometry_by_hand() -> None:
    m = evaluate_pack("ref:blade-ctp")
    # 172 cells of 14 mm + 0.5 mm pad; 10 mm clearance and 3 mm walls each side
    assert m.length_mm == pytest.approx(172 * 14.5 + 20 + 6)
    assert m.width_mm == pytest.approx(965 + 20 + 6)
    assert m.height_mm == pytest.approx(90 + 15 + 1 + 4 + 1 + 10 + 3 + 0.8)
    assert m.cells == 172 and m.modules == 0
    from casip.cells import reference_design
    from casip.design import evaluate

    cell = evaluate(reference_design("lfp-blade"))
    assert m.mass_breakdown_kg["cells"] == pytest.approx(172 * cell.mass_g / 1e3)
    assert m.gross_kWh == pytest.approx(172 * cell.energy_Wh / 1e3)
    assert m.usable_kWh == pytest.approx(m.gross_kWh * (0.97 - 0.03))
    assert m.nominal_voltage_V == pytest.approx(172 * cell.nominal_voltage_V)


# --------------------------------------------------------------------------------------------
# Properties


def test_heavier_fixture_never_raises_wh_kg() -> None:
    pressures = np.linspace(1.0, 20.0, 12)
    out = evaluate_many("ref:assb-sulfide-modules", {"pressure_MPa": pressures})
    hw = out["mass_pressure_hardware_g"]
    assert np.all(np.diff(hw) > 0)
    assert np.all(np.diff(out["specific_energy_Wh_kg"]) < 0)
    walls = evaluate_many("ref:nmc-modules", {"housing_wall_mm": np.linspace(1, 10, 10)})
    assert np.all(np.diff(walls["specific_energy_Wh_kg"]) < 0)


def test_more_series_raises_voltage_not_wh_kg() -> None:
    # the same 288 cells rewired: 96s3p, 144s2p, 288s1p
    out = evaluate_many("ref:nmc-modules", {"series": np.array([96, 144, 288]),
                                            "parallel": np.array([3, 2, 1])})
    assert np.all(np.diff(out["nominal_voltage_V"]) > 0)
    assert out["nominal_voltage_V"][2] == pytest.approx(3 * out["nominal_voltage_V"][0])
    assert np.allclose(out["gross_kWh"], out["gross_kWh"][0])
    # only the busbars change (thinner for less current, longer for more links): all else equal
    rest = out["mass_kg"] - out["mass_busbars_g"] / 1e3
    assert np.allclose(rest, rest[0])
    spread = out["specific_energy_Wh_kg"].max() / out["specific_energy_Wh_kg"].min() - 1
    assert spread < 0.02


@pytest.mark.parametrize("ref", ["nmc-modules", "assb-sulfide-modules"])
def test_cell_to_pack_beats_modules_on_the_same_cell(ref: str) -> None:
    import yaml

    data = yaml.safe_load(reference_text(ref))
    modules = evaluate_pack(data, source=ref)
    data.pop("module")
    data["layout"].pop("cells_per_module")
    data["integration"] = "cell_to_pack"
    ctp = evaluate_pack(data, source=ref)
    assert ctp.gross_kWh == pytest.approx(modules.gross_kWh)
    assert ctp.specific_energy_Wh_kg > modules.specific_energy_Wh_kg
    assert ctp.energy_density_Wh_L > modules.energy_density_Wh_L
    assert ctp.gravimetric_cell_to_pack > modules.gravimetric_cell_to_pack


def test_cell_to_body_drops_the_lid() -> None:
    import yaml

    data = yaml.safe_load(reference_text("blade-ctp"))
    ctp = evaluate_pack(data)
    data["integration"] = "cell_to_body"
    ctb = evaluate_pack(data)
    assert ctb.mass_breakdown_kg["pack_lid"] == 0.0
    assert ctp.mass_kg - ctb.mass_kg == pytest.approx(ctp.mass_breakdown_kg["pack_lid"], rel=0.05)


def test_pressure_hardware_reuses_the_cell_sizing() -> None:
    from casip.design.pressure import allowable_stresses, plate_thickness_mm

    m = evaluate_pack("ref:assb-sulfide-modules")
    assert m.details["pressure_MPa"] == 5.0
    plate_allow, _ = allowable_stresses("steel_hardware")
    # 5 MPa over the 300 x 100 mm electrode area of the assb-sulfide-li cell
    assert m.details["end_plate_mm"] == pytest.approx(
        float(plate_thickness_mm(5.0, 300.0, 100.0, plate_allow)))
    assert m.details["fixture_force_kN"] == pytest.approx(5.0 * 300 * 100 / 1e3)
    # the lithium-metal cell swells: pads are swelling / 0.5 thick
    assert m.details["pad_mm"] == pytest.approx(m.details["swelling_mm"] / 0.5)
    assert m.mass_breakdown_kg["pressure_hardware"] > 0.1 * m.mass_kg


# --------------------------------------------------------------------------------------------
# Invalid files


def _write(tmp_path, text: str):
    p = tmp_path / "pack.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


_BASE = (f"schema: {SCHEMA_ID}\nname: t\ncell: ref:lfp-blade\n"
         "arrangement: {series: 10, parallel: 1}\n")


@pytest.mark.parametrize(
    ("extra", "field", "fragment"),
    [
        ("layout: {rows: 0}\n", "layout.rows", "[1, 100]"),
        ("housing: {wal_mm: 3}\n", "housing.wal_mm", "unknown field"),
        ("window: {soc_min: 0.9, soc_max: 0.5}\n", "window", "soc_max"),
        ("integration: modules\n", "", "cells_per_module"),
        ("thermal: {channel_fraction: 1.5}\n", "thermal.channel_fraction", "[0, 1)"),
        ("housing: {material: unobtainium}\n", "housing.material", "aluminium"),
        ("pressure: {material: gold}\n", "pressure.material", "steel_hardware"),
    ],
)
def test_invalid_files_name_the_field(tmp_path, extra, field, fragment) -> None:
    path = _write(tmp_path, _BASE + extra)
    with pytest.raises(CasipInputError) as exc:
        evaluate_pack(path)
    err = exc.value
    assert err.source == path
    assert any(p.field == field for p in err.problems), str(err)
    assert fragment in str(err)


def test_invalid_cell_and_arrangement(tmp_path) -> None:
    with pytest.raises(CasipInputError, match="cell: unknown reference cell"):
        evaluate_pack(_write(tmp_path, _BASE.replace("ref:lfp-blade", "ref:nope")))
    with pytest.raises(CasipInputError, match="cell: no such design file"):
        evaluate_pack(_write(tmp_path, _BASE.replace("ref:lfp-blade", "missing.yaml")))
    with pytest.raises(CasipInputError, match="arrangement: give either series"):
        evaluate_pack(_write(tmp_path, _BASE.replace("parallel: 1", "target_energy_kWh: 5")))
    with pytest.raises(CasipInputError, match="schema"):
        evaluate_pack(_write(tmp_path, _BASE.replace(SCHEMA_ID, "casip.pack/9")))


def test_design_file_cell_and_target_arrangement(tmp_path) -> None:
    from casip.cells import reference_text as cell_text

    (tmp_path / "cell.yaml").write_text(cell_text("nmc811-pouch"), encoding="utf-8")
    path = _write(tmp_path, f"schema: {SCHEMA_ID}\nname: t\ncell: cell.yaml\n"
                            "arrangement: {target_voltage_V: 400, target_energy_kWh: 60}\n")
    m = evaluate_pack(path)
    from casip.cells import reference_design
    from casip.design import evaluate

    cell = evaluate(reference_design("nmc811-pouch"))
    series = round(400 / cell.nominal_voltage_V)
    assert m.series == series
    assert m.parallel == int(np.ceil(60e3 / (series * cell.energy_Wh)))
    assert m.gross_kWh >= 60


# --------------------------------------------------------------------------------------------
# References, envelope fit, CLI


def test_references_load_and_compare() -> None:
    for pid in REFERENCE_IDS:
        m = evaluate_pack(f"ref:{pid}")
        assert m.gross_kWh > 10 and m.mass_kg > 100
        assert 0 < m.gravimetric_cell_to_pack < 1 and 0 < m.volumetric_cell_to_pack < 1
        assert m.element_demand_kg["Li"] > 0
        assert m.volume_breakdown_L["free_space"] > 0
    comp = compare_references()
    assert set(comp["pack"]) >= {"blade-ctp", "nmc-modules", "semi-solid-150"}
    assert comp["computed"].notna().all()
    meb = comp.set_index(["pack", "metric"]).loc[("nmc-modules", "cells"), "computed"]
    assert meb == 288


def test_fit_envelope_counts_whole_cells() -> None:
    # pinned: turned across (upright_width) 202 cells fit; see tests/pack/test_pack_fit.py
    f = fit_envelope("ref:blade-ctp", 2800, 1500, 130, orientation="upright_length")
    # (2800 - 2 x 3 - 2 x 10) / 14.5 = 191.3 -> 191 cells in one row (965 mm cells: 1 row)
    assert (f.rows, f.layers, f.cells_fit) == (1, 1, 191)
    assert f.pack is not None and f.pack.cells == 191
    assert f.pack.length_mm <= 2800 and f.pack.width_mm <= 1500 and f.pack.height_mm <= 130
    small = fit_envelope("ref:blade-ctp", 2800, 500, 130, orientation="upright_length")
    assert small.cells_fit == 0 and small.pack is None
    target = {"name": "t", "cell": "ref:assb-sulfide-li", "layout": {"rows": 3},
              "arrangement": {"target_voltage_V": 400, "target_energy_kWh": 80}}
    tf = fit_envelope(target, 2000, 1400, 180)
    # a target voltage keeps its series count; as many parallel strings as whole cells allow
    assert tf.pack.series == evaluate_pack(target).series
    assert tf.pack.parallel == tf.cells_fit // tf.pack.series
    mods = fit_envelope("ref:nmc-modules", 2000, 1500, 200)
    assert mods.cells_fit % 24 == 0
    assert mods.pack.length_mm <= 2000 and mods.pack.width_mm <= 1500


def test_cli_pack_commands(tmp_path) -> None:
    from casip.cli import app

    r = CliRunner()
    res = r.invoke(app, ["pack", "show", "ref:nmc-modules", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["cells"] == 288 and data["modules"] == 12
    res = r.invoke(app, ["pack", "show", "ref:semi-solid-150", "--csv"])
    assert res.exit_code == 0 and res.stdout.startswith("section,name,value,unit")
    res = r.invoke(app, ["pack", "references", "--json"])
    assert res.exit_code == 0
    assert len(json.loads(res.stdout)["packs"]) == len(REFERENCE_IDS)
    res = r.invoke(app, ["pack", "fit", "ref:blade-ctp", "--length", "2800", "--width", "1500",
                         "--height", "130", "--orientation", "upright_length"])
    assert res.exit_code == 0 and "191 cells fit" in res.stdout
    bad = _write(tmp_path, _BASE + "layout: {rows: 0}\n")
    res = r.invoke(app, ["pack", "show", bad])
    assert res.exit_code == 2
    assert "layout.rows" in res.stderr


def test_price_set_reaches_the_cells_cost():
    """A pack priced with the 2022 set costs its cells as the cell engine does at that set
    (the platform passes its CASIP_PRICE_SET this way)."""
    from casip.cells import reference_design
    from casip.cost import cell_cost, default_process
    from casip.design import evaluate
    from casip.pack import evaluate_pack

    new = evaluate_pack("ref:blade-ctp")
    old = evaluate_pack("ref:blade-ctp", prices="batpac-2022")
    d = reference_design("lfp-blade")
    want = float(cell_cost(evaluate(d, prices="batpac-2022"),
                           process=default_process(d)).cell_usd_kWh)
    assert old.cell_usd_kWh == pytest.approx(want, rel=1e-12)
    # LFP cathode and lithium were dearer in 2022: the same pack costs more per kWh
    assert old.cost_usd_kWh > new.cost_usd_kWh
