"""Q(V) discharge curves and early-life predictions from tests in the data hub.

The early predictor (:mod:`casip.life.early`) works on discharge capacity against voltage,
:math:`Q_n(V)`, per cycle. A hub time series (BDF columns: ``test_time_second``,
``voltage_volt``, ``current_ampere``, ``cycle_count``, cumulative
``discharging_capacity_ah``) holds it implicitly; :func:`discharge_qv` extracts it:

1. The discharge branch of cycle *n* is every row of that cycle with ``current_ampere < 0``
   (rests and charge steps in between are skipped).
2. Capacity within the branch: :math:`Q = C_d - C_d^0`, with :math:`C_d` the cumulative
   ``discharging_capacity_ah`` and :math:`C_d^0` its value on the row just before the branch
   starts (so the first sample's share is counted, as in the hub's cycle summary), or on the
   branch's first row when the branch opens the file.
3. Voltage cleaning: :math:`\\tilde V_k = \\min_{i \\le k} V_i` (running minimum, which removes
   the small rises from noise or a current change), then of each run of equal
   :math:`\\tilde V` only the last row is kept (the largest Q at that voltage). What remains is
   strictly decreasing in V, non-decreasing in Q, and ends with the branch's full capacity.
4. With a ``voltage_grid``, Q is interpolated linearly onto it; each cycle must cover it.

:func:`predict_test` puts cycles 2..N on the 3.6-2.0 V grid of Severson et al. and runs a
fitted early-life model on the features, N being the model's own ``last_cycle`` (100 for the
paper's models).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life.early import SEVERSON_VOLTAGE, _check_cycle_window, qv_features

_REQUIRED = ("voltage_volt", "current_ampere", "cycle_count", "discharging_capacity_ah")


def _frame(data) -> pd.DataFrame:
    df = getattr(data, "data", data)  # a CyclerTest or its DataFrame
    if not isinstance(df, pd.DataFrame):
        raise CasipInputError(
            Problem("data", "not a hub time series", type(data).__name__, "a pandas DataFrame")
        )
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise CasipInputError(
            Problem("data", f"missing columns {missing}", expected=", ".join(_REQUIRED))
        )
    return df


def clean_branch(v: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strictly decreasing voltage: running minimum, then the last row of each equal run."""
    v_min = np.minimum.accumulate(v)
    last = np.r_[v_min[1:] != v_min[:-1], True]
    return v_min[last], q[last]


def discharge_qv(
    data,
    cycles: Iterable[int] | None = None,
    voltage_grid: Sequence[float] | None = None,
    source: str | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each cycle's discharge curve, voltage [V] and capacity discharged so far [Ah].

    Parameters
    ----------
    data : pandas.DataFrame or CyclerTest
        A hub time series (BDF columns).
    cycles : iterable of int, optional
        Cycle numbers (``cycle_count``) to extract; default every cycle with a discharge.
    voltage_grid : sequence of float, optional
        Voltages [V] to interpolate Q onto. Without it, the cleaned branch itself is returned
        (the form :func:`casip.life.early.qv_on_grid` takes).
    source : str, optional
        Named in error messages.

    Returns
    -------
    dict cycle -> (V, Q)
        V strictly decreasing (or the grid as given), Q [Ah] from the start of the branch.

    Raises
    ------
    CasipInputError
        Missing columns; a requested cycle with no discharge rows; NaN in the branch; a branch
        that is not monotonic after cleaning (fewer than two distinct voltages); a grid outside
        a cycle's voltage range.
    """
    df = _frame(data)
    cyc = df["cycle_count"].to_numpy()
    cur = df["current_ampere"].to_numpy(dtype=float)
    volt = df["voltage_volt"].to_numpy(dtype=float)
    cap = df["discharging_capacity_ah"].to_numpy(dtype=float)
    neg = cur < 0
    wanted = sorted({int(c) for c in cyc[neg]}) if cycles is None else [int(c) for c in cycles]
    grid = None if voltage_grid is None else np.asarray(voltage_grid, dtype=float)
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for c in wanted:
        rows = np.flatnonzero((cyc == c) & neg)
        field = f"cycle {c}"
        if rows.size == 0:
            raise CasipInputError(
                Problem(field, "no discharge rows (current < 0)", expected="a discharge"),
                source=source,
            )
        v, q_cum = volt[rows], cap[rows]
        if np.isnan(v).any() or np.isnan(q_cum).any():
            raise CasipInputError(
                Problem(field, "NaN voltage or discharge capacity in the discharge branch"),
                source=source,
            )
        base = cap[rows[0] - 1] if rows[0] > 0 and np.isfinite(cap[rows[0] - 1]) else q_cum[0]
        vc, qc = clean_branch(v, q_cum - base)
        if len(vc) < 2:
            raise CasipInputError(
                Problem(
                    field,
                    "discharge voltage is not monotonic after cleaning (fewer than 2 distinct "
                    "decreasing voltages)",
                    value=f"{len(rows)} rows, V {v.min():.4g}..{v.max():.4g}",
                    expected="a discharge with falling voltage",
                ),
                source=source,
            )
        if grid is None:
            out[c] = (vc, qc)
            continue
        if grid.min() < vc[-1] - 1e-9 or grid.max() > vc[0] + 1e-9:
            raise CasipInputError(
                Problem(
                    field,
                    "discharge voltage range does not cover the voltage grid",
                    value=f"{vc[-1]:.4g}..{vc[0]:.4g} V",
                    expected=f"{grid.min():.4g}..{grid.max():.4g} V",
                ),
                source=source,
            )
        out[c] = (grid.copy(), np.interp(grid, vc[::-1], qc[::-1]))
    return out


def hub_features(data, source: str | None = None, last_cycle: int = 100) -> dict[str, float]:
    """The Severson et al. features (:func:`casip.life.early.qv_features`) of a hub test.

    Cycles 2..N (those present; 2, 10 and N are required) on the 3.6-2.0 V grid, N =
    ``last_cycle``; cycles after N are not read.

    Parameters
    ----------
    data : pandas.DataFrame or CyclerTest
        The test's time series.
    source : str, optional
        Named in error messages.
    last_cycle : int
        N, 11..100 (:func:`casip.life.early.qv_features`); a model must be fed the features of
        the N it was trained at (``model.last_cycle``).

    Raises
    ------
    CasipInputError
        N outside 11..100; fewer than N cycles (the message names the missing cycles and N);
        a cycle not covering 3.6-2.0 V; a non-monotonic discharge.
    """
    n, ref = _check_cycle_window(last_cycle, 10, source)
    df = _frame(data)
    cyc = df["cycle_count"].to_numpy()
    neg = df["current_ampere"].to_numpy(dtype=float) < 0
    with_discharge = sorted({int(c) for c in cyc[neg]})
    early = [c for c in with_discharge if 2 <= c <= n]
    missing = [c for c in (2, ref, n) if c not in early]
    if missing:
        n_all = len(np.unique(cyc))
        raise CasipInputError(
            Problem(
                "cycles",
                "too few cycles for an early-life prediction: it needs the discharges of "
                f"cycles 2 to {n} (N = {n})",
                value=f"{n_all} cycles ({len(with_discharge)} with a discharge), missing {missing}",
                expected=f">= {n} cycles with discharges (at least cycles 2, {ref} and {n})",
            ),
            source=source,
        )
    curves = discharge_qv(df, early, SEVERSON_VOLTAGE, source=source)
    q = np.column_stack([curves[c][1] for c in early])
    return qv_features(
        q, SEVERSON_VOLTAGE, np.array(early), source=source, last_cycle=n, ref_cycle=ref
    )


def predict_test(data, model, coverage: float = 0.9, source: str | None = None) -> dict:
    """Cycle life of a hub test from its first N cycles, with a fitted early-life model.

    N is the model's own (``model.last_cycle``, from its provenance; 100 for models saved
    before N could be chosen): the features are always computed from cycles 2..N of the
    model's training, so a model is never fed features of another N. There is deliberately no
    N argument.

    Parameters
    ----------
    data : pandas.DataFrame or CyclerTest
        The test's time series (at least N cycles with discharges covering 3.6-2.0 V).
    model : VarianceModel, DischargeModel or FullModel
        A fitted model (e.g. :func:`casip.life.early.train_on_severson`).
    coverage : float
        Coverage of the prediction interval.

    Returns
    -------
    dict
        ``cycle_life`` (predicted), ``low``, ``high`` (interval), ``coverage``, ``model``,
        ``cycles`` (N: the features are from cycles 2..N), ``features`` (all eight).

    Raises
    ------
    CasipInputError
        Too few cycles for the model's N (the message names N and the cycles missing), a
        voltage range not covering the grid, a non-monotonic discharge, an unfitted model.
    """
    n = model.last_cycle
    feats = hub_features(data, source=source, last_cycle=n)
    pred, lo, hi = model.predict_interval([feats], coverage=coverage)
    return {
        "cycle_life": float(pred[0]),
        "low": float(lo[0]),
        "high": float(hi[0]),
        "coverage": coverage,
        "model": type(model).__name__,
        "cycles": n,
        "features": feats,
    }


def predict_stored(
    store, test_id: str, model, coverage: float = 0.9, include_flagged: bool = False
) -> dict:
    """Cycle life of a test in a data-hub store (:func:`predict_test` on its time series).

    A test stored flagged at ingestion (unusual but real, e.g. a failed capacity check; see
    :meth:`casip.data.store.Store.usable`) is refused unless ``include_flagged``.

    Parameters
    ----------
    store : casip.data.store.Store
        The store holding the test.
    test_id : str
        Its id or a unique prefix.
    model : VarianceModel, DischargeModel or FullModel
        A fitted early-life model.
    coverage : float
        Coverage of the prediction interval.
    include_flagged : bool
        Predict a flagged test too (its reasons are returned in ``flags``).

    Returns
    -------
    dict
        :func:`predict_test`'s answer (``cycles``: the model's N) plus ``test_id`` (the full
        id) and ``flags`` (the reasons the test was flagged; empty when it was not).

    Raises
    ------
    CasipInputError
        The test is flagged and ``include_flagged`` is false; or :func:`predict_test`'s errors.
    """
    kept, left_out = store.usable([test_id], include_flagged=include_flagged)
    if left_out:
        tid, reasons = next(iter(left_out.items()))
        raise CasipInputError(
            Problem(
                "test",
                "flagged at ingestion, so left out of life prediction: " + "; ".join(reasons),
                tid,
                "an unflagged test, or include_flagged=True (--include-flagged) to predict it "
                "anyway",
            ),
            source=str(store.root),
        )
    tid = kept[0]
    series = store.table(tid, "timeseries")
    out = predict_test(series, model, coverage=coverage, source=f"test {tid}")
    return {**out, "test_id": tid, "flags": store.flags_of(tid)}
