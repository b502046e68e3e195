"""How far the differentially private benchmark falls from the true numbers (the utility study).

For consortia of 3 to 20 organisations and several per-release epsilons, simulate organisations
whose designs scatter around their own level, make a release with the platform's own
mechanism (:func:`casip.platform.privacy.release`, OpenDP underneath) and compare the released
median, quartiles and organisation count with the true (non-private) ones of the same
organisation-weighted data. Prints a table of median and 90th-percentile absolute errors and
writes a chart.

The simulated consortium is an assumption, stated here: organisation levels of specific energy
drawn from N(300, 60) Wh/kg (the spread of today's cells, LFP near 170 to sulfide ASSB near
400 Wh/kg in ``casip reference list``), 1 to 15 items per organisation scattered N(0, 25) Wh/kg
around its level.

    .venv/bin/python benchmarks/privacy_utility.py --trials 200 --out docs/img/privacy-utility.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from casip.platform import privacy

SIZES = (3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40)
EPSILONS = (1.0, 2.0, 4.0)


def consortium(rng: np.random.Generator, n_orgs: int) -> list[tuple[float, int]]:
    rows = []
    for org, level in enumerate(rng.normal(300.0, 60.0, n_orgs)):
        for v in rng.normal(level, 25.0, rng.integers(1, 16)):
            rows.append((float(v), org))
    return rows


def study(trials: int, seed: int = 2026) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for eps in EPSILONS:
        for n in SIZES:
            err: dict[str, list[float]] = {"p50": [], "p25": [], "p75": [], "n": []}
            for _ in range(trials):
                rows = consortium(rng, n)
                vals = privacy.organisation_values(rows, "specific_energy")
                data = np.concatenate(list(vals.values()))
                rel = privacy.release(rows, "specific_energy", eps, k=0)
                q = rel["quantiles"]
                for name, level in privacy.QUANTILES.items():
                    if q[name] is not None:
                        err[name].append(abs(q[name] - float(np.quantile(data, level))))
                err["n"].append(abs(rel["n_organisations"] - n))
            out[(eps, n)] = {
                k: (float(np.median(v)), float(np.percentile(v, 90)), len(v))
                if v
                else (None, None, 0)
                for k, v in err.items()
            }
    return out


def chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    for eps, color in zip(EPSILONS, ("#adb5bd", "#1f6feb", "#2b8a3e"), strict=True):
        med = [res[(eps, n)]["p50"][0] for n in SIZES]
        p90 = [res[(eps, n)]["p50"][1] for n in SIZES]
        ax.plot(SIZES, med, "o-", color=color, label=f"ε = {eps:g} per release: median error")
        ax.plot(SIZES, p90, "--", color=color, alpha=0.7, label=f"ε = {eps:g}: 90 % of releases")
        nerr = [res[(eps, n)]["n"][0] for n in SIZES]
        bx.plot(SIZES, nerr, "o-", color=color, label=f"ε = {eps:g}")
    ax.axhline(60, color="#d9480f", lw=1, ls=":")
    ax.text(12, 62, "spread between organisations (σ = 60 Wh/kg)", color="#d9480f", fontsize=8)
    ax.set(
        xlabel="organisations in the consortium",
        ylabel="|released − true median| [Wh/kg]",
        title="Released median of specific energy",
        ylim=(0, 250),
    )
    ax.legend(fontsize=7)
    bx.set(
        xlabel="organisations in the consortium",
        ylabel="|released − true| [organisations]",
        title="Released organisation count (median error)",
    )
    bx.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("docs/img/privacy-utility.png"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = study(args.trials)
    took = time.perf_counter() - t0
    print(f"{args.trials} releases per cell, {os.cpu_count()} cores, {took:.1f} s")
    print("eps  orgs  |p50 err| median / p90 [Wh/kg]  |p25|,|p75| median  |n err| median")
    for (eps, n), r in res.items():
        quart = r["p25"][0]
        qtxt = "   -   " if quart is None else f"{quart:6.1f},{r['p75'][0]:6.1f}"
        print(
            f"{eps:3g}  {n:4d}  {r['p50'][0]:8.1f} / {r['p50'][1]:6.1f}"
            f"              {qtxt}      {r['n'][0]:5.1f}"
        )
    chart(res, args.out)
    print(f"chart: {args.out}")


if __name__ == "__main__":
    main()
