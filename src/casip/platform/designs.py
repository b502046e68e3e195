"""Designs on the platform: validated by the design schema, evaluated by the design engine.

The headline KPIs (Wh/kg, Wh/L, materials and cell $/kWh, capacity) are stored in columns beside
the full result so that lists, comparisons and the benchmark are plain indexed queries.

Versioned results
-----------------
Every stored result records the design engine it was computed with
(:data:`casip.design.ENGINE_VERSION`, column ``engine_version``) and the price set of its costs
(``price_set``, the label of the platform's ``Settings.price_set``, by default the library's
most recent set). A row is *current* when both are the platform's; :func:`recompute` (at start-up
and by ``casip platform recompute``) re-evaluates every other row from its stored document, and
a row that cannot be recomputed (its document no longer valid, say) keeps its old numbers with
its old version and a ``stale_reason``. Only current rows count in the benchmark
(:func:`current_clause`); pages and the API show the version, the price set and whether a row
is current.

Costs are labelled as what they are: ``cost_usd_kWh`` is the **materials cost** (the design
engine's bill of materials) and ``cell_cost_usd_kWh`` the **cell cost** (materials + scrap +
manufacturing at the 10 GWh/yr reference plant, :func:`casip.cost.cell_cost`).

Pack KPIs
---------
Every design is also built into the benchmark's cell-to-pack template
(:data:`casip.pack.templates.BENCHMARK_TEMPLATE`, the LFP Blade pack's build at its voltage and
energy; :mod:`casip.pack.templates`), and that pack's Wh/kg, Wh/L and $/kWh (cells at cell
cost + pack materials + assembly) are stored beside the cell's (``pack_*`` columns, the rest
of the pack's headline in ``metrics["pack"]``). They are part of the design engine's version:
a change of the pack model that moves them bumps :data:`casip.design.ENGINE_VERSION` too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from casip.design import api as design_api
from casip.design.schema import validate_design
from casip.design.version import ENGINE_VERSION
from casip.errors import CasipInputError, Problem
from casip.platform import audit
from casip.platform.access import Actor, get_for_write, require_create
from casip.platform.models import Design, Visibility
from casip.platform.problems import ApiProblem

#: the plant size of the stored cell cost [GWh/yr] (casip.cost.cell_cost's reference plant)
CELL_COST_PLANT_GWH = 10.0

#: the platform's price set: (setting as given, its label); set by :func:`configure`
_PRICES: dict[str, str] = {}


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def configure(price_set: str | None) -> str:
    """Set the price set of every cost the platform computes from now on (the operator's
    ``Settings.price_set``; ``None`` or empty: the library's most recent set).

    Returns
    -------
    str
        Its label, what rows record in ``price_set``.
    """
    from casip.cost.prices import default_price_set_name, load_price_set

    spec = price_set or default_price_set_name()
    _PRICES.update(spec=spec, label=load_price_set(spec).label)
    return _PRICES["label"]


def current_price_set() -> str:
    """The label of the platform's price set (the library default until :func:`configure`)."""
    if not _PRICES:
        configure(None)
    return _PRICES["label"]


def price_set_spec() -> str:
    """The platform's price set as configured (a bundled name or a YAML file), for
    ``prices=`` of :func:`casip.design.evaluate` and :func:`casip.design.sweep`."""
    current_price_set()
    return _PRICES["spec"]


def current_clause() -> tuple:
    """SQL conditions of a design row whose results are of the current engine and price set."""
    return (
        Design.engine_version == ENGINE_VERSION,
        Design.price_set == current_price_set(),
    )


def is_current(engine_version: str | None, price_set: str | None) -> bool:
    """Whether results recorded with ``engine_version`` and ``price_set`` are current."""
    return engine_version == ENGINE_VERSION and price_set == current_price_set()


def evaluate_document(document: Mapping[str, Any]) -> tuple[dict, dict]:
    """Validate and evaluate a design document; return (normalised document, metrics).

    The metrics are :meth:`casip.design.CellMetrics.to_dict` at the platform's price set, plus
    ``engine_version`` and ``cell_cost`` (the cell cost's breakdown per kWh, or the reason there
    is none). Raises :class:`~casip.errors.CasipInputError` naming each bad field."""
    if not isinstance(document, Mapping):
        raise CasipInputError(
            Problem("document", "not an object", type(document).__name__, "a casip.design/1 object")
        )
    design = validate_design(dict(document), source="document")
    m = design_api.evaluate(design, prices=price_set_spec(), source="document")
    metrics = m.to_dict()
    metrics["engine_version"] = ENGINE_VERSION
    metrics["cell_cost"] = _cell_cost(design, m)
    metrics["pack"] = _template_pack(design)
    normalised = design.model_dump(mode="json", by_alias=True, exclude_none=True)
    return normalised, metrics


def _cell_cost(design: Any, m: design_api.CellMetrics) -> dict:
    """The cell cost of an evaluated design at the reference plant, on the process its
    separator calls for, as stored in ``metrics["cell_cost"]``."""
    from casip.cost import cell_cost
    from casip.cost.manufacturing import default_process

    try:
        c = cell_cost(m, plant_GWh=CELL_COST_PLANT_GWH, process=default_process(design))
    except (CasipInputError, ValueError, KeyError) as exc:  # e.g. a material without a price
        return {"cell_usd_kWh": None, "reason": str(exc)}
    out = {
        "process": c.process,
        "plant_GWh": CELL_COST_PLANT_GWH,
        "materials_usd_kWh": _finite(float(c.materials_usd_kWh)),
        "scrap_usd_kWh": _finite(float(c.scrap_usd_kWh)),
        "manufacturing_usd_kWh": _finite(float(c.manufacturing_usd_kWh)),
        "cell_usd_kWh": _finite(float(c.cell_usd_kWh)),
    }
    if out["cell_usd_kWh"] is None:
        out["reason"] = "no materials cost (a material without a price)"
    return out


#: headline figures of the template pack kept in ``metrics["pack"]``
PACK_KEYS = (
    "cells", "series", "parallel", "nominal_voltage_V", "gross_kWh", "usable_kWh", "mass_kg",
    "volume_L", "specific_energy_Wh_kg", "energy_density_Wh_L", "cost_usd_kWh",
    "gravimetric_cell_to_pack", "volumetric_cell_to_pack",
)


def _template_pack(design: Any) -> dict:
    """The design in the benchmark's pack template, as stored in ``metrics["pack"]``: the
    template's id and the pack's headline figures, or the reason there are none."""
    from casip.pack.templates import BENCHMARK_TEMPLATE, design_in_template

    try:
        m = design_in_template(design, BENCHMARK_TEMPLATE, prices=price_set_spec())
    except (CasipInputError, ValueError, KeyError, ZeroDivisionError) as exc:
        return {"template": BENCHMARK_TEMPLATE, "reason": str(exc)}
    d = m.to_dict()
    out: dict[str, Any] = {"template": BENCHMARK_TEMPLATE}
    out.update({k: d.get(k) for k in PACK_KEYS})
    out["warnings"] = list(m.warnings)
    if out["cost_usd_kWh"] is None:
        out["reason"] = "no pack cost (the cell has no cell cost)"
    return out


def apply_metrics(row: Design, document: dict, metrics: dict) -> None:
    """Store a design's document and results (KPI columns, engine version, price set)."""
    row.document = document
    row.metrics = metrics
    row.name = document["name"]
    row.kind = document["kind"]
    for col, value in result_columns(metrics).items():
        setattr(row, col, value)


def result_columns(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns of a design row from its metrics (what :func:`recompute` rewrites)."""
    pack = metrics.get("pack") or {}
    return {
        "specific_energy_Wh_kg": _finite(metrics.get("specific_energy_Wh_kg")),
        "energy_density_Wh_L": _finite(metrics.get("energy_density_Wh_L")),
        "cost_usd_kWh": _finite(metrics.get("cost_usd_kWh")),
        "cell_cost_usd_kWh": _finite((metrics.get("cell_cost") or {}).get("cell_usd_kWh")),
        "capacity_Ah": _finite(metrics.get("capacity_Ah")),
        "pack_specific_energy_Wh_kg": _finite(pack.get("specific_energy_Wh_kg")),
        "pack_energy_density_Wh_L": _finite(pack.get("energy_density_Wh_L")),
        "pack_cost_usd_kWh": _finite(pack.get("cost_usd_kWh")),
        "engine_version": metrics.get("engine_version"),
        "price_set": metrics.get("price_set"),
        "stale_reason": None,
    }


def recompute(session: Session, *, force: bool = False, batch: int = 200) -> dict[str, Any]:
    """Re-evaluate every stored design whose results are not of the current engine version and
    price set (all of them with ``force``) from its stored document.

    A row that evaluates keeps its document, owner, ``version`` and ``updated_at`` (its results
    change, not the design) and gets the current ``engine_version`` and ``price_set``; a row
    whose document no longer evaluates keeps its old numbers and versions and gets a
    ``stale_reason``, so it is shown as stale and never counted in the benchmark.

    Parameters
    ----------
    session : Session
        Database session; committed after each batch of rows.
    force : bool
        Recompute current rows too.
    batch : int
        Rows read and written per transaction.

    Returns
    -------
    dict
        ``{engine_version, price_set, recomputed, stale: [{id, reason}], current}``: rows
        recomputed now, rows left stale (with why) and rows that were current already.
    """
    price_set = current_price_set()
    todo = sa.select(Design.id).order_by(Design.id)
    if not force:
        todo = todo.where(
            sa.or_(
                Design.engine_version.is_(None),
                Design.price_set.is_(None),
                sa.not_(sa.and_(*current_clause())),
            )
        )
    ids = list(session.execute(todo).scalars())
    total = session.execute(sa.select(sa.func.count()).select_from(Design)).scalar_one()
    recomputed, stale = 0, []
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        rows = session.execute(
            sa.select(Design.id, Design.document, Design.stale_reason).where(Design.id.in_(chunk))
        ).all()
        for design_id, document, old_reason in rows:
            try:
                _doc, metrics = evaluate_document(document)
            except Exception as exc:  # any failure leaves the row stale, with the reason
                reason = (
                    f"not recomputed with engine {ENGINE_VERSION}, price set {price_set}: {exc}"
                )
                stale.append({"id": design_id, "reason": reason})
                if reason != old_reason:
                    session.execute(
                        sa.update(Design)
                        .where(Design.id == design_id)
                        .values(stale_reason=reason, updated_at=Design.updated_at)
                        .execution_options(synchronize_session=False)
                    )
                continue
            session.execute(
                sa.update(Design)
                .where(Design.id == design_id)
                .values(
                    metrics=metrics,
                    updated_at=Design.updated_at,  # the design did not change: its date stays
                    **result_columns(metrics),
                )
                .execution_options(synchronize_session=False)
            )
            recomputed += 1
        session.commit()
    return {
        "engine_version": ENGINE_VERSION,
        "price_set": price_set,
        "recomputed": recomputed,
        "stale": stale,
        "current": total - len(ids),
    }


def check_visibility(visibility: str) -> str:
    if visibility not in tuple(Visibility):
        raise CasipInputError(
            Problem("visibility", "unknown visibility", visibility, "private, consortium or public")
        )
    return visibility


def create(
    session: Session,
    actor: Actor,
    document: Mapping[str, Any],
    visibility: str = "private",
    benchmark_opt_in: bool = False,
) -> Design:
    require_create(actor)
    check_visibility(visibility)
    doc, metrics = evaluate_document(document)
    row = Design(
        owner_org_id=actor.org_id,
        created_by_id=actor.user_id,
        visibility=visibility,
        benchmark_opt_in=benchmark_opt_in,
    )
    apply_metrics(row, doc, metrics)
    session.add(row)
    session.flush()
    if visibility != Visibility.PRIVATE:
        audit.record(
            session,
            "visibility",
            actor_user_id=actor.user_id,
            actor_org_id=actor.org_id,
            item_kind="design",
            item_id=row.id,
            detail={"from": None, "to": visibility},
        )
    return row


def update(
    session: Session, actor: Actor, design_id: int, document: Mapping[str, Any], version: int | None
) -> Design:
    """Replace a design's document.

    Optimistic concurrency: ``version`` (if given) must be the current one, and the row's
    version column is checked again in the UPDATE itself (SQLAlchemy's ``version_id_col``), so
    two concurrent edits cannot both win: the loser gets 409."""
    row = get_for_write(session, actor, "design", design_id)
    if version is not None and version != row.version:
        raise ApiProblem(
            409,
            f"design {design_id} was changed by someone else (version {row.version}, "
            f"you sent {version}); reload and retry",
        )
    doc, metrics = evaluate_document(document)
    apply_metrics(row, doc, metrics)
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ApiProblem(
            409, f"design {design_id} was changed by someone else; reload and retry"
        ) from None
    return row


def summary(row: Design) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "owner_org_id": row.owner_org_id,
        "visibility": row.visibility,
        "benchmark_opt_in": row.benchmark_opt_in,
        "reference_id": row.reference_id,
        "specific_energy_Wh_kg": row.specific_energy_Wh_kg,
        "energy_density_Wh_L": row.energy_density_Wh_L,
        "cost_usd_kWh": row.cost_usd_kWh,
        "cell_cost_usd_kWh": row.cell_cost_usd_kWh,
        "capacity_Ah": row.capacity_Ah,
        "pack_specific_energy_Wh_kg": row.pack_specific_energy_Wh_kg,
        "pack_energy_density_Wh_L": row.pack_energy_density_Wh_L,
        "pack_cost_usd_kWh": row.pack_cost_usd_kWh,
        "engine_version": row.engine_version,
        "price_set": row.price_set,
        "results_current": is_current(row.engine_version, row.price_set),
        "stale_reason": row.stale_reason,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def full(row: Design) -> dict:
    return {**summary(row), "document": row.document, "metrics": row.metrics}


def stages() -> list[dict]:
    """The CASIP roadmap stages and their targets (``casip.cells.targets``), as JSON."""
    from casip.cells import targets

    return [
        {
            "stage": t.stage,
            "years": t.years,
            "specific_energy_Wh_kg": t.specific_energy_Wh_kg,
            "specific_energy_low_Wh_kg": t.specific_energy_low_Wh_kg,
            "energy_density_Wh_L": t.energy_density_Wh_L,
            "source": t.source,
        }
        for t in targets()
    ]
