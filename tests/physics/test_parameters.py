"""Design -> PyBaMM mapping: capacity match, base-set reproduction, refusals, solid-state trends."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.design import evaluate  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.materials import MaterialLibrary, Value, load_library  # noqa: E402
from casip.physics import base_set_c20, c20_capacity, parameters_for  # noqa: E402
from casip.physics.capacity import discharge_capacities  # noqa: E402

SUPPORTED = (
    "lfp-blade",
    "nmc811-pouch",
    "nmc811-4680",
    "semi-solid-sic",
    "assb-sulfide-li",
    "oxide-anode-free",
    "assb-sulfide-si",
)
SRC = Path(__file__).resolve().parents[2] / "src" / "casip"


# ------------------------------------------------------------------ capacity match


@pytest.mark.parametrize("cell", SUPPORTED)
def test_c20_capacity_matches_design_engine(cell):
    design = reference_design(cell)
    expected = evaluate(design).capacity_Ah
    simulated = c20_capacity(design)
    assert simulated == pytest.approx(expected, rel=0.01), (cell, simulated, expected)


def test_formation_loss_is_lithium_missing_not_a_smaller_positive():
    # LFP Blade: graphite's SEI takes 7.6% of the lithium on formation (LFP's own ICE 0.97 cannot
    # cover it). The mapped positive keeps the design's full reversible capacity over its window;
    # the lithium lost is missing from the negative at full charge, so the C/20 discharge ends
    # with the negative emptied and the positive short of y0 -- and still matches the engine.
    design = reference_design("lfp-blade")
    m = evaluate(design)
    g = m.geometry
    q_pos = g["cathode_areal_capacity_mAh_cm2"] * g["cathode_area_cm2"] * 1e-3
    assert m.capacity_Ah < 0.95 * q_pos  # the engine's capacity is after formation
    setup = parameters_for(design)
    pv = setup.parameter_values
    base = base_set_c20(setup.base_set)
    area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
    f_ah = 96485.33212 / 3600.0

    def full(e: str) -> float:
        return (pv[f"{e} electrode active material volume fraction"]
                * pv[f"{e} electrode thickness [m]"] * area
                * pv[f"Maximum concentration in {e.lower()} electrode [mol.m-3]"] * f_ah)

    c_p, c_n = full("Positive"), full("Negative")
    y100 = pv["Initial concentration in positive electrode [mol.m-3]"] / pv[
        "Maximum concentration in positive electrode [mol.m-3]"]
    x100 = pv["Initial concentration in negative electrode [mol.m-3]"] / pv[
        "Maximum concentration in negative electrode [mol.m-3]"]
    # positive: the whole reversible capacity before formation fits its window
    assert c_p * (base.y0 - y100) == pytest.approx(q_pos, rel=1e-6)
    # negative: at full charge it holds the capacity after formation above an end state that is
    # emptier than the base set's (the lost lithium), not the positive's whole window
    x_end = x100 - m.capacity_Ah / c_n
    assert 0.0 < x_end < base.x0
    assert any(n.startswith("first-cycle loss") for n in setup.notes)
    # cells without a net loss (the cathode's own ICE covers the anode's SEI) map as before
    pouch = parameters_for(reference_design("nmc811-pouch"))
    assert not any(n.startswith("first-cycle loss") for n in pouch.notes)


@pytest.mark.parametrize(
    ("cell", "base", "approximation"),
    [
        ("lfp-blade", "Prada2013", "liquid DFN"),
        ("nmc811-pouch", "Chen2020", "liquid DFN"),
        ("assb-sulfide-li", "Xu2019", "lithium-metal DFN (single-ion solid electrolyte)"),
        (
            "assb-sulfide-si",
            "Chen2020_composite",
            "full-cell DFN (single-ion solid electrolyte, two-phase silicon-graphite negative)",
        ),
    ],
)
def test_base_set_and_model_by_chemistry(cell, base, approximation):
    setup = parameters_for(reference_design(cell))
    assert setup.base_set == base
    assert setup.approximation == approximation
    m = setup.metrics
    pv = setup.parameter_values
    area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
    assert area == pytest.approx(m.geometry["cathode_area_cm2"] * 1e-4)
    assert pv["Nominal cell capacity [A.h]"] == pytest.approx(m.capacity_Ah)
    assert pv["Positive electrode thickness [m]"] == pytest.approx(
        m.geometry["cathode_thickness_um"] * 1e-6
    )
    # every value CASIP sets says where it comes from
    for name, mapped in setup.mapping.items():
        assert mapped.origin, name
        assert re.match(r"(design|base set|library|derived|assumed|caller)", mapped.origin), (
            name,
            mapped.origin,
        )


def test_silicon_graphite_blend_maps_to_the_two_phase_composite():
    from casip.physics.parameters import COMPOSITE_OPTIONS, _ocp

    setup = parameters_for(reference_design("semi-solid-sic"))
    assert setup.base_set == "Chen2020_composite"
    assert setup.model_options == COMPOSITE_OPTIONS
    pv = setup.parameter_values
    # phase volume fractions from the blend (0.85 / 0.15 by mass), densities and porosity
    lib = load_library()
    w_act = 0.95
    w = {"graphite": w_act * 0.85, "silicon": w_act * 0.15, "carbon_black": 0.01, "CMC_SBR": 0.04}
    inv = {k: x / lib[k].density_g_cm3.value for k, x in w.items()}
    for phase, k in (("Primary", "graphite"), ("Secondary", "silicon")):
        assert pv[f"{phase}: Negative electrode active material volume fraction"] == pytest.approx(
            (1 - 0.3) * inv[k] / sum(inv.values())
        )
    # both phases start at one potential (silicon on the set's delithiation branch)
    x = {}
    for phase in ("Primary", "Secondary"):
        c0 = pv[f"{phase}: Initial concentration in negative electrode [mol.m-3]"]
        c = pv.evaluate(c0(pybamm.Scalar(0.0), pybamm.Scalar(0.0)))
        c_max = pv[f"{phase}: Maximum concentration in negative electrode [mol.m-3]"]
        x[phase] = float(np.ravel(c)[0]) / c_max
    u_gr = _ocp(pv, "Primary: Negative electrode OCP [V]", [x["Primary"]])[0]
    u_si = _ocp(pv, "Secondary: Negative electrode delithiation OCP [V]", [x["Secondary"]])[0]
    assert u_si == pytest.approx(u_gr, abs=2e-3)
    # 1C and 3C solve and fall with rate
    q1, q3 = discharge_capacities(setup, [1.0, 3.0])
    assert setup.capacity_Ah > q1 > q3 > 0


def test_active_volume_fraction_from_mass_fractions_and_densities():
    design = reference_design("nmc811-pouch")
    lib = load_library()
    setup = parameters_for(design, lib)
    w = {"NMC811": 0.96, "carbon_black": 0.02, "PVDF": 0.02}
    inv = {k: x / lib[k].density_g_cm3.value for k, x in w.items()}
    expected = (1 - 0.22) * inv["NMC811"] / sum(inv.values())
    assert setup.parameter_values[
        "Positive electrode active material volume fraction"
    ] == pytest.approx(expected)
    assert setup.parameter_values["Positive electrode porosity"] == pytest.approx(0.22)


def test_solid_state_parameters():
    setup = parameters_for(reference_design("assb-sulfide-li"))
    pv = setup.parameter_values
    assert setup.model_options == {"working electrode": "positive", "contact resistance": "true"}
    assert pv["Cation transference number"] == 1.0
    assert pv["Separator porosity"] == 1.0
    assert pv["Separator Bruggeman coefficient (electrolyte)"] == 1.0
    assert pv["Thermodynamic factor"] == 1.0
    # cathode "porosity" is the argyrodite volume fraction of the composite
    lib = load_library()
    w = {"NMC811": 0.85, "LPSCl": 0.13, "carbon_black": 0.01, "CMC_SBR": 0.01}
    inv = {k: x / lib[k].density_g_cm3.value for k, x in w.items()}
    assert pv["Positive electrode porosity"] == pytest.approx(
        (1 - 0.08) * inv["LPSCl"] / sum(inv.values())
    )
    # conductivity: library value in S/m at 25 C, Arrhenius with the sourced 0.35 eV
    sigma = pv.evaluate(
        pv["Electrolyte conductivity [S.m-1]"](pybamm.Scalar(1000.0), pybamm.Scalar(298.15))
    )
    assert float(sigma) == pytest.approx(0.0018 * 100)
    hot = pv.evaluate(
        pv["Electrolyte conductivity [S.m-1]"](pybamm.Scalar(1000.0), pybamm.Scalar(333.15))
    )
    assert float(hot) > 2 * float(sigma)
    # activation energy and lithium exchange current from casip.physics.solid_state (issue 14)
    assert setup.mapping["Electrolyte activation energy [eV] (CASIP)"].origin.startswith(
        "library solid_state:ea_argyrodite kraft2017"
    )
    assert setup.mapping["Contact resistance [Ohm]"].origin.startswith("derived:")


# ------------------------------------------------------------------ refusals


def _with_cathode(cell: str, active: str) -> dict:
    d = reference_design(cell).model_dump(by_alias=True, exclude_none=True)
    d["cathode"]["active"] = active
    return d


@pytest.mark.parametrize("active", ["LCO", "LMFP"])
def test_unsupported_cathode_chemistry_refused(active):
    with pytest.raises(CasipInputError, match="no PyBaMM parameter set for this chemistry"):
        parameters_for(_with_cathode("nmc811-pouch", active))


def test_lfp_against_lithium_metal_refused():
    with pytest.raises(CasipInputError, match="against lithium metal"):
        parameters_for(_with_cathode("assb-sulfide-li", "LFP"))


def test_lto_anode_refused():
    d = reference_design("lfp-blade").model_dump(by_alias=True, exclude_none=True)
    d["anode"]["active"] = {"LTO": 1.0}
    with pytest.raises(CasipInputError, match="negative-electrode parameters"):
        parameters_for(d)


def test_anode_limited_design_refused():
    d = reference_design("nmc811-pouch").model_dump(by_alias=True, exclude_none=True)
    d["anode"]["np_ratio"] = 0.9
    with pytest.raises(CasipInputError, match="anode-limited"):
        parameters_for(d)


def test_cutoff_at_start_is_a_clear_error():
    setup = parameters_for(
        reference_design("nmc811-pouch"), overrides={"Lower voltage cut-off [V]": 4.19}
    )
    with pytest.raises(CasipInputError, match="cut-off is reached at the start"):
        discharge_capacities(setup, [1.0])


def test_bad_c_rate_refused():
    setup = parameters_for(reference_design("nmc811-pouch"))
    with pytest.raises(CasipInputError, match="C-rates must be positive"):
        discharge_capacities(setup, [0.0])


def test_only_physics_imports_pybamm():
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "physics" not in p.relative_to(SRC).parts
        and re.search(r"^\s*(import|from)\s+pybamm", p.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


# ------------------------------------------------------------------ PyBaMM's own behaviour


def _chen2020_design_and_library() -> tuple[dict, MaterialLibrary]:
    """A design with Chen2020's own geometry, and a library whose graphite holds Chen2020's
    maximum concentration; the cathode's capacity is set to Chen2020's C/20 capacity."""
    base = base_set_c20("Chen2020")
    pv = pybamm.ParameterValues("Chen2020")
    lib = load_library()
    rho_g = lib["graphite"].density_g_cm3.value
    # 33133 mol/m3 x F / 3.6 C/mAh -> mAh/m3 -> per cm3 -> per g
    q_graphite = pv["Maximum concentration in negative electrode [mol.m-3]"] * 96485.33212 / 3.6
    q_graphite = q_graphite * 1e-6 / rho_g
    mats = dict(lib.materials)
    note = "test: Chen2020's maximum concentration at the library density"
    mats["graphite_chen2020"] = lib["graphite"].model_copy(
        update={
            "id": "graphite_chen2020",
            "specific_capacity_mAh_g": Value(value=q_graphite, source="assumed", note=note),
            "theoretical_specific_capacity_mAh_g": Value(
                value=q_graphite, source="assumed", note=note
            ),
        }
    )
    test_lib = MaterialLibrary(materials=mats, sources=lib.sources, origin=lib.origin)
    area_cm2 = 6.5 * 158.0
    t_c_cm = pv["Positive electrode thickness [m]"] * 100
    eps_act = pv["Positive electrode active material volume fraction"]
    q_nmc = (
        base.capacity_Ah * 1e3 / area_cm2 / (t_c_cm * eps_act * lib["NMC811"].density_g_cm3.value)
    )
    design = {
        "name": "Chen2020 geometry (LG M50)",
        "kind": "liquid",
        "cathode": {
            "active": "NMC811",
            "specific_capacity_mAh_g": q_nmc,
            "mass_fractions": {"active": 1.0},
            "porosity": pv["Positive electrode porosity"],
            "thickness_um": pv["Positive electrode thickness [m]"] * 1e6,
            "double_sided": False,
        },
        "separator": {"material": "PE_separator", "thickness_um": 12, "porosity": 0.47},
        "anode": {
            "type": "intercalation",
            "active": {"graphite_chen2020": 1.0},
            "mass_fractions": {"active": 1.0},
            "porosity": pv["Negative electrode porosity"],
            "thickness_um": pv["Negative electrode thickness [m]"] * 1e6,
        },
        "current_collectors": {
            "positive": {"material": "Al_foil", "thickness_um": 16},
            "negative": {"material": "Cu_foil", "thickness_um": 12},
        },
        "electrolyte": {"material": "LiPF6_EC_EMC", "pore_fill": 1.0},
        "format": {
            "type": "pouch",
            "electrode_width_mm": 1580,
            "electrode_height_mm": 65,
            "layers": 1,
            "laminate": "pouch_laminate",
            "laminate_thickness_um": 153,
            "terminals": {
                "positive": {
                    "material": "Al_tab",
                    "width_mm": 10,
                    "thickness_mm": 0.2,
                    "length_mm": 10,
                },
                "negative": {
                    "material": "Cu_tab",
                    "width_mm": 10,
                    "thickness_mm": 0.2,
                    "length_mm": 10,
                },
            },
        },
    }
    return design, test_lib


def test_chen2020_geometry_reproduces_pybamm_chen2020():
    design, lib = _chen2020_design_and_library()
    setup = parameters_for(design, lib)
    pv_own = pybamm.ParameterValues("Chen2020")
    for name in (
        "Maximum concentration in positive electrode [mol.m-3]",
        "Maximum concentration in negative electrode [mol.m-3]",
        "Initial concentration in positive electrode [mol.m-3]",
        "Initial concentration in negative electrode [mol.m-3]",
        "Positive electrode active material volume fraction",
        "Negative electrode active material volume fraction",
    ):
        assert setup.parameter_values[name] == pytest.approx(pv_own[name], rel=2e-3), name
    current = 5.0  # Chen2020's 1C
    mapped = discharge_capacities(setup, [current / setup.capacity_Ah])[0]
    sim = pybamm.Simulation(
        pybamm.lithium_ion.DFN(), parameter_values=pv_own, solver=pybamm.IDAKLUSolver()
    )
    own = sim.solve([0, 4000])["Discharge capacity [A.h]"].entries[-1]
    assert mapped == pytest.approx(own, rel=0.01)


# ------------------------------------------------------------------ solid-state trends


def _library_with_lpscl_conductivity(s_cm: float) -> MaterialLibrary:
    lib = load_library()
    mats = dict(lib.materials)
    mats["LPSCl"] = lib["LPSCl"].model_copy(
        update={
            "ionic_conductivity_S_cm": Value(value=s_cm, source="assumed", note="test: lowered")
        }
    )
    return MaterialLibrary(materials=mats, sources=lib.sources, origin=lib.origin)


def test_lower_solid_electrolyte_conductivity_lowers_1c_capacity():
    design = reference_design("assb-sulfide-li")
    high = discharge_capacities(parameters_for(design), [1.0])[0]
    low_setup = parameters_for(design, _library_with_lpscl_conductivity(0.0018 / 3))
    low = discharge_capacities(low_setup, [1.0])[0]
    assert low < 0.95 * high, (low, high)


def test_higher_contact_resistance_lowers_1c_capacity():
    design = reference_design("assb-sulfide-li")
    base = discharge_capacities(parameters_for(design), [1.0])[0]
    worse = discharge_capacities(parameters_for(design, contact_resistance_ohm_cm2=40.0), [1.0])[0]
    assert worse < 0.95 * base, (worse, base)


def test_lower_temperature_lowers_solid_state_rate_capability():
    design = reference_design("assb-sulfide-li")
    warm = discharge_capacities(parameters_for(design, temperature_K=318.15), [1.0])[0]
    cold = discharge_capacities(parameters_for(design, temperature_K=273.15), [1.0])[0]
    assert cold < warm


# ------------------------------------------------------------------ solid-state full cell


def test_solid_state_full_cell_parameters():
    from casip.physics.parameters import COMPOSITE_OPTIONS

    setup = parameters_for(reference_design("assb-sulfide-si"))
    pv = setup.parameter_values
    assert setup.model_options == {**COMPOSITE_OPTIONS, "contact resistance": "true"}
    assert pv["Cation transference number"] == 1.0
    assert pv["Thermodynamic factor"] == 1.0
    assert pv["Electrolyte diffusivity [m2.s-1]"] <= 1e-10
    assert pv["Separator porosity"] == 1.0
    assert pv["Separator Bruggeman coefficient (electrolyte)"] == 1.0
    assert pv["Positive electrode Bruggeman coefficient (electrolyte)"] == 1.5
    assert pv["Negative electrode Bruggeman coefficient (electrolyte)"] == 1.5
    # each composite's "porosity" is its argyrodite volume fraction (residual voids neglected)
    lib = load_library()
    rho = {k: lib[k].density_g_cm3.value for k in ("NMC811", "LPSCl", "carbon_black", "CMC_SBR")}
    wc = {"NMC811": 0.80, "LPSCl": 0.17, "carbon_black": 0.015, "CMC_SBR": 0.015}
    inv = {k: x / rho[k] for k, x in wc.items()}
    assert pv["Positive electrode porosity"] == pytest.approx(
        (1 - 0.10) * inv["LPSCl"] / sum(inv.values())
    )
    wa = {
        "silicon": 0.75 * 0.8,
        "graphite": 0.75 * 0.2,
        "LPSCl": 0.20,
        "carbon_black": 0.03,
        "CMC_SBR": 0.02,
    }
    inv = {k: x / lib[k].density_g_cm3.value for k, x in wa.items()}
    assert pv["Negative electrode porosity"] == pytest.approx(
        (1 - 0.10) * inv["LPSCl"] / sum(inv.values())
    )
    sigma = pv.evaluate(
        pv["Electrolyte conductivity [S.m-1]"](pybamm.Scalar(1000.0), pybamm.Scalar(298.15))
    )
    assert float(sigma) == pytest.approx(lib["LPSCl"].ionic_conductivity_S_cm.value * 100)
    # no lithium metal: only the coated-NMC | sulfide interphase (5 Ohm cm2 at 25 C, issue 14)
    assert pv["Contact resistance [Ohm]"] == pytest.approx(
        5.0 * 1e-4 / (setup.metrics.geometry["cathode_area_cm2"] * 1e-4)
    )
    q1, q3 = discharge_capacities(setup, [1.0, 3.0])
    assert setup.capacity_Ah > q1 > q3 > 0


def test_lower_solid_electrolyte_conductivity_lowers_3c_capacity_of_the_full_cell():
    design = reference_design("assb-sulfide-si")
    high = discharge_capacities(parameters_for(design), [3.0])[0]
    low_setup = parameters_for(design, _library_with_lpscl_conductivity(0.0018 / 3))
    low = discharge_capacities(low_setup, [3.0])[0]
    assert low < 0.8 * high, (low, high)
