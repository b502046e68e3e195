"""PEC tester CSV exports (SBT series): a block of ``Key:,value`` metadata, then the data.

Hand-written on pyarrow's CSV reader. The maintained reader for this export, cellpy's
``pec_csv`` loader (MIT), reads the values but copies the source file into the system
temporary folder and leaves that copy behind, readable by every user (seen with cellpy 1.0.3:
``/tmp/pec.csv``, mode 0444), parses the file three times with pandas' default inference, and
tests ``0 in series`` (the index, not the values) to decide whether to shift cycle numbers. No
other permissively licensed PEC reader exists.

What the tester writes, and what this module makes of it:

- a metadata block of ``Key:,value`` lines (``Test:``, ``TestRegime Name:``, ``Start Time:``,
  ``Test Temp:``...), possibly a ``#RESULTS CHECK`` ... ``#END RESULTS CHECK`` block, then the
  column header ``Test,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,Total Time (Seconds),...``;
- units are in the column names and are read from them: ``Voltage (mV)`` or ``(V)``,
  ``Current (mA)`` or ``(A)``, ``Charge Capacity (mAh)``, energies as ``Charge Capacity (mWh)``
  (PEC calls them capacities; the unit tells them apart); times in ``(Seconds)``,
  ``(Minutes)``, ``(Decimal Hours)`` or ``(Hours in hh:mm:ss.xxx)``;
- **sign convention**: PEC writes discharge current negative, the BDF convention; current is
  kept as written (a file whose discharge counter rises while the current is positive is
  flipped, with a warning);
- **counters reset at every cycle** (they hold their value across the steps of a cycle and
  restart at the next cycle); they are made cumulative from the test start;
- ``Cycle`` counts from 0: ``cycle_count`` is the file's cycle + 1 (as cellpy does); ``Step``
  is the step number in the test regime;
- ``Real Time`` is the wall-clock time (``MM/DD/YYYY hh:mm:ss``) **without a time zone**:
  ``unix_time_second`` reads it as UTC (and says so in a warning);
- temperatures ``Ambient temperature (°C)`` and ``Cell surface temperature (°C)`` are logged on
  some rows only (the others are empty and stay NaN); internal resistance columns that hold
  only zeros (not measured) are left out;
- metadata: ``TestRegime Name`` -> schedule, ``Start Time`` -> start time, a numeric
  ``Test Temp`` -> temperature, the rack/shelf/position of the first data row -> channel,
  ``Cell ID`` -> cell id; every other non-empty header field goes to ``extra``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from casip.data.readers._base import HEAD_BYTES, RawReading, decode_head, looks_binary
from casip.data.readers.neware_csv import (
    CAPACITY_UNITS,
    CURRENT_UNITS,
    ENERGY_UNITS,
    RESISTANCE_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
    check_integers,
    column_numpy,
    counter_cumulative,
    current_sign_check,
    cycles_from_one,
    detect_encoding,
    hms_seconds,
    read_csv_columns,
    split_name_unit,
    step_runs,
    to_unix_seconds,
    unit_factor,
)
from casip.errors import CasipInputError, Problem

FORMAT = "pec-csv"
VENDOR = "PEC"
DESCRIPTION = "PEC tester CSV export (metadata block, then data)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

_DATE_FORMATS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
                 "%Y-%m-%d %H:%M:%S")
_META_KEYS = ("request year:", "testregime name:", "testregime suffix:", "project group name:",
              "number of cells:", "start time:", "#results check")


def _header_index(lines: list[str]) -> int | None:
    """Index of the data column header among ``lines``."""
    for k, line in enumerate(lines):
        tokens = {split_name_unit(t)[0] for t in line.split(",")}
        if {"test", "cell", "step", "cycle"} <= tokens and "voltage" in tokens and (
            "current" in tokens
        ):
            return k
    return None


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a PEC export.

    Parameters
    ----------
    head : bytes
        The first 64 KiB of the file.
    name : str
        The file name (not used: the content decides).

    Returns
    -------
    float
        0.95 for PEC's data header (``Test,Cell,...,Step,Cycle,Total Time (...),...``) with
        PEC's metadata keys or time units; 0.6 for a PEC metadata block alone; else 0.
    """
    if not head or looks_binary(head):
        return 0.0
    lines = decode_head(head).splitlines()
    has_header = _header_index(lines[:400]) is not None
    meta = sum(any(ln.strip().lower().startswith(k) for k in _META_KEYS) for ln in lines[:60])
    if has_header and (meta or any("total time (" in ln.lower() for ln in lines[:400])):
        return 0.95
    if meta >= 3:
        return 0.6  # a PEC metadata block whose data header is beyond the head
    return 0.0


def _parse_date(value: str) -> _dt.datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def _metadata(block: list[str], first_row: dict[str, str]) -> dict[str, Any]:
    """TestMetadata fields and ``extra`` from the header block and the first data row."""
    meta: dict[str, Any] = {"tester": "PEC"}
    extra: dict[str, Any] = {}
    in_check = False
    for line in block:
        s = line.strip()
        if s.upper().startswith("#END RESULTS CHECK"):
            in_check = False
            continue
        if s.upper().startswith("#RESULTS CHECK"):
            in_check = True
            continue
        if in_check or ":" not in s.split(",", 1)[0]:
            continue
        key, _, value = s.partition(",")
        key = key.strip().rstrip(":").strip()
        value = value.strip().strip(",").strip().strip('"')
        if not key or not value:
            continue
        if key == "TestRegime Name":
            meta["schedule"] = value
        elif key == "Start Time" and (when := _parse_date(value)) is not None:
            meta["start_time"] = when
        elif key == "Test Temp" and (m := re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*°?\s*C?", value)):
            meta["temperature_celsius"] = float(m.group(1))
        else:
            extra[key] = value
    rack = first_row.get("Rack", "")
    shelf = first_row.get("Shelf", "")
    pos = first_row.get("Position", "")
    if rack or shelf or pos:
        meta["channel"] = f"rack {rack} shelf {shelf} position {pos}".strip()
    if first_row.get("Cell ID"):
        meta["cell_id"] = first_row["Cell ID"]
    for k in ("Test", "Cell"):
        if first_row.get(k):
            extra[f"{k.lower()}_number"] = first_row[k]
    if extra:
        meta["extra"] = extra
    return meta


#: PEC column name (without unit, lower case) -> role
_ROLES = {
    "cycle": "cycle",
    "step": "step_index",
    "total time": "test_time",
    "real time": "date",
    "voltage": "voltage",
    "current": "current",
    "charge capacity": "charge",
    "discharge capacity": "discharge",
    "charge energy": "charge",
    "discharge energy": "discharge",
    "ambient temperature": "ambient",
    "cell surface temperature": "surface",
    "dc internal resistance": "ir_dc",
    "internal resistance 1": "ir_1",
}


def read(path: Path) -> RawReading:
    """Read a PEC CSV export into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The export; read in place, never written.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units (current positive on charge, counters
        cumulative, cycles from 1), the header's metadata, and warnings.

    Raises
    ------
    CasipInputError
        No data header, no data rows, a malformed line or value, an unknown unit.
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise CasipInputError(Problem("", "the file is empty"))
    if looks_binary(head):
        raise CasipInputError(Problem("", "binary content, not a PEC CSV export"))
    encoding = detect_encoding(head)
    lines = head.decode(encoding, errors="replace").lstrip("\ufeff").splitlines()
    k = _header_index(lines[:-1])  # the last line of the head may be cut
    if k is None:
        raise CasipInputError(
            Problem("", "no PEC data header found", None,
                    "a line 'Test,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,...'")
        )
    tokens = [t.strip() for t in lines[k].split(",")]
    # columns by role: capacities and energies share names and differ by unit
    cols: dict[str, int] = {}
    units: dict[str, str] = {}
    for j, tok in enumerate(tokens):
        base, unit = split_name_unit(tok)
        role = _ROLES.get(base)
        if role in ("charge", "discharge"):
            key = unit.lower().replace(" ", "")
            if key not in CAPACITY_UNITS and key not in ENERGY_UNITS:
                raise CasipInputError(Problem(tok, "unknown unit", unit, "Ah, mAh, Wh or mWh"))
            role = ("q" if key in CAPACITY_UNITS else "e") + ("c" if role == "charge" else "d")
        if role and role not in cols:
            cols[role] = j
            units[role] = unit
    missing = [r for r in ("voltage", "current", "test_time") if r not in cols]
    if missing:
        raise CasipInputError(
            Problem("", "the data header lacks " + ", ".join(missing), None,
                    "Voltage, Current and Total Time columns")
        )
    types: dict[str, pa.DataType] = {r: pa.float64() for r in cols}
    types["date"] = pa.string()
    if units["test_time"].lower() not in TIME_UNITS:
        types["test_time"] = pa.string()
    types = {r: t for r, t in types.items() if r in cols}
    table, warnings = read_csv_columns(path, k, len(tokens), cols, types, ",", encoding)
    n = table.num_rows
    if n == 0:
        raise CasipInputError(Problem("", "no data rows after the data header"))

    def scaled(role: str, table_units: dict[str, float]) -> np.ndarray:
        return column_numpy(table, role) * unit_factor(units[role], table_units, tokens[cols[role]])

    data: dict[str, np.ndarray] = {}
    tunit = units["test_time"].lower()
    if tunit in TIME_UNITS:
        t = column_numpy(table, "test_time") * TIME_UNITS[tunit]
    else:
        try:
            t = hms_seconds(table.column("test_time"))
        except (ValueError, pa.ArrowInvalid) as exc:
            raise CasipInputError(Problem(tokens[cols["test_time"]], str(exc))) from None
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise CasipInputError(Problem("Total Time", f"missing time at data row {i + 1}"))
    data["test_time_second"] = t
    data["voltage_volt"] = scaled("voltage", VOLTAGE_UNITS)
    if not np.isfinite(data["voltage_volt"]).any():
        raise CasipInputError(Problem("Voltage", "no numeric voltage values"))
    current = scaled("current", CURRENT_UNITS)
    cycle = column_numpy(table, "cycle") if "cycle" in cols else np.zeros(n)
    check_integers(cycle, "Cycle")
    step = column_numpy(table, "step_index") if "step_index" in cols else None
    if step is not None:
        check_integers(step, "Step")
        data["step_index"] = step
    runs = step_runs(cycle, step) if step is not None else step_runs(cycle)
    cycle, shifted = cycles_from_one(cycle)
    data["cycle_count"] = cycle
    raw: dict[str, np.ndarray] = {}
    for role, name, table_units in (
        ("qc", "charging_capacity_ah", CAPACITY_UNITS),
        ("qd", "discharging_capacity_ah", CAPACITY_UNITS),
        ("ec", "charging_energy_wh", ENERGY_UNITS),
        ("ed", "discharging_energy_wh", ENERGY_UNITS),
    ):
        if role in cols:
            raw[role] = scaled(role, table_units)
            data[name], _ = counter_cumulative(raw[role], runs)
    if "qc" in raw and "qd" in raw:
        same = np.r_[False, runs[1:] == runs[:-1]]
        rising_d = same & np.r_[False, np.diff(raw["qd"]) > 0]
        rising_c = same & np.r_[False, np.diff(raw["qc"]) > 0]
        current, more = current_sign_check(current, rising_d, rising_c)
        warnings += more
    data["current_ampere"] = current
    if "ambient" in cols:
        data["ambient_temperature_celsius"] = column_numpy(table, "ambient")
    if "surface" in cols:
        data["surface_temperature_celsius"] = column_numpy(table, "surface")
    for role in ("ir_dc", "ir_1"):
        if role in cols:
            r = scaled(role, RESISTANCE_UNITS)
            if np.any(np.isfinite(r) & (r > 0)):
                data["internal_resistance_ohm"] = np.where(r > 0, r, np.nan)
                break
    if "date" in cols:
        unix = to_unix_seconds(table.column("date"), _DATE_FORMATS)
        if np.isfinite(unix).any():
            data["unix_time_second"] = unix
            warnings.append(
                "the file's wall-clock times carry no time zone; unix_time_second reads them "
                "as UTC"
            )
    if shifted:
        warnings.append("the file counts cycles from 0; cycle_count = the file's cycle + 1")
    first = next(csv.reader(io.StringIO(lines[k + 1])), []) if len(lines) > k + 1 else []
    first_row = {tok: v.strip() for tok, v in zip(tokens, first, strict=False)}
    metadata = _metadata(lines[:k], first_row)
    return RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)
