"""Calibrate a design to its attached tests as a platform job (issue 14, "Calibration").

A user asks, on the design page or with ``POST /api/designs/{design_id}/calibrations``, to fit
the design's uncertain physical parameters to tests attached to it
(:func:`casip.physics.calibration.calibrate`: electrode balance on low-rate data, then kinetics
and transport, with PyBOP). A :class:`~casip.platform.models.Calibration` row is created at
once (``status="queued"``) and a ``calibration`` job (:mod:`casip.platform.jobs`) runs the fit,
writing its progress (stage, evaluations, fraction) into the row as it goes (at most every
:data:`PROGRESS_INTERVAL_S` seconds), then the result. The rules:

* **Cases.** ``fit`` (1 to :data:`MAX_FIT_CASES`) and ``held_back`` (0 to
  :data:`MAX_HELD_BACK_CASES`) each name an attached test (``test_id``) and a window of its
  test time (``window_s = [t0, t1]``, required, at most :data:`MAX_WINDOW_H` hours and
  :data:`MAX_ROWS` rows, at least 10 rows of the test inside it), the current scaling
  (``scale``: ``"auto"`` as for replays — the same C-rate when the tested cell's capacity is
  known from ``tested_capacity_ah`` or the test's nominal capacity, else the measured amperes —
  or ``"c_rate"`` / ``"amps"``), the initial state (``initial_soc``: ``"from_rest_voltage"``,
  the window must then start in a rest, or a state of charge in [0, 1]) and ``temperature_c``,
  required when the test records no temperature (none is assumed). Held-back cases are not
  fitted on: they are replayed before and after, so the prediction error shows.
* **What is fitted.** ``parameters``: keys of :data:`casip.physics.calibration.FITTABLE`
  (default :data:`~casip.physics.calibration.DEFAULT_KINETICS_TRANSPORT`), optional ``bounds``
  per key, ``stages`` (``"balance"``, ``"kinetics_transport"``), ``model`` (``"SPMe"`` default
  or ``"DFN"``), ``thermal``, ``optimiser`` and ``max_evaluations`` per stage (at most
  :data:`MAX_EVALUATIONS` on this server), ``seed``.
* **Bad requests** answer 422 naming the field (``fit.0.window_s``, ``parameters.1``...) and
  queue nothing; a test that is not attached to the design, or that the asker may not read,
  is refused alike (``fit.0.test_id``), so probing ids tells nothing.
* **Outcome** (``status``): ``"done"``; ``"ill_posed"`` when the fit ran but a stage has no
  identifiable parameter, or no stage could run (``result.ill_posed`` says which and why: the
  values are then not to be trusted); ``"failed"`` with ``error`` and ``error_field`` (the
  field the library named: e.g. a window that does not start in a rest); ``"cancelled"``.
  Every warning of the fit (parameters at their bounds, weakly identified ones, held-back
  errors that grew) is stored and shown.
* **The calibrated variant**: the record (``casip.calibration/1``, downloadable as JSON) that
  :func:`casip.physics.calibration.apply_calibration` re-applies to the design; a replay may
  use it (``calibration_id`` in the replay request, :mod:`casip.platform.replays`). The BPX
  file of the calibrated parameters is stored where the design is a liquid cell BPX can hold;
  otherwise ``bpx_reason`` says why there is none.
* **Who may read it**: the organisation that ran it, and only while it may read the design and
  every test the calibration uses (:func:`read_clause`); it may be shared, never wider than the
  narrowest of those (:func:`max_visibility`). Deleting the design deletes it; deleting a test
  it used makes it unreadable.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import access, runs
from casip.platform.access import Actor, NotFound
from casip.platform.jobs import JobCancelled, JobContext, register
from casip.platform.models import (
    Calibration,
    CalibrationTest,
    Design,
    DesignTest,
    Job,
    JobStatus,
    TestDataset,
    utcnow,
)
from casip.platform.problems import ApiProblem

#: most fit cases of one calibration
MAX_FIT_CASES = 4
#: most held-back cases of one calibration
MAX_HELD_BACK_CASES = 4
#: longest window [h] of test time per case
MAX_WINDOW_H = 24.0
#: most rows of a test in one case's window
MAX_ROWS = 20_000
#: largest evaluation budget per stage on this server (the library's own minimum is 20)
MAX_EVALUATIONS = 400
MIN_EVALUATIONS = 20
DEFAULT_MAX_EVALUATIONS = 150
#: rows per case kept for the fit (step edges always kept)
MAX_POINTS = 1000
#: a fit still running after this long is stopped [s]
MAX_RUN_S = 3600.0
#: least time between two progress writes [s]
PROGRESS_INTERVAL_S = 1.0
SCALES = ("auto", "c_rate", "amps")
MODELS = ("SPMe", "DFN")
THERMALS = ("isothermal", "lumped")
STAGES = ("balance", "kinetics_transport")
OPTIMISERS = ("XNES", "CMAES", "NelderMead", "SciPyMinimize")
STATUSES = ("queued", "running", "done", "ill_posed", "failed", "cancelled")
_CASE_KEYS = ("test_id", "window_s", "scale", "tested_capacity_ah", "initial_soc",
              "temperature_c", "label")


# --------------------------------------------------------------------------- parameters


def _number(value: Any, field: str, lo: float, hi: float, expected: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not (math.isfinite(x) and lo <= x <= hi):
        raise CasipInputError(Problem(field, "out of range or not a number", value, expected))
    return x


def _integer(value: Any, field: str, lo: int, hi: int, expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise CasipInputError(Problem(field, "not an integer in range", value, expected))
    return value


def check_case(raw: Any, field: str) -> dict:
    """One checked case (:class:`CasipInputError` naming ``field.<key>``)."""
    if not isinstance(raw, dict):
        raise CasipInputError(
            Problem(field, "not a case", raw, "an object with test_id and window_s")
        )
    unknown = sorted(set(raw) - set(_CASE_KEYS))
    if unknown:
        raise CasipInputError(
            Problem(f"{field}.{unknown[0]}", "unknown field", unknown[0], ", ".join(_CASE_KEYS))
        )
    if "test_id" not in raw:
        raise CasipInputError(Problem(f"{field}.test_id", "missing", None, "an attached test id"))
    out: dict[str, Any] = {
        "test_id": _integer(raw["test_id"], f"{field}.test_id", 1, access.MAX_ID,
                            "the id of a test attached to the design")
    }
    w = raw.get("window_s")
    if not isinstance(w, list | tuple) or len(w) != 2:
        raise CasipInputError(
            Problem(f"{field}.window_s", "not a pair of times", w, "[t0, t1] in seconds of "
                    f"test time (at most {MAX_WINDOW_H:g} h)")
        )
    t0 = _number(w[0], f"{field}.window_s.0", 0.0, 1e10, "a test time in seconds >= 0")
    t1 = _number(w[1], f"{field}.window_s.1", 0.0, 1e10, "a test time in seconds >= 0")
    if not t1 > t0 or t1 - t0 > MAX_WINDOW_H * 3600:
        raise CasipInputError(
            Problem(f"{field}.window_s", f"t1 must follow t0 by at most {MAX_WINDOW_H:g} h",
                    [t0, t1], f"[t0, t1] with 0 < t1 - t0 <= {MAX_WINDOW_H * 3600:g} s")
        )
    out["window_s"] = [t0, t1]
    scale = raw.get("scale", "auto")
    if scale not in SCALES:
        raise CasipInputError(
            Problem(f"{field}.scale", "unknown current scaling", scale, "auto, c_rate or amps")
        )
    out["scale"] = scale
    if raw.get("tested_capacity_ah") is not None:
        out["tested_capacity_ah"] = _number(
            raw["tested_capacity_ah"], f"{field}.tested_capacity_ah", 1e-6, 1e5,
            "the tested cell's capacity in A.h (> 0)")
    soc = raw.get("initial_soc", "from_rest_voltage")
    if soc != "from_rest_voltage":
        soc = _number(soc, f"{field}.initial_soc", 0.0, 1.0,
                      "from_rest_voltage or a state of charge in [0, 1]")
    out["initial_soc"] = soc
    if raw.get("temperature_c") is not None:
        out["temperature_c"] = _number(raw["temperature_c"], f"{field}.temperature_c", -60.0,
                                       150.0, "degrees Celsius in [-60, 150]")
    label = raw.get("label")
    if label is not None:
        if not isinstance(label, str) or not label.strip() or len(label) > 80:
            raise CasipInputError(
                Problem(f"{field}.label", "not a short text", label, "1 to 80 characters")
            )
        out["label"] = label.strip()
    else:
        out["label"] = f"test {out['test_id']} {t0:g}-{t1:g} s"
    return out


def check_params(design_id: int, body: dict) -> dict:
    """Checked parameters of a calibration request (:class:`CasipInputError` naming the bad
    field); the tests are checked against the design by :func:`submit`."""
    from casip.physics.calibration import DEFAULT_KINETICS_TRANSPORT, FITTABLE

    known = ("fit", "held_back", "parameters", "bounds", "stages", "model", "thermal",
             "optimiser", "max_evaluations", "seed", "name")
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise CasipInputError(Problem(unknown[0], "unknown field", unknown[0], ", ".join(known)))
    fit = body.get("fit")
    if not isinstance(fit, list) or not 1 <= len(fit) <= MAX_FIT_CASES:
        raise CasipInputError(
            Problem("fit", "not a list of cases", fit,
                    f"1 to {MAX_FIT_CASES} cases (test_id, window_s...)")
        )
    held = body.get("held_back") or []
    if not isinstance(held, list) or len(held) > MAX_HELD_BACK_CASES:
        raise CasipInputError(
            Problem("held_back", "not a list of cases", held,
                    f"0 to {MAX_HELD_BACK_CASES} cases (test_id, window_s...)")
        )
    cases = [check_case(c, f"fit.{i}") for i, c in enumerate(fit)]
    held_cases = [check_case(c, f"held_back.{i}") for i, c in enumerate(held)]
    seen: dict[str, str] = {}
    for role, lst in (("fit", cases), ("held_back", held_cases)):
        for i, c in enumerate(lst):
            if c["label"] in seen:
                raise CasipInputError(
                    Problem(f"{role}.{i}.label", f"the same label as {seen[c['label']]}",
                            c["label"], "one label per case (or distinct windows)")
                )
            seen[c["label"]] = f"{role}.{i}"
    params = body.get("parameters", list(DEFAULT_KINETICS_TRANSPORT))
    if not isinstance(params, list):
        raise CasipInputError(
            Problem("parameters", "not a list of parameters", params,
                    "one or more of " + ", ".join(FITTABLE))
        )
    for i, k in enumerate(params):
        if k not in FITTABLE:
            raise CasipInputError(
                Problem(f"parameters.{i}", "not a fittable parameter", k, ", ".join(FITTABLE))
            )
    if len(set(params)) != len(params):
        raise CasipInputError(
            Problem("parameters", "a parameter is named twice", params, "distinct parameters")
        )
    bounds = body.get("bounds") or {}
    if not isinstance(bounds, dict):
        raise CasipInputError(
            Problem("bounds", "not an object", bounds, "parameter -> [lower, upper]")
        )
    checked_bounds = {}
    for k, b in bounds.items():
        if k not in params:
            raise CasipInputError(
                Problem(f"bounds.{k}", "bounds for a parameter that is not fitted", k,
                        "one of the chosen parameters: " + ", ".join(params))
            )
        if not isinstance(b, list | tuple) or len(b) != 2:
            raise CasipInputError(Problem(f"bounds.{k}", "not a pair", b, "[lower, upper]"))
        lo = _number(b[0], f"bounds.{k}.0", -1e6, 1e6, "a finite number")
        hi = _number(b[1], f"bounds.{k}.1", -1e6, 1e6, "a finite number")
        f = FITTABLE[k]
        if not hi > lo or (f.log and lo <= 0):
            raise CasipInputError(
                Problem(f"bounds.{k}", "lower must be below upper (and positive for a factor)",
                        [lo, hi], "finite lower < upper (positive for factors)")
            )
        start = 1.0 if f.kind == "factor" else None
        if start is not None and not lo <= start <= hi:
            raise CasipInputError(
                Problem(f"bounds.{k}", "a factor's bounds must contain 1 (the design's value)",
                        [lo, hi], "lower <= 1 <= upper")
            )
        checked_bounds[k] = [lo, hi]
    stages = body.get("stages", list(STAGES))
    if not isinstance(stages, list) or not stages:
        raise CasipInputError(
            Problem("stages", "not a list of stages", stages, "balance and/or kinetics_transport")
        )
    for i, st in enumerate(stages):
        if st not in STAGES:
            raise CasipInputError(
                Problem(f"stages.{i}", "unknown stage", st, "balance or kinetics_transport")
            )
    stages = [st for st in STAGES if st in stages]
    if "kinetics_transport" in stages and not params:
        raise CasipInputError(
            Problem("parameters", "the kinetics_transport stage has nothing to fit", params,
                    "one or more of " + ", ".join(FITTABLE))
        )
    model = body.get("model", "SPMe")
    if model not in MODELS:
        raise CasipInputError(Problem("model", "unknown model", model, "SPMe or DFN"))
    thermal = body.get("thermal", "isothermal")
    if thermal not in THERMALS:
        raise CasipInputError(
            Problem("thermal", "unknown thermal option", thermal, "isothermal or lumped")
        )
    optimiser = body.get("optimiser", "XNES")
    if optimiser not in OPTIMISERS:
        raise CasipInputError(
            Problem("optimiser", "unknown optimiser", optimiser, ", ".join(OPTIMISERS))
        )
    budget = _integer(body.get("max_evaluations", DEFAULT_MAX_EVALUATIONS), "max_evaluations",
                      MIN_EVALUATIONS, MAX_EVALUATIONS,
                      f"an integer in [{MIN_EVALUATIONS}, {MAX_EVALUATIONS}] (evaluations per "
                      "stage; this server's cap)")
    seed = _integer(body.get("seed", 0), "seed", 0, 2**31 - 1, "an integer >= 0")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > 200):
        raise CasipInputError(Problem("name", "not a short text", name, "1 to 200 characters"))
    return {
        "design_id": design_id,
        "fit": cases,
        "held_back": held_cases,
        "parameters": list(params),
        "bounds": checked_bounds,
        "stages": stages,
        "model": model,
        "thermal": thermal,
        "optimiser": optimiser,
        "max_evaluations": budget,
        "seed": seed,
        "name": name.strip() if name else None,
    }


# --------------------------------------------------------------------------- the tests


def _timeseries_path(store_dir: Any, store_test_id: str) -> Path | None:
    from casip.data.store import Store

    store = Store(store_dir)
    if store_test_id not in store:
        return None
    return store._resolve(store_test_id) / "timeseries.parquet"


def _check_window(store_dir: Any, test: TestDataset, case: dict, field: str) -> None:
    """Refuse (422 naming ``field.window_s``) a window with too few or too many of the test's
    rows."""
    import pyarrow.parquet as pq

    path = _timeseries_path(store_dir, test.store_test_id)
    if path is None:
        raise ApiProblem(409, f"the stored data of test {test.id} is missing; ask an "
                         "administrator")
    t = pq.read_table(path, columns=["test_time_second"]).column(0).to_numpy()
    t = t[np.isfinite(t)]
    t0, t1 = case["window_s"]
    n = int(((t >= t0) & (t <= t1)).sum())
    span = f"{float(t.min()):g} .. {float(t.max()):g} s" if t.size else "no rows"
    if n < 10:
        raise CasipInputError(
            Problem(f"{field}.window_s", f"{n} rows of test {test.id} in the window: outside "
                    "the test or too short to fit", [t0, t1],
                    f"a window within the test's {span} holding at least 10 rows")
        )
    if n > MAX_ROWS:
        raise CasipInputError(
            Problem(f"{field}.window_s", f"{n} rows of test {test.id}: too many for one case",
                    [t0, t1], f"at most {MAX_ROWS} rows: a shorter window")
        )


def submit(session: Session, actor: Actor, design_id: int, body: dict,
           store_dir: Any) -> tuple[Calibration, Job]:
    """Check who asks, the design, the body and its tests; add the calibration row and its
    queued job (flushed, not committed: commit, then submit the job to the runner)."""
    from casip.platform import replays

    access.require_create(actor)
    design = access.get_for_read(session, actor, "design", design_id)
    params = check_params(design.id, body)
    tests: dict[int, TestDataset] = {}
    for role in ("fit", "held_back"):
        for i, case in enumerate(params[role]):
            field = f"{role}.{i}"
            tid = case["test_id"]
            test = tests.get(tid)
            if test is None:
                row = access.load(session, TestDataset, tid)
                attached = row is not None and session.execute(
                    sa.select(DesignTest.id).where(
                        DesignTest.design_id == design.id, DesignTest.test_id == row.id)
                ).first() is not None
                if not attached or not access.can_read(actor, row):
                    raise CasipInputError(
                        Problem(f"{field}.test_id", f"no test attached to design {design.id} "
                                "with this id that you can read", tid,
                                "the id of a test attached to the design (attach it first)")
                    )
                test = tests[tid] = row
            _check_window(store_dir, test, case, field)
            if "temperature_c" not in case and not replays.records_temperature(
                    store_dir, test.store_test_id, test.details):
                raise CasipInputError(
                    Problem(f"{field}.temperature_c", f"test {tid} records no temperature (no "
                            "ambient or surface temperature column, none in its metadata): "
                            "give the one it was run at", None,
                            "the test's ambient temperature in degrees Celsius, in [-60, 150]")
                )
    name = params.pop("name") or (
        f"{', '.join(c['label'] for c in params['fit'])[:120]} on {design.name[:70]}"
    )
    row = Calibration(
        owner_org_id=actor.org_id,
        created_by_id=actor.user_id or None,
        design_id=design.id,
        name=name[:200],
        status="queued",
        fit_cases=params["fit"],
        held_back_cases=params["held_back"],
        fit_parameters=params["parameters"],
        options={k: params[k] for k in ("bounds", "stages", "model", "thermal", "optimiser",
                                        "max_evaluations", "seed")},
        test_count=len(tests),
        progress=0.0,
        evaluations=0,
    )
    session.add(row)
    session.flush()
    for tid in tests:
        session.add(CalibrationTest(calibration_id=row.id, test_id=tid))
    job = runs.new_job(session, actor.org_id, actor.user_id, "calibration",
                       {"design_id": design.id, "calibration_id": row.id})
    row.job_id = job.id
    session.flush()
    return row, job


# --------------------------------------------------------------------------- job


def _reason(exc: CasipInputError) -> str:
    parts = []
    for p in exc.problems:
        text = (f"{p.field}: " if p.field else "") + p.message
        if p.expected:
            text += f" (expected: {p.expected})"
        parts.append(text)
    return "; ".join(parts) or str(exc)


def _update(ctx: JobContext, cal_id: int, **values: Any) -> None:
    """Write the job's calibration row, fenced by the job's attempt (a cancelled or superseded
    attempt writes nothing: :meth:`JobContext.fenced`)."""
    with ctx.fenced() as s:
        s.execute(sa.update(Calibration).where(Calibration.id == cal_id).values(**values))


class _Reporter:
    """The fit's progress callable: throttled writes to the calibration row and the job (whose
    cancellation, seen by :meth:`JobContext.progress`, stops the fit); stops a fit running
    longer than :data:`MAX_RUN_S`."""

    def __init__(self, ctx: JobContext, cal_id: int):
        self.ctx, self.cal_id = ctx, cal_id
        self.start = time.monotonic()
        self.last = -math.inf
        self.seen: dict = {}

    def __call__(self, info: dict) -> None:
        self.seen = info
        now = time.monotonic()
        if now - self.start > MAX_RUN_S:
            raise TimeoutError(f"the fit ran longer than {MAX_RUN_S:g} s and was stopped: fewer "
                               "evaluations, cases or rows")
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        self.write()

    def write(self) -> None:
        info = self.seen
        frac = float(info.get("fraction") or 0.0)
        stage = str(info.get("stage") or "")
        ev = int(info.get("evaluations") or 0)
        _update(self.ctx, self.cal_id, progress=frac, evaluations=ev, stage=stage[:32])
        self.ctx.progress(0.1 + 0.75 * frac, f"fitting: {stage}, {ev} evaluations")


def _load_tests(ctx: JobContext, design_id: int, test_ids: Sequence[int]) -> dict[int, dict]:
    """Per test id: name, store id and details, if it still exists, may still be read by the
    job's organisation and is still attached to the design."""
    out = {}
    with ctx.db.session() as s:
        actor = runs._job_actor(s, ctx)
        for tid in test_ids:
            row = s.get(TestDataset, tid)
            if row is None or not access.can_read(actor, row):
                raise ValueError(
                    f"test {tid} no longer exists (or is no longer shared with your "
                    "organisation): it was deleted or unshared after the job was submitted"
                )
            attached = s.execute(
                sa.select(DesignTest.id).where(
                    DesignTest.design_id == design_id, DesignTest.test_id == row.id)
            ).first()
            if attached is None:
                raise ValueError(f"test {row.id} is no longer attached to design {design_id}")
            out[tid] = {"name": row.name, "store_test_id": row.store_test_id}
    return out


def _fit_case(case: dict, profile: Any, nominal: float | None) -> tuple[Any, str]:
    from casip.physics.calibration import FitCase

    tested = case.get("tested_capacity_ah")
    scale = case.get("scale", "auto")
    if scale == "auto":
        if tested is not None:
            scale, choice = "c_rate", f"c_rate: the tested cell's {tested:g} A.h (given)"
        elif nominal:
            scale, choice = "c_rate", (f"c_rate: the test's nominal capacity "
                                       f"{float(nominal):g} A.h")
        else:
            scale, choice = "amps", ("amps: the measured currents (the tested cell's capacity "
                                     "is unknown: give tested_capacity_ah for the same C-rate)")
    else:
        choice = f"{scale} (chosen)"
    fc = FitCase(
        label=case["label"],
        profile=profile,
        scale=scale,
        window=tuple(case["window_s"]),
        initial_soc=case.get("initial_soc", "from_rest_voltage"),
        temperature_c=case.get("temperature_c"),
        tested_capacity_ah=tested,
    )
    return fc, choice


def ill_posed_reasons(result: Any) -> list[str]:
    """Why a finished fit is not to be trusted: a stage none of whose parameters is
    identifiable, or no stage that could run (then each stage's reason for skipping)."""
    ran = [s for s in result.stages if not s.skipped]
    if not ran:
        return [f"{s.stage}: skipped: {s.skipped}" for s in result.stages] + [
            "no stage could run on these data"]
    out = []
    for s in ran:
        ident = list(s.parameters["identifiability"]) if len(s.parameters) else []
        if ident and all(x == "not identifiable" for x in ident):
            out.append(f"{s.stage}: no fitted parameter is identifiable from these data "
                       f"({', '.join(s.parameters['parameter'])}): fit fewer parameters or "
                       "add protocols that excite them")
    return out


def _bpx(result: Any) -> tuple[dict | None, str | None]:
    with tempfile.TemporaryDirectory(prefix="casip-cal-") as tmp:
        path = Path(tmp) / "calibrated.bpx.json"
        try:
            result.export_bpx(path)
        except CasipInputError as exc:
            return None, f"no BPX file: {_reason(exc)}"
        return runs.json_safe(json.loads(path.read_text())), None


def _finish_failed(ctx: JobContext, cal_id: int, message: str, field: str | None) -> None:
    _update(ctx, cal_id, status="failed", error=message[:4000],
            error_field=(field or None) and field[:100], finished_at=utcnow())


@register("calibration")
def run_calibration(ctx: JobContext) -> tuple[str, int]:
    """Job: fit a design to its attached tests; fills the job's Calibration row."""
    cal_id = ctx.params.get("calibration_id")
    with ctx.fenced() as s:
        cal = s.get(Calibration, cal_id) if isinstance(cal_id, int) else None
        if cal is None:
            raise ValueError(f"calibration {cal_id} no longer exists (its design was deleted)")
        cases = {"fit": list(cal.fit_cases), "held_back": list(cal.held_back_cases)}
        params, options = list(cal.fit_parameters), dict(cal.options)
        cal.status, cal.started_at = "running", utcnow()
    try:
        return _run(ctx, cal_id, cases, params, options)
    except JobCancelled:
        with ctx.db.session() as s:  # the job is cancelled: no attempt owns it any more
            s.execute(sa.update(Calibration).where(Calibration.id == cal_id)
                      .values(status="cancelled", finished_at=utcnow()))
        raise
    except CasipInputError as exc:
        reason = _reason(exc)
        _finish_failed(ctx, cal_id, reason, exc.problems[0].field if exc.problems else None)
        raise ValueError(f"calibration failed: {reason}") from None
    except Exception as exc:
        _finish_failed(ctx, cal_id, str(exc) or type(exc).__name__, None)
        raise


def _run(ctx: JobContext, cal_id: int, cases: dict, params: list, options: dict
         ) -> tuple[str, int]:
    from casip.data.store import Store
    from casip.physics import parameters_for
    from casip.physics.calibration import calibrate
    from casip.physics.replay import Profile

    ctx.progress(0.02, "loading the design and the tests")
    design_id, _name, document, *_ = runs._load_design(ctx)
    ids = list(dict.fromkeys(c["test_id"] for c in [*cases["fit"], *cases["held_back"]]))
    tests = _load_tests(ctx, design_id, ids)
    try:
        setup = parameters_for(runs._validated(document, design_id))
    except CasipInputError as exc:
        raise CasipInputError(
            Problem("design_id", "the design cannot be mapped to a PyBaMM model: "
                    + _reason(exc), design_id, "a design the physics layer can map")
        ) from None
    store = Store(ctx.store_dir)
    profiles: dict[int, tuple[Any, float | None]] = {}
    ctx.progress(0.05, "reading the tests")
    for tid, t in tests.items():
        if t["store_test_id"] not in store:
            raise ValueError(f"the stored data of test {tid} is missing; ask an administrator")
        info = store.info(t["store_test_id"])
        md = info.get("metadata") or {}
        profile = Profile.from_frame(
            store.table(t["store_test_id"], "timeseries"),
            source=f"test {tid} ({t['name']})",
            nominal_capacity_ah=md.get("nominal_capacity_ah"),
            metadata_temperature_c=md.get("temperature_celsius"),
        )
        profiles[tid] = (profile, md.get("nominal_capacity_ah"))
    fit, held, choices = [], [], {}
    for role, lst in (("fit", fit), ("held_back", held)):
        for c in cases[role]:
            fc, choice = _fit_case(c, *profiles[c["test_id"]])
            lst.append(fc)
            choices[c["label"]] = choice
    reporter = _Reporter(ctx, cal_id)
    ctx.progress(0.1, f"fitting {', '.join(params)} on {len(fit)} case(s)")
    t_clock = time.perf_counter()
    res = calibrate(
        setup,
        fit,
        held_back=held,
        stages=tuple(options.get("stages") or ("balance", "kinetics_transport")),
        parameters=params,
        bounds={k: tuple(v) for k, v in (options.get("bounds") or {}).items()} or None,
        model=options.get("model", "SPMe"),
        thermal=options.get("thermal", "isothermal"),
        optimiser=options.get("optimiser", "XNES"),
        max_evaluations=int(options.get("max_evaluations", DEFAULT_MAX_EVALUATIONS)),
        max_points=MAX_POINTS,
        seed=options.get("seed", 0),
        progress=reporter,
    )
    ctx.progress(0.9, "storing the result")
    record = res.to_record()
    ill = ill_posed_reasons(res)
    bpx, bpx_reason = _bpx(res)
    evaluations = sum(s.evaluations for s in res.stages)
    result = runs.json_safe({
        "record": record,
        "ill_posed": ill,
        "warnings": list(res.warnings),
        "scale_choices": choices,
        "design_capacity_ah": setup.capacity_Ah,
        "seconds": round(time.perf_counter() - t_clock, 3),
        "evaluations": evaluations,
    })
    status = "ill_posed" if ill else "done"
    ctx.done_message = done_message(result, status)
    with ctx.fenced() as s:  # the result and the job's done status commit together, once
        cal = s.get(Calibration, cal_id)
        if cal is None:
            raise ValueError(f"design {design_id} was deleted while the job ran; nothing was "
                             "stored")
        cal.status, cal.result, cal.bpx, cal.bpx_reason = status, result, bpx, bpx_reason
        cal.progress, cal.evaluations, cal.finished_at = 1.0, evaluations, utcnow()
        cal.stage = (res.stages[-1].stage if res.stages else None)
        ctx.complete(s, "calibration", cal_id)
    return "calibration", cal_id


def done_message(result: dict, status: str) -> str:
    """The finished job's message: the fit and prediction errors after calibration."""
    rec = result.get("record") or {}
    fe = [r.get("rmse_after_mV") for r in rec.get("fit_errors") or []]
    pe = [r.get("rmse_after_mV") for r in rec.get("prediction_errors") or []]
    text = "done"
    if status == "ill_posed":
        text += " (ill-posed)"
    fe = [x for x in fe if isinstance(x, int | float)]
    pe = [x for x in pe if isinstance(x, int | float)]
    if fe:
        text += f": fit RMSE {max(fe):.1f} mV"
    if pe:
        text += f", held-back RMSE {max(pe):.1f} mV"
    return text[:500]


# --------------------------------------------------------------------------- access


def read_clause(actor: Actor) -> sa.ColumnElement[bool]:
    """Calibrations ``actor`` may read: by their own sharing and their design's, and only
    while every test they use is readable too (and still exists)."""
    readable_tests = (
        sa.select(sa.func.count())
        .select_from(CalibrationTest)
        .join(TestDataset, TestDataset.id == CalibrationTest.test_id)
        .where(CalibrationTest.calibration_id == Calibration.id,
               access.read_clause(actor, TestDataset))
        .correlate(Calibration)
        .scalar_subquery()
    )
    return sa.and_(access.read_clause(actor, Calibration),
                   readable_tests == Calibration.test_count)


def _tests_of(session: Session, row: Calibration) -> list[TestDataset]:
    return list(session.execute(
        sa.select(TestDataset)
        .join(CalibrationTest, CalibrationTest.test_id == TestDataset.id)
        .where(CalibrationTest.calibration_id == row.id)
    ).scalars())


def can_read(session: Session, actor: Actor, row: Calibration) -> bool:
    if not access.can_read(actor, row):
        return False
    tests = _tests_of(session, row)
    return len(tests) == row.test_count and all(access.can_read(actor, t) for t in tests)


def get_for_read(session: Session, actor: Actor, calibration_id: int) -> Calibration:
    row = access.load(session, Calibration, calibration_id)
    if row is None or not can_read(session, actor, row):
        raise NotFound("calibration", calibration_id)
    return row


def max_visibility(session: Session, row: Calibration) -> str:
    """The widest visibility the calibration may have: the narrowest of its design's and its
    tests'."""
    order = access.VISIBILITY_ORDER
    design = session.get(Design, row.design_id)
    vis = [access.max_derived_visibility(design), *(t.visibility for t in _tests_of(session, row))]
    return min(vis, key=order.index)


def set_visibility(session: Session, actor: Actor, calibration_id: int,
                   visibility: str) -> Calibration:
    """Share or unshare a calibration (audited); 422 naming ``visibility`` when wider than the
    design or a test allows."""
    row = get_for_read(session, actor, calibration_id)
    return access.set_capped_visibility(session, actor, row, visibility,
                                        max_visibility(session, row), "calibration",
                                        "its design or a test it uses")


def usable_record(session: Session, actor: Actor, design_id: int, calibration_id: Any,
                  field: str = "calibration_id") -> dict:
    """The record of a finished calibration of ``design_id`` that ``actor`` may read, to
    apply to the design (a replay of the calibrated variant); :class:`CasipInputError`
    naming ``field`` otherwise."""
    row = access.load(session, Calibration, calibration_id)
    if row is None or row.design_id != design_id or not can_read(session, actor, row):
        raise CasipInputError(
            Problem(field, f"no calibration of design {design_id} with this id that you can "
                    "read", calibration_id, "the id of a finished calibration of this design")
        )
    if row.status not in ("done", "ill_posed") or not (row.result or {}).get("record"):
        raise CasipInputError(
            Problem(field, f"calibration {row.id} is {row.status}: it has no calibrated "
                    "parameters", calibration_id, "a calibration that finished")
        )
    return dict(row.result["record"])


def calibrated_setup(ctx: JobContext, setup: Any, design_id: int, calibration_id: Any) -> Any:
    """In a job: ``setup`` (the design's) with the calibration's record applied
    (:func:`casip.physics.calibration.apply_calibration`), re-checked for the job's actor."""
    import warnings

    from casip.physics.calibration import apply_calibration

    with ctx.db.session() as s:
        record = usable_record(s, runs._job_actor(s, ctx), design_id, calibration_id)
    with warnings.catch_warnings():
        # the record names the setup it was fitted on; the design may have been renamed
        warnings.simplefilter("ignore", UserWarning)
        return apply_calibration(setup, record)


# --------------------------------------------------------------------------- answers


def _job_state(session: Session, row: Calibration) -> tuple[str, str | None]:
    """The row's status, reconciled with its job: a job that was cancelled before it started
    or that failed outside the fit (a server restart) leaves the row behind."""
    status, error = row.status, row.error
    if status in ("queued", "running") and row.job_id is not None:
        job = session.get(Job, row.job_id)
        if job is not None and job.status == JobStatus.CANCELLED:
            status = "cancelled"
        elif job is not None and job.status == JobStatus.FAILED:
            status, error = "failed", job.error
    return status, error


def full(session: Session, row: Calibration) -> dict:
    """One calibration as the API gives it."""
    status, error = _job_state(session, row)
    r = dict(row.result or {})
    rec = r.get("record") or {}
    return {
        "calibration_id": row.id,
        "design_id": row.design_id,
        "name": row.name,
        "status": status,
        "visibility": row.visibility,
        "owner_org_id": row.owner_org_id,
        "job_id": row.job_id,
        "created_at": row.created_at.isoformat() + "Z",
        "started_at": row.started_at.isoformat() + "Z" if row.started_at else None,
        "finished_at": row.finished_at.isoformat() + "Z" if row.finished_at else None,
        "fit": row.fit_cases,
        "held_back": row.held_back_cases,
        "parameters": row.fit_parameters,
        "options": row.options,
        "progress": {"fraction": row.progress, "evaluations": row.evaluations,
                     "stage": row.stage},
        "error": {"message": error, "field": row.error_field} if error else None,
        "ill_posed": r.get("ill_posed") or [],
        "warnings": r.get("warnings") or [],
        "stages": rec.get("stages") or [],
        "fit_errors": rec.get("fit_errors") or [],
        "prediction_errors": rec.get("prediction_errors") or [],
        "scale_choices": r.get("scale_choices") or {},
        "seconds": r.get("seconds"),
        "evaluations": r.get("evaluations", row.evaluations),
        "record_available": bool(rec),
        "bpx_available": row.bpx is not None,
        "bpx_reason": row.bpx_reason,
        "links": {
            "calibration": f"/api/calibrations/{row.id}",
            "record": f"/api/calibrations/{row.id}/record.json",
            "bpx": f"/api/calibrations/{row.id}/bpx",
            "design": f"/api/designs/{row.design_id}",
            "job": f"/api/jobs/{row.job_id}" if row.job_id else None,
        },
    }


def for_design(session: Session, actor: Actor, design_id: int, limit: int = 20) -> list[dict]:
    """The newest calibrations of a design that ``actor`` may read (the design must be
    readable: 404 otherwise)."""
    design = access.get_for_read(session, actor, "design", design_id)
    rows = session.execute(
        sa.select(Calibration)
        .where(Calibration.design_id == design.id, read_clause(actor))
        .order_by(Calibration.id.desc())
        .limit(limit)
    ).scalars()
    return [full(session, r) for r in rows]


def fittable() -> dict:
    """What may be fitted and this server's limits (for forms and clients)."""
    from casip.physics.calibration import DEFAULT_KINETICS_TRANSPORT, FITTABLE

    return {
        "parameters": [
            {"key": f.key, "pybamm_name": f.pybamm_name, "kind": f.kind,
             "bounds": list(f.bounds), "log": f.log, "description": f.description,
             "default": f.key in DEFAULT_KINETICS_TRANSPORT}
            for f in FITTABLE.values()
        ],
        "stages": list(STAGES),
        "models": list(MODELS),
        "thermals": list(THERMALS),
        "optimisers": list(OPTIMISERS),
        "max_evaluations": {"min": MIN_EVALUATIONS, "max": MAX_EVALUATIONS,
                            "default": DEFAULT_MAX_EVALUATIONS},
        "max_fit_cases": MAX_FIT_CASES,
        "max_held_back_cases": MAX_HELD_BACK_CASES,
        "max_window_h": MAX_WINDOW_H,
        "max_rows": MAX_ROWS,
    }


__all__ = [
    "MAX_EVALUATIONS",
    "calibrated_setup",
    "check_case",
    "check_params",
    "fittable",
    "for_design",
    "full",
    "get_for_read",
    "ill_posed_reasons",
    "max_visibility",
    "read_clause",
    "run_calibration",
    "set_visibility",
    "submit",
    "usable_record",
]
