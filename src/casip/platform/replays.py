"""Replay an attached test against its design as a platform job (issue 14).

A user asks, on the design page or with ``POST /api/designs/{design_id}/tests/{test_id}/replays``,
to simulate a test attached to a design: a ``replay`` job (:mod:`casip.platform.jobs`) drives
the design's PyBaMM model with the test's measured current (:func:`casip.physics.replay.replay`)
over a bounded part of the test and stores a :class:`~casip.platform.models.Replay` with the
simulated curve and the error metrics. The rules:

* **What is replayed** (always bounded): ``window_s = [t0, t1]`` (test time [s], at most
  :data:`MAX_WINDOW_H` hours), or ``cycles = [first, last]`` (at most :data:`MAX_CYCLES`
  consecutive cycles), or by default the first full cycle (not a stub, not incomplete, by the
  hub's cycle classification) that starts in a rest or right after one. A cycle that starts
  with a charge or a discharge is replayed from the rest before it (at most
  :data:`REST_LEAD_S` of it): the initial state is the rest voltage's. At most
  :data:`MAX_ROWS` rows.
* **Current scaling**, explicit and shown: ``scale="auto"`` (default) replays the same C-rate
  (``"c_rate"``) when the tested cell's capacity is known (``tested_capacity_ah`` given, or the
  test's metadata nominal capacity), else the measured amperes (``"amps"``); the result says
  which and why (``scale_choice``).
* **Temperature**: the test's recorded one where it has it (a different ``temperature_c`` is
  refused by the replay); else ``temperature_c``. A test that records none (no ambient or
  surface temperature column, no metadata temperature) without ``temperature_c`` is refused
  before any job is queued (422 naming ``temperature_c``, :func:`submit_params`), as
  :func:`casip.physics.replay.replay` refuses it: no temperature is assumed.
* **Thermal**: ``thermal="isothermal"`` (default) or ``"lumped"`` (PyBaMM's lumped thermal
  model, :func:`casip.physics.replay.replay`'s option: the result adds the simulated cell
  temperature to its series). A design whose base set has no thermal parameters
  (:func:`casip.physics.temperature.has_thermal_parameters`) cannot be replayed ``"lumped"``:
  stored as impossible, with the reason.
* **Initial state**: ``initial_soc="from_rest_voltage"`` (default: the last voltage of the
  rest the window starts in) or ``"from_history"`` (the last rest *before* the window, at most
  :data:`MAX_WINDOW_H` hours before it, plus the charge the test passed since: the window may
  then start in a charge or a discharge, and a cycle need not follow a rest), passed to
  :func:`casip.physics.replay.replay`; the stored result says which and the state it gave.
* **Control**: ``control="current"`` (default) drives the model with the measured current,
  ``"power"`` with the measured power (``I x V`` row by row, scaled like the current), in
  PyBaMM's power operating mode; the stored series then holds the current the model drew.
* **Impossible replays** (the design cannot be mapped to PyBaMM, no rest to take the initial
  state from, no voltage, a window outside the test...) are stored too, with
  ``status="impossible"`` and the reason, so the design page can say why.
* **Who may read it**: the organisation that ran the job, and only while it may read both the
  design and the test (:func:`read_clause`); a replay may be shared, but never wider than the
  narrower of the design and the test (:func:`max_visibility`). Deleting the design or the
  test deletes its replays.

The job re-checks, when it starts, that the design and the test still exist, are readable and
are still attached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import access, runs
from casip.platform.access import Actor, NotFound
from casip.platform.jobs import JobContext, register
from casip.platform.models import Design, DesignTest, Replay, TestDataset
from casip.platform.problems import ApiProblem

#: most consecutive cycles one replay covers
MAX_CYCLES = 3
#: longest window [h] of test time
MAX_WINDOW_H = 48.0
#: most rows of the test in one replay
MAX_ROWS = 20_000
#: most rest before a cycle replayed as its lead-in [s]
REST_LEAD_S = 3600.0
SCALES = ("auto", "c_rate", "amps")
MODELS = ("DFN", "SPMe")
THERMALS = ("isothermal", "lumped")
INITIAL_STATES = ("from_rest_voltage", "from_history")
CONTROLS = ("current", "power")
#: points of the stored voltage-time series
MAX_SERIES_POINTS = 400
#: points per stored voltage-capacity curve (cycle and branch)
MAX_CURVE_POINTS = 300


# --------------------------------------------------------------------------- parameters


def _number(value: Any, field: str, lo: float, hi: float, expected: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not (math.isfinite(x) and lo <= x <= hi):
        raise CasipInputError(Problem(field, "out of range or not a number", value, expected))
    return x


def check_params(
    design_id: int,
    test_id: int,
    *,
    window_s: Sequence[Any] | None = None,
    cycles: Sequence[Any] | None = None,
    scale: str = "auto",
    tested_capacity_ah: Any = None,
    temperature_c: Any = None,
    model: str = "DFN",
    thermal: str = "isothermal",
    initial_soc: str = "from_rest_voltage",
    control: str = "current",
    calibration_id: Any = None,
) -> dict:
    """Checked job parameters of a replay (:class:`CasipInputError` naming the bad field)."""
    if window_s is not None and cycles is not None:
        raise CasipInputError(
            Problem("cycles", "give a window or cycles, not both", cycles, "window_s or cycles")
        )
    out: dict[str, Any] = {"design_id": design_id, "test_id": test_id}
    if window_s is not None:
        if not isinstance(window_s, list | tuple) or len(window_s) != 2:
            raise CasipInputError(
                Problem("window_s", "not a pair of times", window_s, "[t0, t1] in seconds")
            )
        t0 = _number(window_s[0], "window_s.0", 0.0, 1e10, "a test time in seconds >= 0")
        t1 = _number(window_s[1], "window_s.1", 0.0, 1e10, "a test time in seconds >= 0")
        if not t1 > t0 or t1 - t0 > MAX_WINDOW_H * 3600:
            raise CasipInputError(
                Problem("window_s", f"t1 must follow t0 by at most {MAX_WINDOW_H:g} h",
                        [t0, t1], f"[t0, t1] with 0 < t1 - t0 <= {MAX_WINDOW_H * 3600:g} s")
            )
        out["window_s"] = [t0, t1]
    if cycles is not None:
        if not isinstance(cycles, list | tuple) or len(cycles) not in (1, 2):
            raise CasipInputError(
                Problem("cycles", "not a cycle or a range", cycles, "[first] or [first, last]")
            )
        nums = []
        for i, c in enumerate(cycles):
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 10**7:
                raise CasipInputError(
                    Problem(f"cycles.{i}", "not a cycle number", c, "an integer >= 0")
                )
            nums.append(c)
        first, last = nums[0], nums[-1]
        if last < first or last - first + 1 > MAX_CYCLES:
            raise CasipInputError(
                Problem("cycles", f"at most {MAX_CYCLES} consecutive cycles", cycles,
                        f"[first, last] with 0 <= last - first < {MAX_CYCLES}")
            )
        out["cycles"] = [first, last]
    if scale not in SCALES:
        raise CasipInputError(
            Problem("scale", "unknown current scaling", scale, "auto, c_rate or amps")
        )
    out["scale"] = scale
    if tested_capacity_ah is not None:
        out["tested_capacity_ah"] = _number(
            tested_capacity_ah, "tested_capacity_ah", 1e-6, 1e5, "the tested cell's capacity "
            "in A.h (> 0)"
        )
    if temperature_c is not None:
        out["temperature_c"] = _number(
            temperature_c, "temperature_c", -60.0, 150.0, "degrees Celsius in [-60, 150]"
        )
    if model not in MODELS:
        raise CasipInputError(Problem("model", "unknown model", model, "DFN or SPMe"))
    out["model"] = model
    if thermal not in THERMALS:
        raise CasipInputError(
            Problem("thermal", "unknown thermal option", thermal, "isothermal or lumped")
        )
    out["thermal"] = thermal
    if initial_soc not in INITIAL_STATES:
        raise CasipInputError(
            Problem("initial_soc", "unknown initial-state rule", initial_soc,
                    "from_rest_voltage or from_history")
        )
    out["initial_soc"] = initial_soc
    if control not in CONTROLS:
        raise CasipInputError(
            Problem("control", "unknown control", control, "current or power")
        )
    out["control"] = control
    if calibration_id is not None:  # the calibrated variant (casip.platform.calibrations)
        if isinstance(calibration_id, bool) or not isinstance(calibration_id, int):
            raise CasipInputError(Problem("calibration_id", "not an id", calibration_id,
                                          "the id of a finished calibration of the design"))
        out["calibration_id"] = calibration_id
    return out


# --------------------------------------------------------------------------- window


def _full_cycles(cycles_table: pd.DataFrame) -> list[int]:
    from casip.platform.api.tests import classify_cycles

    if cycles_table is None or cycles_table.empty or "cycle_count" not in cycles_table:
        return []
    return [
        int(c)
        for c, (flag, _) in zip(
            cycles_table["cycle_count"], classify_cycles(cycles_table), strict=True
        )
        if flag is None
    ]


def _lead_in(ts: pd.DataFrame, k: int) -> int | None:
    """The first row to replay so that row ``k`` (a cycle's first row) is reached from a rest:
    ``k`` if it is a rest, else the start of the rest right before it (at most
    :data:`REST_LEAD_S` of it); ``None`` if no rest precedes it."""
    st = ts["step_type"].astype(str).to_numpy()
    t = ts["test_time_second"].to_numpy(dtype=float)
    if st[k] == "rest":
        return k
    if k == 0 or st[k - 1] != "rest":
        return None
    j = k - 1
    while j > 0 and st[j - 1] == "rest" and t[k] - t[j - 1] <= REST_LEAD_S:
        j -= 1
    return j


def choose_window(
    ts: pd.DataFrame, cycles_table: pd.DataFrame | None, params: dict
) -> tuple[pd.DataFrame, str]:
    """The rows of the test to replay and how they were chosen (see the module docstring).

    ``ts`` is the stored time series (``test_time_second``, ``cycle_count``, ``step_type``...),
    ``cycles_table`` the stored cycle table. Raises :class:`CasipInputError` when no window
    can be chosen (the reason, for the stored impossible replay)."""
    ts = ts.sort_values("test_time_second", kind="stable").reset_index(drop=True)
    t = ts["test_time_second"].to_numpy(dtype=float)
    cyc = ts["cycle_count"].to_numpy()
    history = params.get("initial_soc") == "from_history"

    def lead_in(k: int) -> int | None:
        # from the history, a cycle need not start in or after a rest
        start = _lead_in(ts, k)
        return k if start is None and history else start

    if "window_s" in params:
        t0, t1 = params["window_s"]
        rows = ts[(t >= t0) & (t <= t1)]
        how = f"the window {t0:g} .. {t1:g} s of test time (chosen)"
    elif "cycles" in params:
        first, last = params["cycles"]
        idx = np.flatnonzero((cyc >= first) & (cyc <= last))
        if idx.size == 0:
            raise CasipInputError(
                Problem("cycles", "the test has no such cycle", params["cycles"],
                        f"cycles within {int(np.min(cyc))} .. {int(np.max(cyc))}")
            )
        start = lead_in(int(idx[0]))
        if start is None:
            raise CasipInputError(
                Problem("cycles", f"cycle {first} neither starts in a rest nor follows one: "
                        "the initial state cannot be taken from a rest voltage",
                        params["cycles"], "cycles that start in or right after a rest, or a "
                        "window that starts in a rest")
            )
        rows = ts.iloc[start : int(idx[-1]) + 1]
        span = f"cycle {first}" if first == last else f"cycles {first}-{last}"
        how = f"{span} (chosen)" + (
            f", from the rest before it (t = {t[start]:g} s)" if start < idx[0] else ""
        )
    else:
        full = _full_cycles(cycles_table) or sorted({int(c) for c in cyc})
        rows, how = None, ""
        for c in full:
            idx = np.flatnonzero(cyc == c)
            if idx.size == 0:
                continue
            start = lead_in(int(idx[0]))
            if start is None:
                continue
            rows = ts.iloc[start : int(idx[-1]) + 1]
            how = (
                f"cycle {c}: the first full cycle (its state from the test's history)"
                if history else
                f"cycle {c}: the first full cycle that starts in or right after a rest"
            ) + (f" (from the rest before it, t = {t[start]:g} s)" if start < idx[0] else "")
            break
        if rows is None:
            raise CasipInputError(
                Problem("cycles", "no full cycle of the test starts in or right after a rest: "
                        "the initial state cannot be taken from a rest voltage", None,
                        "a test with a rest before a cycle, or a window that starts in a rest")
            )
    if len(rows) < 2:
        raise CasipInputError(
            Problem("window_s", "fewer than two rows of the test in the window",
                    params.get("window_s"), f"times within {t[0]:g} .. {t[-1]:g} s")
        )
    if len(rows) > MAX_ROWS:
        raise CasipInputError(
            Problem("window_s", f"{len(rows)} rows: too long to replay in one job",
                    params.get("window_s") or params.get("cycles"),
                    f"at most {MAX_ROWS} rows: a shorter window or fewer cycles")
        )
    dur = float(rows["test_time_second"].iloc[-1] - rows["test_time_second"].iloc[0])
    if dur > MAX_WINDOW_H * 3600:
        raise CasipInputError(
            Problem("cycles", f"{dur / 3600:.1f} h of test time: too long to replay in one job",
                    params.get("cycles"), f"at most {MAX_WINDOW_H:g} h: give window_s")
        )
    return rows.reset_index(drop=True), how


def history_rows(ts: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, tuple | None]:
    """For ``initial_soc="from_history"``: the test's rows from the last rest before the
    window (at most :data:`MAX_WINDOW_H` hours before its start) to the window's end, and the
    window to replay in them. A window that starts in a rest, or with no rest that near,
    keeps its own rows (the replay then says why it cannot start, or starts from that rest)."""
    t0, t1 = (float(rows["test_time_second"].iloc[0]), float(rows["test_time_second"].iloc[-1]))
    if str(rows["step_type"].iloc[0]) == "rest":
        return rows, None
    ts = ts.sort_values("test_time_second", kind="stable").reset_index(drop=True)
    t = ts["test_time_second"].to_numpy(dtype=float)
    st = ts["step_type"].astype(str).to_numpy()
    k0 = int(np.searchsorted(t, t0, side="left"))
    before = np.flatnonzero((st[:k0] == "rest") & (t[:k0] >= t0 - MAX_WINDOW_H * 3600))
    if before.size == 0:
        return rows, None
    r = int(before[-1])
    k1 = int(np.searchsorted(t, t1, side="right"))
    return ts.iloc[r:k1].reset_index(drop=True), (t0, t1)


# --------------------------------------------------------------------------- curves


def _api_curves(table: pd.DataFrame) -> tuple[list[int], list[dict]]:
    """:func:`casip.data.plots.voltage_capacity_curves` as ``GET /api/tests/{id}/curves``
    gives it: ``(cycles, curves)`` with ``None`` between the runs of a branch."""
    curves, cycles = [], []
    for (cycle, branch), part in table.groupby(["cycle_count", "branch"], sort=False):
        x: list[float | None] = []
        y: list[float | None] = []
        prev = None
        for seg, cap, v in zip(
            part["segment"].to_numpy(),
            part["capacity_ah"].to_numpy(dtype=float),
            part["voltage_volt"].to_numpy(dtype=float),
            strict=True,
        ):
            if prev is not None and seg != prev:
                x.append(None)
                y.append(None)
            prev = seg
            x.append(float(cap) if np.isfinite(cap) else None)
            y.append(float(v) if np.isfinite(v) else None)
        if all(v is None for v in y):  # not simulated (after an early stop): nothing to draw
            continue
        curves.append({"cycle": int(cycle), "branch": branch, "capacity_ah": x, "voltage_volt": y})
        if int(cycle) not in cycles:
            cycles.append(int(cycle))
    return cycles, curves


def curves_of(rows: pd.DataFrame, voltage: np.ndarray) -> tuple[list[int], list[dict]]:
    """Voltage-capacity curves of the window's rows with ``voltage`` as their voltage."""
    from casip.data import plots

    frame = rows.copy()
    frame["voltage_volt"] = voltage
    chosen = sorted({int(c) for c in frame["cycle_count"]})
    table = plots.voltage_capacity_curves(frame, chosen, max_points=MAX_CURVE_POINTS)
    if table.empty:
        return [], []
    return _api_curves(table)


# --------------------------------------------------------------------------- job


def _impossible(reason: str, **extra: Any) -> dict:
    return runs.json_safe({"status": "impossible", "reason": reason, **extra})


def _reason(exc: CasipInputError) -> str:
    parts = []
    for p in exc.problems:
        text = p.message
        if p.expected:
            text += f" (expected: {p.expected})"
        parts.append(text)
    return "; ".join(parts) or str(exc)


def _load_test(ctx: JobContext, design_id: int) -> tuple[int, str, str, dict]:
    """(id, name, store id, details) of the job's test, if it still exists, may still be read
    by the job's organisation and is still attached to the design."""
    test_id = ctx.params.get("test_id")
    with ctx.db.session() as s:
        row = s.get(TestDataset, test_id) if isinstance(test_id, int) else None
        if row is None or not access.can_read(runs._job_actor(s, ctx), row):
            raise ValueError(
                f"test {test_id} no longer exists (or is no longer shared with your "
                "organisation): it was deleted or unshared after the job was submitted"
            )
        attached = s.execute(
            sa.select(DesignTest.id).where(
                DesignTest.design_id == design_id, DesignTest.test_id == row.id
            )
        ).first()
        if attached is None:
            raise ValueError(f"test {row.id} is no longer attached to design {design_id}")
        return row.id, row.name, row.store_test_id, dict(row.details or {})


def replay_result(ctx: JobContext, document: dict, design_id: int, store_test_id: str,
                  details: dict) -> dict:
    """Run the replay of the job's parameters; the stored result (``status`` ``"done"`` or
    ``"impossible"`` with the ``reason``)."""
    from casip.data.store import Store
    from casip.physics import parameters_for
    from casip.physics.replay import Profile, replay

    p = ctx.params
    try:
        setup = parameters_for(runs._validated(document, design_id))
    except CasipInputError as exc:
        return _impossible(f"the design cannot be mapped to a PyBaMM model: {_reason(exc)}")
    if p.get("calibration_id") is not None:  # the calibrated variant of the design
        from casip.platform.calibrations import calibrated_setup

        try:
            setup = calibrated_setup(ctx, setup, design_id, p["calibration_id"])
        except CasipInputError as exc:
            return _impossible(_reason(exc), calibration_id=p["calibration_id"])
    thermal = p.get("thermal", "isothermal")
    if thermal != "isothermal":
        from casip.physics.temperature import has_thermal_parameters

        if not has_thermal_parameters(setup.parameter_values):
            return _impossible(
                f"thermal: the design's base set {setup.base_set} has no thermal parameters "
                "(heat capacities, densities, heat-transfer coefficient), so no lumped thermal "
                "model can be built for it (expected: thermal isothermal for this design)",
                thermal=thermal,
            )
    store = Store(ctx.store_dir)
    if store_test_id not in store:
        raise ValueError("the stored data of the test is missing; ask an administrator")
    ctx.progress(0.1, "reading the test")
    ts = store.table(store_test_id, "timeseries")
    try:
        cycles_table = store.table(store_test_id, "cycles")
    except Exception:  # a test without a cycle table: the default picks among all cycles
        cycles_table = None
    info = store.info(store_test_id)
    md = info.get("metadata") or {}
    for need in ("test_time_second", "current_ampere", "cycle_count", "step_type"):
        if need not in ts.columns:
            return _impossible(f"the test has no {need} column to replay")
    if "voltage_volt" not in ts.columns or not np.isfinite(
        ts["voltage_volt"].to_numpy(dtype=float)
    ).any():
        return _impossible("the test has no measured voltage to compare with")
    try:
        rows, how = choose_window(ts, cycles_table, p)
    except CasipInputError as exc:
        return _impossible(_reason(exc))
    tested = p.get("tested_capacity_ah")
    nominal = md.get("nominal_capacity_ah")
    if p.get("scale", "auto") == "auto":
        if tested is not None:
            scale, choice = "c_rate", (
                f"c_rate: the same C-rate as the tested cell of {tested:g} A.h (given)"
            )
        elif nominal:
            scale, choice = "c_rate", (
                f"c_rate: the same C-rate as the tested cell of {float(nominal):g} A.h (the "
                "test's nominal capacity)"
            )
        else:
            scale, choice = "amps", (
                "amps: the measured currents as they are (the tested cell's capacity is "
                "unknown: give tested_capacity_ah to replay the same C-rate)"
            )
    else:
        scale = p["scale"]
        choice = f"{scale} (chosen)"
    initial_soc = p.get("initial_soc", "from_rest_voltage")
    control = p.get("control", "current")
    window = None
    frame = rows
    if initial_soc == "from_history":
        frame, window = history_rows(ts, rows)
    profile = Profile.from_frame(
        frame,
        source=f"test {ctx.params.get('test_id')}",
        nominal_capacity_ah=nominal,
        metadata_temperature_c=md.get("temperature_celsius"),
    )
    temperature = p.get("temperature_c")
    base = {
        "window_s": [float(rows["test_time_second"].iloc[0]),
                     float(rows["test_time_second"].iloc[-1])],
        "window_rule": how,
        "rows": len(rows),
        "scale": scale,
        "scale_choice": choice,
        "design_capacity_ah": setup.capacity_Ah,
        "model": p.get("model", "DFN"),
        "thermal": thermal,
        "initial_soc": initial_soc,
        "control": control,
        "calibration_id": p.get("calibration_id"),
    }
    ctx.progress(0.2, f"replaying {len(rows)} rows ({how}) on {setup.approximation}")
    t_clock = time.perf_counter()
    try:
        res = replay(
            setup,
            profile,
            scale=scale,
            temperature_c=temperature,
            tested_capacity_ah=tested,
            model=p.get("model", "DFN"),
            thermal=thermal,
            initial_soc=initial_soc,
            control=control,
            window=window,
        )
    except CasipInputError as exc:
        return _impossible(_reason(exc), **base)
    ctx.progress(0.9, "scoring the replay")
    summary = res.summary()
    t_rows = rows["test_time_second"].to_numpy(dtype=float)
    k = np.clip(np.searchsorted(res.time_s, t_rows, side="right") - 1, 0, len(res.time_s) - 1)
    sim_rows = np.where(np.isclose(res.time_s[k], t_rows), res.simulated_voltage_v[k], np.nan)
    cycles, sim_curves = curves_of(rows, sim_rows)
    _, meas_curves = curves_of(rows, rows["voltage_volt"].to_numpy(dtype=float))
    series = runs.downsample(
        res.to_frame(),
        ("test_time_second", "measured_voltage_v", "simulated_voltage_v", "applied_current_a",
         "simulated_temperature_c"),
        MAX_SERIES_POINTS,
    )
    temp_rule = summary["temperature_rule"]
    return runs.json_safe(
        {
            "status": "done",
            "reason": None,
            **base,
            "tested_capacity_ah": tested if tested is not None else nominal,
            "current_factor": summary["current_factor"],
            "temperature_c": summary["temperature_c"],
            "temperature_rule": temp_rule,
            # the simulated cell's hottest point (thermal "lumped"; None when isothermal)
            "max_temperature_c": (
                float(np.nanmax(res.simulated_temperature_c))
                if res.simulated_temperature_c is not None
                and np.isfinite(res.simulated_temperature_c).any() else None
            ),
            "initial_state": summary["initial_state"],
            "initial_state_of_charge": summary["initial_state_of_charge"],
            "model": summary["model"],
            "metrics": {
                "rmse_mV": summary["rmse_mV"],
                "max_error_mV": summary["max_error_mV"],
                "points": summary["points"],
                "errors": summary["errors"],
                "stopped_early": summary["stopped_early"],
                "stopped_at_s": summary["stopped_at_s"],
                "stop_reason": summary["stop_reason"],
            },
            "cycles": cycles,
            "curves": sim_curves,
            "measured_curves": meas_curves,
            "curve_axis": "capacity of the tested cell within each cycle [A.h]: the simulated "
            "voltage at the measured rows"
            + (f" (the design passes {summary['current_factor']:.4g} times this charge)"
               if scale == "c_rate" else ""),
            "series": series,
            "notes": summary["notes"],
            "solve_s": round(time.perf_counter() - t_clock, 3),
        }
    )


def done_message(result: dict) -> str:
    if result.get("status") != "done":
        return f"done: replay impossible: {result.get('reason')}"[:500]
    m = result["metrics"]
    rmse = m.get("rmse_mV")
    text = f"done: RMSE {rmse:.1f} mV" if rmse is not None else "done: no error computed"
    if m.get("stopped_early"):
        text += f"; stopped at t = {m['stopped_at_s']:.0f} s: {m['stop_reason']}"
    return text[:500]


@register("replay")
def run_replay(ctx: JobContext) -> tuple[str, int]:
    """Job: replay an attached test against its design; stores a Replay."""
    ctx.progress(0.02, "loading the design and the test")
    design_id, name, document, _vis, _opt_in, _owner = runs._load_design(ctx)
    test_id, test_name, store_test_id, details = _load_test(ctx, design_id)
    result = replay_result(ctx, document, design_id, store_test_id, details)
    ctx.progress(0.95, "storing the result")
    ctx.done_message = done_message(result)
    with ctx.fenced() as s:  # the row and the job's done status commit together, once
        row = Replay(
            owner_org_id=ctx.owner_org_id,
            created_by_id=ctx.created_by_id,
            design_id=design_id,
            test_id=test_id,
            name=f"{test_name[:90]} on {name[:90]}",
            status=result["status"],
            parameters=runs.json_safe(
                {k: v for k, v in ctx.params.items() if k not in ("design_id", "test_id")}
            ),
            result=result,
            job_id=ctx.job_id,
        )
        s.add(row)
        try:
            s.flush()
        except sa.exc.IntegrityError:
            raise ValueError(
                f"design {design_id} or test {test_id} was deleted while the job ran; nothing "
                "was stored"
            ) from None
        ctx.complete(s, "replay", row.id)
        return "replay", row.id


# --------------------------------------------------------------------------- access


def read_clause(actor: Actor) -> sa.ColumnElement[bool]:
    """Replays ``actor`` may read: by their own sharing, and only while the design and the
    test are readable too."""
    test_readable = (
        sa.select(TestDataset.id)
        .where(TestDataset.id == Replay.test_id, access.read_clause(actor, TestDataset))
        .exists()
    )
    return sa.and_(access.read_clause(actor, Replay), test_readable)


def can_read(session: Session, actor: Actor, row: Replay) -> bool:
    if not access.can_read(actor, row):
        return False
    test = session.get(TestDataset, row.test_id)
    return test is not None and access.can_read(actor, test)


def get_for_read(session: Session, actor: Actor, replay_id: int) -> Replay:
    row = access.load(session, Replay, replay_id)
    if row is None or not can_read(session, actor, row):
        raise NotFound("replay", replay_id)
    return row


def max_visibility(session: Session, row: Replay) -> str:
    """The widest visibility the replay may have: the narrower of its design's and test's."""
    order = access.VISIBILITY_ORDER
    design = session.get(Design, row.design_id)
    test = session.get(TestDataset, row.test_id)
    return min(
        (access.max_derived_visibility(design), test.visibility if test else order[0]),
        key=order.index,
    )


def set_visibility(session: Session, actor: Actor, replay_id: int, visibility: str) -> Replay:
    """Share or unshare a replay (audited); 422 naming ``visibility`` when wider than the
    design or the test."""
    row = get_for_read(session, actor, replay_id)
    return access.set_capped_visibility(session, actor, row, visibility,
                                        max_visibility(session, row), "replay",
                                        "its design or its test")


# --------------------------------------------------------------------------- answers


def full(row: Replay) -> dict:
    """One replay as the API gives it (curves in the shape of ``GET /api/tests/{id}/curves``
    plus the error metrics)."""
    r = dict(row.result or {})
    return {
        "replay_id": row.id,
        "design_id": row.design_id,
        "test_id": row.test_id,
        "name": row.name,
        "status": row.status,
        "visibility": row.visibility,
        "owner_org_id": row.owner_org_id,
        "job_id": row.job_id,
        "created_at": row.created_at.isoformat() + "Z",
        "parameters": row.parameters,
        **r,
        "links": {"replay": f"/api/replays/{row.id}"},
    }


def latest(session: Session, actor: Actor, design_id: int, test_id: int) -> dict | None:
    """The newest replay of a test against a design that ``actor`` may read (``None``)."""
    row = session.execute(
        sa.select(Replay)
        .where(Replay.design_id == design_id, Replay.test_id == test_id, read_clause(actor))
        .order_by(Replay.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return full(row) if row is not None else None


#: the stored time-series columns a replay takes the temperature from
TEMPERATURE_COLUMNS = ("ambient_temperature_celsius", "surface_temperature_celsius")


def records_temperature(store_dir: Any, store_test_id: str, details: dict | None) -> bool:
    """Whether a stored test records a temperature a replay can take: a metadata temperature
    or a finite value in an ambient or surface temperature column."""
    import pyarrow.parquet as pq

    from casip.data.store import Store

    md = (details or {}).get("metadata") or {}
    t = md.get("temperature_celsius")
    if isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t):
        return True
    store = Store(store_dir)
    if store_test_id not in store:
        return False
    path = store._resolve(store_test_id) / "timeseries.parquet"
    present = [c for c in TEMPERATURE_COLUMNS if c in pq.read_schema(path).names]
    if not present:
        return False
    table = pq.read_table(path, columns=present).to_pandas()
    return bool(np.isfinite(table.to_numpy(dtype=float)).any())


def submit_params(session: Session, actor: Actor, design_id: int, test_id: int,
                  body: dict, store_dir: Any = None) -> dict:
    """Check who asks, the design, the test, the attachment and the body; the job params.

    With ``store_dir`` (the hub's store) a test that records no temperature needs
    ``temperature_c``: refused here (422 naming it) rather than assumed."""
    access.require_create(actor)
    design = access.get_for_read(session, actor, "design", design_id)
    test = access.get_for_read(session, actor, "test", test_id)
    attached = session.execute(
        sa.select(DesignTest.id).where(
            DesignTest.design_id == design.id, DesignTest.test_id == test.id
        )
    ).first()
    if attached is None:
        raise ApiProblem(
            404, f"test {test.id} is not attached to design {design.id}: attach it first"
        )
    params = check_params(design.id, test.id, **body)
    if "calibration_id" in params:  # a finished calibration of this design, readable
        from casip.platform.calibrations import usable_record

        usable_record(session, actor, design.id, params["calibration_id"])
    if (store_dir is not None and "temperature_c" not in params
            and not records_temperature(store_dir, test.store_test_id, test.details)):
        raise CasipInputError(
            Problem("temperature_c", "the test records no temperature (no ambient or surface "
                    "temperature column, none in its metadata): give the one it was run at",
                    None, "the test's ambient temperature in degrees Celsius, in [-60, 150]")
        )
    return params


__all__ = [
    "MAX_CYCLES",
    "MAX_ROWS",
    "MAX_WINDOW_H",
    "check_params",
    "choose_window",
    "full",
    "get_for_read",
    "history_rows",
    "latest",
    "max_visibility",
    "read_clause",
    "records_temperature",
    "run_replay",
    "set_visibility",
    "submit_params",
]
