"""The design engine's Python API: evaluate one design, many designs, or a sweep.

>>> from casip.cells import reference_design
>>> from casip.design import evaluate
>>> r = evaluate(reference_design("lfp-blade"))
>>> round(r.specific_energy_Wh_kg)  # doctest: +SKIP
170
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from casip.design import engine
from casip.design.compile import EXCLUSIVE, Compiled, compile_design, reprice_by_area
from casip.design.ranges import range_warnings, sweep_range_warnings
from casip.design.schema import SCHEMA_ID, Design, validate_design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary

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
    "theoretical_specific_energy_Wh_kg",
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


def nan_to_none(x: object) -> object:
    """``x`` with every non-finite float (in nested dicts and lists) replaced by None: the
    JSON-friendly form of a metrics dataclass's ``asdict`` (cells here, packs in casip.pack)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x


@dataclass
class CellMetrics:
    """Everything the design engine computes for one design.

    Units are in the names. Breakdowns are dicts of component -> value; ``element_demand_kg_GWh``
    is the mass of each element per GWh of cell energy. ``cost_usd`` and ``cost_usd_kWh`` are the
    cell's **materials cost** (no manufacturing) at the prices of ``price_set`` (see
    :mod:`casip.cost.prices`); ``cost_usd_kWh`` is NaN when the library lacks a price for a
    material used; ``missing_cost`` names those materials.
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
    theoretical_specific_energy_Wh_kg: float
    geometry: dict[str, float]
    mass_breakdown_g: dict[str, float]
    volume_breakdown_cm3: dict[str, float]
    cost_breakdown_usd: dict[str, float]
    element_demand_kg_GWh: dict[str, float]
    missing_cost: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The price set of the materials cost (``library``: the materials files' own prices).
    price_set: str = "library"

    def to_dict(self) -> dict:
        """A JSON-friendly dict (NaN becomes None)."""

        return nan_to_none(asdict(self))

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


def _library(library: MaterialLibrary | None, prices) -> MaterialLibrary:
    """The library to price with: the given one as it is, unless a price set is asked for; the
    bundled one at the most recent price set by default (:mod:`casip.cost.prices`)."""
    if library is not None and prices is None:
        return library
    from casip.cost.prices import priced_library

    return priced_library(library, prices)


def _resolve(design: Design | Mapping, source: str | None) -> Design:
    if isinstance(design, Design):
        return design
    data = dict(design)
    data.setdefault("schema", SCHEMA_ID)  # a dict in Python may leave the version implicit
    return validate_design(data, source or "<dict>")


def compile(
    design: Design | Mapping, library: MaterialLibrary | None = None, source: str | None = None,
    *, prices=None,
) -> Compiled:
    """Validate and flatten a design (a :class:`Design` or a dict of the file format)."""
    lib = _library(library, prices)
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


def _fit_problem(status: int, out: Mapping[str, np.ndarray], d: Design) -> Problem:
    """Why a design does not fit its format, with the numbers."""
    def val(k: str) -> float:
        return float(out[k])

    msg = engine.STATUS[status]
    if status == 1:
        return Problem(
            "format",
            f"{msg}: the electrodes come out {val('electrode_width_mm'):.1f} x "
            f"{val('electrode_height_mm'):.1f} mm",
            expected="a larger can, or smaller clearances, headspace and overhangs",
        )
    if status == 2:
        return Problem(
            "format.thickness_mm",
            f"{msg}: {val('usable_thickness_mm'):.2f} mm of usable thickness",
            d.format.thickness_mm if d.format.type == "prismatic" else None,
            "a thicker can or thinner layers",
        )
    if status == 3:
        fm = d.format
        return Problem(
            "format.layers",
            f"{msg}: {int(val('layers'))} layers make a "
            f"{val('stack_thickness_discharged_mm'):.2f} mm stack, "
            f"{val('usable_thickness_mm'):.2f} mm is usable",
            getattr(fm, "layers", None),
            "fewer layers (leave 'layers' out to fit the most)",
        )
    if status == 5:
        return Problem(
            "format",
            f"{msg}: charged it is {val('stack_thickness_mm'):.2f} mm against "
            f"{val('inner_thickness_mm'):.2f} mm inside the can",
            expected="a lower fill_fraction or fewer layers",
        )
    return Problem("format", msg)


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
        raise CasipInputError(_fit_problem(status, out, d), source=source or d.name)
    g = {k: float(out[k]) for k in GEOMETRY}
    warnings = list(comp.warnings)
    if d.anode.type == "intercalation" and g["np_ratio"] < 1 and not any(
        "np_ratio" in w for w in warnings
    ):
        warnings.append(
            f"the anode's N/P ratio is {g['np_ratio']:.3g} < 1: the cell is anode-limited "
            "(capacity scaled by N/P) and would plate lithium on a full charge"
        )
    warnings += range_warnings(d, g, known=warnings)
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
        warnings=warnings,
        price_set=getattr(lib, "price_set", None) or "library",
        **{k: float(out[k]) for k in (*HEADLINE, "cost_usd")},
    )


def evaluate(
    design: Design | Mapping, library: MaterialLibrary | None = None, source: str | None = None,
    *, prices=None,
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
    prices : str or PriceSet, optional
        The price set of the materials cost (:func:`casip.cost.load_price_set`). By default
        the most recent set when ``library`` is not given, else the library's own prices.

    Raises
    ------
    CasipInputError
        If the design is invalid, a material is unknown or lacks a needed value, or the stack
        does not fit the chosen can.
    """
    lib = _library(library, prices)
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


#: Paths that, with ``anode.np_ratio``, size the same anode.
_NP_PEERS = ("anode.lithium_thickness_um", "anode.thickness_um")

#: Paths whose values must be whole numbers.
_INTEGER_PATHS = frozenset({"format.layers"})


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


def with_updates(design: Design, updates: Mapping[str, object]) -> Design:
    """A copy of ``design`` with dotted-path ``updates`` applied and validated, e.g.
    ``{"cathode.areal_capacity_mAh_cm2": 5.0, "format.layers": 30}``.

    A sizing value replaces its peers (setting the cathode's areal capacity drops its
    thickness and loading; setting ``anode.np_ratio`` drops the anode thickness), as in
    :func:`sweep`."""
    return _design_with(design, updates)


def _sweep_values(
    values: Mapping[str, Sequence | np.ndarray], grid: bool, field: str
) -> tuple[list[str], list[np.ndarray]]:
    """The swept paths and their value lists, checked: no two paths that size the same layer,
    each a non-empty list, equal lengths when zipped (``grid`` False). Shared by
    :func:`sweep` and :func:`casip.design.sizing.size`."""
    paths = list(values)
    groups = [set((p, *_SIZING_PEERS.get(p, ()))) for p in paths]
    for i, a in enumerate(paths):
        for b in paths[i + 1 :]:
            if b in groups[i] or (a == "anode.np_ratio" and b in _NP_PEERS) or (
                b == "anode.np_ratio" and a in _NP_PEERS
            ):
                raise CasipInputError(
                    Problem(
                        f"{a}, {b}",
                        "these two paths size the same layer; a sweep can vary only one of them",
                        expected="one sizing path per electrode",
                    )
                )
    arrays: list[np.ndarray] = []
    for path in paths:
        v = values[path]
        if isinstance(v, str | bytes) or not hasattr(v, "__len__"):
            raise CasipInputError(
                Problem(path, "values must be a list or array", v, "e.g. [40, 80, 120]")
            )
        arr = np.asarray(list(v) if not isinstance(v, np.ndarray) else v.ravel(), dtype=object)
        if len(arr) == 0:
            raise CasipInputError(Problem(path, "empty list of values", None, "at least one"))
        arrays.append(arr)
    if not grid:
        n = {len(a) for a in arrays}
        if len(n) != 1:
            raise CasipInputError(
                Problem(field, "zipped sweeps need lists of equal length", sorted(n))
            )
    return paths, arrays


def sweep(
    design: Design | Mapping,
    values: Mapping[str, Sequence | np.ndarray],
    *,
    grid: bool = True,
    library: MaterialLibrary | None = None,
    prices=None,
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
    library, prices :
        As in :func:`evaluate`; ``df.attrs["price_set"]`` names the prices of the materials cost.

    Returns
    -------
    pandas.DataFrame
        One row per point: the swept values, then the headline metrics, geometry, mass
        breakdown and ``status`` (0 = ok, see :data:`casip.design.engine.STATUS`).
    """
    lib = _library(library, prices)
    base = _resolve(design, None)
    if not isinstance(values, Mapping) or not values:
        raise CasipInputError(
            Problem("values", "nothing to sweep", None, "a mapping of design path -> values")
        )
    paths, arrays = _sweep_values(values, grid, "values")
    comp = compile_design(base, lib)
    fast = []
    for path, arr in zip(paths, arrays, strict=True):
        try:
            comp.format_key(path)
        except KeyError:
            fast.append(False)
            continue
        if comp.pressure_hardware:  # cell-held hardware is re-sized with each point's cell
            fast.append(False)
            continue
        fast.append(
            all(isinstance(x, int | float | np.number) and not isinstance(x, bool | np.bool_)
                for x in arr)
        )

    def columns(arrs: list[np.ndarray]) -> list[np.ndarray]:
        """The swept values per point: a full grid (numpy, no Python tuples) or zipped."""
        if not grid or len(arrs) == 1:
            return list(arrs)
        mesh = np.meshgrid(*[np.arange(len(a)) for a in arrs], indexing="ij")
        return [a[m.ravel()] for a, m in zip(arrs, mesh, strict=True)]

    if all(fast):
        num = [a.astype(float) for a in arrays]
        for path, col in zip(paths, num, strict=True):
            bad = ~np.isfinite(col)
            if bad.any():
                raise CasipInputError(
                    Problem(path, "values must be finite numbers", col[bad][0], "finite numbers")
                )
            if path in _INTEGER_PATHS and np.any(col != np.round(col)):
                raise CasipInputError(
                    Problem(path, "must be whole numbers", col[col != np.round(col)][0],
                            "integers")
                )
            # the schema checks the range: its extremes are the only values that can fail it
            for extreme in (col.min(), col.max()):
                _design_with(base, {path: int(extreme) if path in _INTEGER_PATHS
                                    else float(extreme)})
        cols = columns(num)
        params = dict(comp.params)
        for path, col in zip(paths, cols, strict=True):
            key = comp.format_key(path)
            params[key] = col
            for peer in EXCLUSIVE.get(key, ()):
                params[peer] = np.nan
            if key == "a_np":
                params["a_li_thickness_um"] = np.nan
                params["a_thickness_um"] = np.nan
        reprice_by_area(params)  # a per-area price follows a swept thickness
        out = engine.evaluate_arrays(params)
        table = {path: col for path, col in zip(paths, cols, strict=True)}
    else:
        cols = columns(arrays)
        outs = []
        for k in range(len(cols[0])):
            point = {path: col[k] for path, col in zip(paths, cols, strict=True)}
            d = _design_with(base, point)
            c = compile_design(d, lib, source=f"sweep point {point}")
            outs.append(engine.evaluate_arrays(c.params))
        out = {k: np.array([o[k] for o in outs]).reshape(-1) for k in outs[0]}
        table = {path: col for path, col in zip(paths, cols, strict=True)}
    columns_out = dict(table)
    for k in (*HEADLINE, *GEOMETRY):
        columns_out[k] = out[k]
    for k in engine.MASS_COMPONENTS:
        columns_out[f"mass_{k}_g"] = out[f"mass_{k}_g"]
    columns_out["status"] = out["status"]
    df = pd.DataFrame(columns_out, copy=False)
    df.attrs["warnings"] = list(comp.warnings)
    df.attrs["price_set"] = lib.price_set or "library"
    low_np = df["np_ratio"][df["status"] == 0] < 1
    if base.anode.type == "intercalation" and low_np.any():
        df.attrs["warnings"].append(
            "some points have N/P < 1: those cells are anode-limited and would plate lithium"
        )
    df.attrs["warnings"] += sweep_range_warnings(base, df)
    return df


def evaluate_many(
    designs: Sequence[Design | Mapping], library: MaterialLibrary | None = None, *, prices=None
) -> pd.DataFrame:
    """Headline metrics of several designs, one row each (index: design name)."""
    lib = _library(library, prices)
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
