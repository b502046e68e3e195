"""The audit log: append-only and hash-chained.

Each entry stores the SHA-256 of the previous entry's hash and its own canonical content::

    hash_n = sha256(prev_hash_n || canonical_json(at, actor, action, item, detail))
    prev_hash_n = hash_(n-1),  prev_hash_1 = "0" * 64

so that changing, removing or reordering any entry breaks every later link;
:func:`verify` walks the chain (``casip platform audit-verify``). The database also refuses
UPDATE and DELETE on the table (triggers, see the initial migration).

Recorded: reads of other organisations' shared items, exports, and every permission and
visibility change (plus logins and token creation/revocation).

Appends are serialised by the database (see :func:`record`), so several server processes may
share one PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.models import AuditEvent

GENESIS = "0" * 64
log = logging.getLogger("casip.platform.audit")
_PG_LOCK_KEY = 0x0CA51B  # advisory lock id for audit appends


def _canonical(
    at: str, actor_user_id, actor_org_id, action, item_kind, item_id, detail: str
) -> str:
    return json.dumps(
        [at, actor_user_id, actor_org_id, action, item_kind, item_id, detail],
        separators=(",", ":"),
        ensure_ascii=True,
    )


def entry_hash(
    prev_hash: str, at: str, actor_user_id, actor_org_id, action, item_kind, item_id, detail: str
) -> str:
    body = _canonical(at, actor_user_id, actor_org_id, action, item_kind, item_id, detail)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record(
    db_session: Session,
    action: str,
    *,
    actor_user_id: int | None = None,
    actor_org_id: int | None = None,
    item_kind: str | None = None,
    item_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry inside the caller's transaction: it commits with the action it
    records, or not at all (see :func:`record_many`)."""
    entry = {
        "action": action,
        "actor_user_id": actor_user_id,
        "actor_org_id": actor_org_id,
        "item_kind": item_kind,
        "item_id": item_id,
        "detail": detail,
    }
    return record_many(db_session, [entry])[0]


def record_many(db_session: Session, entries: list[Mapping[str, Any]]) -> list[AuditEvent]:
    """Append several entries (dicts with the keyword arguments of :func:`record`), chained in
    order, inside the caller's transaction.

    The writer first takes the database's append lock (PostgreSQL: a transaction-level
    advisory lock; SQLite: the database write lock, taken by a no-op write), then reads the
    last hash, so concurrent appends cannot fork the chain."""
    if not entries:
        return []
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    else:  # SQLite: a write statement takes the single write lock until this transaction ends
        db_session.execute(sa.text("UPDATE audit_events SET action = action WHERE 0"))
    prev = (
        db_session.execute(
            sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).scalar_one_or_none()
        or GENESIS
    )
    at = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    events = []
    for e in entries:
        detail_text = json.dumps(
            dict(e.get("detail") or {}), sort_keys=True, separators=(",", ":"), default=str
        )
        fields = (
            e.get("actor_user_id"),
            e.get("actor_org_id"),
            e["action"],
            e.get("item_kind"),
            e.get("item_id"),
        )
        ev = AuditEvent(
            at=at,
            actor_user_id=fields[0],
            actor_org_id=fields[1],
            action=fields[2],
            item_kind=fields[3],
            item_id=fields[4],
            detail=detail_text,
            prev_hash=prev,
            hash=entry_hash(prev, at, *fields, detail_text),
        )
        events.append(ev)
        prev = ev.hash
    db_session.add_all(events)
    db_session.flush()
    return events


class _DeferredWriter:
    """Appends queued entries from one background thread (per database engine).

    Reads of other organisations' items happen on every page view and comparison; writing
    their audit entries inside each read request would turn every read into a write
    transaction (SQLite has one writer at a time). They are queued instead and appended in
    batches, in order, within about :data:`DEFER_S` seconds; :func:`flush` waits for the
    queue (the audit views and shutdown call it). Exports and every permission or visibility
    change are still written in the transaction of the request that makes them."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="casip-audit", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            time.sleep(DEFER_S)  # gather what arrives meanwhile: one transaction per batch
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for item in batch if not isinstance(item, threading.Event) for e in item]
            if entries:
                self._append(entries)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()

    def _append(self, entries: list[dict]) -> None:
        for attempt in range(3):
            try:
                with Session(self.engine) as s, s.begin():
                    record_many(s, entries)
                return
            except Exception:
                if attempt == 2:
                    log.exception("audit: %d queued entries could not be written", len(entries))
                time.sleep(0.2 * (attempt + 1))

    def flush(self, timeout_s: float = 30.0) -> bool:
        done = threading.Event()
        self.queue.put(done)
        return done.wait(timeout_s)


#: seconds the background writer waits to gather a batch
DEFER_S = 0.05
_WRITERS: dict[int, _DeferredWriter] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(engine) -> _DeferredWriter:
    with _WRITERS_LOCK:
        w = _WRITERS.get(id(engine))
        if w is None or w.engine is not engine:
            w = _WRITERS[id(engine)] = _DeferredWriter(engine)
        return w


def defer(db_session: Session, entries: list[Mapping[str, Any]]) -> None:
    """Queue entries for the background writer of ``db_session``'s database (see
    :class:`_DeferredWriter`); they are appended after the current request."""
    if entries:
        _writer(db_session.get_bind()).queue.put([dict(e) for e in entries])


def flush(engine_or_session) -> bool:
    """Wait until every queued entry of that database is in the log (True if done)."""
    engine = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    with _WRITERS_LOCK:
        w = _WRITERS.get(id(engine))
    return True if w is None or w.engine is not engine else w.flush()


@dataclass
class ChainReport:
    """Outcome of :func:`verify`."""

    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify(db_session: Session, batch: int = 5000) -> ChainReport:
    """Walk the whole chain; report the first entry whose link or content does not check."""
    prev = GENESIS
    n = 0
    last_id = 0
    while True:
        rows = (
            db_session.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainReport(True, n)
        for ev in rows:
            if ev.prev_hash != prev:
                return ChainReport(False, n, ev.id, "link to the previous entry broken")
            expect = entry_hash(
                ev.prev_hash,
                ev.at,
                ev.actor_user_id,
                ev.actor_org_id,
                ev.action,
                ev.item_kind,
                ev.item_id,
                ev.detail,
            )
            if expect != ev.hash:
                return ChainReport(False, n, ev.id, "content does not match its hash")
            prev = ev.hash
            n += 1
            last_id = ev.id
