"""Authentication, designs, sharing and the audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from casip.platform import audit
from casip.platform.models import AuditEvent
from casip.platform.seed import DEMO_PASSWORD, demo_email


def _doc(server, headers, design_id=2, name="test design"):
    doc = server.client.get(f"/api/designs/{design_id}", headers=headers).json()["document"]
    doc["name"] = name
    return doc


def test_login_wrong_password_and_unknown_user_answer_alike(server):
    c = server.client
    a = c.post("/api/login", json={"email": demo_email("kestrel", "engineer"), "password": "nope"})
    b = c.post("/api/login", json={"email": "nobody@nowhere.demo", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.headers["content-type"] == "application/problem+json"
    assert a.json()["detail"] == b.json()["detail"]


def test_password_is_stored_as_argon2id(server):
    from casip.platform.models import User

    with server.platform.db.session() as s:
        h = s.execute(sa.select(User.password_hash).limit(1)).scalar_one()
    assert h.startswith("$argon2id$") and DEMO_PASSWORD not in h


def test_cookie_session_requires_csrf_for_writes(server):
    c, csrf = server.browser(demo_email("kestrel", "engineer"))
    doc = _doc(server, server.as_role("kestrel"))
    assert c.post("/api/designs", json={"document": doc}).status_code == 403
    assert (
        c.post(
            "/api/designs", json={"document": doc}, headers={"X-CSRF-Token": "x" * 43}
        ).status_code
        == 403
    )
    r = c.post("/api/designs", json={"document": doc}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert c.get("/api/me").json()["organisation"]["slug"] == "kestrel"
    assert c.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.get("/api/me").status_code == 401


def test_revoked_token_stops_working(server):
    c, csrf = server.browser(demo_email("lantern", "viewer"))
    tok = c.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf}).json()
    h = {"Authorization": f"Bearer {tok['token']}"}
    assert server.client.get("/api/me", headers=h).status_code == 200
    assert c.delete(f"/api/tokens/{tok['id']}", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert server.client.get("/api/me", headers=h).status_code == 401
    with server.platform.db.session() as s:  # only the hash is stored
        assert not s.execute(
            sa.text("SELECT 1 FROM api_tokens WHERE token_hash = :t"), {"t": tok["token"]}
        ).first()


def test_design_is_evaluated_by_the_engine_and_bad_input_is_named(server):
    h = server.as_role("kestrel")
    ref = server.client.get("/api/designs?q=LFP blade", headers=h).json()["items"][0]
    assert ref["reference_id"] == "lfp-blade" and 150 < ref["specific_energy_Wh_kg"] < 200
    doc = _doc(server, h, ref["id"])
    doc["cathode"]["porosity"] = 1.7
    r = server.client.post("/api/designs", json={"document": doc}, headers=h)
    assert r.status_code == 422
    assert (
        r.json()["errors"][0]["field"] == "cathode.porosity"
        and r.json()["errors"][0]["value"] == 1.7
    )


def test_private_design_is_invisible_to_other_members_until_shared(server):
    owner, other, sponsor = (
        server.as_role("kestrel"),
        server.as_role("lantern"),
        server.as_role("programme-office", "viewer"),
    )
    r = server.client.post(
        "/api/designs", json={"document": _doc(server, owner, name="secret cell X9")}, headers=owner
    )
    did = r.json()["id"]
    for h in (other, sponsor):
        assert server.client.get(f"/api/designs/{did}", headers=h).status_code == 404
        assert "secret cell X9" not in server.client.get("/api/designs?limit=200", headers=h).text
    assert (
        server.client.patch(
            f"/api/designs/{did}/visibility", json={"visibility": "consortium"}, headers=other
        ).status_code
        == 404
    )
    assert (
        server.client.patch(
            f"/api/designs/{did}/visibility", json={"visibility": "consortium"}, headers=owner
        ).status_code
        == 200
    )
    assert server.client.get(f"/api/designs/{did}", headers=other).status_code == 200
    assert (
        server.client.get(f"/api/designs/{did}", headers=sponsor).status_code == 404
    )  # never raw items
    assert (
        server.client.put(
            f"/api/designs/{did}", json={"document": _doc(server, owner, did)}, headers=other
        ).status_code
        == 403
    )
    server.client.patch(
        f"/api/designs/{did}/visibility", json={"visibility": "private"}, headers=owner
    )
    assert server.client.get(f"/api/designs/{did}", headers=other).status_code == 404  # revoked


def test_concurrent_edit_loses_with_409(server):
    h = server.as_role("basalt")
    doc = _doc(server, h, name="edited twice")
    d = server.client.post("/api/designs", json={"document": doc}, headers=h).json()
    doc["separator"]["thickness_um"] = doc["separator"]["thickness_um"] + 1
    assert (
        server.client.put(
            f"/api/designs/{d['id']}", json={"document": doc, "version": d["version"]}, headers=h
        ).status_code
        == 200
    )
    doc["separator"]["thickness_um"] += 1
    r = server.client.put(
        f"/api/designs/{d['id']}", json={"document": doc, "version": d["version"]}, headers=h
    )
    assert r.status_code == 409


def test_audit_chain_records_foreign_reads_and_detects_tampering(server):
    owner, other = server.as_role("kestrel"), server.as_role("basalt")
    did = server.client.post(
        "/api/designs",
        json={"document": _doc(server, owner), "visibility": "consortium"},
        headers=owner,
    ).json()["id"]
    server.client.get(f"/api/designs/{did}", headers=other)
    server.client.get(f"/api/designs/{did}/export", headers=other)
    audit.flush(server.platform.db.engine)  # reads are appended by the background writer
    with server.platform.db.session() as s:
        actions = (
            s.execute(
                sa.select(AuditEvent.action).where(
                    AuditEvent.item_id == did, AuditEvent.item_kind == "design"
                )
            )
            .scalars()
            .all()
        )
        assert {"visibility", "read", "export"} <= set(actions)
        rep = audit.verify(s)
        assert rep.ok and rep.entries >= 3
    # the database refuses to change an entry
    with server.platform.db.engine.connect() as conn:
        try:
            conn.execute(sa.text("UPDATE audit_events SET detail = '{}' WHERE id = 1"))
            conn.commit()
            refused = False
        except sa.exc.DBAPIError:
            refused = True
    assert refused


def test_verify_names_the_first_tampered_entry(tmp_path):
    from casip.platform.db import Database, upgrade

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db.engine)
    with db.session() as s:
        for i in range(5):
            audit.record(s, "read", actor_user_id=1, actor_org_id=1, item_kind="design", item_id=i)
    with db.session() as s:
        assert audit.verify(s).ok and audit.verify(s).entries == 5
    with db.engine.begin() as c:  # an attacker with file access drops the guard and edits
        c.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        c.execute(sa.text("UPDATE audit_events SET item_id = 99 WHERE id = 3"))
    with db.session() as s:
        rep = audit.verify(s)
    assert not rep.ok and rep.first_bad_id == 3 and rep.entries == 2
