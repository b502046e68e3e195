"""Worker processes: claim jobs from the database and run each in a child process.

``casip worker`` runs a :class:`Worker`: a *supervisor* loop that claims jobs
(:func:`casip.platform.jobs.claim`), starts each attempt in a child process, and, every
``heartbeat_s`` while the child runs, renews the attempt's lease, checks whether the job was
cancelled and enforces the hard wall-clock limit. The job itself - a PyBaMM solve, a
calibration, a study - runs in the child, so neither a solver call that never returns to
Python (IDAKLU cannot be interrupted from Python) nor the child's own interpreter lock can
delay the heartbeat; the supervisor stops an attempt by killing the child's process group
(``SIGKILL``), which always works. The rules of claiming, leases and fencing are in
:mod:`casip.platform.jobs`.

What happens when
-----------------
* the child finishes: it wrote its result and status itself (fenced by its attempt);
* the job is cancelled (by its owner): the supervisor kills the child at the next heartbeat and
  stamps the job's finish time;
* the wall-clock limit (``Settings.job_wall_clock_s``) passes: the child is killed and the
  attempt failed ("wall-clock limit"), not retried;
* the child dies on its own (killed by the kernel's OOM killer, a crash in a native library):
  the job is requeued until ``max_attempts`` attempts, then failed;
* the *worker* is killed or stopped: its leases run out and other workers claim the jobs again
  (new attempts); a stopped worker that resumes finds its leases lost, kills its children, and
  their late writes are refused by the fencing;
* the worker is asked to stop (``SIGTERM``, ``SIGINT``, :meth:`Worker.stop`): it claims nothing
  more, kills its children and puts their jobs back in the queue at once.

Children are started with the ``forkserver`` method: a single-threaded server process that has
imported the job modules (and PyBaMM) once forks a child per attempt in milliseconds; ``fork``
from the multi-threaded supervisor would not be safe, and ``spawn`` would re-import PyBaMM for
every job.

Each worker keeps a row in ``workers`` (host, pid, slots, jobs running, done and failed,
last heartbeat): :func:`workers_status` reads them for health checks.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import sqlalchemy as sa

import casip
from casip.platform import jobs
from casip.platform.db import Database
from casip.platform.models import Job, JobStatus, utcnow
from casip.platform.models import Worker as WorkerRow

log = logging.getLogger("casip.platform.worker")

#: modules the fork server imports once, so that each child starts with them loaded (the last
#: one maps a design to PyBaMM parameters once: each job's own mapping then starts warm)
PRELOAD = ("casip.platform.worker", *jobs.JOB_MODULES, "pybamm", "casip.platform.job_warmup")
#: a worker is reported alive while its last heartbeat is younger than this many heartbeats
ALIVE_HEARTBEATS = 3.0


@dataclass
class _Slot:
    claim: jobs.Claim
    process: multiprocessing.process.BaseProcess
    started: float
    renewed: float = 0.0  # when the lease was last renewed (monotonic)
    killed: str | None = None  # why the supervisor killed it


@dataclass
class WorkerConfig:
    """What a worker and its children need (picklable: it is sent to each child)."""

    database_url: str
    store_dir: str
    price_set: str = ""
    slots: int = 1
    lease_s: float = 30.0
    heartbeat_s: float = 5.0
    wall_clock_s: float = 6 * 3600.0
    max_attempts: int = 3
    poll_s: float = 0.5
    #: the Dask scheduler study jobs fan out to ("" : a local cluster per study job)
    dask_scheduler: str = ""
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-"
                           f"{uuid.uuid4().hex[:6]}")

    @classmethod
    def of(cls, settings, **overrides) -> WorkerConfig:
        """The worker configuration of :class:`~casip.platform.settings.Settings`."""
        args = {
            "database_url": settings.database_url,
            "store_dir": str(settings.store_dir),
            "price_set": settings.price_set or "",
            "slots": max(1, int(settings.job_workers)),
            "lease_s": float(settings.job_lease_s),
            "heartbeat_s": float(settings.job_heartbeat_s),
            "wall_clock_s": float(settings.job_wall_clock_s),
            "max_attempts": int(settings.job_max_attempts),
            "poll_s": float(settings.worker_poll_s),
            "dask_scheduler": os.environ.get("CASIP_DASK_SCHEDULER", ""),
        }
        args.update(overrides)
        return cls(**args)


def _noop() -> None:
    """A child that does nothing (starts the fork server)."""


def _child_main(config: WorkerConfig, claimed: jobs.Claim) -> None:
    """Run one attempt (in the child process): its own process group, its own engine."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # the supervisor kills the whole group (a study's own processes too)
    logging.basicConfig(level=logging.WARNING)
    # the fork server's environment is that of its first start: pass what may change
    if config.dask_scheduler:
        os.environ["CASIP_DASK_SCHEDULER"] = config.dask_scheduler
    else:
        os.environ.pop("CASIP_DASK_SCHEDULER", None)
    from casip.platform import designs

    designs.configure(config.price_set or None)
    jobs.load_job_modules()
    db = Database(config.database_url)
    try:
        jobs.execute(db, config.store_dir, claimed)
    finally:
        db.dispose()


class Worker:
    """One worker process's supervisor (module docstring)."""

    def __init__(self, config: WorkerConfig):
        if config.heartbeat_s <= 0 or config.lease_s <= config.heartbeat_s:
            raise ValueError(
                f"job_lease_s={config.lease_s} must be longer than job_heartbeat_s="
                f"{config.heartbeat_s} (> 0): the lease is renewed every heartbeat"
            )
        self.config = config
        self.db = Database(config.database_url)
        self._stop = threading.Event()
        self._slots: list[_Slot] = []
        self._mp = _mp_context()
        self._warm = False
        self.counts = {"done": 0, "failed": 0, "lost": 0, "retried": 0}

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Claim nothing more; :meth:`run` kills the children and requeues their jobs."""
        self._stop.set()

    def run(self, max_jobs: int | None = None, idle_exit_s: float | None = None,
            parent_pid: int | None = None) -> dict:
        """Supervise until :meth:`stop` (or ``max_jobs`` attempts ended, or no job for
        ``idle_exit_s`` seconds, or - an embedded worker - the process ``parent_pid`` that
        started it is gone); return the counts."""
        started = 0
        idle_since = time.monotonic()
        self._register()
        last_beat = 0.0
        try:
            while not self._stop.is_set():
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("the server that started this worker is gone: stopping")
                    break
                self._reap()
                now = time.monotonic()
                if now - last_beat >= self.config.heartbeat_s:
                    self._heartbeat()
                    last_beat = now
                if max_jobs is not None and started >= max_jobs and not self._slots:
                    break
                free = self.config.slots - len(self._slots)
                claimed = None
                if free > 0 and (max_jobs is None or started < max_jobs):
                    if not self._warm and jobs.claimable(self.db):
                        self._warm_up()
                    claimed = jobs.claim(self.db, self.config.worker_id, self.config.lease_s,
                                         self.config.max_attempts)
                if claimed is not None:
                    self._start(claimed)
                    started += 1
                    idle_since = time.monotonic()
                    continue
                if self._slots:
                    idle_since = time.monotonic()
                elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                    break
                self._stop.wait(min(self.config.poll_s, self.config.heartbeat_s))
        finally:
            self._shutdown()
        return dict(self.counts)

    def _warm_up(self) -> None:
        """Start the fork server (it imports the job modules and PyBaMM once, a few seconds)
        when there is work, before the first claim, so no claimed job waits on it; an idle
        worker (a test server, a quiet lab) never pays for it."""
        p = self._mp.Process(target=_noop, name="casip-worker-warm-up")
        p.start()
        p.join(120)
        self._warm = True

    # ------------------------------------------------------------------ slots

    def _start(self, claimed: jobs.Claim) -> None:
        p = self._mp.Process(target=_child_main, args=(self.config, claimed),
                             name=f"casip-job-{claimed.job_id}-a{claimed.attempt}", daemon=False)
        p.start()
        now = time.monotonic()
        slot = _Slot(claimed, p, now, now)
        self._slots.append(slot)
        # starting the child may take a while (the fork server's first start imports PyBaMM):
        # renew at once, so the lease taken at the claim cannot run out meanwhile
        if jobs.renew(self.db, claimed.job_id, claimed.attempt, self.config.lease_s) != "ok":
            self._kill(slot, "lost before it started")
        log.info("job %s attempt %s started (pid %s)", claimed.job_id, claimed.attempt, p.pid)

    def _reap(self) -> None:
        """Check each running attempt: exited, cancelled, lost or over its wall clock."""
        for slot in list(self._slots):
            c = slot.claim
            if not slot.process.is_alive():
                slot.process.join()
                self._slots.remove(slot)
                self._ended(slot)
                continue
            if time.monotonic() - slot.started > self.config.wall_clock_s:
                self._kill(slot, "wall clock")
                jobs.finish(self.db, c.job_id, c.attempt, JobStatus.FAILED,
                            f"stopped: the job ran longer than its wall-clock limit of "
                            f"{self.config.wall_clock_s:g} s (attempt {c.attempt})")
                self.counts["failed"] += 1
                continue
            if time.monotonic() - slot.renewed < self.config.heartbeat_s:
                continue
            state = jobs.renew(self.db, c.job_id, c.attempt, self.config.lease_s)
            slot.renewed = time.monotonic()
            if state == "cancelled":
                self._kill(slot, "cancelled")
                jobs.stamp_cancelled(self.db, c.job_id)
            elif state == "lost":
                self._kill(slot, "lost")
                self.counts["lost"] += 1

    def _ended(self, slot: _Slot) -> None:
        """A child exited by itself: a non-zero exit (crash, OOM kill) requeues the job."""
        c, code = slot.claim, slot.process.exitcode
        if slot.killed:
            return
        if code == 0:
            with self.db.session() as s:
                status = s.execute(sa.select(Job.status).where(Job.id == c.job_id)).scalar()
            if status == JobStatus.DONE:
                self.counts["done"] += 1
            elif status == JobStatus.FAILED:
                self.counts["failed"] += 1
            elif status == JobStatus.CANCELLED:
                jobs.stamp_cancelled(self.db, c.job_id)
            if status == JobStatus.RUNNING:  # exited without a word: treat as a crash
                code = -1
            else:
                return
        with self.db.session() as s:
            attempts = s.execute(sa.select(Job.attempts).where(Job.id == c.job_id)).scalar()
        if attempts is not None and attempts < self.config.max_attempts:
            if jobs.release(self.db, c.job_id, c.attempt):
                self.counts["retried"] += 1
                log.warning("job %s attempt %s: process exited with %s; requeued", c.job_id,
                            c.attempt, code)
            return
        if jobs.finish(self.db, c.job_id, c.attempt, JobStatus.FAILED,
                       f"its process died (exit code {code}) on each of {attempts} attempts"):
            self.counts["failed"] += 1

    def _kill(self, slot: _Slot, why: str) -> None:
        slot.killed = why
        pid = slot.process.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        slot.process.join(10)
        if slot in self._slots:
            self._slots.remove(slot)
        log.warning("job %s attempt %s killed: %s", slot.claim.job_id, slot.claim.attempt, why)

    def _shutdown(self) -> None:
        for slot in list(self._slots):
            self._kill(slot, "worker stopping")
            jobs.release(self.db, slot.claim.job_id, slot.claim.attempt)
        with contextlib.suppress(Exception), self.db.session() as s:
            s.execute(sa.update(WorkerRow).where(WorkerRow.id == self.config.worker_id)
                      .values(stopped_at=utcnow(), running=0, last_seen=utcnow()))
        self.db.dispose()

    # ------------------------------------------------------------------ health

    def _register(self) -> None:
        now = utcnow()
        with self.db.session() as s:
            s.merge(WorkerRow(id=self.config.worker_id, host=socket.gethostname()[:255],
                              pid=os.getpid(), slots=self.config.slots, running=0, done=0,
                              failed=0, version=casip.__version__[:32], started_at=now,
                              last_seen=now, stopped_at=None))

    def _heartbeat(self) -> None:
        with self.db.session() as s:
            s.execute(sa.update(WorkerRow).where(WorkerRow.id == self.config.worker_id)
                      .values(last_seen=utcnow(), running=len(self._slots),
                              done=self.counts["done"], failed=self.counts["failed"]))


def _mp_context():
    """The ``forkserver`` context with the job modules preloaded (``spawn`` where there is
    no fork server)."""
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # pragma: no cover - platforms without forkserver
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def workers_status(db: Database, heartbeat_s: float) -> dict:
    """Health of the worker role: the workers whose heartbeat is recent, and the queue."""
    cutoff = utcnow().timestamp() - ALIVE_HEARTBEATS * heartbeat_s
    with db.session() as s:
        rows = s.execute(sa.select(WorkerRow).where(WorkerRow.stopped_at.is_(None))).scalars()
        alive = [
            {"id": w.id, "host": w.host, "pid": w.pid, "slots": w.slots, "running": w.running,
             "done": w.done, "failed": w.failed, "last_seen": w.last_seen.isoformat() + "Z"}
            for w in rows
            if w.last_seen.replace(tzinfo=None).timestamp() >= cutoff
        ]
        queued = s.execute(sa.select(sa.func.count()).select_from(Job)
                           .where(Job.status == JobStatus.QUEUED)).scalar_one()
        running = s.execute(sa.select(sa.func.count()).select_from(Job)
                            .where(Job.status == JobStatus.RUNNING)).scalar_one()
    return {"alive": len(alive), "workers": alive, "queued": int(queued),
            "running": int(running)}


# --------------------------------------------------------------------- embedded workers


class EmbeddedWorkers:
    """``casip worker`` processes started beside a server (the zero-configuration default)."""

    def __init__(self, procs: list[subprocess.Popen]):
        self.procs = procs

    def stop(self, timeout: float = 20.0) -> None:
        """Ask each worker to stop (SIGTERM: it requeues its running jobs), then wait."""
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def worker_command() -> list[str]:
    """The command line of a worker process (this interpreter, ``casip worker``)."""
    return [sys.executable, "-m", "casip", "worker"]


def start_embedded(settings, n: int) -> EmbeddedWorkers:
    """Start ``n`` ``casip worker`` processes on ``settings``' database and data folder; each
    logs to ``<data dir>/logs/worker-<i>.log`` and stops by itself when this process is gone
    (``CASIP_WORKER_PARENT_PID``)."""
    env = dict(os.environ)
    env.update({
        "CASIP_DATA_DIR": str(Path(settings.data_dir).resolve()),
        "CASIP_DATABASE_URL": settings.database_url,
        "CASIP_PRICE_SET": settings.price_set or "",
        "CASIP_JOB_WORKERS": str(settings.job_workers),
        "CASIP_JOB_LEASE_S": str(settings.job_lease_s),
        "CASIP_JOB_HEARTBEAT_S": str(settings.job_heartbeat_s),
        "CASIP_JOB_WALL_CLOCK_S": str(settings.job_wall_clock_s),
        "CASIP_JOB_MAX_ATTEMPTS": str(settings.job_max_attempts),
        "CASIP_WORKER_POLL_S": str(settings.worker_poll_s),
        "CASIP_WORKER_NICE": str(settings.worker_nice),
        "PYBAMM_DISABLE_TELEMETRY": "true",
    })
    env["CASIP_WORKER_PARENT_PID"] = str(os.getpid())  # it stops when this process is gone
    logs = Path(settings.data_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(max(0, int(n))):
        # its own log file: a worker never holds the server's output open after the server died
        with (logs / f"worker-{i + 1}.log").open("ab") as out:
            procs.append(subprocess.Popen(worker_command(), env=env, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT))
    return EmbeddedWorkers(procs)


__all__ = ["EmbeddedWorkers", "Worker", "WorkerConfig", "start_embedded", "workers_status"]
