"""The supported-formats section of docs/test-data.md lists every variant with its source of truth.

Issue 13: "the supported-formats table lists every variant with its source of truth". The
tables of that section are parsed here: every reader adapter (``casip.data.readers.adapters()``)
must have at least one row, every row must name a source of truth and a test module that
exists, every round-trip variant of the synthetic writers must be named, and every shared file
named must be in ``../shared/data/cycler/MANIFEST.csv`` (and every shared file in the manifest
must be named, so a new shared file gets its row).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

import casip.data.synthetic_tables  # noqa: F401  (registers the declarative layouts' variants)
from casip.data import synthetic
from casip.data.readers import adapters

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "test-data.md"
TESTS = Path(__file__).resolve().parent
SECTION = "## Supported formats"
#: A file name in backticks: no folder, a stem, a data-file extension (not `.bdf.csv` alone).
_FILE = re.compile(r"^[\w\-][\w.\-]*\.(?:csv|txt|res|mpr|nda|ndax|xlsx|\d{3})$")
_TICKS = re.compile(r"`([^`]+)`")


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"{DOC}: no '{SECTION}' section"
    body = text.split(SECTION, 1)[1]
    nxt = re.search(r"^## ", body, flags=re.MULTILINE)
    return body[: nxt.start()] if nxt else body


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _rows() -> list[dict[str, str]]:
    """Rows of every table of the section, as {header: cell}."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in _section().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = [c.lower() for c in cells]
        elif not all(set(c) <= set("-: ") for c in cells):
            assert len(cells) == len(header), f"malformed table row: {line}"
            rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _column(row: dict[str, str], start: str) -> str:
    keys = [k for k in row if k.startswith(start)]
    assert keys, f"table without a '{start}...' column: {sorted(row)}"
    return row[keys[0]]


def test_tables_have_the_variant_columns() -> None:
    rows = _rows()
    assert rows, "the supported-formats section has no table"
    for row in rows:
        for col in ("format", "variant", "what varies", "source of truth", "tests"):
            assert _column(row, col), f"empty '{col}' in row {row}"


def test_every_adapter_has_a_row() -> None:
    documented = {m for row in _rows() for m in _TICKS.findall(_column(row, "format"))}
    missing = sorted(set(adapters()) - documented)
    assert not missing, f"readers without a row in docs/test-data.md ({SECTION}): {missing}"
    unknown = sorted(documented - set(adapters()))
    assert not unknown, f"rows for format ids no reader has: {unknown}"


def test_every_round_trip_variant_is_named() -> None:
    text = _section()
    missing = [n for n in synthetic.variant_names() if f"`{n}`" not in text]
    assert not missing, f"synthetic variants not named in the section: {missing}"


def test_named_test_modules_exist() -> None:
    named = {m for row in _rows() for m in _TICKS.findall(_column(row, "tests"))}
    assert named
    missing = sorted(n for n in named if not (TESTS / n).is_file())
    assert not missing, f"test modules named in the section but absent: {missing}"


def _shared_named() -> set[str]:
    return {m for row in _rows() for m in _TICKS.findall(_column(row, "source of truth"))
            if _FILE.match(m)}


def test_shared_files_named_are_in_the_manifest(shared_data: Path) -> None:
    manifest = shared_data / "cycler" / "MANIFEST.csv"
    if not manifest.is_file():
        pytest.skip(f"no cycler MANIFEST.csv at {manifest}")
    with manifest.open(newline="", encoding="utf-8") as fh:
        listed = {r["file"] for r in csv.DictReader(fh)}
    named = _shared_named()
    assert named, "no shared file named in the source-of-truth column"
    unknown = sorted(named - listed)
    assert not unknown, f"files named as sources of truth but not in {manifest}: {unknown}"
    text = _section()
    unnamed = sorted(f for f in listed if f not in text)
    assert not unnamed, f"shared files of {manifest} not named in the section: {unnamed}"
