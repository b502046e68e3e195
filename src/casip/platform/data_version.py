"""Data versions: counters that change whenever shared data changes, in every process.

Caches (the benchmark, the dashboard, authentication) are keyed by them. Five topics:

``items``
    designs, simulations, lifetime results, test datasets and organisations;
``designs``
    designs and organisations only (migration 0014): what the dashboard's scatter, the design
    comparison and the page frame show, which a finished simulation does not change;
``auth``
    users, API tokens, browser sessions and organisations;
``releases``
    the scheduled privacy releases (migration 0014);
``jobs``
    jobs: claims, progress, leases and results (migration 0014).

Several server processes (``casip serve --workers N``, several hosts) share one database, so
a version must move with every write by *any* process, in-place updates included (a revoked
token, a changed role, an unshared design). A version is therefore two parts:

* this process's counter of its committed ORM writes to the topic's tables (``after_flush``
  notes that a session wrote such a row, ``after_commit`` bumps the counter, a rollback forgets
  it), so that a write shows on this process's very next request;
* the database's counter, the row of the topic in ``data_versions`` (migration 0013): just
  before a session commits a write to the topic's tables, ``before_commit`` runs ``UPDATE
  data_versions SET version = version + 1 WHERE topic = ...`` in the same transaction, so the
  counter moves exactly when the write becomes visible, and never for a rolled-back write.
  Each process reads the counters (one primary-key query of two rows) at most once per
  :data:`DB_CHECK_S` seconds per database: another process's write, whatever it changed,
  invalidates this process's caches within that delay.

Cost: the bump is the last statement of a writing transaction, so the topic's row lock is
held only while the transaction commits; writers of one topic queue on it for that moment
(on SQLite, writers are serialised by the database anyway). Writes made outside SQLAlchemy's
ORM session (raw SQL by an operator) do not bump the counters; the caches' own maximum age
bounds how long such a write stays unseen. Hand-written because it is a few lines on
SQLAlchemy's session events; cache libraries (``cachetools``, ``dogpile.cache``) expire by age
or key, not by a version shared through the database.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.models import (
    ApiToken,
    DataVersion,
    Design,
    Job,
    LifetimeResult,
    Organisation,
    PrivacyRelease,
    Simulation,
    TestDataset,
    User,
    WebSession,
)

#: seconds between two reads of the database's counters (per process and database): the
#: longest a write by another process stays unseen by this process's caches
DB_CHECK_S = 1.0

TOPICS: dict[str, tuple[type, ...]] = {
    "items": (Design, Simulation, LifetimeResult, TestDataset, Organisation),
    "auth": (User, ApiToken, WebSession, Organisation),
    "designs": (Design, Organisation),
    "releases": (PrivacyRelease,),
    "jobs": (Job,),
}
VERSIONS = DataVersion.__table__


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
_DIRTY = "casip_dirty_topics"  # topics written in this transaction (this process's counter)
_UNBUMPED = "casip_unbumped_topics"  # topics written and not yet bumped in the database


def _mark(session: Session, classes) -> None:
    topics = {t for t, models in TOPICS.items() if any(issubclass(c, models) for c in classes)}
    if topics:
        session.info.setdefault(_DIRTY, set()).update(topics)
        session.info.setdefault(_UNBUMPED, set()).update(topics)


@sa.event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _ctx) -> None:
    # still the pre-flush state here: new, dirty and deleted list what was written
    _mark(session, {type(o) for o in (*session.new, *session.dirty, *session.deleted)})


@sa.event.listens_for(Session, "do_orm_execute")
def _note_bulk(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _mark(state.session, {m.class_ for m in state.all_mappers})


def _has_table(session: Session) -> bool:
    """Whether the session's database has the ``data_versions`` table (kept on the engine once
    found; a database below migration 0013 is asked again at most every DB_CHECK_S)."""
    engine = session.get_bind()
    hit = getattr(engine, "_casip_data_versions", None)
    now = time.monotonic()
    if hit is not None and (hit[0] or now - hit[1] < DB_CHECK_S):
        return hit[0]
    present = sa.inspect(session.connection()).has_table(VERSIONS.name)
    engine._casip_data_versions = (present, now)  # type: ignore[attr-defined]
    return present


@sa.event.listens_for(Session, "before_commit")
def _bump_in_database(session: Session) -> None:
    # the commit's own final flush runs after this hook: flush first, so that its writes are
    # noted, then bump in the same transaction
    if session.new or session.dirty or session.deleted:
        session.flush()
    topics = session.info.pop(_UNBUMPED, None)
    if topics and _has_table(session):
        session.execute(
            sa.update(VERSIONS)
            .where(VERSIONS.c.topic.in_(sorted(topics)))  # one order: no lock cycles
            .values(version=VERSIONS.c.version + 1)
        )


@sa.event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    for topic in session.info.pop(_DIRTY, ()):
        COUNTERS[topic].bump()


@sa.event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
    session.info.pop(_UNBUMPED, None)


def db_key(session: Session) -> str:
    """A key naming ``session``'s database in per-process caches (its URL without password;
    rendered once per engine: it is asked for on every request)."""
    engine = session.get_bind()
    key = getattr(engine, "_casip_db_key", None)
    if key is None:
        key = engine.url.render_as_string(hide_password=True)
        engine._casip_db_key = key  # type: ignore[attr-defined]
    return key


_DB_PART: dict[str, tuple[float, dict[str, int]]] = {}
_DB_LOCK = threading.Lock()


def database_versions(session: Session, max_age_s: float | None = None) -> dict[str, int]:
    """The database's counters (``{topic: version}``), read at most once per ``max_age_s``
    (default :data:`DB_CHECK_S`) seconds per database and process; empty below migration 0013.

    Parameters
    ----------
    session : Session
        A session on the database (the read runs in its transaction).
    max_age_s : float, optional
        How old a kept reading may be; 0 reads now.

    Returns
    -------
    dict
        Topic -> counter.
    """
    key = db_key(session)
    now = time.monotonic()
    limit = DB_CHECK_S if max_age_s is None else max_age_s
    with _DB_LOCK:
        hit = _DB_PART.get(key)
    if hit is not None and now - hit[0] < limit:
        return hit[1]
    if not _has_table(session):
        value: dict[str, int] = {}
    else:
        value = {
            t: int(v) for t, v in session.execute(sa.select(VERSIONS.c.topic, VERSIONS.c.version))
        }
    with _DB_LOCK:
        _DB_PART[key] = (now, value)
    return value


def fingerprint(session: Session, topics: tuple[str, ...] = ("items",)) -> tuple:
    """The data version of ``topics`` (default ``items``): for each, this process's write
    counter and the database's."""
    db = database_versions(session)
    return tuple(part for t in topics for part in (COUNTERS[t].value, db.get(t, 0)))


def auth_version(session: Session | None = None) -> tuple[int, int]:
    """The ``auth`` data version (see :mod:`casip.platform.deps`): this process's counter and,
    given a ``session``, the database's (else 0: this process's writes only)."""
    db = database_versions(session).get("auth", 0) if session is not None else 0
    return (COUNTERS["auth"].value, db)


class VersionedCache:
    """Values kept while the data version of some topics is unchanged (one cache per use).

    For read-only answers that depend only on the data and on the key (e.g. an organisation,
    never a user's session): the key must hold everything else the value depends on; the
    database is added to it. Entries are kept while the version of ``topics`` (default
    ``items``) is unchanged (every ORM write by any process moves it, see the module
    docstring) and at most ``max_age_s`` seconds (the bound for writes made outside the ORM);
    the cache holds at most ``max_entries`` keys."""

    def __init__(
        self,
        max_age_s: float = 5.0,
        max_entries: int = 512,
        topics: tuple[str, ...] = ("items",),
        stale_while_building: bool = False,
    ):
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown data-version topics {unknown}; expected {list(TOPICS)}")
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self.topics = tuple(topics)
        self.stale_while_building = stale_while_building
        self._lock = threading.Lock()
        self._data: dict[tuple, tuple[float, tuple, object]] = {}
        self._building: dict[tuple, threading.Lock] = {}

    def get(self, session: Session, key: tuple, build):
        """The value kept for ``key``, or ``build()`` (then kept).

        One build per key at a time: when a write invalidates an entry while many requests
        want it, one thread builds and the others wait for its value instead of each running
        the same queries (a dashboard under load would otherwise rebuild it once per waiting
        request)."""
        fp = fingerprint(session, self.topics)
        key = (db_key(session), *key)
        hit = self._fresh(key, fp)
        if hit is not None:
            return hit[2]
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
            old = self._data.get(key)
        stale_ok = self.stale_while_building and old is not None
        if not gate.acquire(blocking=not stale_ok):  # another thread is rebuilding it
            return old[2]
        try:
            hit = self._fresh(key, fp)  # built by the thread this one waited for
            if hit is not None:
                return hit[2]
            value = build()
            with self._lock:
                if len(self._data) >= self.max_entries:
                    self._data.clear()
                self._data[key] = (time.monotonic(), fp, value)
                self._building.pop(key, None)
        finally:
            gate.release()
        return value

    def _fresh(self, key: tuple, fp: tuple):
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[1] == fp and time.monotonic() - hit[0] < self.max_age_s:
            return hit
        return None


def json_bytes(value) -> bytes:
    """Compact JSON of an answer (kept serialised in a :class:`VersionedCache`)."""
    import json

    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
