"""Organisation-level differentially private releases of the consortium benchmark.

This module is pure (no database, no HTTP): it turns the counted items of one KPI into one
*release* — three quantiles, a histogram over fixed bins and an estimate of the number of
contributing organisations — with a stated privacy loss. The noise and the privacy accounting
of every measurement come from OpenDP (https://opendp.org); nothing here draws random numbers.

The privacy unit is the organisation
------------------------------------
Members are competitors: what must stay hidden is an *organisation's* data, however many items
it submits. Each organisation therefore enters a release as exactly :data:`CONTRIBUTIONS` values
(``c = 3``): the quantiles of its own counted items at levels 1/6, 1/2 and 5/6 (for one item,
three copies of it), clipped to the KPI's public range (:data:`RANGES`). Adding or removing
one organisation — all its items, whatever they are, including items chosen by an attacker —
changes the input dataset by at most ``c`` records in the symmetric distance, and OpenDP's
privacy maps are evaluated at ``d_in = c``. A release is thus ``epsilon``-differentially
private with respect to the presence of one organisation (pure DP, ``MaxDivergence``); replacing
one organisation's data by any other costs at most ``2 * epsilon``. Equal weight per
organisation (``c`` values each) also means no organisation shapes more than its share of the
distribution, however many items it submits.

Measurements of one release (each a share of the release's epsilon, basic composition)
--------------------------------------------------------------------------------------
1. **Organisation count** (``COUNT_SHARE``): the number of values (``make_count``) with the
   discrete Laplace mechanism (``then_laplace``), L1 sensitivity ``c``, divided by ``c`` and
   clipped at zero (post-processing).
2. What else is measured is chosen from that *noisy* count (adaptive composition; the choice
   is post-processing of a released value). Below :data:`QUARTILES_FROM_ORGS` organisations the
   rest of the release goes to the median alone; from there on, ``HISTOGRAM_SHARE`` of the
   rest goes to a **histogram** (each value put in one of the KPI's fixed public bins by
   ``make_find_bin``, counted per bin by ``make_count_by_categories``, discrete Laplace noise,
   L1 sensitivity ``c``; counts divided by ``c`` are "organisations per bin", clipped at zero)
   and the remainder is split over the **quantiles** p25, p50 and p75.
3. **Quantiles**: OpenDP's ``make_private_quantile`` (a score over a public grid of
   candidates, selected with report-noisy-max / permute-and-flip; Smith 2011; McKenna and
   Sheldon 2020). It and the histogram constructors are marked ``contrib`` by OpenDP (not yet
   vetted by its maintainers): :func:`enable` switches that feature on, and
   ``docs/security.md`` says so in the threat model. Quantiles are sorted afterwards
   (post-processing).

The fixed bins and candidate grids are public and physically motivated (below); they never
come from the data, so their edges reveal nothing.

References
----------
.. [1] C. Dwork, F. McSherry, K. Nissim, A. Smith, "Calibrating noise to sensitivity in private
   data analysis", TCC 2006.
.. [2] A. Smith, "Privacy-preserving statistical estimation with optimal convergence rates",
   STOC 2011.
.. [3] R. McKenna, D. Sheldon, "Permute-and-Flip: a new mechanism for differentially private
   selection", NeurIPS 2020.
.. [4] The OpenDP Library, https://docs.opendp.org (version 0.16).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: values each organisation contributes to a release (its own quantiles at these levels)
CONTRIBUTION_LEVELS: tuple[float, ...] = (1 / 6, 1 / 2, 5 / 6)
CONTRIBUTIONS = len(CONTRIBUTION_LEVELS)
#: published quantile levels (name -> level)
QUANTILES: dict[str, float] = {"p25": 0.25, "p50": 0.50, "p75": 0.75}
#: below this noisy number of organisations only the count and the median are released (the
#: histogram and the quartiles would be mostly noise: see the utility study in docs/security.md)
QUARTILES_FROM_ORGS = 25.0
#: share of a release's epsilon spent on the organisation count
COUNT_SHARE = 0.25
#: share of the rest spent on the histogram (large consortia); the quantiles share what is left
HISTOGRAM_SHARE = 0.25


@dataclass(frozen=True)
class KpiRange:
    """The public range of one KPI: clipping bounds, quantile candidates and histogram bins.

    Attributes
    ----------
    lo, hi : float
        Values are clipped to ``[lo, hi]`` before any measurement.
    step : float
        Spacing of the candidate grid of the quantiles (the published resolution).
    edges : tuple of float
        Histogram bin edges (``lo`` first, ``hi`` last); bins are ``[e_i, e_(i+1))``.
    source : str
        Why these bounds: physical limits, never the data.
    """

    lo: float
    hi: float
    step: float
    edges: tuple[float, ...]
    source: str

    def candidates(self) -> list[float]:
        n = round((self.hi - self.lo) / self.step)
        return [round(self.lo + i * self.step, 10) for i in range(n + 1)]


#: public ranges per KPI (add one here for every new KPI: releases refuse unknown KPIs)
RANGES: dict[str, KpiRange] = {
    "specific_energy": KpiRange(
        0.0,
        600.0,
        2.0,
        (0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0),
        "Cell Wh/kg. Upper bound above the CASIP 2030+ target (500 Wh/kg) and the materials-level "
        "ceilings of lithium-metal cells computed by the design engine; bins of 100 Wh/kg put "
        "the roadmap stages (200-300, 400, 500 Wh/kg) on bin edges.",
    ),
    "energy_density": KpiRange(
        0.0,
        1600.0,
        5.0,
        (0.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0, 1600.0),
        "Cell Wh/L. Upper bound above the 2030+ target of 1000 Wh/L with room for anode-free "
        "stacks; bins of 200 Wh/L put the 800 and 1000 Wh/L targets on edges.",
    ),
    "cost": KpiRange(
        0.0,
        400.0,
        1.0,
        (0.0, 50.0, 75.0, 100.0, 150.0, 200.0, 400.0),
        "Cell $/kWh. LFP cells sold near 50-60 $/kWh in 2025 (BNEF battery price survey, Dec "
        "2024/2025); 400 $/kWh bounds early solid-state pilot cells. Assumed bins.",
    ),
    "charge_time": KpiRange(
        0.0,
        180.0,
        0.5,
        (0.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 180.0),
        "Minutes for a 10-80 % charge: 0 to 3 h (a C/2 charge takes 84 min). Bins at the "
        "usual fast-charge marketing marks (10, 15, 20, 30 min). Assumed.",
    ),
    "cycle_life": KpiRange(
        0.0,
        10000.0,
        25.0,
        (0.0, 500.0, 1000.0, 2000.0, 3000.0, 5000.0, 10000.0),
        "Cycles to 80 % capacity: LFP cells are rated 3,000-10,000 cycles in datasheets; "
        "10,000 bounds the projections. Assumed bins.",
    ),
    "measured_cycle_life": KpiRange(
        0.0,
        10000.0,
        25.0,
        (0.0, 500.0, 1000.0, 2000.0, 3000.0, 5000.0, 10000.0),
        "As cycle_life; the Severson et al. (2019) LFP cells lived 150-2,300 cycles.",
    ),
    "pack_specific_energy": KpiRange(
        0.0,
        500.0,
        2.0,
        (0.0, 100.0, 150.0, 200.0, 250.0, 300.0, 500.0),
        "Pack Wh/kg of a design in the benchmark's cell-to-pack template. A pack cannot pass "
        "its cells: the cell range's top (600 Wh/kg) times a cell-to-pack mass share of 0.85 "
        "(the template's overheads leave 0.65-0.80 for the reference cells) rounds to 500. "
        "Bins: LFP cell-to-pack packs sit near 140-160 Wh/kg (BYD Blade pack), NMC packs near "
        "170-200, the 2030 semi-/solid-state packs aim at 250-300. Assumed bins.",
    ),
    "pack_energy_density": KpiRange(
        0.0,
        1000.0,
        5.0,
        (0.0, 200.0, 300.0, 400.0, 500.0, 600.0, 1000.0),
        "Pack Wh/L in the cell-to-pack template: the cell range's top (1600 Wh/L) times the "
        "template's cell-to-pack volume share (below 0.6) rounds to 1000. Bins of 100 Wh/L "
        "over the range of today's packs (LFP cell-to-pack near 250-300). Assumed bins.",
    ),
    "pack_cost": KpiRange(
        0.0,
        600.0,
        2.0,
        (0.0, 75.0, 100.0, 125.0, 150.0, 200.0, 300.0, 600.0),
        "Pack $/kWh in the template: cells at cell cost (materials + scrap + manufacturing) + "
        "pack materials + assembly. LFP packs sold near 80-100 $/kWh in China in 2024-2025 "
        "(BNEF battery price survey, Dec 2024); 600 bounds pilot solid-state cells (400 $/kWh "
        "materials plus manufacturing and pack). Assumed bins.",
    ),
}


class UnknownRange(LookupError):
    """A KPI without a public range: it cannot be released."""


@functools.cache
def enable() -> None:
    """Switch on OpenDP's ``contrib`` features (its quantile and histogram constructors)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")


def organisation_values(rows: list[tuple], kpi: str) -> dict[int, np.ndarray]:
    """The :data:`CONTRIBUTIONS` clipped values each organisation contributes.

    Parameters
    ----------
    rows : list of (value, organisation id, ...)
        The counted items of one KPI.
    kpi : str
        Key of :data:`RANGES` (the clipping bounds).

    Returns
    -------
    dict
        organisation id -> array of ``CONTRIBUTIONS`` values: its own quantiles at
        :data:`CONTRIBUTION_LEVELS` (linear interpolation), clipped to the public range.
    """
    rng = _range(kpi)
    by_org: dict[int, list[float]] = {}
    for row in rows:
        value = float(row[0])
        if np.isfinite(value):
            by_org.setdefault(int(row[1]), []).append(value)
    return {
        org: np.clip(np.quantile(np.asarray(v), CONTRIBUTION_LEVELS), rng.lo, rng.hi)
        for org, v in by_org.items()
    }


def _range(kpi: str) -> KpiRange:
    try:
        return RANGES[kpi]
    except KeyError:
        raise UnknownRange(
            f"KPI {kpi!r} has no public range in casip.platform.privacy.RANGES: "
            "add one before releasing it"
        ) from None


def _vector_input():
    """OpenDP's input domain and metric of every measurement: a vector of floats, neighbours
    at symmetric distance (records added or removed)."""
    import opendp.prelude as dp

    enable()
    return dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()


def _calibrated(make, epsilon: float):
    """``make(scale)`` at the noise scale whose privacy loss for one organisation
    (``d_in = CONTRIBUTIONS``) is ``epsilon``: (measurement, its epsilon, the scale)."""
    import opendp.prelude as dp

    scale = dp.binary_search_param(make, d_in=CONTRIBUTIONS, d_out=epsilon, T=float)
    meas = make(scale)
    return meas, float(meas.map(CONTRIBUTIONS)), scale


@functools.lru_cache(maxsize=256)
def _histogram_measurement(kpi: str, epsilon: float):
    import opendp.prelude as dp

    domain, metric = _vector_input()
    inner = list(_range(kpi).edges[1:-1])
    bins = list(range(len(inner) + 1))
    return _calibrated(
        lambda scale: (
            dp.t.make_find_bin(domain, metric, edges=inner)
            >> dp.t.then_count_by_categories(categories=bins, null_category=False)
            >> dp.m.then_laplace(scale)
        ),
        epsilon,
    )


@functools.lru_cache(maxsize=256)
def _count_measurement(epsilon: float):
    import opendp.prelude as dp

    domain, metric = _vector_input()
    return _calibrated(
        lambda scale: dp.t.make_count(domain, metric) >> dp.m.then_laplace(scale), epsilon
    )


@functools.lru_cache(maxsize=256)
def _quantile_measurement(kpi: str, alpha: float, epsilon: float):
    import opendp.prelude as dp

    domain, metric = _vector_input()
    cands = _range(kpi).candidates()
    return _calibrated(
        lambda scale: dp.m.make_private_quantile(
            domain, metric, dp.max_divergence(), candidates=cands, alpha=alpha, scale=scale
        ),
        epsilon,
    )


def release(rows: list[tuple], kpi: str, epsilon: float, k: int = 3) -> dict:
    """One differentially private release of a KPI's distribution across organisations.

    Parameters
    ----------
    rows : list of (value, organisation id, ...)
        The KPI's counted items (all organisations; none of this leaves the function raw).
    kpi : str
        Key of :data:`RANGES`.
    epsilon : float
        Privacy loss of the whole release for one organisation (add/remove neighbours).
    k : int
        The release is marked ``shown`` only when the *noisy* number of organisations is at
        least ``k`` (post-processing: costs nothing, reveals nothing more).

    Returns
    -------
    dict
        ``{shown, reason, n_organisations, quantiles{p25,p50,p75}, histogram{edges, counts},
        epsilon, mechanisms}``. ``n_organisations`` and the histogram ``counts`` are noisy
        organisation counts (one decimal); quantiles are on the KPI's candidate grid; p25 and
        p75 are ``None`` when the noisy count is below :data:`QUARTILES_FROM_ORGS`.
    """
    if not (epsilon > 0 and np.isfinite(epsilon)):
        raise ValueError(f"epsilon={epsilon!r}: expected a positive finite number")
    rng = _range(kpi)
    values = organisation_values(rows, kpi)
    data = [float(v) for org in sorted(values) for v in values[org]]
    # 1. the number of organisations (a count of records, divided by c: post-processing)
    count_meas, count_eps, count_scale = _count_measurement(epsilon * COUNT_SHARE)
    n_orgs = round(max(float(count_meas(data)) / CONTRIBUTIONS, 0.0), 1)
    spent = count_eps
    # 2. what else is measured is decided from that *noisy* count (adaptive composition: the
    # choice is post-processing of a released value): a small consortium spends the rest of
    # the release on the median alone, a larger one on a histogram and three quartiles
    large = n_orgs >= QUARTILES_FROM_ORGS
    rest = epsilon - count_eps
    counts = None
    hist_scale = None
    if large:
        hist_meas, hist_eps, hist_scale = _histogram_measurement(kpi, rest * HISTOGRAM_SHARE)
        raw = np.asarray(hist_meas(data), dtype=float) / CONTRIBUTIONS
        counts = [round(float(c), 1) for c in np.clip(raw, 0.0, None)]
        spent += hist_eps
        rest -= hist_eps
    levels = QUANTILES if large else {"p50": QUANTILES["p50"]}
    eps_q = rest / len(levels)
    measured: dict[str, float] = {}
    q_scale = None
    for name, level in levels.items():
        meas, q_eps, q_scale = _quantile_measurement(kpi, level, eps_q)
        measured[name] = float(meas(data))
        spent += q_eps
    ordered = sorted(measured.values())  # post-processing: monotone quantiles
    measured = dict(zip(levels, ordered, strict=True))
    quantiles = {name: measured.get(name) for name in QUANTILES}

    shown = n_orgs >= k
    return {
        "shown": shown,
        "reason": None if shown else "fewer than k organisations (noisy count)",
        "n_organisations": n_orgs,
        "quantiles": quantiles if shown else None,
        "histogram": {"edges": list(rng.edges), "counts": counts} if shown and large else None,
        "epsilon": round(spent, 12),
        "mechanisms": {
            "privacy_unit": f"one organisation = {CONTRIBUTIONS} values (its own quantiles)",
            "count": {
                "mechanism": "discrete Laplace on the number of values (OpenDP)",
                "sensitivity_l1": CONTRIBUTIONS,
                "scale": count_scale,
                "epsilon": count_eps,
            },
            "histogram": {
                "mechanism": "discrete Laplace on counts per fixed bin (OpenDP)",
                "sensitivity_l1": CONTRIBUTIONS,
                "scale": hist_scale,
            },
            "quantiles": {
                "mechanism": "OpenDP make_private_quantile over a public candidate grid",
                "candidate_step": rng.step,
                "scale": q_scale,
                "epsilon_each": eps_q,
            },
            "clip": [rng.lo, rng.hi],
        },
    }
