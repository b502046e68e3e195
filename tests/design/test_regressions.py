"""Regression tests for defects found in review of the design engine."""

from __future__ import annotations

import numpy as np
import pytest

from casip.cells import reference_design
from casip.design import evaluate, sweep
from casip.errors import CasipInputError
from casip.materials import load_library


def test_two_sizings_of_one_electrode_cannot_be_swept_together():
    d = reference_design("nmc811-pouch")
    with pytest.raises(CasipInputError, match="size the same layer"):
        sweep(d, {"cathode.thickness_um": [50, 100], "cathode.areal_capacity_mAh_cm2": [3, 4]})
    li = reference_design("assb-sulfide-li")
    with pytest.raises(CasipInputError, match="size the same layer"):
        sweep(li, {"anode.np_ratio": [0.5, 1], "anode.lithium_thickness_um": [10, 20]})


def test_sweep_refuses_fractional_layers_and_non_finite_values():
    d = reference_design("nmc811-pouch")
    with pytest.raises(CasipInputError, match="whole numbers"):
        sweep(d, {"format.layers": np.linspace(1, 10, 3)})
    with pytest.raises(CasipInputError, match="finite"):
        sweep(d, {"cathode.thickness_um": [50, np.nan]})
    with pytest.raises(CasipInputError, match="list or array"):
        sweep(d, {"cathode.thickness_um": 50})


def test_a_grid_sweep_matches_designs_built_one_by_one():
    d = reference_design("nmc811-pouch")
    df = sweep(d, {"cathode.thickness_um": [60.0, 90.0], "format.layers": [10, 20, 30]})
    assert len(df) == 6
    row = df[(df["cathode.thickness_um"] == 90.0) & (df["format.layers"] == 20)].iloc[0]
    one = d.model_dump(by_alias=True, exclude_none=True)
    one["cathode"].pop("areal_capacity_mAh_cm2")
    one["cathode"]["thickness_um"] = 90.0
    one["format"]["layers"] = 20
    assert row["specific_energy_Wh_kg"] == pytest.approx(evaluate(one).specific_energy_Wh_kg)


def test_reference_designs_are_fresh_copies_and_validate_assignment():
    d = reference_design("lfp-blade")
    with pytest.raises(ValueError):
        d.cathode.porosity = 5.0
    d.format.layers = 5
    assert reference_design("lfp-blade").format.layers == 38


def test_design_file_layers_must_be_an_integer_not_a_boolean():
    data = reference_design("nmc811-pouch").model_dump(by_alias=True, exclude_none=True)
    data["format"]["layers"] = True
    with pytest.raises(CasipInputError, match=r"format\.layers"):
        evaluate(data)


def test_np_below_one_from_a_thin_anode_is_warned():
    data = reference_design("lfp-blade").model_dump(by_alias=True, exclude_none=True)
    data["anode"]["thickness_um"] = 20
    m = evaluate(data)
    assert m.geometry["np_ratio"] < 1
    assert any("N/P" in w for w in m.warnings)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("average_voltage_V", -3, "plausible range"),
        ("density_g_cm3", float("inf"), "finite"),
        ("specific_capacity_mAh_g", 1e9, "plausible range"),
        ("cost_usd_kg", float("nan"), "finite"),
    ],
)
def test_implausible_material_values_are_refused(tmp_path, field, value, message):
    import yaml

    rec = {
        "id": "NMC811",
        "name": "bad",
        "category": "cathode_active",
        "formula": "LiNi0.8Mn0.1Co0.1O2",
        "density_g_cm3": {"value": 4.65, "source": "assumed", "note": "test value here"},
        "specific_capacity_mAh_g": {"value": 200, "source": "assumed", "note": "test value here"},
        "average_voltage_V": {"value": 3.8, "source": "assumed", "note": "test value here"},
        "cost_usd_kg": {"value": 20, "source": "assumed", "note": "test value here"},
    }
    rec[field] = {"value": value, "source": "assumed", "note": "a wrong value on purpose"}
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"materials": [rec]}), encoding="utf-8")
    with pytest.raises(CasipInputError, match=message):
        load_library([f])


def test_a_cell_without_positive_voltage_is_refused(tmp_path):
    import yaml

    rec = {
        "id": "low",
        "name": "a cathode below graphite",
        "category": "cathode_active",
        "formula": "LiFePO4",
        "density_g_cm3": {"value": 3.5, "source": "assumed", "note": "test value here"},
        "specific_capacity_mAh_g": {"value": 150, "source": "assumed", "note": "test value here"},
        "average_voltage_V": {"value": 0.1, "source": "assumed", "note": "test value here"},
    }
    f = tmp_path / "low.yaml"
    f.write_text(yaml.safe_dump({"materials": [rec]}), encoding="utf-8")
    data = reference_design("lfp-blade").model_dump(by_alias=True, exclude_none=True)
    data["cathode"]["active"] = "low"
    with pytest.raises(CasipInputError, match="cell voltage would be"):
        evaluate(data, load_library([f]))


def test_a_materials_folder_or_output_folder_gives_a_clear_error(tmp_path):
    from casip.io import write_text_atomic

    with pytest.raises(CasipInputError, match="is a folder"):
        load_library([tmp_path])
    with pytest.raises(CasipInputError, match="is a folder"):
        write_text_atomic(tmp_path, "x")


def test_a_prismatic_stack_that_does_not_fit_says_by_how_much():
    data = reference_design("lfp-blade").model_dump(by_alias=True, exclude_none=True)
    data["format"]["layers"] = 45
    with pytest.raises(CasipInputError) as info:
        evaluate(data)
    msg = str(info.value)
    assert "45 layers make a" in msg and "mm is usable" in msg


def test_silicon_swelling_thickens_the_charged_anode():
    m = evaluate(reference_design("assb-sulfide-si"))
    g = m.geometry
    # 80% Si at +172% and graphite at +10%, used to 1/NP of capacity: the anode grows a lot
    assert g["anode_thickness_charged_um"] > 1.5 * g["anode_thickness_um"]
    assert g["stack_thickness_mm"] > g["stack_thickness_discharged_mm"]
