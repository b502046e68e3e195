"""The "real but unusual" half of the plausibility gate: flags stored with a test.

Ingestion refuses the impossible (:mod:`casip.data.ingest`: voltages no cell configuration can
have, counters a unit error away from the integral of current). What is possible but unusual
is stored and **flagged**, with the reason, so that a user sees it (CLI, API, web page) and
benchmarks, life prediction and calibration leave the test out unless it is included
explicitly (:meth:`casip.data.store.Store.usable`). The checks are those a battery engineer
makes on a new file, judged on the cycle and step summaries, so that they cost nothing on the
streaming path:

``capacity_check``
    The tester's capacity counters and the integral of current disagree by more than
    :data:`casip.data.summary.CHECK_TOLERANCE` in some cycles.
``coulombic_efficiency``
    Full cycles (charge and discharge both at least 80% of the median discharge) after
    formation (from the 4th) and before the last (which may be cut short) whose coulombic
    efficiency is below 0.90 or above 1.02, in at least two cycles and a fifth of those
    judged (one odd check-up or pulse cycle is not an unusual test). Below: real in
    formation (first-cycle efficiencies of 0.7-0.9 are common) and for anode-free and
    lithium-metal cells, which lose lithium every cycle (with carbonate electrolytes often a
    few to tens of percent per cycle); otherwise a sign of a counter or current problem. The
    0.90 bound is CASIP's assumption, not a published criterion. Above:
    more charge out than in over many cycles is a counter or sign problem (a recovering cell
    gives back a little, not 2%).
``time``
    Test time that goes backwards, or whose mean interval between records exceeds an hour
    (cyclers record every 0.1-60 s: such a file's time is usually milliseconds labelled as
    seconds, or a time stamp column mistaken for elapsed time).
``configuration``
    A test declared a full cell whose voltage never exceeds 2.0 V (a half cell against lithium
    or a lithium-titanate cell: declare it), or declared a half cell whose voltage exceeds 5 V.
``rate``
    With a declared nominal capacity: a current above 20C, or a discharge capacity above 3x
    the nominal one (the capacity or the current unit is wrong, or the cell is not the one
    declared).

Thresholds are CASIP's assumptions, chosen to catch unit and counter errors without flagging
ordinary tests; each flag says what it saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from casip.data import summary

#: Coulombic efficiency of a full cycle after formation outside this range is flagged.
CE_RANGE = (0.90, 1.02)
#: Cycles counted as formation (not judged for coulombic efficiency).
FORMATION_CYCLES = 3
#: A full cycle: charge and discharge both at least this share of the median discharge.
FULL_CYCLE_SHARE = 0.8
#: Flag only when at least this many, and this share, of the judged cycles are outside.
MIN_BAD_CYCLES = 2
MIN_BAD_SHARE = 0.2
#: Mean interval between records above this [s]: a time unit problem.
MAX_MEAN_INTERVAL_S = 3600.0
#: A declared full cell that never exceeds this [V] looks like a half cell.
FULL_CELL_MIN_TOP_V = 2.0
#: Highest plausible C-rate, and capacity / nominal, against a declared nominal capacity.
MAX_C_RATE = 20.0
MAX_CAPACITY_RATIO = 3.0


def flags(
    cycles: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    metadata: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> list[dict[str, str]]:
    """Why a test is unusual but real: a list of ``{"kind", "reason"}``, empty when it is not.

    Parameters
    ----------
    cycles, steps : pandas.DataFrame
        The test's cycle and step summaries (:mod:`casip.data.summary`).
    metadata : mapping, optional
        The test's metadata (``cell_configuration``, ``nominal_capacity_ah``, ``chemistry``).
    warnings : sequence of str
        The reading's warnings (a time that goes backwards is reported there).
    """
    md = dict(metadata or {})
    out = []
    for check in (_capacity_check, _coulombic, _time, _configuration, _rate):
        found = check(cycles, steps, md, warnings)
        if found:
            out.append(found)
    return out


def _capacity_check(cycles, steps, md, warnings) -> dict[str, str] | None:
    if cycles.empty or "capacity_check_ok" not in cycles.columns:
        return None
    ok = cycles["capacity_check_ok"].astype("boolean")
    failed = ok.eq(False).fillna(False).to_numpy(dtype=bool)
    if not failed.any():
        return None
    cols = [c for c in ("charge_integral_deviation", "discharge_integral_deviation")
            if c in cycles.columns]
    worst = float(cycles.loc[failed, cols].abs().max(axis=1).max())
    return {"kind": "capacity_check", "reason": (
        f"capacity check failed in {int(failed.sum())} of {int(ok.notna().sum())} checked "
        f"cycles ({_list(cycles.loc[failed, 'cycle_count'])}): the tester's capacity counters "
        f"and the integral of current differ by up to {worst:.1%} (tolerance "
        f"{summary.CHECK_TOLERANCE:.0%})")}


def _coulombic(cycles, steps, md, warnings) -> dict[str, str] | None:
    need = {"charge_capacity_ah", "discharge_capacity_ah", "cycle_count"}
    if cycles.empty or not need <= set(cycles.columns):
        return None
    qc = cycles["charge_capacity_ah"].to_numpy(dtype=float)
    qd = cycles["discharge_capacity_ah"].to_numpy(dtype=float)
    ref = np.nanmedian(qd[qd > 0]) if (qd > 0).any() else np.nan
    if not np.isfinite(ref) or ref <= 0:
        return None
    full = (qc >= FULL_CYCLE_SHARE * ref) & (qd >= FULL_CYCLE_SHARE * ref)
    k = np.arange(len(cycles))
    judged = full & (k >= FORMATION_CYCLES) & (k < len(cycles) - 1)  # the last may be cut
    if not judged.any():
        return None
    ce = np.where(qc > 0, qd / np.where(qc > 0, qc, 1.0), np.nan)
    lo, hi = CE_RANGE
    bad = judged & ((ce < lo) | (ce > hi))
    if bad.sum() < max(MIN_BAD_CYCLES, MIN_BAD_SHARE * judged.sum()):
        return None  # an odd cycle (a check-up, a pulse test) is not an unusual test
    chem = (md.get("chemistry") or "").lower()
    why = ("expected of a lithium-metal or anode-free cell" if any(
        w in chem for w in ("li metal", "/li", "lithium metal", "anode-free", "anode free"))
        else "normal only for lithium-metal and anode-free cells; otherwise check the "
             "capacity counters and the current's sign")
    return {"kind": "coulombic_efficiency", "reason": (
        f"coulombic efficiency outside {lo:.2f}-{hi:.2f} in {int(bad.sum())} of "
        f"{int(judged.sum())} full cycles after formation ({_list(cycles.loc[bad, 'cycle_count'])}"
        f"; from {np.nanmin(ce[bad]):.3f} to {np.nanmax(ce[bad]):.3f}): {why}")}


def _time(cycles, steps, md, warnings) -> dict[str, str] | None:
    back = [w for w in warnings if "goes backwards" in w]
    if back:
        return {"kind": "time", "reason": back[0]}
    if steps is None or steps.empty or not {"start_time_second", "end_time_second",
                                            "rows"} <= set(steps.columns):
        return None
    span = float(steps["end_time_second"].max() - steps["start_time_second"].min())
    rows = int(steps["rows"].sum())
    if rows < 10 or span <= 0:
        return None
    mean = span / (rows - 1)
    if mean > MAX_MEAN_INTERVAL_S:
        return {"kind": "time", "reason": (
            f"one record every {mean / 3600:.3g} h on average over {span / 86400:.4g} days: "
            "cyclers record every 0.1-60 s; the time column is probably in another unit "
            "(milliseconds labelled as seconds?)")}
    return None


def _configuration(cycles, steps, md, warnings) -> dict[str, str] | None:
    conf = md.get("cell_configuration")
    if conf is None or cycles.empty or "max_voltage_volt" not in cycles.columns:
        return None
    n = int(md.get("cells_in_series") or 1)
    top = float(cycles["max_voltage_volt"].max()) / n
    if conf == "full" and top < FULL_CELL_MIN_TOP_V:
        return {"kind": "configuration", "reason": (
            f"declared a full cell, but the voltage never exceeds {top:.3f} V per cell: a half "
            "cell against lithium or a lithium-titanate cell? (declare cell_configuration)")}
    if conf == "half" and top > 5.0:
        return {"kind": "configuration", "reason": (
            f"declared a half cell, but the voltage reaches {top:.3f} V")}
    return None


def _rate(cycles, steps, md, warnings) -> dict[str, str] | None:
    nominal = md.get("nominal_capacity_ah")
    if not nominal:
        return None
    reasons = []
    if steps is not None and not steps.empty and "mean_current_ampere" in steps.columns:
        peak = float(np.nanmax(np.abs(steps["mean_current_ampere"].to_numpy(dtype=float))))
        if peak / nominal > MAX_C_RATE:
            reasons.append(f"a step at {peak:.4g} A is {peak / nominal:.0f}C for the declared "
                           f"{nominal:g} Ah")
    if "discharge_capacity_ah" in cycles.columns and not cycles.empty:
        qd = float(cycles["discharge_capacity_ah"].max())
        if qd > MAX_CAPACITY_RATIO * nominal:
            reasons.append(f"a cycle discharges {qd:.4g} Ah, {qd / nominal:.1f}x the declared "
                           f"{nominal:g} Ah")
    if not reasons:
        return None
    return {"kind": "rate", "reason": "; ".join(reasons)
            + ": check the nominal capacity or the current's unit"}


def _list(values: pd.Series, shown: int = 10) -> str:
    vals = [str(int(c)) for c in values.head(shown)]
    return ", ".join(vals) + ("..." if len(values) > shown else "")
