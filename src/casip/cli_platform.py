"""``casip serve`` and ``casip platform ...``: run and operate the consortium platform."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

#: ``casip platform ...`` (registered by casip.cli)
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
    return Settings(**args)


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
    workers: Annotated[int, typer.Option(help="Background job threads.")] = 1,
) -> None:
    """Start the consortium platform (web app and REST API)."""
    import uvicorn

    from casip.platform.app import create_app
    from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email

    settings = _settings(data_dir, database, seed_demo=demo, job_workers=workers)
    app = create_app(settings)
    url = f"http://{host}:{port}/"
    typer.echo(f"CASIP platform on {url}  (database: {_safe_url(settings.database_url)})")
    if demo:
        slug = DEMO_ORGS[0][0]
        typer.echo(
            f"demo consortium (fictitious): log in as {demo_email(slug, 'engineer')} with password "
            f"{DEMO_PASSWORD!r}; sponsor view: {demo_email('programme-office', 'viewer')}"
        )
    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("CASIP_LOG_LEVEL", "info"))


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
    """Verify the audit log's hash chain; exit 1 if any entry was changed or removed."""
    from casip.platform import audit
    from casip.platform.db import Database

    settings = _settings(data_dir, database)
    db = Database(settings.database_url)
    with db.session() as s:
        rep = audit.verify(s)
    if json_:
        typer.echo(json.dumps(rep.__dict__))
    elif rep.ok:
        typer.echo(f"audit log intact: {rep.entries} entries")
    else:
        typer.echo(
            f"audit log BROKEN at entry {rep.first_bad_id}: {rep.reason} "
            f"({rep.entries} entries verified before it)",
            err=True,
        )
    raise typer.Exit(0 if rep.ok else 1)
