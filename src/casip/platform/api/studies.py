"""Design-space studies run as platform jobs (rules in :mod:`casip.platform.studies`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from casip.platform import access, runs, studies
from casip.platform.deps import CommitRoute, CurrentActor, DbSession
from casip.platform.jobs import job_dict
from casip.platform.models import Job
from casip.platform.pagination import PageParams, page_params, paginate

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["studies"])


class StudyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    study: dict[str, Any] = Field(description="a casip.study/1 document (see docs/exploration.md)")
    executor: str = Field("inprocess", max_length=32, description="inprocess, processes or dask")


@router.post("/studies", status_code=202, summary="Run a design-space study in the background")
def submit_study(body: StudyIn, request: Request, actor: CurrentActor, s: DbSession) -> dict:
    access.require_create(actor)
    params = studies.prepare(s, actor, body.study, body.executor)
    job = runs.new_job(s, actor.org_id, actor.user_id, "study", params)
    s.commit()  # the worker thread must see the row
    request.app.state.platform.jobs.submit(job.id)
    return {"job": job_dict(job)}


@router.get("/studies", summary="Your organisation's studies (jobs of kind study)")
def list_studies(
    actor: CurrentActor, s: DbSession, page: PageParams = Depends(page_params)
) -> dict:
    stmt = access.jobs_readable(actor).where(Job.kind == "study").order_by(Job.id.desc())
    return paginate(s, stmt, page, job_dict)


@router.get("/studies/{job_id}", summary="A study: its job and, when done, its Pareto front")
def get_study(job_id: int, request: Request, actor: CurrentActor, s: DbSession) -> dict:
    job = access.get_job(s, actor, job_id)
    if job.kind != "study":
        raise access.NotFound("study", job_id)
    store = request.app.state.platform.settings.store_dir
    return {"job": job_dict(job), "result": studies.load_summary(store, job.id)}
