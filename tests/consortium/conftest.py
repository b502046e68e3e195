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
