"""The server-rendered web pages (TestClient): login, access, escaping, CSRF."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from casip.platform.seed import DEMO_PASSWORD, demo_email

PAGES = (
    "/",
    "/designs",
    "/designs/new",
    "/compare",
    "/compare?ids=1,2",
    "/simulations",
    "/tests",
    "/benchmark",
    "/roadmap",
    "/admin",
)
SECRET_NAME = "Lantern secret <b>cell</b> & co"


def login(server, slug: str, role: str) -> TestClient:
    c = TestClient(server.client.app)
    r = c.post(
        "/login",
        data={"email": demo_email(slug, role), "password": DEMO_PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no csrf meta tag"
    return m.group(1)


@pytest.fixture(scope="module")
def secret(sqlite_server) -> dict:
    """A private design of Lantern (demo) with a unique name that needs escaping."""
    h = sqlite_server.as_role("lantern")
    c = sqlite_server.client
    doc = c.get("/api/designs/1", headers=h).json()["document"]
    doc["name"] = SECRET_NAME
    r = c.post("/api/designs", json={"document": doc}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("path", [*PAGES, "/designs/1", "/designs/1/edit", "/tests/1"])
def test_pages_redirect_to_login_when_logged_out(sqlite_server, path):
    c = TestClient(sqlite_server.client.app)
    r = c.get(path, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/")


def test_login_page_and_bad_password(sqlite_server):
    c = TestClient(sqlite_server.client.app)
    r = c.get("/login")
    assert r.status_code == 200 and 'name="password"' in r.text
    r = c.post(
        "/login",
        data={"email": demo_email("kestrel", "engineer"), "password": "wrong", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 401
    assert "Wrong e-mail or password" in r.text
    assert "casip_session" not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil.example"])
def test_open_redirect_is_not_followed(sqlite_server, target):
    c = TestClient(sqlite_server.client.app)
    assert f'value="{target}"' not in c.get("/login", params={"next": target}).text
    r = c.post(
        "/login",
        data={
            "email": demo_email("kestrel", "engineer"),
            "password": DEMO_PASSWORD,
            "next": target,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_login_redirects_to_a_local_next(sqlite_server):
    c = TestClient(sqlite_server.client.app)
    r = c.post(
        "/login",
        data={
            "email": demo_email("kestrel", "viewer"),
            "password": DEMO_PASSWORD,
            "next": "/compare?ids=1",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/compare?ids=1"
    assert c.get("/compare?ids=1").status_code == 200


@pytest.mark.parametrize(
    ("slug", "role"), [("kestrel", "engineer"), ("programme-office", "viewer")]
)
def test_every_page_renders(sqlite_server, slug, role):
    c = login(sqlite_server, slug, role)
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "Demo consortium: fictitious organisations and data" in r.text
        assert 'name="csrf-token"' in r.text
    assert c.get("/designs/1").status_code == 200  # a public reference cell
    assert "LFP" in c.get("/compare").text


def test_design_pages_of_a_writer(sqlite_server, secret):
    c = login(sqlite_server, "lantern", "engineer")
    r = c.get(f"/designs/{secret['id']}")
    assert r.status_code == 200
    assert "Lantern secret &lt;b&gt;cell&lt;/b&gt; &amp; co" in r.text  # escaped
    assert "<b>cell</b>" not in r.text
    assert 'action="/designs/' in r.text  # the sharing form
    r = c.get(f"/designs/{secret['id']}/edit")
    assert r.status_code == 200 and '"schema"' in r.text
    assert "<b>cell</b>" not in r.text  # embedded JSON escapes < and >
    assert (
        SECRET_NAME.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        in c.get("/designs", params={"q": "Lantern secret"}).text
    )


def test_private_design_never_appears_for_other_organisations(sqlite_server, secret):
    for slug, role in (("kestrel", "engineer"), ("programme-office", "viewer")):
        c = login(sqlite_server, slug, role)
        pages = [*PAGES, "/designs?q=Lantern", f"/compare?ids={secret['id']}"]
        for p in range(1, 4):
            pages.append(f"/designs?page={p}")
        for path in pages:
            r = c.get(path)
            assert r.status_code == 200, path
            assert "Lantern secret" not in r.text, (slug, path)
        for path in (f"/designs/{secret['id']}", f"/designs/{secret['id']}/edit"):
            r = c.get(path)
            assert r.status_code == 404 and "Lantern secret" not in r.text
        assert "Lantern secret" not in c.get(f"/designs/new?source={secret['id']}").text


def test_viewer_may_not_edit(sqlite_server, secret):
    c = login(sqlite_server, "lantern", "viewer")
    assert c.get(f"/designs/{secret['id']}").status_code == 200
    assert c.get(f"/designs/{secret['id']}/edit").status_code == 403


def test_form_posts_need_the_csrf_token(sqlite_server, secret):
    c = login(sqlite_server, "lantern", "engineer")
    csrf = csrf_of(c.get("/admin").text)
    assert c.post("/admin/tokens", data={"name": "x"}).status_code == 403
    assert c.post("/admin/tokens", data={"name": "x", "csrf_token": "y" * 43}).status_code == 403
    r = c.post(
        f"/designs/{secret['id']}/visibility",
        data={"visibility": "public"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert c.post("/logout", follow_redirects=False).status_code == 403
    assert c.get("/").status_code == 200  # still logged in
    # with the token: a new API token is shown once, then revoked
    r = c.post("/admin/tokens", data={"name": "web test", "csrf_token": csrf})
    assert r.status_code == 200 and "shown only once" in r.text
    secret_token = re.search(r'<code id="new-token" class="secret">([^<]+)</code>', r.text)[1]
    assert secret_token not in c.get("/admin").text
    tok = sqlite_server.client.get("/api/me", headers={"Authorization": f"Bearer {secret_token}"})
    assert tok.status_code == 200
    token_id = re.findall(r'action="/admin/tokens/(\d+)/revoke"', c.get("/admin").text)[-1]
    r = c.post(
        f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    tok = sqlite_server.client.get("/api/me", headers={"Authorization": f"Bearer {secret_token}"})
    assert tok.status_code == 401
    r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/", follow_redirects=False).status_code == 303


def test_sharing_form_changes_visibility(sqlite_server):
    h = sqlite_server.as_role("basalt")
    doc = sqlite_server.client.get("/api/designs/1", headers=h).json()["document"]
    doc["name"] = "Basalt shared by form"
    d = sqlite_server.client.post("/api/designs", json={"document": doc}, headers=h).json()
    c = login(sqlite_server, "basalt", "engineer")
    csrf = csrf_of(c.get(f"/designs/{d['id']}").text)
    r = c.post(
        f"/designs/{d['id']}/visibility",
        data={"visibility": "consortium", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert sqlite_server.client.get(f"/api/designs/{d['id']}", headers=h).json()["visibility"] == (
        "consortium"
    )
    other = login(sqlite_server, "kestrel", "viewer")
    assert "Basalt shared by form" in other.get(f"/designs/{d['id']}").text
    assert "Basalt shared by form" in other.get("/").text  # on the dashboard (cached)
    r = c.post(
        f"/designs/{d['id']}/visibility",
        data={"visibility": "private", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Basalt shared by form" not in other.get("/").text  # the cache follows at once
    assert other.get(f"/designs/{d['id']}").status_code == 404


def test_dashboard_embeds_only_the_needed_columns(sqlite_server):
    c = login(sqlite_server, "kestrel", "engineer")
    html = c.get("/").text
    m = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    import json

    data = json.loads(m[1])
    assert data["points"] and set(data["points"][0]) == {
        "id",
        "name",
        "kind",
        "wh_kg",
        "wh_l",
        "ref",
        "own",
    }
    assert any(p["ref"] == "lfp-blade" for p in data["points"])
    assert len(data["targets"]) == 3


API_OF_PAGE = {
    "/simulations": "casip.platform.api.jobs",
    "/tests": "casip.platform.api.tests",
    "/benchmark": "casip.platform.api.benchmark",
    "/roadmap": "casip.platform.api.benchmark",
}


def test_pages_use_the_apis_that_exist_and_say_when_one_is_missing(sqlite_server):
    import importlib.util

    c = login(sqlite_server, "kestrel", "engineer")
    for path, module in API_OF_PAGE.items():
        present = importlib.util.find_spec(module) is not None
        assert ('id="not-available"' in c.get(path).text) is not present, path
    state = sqlite_server.client.app.state
    saved = getattr(state, "web_route_paths", None)
    state.web_route_paths = {"/api/designs"}  # as if the other routers were not written yet
    try:
        for path in (*API_OF_PAGE, "/admin", "/designs/1"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert "not available" in r.text, path
    finally:
        state.web_route_paths = saved


# ---------------------------------------------------------------------------------------------
# issue 12 (items 1, 2, 5, 6, 9, 15): error pages, the compare baseline, job messages and
# design names, results on a design's page, dashboard counts, the favicon


def _reference_id(server, reference_id: str) -> int:
    h = server.as_role("kestrel")
    items = server.client.get("/api/designs?limit=200", headers=h).json()["items"]
    return next(d["id"] for d in items if d["reference_id"] == reference_id)


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/no-such-page", 404, "there is no page at /no-such-page"),
        ("/designs/abc", 422, "design_id &#39;abc&#39;"),
        ("/designs/99999999", 404, "no design with id 99999999"),
        ("/designs/99999999999", 404, "no design with id 99999999999"),
        ("/tests/abc", 422, "test_id"),
        ("/designs?page=0", 422, "page"),
        ("/static/no-such.js", 404, "there is no page at /static/no-such.js"),
    ],
)
def test_browsers_get_an_html_error_page_outside_the_api(sqlite_server, path, status, text):
    c = login(sqlite_server, "kestrel", "engineer")
    # the path decides, not the Accept header: a page never answers problem JSON
    for accept in ("text/html", "application/json"):
        r = c.get(path, headers={"Accept": accept})
        assert r.status_code == status, (path, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
        assert text in r.text, (path, r.text[:2000])
        assert 'aria-label="Main"' in r.text  # inside the layout, with the navigation
        assert 'id="error"' in r.text and "about:blank" not in r.text


def test_other_statuses_get_html_pages_too(sqlite_server):
    c = login(sqlite_server, "kestrel", "engineer")
    r = c.delete("/designs")
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
    assert "DELETE is not accepted at /designs" in r.text and "GET" in r.headers["allow"]
    r = c.post("/admin/tokens", data={"name": "x"})  # no CSRF token
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "Not allowed" in r.text and "csrf_token" in r.text
    # logged out: still a page, without the navigation, offering to log in
    anon = TestClient(sqlite_server.client.app)
    r = anon.get("/no-such-page")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert 'href="/login"' in r.text and 'aria-label="Main"' not in r.text


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [("/api/no-such", 404, None), ("/api/designs/abc", 422, "design_id"), ("/api", 404, None)],
)
def test_the_api_keeps_problem_json(sqlite_server, path, status, field):
    c = login(sqlite_server, "kestrel", "engineer")
    r = c.get(path, headers={"Accept": "text/html"})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["detail"]
    if field:
        assert body["errors"][0]["field"] == field


def test_compare_lists_the_lfp_baseline_once(sqlite_server):
    import json

    c = login(sqlite_server, "kestrel", "engineer")
    lfp = _reference_id(sqlite_server, "lfp-blade")
    other = _reference_id(sqlite_server, "assb-sulfide-li")
    for ids in (f"{lfp},{other}", f"{other},{lfp}", f"{other}"):
        html = c.get(f"/compare?ids={ids}").text
        table = html.split('id="compare-table"')[1].split("</table>")[0]
        assert table.count('class="baseline"') == 1, ids
        assert table.count(f'href="/designs/{lfp}"') == 1, ids
        assert table.count(f'href="/designs/{other}"') == 1, ids
        m = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
        data = json.loads(m[1])
        shown = [d["id"] for d in data["designs"]]
        if data["baseline"]:
            shown.append(data["baseline"]["id"])
        assert sorted(shown) == sorted({lfp, other}), ids


def _card_count(html: str) -> int:
    m = re.search(
        r'id="card-designs".*?<div class="value"><a href="/designs">(\d+)</a>', html, re.S
    )
    assert m, "no designs card"
    return int(m[1])


def _designs_total(html: str) -> int:
    m = re.search(r"(\d+) designs? you can read", html)
    assert m, "no total on the designs page"
    return int(m[1])


@pytest.mark.parametrize(
    ("slug", "role"),
    [
        ("kestrel", "engineer"),
        ("lantern", "viewer"),
        ("programme-office", "viewer"),
        ("programme-office", "admin"),
    ],
)
def test_dashboard_counts_what_the_designs_page_lists(sqlite_server, slug, role):
    c = login(sqlite_server, slug, role)
    dash = c.get("/").text
    assert _card_count(dash) == _designs_total(c.get("/designs").text) > 0
    mine = _designs_total(c.get("/designs?mine=1").text)
    assert f'<a href="/designs?mine=1">{mine} of your organisation</a>' in dash


def test_actions_are_offered_only_to_who_may_do_them(sqlite_server):
    for slug, role, may in (
        ("programme-office", "viewer", False),
        ("programme-office", "admin", False),
        ("kestrel", "viewer", False),
        ("basalt", "engineer", True),
    ):
        c = login(sqlite_server, slug, role)
        dash = c.get("/").text
        if 'id="no-jobs"' in dash:  # an organisation without jobs
            assert ("run a fast-charge" in dash) is may, (slug, role)
        assert ("Start new ones" in c.get("/simulations").text) is may, (slug, role)
        assert ('"can_create": ' + ("true" if may else "false")) in c.get("/simulations").text


def _wait_job(server, headers, job_id: int, limit_s: float = 120.0) -> dict:
    import time

    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        job = server.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_finished_jobs_say_done_and_name_their_readable_design(sqlite_server):
    c, h = sqlite_server.client, sqlite_server.as_role("kestrel")
    design = _reference_id(sqlite_server, "assb-sulfide-li")
    r = c.post(f"/api/designs/{design}/lifetimes", json={"duty": "ev_daily"}, headers=h)
    assert r.status_code == 202, r.text
    job = _wait_job(sqlite_server, h, r.json()["job"]["id"])
    assert job["status"] == "done", job["error"]
    assert job["message"].startswith("done: 80 % capacity after "), job["message"]
    assert "under ev_daily" in job["message"] and "storing" not in job["message"]
    name = c.get(f"/api/designs/{design}", headers=h).json()["name"]
    assert job["design_name"] == name
    listed = {j["id"]: j for j in c.get("/api/jobs", headers=h).json()["items"]}
    assert listed[job["id"]]["design_name"] == name
    # a job on another organisation's design: named while shared, not once unshared
    rival = sqlite_server.as_role("lantern")
    doc = c.get(f"/api/designs/{design}", headers=rival).json()["document"]
    doc["name"] = "Lantern design shared for a while"
    shared = c.post("/api/designs", json={"document": doc}, headers=rival).json()
    r = c.patch(
        f"/api/designs/{shared['id']}/visibility", json={"visibility": "consortium"}, headers=rival
    )
    assert r.status_code == 200, r.text
    r = c.post(f"/api/designs/{shared['id']}/lifetimes", json={"duty": "ev_daily"}, headers=h)
    job2 = _wait_job(sqlite_server, h, r.json()["job"]["id"])
    assert job2["design_name"] == "Lantern design shared for a while"
    c.patch(
        f"/api/designs/{shared['id']}/visibility", json={"visibility": "private"}, headers=rival
    )
    listed = {j["id"]: j for j in c.get("/api/jobs", headers=h).json()["items"]}
    assert listed[job2["id"]]["design_name"] is None
    assert "Lantern design shared" not in c.get("/api/jobs", headers=h).text
    assert c.get(f"/api/jobs/{job2['id']}", headers=h).json()["design_name"] is None


def test_a_jobs_message_from_before_done_messages_reads_done(sqlite_server):
    from casip.platform.jobs import finished_message
    from casip.platform.models import Job

    job = Job(kind="lifetime", status="done", message="storing the result", params={})

    assert finished_message(job) == "done"
    job.status = "running"
    assert finished_message(job) == "storing the result"


def test_done_messages_say_what_was_found():
    from casip.platform.runs import charge_done_message, lifetime_done_message

    msg = charge_done_message(
        {"time_min": 23.44, "soc_start": 0.1, "soc_end": 0.8, "binding_limit": "plating"}
    )
    assert msg == "done: 10-80 % in 23.4 min (limited by plating)"
    msg = charge_done_message({"time_min": 12.0, "binding_limit": "none"})
    assert msg == "done: 10-80 % in 12.0 min"
    assert lifetime_done_message(
        {"years_to_80": None, "cycles_to_80": None}, {"horizon_years": 15}, "ev_daily"
    ) == ("done: capacity stays above 80 % within 15 years under ev_daily")
    assert lifetime_done_message(
        {"years_to_80": 9.24, "cycles_to_80": 1012.4}, {}, "stationary_storage"
    ) == ("done: 80 % capacity after 9.2 years (1,012 cycles) under stationary_storage")


TINY_STUDY = {
    "schema": "casip.study/1",
    "name": "tiny loading study",
    "parameters": {"cathode_loading_mAh_cm2": {"low": 3.0, "high": 5.0, "levels": 2}},
    "objectives": {"specific_energy_Wh_kg": "max", "cost_usd_kWh": "min"},
    "method": {"kind": "factorial"},
}


def test_a_designs_page_lists_its_readable_results(sqlite_server):
    c, h = sqlite_server.client, sqlite_server.as_role("kestrel")
    design = _reference_id(sqlite_server, "oxide-anode-free")
    r = c.post(f"/api/designs/{design}/lifetimes", json={"duty": "ev_daily"}, headers=h)
    life = _wait_job(sqlite_server, h, r.json()["job"]["id"])
    assert life["status"] == "done", life["error"]
    r = c.post(
        "/api/studies",
        json={"study": {**TINY_STUDY, "design": f"design:{design}"}},
        headers=h,
    )
    assert r.status_code == 202, r.text
    study = _wait_job(sqlite_server, h, r.json()["job"]["id"])
    assert study["status"] == "done", study["error"]
    assert study["message"] == "done: 2 designs evaluated, " + study["message"].split(", ")[1]
    # Kestrel's page of the design lists both, each linking to its result
    page = login(sqlite_server, "kestrel", "viewer").get(f"/designs/{design}").text
    assert 'id="results"' in page
    assert f'href="/simulations?lifetime={life["result_id"]}"' in page
    assert f'href="/simulations?job={study["id"]}"' in page and "tiny loading study" in page
    # another organisation sees neither (private results; jobs are the organisation's own)
    other = login(sqlite_server, "lantern", "engineer").get(f"/designs/{design}").text
    assert f"lifetime={life['result_id']}" not in other and "tiny loading study" not in other
    # a shared demo design's seeded lifetime result is listed to the consortium
    with sqlite_server.platform.db.session() as s:
        import sqlalchemy as sa

        from casip.platform.models import Design, LifetimeResult

        lid, did = s.execute(
            sa.select(LifetimeResult.id, LifetimeResult.design_id)
            .join(Design, Design.id == LifetimeResult.design_id)
            .where(Design.visibility == "consortium", LifetimeResult.visibility == "consortium")
            .limit(1)
        ).one()
    seen = login(sqlite_server, "kestrel", "engineer").get(f"/designs/{did}").text
    assert f'href="/simulations?lifetime={lid}"' in seen
    assert (
        login(sqlite_server, "programme-office", "viewer").get(f"/designs/{did}").status_code == 404
    )


def test_the_favicon_is_served(sqlite_server):
    c = TestClient(sqlite_server.client.app)
    for path in ("/favicon.ico", "/static/favicon.svg"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("image/svg+xml")
        assert r.text.lstrip().startswith("<svg")
    page = login(sqlite_server, "kestrel", "engineer").get("/").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


def test_dashboard_shows_stage_one_as_a_range(sqlite_server):
    dash = login(sqlite_server, "kestrel", "engineer").get("/").text
    assert "200–300 <small>Wh/kg</small>" in dash  # CASIP stage 1 is 200-300 Wh/kg
    assert "400 <small>Wh/kg</small>" in dash and "–400" not in dash
