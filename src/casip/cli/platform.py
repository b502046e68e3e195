"""``casip serve``, ``casip worker`` and ``casip platform ...``: run and operate the consortium
platform."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

#: ``casip platform ...`` (registered by :mod:`casip.cli`, with :func:`serve`)
platform_app = typer.Typer(
    help="Operate the consortium platform: database, users, audit log, backups.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder for the SQLite database, test-data store and uploads "
        "[default: ./casip-platform or $CASIP_DATA_DIR].",
        show_default=False,
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db "
        "[default: SQLite in the data folder or $CASIP_DATABASE_URL].",
        show_default=False,
    ),
]


def _settings(data_dir: Path | None, database: str | None, **kw):
    from casip.platform.settings import Settings

    args = dict(kw)
    if data_dir is not None:
        args["data_dir"] = data_dir
    if database:
        args["database_url"] = database
    try:
        return Settings(**args)
    except ValueError as exc:  # a setting out of range: one message, exit status 2
        raise _fail(f"settings: {exc}") from None


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Seed the demo consortium on first start.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            help="API processes (uvicorn) answering requests on the one port; more than 1 "
            "needs PostgreSQL (--database).",
        ),
    ] = 1,
    embedded_workers: Annotated[
        int | None,
        typer.Option(
            "--embedded-workers",
            help="Job worker processes ('casip worker') started with the server "
            "[default: $CASIP_EMBEDDED_WORKERS, else 1 with SQLite, 0 with PostgreSQL where "
            "the operator runs 'casip worker' processes].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the consortium platform (web app and REST API) and its job workers.

    With the defaults: one API process on SQLite in ./casip-platform and one worker process.
    For a lab: --database postgresql+psycopg://... --workers 2 --embedded-workers 2
    (docs/platform-operator.md, "Several processes and hosts")."""
    import uvicorn

    from casip.platform.limits import uvicorn_options
    from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email

    settings = _settings(data_dir, database, seed_demo=demo)
    sqlite = settings.database_url.startswith("sqlite")
    if workers < 1:
        raise _fail(f"--workers {workers}: expected 1 or more API processes")
    if workers > 1 and sqlite:
        # SQLite has a single writer per database file: N processes would queue on its write
        # lock (and its busy timeout) instead of working in parallel, and its file locks are
        # unreliable on network file systems; PostgreSQL is the engine for several processes
        raise _fail(
            f"--workers {workers}: several API processes need PostgreSQL (SQLite allows one "
            "writer at a time); give --database postgresql+psycopg://user:pw@host/db, or "
            "keep --workers 1"
        )
    if embedded_workers is None:
        env = os.environ.get("CASIP_EMBEDDED_WORKERS", "")
        embedded_workers = settings.embedded_workers if env else (1 if sqlite else 0)
    if embedded_workers < 0:
        raise _fail(f"--embedded-workers {embedded_workers}: expected 0 or more")
    settings.embedded_workers = embedded_workers
    url = f"http://{host}:{port}/"
    typer.echo(
        f"CASIP platform on {url}  (database: {_safe_url(settings.database_url)}; "
        f"{workers} API process(es), {embedded_workers} embedded worker process(es))"
    )
    if demo:
        slug = DEMO_ORGS[0][0]
        typer.echo(
            f"demo consortium (fictitious): log in as {demo_email(slug, 'engineer')} with password "
            f"{DEMO_PASSWORD!r}; sponsor view: {demo_email('programme-office', 'viewer')}"
        )
    options = {
        "host": host,
        "port": port,
        "log_level": os.environ.get("CASIP_LOG_LEVEL", "info"),
        # h11 parser with a bounded head: httptools would buffer a header of any size
        **uvicorn_options(settings),
    }
    if workers == 1:
        from casip.platform.app import create_app

        # the app starts the embedded workers itself (its lifespan) and runs the start-up
        uvicorn.run(create_app(settings), **options)
        return
    _serve_processes(settings, workers, options)


def _serve_processes(settings, workers: int, options: dict) -> None:
    """``workers`` uvicorn API processes on one port, and the embedded job workers.

    uvicorn's own multi-process mode spawns fresh interpreters that build the app from an
    import string, so the settings travel as ``CASIP_*`` environment variables
    (:func:`casip.platform.app.app_from_env`). The schema is migrated here first (under the
    start-up lock) so that the worker processes started next find it; each API process then
    runs the rest of the start-up (seeding, recompute) under the same lock: the first does
    it, the others find it done. The API processes start no workers
    (``CASIP_EMBEDDED_WORKERS=0``): this process starts ``settings.embedded_workers`` of them
    and stops them when uvicorn returns (Ctrl-C or SIGTERM)."""
    import shutil
    import tempfile

    import uvicorn

    from casip.platform.app import migrate_once
    from casip.platform.metrics import MULTIPROC_ENV

    metrics_dir = tempfile.mkdtemp(prefix="casip-metrics-")
    os.environ.update(
        {
            "CASIP_DATA_DIR": str(settings.data_dir.resolve()),
            "CASIP_DATABASE_URL": settings.database_url,
            "CASIP_SEED_DEMO": "1" if settings.seed_demo else "0",
            "CASIP_EMBEDDED_WORKERS": "0",
            # prometheus_client's multi-process mode: /api/metrics adds up every API process
            MULTIPROC_ENV: metrics_dir,
        }
    )
    handle = None
    try:
        migrate_once(settings)
        if settings.embedded_workers > 0:
            from casip.platform.worker import start_embedded

            handle = start_embedded(settings, settings.embedded_workers)
        uvicorn.run(
            "casip.platform.app:app_from_env", factory=True, workers=workers, **options
        )
    finally:
        if handle is not None:
            handle.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@platform_app.command("upgrade")
def upgrade_cmd(data_dir: DataDir = None, database: DatabaseUrl = None) -> None:
    """Apply database migrations (Alembic) without starting the server."""
    from casip.platform.db import Database, current_revision, upgrade

    settings = _settings(data_dir, database)
    db = Database(settings.database_url)
    upgrade(db.engine)
    typer.echo(f"database at revision {current_revision(db.engine)}")


@platform_app.command("audit-verify")
def audit_verify(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify the audit log's hash chain; exit 1 if any entry was changed or removed.

    Removed entries are found by the chain (a removed entry breaks the next link) and, for
    audited reads, by their numbering: each server run numbers its journaled reads 1, 2, 3,
    ... (inside the hash), so a hole is a missing entry; entries still in the data folder's
    journal are reported as pending (the next start appends them)."""
    from casip.platform import audit
    from casip.platform.db import Database

    settings = _settings(data_dir, database)
    db = Database(settings.database_url)
    with db.session() as s:
        rep = audit.verify(s, journal_dir=settings.data_dir / audit.JOURNAL_DIR)
    if json_:
        typer.echo(json.dumps(rep.__dict__))
    elif rep.ok:
        typer.echo(
            f"audit log intact: {rep.entries} entries; hash chain unbroken, and the audited "
            f"reads of {rep.journal_runs} server run(s) numbered without a gap"
            + (
                f"; {rep.pending} answered read(s) still in the journal, appended at the "
                "next start"
                if rep.pending
                else ""
            )
        )
    else:
        where = f" at entry {rep.first_bad_id}" if rep.first_bad_id is not None else ""
        typer.echo(
            f"audit log BROKEN{where}: {rep.reason} ({rep.entries} entries verified before it)",
            err=True,
        )
    raise typer.Exit(0 if rep.ok else 1)


# ----------------------------------------------------------------------------------------------
# Organisations, users, backups
# ----------------------------------------------------------------------------------------------

EXIT_BAD_INPUT = 2
PASSWORD_ENV = "CASIP_NEW_PASSWORD"


def _fail(message: str) -> typer.Exit:
    """Print one error message and return the exit (status 2) to raise."""
    typer.echo(f"casip: error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _operator_errors(func):
    """Turn input, conflict and backup errors into one message and exit status 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from casip.errors import CasipInputError
        from casip.platform.admin import BackupError, Conflict

        try:
            return func(*args, **kwargs)
        except (CasipInputError, BackupError) as exc:
            raise _fail(str(exc)) from None
        except Conflict as exc:
            raise _fail(exc.message) from None

    return wrapper


def _open_db(data_dir: Path | None, database: str | None, create: bool):
    """The platform database; ``create``: migrate it and, if empty, seed the reference library
    (no demo consortium). Without ``create`` a missing SQLite database is an error."""
    from casip.platform.admin import BackupError, sqlite_path
    from casip.platform.db import Database

    settings = _settings(data_dir, database, seed_demo=False)
    if create:
        from casip.platform.app import prepare

        return prepare(settings)
    path = sqlite_path(settings.database_url)
    if path is not None and not path.is_file():
        raise BackupError(
            f"{path}: no database there; expected the data folder of a platform (--data-dir)"
        )
    return Database(settings.database_url)


def _operator() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (containers): not worth failing for
        return "unknown"


def _read_password(password_file: Path | None) -> tuple[str, str]:
    """The new user's password and where it came from (file, environment or prompt)."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(
                f"--password-file {password_file}: cannot read it ({exc.strerror})"
            ) from None
        text = text.rstrip("\r\n")
        if "\n" in text:
            raise _fail(
                f"--password-file {password_file}: several lines; expected the password alone"
            )
        return text, "--password-file"
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env, PASSWORD_ENV
    pw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return pw, "password"


@platform_app.command("create-org")
@_operator_errors
def create_org(
    slug: Annotated[str, typer.Argument(help="Short identifier, e.g. acme-cells.")],
    name: Annotated[str, typer.Argument(help="Display name, e.g. 'ACME Cells GmbH'.")],
    kind: Annotated[
        str,
        typer.Option(help="member, institute, sponsor (aggregates only) or platform."),
    ] = "member",
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
) -> None:
    """Add an organisation (audited). An empty database is first created and seeded with the
    reference library (no demo consortium)."""
    from casip.platform import admin

    admin.check_slug(slug, "SLUG")
    admin.check_kind(kind, "--kind")
    admin.check_name(name, "NAME")
    db = _open_db(data_dir, database, create=True)
    try:
        with db.session() as s:
            org = admin.create_organisation(
                s, slug, name, kind, admin.ActorRef(via=f"cli:{_operator()}")
            )
            typer.echo(f"organisation {org.slug!r} ({org.kind}) created with id {org.id}")
    finally:
        db.dispose()


@platform_app.command("create-user")
@_operator_errors
def create_user(
    email: Annotated[str, typer.Argument(help="Login e-mail address.")],
    org: Annotated[str, typer.Option("--org", help="Organisation slug.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    role: Annotated[str, typer.Option("--role", help="admin, engineer or viewer.")] = "engineer",
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help=f"File holding the password (else ${PASSWORD_ENV}, else a hidden prompt).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
) -> None:
    """Add a user to an organisation (audited). The password is read from --password-file,
    the CASIP_NEW_PASSWORD variable or a hidden prompt (asked twice), never the command line."""
    from casip.platform import admin

    admin.check_email(email, "EMAIL")
    admin.check_role(role, "--role")
    admin.check_name(name, "--name")
    password, source = _read_password(password_file)
    admin.check_password(password, source)
    db = _open_db(data_dir, database, create=True)
    try:
        with db.session() as s:
            organisation = admin.org_by_slug(s, org, "--org")
            user = admin.add_user(
                s,
                organisation,
                email,
                name,
                role,
                password,
                admin.ActorRef(via=f"cli:{_operator()}"),
            )
            typer.echo(f"user {user.email} ({user.role} at {organisation.slug}) created")
    finally:
        db.dispose()


@platform_app.command("users")
@_operator_errors
def users_cmd(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation (slug).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
) -> None:
    """List the users (e-mail, name, organisation, role, active)."""
    import sqlalchemy as sa

    from casip.platform import admin
    from casip.platform.models import Organisation, User

    db = _open_db(data_dir, database, create=False)
    try:
        with db.session() as s:
            stmt = (
                sa.select(User, Organisation.slug)
                .join(Organisation, Organisation.id == User.org_id)
                .order_by(Organisation.slug, User.email)
            )
            if org:
                stmt = stmt.where(User.org_id == admin.org_by_slug(s, org, "--org").id)
            rows = [{**admin.user_dict(u), "org": slug} for u, slug in s.execute(stmt).all()]
    finally:
        db.dispose()
    if json_:
        typer.echo(json.dumps(rows, indent=2))
        return
    cols = ("id", "email", "name", "org", "role", "is_active")
    table = [cols] + [tuple(str(r[c]) for c in cols) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@platform_app.command("backup")
@_operator_errors
def backup_cmd(
    out: Annotated[Path, typer.Argument(help="Backup archive to write (.tar.gz).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing OUT.")] = False,
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
) -> None:
    """Back up the database and the test-data store into one archive, while the server runs.

    SQLite: a consistent copy made with SQLite's online backup API. PostgreSQL: pg_dump -Fc
    (pg_dump must be on PATH). The archive is written to a temporary file and renamed."""
    from casip.platform import admin

    settings = _settings(data_dir, database)
    manifest = admin.backup(settings, out, force=force)
    extra = (
        f", {manifest['users']} users, {manifest['designs']} designs, "
        f"{manifest['audit_events']} audit entries"
        if manifest["database"] == "sqlite"
        else ""
    )
    typer.echo(f"backup written to {out} ({manifest['database']}{extra})")


@platform_app.command("restore")
@_operator_errors
def restore_cmd(
    backup: Annotated[Path, typer.Argument(help="Archive written by 'casip platform backup'.")],
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
) -> None:
    """Restore a SQLite backup into an empty or new data folder (never overwrites), then
    verify the audit log's hash chain; exit 1 if it does not verify."""
    from casip.platform import admin

    settings = _settings(data_dir, database)
    result = admin.restore(settings, backup)
    rep = result["audit"]
    typer.echo(f"restored {backup} into {settings.data_dir} (backup of {result['created_at']})")
    if rep["ok"]:
        typer.echo(f"audit log intact: {rep['entries']} entries")
    else:
        typer.echo(f"audit log BROKEN at entry {rep['first_bad_id']}: {rep['reason']}", err=True)
        raise typer.Exit(1)


@platform_app.command("privacy")
@_operator_errors
def privacy_cmd(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    release: Annotated[
        bool,
        typer.Option(
            "--release",
            help="Make the releases that are due now (what the server's scheduler does at its "
            "next check; never more than one per KPI per slot, never above the budget).",
        ),
    ] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the benchmark's privacy budget, spent and remaining, and the latest releases."""
    from casip.platform import benchmarking, releases
    from casip.platform.db import Database, upgrade

    settings = _settings(data_dir, database)
    db = Database(settings.database_url)
    upgrade(db.engine)
    made = benchmarking.release_due(db, settings) if release else []
    with db.session() as s:
        status = benchmarking.privacy_status(s, settings)
        latest = releases.latest(s, list(benchmarking.KPIS))
        rows = [
            {
                "kpi": kpi,
                "released_at": rel.released_at.isoformat() + "Z",
                "slot": rel.slot,
                "epsilon": rel.epsilon,
                "shown": rel.payload["shown"],
            }
            for kpi, rel in latest.items()
        ]
    db.dispose()
    if json_:
        typer.echo(json.dumps({"privacy": status, "released_now": made, "latest": rows}))
        return
    typer.echo(
        f"epsilon {status['epsilon_per_release']} per release, every {status['release_every']}; "
        f"budget {status['budget_epsilon']} per {status['budget_period']} "
        f"({status['period']}: spent {status['spent_epsilon']:.3g}, "
        f"remaining {status['remaining_epsilon']:.3g}); next release {status['next_release_at']}"
    )
    if release:
        typer.echo(f"released now: {', '.join(made) or 'nothing due'}")
    for r in rows:
        typer.echo(f"  {r['kpi']:<22} {r['released_at']}  slot {r['slot']}  epsilon {r['epsilon']}")


@platform_app.command("recompute")
@_operator_errors
def recompute_cmd(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    prices: Annotated[
        str | None,
        typer.Option(
            "--prices",
            metavar="NAME|FILE",
            help="Price set of the platform's costs [default: $CASIP_PRICE_SET, else the "
            "library's most recent set]. Give the server the same setting.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute current rows too.")
    ] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute stored design results of another engine version or price set.

    Every design row records the design-engine version and price set its results were computed
    with; rows of another one are re-evaluated from their stored documents (what the server
    does at start-up). Rows that cannot be are left stale, with the reason, and never count in
    the benchmark."""
    from casip.platform import designs
    from casip.platform.db import Database, upgrade

    extra = {"price_set": prices} if prices else {}
    settings = _settings(data_dir, database, **extra)
    db = Database(settings.database_url)
    upgrade(db.engine)
    designs.configure(settings.price_set)
    with db.session() as s:
        done = designs.recompute(s, force=force)
    db.dispose()
    if json_:
        typer.echo(json.dumps(done))
        return
    typer.echo(
        f"design engine {done['engine_version']}, price set {done['price_set']}: "
        f"{done['recomputed']} recomputed, {done['current']} already current, "
        f"{len(done['stale'])} left stale"
    )
    for item in done["stale"]:
        typer.echo(f"  design {item['id']}: {item['reason']}", err=True)


def worker(
    data_dir: DataDir = None,
    database: DatabaseUrl = None,
    slots: Annotated[
        int | None,
        typer.Option(help="Jobs run at once, each in its own process [default: "
                     "$CASIP_JOB_WORKERS or 1].", show_default=False),
    ] = None,
    max_jobs: Annotated[
        int | None,
        typer.Option(help="Stop after this many job attempts (default: run until stopped)."),
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds without a job (default: never)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON at exit.")]
    = False,
    status: Annotated[
        bool,
        typer.Option("--status", help="Print the workers alive (recent heartbeat) and the queue, "
                     "then exit: status 0 when at least one worker is alive, 1 otherwise (a "
                     "health check for the worker role)."),
    ] = False,
) -> None:
    """Run queued platform jobs (simulations, lifetimes, replays, calibrations, studies).

    Claims jobs from the platform's database with a lease its supervisor renews while each job
    runs in a child process; a job whose worker dies or stalls is claimed again by another
    worker. Stops on SIGTERM or Ctrl-C, putting its running jobs back in the queue. Settings
    (lease, heartbeat, wall-clock limit, attempts) come from the CASIP_JOB_* variables
    (docs/platform-operator.md)."""
    from casip.platform.db import upgrade
    from casip.platform.designs import configure
    from casip.platform.worker import Worker, WorkerConfig

    settings = _settings(data_dir, database)
    if status:
        from casip.platform.db import Database
        from casip.platform.worker import workers_status

        db = Database(settings.database_url)
        try:
            st = workers_status(db, settings.job_heartbeat_s)
        finally:
            db.dispose()
        if as_json:
            typer.echo(json.dumps(st))
        else:
            typer.echo(f"workers alive: {st['alive']}; jobs queued: {st['queued']}, running: "
                       f"{st['running']}")
            for w in st["workers"]:
                typer.echo(f"  {w['id']}: {w['running']}/{w['slots']} running, {w['done']} done, "
                           f"{w['failed']} failed, last seen {w['last_seen']}")
        raise typer.Exit(0 if st["alive"] else 1)
    overrides = {"slots": slots} if slots is not None else {}
    try:
        config = WorkerConfig.of(settings, **overrides)
        w = Worker(config)
    except ValueError as exc:
        typer.echo(f"casip worker: settings: {exc}", err=True)
        raise typer.Exit(2) from None
    from casip.platform.startup import startup_lock

    if settings.worker_nice:
        # jobs are batch work: on a host shared with API processes, requests get the CPU
        # first (its fork server and every job inherit this priority)
        os.nice(settings.worker_nice)
    with startup_lock(settings.database_url):  # a worker may start before any API process
        upgrade(w.db.engine)
    configure(settings.price_set)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: w.stop())
    parent = os.environ.get("CASIP_WORKER_PARENT_PID")  # set for embedded workers
    counts = w.run(max_jobs=max_jobs, idle_exit_s=idle_exit,
                   parent_pid=int(parent) if parent and parent.isdigit() else None)
    if as_json:
        typer.echo(json.dumps({"worker_id": config.worker_id, **counts}))
