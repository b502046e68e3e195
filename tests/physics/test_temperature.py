"""Temperature: Arrhenius electrolyte transport, ambient temperature input, lumped thermal rate."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.physics.charge import fast_charge  # noqa: E402
from casip.physics.parameters import parameters_for  # noqa: E402
from casip.physics.rate import rate_capability  # noqa: E402
from casip.physics.temperature import (  # noqa: E402
    EA_CONDUCTIVITY_J_MOL,
    EA_DIFFUSIVITY_J_MOL,
    R_GAS,
    T_REF_K,
    ambient_kelvin,
    arrhenius_factor,
    depends_on_temperature,
    with_arrhenius,
)

COND = "Electrolyte conductivity [S.m-1]"
DIFF = "Electrolyte diffusivity [m2.s-1]"


def _at(fn, c: float, T: float) -> float:
    return float(fn(pybamm.Scalar(c), pybamm.Scalar(T)).evaluate())


def test_arrhenius_factor_is_one_at_the_reference_and_follows_the_law():
    assert arrhenius_factor(T_REF_K, 17e3) == 1.0
    for T in (253.15, 273.15, 318.15):
        expected = math.exp(-17e3 / R_GAS * (1 / T - 1 / T_REF_K))
        assert arrhenius_factor(T, 17e3) == pytest.approx(expected, rel=1e-12)
    # the PyBaMM form gives the same numbers
    sym = arrhenius_factor(pybamm.Scalar(273.15), 12.5e3)
    assert float(sym.evaluate()) == pytest.approx(arrhenius_factor(273.15, 12.5e3), rel=1e-12)
    assert arrhenius_factor(273.15, 12.5e3) < 1 < arrhenius_factor(318.15, 12.5e3)


def test_wrapped_function_keeps_the_base_at_the_reference_temperature():
    def base(c_e, T):
        return 1e-10 * (c_e / 1000.0)

    f = with_arrhenius(base, EA_DIFFUSIVITY_J_MOL)
    assert _at(f, 1000.0, T_REF_K) == pytest.approx(1e-10, rel=1e-12)
    assert _at(f, 1000.0, 273.15) == pytest.approx(
        1e-10 * arrhenius_factor(273.15, EA_DIFFUSIVITY_J_MOL), rel=1e-12
    )
    const = with_arrhenius(2.0, EA_CONDUCTIVITY_J_MOL)  # a base set giving a constant
    assert _at(const, 1200.0, T_REF_K) == pytest.approx(2.0)


def test_activation_energies_are_those_of_pybamm_oregan2022():
    """The sourced values: Landesfeind & Gasteiger 2019 (EC:EMC 3:7) as PyBaMM's ORegan2022
    implements them, at 1 mol/L (diffusivity exact, conductivity fitted over 0-45 degC)."""
    pv = pybamm.ParameterValues("ORegan2022")
    T = np.array([273.15, 283.15, 298.15, 308.15, 318.15])
    for name, ea in ((DIFF, EA_DIFFUSIVITY_J_MOL), (COND, EA_CONDUCTIVITY_J_MOL)):
        y = np.log([_at(pv[name], 1000.0, t) for t in T])
        fitted = -np.polyfit(1 / T, y, 1)[0] * R_GAS
        assert fitted == pytest.approx(ea, rel=0.01), name


def test_liquid_mapping_adds_arrhenius_only_where_the_base_set_has_none():
    chen = pybamm.ParameterValues("Chen2020")
    assert not depends_on_temperature(chen, COND) and not depends_on_temperature(chen, DIFF)
    setup = parameters_for(reference_design("nmc811-pouch"))
    pv = setup.parameter_values
    for name, ea in ((COND, EA_CONDUCTIVITY_J_MOL), (DIFF, EA_DIFFUSIVITY_J_MOL)):
        assert _at(pv[name], 1000.0, T_REF_K) == pytest.approx(_at(chen[name], 1000.0, T_REF_K))
        ratio = _at(pv[name], 1000.0, 273.15) / _at(chen[name], 1000.0, 273.15)
        assert ratio == pytest.approx(arrhenius_factor(273.15, ea), rel=1e-9)
        assert "Landesfeind" in setup.mapping[name].origin
    assert any("Arrhenius" in n for n in setup.notes)
    # Xu2019 (lithium metal) already depends on temperature and is left alone
    assert depends_on_temperature(pybamm.ParameterValues("Xu2019"), COND)


def test_cold_reference_cell_loses_more_capacity_at_1c():
    design = reference_design("nmc811-pouch")
    warm = rate_capability(design, [0.1, 1.0], temperature_c=25.0, num_threads=1)
    cold = rate_capability(design, [0.1, 1.0], temperature_c=0.0, num_threads=1)
    ret = {k: r.table.set_index("c_rate").loc[1.0, "capacity_retention"]
           for k, r in (("warm", warm), ("cold", cold))}
    assert ret["cold"] < ret["warm"] - 0.1
    assert cold.ambient_temperature_C == pytest.approx(0.0)
    assert cold.max_temperature_C[1.0] == pytest.approx(0.0, abs=1e-6)  # isothermal
    # temperature_c is temperature_K in other units (same cache key, same result)
    same = rate_capability(design, [0.1, 1.0], temperature_K=273.15, num_threads=1)
    assert same.design_hash == cold.design_hash


def test_lumped_thermal_option_heats_the_cell_during_a_2c_discharge():
    r = rate_capability(reference_design("nmc811-pouch"), [0.1, 2.0], thermal=True,
                        num_threads=1)
    assert r.thermal
    assert r.max_temperature_C[2.0] > r.ambient_temperature_C + 5.0
    assert r.max_temperature_C[2.0] > r.max_temperature_C[0.1]
    curve = r.curves[2.0]
    assert curve["temperature_C"].iloc[0] == pytest.approx(25.0, abs=0.1)
    assert curve["temperature_C"].iloc[-1] > 30.0
    d = json.loads(json.dumps(r.to_dict()))
    assert d["thermal"] is True and d["max_temperature_C"]["2"] > 30.0
    iso = rate_capability(reference_design("nmc811-pouch"), [0.1, 2.0], num_threads=1)
    assert iso.design_hash != r.design_hash and not iso.thermal


def test_thermal_refused_without_thermal_parameters():
    with pytest.raises(CasipInputError) as exc:
        rate_capability(reference_design("lfp-blade"), [1.0], thermal=True)
    assert exc.value.problems[0].field == "thermal"
    assert "Prada2013" in str(exc.value)


@pytest.mark.parametrize("bad", [-60.0, 298.15, math.nan, math.inf, "warm"])
def test_bad_temperatures_refused_naming_the_field(bad):
    with pytest.raises(CasipInputError) as exc:
        ambient_kelvin(bad)
    assert exc.value.problems[0].field == "temperature_c"
    design = reference_design("nmc811-pouch")
    with pytest.raises(CasipInputError) as exc:
        rate_capability(design, [1.0], temperature_c=bad)
    assert exc.value.problems[0].field == "temperature_c"
    with pytest.raises(CasipInputError) as exc:
        fast_charge(design, 1.0, temperature_c=bad)
    assert exc.value.problems[0].field == "temperature_c"


def test_temperature_given_twice_is_refused():
    with pytest.raises(CasipInputError) as exc:
        rate_capability(reference_design("nmc811-pouch"), [1.0], temperature_c=25.0,
                        temperature_K=298.15)
    assert exc.value.problems[0].field == "temperature_c"


def test_fast_charge_takes_the_ambient_temperature():
    design = reference_design("nmc811-pouch")
    cold = fast_charge(design, 0.5, temperature_c=0.0)
    warm = fast_charge(design, 0.5, temperature_c=25.0)
    assert cold.history["temperature_C"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    # cold: a lower anode potential during charge (closer to plating)
    assert cold.min_anode_potential_V < warm.min_anode_potential_V


@pytest.mark.slow
def test_cli_rate_and_charge_take_temperature_in_celsius():
    from typer.testing import CliRunner

    from casip.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["sim", "rate", "ref:nmc811-pouch", "--c-rates", "0.1,2",
                              "--temperature", "10", "--thermal", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["thermal"] and d["ambient_temperature_C"] == pytest.approx(10.0)
    res = runner.invoke(app, ["sim", "charge", "ref:nmc811-pouch", "--c-rate", "0.5",
                              "--temperature", "35", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["history"][0]["temperature_C"] == pytest.approx(35.0, abs=1e-6)
    res = runner.invoke(app, ["sim", "rate", "ref:nmc811-pouch", "--temperature", "298"])
    assert res.exit_code != 0 and "temperature_c" in res.output
