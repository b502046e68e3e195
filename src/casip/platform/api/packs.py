"""Packs: the reference packs, and a pack built from a member's design beside the LFP pack.

Read-only: nothing is stored. The pack model is :mod:`casip.pack` (see ``docs/pack.md``).

A *template* is one of the reference packs (:data:`casip.pack.REFERENCE_IDS`); a design is put
into one as :mod:`casip.pack.templates` says (the template's build, as many rows as fit across
its width, its voltage and gross energy as the arrangement's targets). The comparison is the
LFP cell-to-pack reference pack (``blade-ctp``) sized to the same gross energy: one string, as
in the reference pack, of as many cells in series as come nearest that energy (within half a
cell's energy).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casip.pack import REFERENCE_IDS, evaluate_pack, templates
from casip.pack.api import HEADLINE, design_cell_facts, read_pack_text, reference_text
from casip.platform import access
from casip.platform.access import Actor
from casip.platform.deps import CommitRoute, current_actor, db_session, platform_of

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["packs"])

#: the LFP cell-to-pack reference pack every built pack is compared with
LFP_PACK = "blade-ctp"
#: headline figures of a pack answer (HEADLINE plus the pack cost and the cell's figures)
KPI_KEYS = (
    *HEADLINE,
    "cost_usd",
    "cell_specific_energy_Wh_kg",
    "cell_energy_density_Wh_L",
    "cell_usd_kWh",
)


class PackEvaluateIn(BaseModel):
    design_id: int = Field(description="a design you may read")
    template: str = Field(
        LFP_PACK,
        max_length=64,
        description="reference pack to build around the design: " + ", ".join(REFERENCE_IDS),
    )


def kpis(metrics) -> dict[str, Any]:
    """The headline figures of a :class:`casip.pack.PackMetrics` (JSON-friendly, NaN -> None)."""
    d = metrics.to_dict()
    return {k: d[k] for k in KPI_KEYS}


@functools.lru_cache(maxsize=4)
def _references(prices: str | None = None) -> tuple[dict, ...]:
    out = []
    for pid in REFERENCE_IDS:
        m = evaluate_pack(f"ref:{pid}", prices=prices)
        d = m.to_dict()
        published = []
        for pf in m.published:
            computed = d.get(pf["metric"])
            published.append(
                {
                    **pf,
                    "computed": computed,
                    "difference": (computed / pf["value"] - 1.0)
                    if isinstance(computed, (int, float)) and pf["value"]
                    else None,
                }
            )
        out.append(
            {
                "id": pid,
                "name": m.name,
                "cell": m.cell,
                "cell_name": m.cell_name,
                "integration": m.integration,
                "kpis": kpis(m),
                "published": published,
                "warnings": d["warnings"],
            }
        )
    return tuple(out)


def references(prices: str | None = None) -> list[dict]:
    """Every reference pack: headline figures, and the published figures beside the computed."""
    return copy.deepcopy(list(_references(prices)))


def price_set_of(request: Request) -> str | None:
    """The platform's price set (``CASIP_PRICE_SET``; None: the library's most recent), so
    packs are priced as the platform's stored cell costs are."""
    return platform_of(request).settings.price_set or None


@functools.lru_cache(maxsize=32)
def _lfp_pack(energy_kWh: float, prices: str | None = None) -> dict:
    ref = next(r for r in _references(prices) if r["id"] == LFP_PACK)
    data = read_pack_text(reference_text(LFP_PACK), f"ref:{LFP_PACK}").model_dump(by_alias=True)
    data["published"] = []
    data["name"] = f"{ref['name']}, {energy_kWh:.1f} kWh"
    # one string of cells (as the reference pack), as many in series as come nearest the energy
    cell_kWh = ref["kpis"]["gross_kWh"] / ref["kpis"]["cells"]
    data["arrangement"] = {"series": max(1, round(energy_kWh / cell_kWh)), "parallel": 1}
    m = evaluate_pack(data, source=f"ref:{LFP_PACK}", prices=prices)
    return {"name": m.name, "cell": m.cell, "pack_file": data, "kpis": kpis(m)}


def evaluate_design_pack(row, template: str, prices: str | None = None) -> dict:
    """Build ``template`` around a stored design (a :class:`~casip.platform.models.Design` row
    the caller may read) and compare it with the LFP cell-to-pack pack of the same energy."""
    # the cell's facts once: its width sets the rows, and the pack is evaluated with them
    plant = float(templates.reference_pack(template).cost.plant_GWh)
    cell = design_cell_facts(row.document, plant, f"design:{row.id}", prices=prices)
    data, energy = templates.template_pack(template, f"design:{row.id}",
                                           f"{row.name} in {template}", prices, cell.width_mm)
    m = evaluate_pack(data, source=f"design {row.id} in {template}", cell_design=cell,
                      prices=prices)
    lfp = copy.deepcopy(_lfp_pack(energy, prices))
    mine = kpis(m)
    ratio = {}
    for k in ("specific_energy_Wh_kg", "energy_density_Wh_L", "cost_usd_kWh", "mass_kg",
              "volume_L"):
        a, b = mine.get(k), lfp["kpis"].get(k)
        both = isinstance(a, (int, float)) and isinstance(b, (int, float))
        ratio[k] = a / b if both and b else None
    return {
        "template": template,
        "energy_kWh": energy,
        "design": {"id": row.id, "name": row.name},
        "pack": {"name": m.name, "cell": m.cell, "cell_name": m.cell_name, "pack_file": data,
                 "kpis": mine, "warnings": m.warnings},
        "lfp": lfp,
        "ratio_to_lfp": ratio,
    }


@router.get("/packs/references", summary="The reference packs: computed beside published figures")
def pack_references(request: Request, actor: Actor = Depends(current_actor)) -> dict:
    prices = price_set_of(request)
    return {"templates": list(REFERENCE_IDS), "lfp_pack": LFP_PACK,
            "price_set": prices or "default", "packs": references(prices)}


@router.post(
    "/packs/evaluate",
    summary="Build a reference pack around one of your readable designs, beside the LFP pack",
)
def pack_evaluate(
    body: PackEvaluateIn,
    request: Request,
    actor: Actor = Depends(current_actor),
    s: Session = Depends(db_session, scope="function"),
) -> dict:
    row = access.get_for_read(s, actor, "design", body.design_id)
    return evaluate_design_pack(row, body.template, price_set_of(request))
