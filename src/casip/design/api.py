"""The design engine's Python API: evaluate one design, many designs, or a sweep.

>>> from casip.cells import reference_design
>>> from casip.design import evaluate
>>> r = evaluate(reference_design("lfp-blade"))
>>> round(r.specific_energy_Wh_kg)  # doctest: +SKIP
170
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from casip.design import engine
from casip.design.compile import EXCLUSIVE, Compiled, compile_design
from casip.design.schema import SCHEMA_ID, Design, validate_design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library

#: Headline metrics, in the order reports show them.
HEADLINE = (
    "capacity_Ah",
    "nominal_voltage_V",
    "energy_Wh",
    "mass_g",
    "volume_cm3",
    "specific_energy_Wh_kg",
    "energy_density_Wh_L",
    "cost_usd_kWh",
    "couple_specific_energy_Wh_kg",
    "cell_to_couple_specific_energy",
    "couple_energy_density_Wh_L",
    "cell_to_couple_energy_density",
)

GEOMETRY = (
    "layers",
    "electrode_width_mm",
    "electrode_height_mm",
    "cathode_thickness_um",
    "cathode_areal_capacity_mAh_cm2",
    "cathode_loading_mg_cm2",
    "anode_thickness_um",
    "anode_thickness_charged_um",
    "np_ratio",
    "cathode_area_cm2",
    "stack_thickness_mm",
    "stack_thickness_discharged_mm",
    "cell_width_mm",
    "cell_height_mm",
    "cell_thickness_mm",
    "stack_volume_fraction",
)


@dataclass
class CellMetrics:
    """Everything the design engine computes for one design.

    Units are in the names. Breakdowns are dicts of component -> value; ``element_demand_kg_GWh``
    is the mass of each element per GWh of cell energy. ``cost_usd_kWh`` is NaN when the library
    lacks a price for a material used; ``missing_cost`` names those materials.
    """

    name: str
    kind: str
    format: str
    capacity_Ah: float
    nominal_voltage_V: float
    energy_Wh: float
    mass_g: float
    volume_cm3: float
    specific_energy_Wh_kg: float
    energy_density_Wh_L: float
    cost_usd: float
    cost_usd_kWh: float
    couple_specific_energy_Wh_kg: float
    couple_energy_density_Wh_L: float
    cell_to_couple_specific_energy: float
    cell_to_couple_energy_density: float
    geometry: dict[str, float]
    mass_breakdown_g: dict[str, float]
    volume_breakdown_cm3: dict[str, float]
    cost_breakdown_usd: dict[str, float]
    element_demand_kg_GWh: dict[str, float]
    missing_cost: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-friendly dict (NaN becomes None)."""

        def clean(x):
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        return clean(asdict(self))

    def breakdown(self) -> pd.DataFrame:
        """Mass, share of mass, cost and share of cost by component."""
        df = pd.DataFrame(
            {
                "mass_g": pd.Series(self.mass_breakdown_g),
                "cost_usd": pd.Series(self.cost_breakdown_usd),
            }
        )
        df["mass_share"] = df["mass_g"] / self.mass_g
        df["cost_share"] = df["cost_usd"] / self.cost_usd if self.cost_usd else np.nan
        df.index.name = "component"
        return df[["mass_g", "mass_share", "cost_usd", "cost_share"]]

    def headline(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in HEADLINE}


def _resolve(design: Design | Mapping, source: str | None) -> Design:
    if isinstance(design, Design):
        return design
    data = dict(design)
    data.setdefault("schema", SCHEMA_ID)  # a dict in Python may leave the version implicit
    return validate_design(data, source or "<dict>")


def compile(
    design: Design | Mapping, library: MaterialLibrary | None = None, source: str | None = None
) -> Compiled:
    """Validate and flatten a design (a :class:`Design` or a dict of the file format)."""
    lib = library if library is not None else load_library()
    return compile_design(_resolve(design, source), lib, source=source)


def element_demand(
    out: Mapping[str, np.ndarray], slots: Mapping[str, Mapping[str, float]],
    library: MaterialLibrary,
) -> dict[str, np.ndarray]:
    """Element demand in kg per GWh of cell energy, from evaluated masses and their materials.

    ``out`` is the result of :func:`casip.design.engine.evaluate_arrays`; ``slots`` maps each
    mass component to its materials (``Compiled.slots``).
    """
    energy = np.asarray(out["energy_Wh"])
    demand: dict[str, np.ndarray] = {}
    for slot, mats in slots.items():
        m = np.asarray(out[f"mass_{slot}_g"])
        for mid, share in mats.items():
            for el, frac in library.elements(mid).items():
                demand[el] = demand.get(el, 0.0) + m * share * frac
    # g per Wh -> kg per GWh: x 1e9 Wh/GWh / 1e3 g/kg
    return {el: v / energy * 1e6 for el, v in sorted(demand.items())}


def _metrics(
    comp: Compiled,
    out: Mapping[str, np.ndarray],
    lib: MaterialLibrary,
    source: str | None = None,
) -> CellMetrics:
    d = comp.design
    assert d is not None
    status = int(out["status"])
    if status != 0:
        raise CasipInputError(
            Problem("format", engine.STATUS[status]), source=source or d.name
        )
    g = {k: float(out[k]) for k in GEOMETRY}
    mass = {k: float(out[f"mass_{k}_g"]) for k in engine.MASS_COMPONENTS}
    vol = {k: float(out[f"volume_{k}_cm3"]) for k in engine.VOLUME_COMPONENTS}
    cost = {k: float(out[f"cost_{k}_usd"]) for k in engine.MASS_COMPONENTS}
    elements = {k: float(v) for k, v in element_demand(out, comp.slots, lib).items()}
    return CellMetrics(
        name=d.name,
        kind=d.kind.value,
        format=d.format.type,
        geometry=g,
        mass_breakdown_g=mass,
        volume_breakdown_cm3=vol,
        cost_breakdown_usd=cost,
        element_demand_kg_GWh=elements,
        missing_cost=list(comp.missing_cost),
        warnings=list(comp.warnings),
        **{k: float(out[k]) for k in (*HEADLINE, "cost_usd")},
    )


def evaluate(
    design: Design | Mapping, library: MaterialLibrary | None = None, source: str | None = None
) -> CellMetrics:
    """Evaluate one design: capacity, energy, Wh/kg, Wh/L, $/kWh, breakdowns, element demand.

    Parameters
    ----------
    design : Design or dict
        A validated design, or a dict in the design-file format.
    library : MaterialLibrary, optional
        Materials to resolve ids against; the bundled library by default.
    source : str, optional
        Where the design came from, named in error messages.

    Raises
    ------
    CasipInputError
        If the design is invalid, a material is unknown or lacks a needed value, or the stack
        does not fit the chosen can.
    """
    lib = library if library is not None else load_library()
    comp = compile_design(_resolve(design, source), lib, source=source)
    out = engine.evaluate_arrays(comp.params)
    return _metrics(comp, out, lib, source)


def _set_path(data: dict, path: str, value) -> None:
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        if not isinstance(node, dict) or k not in node or node[k] is None:
            raise CasipInputError(
                Problem(path, f"the design has no section {k!r} on this path"),
            )
        node = node[k]
    node[keys[-1]] = value


_SIZING_PEERS = {
    "cathode.thickness_um": ("cathode.areal_capacity_mAh_cm2", "cathode.loading_mg_cm2"),
    "cathode.areal_capacity_mAh_cm2": ("cathode.thickness_um", "cathode.loading_mg_cm2"),
    "cathode.loading_mg_cm2": ("cathode.thickness_um", "cathode.areal_capacity_mAh_cm2"),
    "anode.lithium_thickness_um": ("anode.np_ratio",),
    "anode.thickness_um": ("anode.np_ratio",),
}


def _design_with(design: Design, updates: Mapping[str, object]) -> Design:
    data = design.model_dump(by_alias=True, exclude_none=True)
    for path, value in updates.items():
        for peer in _SIZING_PEERS.get(path, ()):
            section, _, key = peer.partition(".")
            if isinstance(data.get(section), dict):
                data[section].pop(key, None)
        if path == "anode.np_ratio":
            data["anode"].pop("lithium_thickness_um", None)
            data["anode"].pop("thickness_um", None)
        _set_path(data, path, value.item() if isinstance(value, np.generic) else value)
    return validate_design(data, f"sweep of {', '.join(updates)}")


def sweep(
    design: Design | Mapping,
    values: Mapping[str, Sequence | np.ndarray],
    *,
    grid: bool = True,
    library: MaterialLibrary | None = None,
) -> pd.DataFrame:
    """Evaluate a design over ranges of one or more of its fields, in one vectorised call.

    Parameters
    ----------
    design : Design or dict
        The design to start from.
    values : mapping of design path -> values
        e.g. ``{"cathode.thickness_um": np.linspace(40, 160, 25)}``. Numeric paths listed in
        :data:`casip.design.compile.PATHS` are swept as arrays in one call; any other path
        (a material id such as ``cathode.active``) is swept by rebuilding the design per value.
    grid : bool
        True: the full factorial grid of all values. False: the value lists are zipped (they
        must have the same length).

    Returns
    -------
    pandas.DataFrame
        One row per point: the swept values, then the headline metrics, geometry, mass
        breakdown and ``status`` (0 = ok, see :data:`casip.design.engine.STATUS`).
    """
    lib = library if library is not None else load_library()
    base = _resolve(design, None)
    if not values:
        raise CasipInputError(Problem("values", "nothing to sweep", None, "one or more paths"))
    paths = list(values)
    arrays = []
    for path in paths:
        v = values[path]
        seq = list(v) if not isinstance(v, np.ndarray) else list(v.ravel())
        if len(seq) == 0:
            raise CasipInputError(Problem(path, "empty list of values", None, "at least one"))
        arrays.append(seq)
    if grid:
        points = list(itertools.product(*arrays)) if len(paths) > 1 else [(x,) for x in arrays[0]]
    else:
        n = {len(a) for a in arrays}
        if len(n) != 1:
            raise CasipInputError(
                Problem("values", "zipped sweeps need lists of equal length", sorted(n))
            )
        points = list(zip(*arrays, strict=True))
    comp = compile_design(base, lib)
    fast = []
    for path in paths:
        try:
            comp.format_key(path)
            numeric = all(
                isinstance(x, int | float | np.number) and not isinstance(x, bool)
                for x in arrays[paths.index(path)]
            )
            fast.append(numeric)
        except KeyError:
            fast.append(False)

    table = {path: [pt[i] for pt in points] for i, path in enumerate(paths)}
    if all(fast):
        # Check the range once through the schema (min and max), then one vectorised call.
        for i, path in enumerate(paths):
            col = np.asarray(arrays[i], dtype=float)
            for extreme in (np.nanmin(col), np.nanmax(col)):
                _design_with(base, {path: float(extreme)})
        params = dict(comp.params)
        for i, path in enumerate(paths):
            key = comp.format_key(path)
            params[key] = np.asarray([pt[i] for pt in points], dtype=float)
            for peer in EXCLUSIVE.get(key, ()):
                params[peer] = np.nan
            if key == "a_np":
                params["a_li_thickness_um"] = np.nan
                params["a_thickness_um"] = np.nan
        out = engine.evaluate_arrays(params)
    else:
        outs = []
        for pt in points:
            d = _design_with(base, dict(zip(paths, pt, strict=True)))
            c = compile_design(d, lib, source=f"sweep point {dict(zip(paths, pt, strict=True))}")
            outs.append(engine.evaluate_arrays(c.params))
        out = {k: np.array([o[k] for o in outs]).reshape(-1) for k in outs[0]}
    df = pd.DataFrame(table)
    for k in (*HEADLINE, *GEOMETRY):
        df[k] = out[k]
    for k in engine.MASS_COMPONENTS:
        df[f"mass_{k}_g"] = out[f"mass_{k}_g"]
    df["status"] = out["status"]
    return df


def evaluate_many(
    designs: Sequence[Design | Mapping], library: MaterialLibrary | None = None
) -> pd.DataFrame:
    """Headline metrics of several designs, one row each (index: design name)."""
    lib = library if library is not None else load_library()
    rows = []
    for d in designs:
        m = evaluate(d, lib)
        rows.append({"name": m.name, "kind": m.kind, "format": m.format, **m.headline()})
    return pd.DataFrame(rows).set_index("name")


__all__ = [
    "GEOMETRY",
    "HEADLINE",
    "CellMetrics",
    "compile",
    "element_demand",
    "evaluate",
    "evaluate_many",
    "sweep",
]
