"""Stack pressure: which cells need it, and the hardware that holds it on one cell.

Two parts, both documented with their equations in ``docs/model-notes.md`` (section
"Stack-pressure hardware"):

* :func:`pressure_needs` applies sourced rules (:data:`RULES`) to a design: a lithium-metal or
  anode-free cell on a sulfide or oxide solid separator, any all-solid-state cell (solid | solid
  contacts), a silicon-rich anode, a lithium-metal cell with a liquid electrolyte. Each rule
  gives a typical stack pressure and, where the literature gives one, the minimum below which
  the cited cells were not shown to cycle. The lithium | sulfide values are those of
  :mod:`casip.materials.solid_state` (``p_min_li``, ``p_ref``), read from that module, not
  repeated here.
* :func:`size_hardware` sizes cell-held hardware from the pressure: two end plates bending
  under the stack pressure (Roark's rectangular plate, all edges simply supported, uniform
  load) and tie bolts or bands carrying the total force ``P x A`` at an allowable stress.
  Every argument may be a numpy array (all broadcast together).

Units: MPa (= N/mm2), mm, g, cm3.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

ArrayLike = float | np.ndarray

# ------------------------------------------------------------------------------------------------
# Sourced values of the stack-pressure rules and of the hardware


def _solid_state() -> ModuleType:
    """:mod:`casip.materials.solid_state`: the sourced solid-state values (no PyBaMM import),
    the same table the physics uses."""
    from casip.materials import solid_state

    return solid_state


#: Citations used here beyond the solid-state module's ``SOURCES``.
SOURCES: dict[str, str] = {
    "quantumscape2021": "QuantumScape, A discussion of QuantumScape's battery technology "
    "performance results (company blog, January 2021): single-layer 70 x 85 mm anode-free cells "
    "on a ceramic separator cycled 1000 times at 1C/1C, 30 C, 'modest pressure (3.4 atm)' = "
    "0.34 MPa. https://quantumscape.com/resources/blog/a-discussion-of-quantumscapes-battery-"
    "technology-performance-results",
    "louli2019": "A. J. Louli, M. Genovese, R. Weber, S. G. Hames, E. R. Logan, J. R. Dahn, "
    "Exploring the impact of mechanical pressure on the performance of anode-free lithium metal "
    "cells, J. Electrochem. Soc. 166 (2019) A1291, doi:10.1149/2.0091908jes (NMC532 || Cu pouch "
    "cells at 75-2205 kPa: cycle life improves with pressure, most up to about 1200 kPa)",
    "shi2020": "T. Shi, Y.-Q. Zhang, Q. Tu, Y. Wang, M. C. Scott, G. Ceder, Characterization of "
    "mechanical degradation in an all-solid-state battery cathode, J. Mater. Chem. A 8 (2020) "
    "17399, doi:10.1039/D0TA06985J (contact loss between cathode particles and solid electrolyte "
    "on cycling; a large external pressure recovers the lost capacity)",
    "natcomm2025_si": "Nature Communications (2025), article s41467-025-66851-0, Fig. 4: Si "
    "electrodes in (Li-In) || Si sulfide cells cycled at 5 MPa, 30 C. "
    "https://www.nature.com/articles/s41467-025-66851-0",
    "roark": "W. C. Young, R. G. Budynas, A. M. Sadegh, Roark's Formulas for Stress and Strain, "
    "8th ed., McGraw-Hill (2012), Table 11.4 case 1a: rectangular plate, all edges simply "
    "supported, uniform load (nu = 0.3); the same coefficients as S. Timoshenko, S. "
    "Woinowsky-Krieger, Theory of Plates and Shells, 2nd ed. (1959), Table 8",
    "en10025": "EN 10025-2:2019, hot-rolled structural steels: S355 minimum yield strength 355 "
    "MPa (nominal thickness up to 16 mm)",
    "iso898": "ISO 898-1:2013, mechanical properties of carbon and alloy steel fasteners: "
    "property class 8.8 lower yield strength 640 MPa; tensile stress area 58.0 mm2 of M10 "
    "against its 78.5 mm2 nominal area, 157 mm2 of M16 against 201 mm2",
    "aisc_asd": "AISC, Specification for Structural Steel Buildings, Allowable Stress Design "
    "(1989): allowable bending stress 0.66 Fy for compact sections, allowable tension 0.60 Fy",
}

#: Allowable stress as a share of yield: two thirds, the allowable-stress-design margin for
#: bending (AISC ASD 0.66 Fy); taken for the tie members too (assumption: one margin for both).
ALLOWABLE_SHARE_OF_YIELD = 2.0 / 3.0

#: Yield strength [MPa] of the library's hardware materials: (plates, ties), with sources.
#: A design that uses another hardware material gives ``allowable_stress_MPa`` itself.
YIELD_MPA: dict[str, tuple[float, float, str]] = {
    "steel_hardware": (
        355.0,
        640.0,
        "plates: structural steel S355 (EN 10025-2); ties: class 8.8 bolts or bands of "
        "comparable strength (ISO 898-1)",
    ),
}

#: Roark's coefficient beta of the centre stress ``sigma = beta q b^2 / t^2`` of a rectangular
#: plate (sides a >= b), all edges simply supported, uniform load, nu = 0.3, against a/b.
ROARK_A_OVER_B = np.array([1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 3.0, 4.0, 5.0])
ROARK_BETA = np.array([0.2874, 0.3762, 0.4530, 0.5172, 0.5688, 0.6102, 0.7134, 0.7410, 0.7476])
ROARK_BETA_LONG = 0.7500  # a/b -> infinity (a strip in cylindrical bending)

#: Ratio of a bolt's tensile stress area to its nominal cross-section (ISO 898-1: M10
#: 58.0/78.5 = 0.74, M16 157/201 = 0.78).
BOLT_STRESS_AREA_RATIO = 0.76
#: Head and nut, each a hexagon 1.6 d across flats and 0.8 d high, less the bolt hole: their
#: volume in lengths of bolt shank (assumption, ISO 4032-like proportions):
#: 2 x 0.8 d x (0.866 x 1.6^2 - pi/4) d^2 / (pi/4 d^2) = 2.92 d.
HEAD_NUT_SHANK_LENGTHS = 2 * 0.8 * (0.866 * 1.6**2 - np.pi / 4) / (np.pi / 4)
#: Edge margin of the plates outside the pressed area, for the tie holes and nuts: 2 bolt
#: diameters (assumption), at least the band thickness for bands.
EDGE_MARGIN_BOLT_DIAMETERS = 2.0
#: Band width (assumption: 20 mm steel strapping); the thickness follows from the force.
BAND_WIDTH_MM = 20.0
#: Default number of ties: four bolts (one per corner) or two bands (assumptions).
DEFAULT_TIES = {"plates_bolts": 4, "bands": 2}


def allowable_stresses(material: str) -> tuple[float, float] | None:
    """Default allowable stresses [MPa] (plates, ties) of a hardware material, or None.

    Two thirds of the yield strength of :data:`YIELD_MPA` (:data:`ALLOWABLE_SHARE_OF_YIELD`).
    """
    y = YIELD_MPA.get(material)
    if y is None:
        return None
    return y[0] * ALLOWABLE_SHARE_OF_YIELD, y[1] * ALLOWABLE_SHARE_OF_YIELD


# ------------------------------------------------------------------------------------------------
# Which cells need pressure


@dataclass(frozen=True)
class PressureNeed:
    """One rule that a design meets: why its cell needs stack pressure, and how much.

    ``minimum_MPa`` is the lowest pressure at which the cited cells were shown to cycle (None
    where the literature gives no such floor); ``typical_MPa`` the pressure cited cells run at.
    """

    rule: str
    reason: str
    typical_MPa: float
    minimum_MPa: float | None
    basis: str
    sources: str


def _se_family(library, mid: str | None) -> str | None:
    """``sulfide``, ``oxide`` or ``halide`` for a solid electrolyte; None for anything else."""
    if mid is None or mid not in library.materials:
        return None
    m = library.materials[mid]
    if getattr(m.category, "value", m.category) != "solid_electrolyte":
        return None
    try:
        el = library.elements(mid)
    except Exception:  # a material without formula: family unknown
        return None
    if el.get("S", 0) > 0:
        return "sulfide"
    if el.get("O", 0) > 0:
        return "oxide"
    if any(el.get(x, 0) > 0 for x in ("Cl", "Br", "I", "F")):
        return "halide"
    return None


def _cite(ss: ModuleType, *keys: str) -> str:
    out = []
    for k in keys:
        if k in SOURCES:
            out.append(SOURCES[k])
        else:
            s = ss.SOURCES[k]
            out.append(f"{s.citation} ({s.doi})")
    return "; ".join(out)


#: Silicon mass share of the anode's active blend from which an anode counts as silicon-rich
#: (assumption: where silicon holds most of the active mass and its ~300 % swelling dominates).
SILICON_RICH_SHARE = 0.5


def pressure_needs(design, library) -> list[PressureNeed]:
    """The stack-pressure rules a design meets (empty: the cell needs no stack pressure).

    Parameters
    ----------
    design : Design
        A validated design.
    library : MaterialLibrary
        The materials library the design's ids resolve in.

    Returns
    -------
    list of PressureNeed
        One entry per rule met, in the order of the rules: lithium | sulfide, lithium | oxide,
        lithium with a liquid, solid | solid contacts of an all-solid-state cell, silicon-rich
        anode.
    """
    ss = _solid_state()
    t = ss.TABLE
    d = design
    lithium = d.anode.type.value in ("lithium_metal", "anode_free")
    sep = _se_family(library, d.separator.material)
    needs: list[PressureNeed] = []
    if lithium and sep == "sulfide":
        needs.append(
            PressureNeed(
                "lithium_sulfide",
                "a lithium-metal or anode-free cell on a sulfide separator: voids form in the "
                "lithium on stripping without stack pressure",
                t["p_ref"].central,
                t["p_min_li"].central,
                "measured (solid_state:p_min_li, p_ref)",
                _cite(ss, *t["p_min_li"].sources),
            )
        )
    if lithium and sep == "oxide":
        needs.append(
            PressureNeed(
                "lithium_oxide",
                "a lithium-metal or anode-free cell on an oxide (ceramic) separator: the "
                "lithium must stay in contact with the ceramic as it plates and strips",
                0.34,
                0.34,
                "measured (company data: the lowest pressure at which such cells are published "
                "to cycle)",
                _cite(ss, "quantumscape2021", "krauskopf2019"),
            )
        )
    if lithium and sep is None:
        needs.append(
            PressureNeed(
                "lithium_liquid",
                "a lithium-metal or anode-free cell with a liquid electrolyte: pressure keeps "
                "the plated lithium dense",
                1.2,
                None,
                "measured",
                _cite(ss, "louli2019"),
            )
        )
    if d.kind.value == "all-solid-state":
        needs.append(
            PressureNeed(
                "solid_contacts",
                "an all-solid-state cell: its solid | solid contacts open as the electrodes "
                "breathe unless held under pressure",
                t["p_ref"].central,
                None,
                "measured (contact loss and its recovery under pressure); typical value the "
                "solid_state:p_ref of the cited full cells",
                _cite(ss, "koerver2017", "shi2020", "doux2020"),
            )
        )
    if d.anode.type.value == "intercalation" and d.anode.active:
        si = 0.0
        for mid, x in d.anode.active.items():
            if mid in library.materials:
                try:
                    si += x * library.elements(mid).get("Si", 0.0)
                except Exception:
                    pass
        if si >= SILICON_RICH_SHARE:
            needs.append(
                PressureNeed(
                    "silicon_rich",
                    f"a silicon-rich anode ({si:.0%} silicon in the active blend, threshold "
                    f"{SILICON_RICH_SHARE:.0%} assumed): it swells about threefold on lithiation "
                    "and loses contact on delithiation without pressure",
                    5.0,
                    None,
                    "measured (one cited cell pressure; the threshold is an assumption)",
                    _cite(ss, "natcomm2025_si"),
                )
            )
    return needs


def pressure_warnings(design, needs: list[PressureNeed]) -> list[str]:
    """Warnings on a design's stack pressure: needed but held nowhere, or below the minimum."""
    if not needs:
        return []
    h = design.pressure_hardware
    why = "; ".join(n.reason for n in needs)
    typical = max(n.typical_MPa for n in needs)
    if h is None:
        return [
            f"this cell needs stack pressure ({why}) but the design holds none anywhere: add "
            f"pressure_hardware with pressure_MPa (typical {typical:g} MPa) and held_by cell, "
            "module or pack; until then no hardware is counted"
        ]
    if h.pressure_MPa is None or h.pressure_MPa <= 0:
        return [
            f"this cell needs stack pressure ({why}) but pressure_hardware states no "
            f"pressure_MPa (typical {typical:g} MPa): it cannot be checked against the literature"
        ]
    out = []
    for n in needs:
        if n.minimum_MPa is not None and h.pressure_MPa < n.minimum_MPa:
            out.append(
                f"pressure_hardware.pressure_MPa {h.pressure_MPa:g} is below the "
                f"{n.minimum_MPa:g} MPa at which cited cells of this kind cycle ({n.rule}: "
                f"{n.sources.split(';')[0]})"
            )
    return out


# ------------------------------------------------------------------------------------------------
# Sizing of cell-held hardware


def roark_beta(a_over_b: ArrayLike) -> np.ndarray:
    """Roark's ``beta`` (Table 11.4 case 1a) for side ratios a/b >= 1, linear in between."""
    r = np.asarray(a_over_b, dtype=float)
    return np.where(
        r > ROARK_A_OVER_B[-1],
        # beyond a/b = 5 the coefficient closes on the strip value 0.75
        ROARK_BETA_LONG
        - (ROARK_BETA_LONG - ROARK_BETA[-1]) * ROARK_A_OVER_B[-1] / np.maximum(r, 1.0),
        np.interp(r, ROARK_A_OVER_B, ROARK_BETA),
    )


def plate_thickness_mm(
    pressure_MPa: ArrayLike, span_a_mm: ArrayLike, span_b_mm: ArrayLike,
    allowable_MPa: ArrayLike,
) -> np.ndarray:
    """Thickness of an end plate that holds ``pressure_MPa`` over an a x b span.

    ``t = b sqrt(beta(a/b) P / sigma_allow)`` with b the shorter side (Roark Table 11.4 case
    1a: all edges simply supported, uniform load, maximum stress at the centre).
    """
    a = np.maximum(span_a_mm, span_b_mm)
    b = np.minimum(span_a_mm, span_b_mm)
    beta = roark_beta(a / b)
    return b * np.sqrt(beta * np.asarray(pressure_MPa, dtype=float) / allowable_MPa)


def size_hardware(
    pressure_MPa: ArrayLike,
    span_a_mm: ArrayLike,
    span_b_mm: ArrayLike,
    cell_thickness_mm: ArrayLike,
    density_g_cm3: ArrayLike,
    plate_allowable_MPa: ArrayLike,
    tie_allowable_MPa: ArrayLike,
    *,
    kind: str = "plates_bolts",
    ties: ArrayLike | None = None,
    footprint_a_mm: ArrayLike | None = None,
    footprint_b_mm: ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """Mass and volume of cell-held stack-pressure hardware (vectorised).

    Parameters
    ----------
    pressure_MPa : float or array
        Stack pressure held [MPa].
    span_a_mm, span_b_mm : float or array
        The pressed area's sides [mm] (the plates' bending span).
    cell_thickness_mm : float or array
        Thickness of the cell between the plates [mm] (charged: its largest).
    density_g_cm3 : float or array
        Density of the hardware material.
    plate_allowable_MPa, tie_allowable_MPa : float or array
        Allowable stresses of plates and ties [MPa].
    kind : str
        ``"plates_bolts"``: tie bolts at the plate edges; ``"bands"``: straps looped around
        plates and cell.
    ties : int or array, optional
        Number of bolts or bands (default :data:`DEFAULT_TIES`).
    footprint_a_mm, footprint_b_mm : float or array, optional
        The cell's outer footprint [mm] (seals, can); the plates cover at least this and the
        pressed area plus an edge margin for the ties.

    Returns
    -------
    dict of arrays
        ``force_N``, ``plate_thickness_mm``, ``plate_a_mm``, ``plate_b_mm``, ``tie_diameter_mm``
        (bolt nominal diameter; band thickness for bands), ``mass_plates_g``, ``mass_ties_g``,
        ``mass_g``, ``envelope_thickness_mm`` and ``volume_cm3`` (the box around cell and
        hardware less the cell's own box: what the hardware adds to the cell's volume).
    """
    if kind not in DEFAULT_TIES:
        raise ValueError(f"kind {kind!r}: expected one of {', '.join(DEFAULT_TIES)}")
    P = np.asarray(pressure_MPa, dtype=float)
    sa = np.asarray(span_a_mm, dtype=float)
    sb = np.asarray(span_b_mm, dtype=float)
    T = np.asarray(cell_thickness_mm, dtype=float)
    n = np.asarray(ties if ties is not None else DEFAULT_TIES[kind], dtype=float)
    fa = sa if footprint_a_mm is None else np.asarray(footprint_a_mm, dtype=float)
    fb = sb if footprint_b_mm is None else np.asarray(footprint_b_mm, dtype=float)
    force = P * sa * sb  # N (MPa x mm2)
    t_plate = plate_thickness_mm(P, sa, sb, plate_allowable_MPa)
    area_ties = force / tie_allowable_MPa  # mm2 of load-carrying section, all ties together
    rho = np.asarray(density_g_cm3, dtype=float) * 1e-3  # g/mm3
    if kind == "plates_bolts":
        nominal = area_ties / n / BOLT_STRESS_AREA_RATIO  # mm2 per bolt
        d = np.sqrt(4 * nominal / np.pi)
        margin = EDGE_MARGIN_BOLT_DIAMETERS * d
        head = 0.8 * d  # head or nut height beyond each plate
        length = T + 2 * t_plate + HEAD_NUT_SHANK_LENGTHS * d
        mass_ties = n * nominal * length * rho
    else:
        # each loop crosses the cell twice (two legs share the force); the band lies over the
        # plates across the short side b
        band_t = area_ties / 2 / n / BAND_WIDTH_MM
        d = band_t
        margin = band_t
        head = band_t
        b_short = np.minimum(sa, sb) + 2 * margin
        loop = 2 * (b_short + T + 2 * t_plate + 2 * band_t)
        mass_ties = n * BAND_WIDTH_MM * band_t * loop * rho
    pa = np.maximum(fa, sa + 2 * margin)
    pb = np.maximum(fb, sb + 2 * margin)
    mass_plates = 2 * pa * pb * t_plate * rho
    env_T = T + 2 * t_plate + 2 * head
    volume = (pa * pb * env_T - fa * fb * T) * 1e-3
    return {
        "force_N": force,
        "plate_thickness_mm": t_plate,
        "plate_a_mm": pa,
        "plate_b_mm": pb,
        "tie_diameter_mm": d,
        "mass_plates_g": mass_plates,
        "mass_ties_g": mass_ties,
        "mass_g": mass_plates + mass_ties,
        "envelope_thickness_mm": env_T,
        "volume_cm3": volume,
    }


__all__ = [
    "DEFAULT_TIES",
    "SOURCES",
    "YIELD_MPA",
    "PressureNeed",
    "allowable_stresses",
    "plate_thickness_mm",
    "pressure_needs",
    "pressure_warnings",
    "roark_beta",
    "size_hardware",
]
