"""neware-csv on the table engine (issue 13): what the move to the declarative layout adds.

The values of the English BTS export are checked against cellpy's parsed output in
``test_neware_pec.py``; here, files written from the shared ``neware_uio.csv`` show what the
hand-written reader could not do: a tab-separated export with decimal commas (a European
Windows locale), a malformed row named by its line, and a malformed row while streaming
handed to the whole-file path instead of escaping as a pyarrow error.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from casip.data import detect_format, read
from casip.data.readers import neware_csv
from casip.data.readers._base import StreamFallback
from casip.errors import CasipInputError


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[list[str]]:
    path = shared_data / "cycler" / "neware_uio.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(newline="") as fh:
        return list(csv.reader(fh))[:1501]


def test_tab_separated_export_with_decimal_commas(rows, shared_data: Path, tmp_path: Path):
    """A European-locale English export: tabs and decimal commas (before: claimed by
    neware-csv and refused, pyarrow reading ``0,5`` as a number)."""
    path = tmp_path / "neware_eu.txt"
    path.write_text("\n".join("\t".join(v.replace(".", ",") if _number(v) else v for v in r)
                              for r in [[h for h in rows[0]], *rows[1:]]) + "\n")
    assert detect_format(path) == "neware-csv"
    test = read(path)
    base = read(shared_data / "cycler" / "neware_uio.csv").data.iloc[:1500]
    for col in ("voltage_volt", "current_ampere", "charging_capacity_ah",
                "discharging_capacity_ah", "test_time_second"):
        np.testing.assert_allclose(test.data[col], base[col], rtol=1e-12, atol=1e-12)
    assert any("decimal commas" in w for w in test.warnings)


def _number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return "." in v


def test_malformed_row_is_named_by_its_line(rows, tmp_path: Path):
    bad = [list(r) for r in rows]
    bad[700] = bad[700][:10]  # a row cut short in the middle of the file
    path = tmp_path / "short_row.csv"
    path.write_text("\n".join(",".join(r) for r in bad) + "\n")
    with pytest.raises(CasipInputError) as info:
        read(path)
    msg = str(info.value)
    assert str(path) in msg and "unreadable data" in msg
    assert "line 701 has 10 fields where the rows have 26" in msg
    # streaming hands the file to the whole-file path (before: a bare pyarrow error escaped)
    with pytest.raises((StreamFallback, CasipInputError)):
        list(neware_csv.iter_batches(path, batch_rows=200))


def test_forced_on_another_vendors_table_is_refused(shared_data: Path, tmp_path: Path):
    """The engine compares names blind to underscores (``Step_Time`` = ``Step Time``): an
    Arbin export must still not pass for a Neware one when neware-csv is forced."""
    path = shared_data / "cycler" / "arbin_example.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with pytest.raises(CasipInputError, match="no Neware column header"):
        read(path, format="neware-csv")
