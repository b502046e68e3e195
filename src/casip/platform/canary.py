"""Canary jobs: an end-to-end check of the worker fleet, and the fleet tests' workload.

A ``canary`` job waits a given time - in one uninterruptible call (``block``, like a solver
that never returns to Python) or in short steps reporting progress (``steps``) - and then, in
the same transaction that marks it done, appends one ``worker_canary`` entry to the audit log
naming the job, the attempt and the worker's process. Because that entry is written under the
job's fence (:meth:`casip.platform.jobs.JobContext.fenced`), a canary that was claimed several
times (its worker killed or stopped) still leaves exactly one entry: counting them per job is
how the fleet test checks "exactly once". Operators queue one with :func:`queue_canary` to see
that workers claim, run and finish jobs (its result is the entry's id).

Canaries belong to the platform's own organisation: no member sees them.
"""

from __future__ import annotations

import os
import time

import sqlalchemy as sa

from casip.platform import audit
from casip.platform.db import Database
from casip.platform.jobs import JobContext, register
from casip.platform.models import Job, JobStatus, Organisation, OrgKind

#: the longest a canary may wait [s]
MAX_SECONDS = 3600.0


def canary_params(seconds: float, mode: str = "steps") -> dict:
    """Checked parameters of a canary job."""
    s = float(seconds)
    if not (0.0 <= s <= MAX_SECONDS):
        raise ValueError(f"seconds={seconds!r}: expected 0 to {MAX_SECONDS:g}")
    if mode not in ("steps", "block"):
        raise ValueError(f"mode={mode!r}: expected 'steps' or 'block'")
    return {"seconds": s, "mode": mode}


@register("canary")
def run_canary(ctx: JobContext) -> tuple[str, int]:
    """Job: wait, then record one audit entry and finish, in one fenced transaction."""
    p = canary_params(ctx.params.get("seconds", 0.0), ctx.params.get("mode", "steps"))
    if p["mode"] == "block":
        time.sleep(p["seconds"])  # one call: only the supervisor's kill can stop it early
    else:
        end = time.monotonic() + p["seconds"]
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(0.2, left))
            ctx.progress(1.0 - max(left, 0.0) / max(p["seconds"], 1e-9), "waiting")
    ctx.done_message = f"done: canary of {p['seconds']:g} s"
    with ctx.fenced() as s:
        entry = audit.record(
            s,
            "worker_canary",
            item_kind="job",
            item_id=ctx.job_id,
            detail={"job_id": ctx.job_id, "attempt": ctx.attempt, "pid": os.getpid()},
            item_owner_org_id=ctx.owner_org_id,
        )
        s.flush()
        ctx.complete(s, "audit_event", entry.id)
        return "audit_event", entry.id


def queue_canary(db: Database, seconds: float = 0.0, mode: str = "steps", n: int = 1
                 ) -> list[int]:
    """Queue ``n`` canary jobs owned by the platform organisation; return their ids."""
    params = canary_params(seconds, mode)
    with db.session() as s:
        org = s.execute(
            sa.select(Organisation.id).where(Organisation.kind == OrgKind.PLATFORM.value)
            .order_by(Organisation.id).limit(1)
        ).scalar_one_or_none()
        if org is None:
            raise ValueError("no platform organisation: run casip platform upgrade first")
        jobs = [Job(owner_org_id=org, kind="canary", params=dict(params),
                    status=JobStatus.QUEUED, progress=0.0, message="queued")
                for _ in range(int(n))]
        s.add_all(jobs)
        s.flush()
        return [j.id for j in jobs]
