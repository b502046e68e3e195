"""Invalid designs: each file in tests/data/invalid_designs fails with a clear message.

Each file starts with ``# expect: <substring of the message>`` and ``# field: <field path>``
(``-`` when the problem is with the file as a whole). The file goes through the path users
take: read the file, validate it, evaluate it against the handcheck library.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from casip.design import evaluate
from casip.design.schema import Design
from casip.errors import CasipInputError, from_pydantic
from casip.io import read_design_text
from casip.materials import build_library

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = sorted((DATA / "invalid_designs").glob("*.yaml"))
_lib_path = DATA / "materials_handcheck.yaml"
LIB = build_library([(str(_lib_path), _lib_path.read_text(encoding="utf-8"))])

#: Files whose problem is found only when the stack is evaluated (not by the schema).
EVALUATE_TIME = {"prismatic_too_small.yaml"}


def read_design(path: Path) -> Design:
    """casip.io.read_design when it exists, else the equivalent yaml + schema path."""
    try:
        from casip.io import read_design as _read
    except ImportError:  # pragma: no cover - before casip.io existed
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CasipInputError(f"not valid YAML: {exc}", str(path)) from None
        if data is None:
            raise CasipInputError("the file is empty", str(path)) from None
        try:
            return Design.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc, source=str(path)) from None
    return _read(path)


def load_and_evaluate(path: Path):
    return evaluate(read_design(path), LIB, source=str(path))


def header(path: Path) -> tuple[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    assert lines[1].startswith("# field: "), f"{path.name}: second line must be '# field: ...'"
    return lines[0].removeprefix("# expect: ").strip(), lines[1].removeprefix("# field: ").strip()


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 15


def test_the_base_design_is_valid():
    r = load_and_evaluate(DATA / "valid_design_handcheck.yaml")
    assert r.energy_Wh > 0


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_design_is_refused_with_a_clear_message(path):
    expect, field = header(path)
    with pytest.raises(CasipInputError) as info:
        load_and_evaluate(path)
    err = info.value
    msg = str(err)
    assert expect in msg, f"expected {expect!r} in: {msg}"
    if field != "-":
        assert field in msg, f"expected the field {field!r} in: {msg}"
    if path.name not in EVALUATE_TIME:
        assert path.name in msg, f"expected the file name in: {msg}"
        assert err.source == str(path)
    # the error serialises for an API response
    d = err.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["problems"] and all(set(p) == {"field", "message", "value", "expected"}
                                 for p in d["problems"])


@pytest.mark.parametrize("name", sorted(EVALUATE_TIME))
def test_evaluate_time_error_names_the_file(name):
    path = DATA / "invalid_designs" / name
    with pytest.raises(CasipInputError) as info:
        load_and_evaluate(path)
    assert info.value.source == str(path)
    assert path.name in str(info.value)


def test_evaluate_time_error_names_the_format(tmp_path):
    path = DATA / "invalid_designs" / "prismatic_too_small.yaml"
    with pytest.raises(CasipInputError) as info:
        load_and_evaluate(path)
    (p,) = info.value.problems
    assert p.field.startswith("format")
    assert "cathode layer" in p.message
    assert "mm of usable thickness" in p.message  # the numbers behind the refusal


def test_error_with_odd_values_serialises():
    err = CasipInputError("plain message", source="x.yaml")
    assert json.loads(json.dumps(err.to_dict()))["problems"][0]["message"] == "plain message"


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("porosity_one.yaml", "expected a value in [0, 1)"),
        ("porosity_negative.yaml", "expected a value in [0, 1)"),
        ("negative_thickness.yaml", "expected a value in (0, 1000]"),
        ("absurd_thickness.yaml", "expected a value in (0, 1000]"),
        ("pouch_zero_layers.yaml", "expected a value in [1, 500]"),
    ],
)
def test_out_of_range_errors_state_the_whole_allowed_range(name, allowed):
    with pytest.raises(CasipInputError) as info:
        load_and_evaluate(DATA / "invalid_designs" / name)
    assert allowed in str(info.value)
    assert "format.pouch" not in str(info.value)  # no union tag in the field path


# --------------------------------------------------------------------------------------------
# Fuzzing: whatever the text, reading a design either succeeds or raises CasipInputError
# --------------------------------------------------------------------------------------------

_VALID = (DATA / "valid_design_handcheck.yaml").read_text(encoding="utf-8")
_LINES = _VALID.splitlines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_arbitrary_text_gives_only_domain_errors(text):
    try:
        read_design_text(text, "fuzz.yaml")
    except CasipInputError as exc:
        assert "fuzz.yaml" in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(_LINES) - 1),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**12), max_value=10**12),
        st.text(max_size=20),
        st.sampled_from(["", "[]", "{}", "null", "- 1", ": :", "'", "true"]),
    ),
)
def test_fuzz_one_mutated_value_gives_only_domain_errors(index, value):
    line = _LINES[index]
    key, sep, _ = line.partition(":")
    mutated = [*_LINES]
    mutated[index] = f"{key}{sep} {value}" if sep else f"{line}{value}"
    try:
        design = read_design_text("\n".join(mutated), "fuzz.yaml")
        evaluate(design, source="fuzz.yaml", library=LIB)
    except CasipInputError as exc:
        assert "fuzz.yaml" in str(exc) or "sweep" in str(exc)
