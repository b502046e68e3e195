"""Road-load model, label arithmetic, fast charge, chart and CLI of casip.vehicle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.errors import CasipInputError
from casip.vehicle.cycles import load_cycle
from casip.vehicle.fastcharge import pack_fast_charge
from casip.vehicle.model import (
    EPA_ADJUSTMENT,
    G,
    cycle_consumption_wh_km,
    label_consumption,
    range_km,
    vehicle_consumption_wh_km,
    vehicle_range,
)

BASE = dict(mass_kg=1900.0, cda_m2=0.55, crr=0.009, drivetrain_efficiency=0.88,
            regen_efficiency=0.8, regen_share=0.9, regen_limit_kw=80.0, aux_kw=0.3,
            rotational_inertia_factor=0.05)


def test_road_load_hand_checked_on_a_constant_speed_cycle():
    # A cycle at constant 20 m/s for 100 s has no inertia term, so
    # F = 0.5 rho CdA v^2 + m g Crr and the battery energy per metre is F / eta + aux / v.
    cyc = load_cycle("hwfet")
    from dataclasses import replace

    t = np.arange(101.0)
    flat = replace(cyc, time_s=t, speed_m_s=np.full(t.size, 20.0))
    m, cda, crr, eta, aux_w = 1500.0, 0.5, 0.01, 0.9, 500.0
    force = 0.5 * 1.2 * cda * 20.0**2 + m * G * crr  # 120 + 147.1 N
    expected_wh_km = (force / eta + aux_w / 20.0) * 1000.0 / 3600.0
    got = cycle_consumption_wh_km(flat, mass_kg=m, cda_m2=cda, crr=crr,
                                  drivetrain_efficiency=eta, regen_efficiency=0.0,
                                  aux_kw=aux_w / 1000.0)
    assert float(got) == pytest.approx(expected_wh_km, rel=1e-12)
    # by hand: 120 + 147.10 = 267.10 N; (267.10 / 0.9 + 500 W / 20 m/s) / 3.6 = 89.38 Wh/km
    assert float(got) == pytest.approx(89.38, abs=0.01)


def test_heavier_vehicle_never_lowers_consumption():
    masses = np.linspace(1000.0, 3500.0, 26)
    for cycle in ("udds", "hwfet", "wltc3b"):
        wh = cycle_consumption_wh_km(cycle, **{**BASE, "mass_kg": masses})
        assert wh.shape == masses.shape
        assert (np.diff(wh) >= 0).all()
        assert wh[-1] > wh[0]


def test_vectorised_matches_scalar_calls():
    cda = np.array([0.45, 0.6, 0.75])
    vec = cycle_consumption_wh_km("wltc3b", **{**BASE, "cda_m2": cda})
    one = [float(cycle_consumption_wh_km("wltc3b", **{**BASE, "cda_m2": c})) for c in cda]
    np.testing.assert_allclose(vec, one, rtol=1e-12)


def test_regen_efficiency_bounds():
    no_regen = cycle_consumption_wh_km("udds", **{**BASE, "regen_efficiency": 0.0})
    full = cycle_consumption_wh_km("udds", **{**BASE, "regen_efficiency": 1.0,
                                              "regen_share": 1.0, "regen_limit_kw": np.inf})
    mid = cycle_consumption_wh_km("udds", **BASE)
    assert full < mid < no_regen
    # With lossless regen of all braking power, the net battery energy is the traction energy
    # minus the whole braking energy: never below the road-load losses at the wheels / 1.
    lossless = cycle_consumption_wh_km("udds", **{**BASE, "regen_efficiency": 1.0,
                                                  "regen_share": 1.0, "regen_limit_kw": np.inf,
                                                  "drivetrain_efficiency": 1.0, "aux_kw": 0.0})
    cyc = load_cycle("udds")
    v = 0.5 * (cyc.speed_m_s[1:] + cyc.speed_m_s[:-1])
    losses = (0.5 * 1.2 * BASE["cda_m2"] * v**3 + BASE["mass_kg"] * G * BASE["crr"] * v).sum()
    # a cycle that starts and ends at rest returns its kinetic energy: net = losses exactly
    assert float(lossless) == pytest.approx(losses / 3600.0 / cyc.distance_km, rel=1e-9)


def test_epa_adjustment_arithmetic():
    raw = {"udds": 120.0, "hwfet": 150.0}
    assert float(label_consumption(raw, "epa")) == pytest.approx((0.55 * 120 + 0.45 * 150) / 0.7)
    assert EPA_ADJUSTMENT == 0.7
    assert float(label_consumption({"wltc3b": 140.0}, "wltp")) == 140.0
    assert float(range_km(70.0, 175.0)) == pytest.approx(400.0)
    with pytest.raises(CasipInputError, match="CLTC-P"):
        label_consumption(raw, "cltc")


def test_vehicle_range_rows_are_consistent():
    rows = {r["basis"]: r for r in vehicle_range("sedan", 450.0, 75.0)}
    epa = (0.55 * rows["udds"]["wh_km"] + 0.45 * rows["hwfet"]["wh_km"]) / 0.7
    assert rows["epa"]["wh_km"] == pytest.approx(epa)
    assert rows["epa"]["range_km"] == pytest.approx(75000.0 / epa)
    assert rows["wltp"]["wh_km"] == rows["wltc3b"]["wh_km"]
    assert vehicle_consumption_wh_km("suv", "wltc3b", 450.0) > rows["wltc3b"]["wh_km"]


def test_validation_renault_zoe_r135_wltp_range_within_15_percent():
    # Body values from NREL FASTSim's 2022_Renault_Zoe_ZE50_R135.csv (mass 1600 kg,
    # Cd 0.33, frontal area 2.512 m^2, Crr 0.009, aux 0.25 kW); efficiencies are the
    # reference sedan's (not tuned). Published: 386 km WLTP on 52 kWh usable (docs/vehicle.md).
    wh = float(cycle_consumption_wh_km(
        "wltc3b", mass_kg=1600.0, cda_m2=0.33 * 2.5121646, crr=0.009,
        drivetrain_efficiency=0.87, regen_efficiency=0.80, regen_share=0.9,
        regen_limit_kw=70.0, aux_kw=0.25, rotational_inertia_factor=0.05))
    model_range = 52.0 * 1000.0 / wh
    assert model_range == pytest.approx(386.0, rel=0.15)
    assert model_range == pytest.approx(345.4, abs=0.5)  # the gap documented in docs/vehicle.md


def test_bad_input_names_the_field():
    with pytest.raises(CasipInputError, match="drivetrain_efficiency"):
        cycle_consumption_wh_km("udds", **{**BASE, "drivetrain_efficiency": 1.5})
    with pytest.raises(CasipInputError, match="expected sedan, suv"):
        vehicle_range("truck", 400.0, 60.0)


def test_pack_fast_charge_limits_and_km_per_10_min():
    # cell 20 min for 10-80 %: 0.7 x 70 kWh / (1/3 h) = 147 kW
    res = pack_fast_charge(20.0, 70.0, charger_kw=350.0, heat_rejection_kw=100.0,
                           consumption_wh_km=175.0)
    assert res.binding_limit == "cell"
    assert res.power_kw == pytest.approx(147.0)
    assert res.time_10_80_min == pytest.approx(20.0)
    assert res.km_per_10_min == pytest.approx(147.0 / 6 * 1000 / 175.0)
    charger = pack_fast_charge(20.0, 70.0, 100.0, 100.0, 175.0)
    assert charger.binding_limit == "charger" and charger.time_10_80_min == pytest.approx(29.4)
    # thermal: P_th = sqrt(Q_max P_cell / f) = sqrt(4 x 147 / 0.05) = 108.4 kW
    thermal = pack_fast_charge(20.0, 70.0, 350.0, 4.0, 175.0)
    assert thermal.binding_limit == "thermal"
    assert thermal.power_kw == pytest.approx((4.0 * 147.0 / 0.05) ** 0.5)
    with pytest.raises(CasipInputError, match="charger_kw"):
        pack_fast_charge(20.0, 70.0, 0.0, 4.0, 175.0)


def test_range_chart_from_pack_tuples(tmp_path):
    from casip.vehicle.charts import range_table, range_vs_pack_mass

    packs = [("light", 300.0, 60.0), ("heavy", 600.0, 60.0)]
    rows = range_table(packs, "sedan", "epa")
    assert rows[0]["range_km"] > rows[1]["range_km"]
    files = range_vs_pack_mass(packs, tmp_path, "sedan", "wltp")
    assert all(f.exists() and f.stat().st_size > 1000 for f in files)


def test_cli_json():
    runner = CliRunner()
    res = runner.invoke(app, ["vehicle", "cycles", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [c["id"] for c in data["cycles"]] == ["udds", "hwfet", "wltc3b"]
    assert "cltc-p" in data["not_shipped"]
    res = runner.invoke(app, ["vehicle", "range", "--pack-kwh", "75", "--pack-mass-kg", "450",
                              "--cycle", "wltc3b", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    (wltc, wltp) = out["results"]
    assert wltc["basis"] == "wltc3b" and wltp["basis"] == "wltp"
    assert wltc["range_km"] == pytest.approx(75000.0 / wltc["wh_km"])
    res = runner.invoke(app, ["vehicle", "range", "--pack-kwh", "75", "--pack-mass-kg", "450",
                              "--vehicle", "bus"])
    assert res.exit_code == 2 and "vehicle" in res.stderr


def test_range_chart_packs_come_from_the_pack_model():
    """The chart's packs are built by casip.pack around every reference cell: each pack is
    lighter per kWh than its bare cells would allow (pack Wh/kg below cell Wh/kg), holds at
    least the target energy (whole parallel strings), and differs from the one-ratio shortcut."""
    from casip.cells import reference_designs
    from casip.design.api import evaluate
    from casip.vehicle.charts import model_reference_packs, simple_reference_packs

    packs = model_reference_packs((60.0,))
    cells = {cid: evaluate(d) for cid, d in reference_designs().items()}
    assert {p[0] for p in packs} == set(cells)
    for cid, mass_kg, usable in packs:
        gross = usable  # usable <= gross; the target bounds the gross energy from below
        assert gross > 0.9 * 60.0 * 0.9
        assert usable * 1000.0 / mass_kg < cells[cid].specific_energy_Wh_kg
    simple = {p[0]: p[1] for p in simple_reference_packs((60.0,))}
    assert any(abs(m - simple[c]) / simple[c] > 0.05 for c, m, _ in packs)
