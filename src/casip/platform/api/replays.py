"""Replays of attached tests against designs (see :mod:`casip.platform.replays`).

``POST /api/designs/{design_id}/tests/{test_id}/replays`` with e.g. ``{"cycles": [2]}``,
``{"window_s": [9486, 23846]}`` or ``{}`` (the first full cycle after a rest) answers 202 with
the queued ``replay`` job; poll ``GET /api/jobs/{id}``; when it is done, ``result_id`` names the
replay (``GET /api/replays/{id}``) and ``GET /api/designs/{design_id}/tests`` gives the newest
one in each test's ``simulated``. A replay that could not run is stored with
``status: "impossible"`` and its ``reason``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from casip.platform import replays as svc
from casip.platform.api.jobs import _submit
from casip.platform.deps import CommitRoute, CurrentActor, DbSession, platform_of

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["designs", "test data"])


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_s: list[Any] | None = Field(
        None, description=f"[t0, t1] in seconds of test time (at most {svc.MAX_WINDOW_H:g} h)"
    )
    cycles: list[Any] | None = Field(
        None,
        description=f"[first] or [first, last]: at most {svc.MAX_CYCLES} consecutive cycles; "
        "default (neither): the first full cycle that starts in or right after a rest",
    )
    scale: str = Field(
        "auto",
        max_length=16,
        description="auto (c_rate when the tested capacity is known, else amps), c_rate or amps",
    )
    tested_capacity_ah: float | None = Field(
        None, description="the tested cell's capacity [A.h] (default: the test's nominal one)"
    )
    temperature_c: float | None = Field(
        None,
        description="ambient temperature [degC]; required when the test records none (422 "
        "naming temperature_c otherwise), refused when it differs from the recorded one",
    )
    model: str = Field("DFN", max_length=8, description="DFN or SPMe")
    thermal: str = Field(
        "isothermal",
        max_length=16,
        description="isothermal or lumped (PyBaMM's lumped thermal model; a design whose base "
        "set has no thermal parameters is stored as impossible, with the reason)",
    )
    initial_soc: str = Field(
        "from_rest_voltage",
        max_length=24,
        description="from_rest_voltage (the last voltage of the rest the window starts in) or "
        "from_history (the last rest before the window plus the charge passed since: the "
        "window may start in a charge or a discharge)",
    )
    control: str = Field(
        "current",
        max_length=16,
        description="current (drive the model with the measured current) or power (with the "
        "measured power I x V, in PyBaMM's power operating mode)",
    )
    calibration_id: int | None = Field(
        None,
        description="replay the calibrated variant of the design: the id of a finished "
        "calibration of it (POST /api/designs/{design_id}/calibrations)",
    )


class VisibilityIn(BaseModel):
    visibility: Literal["private", "consortium", "public"]


def replayable(design_id: int, test_id: int, actor: CurrentActor, s: DbSession) -> tuple[int, int]:
    """The design and test ids once the actor may replay them (checked before the body: probing
    what you cannot see answers as for a missing one)."""
    svc.submit_params(s, actor, design_id, test_id, {})
    return design_id, test_id


@router.post(
    "/designs/{design_id}/tests/{test_id}/replays",
    status_code=202,
    summary="Replay an attached test against the design (background job)",
    description=(
        "Needs read access to the design and the test, which must be attached, and a role that "
        "may create. The replayed part is bounded: a window, up to "
        f"{svc.MAX_CYCLES} cycles, or by default the first full cycle after a rest."
    ),
)
def submit_replay(
    request: Request,
    actor: CurrentActor,
    s: DbSession,
    ids: tuple[int, int] = Depends(replayable),
    body: ReplayIn | None = None,
) -> dict:
    given = body.model_dump(exclude_unset=True) if body is not None else {}
    params = svc.submit_params(s, actor, ids[0], ids[1], given,
                               store_dir=platform_of(request).settings.store_dir)
    return _submit(request, s, actor, "replay", params)


@router.get("/replays/{replay_id}", summary="One replay: simulated curves and error metrics")
def get_replay(replay_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return svc.full(svc.get_for_read(s, actor, replay_id))


@router.patch(
    "/replays/{replay_id}/visibility",
    summary="Share or unshare a replay (audited; never wider than its design or its test)",
)
def replay_visibility(
    replay_id: int, body: VisibilityIn, actor: CurrentActor, s: DbSession
) -> dict:
    return svc.full(svc.set_visibility(s, actor, replay_id, body.visibility))
