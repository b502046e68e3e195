"""Design-space studies as background jobs of the platform (:mod:`casip.explore`).

A member posts a ``casip.study/1`` document; the platform checks it before queuing (the same
errors as ``casip explore run``), runs it as a job through :func:`casip.explore.run_study` with
one of the explore executors, shows its progress like any job, and keeps the results (Parquet,
as on the command line) in ``<data dir>/studies/<job id>/``.

On the platform a study's ``design`` is ``ref:<reference cell>``, ``design:<id>`` (a design the
member may read, copied into the job when it is submitted) or an inline design document; file
paths are refused (they would read the server's files). The executor is ``inprocess`` (default),
``processes`` (local worker processes) or ``dask``: a local cluster, or the operator's
scheduler from ``CASIP_DASK_SCHEDULER`` — members never name a network address.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from casip.errors import CasipInputError, Problem
from casip.platform import access
from casip.platform.access import Actor
from casip.platform.jobs import JobContext, register

EXECUTORS = ("inprocess", "processes", "dask")
MAX_POINTS_SHOWN = 200


def studies_dir(store_dir) -> Path:
    """``<data dir>/studies`` (beside the test-data store)."""
    return Path(store_dir).parent / "studies"


def prepare(session: Session, actor: Actor, document: Any, executor: str) -> dict:
    """Check a study document for the platform; return the job parameters.

    Raises :class:`~casip.errors.CasipInputError` naming the bad field (nothing is queued)."""
    from casip.explore.study import study_from_data

    if executor not in EXECUTORS:
        raise CasipInputError(
            Problem("executor", "unknown executor", executor, "one of " + ", ".join(EXECUTORS))
        )
    if not isinstance(document, dict):
        raise CasipInputError(
            Problem("study", "not an object", type(document).__name__, "a casip.study/1 object")
        )
    doc = dict(document)
    design = doc.get("design")
    design_id = None
    if isinstance(design, str):
        if design.startswith("design:"):
            try:
                design_id = int(design.split(":", 1)[1])
            except ValueError:
                raise CasipInputError(
                    Problem("study.design", "not a design id", design, "design:<id>")
                ) from None
            doc["design"] = dict(access.get_for_read(session, actor, "design", design_id).document)
        elif not design.startswith("ref:"):
            raise CasipInputError(
                Problem(
                    "study.design",
                    "file paths are not accepted on the platform",
                    design,
                    "ref:<reference cell>, design:<id> or an inline design document",
                )
            )
    study = study_from_data(doc, source="study")  # every check of `casip explore run`
    params = {"study": study.to_dict(), "executor": executor}
    if design_id is not None:  # the design's page lists the studies made from it
        params["design_id"] = design_id
    return params


def _executor(kind: str):
    from casip.explore.executors import get_executor

    if kind == "dask":
        return get_executor("dask", scheduler=os.environ.get("CASIP_DASK_SCHEDULER") or None)
    return get_executor(kind)


def _json_records(df) -> list[dict]:
    out = []
    for row in df.head(MAX_POINTS_SHOWN).to_dict(orient="records"):
        out.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
        )
    return out


def summary_path(store_dir, job_id: int) -> Path:
    return studies_dir(store_dir) / str(job_id) / "summary.json"


@register("study")
def run_study_job(ctx: JobContext) -> tuple[str, int]:
    """Run the job's study; the results stay in ``studies/<job id>/``."""
    from casip.explore.run import run_study
    from casip.explore.study import study_from_data

    study = study_from_data(ctx.params["study"], source=f"study of job {ctx.job_id}")
    # each attempt writes its own folder; the one that completes the job moves it into place
    # under the job's fence, so a superseded attempt's files never replace its successor's
    final_dir = studies_dir(ctx.store_dir) / str(ctx.job_id)
    out_dir = studies_dir(ctx.store_dir) / f"{ctx.job_id}.attempt{ctx.attempt}"
    if out_dir.exists():
        shutil.rmtree(out_dir)

    def progress(done: int, total: int, message: str = "") -> None:
        ctx.progress(done / max(total, 1), message or f"{done} of {total} evaluations")

    with _executor(ctx.params.get("executor", "inprocess")) as executor:
        result = run_study(study, executor, out_dir, progress=progress)
    summary = {
        "name": study.name,
        "objectives": study.objectives,
        "points": len(result.points),
        "evaluated": result.evaluated,
        "reused": result.reused,
        "feasible": int(result.points["feasible"].sum()) if "feasible" in result.points else None,
        "pareto": _json_records(result.pareto),
        "files": [p.name for p in result.files],
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, default=str), encoding="utf-8")
    ctx.done_message = (
        f"done: {summary['points']} designs evaluated, {len(result.pareto)} on the Pareto front"
    )
    with ctx.fenced() as s:
        if final_dir.exists():  # left by an attempt that never completed the job
            shutil.rmtree(final_dir)
        out_dir.replace(final_dir)
        ctx.complete(s, "study", ctx.job_id)
    return "study", ctx.job_id


def load_summary(store_dir, job_id: int) -> dict | None:
    path = summary_path(store_dir, job_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
