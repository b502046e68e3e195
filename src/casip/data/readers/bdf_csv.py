"""Battery Data Format (BDF) CSV: files already in the Battery Data Alliance's schema.

Hand-written: the format is plain CSV whose header uses BDF column names (machine names such as
``test_time_second`` or human labels such as ``Test Time / s``), so pyarrow's CSV reader does the
parsing and this module only maps names. No separate BDF reader package is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from casip.data import schema
from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    block_size_for,
    decode_head,
    first_line,
    header_tokens,
    line_chunks,
    offset_after_lines,
)
from casip.data.readers.bitrode_csv import check_last_row
from casip.errors import CasipInputError, Problem

FORMAT = "bdf-csv"
VENDOR = "any (Battery Data Format)"
DESCRIPTION = "Battery Data Format CSV (machine names or human labels)"
EXTENSIONS = (".bdf.csv", ".csv", ".bdf")
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: BDF human labels and alternative machine names -> CASIP (BDF) machine names.
ALIASES = {
    "test time / s": "test_time_second",
    "voltage / v": "voltage_volt",
    "current / a": "current_ampere",
    "unix time / s": "unix_time_second",
    "cycle count / 1": "cycle_count",
    "cycle_dimensionless": "cycle_count",
    "step count / 1": "step_count",
    "step index / 1": "step_index",
    "charging capacity / ah": "charging_capacity_ah",
    "discharging capacity / ah": "discharging_capacity_ah",
    "charging energy / wh": "charging_energy_wh",
    "discharging energy / wh": "discharging_energy_wh",
    "charging_capacity_ampere_hour": "charging_capacity_ah",
    "discharging_capacity_ampere_hour": "discharging_capacity_ah",
    "charging_energy_watt_hour": "charging_energy_wh",
    "discharging_energy_watt_hour": "discharging_energy_wh",
    "ambient temperature / degc": "ambient_temperature_celsius",
    "ambient_temperature_degc": "ambient_temperature_celsius",
    "surface temperature / degc": "surface_temperature_celsius",
    "internal resistance / ohm": "internal_resistance_ohm",
    "applied pressure / pa": "applied_pressure_pa",
    "applied_pressure_pascal": "applied_pressure_pa",
}


def _canonical(token: str) -> str | None:
    t = token.strip()
    if t in schema.COLUMNS:
        return t
    return ALIASES.get(t.lower())


def sniff(head: bytes, name: str) -> float:
    tokens = header_tokens(first_line(decode_head(head)))
    known = [_canonical(t) for t in tokens]
    required = {"test_time_second", "voltage_volt", "current_ampere"}
    if required <= set(known):
        return 0.95
    return 0.0


def _mapping(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Header name -> BDF name for the columns kept, and the names left out."""
    rename: dict[str, str] = {}
    dropped = []
    for col in names:
        canon = _canonical(col)
        if canon and canon != "step_type" and canon not in rename.values():
            rename[col] = canon
        else:
            dropped.append(col)
    return rename, dropped


def _warnings(dropped: list[str]) -> list[str]:
    if dropped:
        return [f"columns outside the schema were left out: {', '.join(dropped)}"]
    return []


def _check_tail(path: Path) -> None:
    """Refuse a file whose last row is cut short (fewer fields than the header line)."""
    with Path(path).open("rb") as fh:
        header = fh.readline()
    check_last_row(Path(path), header.count(b",") + 1, what="BDF CSV")


def read(path: Path) -> RawReading:
    _check_tail(path)
    try:
        table = pacsv.read_csv(path)
    except Exception as exc:
        raise CasipInputError(Problem("", f"not a readable BDF CSV: {exc}")) from None
    rename, dropped = _mapping(table.column_names)
    df = table.select(list(rename)).rename_columns(list(rename.values())).to_pandas()
    return RawReading(data=df, metadata={}, warnings=_warnings(dropped))


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (line-aligned chunks, each parsed
    by pyarrow; see :func:`casip.data.readers._base.line_chunks`).

    The kept columns are read as float64 (``read`` infers types and the normaliser converts
    them to float64, so the values are the same); a column that is not numeric throughout
    makes pyarrow fail, and the file is then read whole.
    """
    _check_tail(path)
    with Path(path).open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    header = pacsv.read_csv(pa.py_buffer(head[: head.find(b"\n") + 1] or head))
    names = header.column_names
    rename, dropped = _mapping(names)
    if len(set(names)) != len(names) or b"\n" not in head:
        raise StreamFallback("repeated column names, or a header line longer than 64 KiB")
    options = {
        "read_options": pacsv.ReadOptions(column_names=names),
        "convert_options": pacsv.ConvertOptions(
            include_columns=list(rename), column_types={c: pa.float64() for c in rename}
        ),
    }
    warnings = _warnings(dropped)
    start = offset_after_lines(path, 1)
    for chunk in line_chunks(path, start, block_size_for(head, batch_rows)):
        table = pacsv.read_csv(pa.py_buffer(chunk), **options).select(list(rename))
        df = table.rename_columns(list(rename.values())).to_pandas()
        yield RawReading(data=df, metadata={}, warnings=warnings)
