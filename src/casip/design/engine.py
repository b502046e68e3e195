"""Vectorised stack arithmetic: from flat design parameters to cell metrics.

Every function here takes a mapping of parameter name -> float or numpy array (all arrays
broadcast together) and returns arrays, so that one design and a million designs go through the
same code. No I/O, no material lookups: :mod:`casip.design.compile` turns a
:class:`~casip.design.schema.Design` and the materials library into these parameters.

Conventions inside this module: lengths in um for layer thicknesses and mm for cell dimensions,
areas in cm2, volumes in cm3, masses in g, capacities in mAh (areal: mAh/cm2), costs in USD.
The model and its equations are documented in ``docs/model-notes.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

ArrayLike = float | np.ndarray
Params = Mapping[str, ArrayLike]

#: Codes of the anode kinds in parameter ``a_type``.
INTERCALATION, LITHIUM_METAL, ANODE_FREE = 0, 1, 2
#: Codes of the formats in parameter ``f_type``.
POUCH, PRISMATIC, CYLINDRICAL = 0, 1, 2

#: Status codes of an evaluated design and what they mean.
STATUS = {
    0: "ok",
    1: "the electrodes do not fit in the can (non-positive electrode width or height)",
    2: "not even one cathode layer fits in the can thickness",
    3: "the stack is thicker than the can allows (fill_fraction x inner thickness)",
    4: "the winding does not fit between the mandrel and the can wall",
    5: "the charged stack (with plated lithium or swollen anode) outgrows the can",
}

#: Mass components reported by :func:`evaluate_arrays` (keys ``mass_<name>_g``).
MASS_COMPONENTS = (
    "cathode_active",
    "catholyte",
    "cathode_carbon",
    "cathode_binder",
    "anode_active",
    "anode_electrolyte",
    "anode_carbon",
    "anode_binder",
    "lithium_metal",
    "separator",
    "positive_collector",
    "negative_collector",
    "liquid_electrolyte",
    "housing",
    "terminals",
    "positive_tabs",
    "negative_tabs",
    "insulation",
    "wrap",
    "pressure_hardware",
)

#: Volume components reported (keys ``volume_<name>_cm3``); ``void_and_housing`` closes the sum.
VOLUME_COMPONENTS = (
    "cathode_coating",
    "anode",
    "separator",
    "positive_collector",
    "negative_collector",
    "void_and_housing",
    "pressure_hardware",
)

#: Outputs kept for rows with a non-zero status (they say why the design does not fit).
DIAGNOSTIC = frozenset(
    {
        "layers",
        "electrode_width_mm",
        "electrode_height_mm",
        "cathode_thickness_um",
        "anode_thickness_um",
        "anode_thickness_charged_um",
        "stack_thickness_mm",
        "stack_thickness_discharged_mm",
        "usable_thickness_mm",
        "inner_thickness_mm",
    }
)

UM_TO_CM = 1e-4
MM_TO_CM = 0.1


def _where(cond: ArrayLike, a: ArrayLike, b: ArrayLike) -> ArrayLike:
    """``np.where`` that makes no pass over the arrays when the condition is one value for all
    designs (a format, an anode type): the chosen operand itself, broadcast at the end."""
    if np.ndim(cond) == 0:
        return a if cond else b
    return np.where(cond, a, b)


def _select(conds: list, choices: list, default: ArrayLike) -> ArrayLike:
    """``np.select`` without a pass over the arrays when every condition is a single value."""
    if all(np.ndim(c) == 0 for c in conds):
        for c, v in zip(conds, choices, strict=True):
            if c:
                return v
        return default
    return np.select(conds, choices, default)


def _composite_density(w: tuple[ArrayLike, ...], rho: tuple[ArrayLike, ...]) -> np.ndarray:
    """Skeletal density of a dry composite from mass fractions: 1 / sum(w_i / rho_i).

    A component with zero mass fraction contributes nothing whatever its density (a missing
    density of an unused component is given as NaN by the compiler and must not poison the sum).
    """
    inv = 0.0
    for wi, ri in zip(w, rho, strict=True):
        inv = inv + _where(np.asarray(wi) > 0, np.asarray(wi) / np.asarray(ri), 0.0)
    return 1.0 / inv


def evaluate_arrays(p: Params) -> dict[str, np.ndarray]:
    """Evaluate designs given as flat parameters (see :data:`casip.design.compile.PARAMETERS`).

    Returns a dict of arrays (broadcast shape of the inputs): capacity, voltage, energy, mass,
    volume, cost, their breakdowns, the geometry, the materials-level limit and a ``status`` code
    (:data:`STATUS`). Rows with a non-zero status hold NaN metrics.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _evaluate(p)


def _evaluate(p: Params) -> dict[str, np.ndarray]:
    f = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    shape = np.broadcast_shapes(*(v.shape for v in f.values()))

    # ---------------- cathode composite (per coated side) ----------------
    cw = (f["c_w_active"], f["c_w_catholyte"], f["c_w_carbon"], f["c_w_binder"])
    crho = (f["c_rho_active"], f["c_rho_catholyte"], f["c_rho_carbon"], f["c_rho_binder"])
    rho_cs = _composite_density(cw, crho)  # g/cm3 of dry solids
    eps_c = f["c_porosity"]
    q_c = f["c_q_mAh_g"]
    # areal capacity per g of composite: w_active * q  [mAh/g]
    q_comp = f["c_w_active"] * q_c
    # Resolve the sizing: thickness, else areal capacity, else loading.
    t_given = f["c_thickness_um"]
    load_from_t = t_given * UM_TO_CM * (1 - eps_c) * rho_cs  # g/cm2
    load_from_q = f["c_areal_capacity_mAh_cm2"] / q_comp
    load_from_l = f["c_loading_mg_cm2"] * 1e-3
    load_c = _where(
        np.isfinite(t_given),
        load_from_t,
        _where(np.isfinite(load_from_q), load_from_q, load_from_l),
    )  # g/cm2 dry composite per side
    t_c = load_c / ((1 - eps_c) * rho_cs) / UM_TO_CM  # um
    Q_c = load_c * q_comp  # mAh/cm2 per side

    # ---------------- anode (per coated side) ----------------
    a_type = f["a_type"]
    is_int = a_type == INTERCALATION
    is_li = a_type == LITHIUM_METAL
    aw = (f["a_w_active"], f["a_w_electrolyte"], f["a_w_carbon"], f["a_w_binder"])
    arho = (f["a_rho_active"], f["a_rho_electrolyte"], f["a_rho_carbon"], f["a_rho_binder"])
    rho_as = _composite_density(aw, arho)
    eps_a = f["a_porosity"]
    # intercalation composite sized by N/P, or by its thickness (then N/P follows)
    q_acomp = f["a_w_active"] * f["a_q_mAh_g"]  # mAh per g of dry anode composite
    t_a_given = f["a_thickness_um"]
    load_a = _where(
        np.isfinite(t_a_given),
        t_a_given * UM_TO_CM * (1 - eps_a) * rho_as,
        f["a_np"] * Q_c / q_acomp,
    )  # g/cm2
    t_a_int = load_a / ((1 - eps_a) * rho_as) / UM_TO_CM
    np_int = load_a * q_acomp / Q_c
    # lithium: capacity density of lithium metal [mAh/cm3]
    li_vol_cap = f["li_q_mAh_g"] * f["li_rho"]
    t_li_from_np = f["a_np"] * Q_c / li_vol_cap / UM_TO_CM
    t_li = _where(np.isfinite(f["a_li_thickness_um"]), f["a_li_thickness_um"], t_li_from_np)
    t_li = _where(is_li, t_li, 0.0)
    t_plated = Q_c / li_vol_cap / UM_TO_CM  # lithium plated per side at full charge [um]
    t_a_dis = _where(is_int, t_a_int, t_li)  # as assembled / discharged
    # Charged: lithiated particles swell (the active volume grows by its lithiation expansion,
    # scaled by the share of the anode's capacity used, 1/NP; pores are assumed not to absorb
    # it) and plated lithium adds its own volume.
    used = np.minimum(1.0, 1.0 / np_int)
    swell = load_a * f["a_w_active"] * f["a_expansion_cm3_g"] * used / UM_TO_CM
    t_a_chg = _where(is_int, t_a_int + np.nan_to_num(swell), t_li + t_plated)
    np_eff = _where(is_int, np_int, _where(is_li, t_li * UM_TO_CM * li_vol_cap / Q_c, 0.0))
    V_an = _where(is_int, f["a_V"], 0.0)
    V_nom = f["c_V"] - V_an

    # ---------------- geometry by format ----------------
    sides = f["c_sides"]
    t_pcc, t_ncc, t_s = f["pcc_thickness_um"], f["ncc_thickness_um"], f["s_thickness_um"]
    o_a, o_s = f["f_anode_overhang_mm"], f["f_sep_overhang_mm"]
    o_max = np.maximum(o_a, o_s)
    two = sides == 2
    # thickness of one repeat of the stack per cathode sheet (um): as built (discharged), which
    # sets how many layers or how long a winding fit, and charged, which must still fit
    unit = t_pcc + sides * (t_c + t_s + t_a_dis) + t_ncc
    unit_chg = t_pcc + sides * (t_c + t_s + t_a_chg) + t_ncc
    f_type = f["f_type"]
    status = np.zeros(shape, dtype=np.int8)

    # pouch: electrode size and layer count given
    Wc_p, Hc_p = f["p_width_mm"], f["p_height_mm"]
    N_p = f["p_layers"]
    # prismatic: the can is given
    wall_r = f["r_wall_mm"]
    lid_r = f["r_lid_mm"]  # lid plate(s): on the top face, or on both end faces
    ends_r = f["r_lid_ends"] > 0
    Lin = f["r_length_mm"] - _where(ends_r, 2 * lid_r, 2 * wall_r)
    Hin = f["r_height_mm"] - wall_r - _where(ends_r, wall_r, lid_r)
    Tin = f["r_thickness_mm"] - 2 * wall_r
    Wc_r = Lin - 2 * f["r_side_clearance_mm"] - 2 * o_max
    Hc_r = Hin - f["r_headspace_mm"] - 2 * o_max
    T_avail_r = f["r_fill"] * Tin * 1000.0  # um
    N_r_auto = np.floor((T_avail_r - _where(two, t_ncc, 0.0)) / unit)
    N_r = _where(np.isfinite(f["r_layers"]), f["r_layers"], N_r_auto)
    # cylindrical: wound jelly roll in the annulus
    Rin_y = f["y_diameter_mm"] / 2 - f["y_wall_mm"]
    Hin_y = f["y_height_mm"] - f["y_lid_mm"] - f["y_base_mm"]
    Hc_y = Hin_y - f["y_headspace_mm"] - 2 * o_max
    ann_mm2 = f["y_fill"] * np.pi * (Rin_y**2 - (f["y_mandrel_mm"] / 2) ** 2)
    L_wind_mm = ann_mm2 / (unit * 1e-3)  # wound length of the cathode sheet

    is_p, is_r, is_y = f_type == POUCH, f_type == PRISMATIC, f_type == CYLINDRICAL
    Wc = _select([is_p, is_r, is_y], [Wc_p, Wc_r, L_wind_mm], np.nan)  # mm
    Hc = _select([is_p, is_r, is_y], [Hc_p, Hc_r, Hc_y], np.nan)  # mm
    N = _select([is_p, is_r, is_y], [N_p, N_r, np.ones(shape)], np.nan)
    # wound: the anode and separator overhang only along the height
    wound = is_y
    A_c = Wc * Hc * MM_TO_CM**2
    A_a = _where(wound, Wc, Wc + 2 * o_a) * (Hc + 2 * o_a) * MM_TO_CM**2
    A_s = _where(wound, Wc, Wc + 2 * o_s) * (Hc + 2 * o_s) * MM_TO_CM**2
    F = N * sides  # cathode faces = anode faces = separator layers
    N_ncc = _where(wound, N, _where(two, N + 1, N))
    T_stack = N * t_pcc + F * (t_c + t_s + t_a_chg) + N_ncc * t_ncc  # um, charged
    T_stack_dis = N * t_pcc + F * (t_c + t_s + t_a_dis) + N_ncc * t_ncc
    # a jelly roll's "stack thickness" is its radial build from the mandrel to the last turn:
    # wound as built (discharged), then each turn thickens on charge
    r_m = f["y_mandrel_mm"] / 2
    roll_dis_mm = np.sqrt(r_m**2 + ann_mm2 / np.pi) - r_m
    roll_chg_mm = np.sqrt(r_m**2 + L_wind_mm * unit_chg * 1e-3 / np.pi) - r_m
    T_stack = _where(wound, roll_chg_mm * 1000.0, T_stack)
    T_stack_dis = _where(wound, roll_dis_mm * 1000.0, T_stack_dis)

    # outer size, volume and housing mass
    lam = f["p_laminate_um"] * UM_TO_CM
    # Pouch: the cup holds the stack and, on each terminal end, the tab zone where the foil
    # tabs are gathered and welded to the terminal; the terminal then passes through the seal
    # (sealant film on both faces) and protrudes beyond it.
    n_t = f["p_tab_ends"]  # 1: both terminals on one end, 2: one on each end
    seal_t, seal_b, seal_s = f["p_top_seal_mm"], f["p_bottom_seal_mm"], f["p_side_seal_mm"]
    protr = _where(
        np.isfinite(f["p_tab_protrusion_mm"]),
        f["p_tab_protrusion_mm"],
        np.maximum(f["p_terminal_length_mm"] - seal_t, 0.0),
    )
    W_in = Wc_p + 2 * o_max  # mm, cup inside
    H_in = Hc_p + 2 * o_max + n_t * f["p_tab_zone_mm"]
    end_seals = n_t * seal_t + (2 - n_t) * seal_b
    W_flat, H_flat = W_in + 2 * seal_s, H_in + end_seals  # the sealed outline, flanges flat
    folded = f["p_side_folded"] > 0  # side flanges folded up against the cell's sides
    Wout_p = _where(folded, W_in + 4 * f["p_laminate_um"] * 1e-3, W_flat) * MM_TO_CM
    Hout_p = (H_flat + n_t * protr) * MM_TO_CM
    Tout_p = T_stack * UM_TO_CM + 2 * lam
    V_p = Wout_p * Hout_p * Tout_p
    # film: both faces of the cup, its four side walls (the stack's as-built thickness,
    # folded edges and corners) and the two film layers of every sealed flange
    T_cup = T_stack_dis * 1e-3  # mm
    film_mm2 = 2 * W_in * H_in + 2 * (W_in + H_in) * T_cup + 2 * (W_flat * H_flat - W_in * H_in)
    m_house_p = film_mm2 * 1e-2 * lam * f["p_laminate_rho"]
    m_sealant_p = 2 * f["p_sealant_width_mm"] * seal_t * 1e-2 * (
        f["p_sealant_um"] * UM_TO_CM) * f["p_sealant_rho"]
    V_r = f["r_length_mm"] * f["r_height_mm"] * f["r_thickness_mm"] * 1e-3
    m_house_r = (V_r - Lin * Hin * Tin * 1e-3) * f["r_can_rho"]
    V_y = np.pi * (f["y_diameter_mm"] / 2) ** 2 * f["y_height_mm"] * 1e-3
    m_house_y = (V_y - np.pi * Rin_y**2 * Hin_y * 1e-3) * f["y_can_rho"]
    # insulation (g): prismatic inner insulating film over the can's inside, outer wrap over
    # the can's outside except its lid face(s), adhesive tape over a share of the stack's
    # surface; cylindrical insulator discs at both ends of the roll and an outer sleeve
    L_r, H_r, T_r = f["r_length_mm"], f["r_height_mm"], f["r_thickness_mm"]
    lid_faces_r = _where(ends_r, 2 * H_r * T_r, L_r * T_r)
    out_r = 2 * (L_r * H_r + L_r * T_r + H_r * T_r) - lid_faces_r  # mm2
    in_r = 2 * (Lin * Hin + Lin * Tin + Hin * Tin)
    stack_r = 2 * (Wc_r * Hc_r + (Wc_r + Hc_r) * T_stack_dis * 1e-3)
    m_ins_r = 1e-2 * UM_TO_CM * in_r * f["r_insulation_um"] * f["r_insulation_rho"]
    m_wrap_r = 1e-2 * UM_TO_CM * f["r_wrap_rho"] * (
        out_r * f["r_wrap_um"] + f["r_tape_coverage"] * stack_r * f["r_tape_um"]
    )
    disc_y = np.pi * (Rin_y**2 - (f["y_mandrel_mm"] / 2) ** 2)  # mm2
    side_y = np.pi * f["y_diameter_mm"] * f["y_height_mm"]
    m_ins_y = 2 * disc_y * 1e-2 * f["y_insulator_mm"] * MM_TO_CM * f["y_insulator_rho"]
    m_wrap_y = side_y * 1e-2 * f["y_wrap_um"] * UM_TO_CM * f["y_wrap_rho"]
    m_ins = _select([is_p, is_r, is_y], [m_sealant_p, m_ins_r, m_ins_y], np.nan)
    m_wrap = _select([is_p, is_r, is_y], [0.0, m_wrap_r, m_wrap_y], np.nan)
    V_cell = _select([is_p, is_r, is_y], [V_p, V_r, V_y], np.nan)
    m_house = _select([is_p, is_r, is_y], [m_house_p, m_house_r, m_house_y], np.nan)
    cost_house_kg = _select(
        [is_p, is_r, is_y], [f["p_laminate_cost"], f["r_can_cost"], f["y_can_cost"]], np.nan
    )
    dims = (
        _select([is_p, is_r, is_y], [Wout_p * 10, f["r_length_mm"], f["y_diameter_mm"]], np.nan),
        _select([is_p, is_r, is_y], [Hout_p * 10, f["r_height_mm"], f["y_height_mm"]], np.nan),
        _select(
            [is_p, is_r, is_y], [Tout_p * 10, f["r_thickness_mm"], f["y_diameter_mm"]], np.nan
        ),
    )

    status = np.where((Wc <= 0) | (Hc <= 0), 1, status)
    status = np.where((status == 0) & is_r & (N < 1), 2, status)
    status = np.where((status == 0) & is_r & (T_stack_dis > T_avail_r + 1e-9), 3, status)
    status = np.where((status == 0) & is_y & ((ann_mm2 <= 0) | (Rin_y <= 0)), 4, status)
    too_swollen = (is_r & (T_stack > Tin * 1000.0 + 1e-9)) | (
        is_y & (r_m + roll_chg_mm > Rin_y + 1e-12)
    )
    status = np.where((status == 0) & too_swollen, 5, status)

    # ---------------- capacity, voltage, energy ----------------
    # An intercalation anode with N/P < 1 cannot take all the cathode's lithium: the cell is
    # then anode-limited (and plates lithium if charged further; compile warns).
    Q_cell = _where(is_int, Q_c * np.minimum(1.0, np_int), Q_c)
    # First-cycle (formation) loss, all per cm2 of cathode face. The cathode gives Q_c / ICE_c
    # on its first charge and takes back at most Q_c; the anode keeps part of what it receives:
    # an intercalation anode binds a_irr mAh per mAh of its reversible capacity (NP Q_c) in its
    # SEI, plated lithium (metal, anode-free) keeps (1 - CE_f) of the first charge. The cyclable
    # lithium after formation is what is left (plus a lithium foil's own capacity).
    q_ch = Q_c / f["c_ice"]
    li_foil = _where(is_li, t_li * UM_TO_CM * li_vol_cap, 0.0)
    li_after = _where(
        is_int, q_ch - np_int * Q_c * f["a_irr"], q_ch * f["a_form_ce"] + li_foil
    )
    Q_form = np.minimum(Q_cell, li_after)
    # an unknown cathode ICE (NaN) means no formation model: the old, loss-free capacity
    Q_cell = _where(np.isfinite(f["c_ice"]), Q_form, Q_cell)
    capacity_mAh = F * A_c * Q_cell
    capacity_Ah = capacity_mAh * 1e-3
    energy_Wh = capacity_Ah * V_nom

    # ---------------- masses (g) ----------------
    # tab bundles: an uncoated foil tab on every collector sheet, as wide as the tab and as
    # long as the tab zone (pouch), the tab length (prismatic); none for a tabless winding
    L_tab = _select([is_p, is_r], [f["p_tab_zone_mm"], f["r_tab_length_mm"]], 0.0)
    m_tab_p = N * f["tab_width_p_mm"] * L_tab * 1e-2 * t_pcc * UM_TO_CM * f["pcc_rho"]
    m_tab_n = N_ncc * f["tab_width_n_mm"] * L_tab * 1e-2 * t_ncc * UM_TO_CM * f["ncc_rho"]
    m_tab_p, m_tab_n = _where(wound, 0.0, m_tab_p), _where(wound, 0.0, m_tab_n)
    m_cat = F * A_c * load_c
    m_an_comp = _where(is_int, F * A_a * load_a, 0.0)
    vol_cat = F * A_c * t_c * UM_TO_CM
    vol_an = F * A_a * t_a_chg * UM_TO_CM
    vol_an_dis = F * A_a * t_a_dis * UM_TO_CM
    vol_sep = F * A_s * t_s * UM_TO_CM
    vol_pcc = N * A_c * t_pcc * UM_TO_CM
    vol_ncc = N_ncc * A_a * t_ncc * UM_TO_CM
    pore = vol_cat * eps_c + _where(is_int, vol_an_dis * eps_a, 0.0) + vol_sep * f["s_porosity"]
    masses = {
        "cathode_active": m_cat * f["c_w_active"],
        "catholyte": m_cat * f["c_w_catholyte"],
        "cathode_carbon": m_cat * f["c_w_carbon"],
        "cathode_binder": m_cat * f["c_w_binder"],
        "anode_active": m_an_comp * f["a_w_active"],
        "anode_electrolyte": m_an_comp * f["a_w_electrolyte"],
        "anode_carbon": m_an_comp * f["a_w_carbon"],
        "anode_binder": m_an_comp * f["a_w_binder"],
        "lithium_metal": _where(is_li, F * A_a * t_li * UM_TO_CM * f["li_rho"], 0.0),
        "separator": vol_sep * (1 - f["s_porosity"]) * f["s_rho"],
        "positive_collector": vol_pcc * f["pcc_rho"],
        "negative_collector": vol_ncc * f["ncc_rho"],
        "liquid_electrolyte": f["l_fill"] * pore * f["l_rho"] + f["l_excess_g_Ah"] * capacity_Ah,
        "housing": m_house,
        "terminals": f["tp_mass_g"] + f["tn_mass_g"],
        "positive_tabs": m_tab_p,
        "negative_tabs": m_tab_n,
        "insulation": m_ins,
        "wrap": m_wrap,
        "pressure_hardware": f["h_mass_g"],
    }
    unit_cost = {
        "cathode_active": f["c_cost_active"],
        "catholyte": f["c_cost_catholyte"],
        "cathode_carbon": f["c_cost_carbon"],
        "cathode_binder": f["c_cost_binder"],
        "anode_active": f["a_cost_active"],
        "anode_electrolyte": f["a_cost_electrolyte"],
        "anode_carbon": f["a_cost_carbon"],
        "anode_binder": f["a_cost_binder"],
        "lithium_metal": f["li_cost"],
        "separator": f["s_cost"],
        "positive_collector": f["pcc_cost"],
        "negative_collector": f["ncc_cost"],
        "liquid_electrolyte": f["l_cost"],
        "housing": cost_house_kg,
        "terminals": None,
        "positive_tabs": f["pcc_cost"],
        "negative_tabs": f["ncc_cost"],
        "insulation": f["ins_cost"],
        "wrap": f["wrap_cost"],
        "pressure_hardware": f["h_cost"],
    }
    out: dict[str, np.ndarray] = {}
    # totals accumulated in place; a component that is one value for every design (a scalar
    # or a 0-d array) is costed as a scalar rather than over the broadcast array
    total_mass = np.zeros(shape)
    total_cost = np.zeros(shape)
    for name in MASS_COMPONENTS:
        m = np.asarray(masses[name], dtype=float)
        out[f"mass_{name}_g"] = np.broadcast_to(m, shape)
        np.add(total_mass, m, out=total_mass)
        if name == "terminals":
            c = (f["tp_mass_g"] * f["tp_cost"] + f["tn_mass_g"] * f["tn_cost"]) * 1e-3
        else:
            # a component with no mass costs nothing, even if its price is unknown: the
            # product is taken only where the mass is positive (one masked pass), 0 elsewhere
            usd_g = np.asarray(unit_cost[name], dtype=float) * 1e-3
            if m.ndim == 0:
                c = m * usd_g if m > 0 else np.zeros(usd_g.shape)
            else:
                c = np.zeros(np.broadcast_shapes(m.shape, usd_g.shape))
                np.multiply(m, usd_g, out=c, where=m > 0)
        out[f"cost_{name}_usd"] = np.broadcast_to(c, shape)
        np.add(total_cost, c, out=total_cost)

    volumes = {
        "cathode_coating": vol_cat,
        "anode": vol_an,
        "separator": vol_sep,
        "positive_collector": vol_pcc,
        "negative_collector": vol_ncc,
    }
    inner = sum(volumes.values())
    volumes["void_and_housing"] = V_cell - inner
    volumes["pressure_hardware"] = f["h_volume_cm3"]
    total_volume = V_cell + f["h_volume_cm3"]
    for name in VOLUME_COMPONENTS:
        out[f"volume_{name}_cm3"] = np.broadcast_to(volumes[name], shape)

    # ---------------- materials-level limit (the electrochemical couple) ----------------
    q_a = f["a_q_mAh_g"]
    se_couple = _where(is_int, V_nom / (1 / q_c + 1 / q_a), V_nom * q_c)  # Wh/kg
    inv_vol = 1 / (q_c * f["c_rho_active"]) + _where(
        is_int, 1 / (q_a * f["a_rho_active"]), 1 / li_vol_cap
    )
    ed_couple = V_nom / inv_vol  # Wh/L
    q_c_th, q_a_th = f["c_qth_mAh_g"], f["a_qth_mAh_g"]
    se_theory = _where(is_int, V_nom / (1 / q_c_th + 1 / q_a_th), V_nom * q_c_th)

    out.update(
        {
            "capacity_Ah": capacity_Ah,
            "nominal_voltage_V": V_nom,
            "energy_Wh": energy_Wh,
            "mass_g": total_mass,
            "volume_cm3": total_volume,
            "specific_energy_Wh_kg": energy_Wh / (total_mass * 1e-3),
            "energy_density_Wh_L": energy_Wh / (total_volume * 1e-3),
            "cost_usd": total_cost,
            "cost_usd_kWh": total_cost / (energy_Wh * 1e-3),
            "cathode_thickness_um": t_c,
            "cathode_areal_capacity_mAh_cm2": Q_c,
            "cathode_loading_mg_cm2": load_c * 1e3,
            "anode_thickness_um": t_a_dis,
            "anode_thickness_charged_um": t_a_chg,
            "np_ratio": np_eff,
            "layers": N,
            "electrode_width_mm": Wc,
            "electrode_height_mm": Hc,
            "cathode_area_cm2": F * A_c,
            "stack_thickness_mm": T_stack * 1e-3,
            "stack_thickness_discharged_mm": T_stack_dis * 1e-3,
            "cell_width_mm": dims[0],
            "cell_height_mm": dims[1],
            "cell_thickness_mm": dims[2],
            "stack_volume_fraction": inner / V_cell,
            "couple_specific_energy_Wh_kg": se_couple,
            "couple_energy_density_Wh_L": ed_couple,
            "theoretical_specific_energy_Wh_kg": se_theory,
            "usable_thickness_mm": _where(is_r, T_avail_r * 1e-3, np.nan),
            # room for the stack: the can's inner thickness, or the radial room of a winding
            "inner_thickness_mm": _select([is_r, is_y], [Tin, Rin_y - r_m], np.nan),
        }
    )
    out["cell_to_couple_specific_energy"] = out["specific_energy_Wh_kg"] / se_couple
    out["cell_to_couple_energy_density"] = out["energy_density_Wh_L"] / ed_couple
    # an output that is one of the inputs itself (a pick of _where/_select) is copied, so the
    # result never aliases the caller's arrays
    inputs = {id(v) for v in f.values() if v.ndim}
    out = {
        k: np.broadcast_to(np.array(v, dtype=float) if id(v) in inputs else
                           np.asarray(v, dtype=float), shape)
        for k, v in out.items()
    }
    bad = status != 0
    if np.any(bad):
        # metrics of an impossible design are NaN; its geometry stays, to explain the failure
        out = {k: v if k in DIAGNOSTIC else np.where(bad, np.nan, v) for k, v in out.items()}
    out["status"] = status
    return out
