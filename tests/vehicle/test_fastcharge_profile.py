"""Pack fast charge with the cell's taper: a charge profile over SOC instead of one number."""

from __future__ import annotations

import json
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.errors import CasipInputError
from casip.vehicle.fastcharge import (
    flat_profile,
    measured_profile,
    pack_fast_charge,
    profile_from_charge,
)

# Synthetic two-step cell: 2 W from 10 to 50 % SOC, 1 W from 50 to 80 %, 1 Wh per unit SOC,
# so the SOC rate is 2/h then 1/h. Pack 100 kWh usable: dE/ds = 100 kWh (flat voltage),
# cell-limited pack power 200 kW then 100 kW.
STEP = dict(soc=[0.1, 0.5, 0.5, 0.8], power_W=[2.0, 2.0, 1.0, 1.0], energy_Wh=1.0)
NO_HEAT_LIMIT = 1e6  # kW: a cooling that never binds


def _step():
    return measured_profile(STEP["soc"], power_W=STEP["power_W"], energy_Wh=STEP["energy_Wh"])


def test_two_step_profile_with_a_charger_cap_between_the_steps():
    # by hand: cell alone 0.4/2 h + 0.3/1 h = 12 + 18 = 30 min;
    # 150 kW cap: 40 kWh / 150 kW = 16 min (charger) + 30 kWh / 100 kW = 18 min (cell) = 34 min
    free = pack_fast_charge(_step(), 100.0, 1000.0, NO_HEAT_LIMIT, 200.0)
    assert free.time_10_80_min == pytest.approx(30.0, rel=1e-9)
    assert free.peak_kw == pytest.approx(200.0)
    assert free.binding_share == {"cell": 1.0, "charger": 0.0, "thermal": 0.0}
    capped = pack_fast_charge(_step(), 100.0, 150.0, NO_HEAT_LIMIT, 200.0)
    assert capped.time_10_80_min == pytest.approx(34.0, rel=1e-9)
    assert capped.binding_share["charger"] == pytest.approx(16.0 / 34.0, abs=1e-6)
    assert capped.binding_share["cell"] == pytest.approx(18.0 / 34.0, abs=1e-6)
    assert capped.binding_limit == "cell"
    assert capped.peak_kw == pytest.approx(150.0)
    assert capped.average_kw == pytest.approx(70.0 / (34.0 / 60.0))
    # first 10 minutes at 150 kW: 25 kWh; at 200 Wh/km that is 125 km
    assert capped.energy_first_10_min_kwh == pytest.approx(25.0, rel=1e-9)
    assert capped.km_first_10_min == pytest.approx(125.0, rel=1e-9)
    # the profile returned: 150 kW below 50 %, 100 kW above, cumulative time 16 min at 50 %
    i50 = capped.soc.index(0.5)
    assert capped.power_profile_kw[0] == pytest.approx(150.0)
    assert capped.power_profile_kw[-1] == pytest.approx(100.0)
    assert capped.limit_profile[0] == "charger" and capped.limit_profile[-1] == "cell"
    assert capped.time_profile_min[i50] == pytest.approx(16.0, rel=1e-9)
    assert capped.time_profile_min[-1] == pytest.approx(34.0, rel=1e-9)
    # the flat approximation with the same cell time (30 min, 140 kW average) misses the cap
    flat = pack_fast_charge(30.0, 100.0, 150.0, NO_HEAT_LIMIT, 200.0)
    assert flat.time_10_80_min == pytest.approx(30.0)


def test_thermal_limit_per_instant_on_the_step_profile():
    # Pbar_cell = 70 kWh / 0.5 h = 140 kW; Q_max = 1.75 kW, f = 0.05:
    # P_th = sqrt(1.75 x 140 / 0.05) = 70 kW < both steps -> 70 kWh / 70 kW = 60 min, all thermal
    res = pack_fast_charge(_step(), 100.0, 1000.0, 1.75, 200.0)
    assert res.thermal_limit_kw == pytest.approx(70.0)
    assert res.time_10_80_min == pytest.approx(60.0, rel=1e-9)
    assert res.binding_share["thermal"] == 1.0 and res.binding_limit == "thermal"


def test_flat_profile_reproduces_the_one_number_model():
    old = pack_fast_charge(20.0, 70.0, 100.0, 4.0, 175.0)
    new = pack_fast_charge(flat_profile(20.0), 70.0, 100.0, 4.0, 175.0)
    assert new.time_10_80_min == pytest.approx(old.time_10_80_min, rel=1e-12)
    # one-number model by hand: P_cell 147 kW, P_th sqrt(4 x 147 / 0.05) = 108.4 kW, charger 100
    assert old.binding_limit == "charger" and old.time_10_80_min == pytest.approx(29.4)
    assert old.km_first_10_min == pytest.approx(100.0 / 6 * 1000 / 175.0)
    assert old.km_first_10_min == pytest.approx(old.km_per_10_min)
    # a charge shorter than 10 minutes stops at 80 %: the first 10 minutes add the window only
    short = pack_fast_charge(5.0, 70.0, 1000.0, NO_HEAT_LIMIT, 175.0)
    assert short.energy_first_10_min_kwh == pytest.approx(49.0)
    assert short.km_first_10_min == pytest.approx(49000.0 / 175.0)


def test_charger_cap_above_the_peak_changes_nothing():
    base = pack_fast_charge(_step(), 100.0, 1e6, NO_HEAT_LIMIT, 200.0)
    above = pack_fast_charge(_step(), 100.0, 200.5, NO_HEAT_LIMIT, 200.0)
    assert above.time_10_80_min == pytest.approx(base.time_10_80_min, rel=1e-12)
    assert above.binding_share == base.binding_share
    assert above.power_profile_kw == base.power_profile_kw


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (dict(soc=[0.1, 0.6, 0.5, 0.8]), "soc"),  # not monotonic
        (dict(soc=[0.2, 0.5, 0.6, 0.8]), "soc"),  # starts above 10 %
        (dict(soc=[0.1, 0.3, 0.5, 0.7]), "soc"),  # ends below 80 %
        (dict(power_W=[2.0, -1.0, 1.0, 1.0]), "power_W"),
        (dict(power_W=[2.0, 2.0, 1.0]), "power_W"),  # length
        (dict(energy_Wh=0.0), "energy_Wh"),
    ],
)
def test_bad_profile_names_the_field(bad, field):
    args = {**STEP, **bad}
    with pytest.raises(CasipInputError, match=field):
        measured_profile(args["soc"], power_W=args["power_W"], energy_Wh=args["energy_Wh"])


def test_current_voltage_profile_and_missing_capacity():
    # 10 A into a 5 Ah cell: 2/h, i.e. 0.7 / 2 h = 21 min whatever the voltage shape
    p = measured_profile([0.1, 0.8], current_A=[10.0, 10.0], voltage_V=[3.5, 4.1],
                         capacity_Ah=5.0)
    assert p.time_min() == pytest.approx(21.0)
    res = pack_fast_charge(p, 70.0, 1e6, NO_HEAT_LIMIT, 175.0)
    assert res.time_10_80_min == pytest.approx(21.0, rel=1e-9)
    # the energy follows the voltage: the power rises with it, 3.5 -> 4.1 V at the ends
    assert res.power_profile_kw[-1] / res.power_profile_kw[0] == pytest.approx(4.1 / 3.5,
                                                                               rel=1e-3)
    with pytest.raises(CasipInputError, match="capacity_Ah"):
        measured_profile([0.1, 0.8], current_A=[10.0, 10.0], voltage_V=[3.5, 4.1])
    with pytest.raises(CasipInputError, match="voltage_V"):
        measured_profile([0.1, 0.8], current_A=[10.0, 10.0], capacity_Ah=5.0)


def test_physics_profile_gives_the_cells_own_time():
    """A real CC-CV charge (3C, plating-limited taper in constant voltage) of a reference cell:
    with no pack limit binding the pack takes the cell's physics time; a charger cap between
    the average and the peak makes it longer, which the flat approximation cannot see."""
    from casip.cells import reference_design
    from casip.physics.charge import fast_charge

    run = fast_charge(reference_design("nmc811-pouch"), 3.0)
    prof = profile_from_charge(run)
    res = pack_fast_charge(prof, 70.0, 1e6, NO_HEAT_LIMIT, 175.0)
    assert res.binding_share["cell"] == 1.0
    assert res.time_10_80_min == pytest.approx(run.time_min, rel=0.01)
    assert res.peak_kw > 1.5 * res.average_kw  # the taper: CC power well above the average
    cap = 0.5 * (res.peak_kw + res.average_kw)
    capped = pack_fast_charge(prof, 70.0, cap, NO_HEAT_LIMIT, 175.0)
    flat = pack_fast_charge(run.time_min, 70.0, cap, NO_HEAT_LIMIT, 175.0)
    assert flat.time_10_80_min == pytest.approx(run.time_min, rel=1e-9)
    assert capped.time_10_80_min > 1.01 * run.time_min
    assert 0 < capped.binding_share["charger"] < 1
    # CLI: the physics profile travels in --json
    out = CliRunner().invoke(app, [
        "vehicle", "charge", "--pack-kwh", "70", "--charger-kw", f"{cap}",
        "--heat-rejection-kw", "1000000", "--pack-mass-kg", "450",
        "--profile-from-physics", "ref:nmc811-pouch", "--c-rate", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["time_10_80_min"] == pytest.approx(capped.time_10_80_min, rel=1e-9)
    assert data["cell_charge"]["time_10_80_min"] == pytest.approx(run.time_min)
    assert len(data["cell_charge"]["profile"]["soc"]) == len(run.history)
    assert len(data["power_profile_kw"]) == len(data["soc"]) == 71


def test_cli_needs_exactly_one_cell_input():
    args = ["vehicle", "charge", "--pack-kwh", "70", "--charger-kw", "150",
            "--heat-rejection-kw", "20", "--pack-mass-kg", "450"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--profile-from-physics" in res.stderr
    res = CliRunner().invoke(app, [*args, "--cell-10-80-min", "20", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["binding_limit"] == "cell" and data["time_10_80_min"] == pytest.approx(20.0)
