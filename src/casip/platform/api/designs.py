"""Designs: list, create, read, edit, delete, share, export, compare, sweep, schema."""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casip.design import api as design_api
from casip.design.schema import json_schema, validate_design
from casip.design.version import ENGINE_VERSION
from casip.errors import CasipInputError, Problem
from casip.platform import access
from casip.platform import designs as svc
from casip.platform.access import Actor
from casip.platform.data_version import VersionedCache
from casip.platform.deps import CommitRoute, current_actor, db_session
from casip.platform.models import Design
from casip.platform.pagination import PageParams, page_params, paginate

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["designs"])

#: loader options for summaries: leave the large JSON columns unread
LIGHT = (sa.orm.defer(Design.document), sa.orm.defer(Design.metrics))
#: the columns of a design summary (designs.summary), selected without ORM objects
SUMMARY_COLUMNS = (
    Design.id,
    Design.name,
    Design.kind,
    Design.owner_org_id,
    Design.visibility,
    Design.benchmark_opt_in,
    Design.reference_id,
    Design.specific_energy_Wh_kg,
    Design.energy_density_Wh_L,
    Design.cost_usd_kWh,
    Design.cell_cost_usd_kWh,
    Design.capacity_Ah,
    Design.pack_specific_energy_Wh_kg,
    Design.pack_energy_density_Wh_L,
    Design.pack_cost_usd_kWh,
    Design.engine_version,
    Design.price_set,
    Design.stale_reason,
    Design.version,
    Design.created_at,
    Design.updated_at,
)

VisibilityName = Literal["private", "consortium", "public"]
MAX_COMPARE = 12
#: the summary columns of compared designs per set of ids, while the ``designs`` data version
#: is unchanged (the access check and the audit of each read still run per request)
_COMPARE_ROWS = VersionedCache(max_age_s=15.0, max_entries=1024, topics=("designs",))
MAX_SWEEP_POINTS = 10_000


class DesignIn(BaseModel):
    document: dict[str, Any] = Field(
        description="a casip.design/1 design (see GET /api/schema/design)"
    )
    visibility: VisibilityName = "private"
    benchmark_opt_in: bool = False


class DesignUpdate(BaseModel):
    document: dict[str, Any]
    version: int | None = Field(None, description="the version you edited; 409 if it changed since")


class VisibilityIn(BaseModel):
    visibility: VisibilityName
    benchmark_opt_in: bool | None = None


class SweepIn(BaseModel):
    design_id: int
    parameter: str = Field(
        min_length=1, max_length=100, description="dotted path, e.g. cathode.areal_capacity_mAh_cm2"
    )
    start: float
    stop: float
    points: int = Field(20, ge=2, le=MAX_SWEEP_POINTS)


@router.get("/schema/design", summary="JSON Schema of the design file format")
def design_schema() -> dict:
    return json_schema()


@router.get("/designs", summary="Designs you may read")
def list_designs(
    q: str | None = Query(None, max_length=100, description="text in the name"),
    kind: str | None = Query(None, max_length=32),
    mine: bool = Query(False, description="only your organisation's"),
    page: PageParams = Depends(page_params),
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    stmt = access.readable(actor, "design")
    if q:
        stmt = stmt.where(Design.name.ilike(f"%{q}%"))
    if kind:
        stmt = stmt.where(Design.kind == kind)
    if mine:
        stmt = stmt.where(Design.owner_org_id == actor.org_id)
    return paginate(s, stmt.options(*LIGHT).order_by(Design.id), page, svc.summary)


@router.post(
    "/designs", status_code=201, summary="Create a design (evaluated by the design engine)"
)
def create_design(
    body: DesignIn,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return svc.full(svc.create(s, actor, body.document, body.visibility, body.benchmark_opt_in))


@router.get(
    "/designs/compare", summary="Headline KPIs of several designs beside LFP and the CASIP targets"
)
def compare(
    ids: str = Query(..., max_length=200, description="comma-separated design ids"),
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> Response:
    try:
        wanted = [int(x) for x in ids.split(",") if x.strip()]
    except ValueError:
        raise CasipInputError(Problem("ids", "not a list of integers", ids, "e.g. 1,2,3")) from None
    if not wanted or len(wanted) > MAX_COMPARE:
        raise CasipInputError(
            Problem("ids", f"{len(wanted)} designs", ids, f"1 to {MAX_COMPARE} ids")
        )
    rows = access.get_many_for_read(
        s, actor, "design", wanted, columns=SUMMARY_COLUMNS, cache=_COMPARE_ROWS
    )
    body = {
        "designs": [svc.summary(r) for r in rows],
        "baseline": lfp_baseline(s),
        "targets": svc.stages(),
    }
    return Response(json.dumps(body, allow_nan=False), media_type="application/json")


def lfp_baseline(s: Session) -> dict | None:
    """The LFP reference cell (the platform's public reference library), looked up once per
    data version."""

    def lookup() -> dict | None:
        row = s.execute(
            sa.select(*SUMMARY_COLUMNS).where(Design.reference_id == "lfp-blade").limit(1)
        ).first()
        return svc.summary(row) if row is not None else None

    return _BASELINE.get(s, ("lfp-blade",), lookup)


_BASELINE = VersionedCache(max_age_s=60.0, max_entries=8, topics=("designs",))


@router.post("/designs/sweep", summary="Sweep one parameter of a design with the design engine")
def sweep(
    body: SweepIn,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    if not (np.isfinite(body.start) and np.isfinite(body.stop)) or body.start == body.stop:
        raise CasipInputError(
            Problem(
                "start/stop",
                "empty or non-finite range",
                [body.start, body.stop],
                "two different finite numbers",
            )
        )
    row = access.get_for_read(s, actor, "design", body.design_id)
    base = validate_design(row.document, source=f"design {row.id}")
    values = np.linspace(body.start, body.stop, body.points)
    if body.parameter == "format.layers":
        values = np.unique(np.round(values).astype(int))
    df = design_api.sweep(base, {body.parameter: values}, prices=svc.price_set_spec())
    cols = [c for c in df.columns if c in (body.parameter, "status", *design_api.HEADLINE)]
    out = df[cols].replace({np.nan: None})
    return {
        "parameter": body.parameter,
        "design_id": row.id,
        "engine_version": ENGINE_VERSION,
        "price_set": df.attrs.get("price_set"),
        "rows": out.to_dict(orient="records"),
    }


@router.get("/designs/{design_id}", summary="One design with its document and results")
def get_design(
    design_id: int,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return svc.full(access.get_for_read(s, actor, "design", design_id))


@router.get("/designs/{design_id}/export", summary="The design file (audited as an export)")
def export_design(
    design_id: int,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return access.get_for_read(s, actor, "design", design_id, purpose="export").document


@router.put("/designs/{design_id}", summary="Replace a design's document (re-evaluated)")
def update_design(
    design_id: int,
    body: DesignUpdate,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return svc.full(svc.update(s, actor, design_id, body.document, body.version))


@router.patch("/designs/{design_id}/visibility", summary="Share or unshare a design (audited)")
def design_visibility(
    design_id: int,
    body: VisibilityIn,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    return svc.summary(
        access.set_visibility(s, actor, "design", design_id, body.visibility, body.benchmark_opt_in)
    )


@router.delete("/designs/{design_id}", summary="Delete a design (and its results)")
def delete_design(
    design_id: int,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    row = access.get_for_write(s, actor, "design", design_id)
    s.delete(row)
    return {"deleted": design_id}
