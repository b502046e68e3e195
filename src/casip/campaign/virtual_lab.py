"""A virtual lab for closed-loop fast-charge campaigns: physics and ageing models as the truth.

The second benchmark of issue 18 with a known answer. A *ground truth* maps a two-step fast
charge (``c1_C`` from 10 % SOC to ``soc_switch``, then ``c2_C`` to 80 %; the protocol family
of Severson et al. 2019 and Attia et al. 2020, :mod:`casip.campaign.protocols`) on one cell of
the project to

* its 10-80 % **charge time** from the project's DFN physics (:mod:`casip.physics.charge`,
  PyBaMM; a voltage limit reached hands over to the next step or to constant voltage, so a
  harsh protocol takes longer than its nominal time), and
* its **cycle life** from a base fade given by the project's BLAST-Lite ageing model
  (:mod:`casip.life.blast`) plus a lithium-plating fade driven by the physics' anode
  potential.

Cell. ``lfp-blade`` (:mod:`casip.cells`, LFP/graphite on PyBaMM's Prada2013 set, the A123
LFP/graphite cell): the chemistry of the Severson/Attia cells, and a cell that charges
10-80 % in 7-20 minutes in this space. (The NMC811 pouch of the project, thick automotive
electrodes, reaches its 4.2 V limit at once above 3C and charges 10-80 % in about 33 minutes
whatever the protocol, so it has nothing to optimise here.)

Life model (each step an assumption where it says so)::

    D(p)  = integral over the charge of max(0, -phi_an(t)) dt          [V s]
    q(p)  = q_blast + k * D(p)**beta                                  [capacity lost per cycle]
    N(p)  = 0.2 / q(p)                                                [cycles to 80 %]

``phi_an`` is the anode potential vs Li at the negative/separator interface (the plating
criterion of :mod:`casip.physics.charge`; Arora, Doyle & White, J. Electrochem. Soc. 146,
3543, 1999). *Assumption*: the capacity lost to plating per cycle is proportional to the
plating overpotential integrated over time, ``D`` -- the linear (small-overpotential)
Butler-Volmer plating current, which is how lithium-plating ageing models start (Yang, Leng,
Zhang, Ge & Wang, J. Power Sources 360, 28, 2017); the exponent ``beta`` (fitted, bounded to
[0.5, 4]) lets the rate grow faster than linearly, as the Tafel branch of the same kinetics
does at larger overpotentials. ``q_blast = 0.2 / N_blast`` is the fade per
equivalent full cycle of BLAST-Lite's LFP/graphite Sony-Murata model (Naumann et al. 2018,
2020; Gasper et al. 2022) under a duty inside its tested range (1C charge, 2C discharge, 80 %
depth, 30 degC as in Severson's chamber, 20 cycles a day) -- protocol-independent, because
BLAST-Lite's charge-rate stressor is a time-averaged |dSOC/dt| tested only to 1C; it is
used as published, so no protocol lives longer than BLAST-Lite's cell. ``k`` and ``beta``
are *calibrated* (least squares in log10 life) so that the model's life at the one-step
policies ``cC(80%)-cC`` reproduces the lives of the Severson et al. training cells with those
policies (``train_charging_policies.csv``: 3.6C 2160, 4C 1434, 4.4C 1074, 4.8C 461 and 870,
5.4C 870 cycles): the virtual cell ages like the Severson cells at one-step rates, and the
two-step protocols are the model's extrapolation.

The truth is computed on a grid (``c1_C`` x ``soc_switch`` x ``c2_C``, 8 x 6 x 6 by default,
one PyBaMM model built once and solved per protocol, about 0.05 s each) and interpolated with
monotone piecewise-cubic (PCHIP) interpolation of the charge time and of the plating dose
(:class:`scipy.interpolate.PchipInterpolator` axis by axis onto a 51 x 51 x 41 grid, then
linear in the charge time and log10 life). *Assumption*: the interpolant is the truth between
the nodes (the benchmark needs a known answer, not a perfect DFN).

Noise (:func:`noise_model`):

* cell-to-cell: a tested cell's life is ``N(p) * 10**e``, ``e ~ N(0, s_cell^2)``, with
  ``s_cell`` the pooled sd of log10 life among Severson training cells sharing a policy
  (computed from ``train_charging_policies.csv``; the only repeated policy there is
  4.8C(80%)-4.8C with 461 and 870 cycles, so ``s_cell`` = 0.195 decade has one degree of
  freedom -- the data's one estimate, kept as it is);
* early prediction at cycle 100 (cost 100 cycles): ``life * 10**u``, ``u ~ N(0, s_early^2)``,
  with ``s_early`` from the cross-validated MAPE of the project's full early-life model
  (10.7 %, 5-fold mean over seeds 0-9, docs/longevity.md) for normal log residuals,
  ``MAPE ~= ln(10) * s * sqrt(2 / pi)``, so ``s_early`` = 0.058 decade; the predictor's 90 %
  interval is ``prediction * 10**(+-1.645 s_early)``;
* end of life measured: the cell's life, at the cost of that many cycles.

Strategies compared over seeds (:func:`run_virtual_lab`), ``channels`` tester channels:

* ``grid`` -- a full-factorial grid (3 levels per parameter) of the feasible protocols (known
  constraint: 10-80 % charge time from the physics <= 15 min), each cell to end of life in a
  random order; recommendation: the best measured life so far;
* ``random`` -- feasible protocols drawn uniformly, each to end of life; same recommendation;
* ``campaign`` -- :func:`casip.campaign.propose` in continuous mode (known constraint as
  above), early predictions as ``"early"`` evidence, :func:`casip.campaign.early_stop` against
  the incumbent, the most promising new cell of each round continued to end of life
  (``"measured"``), recommendation :func:`casip.campaign.best` (best posterior mean).

Costs are channel-cycles; regret is ``1 - N(recommended) / N*`` with ``N*`` the optimum of the
truth under the constraint (:meth:`GroundTruth.optimum`, a fine grid).

References
----------
K. A. Severson et al., Nature Energy 4, 383-391 (2019), https://doi.org/10.1038/s41560-019-0356-8.
P. M. Attia et al., Nature 578, 397-402 (2020), https://doi.org/10.1038/s41586-020-1994-5.
P. Arora, M. Doyle, R. E. White, J. Electrochem. Soc. 146, 3543 (1999).
X.-G. Yang, Y. Leng, G. Zhang, S. Ge, C.-Y. Wang, J. Power Sources 360, 28-40 (2017).
M. Naumann et al., J. Energy Storage 17, 153 (2018); J. Power Sources 451, 227666 (2020);
P. Gasper et al., J. Electrochem. Soc. 169, 080518 (2022) (the BLAST-Lite LFP model).
"""

from __future__ import annotations

import csv
import functools
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from casip import palette
from casip.errors import CasipInputError, Problem

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

_SOURCE = "campaign virtual lab"
#: Protocol ranges (Severson/Attia-like C-rates; the switch as a fraction of SOC, the charge
#: starting at 10 %).
RANGES: dict[str, tuple[float, float]] = {
    "c1_C": (3.0, 8.0),
    "soc_switch": (0.2, 0.7),
    "c2_C": (2.0, 6.0),
}
NAMES = ("c1_C", "soc_switch", "c2_C")
SOC_START, SOC_END = 0.1, 0.8
MAX_CHARGE_MIN = 15.0
#: Severson one-step policies used to calibrate the plating fade (C-rate -> lives, cycles),
#: read from ``train_charging_policies.csv`` by :func:`severson_one_step_lives`.
DEFAULT_CELL = "lfp-blade"
#: BLAST-Lite model and duty of the base fade (inside the model's tested range).
BLAST_MODEL = "Lfp_Gr_SonyMurata3Ah_Battery"
#: Cross-validated MAPE of the full early-life model, 5-fold mean over seeds 0-9
#: (docs/longevity.md, asserted in tests/life/test_early.py).
EARLY_MAPE = 0.107
EARLY_CYCLES = 100
STRATEGIES = ("grid", "random", "campaign")
#: Nodes of the fine grid the truth is interpolated on (and its optimum searched).
FINE = (51, 51, 41)
_Z90 = 1.6448536269514722


def _err(field_: str, message: str, value=None, expected=None) -> CasipInputError:
    return CasipInputError(Problem(field_, message, value, expected), source=_SOURCE)


def default_data_folder() -> Path:
    """``../shared/data/severson`` next to the checkout (``CASIP_SEVERSON`` overrides)."""
    env = os.environ.get("CASIP_SEVERSON")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared" / "data" / "severson"


def _policy_rows(folder: str | Path) -> list[tuple[str, float]]:
    path = Path(folder) / "train_charging_policies.csv"
    if not path.is_file():
        raise _err(
            "folder",
            "no train_charging_policies.csv",
            str(folder),
            "the Severson data folder (../shared/data/severson)",
        )
    with path.open(newline="") as fh:
        return [(r["charging_policy"].strip(), float(r["cycle_life"])) for r in csv.DictReader(fh)]


def severson_one_step_lives(folder: str | Path) -> dict[float, list[float]]:
    """Lives of the Severson training cells charged at one rate to 80 % (``cC(80%)-cC``).

    Returns
    -------
    dict
        C-rate -> list of cycle lives.
    """
    from casip.campaign.protocols import parse_policy

    out: dict[float, list[float]] = {}
    for policy, life in _policy_rows(folder):
        p = parse_policy(policy)
        if abs(p["soc_switch"] - 0.8) < 1e-9 and abs(p["c1_C"] - p["c2_C"]) < 1e-9:
            out.setdefault(p["c1_C"], []).append(life)
    return dict(sorted(out.items()))


def noise_model(folder: str | Path | None = None, early_mape: float = EARLY_MAPE) -> dict:
    """The noise of the virtual lab (see the module docstring).

    Returns
    -------
    dict
        ``cell_sd_log10`` (pooled sd of log10 life among cells sharing a policy), ``cell_dof``,
        ``early_sd_log10`` (from ``early_mape``), ``early_mape``.
    """
    rows = _policy_rows(folder or default_data_folder())
    groups: dict[str, list[float]] = {}
    for policy, life in rows:
        groups.setdefault(policy, []).append(math.log10(life))
    rep = [v for v in groups.values() if len(v) >= 2]
    dof = sum(len(v) - 1 for v in rep)
    if dof == 0:
        raise _err("folder", "no policy has two cells: no cell-to-cell spread", str(folder))
    ss = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in rep)
    early = early_mape / (math.log(10.0) * math.sqrt(2.0 / math.pi))
    return {
        "cell_sd_log10": math.sqrt(ss / dof),
        "cell_dof": dof,
        "early_sd_log10": early,
        "early_mape": early_mape,
    }


# --------------------------------------------------------------------------------------------
# Physics: charge time and plating dose of a protocol
# --------------------------------------------------------------------------------------------


def _charger(cell: str):
    """The physics of the lab: one built DFN model of ``cell`` for every protocol, 10-80 %."""
    from casip.physics.protocols import ProtocolCharger

    return ProtocolCharger(cell, SOC_START, SOC_END)


def blast_base_life(years: float = 1.6) -> float:
    """Equivalent full cycles to 80 % of BLAST-Lite's LFP/graphite model, protocol-independent.

    Duty (an assumption, chosen inside the model's tested range): 20 cycles a day of 80 %
    depth, 1C charge, 2C discharge, 30 degC (the temperature of Severson's chamber).
    """
    from casip.life.blast import project
    from casip.life.duty import DutyCycle

    duty = DutyCycle(
        name="virtual lab base",
        cycles_per_day=20.0,
        depth_of_discharge=0.8,
        charge_c_rate=1.0,
        discharge_c_rate=2.0,
        temperature_C=30.0,
        rest_soc=0.9,
        order="discharge_first",
        years=years,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        frame = project(BLAST_MODEL, duty, step_s=120.0)
    efc = frame.attrs.get("efc_to_80pct")
    if efc is None:
        raise _err("years", "BLAST-Lite did not reach 80 % capacity", years, "a longer horizon")
    return float(efc)


# --------------------------------------------------------------------------------------------
# The ground truth
# --------------------------------------------------------------------------------------------


@dataclass
class GroundTruth:
    """Charge time and cycle life of every protocol, interpolated from a physics grid.

    Attributes
    ----------
    axes : dict
        Grid nodes per parameter.
    time_min, dose_Vs, min_anode_V : ndarray
        Physics on the grid (shape of the axes).
    base_life : float
        BLAST-Lite's cycles to 80 % (the protocol-independent base fade).
    k, beta : float
        Calibrated plating-fade coefficient [(V s)^-beta] and exponent.
    calibration : dict
        C-rate -> (Severson lives, model life) of the one-step policies.
    cell : str
    """

    axes: dict[str, np.ndarray]
    time_min: np.ndarray
    dose_Vs: np.ndarray
    min_anode_V: np.ndarray
    base_life: float
    k: float
    beta: float
    calibration: dict = field(default_factory=dict)
    cell: str = DEFAULT_CELL

    def __post_init__(self) -> None:
        from scipy.interpolate import PchipInterpolator, RegularGridInterpolator

        # Separable monotone cubic (PCHIP) interpolation of the physics grid onto a fine
        # tensor grid, axis by axis (fast on a tensor grid; scipy's RegularGridInterpolator
        # "pchip" evaluates point by point), then linear interpolation on the fine grid.
        self.fine_axes = tuple(np.linspace(*RANGES[n], m) for n, m in zip(NAMES, FINE, strict=True))
        t, d = self.time_min, self.dose_Vs
        for ax, n in enumerate(NAMES):
            t = PchipInterpolator(self.axes[n], t, axis=ax)(self.fine_axes[ax])
            d = PchipInterpolator(self.axes[n], d, axis=ax)(self.fine_axes[ax])
        self.fine_time = t
        self.fine_life = self._life_of_dose(d)
        self._t = RegularGridInterpolator(self.fine_axes, t)
        self._logl = RegularGridInterpolator(self.fine_axes, np.log10(self.fine_life))

    def _life_of_dose(self, d: np.ndarray) -> np.ndarray:
        return 0.2 / (0.2 / self.base_life + self.k * np.clip(d, 0.0, None) ** self.beta)

    def _array(self, points) -> np.ndarray:
        if isinstance(points, dict):
            points = [points]
        if isinstance(points, np.ndarray):
            X = np.atleast_2d(points).astype(float)
        else:
            X = np.array([[float(p[n]) for n in NAMES] for p in points], dtype=float)
        for j, n in enumerate(NAMES):
            lo, hi = RANGES[n]
            if np.any(X[:, j] < lo - 1e-9) or np.any(X[:, j] > hi + 1e-9):
                raise _err(n, "outside the virtual lab's range", X[:, j].tolist(), f"[{lo}, {hi}]")
            X[:, j] = np.clip(X[:, j], lo, hi)
        return X

    def charge_time(self, points) -> np.ndarray:
        """10-80 % charge time [min] from the physics (interpolated)."""
        return self._t(self._array(points))

    def life(self, points) -> np.ndarray:
        """True cycle life (noise-free) [cycles]."""
        return 10 ** self._logl(self._array(points))

    def known(self, point: dict) -> dict:
        """The known constraint of a point: ``{"charge_time_10_80_min": minutes}``."""
        return {"charge_time_10_80_min": float(self.charge_time(point)[0])}

    def optimum(self, max_time_min: float = MAX_CHARGE_MIN) -> tuple[dict, float]:
        """Longest true life among protocols charging in ``max_time_min`` (the fine grid)."""
        ok = self.fine_time <= max_time_min
        if not ok.any():
            raise _err("max_time_min", "no protocol is that fast", max_time_min)
        idx = np.unravel_index(int(np.argmax(np.where(ok, self.fine_life, -np.inf))), ok.shape)
        point = {
            n: float(self.fine_axes[a][i]) for a, (n, i) in enumerate(zip(NAMES, idx, strict=True))
        }
        return point, float(self.fine_life[idx])

    def feasible_fraction(self, max_time_min: float = MAX_CHARGE_MIN) -> float:
        """Fraction of the protocol box that charges within ``max_time_min``."""
        return float(np.mean(self.fine_time <= max_time_min))


def _axes(shape: Sequence[int]) -> dict[str, np.ndarray]:
    if len(shape) != 3 or any(int(m) < 2 for m in shape):
        raise _err(
            "grid", "three axis sizes of at least 2 are needed", list(shape), "e.g. (8, 6, 6)"
        )
    return {n: np.linspace(*RANGES[n], int(m)) for n, m in zip(NAMES, shape, strict=True)}


def calibrate(
    doses: dict[float, float], lives: dict[float, list[float]], base_life: float
) -> tuple[float, float]:
    """Least squares in log10 life of ``N = 0.2 / (0.2 / base_life + k D**beta)``.

    ``k > 0`` and ``0.5 <= beta <= 4`` (scipy's bounded ``least_squares``); the base fade is
    BLAST-Lite's as published (not scaled).

    Parameters
    ----------
    doses : dict
        C-rate -> plating dose of the one-step charge [V s].
    lives : dict
        C-rate -> measured lives (every cell counts once); each must be below ``base_life``.
    base_life : float
        BLAST-Lite's cycles to 80 %.

    Returns
    -------
    (k, beta)
    """
    from scipy.optimize import least_squares

    c = [r for r in lives for _ in lives[r]]
    d = np.array([doses[r] for r in c])
    y = np.log10([v for r in lives for v in lives[r]])
    if len(y) < 3 or np.any(d <= 0):
        raise _err("lives", "too few one-step cells with plating to calibrate", len(y), ">= 3")
    d_ref = float(np.median(d))

    def resid(theta):
        k, beta = math.exp(theta[0]), theta[1]
        return np.log10(0.2 / (0.2 / base_life + k * (d / d_ref) ** beta)) - y

    k0 = 0.2 / float(np.median(10**y))
    fit = least_squares(resid, x0=[math.log(k0), 1.0], bounds=([-40.0, 0.5], [5.0, 4.0]))
    k, beta = math.exp(fit.x[0]), float(fit.x[1])
    return k / d_ref**beta, beta


@functools.lru_cache(maxsize=4)
def ground_truth(
    grid: tuple[int, int, int] = (8, 6, 6),
    cell: str = DEFAULT_CELL,
    folder: str | None = None,
    base_life: float | None = None,
) -> GroundTruth:
    """Compute (once per process) the ground truth on a ``grid`` of protocols.

    Parameters
    ----------
    grid : (int, int, int)
        Nodes along ``c1_C``, ``soc_switch``, ``c2_C``.
    cell : str
        A reference cell of :mod:`casip.cells` with a graphite anode.
    folder : str, optional
        Severson data folder (calibration); :func:`default_data_folder` by default.
    base_life : float, optional
        Cycles to 80 % of the base fade; :func:`blast_base_life` (BLAST-Lite, about 10-30 s)
        when not given.

    Returns
    -------
    GroundTruth
    """
    axes = _axes(grid)
    ch = _charger(cell)
    shape = tuple(len(axes[n]) for n in NAMES)
    t = np.empty(shape)
    dose = np.empty(shape)
    amin = np.empty(shape)
    for idx in np.ndindex(shape):
        c1, s, c2 = (float(axes[n][i]) for n, i in zip(NAMES, idx, strict=True))
        r = ch.charge([(c1, s), (c2, SOC_END)])
        t[idx], dose[idx], amin[idx] = r["time_min"], r["dose_Vs"], r["min_anode_V"]
    if not np.all(np.isfinite(t)):
        raise _err("grid", "a protocol did not reach 80 % SOC", int(np.sum(~np.isfinite(t))))
    lives = severson_one_step_lives(folder or default_data_folder())
    doses = {c: ch.charge([(c, SOC_END)])["dose_Vs"] for c in lives}
    base = blast_base_life() if base_life is None else float(base_life)
    if not (math.isfinite(base) and base > 0):
        raise _err("base_life", "must be a positive number of cycles", base_life, "> 0")
    k, beta = calibrate(doses, lives, base)
    calib = {
        c: {
            "severson": lives[c],
            "model": 0.2 / (0.2 / base + k * doses[c] ** beta),
            "dose_Vs": doses[c],
        }
        for c in lives
    }
    return GroundTruth(axes, t, dose, amin, base, k, beta, calib, cell)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


@dataclass
class Trace:
    """Spend and recommendation of one strategy over one seed.

    ``steps``: one row per change of evidence, ``channel_cycles``, ``recommended`` (point) and
    ``regret`` (``1 - N(recommended) / N*``; NaN before the first recommendation).
    """

    strategy: str
    seed: int
    steps: list[dict] = field(default_factory=list)
    early_stopped: int = 0
    to_end_of_life: int = 0

    def cycles_within(self, tol: float) -> float:
        """Channel-cycles from which the regret stays <= ``tol`` (inf if it never does)."""
        hit = math.inf
        for s in self.steps:
            if math.isfinite(s["regret"]) and s["regret"] <= tol:
                hit = min(hit, s["channel_cycles"])
            else:
                hit = math.inf
        return hit

    def regret_at(self, spend: np.ndarray) -> np.ndarray:
        """Regret of the recommendation standing at each spend (NaN before the first)."""
        c = np.array([s["channel_cycles"] for s in self.steps])
        r = np.array([s["regret"] for s in self.steps])
        idx = np.searchsorted(c, spend, side="right") - 1
        out = np.where(idx >= 0, r[np.clip(idx, 0, None)], np.nan)
        return out


class _Lab:
    """Noisy cells of the truth, and the spend ledger (channel jobs)."""

    def __init__(self, truth: GroundTruth, noise: dict, seed: int, opt_life: float, trace: Trace):
        self.truth, self.noise, self.opt = truth, noise, opt_life
        self.rng = np.random.default_rng(seed)
        self.trace = trace
        self.jobs: list[tuple[float, float]] = []

    def cell(self, point: dict) -> tuple[float, float]:
        """(life of a new cell, its early prediction) for a protocol."""
        life = float(self.truth.life(point)[0]) * 10 ** self.rng.normal(
            0, self.noise["cell_sd_log10"]
        )
        pred = life * 10 ** self.rng.normal(0, self.noise["early_sd_log10"])
        return life, pred

    def run(self, start: float, cycles: float) -> float:
        self.jobs.append((start, start + cycles))
        return start + cycles

    def spent(self, t: float) -> float:
        return float(sum(min(e, t) - s for s, e in self.jobs if s < t))

    def record(self, t: float, point: dict | None) -> None:
        regret = (1.0 - float(self.truth.life(point)[0]) / self.opt) if point else math.nan
        self.trace.steps.append(
            {
                "channel_cycles": self.spent(t),
                "calendar_cycles": float(t),
                "recommended": dict(point) if point else None,
                "regret": float(regret),
            }
        )


def design_grid(
    truth: GroundTruth, levels: int = 3, max_time_min: float = MAX_CHARGE_MIN
) -> list[dict]:
    """The feasible points of a full-factorial design with ``levels`` per parameter."""
    g = [np.linspace(*RANGES[n], levels) for n in NAMES]
    X = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
    ok = truth.charge_time(X) <= max_time_min
    return [dict(zip(NAMES, map(float, x), strict=True)) for x in X[ok]]


def _random_feasible(truth: GroundTruth, rng, n: int, max_time_min: float) -> list[dict]:
    out: list[dict] = []
    while len(out) < n:
        X = np.column_stack([rng.uniform(*RANGES[m], 256) for m in NAMES])
        X = X[truth.charge_time(X) <= max_time_min]
        out += [dict(zip(NAMES, map(float, x), strict=True)) for x in X]
    return out[:n]


def _to_end_of_life(truth, noise, seed, opt, channels, budget, strategy, levels, max_time):
    trace = Trace(strategy, seed)
    lab = _Lab(truth, noise, seed, opt, trace)
    if strategy == "grid":
        pts = design_grid(truth, levels, max_time)
        pts = [pts[i] for i in lab.rng.permutation(len(pts))]
    else:
        pts = _random_feasible(truth, lab.rng, 400, max_time)
    free = [0.0] * channels
    ends: list[tuple[float, int, float]] = []
    for i, p in enumerate(pts):
        ch = int(np.argmin(free))
        if lab.spent(free[ch]) >= budget:
            break
        life, _ = lab.cell(p)
        free[ch] = lab.run(free[ch], life)
        ends.append((free[ch], i, life))
    ends.sort()
    best_i, best_life = None, -math.inf
    for t, i, life in ends:
        if life > best_life:
            best_i, best_life = i, life
        lab.record(t, pts[best_i])
        trace.to_end_of_life += 1
    return trace


def _campaign(truth, noise, seed, opt, channels, budget, max_time, n_candidates):
    from casip.campaign import (
        Constraint,
        Objective,
        Observation,
        Parameter,
        Space,
        best,
        early_stop,
        propose,
    )

    space = Space([Parameter(n, *RANGES[n]) for n in NAMES])
    objectives = [Objective("life", "max", log=True)]
    constraints = [Constraint("charge_time_10_80_min", max=max_time, known=True)]
    trace = Trace("campaign", seed)
    lab = _Lab(truth, noise, seed, opt, trace)
    sd_e = noise["early_sd_log10"]
    obs: list = []
    running: list[tuple[float, dict, float]] = []  # (end, point, life) continued to end of life
    measured: list[float] = []
    t, rnd = 0.0, 0

    def recommend() -> dict | None:
        return best(
            space,
            objectives,
            obs,
            constraints=constraints,
            known_constraints=truth.known,
            seed=seed,
        ).point

    def finish(end: float, p: dict, life: float) -> None:
        measured.append(life)
        obs.append(
            Observation(point=dict(p), values={"life": life}, kind="measured", cycles=round(life))
        )

    while lab.spent(t) < budget:
        free = channels - len(running)
        if free == 0:
            running.sort(key=lambda r: r[0])
            end, p, life = running.pop(0)
            t = end
            finish(end, p, life)
            lab.record(t, recommend())
            continue
        rnd += 1
        props = propose(
            space,
            objectives,
            constraints,
            obs,
            batch=free,
            pending=[r[1] for r in running],
            known_constraints=truth.known,
            seed=seed * 1000 + rnd,
            n_candidates=n_candidates,
        )
        new = []
        for pr in props:
            life, pred = lab.cell(pr.point)
            lab.run(t, EARLY_CYCLES)
            new.append((pr.point, life, pred))
        t += EARLY_CYCLES
        running.sort(key=lambda r: r[0])
        while running and running[0][0] <= t:
            end, p, life = running.pop(0)
            finish(end, p, life)
        half = _Z90 * sd_e
        for p, _life, pred in new:
            obs.append(
                Observation(
                    point=dict(p),
                    values={"life": pred},
                    sigma={"life": sd_e},
                    kind="early",
                    cycles=EARLY_CYCLES,
                )
            )
        if measured:
            inc_value = max(measured)
            inc_low = inc_value
        else:
            inc = max(pred for _, _, pred in new)
            inc_value, inc_low = inc, inc * 10**-half
        keep = []
        for p, life, pred in new:
            stop, _ = early_stop(
                pred * 10**-half, pred * 10**half, incumbent_low=inc_low, threshold=None
            )
            if stop:
                trace.early_stopped += 1
            elif pred >= inc_value * (1 - 1e-12) or not measured:
                keep.append((p, life, pred))
        keep.sort(key=lambda r: -r[2])
        for p, life, _pred in keep[:1]:
            running.append((lab.run(t, max(life - EARLY_CYCLES, 0.0)), p, life))
            trace.to_end_of_life += 1
        lab.record(t, recommend())
    return trace


def run_strategy(
    strategy: str,
    truth: GroundTruth,
    noise: dict,
    seed: int,
    *,
    channels: int = 4,
    budget: float = 30000.0,
    grid_levels: int = 3,
    max_time_min: float = MAX_CHARGE_MIN,
    n_candidates: int = 512,
) -> Trace:
    """Run one strategy for one seed until ``budget`` channel-cycles are committed.

    Parameters
    ----------
    strategy : {"grid", "random", "campaign"}
    truth : GroundTruth
    noise : dict
        :func:`noise_model`.
    seed : int
        Cell noise, order and the optimiser's seed.
    channels : int
        Tester channels (the campaign's batch).
    budget : float
        Channel-cycles after which no new cell is started.
    grid_levels : int
        Levels per parameter of the grid strategy.
    max_time_min : float
        The known constraint on the 10-80 % charge time.
    n_candidates : int
        Sobol candidates of each continuous proposal.
    """
    if strategy not in STRATEGIES:
        raise _err("strategy", "unknown strategy", strategy, f"one of {list(STRATEGIES)}")
    if not (isinstance(channels, int) and channels >= 1):
        raise _err("channels", "must be a positive integer", channels, ">= 1")
    if not (budget > 0 and math.isfinite(budget)):
        raise _err("budget", "must be a positive number of channel-cycles", budget, "> 0")
    _, opt = truth.optimum(max_time_min)
    if strategy == "campaign":
        return _campaign(truth, noise, seed, opt, channels, budget, max_time_min, n_candidates)
    return _to_end_of_life(
        truth, noise, seed, opt, channels, budget, strategy, grid_levels, max_time_min
    )


@dataclass
class LabResult:
    """Traces of every strategy and seed."""

    traces: dict[str, list[Trace]]
    optimum: dict
    optimum_life: float
    noise: dict
    budget: float
    channels: int

    def summary(self, tol: float = 0.1) -> dict[str, dict]:
        """Per strategy: median and quartiles of the channel-cycles until the regret stays
        within ``tol`` (``reached``: fraction of seeds that got there within the budget; the
        others count as infinite), and the median final regret."""
        out = {}
        for s, trs in self.traces.items():
            c = np.array([tr.cycles_within(tol) for tr in trs])
            fin = np.array([tr.steps[-1]["regret"] if tr.steps else math.nan for tr in trs])
            # "never" is infinite; a quantile that interpolates towards it is "never" too
            q = np.quantile(np.where(np.isfinite(c), c, 1e30), [0.25, 0.5, 0.75])
            q = np.where(q >= 1e29, math.inf, q)
            out[s] = {
                "cycles_q25": float(q[0]),
                "cycles_median": float(q[1]),
                "cycles_q75": float(q[2]),
                "reached": float(np.mean(np.isfinite(c))),
                "final_regret_median": float(np.nanmedian(fin)),
                "early_stopped_mean": float(np.mean([tr.early_stopped for tr in trs])),
                "to_end_of_life_mean": float(np.mean([tr.to_end_of_life for tr in trs])),
            }
        return out

    def curves(self, spend: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Regret against channel-cycles: median and quartiles over seeds per strategy
        (a seed with no recommendation yet counts as regret 1)."""
        spend = np.linspace(0, self.budget, 401) if spend is None else np.asarray(spend)
        out = {}
        for s, trs in self.traces.items():
            R = np.array([tr.regret_at(spend) for tr in trs])
            R = np.where(np.isnan(R), 1.0, R)
            q25, q50, q75 = np.quantile(R, [0.25, 0.5, 0.75], axis=0)
            out[s] = {"spend": spend, "q25": q25, "median": q50, "q75": q75}
        return out


def run_virtual_lab(
    truth: GroundTruth,
    seeds: Sequence[int],
    *,
    noise: dict | None = None,
    strategies: Sequence[str] = STRATEGIES,
    **kwargs,
) -> LabResult:
    """Run ``strategies`` over ``seeds`` (keyword arguments go to :func:`run_strategy`)."""
    noise = noise or noise_model()
    traces = {
        s: [run_strategy(s, truth, noise, int(k), **kwargs) for k in seeds] for s in strategies
    }
    point, life = truth.optimum(kwargs.get("max_time_min", MAX_CHARGE_MIN))
    return LabResult(
        traces,
        point,
        life,
        noise,
        float(kwargs.get("budget", 30000.0)),
        int(kwargs.get("channels", 4)),
    )


_COLOURS = {"campaign": palette.BLUE, "random": palette.VERMILLION, "grid": palette.GREEN}


def regret_figure(result: LabResult, path: str | Path, title: str | None = None) -> Path:
    """Median regret (and interquartile band) against channel-cycles, as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=120)
    for s, c in result.curves().items():
        col = _COLOURS.get(s, palette.NEUTRAL)
        x = c["spend"] / 1000.0
        ax.fill_between(x, 100 * c["q25"], 100 * c["q75"], color=col, alpha=0.18, lw=0, step="post")
        ax.plot(
            x,
            100 * c["median"],
            color=col,
            lw=2,
            drawstyle="steps-post",
            label=f"{s} (median, IQR)",
        )
    ax.set_xlabel("channel-cycles spent [thousands]")
    ax.set_ylabel("regret: 1 - life(recommended) / optimum [%]")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    ax.set_title(
        title
        or f"Virtual lab: {len(next(iter(result.traces.values())))} seeds, "
        f"{result.channels} channels, optimum {result.optimum_life:.0f} cycles"
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = [
    "NAMES",
    "RANGES",
    "STRATEGIES",
    "GroundTruth",
    "LabResult",
    "Trace",
    "blast_base_life",
    "calibrate",
    "design_grid",
    "ground_truth",
    "noise_model",
    "regret_figure",
    "run_strategy",
    "run_virtual_lab",
    "severson_one_step_lives",
]
