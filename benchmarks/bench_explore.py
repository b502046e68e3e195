"""Benchmark: design-space exploration executors (issue 7).

Claims checked, every ratio measured in the same run:

(a) a 100,000-point sweep of the design engine (``casip.design.api.sweep`` over a 400 x 250 grid
    of cathode and separator thickness of the NMC811 pouch, DataFrame included) in process,
    against the per-design loop (``casip.design.api.evaluate`` called once per design, timed on
    a sample of designs from the same grid and **extrapolated** to 100,000). The same sample is
    also run through the ``processes`` executor (2 workers), to show what parallel workers do
    and do not buy for millisecond tasks;
(b) a study of PyBaMM evaluations (``casip.physics.fast_charge``: 4 reference cells x 3
    C-rates = 12 tasks of 0.5-3 s) on a Dask ``LocalCluster`` (through
    ``casip.explore.executors.get_executor("dask")``) with 1 worker and with 2 workers:
    scaling efficiency ``t1 / (2 * t2)``, goal >= 80%; and the executor's per-task overhead:
    the same 12 tasks called directly in this process against 1 Dask worker, and a trivial task
    (``abs``) through each executor against calling it directly, in ms per task.

Both clusters are started first and warmed (every worker imports PyBaMM and runs each cell
once, so per-process caches are filled): the timings are the steady state of a running study.
Cluster start-up is reported separately. The 1-worker run, the 2-worker run and the direct
calls are interleaved in each repeat so that they see the same machine load; the load average
is printed with every repeat (the machine has 2 cores and other work may be running).

Run: ``python benchmarks/bench_explore.py [--repeat 3] [--loop-n 1000]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

CELLS = ("nmc811-4680", "assb-sulfide-si", "semi-solid-sic", "lfp-blade")
C_RATES = (1.0, 2.0, 3.0)


def charge_task(item: tuple[str, float]) -> tuple[float, str, float, float]:
    """One PyBaMM evaluation: minutes to charge 10-80% at ``c_rate`` and the binding limit, and
    the wall and CPU seconds the task took where it ran (to tell idle workers from busy cores).
    """
    from casip.cells import reference_design
    from casip.physics import fast_charge

    w0, c0 = time.perf_counter(), time.process_time()
    ref, c_rate = item
    r = fast_charge(reference_design(ref), c_rate)
    return r.time_min, r.binding_limit, time.perf_counter() - w0, time.process_time() - c0


def warm_worker() -> int:
    """Run on every worker before timing: import PyBaMM and fill the per-process caches."""
    for ref in CELLS:
        charge_task((ref, 1.0))
    return os.getpid()


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_sweep(repeat: int, loop_n: int) -> None:
    from casip.cells import reference_design
    from casip.design.api import evaluate, sweep, with_updates
    from casip.explore.executors import get_executor

    design = reference_design("nmc811-pouch")
    grid = {
        "cathode.thickness_um": np.linspace(40.0, 160.0, 400),
        "separator.thickness_um": np.linspace(8.0, 25.0, 250),
    }
    sweep(design, grid)  # warm-up: the materials library is loaded once
    times = []
    for _ in range(repeat):
        t, df = _timed(lambda: sweep(design, grid))
        times.append(t)
    t_sweep = statistics.median(times)
    n = len(df)

    rng = np.random.default_rng(7)
    rows = rng.choice(n, size=loop_n, replace=False)
    keys = list(grid)
    updates = [{k: float(df[k].iloc[r]) for k in keys} for r in rows]
    t_build, designs = _timed(lambda: [with_updates(design, u) for u in updates])
    evaluate(designs[0])  # warm-up
    t_loop, metrics = _timed(lambda: [evaluate(d) for d in designs])
    per_eval = t_loop / loop_n
    per_build = t_build / loop_n
    got = np.array([m.specific_energy_Wh_kg for m in metrics])
    want = df["specific_energy_Wh_kg"].to_numpy()[rows]
    rel = float(np.max(np.abs(got - want) / np.abs(want)))

    from casip.design import api

    with get_executor("processes", workers=2) as ex:
        list(ex.map_unordered(api.evaluate, designs[:50], chunksize=25))  # start the workers
        t_pool, _ = _timed(lambda: list(ex.map_unordered(api.evaluate, designs, chunksize=100)))
    per_pool = t_pool / loop_n

    print("\n(a) design engine: 100,000-point sweep in process vs the per-design loop")
    print(
        f"    sweep() 400x250 = {n:,} points : {t_sweep * 1e3:8.1f} ms "
        f"(median of {repeat}) -> {n / t_sweep / 1e6:.2f} M designs/s"
    )
    print(
        f"    loop evaluate(design)        : {per_eval * 1e3:8.3f} ms/design, measured on "
        f"{loop_n:,} designs from the grid, extrapolated to {n:,}: {per_eval * n:.1f} s"
    )
    print(
        f"    + building each design        : {per_build * 1e3:8.3f} ms/design "
        f"(with_updates; extrapolated {per_build * n:.1f} s)"
    )
    print(
        f"    loop on 2 processes (chunks of 100): {per_pool * 1e3:.3f} ms/design "
        f"(extrapolated {per_pool * n:.1f} s)"
    )
    print(f"    loop and sweep agree: max relative difference of Wh/kg {rel:.1e}")
    print(f"    ratio sweep / loop (evaluate only)        : {per_eval * n / t_sweep:,.0f}x faster")
    print(
        f"    ratio sweep / loop (build + evaluate)     : "
        f"{(per_eval + per_build) * n / t_sweep:,.0f}x faster"
    )
    print(f"    ratio sweep / loop on 2 processes         : {per_pool * n / t_sweep:,.0f}x faster")
    print(f"    load average: {_load()}")


def bench_dask(repeat: int) -> None:
    from casip.explore.executors import get_executor

    items = [(ref, c) for ref in CELLS for c in C_RATES]
    print(
        f"\n(b) PyBaMM study on a Dask LocalCluster: {len(items)} fast_charge tasks "
        f"({len(CELLS)} cells x C-rates {', '.join(f'{c:g}' for c in C_RATES)})"
    )

    t_start1, ex1 = _timed(lambda: get_executor("dask", workers=1))
    t_start2, ex2 = _timed(lambda: get_executor("dask", workers=2))
    try:
        print(f"    cluster start: 1 worker {t_start1:.1f} s, 2 workers {t_start2:.1f} s")
        t_w1, _ = _timed(lambda: ex1.client.run(warm_worker))
        t_w2, _ = _timed(lambda: ex2.client.run(warm_worker))
        warm_worker()  # this process too, for the direct calls
        print(f"    warm-up (import PyBaMM, fill caches): {t_w1:.1f} s / {t_w2:.1f} s")

        def run(ex):
            return dict(ex.map_unordered(charge_task, items))

        # direct calls with one BLAS thread, like the Dask workers (their nanny sets
        # OMP_NUM_THREADS=1 and friends), so that the comparison is task for task
        from threadpoolctl import threadpool_limits

        one_thread = threadpool_limits(limits=1)
        direct_ref = {i: charge_task(it) for i, it in enumerate(items)}
        t1s, t2s, tds, busy, share = [], [], [], {1: [], 2: []}, {1: [], 2: []}
        for r in range(repeat):
            load0 = _load()
            t_d, _ = _timed(lambda: [charge_task(it) for it in items])
            t1, res1 = _timed(lambda: run(ex1))
            t2, res2 = _timed(lambda: run(ex2))
            for w, t, res in ((1, t1, res1), (2, t2, res2)):
                wall = sum(v[2] for v in res.values())
                busy[w].append(wall / (w * t))
                share[w].append(sum(v[3] for v in res.values()) / wall)
            for res in (res1, res2):
                assert sorted(res) == sorted(direct_ref), "tasks missing"
                assert all(
                    res[i][1] == direct_ref[i][1]
                    and abs(res[i][0] - direct_ref[i][0]) <= 1e-6 * abs(direct_ref[i][0])
                    for i in res
                ), f"results differ: {res} vs {direct_ref}"
            tds.append(t_d)
            t1s.append(t1)
            t2s.append(t2)
            print(
                f"    repeat {r + 1}: direct {t_d:6.2f} s | 1 worker {t1:6.2f} s | "
                f"2 workers {t2:6.2f} s | efficiency {t1 / (2 * t2):5.1%} | "
                f"workers busy {busy[1][-1]:.0%} / {busy[2][-1]:.0%} | "
                f"CPU per task-second {share[1][-1]:.0%} / {share[2][-1]:.0%} | "
                f"load {load0} -> {_load()}"
            )
        one_thread.restore_original_limits()
        t_d, t1, t2 = (statistics.median(x) for x in (tds, t1s, t2s))
        eff = t1 / (2 * t2)
        print(f"    median: direct {t_d:.2f} s, 1 worker {t1:.2f} s, 2 workers {t2:.2f} s")
        print(
            f"    scaling efficiency t1 / (2 t2): {eff:.1%} (goal >= 80%: "
            f"{'met' if eff >= 0.8 else 'NOT met'}); speed-up {t1 / t2:.2f}x"
        )
        print(
            f"    best of {repeat}: efficiency {min(t1s) / (2 * min(t2s)):.1%} "
            f"(1 worker {min(t1s):.2f} s, 2 workers {min(t2s):.2f} s)"
        )
        print(
            "    workers busy = sum of task wall times in the workers / (workers x elapsed): "
            f"median {statistics.median(busy[1]):.0%} (1 worker), "
            f"{statistics.median(busy[2]):.0%} (2 workers); "
            "CPU per task-second = task CPU time / task wall time: "
            f"{statistics.median(share[1]):.0%} / {statistics.median(share[2]):.0%} "
            "(below 100%: the tasks waited for a core taken by other work)"
        )
        s1, s2 = statistics.median(share[1]), statistics.median(share[2])
        print(
            f"    estimate on 2 free cores: efficiency x CPU-share(1) / CPU-share(2) = "
            f"{eff * s1 / s2:.0%} (an estimate that removes the other work's share of the cores; "
            "not a measurement)"
        )
        print(
            f"    per-task overhead, real task, 1 worker vs direct: "
            f"{(t1 - t_d) / len(items) * 1e3:+.1f} ms/task ({t1 / t_d - 1:+.1%})"
        )

        # trivial task: the executor's own cost per task
        n = 500
        trivial = list(range(-n // 2, n // 2))
        t_direct = min(_timed(lambda: [abs(x) for x in trivial])[0] for _ in range(3)) / n
        print(
            f"    per-task overhead, trivial task (abs), {n} tasks, chunksize 1 "
            f"(direct call: {t_direct * 1e6:.2f} us):"
        )
        with get_executor("processes", workers=2) as exp:
            list(exp.map_unordered(abs, [1, 2]))  # start the workers
            for name, ex in (
                ("inprocess", get_executor("inprocess")),
                ("processes, 2", exp),
                ("dask, 1 worker", ex1),
                ("dask, 2 workers", ex2),
            ):
                ts = [
                    _timed(lambda ex=ex: dict(ex.map_unordered(abs, trivial)))[0]
                    for _ in range(repeat)
                ]
                t = statistics.median(ts)
                print(f"      {name:16s}: {(t / n - t_direct) * 1e3:7.3f} ms/task")
    finally:
        ex1.close()
        ex2.close()
    print(f"    load average: {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--loop-n", type=int, default=1000, help="designs in the loop sample")
    ap.add_argument("--skip-dask", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; "
        f"load average {_load()}"
    )
    bench_sweep(args.repeat, args.loop_n)
    if not args.skip_dask:
        bench_dask(args.repeat)


if __name__ == "__main__":
    main()
