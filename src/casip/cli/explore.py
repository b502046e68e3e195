"""``casip explore ...``: design-space studies (sweeps and NSGA-II) on any executor.

- ``run STUDY --out DIR``: run a study file (``casip.study/1``) in process, on local processes
  or on a Dask cluster (``--executor dask --scheduler tcp://host:8786``), with a progress bar.
  Ctrl-C stops cleanly: the journal in ``DIR`` is kept and the same command resumes.
- ``show DIR``: the Pareto front of a finished study (``--json``, ``--all`` for every point).
- ``charts DIR``: Pareto scatter and parallel coordinates (PNG + offline HTML) in ``DIR``.

Bad input (the study, the executor, an unreachable scheduler) exits with status 2 and one
message, before any evaluation.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer

from casip.cli.common import (
    JsonOpt,
    echo_json,
    handles_input_errors,
    make_console,
    print_df,
    records,
    wrote,
)
from casip.errors import CasipInputError

#: The ``casip explore`` sub-app (registered by :mod:`casip.cli`).
explore_app = typer.Typer(
    help=(
        "Design-space exploration: full-factorial and Latin-hypercube sweeps and NSGA-II "
        "multi-objective optimisation of a design, in process, on local processes or on Dask."
    ),
    no_args_is_help=True,
)


#: Exit status after Ctrl-C (the journal is kept).
EXIT_CANCELLED = 130


@explore_app.command("run")
@handles_input_errors
def run(
    study: Annotated[
        Path,
        typer.Argument(
            metavar="STUDY",
            help="A study file (YAML or JSON, schema casip.study/1).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Folder for the results and the journal.")
    ] = Path("study-output"),
    executor: Annotated[
        str, typer.Option("--executor", help="inprocess, processes or dask.")
    ] = "inprocess",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes (processes, or a local Dask cluster).",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --executor dask).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume/--no-resume", help="Reuse finished evaluations journalled in DIR."),
    ] = True,
    charts: Annotated[
        bool, typer.Option("--charts/--no-charts", help="Write the charts when done.")
    ] = True,
    json_out: JsonOpt = False,
) -> None:
    """Run a study; results in DIR (points.parquet, pareto.parquet, study.json, charts)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from casip.explore.executors import get_executor
    from casip.explore.run import run_study
    from casip.explore.study import read_study

    st = read_study(study)  # bad input: exit 2 before anything starts
    if scheduler is not None and executor != "dask":
        from casip.errors import Problem

        raise CasipInputError(
            Problem("--scheduler", "only used with --executor dask", scheduler, "--executor dask")
        )
    ex = get_executor(executor, workers=workers, scheduler=scheduler)
    cancel = threading.Event()
    box: dict = {}
    err = make_console(stderr=True)
    with (
        ex,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar,
    ):
        task = bar.add_task(f"{st.name} ({ex.name})", total=None)

        def progress(done: int, total: int, message: str) -> None:
            bar.update(
                task, completed=done, total=max(total, done), description=f"{st.name}: {message}"
            )

        finished = threading.Event()

        def work() -> None:
            try:
                box["result"] = run_study(
                    st, ex, out, progress=progress, cancel=cancel, resume=resume
                )
            except BaseException as exc:  # re-raised in the main thread
                box["error"] = exc
            finally:
                finished.set()

        # The study runs in a thread so that Ctrl-C (delivered to the main thread) only sets
        # the cancel event. Waiting on an Event, not Thread.join(timeout): an interrupted
        # join can report a live thread as finished (CPython gh-90882).
        threading.Thread(target=work, name="casip-study", daemon=True).start()
        while True:
            try:
                while not finished.wait(0.2):
                    pass
                break
            except KeyboardInterrupt:
                if not cancel.is_set():
                    cancel.set()
                    err.print("cancelling: the journal keeps every finished evaluation ...")
    if "error" in box:
        raise box["error"]
    result = box["result"]
    if result.cancelled:
        err.print(
            f"cancelled; the journal in {out} keeps {result.evaluated} new evaluations; "
            "run the same command to resume"
        )
        raise typer.Exit(EXIT_CANCELLED)
    files = list(result.files)
    if charts and len(result.points):
        from casip.explore.charts import write_study_charts

        files += write_study_charts(out, result.points, result.pareto, {"study": st.to_dict()})
    summary = {
        "out": str(out),
        "points": len(result.points),
        "evaluated": result.evaluated,
        "reused_from_journal": result.reused,
        "failed": int(result.points["error"].notna().sum()) if len(result.points) else 0,
        "feasible": int(result.points["feasible"].sum()) if len(result.points) else 0,
        "pareto": len(result.pareto),
        "files": [str(f) for f in files],
    }
    if json_out:
        echo_json(summary)
        return
    wrote(files)
    con = make_console()
    con.print(
        f"{summary['points']} points ({summary['evaluated']} evaluated, "
        f"{summary['reused_from_journal']} from the journal), {summary['feasible']} "
        f"feasible, {summary['failed']} failed; {summary['pareto']} on the Pareto front"
    )
    _show_table(out, all_points=False)


def _front_columns(meta: dict, df) -> list[str]:
    from casip.explore.objectives import canonical

    s = meta["study"]
    names = [
        *s["parameters"],
        *(canonical(q) for q in s["objectives"]),
        *(canonical(q) for q in s.get("constraints", {})),
    ]
    cols = [c for c in dict.fromkeys(names) if c in df]
    return cols + [c for c in ("generation", "feasible", "error") if c in df]


def _show_table(out: Path, all_points: bool, json_out: bool = False) -> None:
    from casip.explore.run import load_results

    points, pareto, meta = load_results(out)
    df = points if all_points else pareto
    cols = _front_columns(meta, df)
    view = df[cols] if len(df) else df
    if json_out:
        echo_json(
            {
                "study": meta["study"]["name"],
                "casip_version": meta.get("casip_version"),
                "git_commit": meta.get("git_commit"),
                "points" if all_points else "pareto": records(view),
            }
        )
        return
    title = f"{meta['study']['name']}: " + (
        f"all {len(df)} points" if all_points else f"Pareto front ({len(df)} points)"
    )
    print_df(
        make_console(),
        view.drop(columns=[c for c in ("error",) if c in view and not all_points]),
        title=title,
        index=False,
    )


@explore_app.command("show")
@handles_input_errors
def show(
    out: Annotated[
        Path, typer.Argument(metavar="DIR", help="The --out folder of a study.", show_default=False)
    ],
    all_points: Annotated[
        bool, typer.Option("--all", help="Every point, not only the front.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The Pareto front (or every point) of a finished study."""
    _show_table(out, all_points, json_out)


@explore_app.command("charts")
@handles_input_errors
def charts_cmd(
    out: Annotated[
        Path, typer.Argument(metavar="DIR", help="The --out folder of a study.", show_default=False)
    ],
) -> None:
    """Write pareto.png/.html and parallel.png/.html in DIR, with LFP and the CASIP targets."""
    from casip.explore.charts import write_study_charts

    wrote(write_study_charts(out))


__all__ = ["EXIT_CANCELLED", "explore_app"]
