"""Designs on the platform: validated by the design schema, evaluated by the design engine.

The headline KPIs (Wh/kg, Wh/L, $/kWh, capacity) are stored in columns beside the full result so
that lists, comparisons and the benchmark are plain indexed queries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from casip.design import api as design_api
from casip.design.schema import validate_design
from casip.errors import CasipInputError, Problem
from casip.materials import load_library
from casip.platform import audit
from casip.platform.access import Actor, get_for_write, require_create
from casip.platform.models import Design, Visibility
from casip.platform.problems import ApiProblem


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def evaluate_document(document: Mapping[str, Any]) -> tuple[dict, dict]:
    """Validate and evaluate a design document; return (normalised document, metrics).

    Raises :class:`~casip.errors.CasipInputError` naming each bad field."""
    if not isinstance(document, Mapping):
        raise CasipInputError(
            Problem("document", "not an object", type(document).__name__, "a casip.design/1 object")
        )
    design = validate_design(dict(document), source="document")
    metrics = design_api.evaluate(design, load_library(), source="document").to_dict()
    normalised = design.model_dump(mode="json", by_alias=True, exclude_none=True)
    return normalised, metrics


def apply_metrics(row: Design, document: dict, metrics: dict) -> None:
    row.document = document
    row.metrics = metrics
    row.name = document["name"]
    row.kind = document["kind"]
    row.specific_energy_Wh_kg = _finite(metrics.get("specific_energy_Wh_kg"))
    row.energy_density_Wh_L = _finite(metrics.get("energy_density_Wh_L"))
    row.cost_usd_kWh = _finite(metrics.get("cost_usd_kWh"))
    row.capacity_Ah = _finite(metrics.get("capacity_Ah"))


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
        "capacity_Ah": row.capacity_Ah,
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
