"""The materials library, read-only: what a design's material fields may name.

Any logged-in account may read it (the library is bundled with CASIP, the same for everyone).
The design form uses it to offer the materials of each category.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from casip.errors import CasipInputError, Problem
from casip.materials.library import load_library
from casip.materials.records import Category
from casip.platform.deps import CommitRoute, CurrentActor

router = APIRouter(route_class=CommitRoute, prefix="/api", tags=["materials"])

#: material properties listed per item (value only; the sources are in ``casip materials``)
PROPERTIES = (
    "density_g_cm3",
    "cost_usd_kg",
    "specific_capacity_mAh_g",
    "average_voltage_V",
    "ionic_conductivity_S_cm",
)


def material_items(category: str | None = None) -> list[dict[str, Any]]:
    """The bundled library's materials as JSON-friendly dicts, sorted by category and id.

    Parameters
    ----------
    category : str, optional
        Only materials of this :class:`~casip.materials.records.Category` (e.g.
        ``cathode_active``).

    Raises
    ------
    CasipInputError
        For a category that is not one of :class:`~casip.materials.records.Category`.
    """
    allowed = [c.value for c in Category]
    if category is not None and category not in allowed:
        raise CasipInputError(
            Problem(
                "category", "unknown material category", category, "one of " + ", ".join(allowed)
            )
        )
    lib = load_library()
    items = []
    for m in lib.materials.values():
        if category is not None and m.category.value != category:
            continue
        item: dict[str, Any] = {"id": m.id, "name": m.name, "category": m.category.value}
        for p in PROPERTIES:
            v = getattr(m, p)
            item[p] = v.value if v is not None else None
        items.append(item)
    items.sort(key=lambda x: (allowed.index(x["category"]), x["id"].lower()))
    return items


@router.get("/materials", summary="The materials library (read-only), optionally one category")
def list_materials(
    actor: CurrentActor,
    category: str | None = Query(
        None,
        max_length=40,
        description="only this category: " + ", ".join(c.value for c in Category),
    ),
) -> dict:
    items = material_items(category)
    return {"items": items, "total": len(items), "categories": [c.value for c in Category]}
