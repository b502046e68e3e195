"""The server-rendered web app: Jinja2 pages over the access module and the JSON API.

Every page needs a browser session (:func:`~casip.platform.deps.web_auth` redirects to the login
page). Pages render what they can from the database through :mod:`casip.platform.access`; the
rest (jobs, tests, benchmark, roadmap, admin lists) is fetched by the page's script from the JSON
API, and a page whose API is missing says so instead of failing. Form posts carry the session's
CSRF token (``csrf_token``), scripts send it in ``X-CSRF-Token`` (read from the ``csrf-token``
meta tag of the base template).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy.orm import Session

from casip.design.version import ENGINE_VERSION
from casip.platform import access, design_tests, runs, uploads
from casip.platform import designs as design_svc
from casip.platform.access import AccessDenied, NotFound
from casip.platform.api.auth import (
    check_login,
    create_token,
    open_session,
    revoke_token,
    set_session_cookie,
    token_dict,
)
from casip.platform.data_version import VersionedCache
from casip.platform.deps import (
    SESSION_COOKIE,
    Authenticated,
    CommitRoute,
    db_session,
    platform_of,
    require_csrf,
    web_auth,
)
from casip.platform.designs import stages
from casip.platform.jobs import finished_message
from casip.platform.models import ApiToken, Design, Job, Organisation, WebSession
from casip.platform.problems import ApiProblem
from casip.platform.throttle import LoginThrottled, login_attempt

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.autoescape = True
#: templates ship with the package: no file-modification check on every render (a changed
#: template is read at the next start)
templates.env.auto_reload = False
#: keep the key order of embedded JSON (the design schema's property order is the form's order)
templates.env.policies["json.dumps_kwargs"] = {"sort_keys": False}

router = APIRouter(route_class=CommitRoute, include_in_schema=False)

#: (path, label) of the navigation bar
NAV = (
    ("/", "Dashboard"),
    ("/designs", "Designs"),
    ("/compare", "Compare"),
    ("/packs", "Packs"),
    ("/simulations", "Simulations"),
    ("/tests", "Tests"),
    ("/campaigns", "Campaigns"),
    ("/benchmark", "Benchmark"),
    ("/roadmap", "Roadmap"),
    ("/admin", "Admin"),
)
#: scatter points on the dashboard beside the reference cells (the best by Wh/kg)
DASHBOARD_LIMIT = 500
PAGE_SIZE = 25
DEFAULT_COMPARE = (
    "lfp-blade",
    "assb-sulfide-si",
    "assb-sulfide-li",
    "oxide-anode-free",
    "semi-solid-sic",
)
#: headline KPIs shown on the compare page and design cards: (key, label, unit)
KPIS = (
    ("specific_energy_Wh_kg", "Specific energy", "Wh/kg"),
    ("energy_density_Wh_L", "Energy density", "Wh/L"),
    ("cost_usd_kWh", "Materials cost", "$/kWh"),
    ("cell_cost_usd_kWh", "Cell cost", "$/kWh"),
    ("capacity_Ah", "Capacity", "Ah"),
)


def _route_paths(routes, out: set[str]) -> set[str]:
    for r in routes:
        path = getattr(r, "path", None)
        if path:
            out.add(path)
        sub = getattr(r, "original_router", None)  # FastAPI's included routers
        if sub is not None:
            _route_paths(sub.routes, out)
    return out


def _has_api(request: Request, path: str) -> bool:
    """Whether the app serves ``path`` (an API router another module provides)."""
    paths = getattr(request.app.state, "web_route_paths", None)
    if paths is None:
        paths = _route_paths(request.app.routes, set())
        request.app.state.web_route_paths = paths
    return path in paths


#: what the page frame shows of the viewer's organisation, per organisation and ``designs``
#: data version (organisations are in that topic): not read again on every page view
_ORG_VIEWS = VersionedCache(max_age_s=60.0, max_entries=256, topics=("designs",))


def _org_view(s: Session, org_id: int) -> SimpleNamespace | None:
    def build() -> SimpleNamespace | None:
        org = s.get(Organisation, org_id)
        if org is None:
            return None
        return SimpleNamespace(
            id=org.id, slug=org.slug, name=org.name, kind=org.kind, is_demo=org.is_demo
        )

    return _ORG_VIEWS.get(s, ("org", org_id), build)


def render(
    request: Request,
    auth: Authenticated | None,
    s: Session | None,
    name: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    org = _org_view(s, auth.actor.org_id) if auth is not None and s is not None else None
    ctx = {
        "nav": NAV,
        "path": request.url.path,
        "actor": auth.actor if auth else None,
        "org": org,
        "csrf_token": auth.session.csrf_token if auth and auth.session else "",
        # the model of current results: a stored design of another is shown as stale
        "engine_version": ENGINE_VERSION,
        "price_set": design_svc.current_price_set(),
        **context,
    }
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def _error(request, auth, s, status: int, message: str) -> HTMLResponse:
    return render(
        request, auth, s, "error.html", status_code=status, status=status, message=message
    )


def safe_next(url: str | None) -> str:
    """A redirect target after login: a local path only (never ``//host`` or a scheme)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    if any(ord(c) < 32 for c in url):
        return "/"
    return url


# ---------------------------------------------------------------------------------------------
# favicon: browsers ask for /favicon.ico whatever the page links; answer it with the SVG icon


@router.get("/favicon.ico")
def favicon() -> Response:
    """The site icon (``static/favicon.svg``), also linked from the base template."""
    return Response(
        (HERE / "static" / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


# ---------------------------------------------------------------------------------------------
# login / logout


@router.get("/login")
def login_page(request: Request, next: str = Query("/", max_length=2000)) -> HTMLResponse:
    return render(request, None, None, "login.html", next=safe_next(next), error=None, email="")


@router.post("/login")
def login_post(
    request: Request,
    email: str = Form("", max_length=254),
    password: str = Form("", max_length=1024),
    next: str = Form("/", max_length=2000),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    target = safe_next(next)
    try:
        with login_attempt(request, email):  # throttled before the password hash
            user = check_login(s, email, password)
    except LoginThrottled as exc:
        page = render(
            request,
            None,
            None,
            "login.html",
            status_code=429,
            next=target,
            error=f"Too many failed logins. Try again in {max(1, -(-exc.retry_after // 60))} "
            "minute(s).",
            email=email,
        )
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    except ApiProblem:
        return render(
            request,
            None,
            None,
            "login.html",
            status_code=401,
            next=target,
            error="Wrong e-mail or password.",
            email=email,
        )
    token, _ws = open_session(s, user, platform_of(request).settings.session_hours)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, token, request)
    return response


@router.post("/logout")
def logout_post(
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    require_csrf(auth, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    if auth.session is not None:
        s.execute(sa.delete(WebSession).where(WebSession.id == auth.session.id))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------------------------------------
# dashboard

SCATTER_COLUMNS = (
    Design.id,
    Design.name,
    Design.kind,
    Design.specific_energy_Wh_kg,
    Design.energy_density_Wh_L,
    Design.owner_org_id,
    Design.reference_id,
)


def _point(row, actor) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "wh_kg": row.specific_energy_Wh_kg,
        "wh_l": row.energy_density_Wh_L,
        "ref": row.reference_id,
        "own": row.owner_org_id == actor.org_id,
    }


#: the dashboard's design data per (organisation, sponsor or not): scanning the designs for
#: the scatter costs tens of milliseconds at 10,000 designs, so it is kept while the ``designs``
#: data version is unchanged (any write through this server shows on the next request; a
#: finished simulation does not move it), 15 s at most
dashboard_cache = VersionedCache(max_age_s=15.0, max_entries=256, topics=("designs",))
#: the dashboard's job list per organisation (jobs are private to it), kept while the ``jobs``
#: data version is unchanged: every claim, progress report and result moves it
dashboard_jobs = VersionedCache(max_age_s=15.0, max_entries=256, topics=("jobs",))


def _dashboard_designs(s: Session, actor) -> dict:
    clause = access.read_clause(actor, Design)
    refs = s.execute(
        sa.select(*SCATTER_COLUMNS).where(clause, Design.reference_id.is_not(None))
    ).all()
    best = s.execute(
        sa.select(*SCATTER_COLUMNS)
        .where(clause, Design.reference_id.is_(None), Design.specific_energy_Wh_kg.is_not(None))
        .order_by(Design.specific_energy_Wh_kg.desc(), Design.id)
        .limit(DASHBOARD_LIMIT)
    ).all()
    # the cards count exactly what the Designs page lists (the same query, unfiltered)
    listed = designs_query(actor).order_by(None).subquery()
    count, own, refs_n, top_kg, top_l = s.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(listed.c.owner_org_id == actor.org_id),
            sa.func.count().filter(listed.c.reference_id.is_not(None)),
            sa.func.max(listed.c.specific_energy_Wh_kg),
            sa.func.max(listed.c.energy_density_Wh_L),
        ).select_from(listed)
    ).one()
    points = [_point(r, actor) for r in (*refs, *best)]
    return {
        # serialised once per cache entry: the page embeds it as is (about 100 kB)
        "data_json": htmlsafe_json_dumps(
            {"points": points, "targets": stages(), "limit": DASHBOARD_LIMIT}
        ),
        "cards": {
            "designs": count,
            "own": own,
            "references": refs_n,
            "best_wh_kg": top_kg,
            "best_wh_l": top_l,
            "shown": len(best),
        },
    }


@router.get("/")
def dashboard(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    actor = auth.actor
    designs = dashboard_cache.get(
        s, (actor.org_id, actor.is_sponsor), lambda: _dashboard_designs(s, actor)
    )
    jobs = dashboard_jobs.get(s, (actor.org_id,), lambda: _recent_jobs(s, actor))
    cards = designs["cards"]
    return render(
        request,
        auth,
        s,
        "dashboard.html",
        data_json=designs["data_json"],
        limit=DASHBOARD_LIMIT,
        cards=cards,
        jobs=jobs,
        targets=stages(),
    )


def _recent_jobs(s: Session, actor) -> list[dict]:
    """The organisation's 8 newest jobs as the dashboard lists them."""
    rows = s.execute(
        access.jobs_readable(actor)
        .with_only_columns(Job.id, Job.kind, Job.status, Job.progress, Job.message, Job.created_at)
        .order_by(Job.id.desc())
        .limit(8)
    ).all()
    return [
        {
            "id": j.id,
            "kind": j.kind,
            "status": j.status,
            "progress": j.progress,
            "message": finished_message(j),
            "created_at": j.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for j in rows
    ]


# ---------------------------------------------------------------------------------------------
# designs


def designs_query(actor, q: str = "", kind: str = "", mine: bool = False) -> sa.Select:
    """The designs the Designs page lists for ``actor`` (readable ones, filtered).

    Parameters
    ----------
    actor : casip.platform.access.Actor
        Who is asking (readability through :func:`casip.platform.access.readable`).
    q, kind, mine
        The page's filters: part of the name, design kind, only the actor's organisation.

    Returns
    -------
    sqlalchemy.Select
        The listed columns; the dashboard's cards count the unfiltered query, so both pages
        always agree.
    """
    stmt = access.readable(actor, "design")
    if q:
        stmt = stmt.where(Design.name.ilike(f"%{q}%"))
    if kind:
        stmt = stmt.where(Design.kind == kind)
    if mine:
        stmt = stmt.where(Design.owner_org_id == actor.org_id)
    return stmt.with_only_columns(
        Design.id,
        Design.name,
        Design.kind,
        Design.owner_org_id,
        Design.visibility,
        Design.reference_id,
        Design.specific_energy_Wh_kg,
        Design.energy_density_Wh_L,
        Design.cost_usd_kWh,
        Design.cell_cost_usd_kWh,
        Design.capacity_Ah,
        Design.engine_version,
        Design.price_set,
        Design.updated_at,
    )


@router.get("/designs")
def designs_page(
    request: Request,
    q: str = Query("", max_length=100),
    kind: str = Query("", max_length=32),
    mine: bool = Query(False),
    page: int = Query(1, ge=1, le=100_000),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    actor = auth.actor
    columns = designs_query(actor, q, kind, mine)
    total = s.execute(
        sa.select(sa.func.count()).select_from(columns.order_by(None).subquery())
    ).scalar_one()
    rows = s.execute(
        columns.order_by(Design.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    query = {"q": q, "kind": kind, "mine": "1" if mine else ""}
    base = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    return render(
        request,
        auth,
        s,
        "designs.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        q=q,
        kind=kind,
        mine=mine,
        base=base,
        kinds=("liquid", "semi-solid", "all-solid-state"),
    )


def _schema() -> dict:
    from casip.design.schema import json_schema

    return json_schema()


def _reference_documents(s: Session, actor) -> list[dict]:
    rows = s.execute(
        access.readable(actor, "design").where(Design.reference_id.is_not(None)).order_by(Design.id)
    ).scalars()
    return [{"id": r.id, "name": r.name, "document": r.document} for r in rows]


@router.get("/designs/new")
def design_new(
    request: Request,
    source: int | None = Query(None, ge=1),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    refs = _reference_documents(s, auth.actor)
    document = None
    if source is not None:
        try:
            document = dict(access.get_for_read(s, auth.actor, "design", source).document)
            document["name"] = f"{document.get('name', 'design')} (copy)"[:200]
        except NotFound:
            return _error(request, auth, s, 404, f"no design with id {source}")
    elif refs:
        document = refs[0]["document"]
    return render(
        request,
        auth,
        s,
        "design_form.html",
        mode="new",
        design=None,
        form={
            "schema": _schema(),
            "document": document,
            "references": refs,
            "mode": "new",
            "design_id": None,
            "version": None,
        },
    )


@router.get("/designs/{design_id}/edit")
def design_edit(
    design_id: int,
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    try:
        row = access.get_for_write(s, auth.actor, "design", design_id)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    except AccessDenied as exc:
        return _error(request, auth, s, 403, exc.message)
    return render(
        request,
        auth,
        s,
        "design_form.html",
        mode="edit",
        design={"id": row.id, "name": row.name},
        form={
            "schema": _schema(),
            "document": row.document,
            "references": [],
            "mode": "edit",
            "design_id": row.id,
            "version": row.version,
        },
    )


@router.get("/designs/{design_id}")
def design_detail(
    design_id: int,
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    try:
        row = access.get_for_read(s, auth.actor, "design", design_id)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    owner = s.get(Organisation, row.owner_org_id)
    m = row.metrics or {}
    data = {
        "id": row.id,
        "mass": m.get("mass_breakdown_g") or {},
        "cost": m.get("cost_breakdown_usd") or {},
        "volume": m.get("volume_breakdown_cm3") or {},
        "elements": m.get("element_demand_kg_GWh") or {},
        "jobs_api": _has_api(request, "/api/jobs/{job_id}") or _has_api(request, "/api/jobs/{id}"),
    }
    # the attached tests the reader may read (templates/_design_tests.html, design_tests.js)
    measured = design_tests.attached_tests(s, auth.actor, row.id)
    data["measured"] = measured["tests"]
    return render(
        request,
        auth,
        s,
        "design.html",
        measured=measured["tests"],
        attachable=(
            design_tests.attachable_tests(s, auth.actor, row.id)
            if access.can_write(auth.actor, row)
            else []
        ),
        d=design_svc.summary(row),
        metrics=m,
        owner=owner,
        writable=access.can_write(auth.actor, row),
        can_run=auth.actor.can_create and access.can_read(auth.actor, row),
        results=runs.design_results(s, auth.actor, row.id),
        data=data,
        kpis=KPIS,
        targets=stages(),
    )


@router.post("/designs/{design_id}/visibility")
def design_visibility(
    design_id: int,
    request: Request,
    visibility: str = Form(..., max_length=16),
    benchmark_opt_in: str = Form(""),
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    require_csrf(auth, csrf_token)
    try:
        access.set_visibility(
            s, auth.actor, "design", design_id, visibility, benchmark_opt_in in ("1", "on", "true")
        )
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    except AccessDenied as exc:
        return _error(request, auth, s, 403, exc.message)
    except ValueError as exc:
        return _error(request, auth, s, 422, str(exc))
    return RedirectResponse(f"/designs/{design_id}?shared=1", status_code=303)


# ---------------------------------------------------------------------------------------------
# compare


@router.get("/compare")
def compare_page(
    request: Request,
    ids: str = Query("", max_length=200),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    actor = auth.actor
    error = None
    wanted: list[int] = []
    for part in ids.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            error = f"ids: {part!r} is not a design id"
            continue
        wanted.append(int(part))
    wanted = list(dict.fromkeys(wanted))[:12]
    rows = []
    missing = []
    if wanted:
        for i in wanted:
            try:
                rows.append(access.get_for_read(s, actor, "design", i))
            except NotFound:
                missing.append(i)
    else:
        refs = {
            r.reference_id: r
            for r in s.execute(
                access.readable(actor, "design").where(Design.reference_id.in_(DEFAULT_COMPARE))
            ).scalars()
        }
        rows = [refs[k] for k in DEFAULT_COMPARE if k in refs]
    # the LFP baseline row is added only when it is not among the compared designs already
    baseline = None
    if not any(r.reference_id == "lfp-blade" for r in rows):
        baseline = s.execute(
            access.readable(actor, "design").where(Design.reference_id == "lfp-blade").limit(1)
        ).scalar_one_or_none()
    designs = [design_svc.summary(r) for r in rows]
    data = {
        "designs": designs,
        "baseline": design_svc.summary(baseline) if baseline is not None else None,
        "targets": stages(),
        "kpis": [{"key": k, "label": lbl, "unit": u} for k, lbl, u in KPIS],
    }
    return render(
        request,
        auth,
        s,
        "compare.html",
        data=data,
        designs=designs,
        baseline=data["baseline"],
        kpis=KPIS,
        targets=stages(),
        missing=missing,
        error=error,
        default=not wanted,
    )


# ---------------------------------------------------------------------------------------------
# pages whose data the script fetches from the JSON API


@router.get("/simulations")
def simulations_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return render(
        request,
        auth,
        s,
        "simulations.html",
        data={"available": _has_api(request, "/api/jobs"), "can_create": auth.actor.can_create},
    )


@router.get("/tests")
def tests_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return render(
        request,
        auth,
        s,
        "tests.html",
        data={
            "available": _has_api(request, "/api/tests"),
            "max_bytes": platform_of(request).settings.max_upload_bytes,
        },
    )


@router.get("/tests/{test_id}")
def test_page(
    test_id: int,
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    try:
        row = access.get_for_read(s, auth.actor, "test", test_id)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    item = {
        "id": row.id,
        "name": row.name,
        "filename": row.filename,
        "format": row.format,
        "rows": row.rows,
        "cycles": row.cycles,
        "cycle_life": row.cycle_life,
        "size_bytes": row.size_bytes,
        "visibility": row.visibility,
        "created_at": row.created_at.strftime("%Y-%m-%d %H:%M"),
        "flags": uploads.flags_of(row.details),
    }
    return render(
        request,
        auth,
        s,
        "test.html",
        t=item,
        designs=design_tests.attached_designs(s, auth.actor, row.id),
        data={
            "id": row.id,
            "cycles": row.cycles,
            "available": _has_api(request, "/api/tests/{test_id}/cycles")
            or _has_api(request, "/api/tests/{id}/cycles"),
        },
    )


@router.get("/benchmark")
def benchmark_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return render(
        request,
        auth,
        s,
        "benchmark.html",
        data={"available": _has_api(request, "/api/benchmark")},
    )


@router.get("/roadmap")
def roadmap_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return render(
        request,
        auth,
        s,
        "roadmap.html",
        targets=stages(),
        data={"available": _has_api(request, "/api/roadmap"), "targets": stages()},
    )


# ---------------------------------------------------------------------------------------------
# admin: users, API tokens, audit


def _tokens(s: Session, actor) -> list[dict]:
    rows = s.execute(
        sa.select(ApiToken).where(ApiToken.user_id == actor.user_id).order_by(ApiToken.id)
    ).scalars()
    return [token_dict(t) for t in rows]


def _admin(request, auth, s, new_token: dict | None = None, status_code: int = 200):
    return render(
        request,
        auth,
        s,
        "admin.html",
        status_code=status_code,
        tokens=_tokens(s, auth.actor),
        new_token=new_token,
        data={
            "org_id": auth.actor.org_id,
            "is_admin": auth.actor.is_org_admin,
            "users_api": _has_api(request, "/api/organisations/{org_id}/users")
            or _has_api(request, "/api/organisations/{id}/users"),
            "audit_api": _has_api(request, "/api/audit"),
        },
    )


@router.get("/admin")
def admin_page(
    request: Request,
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    return _admin(request, auth, s)


@router.post("/admin/tokens")
def admin_token_create(
    request: Request,
    name: str = Form(..., min_length=1, max_length=100),
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    require_csrf(auth, csrf_token)
    secret, row = create_token(s, auth.actor, name.strip() or "token")
    response = _admin(request, auth, s, new_token={**token_dict(row), "token": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/tokens/{token_id}/revoke")
def admin_token_revoke(
    token_id: int,
    request: Request,
    csrf_token: str = Form(""),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    require_csrf(auth, csrf_token)
    try:
        revoke_token(s, auth.actor, token_id)
    except NotFound as exc:
        return _error(request, auth, s, 404, str(exc))
    return RedirectResponse("/admin#tokens", status_code=303)
