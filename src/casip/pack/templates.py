"""A cell design put into a reference pack: the template packs of the platform and its benchmark.

A *template* is one of the reference packs (:data:`casip.pack.REFERENCE_IDS`). A design is put
into a template by keeping everything of the template (integration, housing, thermal system,
electronics, structure, pressure fixtures, usable window) but its cell and its arrangement. The
arrangement becomes a target of the template's own nominal voltage and gross energy, so
``series = round(V / cell V)`` and ``parallel = ceil(E / (series x cell E))``
(:class:`casip.pack.schema.Arrangement`): every design is built into a pack of the same
voltage class and (to within one parallel string) the same energy, and what differs between
two designs' template packs is what their cells do to the pack, not the pack's size.

The rows follow the cell: a template keeps its pack's inner width (the reference pack's width
less its walls and clearances) and takes as many rows of the new cell (or of its modules) as
fit across it, ``rows = max(1, floor((W_in + gap) / (w_unit + gap)))`` with ``w_unit`` the
cell's width (plus two module walls in a module pack) and ``gap`` the row gap; its layers stay.
The pack's length then follows from the cell count. Without this a small cell put into a
template built for a long one (a 4680 can into the Blade pack's single row) would make a pack
tens of metres long, with a crash frame and housing to match.

The consortium benchmark's pack KPIs (``docs/pack.md``, "Pack KPIs in the benchmark") are
each design's figures in :data:`BENCHMARK_TEMPLATE`, the cell-to-pack template: it is the
integration every member can reach (no module hardware to argue about) and the one in which
LFP's lead is made (BYD's Blade). A design whose stack pressure it says is ``held_by: module``
has it held by the pack's end plates there (the pack model warns and sizes them).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

from casip.errors import CasipInputError, Problem
from casip.pack.api import (
    REFERENCE_IDS,
    PackMetrics,
    design_cell_facts,
    evaluate_pack,
    read_pack_text,
    reference_text,
)

#: the template of the benchmark's pack KPIs (the LFP cell-to-pack reference pack's build)
BENCHMARK_TEMPLATE = "blade-ctp"


@functools.lru_cache(maxsize=16)
def template_size(template: str, prices: str | None = None) -> tuple[float, float]:
    """``(nominal voltage [V], gross energy [kWh])`` of the reference pack ``template``."""
    check_template(template)
    m = evaluate_pack(f"ref:{template}", prices=prices)
    return float(m.nominal_voltage_V), float(m.gross_kWh)


def check_template(template: str) -> str:
    """``template`` if it is a reference pack id, else a :class:`CasipInputError`."""
    if template not in REFERENCE_IDS:
        raise CasipInputError(
            Problem("template", "unknown pack template", template,
                    "one of: " + ", ".join(REFERENCE_IDS))
        )
    return template


@functools.lru_cache(maxsize=16)
def reference_pack(template: str):
    """The reference pack file of ``template``, parsed and validated once per process (a
    :class:`casip.pack.schema.Pack`; treat it as read-only, take a ``model_dump`` to change
    it)."""
    return read_pack_text(reference_text(check_template(template)), f"ref:{template}")


@functools.lru_cache(maxsize=16)
def _inner_width_mm(template: str) -> float:
    m = evaluate_pack(f"ref:{template}")
    pk = reference_pack(template)
    return float(m.width_mm) - 2.0 * (pk.housing.wall_mm + pk.layout.clearance_mm)


def rows_for(template: str, cell_width_mm: float) -> int:
    """Rows of cells (or modules) of width ``cell_width_mm`` across the inner width of the
    template's reference pack (module docstring)."""
    pk = reference_pack(template)
    unit = float(cell_width_mm)
    if pk.integration == "modules" and pk.module is not None:
        unit += 2.0 * pk.module.wall_mm
    gap = float(pk.layout.row_gap_mm)
    return max(1, math.floor((_inner_width_mm(template) + gap) / (unit + gap) + 1e-9))


def template_pack(template: str, cell: str, name: str,
                  prices: str | None = None,
                  cell_width_mm: float | None = None) -> tuple[dict, float]:
    """The pack-file dict of ``template`` with its cell replaced by ``cell`` (a label or a cell
    spec) and its arrangement by the template's own voltage and gross energy; and that energy.

    Parameters
    ----------
    template : str
        A reference pack id (:data:`casip.pack.REFERENCE_IDS`).
    cell : str
        What the pack file's ``cell`` says (a reference id, a path, or a label when the cell
        design is passed to :func:`casip.pack.evaluate_pack` as ``cell_design``).
    name : str
        The pack's name.
    prices : str, optional
        Price set the template's size is computed with (it does not change the size; it keeps
        the cache keyed as the callers price).
    cell_width_mm : float, optional
        The new cell's width: the rows are set by :func:`rows_for` (the template's rows are
        kept when it is not given).

    Returns
    -------
    tuple
        ``(pack-file dict, the template's gross energy [kWh])``.
    """
    voltage, energy = template_size(check_template(template), prices)
    data = reference_pack(template).model_dump(by_alias=True)
    data["cell"] = cell
    data["name"] = name
    data["published"] = []
    data["arrangement"] = {"target_voltage_V": voltage, "target_energy_kWh": energy}
    if cell_width_mm is not None:
        data["layout"]["rows"] = rows_for(template, cell_width_mm)
    return data, energy


def design_in_template(document: Mapping[str, Any], template: str = BENCHMARK_TEMPLATE,
                       prices: str | None = None, name: str | None = None,
                       source: str | None = None) -> PackMetrics:
    """Evaluate a cell design (a ``casip.design/1`` document or :class:`casip.design.Design`)
    built into ``template`` (see the module docstring).

    Examples
    --------
    >>> from casip.cells import reference_design
    >>> m = design_in_template(reference_design("nmc811-pouch"))
    >>> round(m.specific_energy_Wh_kg) > 200
    True
    """
    label = name or str(getattr(document, "name", None) or dict(document).get("name") or "design")
    # the cell's facts once: its width sets the rows, and the pack is evaluated with them
    cell = design_cell_facts(document, float(reference_pack(template).cost.plant_GWh),
                             "design", prices=prices)
    data, _energy = template_pack(template, "design", f"{label} in {template}", prices,
                                  cell.width_mm)
    return evaluate_pack(data, source=source or f"{label} in {template}", cell_design=cell,
                         prices=prices)


__all__ = [
    "BENCHMARK_TEMPLATE",
    "check_template",
    "design_in_template",
    "reference_pack",
    "rows_for",
    "template_pack",
    "template_size",
]
