"""Fixtures for the platform: a real server app on SQLite and on PostgreSQL.

PostgreSQL comes from ``CASIP_TEST_POSTGRES_URL`` (``.ci/services.sh`` starts one and prints
it); each app gets a fresh database created on that server and dropped afterwards. Without the
variable the PostgreSQL variants are skipped, unless ``CASIP_REQUIRE_POSTGRES=1`` (set by CI),
where they fail.

The browser tests (``test_browser*.py``) share a live uvicorn server, Playwright's Chromium and
logged-in pages from here: ``live_url``, ``browser``, ``browser_login``, ``page``, ``shots`` and
``plot_traces``. Without ``/usr/bin/chromium`` they are skipped, unless
``CASIP_REQUIRE_CHROMIUM=1``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from _live import free_port, wait_healthy
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
        wait_healthy(self.base, self.proc, 90)
        return self

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


# ------------------------------------------------------------ browser tests (Playwright)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path("/tmp/casip-shots")


def need_chromium() -> None:
    """Skip without Debian's Chromium; fail instead when ``CASIP_REQUIRE_CHROMIUM=1``."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CASIP_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"CASIP_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (bash .ci/services.sh)")
    pytest.skip(f"{CHROMIUM} not installed (bash .ci/services.sh installs it)")


@pytest.fixture(scope="session")
def shots() -> Path:
    """The folder the browser tests write their screenshots to (created)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="module")
def live_url(request, tmp_path_factory) -> Iterator[str]:
    """A real uvicorn server in a thread on a free port, serving a freshly seeded SQLite platform.

    The test module may set more :class:`Settings` in a module-level dict ``LIVE_SETTINGS``
    (``{"demo_jobs": False}``: no background demo charge jobs)."""
    need_chromium()
    import threading
    import time
    import urllib.request

    import uvicorn

    name = request.module.__name__.rpartition(".")[2]
    folder = tmp_path_factory.mktemp(name)
    settings = Settings(
        data_dir=folder / "data",
        database_url=f"sqlite:///{(folder / 'casip.db').resolve()}",
        **getattr(request.module, "LIVE_SETTINGS", {}),
    )
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.2)
    yield url
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def browser(live_url):
    """Debian's Chromium through Playwright, for the tests of a module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser_login(browser, live_url):
    """``login(slug, role)``: a page in a new browser context, logged in as that demo user.

    The page records JS errors (``pg.js_errors``) and every answer of 400 or more (``pg.bad``).
    Its context is closed at the end of the module (a test may close it earlier)."""
    contexts = []

    def login(slug: str, role: str):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        pg = context.new_page()
        errors: list[str] = []
        bad: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        pg.goto(live_url + "/")
        assert "/login" in pg.url
        pg.fill("#email", demo_email(slug, role))
        pg.fill("#password", DEMO_PASSWORD)
        pg.click("button[type=submit]")
        pg.wait_for_url(live_url + "/")
        pg.js_errors = errors
        pg.bad = bad
        return pg

    yield login
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def page(browser_login):
    """One logged-in page (the demo engineer of Kestrel), shared by the tests in order."""
    return browser_login("kestrel", "engineer")


def _plot_traces(pg, selector: str) -> int:
    """Number of data traces Plotly drew into ``selector`` (waits for the plot)."""
    pg.wait_for_function(
        "s => { const el = document.querySelector(s); return el && el.data && el.data.length }",
        arg=selector,
        timeout=20_000,
    )
    return pg.evaluate("s => document.querySelector(s).data.length", selector)


@pytest.fixture(scope="session")
def plot_traces():
    """``plot_traces(pg, selector)``: the number of data traces Plotly drew (waits for it)."""
    return _plot_traces
