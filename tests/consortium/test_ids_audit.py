"""Identifiers and the audit log (issue 11): ids are never reused, the audit view filters on
the owner recorded with each event, and an answered read is in the log even if the server is
killed right after answering (journal synced before the answer, replayed at start)."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from casip.cli import app as cli_app
from casip.platform import audit
from casip.platform.db import Database, upgrade
from casip.platform.models import AuditEvent, Organisation
from casip.platform.seed import demo_email


def _org_id(server, slug: str) -> int:
    with server.platform.db.session() as s:
        return s.execute(sa.select(Organisation.id).where(Organisation.slug == slug)).scalar_one()


def _new_design(server, headers, name: str, visibility: str = "private") -> int:
    ref = server.client.get("/api/designs", params={"limit": 1}, headers=headers).json()
    doc = server.client.get(f"/api/designs/{ref['items'][0]['id']}", headers=headers).json()
    doc = doc["document"]
    doc["name"] = name
    r = server.client.post(
        "/api/designs", json={"document": doc, "visibility": visibility}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _audit(server, headers, **params) -> dict:
    r = server.client.get("/api/audit", params={"limit": 200, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


# ----------------------------------------------------------------------------------------------
# Ids and the audit view
# ----------------------------------------------------------------------------------------------


def test_a_deleted_designs_id_is_not_given_to_another_organisations_next_design(server):
    h_kestrel = server.as_role("kestrel", "engineer")
    h_basalt = server.as_role("basalt", "engineer")
    gone = _new_design(server, h_kestrel, "kestrel secret", "consortium")
    assert server.client.get(f"/api/designs/{gone}/export", headers=h_basalt).status_code == 200
    server.client.patch(
        f"/api/designs/{gone}/visibility", json={"visibility": "private"}, headers=h_kestrel
    )
    assert server.client.delete(f"/api/designs/{gone}", headers=h_kestrel).status_code in (
        200,
        204,
    )
    new = _new_design(server, server.as_role("lantern", "engineer"), "lantern next")
    assert new > gone  # SQLite without AUTOINCREMENT handed `gone` out again
    # lantern's admin sees nothing of kestrel's deleted design's export and visibility history
    h_admin = server.as_role("lantern", "admin")
    for item_id in (gone, new):
        events = _audit(server, h_admin, item_kind="design", item_id=item_id)["items"]
        assert all(e["actor"]["organisation"] != "Kestrel Cells (demo)" for e in events), events
        assert not [e for e in events if e["action"] in ("export", "visibility")]


def test_the_audit_view_filters_on_the_owner_recorded_with_the_event(server):
    """An entry about an item id is shown to the organisation that owned the item *when the
    event happened*, never to whoever owns that id today."""
    h_basalt = server.as_role("basalt", "engineer")
    theirs = _new_design(server, h_basalt, "basalt today")
    kestrel, lantern = _org_id(server, "kestrel"), _org_id(server, "lantern")
    with server.platform.db.session() as s:  # an event recorded when the id was kestrel's
        ev = audit.record(
            s,
            "export",
            actor_user_id=None,
            actor_org_id=lantern,
            item_kind="design",
            item_id=theirs,
            detail={"owner_org_id": kestrel, "visibility": "consortium"},
            item_owner_org_id=kestrel,
        )
        assert ev.item_owner_org_id == kestrel and ev.hash_version == audit.HASH_VERSION
    basalt_view = _audit(server, server.as_role("basalt", "admin"), item_id=theirs)["items"]
    assert ev.id not in {e["id"] for e in basalt_view}
    kestrel_view = _audit(server, server.as_role("kestrel", "admin"), item_id=theirs)["items"]
    assert ev.id in {e["id"] for e in kestrel_view}
    # every item event written by the platform records its owner
    with server.platform.db.session() as s:
        rows = s.execute(
            sa.select(AuditEvent.item_owner_org_id).where(
                AuditEvent.item_kind == "design", AuditEvent.item_id == theirs
            )
        ).scalars()
        assert set(rows) >= {kestrel}
        assert audit.verify(s).ok


def test_a_changed_recorded_owner_breaks_the_chain(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db.engine)
    with db.session() as s:
        for i in range(1, 4):
            audit.record(s, "read", actor_org_id=2, item_kind="design", item_id=i,
                         item_owner_org_id=1)  # fmt: skip
    with db.engine.begin() as c:  # an attacker with file access moves an entry to org 3
        c.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        c.execute(sa.text("UPDATE audit_events SET item_owner_org_id = 3 WHERE id = 2"))
    with db.session() as s:
        rep = audit.verify(s)
    assert not rep.ok and rep.first_bad_id == 2
    db.dispose()


# ----------------------------------------------------------------------------------------------
# Migration 0006 on a database written by revision 0005
# ----------------------------------------------------------------------------------------------

_NOW = "2026-12-01 10:00:00"


def _insert(c, table: str, **values) -> int:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    return c.execute(
        sa.text(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING id"), values
    ).scalar_one()


def _design(c, org: int, name: str) -> int:
    return _insert(
        c,
        "designs",
        name=name,
        kind="cell",
        version=1,
        visibility="consortium",
        benchmark_opt_in=False,
        created_at=_NOW,
        updated_at=_NOW,
        owner_org_id=org,
        document="{}",
        metrics="{}",
    )


def _v1_entry(c, prev: str, action: str, actor_org: int | None, kind: str, item: int, detail):
    """An entry as revision 0005's code wrote it (hash version 1)."""
    text = json.dumps(detail, sort_keys=True, separators=(",", ":"))
    at = "2026-12-01T10:00:00.000000+00:00"
    h = audit.entry_hash(prev, at, None, actor_org, action, kind, item, text)
    c.execute(
        sa.text(
            "INSERT INTO audit_events (at, actor_user_id, actor_org_id, action, item_kind, "
            "item_id, detail, prev_hash, hash) VALUES (:at, NULL, :o, :a, :k, :i, :d, :p, :h)"
        ),
        {"at": at, "o": actor_org, "a": action, "k": kind, "i": item, "d": text, "p": prev, "h": h},
    )
    return h


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0006_keeps_old_entries_verifying_and_backfills_recorded_owners(
    backend, tmp_path, database_url_factory
):
    with database_url_factory(backend, tmp_path) as url:
        db = Database(url)
        try:
            upgrade(db.engine, "0005")
            with db.engine.begin() as c:
                a = _insert(c, "organisations", slug="a", name="A", kind="member",
                            is_demo=False, created_at=_NOW)  # fmt: skip
                b = _insert(c, "organisations", slug="b", name="B", kind="member",
                            is_demo=False, created_at=_NOW)  # fmt: skip
                user = _insert(c, "users", email="u@b.test", name="U", org_id=b, role="admin",
                               password_hash="x", is_active=True, created_at=_NOW)  # fmt: skip
                kept = _design(c, a, "kept")
                reused = _design(c, a, "a's design whose id was reused")
                gone = _design(c, a, "deleted, id never reused")
                h = audit.GENESIS
                h = _v1_entry(c, h, "visibility", a, "design", reused, {"to": "consortium"})
                h = _v1_entry(c, h, "read", b, "design", reused,
                              {"owner_org_id": a, "visibility": "consortium"})  # fmt: skip
                h = _v1_entry(c, h, "export", b, "design", gone,
                              {"owner_org_id": a, "visibility": "consortium"})  # fmt: skip
                h = _v1_entry(c, h, "permission", None, "user", user, {"change": "create user"})
                # revision 0005 on SQLite: deleting the last design freed its id, and the
                # next design (another organisation's) took the id of `reused`'s slot
                c.execute(sa.text("DELETE FROM designs WHERE id IN (:r, :g)"),
                          {"r": reused, "g": gone})  # fmt: skip
                c.execute(
                    sa.text(
                        "INSERT INTO designs (id, name, kind, version, visibility, "
                        "benchmark_opt_in, created_at, updated_at, owner_org_id, document, "
                        "metrics) VALUES (:i, 'b now', 'cell', 1, 'private', false, :t, :t, "
                        ":o, '{}', '{}')"
                    ),
                    {"i": reused, "t": _NOW, "o": b},
                )
            upgrade(db.engine)
            with db.session() as s:
                rep = audit.verify(s)
                assert rep.ok and rep.entries == 4, rep
                owners = dict(
                    s.execute(sa.select(AuditEvent.action, AuditEvent.item_owner_org_id)).all()
                )
                assert owners == {"visibility": a, "read": a, "export": a, "permission": b}
                assert set(s.execute(sa.select(AuditEvent.hash_version)).scalars()) == {1}
                audit.record(s, "read", actor_org_id=b, item_kind="design", item_id=kept)
            with db.session() as s:
                assert audit.verify(s).ok and audit.verify(s).entries == 5
            with db.engine.begin() as c:  # neither an id nor a freed id is handed out again
                assert _design(c, b, "next") > gone > kept
            with db.engine.connect() as c, pytest.raises(sa.exc.DBAPIError):
                c.execute(sa.text("DELETE FROM audit_events"))  # still append-only
            with db.engine.connect() as c, pytest.raises(sa.exc.DBAPIError):
                c.execute(sa.text("UPDATE audit_events SET item_owner_org_id = NULL"))
        finally:
            db.dispose()


# ----------------------------------------------------------------------------------------------
# The read journal
# ----------------------------------------------------------------------------------------------


def _read_entry(i: int) -> dict:
    return {
        "action": "read",
        "actor_user_id": 7,
        "actor_org_id": 2,
        "item_kind": "design",
        "item_id": i,
        "item_owner_org_id": 1,
        "detail": {"owner_org_id": 1, "visibility": "consortium"},
    }


def test_a_dead_journal_is_replayed_once_and_a_live_one_not_at_all(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db.engine)
    folder = tmp_path / "journal"
    live = audit.Journal(folder)
    live.append([_read_entry(1)])
    dead = audit.Journal(folder)
    dead.append([_read_entry(2), _read_entry(3)])
    copy = tmp_path / "copy.jsonl"
    shutil.copy(dead.path, copy)
    dead.close()  # what a killed server leaves: the file, no lock
    assert dead.path.exists()
    assert audit.replay(db.engine, folder) == 2
    assert not dead.path.exists() and live.path.exists()
    shutil.copy(copy, dead.path)  # e.g. killed after the commit, before the delete
    assert audit.replay(db.engine, folder) == 0  # nothing doubled
    with db.session() as s:
        seqs = s.execute(
            sa.select(AuditEvent.journal_seq).where(AuditEvent.journal_source == dead.source)
        ).scalars()
        assert sorted(seqs) == [1, 2]
        rep = audit.verify(s, journal_dir=folder)
        assert rep.ok and rep.entries == 2 and rep.pending == 1  # the live journal's entry
    live.close()
    db.dispose()


def test_verify_reports_a_hole_in_a_runs_numbering_as_missing_entries(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    upgrade(db.engine)
    numbered = [{**_read_entry(i), "journal_source": "a" * 32, "journal_seq": i} for i in (1, 2, 3)]
    with db.session() as s:
        audit.record_many(s, [numbered[0], numbered[2]])  # entry 2 never reached the table
    with db.session() as s:
        rep = audit.verify(s, journal_dir=tmp_path / "none")
    assert not rep.ok and rep.missing == [f"{'a' * 32}:2-2"] and "missing" in rep.reason
    folder = tmp_path / "journal"  # the same entry still in a journal: pending, not missing
    folder.mkdir()
    (folder / f"{'a' * 32}.jsonl").write_text(json.dumps(numbered[1]) + "\n")
    with db.session() as s:
        rep = audit.verify(s, journal_dir=folder)
    assert rep.ok and rep.pending == 1
    db.dispose()


# ----------------------------------------------------------------------------------------------
# A real server killed right after answering an audited read
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_read_answered_just_before_kill_9_is_in_the_log_after_restart(
    tmp_path, live_server_factory
):
    data = tmp_path / "data"
    server = live_server_factory(data).start()
    try:
        base = server.base
        h_reader = server.token(demo_email("lantern", "engineer"))
        h_admin = server.token(demo_email("lantern", "admin"))
        me = httpx.get(base + "/api/me", headers=h_reader).json()
        members = {
            o["id"] for o in httpx.get(base + "/api/organisations", headers=h_reader).json()
            if o["kind"] == "member" and o["id"] != me["organisation"]["id"]
        }  # fmt: skip
        designs = httpx.get(base + "/api/designs", params={"limit": 200}, headers=h_reader)
        target = next(
            d["id"]
            for d in designs.json()["items"]
            if d["owner_org_id"] in members and d["visibility"] == "consortium"
        )
        before = httpx.get(
            base + "/api/audit",
            params={"action": "read", "item_kind": "design", "item_id": target},
            headers=h_admin,
        ).json()["total"]
        with httpx.Client(base_url=base, headers=h_reader) as c:
            c.get("/api/me")  # connection open: the read below is answered at once
            r = c.get(f"/api/designs/{target}")
            server.kill()  # kill -9 right after the answer arrives
        assert r.status_code == 200
    finally:
        server.kill()
    # before the restart, verification knows the answered read is still owed to the log
    result = CliRunner().invoke(
        cli_app,
        ["platform", "audit-verify", "--data-dir", str(data)],
    )
    assert result.exit_code == 0, result.output
    assert "audit log intact" in result.output and "1 answered read(s)" in result.output
    with server.start():
        reads = httpx.get(
            base + "/api/audit",
            params={"action": "read", "item_kind": "design", "item_id": target},
            headers=server.token(demo_email("lantern", "admin")),
        ).json()
        assert reads["total"] == before + 1
        assert reads["items"][0]["actor"]["email"] == demo_email("lantern", "engineer")
    result = CliRunner().invoke(
        cli_app,
        ["platform", "audit-verify", "--data-dir", str(data)],
    )
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output
    assert "answered read(s) still in the journal" not in result.output
