"""Fixtures for the platform: a real server app on SQLite and on PostgreSQL.

PostgreSQL comes from ``CASIP_TEST_POSTGRES_URL`` (``.ci/services.sh`` starts one and prints
it); each app gets a fresh database created on that server and dropped afterwards. Without the
variable the PostgreSQL variants are skipped, unless ``CASIP_REQUIRE_POSTGRES=1`` (set by CI),
where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from fastapi.testclient import TestClient

from casip.platform.app import create_app
from casip.platform.seed import DEMO_PASSWORD, demo_email
from casip.platform.settings import Settings

BACKENDS = ("sqlite", "postgresql")


def postgres_server_url() -> str | None:
    url = os.environ.get("CASIP_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CASIP_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                "CASIP_REQUIRE_POSTGRES=1 but CASIP_TEST_POSTGRES_URL is not set "
                "(run .ci/services.sh)"
            )
        pytest.skip(
            "no PostgreSQL server: set CASIP_TEST_POSTGRES_URL (bash .ci/services.sh starts one)"
        )
    return url


class make_database_url:
    """Context manager: a new empty database on ``backend``; dropped on exit (PostgreSQL)."""

    def __init__(self, backend: str, folder: Path):
        self.backend, self.folder, self.name = backend, Path(folder), None

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{(self.folder / 'casip.db').resolve()}"
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        server = make_url(postgres_server_url())
        self.name = f"casip_t_{uuid.uuid4().hex[:12]}"
        self._admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        return server.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc) -> None:
        if self.name:
            import sqlalchemy as sa

            with self._admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self._admin.dispose()


@pytest.fixture(scope="session")
def database_url_factory() -> type[make_database_url]:
    """:class:`make_database_url` for test modules (which cannot import this conftest)."""
    return make_database_url


@dataclass
class Server:
    """A running app (lifespan started) with helpers to act as demo users."""

    client: TestClient
    settings: Settings
    backend: str
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def platform(self):
        return self.client.app.state.platform

    def headers(self, email: str) -> dict[str, str]:
        """``Authorization`` headers of an API token for ``email`` (created once)."""
        if email not in self._tokens:
            c = TestClient(self.client.app)
            r = c.post("/api/login", json={"email": email, "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            r = c.post(
                "/api/tokens",
                json={"name": "tests"},
                headers={"X-CSRF-Token": r.json()["csrf_token"]},
            )
            assert r.status_code == 201, r.text
            self._tokens[email] = r.json()["token"]
        return {"Authorization": f"Bearer {self._tokens[email]}"}

    def as_role(self, org_slug: str, role: str = "engineer") -> dict[str, str]:
        return self.headers(demo_email(org_slug, role))

    def browser(self, email: str) -> tuple[TestClient, str]:
        """A cookie-logged-in client and its CSRF token."""
        c = TestClient(self.client.app)
        r = c.post("/api/login", json={"email": email, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        return c, r.json()["csrf_token"]


def start_server(backend: str, folder: Path, **settings) -> Iterator[Server]:
    settings.setdefault("demo_jobs", False)  # no background PyBaMM runs unless a test asks
    with make_database_url(backend, folder) as url:
        s = Settings(data_dir=folder / "data", database_url=url, **settings)
        with TestClient(create_app(s)) as client:
            yield Server(client, s, backend)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[Server]:
    """A seeded demo platform shared by the tests of a module, on SQLite and PostgreSQL."""
    yield from start_server(request.param, tmp_path_factory.mktemp(f"platform-{request.param}"))


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory) -> Iterator[Server]:
    """The same on SQLite only (for tests whose subject is not the database)."""
    yield from start_server("sqlite", tmp_path_factory.mktemp("platform-sqlite"))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``casip serve`` in a child process on a free 127.0.0.1 port (a real uvicorn server).

    A context manager: started and waited for on entry, terminated on exit; :meth:`restart`
    stops it and starts it again on the same data folder and port. ``env`` adds variables
    (``CASIP_DEMO_JOBS=0`` by default: no PyBaMM runs in the child)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {"CASIP_DEMO_JOBS": "0", **(env or {})}
        self.proc = None
        self.output = ""

    def start(self) -> LiveServer:
        import subprocess
        import sys
        import time

        import httpx

        env = {
            **os.environ,
            "PYBAMM_DISABLE_TELEMETRY": "true",
            "CASIP_LOG_LEVEL": "warning",
            **self.env,
        }
        env.pop("CASIP_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "casip", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stdout.read()}")
            try:
                if httpx.get(self.base + "/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server did not come up in 90 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            out, _ = self.proc.communicate(timeout=30)
            self.output += out or ""
        self.proc = None

    def kill(self) -> None:
        """``kill -9`` the server (no shutdown hooks run)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
        self.proc = None

    def token(self, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        """``Authorization`` headers of a new API token of ``email`` (logged in over HTTP)."""
        import httpx

        c = httpx.Client(base_url=self.base, timeout=30)
        r = c.post("/api/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        r = c.post(
            "/api/tokens", json={"name": "live"}, headers={"X-CSRF-Token": r.json()["csrf_token"]}
        )
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def __enter__(self) -> LiveServer:
        return self if self.proc is not None and self.proc.poll() is None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def live_server_factory() -> type[LiveServer]:
    """:class:`LiveServer` for test modules (which cannot import this conftest)."""
    return LiveServer
