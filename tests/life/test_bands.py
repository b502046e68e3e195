"""Sensitivity bands: the band holds the central projection, ordering of years to 80 %, heat."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from casip.errors import CasipInputError
from casip.life.bands import project_band
from casip.life.duty import DutyCycle, preset

DUTY = DutyCycle(
    name="band_test",
    cycles_per_day=2,
    depth_of_discharge=0.8,
    charge_c_rate=1.0,
    discharge_c_rate=1.0,
    temperature_C=30,
    rest_soc=0.9,
    years=3,
)


def _band(model, duty, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return project_band(model, duty, **kw)


def _check_band(frame):
    q, lo, hi = (frame[c].to_numpy() for c in ("capacity_rel", "capacity_low", "capacity_high"))
    assert np.all(lo <= q + 1e-12) and np.all(q <= hi + 1e-12)
    assert (hi - lo).max() > 0  # the band has width
    y = frame.attrs["years_to_80"]
    inf = float("inf")
    central = inf if y["central"] is None else y["central"]
    low = inf if y["low"] is None else y["low"]
    high = inf if y["high"] is None else y["high"]
    assert low <= central <= high
    assert "not a statistical interval" in frame.attrs["band"]
    assert len(frame.attrs["variants"]) == 9


@pytest.mark.parametrize("model", ["nmc", "lfp"])
def test_blast_band_contains_central(model):
    frame = _band(model, DUTY, years=4, step_s=900)
    assert list(frame.columns) == ["t_years", "capacity_rel", "capacity_low", "capacity_high"]
    _check_band(frame)


def test_solid_state_band_contains_central_and_reaches_80():
    frame = _band("LPSCl", preset("ev_daily"))
    _check_band(frame)
    y = frame.attrs["years_to_80"]
    assert y["low"] < y["central"]  # twice the rate constant, 5 K hotter: earlier end of life
    assert frame.attrs["varied"]["k_ref_factors"] == [0.5, 2.0]


@pytest.mark.parametrize("model", ["nmc", "LPSCl"])
def test_hotter_duty_central_lies_below(model):
    base = DUTY if model == "nmc" else preset("ev_daily")
    hot = DutyCycle(**{**base.model_dump(), "temperature_C": base.temperature_C + 10})
    kw = {"years": 2, "step_s": 900} if model == "nmc" else {}
    q = _band(model, base, **kw)["capacity_rel"].to_numpy()
    q_hot = _band(model, hot, **kw)["capacity_rel"].to_numpy()
    assert q_hot[-1] < q[-1]
    assert np.all(q_hot[1:] <= q[1:] + 1e-12)


def test_depth_is_clipped_to_a_valid_duty():
    full = DutyCycle(**{**DUTY.model_dump(), "depth_of_discharge": 0.9})  # rest_soc 0.9
    frame = _band("nmc", full, years=1, step_s=900)
    assert max(v["depth_of_discharge"] for v in frame.attrs["variants"]) <= 0.9 + 1e-12


def test_bad_inputs():
    with pytest.raises(CasipInputError):
        project_band("nmc", DUTY, rate_factors=(2.0, 3.0))
    with pytest.raises(CasipInputError):
        project_band("nmc", DUTY, temperature_delta_K=-1)
    with pytest.raises(CasipInputError):
        project_band("nmc", "not a duty")
