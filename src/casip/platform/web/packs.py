"""The packs page: the reference packs, and a pack built from a readable design beside LFP.

A GET form (nothing is stored): ``/packs?design_id=N&template=ID`` renders the built pack
beside the LFP cell-to-pack pack of the same energy (:mod:`casip.platform.api.packs`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from casip.errors import CasipInputError
from casip.pack import REFERENCE_IDS
from casip.platform import access
from casip.platform.access import NotFound
from casip.platform.api import packs as pack_api
from casip.platform.deps import Authenticated, CommitRoute, db_session, web_auth
from casip.platform.models import Design
from casip.platform.web.pages import render

router = APIRouter(route_class=CommitRoute, include_in_schema=False)

#: designs offered in the form (the actor's organisation's first, then by id)
MAX_CHOICES = 200
#: pack figures shown side by side: (key, label, format)
ROWS = (
    ("cells", "Cells", "%.0f"),
    ("series", "Series", "%.0f"),
    ("parallel", "Parallel", "%.0f"),
    ("nominal_voltage_V", "Nominal voltage [V]", "%.0f"),
    ("gross_kWh", "Gross energy [kWh]", "%.1f"),
    ("usable_kWh", "Usable energy [kWh]", "%.1f"),
    ("mass_kg", "Mass [kg]", "%.0f"),
    ("volume_L", "Volume [L]", "%.0f"),
    ("specific_energy_Wh_kg", "Pack specific energy [Wh/kg]", "%.0f"),
    ("energy_density_Wh_L", "Pack energy density [Wh/L]", "%.0f"),
    ("gravimetric_cell_to_pack", "Cell-to-pack, mass", "%.2f"),
    ("volumetric_cell_to_pack", "Cell-to-pack, volume", "%.2f"),
    ("cell_specific_energy_Wh_kg", "Cell specific energy [Wh/kg]", "%.0f"),
    ("cost_usd_kWh", "Pack cost [$/kWh]", "%.0f"),
)


@router.get("/packs")
def packs_page(
    request: Request,
    design_id: int | None = Query(None),
    template: str = Query(pack_api.LFP_PACK, max_length=64),
    auth: Authenticated = Depends(web_auth),
    s: Session = Depends(db_session, scope="function"),
) -> HTMLResponse:
    actor = auth.actor
    choices = s.execute(
        access.readable(actor, "design")
        .with_only_columns(Design.id, Design.name)
        .order_by((Design.owner_org_id != actor.org_id), Design.id)
        .limit(MAX_CHOICES)
    ).all()
    result = None
    error = None
    if design_id is not None:
        try:
            row = access.get_for_read(s, actor, "design", design_id)
            result = pack_api.evaluate_design_pack(row, template, pack_api.price_set_of(request))
        except NotFound as e:
            error = str(e)
        except CasipInputError as e:
            error = str(e)
    return render(
        request,
        auth,
        s,
        "packs.html",
        references=pack_api.references(pack_api.price_set_of(request)),
        templates=REFERENCE_IDS,
        choices=choices,
        design_id=design_id,
        template=template,
        result=result,
        error=error,
        rows=ROWS,
    )
