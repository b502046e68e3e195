"""Several API processes on one PostgreSQL database, as ``casip serve`` runs them.

Real processes on 127.0.0.1: ``casip serve --workers 2`` (two uvicorn API processes on one
port, "A") and a second ``casip serve`` ("B") on its own port, started at the same moment on
one fresh database and one data folder. B runs with its authentication cache kept for an hour
(``deps.AUTH_CACHE_S``), so a revoked token it refuses was refused because the database's data
version moved, not because a cache entry aged out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from _live import free_port, wait_healthy

from casip.platform import data_version
from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email

pytestmark = pytest.mark.slow

#: B: ``casip`` with the authentication cache kept for an hour (see the module docstring)
B_MAIN = (
    "import sys, casip.platform.deps as d; d.AUTH_CACHE_S = 3600.0; "
    "from casip.cli import main; main()"
)
ARBIN = "arbin_example.csv"  # 0.3 MB
UP_S = 240  # bound on starting the processes (three interpreters seeding on 2 shared cores)


class Proc:
    """One ``casip serve`` command on a free port."""

    def __init__(self, argv: list[str], url: str, data_dir: Path, *extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [*argv, "serve", "--database", url, "--data-dir", str(data_dir),
                     "--port", str(self.port), "--embedded-workers", "0", *extra]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        env = {
            **os.environ,
            "PYBAMM_DISABLE_TELEMETRY": "true",
            "CASIP_LOG_LEVEL": "warning",
            "CASIP_DEMO_JOBS": "0",
            "CASIP_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": "3",
        }
        env.pop("CASIP_DATABASE_URL", None)
        env.pop("CASIP_EMBEDDED_WORKERS", None)
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        return self

    def wait_up(self, seconds: float = UP_S) -> Proc:
        wait_healthy(self.base, self.proc, seconds, " ".join(self.argv))
        return self

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=30)
        return out or ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60)

    def token(self, email: str) -> tuple[dict[str, str], int]:
        """Bearer headers of a new API token of ``email`` and the token's id."""
        c = self.client()
        r = c.post("/api/login", json={"email": email, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        r = c.post(
            "/api/tokens", json={"name": "mp"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
        )
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}, r.json()["id"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database_url_factory):
    folder = tmp_path_factory.mktemp("multiprocess")
    data_dir = folder / "data"
    with database_url_factory("postgresql", folder) as url:
        a = Proc([sys.executable, "-m", "casip"], url, data_dir, "--workers", "2")
        b = Proc([sys.executable, "-c", B_MAIN], url, data_dir)
        try:
            a.start(), b.start()  # at the same moment: both run the start-up
            a.wait_up(), b.wait_up()
            yield a, b, url, data_dir
        finally:
            a.stop(), b.stop()


def test_startup_ran_once_with_three_api_processes(cluster):
    a, b, url, _ = cluster
    from alembic.script import ScriptDirectory

    from casip.platform.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert a.client().get("/api/health").json()["revision"] == head
    assert b.client().get("/api/health").json()["revision"] == head
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(head,)]
            # one seed: the reference library and each demo organisation once, one demo
            # engineer per organisation, the reference designs once
            assert c.execute(sa.text("SELECT count(*) FROM organisations")).scalar_one() == (
                1 + len(DEMO_ORGS)
            )
            refs = c.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT reference_id) FROM designs "
                    "WHERE reference_id IS NOT NULL"
                )
            ).one()
            assert refs[0] == refs[1] > 0
            assert c.execute(sa.text("SELECT topic FROM data_versions ORDER BY topic")).all() == [
                    (t,) for t in sorted(data_version.TOPICS)
                ]
    finally:
        engine.dispose()


def test_a_token_revoked_on_one_process_is_refused_by_another(cluster):
    a, b, _, _ = cluster
    headers, token_id = a.token(demo_email(DEMO_ORGS[0][0], "engineer"))
    cb = b.client()
    assert cb.get("/api/me", headers=headers).status_code == 200  # now in B's auth cache
    assert cb.get("/api/me", headers=headers).status_code == 200
    r = a.client().delete(f"/api/tokens/{token_id}", headers=headers)
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    start, status = time.monotonic(), 200
    while status == 200 and time.monotonic() - start < 60:  # B's cache is kept for an hour
        status = cb.get("/api/me", headers=headers).status_code
        time.sleep(0.05)
    assert status == 401, f"B still accepts the revoked token after {time.monotonic() - start} s"
    print(f"revoked token refused by B after {time.monotonic() - start:.2f} s")


def test_a_design_created_on_one_process_is_listed_by_another(cluster):
    a, b, _, _ = cluster
    headers, _ = a.token(demo_email(DEMO_ORGS[1][0], "engineer"))
    ca, cb = a.client(), b.client()
    doc = ca.get("/api/designs/2", headers=headers).json()["document"]
    doc["name"] = "made on A 7f3c"
    r = ca.post("/api/designs", json={"document": doc}, headers=headers)
    assert r.status_code == 201, r.text
    listed = cb.get("/api/designs", params={"q": "made on A 7f3c"}, headers=headers).json()
    assert [d["id"] for d in listed["items"]] == [r.json()["id"]]


def test_login_limiter_counts_failures_of_every_process(cluster):
    a, b, _, _ = cluster
    email = demo_email(DEMO_ORGS[2][0], "viewer")
    for proc in (a, b, a):  # 3 failures allowed per account and address, across processes
        r = proc.client().post("/api/login", json={"email": email, "password": "wrong"})
        assert r.status_code == 401, r.text
    r = b.client().post("/api/login", json={"email": email, "password": DEMO_PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text


def test_metrics_add_up_both_api_processes(cluster):
    a, b, _, _ = cluster
    pattern = re.compile(
        r'^casip_http_requests_total\{method="GET",route="/api/health",status="200"\} (\S+)$',
        re.M,
    )

    def health_count(proc: Proc) -> float:
        r = proc.client().get("/api/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        assert "casip_http_request_duration_seconds_bucket" in r.text
        assert "casip_db_pool_checked_out" in r.text
        return float(pattern.search(r.text).group(1))

    before = health_count(a)
    with httpx.Client(base_url=a.base, timeout=30) as c:  # new connections: either process
        for _ in range(10):
            assert c.get("/api/health", headers={"Connection": "close"}).status_code == 200
    assert health_count(a) - before == 10
    assert health_count(b) >= 1  # one process: its own registry


def test_an_upload_in_progress_on_one_process_survives_another_starting(cluster, shared_data):
    a, b, _, data_dir = cluster
    from casip.platform.startup import process_tag

    headers, _ = a.token(demo_email(DEMO_ORGS[0][0], "engineer"))
    body = (shared_data / "cycler" / ARBIN).read_bytes()
    upload_dir = data_dir / "uploads"
    # what a dead process left: removed by B's start-up
    dead = upload_dir / f"p999999999t1h{process_tag()[-8:]}-{'e' * 32}.csv"
    dead.write_bytes(b"x")
    go_on, result = threading.Event(), {}

    def chunks():
        yield body[: len(body) // 2]
        go_on.wait(UP_S)
        yield body[len(body) // 2 :]

    def send():
        with httpx.Client(base_url=a.base, timeout=UP_S) as c:
            result["r"] = c.post(
                "/api/tests", params={"filename": ARBIN}, content=chunks(), headers=headers
            )

    sender = threading.Thread(target=send)
    sender.start()
    try:
        end = time.monotonic() + 60
        partial = []
        while not partial and time.monotonic() < end:
            partial = [p for p in upload_dir.iterdir() if p != dead and p.stat().st_size > 0]
            time.sleep(0.05)
        assert len(partial) == 1, "the upload did not start"
        b.stop()
        b.start().wait_up()  # B's start-up cleans the upload folder
        assert partial[0].exists(), "B removed an upload A is receiving"
        assert not dead.exists(), "B kept a dead process's partial upload"
    finally:
        go_on.set()
        sender.join(UP_S)
    assert result["r"].status_code == 201, result["r"].text
    assert not partial[0].exists()


def test_several_api_processes_on_sqlite_are_refused(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "casip", "serve", "--workers", "2", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "CASIP_DATABASE_URL": ""},
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--workers 2" in r.stderr and "PostgreSQL" in r.stderr and "SQLite" in r.stderr
    assert not (tmp_path / "casip.db").exists()  # refused before anything was created


# ---------------------------------------------------------------------------------------------
# the pieces, in this process and a child


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_second_process_waits_for_the_startup_lock(backend, tmp_path, database_url_factory):
    from casip.platform.startup import startup_lock

    with database_url_factory(backend, tmp_path) as url:
        code = (
            "import sys; from casip.platform.startup import startup_lock\n"
            "with startup_lock(sys.argv[1]): print('got it', flush=True)\n"
        )
        with startup_lock(url):
            child = subprocess.Popen(
                [sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True
            )
            try:
                child.wait(timeout=3)  # it cannot finish while this process holds the lock
            except subprocess.TimeoutExpired:
                pass
            assert child.poll() is None, child.stdout.read()
        out, _ = child.communicate(timeout=60)  # released: the child takes it and finishes
        assert child.returncode == 0 and out == "got it\n"


def test_a_process_tag_is_alive_exactly_while_its_process_runs():
    from casip.platform.startup import process_tag, tag_alive, tag_of

    code = (
        "from casip.platform.startup import process_tag\n"
        "print(process_tag(), flush=True)\ninput()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    tag = child.stdout.readline().strip()
    assert tag_of(tag + "-x")[0] == child.pid
    assert tag_alive(tag + "-x")
    child.communicate("\n", timeout=30)
    assert not tag_alive(tag + "-x")
    # this process's pid with another start time: a reused pid, not the writer
    pid, start, host = tag_of(process_tag() + "-x")
    assert tag_alive(process_tag() + "-x")
    assert not tag_alive(f"p{pid}t{start - 500}h{host}-x")


def test_every_committed_write_bumps_its_topic_in_the_database(tmp_path):
    from casip.platform import data_version
    from casip.platform.app import prepare
    from casip.platform.models import (
        ApiToken,
        Design,
        Job,
        Organisation,
        PrivacyRelease,
        User,
        utcnow,
    )
    from casip.platform.settings import Settings

    db = prepare(Settings(data_dir=tmp_path, seed_demo=False, recompute_on_start=False))
    try:

        def versions() -> dict[str, int]:
            with db.session() as s:
                return data_version.database_versions(s, max_age_s=0)

        def moved(before: dict[str, int], after: dict[str, int]) -> set[str]:
            assert set(after) == set(before) == set(data_version.TOPICS)
            return {t for t in after if after[t] != before[t]}

        v0 = versions()
        with db.session() as s:  # a new user and token: auth moves, nothing else
            org = s.execute(sa.select(Organisation).limit(1)).scalar_one()
            user = User(email="u@x.org", name="U", org_id=org.id, role="engineer",
                        password_hash="-")  # fmt: skip
            s.add(user)
            s.flush()
            tok = ApiToken(user_id=user.id, name="t", prefix="casip_x", token_hash="0" * 64)
            s.add(tok)
        v1 = versions()
        assert moved(v0, v1) == {"auth"} and v1["auth"] == v0["auth"] + 1
        with db.session() as s:  # revoked in place
            s.get(ApiToken, tok.id).revoked_at = utcnow()
        v2 = versions()
        assert moved(v1, v2) == {"auth"}
        s = db.sessions()  # a rolled-back write moves nothing
        s.execute(sa.select(Design).limit(1)).scalar_one().name = "renamed"
        s.flush()
        s.rollback()
        s.close()
        assert versions() == v2
        with db.session() as s:  # a design renamed in place: items and designs move
            s.execute(sa.select(Design).limit(1)).scalar_one().name = "renamed"
        v3 = versions()
        assert moved(v2, v3) == {"items", "designs"}
        with db.session() as s:  # a job queued, then its progress (a bulk update): jobs only
            job = Job(owner_org_id=org.id, kind="canary", params={})
            s.add(job)
        with db.session() as s:
            s.execute(sa.update(Job).where(Job.id == job.id).values(progress=0.5))
        v4 = versions()
        assert moved(v3, v4) == {"jobs"} and v4["jobs"] == v3["jobs"] + 2
        with db.session() as s:  # a privacy release: releases only
            s.add(PrivacyRelease(kpi="k", slot="2026Q4", budget_period="2026Q4", seq=1,
                                 epsilon=0.5, payload={}))  # fmt: skip
        assert moved(v4, versions()) == {"releases"}
    finally:
        db.dispose()


def test_a_versioned_cache_builds_once_for_many_waiting_threads(tmp_path):
    """An entry invalidated while many requests want it is built by one thread; the others
    get that value (a dashboard under load would otherwise run its scan once per request)."""
    from casip.platform.app import prepare
    from casip.platform.data_version import VersionedCache
    from casip.platform.models import Design
    from casip.platform.settings import Settings

    db = prepare(Settings(data_dir=tmp_path, seed_demo=False, recompute_on_start=False))
    cache = VersionedCache(topics=("designs",))
    builds: list[int] = []
    start = threading.Barrier(8)

    def build(s) -> int:
        builds.append(1)
        time.sleep(0.2)  # a slow scan: the other threads arrive while it runs
        return s.execute(sa.select(sa.func.count()).select_from(Design)).scalar_one()

    def reader(out: list) -> None:
        with db.session() as s:
            start.wait()
            out.append(cache.get(s, ("n",), lambda: build(s)))

    try:
        for expected_builds in (1, 2):
            got: list[int] = []
            threads = [threading.Thread(target=reader, args=(got,)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(builds) == expected_builds and len(got) == 8 and len(set(got)) == 1
            with db.session() as s:  # a write invalidates: the next wave builds once more
                s.execute(sa.select(Design).limit(1)).scalar_one().name = f"v{expected_builds}"
            start.reset()
    finally:
        db.dispose()


def test_a_stale_while_building_cache_answers_during_a_rebuild_and_reads_its_writes(tmp_path):
    from casip.platform.app import prepare
    from casip.platform.data_version import VersionedCache
    from casip.platform.models import Design
    from casip.platform.settings import Settings

    db = prepare(Settings(data_dir=tmp_path, seed_demo=False, recompute_on_start=False))
    cache = VersionedCache(topics=("designs",), stale_while_building=True)
    building = threading.Event()
    release = threading.Event()

    def name_of_first(s, slow: bool) -> str:
        if slow:
            building.set()
            release.wait(30)
        return s.execute(sa.select(Design.name).order_by(Design.id).limit(1)).scalar_one()

    def rename(to: str) -> None:
        with db.session() as s:
            s.execute(sa.select(Design).order_by(Design.id).limit(1)).scalar_one().name = to

    try:
        rename("one")
        with db.session() as s:
            assert cache.get(s, ("first",), lambda: name_of_first(s, False)) == "one"
        rename("two")  # a write then a read in one thread: the read builds, so it sees "two"
        with db.session() as s:
            assert cache.get(s, ("first",), lambda: name_of_first(s, False)) == "two"
        rename("three")
        got: list[str] = []

        def slow_reader() -> None:
            with db.session() as s:
                got.append(cache.get(s, ("first",), lambda: name_of_first(s, True)))

        t = threading.Thread(target=slow_reader)
        t.start()
        assert building.wait(30)
        with db.session() as s:  # during the rebuild: the previous answer, without waiting
            assert cache.get(s, ("first",), lambda: name_of_first(s, False)) == "two"
        release.set()
        t.join(30)
        assert got == ["three"]
        with db.session() as s:
            assert cache.get(s, ("first",), lambda: "not rebuilt") == "three"
    finally:
        db.dispose()


def test_metrics_are_for_the_scraper_only(tmp_path, monkeypatch):
    """Request counts per route are activity data: a client that is not on the server's own
    host (here the test client), or that comes through a proxy, gets the 404 of a missing page
    - byte for byte - unless it sends the configured scraper token."""
    from fastapi.testclient import TestClient

    from casip.platform.app import create_app
    from casip.platform.settings import Settings

    settings = Settings(data_dir=tmp_path / "d", seed_demo=False, embedded_workers=0,
                        demo_jobs=False)
    monkeypatch.delenv("CASIP_METRICS_TOKEN", raising=False)
    with TestClient(create_app(settings)) as c:
        missing = c.get("/api/no-such-page")
        r = c.get("/api/metrics")
        assert (r.status_code, r.content) == (missing.status_code, missing.content) \
            and r.status_code == 404
        monkeypatch.setenv("CASIP_METRICS_TOKEN", "s3cret-scrape")
        assert c.get("/api/metrics", headers={"Authorization": "Bearer wrong"}).status_code \
            == 404
        ok = c.get("/api/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert ok.status_code == 200 and "casip_http_requests_total" in ok.text
