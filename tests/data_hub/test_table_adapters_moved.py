"""BDF CSV and batterydata.energy.gov on the table engine (issue 13: a format is data).

Both adapters are :class:`~casip.data.readers.tabular.TableFormat` specs read by the one
streaming engine; these tests cover what the move adds (BDF CSVs written with tabs, or with
semicolons and decimal commas by European-locale software) and what the modules keep on top
of the engine (exact BDF names, so that a vendor export with look-alike headers is not taken
for BDF; corrupted values refused in any documented batterydata column). Files are written
by the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import casip.data
from casip.data.ingest import detect_format
from casip.data.readers import adapters, batterydata_csv, bdf_csv
from casip.data.readers.tabular import TableFormat
from casip.errors import CasipInputError

ROWS = [(0.0, 3.0, 0.0), (10.0, 3.5, 1.5), (20.0, 3.6, 1.5), (30.0, 3.4, -1.5), (40.0, 3.3, 0.0)]


def _bdf(path: Path, sep: str, decimal: str, names: tuple[str, str, str]) -> Path:
    lines = [sep.join(names)]
    for row in ROWS:
        lines.append(sep.join(f"{v:.3f}".replace(".", decimal) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("sep,decimal", [("\t", "."), (";", ",")])
def test_bdf_with_tabs_or_semicolons_and_decimal_commas(tmp_path: Path, sep: str,
                                                        decimal: str) -> None:
    path = _bdf(tmp_path / "cell.bdf.csv", sep, decimal,
                ("Test Time / s", "Voltage / V", "Current / A"))
    assert detect_format(path) == "bdf-csv"
    test = casip.data.read(path)
    np.testing.assert_allclose(test.data["test_time_second"], [r[0] for r in ROWS])
    np.testing.assert_allclose(test.data["voltage_volt"], [r[1] for r in ROWS])
    np.testing.assert_allclose(test.data["current_ampere"], [r[2] for r in ROWS])


def test_look_alike_headers_are_not_bdf(tmp_path: Path) -> None:
    """The engine compares names blind to spaces and case; BDF needs them as written."""
    path = _bdf(tmp_path / "lanhe.csv", ",", ".", ("TestTime/s", "Voltage/V", "Current/A"))
    head = path.read_bytes()
    assert bdf_csv.sniff(head, path.name) == 0.0
    exact = _bdf(tmp_path / "ok.csv", ",", ".", ("Test Time / s", "voltage_volt", "Current / A"))
    assert bdf_csv.sniff(exact.read_bytes(), exact.name) >= 0.9


def test_adapters_are_table_specs_listed_as_modules() -> None:
    for mod in (bdf_csv, batterydata_csv):
        assert isinstance(mod.SPEC, TableFormat) and mod.SPEC.format == mod.FORMAT
        assert adapters()[mod.FORMAT] is mod
        assert not hasattr(mod, "SPEC_ADAPTERS")


def test_bdf_columns_outside_the_schema_are_named(tmp_path: Path) -> None:
    path = tmp_path / "x.bdf.csv"
    path.write_text("test_time_second,voltage_volt,current_ampere,step_type,colour\n"
                    "0,3.0,0,rest,red\n1,3.1,1,cc_charge,blue\n")
    reading = bdf_csv.read(path)
    assert reading.warnings[0] == "columns outside the schema were left out: step_type, colour"
    assert list(reading.data.columns) == ["test_time_second", "voltage_volt", "current_ampere"]


def test_batterydata_corrupted_value_in_an_unused_column_is_refused(tmp_path: Path) -> None:
    head = "Cycle_Index,Step,Time_s,Current_A,Voltage_V,Power_W,Cycle_Label\n"
    good = "".join(f"1,1,{t},0.5,3.{t},1.5,Aging cycle\n" for t in range(50))
    path = tmp_path / "cell-raw.csv"
    path.write_text(head + good)
    assert len(batterydata_csv.read(path).data) == 50
    bad = good.replace("1,1,20,0.5,3.20,1.5", "1,1,20,0.5,3.20,1.\x7f5")
    path.write_text(head + bad)
    with pytest.raises(CasipInputError) as err:
        batterydata_csv.read(path)
    assert str(path) in str(err.value)
