"""Q(V) extraction from hub time series, checked against the hub's own cycle summaries."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from casip.data import read
from casip.data.summary import cycles as cycle_summary
from casip.errors import CasipInputError
from casip.life import SEVERSON_VOLTAGE, VarianceModel, load_severson_qv, qv_features
from casip.life.from_hub import clean_branch, discharge_qv, hub_features, predict_test

# Real files in ../shared/data/cycler with several cycles, one per tester family.
FILES = [
    "20160805_test001_45_cc_01.res",  # Arbin .res, 18 cycles
    "neware_uio.csv",  # Neware, 4 cycles
    "maccor_002.txt",  # Maccor, 2 cycles
    "arbin_example.csv",  # Arbin csv, 2 LFP cycles over 3.6-2.0 V
]


def _test(shared_data, name):
    path = shared_data / "cycler" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read(path)


@pytest.mark.parametrize("name", FILES)
def test_end_of_discharge_matches_hub_summary(shared_data, name):
    test = _test(shared_data, name)
    summary = cycle_summary(test).set_index("cycle_count")
    curves = discharge_qv(test.data, source=name)
    assert len(curves) >= 2
    for c, (v, q) in curves.items():
        assert np.all(np.diff(v) < 0), f"cycle {c}: voltage not strictly decreasing"
        assert np.all(np.diff(q) >= -1e-12), f"cycle {c}: capacity decreasing"
        expected = summary.loc[c, "discharge_capacity_ah"]
        assert q[-1] == pytest.approx(expected, rel=0.01), f"cycle {c}"


def test_grid_interpolation_on_lfp_file(shared_data):
    test = _test(shared_data, "arbin_example.csv")
    grid = np.linspace(3.2, 2.1, 200)  # its discharges start near 3.28 V after a rest
    raw = discharge_qv(test.data)
    on_grid = discharge_qv(test.data, voltage_grid=grid)
    for c, (v, q) in on_grid.items():
        assert np.array_equal(v, grid)
        _, q0 = raw[c]
        assert q[-1] <= q0[-1] + 1e-12
        assert np.all(np.diff(q) >= -1e-12)


def test_too_few_cycles_refused(shared_data):
    test = _test(shared_data, "20160805_test001_45_cc_01.res")
    model = VarianceModel()
    with pytest.raises(CasipInputError, match="too few cycles"):
        predict_test(test.data, model)


def test_clean_branch_running_minimum():
    v = np.array([3.5, 3.4, 3.45, 3.3, 3.3, 3.2])
    q = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    vc, qc = clean_branch(v, q)
    assert vc.tolist() == [3.5, 3.4, 3.3, 3.2]
    assert qc.tolist() == [0.0, 0.2, 0.4, 0.5]


def _synthetic_hub(q: np.ndarray, voltage: np.ndarray, cycles: np.ndarray) -> pd.DataFrame:
    """A hub-like time series whose discharges are the given Q(V) curves."""
    parts, total, t = [], 0.0, 0.0
    for j, c in enumerate(cycles):
        n = len(voltage)
        charge = pd.DataFrame(
            {
                "test_time_second": [t],
                "voltage_volt": [3.6],
                "current_ampere": [1.0],
                "cycle_count": [c],
                "discharging_capacity_ah": [total],
            }
        )
        dis = pd.DataFrame(
            {
                "test_time_second": t + 1 + np.arange(n),
                "voltage_volt": voltage,
                "current_ampere": -np.ones(n),
                "cycle_count": np.full(n, c),
                "discharging_capacity_ah": total + q[:, j],
            }
        )
        total += q[-1, j]
        t += n + 2
        parts += [charge, dis]
    return pd.DataFrame(pd.concat(parts, ignore_index=True))


def test_hub_features_equal_qv_features(shared_data):
    folder = shared_data / "severson"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    curves, _ = load_severson_qv(folder)
    q = np.maximum.accumulate(curves[0], axis=0)  # cell 1, Q made non-decreasing in 3.6 -> 2 V
    cyc = np.arange(2, 101)
    df = _synthetic_hub(q, SEVERSON_VOLTAGE, cyc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = qv_features(q, SEVERSON_VOLTAGE, cyc)
        got = hub_features(df)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k


def test_voltage_range_not_covering_grid_refused():
    v = np.linspace(3.6, 2.5, 50)  # stops at 2.5 V: does not reach 2.0 V
    q = np.tile(np.linspace(0, 1.0, 50)[:, None], (1, 99))
    df = _synthetic_hub(q, v, np.arange(2, 101))
    with pytest.raises(CasipInputError, match="does not cover"):
        hub_features(df)


def test_flat_discharge_refused():
    df = pd.DataFrame(
        {
            "test_time_second": [0.0, 1.0, 2.0],
            "voltage_volt": [3.0, 3.0, 3.0],
            "current_ampere": [-1.0, -1.0, -1.0],
            "cycle_count": [1, 1, 1],
            "discharging_capacity_ah": [0.0, 0.1, 0.2],
        }
    )
    with pytest.raises(CasipInputError, match="not monotonic"):
        discharge_qv(df)
