"""The campaigns pages (issue 18): ``/campaigns`` (list, create from a campaign file) and
``/campaigns/{id}`` (what was proposed, tested, predicted, stopped and learned; the current
best with its uncertainty; propose the next batch; enter a measured life).

Forms post with the session's CSRF token and redirect (303) back to the page; the rules are
those of :mod:`casip.platform.campaigns` (another organisation's campaign is a 404 page).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import campaigns as svc
from casip.platform.access import AccessDenied, NotFound
from casip.platform.deps import Authenticated, CommitRoute, db_session, require_csrf, web_auth
from casip.platform.web.pages import _error, render

router = APIRouter(route_class=CommitRoute, include_in_schema=False)

#: largest campaign document pasted into the form [characters]
MAX_DOCUMENT_CHARS = 100_000


@router.get("/campaigns")
def campaigns_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return render(
        request,
        auth,
        s,
        "campaigns.html",
        items=svc.list_campaigns(s, auth.actor),
        error=None,
        document="",
    )


@router.post("/campaigns")
def campaigns_create(
    request: Request,
    document: str = Form(..., max_length=MAX_DOCUMENT_CHARS),
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    from casip.io import parse_yaml

    require_csrf(auth, csrf_token)
    try:
        row = svc.create(s, auth.actor, parse_yaml(document, "campaign"))
    except AccessDenied as exc:
        return _error(request, auth, s, 403, exc.message)
    except CasipInputError as exc:
        return render(
            request,
            auth,
            s,
            "campaigns.html",
            status_code=422,
            items=svc.list_campaigns(s, auth.actor),
            error=str(exc),
            document=document,
        )
    return RedirectResponse(f"/campaigns/{row.id}", status_code=303)


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    campaign_id: int,
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    try:
        row = svc.get_campaign(s, auth.actor, campaign_id)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    c = svc.detail(s, row)
    return render(
        request,
        auth,
        s,
        "campaign.html",
        c=c,
        test_cycles=_linked_cycles(s, c["planned_tests_list"]),
        # the N of the server's early-life model (cycles 2..N), as the jobs use it
        early_min_cycles=c["early_cycles"] - 1,
        early_cycles=c["early_cycles"],
        can_write=auth.actor.can_create,
        message=request.query_params.get("m"),
    )


def _linked_cycles(s: Session, planned: list[dict]) -> dict[int, int]:
    """Cycles of the tests linked to the campaign's planned tests (test id -> cycles), so the
    page says why a linked test has no early prediction yet (too few cycles, or queued)."""
    from casip.platform.models import TestDataset

    ids = {t["test_id"] for t in planned if t["test_id"] is not None}
    if not ids:
        return {}
    rows = s.query(TestDataset.id, TestDataset.cycles).filter(TestDataset.id.in_(ids))
    return {i: n for i, n in rows}


@router.post("/campaigns/{campaign_id}/propose")
def campaign_propose(
    campaign_id: int,
    request: Request,
    csrf_token: str = Form(""),
    more: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    require_csrf(auth, csrf_token)
    try:
        row = svc.get_campaign(s, auth.actor, campaign_id, write=True)
        status, out = svc.propose(s, auth.actor, row, more=more in ("1", "on", "true"))
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    except AccessDenied as exc:
        return _error(request, auth, s, 403, exc.message)
    m = "proposing" if status == 202 else ("closed" if out.get("closed") else "open")
    return RedirectResponse(f"/campaigns/{campaign_id}?m={m}", status_code=303)


@router.post("/campaigns/{campaign_id}/result")
def campaign_result(
    campaign_id: int,
    request: Request,
    planned_test: str = Form("", max_length=40),
    cycle_life: str = Form("", max_length=40),
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    # the fields are checked after the campaign (one that may not be read is a 404 whatever
    # the form holds)
    require_csrf(auth, csrf_token)
    try:
        row = svc.get_campaign(s, auth.actor, campaign_id, write=True)
        pt = svc.get_planned_test(s, auth.actor, row, planned_test)
        try:
            life = float(cycle_life)
        except ValueError:
            raise CasipInputError(
                Problem("cycle_life", "not a number", cycle_life, "cycles to end of life, > 0")
            ) from None
        svc.record_result(s, auth.actor, row, pt, life)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    except AccessDenied as exc:
        return _error(request, auth, s, 403, exc.message)
    except CasipInputError as exc:
        return _error(request, auth, s, 422, str(exc))
    return RedirectResponse(f"/campaigns/{campaign_id}?m=result", status_code=303)
