"""Background jobs and their results: simulations (PyBaMM) and lifetime projections.

Submitting answers 202 with the queued job; poll ``GET /api/jobs/{id}`` until its status is
``done`` (then ``result_kind``/``result_id`` name the stored result), ``failed`` (``error``
says why) or ``cancelled``. Jobs are private to the organisation that started them; results
are private until shared with ``PATCH .../visibility``, never wider than their design (422
naming ``visibility`` otherwise), and readable only while their design is (see
:func:`casip.platform.access.read_clause`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from casip.platform import access, runs
from casip.platform.deps import CommitRoute, CurrentActor, DbSession
from casip.platform.jobs import job_dict
from casip.platform.models import Job, JobStatus, LifetimeResult, Simulation, utcnow
from casip.platform.pagination import PageParams, page_params, paginate
from casip.platform.problems import ApiProblem

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["jobs"])

VisibilityName = Literal["private", "consortium", "public"]


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=32, description="fast_charge or rate_capability")
    c_rate: float | None = Field(
        None, description=f"fast_charge: CC rate [C], default {runs.DEFAULT_CHARGE_C_RATE:g}"
    )
    c_rates: list[Any] | None = Field(
        None,
        description="rate_capability: discharge C-rates, default "
        + str(list(runs.DEFAULT_RATE_C_RATES)),
    )


class LifetimeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duty: str = Field(
        runs.DEFAULT_DUTY,
        max_length=64,
        description="duty preset: " + ", ".join(sorted(runs.PRESETS)),
    )
    years: float | None = Field(
        None, description=f"horizon [year], {runs.MIN_YEARS:g}-{runs.MAX_YEARS:g}; preset's default"
    )


class VisibilityIn(BaseModel):
    visibility: VisibilityName
    benchmark_opt_in: bool | None = None


def _submit(request: Request, s, actor, kind: str, params: dict) -> dict:
    job = runs.new_job(s, actor.org_id, actor.user_id, kind, params)
    s.commit()  # the worker thread must see the row
    request.app.state.platform.jobs.submit(job.id)
    return {"job": job_dict(job)}


# --------------------------------------------------------------------------- submit


@router.post(
    "/designs/{design_id}/simulations",
    status_code=202,
    summary="Run a fast-charge or rate-capability simulation of a design (background job)",
)
def submit_simulation(
    design_id: int, body: SimulationIn, request: Request, actor: CurrentActor, s: DbSession
) -> dict:
    access.require_create(actor)
    design = access.get_for_read(s, actor, "design", design_id)
    params = runs.simulation_params(design.id, body.kind, body.c_rate, body.c_rates)
    return _submit(request, s, actor, body.kind, params)


@router.post(
    "/designs/{design_id}/lifetimes",
    status_code=202,
    summary="Project a design's capacity fade under a duty preset (background job)",
)
def submit_lifetime(
    design_id: int, body: LifetimeIn, request: Request, actor: CurrentActor, s: DbSession
) -> dict:
    access.require_create(actor)
    design = access.get_for_read(s, actor, "design", design_id)
    params = runs.lifetime_params(design.id, body.duty, body.years)
    return _submit(request, s, actor, "lifetime", params)


# --------------------------------------------------------------------------- jobs


@router.get(
    "/jobs",
    summary="Your organisation's jobs, newest first",
    description="Each job naming a design carries `design_name`: the design's name if you may "
    "read the design, else null.",
)
def list_jobs(
    actor: CurrentActor,
    s: DbSession,
    status: JobStatus | None = Query(None),
    kind: str | None = Query(None, max_length=32),
    page: PageParams = Depends(page_params),
) -> dict:
    stmt = access.jobs_readable(actor)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    out = paginate(s, stmt.order_by(Job.id.desc()), page, job_dict)
    runs.add_design_names(s, actor, out["items"])  # only of designs the caller may read
    return out


@router.get("/jobs/{job_id}", summary="One job: status, progress, error, result")
def get_job(job_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return runs.add_design_names(s, actor, [job_dict(access.get_job(s, actor, job_id))])[0]


@router.post("/jobs/{job_id}/cancel", summary="Cancel a queued or running job")
def cancel_job(job_id: int, actor: CurrentActor, s: DbSession) -> dict:
    job = access.get_job(s, actor, job_id)
    access.require_create(actor)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise ApiProblem(409, f"job {job_id} has already finished ({job.status})")
    if job.status == JobStatus.QUEUED:
        job.finished_at = utcnow()
    job.status = JobStatus.CANCELLED
    job.message = f"cancelled by {actor.email or actor.user_id}"[:500]
    s.flush()
    return job_dict(job)


# --------------------------------------------------------------------------- simulations


@router.get("/simulations", summary="Simulations you may read, newest first")
def list_simulations(
    actor: CurrentActor,
    s: DbSession,
    design_id: int | None = Query(None),
    kind: str | None = Query(None, max_length=32),
    page: PageParams = Depends(page_params),
) -> dict:
    stmt = access.readable(actor, "simulation")
    if design_id is not None:
        stmt = stmt.where(Simulation.design_id == design_id)
    if kind:
        stmt = stmt.where(Simulation.kind == kind)
    return paginate(s, stmt.order_by(Simulation.id.desc()), page, runs.simulation_summary)


@router.get("/simulations/{simulation_id}", summary="One simulation with its result")
def get_simulation(simulation_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return runs.simulation_full(access.get_for_read(s, actor, "simulation", simulation_id))


@router.patch(
    "/simulations/{simulation_id}/visibility", summary="Share or unshare a simulation (audited)"
)
def simulation_visibility(
    simulation_id: int, body: VisibilityIn, actor: CurrentActor, s: DbSession
) -> dict:
    row = access.set_visibility(
        s, actor, "simulation", simulation_id, body.visibility, body.benchmark_opt_in
    )
    return runs.simulation_summary(row)


@router.delete("/simulations/{simulation_id}", summary="Delete a simulation")
def delete_simulation(simulation_id: int, actor: CurrentActor, s: DbSession) -> dict:
    s.delete(access.get_for_write(s, actor, "simulation", simulation_id))
    return {"deleted": simulation_id}


# --------------------------------------------------------------------------- lifetimes


@router.get("/lifetimes", summary="Lifetime results you may read, newest first")
def list_lifetimes(
    actor: CurrentActor,
    s: DbSession,
    design_id: int | None = Query(None),
    page: PageParams = Depends(page_params),
) -> dict:
    stmt = access.readable(actor, "lifetime")
    if design_id is not None:
        stmt = stmt.where(LifetimeResult.design_id == design_id)
    return paginate(s, stmt.order_by(LifetimeResult.id.desc()), page, runs.lifetime_summary)


@router.get("/lifetimes/{lifetime_id}", summary="One lifetime result with its capacity series")
def get_lifetime(lifetime_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return runs.lifetime_full(access.get_for_read(s, actor, "lifetime", lifetime_id))


@router.patch(
    "/lifetimes/{lifetime_id}/visibility", summary="Share or unshare a lifetime result (audited)"
)
def lifetime_visibility(
    lifetime_id: int, body: VisibilityIn, actor: CurrentActor, s: DbSession
) -> dict:
    row = access.set_visibility(
        s, actor, "lifetime", lifetime_id, body.visibility, body.benchmark_opt_in
    )
    return runs.lifetime_summary(row)


@router.delete("/lifetimes/{lifetime_id}", summary="Delete a lifetime result")
def delete_lifetime(lifetime_id: int, actor: CurrentActor, s: DbSession) -> dict:
    s.delete(access.get_for_write(s, actor, "lifetime", lifetime_id))
    return {"deleted": lifetime_id}


@router.get("/duties", summary="Duty presets for lifetime projections")
def duties(actor: CurrentActor) -> dict:
    return {
        "default": runs.DEFAULT_DUTY,
        "presets": {k: v.model_dump(mode="json") for k, v in sorted(runs.PRESETS.items())},
    }
