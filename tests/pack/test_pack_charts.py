"""Cell-level against pack-level gain over LFP, and pack fast charge from the cell physics."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pytest
from typer.testing import CliRunner

from casip.cells import reference_design, reference_ids
from casip.design.api import evaluate
from casip.errors import CasipInputError
from casip.pack import evaluate_pack
from casip.pack.charts import gain_table, pack_charge, reference_pack_dict


def test_gains_are_the_quotients_of_the_pack_model() -> None:
    rows = gain_table(80.0)
    assert [r["cell"] for r in rows] == list(reference_ids())
    base = evaluate_pack(reference_pack_dict("lfp-blade", 80.0))
    assert base.integration == "cell_to_pack"
    by = {r["cell"]: r for r in rows}
    for cid in reference_ids():
        m = evaluate_pack(reference_pack_dict(cid, 80.0))
        cm = evaluate(reference_design(cid))
        r = by[cid]
        assert m.gross_kWh >= 80.0 and r["target_kWh"] == 80.0
        assert r["cell_Wh_kg"] == pytest.approx(cm.specific_energy_Wh_kg, rel=1e-12)
        assert r["cell_gain_Wh_kg"] == pytest.approx(
            cm.specific_energy_Wh_kg / base.cell_specific_energy_Wh_kg, rel=1e-12)
        assert r["pack_gain_Wh_kg"] == pytest.approx(
            m.specific_energy_Wh_kg / base.specific_energy_Wh_kg, rel=1e-12)
        assert r["cell_gain_Wh_L"] == pytest.approx(
            cm.energy_density_Wh_L / base.cell_energy_density_Wh_L, rel=1e-12)
        assert r["pack_gain_Wh_L"] == pytest.approx(
            m.energy_density_Wh_L / base.energy_density_Wh_L, rel=1e-12)
    lfp = by["lfp-blade"]
    for k in ("cell_gain_Wh_kg", "pack_gain_Wh_kg", "cell_gain_Wh_L", "pack_gain_Wh_L"):
        assert lfp[k] == 1.0
    # the lithium-metal sulfide cell's 5 MPa module hardware eats a large part of its lead:
    # more than 3x LFP at the cell, well under 2x at the pack
    s = by["assb-sulfide-li"]
    assert s["cell_gain_Wh_kg"] > 3.0
    assert s["pack_gain_Wh_kg"] < 0.6 * s["cell_gain_Wh_kg"]


def test_reference_pack_dict_rejects_unknown_cell_and_energy() -> None:
    with pytest.raises(CasipInputError, match="unknown reference cell"):
        reference_pack_dict("no-such-cell")
    with pytest.raises(CasipInputError, match="pack_kwh"):
        reference_pack_dict("lfp-blade", 0.0)


def test_gains_cli_writes_chart_and_json(tmp_path) -> None:
    from casip.cli import app

    res = CliRunner().invoke(app, ["pack", "gains", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["baseline"] == "lfp-blade"
    png, html = tmp_path / "pack_gains.png", tmp_path / "pack_gains.html"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "plotly" in html.read_text("utf-8")
    expected = {r["cell"]: r for r in gain_table(80.0)}
    for r in data["rows"]:
        assert r["pack_gain_Wh_kg"] == pytest.approx(expected[r["cell"]]["pack_gain_Wh_kg"])


def test_pack_charge_rejects_bad_powers_before_the_physics() -> None:
    with pytest.raises(CasipInputError, match="charger_kw"):
        pack_charge("ref:blade-ctp", charger_kw=0.0)
    with pytest.raises(CasipInputError, match="heat_rejection_kw"):
        pack_charge("ref:blade-ctp", heat_rejection_kw=-1.0)


@pytest.mark.slow
def test_pack_charge_from_the_cell_physics() -> None:
    """The pack charge follows the cell's physics profile: with no pack limit binding it takes
    the cell's own 10-80 % time; a small chiller makes the thermal limit bind and lengthens it,
    and the pack power never exceeds the thermal bound at any SOC."""
    from casip.cli import app
    from casip.physics.charge import fastest_charge
    from casip.vehicle.model import label_consumption, vehicle_consumption_wh_km

    cell = fastest_charge(reference_design("lfp-blade"))
    m = evaluate_pack("ref:blade-ctp")
    raw = {c: vehicle_consumption_wh_km("sedan", c, m.mass_kg) for c in ("udds", "hwfet")}
    wh_km = float(label_consumption(raw, "epa"))

    r = pack_charge("ref:blade-ctp", charger_kw=1000.0, heat_rejection_kw=1000.0)
    assert r.cell_time_10_80_min == pytest.approx(cell.time_min, rel=1e-9)
    assert r.consumption_wh_km == pytest.approx(wh_km, rel=1e-12)
    p_cell = 0.7 * m.usable_kWh / (cell.time_min / 60.0)  # the window-average cell power
    assert r.cell_limited_kw == pytest.approx(p_cell, rel=1e-9)
    assert r.binding_limit == "cell"  # the LFP blade cell plates above about 1.65C
    assert r.binding_share["cell"] == pytest.approx(1.0)
    assert r.time_10_80_min == pytest.approx(cell.time_min, rel=0.01)
    assert r.power_kw == pytest.approx(p_cell, rel=0.01)
    assert r.peak_kw >= r.power_kw  # CC then CV: the peak is above the average
    assert r.km_per_10_min == pytest.approx(r.power_kw * 1000.0 / 6.0 / wh_km, rel=1e-9)

    # a small chiller makes the thermal limit bind: the charge takes longer than the cell's,
    # and its average power is below the flat bound sqrt(Q P_cell / 0.05) of the cell power
    res = CliRunner().invoke(app, ["pack", "charge", "ref:blade-ctp", "--charger-kw", "250",
                                   "--heat-rejection-kw", "2", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["binding_limit"] == "thermal"
    assert d["binding_share"]["thermal"] > 0.5
    assert d["time_10_80_min"] > 1.05 * cell.time_min
    assert d["power_kw"] == pytest.approx(0.7 * m.usable_kWh / (d["time_10_80_min"] / 60.0),
                                          rel=1e-6)



def test_show_writes_the_breakdown_chart(tmp_path):
    """casip pack show --out writes a real PNG and the plotly HTML of the pack's breakdown,
    and says so in its JSON."""
    from casip.cli import app

    r = CliRunner().invoke(app, ["pack", "show", "ref:assb-sulfide-modules", "--out",
                                 str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    files = [Path(f) for f in d["files"]]
    assert [f.suffix for f in files] == [".png", ".html"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = files[1].read_text()
    assert "pressure hardware" in html and "cells" in html
