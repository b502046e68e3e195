"""Fast charge: PyBaMM's Chen2020 behaviour, limits that bind, solid-state trends, fastest rate."""

from __future__ import annotations

import json
import math

import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.physics.charge import (  # noqa: E402
    BINDING_LIMITS,
    ChargeLimits,
    ChargeResult,
    fast_charge,
    fastest_charge,
)

ASSB = "assb-sulfide-li"


# ------------------------------------------------------------------ PyBaMM's own Chen2020


@pytest.mark.parametrize(
    ("c_rate", "minutes", "anode_mV"),
    [(1.0, 51.1, -17.0), (4.0, 30.9, -217.0)],
)
def test_chen2020_cccv_reproduces_reference(c_rate, minutes, anode_mV):
    # GUIDE reference: Chen2020 DFN, CC-CV from 0% SOC, time to 80% of the C/20 capacity
    r = fast_charge("pybamm:Chen2020", c_rate, soc_start=0.0, soc_end=0.8)
    assert r.time_min == pytest.approx(minutes, rel=0.10)
    assert r.min_anode_potential_V * 1000 == pytest.approx(anode_mV, rel=0.10, abs=3.0)
    assert r.binding_limit == "lithium plating (anode potential)"
    assert "upper voltage" in r.limits_crossed  # CV took over before 80%
    assert 0 < r.cv_start_min < r.time_min
    h = r.history
    assert h["soc"].iloc[0] == pytest.approx(0.0)
    assert h["soc"].iloc[-1] == pytest.approx(0.8, abs=1e-4)
    assert h["voltage_V"].max() == pytest.approx(4.2, abs=2e-3)
    assert h["current_A"].iloc[0] == pytest.approx(c_rate * r.capacity_Ah, rel=1e-3)


def test_prada2013_1c_is_plating_free_to_80_percent():
    r = fast_charge("pybamm:Prada2013", 1.0, soc_start=0.0, soc_end=0.8)
    assert r.time_min == pytest.approx(48.0, rel=0.05)  # CC all the way: 0.8 h
    assert r.binding_limit == "none"
    assert r.min_anode_potential_V > 0


# ------------------------------------------------------------------ limits


def test_liquid_cell_reports_plating_and_voltage():
    r = fast_charge(reference_design("nmc811-pouch"), 1.0)
    assert isinstance(r, ChargeResult)
    assert r.binding_limit in BINDING_LIMITS
    assert r.binding_limit == "lithium plating (anode potential)"
    assert r.min_anode_potential_V < 0
    assert r.critical_current_density_mA_cm2 is None  # not applied to graphite
    assert 30 < r.time_min < 70
    # no plating limit: the upper voltage binds
    r2 = fast_charge(reference_design("nmc811-pouch"), 1.0,
                     limits=ChargeLimits(min_anode_potential_V=None))
    assert r2.binding_limit == "upper voltage"
    assert r2.time_min == pytest.approx(r.time_min)


def test_critical_current_density_binds_when_below_the_charge_current():
    d = reference_design(ASSB)
    small = fast_charge(d, 0.5, limits=ChargeLimits(critical_current_density_mA_cm2=0.05))
    assert small.binding_limit == "critical current density"
    assert small.max_current_density_mA_cm2 > 0.05
    assert small.critical_current_density_mA_cm2 == 0.05
    assert math.isnan(small.min_anode_potential_V)  # lithium metal: no anode potential
    assert any("main uncertainty" in n for n in small.notes)
    # current density = current / total electrode area
    j = 0.5 * small.capacity_Ah * 1000 / small.area_cm2
    assert small.max_current_density_mA_cm2 == pytest.approx(j, rel=1e-3)
    big = fast_charge(d, 0.5, limits=ChargeLimits(critical_current_density_mA_cm2=1e3))
    assert big.binding_limit != "critical current density"
    # default: the library's CCD of the solid-electrolyte separator (LPSCl)
    lib = fast_charge(d, 0.5)
    assert lib.critical_current_density_mA_cm2 is not None
    assert "LPSCl" in lib.ccd_source


def test_lower_solid_electrolyte_conductivity_lengthens_the_charge():
    d = reference_design(ASSB)
    base = fast_charge(d, 0.5, soc_start=0.1, soc_end=0.8)
    slow = fast_charge(
        d, 0.5, soc_start=0.1, soc_end=0.8,
        overrides={"Electrolyte conductivity [S.m-1]": 0.01},
    )
    assert slow.time_min > base.time_min * 1.05, (base.time_min, slow.time_min)
    assert slow.cv_start_min < base.time_min


def test_higher_contact_resistance_lengthens_the_charge():
    d = reference_design(ASSB)
    lo = fast_charge(d, 0.5, contact_resistance_ohm_cm2=1.0)
    # 100 Ohm cm2: with the sourced lithium exchange current (issue 14, 257 A/m2 instead of the
    # old 10 A/m2 placeholder) 40 Ohm cm2 no longer reaches the upper voltage at 0.5C
    hi = fast_charge(d, 0.5, contact_resistance_ohm_cm2=100.0)
    assert hi.time_min > lo.time_min


def test_temperature_limit_needs_thermal_parameters():
    with pytest.raises(CasipInputError, match="no thermal parameters"):
        fast_charge(reference_design("lfp-blade"), 1.0,
                    limits=ChargeLimits(max_temperature_C=45))


def test_lumped_thermal_model_reports_the_temperature_limit():
    d = reference_design("nmc811-pouch")
    r = fast_charge(d, 2.0, limits=ChargeLimits(min_anode_potential_V=None,
                                                max_temperature_C=30.0))
    assert r.max_temperature_C > 30.0
    assert r.binding_limit == "temperature"
    assert r.history["temperature_C"].iloc[0] == pytest.approx(25.0, abs=0.1)


def test_multistep_protocol():
    r = fast_charge("pybamm:Chen2020", protocol="multistep", steps=[(3, 0.4), (1, 0.8)],
                    soc_start=0.1, soc_end=0.8)
    assert r.protocol == "multistep"
    assert r.steps == [(3.0, 0.4), (1.0, 0.8)]
    cc = fast_charge("pybamm:Chen2020", 1.0, soc_start=0.1, soc_end=0.8)
    assert r.time_min < cc.time_min
    assert r.history["current_A"].max() == pytest.approx(3 * r.capacity_Ah, rel=1e-3)
    json.dumps(r.to_dict())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"soc_start": 0.8, "soc_end": 0.5}, "soc_start"),
        ({"c_rate": -1}, "c_rate"),
        ({"protocol": "pulse"}, "protocol"),
        ({"protocol": "multistep"}, "steps"),
        ({"protocol": "multistep", "steps": [(2, 0.5), (1, 0.6)]}, "steps"),
        ({"protocol": "multistep", "steps": [(2, 0.5), (1, 0.4)]}, "until_soc"),
    ],
)
def test_bad_charge_input_is_refused(kwargs, field):
    with pytest.raises(CasipInputError, match=field):
        fast_charge("pybamm:Chen2020", **kwargs)


def test_unknown_string_design_is_refused():
    with pytest.raises(CasipInputError, match="pybamm:Chen2020"):
        fast_charge("Chen2020")


# ------------------------------------------------------------------ fastest charge


@pytest.mark.parametrize("cell", ["lfp-blade", "nmc811-pouch"])
def test_fastest_charge_respects_the_plating_limit(cell):
    r = fastest_charge(reference_design(cell))
    assert r.min_anode_potential_V >= 0.0
    assert "lithium plating (anode potential)" not in r.limits_crossed
    assert r.binding_limit == "lithium plating (anode potential)"
    assert 0.1 <= r.c_rate < 10
    # a little faster plates
    faster = fast_charge(reference_design(cell), r.c_rate * 1.1)
    assert faster.min_anode_potential_V < 0.0


def test_fastest_charge_of_lithium_metal_is_set_by_the_ccd():
    d = reference_design(ASSB)
    r = fastest_charge(d, limits=ChargeLimits(critical_current_density_mA_cm2=3.0))
    assert r.binding_limit == "critical current density"
    assert r.max_current_density_mA_cm2 == pytest.approx(3.0, rel=1e-3)
    assert r.max_current_density_mA_cm2 <= 3.0 * (1 + 1e-3)
    assert math.isfinite(r.time_min)


def test_charge_result_to_dict_is_json():
    r = fast_charge("pybamm:Prada2013", 2.0)
    d = r.to_dict()
    s = json.dumps(d)
    assert "NaN" not in s
    assert d["binding_limit"] in BINDING_LIMITS
    assert set(d["history"][0]) == {
        "time_min", "soc", "voltage_V", "current_A", "anode_potential_V", "temperature_C"
    }
    assert "history" not in r.to_dict(history=False)


def test_charge_figures(tmp_path):
    from casip.physics.charts_charge import charge_figures
    from casip.report import write_figures

    rs = [fast_charge("pybamm:Chen2020", 1.0), fast_charge(reference_design(ASSB), 0.2)]
    paths = write_figures(charge_figures(rs), tmp_path, "charge")
    assert [p.suffix for p in paths] == [".png", ".html"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_solid_state_silicon_cell_fast_charge_solves():
    r = fast_charge(reference_design("assb-sulfide-si"), 1.0)
    assert r.binding_limit in BINDING_LIMITS
    assert r.critical_current_density_mA_cm2 is None  # no lithium metal: plating limit instead
    assert 30 < r.time_min < 70
    h = r.history
    assert h["soc"].iloc[-1] == pytest.approx(0.8, abs=1e-3)
    assert h["voltage_V"].max() <= 4.2 + 2e-3
