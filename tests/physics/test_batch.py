"""Physics batched across designs: grouping rules, equality with per-design runs, errors."""

from __future__ import annotations

import math

import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.design.api import with_updates  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.materials.library import load_library  # noqa: E402
from casip.physics.batch import (  # noqa: E402
    build_key,
    fast_charge_many,
    geometric_parameters,
    group_designs,
    varying_inputs,
)
from casip.physics.charge import ChargeResult, _cell_for, fast_charge  # noqa: E402

#: The solver's rtol is 1e-4 (casip.physics.solving.SolveLimits); a shared model passes the
#: design's numbers as inputs instead of folding them as constants, so the integrator takes
#: other steps and the end-of-charge event lands within a few rtol: 1e-3 is 10 x rtol (the
#: benchmark's 200 designs differ by at most 2e-4).
RTOL = 1e-3

#: NMC811 pouch with both electrode thicknesses fixed: porosities then leave the mesh alone.
FIXED = {"cathode.thickness_um": 70.0, "anode.thickness_um": 100.0}


@pytest.fixture(scope="module")
def lib():
    return load_library()


@pytest.fixture(scope="module")
def base():
    return with_updates(reference_design("nmc811-pouch"), FIXED)


def _cells(designs, lib):
    return [_cell_for(d, lib) for d in designs]


# ------------------------------------------------------------------ grouping rules


def test_geometric_parameters_are_read_from_the_model(base, lib):
    geo = geometric_parameters(_cell_for(base, lib))
    # PyBaMM 26 meshes x over the thicknesses and r over [0, R]: both are geometric
    assert {
        "Negative electrode thickness [m]",
        "Separator thickness [m]",
        "Positive electrode thickness [m]",
        "Negative particle radius [m]",
        "Positive particle radius [m]",
    } <= geo
    assert "Positive electrode porosity" not in geo


def test_porosities_share_a_build_thickness_does_not(base, lib):
    designs = [
        with_updates(base, {"cathode.porosity": 0.2, "separator.porosity": 0.4}),
        with_updates(base, {"cathode.porosity": 0.3, "separator.porosity": 0.5}),
        with_updates(base, {"cathode.thickness_um": 80.0}),
    ]
    cells = _cells(designs, lib)
    assert group_designs(cells) == [[0, 1], [2]]
    inputs = varying_inputs(cells[:2])
    assert {"Positive electrode porosity", "Separator porosity",
            "Positive electrode active material volume fraction"} <= set(inputs)
    assert not any("thickness" in k for k in inputs)


def test_equal_functions_share_and_different_closures_do_not(lib):
    # the Arrhenius electrolyte functions are new closures per mapping but equal in value
    a, b = _cells([reference_design("nmc811-pouch")] * 2, lib)
    assert a.parameter_values["Electrolyte conductivity [S.m-1]"] is not (
        b.parameter_values["Electrolyte conductivity [S.m-1]"]
    )
    assert build_key(a) == build_key(b)
    # a function capturing another number (a solid electrolyte's conductivity) is another
    # model: the number is not a PyBaMM parameter, it cannot become an input
    from dataclasses import replace

    from casip.physics.parameters import _arrhenius_conductivity

    li = _cell_for(reference_design("assb-sulfide-li"), lib)
    key = "Electrolyte conductivity [S.m-1]"

    def with_sigma(sigma):
        pv = li.parameter_values.copy()
        pv.update({key: _arrhenius_conductivity(sigma, 0.35)})
        return replace(li, parameter_values=pv)

    assert build_key(with_sigma(0.18)) == build_key(with_sigma(0.18))
    assert build_key(with_sigma(0.18)) != build_key(with_sigma(0.10))


def test_a_number_and_a_function_do_not_share(base, lib):
    j0 = "Positive electrode exchange-current density [A.m-2]"
    plain = _cell_for(base, lib)
    constant = _cell_for(base, lib, overrides={j0: 3.0})
    assert callable(plain.parameter_values[j0])
    assert group_designs([plain, constant]) == [[0], [1]]


# ------------------------------------------------------------------ equality


@pytest.mark.slow
def test_batched_results_equal_per_design_runs(base, lib):
    j0 = "Positive electrode exchange-current density [A.m-2]"
    cases = [
        ({"cathode.porosity": 0.20, "separator.porosity": 0.40},
         {j0: 2.0, "Positive electrode conductivity [S.m-1]": 0.05}, 15.0),
        ({"cathode.porosity": 0.30, "separator.porosity": 0.50},
         {j0: 8.0, "Positive particle diffusivity [m2.s-1]": 2e-15}, 35.0),
        ({"cathode.porosity": 0.25, "separator.porosity": 0.45},
         {j0: 4.0, "Negative electrode Bruggeman coefficient (electrolyte)": 2.0}, 25.0),
        # another geometry: its own group
        ({"cathode.thickness_um": 60.0}, {j0: 4.0}, 25.0),
    ]
    designs = [with_updates(base, u) for u, _, _ in cases]
    overs = [o for _, o, _ in cases]
    temps = [t for *_, t in cases]
    batch = fast_charge_many(designs, 2.0, library=lib, overrides=overs, temperature_c=temps)
    assert [g.indices for g in batch.groups] == [[0, 1, 2], [3]]
    assert batch.builds == 2
    assert "Ambient temperature [K]" in batch.groups[0].inputs
    assert all(g.build_s > 0 and g.solve_s > 0 for g in batch.groups)
    times = []
    for d, o, t, r in zip(designs, overs, temps, batch, strict=True):
        one = fast_charge(d, 2.0, library=lib, overrides=o, temperature_c=t)
        assert isinstance(r, ChargeResult)
        assert r.time_min == pytest.approx(one.time_min, rel=RTOL)
        assert r.min_anode_potential_V == pytest.approx(one.min_anode_potential_V, abs=2e-3)
        assert r.binding_limit == one.binding_limit
        assert r.capacity_Ah == pytest.approx(one.capacity_Ah, rel=1e-12)
        times.append(r.time_min)
    # the designs really differ: a batch that returned one design's result would fail here
    assert max(times) / min(times) > 1.1


# ------------------------------------------------------------------ errors


def test_bad_inputs_name_the_field(base, lib):
    with pytest.raises(CasipInputError) as e:
        fast_charge_many([base, base], [1.0, 2.0, 3.0], library=lib)
    assert e.value.problems[0].field == "c_rate"
    with pytest.raises(CasipInputError) as e:
        fast_charge_many([base, base], [1.0, -2.0], library=lib)
    assert e.value.problems[0].field == "c_rate[1]"
    assert e.value.problems[0].value == -2.0
    with pytest.raises(CasipInputError) as e:
        fast_charge_many([base], 1.0, library=lib, errors="ignore")
    assert e.value.problems[0].field == "errors"
    with pytest.raises(CasipInputError) as e:
        fast_charge_many([base], 1.0, library=lib, soc_start=0.9, soc_end=0.2)
    assert e.value.problems[0].field == "soc_start, soc_end"


def test_a_failing_design_does_not_stop_the_others(base, lib):
    # an anode-limited design (N/P below 1) is refused by the mapping
    bad = with_updates(reference_design("nmc811-pouch"), {"anode.np_ratio": 0.9})
    out = fast_charge_many([bad, base], 1.0, library=lib, errors="return")
    assert isinstance(out[0], CasipInputError)
    assert "np_ratio" in str(out[0])
    assert isinstance(out[1], ChargeResult) and math.isfinite(out[1].time_min)
    assert out.builds == 1


# ------------------------------------------------------------------ explore studies


@pytest.mark.slow
def test_a_study_task_batches_its_points_with_the_same_results(base, lib):
    from casip.cost.prices import priced_library
    from casip.explore.objectives import evaluate_points, study_payload
    from casip.explore.study import study_from_data

    study = study_from_data(
        {
            "design": base.model_dump(mode="json", by_alias=True, exclude_none=True),
            "parameters": {
                "separator_porosity": {"values": [0.4, 0.55]},
                "charge_c_rate": {"values": [1.5, 3.0]},
            },
            "objectives": {"charge_time_10_80_min": "min"},
        }
    )
    points = [{"separator_porosity": sp, "charge_c_rate": c}
              for sp in (0.4, 0.55) for c in (1.5, 3.0)]
    rows = evaluate_points(study_payload(study), points)
    plib = priced_library()
    for p, row in zip(points, rows, strict=True):
        assert row["error"] is None and row["expensive_evaluated"]
        one = fast_charge(with_updates(base, {"separator.porosity": p["separator_porosity"]}),
                          p["charge_c_rate"], library=plib)
        assert row["charge_time_10_80_min"] == pytest.approx(one.time_min, rel=RTOL)
        assert row["plating_margin_V"] == pytest.approx(one.min_anode_potential_V, abs=2e-3)
        assert row["charge_binding_limit"] == one.binding_limit
        assert row["eval_time_s"] > 0
    assert rows[0]["charge_time_10_80_min"] > rows[1]["charge_time_10_80_min"] * 1.05
