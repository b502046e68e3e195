"""Replay of a closed-loop campaign on the 41 Severson et al. training cells (issue 18).

The pool is the 41 cells of ``severson/train`` with their fast-charging policies
(``train_charging_policies.csv``, Supplementary Table 9 of Severson et al. 2019). Each policy
``C1(Q1%)-C2`` is a protocol point ``{c1_C, soc_switch, c2_C}``
(:func:`casip.campaign.protocols.parse_policy`). "Testing" a cell reveals its first N cycles
(cost: N cycles of one channel); continuing it to the end reveals its cycle life (cost: its
life). Three strategies are replayed over many seeds:

* ``exhaustive`` -- every cell to end of life, ``channels`` at a time in a random order; the
  recommendation is made at the end (the best measured policy, so the regret is then 0);
* ``random`` -- the same random order, but the recommendation after every completed cell is
  the best measured so far;
* ``campaign`` -- ``channels`` channels; free channels get cells proposed by
  :func:`casip.campaign.propose` over the pool (pool mode); after N cycles each new cell's
  cross-fitted early prediction enters as ``"early"`` evidence with its interval as noise
  (:func:`casip.campaign.evidence.sigma_from_interval`); :func:`casip.campaign.early_stop`
  stops cells that are confidently poor against the incumbent; the most promising new cell
  whose prediction reaches the incumbent's is continued to end of life (``"measured"``
  evidence) while the other channels go on. The recommendation is
  :func:`casip.campaign.best` (best posterior mean among tested points).

Cross-fitting. The early predictor is the same kind as :mod:`casip.life.early`'s, but each
cell's prediction comes from a model fitted on grouped folds (grouped by policy) that do not
contain the cell nor the other cells of its policy
(:func:`casip.life.early.cross_validated_interval`), so that the replay does not measure the
predictor's memory of the pool.

Costs are counted in channel-cycles (sum over channels of cycles run) and calendar cycles (the
cycle count of the slowest channel, i.e. elapsed time in cycles). Regret is the true life of the
recommended policy minus the best policy's (the mean over its cells when a policy has several),
compared with the cell-to-cell noise: the sd of life among cells sharing a policy
(:func:`noise_level`).

References
----------
K. A. Severson et al., Nature Energy 4, 383-391 (2019), https://doi.org/10.1038/s41560-019-0356-8
(cells, policies). P. M. Attia et al., Nature 578, 397-402 (2020),
https://doi.org/10.1038/s41586-020-1994-5 (closed-loop optimisation with early prediction; the
idea replayed here).
"""

from __future__ import annotations

import csv
import heapq
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from casip.errors import CasipInputError, Problem

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

_SOURCE = "campaign replay"
#: End of the fast-charge window of the Severson policies (both steps end at 80 % SOC).
SOC_END = 0.8
STRATEGIES = ("exhaustive", "random", "campaign")


# --------------------------------------------------------------------------------------------
# The pool: cells and their policies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCell:
    """One training cell of the pool."""

    cell: str
    barcode: str
    batch_date: str
    life: float
    policy: str
    point: dict
    charge_time_0_80_min: float
    charge_time_10_80_min: float


def charge_time_0_80_min(point: dict) -> float:
    """Minutes from 0 to 80 % SOC of a two-step policy at its nominal C-rates.

    :math:`t = 60\\,(s/c_1 + (0.8 - s)/c_2)` [min], ``s = soc_switch`` (a fraction <= 0.8).
    Assumption, as in the policy definitions of Severson et al.: each constant-current step
    runs at its nominal rate up to its SOC limit (no voltage limit reached).
    """
    c1, s, c2 = float(point["c1_C"]), float(point["soc_switch"]), float(point["c2_C"])
    return 60.0 * (min(s, SOC_END) / c1 + max(0.0, SOC_END - s) / c2)


def load_policies(path: str | Path) -> list[PoolCell]:
    """Read ``train_charging_policies.csv`` and parse every policy.

    Parameters
    ----------
    path : path
        The CSV (columns ``cell, barcode, batch_date, cycle_life, charging_policy``).

    Returns
    -------
    list of PoolCell
        In file order.

    Raises
    ------
    CasipInputError
        A missing column, a non-numeric cycle life, or a policy that does not parse, naming
        the row (line number and cell).
    """
    from casip.campaign.protocols import charge_time_10_80_min, parse_policy

    path = Path(path)
    need = ("cell", "barcode", "batch_date", "cycle_life", "charging_policy")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise CasipInputError(
                Problem("columns", f"missing {missing}", reader.fieldnames, str(list(need))),
                source=str(path),
            )
        out = []
        for line, row in enumerate(reader, start=2):
            where = f"row {line} ({row.get('cell')})"
            try:
                point = parse_policy(row["charging_policy"])
            except CasipInputError as e:
                raise CasipInputError(
                    Problem(
                        f"{where}: charging_policy",
                        "policy does not parse",
                        row["charging_policy"],
                        "C1(Q1%)-C2, e.g. 5.4C(40%)-3.6C",
                    ),
                    source=str(path),
                ) from e
            try:
                life = float(row["cycle_life"])
            except ValueError:
                life = float("nan")
            if not life > 0:
                raise CasipInputError(
                    Problem(f"{where}: cycle_life", "not a positive number", row["cycle_life"]),
                    source=str(path),
                )
            if not (0 < point["soc_switch"] <= SOC_END and point["c1_C"] > 0 and point["c2_C"] > 0):
                raise CasipInputError(
                    Problem(
                        f"{where}: charging_policy",
                        "out of range",
                        row["charging_policy"],
                        "C-rates > 0 and a switch in (0, 80] %",
                    ),
                    source=str(path),
                )
            out.append(
                PoolCell(
                    cell=row["cell"],
                    barcode=row["barcode"],
                    batch_date=row["batch_date"],
                    life=life,
                    policy=row["charging_policy"].strip(),
                    point=point,
                    charge_time_0_80_min=charge_time_0_80_min(point),
                    charge_time_10_80_min=charge_time_10_80_min(point),
                )
            )
    return out


@dataclass
class Pool:
    """The candidate pool: cells (file order = ``train/cellN``), Q(V) curves and lives."""

    cells: list[PoolCell]
    curves: list[np.ndarray]
    lives: np.ndarray
    folder: str

    @property
    def policies(self) -> list[str]:
        return [c.policy for c in self.cells]

    def policy_life(self) -> dict[str, float]:
        """True life of each policy: the mean over its cells [cycles]."""
        out: dict[str, list[float]] = {}
        for c in self.cells:
            out.setdefault(c.policy, []).append(c.life)
        return {k: float(np.mean(v)) for k, v in out.items()}


def load_pool(folder: str | Path) -> Pool:
    """The 41 cells of ``folder`` (``.../severson``) with their policies and Q(V) curves.

    The cycle lives of ``train_charging_policies.csv`` must equal ``train_cycle_lives.csv``.
    """
    from casip.life.early import load_severson_qv

    folder = Path(folder)
    cells = load_policies(folder / "train_charging_policies.csv")
    curves, lives = load_severson_qv(folder)
    names = [f"cell{i + 1}" for i in range(len(lives))]
    if [c.cell for c in cells] != names or not np.allclose([c.life for c in cells], lives):
        raise CasipInputError(
            Problem(
                "train_charging_policies.csv",
                "cells or cycle lives differ from train/",
                expected="cell1..cellN with the lives of train_cycle_lives.csv",
            ),
            source=str(folder),
        )
    return Pool(
        cells=cells, curves=curves, lives=np.asarray(lives, dtype=float), folder=str(folder)
    )


def noise_level(pool: Pool) -> dict:
    """Cell-to-cell noise of the cycle life among cells sharing a policy.

    Pooled sample sd over the policies with 2+ cells:
    :math:`s^2 = \\sum_p \\sum_i (N_{pi} - \\bar N_p)^2 / \\sum_p (n_p - 1)`, in cycles and in
    log10(cycles).

    Returns
    -------
    dict
        ``sd_cycles``, ``sd_log10``, ``dof`` and ``policies`` (policy -> lives).
    """
    groups: dict[str, list[float]] = {}
    for c in pool.cells:
        groups.setdefault(c.policy, []).append(c.life)
    rep = {k: v for k, v in groups.items() if len(v) >= 2}
    dof = sum(len(v) - 1 for v in rep.values())
    if dof == 0:
        return {"sd_cycles": float("nan"), "sd_log10": float("nan"), "dof": 0, "policies": {}}
    ss = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in rep.values())
    ss_log = sum(float(np.sum((np.log10(v) - np.mean(np.log10(v))) ** 2)) for v in rep.values())
    return {
        "sd_cycles": math.sqrt(ss / dof),
        "sd_log10": math.sqrt(ss_log / dof),
        "dof": dof,
        "policies": rep,
    }


# --------------------------------------------------------------------------------------------
# Cross-fitted early predictor
# --------------------------------------------------------------------------------------------


@dataclass
class EarlyPredictions:
    """Cross-fitted early predictions of every pool cell at N cycles."""

    last_cycle: int
    model: str
    predicted: np.ndarray
    low: np.ndarray
    high: np.ndarray
    fold: np.ndarray
    train_index: list[np.ndarray]
    coverage_level: float
    mape_percent: float
    coverage: float

    def trained_on(self, i: int) -> np.ndarray:
        """Indices of the cells the model that predicted cell ``i`` was fitted on."""
        return self.train_index[int(self.fold[i])]


def cross_fitted_predictions(
    pool: Pool,
    last_cycle: int = 100,
    model: str = "DischargeModel",
    *,
    folds: int = 5,
    seed: int = 0,
    coverage: float = 0.9,
) -> EarlyPredictions:
    """Early predictions at N = ``last_cycle`` for every cell from models that never saw it.

    Folds are grouped by policy (cells sharing a policy are predicted together by a model
    trained on neither). ``model`` is a class name of :mod:`casip.life.early`.
    """
    from casip.life import early

    cls = getattr(early, model, None)
    if not (isinstance(cls, type) and issubclass(cls, early._EarlyLifeModel)):
        raise CasipInputError(
            Problem(
                "model",
                "not an early-life model",
                model,
                "VarianceModel, DischargeModel or FullModel",
            ),
            source=_SOURCE,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the glitched cycles of cells 2 and 9 are named once
        X = early.feature_matrix(pool.curves, last_cycle=last_cycle)
    r = early.cross_validated_interval(
        cls(), X, pool.lives, folds=folds, seed=seed, groups=pool.policies, coverage=coverage
    )
    return EarlyPredictions(
        last_cycle=int(last_cycle),
        model=model,
        predicted=r["predicted"],
        low=r["low"],
        high=r["high"],
        fold=r["fold"],
        train_index=r["train_index"],
        coverage_level=coverage,
        mape_percent=r["mape_percent"],
        coverage=r["coverage"],
    )


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


@dataclass
class Trace:
    """What one strategy spent and recommended over one seed.

    ``steps`` holds one row per change of evidence: ``channel_cycles``, ``calendar_cycles``,
    ``round``, ``recommended`` (a policy string or None) and ``regret`` [cycles] (NaN before
    the first recommendation).
    """

    strategy: str
    seed: int
    steps: list[dict] = field(default_factory=list)
    total_channel_cycles: float = 0.0
    total_calendar_cycles: float = 0.0
    early_stopped: int = 0
    to_end_of_life: int = 0

    def first_settled(self, ok) -> dict | None:
        """The first step from which ``ok(policy)`` holds to the end (None if never)."""
        hit = None
        for s in self.steps:
            if s["recommended"] is not None and ok(s["recommended"]):
                hit = hit or s
            else:
                hit = None
        return hit


class _Ledger:
    """Channel jobs (start, end) and the recommendation after each change of evidence."""

    def __init__(self, trace: Trace, truth: dict[str, float], best_life: float):
        self.trace, self.truth, self.best_life = trace, truth, best_life
        self.jobs: list[tuple[float, float]] = []

    def run(self, start: float, cycles: float) -> float:
        self.jobs.append((start, start + cycles))
        return start + cycles

    def spent(self, t: float) -> float:
        return float(sum(min(e, t) - s for s, e in self.jobs if s < t))

    def record(self, t: float, rnd: int, policy: str | None) -> None:
        regret = self.best_life - self.truth[policy] if policy is not None else float("nan")
        self.trace.steps.append(
            {
                "channel_cycles": self.spent(t),
                "calendar_cycles": float(t),
                "round": rnd,
                "recommended": policy,
                "regret": float(regret),
            }
        )

    def close(self) -> None:
        end = max((e for _, e in self.jobs), default=0.0)
        self.trace.total_channel_cycles = self.spent(end)
        self.trace.total_calendar_cycles = float(end)


def _to_end_of_life(pool: Pool, seed: int, channels: int, strategy: str) -> Trace:
    """Exhaustive or random search: cells in a random order, each to end of life, on
    ``channels`` channels refilled as soon as a cell ends."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pool.cells))
    truth = pool.policy_life()
    best_life = max(truth.values())
    trace = Trace(strategy, seed)
    led = _Ledger(trace, truth, best_life)
    free = [(0.0, ch) for ch in range(channels)]
    heapq.heapify(free)
    ends = []
    for i in order:
        t0, ch = heapq.heappop(free)
        end = led.run(t0, pool.lives[i])
        heapq.heappush(free, (end, ch))
        ends.append((end, int(i)))
    ends.sort()
    measured: dict[str, list[float]] = {}
    for k, (t, i) in enumerate(ends):
        c = pool.cells[i]
        measured.setdefault(c.policy, []).append(c.life)
        done = k == len(ends) - 1
        if strategy == "random" or done:
            rec = max(measured, key=lambda p: np.mean(measured[p]))
            led.record(t, k // channels, rec)
    trace.to_end_of_life = len(ends)
    led.close()
    return trace


def _campaign(
    pool: Pool,
    early: EarlyPredictions,
    seed: int,
    channels: int,
    continue_per_round: int,
) -> Trace:
    from casip.campaign import Objective, Observation, Parameter, Space, best, early_stop, propose
    from casip.campaign.evidence import sigma_from_interval

    n = early.last_cycle
    space = Space(
        [
            Parameter(
                "c1_C",
                low=min(c.point["c1_C"] for c in pool.cells),
                high=max(c.point["c1_C"] for c in pool.cells),
            ),
            Parameter(
                "soc_switch",
                low=min(c.point["soc_switch"] for c in pool.cells),
                high=max(c.point["soc_switch"] for c in pool.cells),
            ),
            Parameter(
                "c2_C",
                low=min(c.point["c2_C"] for c in pool.cells),
                high=max(c.point["c2_C"] for c in pool.cells),
            ),
        ]
    )
    objectives = [Objective("life", "max", log=True)]
    truth = pool.policy_life()
    trace = Trace("campaign", seed)
    led = _Ledger(trace, truth, max(truth.values()))
    key_of = {i: c.cell for i, c in enumerate(pool.cells)}
    untested = set(range(len(pool.cells)))
    observations: list = []
    running: list[tuple[float, int]] = []  # (end time, cell) of cells continued to end of life
    measured: dict[int, float] = {}
    t, rnd = 0.0, 0

    def policy_of(point: dict) -> str:
        for c in pool.cells:
            if all(abs(c.point[k] - float(point[k])) < 1e-9 for k in c.point):
                return c.policy
        raise CasipInputError(
            Problem("best", "recommended point is not a pool policy", point), source=_SOURCE
        )

    def recommend() -> str | None:
        if not observations:
            return None
        b = best(space, objectives, observations)
        return policy_of(b["point"] if isinstance(b, dict) and "point" in b else b.point)

    def finish(end: float, i: int) -> None:
        c = pool.cells[i]
        measured[i] = c.life
        observations.append(
            Observation(
                point=dict(c.point),
                values={"life": c.life},
                kind="measured",
                candidate_id=key_of[i],
            )
        )

    while untested or running:
        free = channels - len(running)
        if free == 0 or not untested:
            end, i = heapq.heappop(running)
            t = end
            finish(end, i)
            led.record(t, rnd, recommend())
            continue
        rnd += 1
        ids = sorted(untested)
        cands = [{**pool.cells[i].point} for i in ids]
        # replicates=True: the pool passed is the untested cells only; two cells may share a
        # policy (4.8C(80%)-4.8C), and the second must stay proposable after the first.
        props = propose(
            space,
            objectives,
            [],
            observations,
            batch=min(free, len(ids)),
            candidates=cands,
            seed=seed * 1000 + rnd,
            replicates=True,
        )
        chosen: list[int] = []
        for p in props:
            match = [
                i
                for i in ids
                if i not in chosen
                and all(abs(pool.cells[i].point[k] - float(p.point[k])) < 1e-9 for k in p.point)
            ]
            if match:  # a point proposed twice in one batch with one cell left is dropped
                chosen.append(match[0])
        if not chosen:
            raise CasipInputError(
                Problem("propose", "no pool candidate proposed", len(ids), "an untested cell"),
                source=_SOURCE,
            )
        t0 = t
        for i in chosen:
            led.run(t0, n)
            untested.discard(i)
        t = t0 + n
        # continued cells that ended during these N cycles report first
        while running and running[0][0] <= t:
            end, i = heapq.heappop(running)
            finish(end, i)
        for i in chosen:
            c = pool.cells[i]
            sd = sigma_from_interval(
                float(early.low[i]), float(early.high[i]), level=early.coverage_level, log=True
            )
            observations.append(
                Observation(
                    point=dict(c.point),
                    values={"life": float(early.predicted[i])},
                    sigma={"life": sd},
                    kind="early",
                    candidate_id=key_of[i],
                    cycles=n,
                )
            )
        # incumbent: best measured life, else the best lower bound among early predictions
        tested = [i for i in range(len(pool.cells)) if i not in untested]
        if measured:
            inc_low = max(measured.values())
            inc_value = inc_low
        else:
            inc_low = max(float(early.low[i]) for i in tested)
            inc_value = max(float(early.predicted[i]) for i in tested)
        keep = []
        for i in chosen:
            stop, _reason = early_stop(
                float(early.low[i]), float(early.high[i]), incumbent_low=inc_low, threshold=None
            )
            if stop:
                trace.early_stopped += 1
            elif early.predicted[i] >= inc_value * (1 - 1e-12) or not measured:
                keep.append(i)
        keep.sort(key=lambda i: -early.predicted[i])
        for i in keep[:continue_per_round]:
            end = led.run(t, pool.lives[i] - n)
            heapq.heappush(running, (end, i))
            trace.to_end_of_life += 1
        led.record(t, rnd, recommend())
    led.close()
    return trace


def replay_strategy(
    strategy: str,
    pool: Pool,
    seed: int,
    *,
    channels: int = 4,
    early: EarlyPredictions | None = None,
    continue_per_round: int = 1,
) -> Trace:
    """Replay one strategy (``"exhaustive"``, ``"random"`` or ``"campaign"``) for one seed."""
    if strategy not in STRATEGIES:
        raise CasipInputError(
            Problem("strategy", "unknown", strategy, str(list(STRATEGIES))), source=_SOURCE
        )
    if not (isinstance(channels, int) and channels >= 1):
        raise CasipInputError(
            Problem("channels", "must be a positive integer", channels), source=_SOURCE
        )
    if strategy == "campaign":
        if early is None:
            raise CasipInputError(
                Problem(
                    "early",
                    "the campaign needs early predictions",
                    expected="cross_fitted_predictions(pool, N)",
                ),
                source=_SOURCE,
            )
        return _campaign(pool, early, seed, channels, continue_per_round)
    return _to_end_of_life(pool, seed, channels, strategy)


@dataclass
class ReplayResult:
    """Traces of every strategy and seed, with the pool's truth and noise level."""

    traces: dict[str, list[Trace]]
    best_policy: str
    top3: list[str]
    best_life: float
    noise: dict
    early: EarlyPredictions | None
    channels: int

    def summary(self):
        """One row per strategy: medians (and quartiles) over seeds.

        Columns: ``cycles_to_best`` (channel-cycles until the recommendation is the true best
        policy and stays so), ``cycles_to_top3``, ``calendar_to_best``, ``total_cycles``,
        ``total_calendar``, ``final_regret``, ``p_final_within_noise`` (fraction of seeds whose
        final regret is within one noise sd), ``found_best`` (fraction of seeds that end on
        the best policy), ``early_stopped``, ``to_end_of_life``, ``seeds``.
        """
        import pandas as pd

        rows = []
        top3 = set(self.top3)
        for name, traces in self.traces.items():

            def q(vals):
                v = np.array([x for x in vals if x is not None], dtype=float)
                return (
                    (float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75)))
                    if len(v)
                    else (np.nan,) * 3
                )

            hit = [t.first_settled(lambda p: p == self.best_policy) for t in traces]
            hit3 = [t.first_settled(lambda p: p in top3) for t in traces]
            final = [t.steps[-1]["regret"] for t in traces]
            med, lo, hi = q([h["channel_cycles"] if h else None for h in hit])
            rows.append(
                {
                    "strategy": name,
                    "seeds": len(traces),
                    "cycles_to_best": med,
                    "cycles_to_best_q1": lo,
                    "cycles_to_best_q3": hi,
                    "cycles_to_top3": q([h["channel_cycles"] if h else None for h in hit3])[0],
                    "calendar_to_best": q([h["calendar_cycles"] if h else None for h in hit])[0],
                    "found_best": float(np.mean([h is not None for h in hit])),
                    "total_cycles": q([t.total_channel_cycles for t in traces])[0],
                    "total_calendar": q([t.total_calendar_cycles for t in traces])[0],
                    "final_regret": float(np.median(final)),
                    "p_final_within_noise": float(
                        np.mean(np.array(final) <= self.noise["sd_cycles"])
                    ),
                    "early_stopped": float(np.median([t.early_stopped for t in traces])),
                    "to_end_of_life": float(np.median([t.to_end_of_life for t in traces])),
                }
            )
        return pd.DataFrame(rows)


def run_replay(
    folder: str | Path,
    seeds: Sequence[int] = tuple(range(50)),
    strategies: Sequence[str] = STRATEGIES,
    *,
    channels: int = 4,
    last_cycle: int = 100,
    model: str = "DischargeModel",
    continue_per_round: int = 1,
    predictor_seed: int = 0,
    pool: Pool | None = None,
    early: EarlyPredictions | None = None,
) -> ReplayResult:
    """Replay ``strategies`` over ``seeds`` on the Severson pool of ``folder``.

    Parameters
    ----------
    folder : path
        ``.../severson`` (train/, train_cycle_lives.csv, train_charging_policies.csv).
    seeds : sequence of int
        One replay per seed and strategy (the order of testing, the proposals' tie-breaks).
    strategies : sequence of str
        Any of :data:`STRATEGIES`.
    channels : int
        Tester channels run in parallel.
    last_cycle : int
        N: the cycles a campaign test runs before its early prediction (11..100).
    model : str
        Early-life model class (:mod:`casip.life.early`) used, cross-fitted, by the campaign.
    continue_per_round : int
        At most this many cells of a campaign batch continue to end of life.
    predictor_seed : int
        Seed of the cross-fitting folds.
    pool, early : optional
        Already loaded pool / cross-fitted predictions (else computed here).
    """
    pool = pool or load_pool(folder)
    if "campaign" in strategies and early is None:
        early = cross_fitted_predictions(pool, last_cycle, model, seed=predictor_seed)
    truth = pool.policy_life()
    ranked = sorted(truth, key=lambda p: -truth[p])
    traces = {
        s: [
            replay_strategy(
                s,
                pool,
                int(seed),
                channels=channels,
                early=early,
                continue_per_round=continue_per_round,
            )
            for seed in seeds
        ]
        for s in strategies
    }
    return ReplayResult(
        traces=traces,
        best_policy=ranked[0],
        top3=ranked[:3],
        best_life=truth[ranked[0]],
        noise=noise_level(pool),
        early=early,
        channels=channels,
    )


# --------------------------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------------------------


def regret_curves(result: ReplayResult, grid: np.ndarray | None = None) -> dict:
    """Regret against channel-cycles on a common grid: per strategy (median, q1, q3) arrays.

    Each seed's regret is a step function of the channel-cycles spent (NaN before its first
    recommendation); the quantiles are over the seeds that have a recommendation.
    """
    if grid is None:
        top = max(t.total_channel_cycles for ts in result.traces.values() for t in ts)
        grid = np.linspace(0, top, 400)
    out = {"grid": grid}
    for name, traces in result.traces.items():
        m = np.full((len(traces), len(grid)), np.nan)
        for j, tr in enumerate(traces):
            x = np.array([s["channel_cycles"] for s in tr.steps])
            y = np.array([s["regret"] for s in tr.steps])
            idx = np.searchsorted(x, grid, side="right") - 1
            ok = idx >= 0
            m[j, ok] = y[idx[ok]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-NaN columns before any recommendation
            out[name] = (
                np.nanmedian(m, axis=0),
                np.nanpercentile(m, 25, axis=0),
                np.nanpercentile(m, 75, axis=0),
            )
    return out


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def regret_figures(result: ReplayResult, title: str | None = None):
    """Regret [cycles] vs channel-cycles spent: median and interquartile band per strategy,
    with the cell-to-cell noise level as a horizontal line (a :class:`casip.report.Figures`)."""
    import plotly.graph_objects as go

    from casip import palette
    from casip.report import Figures, _mpl_figure

    n = result.early.last_cycle if result.early is not None else None
    title = title or (
        f"Replay on the 41 Severson cells ({result.channels} channels"
        + (f", early prediction at {n} cycles)" if n else ")")
    )
    curves = regret_curves(result)
    grid = curves["grid"]
    fig = _mpl_figure(8.5, 5.0)
    ax = fig.subplots()
    pfig = go.Figure()
    for k, name in enumerate(result.traces):
        med, q1, q3 = curves[name]
        colour = palette.PALETTE[k % len(palette.PALETTE)]
        seeds = len(result.traces[name])
        label = f"{name} (median, IQR over {seeds} seeds)"
        if name == "exhaustive":
            # one recommendation, at the end: a point with the spread of its cost
            tot = np.array([t.total_channel_cycles for t in result.traces[name]])
            ax.plot(
                [np.median(tot)],
                [0],
                "D",
                color=colour,
                markersize=8,
                label=f"exhaustive (recommends at the end: {np.median(tot):.0f})",
            )
            pfig.add_trace(
                go.Scatter(
                    x=[float(np.median(tot))],
                    y=[0],
                    mode="markers",
                    name="exhaustive",
                    marker={"color": colour, "size": 10, "symbol": "diamond"},
                )
            )
            continue
        ax.fill_between(grid, q1, q3, color=colour, alpha=0.2, step="post")
        ax.step(grid, med, where="post", color=colour, lw=1.8, ls=palette.linestyle(k), label=label)
        pfig.add_trace(
            go.Scatter(
                x=grid, y=q3, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
            )
        )
        pfig.add_trace(
            go.Scatter(
                x=grid,
                y=q1,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=_rgba(colour, 0.2),
                showlegend=False,
                hoverinfo="skip",
            )
        )
        pfig.add_trace(
            go.Scatter(
                x=grid, y=med, mode="lines", name=label, line={"color": colour, "shape": "hv"}
            )
        )
    sd = result.noise["sd_cycles"]
    if np.isfinite(sd):
        ax.axhline(sd, color="grey", ls="--", lw=1)
        ax.text(
            0.99,
            sd,
            f"cell-to-cell sd {sd:.0f} cycles ",
            color="grey",
            va="bottom",
            ha="right",
            transform=ax.get_yaxis_transform(),
            fontsize=8,
        )
        pfig.add_hline(
            y=sd,
            line_dash="dash",
            line_color="grey",
            annotation_text=f"cell-to-cell sd {sd:.0f} cycles",
        )
    ax.set_xlim(0, float(grid[-1]) * 1.03)
    ax.set_ylim(bottom=-30)
    ax.set_xlabel("channel-cycles spent")
    ax.set_ylabel(f"regret [cycles] (best policy {result.best_life:.0f} cycles)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    pfig.update_layout(
        title=title,
        template="plotly_white",
        xaxis={"title": {"text": "channel-cycles spent"}},
        yaxis={"title": {"text": "regret [cycles]"}},
    )
    return Figures(title=title, png=fig, html=pfig)


__all__ = [
    "STRATEGIES",
    "EarlyPredictions",
    "Pool",
    "PoolCell",
    "ReplayResult",
    "Trace",
    "charge_time_0_80_min",
    "cross_fitted_predictions",
    "load_policies",
    "load_pool",
    "noise_level",
    "regret_curves",
    "regret_figures",
    "replay_strategy",
    "run_replay",
]
