"""Campaign files (casip.campaign/1): the shipped examples, the protocol arithmetic, and every
mistake reported as a CasipInputError naming the field before anything runs."""

from __future__ import annotations

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from pathlib import Path

import jsonschema
import pytest

from casip.campaign.protocols import charge_time_10_80_min, known_quantities, parse_policy
from casip.campaign.spec import (
    campaign_from_data,
    json_schema,
    read_campaign,
    study_from_campaign,
)
from casip.errors import CasipInputError
from casip.io import parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "casip" / "campaign" / "examples"
SEVERSON = Path("/work/shared/data/severson/train_charging_policies.csv")

PROTOCOL = {
    "name": "t",
    "parameters": {
        "c1_C": {"low": 3.0, "high": 8.0},
        "soc_switch": {"low": 0.1, "high": 0.7},
        "c2_C": {"low": 2.0, "high": 6.0},
    },
    "objectives": {"cycle_life": "max"},
    "constraints": {"charge_time_10_80_min": {"max": 15}},
}


def _problems(data: dict) -> list[str]:
    with pytest.raises(CasipInputError) as exc:
        campaign_from_data(data, "c.yaml")
    assert exc.value.source == "c.yaml"
    return [f"{p.field}|{p}" for p in exc.value.problems]


def test_examples_load_with_the_intended_model():
    fc = read_campaign(EXAMPLES / "fast-charge-life.yaml")
    assert fc.campaign_id == "fastcharge"
    [life] = fc.objective_list()
    assert (life.name, life.sense, life.log) == ("cycle_life", "max", True)
    [ct] = fc.constraint_list()
    assert (ct.name, ct.max, ct.known) == ("charge_time_10_80_min", 15.0, True)
    assert [p.name for p in fc.space().parameters] == ["c1_C", "soc_switch", "c2_C"]
    el = read_campaign(EXAMPLES / "energy-life.yaml")
    [se] = el.objective_list()
    assert (se.name, se.log) == ("specific_energy_Wh_kg", False)
    [life_c] = el.constraint_list()
    assert (life_c.name, life_c.min, life_c.known) == ("cycle_life", 1000.0, False)
    assert el.known_constraints() is None
    # the life constraint is simulated as the ageing model's cycles_to_80 of the study
    study = study_from_campaign(el)
    assert set(study.objectives) == {"specific_energy_Wh_kg", "cycles_to_80"}


def test_two_step_charge_time_of_severson_policies():
    # 5.4C to 40 %, then 3.6C to 80 %: 10-40 % at 5.4C and 40-80 % at 3.6C
    p = parse_policy("5.4C(40%)-3.6C")
    assert p == {"c1_C": 5.4, "soc_switch": 0.4, "c2_C": 3.6}
    assert charge_time_10_80_min(p) == pytest.approx(60 * (0.3 / 5.4 + 0.4 / 3.6))
    assert charge_time_10_80_min(p) == pytest.approx(10.0)
    # a switch below 10 % leaves only the second step in the window
    assert charge_time_10_80_min(parse_policy("1C(4%)-6C")) == pytest.approx(7.0)
    # one-step policies (switch at 80 %): 70 % of the capacity at C1
    assert known_quantities(parse_policy("4C(80%)-4C")) == {
        "charge_time_10_80_min": pytest.approx(10.5)
    }
    if SEVERSON.exists():  # every policy of the shared training cells parses
        rows = SEVERSON.read_text().splitlines()[1:]
        times = [charge_time_10_80_min(parse_policy(r.split(",")[-1])) for r in rows]
        assert len(times) == 41 and max(times) < 15


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"parameters": {**PROTOCOL["parameters"], "c1_C": {"low": 8, "high": 3}}},
         "parameters.c1_C", "inverted"),
        ({"parameters": {**PROTOCOL["parameters"], "c2_C": {"low": 2, "high": 30}}},
         "parameters.c2_C", "out of range"),
        ({"parameters": {"c1_C": {"low": 3, "high": 8}}}, "parameters", "all its parameters"),
        ({"objectives": {"cyclelife": "max"}}, "objectives.cyclelife", "did you mean cycle_life"),
        ({"constraints": {"cycle_life": {"min": 2000, "max": 1000}}}, "constraints.cycle_life",
         "min > max"),
        ({"constraints": {"cycle_life": {}}}, "constraints.cycle_life", "no bound"),
        ({"batch": 0}, "batch", "greater than or equal to 1"),
        ({"batch": 8, "budget": {"channels": 4}}, "budget.channels", "smaller than one batch"),
        ({"optimizer": {"backend": "sklearn"}}, "optimizer.backend", "skopt"),
        ({"evidence": {"coverage": 1.5}}, "evidence.coverage", "less than 1"),
        ({"evidence": {"model": "missing.json"}}, "evidence.model", "no such file"),
        ({"id": "has space"}, "id", "not a short id"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"pool": [{"c1_C": 4}]}, "pool[0]", "every parameter"),
        ({"schema": "casip.campaign/2"}, "schema", "unknown campaign format"),
    ],
)
def test_mistakes_name_the_field(change, field, words):
    problems = _problems({**PROTOCOL, **change})
    hit = [p for p in problems if p.split("|")[0] == field]
    assert hit, problems
    assert any(words in p for p in hit), problems


def test_design_parameters_are_checked_like_a_study():
    base = {"name": "d", "objectives": {"Wh/kg": "max"}}
    # no base design
    problems = _problems({**base, "parameters": {"cathode_loading_mAh_cm2": {"low": 1, "high": 6}}})
    assert any(p.startswith("design|") for p in problems)
    # an unknown name, with the close friendly name suggested
    problems = _problems({**base, "design": "ref:assb-sulfide-li",
                          "parameters": {"cathode_loadin_mAh_cm2": {"low": 1, "high": 6}}})
    assert any("parameters.cathode_loadin_mAh_cm2|" in p and "cathode_loading_mAh_cm2" in p
               for p in problems)
    # a range end the design format refuses (a negative thickness)
    problems = _problems({**base, "design": "ref:assb-sulfide-li",
                          "parameters": {"separator_thickness_um": {"low": -5, "high": 30}}})
    assert any(p.startswith("parameters.separator_thickness_um|") and "refused" in p
               for p in problems)


def test_json_schema_validates_the_examples():
    schema = json_schema()
    assert schema["title"].endswith("(casip.campaign/1)")
    for f in EXAMPLES.glob("*.yaml"):
        jsonschema.validate(parse_yaml(f.read_text(), str(f)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**PROTOCOL, "batch": "eight"}, schema)
