"""Benchmark: designs per second of the vectorised design engine.

Claim checked: the engine evaluates at least a million designs per second on one core, at least
100x faster than evaluating the same designs one by one in a Python loop.

Three measurements in the same run, on the same designs (the NMC811 pouch reference cell with
its cathode thickness, porosity, separator thickness and layer count drawn at random):

* ``vectorised``: one call of :func:`casip.design.engine.evaluate_arrays` on N designs;
* ``loop``: the same function called once per design with scalar parameters (what a sweep
  written as a Python loop costs), timed on a subset and reported per design;
* ``sweep``: the public :func:`casip.design.sweep` on a 1000 x 1000 grid of cathode and
  separator thickness (1,000,000 points, returned as a DataFrame), what users call;
* ``memcopy``: a numpy copy of as many bytes as the engine reads and writes (inputs + outputs),
  the memory-bandwidth floor for any pass over the same data.

Run: ``python benchmarks/bench_design_engine.py [--n 1000000] [--repeat 5]``. Medians of the
repeats are reported. numpy's element-wise kernels run on one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from casip.cells import reference_design
from casip.design import compile as compile_design
from casip.design import engine


def _designs(n: int, seed: int = 1) -> dict[str, np.ndarray | float]:
    base = compile_design(reference_design("nmc811-pouch")).params
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray | float] = dict(base)
    params["c_areal_capacity_mAh_cm2"] = np.nan
    params["c_thickness_um"] = rng.uniform(40.0, 160.0, n)
    params["c_porosity"] = rng.uniform(0.15, 0.40, n)
    params["s_thickness_um"] = rng.uniform(8.0, 25.0, n)
    params["p_layers"] = rng.integers(10, 60, n).astype(float)
    return params


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="designs in the vectorised call")
    ap.add_argument("--loop-n", type=int, default=2_000, help="designs in the loop baseline")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    params = _designs(args.n)
    out = engine.evaluate_arrays(params)  # warm-up, and the output size
    assert int(np.count_nonzero(out["status"])) == 0

    t_vec = _median_time(lambda: engine.evaluate_arrays(params), args.repeat)

    # loop baseline: the same designs, one call each with scalars
    keys_arr = [k for k, v in params.items() if isinstance(v, np.ndarray)]
    rows = [
        {**params, **{k: float(params[k][i]) for k in keys_arr}} for i in range(args.loop_n)
    ]

    def loop() -> None:
        for row in rows:
            engine.evaluate_arrays(row)

    t_loop = _median_time(loop, max(1, args.repeat // 2)) / args.loop_n  # per design

    # the public API: a 1000 x 1000 grid through casip.design.sweep (DataFrame included)
    from casip.design import sweep

    design = reference_design("nmc811-pouch")
    side = round(args.n**0.5)
    grid = {
        "cathode.thickness_um": np.linspace(40.0, 160.0, side),
        "separator.thickness_um": np.linspace(8.0, 25.0, side),
    }
    sweep(design, grid)  # warm-up (loads the materials library once)
    t_sweep = _median_time(lambda: sweep(design, grid), args.repeat)

    # memory-bandwidth floor: copy as many bytes as the engine reads plus writes
    n_in = sum(1 for v in params.values() if isinstance(v, np.ndarray))
    n_out = sum(1 for v in out.values() if np.ndim(v) and np.size(v) == args.n)
    nbytes = (n_in + n_out) * args.n * 8
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    t_copy = _median_time(lambda: np.copyto(dst, src), args.repeat)

    rate = args.n / t_vec
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, element-wise kernels on one core")
    print(f"designs: {args.n:,} (loop baseline on {args.loop_n:,}); medians of {args.repeat}")
    print(f"vectorised engine : {t_vec * 1e3:9.1f} ms  -> {rate / 1e6:6.2f} M designs/s")
    print(f"python loop       : {t_loop * 1e6:9.1f} us/design -> {1 / t_loop:,.0f} designs/s")
    print(f"sweep() {side}x{side}  : {t_sweep * 1e3:9.1f} ms  -> "
          f"{side * side / t_sweep / 1e6:6.2f} M designs/s (public API, DataFrame out)")
    print(f"memcopy {nbytes / 1e6:,.0f} MB  : {t_copy * 1e3:9.1f} ms  "
          f"({nbytes / t_copy / 1e9:.1f} GB/s)")
    print(f"ratio vectorised / loop     : {t_loop * args.n / t_vec:,.0f}x faster")
    print(f"ratio vectorised / memcopy  : {t_vec / t_copy:.1f}x the time of one copy of the bytes")
    print(f"ratio sweep() / loop        : {t_loop * side * side / t_sweep:,.0f}x faster")
    print(f"goal >= 1 M designs/s: {'met' if rate >= 1e6 else 'NOT met'} (engine), "
          f"{'met' if side * side / t_sweep >= 1e6 else 'NOT met'} (sweep); "
          f"goal >= 100x loop: {'met' if t_loop * args.n / t_vec >= 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
