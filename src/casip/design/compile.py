"""Turn a :class:`~casip.design.schema.Design` and a materials library into flat parameters.

The flat parameters are what :func:`casip.design.engine.evaluate_arrays` computes on. Each has
a design-file path (``PATHS``) so that a sweep over ``cathode.thickness_um`` replaces one array
instead of rebuilding designs. Material lookups and their checks happen here, once, with errors
that name the design field, the material id and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from casip.design import engine
from casip.design.pressure import (
    allowable_stresses,
    pressure_needs,
    pressure_warnings,
    size_hardware,
)
from casip.design.schema import AnodeType, CellKind, Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary
from casip.materials.records import Category, Material

NAN = math.nan
#: Share of the lithium plated on the first charge that a lithium-metal or anode-free cell can
#: strip again, when the design does not say (assumed; see docs/model-notes.md, section 2).
DEFAULT_FORMATION_EFFICIENCY = 0.95
#: Sealant film reaches this far beyond each edge of a pouch terminal, mm (assumed).
SEALANT_MARGIN_MM = 2.0

#: Design-file path of each flat parameter that is a plain number in the design file.
#: A sweep over one of these paths replaces the parameter array directly.
PATHS: dict[str, str] = {
    "cathode.thickness_um": "c_thickness_um",
    "cathode.areal_capacity_mAh_cm2": "c_areal_capacity_mAh_cm2",
    "cathode.loading_mg_cm2": "c_loading_mg_cm2",
    "cathode.porosity": "c_porosity",
    "cathode.specific_capacity_mAh_g": "c_q_mAh_g",
    "anode.porosity": "a_porosity",
    "anode.np_ratio": "a_np",
    "anode.thickness_um": "a_thickness_um",
    "anode.lithium_thickness_um": "a_li_thickness_um",
    "separator.thickness_um": "s_thickness_um",
    "separator.porosity": "s_porosity",
    "current_collectors.positive.thickness_um": "pcc_thickness_um",
    "current_collectors.negative.thickness_um": "ncc_thickness_um",
    "electrolyte.pore_fill": "l_fill",
    "electrolyte.excess_g_per_Ah": "l_excess_g_Ah",
    "format.anode_overhang_mm": "f_anode_overhang_mm",
    "format.separator_overhang_mm": "f_sep_overhang_mm",
    "format.electrode_width_mm": "p_width_mm",
    "format.electrode_height_mm": "p_height_mm",
    "format.layers": "layers",  # resolved per format below
    "format.laminate_thickness_um": "p_laminate_um",
    "format.side_seal_mm": "p_side_seal_mm",
    "format.top_seal_mm": "p_top_seal_mm",
    "format.bottom_seal_mm": "p_bottom_seal_mm",
    "format.length_mm": "r_length_mm",
    "format.height_mm": "height_mm",  # prismatic or cylindrical
    "format.thickness_mm": "r_thickness_mm",
    "format.wall_thickness_mm": "wall_mm",  # prismatic or cylindrical
    "format.headspace_mm": "headspace_mm",  # prismatic or cylindrical
    "format.side_clearance_mm": "r_side_clearance_mm",
    "format.fill_fraction": "fill",  # prismatic or cylindrical
    "format.diameter_mm": "y_diameter_mm",
    "format.mandrel_diameter_mm": "y_mandrel_mm",
    "format.tab_zone_mm": "p_tab_zone_mm",
    "format.tab_protrusion_mm": "p_tab_protrusion_mm",
    "format.tab_sealant_thickness_um": "p_sealant_um",
    "format.lid_thickness_mm": "lid_mm",  # prismatic or cylindrical
    "format.base_thickness_mm": "y_base_mm",
    "format.insulation_film_um": "r_insulation_um",
    "format.wrap_film_um": "wrap_um",  # prismatic or cylindrical
    "format.tape_coverage": "r_tape_coverage",
    "format.insulator_thickness_mm": "y_insulator_mm",
    "pressure_hardware.mass_g": "h_mass_g",
    "pressure_hardware.volume_cm3": "h_volume_cm3",
}

#: Mutually exclusive sizings: setting one in a sweep clears the others.
EXCLUSIVE = {
    "c_thickness_um": ("c_areal_capacity_mAh_cm2", "c_loading_mg_cm2"),
    "c_areal_capacity_mAh_cm2": ("c_thickness_um", "c_loading_mg_cm2"),
    "c_loading_mg_cm2": ("c_thickness_um", "c_areal_capacity_mAh_cm2"),
    "a_li_thickness_um": ("a_np",),
    "a_thickness_um": ("a_np",),
}


@dataclass
class Compiled:
    """Flat parameters of one design plus what the arrays cannot hold.

    ``slots`` maps each mass component of :data:`casip.design.engine.MASS_COMPONENTS` to the
    materials it is made of (id -> share by mass), for the element demand. ``missing_cost``
    lists the materials in the design whose price the library does not give.
    """

    params: dict[str, float]
    slots: dict[str, dict[str, float]]
    missing_cost: list[str] = field(default_factory=list)
    design: Design | None = None
    warnings: list[str] = field(default_factory=list)
    #: The sizing of cell-held stack-pressure hardware (:func:`casip.design.pressure.
    #: size_hardware`, scalars), empty when none is sized; a sweep then rebuilds per point.
    pressure_hardware: dict[str, float] = field(default_factory=dict)

    def format_key(self, path: str) -> str:
        """The flat parameter behind a design path, for this design's format."""
        key = PATHS.get(path)
        if key is None:
            raise KeyError(path)
        ftype = self.params["f_type"]
        prefix = {engine.POUCH: "p_", engine.PRISMATIC: "r_", engine.CYLINDRICAL: "y_"}[int(ftype)]
        if key in ("layers", "height_mm", "wall_mm", "headspace_mm", "fill", "lid_mm", "wrap_um"):
            key = prefix + key
            if key not in self.params:
                raise KeyError(path)
        elif key[:2] in ("p_", "r_", "y_") and not key.startswith(prefix):
            raise KeyError(path)
        return key


class _Resolver:
    """Looks materials up for one design, collecting problems instead of stopping at the first."""

    def __init__(self, lib: MaterialLibrary, source: str | None):
        self.lib = lib
        self.source = source
        self.problems: list[Problem] = []
        self.missing_cost: list[str] = []

    def material(self, path: str, mid: str | None, *cats: Category) -> Material | None:
        if mid is None:
            return None
        m = self.lib.materials.get(mid)
        if m is None:
            choices = sorted(x.id for x in self.lib.materials.values() if x.category in cats)
            self.problems.append(
                Problem(path, "unknown material", mid, "one of: " + ", ".join(choices))
            )
            return None
        if cats and m.category not in cats:
            self.problems.append(
                Problem(
                    path,
                    f"material {mid!r} is a {m.category.value}",
                    mid,
                    "a material of category " + " or ".join(c.value for c in cats),
                )
            )
            return None
        return m

    def prop(self, path: str, m: Material | None, name: str, required: bool = True) -> float:
        if m is None:
            return NAN
        v = getattr(m, name)
        if v is None:
            if required:
                self.problems.append(
                    Problem(
                        path,
                        f"material {m.id!r} has no {name} in the library; add it in a materials "
                        "file with its source",
                    )
                )
            return NAN
        return float(v.value)

    def density(self, path: str, m: Material | None) -> float:
        return self.prop(path, m, "density_g_cm3")

    def cost(self, m: Material | None) -> float:
        if m is None:
            return NAN
        if m.cost_usd_kg is None:
            if m.id not in self.missing_cost:
                self.missing_cost.append(m.id)
            return NAN
        return float(m.cost_usd_kg.value)

    def area_cost(self, m: Material | None) -> float:
        """The per-area part of a material's price in USD/m2 (0 when priced by mass only)."""
        if m is None:
            return 0.0
        return float(getattr(self.lib, "area_cost_usd_m2", {}).get(m.id, 0.0))


#: Lithium-foil thickness (um) at which a per-area forming price is turned into a per-kg one
#: when the design sizes the foil by its N/P ratio (its thickness is known only after
#: evaluation). Assumed: a typical thin foil; see docs/cost.md.
LI_FOIL_REFERENCE_UM = 20.0


def area_priced(usd_kg, usd_m2, thickness_um, solid_fraction, rho_g_cm3):
    """USD per kg of a layer priced partly by area (scalars or arrays).

    ``usd_kg + usd_m2 / m_A`` with the areal mass ``m_A = t * (1 - porosity) * rho`` in kg/m2
    (``t`` in um, ``rho`` in g/cm3: ``m_A = t * solid_fraction * rho * 1e-3``), so that
    mass x price = ``usd_kg`` x mass + ``usd_m2`` x area.
    """
    return usd_kg + usd_m2 / (thickness_um * (solid_fraction * rho_g_cm3 * 1e-3))


def reprice_by_area(params: dict) -> None:
    """Recompute, in place, the per-kg prices of area-priced layers from the thicknesses in
    ``params`` (after a sweep replaced a thickness or a porosity)."""
    import numpy as np

    if params.get("s_cost_m2", 0.0):
        params["s_cost"] = area_priced(params["s_cost_kg"], params["s_cost_m2"],
                                       params["s_thickness_um"], 1 - params["s_porosity"],
                                       params["s_rho"])
    if params.get("li_cost_m2", 0.0):
        t = np.asarray(params["a_li_thickness_um"], dtype=float)
        t = np.where(np.isfinite(t), t, LI_FOIL_REFERENCE_UM)
        c = area_priced(params["li_cost_kg"], params["li_cost_m2"], t, 1.0, params["li_rho"])
        params["li_cost"] = float(c) if np.ndim(c) == 0 else c


def _film_known(lib: MaterialLibrary, fm: object, fld: str, warnings: list[str]) -> bool:
    """Whether the film material of ``format.<fld>`` can be looked up.

    A design that keeps the default id (``PP_film``, ``PET_film``) with a materials library
    that lacks it (an older or a test library) leaves the film out with a warning, instead of
    refusing a design file that was valid before the film was modelled; a film material the
    design names must exist.
    """
    mid = getattr(fm, fld)
    if mid in lib.materials or mid != type(fm).model_fields[fld].default:
        return True
    warnings.append(
        f"format.{fld}: the materials library has no {mid!r} (the default); that film's mass "
        "is not counted"
    )
    return False


def compile_design(
    design: Design, library: MaterialLibrary, source: str | None = None
) -> Compiled:
    """Resolve materials and flatten ``design`` into engine parameters.

    Raises
    ------
    CasipInputError
        When a material is unknown, of the wrong category or lacks a value the design needs,
        or when the design's parts contradict its kind (e.g. a porous polymer separator in an
        all-solid-state cell). All problems of the design are reported together.
    """
    r = _Resolver(library, source)
    p: dict[str, float] = {}
    slots: dict[str, dict[str, float]] = {}
    d = design

    # ---- cathode
    c = d.cathode
    act = r.material("cathode.active", c.active, Category.cathode_active)
    cly = r.material("cathode.catholyte", c.catholyte, Category.solid_electrolyte)
    ccb = r.material("cathode.carbon", c.carbon, Category.conductive_carbon)
    cbd = r.material("cathode.binder", c.binder, Category.binder)
    fr = c.mass_fractions
    p.update(
        c_thickness_um=c.thickness_um if c.thickness_um is not None else NAN,
        c_areal_capacity_mAh_cm2=(
            c.areal_capacity_mAh_cm2 if c.areal_capacity_mAh_cm2 is not None else NAN
        ),
        c_loading_mg_cm2=c.loading_mg_cm2 if c.loading_mg_cm2 is not None else NAN,
        c_porosity=c.porosity,
        c_sides=2.0 if c.double_sided else 1.0,
        c_w_active=fr.active,
        c_w_catholyte=fr.catholyte,
        c_w_carbon=fr.carbon,
        c_w_binder=fr.binder,
        c_rho_active=r.density("cathode.active", act),
        c_rho_catholyte=r.density("cathode.catholyte", cly) if fr.catholyte > 0 else NAN,
        c_rho_carbon=r.density("cathode.carbon", ccb) if fr.carbon > 0 else NAN,
        c_rho_binder=r.density("cathode.binder", cbd) if fr.binder > 0 else NAN,
        c_q_mAh_g=(
            c.specific_capacity_mAh_g
            if c.specific_capacity_mAh_g is not None
            else r.prop("cathode.active", act, "specific_capacity_mAh_g")
        ),
        c_V=r.prop("cathode.active", act, "average_voltage_V"),
        c_qth_mAh_g=r.prop("cathode.active", act, "theoretical_specific_capacity_mAh_g", False),
        c_ice=r.prop("cathode.active", act, "initial_coulombic_efficiency", False),
        c_cost_active=r.cost(act),
        c_cost_catholyte=r.cost(cly) if fr.catholyte > 0 else NAN,
        c_cost_carbon=r.cost(ccb) if fr.carbon > 0 else NAN,
        c_cost_binder=r.cost(cbd) if fr.binder > 0 else NAN,
    )
    slots["cathode_active"] = {c.active: 1.0}
    slots["catholyte"] = {c.catholyte: 1.0} if c.catholyte and fr.catholyte > 0 else {}
    slots["cathode_carbon"] = {c.carbon: 1.0} if c.carbon and fr.carbon > 0 else {}
    slots["cathode_binder"] = {c.binder: 1.0} if c.binder and fr.binder > 0 else {}

    # ---- anode
    a = d.anode
    # lithium metal's density and capacity size a foil and the lithium plated on charge
    needs_li = a.type in (AnodeType.lithium_metal, AnodeType.anode_free)
    li = (
        r.material("anode (lithium metal)", "Li_metal", Category.anode_active)
        if needs_li
        else None
    )
    p.update(
        a_type=float(
            {
                AnodeType.intercalation: engine.INTERCALATION,
                AnodeType.lithium_metal: engine.LITHIUM_METAL,
                AnodeType.anode_free: engine.ANODE_FREE,
            }[a.type]
        ),
        a_np=a.np_ratio if a.np_ratio is not None else NAN,
        a_li_thickness_um=a.lithium_thickness_um if a.lithium_thickness_um is not None else NAN,
        a_thickness_um=a.thickness_um if a.thickness_um is not None else NAN,
        li_rho=r.density("anode (lithium metal)", li),
        li_q_mAh_g=r.prop("anode (lithium metal)", li, "specific_capacity_mAh_g"),
        li_cost=r.cost(li) if a.type == AnodeType.lithium_metal else NAN,
        li_cost_m2=r.area_cost(li) if a.type == AnodeType.lithium_metal else 0.0,
        a_irr=0.0,
        a_form_ce=(
            a.formation_efficiency if a.formation_efficiency is not None
            else DEFAULT_FORMATION_EFFICIENCY
        ),
    )
    for k in ("a_porosity", "a_w_active", "a_w_electrolyte", "a_w_carbon", "a_w_binder"):
        p[k] = 0.0
    for k in ("a_rho_active", "a_rho_electrolyte", "a_rho_carbon", "a_rho_binder", "a_q_mAh_g",
              "a_V", "a_cost_active", "a_cost_electrolyte", "a_cost_carbon", "a_cost_binder",
              "a_qth_mAh_g"):
        p[k] = NAN
    p["a_expansion_cm3_g"] = 0.0
    p["a_w_active"] = 1.0
    for slot in ("anode_active", "anode_electrolyte", "anode_carbon", "anode_binder"):
        slots[slot] = {}
    slots["lithium_metal"] = {"Li_metal": 1.0} if a.type == AnodeType.lithium_metal else {}
    swell_unknown: list[str] = []
    ice_unknown = []
    if a.type == AnodeType.intercalation:
        afr = a.mass_fractions
        inv_rho = 0.0
        cap = 0.0
        cap_v = 0.0
        cost = 0.0
        cap_th = 0.0
        expansion = 0.0  # cm3 of volume gained per g of active blend at its practical capacity
        irr = 0.0  # mAh bound on formation per g of blend: sum x_k q_k (1/ICE_k - 1)
        for mid, x in a.active.items():
            m = r.material(f"anode.active.{mid}", mid, Category.anode_active)
            if m is not None and m.id == "Li_metal":
                r.problems.append(
                    Problem(
                        f"anode.active.{mid}",
                        "lithium metal is not an intercalation host",
                        mid,
                        "anode type lithium_metal for a lithium foil",
                    )
                )
                continue
            rho = r.density(f"anode.active.{mid}", m)
            q = r.prop(f"anode.active.{mid}", m, "specific_capacity_mAh_g")
            v = r.prop(f"anode.active.{mid}", m, "average_voltage_V")
            inv_rho += x / rho
            cap += x * q
            cap_v += x * q * v
            cost += x * r.cost(m)
            cap_th += x * r.prop(f"anode.active.{mid}", m, "theoretical_specific_capacity_mAh_g",
                                 False)
            ice = r.prop(f"anode.active.{mid}", m, "initial_coulombic_efficiency", False)
            if ice != ice:
                ice_unknown.append(mid)
            else:
                irr += x * q * (1.0 / ice - 1.0)
            e = r.prop(f"anode.active.{mid}", m, "lithiation_volume_expansion", False)
            if e != e:  # NaN: the library has no value
                swell_unknown.append(mid)
            else:
                expansion += x * e / rho
        ael = r.material("anode.electrolyte", a.electrolyte, Category.solid_electrolyte)
        acb = r.material("anode.carbon", a.carbon, Category.conductive_carbon)
        abd = r.material("anode.binder", a.binder, Category.binder)
        p.update(
            a_porosity=a.porosity,
            a_w_active=afr.active,
            a_w_electrolyte=afr.electrolyte,
            a_w_carbon=afr.carbon,
            a_w_binder=afr.binder,
            a_rho_active=1.0 / inv_rho if inv_rho else NAN,
            a_q_mAh_g=cap,
            a_V=cap_v / cap if cap else NAN,  # capacity-weighted mean potential of the blend
            a_cost_active=cost,
            a_qth_mAh_g=cap_th,
            a_expansion_cm3_g=expansion,
            a_irr=irr / cap if cap else 0.0,
            a_rho_electrolyte=r.density("anode.electrolyte", ael) if afr.electrolyte > 0 else NAN,
            a_rho_carbon=r.density("anode.carbon", acb) if afr.carbon > 0 else NAN,
            a_rho_binder=r.density("anode.binder", abd) if afr.binder > 0 else NAN,
            a_cost_electrolyte=r.cost(ael) if afr.electrolyte > 0 else NAN,
            a_cost_carbon=r.cost(acb) if afr.carbon > 0 else NAN,
            a_cost_binder=r.cost(abd) if afr.binder > 0 else NAN,
        )
        slots["anode_active"] = dict(a.active)
        if a.electrolyte and afr.electrolyte > 0:
            slots["anode_electrolyte"] = {a.electrolyte: 1.0}
        if a.carbon and afr.carbon > 0:
            slots["anode_carbon"] = {a.carbon: 1.0}
        if a.binder and afr.binder > 0:
            slots["anode_binder"] = {a.binder: 1.0}

    # ---- separator and its agreement with the kind of cell
    s = d.separator
    if d.kind == CellKind.all_solid_state:
        sep_cats = (Category.solid_electrolyte,)
    elif d.kind == CellKind.liquid:
        sep_cats = (Category.separator,)
    else:
        sep_cats = (Category.separator, Category.solid_electrolyte)
    sep = r.material("separator.material", s.material, *sep_cats)
    p.update(
        s_thickness_um=s.thickness_um,
        s_porosity=s.porosity,
        s_rho=r.density("separator.material", sep),
        s_cost=r.cost(sep),
        s_cost_m2=r.area_cost(sep),
    )
    # a price per area (separator, lithium-foil forming) becomes a per-kg price at this thickness
    p["s_cost_kg"], p["li_cost_kg"] = p["s_cost"], p["li_cost"]
    reprice_by_area(p)
    slots["separator"] = {s.material: 1.0}
    warnings: list[str] = []
    if a.type == AnodeType.intercalation and ice_unknown:
        warnings.append(
            "no initial_coulombic_efficiency in the library for " + ", ".join(ice_unknown)
            + ": their first-cycle (SEI) lithium loss is not counted"
        )
    if p["c_ice"] != p["c_ice"]:
        warnings.append(
            f"no initial_coulombic_efficiency in the library for {c.active}: the capacity "
            "after formation is not modelled (the library's reversible capacity is used)"
        )
    if swell_unknown:
        warnings.append(
            "no lithiation_volume_expansion in the library for "
            + ", ".join(swell_unknown)
            + ": their swelling on charge is not counted in the cell's volume"
        )
    if d.kind == CellKind.all_solid_state and c.mass_fractions.catholyte == 0:
        warnings.append(
            "cathode.mass_fractions.catholyte is 0: an all-solid-state composite cathode without "
            "a solid-electrolyte catholyte conducts ions only through its active material"
        )
    if a.type == AnodeType.intercalation and a.np_ratio is not None and a.np_ratio < 1:
        warnings.append(
            f"anode.np_ratio {a.np_ratio:g} < 1: the cell is anode-limited (capacity scaled by "
            "N/P) and would plate lithium on a full charge"
        )
    if d.kind == CellKind.all_solid_state and s.porosity > 0.3:
        warnings.append(
            f"separator.porosity {s.porosity:g} is high for a dense solid-electrolyte layer "
            "(pressed sulfides reach about 0.05-0.2); the voids hold no liquid"
        )
    warnings += pressure_warnings(d, pressure_needs(d, library))

    # ---- current collectors
    cc = d.current_collectors
    pcc = r.material("current_collectors.positive.material", cc.positive.material,
                     Category.current_collector)
    ncc = r.material("current_collectors.negative.material", cc.negative.material,
                     Category.current_collector)
    p.update(
        pcc_thickness_um=cc.positive.thickness_um,
        pcc_rho=r.density("current_collectors.positive.material", pcc),
        pcc_cost=r.cost(pcc),
        ncc_thickness_um=cc.negative.thickness_um,
        ncc_rho=r.density("current_collectors.negative.material", ncc),
        ncc_cost=r.cost(ncc),
    )
    slots["positive_collector"] = {cc.positive.material: 1.0}
    slots["negative_collector"] = {cc.negative.material: 1.0}

    # ---- liquid electrolyte
    e = d.electrolyte
    if e is not None and (e.pore_fill > 0 or e.excess_g_per_Ah > 0):
        liq = r.material("electrolyte.material", e.material, Category.liquid_electrolyte)
        p.update(
            l_fill=e.pore_fill,
            l_excess_g_Ah=e.excess_g_per_Ah,
            l_rho=r.density("electrolyte.material", liq),
            l_cost=r.cost(liq),
        )
        slots["liquid_electrolyte"] = {e.material: 1.0}
    else:
        p.update(l_fill=0.0, l_excess_g_Ah=0.0, l_rho=0.0, l_cost=0.0)
        slots["liquid_electrolyte"] = {}

    # ---- format
    fm = d.format
    for k in ("p_width_mm", "p_height_mm", "p_layers", "p_laminate_um", "p_laminate_rho",
              "p_laminate_cost", "p_side_seal_mm", "p_top_seal_mm", "p_bottom_seal_mm",
              "r_length_mm", "r_height_mm", "r_thickness_mm", "r_wall_mm", "r_can_rho",
              "r_can_cost", "r_headspace_mm", "r_side_clearance_mm", "r_fill", "r_layers",
              "y_diameter_mm", "y_height_mm", "y_wall_mm", "y_can_rho", "y_can_cost",
              "y_headspace_mm", "y_mandrel_mm", "y_fill", "p_tab_ends", "p_tab_zone_mm",
              "p_tab_protrusion_mm", "p_terminal_length_mm", "p_side_folded",
              "p_sealant_width_mm", "p_sealant_um", "p_sealant_rho", "r_lid_mm", "r_lid_ends",
              "r_insulation_um", "r_insulation_rho", "r_wrap_um", "r_wrap_rho",
              "r_tape_coverage", "r_tape_um", "r_tab_length_mm", "y_lid_mm", "y_base_mm",
              "y_insulator_mm", "y_insulator_rho", "y_wrap_um", "y_wrap_rho"):
        p[k] = NAN
    p.update(ins_cost=0.0, wrap_cost=0.0)
    slots["insulation"], slots["wrap"] = {}, {}
    p.update(f_anode_overhang_mm=fm.anode_overhang_mm, f_sep_overhang_mm=fm.separator_overhang_mm)
    if fm.type == "pouch":
        lam = r.material("format.laminate", fm.laminate, Category.packaging)
        p.update(
            f_type=float(engine.POUCH),
            p_width_mm=fm.electrode_width_mm,
            p_height_mm=fm.electrode_height_mm,
            p_layers=float(fm.layers),
            p_laminate_um=fm.laminate_thickness_um,
            p_laminate_rho=r.density("format.laminate", lam),
            p_laminate_cost=r.cost(lam),
            p_side_seal_mm=fm.side_seal_mm,
            p_top_seal_mm=fm.top_seal_mm,
            p_bottom_seal_mm=fm.bottom_seal_mm,
            p_tab_ends=1.0 if fm.terminal_layout == "same_side" else 2.0,
            p_tab_zone_mm=fm.tab_zone_mm,
            p_tab_protrusion_mm=(
                fm.tab_protrusion_mm if fm.tab_protrusion_mm is not None else NAN
            ),
            p_terminal_length_mm=max(fm.terminals.positive.length_mm,
                                     fm.terminals.negative.length_mm),
            p_side_folded=1.0 if fm.side_seals_folded else 0.0,
            # sealant strips reach 2 mm beyond each terminal edge (assumed)
            p_sealant_width_mm=sum(
                getattr(fm.terminals, pole).width_mm + 2 * SEALANT_MARGIN_MM
                for pole in ("positive", "negative")
            ),
            p_sealant_um=fm.tab_sealant_thickness_um,
            p_sealant_rho=0.0,
        )
        slots["housing"] = {fm.laminate: 1.0}
        if fm.tab_sealant_thickness_um > 0 and _film_known(
            library, fm, "tab_sealant", warnings
        ):
            sl = r.material("format.tab_sealant", fm.tab_sealant, Category.packaging)
            p["p_sealant_rho"] = r.density("format.tab_sealant", sl)
            p["ins_cost"] = r.cost(sl)
            slots["insulation"] = {fm.tab_sealant: 1.0}
    else:
        can = r.material("format.can", fm.can, Category.packaging)
        pre = "r_" if fm.type == "prismatic" else "y_"
        p.update(
            {
                f"{pre}height_mm": fm.height_mm,
                f"{pre}wall_mm": fm.wall_thickness_mm,
                f"{pre}can_rho": r.density("format.can", can),
                f"{pre}can_cost": r.cost(can),
                f"{pre}headspace_mm": fm.headspace_mm,
                f"{pre}fill": fm.fill_fraction,
            }
        )
        slots["housing"] = {fm.can: 1.0}
        lid = fm.lid_thickness_mm if fm.lid_thickness_mm is not None else fm.wall_thickness_mm
        if fm.type == "prismatic":
            p.update(
                f_type=float(engine.PRISMATIC),
                r_length_mm=fm.length_mm,
                r_thickness_mm=fm.thickness_mm,
                r_side_clearance_mm=fm.side_clearance_mm,
                r_layers=float(fm.layers) if fm.layers is not None else NAN,
                r_lid_mm=lid,
                r_lid_ends=1.0 if fm.lid_faces == "ends" else 0.0,
                r_tab_length_mm=(
                    fm.tab_length_mm if fm.tab_length_mm is not None else fm.headspace_mm
                ),
                r_insulation_um=fm.insulation_film_um,
                r_insulation_rho=0.0,
                r_wrap_um=fm.wrap_film_um,
                r_wrap_rho=0.0,
                r_tape_coverage=fm.tape_coverage,
                r_tape_um=fm.tape_thickness_um,
            )
            films = [
                ("insulation", "insulation_film", fm.insulation_film, fm.insulation_film_um,
                 "r_insulation_rho"),
                ("wrap", "wrap_film", fm.wrap_film,
                 max(fm.wrap_film_um, fm.tape_coverage * fm.tape_thickness_um), "r_wrap_rho"),
            ]
        else:
            p.update(
                f_type=float(engine.CYLINDRICAL),
                y_diameter_mm=fm.diameter_mm,
                y_mandrel_mm=fm.mandrel_diameter_mm,
                y_lid_mm=lid,
                y_base_mm=(
                    fm.base_thickness_mm if fm.base_thickness_mm is not None
                    else fm.wall_thickness_mm
                ),
                y_insulator_mm=fm.insulator_thickness_mm,
                y_insulator_rho=0.0,
                y_wrap_um=fm.wrap_film_um,
                y_wrap_rho=0.0,
            )
            films = [
                ("insulation", "insulator", fm.insulator, fm.insulator_thickness_mm,
                 "y_insulator_rho"),
                ("wrap", "wrap_film", fm.wrap_film, fm.wrap_film_um, "y_wrap_rho"),
            ]
        for slot, fld, mid, thick, key in films:
            if thick > 0 and _film_known(library, fm, fld, warnings):
                fmat = r.material(f"format.{fld}", mid, Category.packaging)
                p[key] = r.density(f"format.{fld}", fmat)
                p["ins_cost" if slot == "insulation" else "wrap_cost"] = r.cost(fmat)
                slots[slot] = {mid: 1.0}
        if fm.type == "cylindrical" and not c.double_sided:
            r.problems.append(
                Problem("cathode.double_sided", "a wound cell needs double-sided electrodes",
                        False, "true")
            )
    term_mass = {}
    term_slot: dict[str, float] = {}
    for pole in ("positive", "negative"):
        t = getattr(fm.terminals, pole)
        m = r.material(f"format.terminals.{pole}.material", t.material, Category.terminal)
        rho = r.density(f"format.terminals.{pole}.material", m)
        mass = t.width_mm * t.thickness_mm * t.length_mm * 1e-3 * rho
        term_mass[pole] = mass
        p[f"t{pole[0]}_mass_g"] = mass
        p[f"t{pole[0]}_cost"] = r.cost(m)
        term_slot[t.material] = term_slot.get(t.material, 0.0) + mass
    for pole in ("positive", "negative"):
        width = (fm.foil_tab_width_mm if fm.foil_tab_width_mm is not None
                 else getattr(fm.terminals, pole).width_mm)
        p[f"tab_width_{pole[0]}_mm"] = width
    slots["positive_tabs"] = {cc.positive.material: 1.0}
    slots["negative_tabs"] = {cc.negative.material: 1.0}
    total_t = sum(term_slot.values())
    slots["terminals"] = (
        {k: v / total_t for k, v in term_slot.items()} if total_t and total_t == total_t else {}
    )

    # ---- stack-pressure hardware: measured, sized from the pressure (held by the cell), or
    # held by the module or pack (counted there, not here)
    h = d.pressure_hardware
    p.update(h_mass_g=0.0, h_volume_cm3=0.0, h_cost=0.0)
    slots["pressure_hardware"] = {}
    hw: dict[str, float] = {}
    if h is not None and h.held_by == "cell":
        hm = r.material("pressure_hardware.material", h.material, Category.hardware)
        p["h_cost"] = r.cost(hm)
        if h.mass_g is not None:
            p.update(h_mass_g=h.mass_g, h_volume_cm3=h.volume_cm3)
        elif hm is not None and not r.problems:
            hw = _size_pressure_hardware(d, p, r, r.density("pressure_hardware.material", hm))
            if hw:
                p.update(h_mass_g=hw["mass_g"], h_volume_cm3=hw["volume_cm3"])
        if p["h_mass_g"] > 0:
            slots["pressure_hardware"] = {h.material: 1.0}

    v_nom = p["c_V"] - (p["a_V"] if a.type == AnodeType.intercalation else 0.0)
    if not r.problems and not v_nom > 0:
        r.problems.append(
            Problem(
                "cathode.active",
                f"the cell voltage would be {v_nom:.3g} V (cathode {p['c_V']:g} V minus anode "
                f"{p['a_V'] if a.type == AnodeType.intercalation else 0:g} V vs Li)",
                c.active,
                "a cathode above the anode's potential",
            )
        )
    if r.problems:
        raise CasipInputError(r.problems, source=source)
    return Compiled(
        params=p, slots=slots, missing_cost=r.missing_cost, design=design, warnings=warnings,
        pressure_hardware=hw,
    )


def _size_pressure_hardware(
    d: Design, p: dict[str, float], r: _Resolver, rho: float
) -> dict[str, float]:
    """Size cell-held plates and ties from the design's pressure (empty if it cannot be).

    The cell is evaluated once without hardware for its footprint and charged thickness; the
    pressed area is the stack (pouch: electrodes plus the larger overhang) or the can's face
    (prismatic). A design that does not fit its can is reported by the evaluation itself.
    """
    h = d.pressure_hardware
    fm = d.format
    if fm.type == "cylindrical":
        r.problems.append(
            Problem(
                "pressure_hardware",
                "end plates and ties are sized for pouch and prismatic cells; a wound cell's can "
                "holds its own pressure",
                "held_by: cell",
                "measured mass_g and volume_cm3, or held_by: module or pack",
            )
        )
        return {}
    default = allowable_stresses(h.material)
    plate = h.allowable_stress_MPa if h.allowable_stress_MPa is not None else (
        default[0] if default else None
    )
    if plate is None:
        r.problems.append(
            Problem(
                "pressure_hardware.allowable_stress_MPa",
                f"no yield strength is known for hardware material {h.material!r}, so the "
                "plates cannot be sized",
                None,
                "allowable_stress_MPa (and tie_allowable_stress_MPa) from the material's "
                "yield strength, or measured mass_g and volume_cm3",
            )
        )
        return {}
    tie = h.tie_allowable_stress_MPa
    if tie is None:
        tie = default[1] if default else plate
    out = engine.evaluate_arrays(p)
    if int(out["status"]) != 0 or not rho > 0:
        return {}
    if fm.type == "pouch":
        o_max = max(fm.anode_overhang_mm, fm.separator_overhang_mm)
        sa = float(out["electrode_width_mm"]) + 2 * o_max
        sb = float(out["electrode_height_mm"]) + 2 * o_max
    else:
        sa, sb = fm.length_mm, fm.height_mm
    sized = size_hardware(
        h.pressure_MPa, sa, sb, float(out["cell_thickness_mm"]), rho, plate, tie,
        kind=h.kind, ties=h.ties, footprint_a_mm=float(out["cell_width_mm"]),
        footprint_b_mm=float(out["cell_height_mm"]),
    )
    hw = {k: float(v) for k, v in sized.items()}
    hw.update(span_a_mm=sa, span_b_mm=sb, plate_allowable_MPa=plate, tie_allowable_MPa=tie)
    return hw
