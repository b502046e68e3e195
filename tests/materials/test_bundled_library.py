"""The bundled materials library: complete where designs need it, sourced, and in line with
the shared reference data it started from."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from casip.materials import Category, load_library
from casip.materials.records import ASSUMED, Value

REQUIRED = {
    Category.cathode_active: ["NMC811", "NMC622", "NCA", "LFP", "LMFP", "LCO"],
    Category.anode_active: ["graphite", "silicon", "Li_metal"],
    Category.solid_electrolyte: ["LPSCl", "LGPS", "LIC", "LLZO", "PEO_LiTFSI"],
    Category.liquid_electrolyte: ["LiPF6_EC_EMC"],
    Category.binder: ["PVDF", "CMC_SBR"],
    Category.conductive_carbon: ["carbon_black"],
    Category.current_collector: ["Al_foil", "Cu_foil"],
    Category.separator: ["PE_separator"],
    Category.packaging: ["pouch_laminate", "Al_can", "steel_can"],
}


@pytest.fixture(scope="module")
def lib():
    return load_library()


@pytest.mark.parametrize(("category", "ids"), list(REQUIRED.items()))
def test_required_materials_are_present_in_their_category(lib, category, ids):
    for mid in ids:
        assert mid in lib, mid
        assert lib[mid].category == category


def test_active_materials_have_what_the_engine_needs(lib):
    for m in lib.of_category("cathode_active") + lib.of_category("anode_active"):
        assert m.density_g_cm3 is not None, m.id
        assert m.specific_capacity_mAh_g is not None, m.id
    for m in lib.of_category("solid_electrolyte"):
        assert m.formula or m.composition_by_mass, m.id


def test_every_value_has_a_known_source_or_a_reasoned_assumption(lib):
    for m in lib.materials.values():
        for name in type(m).model_fields:
            v = getattr(m, name)
            if isinstance(v, Value):
                if v.source == ASSUMED:
                    assert v.note and len(v.note) > 10, (m.id, name)
                else:
                    assert v.source in lib.sources, (m.id, name, v.source)


def test_element_fractions_sum_to_one(lib):
    for mid in lib:
        fr = lib.elements(mid)
        if fr:
            assert sum(fr.values()) == pytest.approx(1.0, abs=1e-9), mid


def test_voltages_are_against_lithium(lib):
    # vs Li/Li+: cathodes above 3 V, graphite below 0.3 V, lithium metal exactly 0
    for m in lib.of_category("cathode_active"):
        if m.average_voltage_V is not None:
            assert 3.0 < m.average_voltage_V.value < 4.5, m.id
    assert lib["graphite"].average_voltage_V.value < 0.3
    assert lib["Li_metal"].average_voltage_V.value == 0.0


def test_batpac_values_agree_with_the_shared_reference_csv(lib, shared_data: Path):
    with (shared_data / "reference" / "materials.csv").open(encoding="utf-8") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    pairs = {
        "LFP (LiFePO4)": ("LFP", "density_g_cm3", "specific_capacity_mAh_g", "cost_usd_kg"),
        "Graphite": ("graphite", "density_g_cm3", "specific_capacity_mAh_g", "cost_usd_kg"),
        "NCA (LiNi0.8Co0.15Al0.05O2)": ("NCA", "density_g_cm3", "specific_capacity_mAh_g"),
    }
    for csv_name, (mid, *fields) in pairs.items():
        for field in fields:
            assert getattr(lib[mid], field).value == pytest.approx(float(rows[csv_name][field])), (
                mid,
                field,
            )
