"""The BLAST-Lite adapter: reproduction of BLAST-Lite's own output, trends, warnings, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from casip.errors import CasipInputError
from casip.life import blast as life_blast
from casip.life.duty import PRESETS, DutyCycle, preset

IN_RANGE = DutyCycle(
    name="in_range",
    cycles_per_day=1,
    depth_of_discharge=0.9,
    charge_c_rate=0.5,
    discharge_c_rate=0.5,
    temperature_C=25,
    rest_soc=0.95,
    years=3,
)


def _with(**changes) -> DutyCycle:
    return DutyCycle(**{**IN_RANGE.model_dump(), **changes})


def _blast_direct(model_name: str, duty: DutyCycle):
    """Run BLAST-Lite itself, as its documentation shows, on the duty's own time series."""
    life_blast.list_models()  # applies the numpy-2.4 ``trapz`` shim to blast's modules
    import blast.models

    model = getattr(blast.models, model_name)()
    model.simulate_battery_life(
        duty.to_timeseries(), threshold_time=duty.years, is_constant_input=True
    )
    return model


def test_lists_lfp_and_nmc_graphite_models():
    names = {m.name: m for m in life_blast.list_models()}
    for name in life_blast.LFP_GRAPHITE_MODELS + life_blast.NMC_GRAPHITE_MODELS:
        assert name in names
    assert names["Lfp_Gr_SonyMurata3Ah_Battery"].chemistry == "LFP-Gr"
    assert names["Lfp_Gr_SonyMurata3Ah_Battery"].has_resistance
    assert names["Nmc111_Gr_Kokam75Ah_Battery"].chemistry == "NMC111-Gr"
    v = names["Lfp_Gr_SonyMurata3Ah_Battery"].validity
    assert v["cycling_temperature"] == [20.0, 40.0]
    assert v["max_rate_charge"] == 1.0


@pytest.mark.parametrize(
    "model_name", ["Lfp_Gr_SonyMurata3Ah_Battery", "Nmc111_Gr_Kokam75Ah_Battery"]
)
@pytest.mark.parametrize("duty_name", ["in_range", "ev_fast_charge"])
def test_reproduces_blast_lite(model_name, duty_name):
    duty = IN_RANGE if duty_name == "in_range" else PRESETS[duty_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", life_blast.ExtrapolationWarning)
        frame = life_blast.project(model_name, duty)
    ref = _blast_direct(model_name, duty)
    np.testing.assert_allclose(frame["capacity_rel"], ref.outputs["q"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["resistance_rel"], ref.outputs["r"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["t_days"], ref.stressors["t_days"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(frame["efc"], ref.stressors["efc"], rtol=0, atol=1e-12)
    assert frame["t_years"].iloc[-1] >= duty.years
    assert frame["capacity_rel"].iloc[0] == 1.0
    assert frame["capacity_rel"].iloc[-1] < 1.0


def test_short_names_choose_default_models():
    frame = life_blast.project("lfp", IN_RANGE)
    assert frame.attrs["model"] == "Lfp_Gr_SonyMurata3Ah_Battery"
    assert life_blast.project("NMC", IN_RANGE).attrs["model"] == "Nmc111_Gr_Kokam75Ah_Battery"


@pytest.mark.parametrize(
    "model_name", ["Lfp_Gr_SonyMurata3Ah_Battery", "Nmc111_Gr_Kokam75Ah_Battery"]
)
def test_hotter_ages_faster(model_name):
    cool = life_blast.project(model_name, _with(temperature_C=25))
    hot = life_blast.project(model_name, _with(temperature_C=40))
    assert hot["capacity_rel"].iloc[-1] < cool["capacity_rel"].iloc[-1]
    assert hot["resistance_rel"].iloc[-1] > cool["resistance_rel"].iloc[-1]


def test_years_to_80_percent_by_interpolation():
    frame = life_blast.project("Nmc111_Gr_Sanyo2Ah_Battery", preset("stationary_storage"))
    y80, n80 = frame.attrs["years_to_80pct"], frame.attrs["efc_to_80pct"]
    assert y80 is not None and 0 < y80 < 15
    q = frame["capacity_rel"].to_numpy()
    i = int(np.flatnonzero(q <= 0.8)[0])
    assert frame["t_years"].iloc[i - 1] <= y80 <= frame["t_years"].iloc[i]
    assert frame["efc"].iloc[i - 1] <= n80 <= frame["efc"].iloc[i]


def test_no_eol_within_horizon_is_none():
    frame = life_blast.project("lfp", IN_RANGE)
    assert frame.attrs["years_to_80pct"] is None
    assert frame.attrs["capacity_end"] > 0.8


def test_in_range_duty_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", life_blast.ExtrapolationWarning)
        frame = life_blast.project("Lfp_Gr_SonyMurata3Ah_Battery", IN_RANGE)
    assert frame.attrs["warnings"] == []


def test_out_of_range_duty_warns_and_lists_it():
    hot_fast = _with(temperature_C=55, charge_c_rate=3.0)
    with pytest.warns(life_blast.ExtrapolationWarning, match="temperature 55"):
        frame = life_blast.project("Lfp_Gr_SonyMurata3Ah_Battery", hot_fast)
    text = " ".join(frame.attrs["warnings"])
    assert "temperature 55" in text and "20 to 40" in text
    assert "charge rate 3C" in text
    assert frame.attrs["validity"]["cycling_temperature"] == [20.0, 40.0]


def test_low_depth_warns_for_models_fitted_at_high_depth():
    with pytest.warns(life_blast.ExtrapolationWarning, match="depth of discharge 0.3"):
        life_blast.project("Lfp_Gr_SonyMurata3Ah_Battery", preset("ev_daily", years=1))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"depth_of_discharge": -0.2}, "depth_of_discharge"),
        ({"charge_c_rate": 0}, "charge_c_rate"),
        ({"discharge_c_rate": 0}, "discharge_c_rate"),
        ({"temperature_C": 200}, "temperature_C"),
        ({"cycles_per_day": 0}, "cycles_per_day"),
        ({"depth_of_discharge": 0.8, "rest_soc": 0.5}, "depth_of_discharge"),
        ({"cycles_per_day": 20, "charge_c_rate": 0.5}, "cycles_per_day"),
    ],
)
def test_bad_duty_names_the_field(changes, field):
    with pytest.raises(CasipInputError) as err:
        DutyCycle(**{**IN_RANGE.model_dump(), **changes})
    assert err.value.problems[0].field == field
    assert field in str(err.value)


def test_unknown_model_lists_available():
    with pytest.raises(CasipInputError, match="Lfp_Gr_SonyMurata3Ah_Battery") as err:
        life_blast.project("Lfp_Gr_Nonexistent", IN_RANGE)
    assert err.value.problems[0].field == "model"


def test_unknown_preset():
    with pytest.raises(CasipInputError, match="ev_daily"):
        preset("weekly_drive")


def test_duty_timeseries_shape_and_throughput():
    for duty in PRESETS.values():
        ts = duty.to_timeseries(step_s=120)
        t, soc = ts["Time_s"], ts["SOC"]
        assert len(t) == len(soc) == len(ts["Temperature_C"])
        assert t[0] == 0 and t[-1] == pytest.approx(duty.period_s)
        assert np.all(np.diff(t) > 0)
        assert soc[0] == soc[-1] == pytest.approx(duty.rest_soc)
        lo, hi = duty.soc_range
        assert soc.min() == pytest.approx(lo) and soc.max() == pytest.approx(hi)
        # one cycle of depth d per period: throughput d per period, i.e. cycles_per_day*d a day
        efc_per_period = np.abs(np.diff(soc)).sum() / 2
        assert efc_per_period * 86400 / duty.period_s == pytest.approx(
            duty.equivalent_full_cycles_per_day
        )
        assert np.all(ts["Temperature_C"] == duty.temperature_C)
