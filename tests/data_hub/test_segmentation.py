"""Cycle segmentation and cycle numbers (issue 13): one rule for every reader.

A working tester counter is kept; an absent, constant or per-step counter is replaced by cycles
derived from the steps (charge phase then discharge phase, pulses below 5% of the largest step
throughput ignored); cycle numbers stored as multiples of 2π (or another quantum) are mapped
back to integers. Real shared files where they show the defect; synthetic files in tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import casip.data
from casip.data import segmentation, summary
from casip.data.store import Store

LANDT = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt"


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    return shared_data / "cycler"


# ------------------------------------------------------------------ the shared maccor_001.txt


def _check_maccor_001(cycles: pd.DataFrame) -> None:
    full = cycles[(cycles["charge_capacity_ah"] > 1) & (cycles["discharge_capacity_ah"] > 1)]
    assert len(full) == 4  # the four charge/discharge pairs, each ~4.3-4.5 Ah
    assert full["charge_capacity_ah"].max() < 5
    assert full["coulombic_efficiency"].between(0.8, 1.05).all()
    # the file begins with a partial discharge: cycle 1 of the derived numbering
    assert len(cycles) == 5
    assert cycles["charge_capacity_ah"].iat[0] == pytest.approx(0.0, abs=1e-6)


def test_maccor_001_constant_counter_is_replaced_by_step_cycles(cycler: Path) -> None:
    test = casip.data.read(cycler / "maccor_001.txt")
    _check_maccor_001(summary.cycles(test))
    note = [w for w in test.warnings if "cycles derived from the steps" in w]
    assert len(note) == 1 and "constant" in note[0] and "5%" in note[0]
    assert test.metadata.extra["cycle_numbering"] == note[0]
    assert test.data["cycle_count"].is_monotonic_increasing


def test_maccor_001_streaming_store_gives_the_same_cycles(cycler: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    res = store.add_file(cycler / "maccor_001.txt", batch_rows=1000)
    assert any("cycles derived from the steps" in w for w in res.warnings)
    _check_maccor_001(store.table(res.test_id, "cycles"))
    assert "cycle_numbering" in store.info(res.test_id)["metadata"]["extra"]


def test_working_counters_of_shared_files_are_kept(cycler: Path) -> None:
    for name in ("maccor_002.txt", "neware_uio.csv", "pec.csv", f"{LANDT}.csv"):
        test = casip.data.read(cycler / name)
        assert not any("derived from the steps" in w for w in test.warnings), name
        assert "cycle_numbering" not in test.metadata.extra


# ------------------------------------------------------------------ synthetic step sequences


def _profile(blocks: list[tuple[float, float]], dt: float = 5.0) -> pd.DataFrame:
    """Rows of (current A, duration s) blocks, one step each, voltage following the charge."""
    t, i, step = [], [], []
    now = 0.0
    for k, (cur, dur) in enumerate(blocks):
        n = max(int(dur / dt), 2)
        t.append(now + dt * np.arange(n))
        i.append(np.full(n, cur))
        step.append(np.full(n, k + 1))
        now += dt * n
    df = pd.DataFrame({"test_time_second": np.concatenate(t),
                       "current_ampere": np.concatenate(i),
                       "step_index": np.concatenate(step)})
    q = np.cumsum(df["current_ampere"] * dt) / 3600
    df["voltage_volt"] = 3.0 + 0.8 * (q - q.min()) / max(q.max() - q.min(), 1e-9)
    return df


def _hppc_blocks(pairs: int = 2) -> list[tuple[float, float]]:
    """Full 1 A charge/discharge pairs, with 40 pulse pairs (10 s, under 0.3% each) between."""
    blocks: list[tuple[float, float]] = []
    for _ in range(pairs):
        blocks += [(1.0, 3600), (0.0, 600)]
        for _ in range(20):
            blocks += [(-2.0, 10), (0.0, 40), (1.5, 10), (0.0, 40)]
        blocks += [(-1.0, 3600), (0.0, 600)]
    return blocks


def test_constant_counter_with_pulses_gives_one_cycle_per_pair(tmp_path: Path) -> None:
    df = _profile(_hppc_blocks(3))
    df["cycle_count"] = 1
    path = tmp_path / "hppc.bdf.csv"
    df.to_csv(path, index=False)
    test = casip.data.read(path)
    cycles = summary.cycles(test)
    assert len(cycles) == 3  # not 60 pulse "cycles"
    assert cycles["charge_capacity_ah"].to_numpy() == pytest.approx(1.0 + 20 * 1.5 * 10 / 3600,
                                                                      rel=0.02)
    assert any("constant (1) over 3 charge/discharge pairs" in w for w in test.warnings)


def test_absent_counter_is_derived_and_working_counter_kept(tmp_path: Path) -> None:
    df = _profile(_hppc_blocks(2))
    df.to_csv(tmp_path / "none.bdf.csv", index=False)
    test = casip.data.read(tmp_path / "none.bdf.csv")
    assert test.data["cycle_count"].nunique() == 2
    assert any("no cycle counter" in w for w in test.warnings)
    # a tester whose cycles are whole pairs of the HPPC block: kept as it is
    df["cycle_count"] = np.where(df["test_time_second"] < df["test_time_second"].max() / 2, 1, 2)
    df.to_csv(tmp_path / "kept.bdf.csv", index=False)
    kept = casip.data.read(tmp_path / "kept.bdf.csv")
    assert (kept.data["cycle_count"].to_numpy() == df["cycle_count"].to_numpy()).all()
    assert not any("cycle" in w for w in kept.warnings)


def test_counter_that_counts_steps_is_replaced(tmp_path: Path) -> None:
    df = _profile([(1.0, 1800), (0.0, 300), (-1.0, 1800), (0.0, 300)] * 3)
    df["cycle_count"] = df["step_index"]
    df.to_csv(tmp_path / "steps.bdf.csv", index=False)
    test = casip.data.read(tmp_path / "steps.bdf.csv")
    assert sorted(test.data["cycle_count"].unique()) == [1, 2, 3]
    assert any("changes at every step" in w for w in test.warnings)


def test_cycles_from_steps_rule() -> None:
    # discharge first (partial cycle 1), then two pairs; the 1% pulses do not count
    qc = np.array([0.0, 1.0, 0.01, 0.0, 0.9, 0.0])
    qd = np.array([0.5, 0.0, 0.0, 1.0, 0.0, 0.95])
    cycle, pairs, limit = segmentation.cycles_from_steps(qc, qd)
    assert cycle.tolist() == [1, 2, 2, 2, 3, 3]
    assert pairs == 2 and limit == pytest.approx(0.05)


# ------------------------------------------------------------------ cycle numbers ×2π


def _landt_with_scaled_cycles(
    cycler: Path, tmp_path: Path, factor: float
) -> tuple[Path, np.ndarray]:
    """The shared Landt BDF CSV with the Landt export's cycle numbers × ``factor`` added."""
    bdf = pd.read_csv(cycler / f"{LANDT}.bdf.csv")
    tester = casip.data.read(cycler / f"{LANDT}.csv").data
    assert len(tester) == len(bdf)
    np.testing.assert_allclose(tester["test_time_second"], bdf["test_time_second"], atol=0.01)
    cycles = tester["cycle_count"].to_numpy()
    bdf["cycle_count"] = cycles * factor
    path = tmp_path / f"scaled_{factor:.4f}.bdf.csv"
    bdf.to_csv(path, index=False, float_format="%.10g")
    return path, cycles


def test_bdf_cycles_stored_as_multiples_of_two_pi(cycler: Path, tmp_path: Path) -> None:
    path, cycles = _landt_with_scaled_cycles(cycler, tmp_path, 2 * np.pi)
    assert set(np.unique(cycles)) == {1, 2}
    test = casip.data.read(path)
    assert (test.data["cycle_count"].to_numpy() == cycles).all()  # cycle 1, not 6
    note = [w for w in test.warnings if "2π" in w]
    assert len(note) == 1 and "6.28319" in note[0]
    # the store (streaming path first) gives the same numbers and the warning
    store = Store(tmp_path / "store")
    res = store.add_file(path, batch_rows=2000)
    assert any("2π" in w for w in res.warnings)
    assert store.table(res.test_id, "cycles")["cycle_count"].tolist() == [1, 2]


def test_other_constant_quantum_and_plain_fractions() -> None:
    x, note = segmentation.integer_cycles(np.array([2.5, 2.5, 5.0, 7.5]))
    assert x.tolist() == [1, 1, 2, 3] and "2.5" in note
    x, note = segmentation.integer_cycles(np.array([1.0, 1.0, 2.0]))
    assert note is None and x.tolist() == [1, 1, 2]
    x, note = segmentation.integer_cycles(np.array([1.0, 1.4, 2.0]))
    assert x.tolist() == [1, 1, 2] and "rounded" in note
