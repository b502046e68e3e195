"""Administration: organisations, users and roles, and the audit-log API (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from casip.platform import admin
from casip.platform.seed import PLATFORM_SLUG, demo_email

PASSWORD = "a-long-enough-password"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.test"


def _org_ids(server) -> dict[str, int]:
    r = server.client.get("/api/organisations", headers=server.as_role("kestrel", "viewer"))
    assert r.status_code == 200, r.text
    return {o["slug"]: o["id"] for o in r.json()}


def _login(server, email: str, password: str = PASSWORD) -> tuple[dict[str, str], TestClient, str]:
    """API-token headers, a cookie-logged-in client and its CSRF token for ``email``."""
    c = TestClient(server.client.app)
    r = c.post("/api/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    r = c.post("/api/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}, c, csrf


def _add_user(server, org_slug: str, role: str, tag: str = "user") -> dict:
    email = _email(tag)
    r = server.client.post(
        f"/api/organisations/{_org_ids(server)[org_slug]}/users",
        json={"email": email, "name": f"{tag} {role}", "role": role, "password": PASSWORD},
        headers=server.as_role(org_slug, "admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _doc(server, headers, name: str) -> dict:
    doc = server.client.get("/api/designs/2", headers=headers).json()["document"]
    doc["name"] = name
    return doc


def _platform_admin(server) -> dict[str, str]:
    """Headers of a new admin of the platform organisation (created as the operator would)."""
    email = _email("operator")
    with server.platform.db.session() as s:
        org = admin.org_by_slug(s, PLATFORM_SLUG)
        admin.add_user(s, org, email, "Operator", "admin", PASSWORD, admin.ActorRef(via="test"))
    return _login(server, email)[0]


def _audit(server, headers, **params) -> dict:
    r = server.client.get("/api/audit", params={"limit": 200, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_organisations_are_public_but_not_their_users(server):
    r = server.client.get(
        "/api/organisations", headers=server.as_role("programme-office", "viewer")
    )
    assert r.status_code == 200
    orgs = r.json()
    assert {o["slug"] for o in orgs} >= {"kestrel", "lantern", "basalt", "programme-office"}
    assert all(set(o) == {"id", "slug", "name", "kind"} for o in orgs)
    assert "@" not in r.text
    assert server.client.get("/api/organisations").status_code == 401


def test_admin_creates_an_engineer_who_logs_in_and_creates_designs(server):
    ids, h_admin = _org_ids(server), server.as_role("kestrel", "admin")
    url = f"/api/organisations/{ids['kestrel']}/users"
    email = _email("new-engineer")
    body = {"email": email, "name": "New Engineer", "role": "engineer", "password": PASSWORD}
    r = server.client.post(url, json=body, headers=h_admin)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "engineer" and r.json()["org_id"] == ids["kestrel"]
    assert "password" not in r.text and "argon2" not in r.text
    # duplicate e-mail (case-insensitive), short password, unknown role
    r = server.client.post(url, json={**body, "email": email.upper()}, headers=h_admin)
    assert r.status_code == 409 and email in r.json()["detail"]
    r = server.client.post(
        url, json={**body, "email": _email("x"), "password": "Zq9!kk"}, headers=h_admin
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    assert "Zq9!kk" not in r.text  # never echoed
    r = server.client.post(
        url, json={**body, "email": _email("x"), "role": "boss"}, headers=h_admin
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    # the new engineer logs in and creates a design of their organisation
    h_new = _login(server, email)[0]
    r = server.client.post(
        "/api/designs", json={"document": _doc(server, h_new, "by the new engineer")}, headers=h_new
    )
    assert r.status_code == 201, r.text
    listed = server.client.get(url, params={"limit": 200}, headers=h_admin).json()
    assert email in {u["email"] for u in listed["items"]}


def test_engineers_and_viewers_cannot_manage_users(server):
    ids = _org_ids(server)
    victim = _add_user(server, "lantern", "viewer", "victim")
    for role in ("engineer", "viewer"):
        h = server.as_role("lantern", role)
        assert (
            server.client.get(f"/api/organisations/{ids['lantern']}/users", headers=h).status_code
            == 403
        )
        r = server.client.post(
            f"/api/organisations/{ids['lantern']}/users",
            json={"email": _email("x"), "name": "X", "role": "admin", "password": PASSWORD},
            headers=h,
        )
        assert r.status_code == 403
        r = server.client.patch(f"/api/users/{victim['id']}", json={"role": "admin"}, headers=h)
        assert r.status_code == 403


def test_an_admin_cannot_see_or_manage_another_organisations_users(server):
    ids, h_lantern = _org_ids(server), server.as_role("lantern", "admin")
    kestrel_user = _add_user(server, "kestrel", "viewer", "kestrel-only")
    r = server.client.get(f"/api/organisations/{ids['kestrel']}/users", headers=h_lantern)
    assert r.status_code in (403, 404) and "@" not in r.text
    r = server.client.post(
        f"/api/organisations/{ids['kestrel']}/users",
        json={"email": _email("intruder"), "name": "I", "role": "admin", "password": PASSWORD},
        headers=h_lantern,
    )
    assert r.status_code in (403, 404)
    r = server.client.patch(
        f"/api/users/{kestrel_user['id']}", json={"is_active": False}, headers=h_lantern
    )
    assert r.status_code in (403, 404) and kestrel_user["email"] not in r.text
    h_kestrel = server.as_role("kestrel", "admin")
    users = server.client.get(
        f"/api/organisations/{ids['kestrel']}/users", params={"limit": 200}, headers=h_kestrel
    ).json()["items"]
    assert {u["email"]: u["is_active"] for u in users}[kestrel_user["email"]] is True


def test_deactivation_ends_tokens_and_sessions_at_once(server):
    user = _add_user(server, "basalt", "engineer", "leaver")
    h_user, browser, _csrf = _login(server, user["email"])
    assert server.client.get("/api/me", headers=h_user).status_code == 200
    assert browser.get("/api/me").status_code == 200
    h_admin = server.as_role("basalt", "admin")
    r = server.client.patch(f"/api/users/{user['id']}", json={"is_active": False}, headers=h_admin)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert server.client.get("/api/me", headers=h_user).status_code == 401
    assert browser.get("/api/me").status_code == 401
    r = server.client.post("/api/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 401
    # reactivated: may log in again, but the old token stays revoked
    r = server.client.patch(f"/api/users/{user['id']}", json={"is_active": True}, headers=h_admin)
    assert r.status_code == 200
    assert server.client.get("/api/me", headers=h_user).status_code == 401
    h_again = _login(server, user["email"])[0]
    assert server.client.get("/api/me", headers=h_again).status_code == 200


def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(server):
    me = server.client.get("/api/me", headers=server.as_role("ionics-institute", "admin")).json()
    h_admin = server.as_role("ionics-institute", "admin")
    for change in ({"role": "engineer"}, {"is_active": False}):
        r = server.client.patch(f"/api/users/{me['user_id']}", json=change, headers=h_admin)
        assert r.status_code == 409, r.text
        assert "no active admin" in r.json()["detail"]
    # with a second admin, that one may step down (the first stays the last admin)
    second = _add_user(server, "ionics-institute", "admin", "second-admin")
    h_second = _login(server, second["email"])[0]
    r = server.client.patch(f"/api/users/{second['id']}", json={"role": "viewer"}, headers=h_second)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    r = server.client.patch(f"/api/users/{me['user_id']}", json={"role": "viewer"}, headers=h_admin)
    assert r.status_code == 409
    assert server.client.get("/api/me", headers=h_admin).json()["role"] == "admin"


def test_role_and_visibility_changes_appear_in_the_audit_log_with_their_actor(server):
    h_admin, h_eng = server.as_role("kestrel", "admin"), server.as_role("kestrel", "engineer")
    admin_email, eng_email = demo_email("kestrel", "admin"), demo_email("kestrel", "engineer")
    user = _add_user(server, "kestrel", "viewer", "promoted")
    server.client.patch(f"/api/users/{user['id']}", json={"role": "engineer"}, headers=h_admin)
    did = server.client.post(
        "/api/designs", json={"document": _doc(server, h_eng, "audited share")}, headers=h_eng
    ).json()["id"]
    server.client.patch(
        f"/api/designs/{did}/visibility", json={"visibility": "consortium"}, headers=h_eng
    )
    page = _audit(server, h_admin, item_kind="user", item_id=user["id"])
    changes = [e for e in page["items"] if e["detail"].get("change") == "update user"]
    assert len(changes) == 1 and changes[0]["action"] == "permission"
    assert changes[0]["detail"]["changes"] == {"role": ["viewer", "engineer"]}
    assert changes[0]["actor"]["email"] == admin_email
    created = [e for e in page["items"] if e["detail"].get("change") == "create user"]
    assert created and created[0]["actor"]["email"] == admin_email
    vis = _audit(server, h_admin, action="visibility", item_kind="design", item_id=did)["items"]
    assert len(vis) == 1 and vis[0]["actor"]["email"] == eng_email
    assert vis[0]["detail"]["to"] == "consortium"
    ids = [e["id"] for e in _audit(server, h_admin)["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    for role in ("engineer", "viewer"):
        h = server.as_role("kestrel", role)
        assert server.client.get("/api/audit", headers=h).status_code == 403


def test_an_org_admin_sees_foreign_reads_of_its_items_but_not_other_orgs_items(server):
    h_owner, h_reader = server.as_role("kestrel", "engineer"), server.as_role("lantern", "engineer")
    h_basalt = server.as_role("basalt", "engineer")
    mine = server.client.post(
        "/api/designs",
        json={"document": _doc(server, h_owner, "shared by kestrel"), "visibility": "consortium"},
        headers=h_owner,
    ).json()["id"]
    theirs = server.client.post(
        "/api/designs",
        json={"document": _doc(server, h_basalt, "shared by basalt"), "visibility": "consortium"},
        headers=h_basalt,
    ).json()["id"]
    assert server.client.get(f"/api/designs/{mine}", headers=h_reader).status_code == 200
    assert server.client.get(f"/api/designs/{theirs}", headers=h_reader).status_code == 200

    h_kestrel = server.as_role("kestrel", "admin")
    reads = _audit(server, h_kestrel, action="read", item_kind="design", item_id=mine)["items"]
    assert len(reads) == 1
    who = reads[0]["actor"]
    assert who["organisation"] == "Lantern Motors (demo)"
    assert who["user_id"] is None and who["email"] is None  # the organisation, not the person
    assert demo_email("lantern", "engineer") not in str(reads)
    # events about basalt's item (by lantern) are not kestrel's business
    assert _audit(server, h_kestrel, item_kind="design", item_id=theirs)["total"] == 0
    everything = _audit(server, h_kestrel)
    assert everything["total"] > 0
    assert all(e["item_id"] != theirs or e["item_kind"] != "design" for e in everything["items"])
    # the reader's admin sees their own engineer's reads, by name
    lantern = _audit(
        server, server.as_role("lantern", "admin"), action="read", item_kind="design", item_id=mine
    )["items"]
    assert lantern and lantern[0]["actor"]["email"] == demo_email("lantern", "engineer")
    # the platform's admins see everything
    h_platform = _platform_admin(server)
    assert _audit(server, h_platform, item_kind="design", item_id=theirs)["total"] >= 2
    assert _audit(server, h_platform)["total"] > everything["total"]


def test_chain_verification_is_for_platform_admins_only(server):
    for h in (server.as_role("kestrel", "admin"), server.as_role("programme-office", "admin")):
        r = server.client.get("/api/audit/verify", headers=h)
        assert r.status_code == 403
    r = server.client.get("/api/audit/verify", headers=_platform_admin(server))
    assert r.status_code == 200
    rep = r.json()
    assert rep["ok"] is True and rep["entries"] > 0 and rep["first_bad_id"] is None
