"""The consortium benchmark and roadmap: differentially private releases, own items placed.

Members see where their own designs and results stand in the consortium's distribution of each
key performance indicator (KPI) without learning any other organisation's numbers; sponsors see
the aggregates only. What is published about the consortium comes only from scheduled
releases, each differentially private at the level of the organisation
(:mod:`casip.platform.privacy` for the mechanisms, :mod:`casip.platform.releases` for the
schedule and the privacy-loss ledger); this module says which items count, makes the releases
when they are due and answers requests from the stored releases.

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
``pack_specific_energy``    ``Design.pack_specific_energy_Wh_kg``           Wh/kg     higher
``pack_energy_density``     ``Design.pack_energy_density_Wh_L``             Wh/L      higher
``pack_cost``               ``Design.pack_cost_usd_kWh``                    $/kWh     lower
==========================  ==============================================  ========  ======

The pack KPIs are each design's figures in the benchmark's cell-to-pack template
(:mod:`casip.pack.templates`), stored with the design's results; they follow every rule of the
cell KPIs. Each of their releases gets half the per-release epsilon
(:attr:`Kpi.epsilon_share`), so that the default plan (six KPIs at epsilon, three at epsilon/2,
four quarterly releases) spends the default yearly budget exactly (``docs/security.md``).

A new KPI needs an entry here and a public range in :data:`casip.platform.privacy.RANGES`;
its releases are charged to the same ledger as every other.

Rules
-----
1. **Items that count.** An item counts when :func:`casip.platform.access.aggregate_clause`
   admits it (shared consortium or public, or private with ``benchmark_opt_in``) *and* its owner
   organisation is a member or an institute, *and* its KPI value is a finite number
   (simulations: kind ``fast_charge`` only). The platform's reference library never counts;
   its reference cells are returned as labelled markers (``references``) instead.
2. **Releases only.** The distribution of a KPI (``n_organisations``, ``quantiles``,
   ``histogram``) is the latest scheduled release, with its date (``released_at``) and its
   privacy loss (``epsilon``); nothing is computed from the data at request time, so a write
   changes nothing until the next release. ``shown`` is false (no quantiles, no histogram)
   until a KPI has a release whose noisy organisation count reaches ``k``.
3. **Own items.** A member or institute user also gets ``own``: its organisation's items with
   a value (private ones included; ``counted`` says which count), newest first, at most
   ``own_limit`` per KPI, each placed on the *released* quantiles only: ``percentile`` is
   linear between the released levels and ``band`` names the interval (``"below p25"``,
   ``"p25-p50"``, ...). This is post-processing of a public release with the caller's own
   data: it costs no privacy and reveals nothing about anyone else. Sponsors get ``own: []``.
4. **Flagged tests.** A test dataset stored flagged by its ingestion (an unusual but real
   finding, e.g. a failed capacity check; ``details["flags"]``) does not count in
   ``measured_cycle_life`` unless included explicitly (``rows_of(..., include_flagged=True)``).
   The caller's own flagged tests are left out of ``own`` too, and ``flagged_left_out`` says
   how many; ``include_flagged`` lists them (``flagged: true``, ``counted: false``).
5. **One model.** A design KPI counts only the designs whose stored results are of the
   current design engine and price set (:func:`casip.platform.designs.current_clause`; the
   server recomputes the others at start-up, before any release, and rows that cannot be
   recomputed stay stale and out). Each release of a design KPI records the ``engine_version``
   and ``price_set`` it was made from (``model`` in the answer, ``model_current`` whether it is
   the platform's); own items are placed only on a release of the current model, and only
   when they are themselves current (``current``), never across models.
6. **Roadmap.** For every quarter with a release of Wh/kg or Wh/L, the quarter's last release:
   its median and upper quartile (the level reached by the best quarter of the consortium,
   equal weight per organisation) and its noisy organisation count; drawn against the three
   CASIP stages and the reference cells. It is built from the benchmark's releases and costs
   nothing more.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.design.version import ENGINE_VERSION
from casip.platform import privacy, releases
from casip.platform.access import Actor, aggregate_clause
from casip.platform.designs import current_clause, current_price_set, is_current, stages
from casip.platform.models import (
    Design,
    LifetimeResult,
    Organisation,
    OrgKind,
    Simulation,
    TestDataset,
)

#: quantile levels released (name -> level)
QUANTILES: dict[str, float] = dict(privacy.QUANTILES)
#: organisation kinds whose items count in the distributions
COUNTED_KINDS = (OrgKind.MEMBER.value, OrgKind.INSTITUTE.value)
#: default and largest number of own items listed per KPI
OWN_LIMIT = 50
OWN_LIMIT_MAX = 500
#: the KPIs of the roadmap
ROADMAP_KPIS = ("specific_energy", "energy_density")
NOT_RELEASED = "not released yet: releases are made on the schedule shown under privacy"


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
    #: share of the policy's per-release epsilon a release of this KPI spends
    epsilon_share: float = 1.0

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
        Kpi("cost", "Materials cost", "$/kWh", "lower", Design, "cost_usd_kWh"),
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
            "Projected cycle life to 80 % capacity, under each projection's duty cycle",
            "equivalent full cycles",
            "higher",
            LifetimeResult,
            "cycles_to_80",
        ),
        Kpi(
            "measured_cycle_life",
            "Measured cycle life to 80 % of the first full cycle's capacity",
            "cycles",
            "higher",
            TestDataset,
            "cycle_life",
        ),
        Kpi(
            "pack_specific_energy",
            "Pack specific energy (cell-to-pack template)",
            "Wh/kg",
            "higher",
            Design,
            "pack_specific_energy_Wh_kg",
            epsilon_share=0.5,
        ),
        Kpi(
            "pack_energy_density",
            "Pack energy density (cell-to-pack template)",
            "Wh/L",
            "higher",
            Design,
            "pack_energy_density_Wh_L",
            epsilon_share=0.5,
        ),
        Kpi(
            "pack_cost",
            "Pack cost (cell-to-pack template: cell cost + pack materials + assembly)",
            "$/kWh",
            "lower",
            Design,
            "pack_cost_usd_kWh",
            epsilon_share=0.5,
        ),
    )
}
#: the design KPIs and their columns (the references' markers)
DESIGN_KPIS = tuple(k for k in KPIS.values() if k.model is Design)


class UnknownKpi(LookupError):
    """A KPI name not in :data:`KPIS`."""

    def __init__(self, name: str):
        super().__init__(f"unknown KPI {name!r}: expected one of {', '.join(KPIS)}")
        self.name = name
        self.allowed = list(KPIS)


# ---------------------------------------------------------------------------------- standing


def standing(value: float, quantiles: dict[str, float | None]) -> tuple[float | None, str | None]:
    """Rule 3: (percentile, band) of ``value`` from the released quantiles only."""
    pts = [(v, QUANTILES[n] * 100) for n, v in quantiles.items() if v is not None]
    if not pts:
        return None, None
    xs = [p[0] for p in pts]
    names = [n for n, v in quantiles.items() if v is not None]
    if value < xs[0]:
        return None, f"below {names[0]}"
    if value > xs[-1]:
        return None, f"above {names[-1]}"
    if len(xs) == 1:
        return pts[0][1], names[0]
    pct = float(np.interp(value, xs, [p[1] for p in pts]))
    band = names[-1]
    for i in range(len(xs) - 1):
        if xs[i] <= value <= xs[i + 1]:
            band = f"{names[i]}-{names[i + 1]}"
            break
    return round(pct, 1), band


# ------------------------------------------------------------------------------------- queries


def counted_rows(kpi: Kpi, extra: tuple = ()) -> sa.Select:
    """``SELECT value, owner_org_id, created_at`` of the items of ``kpi`` that count (rule 1)."""
    m = kpi.model
    model = current_clause() if m is Design else ()  # rule 5: one engine and price set
    return (
        sa.select(kpi.col, m.owner_org_id, m.created_at)
        .join(Organisation, Organisation.id == m.owner_org_id)
        .where(
            aggregate_clause(m),
            Organisation.kind.in_(COUNTED_KINDS),
            kpi.col.is_not(None),
            *kpi.where,
            *model,
            *extra,
        )
    )


def current_model() -> dict[str, str]:
    """The model of design results now: ``{engine_version, price_set}`` (rule 5)."""
    return {"engine_version": ENGINE_VERSION, "price_set": current_price_set()}


def is_flagged(details: dict | None) -> bool:
    """Whether a test dataset's ``details`` hold ingestion flags (rule 4)."""
    return bool((details or {}).get("flags"))


def rows_of(session: Session, kpi: str, include_flagged: bool = False) -> list[tuple]:
    """``(value, owner organisation id)`` of the items of ``kpi`` that count (rules 1 and 4).

    Parameters
    ----------
    session : Session
        Database session.
    kpi : str
        A KPI name (key of :data:`KPIS`).
    include_flagged : bool
        Count test datasets stored flagged by their ingestion too (left out by default).
    """
    spec = check_kpi(kpi)
    if spec.model is TestDataset and not include_flagged:
        stmt = counted_rows(spec).add_columns(TestDataset.details)
        return [
            (float(v), org)
            for v, org, _at, details in session.execute(stmt).all()
            if v is not None and math.isfinite(v) and not is_flagged(details)
        ]
    return [
        (float(v), org)
        for v, org, _at in session.execute(counted_rows(spec)).all()
        if v is not None and math.isfinite(v)
    ]


def _references(session: Session) -> dict[str, list[dict]]:
    """Reference markers per KPI: the platform library's items with a value (LFP first)."""
    out: dict[str, list[dict]] = {name: [] for name in KPIS}
    platform = sa.select(Organisation.id).where(Organisation.kind == OrgKind.PLATFORM.value)
    rows = session.execute(
        sa.select(Design.name, Design.reference_id, *[k.col for k in DESIGN_KPIS])
        .where(
            Design.owner_org_id.in_(platform), Design.reference_id.is_not(None), *current_clause()
        )
        .order_by(Design.reference_id != "lfp-blade", Design.reference_id)
    ).all()
    for name, ref, *values in rows:
        for spec, v in zip(DESIGN_KPIS, values, strict=True):
            if v is not None:
                out[spec.kpi].append({"name": name, "reference_id": ref, "value": float(v)})
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


# ---------------------------------------------------------------------------------- own items


def own_items(
    session: Session,
    actor: Actor,
    names: list[str],
    limit: int = OWN_LIMIT,
    include_flagged: bool = False,
    left_out: dict[str, int] | None = None,
) -> dict[str, list[dict]]:
    """The caller's organisation's items with a value per KPI, newest first (rule 3, before
    standings). Sponsors get empty lists.

    Flagged test datasets (rule 4) are left out and counted in ``left_out`` (KPI -> number),
    unless ``include_flagged``: then they are listed with ``flagged: true`` and
    ``counted: false``.
    """
    out: dict[str, list[dict]] = {name: [] for name in names}
    if left_out is not None:
        left_out.update({name: 0 for name in names})
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
        tests = model is TestDataset
        designs = model is Design
        stmt = (
            sa.select(model.id, model.name, model.visibility, model.benchmark_opt_in)
            .add_columns(*[s.col for s in specs])
            .where(*where)
            .order_by(model.id.desc())  # the owner index gives this order: no sort
        )
        if tests:  # flagged rows are left out after the query: no limit on it (rule 4)
            stmt = stmt.add_columns(TestDataset.details)
        else:
            stmt = stmt.limit(limit * len(specs))
        if designs:  # rule 5: the model each result was computed with
            stmt = stmt.add_columns(Design.engine_version, Design.price_set)
        for row in session.execute(stmt).all():
            item_id, name, visibility, opt_in, *values = row
            flagged = is_flagged(values.pop()) if tests else False
            model_of = {}
            if designs:
                price_set = values.pop()
                engine_version = values.pop()
                model_of = {
                    "engine_version": engine_version,
                    "price_set": price_set,
                    "current": is_current(engine_version, price_set),
                }
            for spec, v in zip(specs, values, strict=True):
                if v is None or not math.isfinite(v):
                    continue
                if flagged and not include_flagged:
                    if left_out is not None:
                        left_out[spec.kpi] += 1
                    continue
                if len(out[spec.kpi]) >= limit:
                    continue
                item = {
                    "id": item_id,
                    "name": name,
                    "value": float(v),
                    "counted": (visibility != "private" or bool(opt_in))
                    and not flagged
                    and model_of.get("current", True),
                }
                if tests:
                    item["flagged"] = flagged
                item.update(model_of)
                out[spec.kpi].append(item)
    return out


def _with_own(entry: dict, own: list[dict]) -> dict:
    result = dict(entry)
    placed = []
    for item in own:
        # rule 5: never place a result on a release of another model
        same_model = entry.get("model_current", True) and item.get("current", True)
        shown = entry["shown"] and entry["quantiles"] and same_model
        pct, band = standing(item["value"], entry["quantiles"]) if shown else (None, None)
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


def release_due(db, settings, now: dt.datetime | None = None) -> list[str]:
    """Make the benchmark releases that are due (every KPI, in :data:`KPIS` order).

    Called by the server's :class:`~casip.platform.releases.ReleaseScheduler` at start-up and
    on its schedule, and by ``casip platform release``; never by a request.

    Returns
    -------
    list of str
        The KPIs released now (empty when every KPI already has this slot's release, the
        budget is spent, or fewer than ``k`` member and institute organisations exist).
    """
    with db.session() as s:
        # the organisation registry is public within the platform (not the items): a platform
        # with fewer than k member and institute organisations spends no budget on releases
        # that could show nothing
        members = s.execute(
            sa.select(sa.func.count())
            .select_from(Organisation)
            .where(Organisation.kind.in_(COUNTED_KINDS))
        ).scalar_one()
    if members < settings.k_anonymity:
        return []

    def measure(rows: list[tuple], kpi: str, epsilon: float, k: int) -> dict:
        payload = privacy.release(rows, kpi, epsilon, k)
        if KPIS[kpi].model is Design:  # rule 5: the model the release was made from
            payload = {**payload, "model": current_model()}
        return payload

    return releases.run_due(
        db.sessions,
        releases.Policy.of(settings),
        list(KPIS),
        rows_of,
        measure,
        now,
        shares={k.kpi: k.epsilon_share for k in KPIS.values() if k.epsilon_share != 1.0},
    )


def _released(spec: Kpi, rel) -> dict:
    entry: dict[str, Any] = {
        "kpi": spec.kpi,
        "label": spec.label,
        "unit": spec.unit,
        "better": spec.better,
    }
    if spec.model is Design:  # rule 5: which model the release is of, and whether it is now's
        model = (rel.payload.get("model") if rel is not None else None) or {
            "engine_version": None,
            "price_set": None,
        }
        entry["model"] = model
        entry["model_current"] = rel is None or model == current_model()
    if rel is None:
        return entry | {
            "shown": False,
            "reason": NOT_RELEASED,
            "n_organisations": None,
            "quantiles": None,
            "histogram": None,
            "released_at": None,
            "epsilon": None,
        }
    p = rel.payload
    return entry | {
        "shown": bool(p["shown"]),
        "reason": p["reason"],
        "n_organisations": p["n_organisations"],
        "quantiles": p["quantiles"],
        "histogram": p["histogram"],
        "released_at": rel.released_at.isoformat() + "Z",
        "epsilon": rel.epsilon,
    }


def privacy_status(session: Session, settings) -> dict:
    """The privacy parameters and this period's ledger, shown beside every release."""
    return releases.status(session, releases.Policy.of(settings))


def benchmark(
    session: Session,
    actor: Actor,
    settings,
    kpis: list[str] | tuple[str, ...] | None = None,
    own_limit: int = OWN_LIMIT,
    include_flagged: bool = False,
) -> dict:
    """The released benchmark of ``kpis`` (all by default) with the caller's own items placed.

    Parameters
    ----------
    session : Session
        Database session.
    actor : Actor
        The caller; member and institute users get their organisation's items placed on the
        released quantiles, sponsors get the releases only.
    settings : Settings
        Privacy parameters (shown with the releases) and ``k_anonymity``.
    kpis : list of str, optional
        KPI names (keys of :data:`KPIS`); unknown names raise :class:`UnknownKpi`.
    own_limit : int
        At most this many own items per KPI (newest first).
    include_flagged : bool
        List the caller's flagged test datasets among ``own`` too (rule 4; they never count).

    Returns
    -------
    dict
        ``{k, privacy{...}, kpis: [{kpi, label, unit, better, shown, reason, n_organisations,
        quantiles{p25,p50,p75}, histogram{edges, counts}, released_at, epsilon, references,
        own, flagged_left_out}]}``; see the module docstring for the rules.
    """
    names = [check_kpi(n).kpi for n in (kpis or list(KPIS))]
    latest = releases.latest(session, names)
    refs = _references(session)
    left_out: dict[str, int] = {}
    own = own_items(session, actor, names, own_limit, include_flagged, left_out)
    out = []
    for name in names:
        entry = _released(KPIS[name], latest.get(name)) | {"references": refs[name]}
        out.append(_with_own(entry, own[name]) | {"flagged_left_out": left_out.get(name, 0)})
    return {
        "k": settings.k_anonymity,
        "privacy": privacy_status(session, settings),
        "kpis": out,
    }


def quarter_of(t: dt.datetime) -> str:
    """The calendar quarter of ``t`` (``2026-Q4``), as the release schedule labels it."""
    return releases.period_key(t, "quarter")


def roadmap(session: Session, actor: Actor, settings) -> dict:
    """The consortium roadmap from the releases of Wh/kg and Wh/L (rule 5), the same for every
    caller, against the CASIP stages and the reference cells.

    Returns
    -------
    dict
        ``{k, rule, privacy, stages: [...], series: [{kpi, unit, points: [{quarter, p50, p75,
        n_organisations, released_at}]}], references: [{name, reference_id,
        specific_energy_Wh_kg, energy_density_Wh_L}]}``.
    """
    del actor  # aggregate-only: identical for members and sponsors
    last: dict[tuple[str, str], Any] = {}
    for rel in releases.history(session, ROADMAP_KPIS):
        last[(rel.kpi, quarter_of(rel.released_at))] = rel  # oldest first: the last one wins
    series = []
    for name in ROADMAP_KPIS:
        points = []
        for (kpi, quarter), rel in sorted(last.items()):
            if kpi != name:
                continue
            p = rel.payload
            q = p["quantiles"] or {}
            points.append(
                {
                    "quarter": quarter,
                    "p50": q.get("p50") if p["shown"] else None,
                    "p75": q.get("p75") if p["shown"] else None,
                    "n_organisations": p["n_organisations"],
                    "released_at": rel.released_at.isoformat() + "Z",
                    "epsilon": rel.epsilon,
                    "model": p.get("model"),  # rule 5: engine and price set of the release
                }
            )
        series.append({"kpi": name, "unit": KPIS[name].unit, "points": points})
    refs = _references(session)
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
    return {
        "k": settings.k_anonymity,
        "rule": (
            "per quarter, the last differentially private release of the quarter: the median "
            "and upper quartile of the consortium (equal weight per organisation); no extra "
            "privacy cost beyond the benchmark's releases"
        ),
        "privacy": privacy_status(session, settings),
        "stages": stages(),
        "series": series,
        "references": road_refs,
    }
