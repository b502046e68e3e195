"""The pack model's Python API: read a pack file, evaluate it, fit cells into an envelope.

>>> from casip.pack import evaluate_pack
>>> r = evaluate_pack("ref:blade-ctp")  # doctest: +SKIP
>>> round(r.gross_kWh)  # doctest: +SKIP
72
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.pack import model
from casip.pack.schema import SCHEMA_ID, Pack, validate_pack

#: The bundled reference packs, in the order reports show them.
REFERENCE_IDS = ("blade-ctp", "nmc-modules", "semi-solid-150", "assb-sulfide-modules")

#: Largest pack file read, in bytes.
MAX_PACK_BYTES = 1_000_000


@dataclass
class CellFacts:
    """What the pack model takes from the cell: the design engine's metrics and cell cost."""

    spec: str
    name: str
    format: str
    mass_g: float
    volume_cm3: float
    energy_Wh: float
    capacity_Ah: float
    nominal_voltage_V: float
    width_mm: float
    height_mm: float
    thickness_mm: float
    swelling_mm: float
    stack_width_mm: float
    stack_height_mm: float
    specific_energy_Wh_kg: float
    energy_density_Wh_L: float
    cell_usd_kWh: float
    pressure_MPa: float
    pressure_held_by: str | None
    element_demand_kg_GWh: dict[str, float]


@dataclass
class PackMetrics:
    """Everything the pack model computes for one pack. Units are in the names."""

    name: str
    cell: str
    cell_name: str
    integration: str
    series: int
    parallel: int
    cells: int
    modules: int
    gross_kWh: float
    usable_kWh: float
    nominal_voltage_V: float
    capacity_Ah: float
    mass_kg: float
    volume_L: float
    length_mm: float
    width_mm: float
    height_mm: float
    specific_energy_Wh_kg: float
    usable_Wh_kg: float
    energy_density_Wh_L: float
    gravimetric_cell_to_pack: float
    volumetric_cell_to_pack: float
    cost_usd: float
    cost_usd_kWh: float
    cell_specific_energy_Wh_kg: float
    cell_energy_density_Wh_L: float
    cell_usd_kWh: float
    mass_breakdown_kg: dict[str, float]
    volume_breakdown_L: dict[str, float]
    cost_breakdown_usd: dict[str, float]
    element_demand_kg: dict[str, float]
    details: dict[str, float]
    published: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-friendly dict (NaN becomes None)."""

        from casip.design.api import nan_to_none

        return nan_to_none(asdict(self))

    def headline(self) -> dict[str, float]:
        """The headline figures, in report order."""
        return {k: getattr(self, k) for k in HEADLINE}

    def breakdown(self) -> pd.DataFrame:
        """Mass, volume and cost by component (kg, L, USD)."""
        df = pd.DataFrame({
            "mass_kg": pd.Series(self.mass_breakdown_kg),
            "volume_L": pd.Series(self.volume_breakdown_L),
            "cost_usd": pd.Series(self.cost_breakdown_usd),
        })
        df["mass_share"] = df["mass_kg"] / self.mass_kg
        df.index.name = "component"
        return df[["mass_kg", "mass_share", "volume_L", "cost_usd"]]


HEADLINE = (
    "cells", "series", "parallel", "modules", "nominal_voltage_V", "gross_kWh", "usable_kWh",
    "mass_kg", "volume_L", "length_mm", "width_mm", "height_mm", "specific_energy_Wh_kg",
    "usable_Wh_kg", "energy_density_Wh_L", "gravimetric_cell_to_pack",
    "volumetric_cell_to_pack", "cost_usd_kWh",
)


# --------------------------------------------------------------------------------------------
# Reading


def reference_ids() -> tuple[str, ...]:
    """Ids of the bundled reference packs."""
    return REFERENCE_IDS


def reference_text(pack_id: str) -> str:
    """The YAML text of a reference pack (to copy and edit)."""
    if pack_id not in REFERENCE_IDS:
        raise CasipInputError(Problem("pack", "unknown reference pack", pack_id,
                                      "one of: " + ", ".join(REFERENCE_IDS)))
    return (resources.files("casip.pack") / "data" / f"{pack_id}.yaml").read_text("utf-8")


def read_pack_text(text: str, source: str = "<text>") -> Pack:
    """Parse and validate the YAML text of a pack file."""
    from casip.io import parse_yaml

    return validate_pack(parse_yaml(text, source), source)


def read_pack(spec: str | os.PathLike) -> tuple[Pack, str, Path | None]:
    """A pack from a file path or ``ref:ID``: (pack, source, the file's folder or None)."""
    s = str(spec)
    if s.startswith("ref:"):
        return read_pack_text(reference_text(s[4:]), s), s, None
    from casip.io import read_text_file

    text = read_text_file(spec, "pack file", MAX_PACK_BYTES)
    return read_pack_text(text, s), s, Path(s).resolve().parent


def _resolve_pack(pack, source: str | None) -> tuple[Pack, str, Path | None]:
    if isinstance(pack, Pack):
        return pack, source or pack.name, None
    if isinstance(pack, Mapping):
        data = dict(pack)
        data.setdefault("schema", SCHEMA_ID)
        return validate_pack(data, source or "<dict>"), source or "<dict>", None
    return read_pack(pack)


# --------------------------------------------------------------------------------------------
# The cell


@functools.lru_cache(maxsize=64)
def _cell_cached(spec: str, plant_GWh: float, prices: str | None = None) -> CellFacts:
    if spec.startswith("ref:"):
        from casip.cells import reference_design

        design = reference_design(spec[4:])
    else:
        from casip.io import read_design

        design = read_design(spec)
    return design_cell_facts(design, plant_GWh, spec, prices=prices)


def design_cell_facts(design, plant_GWh: float = 10.0, spec: str = "<design>",
                      prices: str | None = None) -> CellFacts:
    """The pack model's facts of one cell design (a design held in memory, e.g. by the platform).

    Parameters
    ----------
    design : casip.design.schema.Design or dict
        A validated design, or a dict in the design-file format.
    plant_GWh : float
        Cell plant size for the cell cost (:func:`casip.cost.cell_cost`).
    spec : str
        What to call the cell in the facts and in errors.
    prices : str, optional
        The price set of the cell's materials cost (:func:`casip.cost.load_price_set`); the
        most recent by default.

    Returns
    -------
    CellFacts
    """
    from casip.cost import cell_cost, default_process
    from casip.design import evaluate
    from casip.design.schema import Design, validate_design

    if not isinstance(design, Design):
        design = validate_design(dict(design), source=spec)
    m = evaluate(design, source=spec, prices=prices)
    g = m.geometry
    pouch = m.format == "pouch"
    h = design.pressure_hardware
    held_by = h.held_by if h is not None else None
    pressure = float(h.pressure_MPa or 0.0) if held_by in ("module", "pack") else 0.0
    cylindrical = m.format == "cylindrical"
    return CellFacts(
        spec=spec, name=m.name, format=m.format, mass_g=m.mass_g, volume_cm3=m.volume_cm3,
        energy_Wh=m.energy_Wh, capacity_Ah=m.capacity_Ah,
        nominal_voltage_V=m.nominal_voltage_V, width_mm=g["cell_width_mm"],
        height_mm=g["cell_height_mm"], thickness_mm=g["cell_thickness_mm"],
        swelling_mm=(g["stack_thickness_mm"] - g["stack_thickness_discharged_mm"]) if pouch
        else 0.0,
        stack_width_mm=g["cell_width_mm"] if cylindrical else g["electrode_width_mm"],
        stack_height_mm=g["cell_height_mm"] if cylindrical else g["electrode_height_mm"],
        specific_energy_Wh_kg=m.specific_energy_Wh_kg,
        energy_density_Wh_L=m.energy_density_Wh_L,
        # the cell cost on the metrics priced above, on the line the design's separator needs
        cell_usd_kWh=float(np.asarray(cell_cost(m, plant_GWh=plant_GWh,
                                                process=default_process(design)).cell_usd_kWh)),
        pressure_MPa=pressure, pressure_held_by=held_by,
        element_demand_kg_GWh=dict(m.element_demand_kg_GWh),
    )


def cell_facts(pack: Pack, folder: Path | None = None, source: str | None = None,
               prices: str | None = None) -> CellFacts:
    """Evaluate the pack's cell (``ref:ID`` or a design file, relative to the pack file)."""
    spec = pack.cell
    if not spec.startswith("ref:"):
        path = Path(spec)
        if not path.is_absolute() and folder is not None:
            path = folder / path
        if not path.exists():
            raise CasipInputError(
                Problem("cell", "no such design file", spec,
                        "ref:ID of a reference cell, or a design file path (relative to the "
                        "pack file)"), source=source)
        spec = str(path)
    else:
        from casip.cells import reference_ids as cell_ids

        if spec[4:] not in cell_ids():
            raise CasipInputError(
                Problem("cell", "unknown reference cell", spec,
                        "one of: " + ", ".join(f"ref:{c}" for c in cell_ids())), source=source)
    return _cell_cached(spec, float(pack.cost.plant_GWh), prices)


# --------------------------------------------------------------------------------------------
# Compiling a pack into the model's parameters


def _mat(pack_field: str, mid: str, source: str | None) -> model.PackMaterial:
    if mid not in model.PACK_MATERIALS:
        raise CasipInputError(
            Problem(pack_field, "unknown pack material", mid,
                    "one of: " + ", ".join(model.PACK_MATERIALS)), source=source)
    return model.PACK_MATERIALS[mid]


#: Which pack-file field names each component's material.
COMPONENT_MATERIAL = {
    "compression_pads": "swelling.pad_material",
    "cell_barriers": "insulation.between_cells_material",
    "module_housings": "module.material",
    "busbars": "busbars.material",
    "cold_plates": "thermal.plate_material",
    "coolant": "thermal.coolant",
    "thermal_interface": "thermal.interface_material",
    "top_insulation": "insulation.material",
    "pack_housing": "housing.material",
    "pack_lid": "housing.lid_material",
    "crash_structure": "crash.material",
}

_RHO = {
    "compression_pads": "rho_pad", "cell_barriers": "rho_between",
    "module_housings": "rho_module", "busbars": "rho_busbar", "cold_plates": "rho_plate",
    "coolant": "rho_coolant", "thermal_interface": "rho_interface", "top_insulation": "rho_top",
    "pack_housing": "rho_housing", "pack_lid": "rho_lid", "crash_structure": "rho_crash",
}


def _get(pack: Pack, dotted: str):
    obj = pack
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def arrangement_counts(pack: Pack, cell: CellFacts) -> tuple[int, int]:
    """Series and parallel counts: as given, or from the target voltage and energy."""
    a = pack.arrangement
    if a.series is not None and a.parallel is not None:
        return a.series, a.parallel
    s = max(1, round(a.target_voltage_V / cell.nominal_voltage_V))
    par = max(1, math.ceil(a.target_energy_kWh * 1e3 / (s * cell.energy_Wh) - 1e-9))
    return s, par


def compile_pack(pack: Pack, cell: CellFacts, source: str | None = None
                 ) -> tuple[dict[str, float], str, dict[str, str]]:
    """The model parameters of one pack: (params, pressure kind, component -> material id)."""
    s, par = arrangement_counts(pack, cell)
    mod = pack.module if pack.integration == "modules" else None
    mats: dict[str, str] = {}
    p: dict[str, float] = {}
    for comp, fld in COMPONENT_MATERIAL.items():
        if comp == "module_housings" and mod is None:
            mid = "aluminium"  # no modules: the count is zero, any material does
        else:
            mid = _get(pack, fld)
        pm = _mat(fld, mid, source)
        mats[comp] = mid
        p[_RHO[comp]] = pm.density_g_cm3
        p[f"usd_kg_{comp}"] = pm.usd_kg
    # stack-pressure hardware: a material of the materials library (as on the cell)
    pr = pack.pressure
    pressure = pr.pressure_MPa if pr.pressure_MPa is not None else cell.pressure_MPa
    if cell.pressure_held_by == "cell" and pr.pressure_MPa is not None:
        raise CasipInputError(
            Problem("pressure.pressure_MPa", "the cell holds its own stack pressure "
                    "(pressure_hardware.held_by: cell), so the pack must not hold it again",
                    pr.pressure_MPa, "no pressure_MPa here, or held_by module/pack in the "
                    "cell design"), source=source)
    from casip.cost.prices import priced_library
    from casip.design.pressure import allowable_stresses

    lib = priced_library(None, None)
    if pr.material not in lib.materials:
        raise CasipInputError(Problem("pressure.material", "unknown hardware material",
                                      pr.material, "a material id of category hardware, e.g. "
                                      "steel_hardware"), source=source)
    hwm = lib.materials[pr.material]
    defaults = allowable_stresses(pr.material)
    plate = pr.allowable_stress_MPa or (defaults[0] if defaults else None)
    tie = pr.tie_allowable_stress_MPa or (defaults[1] if defaults else None)
    if pressure and (plate is None or tie is None):
        raise CasipInputError(Problem(
            "pressure.allowable_stress_MPa", f"no default allowable stress for {pr.material}",
            None, "allowable_stress_MPa and tie_allowable_stress_MPa"), source=source)
    p["rho_pressure"] = hwm.density_g_cm3.value
    price = hwm.cost_usd_kg.value if hwm.cost_usd_kg is not None else float("nan")
    p["usd_kg_pressure_hardware"] = price
    mats["pressure_hardware"] = pr.material
    lay, h, b, t, ins, sw, e, c, w = (pack.layout, pack.housing, pack.busbars, pack.thermal,
                                      pack.insulation, pack.swelling, pack.electronics,
                                      pack.crash, pack.window)
    p.update({
        "series": s, "parallel": par, "is_modules": 1.0 if mod else 0.0,
        "has_lid": 0.0 if pack.integration == "cell_to_body" else 1.0,
        "rows": lay.rows, "layers": lay.layers, "cells_per_module": lay.cells_per_module or 1,
        "clearance_mm": lay.clearance_mm, "row_gap_mm": lay.row_gap_mm,
        "module_gap_mm": lay.module_gap_mm, "busbar_space_mm": lay.busbar_space_mm,
        "cell_mass_g": cell.mass_g, "cell_volume_cm3": cell.volume_cm3,
        "cell_energy_Wh": cell.energy_Wh, "cell_capacity_Ah": cell.capacity_Ah,
        "cell_voltage_V": cell.nominal_voltage_V, "cell_width_mm": cell.width_mm,
        "cell_height_mm": cell.height_mm, "cell_thickness_mm": cell.thickness_mm,
        "swelling_mm": cell.swelling_mm, "stack_width_mm": cell.stack_width_mm,
        "stack_height_mm": cell.stack_height_mm, "cell_usd_kWh": cell.cell_usd_kWh,
        "module_wall_mm": mod.wall_mm if mod else 0.0,
        "module_end_plate_mm": mod.end_plate_mm if mod else 0.0,
        "module_electronics_g": mod.electronics_g if mod else 0.0,
        "module_electronics_usd": MODULE_ELECTRONICS_USD,
        "housing_wall_mm": h.wall_mm, "housing_floor_mm": h.floor_mm, "lid_mm": h.lid_mm,
        "current_density_A_mm2": b.current_density_A_mm2, "max_c_rate": b.max_c_rate,
        "link_extra_mm": b.link_extra_mm, "module_link_mm": b.module_link_mm,
        "plate_mm": t.plate_mm, "channel_fraction": t.channel_fraction,
        "interface_mm": t.interface_mm, "top_sheet_mm": ins.top_sheet_mm,
        "between_cells_mm": ins.between_cells_mm, "every_n_cells": ins.every_n_cells,
        "min_pad_mm": sw.min_pad_mm, "pad_compression": sw.pad_compression,
        "bms_kg": e.bms_kg, "harness_g_per_cell": e.harness_g_per_cell, "bms_usd": e.bms_usd,
        "harness_usd_per_cell": e.harness_usd_per_cell,
        "frame_section_mm2": c.frame_section_mm2, "cross_members": c.cross_members,
        "cross_member_section_mm2": c.cross_member_section_mm2,
        "soc_min": w.soc_min, "soc_max": w.soc_max,
        "pressure_MPa": float(pressure or 0.0),
        "allow_plate_MPa": plate or 1.0, "allow_tie_MPa": tie or 1.0,
        "assembly_usd": pack.cost.assembly_usd,
    })
    if pr.ties is not None:
        p["ties"] = pr.ties
    p["hex_packing"] = 1.0 if _hex_packing(pack, cell, float(pressure or 0.0), source) else 0.0
    return p, pr.kind, mats


def _hex_packing(pack: Pack, cell: CellFacts, pressure: float, source: str | None) -> bool:
    """Whether the pack's rows are staggered (``layout.cylinder_packing: hex``), checked."""
    if pack.layout.cylinder_packing != "hex":
        return False
    why = None
    if cell.format != "cylindrical":
        why = f"the cell is {cell.format}; only round cells nest in staggered rows"
    elif pack.integration == "modules":
        why = "module walls keep rows of modules from nesting"
    elif pressure > 0:
        why = "the pressure fixture's plates keep rows from nesting"
    if why is not None:
        raise CasipInputError(Problem(
            "layout.cylinder_packing", f"hex packing does not apply: {why}", "hex",
            "square, or hex with a cylindrical cell in cell_to_pack or cell_to_body and no "
            "pack-held stack pressure"), source=source)
    return True


#: Cost of one module's monitoring board and connectors [USD] (assumption).
MODULE_ELECTRONICS_USD = 30.0


def _element_demand(out: Mapping[str, np.ndarray], cell: CellFacts, mats: Mapping[str, str],
                    i: int = 0) -> dict[str, float]:
    """Element demand per pack [kg]: the cell's kg/GWh x the pack's cell energy, plus the
    main element of each metal overhead (its mass x the element's share)."""
    gwh = float(out["gross_kWh"][i]) * 1e-6
    dem = {el: v * gwh for el, v in cell.element_demand_kg_GWh.items()}
    for comp, mid in mats.items():
        pm = model.PACK_MATERIALS.get(mid)
        if pm is None or pm.element is None:
            continue
        el, share = pm.element
        dem[el] = dem.get(el, 0.0) + float(out[f"mass_{comp}_g"][i]) * 1e-3 * share
    if mats.get("pressure_hardware") == "steel_hardware":
        dem["Fe"] = dem.get("Fe", 0.0) + float(out["mass_pressure_hardware_g"][i]) * 1e-3 * 0.98
    return dict(sorted(dem.items()))


def _warnings(pack: Pack, cell: CellFacts, out: Mapping[str, np.ndarray]) -> list[str]:
    w = []
    if cell.pressure_held_by == "module" and pack.integration != "modules":
        w.append("the cell design says held_by module but the pack has no modules: the "
                 "pressure is held by each row's end plates (a pack-level fixture)")
    if float(out["volume_free_space_L"][0]) < 0:
        w.append("the itemised volumes exceed the pack box: check wall and plate thicknesses")
    return w


def _metrics(pack: Pack, cell: CellFacts, out: Mapping[str, np.ndarray],
             mats: Mapping[str, str], i: int = 0) -> PackMetrics:
    def f(k: str) -> float:
        return float(np.asarray(out[k]).ravel()[i] if np.ndim(out[k]) else out[k])

    mass = {c: f(f"mass_{c}_g") * 1e-3 for c in model.MASS_COMPONENTS}
    vol_keys = [k[len("volume_"):-2] for k in out if k.startswith("volume_") and k != "volume_L"]
    vol = {c: f(f"volume_{c}_L") for c in vol_keys}
    cost = {k[len("cost_"):-4]: f(k) for k in out
            if k.startswith("cost_") and k.endswith("_usd") and k != "cost_usd"}
    details = {k: f(k) for k in ("pitch_mm", "pad_mm", "unit_length_mm", "cells_per_unit",
                                 "n_units", "units_per_row", "end_plate_mm", "tie_mm",
                                 "fixture_force_kN", "busbar_section_mm2")}
    details["pressure_MPa"] = f("pressure_MPa") if "pressure_MPa" in out else cell.pressure_MPa
    details["swelling_mm"] = cell.swelling_mm
    return PackMetrics(
        name=pack.name, cell=pack.cell, cell_name=cell.name, integration=pack.integration,
        series=round(f("series")), parallel=round(f("parallel")),
        cells=round(f("cells")), modules=round(f("modules")),
        gross_kWh=f("gross_kWh"), usable_kWh=f("usable_kWh"),
        nominal_voltage_V=f("nominal_voltage_V"), capacity_Ah=f("capacity_Ah"),
        mass_kg=f("mass_kg"), volume_L=f("volume_L"), length_mm=f("length_mm"),
        width_mm=f("width_mm"), height_mm=f("height_mm"),
        specific_energy_Wh_kg=f("specific_energy_Wh_kg"), usable_Wh_kg=f("usable_Wh_kg"),
        energy_density_Wh_L=f("energy_density_Wh_L"),
        gravimetric_cell_to_pack=f("gravimetric_cell_to_pack"),
        volumetric_cell_to_pack=f("volumetric_cell_to_pack"),
        cost_usd=f("cost_usd"), cost_usd_kWh=f("cost_usd_kWh"),
        cell_specific_energy_Wh_kg=cell.specific_energy_Wh_kg,
        cell_energy_density_Wh_L=cell.energy_density_Wh_L, cell_usd_kWh=cell.cell_usd_kWh,
        mass_breakdown_kg=mass, volume_breakdown_L=vol, cost_breakdown_usd=cost,
        element_demand_kg=_element_demand(out, cell, mats, i), details=details,
        published=[pf.model_dump() for pf in pack.published],
        warnings=_warnings(pack, cell, out),
    )


def evaluate_pack(pack, source: str | None = None, cell_design=None,
                  prices: str | None = None) -> PackMetrics:
    """Evaluate one pack: kWh, mass and volume breakdowns, Wh/kg, Wh/L, $/kWh.

    Parameters
    ----------
    pack : Pack, dict, str or path
        A validated :class:`~casip.pack.schema.Pack`, a dict in the pack-file format, a pack
        file path or ``ref:ID`` of a reference pack.
    source : str, optional
        Where a Pack or dict came from, named in errors.
    cell_design : casip.design.schema.Design, dict or CellFacts, optional
        The cell as a design held in memory (e.g. one stored in the platform), or its
        :class:`CellFacts` already computed (:func:`design_cell_facts`); when given, it
        replaces the pack's ``cell`` (which then only names the cell).
    prices : str, optional
        The price set of the cells' materials cost (the most recent by default).

    Returns
    -------
    PackMetrics

    Raises
    ------
    CasipInputError
        If the file is invalid, its cell unknown or invalid, or a material unknown.
    """
    pk, src, folder = _resolve_pack(pack, source)
    if isinstance(cell_design, CellFacts):
        cell = cell_design
    elif cell_design is not None:
        cell = design_cell_facts(cell_design, float(pk.cost.plant_GWh), pk.cell, prices=prices)
    else:
        cell = cell_facts(pk, folder, src, prices=prices)
    p, kind, mats = compile_pack(pk, cell, src)
    out = model.evaluate_arrays({k: np.atleast_1d(v) for k, v in p.items()}, kind)
    out = {**out, "series": np.atleast_1d(p["series"]), "parallel": np.atleast_1d(p["parallel"]),
           "pressure_MPa": np.atleast_1d(p["pressure_MPa"])}
    return _metrics(pk, cell, out, mats)


# --------------------------------------------------------------------------------------------
# Fixed envelope


@dataclass
class EnvelopeFit:
    """How many whole cells fit a pack envelope, and the pack they make.

    ``rows``, ``layers``, ``units_per_row`` and ``cells_per_unit`` are counted in the pack's
    own frame (stack along x, cell width along y, cell height along z; see
    :mod:`casip.pack.model`), which ``orientation`` places in the envelope
    (:data:`ORIENTATIONS`). ``candidates`` lists every admissible orientation tried, with
    its counts (``cells_fit`` whole cells fit, ``cells_used`` of them wired into the pack),
    gross kWh and mass (kWh 0 and mass NaN when not one series string fits).
    """

    envelope_mm: tuple[float, float, float]
    rows: int
    layers: int
    units_per_row: int
    cells_per_unit: int
    cells_fit: int
    pack: PackMetrics | None
    rule: str
    orientation: str = "upright_length"
    cylinder_packing: str = "square"
    candidates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-friendly dict (NaN becomes None)."""
        from casip.design.api import nan_to_none

        d = asdict(self)
        d["pack"] = self.pack.to_dict() if self.pack is not None else None
        return nan_to_none(d)

    def candidates_table(self) -> pd.DataFrame:
        """The orientations tried, one row each (the chosen one flagged)."""
        df = pd.DataFrame(self.candidates)
        if not df.empty:
            df["chosen"] = df["orientation"] == self.orientation
        return df


#: Orientations of the pack in the envelope: which envelope axis (0 length, 1 width,
#: 2 height) takes the model's stacking axis x, its cell-width axis y and its cell-height
#: axis z. ``upright``: cell height vertical (on edge; cylinders standing); ``flat``: cell
#: thickness vertical (pouch and prismatic only), the cell's width along the named axis.
ORIENTATIONS: dict[str, tuple[int, int, int]] = {
    "upright_length": (0, 1, 2),
    "upright_width": (1, 0, 2),
    "flat_length": (2, 0, 1),
    "flat_width": (2, 1, 0),
}

_AXES = ("length", "width", "height")


def admissible_orientations(cell_format: str) -> tuple[str, ...]:
    """Orientations a cell format may take: all four for pouch and prismatic cells, the two
    upright ones (standing) for cylindrical cells."""
    if cell_format == "cylindrical":
        return ("upright_length", "upright_width")
    return tuple(ORIENTATIONS)


def _describe(orientation: str, cell_format: str) -> str:
    x, y, _ = (_AXES[i] for i in ORIENTATIONS[orientation])
    if orientation.startswith("flat"):
        return f"cells lying flat (thickness vertical), stacked upwards, width along the {y}"
    if cell_format == "cylindrical":
        return f"cells standing, rows along the {x}"
    return f"cells on edge (height vertical), stacked along the {x}"


def _fit_counts(p: dict, cell: CellFacts, kind: str, X_env: float, Y_env: float,
                Z_env: float) -> dict:
    """Whole cells in an envelope given in the model's frame (x stack, y width, z height)."""
    one = {k: np.atleast_1d(v) for k, v in p.items()}
    one.update(series=np.array([1.0]), parallel=np.array([1.0]), rows=np.array([1.0]),
               layers=np.array([1.0]))
    pt = model.pitch_mm(one)
    mod = p["is_modules"] > 0
    cpm = p["cells_per_module"] if mod else 1.0
    hw = model.unit_hardware(one, np.array([cpm]), pt["pitch_mm"], kind)
    mw = p["module_wall_mm"] if mod else 0.0
    unit_W = float(max(cell.width_mm, hw["width_mm"][0]) + 2 * mw)
    unit_H = float(max(cell.height_mm, hw["height_mm"][0]) + 2 * mw)
    end = float(hw["end_mm"][0])
    if mod and p["pressure_MPa"] <= 0:
        end = 2 * p["module_end_plate_mm"]
    hexp = p.get("hex_packing", 0.0) > 0
    row_pitch = float(pt["row_pitch_mm"][0]) if hexp else unit_W
    lid = p["lid_mm"] * p["has_lid"]
    X = X_env - 2 * p["housing_wall_mm"] - 2 * p["clearance_mm"]
    Y = Y_env - 2 * p["housing_wall_mm"] - 2 * p["clearance_mm"]
    Z = Z_env - p["housing_floor_mm"] - lid - p["top_sheet_mm"] - p["clearance_mm"]
    layers = max(0, math.floor(Z / (unit_H + p["busbar_space_mm"] + p["interface_mm"]
                                    + p["plate_mm"]) + 1e-9))
    # first row takes the unit width, each further row one row pitch + the row gap
    rows = 0 if Y < unit_W - 1e-9 else \
        1 + math.floor((Y - unit_W) / (row_pitch + p["row_gap_mm"]) + 1e-9)
    pitch = float(pt["pitch_mm"][0])
    staggered = ""
    if mod:
        unit_L = cpm * pitch + end
        upr = max(0, math.floor((X + p["module_gap_mm"]) / (unit_L + p["module_gap_mm"]) + 1e-9))
        per_unit = int(cpm)
        per_layer = rows * upr * per_unit
    else:
        upr = 1
        per_unit = max(0, math.floor((X - end) / pitch + 1e-9))
        per_layer = rows * per_unit
        if hexp and rows > 1 and per_unit > 0:
            if X - end + 1e-9 >= (per_unit + 0.5) * pitch:
                staggered = f", staggered rows of {per_unit}"
            else:  # offset rows hold one cell less
                per_layer = rows * per_unit - rows // 2
                staggered = f", staggered rows of {per_unit} and {per_unit - 1} in turn"
    return {"rows": rows, "layers": layers, "units_per_row": upr, "cells_per_unit": per_unit,
            "cells_fit": layers * per_layer, "staggered": staggered}


def fit_envelope(pack, length_mm: float, width_mm: float, height_mm: float,
                 parallel: int | None = None, source: str | None = None,
                 orientation: str | None = None) -> EnvelopeFit:
    """Fit whole cells into a pack envelope (outer L x W x H, mm) with the pack file's build.

    Every admissible orientation of the pack in the envelope is tried (:data:`ORIENTATIONS`:
    cells upright - on edge, or standing for cylinders - stacked along the length or along
    the width; pouch and prismatic cells also lying flat, thickness vertical, width along the
    length or the width); the one whose pack has the most cells wins (the cells wired
    series x parallel; ties: higher kWh, then lower mass, then more cells fitting, then the
    order above), unless ``orientation`` pins one. A non-upright_length
    orientation is evaluated as the pack of :mod:`casip.pack.model` rotated into the
    envelope (its housing, cold plates and busbar space turn with it: an assumption for the
    flat ones, whose real cold plate would lie under the stacks), so the evaluated pack has
    exactly the counts reported; its ``length_mm``/``width_mm``/``height_mm`` are given in
    the envelope's axes. Today's single orientation (upright_length) is no longer the
    default answer where another fits more cells: e.g. the BYD Blade pack in 2800 x 1500 x 130
    mm fits 191 cells across the width but 202 in two rows along the length.

    Packing rule in the pack's frame (x stack, y cell width, z cell height): layers
    ``= floor(Z_free / (unit height + busbar space + interface + cold plate))``; rows
    ``= 1 + floor((Y_free - unit width) / (row pitch + row gap))`` with row pitch the unit
    width (square) or ``p sqrt(3) / 2`` (``layout.cylinder_packing: hex``, rows staggered by
    ``p / 2``, holding ``n`` and ``n - 1`` cells in turn unless ``n + 1/2`` pitches fit);
    cell-to-pack/body: cells per row ``n = floor((X_free - end plates) / p)``; modules:
    modules per row ``= floor((X_free + gap) / (module length + gap))`` of
    ``cells_per_module`` cells. ``X_free = L - 2 wall - 2 clearance``, ``Y_free`` likewise,
    ``Z_free = H - floor - lid - top sheet - clearance``. The cells that fit are wired
    ``parallel`` (given, else the file's) x ``floor(cells / parallel)`` in series; a file with
    a target voltage keeps its series count and takes ``floor(cells / series)`` in parallel.

    Parameters
    ----------
    pack : Pack, dict, str or path
        The pack (file, ``ref:ID``, dict or :class:`~casip.pack.schema.Pack`).
    length_mm, width_mm, height_mm : float
        The envelope's outer size [mm].
    parallel : int, optional
        Cells in parallel (default: the file's).
    source : str, optional
        Where a Pack or dict came from, named in errors.
    orientation : str, optional
        Pin one of :data:`ORIENTATIONS` (admissible for the cell's format); by default the
        best is chosen.

    Returns
    -------
    EnvelopeFit
        The counts, the candidates, and the evaluated pack (None when not one series string
        fits).

    Raises
    ------
    CasipInputError
        If an envelope size is not positive, ``parallel`` is below 1, the orientation is
        unknown or not admissible for the cell, or the pack file is invalid.
    """
    for name, v in (("length_mm", length_mm), ("width_mm", width_mm), ("height_mm", height_mm)):
        if not (v > 0 and math.isfinite(v)):
            raise CasipInputError(Problem(name, "envelope size must be a positive number", v,
                                          "a length in mm > 0"))
    if orientation is not None and orientation not in ORIENTATIONS:
        raise CasipInputError(Problem("orientation", "unknown orientation", orientation,
                                      "one of: " + ", ".join(ORIENTATIONS)), source=source)
    pk, src, folder = _resolve_pack(pack, source)
    cell = cell_facts(pk, folder, src)
    allowed = admissible_orientations(cell.format)
    if orientation is not None and orientation not in allowed:
        raise CasipInputError(Problem(
            "orientation", f"a {cell.format} cell cannot take this orientation", orientation,
            "one of: " + ", ".join(allowed)), source=src)
    fixed_series = None
    if parallel is None:
        if pk.arrangement.parallel is not None:
            parallel = pk.arrangement.parallel
        else:  # a target voltage: keep its series count, parallel as many as fit
            fixed_series = arrangement_counts(pk, cell)[0]
    elif parallel < 1:
        raise CasipInputError(Problem("parallel", "must be at least 1", parallel, ">= 1"))
    p, kind, _ = compile_pack(pk, cell, src)
    env = (float(length_mm), float(width_mm), float(height_mm))

    def build(name: str) -> tuple[dict, PackMetrics | None]:
        axes = ORIENTATIONS[name]
        c = _fit_counts(p, cell, kind, *(env[i] for i in axes))
        n_fit = c["cells_fit"]
        if fixed_series is not None:
            series, par = fixed_series, n_fit // fixed_series
            if par < 1:
                series = 0
        else:
            series, par = n_fit // parallel, parallel
        metrics = None
        if series >= 1 and c["rows"] >= 1 and c["layers"] >= 1:
            data = pk.model_dump(by_alias=True)
            data["arrangement"] = {"series": int(series), "parallel": int(par)}
            data["layout"]["rows"] = int(c["rows"])
            data["layout"]["layers"] = int(c["layers"])
            data["name"] = f"{pk.name} (fit {length_mm:g} x {width_mm:g} x {height_mm:g} mm)"
            if not Path(pk.cell).is_absolute() and not pk.cell.startswith("ref:"):
                data["cell"] = cell.spec
            metrics = evaluate_pack(validate_pack(data, src), src)
            # the model's box (x, y, z) back in the envelope's axes
            box = [0.0, 0.0, 0.0]
            for i, v in zip(axes, (metrics.length_mm, metrics.width_mm, metrics.height_mm),
                            strict=True):
                box[i] = v
            metrics.length_mm, metrics.width_mm, metrics.height_mm = box
            if name != "upright_length":
                metrics.warnings.append(
                    f"orientation {name}: evaluated as the upright pack rotated into the "
                    "envelope (housing, cold plates and busbar space turn with it)")
        cand = {"orientation": name, "description": _describe(name, cell.format),
                "rows": c["rows"], "layers": c["layers"], "units_per_row": c["units_per_row"],
                "cells_per_unit": c["cells_per_unit"], "cells_fit": n_fit,
                "cells_used": metrics.cells if metrics else 0,
                "gross_kWh": metrics.gross_kWh if metrics else 0.0,
                "mass_kg": metrics.mass_kg if metrics else float("nan"),
                "staggered": c["staggered"]}
        return cand, metrics

    results = {name: build(name) for name in allowed}

    def rank(name: str) -> tuple[float, float, float, float]:
        cand = results[name][0]
        mass = cand["mass_kg"]
        return (cand["cells_used"], cand["gross_kWh"],
                -mass if math.isfinite(mass) else -1e18, cand["cells_fit"])

    chosen = orientation or max(allowed, key=rank)  # max keeps the first of equals
    best, metrics = results[chosen]
    mod = p["is_modules"] > 0
    upr, per_unit = best["units_per_row"], best["cells_per_unit"]
    rule = (best["description"] + "; "
            + (f"{upr} module(s) of {per_unit} per row" if mod else f"{per_unit} per row")
            + best["staggered"] + f", {best['rows']} row(s), {best['layers']} layer(s)")
    candidates = [{k: v for k, v in results[n][0].items() if k != "staggered"} for n in allowed]
    return EnvelopeFit(env, best["rows"], best["layers"], upr, per_unit, best["cells_fit"],
                       metrics, rule, chosen, pk.layout.cylinder_packing, candidates)


# --------------------------------------------------------------------------------------------
# References


def compare_references() -> pd.DataFrame:
    """Computed versus published figures for every reference pack (one row per figure)."""
    rows = []
    for pid in REFERENCE_IDS:
        m = evaluate_pack(f"ref:{pid}")
        for pf in m.published:
            computed = getattr(m, pf["metric"], None)
            rows.append({
                "pack": pid, "metric": pf["metric"],
                "computed": float(computed) if computed is not None else float("nan"),
                "published": pf["value"],
                "difference": (float(computed) / pf["value"] - 1.0) if computed is not None
                else float("nan"),
                "source": pf["source"], "note": pf["note"],
            })
    return pd.DataFrame(rows)


def references_table() -> pd.DataFrame:
    """Headline figures of every reference pack, one row each."""
    rows = []
    for pid in REFERENCE_IDS:
        m = evaluate_pack(f"ref:{pid}")
        rows.append({"pack": pid, "cell": m.cell, "integration": m.integration,
                     **m.headline()})
    return pd.DataFrame(rows).set_index("pack")


def evaluate_many(pack, overrides: Mapping[str, np.ndarray], source: str | None = None
                  ) -> dict[str, np.ndarray]:
    """Evaluate one pack file with some model parameters replaced by arrays (one call).

    ``overrides`` maps names of :data:`casip.pack.model.PARAMS` (e.g. ``series``,
    ``housing_wall_mm``) to arrays of equal length; returns the arrays of
    :func:`casip.pack.model.evaluate_arrays`.
    """
    pk, src, folder = _resolve_pack(pack, source)
    cell = cell_facts(pk, folder, src)
    p, kind, _ = compile_pack(pk, cell, src)
    for k in overrides:
        if k not in p and k != "ties":
            raise CasipInputError(Problem(k, "not a pack model parameter", k,
                                          "one of casip.pack.model.PARAMS"))
    p = {**p, **{k: np.asarray(v, dtype=float) for k, v in overrides.items()}}
    return model.evaluate_arrays(p, kind)


__all__ = [
    "ORIENTATIONS", "REFERENCE_IDS", "CellFacts", "EnvelopeFit", "PackMetrics",
    "admissible_orientations", "cell_facts", "compare_references", "compile_pack",
    "design_cell_facts", "evaluate_many", "evaluate_pack", "fit_envelope", "read_pack",
    "read_pack_text", "reference_ids", "reference_text", "references_table",
]
