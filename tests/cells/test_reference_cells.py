"""Every reference cell evaluates, documents its assumptions and meets its published figures.

The teardown cells (BYD Blade class, Tesla 4680 class) check the arithmetic against measured
cells: capacity, energy and volume must agree closely; mass is still under-counted by the
model (about 4% since issue 15 added lids, films, wraps and tab bundles; fill ports, current
interrupt devices and labels are not counted; see docs/reference-cells.md) and is held to a band.
"""

from __future__ import annotations

import math

import pytest

from casip.cells import (
    REFERENCE_IDS,
    compare,
    published,
    reference_design,
    reference_text,
    targets,
)
from casip.design import evaluate
from casip.errors import CasipInputError


@pytest.fixture(scope="module")
def metrics():
    return {cid: evaluate(reference_design(cid)) for cid in REFERENCE_IDS}


@pytest.mark.parametrize("cid", REFERENCE_IDS)
def test_every_reference_cell_evaluates_to_finite_plausible_numbers(metrics, cid):
    m = metrics[cid]
    for name in ("capacity_Ah", "energy_Wh", "mass_g", "volume_cm3", "cost_usd_kWh"):
        value = getattr(m, name)
        assert math.isfinite(value) and value > 0, (cid, name, value)
    # every cell keeps between 40% and 80% of its couple's specific energy (Betz et al. 2019
    # report 0.4-0.6 for commercial cells; the solid-state designs are projections)
    assert 0.4 < m.cell_to_couple_specific_energy < 0.8
    assert sum(m.mass_breakdown_g.values()) == pytest.approx(m.mass_g, rel=1e-12)
    assert not m.missing_cost


@pytest.mark.parametrize("cid", REFERENCE_IDS)
def test_every_reference_cell_documents_its_values(cid):
    d = reference_design(cid)
    assert d.notes, f"{cid} has no notes"
    assert any("assumed" in v for v in d.notes.values()), "assumptions must be marked"
    assert published(cid), f"{cid} has no published figure"


@pytest.mark.parametrize("cid", [c for c in REFERENCE_IDS if "assb" in c])
def test_all_solid_state_cells_hold_no_liquid(metrics, cid):
    assert metrics[cid].kind == "all-solid-state"
    assert metrics[cid].mass_breakdown_g["liquid_electrolyte"] == 0.0


def _row(df, cid, metric):
    return df[(df.cell == cid) & (df.metric == metric)].iloc[0]


@pytest.fixture(scope="module")
def comparison():
    return compare()


@pytest.mark.parametrize(
    ("cid", "metric", "tolerance"),
    [
        ("nmc811-4680", "capacity_Ah", 0.02),
        ("nmc811-4680", "energy_Wh", 0.02),
        ("nmc811-4680", "volume_cm3", 0.01),
        ("nmc811-4680", "energy_density_Wh_L", 0.02),
        ("nmc811-4680", "cathode_thickness_um", 0.03),
        ("lfp-blade", "capacity_Ah", 0.06),
        ("lfp-blade", "energy_Wh", 0.06),
        ("lfp-blade", "volume_cm3", 0.01),
        ("lfp-blade", "energy_density_Wh_L", 0.06),
        ("lfp-blade", "cathode_thickness_um", 0.03),
        ("nmc811-pouch", "capacity_Ah", 0.03),
    ],
)
def test_teardown_cells_match_measured_figures(comparison, cid, metric, tolerance):
    row = _row(comparison, cid, metric)
    assert abs(row.difference) < tolerance, (cid, metric, row.computed, row.published)


@pytest.mark.parametrize("cid", ["nmc811-4680", "lfp-blade"])
def test_teardown_cell_mass_is_under_counted_within_the_documented_band(comparison, cid):
    # Since issue 15 the two teardowns are about 4% light (they were 6-7% before the cell
    # hardware was counted); the band stays wide because the hardware films are assumed.
    row = _row(comparison, cid, "mass_g")
    assert -0.10 < row.difference < 0.0


def test_solid_state_lithium_metal_cell_beats_lfp_on_both_densities(metrics):
    lfp, li = metrics["lfp-blade"], metrics["assb-sulfide-li"]
    assert li.specific_energy_Wh_kg > 2.5 * lfp.specific_energy_Wh_kg
    assert li.energy_density_Wh_L > 2.5 * lfp.energy_density_Wh_L


def test_anode_free_cell_swells_by_the_plated_lithium(metrics):
    g = metrics["oxide-anode-free"].geometry
    assert g["anode_thickness_um"] == 0.0
    # 5 mAh/cm2 of lithium at 2062 mAh/cm3 is 24.25 um per side
    assert g["anode_thickness_charged_um"] == pytest.approx(5.0 / (3861.9 * 0.534) * 1e4, rel=1e-3)
    assert g["stack_thickness_mm"] > g["stack_thickness_discharged_mm"]


def test_lfp_cell_has_no_nickel_or_cobalt_and_nmc_cell_does(metrics):
    lfp = metrics["lfp-blade"].element_demand_kg_GWh
    nmc = metrics["nmc811-pouch"].element_demand_kg_GWh
    assert "Ni" not in lfp and "Co" not in lfp
    assert lfp["Fe"] > 0 and lfp["P"] > 0
    # NMC811 cells need roughly 0.6-0.8 kg of nickel per kWh
    assert 500_000 < nmc["Ni"] < 900_000


def test_sulfide_cells_demand_sulfur_and_the_garnet_cell_demands_lanthanum(metrics):
    assert metrics["assb-sulfide-li"].element_demand_kg_GWh["S"] > 0
    assert metrics["oxide-anode-free"].element_demand_kg_GWh["La"] > 0
    assert metrics["oxide-anode-free"].element_demand_kg_GWh["Zr"] > 0


def test_targets_are_the_casip_roadmap():
    t = {x.stage: x for x in targets()}
    assert t["CASIP stage 2"].specific_energy_Wh_kg == 400
    assert t["CASIP stage 2"].energy_density_Wh_L == 800
    assert t["CASIP stage 3"].specific_energy_Wh_kg == 500
    assert t["CASIP stage 3"].energy_density_Wh_L == 1000


def test_unknown_reference_cell_is_refused_with_the_choices():
    with pytest.raises(CasipInputError, match="lfp-blade"):
        reference_text("lfp-bladee")
