"""The FastAPI application: REST API under ``/api``, web pages at ``/``, static files.

:func:`create_app` builds an app from :class:`~casip.platform.settings.Settings`; on start-up
it migrates the database (Alembic), seeds it if empty, clears uploads a killed server left half
received, and starts the ``casip worker`` processes that run jobs (``Settings.embedded_workers``,
:mod:`casip.platform.worker`); the request process runs none.
"""

from __future__ import annotations

import importlib
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import casip
from casip.platform import audit, benchmarking, limits, problems, uploads
from casip.platform.db import Database, upgrade
from casip.platform.jobs import JobQueue
from casip.platform.releases import ReleaseScheduler
from casip.platform.settings import Settings

STATIC = Path(__file__).parent / "web" / "static"
log = logging.getLogger(__name__)

#: routers, each a module with a module-level ``router`` (API) or pages (web)
ROUTERS = (
    "casip.platform.api.auth",
    "casip.platform.api.designs",
    "casip.platform.api.jobs",
    "casip.platform.api.tests",
    "casip.platform.api.design_tests",
    "casip.platform.api.replays",
    "casip.platform.api.calibrations",
    "casip.platform.api.benchmark",
    "casip.platform.api.admin",
    "casip.platform.api.studies",
    "casip.platform.api.materials",
    "casip.platform.api.packs",
    "casip.platform.api.campaigns",
    "casip.platform.web.pages",
    "casip.platform.web.packs",
    "casip.platform.web.campaigns",
)


@dataclass
class Platform:
    """What the routes share: settings, database, job queue."""

    settings: Settings
    db: Database
    jobs: JobQueue


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the plotly package (served locally: no CDN)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.exists():  # pragma: no cover - a broken plotly install
        raise RuntimeError(f"{path}: plotly.min.js missing from the plotly package")
    return path


def prepare(settings: Settings) -> Database:
    """Migrate and seed the database (what start-up does before serving)."""
    return initialise(settings)[0]


def initialise(settings: Settings) -> tuple[Database, bool]:
    """:func:`prepare`, also telling whether the database was seeded now (first start).

    Stored design results of another engine version or price set are recomputed here (before
    any benchmark release), unless ``settings.recompute_on_start`` is off.

    Several processes may start at once on one database (``casip serve --workers N``, workers,
    other hosts): the whole runs under :func:`casip.platform.startup.startup_lock`, so one
    process migrates, seeds and recomputes while the others wait, then find nothing to do
    (``seeded`` is True in the one process that seeded)."""
    from casip.platform import designs, runs, seed
    from casip.platform.startup import startup_lock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    designs.configure(settings.price_set)
    with startup_lock(settings.database_url):
        upgrade(db.engine)
        seeded = seed.seed(db, demo=settings.seed_demo)
        if seeded and settings.seed_demo:
            runs.seed_demo_results(db)  # lifetime projections of the shared demo designs (BLAST)
        if settings.recompute_on_start and not seeded:
            with db.session() as s:
                done = designs.recompute(s)
            if done["recomputed"] or done["stale"]:
                log.warning(
                    "design results recomputed with engine %s, price set %s: %d recomputed, "
                    "%d left stale",
                    done["engine_version"],
                    done["price_set"],
                    done["recomputed"],
                    len(done["stale"]),
                )
    return db, seeded


def migrate_once(settings: Settings) -> None:
    """Bring the database to the newest schema under the start-up lock (what ``casip serve``
    does before it starts worker processes beside several API processes)."""
    from casip.platform.startup import startup_lock

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        with startup_lock(settings.database_url):
            upgrade(db.engine)
    finally:
        db.dispose()


def app_from_env() -> FastAPI:
    """The app on :class:`Settings` read from the environment (``CASIP_*``): the factory
    ``casip serve --workers N`` gives uvicorn (``casip.platform.app:app_from_env``), whose
    worker processes each build their own app."""
    return create_app(Settings())


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Requests run on this many threads (AnyIO's default is 40): with Python's GIL, fewer
        # threads switch less under load (measured: benchmarks/bench_platform.py).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        db, seeded = initialise(settings)
        # reads answered by a server that died before writing them to the log, then this
        # process's journal (audited reads are synced to it before their answer leaves)
        audit.start(db.engine, settings.data_dir / audit.JOURNAL_DIR, settings.audit_journal_fsync)
        uploads.cleanup_partial(settings, db)
        runner = JobQueue(db)
        app.state.platform = Platform(settings, db, runner)
        # jobs run in worker processes (none in this one); a job a killed worker left running
        # is claimed again when its lease runs out (casip.platform.jobs)
        embedded = None
        if settings.embedded_workers > 0:
            from casip.platform.worker import start_embedded

            embedded = start_embedded(settings, settings.embedded_workers)
        if seeded and settings.seed_demo and settings.demo_jobs:
            from casip.platform import runs

            runs.queue_demo_charge_jobs(db, runner)  # fills the charge-time KPI in the background
        # the benchmark's differentially private releases: those due now, then on schedule
        # (never on a request or a write; see casip.platform.releases)
        benchmarking.release_due(db, settings)
        scheduler = ReleaseScheduler(
            lambda: benchmarking.release_due(db, settings), settings.privacy_check_s
        )
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            runner.shutdown(wait=False)
            if embedded is not None:
                embedded.stop()
            audit.stop(db.engine)  # queued read entries reach the log; journal closed
            db.dispose()

    app = FastAPI(
        title="CASIP consortium platform",
        version=casip.__version__,
        description=(
            "Design, simulate and benchmark solid-state cells with the consortium without "
            "leaking IP. Authenticate with `Authorization: Bearer <API token>` (create one at "
            "/admin or `POST /api/tokens`). Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    problems.install(app)
    limits.install(app, settings)  # header and body sizes, before routing and authentication
    from casip.platform import metrics

    metrics.install(app)  # GET /api/metrics: requests, latency, DB pool (Prometheus text)
    bundle = plotly_js()

    @app.get("/api/health", tags=["operations"], summary="Liveness and schema revision")
    def health() -> dict:
        from casip.platform.db import current_revision

        db = app.state.platform.db
        return {
            "status": "ok",
            "version": casip.__version__,
            "database": db.engine.dialect.name,
            "revision": current_revision(db.engine),
        }

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def _plotly() -> FileResponse:
        return FileResponse(
            bundle, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    return app
