"""Maccor capacity and energy counters: restarts are decided from the data (issue 13).

A Maccor export's ``Amp-hr``/``Watt-hr`` counter (or ``mAmp-hr``/``mWatt-hr``) may restart at
every step, run on from one charge step into the next (CC then CV charge), or never restart.
Small exports are written here, in ``tmp_path``, in the layout of the shared
``maccor_001.txt`` (header lines and column names) from a known current profile: three cycles
of rest, CC charge, CV charge, rest and CC discharge with a coulombic efficiency of 0.99. Each
is read whole (``casip.data.read``) and streamed in small batches (``ingest_stream``,
``Store.ingest``); per-cycle capacities, coulombic efficiency and the capacity check must come
out right in every case.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import casip.data
from casip.data import ingest as ingest_mod
from casip.data import schema, summary
from casip.data.store import Store

DT = 30.0  # seconds between records
CYCLES = 3
CC_S, CV_S, REST_S = 2700.0, 1800.0, 120.0
I_CC, TAU = 1.0, 600.0  # A; CV current decays as I_CC * exp(-t / TAU)
CE = 0.99

#: The header lines of the shared maccor_001.txt, then its first columns.
HEADER = (
    "Today's Date:\t14 December 2020\tDate of Test:\t11 December 2020, 12:22:12 PM\n"
    "    Filename:\tcounter_test\tTester Channel:\t1\n"
    "Procedure:\tcounter_test.000\tDescription:\n"
)
START = dt.datetime(2020, 12, 11, 12, 22, 12)


def _steps() -> list[tuple[int, str, float]]:
    """(step number, state, duration) of one cycle; the discharge gives CE = 0.99."""
    q_charge = I_CC * CC_S / 3600 + I_CC * TAU * (1 - np.exp(-CV_S / TAU)) / 3600
    dis_s = round(CE * q_charge * 3600 / I_CC / DT) * DT
    return [(1, "R", REST_S), (2, "C", CC_S), (3, "CV", CV_S), (4, "R", REST_S), (5, "D", dis_s)]


def _current(kind: str, tau: np.ndarray) -> np.ndarray:
    if kind == "C":
        return np.full(len(tau), I_CC)
    if kind == "CV":
        return I_CC * np.exp(-tau / TAU)
    if kind == "D":
        return np.full(len(tau), I_CC)  # Maccor writes current unsigned; the state says D
    return np.zeros(len(tau))


def _charge(kind: str, tau: np.ndarray) -> np.ndarray:
    """Charge (Ah) passed from the step's start to step time ``tau`` (exact)."""
    if kind == "CV":
        return I_CC * TAU * (1 - np.exp(-tau / TAU)) / 3600
    return _current(kind, tau) * tau / 3600


def _voltage(kind: str, tau: np.ndarray, dur: float) -> np.ndarray:
    if kind == "C":
        return 3.6 + 0.6 * tau / dur
    if kind == "CV":
        return np.full(len(tau), 4.2)
    if kind == "D":
        return 4.1 - 1.1 * tau / dur
    return np.full(len(tau), 3.5)


def profile() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The records (one per ``DT`` from each step's start; a step's records end at its end)
    and the exact per-cycle charge and discharge capacities."""
    rows = []
    t0 = 0.0
    qc, qd = np.zeros(CYCLES), np.zeros(CYCLES)
    for cyc in range(CYCLES):
        for step, kind, dur in _steps():
            tau = np.arange(1, round(dur / DT) + 1) * DT
            q = _charge(kind, tau)
            i = _current(kind, tau)
            v = _voltage(kind, tau, dur)
            # energy in the step: trapezoid of I*V over the records, from the step's start
            p = i * v
            p_start = _current(kind, np.zeros(1))[0] * _voltage(kind, np.zeros(1), dur)[0]
            e = np.cumsum(0.5 * (p + np.r_[p_start, p[:-1]]) * DT) / 3600
            state = "C" if kind == "CV" else kind
            if state == "C":
                qc[cyc] += q[-1]
            elif state == "D":
                qd[cyc] += q[-1]
            for k in range(len(tau)):
                rows.append((cyc, step, t0 + tau[k], tau[k], q[k], e[k], i[k], v[k], state))
            t0 += dur
    df = pd.DataFrame(rows, columns=["cyc", "step", "t", "st", "q", "e", "i", "v", "state"])
    return df, {"charge": qc, "discharge": qd}


def _hms(seconds: float) -> str:
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"  {int(d)}d {int(h):02d}:{int(m):02d}:{s:.2f}"


def write_export(path: Path, counters: str, milli: bool = False) -> Path:
    """A Maccor text export of :func:`profile` whose counters restart per ``counters``:

    ``"step"``: at every step; ``"run-on"``: at every step except a charge step that follows a
    charge step (CC then CV), where the counter continues; ``"cumulative"``: never (the counter
    adds charge and discharge from the start of the test and holds over rests).
    """
    df, _ = profile()
    q, e = df["q"].to_numpy().copy(), df["e"].to_numpy().copy()
    first = np.r_[True, (df["step"].to_numpy()[1:] != df["step"].to_numpy()[:-1])]
    if counters in ("run-on", "cumulative"):
        carry_q = carry_e = 0.0
        state = df["state"].to_numpy()
        run_q, run_e = q.copy(), e.copy()
        for k in range(len(df)):
            if first[k] and k:
                if counters == "cumulative" or (state[k] == "C" and state[k - 1] == "C"):
                    carry_q, carry_e = run_q[k - 1], run_e[k - 1]
                else:
                    carry_q = carry_e = 0.0
            run_q[k] = carry_q + q[k]
            run_e[k] = carry_e + e[k]
        q, e = run_q, run_e
    scale = 1000.0 if milli else 1.0
    cap, ener = ("mAmp-hr", "mWatt-hr") if milli else ("Amp-hr", "Watt-hr")
    names = ["Rec#", "Cyc#", "Step", "TestTime", "StepTime", cap, ener, "Amps", "Volts",
             "State", "ES", "DPt Time", "ACImp/Ohms", "DCIR/Ohms"]
    lines = [HEADER, "\t".join(names) + "\n"]
    for k, r in enumerate(df.itertuples(index=False)):
        clock = (START + dt.timedelta(seconds=float(r.t))).strftime("%m/%d/%Y %H:%M:%S")
        lines.append(
            f"{k + 1}\t{r.cyc}\t{r.step}\t{_hms(r.t)}\t{_hms(r.st)}\t{q[k] * scale:.5f}\t"
            f"{e[k] * scale:.5f}\t{r.i:.5f}\t{r.v:.5f}\t{r.state}\t5\t{clock}\t0.00000\t0.00000\n"
        )
    path.write_text("".join(lines), encoding="latin-1")
    return path


CASES = [("run-on", False), ("run-on", True), ("step", False), ("cumulative", False)]
IDS = ["run-on", "run-on-mAh", "per-step", "cumulative"]


def _check_cycles(cycles: pd.DataFrame) -> None:
    _, exact = profile()
    assert len(cycles) == CYCLES
    np.testing.assert_allclose(cycles["charge_capacity_ah"], exact["charge"], rtol=1e-3)
    np.testing.assert_allclose(cycles["discharge_capacity_ah"], exact["discharge"], rtol=1e-3)
    np.testing.assert_allclose(cycles["coulombic_efficiency"], CE, atol=0.003)
    # the tester's counters agree with the integral of current within 1-2 %
    for col in ("charge_integral_deviation", "discharge_integral_deviation"):
        assert (cycles[col].abs() < 0.01).all(), cycles[col].tolist()
    assert cycles["capacity_check_ok"].astype(bool).all()
    ee = cycles["energy_efficiency"].to_numpy()
    assert ((ee > 0.7) & (ee < 1.0)).all(), ee


@pytest.mark.parametrize(("counters", "milli"), CASES, ids=IDS)
def test_whole_file_counters(tmp_path: Path, counters: str, milli: bool) -> None:
    path = write_export(tmp_path / "m.txt", counters, milli)
    test = casip.data.read(path)
    data = test.data
    for c in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh"):
        assert (np.diff(data[c].to_numpy()) >= -1e-9).all(), c
    _, exact = profile()
    np.testing.assert_allclose(data["charging_capacity_ah"].iloc[-1], exact["charge"].sum(),
                               rtol=1e-3)
    _check_cycles(summary.cycles(test))


@pytest.mark.parametrize(("counters", "milli"), CASES, ids=IDS)
def test_streamed_counters(tmp_path: Path, counters: str, milli: bool) -> None:
    """Small batches put batch boundaries inside the CC -> CV run-on; same values as whole."""
    path = write_export(tmp_path / "m.txt", counters, milli)
    out = tmp_path / "stream"
    out.mkdir()
    ingest_mod.ingest_stream(path, out, batch_rows=37)
    _check_cycles(pq.read_table(out / "cycles.parquet").to_pandas())
    whole = casip.data.read(path).data
    streamed = pq.read_table(out / "timeseries.parquet").to_pandas()
    for c in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
              "discharging_energy_wh"):
        np.testing.assert_allclose(streamed[c], whole[c], rtol=1e-12, err_msg=c)


@pytest.mark.parametrize(("counters", "milli"), CASES[:2], ids=IDS[:2])
def test_store_ingest_run_on_is_not_flagged(tmp_path: Path, counters: str, milli: bool) -> None:
    path = write_export(tmp_path / "m.txt", counters, milli)
    store = Store(tmp_path / "store")
    (res,) = store.ingest([path], batch_rows=50)
    assert res.status == "ingested", res.error
    assert not res.flags, res.flags
    doc = json.loads((store._test_dir(res.test_id) / "test.json").read_text(encoding="utf-8"))
    assert not doc.get("flags")
    _check_cycles(pq.read_table(store._test_dir(res.test_id) / "cycles.parquet").to_pandas())


def test_counter_resets_rule() -> None:
    """The one reset rule: a fall at a step boundary; with the current, a fall to about zero."""
    prev = np.array([3.0, 3.0, 3.0, 3.0, 0.002])
    new = np.array([0.001, 3.001, 2.999, 0.001, 0.001])
    boundary = np.array([True, True, True, False, True])
    np.testing.assert_array_equal(
        schema.counter_resets(new, prev, boundary), [True, False, True, False, True]
    )
    # the current says 0.001 Ah passed: a dip of 0.001 (rounding, a net counter) continues
    e = np.full(5, 0.001)
    np.testing.assert_array_equal(
        schema.counter_resets(new, prev, boundary, e), [True, False, False, False, True]
    )
