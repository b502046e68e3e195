"""Background jobs: simulations, lifetime projections and (later) studies.

A job is a row in ``jobs`` (status, progress 0-1, message, error) and a function registered
under its kind with :func:`register`. The runner executes queued jobs on a small thread pool in
the server process; the function reports progress through the :class:`JobContext` it is given
and returns ``(result_kind, result_id)``; it may set :attr:`JobContext.done_message` to the
message a finished job keeps (say what was found, e.g. ``done: 10-80 % in 23.4 min``; plain
``done`` otherwise). A job that raises is marked failed with its error;
jobs left running by a killed server are marked failed ("interrupted") at the next start.
Cancelling a queued job stops it from starting; a running one sees ``ctx.cancelled`` at its
next progress report.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from casip.platform.db import Database
from casip.platform.models import Job, JobStatus, utcnow

log = logging.getLogger("casip.platform.jobs")

JobFunction = Callable[["JobContext"], tuple[str | None, int | None]]
_REGISTRY: dict[str, JobFunction] = {}


def register(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator: run jobs of ``kind`` with the decorated function."""

    def deco(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return deco


def kinds() -> tuple[str, ...]:
    return tuple(_REGISTRY)


class JobCancelled(Exception):
    pass


@dataclass
class JobContext:
    """What a job function gets: its job row's id and parameters, the database, progress."""

    job_id: int
    params: dict
    owner_org_id: int
    created_by_id: int | None
    db: Database
    store_dir: object = None
    #: the message the job keeps once done (``"done"`` when left ``None``)
    done_message: str | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        """Record progress (0-1); raise :class:`JobCancelled` if the job was cancelled."""
        with self.db.session() as s:
            job = s.get(Job, self.job_id)
            if job.status == JobStatus.CANCELLED:
                raise JobCancelled()
            job.progress = max(0.0, min(1.0, float(fraction)))
            job.message = message[:500]


class JobRunner:
    """Runs queued jobs on ``workers`` threads."""

    def __init__(self, db: Database, workers: int = 1, store_dir=None):
        self.db = db
        self.store_dir = store_dir
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="casip-job")
        self._lock = threading.Lock()
        self._closed = False

    def recover(self) -> int:
        """Mark jobs a previous server left running as failed, and requeue queued ones."""
        with self.db.session() as s:
            n = s.execute(
                sa.update(Job)
                .where(Job.status == JobStatus.RUNNING)
                .values(
                    status=JobStatus.FAILED,
                    error="interrupted: the server stopped while the job ran",
                    finished_at=utcnow(),
                )
            ).rowcount
            queued = (
                s.execute(sa.select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.id))
                .scalars()
                .all()
            )
        for jid in queued:
            self.submit(jid)
        return n

    def submit(self, job_id: int) -> None:
        with self._lock:
            if self._closed:
                return
            self._pool.submit(self._run, job_id)

    def _run(self, job_id: int) -> None:
        with self.db.session() as s:
            # claim atomically: of several runners sharing a database only one starts the job
            claimed = s.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                .values(status=JobStatus.RUNNING, started_at=utcnow())
            ).rowcount
            if claimed != 1:
                return
            job = s.get(Job, job_id)
            fn = _REGISTRY.get(job.kind)
            if fn is None:
                job.status, job.error = JobStatus.FAILED, f"unknown job kind {job.kind!r}"
                job.finished_at = utcnow()
                return
            ctx = JobContext(
                job.id,
                dict(job.params),
                job.owner_org_id,
                job.created_by_id,
                self.db,
                self.store_dir,
            )
        try:
            result_kind, result_id = fn(ctx)
        except JobCancelled:
            self._finish(job_id, JobStatus.CANCELLED, None, None, None)
        except Exception as exc:  # recorded on the job; the runner goes on
            log.info("job %s failed: %s", job_id, exc)
            detail = str(exc) or type(exc).__name__
            if not isinstance(exc, ValueError):
                detail += "\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._finish(job_id, JobStatus.FAILED, None, None, detail[:4000])
        else:
            self._finish(job_id, JobStatus.DONE, result_kind, result_id, None, ctx.done_message)

    def _finish(self, job_id, status, result_kind, result_id, error, message=None) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job.status == JobStatus.CANCELLED and status != JobStatus.CANCELLED:
                return
            job.status, job.result_kind, job.result_id, job.error = (
                status,
                result_kind,
                result_id,
                error,
            )
            job.finished_at = utcnow()
            if status == JobStatus.DONE:  # never the last progress step ("storing the result")
                job.progress, job.message = 1.0, (message or "done")[:500]

    def shutdown(self, wait: bool = False) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)


def finished_message(job: Job) -> str | None:
    """The job's message; a job finished before done messages existed (its message is its
    last progress step) reads ``done``."""
    msg = job.message
    if job.status == JobStatus.DONE and not (msg or "").startswith("done"):
        return "done"
    return msg


def job_dict(job: Job) -> dict:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": finished_message(job),
        "error": job.error,
        "params": job.params,
        "result_kind": job.result_kind,
        "result_id": job.result_id,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
