"""Closed-loop campaigns (rules in :mod:`casip.platform.campaigns`).

``POST /api/campaigns`` with ``{"campaign": {casip.campaign/1 document}}`` creates one (201);
``POST /api/campaigns/{id}/propose`` asks for the next batch (202 with the proposal job, or
200 with the open batch: idempotent while a batch is open); ``GET
/api/campaigns/{id}/planned-tests`` lists the planned tests ``PT-<n>``; an upload names the
one it answers (``POST /api/tests?...&planned_test=PT-12``); ``POST
/api/campaigns/{id}/planned-tests/{pt}/result`` enters a measured end of life; ``POST
/api/campaigns/{id}/simulate`` (re)evaluates the open planned tests with the models. A campaign
and everything in it is readable only by its organisation: any other answers 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from casip.platform import campaigns as svc
from casip.platform.deps import CommitRoute, CurrentActor, DbSession

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["campaigns"])


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign: dict[str, Any] = Field(
        description="a casip.campaign/1 document (see docs/campaigns.md; `casip campaign "
        "schema` prints its JSON Schema)"
    )


class ProposeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    more: bool = Field(
        False, description="propose a new batch beside the open planned tests (pending points)"
    )


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cycle_life: float | None = Field(None, description="measured cycles to end of life")
    cycles: int | None = Field(None, ge=0, description="cycles tested (default: cycle_life)")
    values: dict[str, float] = Field(
        default_factory=dict, description="other measured objectives or constraints"
    )


def writable_campaign(campaign_id: int, actor: CurrentActor, s: DbSession) -> int:
    """The campaign id, once the actor may change the campaign (checked before the body: a
    campaign one may not see answers 404 whatever the body)."""
    return svc.get_campaign(s, actor, campaign_id, write=True).id


@router.post(
    "/campaigns",
    status_code=201,
    summary="Create a campaign from a casip.campaign/1 document (audited)",
)
def create_campaign(body: CampaignIn, actor: CurrentActor, s: DbSession) -> dict:
    row = svc.create(s, actor, body.campaign)
    return svc.detail(s, row)


@router.get("/campaigns", summary="Your organisation's campaigns")
def list_campaigns(actor: CurrentActor, s: DbSession) -> dict:
    return {"items": svc.list_campaigns(s, actor)}


@router.get(
    "/campaigns/{campaign_id}",
    summary="A campaign: document, planned tests, observations and the current best",
)
def get_campaign(campaign_id: int, actor: CurrentActor, s: DbSession) -> dict:
    return svc.detail(s, svc.get_campaign(s, actor, campaign_id))


@router.post(
    "/campaigns/{campaign_id}/propose",
    summary="Propose the next batch (a job), or return the open batch",
    description=(
        "202 with the proposal job (`job`; poll GET /api/jobs/{id}, then GET the planned "
        "tests); 200 with the open batch (`new: false`) while planned tests still wait for "
        "early or measured evidence, unless `more` is true; 200 with `closed` when a budget is "
        "spent. Asking again while the job is queued or running returns the same job."
    ),
)
def propose(
    actor: CurrentActor,
    s: DbSession,
    response: Response,
    body: ProposeIn | None = None,
    campaign_id: int = Depends(writable_campaign),
) -> dict:
    row = svc.get_campaign(s, actor, campaign_id, write=True)
    status, out = svc.propose(s, actor, row, more=bool(body and body.more))
    response.status_code = status
    return out


@router.post(
    "/campaigns/{campaign_id}/simulate",
    summary="Evaluate the open planned tests with the models: simulation evidence (audited)",
    description=(
        "Evaluates each open planned test's design parameters with the models of `casip "
        "explore` (as `casip campaign simulate`) and stores the values as `simulation` "
        "evidence; values already stored for a planned test are not stored again. A campaign "
        "without design parameters gets none (`note` says why)."
    ),
)
def simulate(
    actor: CurrentActor, s: DbSession, campaign_id: int = Depends(writable_campaign)
) -> dict:
    return svc.simulate(s, actor, svc.get_campaign(s, actor, campaign_id, write=True))


@router.get("/campaigns/{campaign_id}/planned-tests", summary="The planned tests of a campaign")
def list_planned_tests(campaign_id: int, actor: CurrentActor, s: DbSession) -> dict:
    row = svc.get_campaign(s, actor, campaign_id)
    return {"items": [svc.planned_test_dict(t) for t in svc.planned_tests(s, row)]}


@router.get("/campaigns/{campaign_id}/planned-tests/{pt_id}", summary="One planned test")
def get_planned_test(campaign_id: int, pt_id: str, actor: CurrentActor, s: DbSession) -> dict:
    row = svc.get_campaign(s, actor, campaign_id)
    return svc.planned_test_dict(svc.get_planned_test(s, actor, row, pt_id))


@router.post(
    "/campaigns/{campaign_id}/planned-tests/{pt_id}/result",
    summary="Enter a measured result (end of life) of a planned test (audited)",
)
def planned_test_result(
    pt_id: str,
    body: ResultIn,
    actor: CurrentActor,
    s: DbSession,
    campaign_id: int = Depends(writable_campaign),
) -> dict:
    row = svc.get_campaign(s, actor, campaign_id, write=True)
    pt = svc.get_planned_test(s, actor, row, pt_id)
    svc.record_result(s, actor, row, pt, body.cycle_life, body.values, body.cycles)
    tests = svc.planned_tests(s, row)
    return {
        "planned_test": svc.planned_test_dict(pt),
        **svc.best_of(row, tests, svc.observation_rows(s, row)),
    }


@router.post(
    "/campaigns/{campaign_id}/planned-tests/{pt_id}/cancel",
    summary="Cancel a planned test that is not done (audited)",
)
def cancel_planned_test(campaign_id: int, pt_id: str, actor: CurrentActor, s: DbSession) -> dict:
    row = svc.get_campaign(s, actor, campaign_id, write=True)
    pt = svc.get_planned_test(s, actor, row, pt_id)
    return svc.planned_test_dict(svc.cancel(s, actor, row, pt))


@router.get(
    "/campaigns/{campaign_id}/observations",
    summary="The evidence of a campaign (simulation, early, measured)",
)
def list_observations(campaign_id: int, actor: CurrentActor, s: DbSession) -> dict:
    row = svc.get_campaign(s, actor, campaign_id)
    return {"items": [svc.observation_dict(o) for o in svc.observation_rows(s, row)]}
