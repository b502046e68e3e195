"""Data versions: cheap fingerprints that change whenever shared data changes.

Caches (the benchmark, the dashboard, authentication) are keyed by them. Two topics:

``items``
    designs, simulations, lifetime results, test datasets and organisations;
``auth``
    users, API tokens, browser sessions and organisations.

A fingerprint combines

* a counter of this process's committed ORM writes to the topic's tables (``after_flush``
  notes that a session wrote such a row, ``after_commit`` bumps the counter, a rollback forgets
  it), so every write made through this server shows on the next request;
* for ``items``, ``count(*)`` and ``max(id)`` of each table in one index-only query, so that
  rows created or deleted by another server process sharing the database are seen too. That
  query is run at most once per :data:`DB_CHECK_S` seconds per database (it scans the id
  indexes, a few milliseconds at 10,000 designs); writes by other processes therefore show
  within that delay, plus the caches' own maximum age for in-place updates.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.models import (
    ApiToken,
    Design,
    LifetimeResult,
    Organisation,
    Simulation,
    TestDataset,
    User,
    WebSession,
)

#: seconds between two checks of the database part of the ``items`` fingerprint
DB_CHECK_S = 1.0

TOPICS: dict[str, tuple[type, ...]] = {
    "items": (Design, Simulation, LifetimeResult, TestDataset, Organisation),
    "auth": (User, ApiToken, WebSession, Organisation),
}


class _WriteCounter:
    """Counts committed ORM writes to a topic's tables (this process)."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def bump(self) -> None:
        with self.lock:
            self.value += 1


COUNTERS = {topic: _WriteCounter() for topic in TOPICS}
#: the ``items`` counter (kept under its historical name)
WRITES = COUNTERS["items"]
_DIRTY = "casip_dirty_topics"


def _mark(session: Session, classes) -> None:
    topics = {t for t, models in TOPICS.items() if any(issubclass(c, models) for c in classes)}
    if topics:
        session.info.setdefault(_DIRTY, set()).update(topics)


@sa.event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _ctx) -> None:
    # still the pre-flush state here: new, dirty and deleted list what was written
    _mark(session, {type(o) for o in (*session.new, *session.dirty, *session.deleted)})


@sa.event.listens_for(Session, "do_orm_execute")
def _note_bulk(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _mark(state.session, {m.class_ for m in state.all_mappers})


@sa.event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    for topic in session.info.pop(_DIRTY, ()):
        COUNTERS[topic].bump()


@sa.event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)


def db_key(session: Session) -> str:
    """A key naming ``session``'s database in per-process caches (its URL without password;
    rendered once per engine: it is asked for on every request)."""
    engine = session.get_bind()
    key = getattr(engine, "_casip_db_key", None)
    if key is None:
        key = engine.url.render_as_string(hide_password=True)
        engine._casip_db_key = key  # type: ignore[attr-defined]
    return key


_DB_PART: dict[str, tuple[float, tuple]] = {}
_DB_LOCK = threading.Lock()


def _db_part(session: Session) -> tuple:
    key = db_key(session)
    now = time.monotonic()
    with _DB_LOCK:
        hit = _DB_PART.get(key)
    if hit is not None and now - hit[0] < DB_CHECK_S:
        return hit[1]
    parts = []
    for m in TOPICS["items"]:
        parts += [
            sa.select(sa.func.count()).select_from(m).scalar_subquery(),
            sa.select(sa.func.max(m.id)).scalar_subquery(),
        ]
    value = tuple(session.execute(sa.select(*parts)).one())
    with _DB_LOCK:
        _DB_PART[key] = (now, value)
    return value


def fingerprint(session: Session) -> tuple:
    """The ``items`` data version: this process's write counter and the database part."""
    counter = WRITES.value
    return (counter, *_db_part(session))


def auth_version() -> int:
    """The ``auth`` data version of this process (see :mod:`casip.platform.deps`)."""
    return COUNTERS["auth"].value


class VersionedCache:
    """Values kept while the ``items`` data version is unchanged (one cache per use).

    For read-only answers that depend only on the data and on the key (e.g. an organisation,
    never a user's session): the key must hold everything else the value depends on; the
    database is added to it. Entries are kept at most ``max_age_s`` seconds (the bound on how
    late an in-place update by another server process shows) and the cache holds at most
    ``max_entries`` keys."""

    def __init__(self, max_age_s: float = 5.0, max_entries: int = 512):
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._data: dict[tuple, tuple[float, tuple, object]] = {}

    def get(self, session: Session, key: tuple, build):
        """The value kept for ``key``, or ``build()`` (then kept)."""
        fp = fingerprint(session)
        key = (db_key(session), *key)
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[1] == fp and now - hit[0] < self.max_age_s:
            return hit[2]
        value = build()
        with self._lock:
            if len(self._data) >= self.max_entries:
                self._data.clear()
            self._data[key] = (now, fp, value)
        return value


def json_bytes(value) -> bytes:
    """Compact JSON of an answer (kept serialised in a :class:`VersionedCache`)."""
    import json

    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
