"""Arbin CSV on the declarative table engine (issue 13): what the layout data and hooks do.

The shared-file tests of the adapter are in test_arbin.py; these build variants from
``arbin_example.csv`` (European locale, other units, late resistance readings) and check the
streaming path against the whole-file read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import casip.data
from casip.data.ingest import detect_format
from casip.data.readers import adapters, arbin_csv
from casip.data.readers.tabular import TableFormat
from casip.errors import CasipInputError

COLUMNS = (
    "test_time_second", "current_ampere", "voltage_volt", "unix_time_second",
    "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
    "discharging_energy_wh", "surface_temperature_celsius", "cycle_count", "step_index",
)  # fmt: skip


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    return shared_data / "cycler"


@pytest.fixture(scope="module")
def plain(cycler: Path) -> pd.DataFrame:
    return pd.read_csv(cycler / "arbin_example.csv")


@pytest.fixture(scope="module")
def reference(cycler: Path) -> pd.DataFrame:
    return arbin_csv.read(cycler / "arbin_example.csv").data


def _same(got: pd.DataFrame, want: pd.DataFrame, columns=COLUMNS) -> None:
    for col in columns:
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-12, err_msg=col)


def _streamed(path: Path, batch_rows: int) -> pd.DataFrame:
    batches = list(arbin_csv.iter_batches(path, batch_rows))
    assert len(batches) > 1
    assert len({tuple(b.data.columns) for b in batches}) == 1  # the same columns in every batch
    return pd.concat([b.data for b in batches], ignore_index=True)


def test_the_module_is_a_table_format_and_still_an_adapter() -> None:
    assert isinstance(arbin_csv.ARBIN, TableFormat)
    assert arbin_csv.ARBIN.format == arbin_csv.FORMAT == "arbin-csv"
    assert not hasattr(arbin_csv, "SPEC_ADAPTERS")
    assert adapters()["arbin-csv"] is arbin_csv


def test_tab_separated_with_decimal_commas(plain: pd.DataFrame, reference: pd.DataFrame,
                                           tmp_path: Path) -> None:
    """A European-locale export (tab, decimal comma; the unix DateTime too) reads alike."""
    path = tmp_path / "european.csv"
    plain.assign(DateTime=plain["DateTime"] + 0.25).to_csv(
        path, sep="\t", decimal=",", index=False, float_format="%.10g")
    assert detect_format(path) == "arbin-csv"
    got = casip.data.read(path)
    _same(got.data, reference.assign(unix_time_second=reference["unix_time_second"] + 0.25),
          [c for c in COLUMNS if c not in ("cycle_count", "step_index")])
    assert any("decimal commas" in w for w in got.warnings)


@pytest.mark.parametrize("unit", ["Ω", "mΩ"])
def test_resistance_in_ohm_signs(plain: pd.DataFrame, reference: pd.DataFrame, tmp_path: Path,
                                 unit: str) -> None:
    """``Internal_Resistance(Ω)``: the Ω sign was listed but never matched (lower-cased)."""
    scale = 1e3 if unit == "mΩ" else 1.0
    df = plain.rename(columns={"Internal_Resistance": f"Internal_Resistance({unit})"})
    df[f"Internal_Resistance({unit})"] *= scale
    path = tmp_path / "ohm.csv"
    df.to_csv(path, index=False, float_format="%.10g")
    got = arbin_csv.read(path).data
    np.testing.assert_allclose(got["internal_resistance_ohm"],
                               reference["internal_resistance_ohm"], rtol=1e-9)


@pytest.mark.parametrize(
    ("unit", "to"), [("F", lambda c: c * 9 / 5 + 32), ("K", lambda c: c + 273.15)]
)
def test_temperature_in_fahrenheit_or_kelvin(plain, reference, tmp_path, unit, to) -> None:
    df = plain.rename(columns={"Temperature": f"Aux_Temperature_1({unit})"})
    df[f"Aux_Temperature_1({unit})"] = to(df[f"Aux_Temperature_1({unit})"])
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False, float_format="%.12g")
    for data in (arbin_csv.read(path).data, _streamed(path, 300)):
        np.testing.assert_allclose(data["surface_temperature_celsius"],
                                   reference["surface_temperature_celsius"], atol=1e-9)


def test_resistance_measured_late_is_kept_in_every_batch(plain, tmp_path) -> None:
    """0 is "not measured"; a column measured only late in the file is kept in every batch."""
    df = plain.copy()
    df.loc[: len(df) - 50, "Internal_Resistance"] = 0.0
    path = tmp_path / "late.csv"
    df.to_csv(path, index=False, float_format="%.10g")
    whole = arbin_csv.read(path).data
    streamed = _streamed(path, 200)
    assert whole["internal_resistance_ohm"].notna().sum() == 49
    _same(streamed, whole, (*COLUMNS, "internal_resistance_ohm"))
    df["Internal_Resistance"] = 0.0
    df.to_csv(path, index=False, float_format="%.10g")
    assert "internal_resistance_ohm" not in arbin_csv.read(path).data
    assert "internal_resistance_ohm" not in _streamed(path, 200)


def test_streamed_date_strings_and_counters_equal_the_whole_read(plain, tmp_path) -> None:
    df = plain.copy()
    df["DateTime"] = pd.to_datetime(df["DateTime"], unit="s").dt.strftime("%m/%d/%Y %H:%M:%S")
    path = tmp_path / "dates.csv"
    df.to_csv(path, index=False, float_format="%.10g")
    whole = arbin_csv.read(path).data
    streamed = _streamed(path, 97)
    for col in COLUMNS:  # exactly: the counters' offsets change only at a reset
        np.testing.assert_array_equal(streamed[col], whole[col], err_msg=col)


def test_bad_time_and_undecodable_byte_are_input_errors(cycler: Path, tmp_path: Path) -> None:
    lines = (cycler / "FastCharge_000025_CH8.csv").read_bytes().split(b"\n")
    bad_time = list(lines)
    fields = bad_time[5].split(b",")
    fields[1] = b"0:0x:1"  # Test_Time neither seconds nor h:mm:ss
    bad_time[5] = b",".join(fields)
    path = tmp_path / "bad-time.csv"
    path.write_bytes(b"\n".join(bad_time))
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path, format="arbin-csv")
    assert str(path) in str(err.value)
    odd = list(lines)
    odd[7] = odd[7].replace(b",", b",\x80", 1)  # not UTF-8, not GB18030
    path = tmp_path / "odd-byte.csv"
    path.write_bytes(b"\n".join(odd))
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path, format="arbin-csv")
    assert "byte 0x80 on line 8" in str(err.value) and str(path) in str(err.value)
