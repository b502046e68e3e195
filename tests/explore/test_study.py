"""Study files: validation before any work, friendly parameter names, the examples."""

from __future__ import annotations

from importlib import resources

import pytest

from casip.errors import CasipInputError
from casip.explore.study import PARAMETERS, read_study, resolve_parameter, study_from_data

BASE = {
    "design": "ref:assb-sulfide-li",
    "parameters": {"cathode_loading_mAh_cm2": {"low": 2, "high": 8}},
    "objectives": {"specific_energy_Wh_kg": "max", "cost_usd_kWh": "min"},
}


def study(**changes):
    return study_from_data({**BASE, **changes})


def error_text(**changes) -> str:
    with pytest.raises(CasipInputError) as e:
        study(**changes)
    return str(e.value)


def test_a_valid_study_and_its_defaults():
    s = study()
    assert s.method.kind == "factorial"
    assert s.targets() == {"cathode_loading_mAh_cm2": "cathode.areal_capacity_mAh_cm2"}
    assert len(s.fingerprint()) == 16
    assert s.fingerprint() == study(name="other name").fingerprint()
    assert s.fingerprint() != study(method={"kind": "lhs"}).fingerprint()


def test_unknown_parameter_lists_close_names():
    msg = error_text(parameters={"cathode_thicknes_um": {"low": 40, "high": 120}})
    assert "parameters.cathode_thicknes_um" in msg
    assert "unknown parameter" in msg
    assert "cathode_thickness_um" in msg  # the close name is suggested


def test_design_paths_are_accepted_as_parameters():
    assert resolve_parameter("separator.porosity") == "separator.porosity"
    assert PARAMETERS["lithium_excess"] == "anode.np_ratio"


@pytest.mark.parametrize(
    ("rng", "words"),
    [
        ({"low": 8, "high": 2}, "inverted range"),
        ({"low": 5, "high": 5}, "empty range"),
        ({"values": []}, "empty list"),
        ({"low": 5}, "needs both low and high"),
    ],
)
def test_empty_or_inverted_range(rng, words):
    msg = error_text(parameters={"cathode_loading_mAh_cm2": rng})
    assert words in msg and "parameters.cathode_loading_mAh_cm2" in msg


def test_a_range_the_design_refuses_is_named():
    msg = error_text(parameters={"cathode_porosity": {"low": 0.1, "high": 1.5}})
    assert "parameters.cathode_porosity" in msg and "1.5" in msg


def test_parameter_of_another_format_is_refused():
    msg = error_text(parameters={"cell_diameter_mm": {"low": 20, "high": 46}})
    assert "does not apply to this design" in msg


def test_two_parameters_sizing_the_same_layer():
    msg = error_text(
        parameters={
            "cathode_loading_mAh_cm2": {"low": 2, "high": 8},
            "cathode_thickness_um": {"low": 40, "high": 120},
        }
    )
    assert "sizes the same thing" in msg


@pytest.mark.parametrize(
    "constraints",
    [
        {"cost_usd_kWh": {"min": 120, "max": 80}},
        {"cycles_to_80": {"min": 1000, "max": 500}},
    ],
)
def test_contradictory_constraints(constraints):
    msg = error_text(constraints=constraints)
    assert "contradictory" in msg and "min > max" in msg


def test_same_quantity_constrained_twice_under_two_names():
    msg = error_text(constraints={"cost": {"max": 100}, "cost_usd_kWh": {"max": 90}})
    assert "constrained twice" in msg


def test_unknown_objective_and_constraint():
    msg = error_text(
        objectives={"specific_energy_Wh_kgg": "max"}, constraints={"charge_time": {"max": 15}}
    )
    assert "objectives.specific_energy_Wh_kgg" in msg and "specific_energy_Wh_kg" in msg
    assert "constraints.charge_time" in msg and "charge_time_10_80_min" in msg


def test_objective_goal_and_unknown_fields():
    assert "objectives.cost_usd_kWh" in error_text(objectives={"cost_usd_kWh": "lowest"})
    assert "unknown field" in error_text(method={"kind": "lhs", "sample": 10})
    assert "schema" in error_text(schema="casip.study/9")


def test_all_problems_are_reported_at_once():
    with pytest.raises(CasipInputError) as e:
        study(
            parameters={
                "cathode_loading_mAh_cm2": {"low": 8, "high": 2},
                "nonsense": {"low": 1, "high": 2},
            },
            constraints={"cost_usd_kWh": {"min": 2, "max": 1}},
        )
    assert len(e.value.problems) == 3


def test_read_study_file_errors_name_the_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        "schema: casip.study/1\ndesign: ref:assb-sulfide-li\nparameters: {}\n"
        "objectives: {cost_usd_kWh: min}\n",
        encoding="utf-8",
    )
    with pytest.raises(CasipInputError) as e:
        read_study(p)
    assert str(p) in str(e.value) and "parameters" in str(e.value)


def test_relative_design_path_and_json(tmp_path):
    from casip.cells import reference_text

    (tmp_path / "cell.yaml").write_text(reference_text("assb-sulfide-li"), encoding="utf-8")
    p = tmp_path / "s.json"
    p.write_text(
        '{"schema": "casip.study/1", "design": "cell.yaml", "parameters": '
        '{"separator_thickness_um": {"low": 10, "high": 30}}, '
        '"objectives": {"Wh/kg": "max"}}',
        encoding="utf-8",
    )
    s = read_study(p)
    assert s.name == "s"
    assert (
        s.fingerprint()
        == study_from_data(
            {
                **BASE,
                "parameters": {"separator_thickness_um": {"low": 10, "high": 30}},
                "objectives": {"Wh/kg": "max"},
            }
        ).fingerprint()
    )


@pytest.mark.parametrize("name", ["loading-separator.yaml", "lightest-fast-charge-li-metal.yaml"])
def test_the_bundled_examples_are_valid(name):
    path = resources.files("casip.explore") / "examples" / name
    s = read_study(path)
    assert s.objectives
