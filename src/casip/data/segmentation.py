"""Cycle numbers: the tester's counter where it works, cycles derived from the steps where not.

One rule for every reader, applied by :func:`casip.data.ingest.normalise` (and by the
streaming ingestion from each step's throughput, with the same result):

1. **Scaled counters.** A cycle column that is not integer but an integer multiple of one
   constant quantum above 1 (e.g. 2π: 6.283..., 12.566...) is divided by that quantum, with a
   warning naming the quantum. Other non-integer cycle numbers are rounded, with a warning.
2. **Degenerate counters.** The tester's counter is kept unless it is absent, constant over a
   test that holds at least two charge/discharge pairs, or changes at every step (it counts
   steps, not cycles). Then cycles are derived from the step sequence: a step *counts* as
   charge (discharge) when the charge it puts in (takes out), integrated from current, is at
   least :data:`MIN_STEP_FRACTION` of the largest such throughput of any step in the test, so
   that HPPC or GITT pulses do not become cycles. A cycle is a charge phase followed by a
   discharge phase: a new cycle starts at each counting charge step that follows a counting
   discharge step. Steps before the first such boundary are cycle 1 (a test that begins with
   a discharge has it as a partial cycle 1). The warning and the test's metadata
   (``extra["cycle_numbering"]``) say that the rule was applied and why.
"""

from __future__ import annotations

import numpy as np

#: A step counts as a charge or discharge phase of a cycle when its throughput is at least this
#: fraction of the largest step throughput of the test (pulses stay below it).
MIN_STEP_FRACTION = 0.05

#: Tolerance (relative to the quantum) for "an integer multiple of the quantum".
_QUANTUM_TOL = 1e-6


def integer_cycles(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Cycle numbers as integers (float array) and a warning if the file's were not integer.

    A column whose values are all integer multiples of one quantum above 1 (2π, or another
    constant) is divided by it; other non-integer values are rounded.
    """
    x = np.asarray(x, dtype=float)
    fin = x[np.isfinite(x)]
    if len(fin) == 0 or np.all(np.abs(fin - np.round(fin)) <= 1e-9):
        return x, None
    uniq = np.unique(fin)
    steps = np.diff(uniq)
    candidates = [float(np.min(steps))] if len(steps) else []
    nonzero = uniq[uniq != 0]
    if len(nonzero):
        candidates.append(float(np.min(np.abs(nonzero))))
    for q in candidates:
        if abs(q - 2 * np.pi) <= _QUANTUM_TOL * 2 * np.pi:
            q = 2 * np.pi
        if q <= 1 + 1e-9:
            continue
        k = uniq / q
        if np.all(np.abs(k - np.round(k)) <= _QUANTUM_TOL * max(1.0, float(np.max(np.abs(k))))):
            name = "2π" if q == 2 * np.pi else f"{q:.9g}"
            example = ", ".join(f"{u:.6g}" for u in uniq[:3])
            return np.round(x / q), (
                f"cycle numbers are integer multiples of {name} ({example}, ...), not integers: "
                f"divided by {name} (cycle {uniq[0]:.6g} -> {round(uniq[0] / q)})"
            )
    bad = fin[np.abs(fin - np.round(fin)) > 1e-9]
    return np.round(x), (
        f"{len(bad)} cycle numbers are not integer (e.g. {bad[0]:.6g}) and have no constant "
        "quantum: rounded to the nearest integer"
    )


def step_ends(steps: np.ndarray) -> np.ndarray:
    """Last row of each run of equal ``steps``."""
    steps = np.asarray(steps)
    return np.flatnonzero(np.r_[steps[1:] != steps[:-1], True])


def cycles_from_steps(
    qc: np.ndarray, qd: np.ndarray, fraction: float = MIN_STEP_FRACTION
) -> tuple[np.ndarray, int, float]:
    """Cycle number per step from the charge (``qc``) and discharge (``qd``) of each step.

    Returns (cycle per step, from 1; the number of complete charge/discharge pairs; the
    minimum throughput a step needed to count).
    """
    qc = np.nan_to_num(np.asarray(qc, dtype=float))
    qd = np.nan_to_num(np.asarray(qd, dtype=float))
    if len(qc) == 0:
        return np.ones(0), 0, 0.0
    top = float(max(qc.max(), qd.max()))
    limit = fraction * top
    if top <= 0:
        return np.ones(len(qc)), 0, limit
    charge = (qc >= limit) & (qc >= qd)
    discharge = (qd >= limit) & (qd > qc)
    cycle = np.ones(len(qc))
    n = 1
    seen_discharge = False
    seen_charge = False
    pairs = 0
    for k in range(len(qc)):
        if charge[k]:
            if seen_discharge:
                n += 1
                seen_discharge = False
            seen_charge = True
        elif discharge[k]:
            if seen_charge and not seen_discharge:
                pairs += 1
            seen_discharge = True
        cycle[k] = n
    return cycle, pairs, limit


def degenerate_reason(
    cycle: np.ndarray | None, steps: np.ndarray, pairs: int
) -> str | None:
    """Why the tester's cycle counter is not used (None: it is kept).

    ``cycle`` is the counter per row (None if the file has none), ``steps`` the step count per
    row, ``pairs`` the number of charge/discharge pairs the steps hold.
    """
    if cycle is None:
        return "the file has no cycle counter" if pairs >= 2 else None
    runs = len(step_ends(cycle))
    if runs == 1:
        if pairs >= 2:
            return (f"the file's cycle counter is constant ({cycle[0]:g}) over {pairs} "
                    "charge/discharge pairs")
        return None
    n_steps = len(step_ends(steps))
    if n_steps >= 4 and runs >= n_steps and pairs >= 1:
        return f"the file's cycle counter changes at every step ({runs} values for {n_steps} steps)"
    return None


def describe(reason: str, cycles: int, limit: float, fraction: float = MIN_STEP_FRACTION) -> str:
    """The warning (and metadata note) for cycles derived from the steps."""
    return (
        f"{reason}: cycles derived from the steps ({cycles} cycles; a cycle = a charge phase "
        f"followed by a discharge phase, each step counted only if its throughput is at least "
        f"{fraction:.0%} of the largest step's, {limit:.4g} Ah)"
    )
