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
from casip.design.schema import AnodeType, CellKind, Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary
from casip.materials.records import Category, Material

NAN = math.nan

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

    def format_key(self, path: str) -> str:
        """The flat parameter behind a design path, for this design's format."""
        key = PATHS.get(path)
        if key is None:
            raise KeyError(path)
        ftype = self.params["f_type"]
        prefix = {engine.POUCH: "p_", engine.PRISMATIC: "r_", engine.CYLINDRICAL: "y_"}[int(ftype)]
        if key in ("layers", "height_mm", "wall_mm", "headspace_mm", "fill"):
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
    if a.type == AnodeType.intercalation:
        afr = a.mass_fractions
        inv_rho = 0.0
        cap = 0.0
        cap_v = 0.0
        cost = 0.0
        cap_th = 0.0
        expansion = 0.0  # cm3 of volume gained per g of active blend at its practical capacity
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
    )
    slots["separator"] = {s.material: 1.0}
    warnings: list[str] = []
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
    if (
        d.kind == CellKind.all_solid_state
        and a.type != AnodeType.intercalation
        and d.pressure_hardware is None
    ):
        warnings.append(
            "no pressure_hardware: lithium-metal solid-state cells usually need stack pressure "
            "held by external hardware, whose mass and volume are then not counted"
        )

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
              "y_headspace_mm", "y_mandrel_mm", "y_fill"):
        p[k] = NAN
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
        )
        slots["housing"] = {fm.laminate: 1.0}
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
        if fm.type == "prismatic":
            p.update(
                f_type=float(engine.PRISMATIC),
                r_length_mm=fm.length_mm,
                r_thickness_mm=fm.thickness_mm,
                r_side_clearance_mm=fm.side_clearance_mm,
                r_layers=float(fm.layers) if fm.layers is not None else NAN,
            )
        else:
            p.update(
                f_type=float(engine.CYLINDRICAL),
                y_diameter_mm=fm.diameter_mm,
                y_mandrel_mm=fm.mandrel_diameter_mm,
            )
            if not c.double_sided:
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
    total_t = sum(term_slot.values())
    slots["terminals"] = (
        {k: v / total_t for k, v in term_slot.items()} if total_t and total_t == total_t else {}
    )

    # ---- stack-pressure hardware
    h = d.pressure_hardware
    if h is not None:
        hm = r.material("pressure_hardware.material", h.material, Category.hardware)
        p.update(h_mass_g=h.mass_g, h_volume_cm3=h.volume_cm3, h_cost=r.cost(hm))
        slots["pressure_hardware"] = {h.material: 1.0} if h.mass_g > 0 else {}
    else:
        p.update(h_mass_g=0.0, h_volume_cm3=0.0, h_cost=0.0)
        slots["pressure_hardware"] = {}

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
        params=p, slots=slots, missing_cost=r.missing_cost, design=design, warnings=warnings
    )
