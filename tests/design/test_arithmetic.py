"""Hand-checked arithmetic of the stack model.

Every expected value below is worked out from the round numbers of
``tests/data/materials_handcheck.yaml`` step by step, the way one would on paper, without
reusing the engine's intermediate quantities. Units: um for layer thicknesses, mm for cell
dimensions, cm2 / cm3 / g / mAh for the bookkeeping (1 um = 1e-4 cm, 1 mm = 0.1 cm).

Handcheck library (value: density g/cm3, capacity mAh/g, voltage V vs Li, cost USD/kg):
  NMC 5.0 / 200 / 4.0 / 20       LFP 4.0 / 150 / 3.5 / 10
  GRAPH 2.0 / 350 / 0.1 / 10     SI 2.5 / 2000 / 0.4 / 5     Li_metal 0.5 / 4000 / 0.0 / 100
  LPSCl 2.0 / 50 USD/kg          LE 1.25 / 10 USD/kg
  CB 2.0 / 10   BIND 1.0 / 20    PE 1.0 / 50   AL 2.5 / 5   CU 9.0 / 10
  LAM 1.5 / 10  CAN_AL 2.5 / 4   CAN_STEEL 8.0 / 2   TAB_AL 2.5 / 5   TAB_NI 9.0 / 20
  FRAME 8.0 / 2
"""

from __future__ import annotations

import math
from pathlib import Path

import periodictable
import pytest

from casip.design import evaluate
from casip.materials import build_library

DATA = Path(__file__).resolve().parents[1] / "data"
REL = 1e-9


@pytest.fixture(scope="module")
def lib():
    path = DATA / "materials_handcheck.yaml"
    return build_library([(str(path), path.read_text(encoding="utf-8"))])


def approx(x):
    return pytest.approx(x, rel=REL)


# Terminals used by every design: 40 x 0.2 x 30 mm = 240 mm3 = 0.24 cm3 each.
TERMINALS = {
    "positive": {"material": "TAB_AL", "width_mm": 40, "thickness_mm": 0.2, "length_mm": 30},
    "negative": {"material": "TAB_NI", "width_mm": 40, "thickness_mm": 0.2, "length_mm": 30},
}
TAB_AL_G = 0.24 * 2.5  # 0.6 g
TAB_NI_G = 0.24 * 9.0  # 2.16 g
TERMINALS_G = TAB_AL_G + TAB_NI_G  # 2.76 g
TERMINALS_USD = TAB_AL_G / 1000 * 5 + TAB_NI_G / 1000 * 20  # 0.003 + 0.0432

# These hand checks are of the stack arithmetic: the cell hardware that issue 15 added (terminal
# protrusion and sealant of pouches; films, tape and tab bundles of cans) is switched off here
# and checked by hand in tests/design/test_hardware.py. The pouch film always covers the cup's
# side walls, so its mass below is two flat sheets plus 2 (W_in + H_in) x stack thickness.
BARE_POUCH = {"tab_protrusion_mm": 0, "tab_sealant_thickness_um": 0}
BARE_PRISMATIC = {"insulation_film_um": 0, "wrap_film_um": 0, "tape_coverage": 0,
                  "tab_length_mm": 0}
BARE_CYLINDER = {"insulator_thickness_mm": 0, "wrap_film_um": 0}


def liquid_graphite_cathode(thickness_um=80.0):
    return {
        "active": "NMC",
        "carbon": "CB",
        "binder": "BIND",
        "mass_fractions": {"active": 0.9, "carbon": 0.05, "binder": 0.05},
        "porosity": 0.25,
        "thickness_um": thickness_um,
    }


def graphite_anode(active=None, np_ratio=1.1):
    return {
        "type": "intercalation",
        "active": active or {"GRAPH": 1.0},
        "binder": "BIND",
        "mass_fractions": {"active": 0.95, "binder": 0.05},
        "porosity": 0.3,
        "np_ratio": np_ratio,
    }


# ---------------------------------------------------------------------------------------------
# 1. Pouch, liquid electrolyte, graphite anode
# ---------------------------------------------------------------------------------------------


def pouch_liquid_design():
    return {
        "schema": "casip.design/1",
        "name": "handcheck pouch liquid",
        "kind": "liquid",
        "cathode": liquid_graphite_cathode(80.0),
        "anode": graphite_anode(),
        "separator": {"material": "PE", "thickness_um": 20, "porosity": 0.4},
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": 15},
            "negative": {"material": "CU", "thickness_um": 10},
        },
        "electrolyte": {"material": "LE", "pore_fill": 0.9, "excess_g_per_Ah": 0.5},
        "format": {
            "type": "pouch",
            **BARE_POUCH,
            "electrode_width_mm": 100,
            "electrode_height_mm": 200,
            "layers": 10,
            "laminate": "LAM",
            "laminate_thickness_um": 150,
            "side_seal_mm": 5,
            "top_seal_mm": 15,
            "bottom_seal_mm": 5,
            "anode_overhang_mm": 1,
            "separator_overhang_mm": 2,
            "terminals": TERMINALS,
        },
    }


def test_pouch_liquid_graphite(lib):
    r = evaluate(pouch_liquid_design(), lib)
    g = r.geometry

    # Cathode composite skeletal density: 1 / (0.9/5 + 0.05/2 + 0.05/1) = 1/0.255 g/cm3
    rho_c = 1 / (0.9 / 5.0 + 0.05 / 2.0 + 0.05 / 1.0)
    assert rho_c == pytest.approx(1 / 0.255)
    # Loading from thickness: 80 um = 0.008 cm, 75 % solid -> 0.006 cm of solid x rho
    load_c = 0.008 * 0.75 * rho_c  # g/cm2 per side (= 0.0235294)
    assert g["cathode_loading_mg_cm2"] == approx(load_c * 1000)
    assert g["cathode_thickness_um"] == approx(80.0)
    # Areal capacity: 90 % active x 200 mAh/g
    q_c = load_c * 0.9 * 200  # mAh/cm2 (= 4.23529)
    assert g["cathode_areal_capacity_mAh_cm2"] == approx(q_c)

    # Anode: N/P 1.1 -> 1.1 q_c mAh/cm2; composite 95 % graphite at 350 mAh/g
    q_a = 1.1 * q_c
    load_a = q_a / (0.95 * 350)  # g/cm2
    rho_a = 1 / (0.95 / 2.0 + 0.05 / 1.0)  # 1/0.525
    t_a_cm = load_a / (0.7 * rho_a)  # 30 % porous
    t_a = t_a_cm * 1e4  # um
    assert g["anode_thickness_um"] == approx(t_a)
    assert g["anode_thickness_charged_um"] == approx(t_a)  # no plating in an intercalation cell
    assert g["np_ratio"] == approx(1.1)

    # Stack: 10 double-sided cathodes -> 10 Al foils, 20 cathode faces, 20 separators,
    # 20 anode faces on 11 Cu foils (both outer foils coated on one side only).
    stack_um = 10 * 15 + 20 * (80 + 20 + t_a) + 11 * 10
    assert g["layers"] == 10
    assert g["stack_thickness_mm"] == approx(stack_um / 1000)
    assert g["stack_thickness_discharged_mm"] == approx(stack_um / 1000)

    # Outer size: overhang max(1, 2) = 2 mm each edge; seals 5 + 5 on the sides, 15 top, 5 bottom
    w_mm = 100 + 2 * 2 + 2 * 5  # 114
    h_mm = 200 + 2 * 2 + 15 + 5  # 224
    t_mm = stack_um / 1000 + 2 * 0.150
    assert g["cell_width_mm"] == approx(114.0)
    assert g["cell_height_mm"] == approx(224.0)
    assert g["cell_thickness_mm"] == approx(t_mm)
    volume = (w_mm / 10) * (h_mm / 10) * (t_mm / 10)  # cm3
    assert r.volume_cm3 == approx(volume)

    # Areas (cm2): cathode 10 x 20, anode +1 mm each edge, separator +2 mm each edge
    a_c, a_a, a_s = 10.0 * 20.0, 10.2 * 20.2, 10.4 * 20.4
    assert g["cathode_area_cm2"] == approx(20 * a_c)

    capacity_mAh = 20 * a_c * q_c
    assert r.capacity_Ah == approx(capacity_mAh / 1000)
    assert r.nominal_voltage_V == approx(4.0 - 0.1)
    energy = capacity_mAh / 1000 * 3.9
    assert r.energy_Wh == approx(energy)

    m = r.mass_breakdown_g
    m_cat = 20 * a_c * load_c
    assert m["cathode_active"] == approx(0.9 * m_cat)
    assert m["cathode_carbon"] == approx(0.05 * m_cat)
    assert m["cathode_binder"] == approx(0.05 * m_cat)
    assert m["catholyte"] == 0
    m_an = 20 * a_a * load_a
    assert m["anode_active"] == approx(0.95 * m_an)
    assert m["anode_binder"] == approx(0.05 * m_an)
    assert m["lithium_metal"] == 0
    m_sep = 20 * a_s * 20e-4 * (1 - 0.4) * 1.0
    assert m["separator"] == approx(m_sep)
    m_al = 10 * a_c * 15e-4 * 2.5
    m_cu = 11 * a_a * 10e-4 * 9.0
    assert m["positive_collector"] == approx(m_al)
    assert m["negative_collector"] == approx(m_cu)
    # Liquid: 90 % of the pore volume of cathode, anode and separator + 0.5 g per Ah
    pores = 20 * a_c * 0.008 * 0.25 + 20 * a_a * t_a_cm * 0.3 + 20 * a_s * 20e-4 * 0.4
    m_liq = 0.9 * pores * 1.25 + 0.5 * capacity_mAh / 1000
    assert m["liquid_electrolyte"] == approx(m_liq)
    # Laminate: two sheets of the outer size, 150 um thick
    m_lam = (2 * 11.4 * 22.4 + 2 * (10.4 + 20.4) * stack_um / 1e4) * 0.015 * 1.5
    assert m["housing"] == approx(m_lam)
    assert m["terminals"] == approx(TERMINALS_G)
    assert m["pressure_hardware"] == 0

    total = m_cat + m_an + m_sep + m_al + m_cu + m_liq + m_lam + TERMINALS_G
    assert r.mass_g == approx(total)
    assert r.specific_energy_Wh_kg == approx(energy / (total / 1000))
    assert r.energy_density_Wh_L == approx(energy / (volume / 1000))

    # Cost: USD/kg x kg of each part
    cost = (
        m_cat / 1000 * (0.9 * 20 + 0.05 * 10 + 0.05 * 20)
        + m_an / 1000 * (0.95 * 10 + 0.05 * 20)
        + m_sep / 1000 * 50
        + m_al / 1000 * 5
        + m_cu / 1000 * 10
        + m_liq / 1000 * 10
        + m_lam / 1000 * 10
        + TERMINALS_USD
    )
    assert r.cost_usd == approx(cost)
    assert r.cost_usd_kWh == approx(cost / (energy / 1000))
    assert r.missing_cost == []

    # Element demand: copper is only in the negative foil -> g Cu per Wh x 1e6 = kg per GWh
    assert r.element_demand_kg_GWh["Cu"] == approx(m_cu / energy * 1e6)
    # nickel only in the negative tab
    assert r.element_demand_kg_GWh["Ni"] == approx(TAB_NI_G / energy * 1e6)

    # Couple: 3.9 V over 1/200 + 1/350 g/mAh; per volume with 200 x 5 and 350 x 2 mAh/cm3
    couple = 3.9 / (1 / 200 + 1 / 350)
    couple_vol = 3.9 / (1 / (200 * 5.0) + 1 / (350 * 2.0))
    assert r.couple_specific_energy_Wh_kg == approx(couple)
    assert r.couple_energy_density_Wh_L == approx(couple_vol)
    assert r.cell_to_couple_specific_energy == approx(energy / (total / 1000) / couple)
    assert r.cell_to_couple_energy_density == approx(energy / (volume / 1000) / couple_vol)

    # Volume breakdown: the layers (charged) + what is left of the cell
    v = r.volume_breakdown_cm3
    assert v["cathode_coating"] == approx(20 * a_c * 0.008)
    assert v["anode"] == approx(20 * a_a * t_a_cm)
    assert v["separator"] == approx(20 * a_s * 0.002)
    assert v["positive_collector"] == approx(10 * a_c * 15e-4)
    assert v["negative_collector"] == approx(11 * a_a * 10e-4)
    layers = 20 * a_c * 0.008 + 20 * a_a * t_a_cm + 20 * a_s * 0.002 + 10 * a_c * 15e-4
    layers += 11 * a_a * 10e-4
    assert v["void_and_housing"] == approx(volume - layers)
    assert g["stack_volume_fraction"] == approx(layers / volume)


# ---------------------------------------------------------------------------------------------
# 2. Pouch, all-solid-state, lithium metal sized by N/P, with pressure hardware
# ---------------------------------------------------------------------------------------------


def pouch_assb_li_design():
    return {
        "schema": "casip.design/1",
        "name": "handcheck pouch ASSB Li",
        "kind": "all-solid-state",
        "cathode": {
            "active": "NMC",
            "catholyte": "LPSCl",
            "carbon": "CB",
            "binder": "BIND",
            "mass_fractions": {"active": 0.75, "catholyte": 0.2, "carbon": 0.02, "binder": 0.03},
            "porosity": 0.1,
            "areal_capacity_mAh_cm2": 5.0,
        },
        "anode": {"type": "lithium_metal", "np_ratio": 1.5},
        "separator": {"material": "LPSCl", "thickness_um": 30, "porosity": 0.1},
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": 15},
            "negative": {"material": "CU", "thickness_um": 10},
        },
        "format": {
            "type": "pouch",
            **BARE_POUCH,
            "electrode_width_mm": 50,
            "electrode_height_mm": 50,
            "layers": 20,
            "laminate": "LAM",
            "laminate_thickness_um": 100,
            "terminals": TERMINALS,
        },
        "pressure_hardware": {"material": "FRAME", "mass_g": 100, "volume_cm3": 20},
    }


def test_pouch_assb_lithium_metal(lib):
    r = evaluate(pouch_assb_li_design(), lib)
    g = r.geometry

    # Composite density: 1 / (0.75/5 + 0.2/2 + 0.02/2 + 0.03/1) = 1 / 0.29
    rho_c = 1 / 0.29
    # Sized by areal capacity: 5 mAh/cm2 at 0.75 x 200 = 150 mAh per g composite
    load_c = 5.0 / 150  # g/cm2 = 33.33 mg/cm2
    t_c_cm = load_c / (0.9 * rho_c)  # 10 % porous -> 0.0107407 cm
    t_c = t_c_cm * 1e4
    assert g["cathode_loading_mg_cm2"] == approx(1000 / 30)
    assert g["cathode_areal_capacity_mAh_cm2"] == approx(5.0)
    assert g["cathode_thickness_um"] == approx(t_c)
    assert t_c == pytest.approx(107.407407407, rel=1e-9)

    # Lithium: 4000 mAh/g x 0.5 g/cm3 = 2000 mAh/cm3.
    # N/P 1.5 -> 7.5 mAh/cm2 -> 7.5 / 2000 cm = 37.5 um per side as assembled.
    # At full charge the cathode's 5 mAh/cm2 is plated on top: 5 / 2000 cm = 25 um.
    assert g["anode_thickness_um"] == approx(37.5)
    assert g["anode_thickness_charged_um"] == approx(37.5 + 25.0)
    assert g["np_ratio"] == approx(1.5)

    # Stack: 20 Al, 40 x (cathode + 30 um SE + lithium), 21 Cu
    stack_chg = 20 * 15 + 40 * (t_c + 30 + 62.5) + 21 * 10
    stack_dis = 20 * 15 + 40 * (t_c + 30 + 37.5) + 21 * 10
    assert g["stack_thickness_mm"] == approx(stack_chg / 1000)
    assert g["stack_thickness_discharged_mm"] == approx(stack_dis / 1000)

    # Default overhangs 1 (anode) and 2 (separator), seals 5 side, 15 top, 5 bottom
    w_mm, h_mm = 50 + 4 + 10, 50 + 4 + 20  # 64 x 74
    t_mm = stack_chg / 1000 + 2 * 0.1
    assert (g["cell_width_mm"], g["cell_height_mm"]) == (approx(64.0), approx(74.0))
    assert g["cell_thickness_mm"] == approx(t_mm)
    v_pouch = (w_mm / 10) * (h_mm / 10) * (t_mm / 10)
    volume = v_pouch + 20  # plus the pressure frame
    assert r.volume_cm3 == approx(volume)
    assert r.volume_breakdown_cm3["pressure_hardware"] == approx(20.0)

    a_c, a_a, a_s = 5.0 * 5.0, 5.2 * 5.2, 5.4 * 5.4
    capacity_mAh = 40 * a_c * 5.0  # 5000 mAh
    assert r.capacity_Ah == approx(capacity_mAh / 1000)
    assert r.capacity_Ah == approx(5.0)
    assert r.nominal_voltage_V == approx(4.0)  # lithium is 0 V vs Li
    energy = 5.0 * 4.0
    assert r.energy_Wh == approx(energy)

    m = r.mass_breakdown_g
    m_cat = 40 * a_c * load_c
    assert m["cathode_active"] == approx(0.75 * m_cat)
    assert m["catholyte"] == approx(0.2 * m_cat)
    m_li = 40 * a_a * 37.5e-4 * 0.5
    assert m["lithium_metal"] == approx(m_li)
    assert m["anode_active"] == 0
    m_sep = 40 * a_s * 30e-4 * 0.9 * 2.0
    assert m["separator"] == approx(m_sep)
    m_al = 20 * a_c * 15e-4 * 2.5
    m_cu = 21 * a_a * 10e-4 * 9.0
    assert m["liquid_electrolyte"] == 0
    m_lam = (2 * 6.4 * 7.4 + 2 * (5.4 + 5.4) * stack_dis / 1e4) * 0.01 * 1.5
    assert m["housing"] == approx(m_lam)
    assert m["pressure_hardware"] == approx(100.0)
    total = m_cat + m_li + m_sep + m_al + m_cu + m_lam + TERMINALS_G + 100
    assert r.mass_g == approx(total)
    assert r.specific_energy_Wh_kg == approx(energy / (total / 1000))
    assert r.energy_density_Wh_L == approx(energy / (volume / 1000))

    cost = (
        m_cat / 1000 * (0.75 * 20 + 0.2 * 50 + 0.02 * 10 + 0.03 * 20)
        + m_li / 1000 * 100
        + m_sep / 1000 * 50
        + m_al / 1000 * 5
        + m_cu / 1000 * 10
        + m_lam / 1000 * 10
        + TERMINALS_USD
        + 100 / 1000 * 2
    )
    assert r.cost_usd_kWh == approx(cost / (energy / 1000))

    # Iron is only in the pressure frame: 100 g / 20 Wh x 1e6 = 5e6 kg/GWh
    assert r.element_demand_kg_GWh["Fe"] == approx(100 / 20 * 1e6)

    # Couple with lithium metal: lithium's mass is the cathode's own -> 4 V x 200 mAh/g
    assert r.couple_specific_energy_Wh_kg == approx(4.0 * 200)
    # per volume: cathode 1000 mAh/cm3, lithium 2000 mAh/cm3 -> 4 / (1/1000 + 1/2000)
    assert r.couple_energy_density_Wh_L == approx(4.0 / (1 / 1000 + 1 / 2000))
    assert r.couple_energy_density_Wh_L == approx(8000 / 3)


def test_intercalation_anode_sized_by_thickness_gives_np(lib):
    d = pouch_liquid_design()
    del d["anode"]["np_ratio"]
    d["anode"]["thickness_um"] = 90
    r = evaluate(d, lib)
    g = r.geometry
    q_c = 0.008 * 0.75 / 0.255 * 180  # mAh/cm2 of the 80 um cathode
    # 90 um = 0.009 cm, 70 % solid at 1/0.525 g/cm3; 95 % graphite at 350 mAh/g
    load_a = 0.009 * 0.7 / 0.525
    q_a = load_a * 0.95 * 350
    assert g["anode_thickness_um"] == approx(90.0)
    assert g["np_ratio"] == approx(q_a / q_c)
    a_a = 10.2 * 20.2
    assert r.mass_breakdown_g["anode_active"] == approx(20 * a_a * load_a * 0.95)
    # N/P is below 1 here, so the anode limits the capacity
    assert q_a < q_c
    assert r.capacity_Ah == approx(20 * 200 * q_a / 1000)


def test_lithium_thickness_sizing_gives_np(lib):
    d = pouch_assb_li_design()
    d["anode"] = {"type": "lithium_metal", "lithium_thickness_um": 20}
    r = evaluate(d, lib)
    # 20 um = 0.002 cm x 2000 mAh/cm3 = 4 mAh/cm2 over 5 mAh/cm2 of cathode -> N/P 0.8
    assert r.geometry["np_ratio"] == approx(0.8)
    assert r.geometry["anode_thickness_um"] == approx(20.0)
    assert r.geometry["anode_thickness_charged_um"] == approx(45.0)
    assert r.mass_breakdown_g["lithium_metal"] == approx(40 * 5.2 * 5.2 * 0.002 * 0.5)


# ---------------------------------------------------------------------------------------------
# 3. Anode-free, single-sided, sized by loading
# ---------------------------------------------------------------------------------------------


def anode_free_design():
    return {
        "schema": "casip.design/1",
        "name": "handcheck anode-free",
        "kind": "all-solid-state",
        "cathode": {
            "active": "NMC",
            "catholyte": "LPSCl",
            "mass_fractions": {"active": 0.8, "catholyte": 0.2},
            "porosity": 0.15,
            "loading_mg_cm2": 25,
            "double_sided": False,
        },
        "anode": {"type": "anode_free"},
        "separator": {"material": "LPSCl", "thickness_um": 20, "porosity": 0.0},
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": 10},
            "negative": {"material": "CU", "thickness_um": 10},
        },
        "format": {
            "type": "pouch",
            **BARE_POUCH,
            "electrode_width_mm": 80,
            "electrode_height_mm": 60,
            "layers": 5,
            "laminate": "LAM",
            "laminate_thickness_um": 120,
            "anode_overhang_mm": 0.5,
            "separator_overhang_mm": 1.0,
            "terminals": TERMINALS,
        },
    }


def test_anode_free(lib):
    r = evaluate(anode_free_design(), lib)
    g = r.geometry

    rho_c = 1 / (0.8 / 5.0 + 0.2 / 2.0)  # 1/0.26
    load_c = 0.025  # g/cm2
    q_c = 0.025 * 0.8 * 200  # 4 mAh/cm2
    t_c_cm = 0.025 / (0.85 * rho_c)
    assert g["cathode_areal_capacity_mAh_cm2"] == approx(4.0)
    assert g["cathode_thickness_um"] == approx(t_c_cm * 1e4)
    # Nothing on the copper as built; 4 / 2000 cm = 20 um plated at full charge
    assert g["anode_thickness_um"] == 0
    assert g["anode_thickness_charged_um"] == approx(20.0)
    assert g["np_ratio"] == 0

    # Single-sided: each repeat is Al + cathode + SE + plated Li + Cu, 5 repeats, 5 Cu foils
    t_c = t_c_cm * 1e4
    stack_chg = 5 * (10 + t_c + 20 + 20 + 10)
    stack_dis = 5 * (10 + t_c + 20 + 0 + 10)
    assert g["stack_thickness_mm"] == approx(stack_chg / 1000)
    assert g["stack_thickness_discharged_mm"] == approx(stack_dis / 1000)

    # max overhang 1 mm: 80 + 2 + 10 = 92 wide, 60 + 2 + 15 + 5 = 82 high
    t_mm = stack_chg / 1000 + 0.24
    assert g["cell_width_mm"] == approx(92.0)
    assert g["cell_height_mm"] == approx(82.0)
    assert g["cell_thickness_mm"] == approx(t_mm)
    volume = 9.2 * 8.2 * t_mm / 10

    a_c, a_a, a_s = 8.0 * 6.0, 8.1 * 6.1, 8.2 * 6.2
    capacity_Ah = 5 * a_c * q_c / 1000  # 0.96 Ah
    assert r.capacity_Ah == approx(0.96)
    energy = capacity_Ah * 4.0
    assert r.energy_Wh == approx(energy)

    m_cat = 5 * a_c * load_c
    m_sep = 5 * a_s * 20e-4 * 2.0  # dense
    m_al = 5 * a_c * 10e-4 * 2.5
    m_cu = 5 * a_a * 10e-4 * 9.0
    m_lam = (2 * 9.2 * 8.2 + 2 * (8.2 + 6.2) * stack_dis / 1e4) * 0.012 * 1.5
    total = m_cat + m_sep + m_al + m_cu + m_lam + TERMINALS_G
    m = r.mass_breakdown_g
    assert m["lithium_metal"] == 0
    assert m["anode_active"] == 0
    assert m["separator"] == approx(m_sep)
    assert m["negative_collector"] == approx(m_cu)
    assert m["liquid_electrolyte"] == 0
    assert r.mass_g == approx(total)
    assert r.volume_cm3 == approx(volume)
    assert r.specific_energy_Wh_kg == approx(energy / (total / 1000))
    assert r.energy_density_Wh_L == approx(energy / (volume / 1000))

    # Lithium demand: all lithium sits in the cathode (LiCoO2) and the sulfide (Li6PS5Cl),
    # by atomic masses: x_Li = n x 6.94 / M.
    li, co, o = periodictable.Li.mass, periodictable.Co.mass, periodictable.O.mass
    p, s, cl = periodictable.P.mass, periodictable.S.mass, periodictable.Cl.mass
    x_li_lco = li / (li + co + 2 * o)
    x_li_se = 6 * li / (6 * li + p + 5 * s + cl)
    li_g = 0.8 * m_cat * x_li_lco + (0.2 * m_cat + m_sep) * x_li_se
    assert r.element_demand_kg_GWh["Li"] == approx(li_g / energy * 1e6)

    # Couple: anode-free uses the cathode's lithium -> 4 V x 200 mAh/g = 800 Wh/kg
    assert r.couple_specific_energy_Wh_kg == approx(800.0)
    assert r.couple_energy_density_Wh_L == approx(4.0 / (1 / 1000 + 1 / 2000))


# ---------------------------------------------------------------------------------------------
# 4. Prismatic can, layer count from the can, graphite/silicon blend
# ---------------------------------------------------------------------------------------------


def prismatic_design(layers=None):
    fmt = {
        "type": "prismatic",
        **BARE_PRISMATIC,
        "length_mm": 150,
        "height_mm": 100,
        "thickness_mm": 30,
        "wall_thickness_mm": 1,
        "can": "CAN_AL",
        "headspace_mm": 10,
        "side_clearance_mm": 1,
        "fill_fraction": 0.9,
        "anode_overhang_mm": 1,
        "separator_overhang_mm": 2,
        "terminals": TERMINALS,
    }
    if layers is not None:
        fmt["layers"] = layers
    return {
        "schema": "casip.design/1",
        "name": "handcheck prismatic",
        "kind": "liquid",
        "cathode": liquid_graphite_cathode(80.0),
        "anode": graphite_anode(active={"GRAPH": 0.9, "SI": 0.1}),
        "separator": {"material": "PE", "thickness_um": 20, "porosity": 0.4},
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": 15},
            "negative": {"material": "CU", "thickness_um": 10},
        },
        "electrolyte": {"material": "LE", "pore_fill": 1.0},
        "format": fmt,
    }


def test_prismatic_auto_layers_and_blend(lib):
    r = evaluate(prismatic_design(), lib)
    g = r.geometry

    load_c = 0.008 * 0.75 / 0.255
    q_c = load_c * 180
    # Blend by mass 90 % graphite / 10 % silicon:
    q_blend = 0.9 * 350 + 0.1 * 2000  # 515 mAh/g
    rho_blend = 1 / (0.9 / 2.0 + 0.1 / 2.5)  # 1/0.49 g/cm3
    # capacity-weighted potential: (315 x 0.1 + 200 x 0.4) / 515 V
    v_blend = (315 * 0.1 + 200 * 0.4) / 515
    assert r.nominal_voltage_V == approx(4.0 - v_blend)
    # Anode composite: 95 % blend + 5 % binder
    load_a = 1.1 * q_c / (0.95 * q_blend)
    rho_a = 1 / (0.95 / rho_blend + 0.05 / 1.0)
    t_a = load_a / (0.7 * rho_a) * 1e4
    assert g["anode_thickness_um"] == approx(t_a)

    # Can inside: 148 x 98 x 28 mm; electrodes 148 - 2 - 4 = 142 by 98 - 10 - 4 = 84 mm
    assert g["electrode_width_mm"] == approx(142.0)
    assert g["electrode_height_mm"] == approx(84.0)
    unit = 15 + 2 * (80 + 20 + t_a) + 10  # um per cathode sheet
    n = math.floor((0.9 * 28 * 1000 - 10) / unit)
    assert g["layers"] == n
    assert n >= 10
    stack_um = n * unit + 10
    assert stack_um <= 0.9 * 28 * 1000
    assert g["stack_thickness_mm"] == approx(stack_um / 1000)
    assert (g["cell_width_mm"], g["cell_height_mm"], g["cell_thickness_mm"]) == (150, 100, 30)
    assert r.volume_cm3 == approx(15 * 10 * 3)

    a_c = 14.2 * 8.4
    a_a = 14.4 * 8.6
    a_s = 14.6 * 8.8
    capacity_Ah = 2 * n * a_c * q_c / 1000
    assert r.capacity_Ah == approx(capacity_Ah)
    energy = capacity_Ah * (4.0 - v_blend)
    assert r.energy_Wh == approx(energy)

    # Can: outer minus inner volume, aluminium 2.5 g/cm3
    m_can = (15 * 10 * 3 - 14.8 * 9.8 * 2.8) * 2.5
    assert r.mass_breakdown_g["housing"] == approx(m_can)
    m_cat = 2 * n * a_c * load_c
    m_an = 2 * n * a_a * load_a
    assert r.mass_breakdown_g["anode_active"] == approx(0.95 * m_an)
    m_sep = 2 * n * a_s * 0.002 * 0.6
    m_al = n * a_c * 15e-4 * 2.5
    m_cu = (n + 1) * a_a * 10e-4 * 9.0
    pores = 2 * n * (a_c * 0.008 * 0.25 + a_a * t_a * 1e-4 * 0.3 + a_s * 0.002 * 0.4)
    m_liq = pores * 1.25
    assert r.mass_breakdown_g["liquid_electrolyte"] == approx(m_liq)
    total = m_cat + m_an + m_sep + m_al + m_cu + m_liq + m_can + TERMINALS_G
    assert r.mass_g == approx(total)
    assert r.specific_energy_Wh_kg == approx(energy / (total / 1000))
    assert r.energy_density_Wh_L == approx(energy / 0.45)

    # Anode active cost: 0.9 x 10 + 0.1 x 5 = 9.5 USD/kg for the blend
    assert r.cost_breakdown_usd["anode_active"] == approx(0.95 * m_an / 1000 * 9.5)
    assert r.cost_breakdown_usd["housing"] == approx(m_can / 1000 * 4)

    couple = (4.0 - v_blend) / (1 / 200 + 1 / q_blend)
    couple_vol = (4.0 - v_blend) / (1 / 1000 + 1 / (q_blend * rho_blend))
    assert r.couple_specific_energy_Wh_kg == approx(couple)
    assert r.couple_energy_density_Wh_L == approx(couple_vol)


def test_prismatic_given_layers_too_thick_is_refused(lib):
    from casip.errors import CasipInputError

    with pytest.raises(CasipInputError, match="thicker than the can"):
        evaluate(prismatic_design(layers=500), lib)


# ---------------------------------------------------------------------------------------------
# 5. Cylindrical wound cell
# ---------------------------------------------------------------------------------------------


def cylindrical_design():
    return {
        "schema": "casip.design/1",
        "name": "handcheck cylindrical",
        "kind": "liquid",
        "cathode": liquid_graphite_cathode(60.0),
        "anode": graphite_anode(np_ratio=1.2),
        "separator": {"material": "PE", "thickness_um": 20, "porosity": 0.4},
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": 15},
            "negative": {"material": "CU", "thickness_um": 10},
        },
        "electrolyte": {"material": "LE", "pore_fill": 1.0, "excess_g_per_Ah": 1.0},
        "format": {
            "type": "cylindrical",
            **BARE_CYLINDER,
            "diameter_mm": 20,
            "height_mm": 70,
            "wall_thickness_mm": 0.5,
            "can": "CAN_STEEL",
            "headspace_mm": 8,
            "mandrel_diameter_mm": 2,
            "fill_fraction": 0.95,
            "anode_overhang_mm": 1,
            "separator_overhang_mm": 2,
            "terminals": TERMINALS,
        },
    }


def test_cylindrical_wound(lib):
    r = evaluate(cylindrical_design(), lib)
    g = r.geometry

    load_c = 0.006 * 0.75 / 0.255  # 60 um
    q_c = load_c * 180
    load_a = 1.2 * q_c / (0.95 * 350)
    t_a_cm = load_a / (0.7 / 0.525)
    t_a = t_a_cm * 1e4

    # Inner radius 10 - 0.5 = 9.5 mm; inner height 70 - 1 = 69 mm;
    # electrode height 69 - 8 (headspace) - 2 x 2 (overhang) = 57 mm.
    # One turn: Al + 2 cathode faces + 2 separators + 2 anode faces + Cu (um -> mm)
    unit_mm = (15 + 2 * (60 + 20 + t_a) + 10) / 1000
    annulus = 0.95 * math.pi * (9.5**2 - 1.0**2)  # mm2
    length_mm = annulus / unit_mm
    a_c = length_mm * 57 / 100  # cm2, one face
    a_a = length_mm * 59 / 100  # anode overhangs along the height only
    a_s = length_mm * 61 / 100
    assert g["cathode_area_cm2"] == approx(2 * a_c)
    assert g["layers"] == 1
    assert g["electrode_width_mm"] == approx(length_mm)  # the wound length
    assert g["electrode_height_mm"] == approx(57.0)
    # Radial build of the roll: the wound area fills pi (R^2 - 1^2) = annulus -> R
    r_roll = math.sqrt(1.0**2 + annulus / math.pi)
    assert g["stack_thickness_mm"] == approx(r_roll - 1.0)
    assert g["stack_thickness_discharged_mm"] == approx(r_roll - 1.0)  # nothing plates

    capacity_Ah = 2 * a_c * q_c / 1000
    assert r.capacity_Ah == approx(capacity_Ah)
    energy = capacity_Ah * 3.9
    assert r.energy_Wh == approx(energy)

    # Can: steel, outer cylinder minus inner cylinder
    v_out = math.pi * 1.0**2 * 7.0  # cm3
    v_in = math.pi * 0.95**2 * 6.9
    m_can = (v_out - v_in) * 8.0
    assert r.mass_breakdown_g["housing"] == approx(m_can)
    assert r.volume_cm3 == approx(v_out)
    assert (g["cell_width_mm"], g["cell_height_mm"], g["cell_thickness_mm"]) == (20, 70, 20)

    m_cat = 2 * a_c * load_c
    m_an = 2 * a_a * load_a
    m_sep = 2 * a_s * 0.002 * 0.6
    m_al = a_c * 15e-4 * 2.5
    m_cu = a_a * 10e-4 * 9.0
    pores = 2 * (a_c * 0.006 * 0.25 + a_a * t_a_cm * 0.3 + a_s * 0.002 * 0.4)
    m_liq = pores * 1.25 + 1.0 * capacity_Ah
    assert r.mass_breakdown_g["negative_collector"] == approx(m_cu)
    assert r.mass_breakdown_g["liquid_electrolyte"] == approx(m_liq)
    total = m_cat + m_an + m_sep + m_al + m_cu + m_liq + m_can + TERMINALS_G
    assert r.mass_g == approx(total)
    assert r.specific_energy_Wh_kg == approx(energy / (total / 1000))
    assert r.energy_density_Wh_L == approx(energy / (v_out / 1000))
    # Iron only in the can
    assert r.element_demand_kg_GWh["Fe"] == approx(m_can / energy * 1e6)


def test_cylindrical_lithium_metal_winds_as_built_and_must_fit_charged(lib):
    from casip.errors import CasipInputError

    d = cylindrical_design()
    d["anode"] = {"type": "lithium_metal", "np_ratio": 1.0}
    d["format"]["fill_fraction"] = 0.85
    r = evaluate(d, lib)
    g = r.geometry
    load_c = 0.006 * 0.75 / 0.255
    q_c = load_c * 180
    t_li = 1.0 * q_c / 2000 * 1e4  # um as assembled
    t_plated = q_c / 2000 * 1e4  # um at charge
    unit_chg = (15 + 2 * (60 + 20 + t_li + t_plated) + 10) / 1000  # mm
    unit_dis = (15 + 2 * (60 + 20 + t_li) + 10) / 1000
    annulus = 0.85 * math.pi * (9.5**2 - 1.0**2)
    length_mm = annulus / unit_dis  # wound as built (discharged)
    assert g["electrode_width_mm"] == approx(length_mm)
    assert g["stack_thickness_discharged_mm"] == approx(math.sqrt(1 + annulus / math.pi) - 1)
    r_chg = math.sqrt(1 + length_mm * unit_chg / math.pi)
    assert g["stack_thickness_mm"] == approx(r_chg - 1.0)
    assert r_chg < 9.5  # it fits charged
    # wound tighter (95% of the annulus), the plated lithium no longer fits in the can
    d["format"]["fill_fraction"] = 0.95
    with pytest.raises(CasipInputError, match="outgrows the can"):
        evaluate(d, lib)


def test_cylindrical_single_sided_is_refused(lib):
    from casip.errors import CasipInputError

    d = cylindrical_design()
    d["cathode"]["double_sided"] = False
    with pytest.raises(CasipInputError, match="double-sided"):
        evaluate(d, lib)


# ---------------------------------------------------------------------------------------------
# Physics the engine must respect
# ---------------------------------------------------------------------------------------------


def test_intercalation_np_below_one_is_anode_limited_or_refused(lib):
    from casip.errors import CasipInputError

    d = pouch_liquid_design()
    d["anode"]["np_ratio"] = 0.5
    try:
        r = evaluate(d, lib)
    except CasipInputError:
        return  # refusing the design is acceptable
    load_c = 0.008 * 0.75 / 0.255
    q_anode = 0.5 * load_c * 180  # mAh/cm2 the anode can take
    assert r.capacity_Ah == approx(20 * 200 * q_anode / 1000)


def test_intercalation_design_does_not_need_lithium_metal(lib):
    from casip.materials import MaterialLibrary

    no_li = MaterialLibrary(
        materials={k: v for k, v in lib.materials.items() if k != "Li_metal"},
        sources=dict(lib.sources),
    )
    r = evaluate(pouch_liquid_design(), no_li)
    assert r.energy_Wh > 0
