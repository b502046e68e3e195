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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    block_size_for,
    decode_head,
    line_chunks,
    looks_binary,
    offset_after_lines,
    truncated_error,
)
from casip.data.readers.neware_csv import (
    CAPACITY_UNITS,
    CURRENT_UNITS,
    ENERGY_UNITS,
    RESISTANCE_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
    CounterStream,
    _merge_sign_stats,
    _sign_stats,
    check_integers,
    column_numpy,
    complete_length,
    counter_cumulative,
    current_sign_check,
    cycles_from_one,
    detect_encoding,
    hms_seconds,
    read_csv_columns,
    sign_decision,
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


def _setup(path: Path) -> dict[str, Any]:
    """The header of a PEC export: its line, the columns by role, their units and types."""
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
    return {"head": head, "encoding": encoding, "lines": lines, "k": k, "tokens": tokens,
            "cols": cols, "units": units, "types": types}


def _test_time(table, units: dict, tokens: list, cols: dict, row0: int) -> np.ndarray:
    """Test time [s] of a table of data rows (``row0``: rows before it, for messages)."""
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
        raise CasipInputError(Problem("Total Time", f"missing time at data row {row0 + i + 1}"))
    return t


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
    ctx = _setup(path)
    lines, k, tokens, cols, units, types, encoding = (
        ctx[x] for x in ("lines", "k", "tokens", "cols", "units", "types", "encoding")
    )
    table, warnings = read_csv_columns(path, k, len(tokens), cols, types, ",", encoding)
    n = table.num_rows
    if n == 0:
        raise CasipInputError(Problem("", "no data rows after the data header"))

    def scaled(role: str, table_units: dict[str, float]) -> np.ndarray:
        return column_numpy(table, role) * unit_factor(units[role], table_units, tokens[cols[role]])

    data: dict[str, np.ndarray] = {}
    data["test_time_second"] = _test_time(table, units, tokens, cols, 0)
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


def _chunk_tables(path: Path, ctx: dict[str, Any], roles: list[str],
                  batch_rows: int) -> Iterator[pa.Table]:
    """The data rows of ``roles`` in tables of about ``batch_rows`` rows (line-aligned chunks)."""
    cols, types = ctx["cols"], ctx["types"]
    n_fields = len(ctx["tokens"])
    enc = ctx["encoding"]
    enc = "utf8" if enc in ("utf-8", "utf-8-sig", "utf8") else enc
    wanted = [r for r in roles if r in cols]
    options = {
        "read_options": pacsv.ReadOptions(column_names=[f"_c{j}" for j in range(n_fields)],
                                          encoding=enc),
        "parse_options": pacsv.ParseOptions(delimiter=","),
        "convert_options": pacsv.ConvertOptions(
            include_columns=[f"_c{cols[r]}" for r in wanted],
            column_types={f"_c{cols[r]}": types.get(r, pa.float64()) for r in wanted},
            strings_can_be_null=True,
        ),
    }
    start = offset_after_lines(path, ctx["k"] + 1)
    for chunk in line_chunks(path, start, block_size_for(ctx["head"], batch_rows)):
        try:
            table = pacsv.read_csv(pa.py_buffer(chunk), **options)
        except pa.ArrowInvalid:
            raise StreamFallback("a malformed data line") from None
        if table.num_rows:
            by_name = {f"_c{cols[r]}": r for r in wanted}
            yield table.rename_columns([by_name[c] for c in table.column_names])


def _sign_warning(decision: str) -> list[str]:
    """The warning :func:`current_sign_check` gives for ``decision``."""
    if decision == "invert":
        return current_sign_check(np.array([1.0]), np.array([True]), np.array([False]))[1]
    if decision == "magnitude":
        return current_sign_check(np.array([1.0, 1.0]), np.array([True, False]),
                                  np.array([False, True]))[1]
    return []


class _Rising:
    """Rows where a raw counter rises within a step run, batch by batch."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def push(self, role: str, x: np.ndarray, boundary: np.ndarray) -> np.ndarray:
        before = self.last.get(role, np.nan)
        self.last[role] = float(x[-1])
        return ~boundary & (np.diff(x, prepend=before) > 0)


class _Keys:
    """Step boundaries (a change of cycle or step) batch by batch."""

    def __init__(self) -> None:
        self.last: tuple[float, float] | None = None

    def push(self, cycle: np.ndarray, step: np.ndarray | None) -> np.ndarray:
        boundary = np.zeros(len(cycle), dtype=bool)
        for j, key in enumerate((cycle, step)):
            if key is None:
                continue
            boundary[1:] |= key[1:] != key[:-1]
            if self.last is not None:
                boundary[0] |= key[0] != self.last[j]
        if self.last is None:
            boundary[0] = True  # the first row never continues a run
        self.last = (cycle[-1], step[-1] if step is not None else np.nan)
        return boundary


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    A first pass over the cycle, step, current, counter and resistance columns takes the
    whole-file decisions (the current sign convention, a cycle count from 0, which resistance
    column holds values); the second yields the batches, carrying the counters' offsets over.
    Whether the wall-clock times are kept is taken from the first batch; a later batch that
    contradicts it has the file read whole (:class:`StreamFallback`); a cut last line is
    refused.
    """
    path = Path(path)
    ctx = _setup(path)
    tokens, cols, units = ctx["tokens"], ctx["cols"], ctx["units"]
    if complete_length(path, ",", len(tokens)) is not None:
        raise truncated_error(path)
    has_q = "qc" in cols and "qd" in cols

    # first pass: whole-file decisions
    first_cycle = np.nan
    min_cycle = np.inf
    any_voltage = False
    ir_pos = {"ir_dc": False, "ir_1": False}
    stats: list[np.ndarray | None] = [None, None]
    keys, rising = _Keys(), _Rising()
    rows = 0
    first_roles = ["cycle", "step_index", "voltage", "current", "qc", "qd", "ir_dc", "ir_1"]
    for table in _chunk_tables(path, ctx, first_roles, batch_rows):
        n = table.num_rows
        rows += n
        cycle = column_numpy(table, "cycle") if "cycle" in cols else np.zeros(n)
        check_integers(cycle, "Cycle")
        finite = cycle[np.isfinite(cycle)]
        if len(finite):
            if not np.isfinite(first_cycle):
                first_cycle = float(finite[0])
            min_cycle = min(min_cycle, float(finite.min()))
        v = column_numpy(table, "voltage")
        any_voltage |= bool(np.isfinite(v).any())
        for role in ir_pos:
            if role in cols and not ir_pos[role]:
                r = column_numpy(table, role)
                ir_pos[role] = bool(np.any(np.isfinite(r) & (r > 0)))
        step = column_numpy(table, "step_index") if "step_index" in cols else None
        if step is not None:
            check_integers(step, "Step")
        if has_q:
            boundary = keys.push(cycle, step)
            current = scaled_column(table, "current", units, tokens, cols, CURRENT_UNITS)
            dis = rising.push("qd", scaled_column(table, "qd", units, tokens, cols,
                                                  CAPACITY_UNITS), boundary)
            chg = rising.push("qc", scaled_column(table, "qc", units, tokens, cols,
                                                  CAPACITY_UNITS), boundary)
            nz = np.abs(current) > 0
            for j, sel in enumerate((dis, chg)):
                stats[j] = _merge_sign_stats(stats[j], _sign_stats(current[sel & nz]))
    if rows == 0:
        raise StreamFallback("no data rows")
    if not any_voltage:
        raise CasipInputError(Problem("Voltage", "no numeric voltage values"))
    shifted = first_cycle == 0 and min_cycle == 0
    sign = sign_decision(*stats) if stats[0] is not None else "keep"
    ir_role = next((r for r in ("ir_dc", "ir_1") if ir_pos[r]), None)

    # second pass: the batches
    keys, rising = _Keys(), _Rising()
    counters = {r: CounterStream() for r in ("qc", "qd", "ec", "ed")}
    unix_kept: bool | None = None
    how_first: str | None = None
    row = 0
    for table in _chunk_tables(path, ctx, list(cols), batch_rows):
        n = table.num_rows
        warnings: list[str] = []
        data: dict[str, np.ndarray] = {}
        data["test_time_second"] = _test_time(table, units, tokens, cols, row)
        data["voltage_volt"] = scaled_column(table, "voltage", units, tokens, cols, VOLTAGE_UNITS)
        current = scaled_column(table, "current", units, tokens, cols, CURRENT_UNITS)
        cycle = column_numpy(table, "cycle") if "cycle" in cols else np.zeros(n)
        step = column_numpy(table, "step_index") if "step_index" in cols else None
        if step is not None:
            data["step_index"] = step
        boundary = keys.push(cycle, step)
        data["cycle_count"] = cycle + 1 if shifted else cycle
        raw: dict[str, np.ndarray] = {}
        for role, name, table_units in (
            ("qc", "charging_capacity_ah", CAPACITY_UNITS),
            ("qd", "discharging_capacity_ah", CAPACITY_UNITS),
            ("ec", "charging_energy_wh", ENERGY_UNITS),
            ("ed", "discharging_energy_wh", ENERGY_UNITS),
        ):
            if role in cols:
                raw[role] = scaled_column(table, role, units, tokens, cols, table_units)
                data[name] = counters[role].push(raw[role], boundary)
        if has_q:
            dis = rising.push("qd", raw["qd"], boundary)
            rising.push("qc", raw["qc"], boundary)
            if sign == "invert":
                current = -current
            elif sign == "magnitude":
                current = np.where(dis, -np.abs(current), current)
            if row == 0:
                warnings += _sign_warning(sign)
        data["current_ampere"] = current
        if "ambient" in cols:
            data["ambient_temperature_celsius"] = column_numpy(table, "ambient")
        if "surface" in cols:
            data["surface_temperature_celsius"] = column_numpy(table, "surface")
        if ir_role is not None:
            r = scaled_column(table, ir_role, units, tokens, cols, RESISTANCE_UNITS)
            data["internal_resistance_ohm"] = np.where(r > 0, r, np.nan)
        if "date" in cols:
            how: list[str] = []
            unix = to_unix_seconds(table.column("date"), _DATE_FORMATS, how=how)
            finite = bool(np.isfinite(unix).any())
            if unix_kept is None:
                unix_kept, how_first = finite, how[0]
                if finite:
                    warnings.append(
                        "the file's wall-clock times carry no time zone; unix_time_second reads "
                        "them as UTC"
                    )
            elif how[0] != how_first or (finite and not unix_kept):
                raise StreamFallback("the wall-clock times differ between batches")
            if unix_kept:
                data["unix_time_second"] = unix
        if shifted and row == 0:
            warnings.append("the file counts cycles from 0; cycle_count = the file's cycle + 1")
        row += n
        yield RawReading(data=pd.DataFrame(data), metadata={}, warnings=warnings)
    lines, k = ctx["lines"], ctx["k"]
    first = next(csv.reader(io.StringIO(lines[k + 1])), []) if len(lines) > k + 1 else []
    first_row = {tok: v.strip() for tok, v in zip(tokens, first, strict=False)}
    yield RawReading(data=pd.DataFrame(), metadata=_metadata(lines[:k], first_row), warnings=[])


def scaled_column(table: pa.Table, role: str, units: dict[str, str], tokens: list[str],
                  cols: dict[str, int], table_units: dict[str, float]) -> np.ndarray:
    """A numeric column of ``table`` in SI units (its unit from the header)."""
    return column_numpy(table, role) * unit_factor(units[role], table_units, tokens[cols[role]])
