"""User-defined duty profiles from CSV: equivalence with the presets, and bad files."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from casip.errors import CasipInputError
from casip.life import blast as life_blast
from casip.life.duty import preset
from casip.life.profile import DutyProfile, project_profile

CAP_AH = 3.0


def _csv_from_duty(tmp_path, duty, kind="current", voltage=3.2):
    """A profile CSV whose zero-order-hold current reproduces the duty's own SOC series."""
    ts = duty.to_timeseries()
    t, soc = ts["Time_s"], ts["SOC"]
    current = np.append(np.diff(soc) / np.diff(t) * 3600.0 * CAP_AH, 0.0)
    frame = pd.DataFrame({"time_s": t, "temperature_c": ts["Temperature_C"]})
    if kind == "current":
        frame["current_a"] = current
    else:
        frame["power_w"] = current * voltage
    path = tmp_path / f"{duty.name}.csv"
    frame.to_csv(path, index=False, float_format="%.17g")
    return path


@pytest.mark.parametrize("name", ["ev_daily", "stationary_storage"])
def test_profile_from_preset_series_matches_preset_projection(tmp_path, name):
    duty = preset(name, years=2)
    prof = DutyProfile.from_csv(_csv_from_duty(tmp_path, duty), CAP_AH, initial_soc=duty.rest_soc)
    ts, ps = duty.to_timeseries(), prof.to_timeseries()
    np.testing.assert_allclose(ps["Time_s"], ts["Time_s"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ps["SOC"], ts["SOC"], rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", life_blast.ExtrapolationWarning)
        ref = life_blast.project("lfp", duty)
        got = project_profile("lfp", prof, years=duty.years)
    assert list(got.columns) == list(ref.columns)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-9)


def test_power_column_gives_same_soc(tmp_path):
    duty = preset("ev_daily")
    by_i = DutyProfile.from_csv(_csv_from_duty(tmp_path, duty), CAP_AH, initial_soc=0.9)
    p_path = _csv_from_duty(tmp_path / "", duty.model_copy(update={"name": "p"}), kind="power")
    by_p = DutyProfile.from_csv(p_path, CAP_AH, nominal_voltage_v=3.2, initial_soc=0.9)
    np.testing.assert_allclose(by_p.soc, by_i.soc, atol=1e-12)
    with pytest.raises(CasipInputError, match="nominal_voltage_v"):
        DutyProfile.from_csv(p_path, CAP_AH, initial_soc=0.9)


def test_repeat_days_tiles_the_period(tmp_path):
    duty = preset("ev_fast_charge")  # 12 h period
    prof = DutyProfile.from_csv(_csv_from_duty(tmp_path, duty), CAP_AH, initial_soc=0.8)
    one = prof.to_timeseries()
    three = prof.to_timeseries(repeat_days=3)
    assert three["Time_s"][-1] == pytest.approx(3 * 86400.0)
    assert np.all(np.diff(three["Time_s"]) > 0)
    assert len(three["SOC"]) == 6 * (len(one["SOC"]) - 1) + 1
    np.testing.assert_allclose(three["SOC"][-len(one["SOC"]) :], one["SOC"], atol=1e-12)


def _write(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


def test_missing_column_named(tmp_path):
    path = _write(tmp_path, "time_s,current_a\n0,0\n60,0\n")
    with pytest.raises(CasipInputError, match="temperature_c: missing column") as e:
        DutyProfile.from_csv(path, CAP_AH)
    assert e.value.source == str(path)
    path = _write(tmp_path, "time_s,temperature_c\n0,25\n60,25\n")
    with pytest.raises(CasipInputError, match="current_a or power_w"):
        DutyProfile.from_csv(path, CAP_AH)


def test_time_backwards_names_row(tmp_path):
    path = _write(tmp_path, "time_s,current_a,temperature_c\n0,0,25\n60,0,25\n30,0,25\n90,0,25\n")
    with pytest.raises(CasipInputError, match=r"time_s \(row 3, line 4\): time does not increase"):
        DutyProfile.from_csv(path, CAP_AH)


def test_nan_names_column_and_row(tmp_path):
    path = _write(tmp_path, "time_s,current_a,temperature_c\n0,0,25\n60,,25\n")
    with pytest.raises(CasipInputError, match=r"current_a \(row 2, line 3\)"):
        DutyProfile.from_csv(path, CAP_AH)


def test_soc_leaving_range_names_column_and_row(tmp_path):
    # 3 A for an hour on a 3 Ah cell from SOC 0.5: SOC 1.5 at row 3.
    path = _write(tmp_path, "time_s,current_a,temperature_c\n0,0,25\n60,3,25\n3660,0,25\n")
    with pytest.raises(CasipInputError, match=r"current_a \(row 2, line 3\): SOC leaves") as e:
        DutyProfile.from_csv(path, CAP_AH, initial_soc=0.5)
    assert "bad.csv" in str(e.value)
    path = _write(tmp_path, "time_s,power_w,temperature_c\n0,-20,25\n3600,0,25\n")
    with pytest.raises(CasipInputError, match=r"power_w \(row 1, line 2\): SOC leaves"):
        DutyProfile.from_csv(path, CAP_AH, nominal_voltage_v=3.2, initial_soc=0.5)


def test_open_period_cannot_be_repeated(tmp_path):
    path = _write(tmp_path, "time_s,current_a,temperature_c\n0,-1,25\n3600,0,25\n")
    prof = DutyProfile.from_csv(path, CAP_AH, initial_soc=1.0)
    with pytest.raises(CasipInputError, match="initial SOC"):
        prof.to_timeseries(repeat_days=2)
    with pytest.raises(CasipInputError, match="initial SOC"):
        project_profile("lfp", prof, years=1)
