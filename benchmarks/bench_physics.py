"""Benchmark: physics simulation -- build once, solve many -- and the platform's overhead.

Claims checked, on the NMC811 pouch reference cell (liquid DFN, Chen2020 base set):

(a) A 20-point rate-capability run (C-rates ``geomspace(0.1, 5, 20)``) done by
    :func:`casip.physics.rate.rate_capability` (one model built with the current as an
    ``[input]``, all rates solved in one batched IDAKLU call on all cores, only the needed output
    variables) is at least **5x** faster than the naive way measured in the same run: a new
    ``pybamm.Simulation`` built and solved for each C-rate (same parameter values, same solver
    tolerances, all output variables, one thread).
(b) The platform's overhead over raw PyBaMM performing the same solves (same model, parameter
    values, solver settings and inputs, built once, the same output variables read back) is
    under **10%**. Two platform timings are reported: ``rate_capability`` given the mapped
    :class:`~casip.physics.PhysicsSetup` (the solve, batching and post-processing: energies,
    retention, limiting mechanism, tables) and given the design itself (adds the design ->
    parameter mapping and the design hash, which raw PyBaMM has no counterpart for).

Every platform call runs with ``use_cache=False``: the cache would make repeated calls free and
the comparison meaningless. The base sets' C/20 runs used by the mapping are cached per process
and warmed up before timing. Medians of ``--repeat`` repeats.

Run: ``python benchmarks/bench_physics.py [--points 20] [--repeat 3] [--threads N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pybamm

from casip.cells import reference_design
from casip.physics import parameters_for
from casip.physics.capacity import HORIZON_FACTOR
from casip.physics.rate import OUTPUT_VARIABLES, design_hash, rate_capability
from casip.physics.solving import DEFAULT_LIMITS

CELL = "nmc811-pouch"


def _median_time(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def naive(setup, rates: np.ndarray) -> list[float]:
    """A new Simulation per C-rate, the current fixed in the parameter values."""
    lim = DEFAULT_LIMITS
    caps = []
    for c in rates:
        pv = setup.parameter_values.copy()
        pv["Current function [A]"] = float(c) * setup.capacity_Ah
        sim = pybamm.Simulation(
            setup.new_model(),
            parameter_values=pv,
            solver=pybamm.IDAKLUSolver(rtol=lim.rtol, atol=lim.atol),
        )
        sol = sim.solve([0.0, HORIZON_FACTOR * 3600.0 / float(c)])
        caps.append(float(sol["Discharge capacity [A.h]"].entries[-1]))
    return caps


def raw_pybamm(setup, rates: np.ndarray, threads: int) -> list[float]:
    """What rate_capability asks PyBaMM to do, written directly against PyBaMM."""
    lim = DEFAULT_LIMITS
    pv = setup.parameter_values.copy()
    pv["Current function [A]"] = "[input]"
    solver = pybamm.IDAKLUSolver(
        rtol=lim.rtol,
        atol=lim.atol,
        options={
            "num_steps_no_progress": lim.steps_without_progress,
            "t_no_progress": HORIZON_FACTOR * 3600.0 / float(max(rates)) * lim.progress_fraction,
            "num_threads": threads,
        },
        on_failure="ignore",
        output_variables=list(OUTPUT_VARIABLES),
    )
    sim = pybamm.Simulation(setup.new_model(), parameter_values=pv, solver=solver)
    sols = sim.solve(
        [0.0, HORIZON_FACTOR * 3600.0 / float(min(rates))],
        inputs=[{"Current function [A]": float(c) * setup.capacity_Ah} for c in rates],
    )
    caps = []
    for sol in sols:
        for name in OUTPUT_VARIABLES:  # read back the same variables the platform reads
            sol[name].entries  # noqa: B018
        t = sol.t
        i = sol["Current [A]"].entries
        caps.append(float(np.trapezoid(i, t)) / 3600.0)
    return caps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=20, help="C-rates in the run")
    ap.add_argument("--repeat", type=int, default=3, help="repeats (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="solver threads (all cores)")
    args = ap.parse_args()
    threads = args.threads or os.cpu_count() or 1
    rates = np.geomspace(0.1, 5.0, args.points)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PyBaMM {pybamm.__version__}; solver threads {threads}; "
        f"load average {_load()}"
    )
    design = reference_design(CELL)
    setup = parameters_for(design)  # also warms the base set's cached C/20 run
    print(f"design: {CELL} ({setup.approximation}, {setup.base_set}), {args.points} C-rates "
          f"{rates[0]:g}..{rates[-1]:g}, medians of {args.repeat}")

    # correctness first: the three ways agree
    plat = rate_capability(design, rates, num_threads=threads, use_cache=False)
    q_plat = plat.table["capacity_Ah"].to_numpy()
    q_raw = np.array(raw_pybamm(setup, rates, threads))
    q_naive = np.array(naive(setup, rates[[0, -1]]))
    print(
        f"capacity [Ah] at {rates[0]:g}C / {rates[-1]:g}C: platform {q_plat[0]:.3f} / "
        f"{q_plat[-1]:.3f}, raw {q_raw[0]:.3f} / {q_raw[-1]:.3f}, naive {q_naive[0]:.3f} / "
        f"{q_naive[-1]:.3f}; max |platform - raw| {np.max(np.abs(q_plat - q_raw)):.2e} Ah"
    )

    # all timings interleaved, so that every variant sees the same machine load
    runs: dict[str, list[float]] = {"naive": [], "raw": [], "setup": [], "design": []}
    for _ in range(args.repeat):
        runs["naive"].append(_time(lambda: naive(setup, rates)))
        runs["raw"].append(_time(lambda: raw_pybamm(setup, rates, threads)))
        runs["setup"].append(
            _time(lambda: rate_capability(setup, rates, num_threads=threads, use_cache=False))
        )
        runs["design"].append(
            _time(lambda: rate_capability(design, rates, num_threads=threads, use_cache=False))
        )
    n, r, s, d = (statistics.median(runs[k]) for k in ("naive", "raw", "setup", "design"))

    print(f"\n(a) {args.points}-point rate capability")
    print(f"  naive (new Simulation per point):   {n:8.3f} s  runs {_fmt(runs['naive'])}")
    print(f"  rate_capability(design):            {d:8.3f} s  runs {_fmt(runs['design'])}")
    print(f"  speed-up: {n / d:.1f}x (goal >= 5x)")

    print("\n(b) overhead vs raw PyBaMM (same model, values, solver settings, inputs)")
    print(f"  raw PyBaMM, built once:             {r:8.3f} s  runs {_fmt(runs['raw'])}")
    print(f"  rate_capability(setup):             {s:8.3f} s  runs {_fmt(runs['setup'])}  "
          f"overhead {100 * (s - r) / r:+.1f}%")
    print(f"  rate_capability(design), + mapping: {d:8.3f} s  runs {_fmt(runs['design'])}  "
          f"overhead {100 * (d - r) / r:+.1f}%  (goal < 10%)")
    # the platform's own steps, timed alone (single-threaded, little affected by the load)
    t_map = statistics.median(_time(lambda: parameters_for(design)) for _ in range(args.repeat))
    t_hash = statistics.median(
        _time(lambda: design_hash(design, None, c_rates=list(rates))) for _ in range(args.repeat)
    )
    print(f"  of which design -> parameters mapping {1000 * t_map:.0f} ms, design hash "
          f"{1000 * t_hash:.1f} ms")
    print(f"\nload average at the end: {_load()}")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fmt(xs: list[float]) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in xs) + "]"


if __name__ == "__main__":
    main()
