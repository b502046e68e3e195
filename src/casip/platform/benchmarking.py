"""Anonymised consortium benchmarking and the roadmap towards the CASIP targets.

Members see where their own designs and results stand in the consortium's distribution of each
key performance indicator (KPI) without learning any other organisation's numbers; sponsors see
the aggregates only. Everything is computed on the server from a few column-only SQL queries.

KPIs
----
==========================  ==============================================  ========  ======
kpi                         source                                          unit      better
==========================  ==============================================  ========  ======
``specific_energy``         ``Design.specific_energy_Wh_kg``                Wh/kg     higher
``energy_density``          ``Design.energy_density_Wh_L``                  Wh/L      higher
``cost``                    ``Design.cost_usd_kWh``                         $/kWh     lower
``charge_time``             ``Simulation.charge_time_min`` (fast_charge)    min       lower
``cycle_life``              ``LifetimeResult.cycles_to_80`` (projected)     cycles    higher
``measured_cycle_life``     ``TestDataset.cycle_life`` (measured)           cycles    higher
==========================  ==============================================  ========  ======

Anonymisation rules
-------------------
1. **Items that count.** An item counts when :func:`casip.platform.access.aggregate_clause`
   admits it (shared consortium or public, or private with ``benchmark_opt_in``) *and* its owner
   organisation is a member or an institute, *and* its KPI value is not null (simulations: kind
   ``fast_charge`` only). Private items that did not opt in never count, not even for their own
   organisation. The platform's reference library (organisation kind ``platform``) never counts;
   its reference cells are returned as labelled markers (``references``) instead.
2. **k organisations.** A KPI's distribution is shown only when at least ``k`` distinct
   organisations (``Settings.k_anonymity``, default 3) have items that count; otherwise
   ``shown`` is false, ``reason`` says why and no quantile or histogram is given. Neither the
   response nor the cache holds organisation names, slugs or ids.
3. **Equal weight per organisation (no dominance).** Each organisation's items together weigh
   ``1 / n_organisations`` (an item of an organisation with ``m`` counted items weighs
   ``1 / (m * n_organisations)``). The distribution is thus the average of the organisations'
   own distributions: no organisation shapes more than ``1/k`` (at most a third) of it, however
   many items it submits, so a consortium of three where one member holds 95 % of the items
   does not publish that member's distribution. (A cap on item counts would still let a
   dominant organisation fill its capped share with chosen values; equal weights are simpler
   and strictly tighter.)
4. **Quantiles, never extremes.** p10, p25, p50 (median), p75 and p90 are weighted quantiles
   with midpoint plotting positions: sort the values ``x_1 <= ... <= x_n`` with weights
   ``w_i``, put each at ``c_i = w_1 + ... + w_(i-1) + w_i / 2`` and interpolate linearly in
   ``(c_i, x_i)``. A level below ``c_1`` or above ``c_n`` would be the lowest or highest item
   itself: it is reported as ``null``. Minimum and maximum are never reported.
5. **Histogram.** ``edges`` are multiples of a "nice" step (1, 2, 2.5 or 5 times a power of
   ten) chosen to give about ten bins over ``[p10, p90]`` (the quantile levels evaluated with
   end clamping, rounded outward to the step, so the outer edges reveal an extreme to within a
   bin width at most). The outer bins are open: the first also counts the values below
   ``edges[0]``, the last those above ``edges[-1]``. Adjacent bins are then merged, from the
   low end, until every bin holds items of at least ``k`` organisations (a short remainder at
   the high end joins the last bin), so bins may differ in width. ``counts`` are numbers of
   items per bin (they sum to ``n_items``).
6. **Own items.** A member or institute user also gets ``own``: its organisation's items
   with a value (private ones included, whether they count or not; ``counted`` says which),
   newest (highest id) first, at most ``own_limit`` per KPI. Each one's standing is
   interpolated on the *published* quantiles only —
   ``percentile`` is linear between (p10, 10), (p25, 25), (p50, 50), (p75, 75), (p90, 90) and
   ``band`` names the interval (``"below p10"``, ``"p10-p25"``, ... ``"above p90"``;
   ``percentile`` is null outside [p10, p90]). Probing with one's own items therefore reveals
   nothing beyond the published quantiles. Sponsors own no items and get ``own: []``.

Roadmap rules
-------------
For every calendar quarter from the earliest counted item (by ``created_at``) to the current
quarter, and for Wh/kg and Wh/L: each organisation's best value among its counted items created
up to the end of that quarter; the point's ``best`` is the **k-th highest** of those
organisation bests — the level that at least ``k`` organisations have each reached — and is
null while fewer than ``k`` organisations have contributed. The single best value of a period
belongs to one organisation and is never published (not even unnamed); the k-th best is shared
by ``k`` organisations. Since organisation bests only grow with time and new organisations only
add candidates, the series is monotone non-decreasing. The three CASIP stages (``stages``) and
the reference cells (``references``, LFP first) are drawn beside it.

Caching
-------
The anonymised part is cached per database and ``k``, keyed by a data-version fingerprint taken
on every request:

* a counter of this process's committed writes to designs, simulations, lifetime results,
  test datasets and organisations (SQLAlchemy session events: ``after_flush`` notes an insert,
  update or delete of such a row, ``after_commit`` bumps the counter, a rollback forgets it;
  bulk ``UPDATE``/``DELETE`` statements through the ORM count too), so every write made through
  this server - create, edit, share, opt in, delete - shows up on the very next request;
* ``count(*)`` and ``max(id)`` of those five tables in one query: both are answered from an
  index, unlike ``max(updated_at)`` (not indexed: a full scan of the wide design rows cost
  ~90 ms on 10,000 designs), and they see inserts and deletes made by other server processes.

A snapshot is also dropped after :data:`MAX_AGE_S` seconds (30 s): the bound on how stale an
*update* made by another process (several workers on one database) or by hand in SQL can be,
and what starts a new quarter in the roadmap. Rebuilding is serialised per key, so the concurrent
requests that follow a write wait for one rebuild instead of each doing it. The API caches whole
answers per organisation on the same data version (``casip.platform.api.benchmark``).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.platform.access import Actor, aggregate_clause
from casip.platform.data_version import db_key, fingerprint
from casip.platform.designs import stages
from casip.platform.models import (
    Design,
    LifetimeResult,
    Organisation,
    OrgKind,
    Simulation,
    TestDataset,
    utcnow,
)

#: quantile levels reported (name -> level)
QUANTILES: dict[str, float] = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}
#: organisation kinds whose items count in the distributions
COUNTED_KINDS = (OrgKind.MEMBER.value, OrgKind.INSTITUTE.value)
#: about this many histogram bins over [p10, p90]
HISTOGRAM_BINS = 10
#: a cached snapshot is rebuilt after this many seconds even if the fingerprint did not move
MAX_AGE_S = 30.0
#: default and largest number of own items listed per KPI
OWN_LIMIT = 50
OWN_LIMIT_MAX = 500
#: the KPIs of the roadmap
ROADMAP_KPIS = ("specific_energy", "energy_density")
HIDDEN_REASON = "fewer than k organisations"


@dataclass(frozen=True)
class Kpi:
    """One benchmarked quantity: where it is stored and which way is better."""

    kpi: str
    label: str
    unit: str
    better: str  # "higher" | "lower"
    model: type
    column: str
    where: tuple = ()

    @property
    def col(self) -> Any:
        return getattr(self.model, self.column)


KPIS: dict[str, Kpi] = {
    k.kpi: k
    for k in (
        Kpi(
            "specific_energy", "Specific energy", "Wh/kg", "higher", Design, "specific_energy_Wh_kg"
        ),
        Kpi("energy_density", "Energy density", "Wh/L", "higher", Design, "energy_density_Wh_L"),
        Kpi("cost", "Cell cost", "$/kWh", "lower", Design, "cost_usd_kWh"),
        Kpi(
            "charge_time",
            "10-80 % charge time",
            "min",
            "lower",
            Simulation,
            "charge_time_min",
            (Simulation.kind == "fast_charge",),
        ),
        Kpi(
            "cycle_life",
            "Cycle life (projected)",
            "cycles",
            "higher",
            LifetimeResult,
            "cycles_to_80",
        ),
        Kpi(
            "measured_cycle_life",
            "Measured cycle life",
            "cycles",
            "higher",
            TestDataset,
            "cycle_life",
        ),
    )
}


class UnknownKpi(LookupError):
    """A KPI name not in :data:`KPIS`."""

    def __init__(self, name: str):
        super().__init__(f"unknown KPI {name!r}: expected one of {', '.join(KPIS)}")
        self.name = name
        self.allowed = list(KPIS)


# ---------------------------------------------------------------------------------- statistics


def org_weights(orgs: np.ndarray) -> np.ndarray:
    """Item weights giving every organisation the same total weight (rule 3); sum is 1."""
    _, inverse, counts = np.unique(orgs, return_inverse=True, return_counts=True)
    return 1.0 / (counts[inverse] * len(counts))


def weighted_quantiles(values: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """Rule 4: midpoint weighted quantiles; levels outside ``[c_1, c_n]`` are ``None``."""
    order = np.argsort(values, kind="stable")
    x, w = values[order], weights[order] / weights.sum()
    c = np.cumsum(w) - w / 2
    out: dict[str, float | None] = {}
    for name, q in QUANTILES.items():
        out[name] = None if (q < c[0] or q > c[-1]) else float(np.interp(q, c, x))
    return out


def _clamped_quantile(x: np.ndarray, c: np.ndarray, q: float) -> float:
    return float(np.interp(q, c, x))


def nice_step(span: float, bins: int = HISTOGRAM_BINS) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten near ``span / bins`` (positive span)."""
    raw = span / bins
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * power * (1 + 1e-9):
            return m * power
    return 10.0 * power  # pragma: no cover


def histogram(values: np.ndarray, weights: np.ndarray, orgs: np.ndarray, k: int) -> dict:
    """Rule 5: nice edges over [p10, p90], open outer bins, merged until each has k orgs."""
    order = np.argsort(values, kind="stable")
    x, w = values[order], weights[order] / weights.sum()
    c = np.cumsum(w) - w / 2
    lo, hi = _clamped_quantile(x, c, 0.10), _clamped_quantile(x, c, 0.90)
    span = hi - lo
    if not span > 0:
        span = abs(lo) * 0.1 or 1.0
        lo, hi = lo - span / 2, hi + span / 2
    step = nice_step(span)
    first = math.floor(lo / step + 1e-9)
    last = max(math.ceil(hi / step - 1e-9), first + 1)
    fine = [round(i * step, 10) for i in range(first, last + 1)]
    nb = len(fine) - 1
    # fine bin i is [fine[i], fine[i+1]); outer bins open; the last also takes its upper edge
    idx = np.clip(np.searchsorted(np.asarray(fine), values, side="right") - 1, 0, nb - 1)
    edges, counts = [fine[0]], []
    n, members = 0, set()
    for b in range(nb):
        sel = idx == b
        n += int(sel.sum())
        members.update(orgs[sel].tolist())
        if len(members) >= k:
            edges.append(fine[b + 1])
            counts.append(n)
            n, members = 0, set()
    if n:  # a short tail joins the last bin
        counts[-1] += n
    edges[-1] = fine[-1]
    return {"edges": edges, "counts": counts}


def standing(value: float, quantiles: dict[str, float | None]) -> tuple[float | None, str | None]:
    """Rule 6: (percentile, band) of ``value`` from the published quantiles only."""
    pts = [(v, QUANTILES[n] * 100) for n, v in quantiles.items() if v is not None]
    if not pts:
        return None, None
    xs = [p[0] for p in pts]
    names = [n for n, v in quantiles.items() if v is not None]
    if value < xs[0]:
        return None, f"below {names[0]}"
    if value > xs[-1]:
        return None, f"above {names[-1]}"
    pct = float(np.interp(value, xs, [p[1] for p in pts]))
    band = names[-1]
    for i in range(len(xs) - 1):
        if xs[i] <= value <= xs[i + 1]:
            band = f"{names[i]}-{names[i + 1]}"
            break
    if len(xs) == 1:
        band = names[0]
    return round(pct, 1), band


# ------------------------------------------------------------------------------------- queries


def counted_rows(kpi: Kpi, extra: tuple = ()) -> sa.Select:
    """``SELECT value, owner_org_id, created_at`` of the items of ``kpi`` that count (rule 1)."""
    m = kpi.model
    return (
        sa.select(kpi.col, m.owner_org_id, m.created_at)
        .join(Organisation, Organisation.id == m.owner_org_id)
        .where(
            aggregate_clause(m),
            Organisation.kind.in_(COUNTED_KINDS),
            kpi.col.is_not(None),
            *kpi.where,
            *extra,
        )
    )


def _design_rows(session: Session) -> dict[str, list]:
    """All three design KPIs in one query (value columns, owner, creation time only)."""
    rows = session.execute(
        sa.select(
            Design.specific_energy_Wh_kg,
            Design.energy_density_Wh_L,
            Design.cost_usd_kWh,
            Design.owner_org_id,
            Design.created_at,
        )
        .join(Organisation, Organisation.id == Design.owner_org_id)
        .where(aggregate_clause(Design), Organisation.kind.in_(COUNTED_KINDS))
    ).all()
    out: dict[str, list] = {"specific_energy": [], "energy_density": [], "cost": []}
    for se, ed, cost, org, at in rows:
        for name, v in (("specific_energy", se), ("energy_density", ed), ("cost", cost)):
            if v is not None and math.isfinite(v):
                out[name].append((float(v), org, at))
    return out


def _references(session: Session) -> dict[str, list[dict]]:
    """Reference markers per KPI: the platform library's items with a value (LFP first)."""
    out: dict[str, list[dict]] = {name: [] for name in KPIS}
    platform = sa.select(Organisation.id).where(Organisation.kind == OrgKind.PLATFORM.value)
    rows = session.execute(
        sa.select(
            Design.name,
            Design.reference_id,
            Design.specific_energy_Wh_kg,
            Design.energy_density_Wh_L,
            Design.cost_usd_kWh,
        )
        .where(Design.owner_org_id.in_(platform), Design.reference_id.is_not(None))
        .order_by(Design.reference_id != "lfp-blade", Design.reference_id)
    ).all()
    for name, ref, se, ed, cost in rows:
        for kpi, v in (("specific_energy", se), ("energy_density", ed), ("cost", cost)):
            if v is not None:
                out[kpi].append({"name": name, "reference_id": ref, "value": float(v)})
    for kpi in ("charge_time", "cycle_life", "measured_cycle_life"):
        spec = KPIS[kpi]
        m = spec.model
        stmt = (
            sa.select(m.name, Design.reference_id, spec.col)
            .outerjoin(Design, Design.id == m.design_id)
            .where(m.owner_org_id.in_(platform), spec.col.is_not(None), *spec.where)
            .order_by(m.id)
            .limit(20)
        )
        for name, ref, v in session.execute(stmt).all():
            out[kpi].append({"name": name, "reference_id": ref, "value": float(v)})
    return out


# ---------------------------------------------------------------------------- anonymised part


def distribution(rows: list[tuple], k: int) -> dict:
    """The anonymised distribution of ``(value, org, created_at)`` rows (rules 2-5)."""
    orgs = np.asarray([r[1] for r in rows], dtype=np.int64)
    values = np.asarray([r[0] for r in rows], dtype=float)
    n_orgs = len(np.unique(orgs))
    out: dict[str, Any] = {"n_items": len(rows), "n_organisations": n_orgs}
    if n_orgs < k:
        out.update(shown=False, reason=HIDDEN_REASON, quantiles=None, histogram=None)
        return out
    w = org_weights(orgs)
    out.update(
        shown=True,
        reason=None,
        quantiles=weighted_quantiles(values, w),
        histogram=histogram(values, w, orgs, k),
    )
    return out


def quarter_of(t: dt.datetime) -> tuple[int, int]:
    return t.year, (t.month - 1) // 3 + 1


def _quarters(first: tuple[int, int], last: tuple[int, int]) -> list[tuple[int, int]]:
    out, (y, q) = [], first
    while (y, q) <= last:
        out.append((y, q))
        y, q = (y + 1, 1) if q == 4 else (y, q + 1)
    return out


def roadmap_series(
    rows_by_kpi: dict[str, list[tuple]], k: int, now: dt.datetime | None = None
) -> list[dict]:
    """Per quarter, the k-th highest of the organisations' cumulative bests (Roadmap rules)."""
    now = now or utcnow()
    stamps = [r[2] for name in ROADMAP_KPIS for r in rows_by_kpi.get(name, ()) if r[2]]
    if not stamps:
        return [{"kpi": name, "unit": KPIS[name].unit, "points": []} for name in ROADMAP_KPIS]
    quarters = _quarters(quarter_of(min(stamps)), max(quarter_of(now), quarter_of(max(stamps))))
    series = []
    for name in ROADMAP_KPIS:
        by_quarter: dict[tuple[int, int], list[tuple[float, int]]] = {}
        for v, org, at in rows_by_kpi.get(name, ()):
            if at is not None:
                by_quarter.setdefault(quarter_of(at), []).append((v, org))
        best: dict[int, float] = {}
        points = []
        for yq in quarters:
            for v, org in by_quarter.get(yq, ()):
                if v > best.get(org, -math.inf):
                    best[org] = v
            ranked = sorted(best.values(), reverse=True)
            points.append(
                {
                    "quarter": f"{yq[0]}-Q{yq[1]}",
                    "best": ranked[k - 1] if len(ranked) >= k else None,
                    "n_organisations": len(ranked),
                }
            )
        series.append({"kpi": name, "unit": KPIS[name].unit, "points": points})
    return series


@dataclass
class _Snapshot:
    fingerprint: tuple
    built: float
    kpis: dict[str, dict]
    roadmap: dict


def _build(session: Session, k: int, fp: tuple) -> _Snapshot:
    rows = _design_rows(session)
    for name in ("charge_time", "cycle_life", "measured_cycle_life"):
        rows[name] = [
            (float(v), org, at)
            for v, org, at in session.execute(counted_rows(KPIS[name])).all()
            if math.isfinite(v)
        ]
    refs = _references(session)
    kpis = {}
    for name, spec in KPIS.items():
        kpis[name] = {
            "kpi": name,
            "label": spec.label,
            "unit": spec.unit,
            "better": spec.better,
            **distribution(rows[name], k),
            "references": refs[name],
        }
    road_refs = [
        {
            "name": se["name"],
            "reference_id": se["reference_id"],
            "specific_energy_Wh_kg": se["value"],
            "energy_density_Wh_L": next(
                (
                    d["value"]
                    for d in refs["energy_density"]
                    if d["reference_id"] == se["reference_id"]
                ),
                None,
            ),
        }
        for se in refs["specific_energy"]
    ]
    roadmap = {
        "k": k,
        "rule": (
            "best = the k-th highest of the organisations' best values so far "
            "(reached by at least k organisations); null while fewer than k contributed"
        ),
        "stages": stages(),
        "series": roadmap_series(rows, k),
        "references": road_refs,
    }
    return _Snapshot(fp, time.monotonic(), kpis, roadmap)


class _Cache:
    """Snapshots per (database URL, k); rebuilt once per fingerprint change (see Caching)."""

    def __init__(self, size: int = 32):
        self.size = size
        self.items: OrderedDict[tuple, _Snapshot] = OrderedDict()
        self.lock = threading.Lock()
        self.build_locks: dict[tuple, threading.Lock] = {}

    def get(self, session: Session, k: int) -> _Snapshot:
        bind = session.get_bind()
        key = (db_key(session), id(bind), k)
        fp = fingerprint(session)
        snap = self._fresh(key, fp)
        if snap is not None:
            return snap
        with self.lock:
            build_lock = self.build_locks.setdefault(key, threading.Lock())
        with build_lock:
            snap = self._fresh(key, fp)
            if snap is None:
                snap = _build(session, k, fp)
                with self.lock:
                    self.items[key] = snap
                    self.items.move_to_end(key)
                    while len(self.items) > self.size:
                        old, _ = self.items.popitem(last=False)
                        self.build_locks.pop(old, None)
            return snap

    def _fresh(self, key: tuple, fp: tuple) -> _Snapshot | None:
        with self.lock:
            snap = self.items.get(key)
        if snap is None or snap.fingerprint != fp or time.monotonic() - snap.built > MAX_AGE_S:
            return None
        return snap

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


CACHE = _Cache()


# ---------------------------------------------------------------------------------- own items


def own_items(
    session: Session, actor: Actor, names: list[str], limit: int = OWN_LIMIT
) -> dict[str, list[dict]]:
    """The caller's organisation's items with a value per KPI, newest first (rule 6, before
    standings). Sponsors get empty lists."""
    out: dict[str, list[dict]] = {name: [] for name in names}
    if actor.is_sponsor or not names:
        return out
    by_model: dict[type, list[Kpi]] = {}
    for name in names:
        by_model.setdefault(KPIS[name].model, []).append(KPIS[name])
    for model, specs in by_model.items():
        where = [model.owner_org_id == actor.org_id]
        for spec in specs:
            where += list(spec.where)
        if len(specs) == 1:
            where.append(specs[0].col.is_not(None))
        rows = session.execute(
            sa.select(model.id, model.name, model.visibility, model.benchmark_opt_in)
            .add_columns(*[s.col for s in specs])
            .where(*where)
            .order_by(model.id.desc())  # the owner index gives this order: no sort
            .limit(limit * len(specs))
        ).all()
        for row in rows:
            item_id, name, visibility, opt_in, *values = row
            for spec, v in zip(specs, values, strict=True):
                if v is None or not math.isfinite(v) or len(out[spec.kpi]) >= limit:
                    continue
                out[spec.kpi].append(
                    {
                        "id": item_id,
                        "name": name,
                        "value": float(v),
                        "counted": visibility != "private" or bool(opt_in),
                    }
                )
    return out


def _with_own(entry: dict, own: list[dict]) -> dict:
    result = dict(entry)
    placed = []
    for item in own:
        pct, band = standing(item["value"], entry["quantiles"]) if entry["shown"] else (None, None)
        placed.append({**item, "percentile": pct, "band": band})
    result["own"] = placed
    return result


# ------------------------------------------------------------------------------ public functions


def check_kpi(name: str) -> Kpi:
    """The KPI called ``name``, else :class:`UnknownKpi` listing the allowed names."""
    try:
        return KPIS[name]
    except KeyError:
        raise UnknownKpi(name) from None


def benchmark(
    session: Session,
    actor: Actor,
    k: int,
    kpis: list[str] | None = None,
    own_limit: int = OWN_LIMIT,
) -> dict:
    """The anonymised benchmark of ``kpis`` (all by default) with the caller's own items.

    Parameters
    ----------
    session : Session
        Database session.
    actor : Actor
        The caller; member and institute users get their organisation's items placed in the
        distributions, sponsors get aggregates only.
    k : int
        Minimum number of organisations behind a shown distribution (``Settings.k_anonymity``).
    kpis : list of str, optional
        KPI names (keys of :data:`KPIS`); unknown names raise :class:`UnknownKpi`.
    own_limit : int
        At most this many own items per KPI (newest first).

    Returns
    -------
    dict
        ``{k, kpis: [{kpi, label, unit, better, shown, reason, n_items, n_organisations,
        quantiles{p10,p25,p50,p75,p90}, histogram{edges, counts}, references, own}]}``; see
        the module docstring for the rules.
    """
    names = [check_kpi(n).kpi for n in (kpis or list(KPIS))]
    snap = CACHE.get(session, k)
    own = own_items(session, actor, names, own_limit)
    return {"k": k, "kpis": [_with_own(snap.kpis[n], own[n]) for n in names]}


def roadmap(session: Session, actor: Actor, k: int) -> dict:
    """The consortium roadmap: per quarter, the k-th best organisation's best Wh/kg and Wh/L
    so far, against the CASIP stages and the reference cells (same for every caller).

    Returns
    -------
    dict
        ``{k, rule, stages: [{stage, years, specific_energy_Wh_kg, energy_density_Wh_L,
        source}], series: [{kpi, unit, points: [{quarter, best, n_organisations}]}],
        references: [{name, reference_id, specific_energy_Wh_kg, energy_density_Wh_L}]}``.
    """
    del actor  # the roadmap is aggregate-only: identical for members and sponsors
    return copy.deepcopy(CACHE.get(session, k).roadmap)
