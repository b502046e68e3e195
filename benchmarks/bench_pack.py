"""Benchmark: packs per second, vectorised against a per-pack Python loop.

Claim checked: :func:`casip.pack.model.evaluate_arrays` evaluates N pack variants in one numpy
call much faster than calling it once per pack in a Python loop, with the same answers.

The variants: the reference sulfide all-solid-state module pack (``ref:assb-sulfide-modules``,
whose stack-pressure hardware is sized per pack, the most arithmetic) with the series count
(60-200), the stack pressure (1-10 MPa) and the housing wall (1.5-5 mm) varied over N packs.
The cell is evaluated once (the pack model takes its metrics as numbers); both paths start from
the same compiled parameters. The loop is timed on a subset and reported per pack.

Run: ``python benchmarks/bench_pack.py [--n 10000] [--loop-n 500] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np

from casip.pack import model
from casip.pack.api import cell_facts, compile_pack, read_pack


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--loop-n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    pack, src, folder = read_pack("ref:assb-sulfide-modules")
    base, kind, _ = compile_pack(pack, cell_facts(pack, folder, src), src)
    rng = np.random.default_rng(0)
    var = {
        "series": rng.integers(60, 201, a.n).astype(float),
        "pressure_MPa": rng.uniform(1.0, 10.0, a.n),
        "housing_wall_mm": rng.uniform(1.5, 5.0, a.n),
    }
    arrays = {**{k: np.full(a.n, float(v)) for k, v in base.items()}, **var}

    def vectorised():
        return model.evaluate_arrays(arrays, kind)

    def loop(m: int):
        out = []
        for i in range(m):
            p = {**base, **{k: float(v[i]) for k, v in var.items()}}
            out.append(float(model.evaluate_arrays(p, kind)["specific_energy_Wh_kg"]))
        return out

    t_vec = _median_time(vectorised, a.repeat)
    t_loop = _median_time(lambda: loop(a.loop_n), a.repeat) / a.loop_n
    ref = vectorised()["specific_energy_Wh_kg"][: a.loop_n]
    worst = float(np.max(np.abs(np.array(loop(a.loop_n)) / ref - 1)))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"vectorised: {a.n} packs in {t_vec * 1e3:.1f} ms = {a.n / t_vec:,.0f} packs/s")
    print(f"loop: {t_loop * 1e3:.3f} ms per pack = {1 / t_loop:,.0f} packs/s "
          f"(timed on {a.loop_n})")
    print(f"ratio: {t_loop * a.n / t_vec:,.0f}x; largest relative difference in Wh/kg: "
          f"{worst:.1e}")


if __name__ == "__main__":
    main()
