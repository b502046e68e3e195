"""Pack arithmetic, vectorised: every input a numpy array over packs (like the cell engine).

:func:`evaluate_arrays` takes a dict of per-pack parameters (built by
:func:`casip.pack.api.compile_pack` from a pack file and its cell's
:class:`~casip.design.CellMetrics`) and returns a dict of arrays: energy, voltage, dimensions,
each overhead's mass and volume, Wh/kg, Wh/L, cell-to-pack ratios and cost. The equations are
given beside each step and collected in ``docs/pack.md``. Units: mm, g, g/cm3, L, Wh, USD.

Geometry (assumptions, stated in ``docs/pack.md``): cells stand on edge, height vertical (z),
width across the pack (y), stacked face to face along their thickness (x). A *unit* is one
stack: a module (integration ``modules``) or a whole row of the pack (``cell_to_pack``,
``cell_to_body``). Units sit in ``rows`` across the pack and ``layers`` on top of each other;
each layer has its own cold plate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from casip.design.pressure import size_hardware


@dataclass(frozen=True)
class PackMaterial:
    """A pack material: density [g/cm3] and price [USD/kg], each with its source."""

    name: str
    density_g_cm3: float
    usd_kg: float
    source: str
    #: Main element and its mass fraction, for element demand (None: not counted).
    element: tuple[str, float] | None = None


_CRC = "CRC Handbook of Chemistry and Physics, 97th ed. (2016), doi:10.1201/9781315380476"

#: Materials of the pack overheads. Densities are handbook or datasheet values; prices are
#: assumptions (order of magnitude of 2024-2025 semi-finished goods) unless a source is named.
PACK_MATERIALS: dict[str, PackMaterial] = {
    "aluminium": PackMaterial(
        "aluminium alloy (6xxx extrusions, 5xxx sheet)", 2.70, 4.0,
        f"density: {_CRC} (Al; 6061 is 2.70); price: assumed, about 1.5x the ~2.5 USD/kg "
        "primary-metal price for extrusion and sheet forming",
        ("Al", 0.97),
    ),
    "steel": PackMaterial(
        "steel sheet (high-strength, cold rolled)", 7.85, 1.2,
        f"density: {_CRC} (Fe 7.87; carbon steels 7.85); price: assumed, cold-rolled sheet",
        ("Fe", 0.98),
    ),
    "copper": PackMaterial(
        "copper busbar (C110)", 8.96, 11.0,
        f"density: {_CRC}; price: assumed, about 10 USD/kg cathode copper plus fabrication",
        ("Cu", 0.999),
    ),
    "mica": PackMaterial(
        "mica sheet (fire barrier)", 2.8, 10.0,
        f"density: {_CRC} (muscovite 2.76-2.88); price: assumed",
    ),
    "aerogel": PackMaterial(
        "silica aerogel blanket (between-cell barrier)", 0.2, 60.0,
        "density: assumed, fibre-reinforced silica aerogel blankets are about 0.15-0.2 g/cm3; "
        "price: assumed",
    ),
    "pu_foam": PackMaterial(
        "microcellular polyurethane compression pad", 0.35, 20.0,
        "density: assumed, microcellular PU pads for cell stacks are about 0.2-0.5 g/cm3; "
        "price: assumed",
    ),
    "glycol50": PackMaterial(
        "50 % ethylene glycol in water", 1.07, 2.0,
        "density: assumed, 50/50 ethylene glycol-water at 20 C is about 1.07 g/cm3; price: "
        "assumed",
    ),
    "gap_filler": PackMaterial(
        "silicone thermal gap filler", 2.6, 15.0,
        "density: assumed, ceramic-filled silicone gap fillers are about 2.5-3.2 g/cm3; "
        "price: assumed",
    ),
    "pp": PackMaterial(
        "polypropylene", 0.90, 2.0, f"density: {_CRC}; price: assumed",
    ),
}

#: Components of the pack mass, in the order reports list them.
MASS_COMPONENTS = (
    "cells",
    "compression_pads",
    "cell_barriers",
    "module_housings",
    "module_electronics",
    "pressure_hardware",
    "busbars",
    "cold_plates",
    "coolant",
    "thermal_interface",
    "top_insulation",
    "pack_housing",
    "pack_lid",
    "crash_structure",
    "bms_harness",
)

#: Components priced per kg of their material (the rest are priced in the pack file).
PRICED_BY_MASS = tuple(c for c in MASS_COMPONENTS if c not in ("cells", "bms_harness",
                                                                 "module_electronics"))


def material(mid: str) -> PackMaterial:
    """A pack material by id; a ``KeyError`` names the known ids."""
    try:
        return PACK_MATERIALS[mid]
    except KeyError:
        raise KeyError(f"unknown pack material {mid!r}; known: "
                       f"{', '.join(PACK_MATERIALS)}") from None


def _a(p: dict, k: str) -> np.ndarray:
    return np.asarray(p[k], dtype=float)


def units(p: dict) -> dict[str, np.ndarray]:
    """Cell counts and the stack (unit) each fixture holds, from the arrangement and layout.

    ``N = S x P``; modules: ``M = ceil(N / cells_per_module)`` units of ``cells_per_module``
    cells, ``ceil(M / (rows x layers))`` per row; cell-to-pack: ``rows x layers`` units (rows)
    of ``ceil(N / (rows x layers))`` cells.
    """
    S, P = _a(p, "series"), _a(p, "parallel")
    mod = _a(p, "is_modules")
    stacks = _a(p, "rows") * _a(p, "layers")
    N = S * P
    cpm = np.maximum(_a(p, "cells_per_module"), 1.0)
    M = np.ceil(N / cpm)
    cells_per_unit = np.where(mod > 0, cpm, np.ceil(N / stacks))
    n_units = np.where(mod > 0, M, stacks)
    units_per_row = np.where(mod > 0, np.ceil(M / stacks), 1.0)
    return {"cells": N, "modules": M * mod, "cells_per_unit": cells_per_unit,
            "n_units": n_units, "units_per_row": units_per_row}


def pitch_mm(p: dict) -> dict[str, np.ndarray]:
    """Cell pitch along the stack and across the rows (square or hexagonal packing).

    Along the stack: ``p = cell thickness + pad + between-cell barrier / every_n``. The pad
    takes up the cell's swelling: ``pad = max(min_pad, swelling / pad_compression)``; the
    swelling is the engine's charged minus discharged stack thickness for a pouch cell and
    zero for a can (prismatic, cylindrical), whose charged stack fits inside the can (the engine
    refuses a design whose does not).

    Across the rows (without the ``row_gap_mm``): the cell width on a square grid; with
    ``hex_packing`` = 1 (cylindrical cells, ``layout.cylinder_packing: hex``) the rows are
    staggered by half a pitch and nest, so the row pitch is ``p sqrt(3) / 2``: two neighbours
    in one row and the cell between them in the next form an equilateral triangle of side
    ``p`` (elementary geometry; its height is ``p sqrt(3) / 2``). With no gaps (``p = D``) a
    cell covers ``D^2`` on the square grid and ``D^2 sqrt(3) / 2`` on the hexagonal one:
    packing fractions ``pi / 4 = 0.785`` and ``pi / (2 sqrt 3) = 0.9069``.

    Parameters
    ----------
    p : dict of str -> float or array
        ``cell_thickness_mm``, ``cell_width_mm``, ``swelling_mm``, ``min_pad_mm``,
        ``pad_compression``, ``between_cells_mm``, ``every_n_cells`` and optionally
        ``hex_packing`` (0 or 1; 0 when absent).

    Returns
    -------
    dict of str -> array
        ``pad_mm``, ``barrier_mm``, ``pitch_mm`` (along the stack) and ``row_pitch_mm``
        (centre to centre across the rows, without the row gap).
    """
    swell = _a(p, "swelling_mm")
    pad = np.maximum(_a(p, "min_pad_mm"), swell / _a(p, "pad_compression"))
    barrier = _a(p, "between_cells_mm") / _a(p, "every_n_cells")
    pitch = _a(p, "cell_thickness_mm") + pad + barrier
    hexp = _a(p, "hex_packing") if "hex_packing" in p else np.asarray(0.0)
    row_pitch = np.where(hexp > 0, pitch * np.sqrt(3.0) / 2.0, _a(p, "cell_width_mm"))
    return {"pad_mm": pad, "barrier_mm": barrier, "pitch_mm": pitch, "row_pitch_mm": row_pitch}


def hex_stagger_mm(p: dict, cells_per_unit, pitch) -> np.ndarray:
    """Extra row length of hexagonal packing: half a pitch when every row is full.

    Staggered rows of a row length ``c p`` hold ``c`` and ``c - 1`` cells in turn
    (``rows c - floor(rows / 2)`` cells per layer); a layer that needs more cells has ``c`` in
    every row and the offset rows stick out by ``p / 2``. Zero for square packing and for one
    row.
    """
    hexp = _a(p, "hex_packing") if "hex_packing" in p else np.asarray(0.0)
    rows, layers = _a(p, "rows"), _a(p, "layers")
    per_layer = np.ceil(_a(p, "series") * _a(p, "parallel") / layers)
    fits_short = per_layer <= rows * cells_per_unit - np.floor(rows / 2)
    return np.where((hexp > 0) & (rows > 1) & ~fits_short, pitch / 2.0, 0.0)


def unit_hardware(p: dict, cells_per_unit, pitch, kind: str = "bands") -> dict[str, np.ndarray]:
    """Stack-pressure hardware of one unit (module or row), from
    :func:`casip.design.pressure.size_hardware`: the cell's pressure over its stack (electrode)
    area, plates at least the cell's footprint, the stack length between the plates. Zero where
    ``pressure_MPa`` is 0 (the cell needs none, or holds its own)."""
    P = _a(p, "pressure_MPa")
    length = cells_per_unit * pitch
    hw = size_hardware(
        P, _a(p, "stack_width_mm"), _a(p, "stack_height_mm"), length,
        _a(p, "rho_pressure"), _a(p, "allow_plate_MPa"), _a(p, "allow_tie_MPa"),
        kind=kind, ties=_a(p, "ties") if "ties" in p else None,
        footprint_a_mm=_a(p, "cell_width_mm"), footprint_b_mm=_a(p, "cell_height_mm"),
    )
    held = P > 0
    hw["end_mm"] = np.where(held, hw["envelope_thickness_mm"] - length, 0.0)
    hw["mass_g"] = np.where(held, hw["mass_g"], 0.0)
    hw["width_mm"] = np.where(held, hw["plate_a_mm"], _a(p, "cell_width_mm"))
    hw["height_mm"] = np.where(held, hw["plate_b_mm"], _a(p, "cell_height_mm"))
    return hw


def evaluate_arrays(p: dict, kind: str = "bands") -> dict[str, np.ndarray]:
    """Evaluate packs: all values of ``p`` broadcast together (one pack per element).

    Parameters
    ----------
    p : dict of str -> float or array
        Per-pack parameters; the keys are listed in :data:`PARAMS` (built by
        :func:`casip.pack.api.compile_pack`).
    kind : str
        Pressure-hardware kind for all packs of the call: ``"bands"`` or ``"plates_bolts"``.

    Returns
    -------
    dict of str -> array
        ``gross_kWh``, ``usable_kWh``, ``nominal_voltage_V``, ``capacity_Ah``, ``mass_kg``,
        ``volume_L``, ``length_mm``/``width_mm``/``height_mm``, ``specific_energy_Wh_kg``,
        ``energy_density_Wh_L``, ``usable_Wh_kg``, ``gravimetric_cell_to_pack``,
        ``volumetric_cell_to_pack``, ``mass_<component>_g`` for each of
        :data:`MASS_COMPONENTS`, ``volume_<component>_L``, ``volume_free_L``, ``cost_*_usd``,
        ``cost_usd`` and ``cost_usd_kWh``, and the counts of :func:`units`.
    """
    u = units(p)
    pt = pitch_mm(p)
    N, M, mod = u["cells"], u["modules"], _a(p, "is_modules")
    cw, ch = _a(p, "cell_width_mm"), _a(p, "cell_height_mm")
    hw = unit_hardware(p, u["cells_per_unit"], pt["pitch_mm"], kind)
    held = _a(p, "pressure_MPa") > 0

    # --- unit (module or row) geometry ------------------------------------------------------
    stack = u["cells_per_unit"] * pt["pitch_mm"] \
        + hex_stagger_mm(p, u["cells_per_unit"], pt["pitch_mm"])
    plain_end = np.where(held, 0.0, 2.0 * _a(p, "module_end_plate_mm")) * mod
    unit_L = stack + hw["end_mm"] + plain_end
    unit_Wi = np.maximum(cw, hw["width_mm"])
    unit_Hi = np.maximum(ch, hw["height_mm"])
    mw = _a(p, "module_wall_mm") * mod
    unit_W, unit_H = unit_Wi + 2 * mw, unit_Hi + 2 * mw
    # module shell: two side walls and top and bottom, around the stack (ends are the plates)
    shell_mm3 = (2 * unit_L * unit_Hi + 2 * unit_L * unit_Wi) * mw
    plain_end_mm3 = plain_end * cw * ch

    # --- pack box ---------------------------------------------------------------------------
    rows, layers, clr = _a(p, "rows"), _a(p, "layers"), _a(p, "clearance_mm")
    upr = u["units_per_row"]
    plate_mm, tim_mm = _a(p, "plate_mm"), _a(p, "interface_mm")
    X_in = upr * unit_L + (upr - 1) * _a(p, "module_gap_mm") * mod + 2 * clr
    # rows: square grid, one unit width apart; hexagonal (cylinders), p sqrt(3)/2 apart
    row_pitch = np.where(_a(p, "hex_packing") > 0, pt["row_pitch_mm"], unit_W) \
        if "hex_packing" in p else unit_W
    Y_in = unit_W + (rows - 1) * (row_pitch + _a(p, "row_gap_mm")) + 2 * clr
    Z_in = layers * (unit_H + _a(p, "busbar_space_mm") + tim_mm + plate_mm) \
        + _a(p, "top_sheet_mm") + clr
    wall, floor_mm = _a(p, "housing_wall_mm"), _a(p, "housing_floor_mm")
    lid_mm = _a(p, "lid_mm") * _a(p, "has_lid")
    X, Y, Z = X_in + 2 * wall, Y_in + 2 * wall, Z_in + floor_mm + lid_mm

    # --- masses [g]: volume [mm3] x density [g/cm3] x 1e-3 ----------------------------------
    g = 1e-3
    m: dict[str, np.ndarray] = {}
    m["cells"] = N * _a(p, "cell_mass_g")
    m["compression_pads"] = N * cw * ch * pt["pad_mm"] * _a(p, "rho_pad") * g
    m["cell_barriers"] = N * cw * ch * pt["barrier_mm"] * _a(p, "rho_between") * g
    m["module_housings"] = M * (shell_mm3 + plain_end_mm3) * _a(p, "rho_module") * g
    m["module_electronics"] = M * _a(p, "module_electronics_g")
    m["pressure_hardware"] = u["n_units"] * hw["mass_g"]
    # busbars: section = max C-rate x capacity x parallel / current density; one link per
    # series group spanning its P cells, plus module-to-module links
    current_A = _a(p, "max_c_rate") * _a(p, "cell_capacity_Ah") * _a(p, "parallel")
    section = current_A / _a(p, "current_density_A_mm2")
    bus_len = _a(p, "series") * (_a(p, "parallel") * pt["pitch_mm"] + _a(p, "link_extra_mm")) \
        + np.maximum(M - 1, 0) * _a(p, "module_link_mm")
    m["busbars"] = section * bus_len * _a(p, "rho_busbar") * g
    plate_area = layers * (X_in - 2 * clr) * (Y_in - 2 * clr)
    cf = _a(p, "channel_fraction")
    m["cold_plates"] = plate_area * plate_mm * (1 - cf) * _a(p, "rho_plate") * g
    m["coolant"] = plate_area * plate_mm * cf * _a(p, "rho_coolant") * g
    m["thermal_interface"] = u["n_units"] * unit_L * unit_W * tim_mm * _a(p, "rho_interface") * g
    m["top_insulation"] = layers * (X_in - 2 * clr) * (Y_in - 2 * clr) \
        * _a(p, "top_sheet_mm") * _a(p, "rho_top") * g
    m["pack_housing"] = (X * Y * floor_mm + 2 * (X + Y) * Z * wall) * _a(p, "rho_housing") * g
    m["pack_lid"] = X * Y * lid_mm * _a(p, "rho_lid") * g
    m["crash_structure"] = (2 * (X + Y) * _a(p, "frame_section_mm2")
                            + _a(p, "cross_members") * Y_in * _a(p, "cross_member_section_mm2")) \
        * _a(p, "rho_crash") * g
    m["bms_harness"] = _a(p, "bms_kg") * 1e3 + N * _a(p, "harness_g_per_cell")
    mass_g = sum(m.values())

    # --- volumes [L] ------------------------------------------------------------------------
    box_L = X * Y * Z * 1e-6
    v: dict[str, np.ndarray] = {}
    rho_of = {
        "compression_pads": "rho_pad", "cell_barriers": "rho_between",
        "module_housings": "rho_module", "pressure_hardware": "rho_pressure",
        "busbars": "rho_busbar", "cold_plates": "rho_plate", "coolant": "rho_coolant",
        "thermal_interface": "rho_interface", "top_insulation": "rho_top",
        "pack_housing": "rho_housing", "pack_lid": "rho_lid",
    }
    v["cells"] = N * _a(p, "cell_volume_cm3") * 1e-3
    for comp, rk in rho_of.items():
        v[comp] = m[comp] / _a(p, rk) * 1e-3  # g / (g/cm3) = cm3 -> L
    # the crash frame sits outside the housing walls (assumption): its volume adds to the box
    crash_L = m["crash_structure"] / _a(p, "rho_crash") * 1e-3
    v["crash_structure"] = crash_L
    volume_L = box_L + crash_L
    v["free_space"] = volume_L - sum(v.values())

    # --- energy -----------------------------------------------------------------------------
    gross_Wh = N * _a(p, "cell_energy_Wh")
    window = _a(p, "soc_max") - _a(p, "soc_min")
    mass_kg = mass_g * 1e-3

    # --- cost [USD] -------------------------------------------------------------------------
    c: dict[str, np.ndarray] = {"cells": gross_Wh * 1e-3 * _a(p, "cell_usd_kWh")}
    for comp in PRICED_BY_MASS:
        c[comp] = m[comp] * 1e-3 * _a(p, f"usd_kg_{comp}")
    c["module_electronics"] = M * _a(p, "module_electronics_usd")
    c["bms_harness"] = _a(p, "bms_usd") + N * _a(p, "harness_usd_per_cell")
    c["assembly"] = _a(p, "assembly_usd") * np.ones_like(gross_Wh)
    cost = sum(c.values())

    out: dict[str, np.ndarray] = {
        **u,
        "pad_mm": pt["pad_mm"],
        "pitch_mm": pt["pitch_mm"],
        "unit_length_mm": unit_L,
        "end_plate_mm": np.where(held, hw["plate_thickness_mm"], plain_end / 2),
        "tie_mm": np.where(held, hw["tie_diameter_mm"], 0.0),
        "fixture_force_kN": np.where(held, hw["force_N"] * 1e-3, 0.0),
        "busbar_section_mm2": section,
        "length_mm": X,
        "width_mm": Y,
        "height_mm": Z,
        "gross_kWh": gross_Wh * 1e-3,
        "usable_kWh": gross_Wh * 1e-3 * window,
        "nominal_voltage_V": _a(p, "series") * _a(p, "cell_voltage_V"),
        "capacity_Ah": _a(p, "parallel") * _a(p, "cell_capacity_Ah"),
        "mass_kg": mass_kg,
        "volume_L": volume_L,
        "specific_energy_Wh_kg": gross_Wh / mass_kg,
        "usable_Wh_kg": gross_Wh * window / mass_kg,
        "energy_density_Wh_L": gross_Wh / volume_L,
        "gravimetric_cell_to_pack": m["cells"] / mass_g,
        "volumetric_cell_to_pack": v["cells"] / volume_L,
        "cost_usd": cost,
        "cost_usd_kWh": cost / (gross_Wh * 1e-3),
    }
    for k, val in m.items():
        out[f"mass_{k}_g"] = val
    for k, val in v.items():
        out[f"volume_{k}_L"] = val
    for k, val in c.items():
        out[f"cost_{k}_usd"] = val
    return out


#: The keys :func:`evaluate_arrays` reads (``ties`` and ``hex_packing`` are optional).
PARAMS = (
    "series", "parallel", "is_modules", "has_lid", "rows", "layers", "cells_per_module",
    "clearance_mm", "row_gap_mm", "module_gap_mm", "busbar_space_mm",
    "cell_mass_g", "cell_volume_cm3", "cell_energy_Wh", "cell_capacity_Ah", "cell_voltage_V",
    "cell_width_mm", "cell_height_mm", "cell_thickness_mm", "swelling_mm", "stack_width_mm",
    "stack_height_mm", "cell_usd_kWh",
    "module_wall_mm", "module_end_plate_mm", "module_electronics_g", "module_electronics_usd",
    "housing_wall_mm", "housing_floor_mm", "lid_mm",
    "current_density_A_mm2", "max_c_rate", "link_extra_mm", "module_link_mm",
    "plate_mm", "channel_fraction", "interface_mm", "top_sheet_mm", "between_cells_mm",
    "every_n_cells", "min_pad_mm", "pad_compression", "bms_kg", "harness_g_per_cell", "bms_usd",
    "harness_usd_per_cell", "frame_section_mm2", "cross_members", "cross_member_section_mm2",
    "soc_min", "soc_max", "pressure_MPa", "allow_plate_MPa", "allow_tie_MPa", "assembly_usd",
    "rho_pad", "rho_between", "rho_module", "rho_pressure", "rho_busbar", "rho_plate",
    "rho_coolant", "rho_interface", "rho_top", "rho_housing", "rho_lid", "rho_crash",
    *(f"usd_kg_{c}" for c in PRICED_BY_MASS),
)

__all__ = ["MASS_COMPONENTS", "PACK_MATERIALS", "PARAMS", "PackMaterial", "evaluate_arrays",
           "hex_stagger_mm", "material", "pitch_mm", "unit_hardware", "units"]
