"""The audit log: append-only, hash-chained, and durable for every answered read.

Each entry stores the SHA-256 of the previous entry's hash and its own canonical content::

    hash_n = sha256(prev_hash_n || canonical_json(entry_n))
    prev_hash_n = hash_(n-1),  prev_hash_1 = "0" * 64

so that changing, removing or reordering any entry breaks every later link;
:func:`verify` walks the chain (``casip platform audit-verify``). The database also refuses
UPDATE and DELETE on the table (triggers, see the migrations 0001 and 0006).

The canonical content is versioned (column ``hash_version``):

* version 1 (entries written before migration 0006): ``[at, actor_user_id, actor_org_id,
  action, item_kind, item_id, detail]``;
* version 2 (every entry written since): ``["v2", at, actor_user_id, actor_org_id, action,
  item_kind, item_id, item_owner_org_id, journal_source, journal_seq, detail]``, so that the
  owner recorded with an event (which decides which organisation admin sees it, see
  :func:`casip.platform.access.audit_visible_clause`) and the journal position cannot be
  changed unnoticed either. Old entries keep verifying under version 1; the owner that
  migration 0006 backfilled into them is outside their hash.

Recorded: reads of other organisations' shared items, exports, and every permission and
visibility change (plus logins and token creation/revocation). Each entry about an item, a
user, a token or an organisation carries ``item_owner_org_id``: the organisation that owned it
when the event happened.

Reads are journaled (:class:`Journal`): a read entry is appended to a local file in the data
folder and ``fdatasync``'d before the answer leaves, then written to the database by a
background writer (:class:`_DeferredWriter`, in batches). Entries of a journal carry the id of
the server run that wrote them (``journal_source``) and a sequence number (``journal_seq``, 1,
2, 3, ... per run): a journal left behind by a killed server is replayed at the next start
(idempotent: a ``(source, seq)`` already in the table is skipped, and the pair is unique), and
:func:`verify` reports any hole in a run's numbers as missing entries.

Appends are serialised by the database (see :func:`record_many`), so several server processes
may share one PostgreSQL database; each process keeps its own journal file (locked with
``flock`` while the process lives, so a starting process replays only dead ones; a new journal
is locked before it gets its ``.jsonl`` name, so a process starting at the same moment never
replays it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.models import ITEM_MODELS, ApiToken, AuditEvent, User

GENESIS = "0" * 64
#: version of the canonical content written by :func:`record_many` (see the module docstring)
HASH_VERSION = 2
#: folder of the read journals, inside the platform's data folder
JOURNAL_DIR = "audit-journal"
#: bytes a journal file is preallocated with, and grown by when full (see :class:`Journal`)
JOURNAL_SEGMENT_BYTES = 4 << 20
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
    prev_hash: str,
    at: str,
    actor_user_id,
    actor_org_id,
    action,
    item_kind,
    item_id,
    detail: str,
    *,
    version: int = 1,
    item_owner_org_id: int | None = None,
    journal_source: str | None = None,
    journal_seq: int | None = None,
) -> str:
    """The chain hash of one entry under canonical-content ``version`` (1 or 2).

    Parameters
    ----------
    prev_hash : str
        Hash of the previous entry (:data:`GENESIS` for the first).
    at, actor_user_id, actor_org_id, action, item_kind, item_id, detail
        The entry's columns (``detail`` as stored: canonical JSON text).
    version : int
        1 for entries written before migration 0006, 2 since (adds the owner and the
        journal position).
    item_owner_org_id, journal_source, journal_seq
        Version 2 only.

    Returns
    -------
    str
        Hex SHA-256.
    """
    if version == 1:
        body = _canonical(at, actor_user_id, actor_org_id, action, item_kind, item_id, detail)
    elif version == 2:
        body = json.dumps(
            [
                "v2",
                at,
                actor_user_id,
                actor_org_id,
                action,
                item_kind,
                item_id,
                item_owner_org_id,
                journal_source,
                journal_seq,
                detail,
            ],
            separators=(",", ":"),
            ensure_ascii=True,
        )
    else:
        raise ValueError(f"hash_version={version!r}: expected 1 or 2")
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _event_hash(ev: AuditEvent) -> str:
    return entry_hash(
        ev.prev_hash,
        ev.at,
        ev.actor_user_id,
        ev.actor_org_id,
        ev.action,
        ev.item_kind,
        ev.item_id,
        ev.detail,
        version=ev.hash_version,
        item_owner_org_id=ev.item_owner_org_id,
        journal_source=ev.journal_source,
        journal_seq=ev.journal_seq,
    )


def owner_of(db_session: Session, item_kind: str | None, item_id: int | None) -> int | None:
    """The organisation that owns the thing an entry is about, now (None if unknown or gone).

    Items (:data:`~casip.platform.models.ITEM_MODELS`): their owner; users: their
    organisation; tokens: their user's organisation; organisations: themselves."""
    if item_kind is None or not isinstance(item_id, int) or not 0 < item_id < 2**63:
        return None
    if item_kind == "organisation":
        return item_id
    model = ITEM_MODELS.get(item_kind)
    if model is not None:
        row = db_session.get(model, item_id)
        return row.owner_org_id if row is not None else None
    if item_kind == "user":
        user = db_session.get(User, item_id)
        return user.org_id if user is not None else None
    if item_kind == "token":
        token = db_session.get(ApiToken, item_id)
        user = db_session.get(User, token.user_id) if token is not None else None
        return user.org_id if user is not None else None
    return None


def record(
    db_session: Session,
    action: str,
    *,
    actor_user_id: int | None = None,
    actor_org_id: int | None = None,
    item_kind: str | None = None,
    item_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    item_owner_org_id: int | None = None,
) -> AuditEvent:
    """Append one entry inside the caller's transaction: it commits with the action it
    records, or not at all (see :func:`record_many`).

    ``item_owner_org_id`` defaults to the current owner of the item (:func:`owner_of`)."""
    entry: dict[str, Any] = {
        "action": action,
        "actor_user_id": actor_user_id,
        "actor_org_id": actor_org_id,
        "item_kind": item_kind,
        "item_id": item_id,
        "detail": detail,
    }
    if item_owner_org_id is not None:
        entry["item_owner_org_id"] = item_owner_org_id
    return record_many(db_session, [entry])[0]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _detail_text(detail: Any) -> str:
    if isinstance(detail, str):  # already canonical (a journal line replayed)
        return detail
    return json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"), default=str)


def record_many(
    db_session: Session, entries: list[Mapping[str, Any]], *, objects: bool = True
) -> list[AuditEvent]:
    """Append several entries (dicts with the keyword arguments of :func:`record`, optionally
    ``at``, ``journal_source`` and ``journal_seq``), chained in order, inside the caller's
    transaction.

    The writer first takes the database's append lock (PostgreSQL: a transaction-level
    advisory lock; SQLite: the database write lock, taken by a no-op write), then reads the
    last hash, so concurrent appends cannot fork the chain.

    ``objects=False`` (the background writer of audited reads) inserts the rows with one
    executemany of plain rows and returns an empty list: no ORM objects are built, flushed and
    given their ids back (the read path's batches are the platform's most frequent write)."""
    if not entries:
        return []
    owners = [
        e["item_owner_org_id"]
        if "item_owner_org_id" in e
        else owner_of(db_session, e.get("item_kind"), e.get("item_id"))
        for e in entries
    ]
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
    now = _now()
    rows = []
    for e, owner in zip(entries, owners, strict=True):
        row = {
            "at": e.get("at") or now,
            "actor_user_id": e.get("actor_user_id"),
            "actor_org_id": e.get("actor_org_id"),
            "action": e["action"],
            "item_kind": e.get("item_kind"),
            "item_id": e.get("item_id"),
            "item_owner_org_id": owner,
            "detail": _detail_text(e.get("detail")),
            "journal_source": e.get("journal_source"),
            "journal_seq": e.get("journal_seq"),
            "hash_version": HASH_VERSION,
            "prev_hash": prev,
        }
        row["hash"] = entry_hash(
            prev,
            row["at"],
            row["actor_user_id"],
            row["actor_org_id"],
            row["action"],
            row["item_kind"],
            row["item_id"],
            row["detail"],
            version=HASH_VERSION,
            item_owner_org_id=owner,
            journal_source=row["journal_source"],
            journal_seq=row["journal_seq"],
        )
        rows.append(row)
        prev = row["hash"]
    if not objects:
        # ids follow the insert order of one statement list (the chain's order is the id
        # order, checked by verify())
        db_session.connection().execute(sa.insert(AuditEvent.__table__), rows)
        return []
    events = [AuditEvent(**row) for row in rows]
    db_session.add_all(events)
    db_session.flush()
    return events


# ----------------------------------------------------------------------------------------------
# The read journal
# ----------------------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """This process's append-only journal of read entries: one JSON line per entry.

    :meth:`append` writes the lines and returns only once they are on disk
    (``os.fdatasync``). Concurrent requests share syncs (group commit): while one thread
    syncs, the others append behind it and the next sync covers them all, so the cost is one
    ``fdatasync`` per group, not per request. The file is preallocated with zeros
    (:data:`JOURNAL_SEGMENT_BYTES`, grown by as much when full) and lines overwrite it in
    place: its size does not change, so ``fdatasync`` writes the data block only, not file
    metadata through the file system's journal (measured: p95 0.2 ms instead of 4 ms,
    ``benchmarks/bench_audit_journal.py``). Whenever every line is in the database
    (:meth:`committed`) writing starts again at the beginning; readers stop at the first
    byte that does not continue a complete line (see :func:`_read_lines`), and a line left
    from before is already in the database, so replaying it is a no-op. The file is deleted
    on a clean shutdown; an exclusive ``flock`` marks it live so that no other process
    replays it.

    Parameters
    ----------
    folder : Path
        Where journals live (``<data_dir>/audit-journal``).
    fsync : bool
        ``fdatasync`` before returning (``CASIP_AUDIT_JOURNAL_FSYNC``). Without it an
        answered read still survives the server being killed (the line is in the operating
        system's cache), but not a power loss.
    """

    def __init__(self, folder: Path, fsync: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.source = uuid.uuid4().hex  # this server run
        self.path = self.folder / f"{self.source}.jsonl"
        self.fsync = fsync
        # created under a name that replay() does not look at, locked, and only then renamed
        # (the lock stays with the open file): another process starting at the same moment
        # can never take the new journal for a dead one and replay and delete it
        hidden = self.folder / f".{self.source}.new"
        self._fd = os.open(hidden, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._size = 0
        self._grow(JOURNAL_SEGMENT_BYTES)
        os.rename(hidden, self.path)
        _fsync_dir(self.folder)  # the file itself survives a crash
        self._cond = threading.Condition()
        self._seq = 0  # last sequence number handed out (and written)
        self._synced = 0  # every line up to this number is on disk
        self._syncing = False
        self._pending = 0  # lines written, not yet committed to the database
        self._off = 0  # where the next line goes

    def _grow(self, at_least: int) -> None:
        """Extend the file with zeros (written, not sparse) and sync it, metadata included."""
        add = max(JOURNAL_SEGMENT_BYTES, at_least)
        zeros = bytes(1 << 20)
        end = self._size + add
        pos = self._size
        while pos < end:
            pos += os.pwrite(self._fd, zeros[: min(len(zeros), end - pos)], pos)
        os.fsync(self._fd)
        self._size = end

    def append(
        self, entries: list[Mapping[str, Any]], then: Callable[[list[dict]], None] | None = None
    ) -> list[dict]:
        """Number and write ``entries``, call ``then`` with the numbered entries (in journal
        order, under the journal's lock), and return once they are synced."""
        with self._cond:
            if self._fd < 0:
                raise RuntimeError(f"{self.path}: the audit journal is closed")
            out = []
            for e in entries:
                self._seq += 1
                out.append(
                    {
                        **e,
                        "at": e.get("at") or _now(),
                        "detail": _detail_text(e.get("detail")),
                        "journal_source": self.source,
                        "journal_seq": self._seq,
                    }
                )
            data = b"".join(
                json.dumps(line, separators=(",", ":"), default=str).encode() + b"\n"
                for line in out
            )
            if self._off + len(data) + 1 > self._size:  # keep a zero byte after the last line
                self._grow(self._off + len(data) + 1 - self._size)
            os.pwrite(self._fd, data, self._off)
            self._off += len(data)
            self._pending += len(out)
            mine = self._seq
            if then is not None:
                then(out)
            if not self.fsync:
                return out
            while self._synced < mine:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing, upto = True, self._seq
                self._cond.release()
                try:
                    os.fdatasync(self._fd)
                finally:
                    self._cond.acquire()
                    self._syncing = False
                self._synced = max(self._synced, upto)
                self._cond.notify_all()
        return out

    def committed(self, n: int) -> None:
        """``n`` journaled entries are now in the database; when all are, the next line is
        written at the start of the file again."""
        with self._cond:
            self._pending -= n
            if self._pending == 0 and self._off and self._fd >= 0:
                # a reader finds nothing until new lines are written; after them it stops at
                # the first remains of a stale line (see _read_lines)
                self._off = 0
                os.pwrite(self._fd, b"\0", 0)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._fd < 0

    @property
    def pending(self) -> int:
        """Lines written and not yet in the database."""
        return self._pending

    def close(self) -> None:
        """Close; delete the file when everything in it is in the database."""
        with self._cond:
            if self._fd < 0:
                return
            if self._pending == 0:
                self.path.unlink(missing_ok=True)
            os.close(self._fd)  # releases the flock: a leftover file is replayed at next start
            self._fd = -1


def _read_lines(path: Path) -> list[dict]:
    """The entries of a journal file, up to the first byte that does not continue a complete
    entry line (the zeros after the last line, a line torn by a crash, or the remains of lines
    overwritten after they were all in the database: those are in the database already)."""
    out = []
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n") or raw.startswith(b"\0"):
                break
            try:
                line = json.loads(raw)
            except ValueError:
                break
            if not (
                isinstance(line, dict)
                and isinstance(line.get("journal_source"), str)
                and isinstance(line.get("journal_seq"), int)
            ):
                break
            out.append(line)
    return out


@contextlib.contextmanager
def _dead_journals(folder: Path) -> Iterator[list[tuple[Path, int]]]:
    """The journal files of ``folder`` that no live process holds, locked for this one."""
    held: list[tuple[Path, int]] = []
    try:
        for path in sorted(Path(folder).glob("*.jsonl")) if Path(folder).is_dir() else []:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a running server's journal
                os.close(fd)
                continue
            held.append((path, fd))
        yield held
    finally:
        for _, fd in held:
            os.close(fd)


def _present(db_session: Session, source: str) -> set[int]:
    return set(
        db_session.execute(
            sa.select(AuditEvent.journal_seq).where(AuditEvent.journal_source == source)
        ).scalars()
    )


def replay(engine: sa.Engine, folder: Path) -> int:
    """Append to the log the entries of journals left by servers that died (see
    :class:`Journal`), then delete those journals. Idempotent: entries already in the log
    are skipped. Returns the number appended."""
    added = 0
    with _dead_journals(folder) as journals:
        for path, _fd in journals:
            lines = _read_lines(path)
            by_source: dict[str, list[dict]] = {}
            for line in lines:
                by_source.setdefault(line["journal_source"], []).append(line)
            with Session(engine) as s, s.begin():
                missing = []
                for source, group in by_source.items():
                    have = _present(s, source)
                    missing += [e for e in group if e["journal_seq"] not in have]
                missing.sort(key=lambda e: (e["journal_source"], e["journal_seq"]))
                record_many(s, missing)
            if missing:
                log.warning(
                    "audit: replayed %d read entries from %s (a server stopped before writing "
                    "them)",
                    len(missing),
                    path.name,
                )
            added += len(missing)
            path.unlink(missing_ok=True)
        if journals:
            _fsync_dir(Path(folder))
    return added


def pending_in_journals(db_session: Session, folder: Path | None) -> int:
    """Entries in the journal files of ``folder`` (live or dead) not yet in the log."""
    if folder is None or not Path(folder).is_dir():
        return 0
    n = 0
    for path in Path(folder).glob("*.jsonl"):
        try:
            lines = _read_lines(path)
        except FileNotFoundError:
            continue
        seen: dict[str, set[int]] = {}
        for line in lines:
            src = line["journal_source"]
            if src not in seen:
                seen[src] = _present(db_session, src)
            n += line["journal_seq"] not in seen[src]
    return n


# ----------------------------------------------------------------------------------------------
# The background writer
# ----------------------------------------------------------------------------------------------


class _DeferredWriter:
    """Appends queued entries from one background thread (per database engine).

    Reads of other organisations' items happen on every page view and comparison; writing
    their audit entries inside each read request would turn every read into a write
    transaction (SQLite has one writer at a time). They are journaled (when the server
    started a :class:`Journal` for this database: :func:`start`) and queued instead, and
    appended in batches, in order, within about :data:`DEFER_S` seconds; :func:`flush` waits
    for the queue (the audit views and shutdown call it). Exports and every permission or
    visibility change are still written in the transaction of the request that makes them."""

    def __init__(self, engine, journal: Journal | None = None) -> None:
        self.engine = engine
        self.journal = journal
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
                    record_many(s, entries, objects=False)
                break
            except Exception:
                if attempt == 2:
                    log.exception(
                        "audit: %d queued entries could not be written%s",
                        len(entries),
                        " (they stay in the journal and are replayed at the next start)"
                        if self.journal
                        else "",
                    )
                    return
                time.sleep(0.2 * (attempt + 1))
        if self.journal is not None:
            self.journal.committed(sum(1 for e in entries if e.get("journal_source")))

    def put(self, entries: list[dict]) -> None:
        """Journal (and sync) ``entries`` if there is a journal, and queue them."""
        if self.journal is not None and not self.journal.closed:
            try:
                self.journal.append(entries, then=self.queue.put)
                return
            except RuntimeError:  # closed meanwhile (shutdown): queue as before
                pass
        self.queue.put(entries)

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


def start(engine: sa.Engine, folder: Path, fsync: bool = True) -> int:
    """Replay the journals dead servers left in ``folder`` (:func:`replay`), then journal this
    process's reads of ``engine``'s database there. Called at server start-up, before the
    first request. Returns the number of entries replayed."""
    replayed = replay(engine, folder)
    journal = Journal(folder, fsync=fsync)
    with _WRITERS_LOCK:
        old = _WRITERS.get(id(engine))
        if old is not None and old.engine is engine and old.journal is None:
            old.journal = journal
        else:
            _WRITERS[id(engine)] = _DeferredWriter(engine, journal)
    return replayed


def stop(engine: sa.Engine) -> None:
    """Flush ``engine``'s queued entries and close its journal (shutdown)."""
    flush(engine)
    with _WRITERS_LOCK:
        w = _WRITERS.get(id(engine))
    if w is not None and w.engine is engine and w.journal is not None:
        w.journal.close()


def journal_folder(engine_or_session) -> Path | None:
    """The journal folder this process uses for that database (None without a journal)."""
    engine = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    with _WRITERS_LOCK:
        w = _WRITERS.get(id(engine))
    if w is None or w.engine is not engine or w.journal is None:
        return None
    return w.journal.folder


def defer(db_session: Session, entries: list[Mapping[str, Any]]) -> None:
    """Journal entries (durably: see :class:`Journal`) and queue them for the background
    writer of ``db_session``'s database (see :class:`_DeferredWriter`); they are appended to
    the log after the current request, or at the next start if the server dies first."""
    if entries:
        _writer(db_session.get_bind()).put([dict(e) for e in entries])


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


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------


@dataclass
class ChainReport:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    ok : bool
        The chain is intact and no journaled entry is missing.
    entries : int
        Entries verified.
    first_bad_id, reason
        The first entry that does not check, and why (or a summary of missing entries).
    journal_runs : int
        Server runs whose journaled reads are in the log (each numbered 1, 2, 3, ...).
    missing : list[str]
        Holes in those numbers, as ``"<run>:<first>-<last>"``, that no journal file covers.
    pending : int
        Entries in journal files and not yet in the log (a running server appends them
        within a fraction of a second; a stopped one's are replayed at its next start).
    """

    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str | None = None
    journal_runs: int = 0
    missing: list[str] = field(default_factory=list)
    pending: int = 0


def _ranges(numbers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _journal_gaps(db_session: Session, folder: Path | None) -> tuple[int, list[str], int]:
    """(runs, holes not covered by a journal, entries pending in the journals)."""
    runs = db_session.execute(
        sa.select(
            AuditEvent.journal_source,
            sa.func.count(),
            sa.func.min(AuditEvent.journal_seq),
            sa.func.max(AuditEvent.journal_seq),
        )
        .where(AuditEvent.journal_source.is_not(None))
        .group_by(AuditEvent.journal_source)
    ).all()
    journaled: dict[str, set[int]] = {}
    if folder is not None and Path(folder).is_dir():
        for path in Path(folder).glob("*.jsonl"):
            with contextlib.suppress(FileNotFoundError):
                for line in _read_lines(path):
                    journaled.setdefault(line["journal_source"], set()).add(line["journal_seq"])
    holes: list[str] = []
    for source, count, low, high in runs:
        if count == high and low == 1:
            continue  # 1..high, all present (the pair is unique)
        have = _present(db_session, source)
        covered = journaled.get(source, set())
        lost = [n for n in range(1, high + 1) if n not in have and n not in covered]
        holes += [f"{source}:{a}-{b}" for a, b in _ranges(lost)]
    pending = pending_in_journals(db_session, folder) if journaled else 0
    return len(runs), holes, pending


def verify(db_session: Session, batch: int = 5000, journal_dir: Path | None = None) -> ChainReport:
    """Walk the whole chain; report the first entry whose link or content does not check.

    Then check the journaled reads: each server run numbers its entries 1, 2, 3, ...; a
    number absent from the table (and from any journal file in ``journal_dir``, by default
    the folder of this process's journal) is a missing entry, and the log is not intact.
    Entries still in a journal file are counted as ``pending``."""
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
            break
        for ev in rows:
            if ev.prev_hash != prev:
                return ChainReport(False, n, ev.id, "link to the previous entry broken")
            try:
                expect = _event_hash(ev)
            except ValueError:
                expect = None
            if expect != ev.hash:
                return ChainReport(False, n, ev.id, "content does not match its hash")
            prev = ev.hash
            n += 1
            last_id = ev.id
    folder = journal_dir if journal_dir is not None else journal_folder(db_session)
    runs, holes, pending = _journal_gaps(db_session, folder)
    if holes:
        return ChainReport(
            False,
            n,
            None,
            f"journaled entries missing (server run:sequence numbers): {', '.join(holes[:10])}"
            + (f" and {len(holes) - 10} more ranges" if len(holes) > 10 else ""),
            runs,
            holes,
            pending,
        )
    return ChainReport(True, n, journal_runs=runs, pending=pending)
