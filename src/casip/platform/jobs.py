"""Background jobs: simulations, lifetime projections, replays, calibrations and studies.

A job is a row in ``jobs`` (status, progress 0-1, message, error) and a function registered
under its kind with :func:`register`. Jobs are run by **worker processes**
(:mod:`casip.platform.worker`, ``casip worker``), never by the processes answering requests: a
request inserts a ``queued`` row and returns.

Claims, leases and fencing
--------------------------
A worker *claims* a job (:func:`claim`): in one transaction it picks the oldest claimable job
(``queued``, or ``running`` with an expired lease), sets it ``running``, increments its
``attempts`` and gives it a lease (``lease_until = now + lease``). On PostgreSQL the candidate
row is selected ``FOR UPDATE SKIP LOCKED``, so concurrent workers pick different jobs without
waiting on each other; on SQLite (one writer at a time) and as a guard on both, the claiming
``UPDATE`` is conditional on the status, attempt count and lease the worker saw, so two
workers can never both claim one attempt.

The worker's supervisor renews the lease (:func:`renew`) while the job runs in a child process,
so a long solver call that holds its own process's interpreter cannot starve the heartbeat. A
job whose lease runs out (its worker was killed, stopped or cut off) is claimable again: the
next claim is a new attempt. Every write an attempt makes - progress, result rows, the final
status - goes through :meth:`JobContext.fenced`, which checks in the same transaction that the
job is still ``running`` under *this* attempt (and, on PostgreSQL, locks its row); a stalled
attempt that wakes up after another took over gets :class:`JobLost` and writes nothing. Result
rows and the ``done`` status are committed in one transaction (:meth:`JobContext.complete`),
so a result is stored exactly once, however often the job is claimed. A job lost more than
``max_attempts`` times is failed.

A job function reports progress through its :class:`JobContext` and returns
``(result_kind, result_id)``; it may set :attr:`JobContext.done_message` to the message a
finished job keeps (say what was found, e.g. ``done: 10-80 % in 23.4 min``). A job that raises
is marked failed with its error (not retried: the same inputs would fail again); cancelling a
queued job stops it from starting, and the supervisor kills a running one's process at its next
heartbeat.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.db import Database
from casip.platform.models import Job, JobStatus, utcnow

log = logging.getLogger("casip.platform.jobs")

JobFunction = Callable[["JobContext"], tuple[str | None, int | None]]
_REGISTRY: dict[str, JobFunction] = {}
#: modules whose import registers the job kinds (a worker imports them all)
JOB_MODULES = (
    "casip.platform.runs",
    "casip.platform.replays",
    "casip.platform.calibrations",
    "casip.platform.studies",
    "casip.platform.canary",
    "casip.platform.campaigns",
)


def register(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Decorator: run jobs of ``kind`` with the decorated function."""

    def deco(fn: JobFunction) -> JobFunction:
        _REGISTRY[kind] = fn
        return fn

    return deco


def kinds() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def load_job_modules() -> None:
    """Import every module that registers job kinds."""
    import importlib

    for name in JOB_MODULES:
        importlib.import_module(name)


class JobCancelled(Exception):
    """The job was cancelled: the attempt stops and writes nothing more."""


class JobLost(Exception):
    """This attempt no longer owns the job (its lease ran out and another attempt took over,
    or the job was failed meanwhile): it stops and writes nothing."""


def _owned(job_id: int, attempt: int):
    return sa.and_(Job.id == job_id, Job.attempts == attempt, Job.status == JobStatus.RUNNING)


def _why_not(s: Session, job_id: int) -> Exception:
    status = s.execute(sa.select(Job.status).where(Job.id == job_id)).scalar_one_or_none()
    if status == JobStatus.CANCELLED:
        return JobCancelled()
    return JobLost(f"job {job_id}: this attempt no longer owns it (status {status})")


def lock_owned(s: Session, job_id: int, attempt: int) -> None:
    """In ``s``'s transaction: check that ``attempt`` owns the running job and hold its row
    until the transaction ends (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite a no-op
    ``UPDATE`` takes the database's write lock). Raises :class:`JobCancelled` or
    :class:`JobLost` otherwise."""
    if s.get_bind().dialect.name == "postgresql":
        row = s.execute(
            sa.select(Job.id).where(_owned(job_id, attempt)).with_for_update()
        ).first()
        ok = row is not None
    else:
        ok = s.execute(
            sa.update(Job).where(_owned(job_id, attempt)).values(attempts=Job.attempts)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
    if not ok:
        raise _why_not(s, job_id)


@dataclass
class JobContext:
    """What a job function gets: its job row's id, attempt and parameters, the database."""

    job_id: int
    params: dict
    owner_org_id: int
    created_by_id: int | None
    db: Database
    store_dir: object = None
    #: the message the job keeps once done (``"done"`` when left ``None``)
    done_message: str | None = None
    #: the claim this context runs under (writes are fenced by it)
    attempt: int = 1
    #: set by :meth:`complete` once the job is done (result and status committed together)
    completed: bool = False

    def progress(self, fraction: float, message: str = "") -> None:
        """Record progress (0-1); raise :class:`JobCancelled` if the job was cancelled and
        :class:`JobLost` if this attempt no longer owns it."""
        with self.db.session() as s:
            n = s.execute(
                sa.update(Job)
                .where(_owned(self.job_id, self.attempt))
                .values(progress=max(0.0, min(1.0, float(fraction))), message=message[:500])
                .execution_options(synchronize_session=False)
            ).rowcount
            if n != 1:
                raise _why_not(s, self.job_id)

    @contextlib.contextmanager
    def fenced(self) -> Iterator[Session]:
        """A session whose transaction commits only while this attempt owns the job: the
        ownership is checked and the job row held first (:func:`lock_owned`); raises
        :class:`JobCancelled` or :class:`JobLost` (and writes nothing) otherwise."""
        with self.db.session() as s:
            lock_owned(s, self.job_id, self.attempt)
            yield s

    def complete(self, s: Session, result_kind: str | None, result_id: int | None) -> None:
        """Mark the job done with its result, in ``s`` (a :meth:`fenced` session): the result
        rows written in that session and the job's status commit together, once."""
        s.execute(
            sa.update(Job)
            .where(_owned(self.job_id, self.attempt))
            .values(
                status=JobStatus.DONE,
                result_kind=result_kind,
                result_id=result_id,
                error=None,
                progress=1.0,
                message=(self.done_message or "done")[:500],
                finished_at=utcnow(),
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        self.completed = True


# --------------------------------------------------------------------------------- the queue


def _claimable(t: dt.datetime):
    """Jobs a worker may claim at time ``t``: queued, or running with no lease or an expired
    one."""
    return sa.or_(
        Job.status == JobStatus.QUEUED,
        sa.and_(
            Job.status == JobStatus.RUNNING,
            sa.or_(Job.lease_until.is_(None), Job.lease_until < t),
        ),
    )


@dataclass(frozen=True)
class Claim:
    """A job claimed by a worker: its id, kind and attempt number."""

    job_id: int
    kind: str
    attempt: int


def claim(db: Database, worker_id: str, lease_s: float, max_attempts: int = 3,
          now: dt.datetime | None = None) -> Claim | None:
    """Claim the oldest claimable job for ``worker_id`` (module docstring); None when there is
    none. A running job whose lease expired after ``max_attempts`` attempts is failed instead.
    """
    for _ in range(20):  # a lost race is retried on the next candidate
        t = now or utcnow()
        with db.session() as s:
            claimable = _claimable(t)
            q = (
                sa.select(Job.id, Job.kind, Job.status, Job.attempts)
                .where(claimable)
                .order_by(Job.id)
                .limit(1)
            )
            if db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            row = s.execute(q).first()
            if row is None:
                return None
            job_id, kind, status, attempts = row
            seen = sa.and_(
                Job.id == job_id, Job.status == status, Job.attempts == attempts, claimable
            )
            if status == JobStatus.RUNNING and attempts >= max_attempts:
                s.execute(
                    sa.update(Job)
                    .where(seen)
                    .values(
                        status=JobStatus.FAILED,
                        error=(
                            f"lost: its worker stopped or was cut off on each of {attempts} "
                            "attempts"
                        ),
                        finished_at=t,
                        lease_until=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                continue
            n = s.execute(
                sa.update(Job)
                .where(seen)
                .values(
                    status=JobStatus.RUNNING,
                    attempts=attempts + 1,
                    lease_until=t + dt.timedelta(seconds=lease_s),
                    worker_id=worker_id[:100],
                    started_at=t,
                    progress=0.0,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if n == 1:
                return Claim(int(job_id), str(kind), int(attempts) + 1)
    return None


def claimable(db: Database, now: dt.datetime | None = None) -> bool:
    """Whether any job could be claimed now (a cheap look, no claim)."""
    with db.session() as s:
        return s.execute(
            sa.select(Job.id).where(_claimable(now or utcnow())).limit(1)
        ).first() is not None


def renew(db: Database, job_id: int, attempt: int, lease_s: float) -> str:
    """Extend ``attempt``'s lease; ``"ok"``, ``"finished"`` (the attempt ended the job
    itself, its process is exiting), ``"cancelled"`` or ``"lost"``."""
    with db.session() as s:
        n = s.execute(
            sa.update(Job)
            .where(_owned(job_id, attempt))
            .values(lease_until=utcnow() + dt.timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        ).rowcount
        if n == 1:
            return "ok"
        row = s.execute(sa.select(Job.status, Job.attempts).where(Job.id == job_id)).first()
        if row is not None and row.status == JobStatus.CANCELLED:
            return "cancelled"
        if row is not None and row.attempts == attempt and row.status in (
            JobStatus.DONE, JobStatus.FAILED
        ):
            return "finished"
        return "lost"


def finish(db: Database, job_id: int, attempt: int, status: str, error: str | None = None,
           result_kind: str | None = None, result_id: int | None = None,
           message: str | None = None) -> bool:
    """End ``attempt`` of a job with ``status`` (fenced: nothing happens unless the attempt
    still owns the running job); True when written."""
    values: dict = {"status": status, "finished_at": utcnow(), "lease_until": None,
                    "error": error, "result_kind": result_kind, "result_id": result_id}
    if status == JobStatus.DONE:  # never the last progress step ("storing the result")
        values.update(progress=1.0, message=(message or "done")[:500])
    with db.session() as s:
        return s.execute(
            sa.update(Job).where(_owned(job_id, attempt)).values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def stamp_cancelled(db: Database, job_id: int) -> None:
    """Give a cancelled job its finish time once its attempt has stopped (the API stamps a
    job cancelled while queued; a running one is stamped when its attempt ends)."""
    with db.session() as s:
        s.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.CANCELLED,
                   Job.finished_at.is_(None))
            .values(finished_at=utcnow(), lease_until=None)
            .execution_options(synchronize_session=False)
        )


def release(db: Database, job_id: int, attempt: int) -> bool:
    """Put a running attempt's job back in the queue (its worker is stopping): claimable at
    once by another worker; the attempt stays counted."""
    with db.session() as s:
        return s.execute(
            sa.update(Job).where(_owned(job_id, attempt))
            .values(status=JobStatus.QUEUED, lease_until=None, worker_id=None)
            .execution_options(synchronize_session=False)
        ).rowcount == 1


def execute(db: Database, store_dir, claimed: Claim) -> str:
    """Run one claimed attempt in this process; return how it ended (``done``, ``failed``,
    ``cancelled`` or ``lost``). Every write is fenced by the attempt."""
    with db.session() as s:
        job = s.get(Job, claimed.job_id)
        if job is None:
            return "lost"
        fn = _REGISTRY.get(job.kind)
        ctx = JobContext(job.id, dict(job.params), job.owner_org_id, job.created_by_id, db,
                         store_dir, attempt=claimed.attempt)
    if fn is None:
        finish(db, claimed.job_id, claimed.attempt, JobStatus.FAILED,
               f"unknown job kind {claimed.kind!r}")
        return "failed"
    try:
        result_kind, result_id = fn(ctx)
    except JobCancelled:
        stamp_cancelled(db, claimed.job_id)
        return "cancelled"
    except JobLost:
        return "lost"
    except Exception as exc:  # recorded on the job (fenced)
        log.info("job %s attempt %s failed: %s", claimed.job_id, claimed.attempt, exc)
        detail = str(exc) or type(exc).__name__
        if not isinstance(exc, ValueError):
            detail += "\n" + "".join(traceback.format_exception_only(type(exc), exc)).strip()
        ok = finish(db, claimed.job_id, claimed.attempt, JobStatus.FAILED, detail[:4000])
        return "failed" if ok else "lost"
    if ctx.completed:
        return "done"
    ok = finish(db, claimed.job_id, claimed.attempt, JobStatus.DONE, None, result_kind,
                result_id, ctx.done_message)
    return "done" if ok else "lost"


class JobQueue:
    """What the request processes hold (``Platform.jobs``): jobs are rows; workers poll."""

    def __init__(self, db: Database):
        self.db = db

    def submit(self, job_id: int) -> None:
        """A job was queued (its row committed): nothing to do here, a worker claims it
        within its poll interval."""

    def shutdown(self, wait: bool = False) -> None:
        """Nothing runs in this process."""


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
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
