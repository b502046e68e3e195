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


def _composite_density(w: tuple[ArrayLike, ...], rho: tuple[ArrayLike, ...]) -> np.ndarray:
    """Skeletal density of a dry composite from mass fractions: 1 / sum(w_i / rho_i).

    A component with zero mass fraction contributes nothing whatever its density (a missing
    density of an unused component is given as NaN by the compiler and must not poison the sum).
    """
    inv = 0.0
    for wi, ri in zip(w, rho, strict=True):
        inv = inv + np.where(np.asarray(wi) > 0, np.asarray(wi) / np.asarray(ri), 0.0)
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
    load_c = np.where(
        np.isfinite(t_given),
        load_from_t,
        np.where(np.isfinite(load_from_q), load_from_q, load_from_l),
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
    load_a = np.where(
        np.isfinite(t_a_given),
        t_a_given * UM_TO_CM * (1 - eps_a) * rho_as,
        f["a_np"] * Q_c / q_acomp,
    )  # g/cm2
    t_a_int = load_a / ((1 - eps_a) * rho_as) / UM_TO_CM
    np_int = load_a * q_acomp / Q_c
    # lithium: capacity density of lithium metal [mAh/cm3]
    li_vol_cap = f["li_q_mAh_g"] * f["li_rho"]
    t_li_from_np = f["a_np"] * Q_c / li_vol_cap / UM_TO_CM
    t_li = np.where(np.isfinite(f["a_li_thickness_um"]), f["a_li_thickness_um"], t_li_from_np)
    t_li = np.where(is_li, t_li, 0.0)
    t_plated = Q_c / li_vol_cap / UM_TO_CM  # lithium plated per side at full charge [um]
    t_a_dis = np.where(is_int, t_a_int, t_li)  # as assembled / discharged
    # Charged: lithiated particles swell (the active volume grows by its lithiation expansion,
    # scaled by the share of the anode's capacity used, 1/NP; pores are assumed not to absorb
    # it) and plated lithium adds its own volume.
    used = np.minimum(1.0, 1.0 / np_int)
    swell = load_a * f["a_w_active"] * f["a_expansion_cm3_g"] * used / UM_TO_CM
    t_a_chg = np.where(is_int, t_a_int + np.nan_to_num(swell), t_li + t_plated)
    np_eff = np.where(is_int, np_int, np.where(is_li, t_li * UM_TO_CM * li_vol_cap / Q_c, 0.0))
    V_an = np.where(is_int, f["a_V"], 0.0)
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
    Lin = f["r_length_mm"] - 2 * wall_r
    Hin = f["r_height_mm"] - 2 * wall_r
    Tin = f["r_thickness_mm"] - 2 * wall_r
    Wc_r = Lin - 2 * f["r_side_clearance_mm"] - 2 * o_max
    Hc_r = Hin - f["r_headspace_mm"] - 2 * o_max
    T_avail_r = f["r_fill"] * Tin * 1000.0  # um
    N_r_auto = np.floor((T_avail_r - np.where(two, t_ncc, 0.0)) / unit)
    N_r = np.where(np.isfinite(f["r_layers"]), f["r_layers"], N_r_auto)
    # cylindrical: wound jelly roll in the annulus
    Rin_y = f["y_diameter_mm"] / 2 - f["y_wall_mm"]
    Hin_y = f["y_height_mm"] - 2 * f["y_wall_mm"]
    Hc_y = Hin_y - f["y_headspace_mm"] - 2 * o_max
    ann_mm2 = f["y_fill"] * np.pi * (Rin_y**2 - (f["y_mandrel_mm"] / 2) ** 2)
    L_wind_mm = ann_mm2 / (unit * 1e-3)  # wound length of the cathode sheet

    is_p, is_r, is_y = f_type == POUCH, f_type == PRISMATIC, f_type == CYLINDRICAL
    Wc = np.select([is_p, is_r, is_y], [Wc_p, Wc_r, L_wind_mm], np.nan)  # mm
    Hc = np.select([is_p, is_r, is_y], [Hc_p, Hc_r, Hc_y], np.nan)  # mm
    N = np.select([is_p, is_r, is_y], [N_p, N_r, np.ones(shape)], np.nan)
    # wound: the anode and separator overhang only along the height
    wound = is_y
    A_c = Wc * Hc * MM_TO_CM**2
    A_a = np.where(wound, Wc, Wc + 2 * o_a) * (Hc + 2 * o_a) * MM_TO_CM**2
    A_s = np.where(wound, Wc, Wc + 2 * o_s) * (Hc + 2 * o_s) * MM_TO_CM**2
    F = N * sides  # cathode faces = anode faces = separator layers
    N_ncc = np.where(wound, N, np.where(two, N + 1, N))
    T_stack = N * t_pcc + F * (t_c + t_s + t_a_chg) + N_ncc * t_ncc  # um, charged
    T_stack_dis = N * t_pcc + F * (t_c + t_s + t_a_dis) + N_ncc * t_ncc
    # a jelly roll's "stack thickness" is its radial build from the mandrel to the last turn:
    # wound as built (discharged), then each turn thickens on charge
    r_m = f["y_mandrel_mm"] / 2
    roll_dis_mm = np.sqrt(r_m**2 + ann_mm2 / np.pi) - r_m
    roll_chg_mm = np.sqrt(r_m**2 + L_wind_mm * unit_chg * 1e-3 / np.pi) - r_m
    T_stack = np.where(wound, roll_chg_mm * 1000.0, T_stack)
    T_stack_dis = np.where(wound, roll_dis_mm * 1000.0, T_stack_dis)

    # outer size, volume and housing mass
    lam = f["p_laminate_um"] * UM_TO_CM
    Wout_p = (Wc_p + 2 * o_max + 2 * f["p_side_seal_mm"]) * MM_TO_CM
    Hout_p = (Hc_p + 2 * o_max + f["p_top_seal_mm"] + f["p_bottom_seal_mm"]) * MM_TO_CM
    Tout_p = T_stack * UM_TO_CM + 2 * lam
    V_p = Wout_p * Hout_p * Tout_p
    m_house_p = 2 * Wout_p * Hout_p * lam * f["p_laminate_rho"]
    V_r = f["r_length_mm"] * f["r_height_mm"] * f["r_thickness_mm"] * 1e-3
    m_house_r = (V_r - Lin * Hin * Tin * 1e-3) * f["r_can_rho"]
    V_y = np.pi * (f["y_diameter_mm"] / 2) ** 2 * f["y_height_mm"] * 1e-3
    m_house_y = (V_y - np.pi * Rin_y**2 * Hin_y * 1e-3) * f["y_can_rho"]
    V_cell = np.select([is_p, is_r, is_y], [V_p, V_r, V_y], np.nan)
    m_house = np.select([is_p, is_r, is_y], [m_house_p, m_house_r, m_house_y], np.nan)
    cost_house_kg = np.select(
        [is_p, is_r, is_y], [f["p_laminate_cost"], f["r_can_cost"], f["y_can_cost"]], np.nan
    )
    dims = (
        np.select([is_p, is_r, is_y], [Wout_p * 10, f["r_length_mm"], f["y_diameter_mm"]], np.nan),
        np.select([is_p, is_r, is_y], [Hout_p * 10, f["r_height_mm"], f["y_height_mm"]], np.nan),
        np.select(
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
    Q_cell = np.where(is_int, Q_c * np.minimum(1.0, np_int), Q_c)
    capacity_mAh = F * A_c * Q_cell
    capacity_Ah = capacity_mAh * 1e-3
    energy_Wh = capacity_Ah * V_nom

    # ---------------- masses (g) ----------------
    m_cat = F * A_c * load_c
    m_an_comp = np.where(is_int, F * A_a * load_a, 0.0)
    vol_cat = F * A_c * t_c * UM_TO_CM
    vol_an = F * A_a * t_a_chg * UM_TO_CM
    vol_an_dis = F * A_a * t_a_dis * UM_TO_CM
    vol_sep = F * A_s * t_s * UM_TO_CM
    vol_pcc = N * A_c * t_pcc * UM_TO_CM
    vol_ncc = N_ncc * A_a * t_ncc * UM_TO_CM
    pore = vol_cat * eps_c + np.where(is_int, vol_an_dis * eps_a, 0.0) + vol_sep * f["s_porosity"]
    masses = {
        "cathode_active": m_cat * f["c_w_active"],
        "catholyte": m_cat * f["c_w_catholyte"],
        "cathode_carbon": m_cat * f["c_w_carbon"],
        "cathode_binder": m_cat * f["c_w_binder"],
        "anode_active": m_an_comp * f["a_w_active"],
        "anode_electrolyte": m_an_comp * f["a_w_electrolyte"],
        "anode_carbon": m_an_comp * f["a_w_carbon"],
        "anode_binder": m_an_comp * f["a_w_binder"],
        "lithium_metal": np.where(is_li, F * A_a * t_li * UM_TO_CM * f["li_rho"], 0.0),
        "separator": vol_sep * (1 - f["s_porosity"]) * f["s_rho"],
        "positive_collector": vol_pcc * f["pcc_rho"],
        "negative_collector": vol_ncc * f["ncc_rho"],
        "liquid_electrolyte": f["l_fill"] * pore * f["l_rho"] + f["l_excess_g_Ah"] * capacity_Ah,
        "housing": m_house,
        "terminals": f["tp_mass_g"] + f["tn_mass_g"],
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
        "pressure_hardware": f["h_cost"],
    }
    out: dict[str, np.ndarray] = {}
    total_mass = 0.0
    total_cost = 0.0
    for name in MASS_COMPONENTS:
        m = np.broadcast_to(masses[name], shape)
        out[f"mass_{name}_g"] = m
        total_mass = total_mass + m
        if name == "terminals":
            c = (f["tp_mass_g"] * f["tp_cost"] + f["tn_mass_g"] * f["tn_cost"]) * 1e-3
        else:
            # a component with no mass costs nothing, even if its price is unknown
            c = np.where(m > 0, m * 1e-3 * unit_cost[name], 0.0)
        out[f"cost_{name}_usd"] = np.broadcast_to(c, shape)
        total_cost = total_cost + c

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
    se_couple = np.where(is_int, V_nom / (1 / q_c + 1 / q_a), V_nom * q_c)  # Wh/kg
    inv_vol = 1 / (q_c * f["c_rho_active"]) + np.where(
        is_int, 1 / (q_a * f["a_rho_active"]), 1 / li_vol_cap
    )
    ed_couple = V_nom / inv_vol  # Wh/L
    q_c_th, q_a_th = f["c_qth_mAh_g"], f["a_qth_mAh_g"]
    se_theory = np.where(is_int, V_nom / (1 / q_c_th + 1 / q_a_th), V_nom * q_c_th)

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
            "usable_thickness_mm": np.where(is_r, T_avail_r * 1e-3, np.nan),
            # room for the stack: the can's inner thickness, or the radial room of a winding
            "inner_thickness_mm": np.select([is_r, is_y], [Tin, Rin_y - r_m], np.nan),
        }
    )
    out["cell_to_couple_specific_energy"] = out["specific_energy_Wh_kg"] / se_couple
    out["cell_to_couple_energy_density"] = out["energy_density_Wh_L"] / ed_couple
    out = {k: np.broadcast_to(np.asarray(v, dtype=float), shape) for k, v in out.items()}
    bad = status != 0
    if np.any(bad):
        # metrics of an impossible design are NaN; its geometry stays, to explain the failure
        out = {k: v if k in DIAGNOSTIC else np.where(bad, np.nan, v) for k, v in out.items()}
    out["status"] = status
    return out
