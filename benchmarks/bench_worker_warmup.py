"""CPU of one job in a freshly forked process, with and without the fork server's warm-up.

A worker runs each job attempt in a child forked from its fork server
(:mod:`casip.platform.worker`). This benchmark forks children the same way from two parent
processes started alike - one that imported PyBaMM and CASIP's job modules only, one that
also ran :mod:`casip.platform.job_warmup` (a design mapped to PyBaMM parameters, no solve) -
and measures the CPU time (``time.process_time`` in the child) of a 3C fast charge of the
NMC811 pouch reference cell, the platform's most common job. Both parents run in this one
process invocation, in alternation, so machine load affects both alike.

Usage::

    .venv/bin/python benchmarks/bench_worker_warmup.py [--jobs 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")


def _job(q) -> None:
    from casip.cells import reference_design
    from casip.physics import fast_charge

    t = time.process_time()
    r = fast_charge(reference_design("nmc811-pouch"), 3.0)
    q.put((time.process_time() - t, float(r.time_min)))


def _parent(warm: bool, jobs: int, out) -> None:
    """A fork server stand-in: imports, optionally warms up, then forks ``jobs`` children."""
    import pybamm  # noqa: F401

    from casip.platform import jobs as _jobs

    _jobs.load_job_modules()
    if warm:
        import casip.platform.job_warmup  # noqa: F401
    ctx = mp.get_context("fork")  # the fork server forks its children the same way
    cpu, minutes = [], []
    for _ in range(jobs):
        q = ctx.Queue()
        p = ctx.Process(target=_job, args=(q,))
        p.start()
        c, m = q.get()
        p.join()
        cpu.append(c)
        minutes.append(m)
    out.put((cpu, minutes))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=5, help="jobs per parent (default 5)")
    args = ap.parse_args(argv)
    spawn = mp.get_context("spawn")  # each parent starts as a fresh interpreter
    results = {}
    for warm in (False, True, False, True):
        q = spawn.Queue()
        p = spawn.Process(target=_parent, args=(warm, args.jobs, q))
        p.start()
        cpu, minutes = q.get()
        p.join()
        results.setdefault(warm, ([], []))
        results[warm][0].extend(cpu)
        results[warm][1].extend(minutes)
    cold, warm = statistics.median(results[False][0]), statistics.median(results[True][0])
    same = max(abs(a - b) for a, b in zip(results[False][1], results[True][1], strict=True))
    load = os.getloadavg()[0]
    print(f"3C fast charge of nmc811-pouch in a forked child, {2 * args.jobs} jobs per side "
          f"(load average {load:.1f}):")
    print(f"  parent without warm-up: median CPU {cold:.3f} s per job")
    print(f"  parent with warm-up:    median CPU {warm:.3f} s per job")
    print(f"  ratio (without / with): {cold / warm:.2f}x; largest difference in the result "
          f"{same:.2e} min")


if __name__ == "__main__":
    sys.exit(main())
