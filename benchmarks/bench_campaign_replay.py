"""Campaign replay on the 41 Severson cells: cycles of testing against exhaustive testing.

Replays, over many seeds, exhaustive testing (every cell to end of life), random search (cells
to end of life in a random order, best so far recommended) and the closed-loop campaign
(casip.campaign.propose over the pool, cross-fitted early predictions at N cycles, early
stopping, the most promising cells continued to end of life); see casip.campaign.replay.

Prints, per strategy, the channel-cycles (and calendar cycles) spent until the recommended
policy is the true best and stays so (and until it is in the true top 3), each as a ratio
against exhaustive testing measured in the same run, the final regret against the
cell-to-cell noise, and writes the regret chart.

    PYBAMM_DISABLE_TELEMETRY=true .venv/bin/python benchmarks/bench_campaign_replay.py \\
        --seeds 50 --channels 4 --cycles 100 --chart docs/img/campaign_replay_regret
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from casip.campaign.replay import (
        cross_fitted_predictions,
        load_pool,
        regret_figures,
        run_replay,
    )
    from casip.report import figure_png

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", default=os.environ.get("CASIP_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    )
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--cycles", type=int, default=100, help="N, cycles before early prediction")
    ap.add_argument("--model", default="DischargeModel")
    ap.add_argument("--continue-per-round", type=int, default=1)
    ap.add_argument("--chart", default=None, help="write <stem>.png, the regret chart")
    a = ap.parse_args()

    folder = Path(a.data) / "severson"
    pool = load_pool(folder)
    t0 = time.perf_counter()
    early = cross_fitted_predictions(pool, a.cycles, a.model)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_replay(
        folder,
        seeds=range(a.seeds),
        channels=a.channels,
        pool=pool,
        early=early,
        continue_per_round=a.continue_per_round,
    )
    t_run = time.perf_counter() - t0
    s = res.summary().set_index("strategy")
    ex = s.loc["exhaustive"]
    print(
        f"pool: {len(pool.cells)} cells, {len(pool.policy_life())} policies; best "
        f"{res.best_policy} ({res.best_life:.0f} cycles), top 3 {res.top3}"
    )
    nz = res.noise
    print(
        f"cell-to-cell noise: sd {nz['sd_cycles']:.0f} cycles ({nz['sd_log10']:.3f} log10) "
        f"from {nz['dof']} dof: {nz['policies']}"
    )
    print(
        f"early predictor ({a.model}, N={a.cycles}, cross-fitted by policy): MAPE "
        f"{early.mape_percent:.1f} %, {early.coverage_level:.0%} interval coverage "
        f"{early.coverage:.2f}; fitted in {t_fit:.1f} s; replay of {a.seeds} seeds x 3 "
        f"strategies in {t_run:.1f} s"
    )
    print(
        f"{'strategy':<11} {'to best':>9} {'ratio':>6} {'IQR':>13} {'to top3':>8} {'ratio':>6}"
        f" {'calendar':>9} {'ratio':>6} {'total':>8} {'ratio':>6} {'found':>6}"
        f" {'regret':>7} {'<=noise':>7} {'stopped':>7} {'to EOL':>6}"
    )
    for name, r in s.iterrows():
        print(
            f"{name:<11} {r.cycles_to_best:9.0f} {r.cycles_to_best / ex.cycles_to_best:6.2f} "
            f"{r.cycles_to_best_q1:6.0f}-{r.cycles_to_best_q3:<6.0f} {r.cycles_to_top3:8.0f} "
            f"{r.cycles_to_top3 / ex.cycles_to_top3:6.2f} {r.calendar_to_best:9.0f} "
            f"{r.calendar_to_best / ex.calendar_to_best:6.2f} {r.total_cycles:8.0f} "
            f"{r.total_cycles / ex.total_cycles:6.2f} {r.found_best:6.2f} "
            f"{r.final_regret:7.0f} {r.p_final_within_noise:7.2f} {r.early_stopped:7.0f} "
            f"{r.to_end_of_life:6.0f}"
        )
    if a.chart:
        png = Path(a.chart).with_suffix(".png")
        png.write_bytes(figure_png(regret_figures(res).png))
        print("chart:", png)


if __name__ == "__main__":
    main()
