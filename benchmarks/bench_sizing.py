"""Benchmark: sizing a sweep of designs to a target, vectorised against one design at a time.

Claim checked: :func:`casip.design.sizing.size` sizes a 10,000-point sweep in one call at least
100x faster than sizing each design one at a time with ``scipy.optimize.brentq`` in a Python
loop, with the same answers.

Two cases, each a sweep of the cathode thickness from 40 to 160 um (N points):

* ``pouch layers``: the NMC811 pouch reference cell sized to 100 Wh by its layer count (whole
  numbers, rounded up). Loop baseline: per design, ``brentq`` on the energy as a function of a
  continuous layer count over [1, 500], rounded up, then the engine at that count.
* ``cylinder height``: the NMC811 4680 reference cell sized to 100 Wh by its can height
  (continuous). Loop baseline: per design, ``brentq`` on the energy as a function of the can
  height, bracketed by [0.001, 500] mm (500 is the format's limit; a can too short to hold an
  electrode counts as holding no energy).

``vectorised`` is the public :func:`size` with its sweep (a DataFrame out, everything
included); the loop calls the engine (:func:`casip.design.engine.evaluate_arrays`) on scalar
parameters, timed on a subset and reported per design. The answers of both are compared.

Run: ``python benchmarks/bench_sizing.py [--n 10000] [--loop-n 300] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np
from scipy.optimize import brentq

from casip.cells import reference_design
from casip.design import compile as compile_design
from casip.design import engine
from casip.design.sizing import size
from casip.materials import load_library

TARGET_WH = 100.0


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _energy(params: dict, **updates: float) -> float:
    return float(engine.evaluate_arrays({**params, **updates})["energy_Wh"])


def _loop_pouch(base: dict, thicknesses: np.ndarray) -> list[int]:
    out = []
    for t in thicknesses:
        p = {**base, "c_thickness_um": float(t), "c_areal_capacity_mAh_cm2": math.nan}
        root = brentq(lambda n, p=p: _energy(p, p_layers=n) - TARGET_WH, 1.0, 500.0)
        n = math.ceil(root - 1e-9)
        if _energy(p, p_layers=float(n)) < TARGET_WH:  # guard the rounding of the root
            n += 1
        out.append(n)
    return out


def _loop_cylinder(base: dict, thicknesses: np.ndarray) -> list[float]:
    out = []
    for t in thicknesses:
        p = {**base, "c_thickness_um": float(t), "c_areal_capacity_mAh_cm2": math.nan}

        # a can too short to hold an electrode holds no energy (the engine says NaN)
        def f(h: float, p: dict = p) -> float:
            e = _energy(p, y_height_mm=h)
            return (e if math.isfinite(e) else 0.0) - TARGET_WH

        out.append(brentq(f, 1e-3, 500.0, xtol=1e-12, rtol=1e-12))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="points in the sized sweep")
    ap.add_argument("--loop-n", type=int, default=300, help="designs in the loop baseline")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lib = load_library()
    thick = np.linspace(40.0, 160.0, args.n)
    sub = thick[:: max(1, args.n // args.loop_n)][: args.loop_n]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}")
    print(f"sweep: {args.n:,} cathode thicknesses, target {TARGET_WH:g} Wh; loop baseline on "
          f"{len(sub):,} of them; medians of {args.repeat}")
    for label, ref, free, loop in (
        ("pouch layers", "nmc811-pouch", "layers", _loop_pouch),
        ("cylinder height", "nmc811-4680", "height", _loop_cylinder),
    ):
        design = reference_design(ref)
        base = compile_design(design, lib).params

        def vec(design=design, free=free):
            return size(design, {"energy_Wh": TARGET_WH}, free,
                        sweep={"cathode.thickness_um": thick}, library=lib)

        df = vec()  # warm-up, and the answers
        assert (df["sizing_status"] == 0).all()
        t_vec = _median_time(vec, args.repeat)
        t_loop = _median_time(lambda base=base, loop=loop: loop(base, sub),
                              max(1, args.repeat // 2 + 1)) / len(sub)
        # the same answers: compare the loop's on its subset with the sweep's rows
        got = loop(base, sub)
        idx = np.searchsorted(thick, sub)
        col = df[f"format.{'layers' if free == 'layers' else 'height_mm'}"].to_numpy()[idx]
        if free == "layers":
            same = f"{int(np.sum(col == np.array(got)))}/{len(sub)} layer counts equal"
        else:
            dev = float(np.max(np.abs(col / np.array(got) - 1)))
            same = f"largest relative difference in height {dev:.1e}"
        print(f"{label:16s}: vectorised {t_vec * 1e3:8.1f} ms for {args.n:,} "
              f"({args.n / t_vec:,.0f} designs/s); brentq loop {t_loop * 1e3:6.2f} ms/design "
              f"(-> {t_loop * args.n:6.1f} s for {args.n:,}); "
              f"ratio {t_loop * args.n / t_vec:,.0f}x; {same}")


if __name__ == "__main__":
    main()
