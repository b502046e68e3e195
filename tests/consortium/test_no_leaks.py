"""Nothing leaks: every route, every role, every visibility (status and body).

Kestrel (a member) creates one item of each kind (design, lifetime result, simulation, test
dataset) per visibility, each named with a unique marker, plus a private design that opted in
to the benchmark with an extreme value. Then every route of ``app.routes`` (walked at run time,
so routes added later are covered without editing this file) is called with every method as
each actor, path parameters substituted by the ids of those items. The rules are those of
:mod:`casip.platform.access`:

* the owner organisation reads everything of its own;
* a member or institute user reads consortium and public items of others;
* a sponsor reads public items (and anonymised aggregates) only;
* anonymous requests get nothing (401, or a 303 redirect to ``/login`` for pages);
* a forbidden read answers 401/403/404 (a 303 to ``/login`` for pages) and answers exactly
  as for an id that does not exist (no existence oracle);
* writes by anyone but the owner organisation's engineers and admins fail and change nothing;
* the marker of an item an actor may not read appears in no body that actor receives (every
  list endpoint, every page, the audit log, the benchmark and the roadmap included), nor does
  the opted-in design's extreme value;
* no demo organisation's name or slug appears in the benchmark or the roadmap;
* unsharing (consortium -> private) hides an item again from every GET route;
* an id beyond the database's integer range is a missing item, never a 5xx.

Violations are collected and asserted at the end with the route, actor and item named.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from casip.platform.models import LifetimeResult
from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email

VISIBILITIES = ("private", "consortium", "public")
OWNER = "kestrel"
#: paths (prefixes) not walked: static files, the API description, the login/logout forms
SKIP_PREFIXES = ("/static", "/api/openapi.json", "/api/docs")
SKIP_PATHS = frozenset({"/api/login", "/login", "/logout", "/api/logout"})
#: public by design (no credentials needed)
#: (the design file format's JSON Schema is public documentation, like the API description;
#: /favicon.ico is the site's icon)
PUBLIC_PATHS = frozenset({"/api/health", "/api/schema/design", "/favicon.ico"})
#: for the metrics scraper only (issue 17): every actor here - none is the scraper (the test
#: client is not on loopback and sends no scraper token) - gets the missing page's 404
SCRAPER_PATHS = frozenset({"/api/metrics"})
MISSING_ID = 987_654_321  # an id that exists for no kind
#: URL segment before a path parameter -> the kind of object it names
SEGMENT_KIND = {
    "designs": "design",
    "tests": "test",
    "simulations": "simulation",
    "lifetimes": "lifetime",
    "jobs": "job",
    "users": "user",
    "organisations": "org",
    "orgs": "org",
    "tokens": "token",
    "campaigns": "campaign",
}
ITEM_KINDS = ("design", "simulation", "lifetime", "test", "campaign")
#: last path segments of writes that a non-owner must never be able to do on a readable item
#: (other POSTs on an item, e.g. submitting a simulation of a shared design, are allowed)
GUARDED_VERBS = frozenset({"visibility", "cancel", "revoke", "edit", "delete"})
POLL_LIMIT_S = 180.0
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


# ---------------------------------------------------------------------------------- actors


@dataclass
class Actor:
    label: str
    org: str | None  # demo organisation slug; None: anonymous
    role: str | None
    kind: str | None  # member, institute, sponsor
    mode: str = "token"  # token or cookie (for API routes; pages always use the cookie)
    headers: dict[str, str] = field(default_factory=dict)
    client: TestClient | None = None  # cookie session (pages, and API in cookie mode)
    csrf: str = ""
    api_client: TestClient | None = None  # no cookies (API in token mode)

    @property
    def is_owner(self) -> bool:
        return self.org == OWNER

    @property
    def can_create(self) -> bool:
        return self.kind in ("member", "institute") and self.role in ("engineer", "admin")

    def may_read(self, visibility: str) -> bool:
        if self.org is None:
            return False
        if self.is_owner or visibility == "public":
            return True
        return visibility == "consortium" and self.kind != "sponsor"


ORG_KIND = {slug: str(kind) for slug, _name, kind in DEMO_ORGS}
ACTOR_SPECS = (
    ("kestrel-admin", "kestrel", "admin", "token"),
    ("kestrel-engineer", "kestrel", "engineer", "token"),
    ("kestrel-viewer", "kestrel", "viewer", "token"),
    ("lantern-admin", "lantern", "admin", "token"),
    ("lantern-engineer", "lantern", "engineer", "token"),
    ("lantern-engineer-cookie", "lantern", "engineer", "cookie"),
    ("lantern-viewer", "lantern", "viewer", "token"),
    ("ionics-engineer", "ionics-institute", "engineer", "token"),
    ("sponsor-admin", "programme-office", "admin", "token"),
    ("sponsor-admin-cookie", "programme-office", "admin", "cookie"),
    ("sponsor-viewer", "programme-office", "viewer", "token"),
    ("anonymous", None, None, "token"),
)


def make_actors(server) -> list[Actor]:
    app = server.client.app
    out = []
    sessions: dict[str, tuple[TestClient, str]] = {}
    for label, org, role, mode in ACTOR_SPECS:
        a = Actor(label, org, role, ORG_KIND.get(org) if org else None, mode)
        a.api_client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
        if org is None:
            a.client = a.api_client
        else:
            email = demo_email(org, role)
            a.headers = server.headers(email)
            if email not in sessions:
                c = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
                r = c.post("/api/login", json={"email": email, "password": DEMO_PASSWORD})
                assert r.status_code == 200, r.text
                sessions[email] = (c, r.json()["csrf_token"])
            a.client, a.csrf = sessions[email]
        out.append(a)
    return out


# ---------------------------------------------------------------------------------- world


@dataclass
class Item:
    kind: str  # design, simulation, lifetime, test
    visibility: str
    id: int
    marker: str
    label: str  # e.g. design-private
    document: dict | None = None


@dataclass
class World:
    server: Any
    actors: list[Actor]
    items: list[Item]  # the items whose routes are walked (by kind)
    markers: dict[str, str]  # marker -> visibility (every marker, source designs included)
    extreme: Item
    extreme_values: list[str]
    job_ids: list[int]
    ids: dict[str, int]  # org, user, token: kestrel's
    uid: str


def _wait(server, headers, job_id: int) -> dict:
    end = time.monotonic() + POLL_LIMIT_S
    job: dict = {}
    while time.monotonic() < end:
        r = server.client.get(f"/api/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} still {job.get('status')} after {POLL_LIMIT_S} s")


def _reference_document(server, headers, reference_id: str) -> dict:
    r = server.client.get("/api/designs?limit=200", headers=headers)
    assert r.status_code == 200, r.text
    ids = [d["id"] for d in r.json()["items"] if d.get("reference_id") == reference_id]
    assert ids, f"no reference design {reference_id}"
    r = server.client.get(f"/api/designs/{ids[0]}/export", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _create_design(server, headers, doc: dict, name: str, visibility: str, **kw) -> dict:
    body = {"document": {**doc, "name": name}, "visibility": visibility, **kw}
    r = server.client.post("/api/designs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _extreme_design(server, headers, name: str) -> dict | None:
    """A private, benchmark-opted-in design with a very high specific energy."""
    base = _reference_document(server, headers, "assb-sulfide-li")
    for factor in (1.8, 1.5, 1.3, 1.15):
        doc = {**base, "name": name}
        cath = dict(doc.get("cathode") or {})
        cap = cath.get("areal_capacity_mAh_cm2")
        if cap is None:
            break
        cath["areal_capacity_mAh_cm2"] = round(cap * factor, 3)
        doc["cathode"] = cath
        body = {"document": doc, "visibility": "private", "benchmark_opt_in": True}
        r = server.client.post("/api/designs", json=body, headers=headers)
        if r.status_code == 201:
            return r.json()
    return None


def _number_forms(v: float | None) -> list[str]:
    if v is None:
        return []
    forms = {repr(float(v)), f"{v:.2f}", f"{v:.1f}"}
    return sorted(f for f in forms if len(f) >= 5)


def _test_file(shared_data) -> bytes | None:
    if shared_data is None:
        return None
    path = shared_data / "cycler" / "FastCharge_000025_CH8.csv"
    return path.read_bytes() if path.is_file() else None


def build_world(server, shared_data) -> World:
    uid = uuid.uuid4().hex[:8]
    c = server.client
    eng = server.as_role(OWNER, "engineer")
    lfp = _reference_document(server, eng, "lfp-blade")
    items: list[Item] = []
    markers: dict[str, str] = {}
    jobs: dict[tuple[str, str], int] = {}
    for vis in VISIBILITIES:
        m = f"LEAK-design-{vis}-{uid}"
        d = _create_design(server, eng, lfp, m, vis)
        items.append(Item("design", vis, d["id"], m, f"design-{vis}", d.get("document")))
        markers[m] = vis
        for kind, path, body in (
            ("lifetime", "lifetimes", {"duty": "ev_daily"}),
            ("simulation", "simulations", {"kind": "fast_charge", "c_rate": 2.0}),
        ):
            # the result is named after its design: the source design carries the result's
            # marker and the same visibility, so that the two are readable by the same actors
            m = f"LEAK-{kind}-{vis}-{uid}"
            src = _create_design(server, eng, lfp, m, vis)
            markers[m] = vis
            r = c.post(f"/api/designs/{src['id']}/{path}", json=body, headers=eng)
            assert r.status_code == 202, r.text
            jobs[(kind, vis)] = r.json()["job"]["id"]
    # a result stored wider than its design (public on a consortium design: how a rival's
    # result was once made public; a derived item is never more visible than its source)
    wide = f"LEAK-lifetime-wide-{uid}"
    wide_src = _create_design(server, eng, lfp, wide, "consortium")
    markers[wide] = "consortium"
    r = c.post(f"/api/designs/{wide_src['id']}/lifetimes", json={"duty": "ev_daily"}, headers=eng)
    assert r.status_code == 202, r.text
    wide_job = r.json()["job"]["id"]
    for (kind, vis), job_id in jobs.items():
        job = _wait(server, eng, job_id)
        assert job["status"] == "done", job
        rid = job["result_id"]
        path = {"lifetime": "lifetimes", "simulation": "simulations"}[kind]
        if vis != "private":
            r = c.patch(f"/api/{path}/{rid}/visibility", json={"visibility": vis}, headers=eng)
            assert r.status_code == 200, r.text
        r = c.get(f"/api/{path}/{rid}", headers=eng)
        assert r.status_code == 200 and r.json()["visibility"] == vis, r.text
        assert f"LEAK-{kind}-{vis}-{uid}" in r.json()["name"]
        items.append(Item(kind, vis, rid, f"LEAK-{kind}-{vis}-{uid}", f"{kind}-{vis}"))
    job = _wait(server, eng, wide_job)
    assert job["status"] == "done", job
    r = c.patch(
        f"/api/lifetimes/{job['result_id']}/visibility", json={"visibility": "public"}, headers=eng
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visibility", r.text
    with server.platform.db.session() as s:  # as if stored before the rule
        s.get(LifetimeResult, job["result_id"]).visibility = "public"
    # readable as its design is: the walk expects consortium readers only
    items.append(Item("lifetime", "consortium", job["result_id"], wide, "lifetime-wide"))
    jobs[("lifetime", "wide")] = wide_job
    data = _test_file(shared_data)
    if data is not None:
        for i, vis in enumerate(VISIBILITIES):
            m = f"LEAK-test-{vis}-{uid}"
            blob = data + b"\r\n" * i  # a distinct file each (the same file would be a duplicate)
            r = c.post(
                "/api/tests",
                params={"filename": f"{m}.csv", "name": m, "visibility": vis},
                content=blob,
                headers={**eng, "Content-Type": "application/octet-stream"},
            )
            assert r.status_code == 201, r.text
            items.append(Item("test", vis, r.json()["id"], m, f"test-{vis}"))
            markers[m] = vis
        # every test attached to every design (issue 14): an attachment shows only to readers
        # of both, so no design route may name an unreadable test, nor a test route a design
        for d in [it for it in items if it.kind == "design"]:
            for t in [it for it in items if it.kind == "test"]:
                r = c.post(f"/api/designs/{d.id}/tests", json={"test_id": t.id}, headers=eng)
                assert r.status_code == 201, r.text
    # a campaign (issue 18: always private to its organisation) with a proposed batch, and a
    # private test that answers its first planned test: none of it may reach another org
    m = f"LEAK-campaign-private-{uid}"
    doc = {"schema": "casip.campaign/1", "name": m, "batch": 2,
           "parameters": {"c1_C": {"low": 3.0, "high": 8.0},
                          "soc_switch": {"low": 0.1, "high": 0.7},
                          "c2_C": {"low": 2.5, "high": 6.0}},
           "objectives": {"cycle_life": "max"}}
    r = c.post("/api/campaigns", json={"campaign": doc}, headers=eng)
    assert r.status_code == 201, r.text
    campaign_id = r.json()["id"]
    r = c.post(f"/api/campaigns/{campaign_id}/propose", headers=eng)
    assert r.status_code == 202, r.text
    assert _wait(server, eng, r.json()["job"]["id"])["status"] == "done"
    items.append(Item("campaign", "private", campaign_id, m, "campaign-private"))
    markers[m] = "private"
    if data is not None:
        pt = c.get(f"/api/campaigns/{campaign_id}/planned-tests", headers=eng).json()["items"][0]
        mt = f"LEAK-campaign-test-{uid}"
        r = c.post(
            "/api/tests",
            params={"filename": f"{mt}.csv", "name": mt, "planned_test": pt["id"]},
            content=data + b"\r\n" * 9,
            headers={**eng, "Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text
        markers[mt] = "private"
    m = f"LEAK-optin-private-{uid}"
    ext = _extreme_design(server, eng, m)
    if ext is None:  # no variation fitted: the reference itself, opted in
        ext = _create_design(server, eng, lfp, m, "private", benchmark_opt_in=True)
    markers[m] = "private"
    extreme = Item("design", "private", ext["id"], m, "design-private-optin", ext.get("document"))
    items.append(extreme)
    # its cell and pack KPIs (issue 16: the pack KPIs are released under the same rules)
    values = [
        form
        for key in (
            "specific_energy_Wh_kg",
            "energy_density_Wh_L",
            "pack_specific_energy_Wh_kg",
            "pack_energy_density_Wh_L",
        )
        for form in _number_forms(ext.get(key))
    ]
    assert len(values) >= 4, ext
    me = c.get("/api/me", headers=eng).json()
    ids = {"org": me["organisation"]["id"]}
    viewer = c.get("/api/me", headers=server.as_role(OWNER, "viewer")).json()
    ids["user"] = viewer["user_id"]
    # a token of kestrel's engineer that only the probes use (revoking it breaks nothing)
    bc, csrf = server.browser(demo_email(OWNER, "engineer"))
    r = bc.post("/api/tokens", json={"name": "leak-probe"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    ids["token"] = r.json()["id"]
    return World(
        server,
        make_actors(server),
        items,
        markers,
        extreme,
        values,
        sorted(jobs.values()),
        ids,
        uid,
    )


@pytest.fixture(scope="module")
def world(server, request) -> World:
    try:
        shared = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        shared = None
    t0 = time.monotonic()
    w = build_world(server, shared)
    print(f"\n[{server.backend}] leak-test setup {time.monotonic() - t0:.1f} s")
    return w


# ---------------------------------------------------------------------------------- snapshot


def _item_path(item: Item) -> str:
    return f"/api/{ {'design': 'designs', 'test': 'tests'}.get(item.kind, item.kind + 's') }/"


def snapshot(w: World) -> dict:
    """What a forbidden write might change, read as the owner."""
    c, eng = w.server.client, w.server.as_role(OWNER, "engineer")
    out: dict[str, Any] = {}
    for it in w.items:
        r = c.get(f"{_item_path(it)}{it.id}", headers=eng)
        body = r.json() if r.status_code == 200 else {}
        keys = ("name", "visibility", "benchmark_opt_in", "version", "document", "updated_at")
        out[it.label] = (r.status_code, {k: body.get(k) for k in keys})
    users = c.get(
        f"/api/organisations/{w.ids['org']}/users?limit=200",
        headers=w.server.as_role(OWNER, "admin"),
    )
    out["users"] = (
        users.status_code,
        sorted((u["email"], u["role"], u.get("is_active")) for u in users.json().get("items", [])),
    )
    tokens = c.get("/api/tokens", headers=eng).json()
    out["token"] = [t["revoked_at"] for t in tokens if t["id"] == w.ids["token"]]
    return out


# ---------------------------------------------------------------------------------- the walk


PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")


@dataclass(frozen=True)
class Target:
    """What a path parameter (or id-like query/body field) is substituted by."""

    kind: str  # design, ..., job, user, org, token, any
    id: int
    item: Item | None = None


def _all_routes(app) -> list[tuple[Any, Any]]:
    """(route, API route or None) of every route, also inside included routers (FastAPI >= 0.16x
    keeps them nested in ``app.routes``)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:  # older FastAPI: app.routes is flat
        return [(r, r if isinstance(r, APIRoute) else None) for r in app.routes]
    out = []
    for ctx in iter_contexts(app.routes):
        original = ctx.original_route
        out.append((ctx, original if isinstance(original, APIRoute) else None))
    return out


def walked_routes(app) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route, api_route in _all_routes(app):
        path = getattr(route, "path", "") or ""
        methods = getattr(route, "methods", None)
        if not methods or api_route is None:
            continue
        if path in SKIP_PATHS or path.startswith(SKIP_PREFIXES):
            continue
        for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
            out.append((method, path, api_route))
    return out


def _param_kind(path: str, name: str) -> str:
    segments = path.strip("/").split("/")
    for i, seg in enumerate(segments):
        if PARAM.fullmatch(seg) and PARAM.fullmatch(seg).group(1) == name and i > 0:
            kind = SEGMENT_KIND.get(segments[i - 1])
            if kind:
                return kind
    base = name.removesuffix("_id")
    return base if base in (*ITEM_KINDS, "job", "user", "org", "token") else "any"


def _targets(w: World, kind: str) -> list[Target]:
    if kind in ITEM_KINDS:
        return [Target(kind, it.id, it) for it in w.items if it.kind == kind]
    if kind == "job":
        return [Target("job", j) for j in w.job_ids]
    if kind in w.ids:
        return [Target(kind, w.ids[kind])]
    return [Target(it.kind, it.id, it) for it in w.items]  # unknown: every item


def _query_params(dependant) -> list[str]:
    names = [p.name for p in dependant.query_params]
    for sub in dependant.dependencies:
        names += _query_params(sub)
    return names


def _id_query_params(route: APIRoute) -> list[str]:
    return [
        n
        for n in _query_params(route.dependant)
        if n.endswith("_id") or n in ("ids", "source", "id")
    ]


def _query_names(route: APIRoute) -> set[str]:
    return set(_query_params(route.dependant))


def _body_fields(route: APIRoute) -> list[str]:
    body = route.body_field
    if body is None:
        return []
    model = getattr(body, "type_", None) or getattr(body.field_info, "annotation", None)
    fields = getattr(model, "model_fields", {})
    return [n for n in fields if n.endswith("_id")]


def _write_body(method: str, path: str, target: Target | None, extra: dict | None = None):
    """A plausible body for a write (JSON for the API, form fields for pages)."""
    last = path.rstrip("/").split("/")[-1]
    if last == "visibility":
        return {"visibility": "public", "benchmark_opt_in": True}
    if method == "PUT" and target is not None and target.item and target.item.document:
        doc = {**target.item.document, "name": f"PWNED-{target.item.marker}"}
        return {"document": doc, "version": None}
    if last == "simulations":
        return {"kind": "fast_charge", "c_rate": 2.0}
    if last == "lifetimes":
        return {"duty": "ev_daily"}
    if last == "users" and method == "POST":
        return {
            "email": f"intruder-{uuid.uuid4().hex[:6]}@evil.demo",
            "name": "Intruder",
            "role": "admin",
            "password": "intruder-password-123",
        }
    if target is not None and target.kind == "user":
        return {"role": "admin", "is_active": True}
    body = dict(extra or {})
    if last == "sweep":
        body.update(parameter="separator.thickness_um", start=10.0, stop=20.0, points=2)
    return body or None


@dataclass
class Call:
    method: str
    url: str
    path: str
    actor: Actor
    target: Target | None
    page: bool
    json: Any = None
    params: dict | None = None
    via: str = "path"  # how the target is named: path, query (a filter) or body


def _swap(v: Any, old: int, new: int) -> Any:
    return new if type(v) is int and v == old else v


def _send(w: World, call: Call, target_id: int | None = None):
    a = call.actor
    url = call.url
    if target_id is not None and call.target is not None:
        url = url.replace(f"/{call.target.id}", f"/{target_id}")
    params = dict(call.params or {})
    if target_id is not None and call.target is not None:
        params = {k: _swap(v, call.target.id, target_id) for k, v in params.items()}
    body = call.json
    if target_id is not None and isinstance(body, dict) and call.target is not None:
        body = {k: _swap(v, call.target.id, target_id) for k, v in body.items()}
    headers: dict[str, str] = {}
    if call.page or a.mode == "cookie":
        client = a.client
        if call.method != "GET" and a.csrf:
            headers["X-CSRF-Token"] = a.csrf
    else:
        client = a.api_client
        headers.update(a.headers)
    kw: dict[str, Any] = {"params": params or None, "headers": headers}
    if call.method != "GET":
        if call.page:
            form = {k: str(v) for k, v in (body or {}).items() if not isinstance(v, dict)}
            if a.csrf:
                form["csrf_token"] = a.csrf
            kw["data"] = form
        elif body is not None:
            kw["json"] = body
    return client.request(call.method, url, **kw)


def _readable(a: Actor, t: Target | None) -> bool | None:
    """Whether ``a`` may read the target (None: no rule to check)."""
    if t is None:
        return None
    if a.org is None:
        return False
    if t.item is not None:
        return a.may_read(t.item.visibility)
    if t.kind in ("job", "user", "org", "token"):
        return True if a.is_owner else False
    return None


def _legit_writer(a: Actor, t: Target | None, method: str, path: str) -> bool:
    """True when ``a`` may do this write (then it is not sent: the walk changes nothing)."""
    if a.org is None:
        return False
    if t is None:
        return True  # creating one's own things (designs, uploads, tokens)
    if t.kind == "token":
        return a.label == "kestrel-engineer"
    if t.kind in ("user", "org"):
        return a.label == "kestrel-admin"
    if a.is_owner and a.role in ("admin", "engineer"):
        return True
    return bool(a.can_create and _free_post(a, t, method, path))


def _free_post(a: Actor, t: Target | None, method: str, path: str) -> bool:
    """A POST that only needs read access to its target (a sweep, a job on a shared design)."""
    last = path.rstrip("/").split("/")[-1]
    return bool(
        method == "POST"
        and t is not None
        and _readable(a, t)
        and last not in GUARDED_VERBS
        and not PARAM.fullmatch(last)
    )


def _calls(w: World, method: str, path: str, route: APIRoute) -> list[Call]:
    page = not path.startswith("/api")
    names = PARAM.findall(path)
    qnames = _query_names(route)
    base: dict[str, Any] = {"limit": 200} if "limit" in qnames else {}
    calls: list[Call] = []
    for a in w.actors:
        if names:
            # one parameter substituted at a time by every target; others by the first target
            for name in names:
                for t in _targets(w, _param_kind(path, name)):
                    url = path
                    for other in names:
                        tid = t.id if other == name else _targets(w, _param_kind(path, other))[0].id
                        url = url.replace(f"{{{other}}}", str(tid))
                    url = PARAM.sub("0", url)
                    calls.append(
                        Call(method, url, path, a, t, page, _write_body(method, path, t), base)
                    )
            continue
        # no path parameter: the bare route, a text search, and id-like query/body fields
        calls.append(Call(method, path, path, a, None, page, _write_body(method, path, None), base))
        if "q" in qnames:
            calls.append(Call(method, path, path, a, None, page, None, {**base, "q": "LEAK"}))
        for qn in _id_query_params(route):
            kind = _param_kind(path, qn) if qn not in ("ids", "source") else "design"
            for t in _targets(w, kind):
                calls.append(
                    Call(method, path, path, a, t, page, None, {**base, qn: t.id}, "query")
                )
        if method != "GET":
            for bn in _body_fields(route):
                for t in _targets(w, _param_kind(path, bn)):
                    body = _write_body(method, path, t, {bn: t.id})
                    calls.append(Call(method, path, path, a, t, page, body, base, "body"))
    return calls


def _forbidden_status(r, page: bool) -> bool:
    if r.status_code in (401, 403, 404):
        return True
    return r.status_code in (302, 303, 307) and r.headers.get("location", "").startswith("/login")


def _oracle(r, r_missing, target_id: int) -> str | None:
    """How the answer about an existing item differs from the one about a missing id."""
    if r.status_code != r_missing.status_code:
        return f"status {r.status_code} vs {r_missing.status_code} for a missing id"
    a, b = r.text, r_missing.text.replace(str(MISSING_ID), str(target_id))
    if a == b:
        return None
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    i = min(i, len(a), len(b))
    return (
        f"body differs from a missing id's at {i}: {a[i - 60 : i + 80]!r} vs {b[i - 60 : i + 80]!r}"
    )


def _name(call: Call, r=None) -> str:
    item = call.target.item.label if call.target and call.target.item else None
    what = item or (f"{call.target.kind} {call.target.id}" if call.target else "-")
    q = f"?{call.params}" if call.params else ""
    s = f" -> {r.status_code}" if r is not None else ""
    mode = "cookie" if call.page else call.actor.mode
    return f"{call.method} {call.url}{q} as {call.actor.label} [{mode}] on {what}{s}"


def check_body(w: World, call: Call, r, problems: list[str]) -> None:
    a = call.actor
    text = r.text
    for marker, vis in w.markers.items():
        if not a.may_read(vis) and marker in text:
            problems.append(f"LEAK {_name(call, r)}: body contains {marker}")
    if not a.is_owner:
        for v in w.extreme_values:
            if v in text:
                problems.append(
                    f"LEAK {_name(call, r)}: body contains {v} (private opted-in design's value)"
                )
    if call.path in ("/api/benchmark", "/api/roadmap") or call.path.startswith("/api/benchmark/"):
        low = text.lower()
        for slug, name, _kind in DEMO_ORGS:
            for s in (slug, name):
                if s.lower() in low:
                    problems.append(f"LEAK {_name(call, r)}: aggregate names organisation {s!r}")


def walk(w: World, only_actors: set[str] | None = None, methods=None) -> tuple[list[str], int]:
    """Every route as every actor; returns the violations and the number of requests."""
    problems: list[str] = []
    n = 0
    app = w.server.client.app
    for method, path, route in walked_routes(app):
        if methods and method not in methods:
            continue
        for call in _calls(w, method, path, route):
            a = call.actor
            if only_actors and a.label not in only_actors:
                continue
            t = call.target
            write = method in WRITE_METHODS
            if write and _legit_writer(a, t, method, path):
                continue
            if write and t is None and a.org is not None:
                continue
            r = _send(w, call)
            n += 1
            if r.status_code >= 500:
                problems.append(f"5xx {_name(call, r)}: {r.text[:300]}")
                continue
            check_body(w, call, r, problems)
            if path in SCRAPER_PATHS:
                if r.status_code != 404:
                    problems.append(f"SCRAPER {_name(call, r)}: expected the missing page's 404")
                continue
            if a.org is None and path not in PUBLIC_PATHS:
                if not _forbidden_status(r, call.page) or r.status_code == 404:
                    problems.append(f"ANON {_name(call, r)}: expected 401 or a /login redirect")
                continue
            readable = _readable(a, t)
            must_fail = (write and not _free_post(a, t, method, path)) or readable is False
            if not must_fail:
                continue
            if t is not None and t.kind in ("user", "org", "token") and a.is_owner and not write:
                continue
            if call.via != "query" and not _forbidden_status(r, call.page):
                kind = "WRITE" if write else "READ"
                problems.append(f"{kind} {_name(call, r)}: expected 401/403/404; {r.text[:200]}")
                continue
            if (
                readable is False
                and t is not None
                and not (call.via == "query" and "audit" in path)
            ):
                # (an audit filter by item id lists the actor's own past actions on the item,
                # e.g. reads while it was shared: those are theirs to see)
                # the answer for an unreadable item is the answer for a missing one
                r2 = _send(w, call, MISSING_ID)
                n += 1
                diff = _oracle(r, r2, t.id)
                if diff:
                    problems.append(f"ORACLE {_name(call, r)}: {diff}")
    return problems, n


def _report(problems: list[str], limit: int = 60) -> str:
    head = "\n".join(problems[:limit])
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} violation(s):\n{head}{more}"


# ---------------------------------------------------------------------------------- tests


def test_the_walk_covers_every_route_and_the_items_exist(world):
    routes = walked_routes(world.server.client.app)
    paths = {p for _m, p, _r in routes}
    assert {"/api/designs/{design_id}", "/api/jobs/{job_id}", "/"} <= paths
    kinds = {it.kind for it in world.items}
    assert {"design", "simulation", "lifetime"} <= kinds
    for it in world.items:
        assert it.marker.startswith("LEAK-")
    # every path parameter maps to something known (a new kind of route needs a mapping here)
    unknown = sorted(
        f"{p} {{{n}}}"
        for _m, p, _r in routes
        for n in PARAM.findall(p)
        if _param_kind(p, n) == "any"
    )
    print("path parameters substituted by every item:", unknown)


def test_no_route_leaks_to_any_actor(world):
    before = snapshot(world)
    t0 = time.monotonic()
    problems, n = walk(world)
    after = snapshot(world)
    print(f"\n[{world.server.backend}] {n} requests in {time.monotonic() - t0:.1f} s")
    for key in before:
        if before[key] != after[key]:
            problems.append(f"CHANGED {key}: {before[key]!r} -> {after[key]!r}")
    assert not problems, _report(problems)


def test_revoking_a_share_hides_the_item_again(world):
    """consortium -> private: invisible again to the other members on every GET route."""
    c, eng = world.server.client, world.server.as_role(OWNER, "engineer")
    others = {"lantern-admin", "lantern-engineer", "lantern-engineer-cookie", "lantern-viewer"}
    others.add("ionics-engineer")
    shared = [it for it in world.items if it.visibility == "consortium"]
    # read them first (fills caches, writes audit entries about them)
    problems, _n = walk(world, only_actors=others, methods={"GET"})
    assert not problems, _report(problems)
    revoked: list[Item] = []
    sources: list[int] = []
    try:
        for it in shared:
            r = c.patch(
                f"{_item_path(it)}{it.id}/visibility", json={"visibility": "private"}, headers=eng
            )
            assert r.status_code == 200, r.text
            it.visibility = "private"
            world.markers[it.marker] = "private"
            revoked.append(it)
        # the source designs of the results carry the same marker: unshare them too
        r = c.get("/api/designs?limit=200&mine=true&q=LEAK-", headers=eng)
        for d in r.json()["items"]:
            if d["visibility"] == "consortium":
                r = c.patch(
                    f"/api/designs/{d['id']}/visibility",
                    json={"visibility": "private"},
                    headers=eng,
                )
                assert r.status_code == 200, r.text
                sources.append(d["id"])
        problems, n = walk(world, only_actors=others, methods={"GET"})
        assert n > 0
        assert not problems, _report(problems)
    finally:
        # the source designs first: a result is never shared wider than its design
        for i in sources:
            c.patch(f"/api/designs/{i}/visibility", json={"visibility": "consortium"}, headers=eng)
        for it in revoked:
            c.patch(
                f"{_item_path(it)}{it.id}/visibility",
                json={"visibility": "consortium"},
                headers=eng,
            )
            it.visibility = "consortium"
            world.markers[it.marker] = "consortium"


def test_out_of_range_ids_are_not_found(world):
    """An id beyond the database's integer range is a missing item (404 or 422), never a 5xx:
    PostgreSQL's INTEGER ends at 2**31 - 1, SQLite's at 2**63 - 1."""
    owners = [a for a in world.actors if a.label in ("kestrel-engineer", "kestrel-admin")]
    problems: list[str] = []
    for (method, path, route), owner in itertools.product(
        walked_routes(world.server.client.app), owners
    ):
        names = PARAM.findall(path)
        id_queries = [] if names else _id_query_params(route)
        if not names and not id_queries:
            continue
        for big in (2**31, 2**63):
            if names:
                url = PARAM.sub(str(big), path)
                call = Call(method, url, path, owner, None, not path.startswith("/api"))
                call.json = _write_body(method, path, None)
                calls = [call]
            else:
                calls = [
                    Call(
                        method,
                        path,
                        path,
                        owner,
                        None,
                        not path.startswith("/api"),
                        None,
                        {q: big},
                        "query",
                    )
                    for q in id_queries
                ]
            for call in calls:
                r = _send(world, call)
                if r.status_code >= 500 or r.status_code not in (200, 400, 403, 404, 422):
                    problems.append(f"{_name(call, r)}: {r.text[:120]}")
    assert not problems, _report(problems)
