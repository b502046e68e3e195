"""The README's main job: ``casip serve`` as a user runs it, on a real port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from _live import free_port, wait_healthy

from casip.platform.seed import DEMO_PASSWORD, demo_email

pytestmark = pytest.mark.slow


#: a request's patience: generous, since the machine may be busy (never a timed assertion)
TIMEOUT = 60.0


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from casip.platform.db import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def start(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true", "CASIP_LOG_LEVEL": "warning"}
    env.pop("CASIP_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "casip", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_up(base: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    wait_healthy(base, proc, seconds)


def test_serve_starts_seeded_and_restarts_on_the_same_data(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path / "data", port)
    try:
        wait_up(base, proc)
        health = httpx.get(base + "/api/health", timeout=TIMEOUT).json()
        assert health["database"] == "sqlite" and health["revision"] == head_revision()
        c = httpx.Client(base_url=base, timeout=TIMEOUT)
        r = c.post(
            "/api/login",
            json={"email": demo_email("kestrel", "engineer"), "password": DEMO_PASSWORD},
        )
        assert r.status_code == 200
        n = c.get("/api/designs").json()["total"]
        assert n > 7  # reference cells and demo designs
        assert c.get("/").status_code == 200
        # a write is committed before its response: the next request always sees it
        for _ in range(20):
            fresh = httpx.Client(base_url=base, timeout=TIMEOUT)
            r = fresh.post(
                "/api/login",
                json={"email": demo_email("lantern", "viewer"), "password": DEMO_PASSWORD},
            )
            tok = fresh.post(
                "/api/tokens", json={"name": "t"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
            )
            assert tok.status_code == 201, tok.text
            me = httpx.get(
                base + "/api/me", headers={"Authorization": f"Bearer {tok.json()['token']}"},
                timeout=TIMEOUT,
            )
            assert me.status_code == 200, me.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "casip-demo-2030" in out and "fictitious" in out
    assert (tmp_path / "data" / "casip.db").exists()
    proc = start(tmp_path / "data", port)  # a restart keeps the data and does not seed twice
    try:
        wait_up(base, proc)
        c = httpx.Client(base_url=base, timeout=TIMEOUT)
        c.post(
            "/api/login",
            json={"email": demo_email("kestrel", "engineer"), "password": DEMO_PASSWORD},
        )
        assert c.get("/api/designs").json()["total"] == n
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
