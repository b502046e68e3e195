"""Virtual-lab benchmark of closed-loop campaigns (issue 18): physics and ageing as the truth.

Usage::

    PYBAMM_DISABLE_TELEMETRY=true .venv/bin/python benchmarks/bench_campaign_virtual_lab.py \
        [--seeds 20] [--budget 40000] [--channels 4] [--grid 8 6 6] [--png PATH]

Builds the ground truth once (:func:`casip.campaign.virtual_lab.ground_truth`: a grid of PyBaMM
charges of the ``lfp-blade`` cell and the calibrated plating + BLAST-Lite life model), then
runs the campaign, random search and a 3-level grid over the same seeds, each until the same
budget of channel-cycles is committed. Prints, per strategy, the channel-cycles until the
recommended protocol's true life stays within X of the true optimum (X = 10 %, 25 %, and the
regret a grid ends with), the campaign's and random search's cycles as ratios against the
grid's in the same run, and the median regret at equal spend; writes the chart (median + IQR).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np

from casip.campaign.virtual_lab import (
    design_grid,
    ground_truth,
    noise_model,
    regret_figure,
    run_virtual_lab,
)

ROOT = Path(__file__).resolve().parents[1]


def _fmt(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=float, default=40000.0, help="channel-cycles per seed")
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--grid", type=int, nargs=3, default=(8, 6, 6), help="physics grid")
    ap.add_argument("--png", default=str(ROOT / "docs" / "img" / "campaign-virtual-lab.png"))
    ap.add_argument("--json", default=None, help="write the summary here")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    truth = ground_truth(tuple(a.grid))
    t_truth = time.perf_counter() - t0
    noise = noise_model()
    opt_point, opt_life = truth.optimum()
    print(
        f"ground truth: {a.grid[0]}x{a.grid[1]}x{a.grid[2]} PyBaMM charges of {truth.cell} "
        f"+ BLAST-Lite base ({truth.base_life:.0f} cycles) in {t_truth:.1f} s"
    )
    print(
        f"  plating fade k = {truth.k:.3g} (V s)^-beta, beta = {truth.beta:.3f}; calibration "
        "(C-rate: Severson lives -> model):"
    )
    for c, v in truth.calibration.items():
        print(f"    {c:g}C: {v['severson']} -> {v['model']:.0f} (dose {v['dose_Vs']:.1f} V s)")
    print(
        f"  charge time 10-80 %: {truth.time_min.min():.1f}-{truth.time_min.max():.1f} min; "
        f"feasible (<= 15 min): {100 * truth.feasible_fraction():.1f} % of the box"
    )
    print(
        f"  optimum: {', '.join(f'{k}={v:.3g}' for k, v in opt_point.items())}: "
        f"{opt_life:.0f} cycles, {truth.charge_time(opt_point)[0]:.2f} min"
    )
    print(
        f"noise: cell-to-cell sd {noise['cell_sd_log10']:.3f} decade "
        f"({noise['cell_dof']} dof); early prediction sd {noise['early_sd_log10']:.3f} decade "
        f"(MAPE {100 * noise['early_mape']:.1f} %) at cycle 100"
    )
    print(f"grid strategy: {len(design_grid(truth))} feasible points of 27")

    seeds = list(range(a.seeds))
    times = {}
    res = None
    traces = {}
    for s in ("grid", "random", "campaign"):
        t1 = time.perf_counter()
        r = run_virtual_lab(
            truth, seeds, noise=noise, strategies=[s], budget=a.budget, channels=a.channels
        )
        times[s] = time.perf_counter() - t1
        traces[s] = r.traces[s]
        res = r
    res.traces = traces

    grid_end = float(np.median([tr.steps[-1]["regret"] for tr in traces["grid"]]))
    tols = [0.10, 0.25, grid_end]
    out = {
        "seeds": a.seeds,
        "budget": a.budget,
        "channels": a.channels,
        "optimum": opt_point,
        "optimum_life": opt_life,
        "noise": noise,
        "calibration": {str(c): v for c, v in truth.calibration.items()},
        "k": truth.k,
        "beta": truth.beta,
        "base_life": truth.base_life,
        "grid_end_regret": grid_end,
        "tolerances": {},
        "seconds": times,
    }
    print(
        f"\n{a.seeds} seeds, {a.channels} channels, budget {a.budget:,.0f} channel-cycles "
        f"(seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()) + ")"
    )
    for tol in tols:
        summ = res.summary(tol)
        label = f"{100 * tol:.1f} %" + (
            " (the grid's median final regret)" if tol == grid_end else ""
        )
        print(f"\nchannel-cycles until the recommendation stays within {label} of the optimum")
        print(
            f"  {'strategy':9s} {'median':>9s} {'q25':>9s} {'q75':>9s} {'reached':>8s} "
            f"{'ratio vs grid':>14s}"
        )
        g = summ["grid"]["cycles_median"]
        for s, v in summ.items():
            ratio = v["cycles_median"] / g if math.isfinite(g) and g > 0 else math.nan
            print(
                f"  {s:9s} {_fmt(v['cycles_median']):>9s} {_fmt(v['cycles_q25']):>9s} "
                f"{_fmt(v['cycles_q75']):>9s} {100 * v['reached']:7.0f}% "
                f"{ratio:14.2f}"
            )
            v["ratio_vs_grid"] = ratio
        out["tolerances"][f"{tol:.4f}"] = summ
    marks = sorted({m for m in (5000, 10000, 20000, 30000) if m < a.budget} | {int(a.budget)})
    curves = res.curves(np.array(marks, dtype=float))
    print("\nmedian regret [%] at equal spend (channel-cycles)")
    print("  " + f"{'strategy':9s}" + "".join(f"{m:>9,d}" for m in marks))
    out["regret_at"] = {}
    for s, c in curves.items():
        vals = [float(v) for v in c["median"]]
        out["regret_at"][s] = dict(zip(map(str, marks), vals, strict=True))
        print("  " + f"{s:9s}" + "".join(f"{100 * v:9.1f}" for v in vals))
    summ = res.summary(grid_end)
    print(
        "\nper seed: campaign early-stopped "
        f"{summ['campaign']['early_stopped_mean']:.1f} cells, continued "
        f"{summ['campaign']['to_end_of_life_mean']:.1f} to end of life (mean); random "
        f"{summ['random']['to_end_of_life_mean']:.1f}, grid "
        f"{summ['grid']['to_end_of_life_mean']:.1f} cells to end of life"
    )
    png = regret_figure(res, a.png)
    print(f"chart: {png}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
