"""``casip worker``: a worker process of the consortium platform (runs the queued jobs)."""

from __future__ import annotations

import json
import logging
import os
import signal
from typing import Annotated

import typer

from casip.cli.platform import DatabaseUrl, DataDir, _settings


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
