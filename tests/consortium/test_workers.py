"""Job workers (issue 17): claims, leases, fencing, retries, the wall-clock limit, and a fleet
of real ``casip worker`` processes killed and stopped mid-job - on SQLite and PostgreSQL.

The workload is the canary job (:mod:`casip.platform.canary`): it waits, then writes one audit
entry in the transaction that marks it done, under the job's fence - so "each job finished
exactly once" is "each job done, with exactly one ``worker_canary`` entry"."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from casip.platform import jobs
from casip.platform.app import prepare
from casip.platform.canary import queue_canary
from casip.platform.models import AuditEvent, Job, JobStatus, utcnow
from casip.platform.settings import Settings
from casip.platform.worker import Worker, WorkerConfig, workers_status

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def platform_db(request, tmp_path, database_url_factory):
    """A migrated, unseeded platform database (no demo, no workers) on each backend."""
    if request.param == "postgresql" and not os.environ.get("CASIP_TEST_POSTGRES_URL"):
        if os.environ.get("CASIP_REQUIRE_POSTGRES") == "1":
            pytest.fail("CASIP_REQUIRE_POSTGRES=1 but CASIP_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server: set CASIP_TEST_POSTGRES_URL")
    with database_url_factory(request.param, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, seed_demo=False,
                            embedded_workers=0, demo_jobs=False)
        db = prepare(settings)
        try:
            yield settings, db
        finally:
            db.dispose()


def _canary_entries(db) -> dict[int, int]:
    """job id -> number of worker_canary audit entries."""
    with db.session() as s:
        details = s.execute(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "worker_canary")
        ).scalars()
        out: dict[int, int] = {}
        for d in details:
            jid = json.loads(d)["job_id"]
            out[jid] = out.get(jid, 0) + 1
    return out


def _jobs(db, ids) -> dict[int, Job]:
    with db.session() as s:
        return {j.id: j for j in s.execute(sa.select(Job).where(Job.id.in_(ids))).scalars()}


# ------------------------------------------------------------------------------- claiming


def test_concurrent_claims_take_every_job_exactly_once(platform_db):
    _settings, db = platform_db
    ids = queue_canary(db, 0.0, n=40)
    claims: list[jobs.Claim] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (c := jobs.claim(db, name, lease_s=60.0)) is not None:
            with lock:
                claims.append(c)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(c.job_id for c in claims) == sorted(ids)  # each once, none missed
    assert {c.attempt for c in claims} == {1}
    rows = _jobs(db, ids)
    assert all(r.status == JobStatus.RUNNING and r.attempts == 1 for r in rows.values())
    assert {r.worker_id for r in rows.values()} <= {f"w{i}" for i in range(4)}
    assert jobs.claim(db, "late", lease_s=60.0) is None  # leases still valid: nothing to take


def test_an_expired_lease_is_claimed_again_and_the_old_attempt_is_fenced_out(platform_db):
    settings, db = platform_db
    [jid] = queue_canary(db, 0.0)
    first = jobs.claim(db, "stalled", lease_s=5.0)
    assert first == jobs.Claim(jid, "canary", 1)
    with db.session() as s:
        row = s.get(Job, jid)
        ctx1 = jobs.JobContext(jid, dict(row.params), row.owner_org_id, None, db, attempt=1)
    ctx1.progress(0.5, "half way")  # its own attempt: allowed
    assert jobs.renew(db, jid, 1, 5.0) == "ok"
    # the lease runs out (the clock is moved instead of waiting): another worker takes over
    later = utcnow() + dt.timedelta(seconds=6)
    assert jobs.claim(db, "healthy", lease_s=5.0, now=later) == jobs.Claim(jid, "canary", 2)
    # the stalled attempt wakes up: every write it tries is refused
    with pytest.raises(jobs.JobLost):
        ctx1.progress(0.9, "still here")
    with pytest.raises(jobs.JobLost), ctx1.fenced():
        pass
    assert jobs.renew(db, jid, 1, 5.0) == "lost"
    assert not jobs.finish(db, jid, 1, JobStatus.DONE, message="done by the stalled one")
    # the new attempt completes; the job says so, once
    assert jobs.execute(db, settings.store_dir, jobs.Claim(jid, "canary", 2)) == "done"
    job = _jobs(db, [jid])[jid]
    assert job.status == JobStatus.DONE and job.attempts == 2 and job.lease_until is None
    assert _canary_entries(db) == {jid: 1}
    assert job.result_kind == "audit_event" and job.result_id is not None
    # a finished job is claimed by nobody
    assert jobs.claim(db, "late", lease_s=5.0, now=later + dt.timedelta(hours=1)) is None


def test_a_job_lost_max_attempts_times_is_failed_and_cancel_is_seen(platform_db):
    settings, db = platform_db
    lost, cancelled = queue_canary(db, 0.0, n=2)
    t = utcnow()
    assert jobs.claim(db, "a", 1.0, max_attempts=2, now=t).attempt == 1
    # the second job is claimed by another worker meanwhile
    assert jobs.claim(db, "b", 100.0, max_attempts=2, now=t) == jobs.Claim(cancelled, "canary", 1)
    assert jobs.claim(db, "c", 1.0, max_attempts=2, now=t + dt.timedelta(seconds=2)).attempt == 2
    assert jobs.claim(db, "d", 1.0, max_attempts=2, now=t + dt.timedelta(seconds=4)) is None
    row = _jobs(db, [lost])[lost]
    assert row.status == JobStatus.FAILED and "each of 2 attempts" in row.error
    # a cancelled running job: its worker's next renewal says so; its writes are refused
    with db.session() as s:
        s.get(Job, cancelled).status = JobStatus.CANCELLED
    assert jobs.renew(db, cancelled, 1, 5.0) == "cancelled"
    ctx = jobs.JobContext(cancelled, {}, 0, None, db, attempt=1)
    with pytest.raises(jobs.JobCancelled):
        ctx.progress(0.1)
    assert jobs.execute(db, settings.store_dir, jobs.Claim(cancelled, "canary", 1)) \
        == "cancelled"
    assert _canary_entries(db) == {}


# -------------------------------------------------------------------- real worker processes


def _run_worker(config: WorkerConfig) -> tuple[Worker, threading.Thread]:
    w = Worker(config)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    return w, t


def _until(pred, limit_s: float, what: str):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"not within {limit_s} s: {what}")


@pytest.mark.slow
def test_a_worker_enforces_the_wall_clock_retries_a_crashed_child_and_kills_on_cancel(
    platform_db,
):
    settings, db = platform_db
    config = WorkerConfig.of(settings, slots=3, lease_s=3.0, heartbeat_s=0.2,
                             wall_clock_s=2.5, poll_s=0.1)
    hog = queue_canary(db, 60.0, mode="block")[0]  # never returns to Python by itself
    crashed = queue_canary(db, 1.5, mode="block")[0]
    cancelled = queue_canary(db, 60.0, mode="steps")[0]
    w, t = _run_worker(config)
    try:
        _until(lambda: len(w._slots) == 3, 60, "three attempts running")
        # the kernel kills the child of one job (as an OOM kill would): requeued, run again
        slot = next(s for s in w._slots if s.claim.job_id == crashed)
        os.kill(slot.process.pid, signal.SIGKILL)
        # the owner cancels another: its process is killed at the next heartbeat
        with db.session() as s:
            s.get(Job, cancelled).status = JobStatus.CANCELLED
        done = _until(lambda: _jobs(db, [crashed])[crashed].status == JobStatus.DONE, 60,
                      "the crashed job done on its second attempt")
        assert done
        _until(lambda: _jobs(db, [hog])[hog].status == JobStatus.FAILED, 30,
               "the hog stopped by the wall clock")
        _until(lambda: _jobs(db, [cancelled])[cancelled].finished_at is not None, 30,
               "the cancelled job's finish stamped")
    finally:
        w.stop()
        t.join(30)
    rows = _jobs(db, [hog, crashed, cancelled])
    assert rows[crashed].attempts == 2 and rows[crashed].status == JobStatus.DONE
    assert "wall-clock limit of 2.5 s" in rows[hog].error and rows[hog].attempts == 1
    assert rows[cancelled].status == JobStatus.CANCELLED and rows[cancelled].result_id is None
    assert _canary_entries(db) == {crashed: 1}
    assert not w._slots  # every child reaped
    assert w.counts["retried"] == 1 and w.counts["failed"] >= 1


# ------------------------------------------------------------------------------ the fleet


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux /proc): a worker's job processes are children of its
    fork server, itself a child of the worker."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        f = task / "children"
        if f.exists():
            for child in (int(x) for x in f.read_text().split()):
                out += [child, *_children(child)]
    return out


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update({
        "CASIP_DATA_DIR": str(settings.data_dir),
        "CASIP_DATABASE_URL": settings.database_url,
        "CASIP_JOB_LEASE_S": "2",
        "CASIP_JOB_HEARTBEAT_S": "0.3",
        "CASIP_WORKER_POLL_S": "0.1",
        "CASIP_JOB_MAX_ATTEMPTS": "5",
        "PYBAMM_DISABLE_TELEMETRY": "true",
    })
    return subprocess.Popen([sys.executable, "-m", "casip", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _running_on(db, worker_pid: int, min_age_s: float = 0.0, max_age_s: float = 1e9
                ) -> list[int]:
    """Jobs running on a worker process whose attempt started between the two ages ago."""
    now = utcnow()
    with db.session() as s:
        rows = s.execute(sa.select(Job.id, Job.started_at).where(
            Job.status == JobStatus.RUNNING, Job.worker_id.like(f"%-{worker_pid}-%"))).all()
    return [jid for jid, at in rows
            if at is not None and min_age_s <= (now - at).total_seconds() <= max_age_s]


def _mid_job(db, pid: int) -> list[int]:
    """Wait until ``pid``'s worker is in the middle of a 1-second job (started 0.1-0.5 s
    ago: neither starting nor finishing), and return that job."""
    return _until(lambda: _running_on(db, pid, 0.1, 0.5), 120, f"worker {pid} mid-job")


@pytest.mark.slow
def test_fleet_of_workers_killed_and_stopped_mid_job_finishes_every_job_exactly_once(
    platform_db, tmp_path,
):
    if platform_db[1].engine.dialect.name != "postgresql":
        pytest.skip("the fleet runs on PostgreSQL (SKIP LOCKED); SQLite is covered above")
    """Issue 17's fleet test: 2 workers, 50 queued jobs; one worker killed with SIGKILL (with
    its job's process, as a host crash would) and replaced, another stopped with SIGSTOP (with
    its job's process) until its lease ran out, then resumed: all 50 jobs finish, each exactly
    once; the jobs caught mid-flight ran a second attempt, and the stopped attempt's late
    write was refused."""
    settings, db = platform_db
    ids = queue_canary(db, 1.0, mode="block", n=50)
    log = tmp_path / "workers.log"
    a, b = _start_worker(settings, log), _start_worker(settings, log)
    procs = [a, b]
    stopped: list[int] = []
    try:
        # SIGSTOP b and its job's process mid-job
        b_jobs = _mid_job(db, b.pid)
        stopped = [b.pid, *_children(b.pid)]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        # SIGKILL a and its job's process mid-job; a replacement worker starts
        a_jobs = _mid_job(db, a.pid)
        for pid in [*_children(a.pid), a.pid]:
            os.kill(pid, signal.SIGKILL)
        a.wait(10)
        c = _start_worker(settings, log)
        procs.append(c)
        # the replacement takes over both lost jobs once their leases (2 s) run out
        _until(lambda: all(_jobs(db, [j])[j].attempts >= 2 for j in a_jobs + b_jobs), 90,
               "the lost jobs claimed again")
        time.sleep(1.0)
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        _until(lambda: all(j.status == JobStatus.DONE for j in _jobs(db, ids).values()), 180,
               "all 50 jobs done")
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    rows = _jobs(db, ids)
    entries = _canary_entries(db)
    assert all(r.status == JobStatus.DONE for r in rows.values())
    assert entries == {j: 1 for j in ids}, log.read_text()[-3000:]  # exactly once each
    assert all(rows[j].attempts >= 2 for j in a_jobs + b_jobs)
    assert sum(r.attempts for r in rows.values()) >= 50 + len(a_jobs) + len(b_jobs)
    health = workers_status(db, heartbeat_s=0.3)
    assert health["queued"] == 0 and health["running"] == 0


def test_worker_health_check_reports_live_workers_and_the_queue(platform_db):
    """``casip worker --status``: exit 0 while a worker's heartbeat is recent, 1 once it
    stopped; the queue's counts beside."""
    from typer.testing import CliRunner

    from casip.cli import app

    settings, db = platform_db
    queue_canary(db, 0.0, n=2)
    with db.session() as s:  # keep them queued: this test is about health, not running
        s.execute(sa.update(Job).values(status=JobStatus.CANCELLED))
    args = ["worker", "--status", "--json", "--database", settings.database_url,
            "--data-dir", str(settings.data_dir)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and json.loads(r.stdout)["alive"] == 0
    w, t = _run_worker(WorkerConfig.of(settings, heartbeat_s=0.2, lease_s=2.0, poll_s=0.05))
    try:
        _until(lambda: workers_status(db, 0.2)["alive"] == 1, 30, "the worker registered")
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.output
        body = json.loads(r.stdout)
        assert body["alive"] == 1 and body["workers"][0]["slots"] == settings.job_workers
        assert body["queued"] == 0 and body["running"] == 0
    finally:
        w.stop()
        t.join(30)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and json.loads(r.stdout)["alive"] == 0


@pytest.mark.slow
def test_a_study_job_fans_out_to_a_dask_cluster_through_a_worker(platform_db):
    """A study job claimed by a worker runs its points on the Dask cluster the worker is
    configured with (a real LocalCluster on 127.0.0.1), and stores the same Pareto front as
    the library computes in process."""
    from distributed import Client, LocalCluster

    from casip.explore.run import run_study
    from casip.explore.study import study_from_data
    from casip.platform.models import Organisation, OrgKind
    from casip.platform.studies import load_summary

    settings, db = platform_db
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the database plays no part in the fan-out: SQLite is enough")
    study = {
        "schema": "casip.study/1",
        "name": "loading x separator on dask",
        "design": "ref:assb-sulfide-li",
        "parameters": {
            "cathode_loading_mAh_cm2": {"low": 2.0, "high": 8.0, "levels": 4},
            "separator_thickness_um": {"low": 10, "high": 50, "levels": 3},
        },
        "objectives": {"specific_energy_Wh_kg": "max", "cost_usd_kWh": "min"},
        "method": {"kind": "factorial"},
        "execution": {"chunk_size": 3},
    }
    params = {"study": study_from_data(study).to_dict(), "executor": "dask"}
    with db.session() as s:
        org = s.execute(sa.select(Organisation.id).where(
            Organisation.kind == OrgKind.PLATFORM.value)).scalar()
        job = Job(owner_org_id=org, kind="study", params=params, status=JobStatus.QUEUED)
        s.add(job)
        s.flush()
        jid = job.id
    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, processes=True) as cluster, \
            Client(cluster) as client:
        config = WorkerConfig.of(settings, heartbeat_s=0.5, lease_s=10.0, poll_s=0.1,
                                 dask_scheduler=cluster.scheduler_address)
        w, t = _run_worker(config)
        try:
            _until(lambda: _jobs(db, [jid])[jid].status not in (JobStatus.QUEUED,
                                                               JobStatus.RUNNING),
                   180, "the study job finished")
        finally:
            w.stop()
            t.join(30)
        # the cluster ran the study's tasks (12 points, 3 per task): its only client was the
        # job's, so every task the scheduler moved came from the study
        tasks = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.transition_counter)
    row = _jobs(db, [jid])[jid]
    assert row.status == JobStatus.DONE, row.error
    assert tasks >= 4 * 3  # at least released -> waiting -> processing -> memory, 4 tasks
    summary = load_summary(settings.store_dir, jid)
    assert summary["points"] == 12
    direct = run_study(study_from_data(study), out_dir=settings.data_dir / "direct")
    assert sorted(p["specific_energy_Wh_kg"] for p in summary["pareto"]) == pytest.approx(
        sorted(direct.pareto["specific_energy_Wh_kg"].tolist()))


@pytest.mark.parametrize("nice", [0, 7])
def test_a_worker_lowers_its_own_cpu_priority(tmp_path, nice):
    """``CASIP_WORKER_NICE`` (default 10): a worker process, and so its fork server and jobs,
    runs behind the API processes on a shared host; 0 keeps the priority it was given."""
    import psutil

    env = dict(os.environ)
    env.update({
        "CASIP_DATA_DIR": str(tmp_path),
        "CASIP_DATABASE_URL": f"sqlite:///{tmp_path / 'casip.db'}",
        "CASIP_WORKER_NICE": str(nice),
        "PYBAMM_DISABLE_TELEMETRY": "true",
    })
    base = psutil.Process().nice()
    proc = subprocess.Popen([sys.executable, "-m", "casip", "worker"], env=env,
                            stdout=(tmp_path / "w.log").open("ab"), stderr=subprocess.STDOUT)
    try:
        # the worker's heartbeat row shows it has passed its start-up (and the os.nice call)
        db_url = env["CASIP_DATABASE_URL"]
        _until(lambda: tmp_path.joinpath("casip.db").exists() and _alive(db_url), 120,
               "the worker's heartbeat")
        assert psutil.Process(proc.pid).nice() == min(19, base + nice)
    finally:
        proc.terminate()
        proc.wait(30)
    bad = subprocess.run([sys.executable, "-m", "casip", "worker"], capture_output=True,
                         text=True, env={**env, "CASIP_WORKER_NICE": "25"}, timeout=120)
    assert bad.returncode == 2 and "worker_nice=25" in bad.stderr


def _alive(database_url: str) -> bool:
    from casip.platform.db import Database
    from casip.platform.worker import workers_status

    db = Database(database_url)
    try:
        return workers_status(db, 5.0)["alive"] > 0
    except Exception:  # the schema is being created
        return False
    finally:
        db.dispose()
