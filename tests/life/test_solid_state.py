"""The semi-empirical solid-state ageing model: trends and failure limits."""

from __future__ import annotations

import pytest

from casip.errors import CasipInputError
from casip.life import solid_state as ss
from casip.life.duty import DutyCycle

DUTY = DutyCycle(
    name="ss",
    cycles_per_day=1,
    depth_of_discharge=0.8,
    charge_c_rate=0.2,
    discharge_c_rate=0.5,
    temperature_C=25,
    rest_soc=0.9,
    years=10,
)


def _with(**changes) -> DutyCycle:
    return DutyCycle(**{**DUTY.model_dump(), **changes})


@pytest.mark.parametrize("electrolyte", ["LPSCl", "LLZO"])
def test_hotter_ages_faster(electrolyte):
    cool = ss.project(electrolyte, _with(temperature_C=25), areal_capacity_mAh_cm2=1.0)
    hot = ss.project(electrolyte, _with(temperature_C=45), areal_capacity_mAh_cm2=1.0)
    assert hot["capacity_rel"].iloc[-1] < cool["capacity_rel"].iloc[-1]
    assert hot["resistance_ohm_cm2"].iloc[-1] > cool["resistance_ohm_cm2"].iloc[-1]


def test_higher_current_ages_faster():
    slow = ss.project("LPSCl", _with(charge_c_rate=0.1, discharge_c_rate=0.2))
    fast = ss.project("LPSCl", _with(charge_c_rate=0.3, discharge_c_rate=1.0))
    assert fast["capacity_rel"].iloc[-1] < slow["capacity_rel"].iloc[-1]
    assert fast["resistance_ohm_cm2"].iloc[-1] > slow["resistance_ohm_cm2"].iloc[-1]


def test_resistance_follows_power_law():
    frame = ss.project("LPSCl", DUTY)
    r0 = ss.PARAMETERS["LPSCl"]["R0_ohm_cm2"].value
    dr = frame["resistance_ohm_cm2"].to_numpy() - r0
    t = frame["t_days"].to_numpy()
    # t**0.5: quadrupling the time doubles the growth
    i, j = 100, 400
    assert dr[j] / dr[i] == pytest.approx((t[j] / t[i]) ** 0.5, rel=1e-12)
    assert frame["capacity_rel"].iloc[0] == 1.0
    assert (frame["capacity_rel"].diff().dropna() <= 0).all()


def test_current_above_ccd_fails():
    ccd, _ = ss.critical_current_density_mA_cm2("LPSCl")
    duty = _with(charge_c_rate=1.0)  # 1C on 3 mAh/cm2 = 3 mA/cm2 > 1 mA/cm2
    assert duty.charge_c_rate * 3.0 > ccd
    with pytest.warns(ss.SolidStateFailureWarning, match="critical current density"):
        frame = ss.project("LPSCl", duty, areal_capacity_mAh_cm2=3.0)
    assert frame.attrs["failed"]
    assert frame.attrs["capacity_end"] == 0.0
    ok = ss.project("LPSCl", duty, areal_capacity_mAh_cm2=0.5)
    assert not ok.attrs["failed"]


def test_low_stack_pressure_fails():
    with pytest.warns(ss.SolidStateFailureWarning, match="stack pressure"):
        frame = ss.project("LPSCl", DUTY, stack_pressure_MPa=1.0)
    assert frame.attrs["failed"]


def test_every_parameter_has_a_source_or_says_assumed():
    for params in ss.PARAMETERS.values():
        for p in params.values():
            assert p.source == ss.ASSUMED or p.source in ss.SOURCES
            assert p.note


def test_bad_input_names_the_field():
    with pytest.raises(CasipInputError, match="electrolyte"):
        ss.project("PEO_LiTFSI", DUTY)
    with pytest.raises(CasipInputError, match="areal_capacity_mAh_cm2"):
        ss.project("LPSCl", DUTY, areal_capacity_mAh_cm2=0)
