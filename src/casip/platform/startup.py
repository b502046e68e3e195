"""Start-up with several server processes: tasks that run once, and who is still alive.

``casip serve --workers N``, ``casip worker`` processes and servers on other hosts share one
database and one data folder. Two things need care at start-up:

* **Migrations, seeding and the recompute of stored design results run once.**
  :func:`startup_lock` serialises them across processes: on PostgreSQL a session-level
  advisory lock (``pg_advisory_lock``, held by one dedicated connection; PostgreSQL releases it
  if the holder dies), on SQLite an exclusive ``fcntl.flock`` on a lock file beside the
  database file (the kernel releases it if the holder dies). The first process migrates and
  seeds; the next ones wait, then find the schema at head and the database seeded, so their
  own pass changes nothing (see :func:`casip.platform.app.initialise`).
* **Clean-up of work areas must not touch a live process's work.** Files a process writes
  while it works (uploads being received, the store's staging folders) are named after the
  process with :func:`process_tag`: host, pid and the process's start time, so that a pid
  reused after a reboot or by another process is not mistaken for the writer. Clean-up asks
  :func:`tag_alive`: a tag of this host is alive while a process with that pid *and* that start
  time runs; a tag of another host (a data folder shared between hosts) cannot be checked and
  counts as alive until its file is older than :data:`STALE_AFTER_S`.

Process start times come from ``psutil`` (maintained, portable); the lock is hand-written
because it is a few lines on the database's and the kernel's own locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import sqlalchemy as sa

log = logging.getLogger("casip.platform.startup")

#: advisory lock id of the start-up tasks (PostgreSQL); the audit log uses another
PG_STARTUP_LOCK = 0x0CA51F57
#: age after which an unattributable work file (another host's, or unnamed) is removed [s];
#: an assumption: no upload is received or parsed for a day
STALE_AFTER_S = 24 * 3600.0

_TAG = re.compile(r"^p(\d+)t(\d+)h([0-9a-f]{8})-")


def _host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _start_cs(pid: int) -> int:
    """Start time of process ``pid`` in centiseconds since the epoch (psutil)."""
    return round(psutil.Process(pid).create_time() * 100)


_OWN: tuple[int, str] | None = None


def process_tag() -> str:
    """This process's tag, the prefix of its work files: ``p<pid>t<start cs>h<host hash>``.

    Returns
    -------
    str
        E.g. ``p4242t176512345678h1a2b3c4d``.
    """
    global _OWN
    pid = os.getpid()
    if _OWN is None or _OWN[0] != pid:  # recomputed in a forked child
        _OWN = (pid, f"p{pid}t{_start_cs(pid)}h{_host_id()}")
    return _OWN[1]


def tag_of(name: str) -> tuple[int, int, str] | None:
    """``(pid, start cs, host hash)`` of a work file named with :func:`process_tag`, else None."""
    m = _TAG.match(name)
    return None if m is None else (int(m.group(1)), int(m.group(2)), m.group(3))


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def tag_alive(name: str, path: Path | None = None) -> bool:
    """Whether the process that named a work file ``name`` may still be writing it.

    Parameters
    ----------
    name : str
        The file's name (starting with a :func:`process_tag`).
    path : Path, optional
        The file (its age decides for other hosts' and untagged files).

    Returns
    -------
    bool
        True for this host's tags whose process (same pid, same start time) runs; for tags of
        another host and untagged names, True until the file is older than
        :data:`STALE_AFTER_S`.
    """
    tag = tag_of(name)
    if tag is None or tag[2] != _host_id():
        return path is not None and _age_s(path) < STALE_AFTER_S
    pid, start, _ = tag
    try:
        return abs(_start_cs(pid) - start) <= 1
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # someone else's process with that pid: not ours to judge
        return True


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


@contextlib.contextmanager
def startup_lock(database_url: str, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold the start-up lock of the database at ``database_url`` (see the module docstring).

    Parameters
    ----------
    database_url : str
        The platform's database.
    timeout_s : float
        Longest wait for another process's start-up (a recompute of many designs takes
        minutes); then :class:`TimeoutError`.
    """
    path = _sqlite_file(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(path.name + ".startup-lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _wait(lambda: _try_flock(fd), timeout_s, lock)
            yield
        finally:
            os.close(fd)  # releases the flock
        return
    if not database_url.startswith("postgresql"):
        yield  # another database: no lock known (SQLite in memory: one process)
        return
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:

            def take() -> bool:
                got = conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_STARTUP_LOCK}
                ).scalar_one()
                conn.commit()  # a session-level lock outlives the transaction
                return bool(got)

            _wait(take, timeout_s, "pg_advisory_lock")
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_STARTUP_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait(take, timeout_s: float, what) -> None:
    deadline = time.monotonic() + timeout_s
    logged = False
    while not take():
        if not logged:
            log.info("start-up: waiting for another process's start-up (%s)", what)
            logged = True
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"start-up lock {what}: still held by another process after {timeout_s:.0f} s"
            )
        time.sleep(0.2)
