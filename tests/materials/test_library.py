"""The materials library: validation of material files, overrides and element fractions."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import periodictable
import pytest

from casip.errors import CasipInputError
from casip.materials import Category, build_library, load_library
from casip.materials.composition import element_mass_fractions, formula_mass_fractions

DATA = Path(__file__).resolve().parents[1] / "data"

SOURCES = """\
sources:
  t1:
    citation: Round test values, not real data.
"""


def lib_from(text: str, name: str = "user.yaml"):
    return build_library([(name, text)])


def material(body: str, mid: str = "X1") -> str:
    """A materials file with one material whose extra lines are ``body``."""
    return (
        SOURCES
        + "materials:\n"
        + f"  - id: {mid}\n    name: Test material\n    category: binder\n"
        + "".join(f"    {line}\n" for line in body.strip().splitlines())
    )


def raises(text: str, *needles: str, name: str = "user.yaml") -> CasipInputError:
    with pytest.raises(CasipInputError) as info:
        lib_from(text, name)
    msg = str(info.value)
    assert name in msg, msg
    for n in needles:
        assert n in msg, f"expected {n!r} in: {msg}"
    json.dumps(info.value.to_dict())  # serialisable for an API response
    return info.value


# ---------------------------------------------------------------------------------------------
# A valid file


def test_valid_file_builds():
    lib = lib_from(material("density_g_cm3: {value: 1.5, source: t1}\nformula: C2H4"))
    assert lib["X1"].density_g_cm3.value == 1.5
    assert lib.origin["X1"] == "user.yaml"
    assert [m.id for m in lib.of_category(Category.binder)] == ["X1"]


def test_handcheck_library_builds_and_says_it_is_not_real_data():
    path = DATA / "materials_handcheck.yaml"
    lib = build_library([(str(path), path.read_text(encoding="utf-8"))])
    assert "not real data" in lib.sources["handcheck"].citation
    for mid in lib:
        if lib[mid].formula or lib[mid].composition_by_mass:
            assert math.fsum(lib.elements(mid).values()) == pytest.approx(1.0, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# What build_library refuses


def test_unknown_source_key():
    err = raises(material("density_g_cm3: {value: 1.5, source: nowhere}"),
                 "nowhere", "source key", "materials[X1]")
    assert err.problems[0].field == "materials[X1]"


def test_assumed_without_note():
    raises(material("density_g_cm3: {value: 1.5, source: assumed}"),
           "assumed", "needs a note", "materials[X1]")


def test_assumed_with_blank_note():
    raises(material("density_g_cm3: {value: 1.5, source: assumed, note: '  '}"), "needs a note")


def test_assumed_with_note_is_accepted():
    lib = lib_from(material("density_g_cm3: {value: 1.5, source: assumed, note: a guess}"))
    assert lib["X1"].density_g_cm3.note == "a guess"


@pytest.mark.parametrize("value", [-1.0, 0.0])
def test_non_positive_density(value):
    raises(material(f"density_g_cm3: {{value: {value}, source: t1}}"),
           "density_g_cm3 must be > 0", "materials[X1]")


def test_negative_cost():
    raises(material("cost_usd_kg: {value: -3, source: t1}"), "cost_usd_kg must be >= 0")


def test_duplicate_id_in_one_file():
    text = material("density_g_cm3: {value: 1.5, source: t1}") + (
        "  - id: X1\n    name: Again\n    category: binder\n"
    )
    err = raises(text, "appears twice", "X1")
    assert err.problems[0].field == "materials[X1]"


def test_same_id_in_two_files_is_an_override_not_an_error():
    a = material("density_g_cm3: {value: 1.5, source: t1}")
    b = material("density_g_cm3: {value: 2.5, source: t1}")
    lib = build_library([("a.yaml", a), ("b.yaml", b)])
    assert lib["X1"].density_g_cm3.value == 2.5
    assert lib.origin["X1"] == "b.yaml"


def test_partial_override_changes_only_the_fields_it_gives():
    """An entry with a known id and only a price is merged onto the known record."""
    a = material("density_g_cm3: {value: 1.5, source: t1}\nformula: C2H4\n"
                 "cost_usd_kg: {value: 10, source: t1}")
    b = ("sources:\n  quote: {citation: \"Our supplier's quote, 2025\", quality: low}\n"
         "materials:\n  - id: X1\n    cost_usd_kg: {value: 7.5, source: quote}\n")
    lib = build_library([("a.yaml", a), ("b.yaml", b)])
    m = lib["X1"]
    assert m.cost_usd_kg.value == 7.5 and m.cost_usd_kg.source == "quote"
    assert (m.name, m.category, m.formula) == ("Test material", Category.binder, "C2H4")
    assert m.density_g_cm3.value == 1.5 and m.density_g_cm3.source == "t1"
    assert lib.origin["X1"] == "b.yaml (cost_usd_kg) over a.yaml"
    # A complete entry still replaces the record as a whole.
    c = material("density_g_cm3: {value: 2.5, source: t1}")
    lib = build_library([("a.yaml", a), ("c.yaml", c)])
    assert lib["X1"].cost_usd_kg is None and lib.origin["X1"] == "c.yaml"


def test_partial_override_of_the_bundled_library(tmp_path):
    user = tmp_path / "my-prices.yaml"
    user.write_text("materials:\n  - id: NMC811\n"
                    "    cost_usd_kg: {value: 30, source: assumed, note: our quote}\n",
                    encoding="utf-8")
    base, lib = load_library(), load_library([user])
    assert lib["NMC811"].cost_usd_kg.value == 30
    assert lib["NMC811"].model_dump(exclude={"cost_usd_kg"}) == base["NMC811"].model_dump(
        exclude={"cost_usd_kg"})
    assert lib.origin["NMC811"].startswith(f"{user} (cost_usd_kg) over casip/materials/data/")
    # Values are still checked after the merge, and named by id.
    user.write_text("materials:\n  - id: NMC811\n"
                    "    cost_usd_kg: {value: -3, source: assumed, note: typo}\n",
                    encoding="utf-8")
    with pytest.raises(CasipInputError, match=r"materials\[NMC811\]: cost_usd_kg must be >= 0"):
        load_library([user])


def test_partial_entry_for_an_unknown_id_says_what_is_missing():
    err = raises("materials:\n  - id: NOPE\n    cost_usd_kg: {value: 3, source: t1}\n",
                 "materials[NOPE].name", "required field is missing",
                 "to change only some values of a library material")
    assert {p.field for p in err.problems} == {"materials[NOPE].name", "materials[NOPE].category"}


def test_composition_not_summing_to_one():
    raises(material("composition_by_mass: {C2H4: 0.5, C2H2F2: 0.3}"),
           "composition_by_mass", "sum to 0.8", "materials[X1]")


def test_negative_composition_fraction():
    raises(material("composition_by_mass: {C2H4: 1.2, C2H2F2: -0.2}"), ">= 0")


def test_formula_and_composition_together():
    raises(material("formula: C2H4\ncomposition_by_mass: {C2H4: 1.0}"), "not both")


@pytest.mark.parametrize("formula", ["Xx2O", "Li(PS4", "123abc"])
def test_bad_formula(formula):
    raises(material(f"formula: '{formula}'"), "cannot parse formula", formula, "X1")


def test_bad_formula_in_a_composition():
    raises(material("composition_by_mass: {C2H4: 0.5, Qq3: 0.5}"), "cannot parse formula", "Qq3")


def test_bad_id():
    raises(material("", mid="'has space'"), "material id")


def test_unknown_field_in_a_material():
    raises(material("densty_g_cm3: {value: 1.5, source: t1}"), "densty_g_cm3", "unknown field")


def test_unknown_category():
    text = SOURCES + "materials:\n  - id: X1\n    name: T\n    category: glue\n"
    raises(text, "category")


def test_empty_file_and_not_a_mapping():
    raises("", "empty")
    raises("# only a comment\n", "empty")
    raises("- a\n- b\n", "mapping")


def test_not_yaml():
    raises("materials: [\n  - id: X1\n", "not valid YAML")


# ---------------------------------------------------------------------------------------------
# Bundled library and user overrides


def _bundled_yaml() -> list[str]:
    folder = resources.files("casip.materials") / "data"
    return sorted(e.name for e in folder.iterdir() if e.name.endswith(".yaml"))


needs_bundled = pytest.mark.skipif(
    not _bundled_yaml(), reason="src/casip/materials/data has no YAML files yet"
)


@needs_bundled
def test_bundled_library_loads_with_every_source_known():
    lib = load_library()
    assert len(lib) > 0
    for m in lib.values():
        for key in m.sources_used():
            assert key == "assumed" or key in lib.sources, (m.id, key)


@needs_bundled
def test_user_file_overrides_a_bundled_id(tmp_path):
    bundled = load_library()
    mid = "NMC811" if "NMC811" in bundled else next(iter(bundled))
    old = bundled[mid]
    user = tmp_path / "mine.yaml"
    user.write_text(
        "materials:\n"
        f"  - id: {mid}\n"
        "    name: My measured batch\n"
        f"    category: {old.category.value}\n"
        "    density_g_cm3: {value: 9.99, source: assumed, note: measured in our lab}\n",
        encoding="utf-8",
    )
    lib = load_library(extra=[user])
    assert lib[mid].density_g_cm3.value == 9.99
    assert lib[mid].name == "My measured batch"
    assert lib.origin[mid] == str(user)
    # the record is replaced as a whole, not merged field by field
    assert lib[mid].cost_usd_kg is None
    # everything else is still there, and the cached bundled library is untouched
    assert set(lib) == set(bundled)
    assert load_library()[mid].density_g_cm3.value == old.density_g_cm3.value


@needs_bundled
def test_user_file_adds_a_material_citing_a_bundled_source(tmp_path):
    bundled = load_library()
    key = next(iter(bundled.sources))
    user = tmp_path / "extra.yaml"
    user.write_text(
        "materials:\n  - id: MyBinder\n    name: B\n    category: binder\n"
        f"    density_g_cm3: {{value: 1.2, source: {key}}}\n",
        encoding="utf-8",
    )
    lib = load_library(extra=[user])
    assert "MyBinder" in lib and len(lib) == len(bundled) + 1


def test_missing_user_file(tmp_path):
    with pytest.raises(CasipInputError, match="not found"):
        load_library(extra=[tmp_path / "nope.yaml"])


def test_bad_user_file_names_the_file(tmp_path):
    user = tmp_path / "bad.yaml"
    user.write_text(material("density_g_cm3: {value: -1, source: t1}"), encoding="utf-8")
    with pytest.raises(CasipInputError) as info:
        load_library(extra=[user])
    assert "bad.yaml" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Element mass fractions


def test_li6ps5cl_element_fractions():
    x = formula_mass_fractions("Li6PS5Cl")
    assert set(x) == {"Li", "P", "S", "Cl"}
    assert math.fsum(x.values()) == pytest.approx(1.0, rel=1e-12)
    molar = (6 * periodictable.Li.mass + periodictable.P.mass + 5 * periodictable.S.mass
             + periodictable.Cl.mass)
    assert molar == pytest.approx(268.36, abs=0.01)
    assert x["Li"] == pytest.approx(6 * 6.94 / molar, rel=1e-9)
    assert x["S"] == pytest.approx(5 * periodictable.S.mass / molar, rel=1e-9)


@needs_bundled
def test_bundled_argyrodite_elements():
    lib = load_library()
    ids = [m.id for m in lib.values() if m.formula == "Li6PS5Cl"]
    if not ids:
        pytest.skip("no Li6PS5Cl in the bundled library")
    x = lib.elements(ids[0])
    assert math.fsum(x.values()) == pytest.approx(1.0, rel=1e-12)
    assert x["Li"] == pytest.approx(6 * 6.94 / periodictable.formula("Li6PS5Cl").mass, rel=1e-9)


def test_mixture_fractions_are_mass_weighted():
    x = element_mass_fractions(None, {"C": 0.25, "Li": 0.75})
    assert x == {"C": pytest.approx(0.25), "Li": pytest.approx(0.75)}
    y = element_mass_fractions(None, {"LiF": 0.5, "C2H4": 0.5})
    lif = formula_mass_fractions("LiF")
    assert y["Li"] == pytest.approx(0.5 * lif["Li"], rel=1e-12)
    assert math.fsum(y.values()) == pytest.approx(1.0, rel=1e-12)
