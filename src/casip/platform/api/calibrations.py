"""Calibrations of designs to their attached tests (see :mod:`casip.platform.calibrations`).

``POST /api/designs/{design_id}/calibrations`` with e.g.
``{"fit": [{"test_id": 7, "window_s": [9486, 12000], "tested_capacity_ah": 30.6,
"temperature_c": 25}], "held_back": [...], "parameters": ["contact_resistance"],
"stages": ["kinetics_transport"], "max_evaluations": 40}`` answers 202 with the calibration's id
and its queued ``calibration`` job. ``GET /api/calibrations/{id}`` gives its progress while it
runs (``progress``: stage, evaluations, fraction) and then its result (fitted parameters with
identifiability, fit and prediction error tables, warnings), or why it failed;
``GET /api/designs/{design_id}/calibrations`` lists a design's; ``.../record.json`` and
``.../bpx`` download the calibrated variant.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from casip.platform import calibrations as svc
from casip.platform.deps import CommitRoute, CurrentActor, DbSession, platform_of
from casip.platform.jobs import job_dict
from casip.platform.problems import ApiProblem

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["designs", "test data"])


class CalibrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # required, but checked after access (a 422 before it would tell a stranger the design
    # exists): the service refuses a missing or empty list naming "fit"
    fit: list[Any] = Field(
        default_factory=list,
        description=f"1 to {svc.MAX_FIT_CASES} cases fitted on: each {{test_id (attached), "
        f"window_s [t0, t1] (at most {svc.MAX_WINDOW_H:g} h), scale (auto, c_rate, amps), "
        "tested_capacity_ah, initial_soc (from_rest_voltage or a state of charge), "
        "temperature_c (required when the test records none), label}",
    )
    held_back: list[Any] = Field(
        default_factory=list,
        description=f"0 to {svc.MAX_HELD_BACK_CASES} cases not fitted on: replayed before and "
        "after calibration (the prediction error)",
    )
    parameters: list[Any] | None = Field(
        None, description="keys of the fittable parameters (GET /api/calibrations/parameters)"
    )
    bounds: dict[str, Any] | None = Field(None, description="parameter -> [lower, upper]")
    stages: list[Any] | None = Field(None, description="balance and/or kinetics_transport")
    model: str = Field("SPMe", max_length=8, description="SPMe or DFN")
    thermal: str = Field("isothermal", max_length=16, description="isothermal or lumped")
    optimiser: str = Field("XNES", max_length=16, description=", ".join(svc.OPTIMISERS))
    max_evaluations: Any = Field(
        svc.DEFAULT_MAX_EVALUATIONS,
        description=f"evaluations per stage, {svc.MIN_EVALUATIONS} to {svc.MAX_EVALUATIONS}",
    )
    seed: Any = Field(0, description="seed of the optimiser's random draws")
    name: str | None = Field(None, max_length=200)


class VisibilityIn(BaseModel):
    visibility: Literal["private", "consortium", "public"]


@router.get("/calibrations/parameters",
            summary="What a calibration may fit, and this server's limits")
def calibration_parameters(actor: CurrentActor) -> dict:
    return svc.fittable()


@router.post(
    "/designs/{design_id}/calibrations",
    status_code=202,
    summary="Calibrate a design to its attached tests (background job)",
    description=(
        "Needs read access to the design and to every test named, which must be attached, "
        "and a role that may create. Bad input answers 422 naming the field "
        "(e.g. fit.0.window_s); nothing is queued."
    ),
)
def submit_calibration(
    design_id: int, request: Request, actor: CurrentActor, s: DbSession,
    body: CalibrationIn | None = None,
) -> dict:
    # no body is checked after access (as replays do): a stranger gets 404, not a 422
    given = body.model_dump(exclude_unset=True) if body is not None else {}
    row, job = svc.submit(s, actor, design_id, given,
                          store_dir=platform_of(request).settings.store_dir)
    s.commit()  # the worker thread must see the rows
    request.app.state.platform.jobs.submit(job.id)
    return {"calibration_id": row.id, "job": job_dict(job), "links": svc.full(s, row)["links"]}


@router.get("/designs/{design_id}/calibrations",
            summary="The newest calibrations of a design (that you may read)")
def list_calibrations(design_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return {"design_id": design_id, "calibrations": svc.for_design(s, actor, design_id)}


@router.get("/calibrations/{calibration_id}",
            summary="One calibration: progress while it runs, then its result or why it failed")
def get_calibration(calibration_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return svc.full(s, svc.get_for_read(s, actor, calibration_id))


def _download(document: dict, filename: str) -> JSONResponse:
    return JSONResponse(
        document, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/calibrations/{calibration_id}/record.json",
            summary="The calibration record (casip.calibration/1): the calibrated variant")
def calibration_record(calibration_id: int, actor: CurrentActor, s: DbSession) -> JSONResponse:
    row = svc.get_for_read(s, actor, calibration_id)
    record = (row.result or {}).get("record")
    if not record:
        raise ApiProblem(409, f"calibration {row.id} is {svc.full(s, row)['status']}: it has no "
                         "record")
    return _download(record, f"calibration-{row.id}.json")


@router.get("/calibrations/{calibration_id}/bpx",
            summary="The calibrated parameters as a BPX file (liquid cells)")
def calibration_bpx(calibration_id: int, actor: CurrentActor, s: DbSession) -> JSONResponse:
    row = svc.get_for_read(s, actor, calibration_id)
    if row.bpx is None:
        why = row.bpx_reason or f"calibration {row.id} is {svc.full(s, row)['status']}"
        raise ApiProblem(409, f"no BPX file for calibration {row.id}: {why}")
    return _download(row.bpx, f"calibration-{row.id}.bpx.json")


@router.patch(
    "/calibrations/{calibration_id}/visibility",
    summary="Share or unshare a calibration (audited; never wider than its design or tests)",
)
def calibration_visibility(
    calibration_id: int, body: VisibilityIn, actor: CurrentActor, s: DbSession
) -> dict:
    return svc.full(s, svc.set_visibility(s, actor, calibration_id, body.visibility))
