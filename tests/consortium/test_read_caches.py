"""The answers kept per process between writes (design comparison, benchmark, dashboard):
a warm request reads nothing from the database, yet access checks, audited reads and
invalidation by writes behave exactly as without the caches."""

from __future__ import annotations

import sqlalchemy as sa

from casip.platform import audit
from casip.platform.models import AuditEvent


class Statements:
    """The SQL statements the platform's engine runs while this is active."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[str] = []

    def _note(self, conn, cursor, statement, params, context, executemany):
        self.seen.append(statement)

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._note)

    def on(self, table: str) -> list[str]:
        selects = [s for s in self.seen if s.lstrip().upper().startswith("SELECT")]
        return [s for s in selects if f" {table}" in s]


def _engine(server):
    return server.client.app.state.platform.db.engine


def _create(server, slug: str, name: str, visibility: str = "private") -> int:
    h = server.as_role(slug)
    items = server.client.get("/api/designs?limit=200", headers=h).json()["items"]
    ref = next(d["id"] for d in items if d["reference_id"] == "assb-sulfide-li")
    doc = server.client.get(f"/api/designs/{ref}", headers=h).json()["document"]
    doc["name"] = name
    r = server.client.post(
        "/api/designs", json={"document": doc, "visibility": visibility}, headers=h
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _reads(server, design_id: int) -> int:
    audit.flush(_engine(server))
    with server.client.app.state.platform.db.session() as s:
        return s.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "read", AuditEvent.item_id == design_id)
        ).scalar_one()


def test_a_warm_comparison_reads_no_design_row_and_never_the_documents(sqlite_server):
    a = _create(sqlite_server, "kestrel", "cache probe A", "consortium")
    b = _create(sqlite_server, "kestrel", "cache probe B", "consortium")
    h = sqlite_server.as_role("kestrel")
    url = f"/api/designs/compare?ids={a},{b}"
    with Statements(_engine(sqlite_server)) as cold:
        first = sqlite_server.client.get(url, headers=h)
    assert first.status_code == 200
    assert [d["name"] for d in first.json()["designs"]] == ["cache probe A", "cache probe B"]
    # the summary columns only: a design's document (tens of kB of JSON) is not read
    assert cold.on("designs") and not any("designs.document" in s for s in cold.on("designs"))
    with Statements(_engine(sqlite_server)) as warm:
        second = sqlite_server.client.get(url, headers=h)
    assert second.json() == first.json()
    assert warm.on("designs") == []


def test_a_write_shows_on_the_next_comparison(sqlite_server):
    a = _create(sqlite_server, "kestrel", "before rename", "consortium")
    h = sqlite_server.as_role("kestrel")
    url = f"/api/designs/compare?ids={a}"
    assert sqlite_server.client.get(url, headers=h).json()["designs"][0]["name"] == "before rename"
    full = sqlite_server.client.get(f"/api/designs/{a}", headers=h).json()
    doc = {**full["document"], "name": "after rename"}
    r = sqlite_server.client.put(
        f"/api/designs/{a}", json={"document": doc, "version": full["version"]}, headers=h
    )
    assert r.status_code == 200, r.text
    assert sqlite_server.client.get(url, headers=h).json()["designs"][0]["name"] == "after rename"


def test_cached_rows_are_still_checked_and_audited_per_request(sqlite_server):
    mine = _create(sqlite_server, "kestrel", "kept private")
    shared = _create(sqlite_server, "kestrel", "shared with the consortium", "consortium")
    own, other = sqlite_server.as_role("kestrel"), sqlite_server.as_role("lantern")
    url = f"/api/designs/compare?ids={mine},{shared}"
    assert sqlite_server.client.get(url, headers=own).status_code == 200  # rows now cached
    r = sqlite_server.client.get(url, headers=other)
    assert r.status_code == 404 and str(mine) in r.text
    before = _reads(sqlite_server, shared)
    for _ in range(3):
        r = sqlite_server.client.get(f"/api/designs/compare?ids={shared}", headers=other)
        assert r.status_code == 200
    assert _reads(sqlite_server, shared) == before + 3
    # unshared: refused on the next request although the rows were cached
    r = sqlite_server.client.patch(
        f"/api/designs/{shared}/visibility", json={"visibility": "private"}, headers=own
    )
    assert r.status_code == 200, r.text
    r = sqlite_server.client.get(f"/api/designs/compare?ids={shared}", headers=other)
    assert r.status_code == 404
