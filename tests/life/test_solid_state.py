"""The semi-empirical solid-state ageing model: trends and failure limits."""

from __future__ import annotations

import subprocess
import sys

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


def test_interface_resistance_is_the_physics_table_value():
    from casip.physics.solid_state import TABLE

    p = ss.PARAMETERS
    # R0 is the physics table's lithium | SE interface resistance at 5 MPa and 25 C
    # (casip.physics.solid_state.TABLE): Li | Li6PS5Cl 5 Ohm cm2 (assumed, range 2-30; was an
    # own assumed 20 here), Li | LLZO 2 Ohm cm2 (Sharafi et al. 2017; was an own assumed 10)
    assert p["LPSCl"]["R0_ohm_cm2"].value == 5.0 == TABLE["r_li_argyrodite"].central
    assert p["LLZO"]["R0_ohm_cm2"].value == 2.0 == TABLE["r_li_garnet"].central
    assert p["LPSCl"]["R0_ohm_cm2"].source == ss.ASSUMED  # the table marks it assumed
    assert p["LLZO"]["R0_ohm_cm2"].source == "physics:r_li_garnet"
    assert "10.1021/acs.chemmater.7b02371" in ss.SOURCES["physics:r_li_garnet"]  # Sharafi 2017
    assert "r_li_argyrodite" in p["LPSCl"]["R0_ohm_cm2"].note
    # minimum stack pressure of Li | LPSCl: the table's p_min_li (Doux et al. 2020), 5 MPa
    assert p["LPSCl"]["p_min_MPa"].value == TABLE["p_min_li"].central == 5.0
    frame = ss.project("LPSCl", DUTY)
    assert frame["resistance_ohm_cm2"].iloc[0] == 5.0
    assert frame["resistance_rel"].iloc[0] == 1.0
    assert ss.parameters() is ss.PARAMETERS  # one dict, which the bands swap entries of


def test_importing_the_life_package_does_not_load_pybamm():
    code = (
        "import sys, casip.life, casip.life.solid_state as s; s.ELECTROLYTES; "
        "print('pybamm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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
