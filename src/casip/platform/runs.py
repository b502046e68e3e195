"""Simulation and lifetime jobs: PyBaMM fast charge and rate capability, ageing projections.

Three job kinds are registered with :func:`casip.platform.jobs.register`:

``fast_charge``
    CC-CV charge of a design from 10 % to 80 % SOC (:func:`casip.physics.fast_charge`); stores
    a :class:`~casip.platform.models.Simulation` whose ``charge_time_min`` is the 10-80 % time
    (the benchmarking KPI) and whose result holds the binding limit and a downsampled history.
``rate_capability``
    Constant-current discharges at several C-rates (:func:`casip.physics.rate_capability`);
    stores a Simulation with the rate table.
``lifetime``
    Capacity fade under a duty preset (:func:`casip.life.design_life.project_design`); stores a
    :class:`~casip.platform.models.LifetimeResult` with the years and equivalent full cycles to
    80 % capacity (``None`` when not reached within the horizon).

The API checks that the submitting user may read the design; every job loads the design
again when it starts (it may have been deleted or unshared since) and fails with a clear
message if it is gone. Results are private to the organisation that ran the job until shared.
Every stored result is plain JSON: NaN and infinities become ``None``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.life.duty import PRESETS
from casip.platform import access
from casip.platform.access import Actor
from casip.platform.db import Database
from casip.platform.jobs import (
    JobContext,
    JobQueue,
    finished_message,
    register,
)
from casip.platform.models import (
    Design,
    Job,
    JobStatus,
    LifetimeResult,
    Organisation,
    OrgKind,
    Role,
    Simulation,
    User,
    Visibility,
)
from casip.platform.problems import ApiProblem

#: simulation kinds (the ``kind`` of a Simulation row and of its job)
SIMULATION_KINDS = ("fast_charge", "rate_capability")
#: every job kind of this module
JOB_KINDS = (*SIMULATION_KINDS, "lifetime", "study", "replay", "calibration",  # + calibrations.py
             "campaign_propose", "campaign_early")  # casip.platform.campaigns
#: charge protocols offered by the platform
PROTOCOLS = ("cccv",)
DEFAULT_CHARGE_C_RATE = 3.0
DEFAULT_RATE_C_RATES = (0.2, 0.5, 1.0, 2.0, 3.0)
#: highest C-rate accepted [1/h] (the physics' search range ends there too)
MAX_C_RATE = 10.0
MAX_C_RATES = 10
CHARGE_SOC_START, CHARGE_SOC_END = 0.1, 0.8
#: duty preset used for the demo consortium's lifetime results (a daily-commute EV)
DEFAULT_DUTY = "ev_daily"
MIN_YEARS, MAX_YEARS = 0.5, 30.0
MAX_HISTORY_POINTS = 300
MAX_SERIES_POINTS = 200
HISTORY_COLUMNS = (
    "time_min", "soc", "voltage_V", "current_A", "anode_potential_V", "temperature_C"
)
SERIES_COLUMNS = ("t_years", "efc", "capacity_rel", "resistance_rel")
#: jobs an organisation may have queued or running at once
MAX_ACTIVE_JOBS_PER_ORG = 20


# --------------------------------------------------------------------------- helpers


def json_safe(x: Any) -> Any:
    """``x`` as plain JSON: numpy scalars become Python numbers, NaN and infinities ``None``."""
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, Mapping):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple | np.ndarray):
        return [json_safe(v) for v in x]
    if x is None or isinstance(x, str):
        return x
    return str(x)


def downsample(frame: pd.DataFrame, columns: Sequence[str], max_points: int) -> dict[str, list]:
    """Columns of ``frame`` at up to ``max_points`` evenly spaced rows (first and last kept).

    Returns a dict of column -> list (NaN as ``None``); missing columns are left out."""
    n = len(frame)
    if n > max_points:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
        frame = frame.iloc[idx]
    return {c: json_safe(frame[c].to_numpy(dtype=float)) for c in columns if c in frame.columns}


def check_c_rate(value: object, field: str = "c_rate") -> float:
    """A C-rate in (0, :data:`MAX_C_RATE`] or :class:`CasipInputError` naming ``field``."""
    try:
        c = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        c = math.nan
    if not (math.isfinite(c) and 0 < c <= MAX_C_RATE):
        raise CasipInputError(
            Problem(field, "C-rate out of range", value, f"a number in (0, {MAX_C_RATE:g}]")
        )
    return c


def check_c_rates(values: object) -> list[float]:
    """1 to :data:`MAX_C_RATES` distinct C-rates, sorted (field ``c_rates``)."""
    if not isinstance(values, list | tuple) or not 1 <= len(values) <= MAX_C_RATES:
        raise CasipInputError(
            Problem(
                "c_rates",
                "expected a list of C-rates",
                values,
                f"1 to {MAX_C_RATES} numbers in (0, {MAX_C_RATE:g}], e.g. [0.2, 0.5, 1, 2, 3]",
            )
        )
    return sorted({check_c_rate(v, f"c_rates.{i}") for i, v in enumerate(values)})


def check_duty(name: object) -> str:
    """A duty preset name (field ``duty``)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise CasipInputError(
            Problem("duty", "unknown duty preset", name, "one of " + ", ".join(sorted(PRESETS)))
        )
    return name


def check_years(years: object) -> float | None:
    """An optional projection horizon [year] in [:data:`MIN_YEARS`, :data:`MAX_YEARS`]."""
    if years is None:
        return None
    try:
        y = float(years)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        y = math.nan
    if not (math.isfinite(y) and MIN_YEARS <= y <= MAX_YEARS):
        raise CasipInputError(
            Problem("years", "horizon out of range", years, f"{MIN_YEARS:g} to {MAX_YEARS:g} years")
        )
    return y


def simulation_params(
    design_id: int,
    kind: str,
    c_rate: float | None = None,
    c_rates: Sequence[float] | None = None,
) -> dict:
    """Checked job parameters of a simulation (``CasipInputError`` naming the bad field)."""
    if kind not in SIMULATION_KINDS:
        raise CasipInputError(
            Problem(
                "kind", "unknown simulation kind", kind, "one of " + ", ".join(SIMULATION_KINDS)
            )
        )
    if kind == "fast_charge":
        if c_rates is not None:
            raise CasipInputError(
                Problem("c_rates", "only for kind rate_capability", c_rates, "c_rate (one number)")
            )
        c = DEFAULT_CHARGE_C_RATE if c_rate is None else check_c_rate(c_rate)
        return {"design_id": design_id, "c_rate": c, "protocol": "cccv"}
    if c_rate is not None:
        raise CasipInputError(
            Problem("c_rate", "only for kind fast_charge", c_rate, "c_rates (a list)")
        )
    rates = list(DEFAULT_RATE_C_RATES) if c_rates is None else check_c_rates(list(c_rates))
    return {"design_id": design_id, "c_rates": rates}


def lifetime_params(design_id: int, duty: str, years: float | None = None) -> dict:
    """Checked job parameters of a lifetime projection."""
    return {"design_id": design_id, "duty": check_duty(duty), "years": check_years(years)}


def new_job(session: Session, org_id: int, user_id: int | None, kind: str, params: dict) -> Job:
    """Add a queued job row (flushed, not committed). Commit before submitting it."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    active = session.execute(
        sa.select(sa.func.count())
        .select_from(Job)
        .where(Job.owner_org_id == org_id, Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
    ).scalar_one()
    if active >= MAX_ACTIVE_JOBS_PER_ORG:
        raise ApiProblem(
            429,
            f"your organisation has {active} jobs queued or running (at most "
            f"{MAX_ACTIVE_JOBS_PER_ORG}); wait for some to finish or cancel them",
        )
    job = Job(
        owner_org_id=org_id,
        created_by_id=user_id,
        kind=kind,
        params=json_safe(params),
        status=JobStatus.QUEUED,
        progress=0.0,
        message="queued",
    )
    session.add(job)
    session.flush()
    return job


# --------------------------------------------------------------------------- jobs


def _job_actor(s: Session, ctx: JobContext) -> Actor:
    """Who the job acts for: its creator (or, without one, its organisation as an engineer)."""
    user = s.get(User, ctx.created_by_id) if ctx.created_by_id is not None else None
    if user is not None:
        return Actor.of(user)
    org = s.get(Organisation, ctx.owner_org_id)
    return Actor(0, ctx.owner_org_id, org.kind if org else OrgKind.MEMBER, Role.ENGINEER)


def _load_design(ctx: JobContext) -> tuple[int, str, dict, str, bool, int]:
    """(id, name, document, visibility, benchmark_opt_in, owner_org_id) of the job's design,
    if it still exists and the job's organisation may still read it."""
    design_id = ctx.params.get("design_id")
    with ctx.db.session() as s:
        row = s.get(Design, design_id) if isinstance(design_id, int) else None
        if row is None or not access.can_read(_job_actor(s, ctx), row):
            raise ValueError(
                f"design {design_id} no longer exists (or is no longer shared with your "
                "organisation): it was deleted or unshared after the job was submitted"
            )
        return (
            row.id,
            row.name,
            dict(row.document),
            row.visibility,
            row.benchmark_opt_in,
            row.owner_org_id,
        )


def _validated(document: dict, design_id: int):
    from casip.design.schema import validate_design

    return validate_design(document, source=f"design {design_id}")


def _store(ctx: JobContext, row: Simulation | LifetimeResult, kind: str) -> int:
    """Insert the result row and mark the job done with it, in one transaction fenced by the
    job's attempt (:meth:`JobContext.fenced`): nothing is stored when the job was cancelled or
    taken over by another attempt meanwhile. Return the row's id.

    The row is never more visible than its design is now (the design may have been unshared
    while the job ran): a wider inherited visibility is narrowed to the design's."""
    with ctx.fenced() as s:
        design = s.get(Design, row.design_id)
        if design is not None:
            allowed = access.max_derived_visibility(design)
            order = access.VISIBILITY_ORDER
            if order.index(row.visibility) > order.index(allowed):
                row.visibility = allowed
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ValueError(
                f"design {row.design_id} was deleted while the job ran; nothing was stored"
            ) from None
        ctx.complete(s, kind, row.id)
        return row.id


def _ownership(ctx: JobContext, visibility: str, opt_in: bool, owner: int) -> dict:
    """Owner, creator and sharing of a job's result row: private, unless the job asks to
    inherit its own organisation's design's sharing."""
    if not (ctx.params.get("inherit_visibility") and owner == ctx.owner_org_id):
        visibility, opt_in = Visibility.PRIVATE, False
    return {
        "owner_org_id": ctx.owner_org_id,
        "created_by_id": ctx.created_by_id,
        "visibility": visibility,
        "benchmark_opt_in": opt_in,
    }


def charge_result(result) -> dict:
    """The stored result of a :class:`casip.physics.ChargeResult` (JSON, downsampled)."""
    d = result.to_dict(history=False)
    keep = (
        "protocol",
        "c_rate",
        "time_min",
        "binding_limit",
        "limits_crossed",
        "min_anode_potential_V",
        "max_current_density_mA_cm2",
        "critical_current_density_mA_cm2",
        "ccd_source",
        "max_temperature_C",
        "cv_start_min",
        "soc_start",
        "soc_end",
        "capacity_Ah",
        "area_cm2",
        "limits",
        "notes",
    )
    out = {k: d.get(k) for k in keep}
    out["history"] = downsample(result.history, HISTORY_COLUMNS, MAX_HISTORY_POINTS)
    return json_safe(out)


def charge_done_message(stored: Mapping) -> str:
    """What a finished fast-charge job says, e.g. ``done: 10-80 % in 23.4 min (plating)``.

    Parameters
    ----------
    stored : Mapping
        The stored result (:func:`charge_result`): ``time_min``, ``soc_start``, ``soc_end``,
        ``binding_limit``.
    """
    start, end = stored.get("soc_start"), stored.get("soc_end")
    start = CHARGE_SOC_START if start is None else start
    end = CHARGE_SOC_END if end is None else end
    window = f"{100 * start:.0f}-{100 * end:.0f} %"
    minutes = stored.get("time_min")
    limit = stored.get("binding_limit")
    suffix = f" (limited by {limit})" if limit and limit != "none" else ""
    if minutes is None:
        return f"done: {window} not reached{suffix}"
    return f"done: {window} in {minutes:.1f} min{suffix}"


def lifetime_done_message(columns: Mapping, result: Mapping, duty_name: str) -> str:
    """What a finished lifetime job says, e.g. ``done: 80 % after 9.2 years (2,100 cycles)
    under ev_daily``, or that 80 % is not reached within the horizon."""
    years, cycles = columns.get("years_to_80"), columns.get("cycles_to_80")
    if years is None and result.get("failed"):
        return f"done: the cell fails under {duty_name}: {result.get('failure') or 'see result'}"
    if years is None:
        horizon = result.get("horizon_years")
        within = f" within {horizon:g} years" if isinstance(horizon, int | float) else ""
        return f"done: capacity stays above 80 %{within} under {duty_name}"
    cyc = f" ({cycles:,.0f} cycles)" if cycles is not None else ""
    return f"done: 80 % capacity after {years:.1f} years{cyc} under {duty_name}"


@register("fast_charge")
def run_fast_charge(ctx: JobContext) -> tuple[str, int]:
    """Job: CC-CV charge 10-80 % of a design; stores a ``fast_charge`` Simulation."""
    ctx.progress(0.02, "loading the design")
    design_id, name, document, vis, opt_in, owner = _load_design(ctx)
    design = _validated(document, design_id)
    c_rate = check_c_rate(ctx.params.get("c_rate", DEFAULT_CHARGE_C_RATE))
    protocol = ctx.params.get("protocol", "cccv")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    ctx.progress(0.1, f"simulating a {c_rate:g}C CC-CV charge (PyBaMM DFN)")
    from casip.physics import fast_charge

    t0 = time.perf_counter()
    result = fast_charge(
        design, c_rate, protocol=protocol, soc_start=CHARGE_SOC_START, soc_end=CHARGE_SOC_END
    )
    stored = charge_result(result)
    stored["solve_s"] = round(time.perf_counter() - t0, 3)
    ctx.progress(0.95, "storing the result")
    row = Simulation(
        **_ownership(ctx, vis, opt_in, owner),
        design_id=design_id,
        name=f"{name[:150]} — fast charge {c_rate:g}C",
        kind="fast_charge",
        parameters=json_safe(
            {
                "c_rate": c_rate,
                "protocol": protocol,
                "soc_start": CHARGE_SOC_START,
                "soc_end": CHARGE_SOC_END,
            }
        ),
        result=stored,
        charge_time_min=stored["time_min"],
        job_id=ctx.job_id,
    )
    ctx.done_message = charge_done_message(stored)
    return "simulation", _store(ctx, row, "simulation")


@register("rate_capability")
def run_rate_capability(ctx: JobContext) -> tuple[str, int]:
    """Job: constant-current discharges at several C-rates; stores a ``rate_capability``
    Simulation (the rate table and downsampled discharge curves)."""
    ctx.progress(0.02, "loading the design")
    design_id, name, document, vis, opt_in, owner = _load_design(ctx)
    design = _validated(document, design_id)
    rates = check_c_rates(ctx.params.get("c_rates", list(DEFAULT_RATE_C_RATES)))
    ctx.progress(0.1, f"simulating discharges at {', '.join(f'{c:g}C' for c in rates)}")
    from casip.physics import rate_capability

    t0 = time.perf_counter()
    rr = rate_capability(design, rates, num_threads=1)
    d = rr.to_dict()
    curves = {}
    for key, curve in d.get("curves", {}).items():
        frame = pd.DataFrame(curve, dtype=float)
        curves[key] = downsample(frame, ("capacity_Ah", "voltage_V"), MAX_SERIES_POINTS)
    stored = json_safe(
        {
            "table": d["table"],
            "curves": curves,
            "capacity_Ah": d.get("capacity_Ah"),
            "lower_cutoff_V": d.get("lower_cutoff_V"),
            "base_set": d.get("base_set"),
            "approximation": d.get("approximation"),
            "notes": d.get("notes", []),
            "solve_s": round(time.perf_counter() - t0, 3),
        }
    )
    ctx.progress(0.95, "storing the result")
    row = Simulation(
        **_ownership(ctx, vis, opt_in, owner),
        design_id=design_id,
        name=f"{name[:150]} — rate capability",
        kind="rate_capability",
        parameters={"c_rates": rates},
        result=stored,
        charge_time_min=None,
        job_id=ctx.job_id,
    )
    ctx.done_message = f"done: discharges at {', '.join(f'{c:g}C' for c in rates)}"
    return "simulation", _store(ctx, row, "simulation")


def lifetime_projection(
    document: Mapping, duty_name: str, years: float | None = None, cache: dict | None = None
) -> tuple[dict, dict]:
    """Project a design under a duty preset.

    Returns
    -------
    (columns, result)
        ``columns``: model, years_to_80 [year], cycles_to_80 [equivalent full cycles] (``None``
        if 80 % is not reached within the horizon), duty (dict); ``result``: the stored JSON
        (capacity-vs-time series of up to :data:`MAX_SERIES_POINTS` points, model, mapping,
        warnings, and for solid-state models any failure such as a CCD exceeded).

    Notes
    -----
    With a ``cache`` dict, projections by BLAST-Lite models are reused: they depend on the
    model and the duty only (the design picks the model, with no design-specific arguments),
    so many demo designs of one chemistry cost one run. Solid-state projections depend on
    the design (areal capacity, stack pressure) and are never cached.
    """
    import copy

    from casip.design.schema import validate_design
    from casip.life.design_life import choose_model
    from casip.life.duty import preset

    duty = preset(check_duty(duty_name))
    key = None
    if cache is not None:
        model, mapping, kwargs = choose_model(validate_design(dict(document), source="design"))
        if not model.startswith("solid-state:") and not kwargs:
            key = (model, mapping, duty_name, years)
            if key in cache:
                return copy.deepcopy(cache[key])
    out = _project(document, duty, duty_name, years)
    if key is not None:
        cache[key] = copy.deepcopy(out)
    return out


def _project(document: Mapping, duty, duty_name: str, years: float | None) -> tuple[dict, dict]:
    from casip.life.design_life import project_design

    frame = project_design(dict(document), duty, years=years, warn=False)
    a = frame.attrs
    warnings = list(a.get("warnings") or [])
    if a.get("failed") and a.get("failure"):
        warnings.append(str(a["failure"]))
    result = {
        "model": a.get("model"),
        "label": a.get("label"),
        "mapping": a.get("mapping"),
        "warnings": warnings,
        "failed": bool(a.get("failed", False)),
        "failure": a.get("failure"),
        "validity": a.get("validity"),
        "capacity_end": a.get("capacity_end"),
        "years_to_80": a.get("years_to_80pct"),
        "cycles_to_80": a.get("efc_to_80pct"),
        "horizon_years": years if years is not None else duty.years,
        "series": downsample(frame, SERIES_COLUMNS, MAX_SERIES_POINTS),
    }
    for k in ("electrolyte", "j_charge_mA_cm2", "ccd_mA_cm2", "ccd_source"):
        if k in a:
            result[k] = a[k]
    result = json_safe(result)
    columns = {
        "model": (result["model"] or "")[:64] or None,
        "years_to_80": result["years_to_80"],
        "cycles_to_80": result["cycles_to_80"],
        "duty": json_safe({"preset": duty_name, **duty.model_dump(mode="json")}),
    }
    if years is not None:
        columns["duty"]["years"] = years
    return columns, result


@register("lifetime")
def run_lifetime(ctx: JobContext) -> tuple[str, int]:
    """Job: capacity fade of a design under a duty preset; stores a LifetimeResult."""
    ctx.progress(0.02, "loading the design")
    design_id, name, document, vis, opt_in, owner = _load_design(ctx)
    _validated(document, design_id)
    duty_name = check_duty(ctx.params.get("duty", DEFAULT_DUTY))
    years = check_years(ctx.params.get("years"))
    ctx.progress(0.1, f"projecting capacity fade under {duty_name}")
    columns, result = lifetime_projection(document, duty_name, years)
    ctx.progress(0.95, "storing the result")
    row = LifetimeResult(
        **_ownership(ctx, vis, opt_in, owner),
        design_id=design_id,
        name=f"{name[:150]} — {duty_name}",
        job_id=ctx.job_id,
        result=result,
        **columns,
    )
    ctx.done_message = lifetime_done_message(columns, result, duty_name)
    return "lifetime", _store(ctx, row, "lifetime")


# --------------------------------------------------------------------------- demo content


def _demo_orgs(s: Session) -> list[Organisation]:
    return list(
        s.execute(
            sa.select(Organisation)
            .where(
                Organisation.is_demo.is_(True),
                Organisation.kind.in_((OrgKind.MEMBER, OrgKind.INSTITUTE)),
            )
            .order_by(Organisation.id)
        ).scalars()
    )


def _shared(model) -> sa.ColumnElement[bool]:
    return sa.or_(
        model.visibility.in_((Visibility.CONSORTIUM, Visibility.PUBLIC)),
        model.benchmark_opt_in.is_(True),
    )


def seed_demo_results(db: Database, duty: str = DEFAULT_DUTY, per_org: int | None = None) -> int:
    """Lifetime results for the demo consortium's shared (or benchmark-opted-in) designs.

    Runs synchronously; each result has its design's owner, creator, visibility and
    benchmark opt-in, so the benchmark has cycle-life data from every demo member and
    institute. Designs that already have a lifetime result, and designs no ageing model
    covers, are skipped.

    Parameters
    ----------
    db : Database
        The platform database (seeded with the demo consortium).
    duty : str
        Duty preset (:data:`casip.life.duty.PRESETS`); the daily-commute EV by default.
    per_org : int, optional
        At most this many designs per organisation (all by default).

    Returns
    -------
    int
        Lifetime results created.
    """
    check_duty(duty)
    made = 0
    cache: dict = {}
    with db.session() as s:
        done = set(s.execute(sa.select(LifetimeResult.design_id)).scalars())
        for org in _demo_orgs(s):
            rows = s.execute(
                sa.select(Design)
                .where(Design.owner_org_id == org.id, _shared(Design))
                .order_by(Design.id)
            ).scalars()
            n = 0
            for d in rows:
                if per_org is not None and n >= per_org:
                    break
                if d.id in done:
                    n += 1
                    continue
                try:
                    columns, result = lifetime_projection(d.document, duty, cache=cache)
                except CasipInputError:
                    continue
                s.add(
                    LifetimeResult(
                        owner_org_id=d.owner_org_id,
                        created_by_id=d.created_by_id,
                        visibility=d.visibility,
                        benchmark_opt_in=d.benchmark_opt_in,
                        design_id=d.id,
                        name=f"{d.name[:150]} — {duty}",
                        result=result,
                        created_at=d.created_at,
                        updated_at=d.created_at,
                        **columns,
                    )
                )
                n += 1
                made += 1
    return made


def queue_demo_charge_jobs(
    db: Database, runner: JobQueue, per_org: int = 2, c_rate: float = DEFAULT_CHARGE_C_RATE
) -> list[int]:
    """Queue ``fast_charge`` jobs for a few shared designs of each demo organisation.

    The simulations inherit their design's visibility and benchmark opt-in, so the charge-time
    KPI of the benchmark fills in the background after the first start. Designs that already
    have a fast-charge simulation or job are skipped. Returns the ids of the jobs queued."""
    ids: list[int] = []
    with db.session() as s:
        have = set(
            s.execute(
                sa.select(Simulation.design_id).where(Simulation.kind == "fast_charge")
            ).scalars()
        )
        for job in s.execute(sa.select(Job).where(Job.kind == "fast_charge")).scalars():
            if isinstance(job.params, dict) and "design_id" in job.params:
                have.add(job.params["design_id"])
        for org in _demo_orgs(s):
            rows = s.execute(
                sa.select(Design)
                .where(Design.owner_org_id == org.id, _shared(Design))
                .order_by(Design.id)
            ).scalars()
            n = 0
            for d in rows:
                if n >= per_org:
                    break
                if d.id in have:  # counts towards per_org: a second call adds nothing
                    n += 1
                    continue
                params = {
                    "design_id": d.id,
                    "c_rate": c_rate,
                    "protocol": "cccv",
                    "inherit_visibility": True,
                }
                ids.append(new_job(s, org.id, d.created_by_id, "fast_charge", params).id)
                n += 1
    for jid in ids:  # committed above: the workers see the rows
        runner.submit(jid)
    return ids


# --------------------------------------------------------------------------- views


#: results of each kind listed on a design's page (the newest; the rest on the Simulations page)
DESIGN_RESULTS_SHOWN = 50


def design_results(
    session: Session, actor: Actor, design_id: int, limit: int = DESIGN_RESULTS_SHOWN
) -> dict[str, Any]:
    """What a design's page lists of the results made from it, newest first.

    Only what ``actor`` may read: simulations and lifetime results through
    :func:`casip.platform.access.readable` (a result is readable only while its design is),
    studies through :func:`casip.platform.access.jobs_readable` (the organisation's own study
    jobs submitted with ``design:<id>``).

    Parameters
    ----------
    session : Session
        An open database session.
    actor : Actor
        Who is asking.
    design_id : int
        The design (the caller has checked that ``actor`` may read it).
    limit : int
        At most this many of each kind.

    Returns
    -------
    dict
        ``simulations``, ``lifetimes``, ``studies``: lists of dicts for the page (SI units
        with the unit in the key), and ``totals``: how many of each there are.
    """

    def rows_and_total(stmt: sa.Select, order) -> tuple[list, int]:
        total = session.execute(
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())
        ).scalar_one()
        return session.execute(stmt.order_by(order).limit(limit)).scalars().all(), total

    sims, n_sims = rows_and_total(
        access.readable(actor, "simulation").where(Simulation.design_id == design_id),
        Simulation.id.desc(),
    )
    lives, n_lives = rows_and_total(
        access.readable(actor, "lifetime").where(LifetimeResult.design_id == design_id),
        LifetimeResult.id.desc(),
    )
    studies, n_studies = rows_and_total(
        access.jobs_readable(actor).where(
            Job.kind == "study", Job.params["design_id"].as_integer() == design_id
        ),
        Job.id.desc(),
    )

    def when(row) -> str:
        return row.created_at.strftime("%Y-%m-%d %H:%M")

    return {
        "simulations": [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "c_rate": (r.parameters or {}).get("c_rate"),
                "charge_time_min": json_safe(r.charge_time_min),
                "own": r.owner_org_id == actor.org_id,
                "visibility": r.visibility,
                "created_at": when(r),
            }
            for r in sims
        ],
        "lifetimes": [
            {
                "id": r.id,
                "name": r.name,
                "duty": (r.duty or {}).get("preset"),
                "years_to_80": json_safe(r.years_to_80),
                "cycles_to_80": json_safe(r.cycles_to_80),
                "model": r.model,
                "own": r.owner_org_id == actor.org_id,
                "visibility": r.visibility,
                "created_at": when(r),
            }
            for r in lives
        ],
        "studies": [
            {
                "id": j.id,
                "name": ((j.params or {}).get("study") or {}).get("name") or f"study {j.id}",
                "status": j.status,
                "message": finished_message(j),
                "created_at": when(j),
            }
            for j in studies
        ],
        "totals": {"simulations": n_sims, "lifetimes": n_lives, "studies": n_studies},
    }


def add_design_names(session: Session, actor: Actor, jobs: list[dict]) -> list[dict]:
    """Add ``design_name`` to job dicts (:func:`casip.platform.jobs.job_dict`) whose
    ``params`` name a ``design_id``: the design's name where ``actor`` may read the design
    (:func:`casip.platform.access.readable`), ``None`` otherwise (deleted, or unshared since
    the job ran). Changes ``jobs`` in place and returns it."""
    ids = {
        j["params"]["design_id"]
        for j in jobs
        if isinstance(j.get("params"), dict) and isinstance(j["params"].get("design_id"), int)
    }
    names: dict[int, str] = {}
    if ids:
        stmt = (
            access.readable(actor, "design")
            .where(Design.id.in_(ids))
            .with_only_columns(Design.id, Design.name)
        )
        names = {row.id: row.name for row in session.execute(stmt)}
    for j in jobs:
        params = j.get("params")
        design_id = params.get("design_id") if isinstance(params, dict) else None
        if design_id is not None:
            j["design_name"] = names.get(design_id)
    return jobs


def _owned(row) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "design_id": row.design_id,
        "owner_org_id": row.owner_org_id,
        "created_by_id": row.created_by_id,
        "visibility": row.visibility,
        "benchmark_opt_in": row.benchmark_opt_in,
        "job_id": row.job_id,
        "created_at": row.created_at.isoformat(),
    }


def simulation_summary(row: Simulation) -> dict:
    return {
        **_owned(row),
        "kind": row.kind,
        "parameters": row.parameters,
        "charge_time_min": json_safe(row.charge_time_min),
    }


def simulation_full(row: Simulation) -> dict:
    return {**simulation_summary(row), "result": json_safe(row.result)}


def lifetime_summary(row: LifetimeResult) -> dict:
    return {
        **_owned(row),
        "duty": row.duty,
        "model": row.model,
        "years_to_80": json_safe(row.years_to_80),
        "cycles_to_80": json_safe(row.cycles_to_80),
    }


def lifetime_full(row: LifetimeResult) -> dict:
    return {**lifetime_summary(row), "result": json_safe(row.result)}
