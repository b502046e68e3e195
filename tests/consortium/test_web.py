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
