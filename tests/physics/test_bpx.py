"""BPX export and import: schema validity, round trip, refusals, bad files."""

from __future__ import annotations

import json

import pytest

pybamm = pytest.importorskip("pybamm")
bpx = pytest.importorskip("bpx")

from casip.cells import reference_design  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.physics import parameters_for  # noqa: E402
from casip.physics.bpx import export_bpx, import_bpx, to_bpx_dict  # noqa: E402
from casip.physics.capacity import discharge_capacities  # noqa: E402


@pytest.fixture(scope="module")
def lfp_export(tmp_path_factory):
    setup = parameters_for(reference_design("lfp-blade"))
    path = export_bpx(setup, tmp_path_factory.mktemp("bpx") / "lfp-blade.bpx.json")
    return setup, path


def test_export_validates_against_the_bpx_schema(lfp_export):
    setup, path = lfp_export
    obj = json.loads(path.read_text())
    parsed = bpx.parse_bpx_obj(json.loads(path.read_text()))  # raises if not valid BPX
    assert parsed.header.model == "DFN"
    par = obj["Parameterisation"]
    pv = setup.parameter_values
    cell = par["Cell"]
    assert cell["Nominal cell capacity [A.h]"] == pytest.approx(setup.capacity_Ah)
    assert cell["Electrode area [m2]"] == pytest.approx(
        setup.metrics.geometry["cathode_area_cm2"] * 1e-4
    )
    # lumped density recovers the design engine's cell mass
    assert cell["Density [kg.m-3]"] * cell["Volume [m3]"] * 1e3 == pytest.approx(
        setup.metrics.mass_g
    )
    neg, pos = par["Negative electrode"], par["Positive electrode"]
    # BPX conventions: transport efficiency eps^b, a = 3 eps_active / R, tables for the OCPs
    eps = pv["Negative electrode porosity"]
    assert neg["Transport efficiency"] == pytest.approx(
        eps ** pv["Negative electrode Bruggeman coefficient (electrolyte)"]
    )
    assert pos["Surface area per unit volume [m-1]"] == pytest.approx(
        3 * pv["Positive electrode active material volume fraction"]
        / pv["Positive particle radius [m]"]
    )
    assert set(pos["OCP [V]"]) == {"x", "y"}
    # full charge: negative at its maximum, positive at its minimum stoichiometry
    assert neg["Maximum stoichiometry"] == pytest.approx(
        pv["Initial concentration in negative electrode [mol.m-3]"]
        / pv["Maximum concentration in negative electrode [mol.m-3]"]
    )
    assert pos["Minimum stoichiometry"] == pytest.approx(
        pv["Initial concentration in positive electrode [mol.m-3]"]
        / pv["Maximum concentration in positive electrode [mol.m-3]"]
    )
    # Chen2020's graphite exchange current has a 35 kJ/mol activation energy
    ea = neg["Reaction rate constant activation energy [J.mol-1]"]
    assert ea == pytest.approx(35000, rel=1e-6)
    assert "CASIP" in obj["Header"]["Description"]


@pytest.mark.parametrize("cell", ["lfp-blade", "nmc811-pouch"])
def test_round_trip_1c_capacity_within_one_percent(tmp_path, cell):
    setup = parameters_for(reference_design(cell))
    path = export_bpx(setup, tmp_path / f"{cell}.json")
    imported = import_bpx(path)
    original = discharge_capacities(setup, [1.0])[0]
    again = discharge_capacities(imported, [1.0])[0]
    assert again == pytest.approx(original, rel=0.01), (cell, original, again)
    assert imported.capacity_Ah == pytest.approx(setup.capacity_Ah)
    assert imported.metrics.mass_g == pytest.approx(setup.metrics.mass_g)
    assert imported.metrics.volume_cm3 == pytest.approx(setup.metrics.volume_cm3)
    assert imported.lower_cutoff_V == pytest.approx(setup.lower_cutoff_V)
    assert isinstance(imported.parameter_values, pybamm.ParameterValues)


def test_import_returns_a_setup_with_the_file_values(lfp_export):
    setup, path = lfp_export
    imported = import_bpx(path)
    assert imported.approximation == "DFN from BPX"
    assert imported.name == setup.name
    pv = imported.parameter_values
    assert pv["Positive electrode thickness [m]"] == pytest.approx(
        setup.parameter_values["Positive electrode thickness [m]"]
    )
    area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
    assert area == pytest.approx(imported.metrics.geometry["cathode_area_cm2"] * 1e-4)


@pytest.mark.parametrize("cell", ["assb-sulfide-li", "oxide-anode-free", "assb-sulfide-si"])
def test_solid_state_and_lithium_metal_are_refused_with_the_reason(tmp_path, cell):
    out = tmp_path / "x.json"
    with pytest.raises(CasipInputError, match="two porous electrodes"):
        export_bpx(reference_design(cell), out)
    assert not out.exists()


def test_mapped_solid_state_full_cell_setup_is_refused_for_its_solid_electrolyte():
    setup = parameters_for(reference_design("assb-sulfide-si"))
    with pytest.raises(CasipInputError, match="BPX has no solid electrolyte") as exc:
        to_bpx_dict(setup)
    assert exc.value.problems[0].field == "kind"


def test_mapped_lithium_metal_setup_is_refused():
    setup = parameters_for(reference_design("assb-sulfide-li"))
    with pytest.raises(CasipInputError, match="lithium-metal counter electrode"):
        to_bpx_dict(setup)


def test_export_does_not_overwrite_when_told(lfp_export):
    _, path = lfp_export
    with pytest.raises(Exception):  # noqa: B017 - write_text_atomic's own error
        export_bpx(reference_design("lfp-blade"), path, overwrite=False)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a BPX file"),
        ('{"Header": {"BPX": "1.0.0", "Model": "DFN"}, "Parameterisation": {}}', "valid BPX"),
    ],
)
def test_bad_files_are_input_errors(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(CasipInputError, match=match):
        import_bpx(p)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(CasipInputError, match="no such file"):
        import_bpx(tmp_path / "absent.json")


def test_a_broken_field_is_named(lfp_export, tmp_path):
    _, path = lfp_export
    obj = json.loads(path.read_text())
    del obj["Parameterisation"]["Positive electrode"]["Particle radius [m]"]
    p = tmp_path / "broken.json"
    p.write_text(json.dumps(obj))
    with pytest.raises(CasipInputError, match="Particle radius"):
        import_bpx(p)


def test_a_two_phase_silicon_graphite_design_is_refused_with_the_reason(tmp_path):
    from casip.cells import reference_design
    from casip.errors import CasipInputError
    from casip.physics.bpx import export_bpx

    with pytest.raises(CasipInputError, match="two-phase composite"):
        export_bpx(reference_design("semi-solid-sic"), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
