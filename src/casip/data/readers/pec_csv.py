"""PEC tester CSV exports (SBT series): a block of ``Key:,value`` metadata, then the data.

Read by the table engine of :mod:`casip.data.readers.tabular`: :data:`SPEC` states the layout
as data, and what PEC does its own way is a hook. The maintained reader for this export,
cellpy's ``pec_csv`` loader (MIT), reads the values but copies the source file into the system
temporary folder and leaves that copy behind, readable by every user (seen with cellpy 1.0.3:
``/tmp/pec.csv``, mode 0444), parses the file three times with pandas' default inference, and
tests ``0 in series`` (the index, not the values) to decide whether to shift cycle numbers. No
other permissively licensed PEC reader exists.

What the tester writes (the shared ``pec.csv``, from cellpy's test data, and the layout
cellpy's loader documents):

- a metadata block of ``Key:,value`` lines (``Test:``, ``TestRegime Name:``, ``Start Time:``,
  ``Test Temp:``...), possibly a ``#RESULTS CHECK`` ... ``#END RESULTS CHECK`` block, then the
  column header ``Test,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,Total Time (Seconds),...``;
- units are in the column names: ``Voltage (mV)`` or ``(V)``, ``Current (mA)`` or ``(A)``,
  ``Charge Capacity (mAh)``, energies as ``Charge Capacity (mWh)`` (PEC calls them
  capacities; only the unit tells them apart); times in ``(Seconds)``, ``(Minutes)``,
  ``(Decimal Hours)`` or ``(Hours in hh:mm:ss.xxx)``;
- **sign convention**: discharge current negative (the BDF convention);
- **counters reset at every cycle** (they hold their value across the steps of a cycle and
  restart at the next cycle);
- ``Cycle`` counts from 0; ``Step`` is the step number in the test regime;
- ``Real Time`` is the wall-clock time (``MM/DD/YYYY hh:mm:ss``) **without a time zone**;
- temperatures ``Ambient temperature (°C)`` and ``Cell surface temperature (°C)`` are logged on
  some rows only (the others are empty); internal resistance columns may hold only zeros (not
  measured).

What is data (:data:`SPEC`): the column names and the units each may carry (``Total Time``
in any time unit or ``h:mm:ss``; voltage, current, the temperatures, whose empty cells stay
NaN), ``Cycle`` and ``Step``; the delimiter that ends every line (the engine's row width).
The four counters are columns of this format's own (``x_qc:mah``, ``x_ed:wh``...): one per
name *and unit*, generated from the unit tables, because the engine tells columns apart by
name and PEC's energies share the capacities' names.

What is a hook (PEC-specific):

- the metadata block (:func:`_header`): ``TestRegime Name`` -> schedule, ``Start Time`` ->
  start time, a numeric ``Test Temp`` -> temperature, every other non-empty field (outside the
  results-check block) -> ``extra``; the rack/shelf/position and ``Cell ID`` of the first data
  row -> channel and cell id (read from the file's head by :func:`iter_batches`);
- the counters (:func:`_batch`): made cumulative from the test start where they fall at a step
  or cycle boundary (:class:`casip.data.readers.neware_csv.CounterStream`, the rule PEC had
  before the engine: a counter that holds its value over the steps of a cycle is never
  counted twice);
- ``Real Time`` (a role of the format's own): read in PEC's one date form as UTC, with a
  warning; a clock that steps back (a daylight-saving change, a clock correction) is kept as
  written, where the engine's date-order guess would refuse it;
- the cycles: ``cycle_count`` is the file's cycle + 1 when the file counts from 0 (as cellpy
  does), with a warning;
- the current sign: a file whose discharge counter rises while the current is positive is
  flipped (or its discharge rows made negative where it writes magnitudes), with a warning.
  Decided on the rows read so far: a later batch that changes the decision (or the cycle
  numbering) raises :class:`StreamFallback`, and the file is read whole;
- the internal resistance: the first of ``DC Internal Resistance`` and ``Internal Resistance
  1`` that holds a value above 0 (0 means not measured and is read as missing); a first pass
  over those columns decides when streaming, and the reading uses the spec with that one
  column (:data:`_SPECS`), so every batch has the same columns (read whole, the hook sees
  every row and chooses);
- the header line (the PEC columns ``Test``, ``Cell``, ``Step``, ``Cycle`` with voltage and
  current), the error wording of earlier versions (``no PEC data header found``, ``unreadable
  data``), and a missing test time, which is refused.

A last line cut short (a truncated file) is refused by the engine
(:func:`casip.data.readers._base.truncated_error`).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
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
    decode_head,
    line_chunks,
    looks_binary,
    merge_metadata,
    offset_after_lines,
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
    current_sign_check,
    sign_decision,
    split_name_unit,
    to_unix_seconds,
)
from casip.data.readers.tabular import (
    Column,
    Hooks,
    Layout,
    TableAdapter,
    TableFormat,
    iter_table,
    norm,
    probe,
    row_width,
    split_unit,
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

# --------------------------------------------------------------------------------------------
# the layout as data
# --------------------------------------------------------------------------------------------

def _counter_roles() -> dict[str, tuple[str, float, tuple[str, ...]]]:
    """Counter role -> (BDF column, factor to Ah or Wh, header names): one per unit, as PEC
    writes energies under the capacities' names (``Charge Capacity (mWh)``)."""
    out = {}
    for key, name in (("c", "Charge"), ("d", "Discharge")):
        for kind, units, col in (("q", CAPACITY_UNITS, "capacity_ah"),
                                 ("e", ENERGY_UNITS, "energy_wh")):
            for unit, factor in units.items():
                out[f"x_{kind}{key}:{unit}"] = (
                    f"{'dis' if key == 'd' else ''}charging_{col}", factor,
                    (f"{name} Capacity ({unit})", f"{name} Energy ({unit})"))
    return out


#: counter role -> (BDF column, factor to Ah or Wh, header names)
_COUNTERS = _counter_roles()
_COUNTER_STEMS = {norm(f"{a} {b}") for a in ("Charge", "Discharge") for b in ("Capacity",
                                                                               "Energy")}
_CELSIUS = {"°c": 1.0, "c": 1.0, "degc": 1.0, "deg c": 1.0}
#: internal resistance columns, in the order they are preferred
_RESISTANCE = {"x_ir_dc": "DC Internal Resistance", "x_ir_1": "Internal Resistance 1"}

_COLUMNS = (
    Column("cycle", ("Cycle",)),
    Column("step", ("Step",)),
    Column("time", ("Total Time",), {**TIME_UNITS, "hours in hh:mm:ss.xxx": 1.0}, "s"),
    Column("x_date", ("Real Time",), kind="label"),
    Column("voltage", ("Voltage",), VOLTAGE_UNITS),
    Column("current", ("Current",), CURRENT_UNITS),
    Column("ambient_temperature", ("Ambient temperature",), _CELSIUS, "°c"),
    Column("temperature", ("Cell surface temperature",), _CELSIUS, "°c"),
    *(Column(role, names, kind="number") for role, (_, _, names) in _COUNTERS.items()),
)


def _with_resistance(role: str | None) -> tuple[Column, ...]:
    """The columns, with the one resistance column read as ``x_ir`` (or none)."""
    if role is None:
        return _COLUMNS
    return (*_COLUMNS, Column("x_ir", (_RESISTANCE[role],), RESISTANCE_UNITS, kind="number"))


# --------------------------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------------------------


def _parse_date(value: str) -> _dt.datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return _dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    """TestMetadata fields and ``extra`` from the metadata block above the column header."""
    meta: dict[str, Any] = {"start_time": None}
    extra: dict[str, Any] = {}
    in_check = False
    for line in preamble:
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
    meta["extra"] = extra
    return meta


def _first_row(head: bytes, layout: Layout) -> dict[str, Any]:
    """Channel, cell id and test/cell numbers from the first data row in ``head``."""
    lines = decode_head(head).splitlines()
    k = layout.header_line + 1
    first = next(csv.reader(io.StringIO(lines[k])), []) if len(lines) > k else []
    row = {tok: v.strip() for tok, v in zip(layout.tokens, first, strict=False)}
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    rack, shelf, pos = (row.get(c, "") for c in ("Rack", "Shelf", "Position"))
    if rack or shelf or pos:
        meta["channel"] = f"rack {rack} shelf {shelf} position {pos}".strip()
    if row.get("Cell ID"):
        meta["cell_id"] = row["Cell ID"]
    for c in ("Test", "Cell"):
        if row.get(c):
            extra[f"{c.lower()}_number"] = row[c]
    if extra:
        meta["extra"] = extra
    return meta


def _boundaries(values: Mapping[str, Any], state: dict) -> np.ndarray:
    """Step boundaries (a change of cycle or step) before each row, across batches."""
    keys = [np.asarray(values[r], dtype=float) for r in ("cycle", "step") if r in values]
    n = len(keys[0]) if keys else 0
    boundary = np.zeros(n, dtype=bool)
    last = state.get("last_keys")
    for j, key in enumerate(keys):
        boundary[1:] |= key[1:] != key[:-1]
        if last is not None and n:
            boundary[0] |= key[0] != last[j]
    if last is None and n:
        boundary[0] = True  # the first row never continues a run
    if n:
        state["last_keys"] = [k[-1] for k in keys]
    return boundary


def _decide(state: dict, name: str, value: Any) -> Any:
    """Keep the first batch's decision ``name``; a later batch that changes it: read whole."""
    if name not in state:
        state[name] = value
    elif state[name] != value:
        raise StreamFallback(f"the file's {name} decision changed in a later batch")
    return state[name]


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """PEC's counters, cycle numbering, current sign and resistance for one batch."""
    n = len(frame)
    row0 = state.get("rows", 0)
    state["rows"] = row0 + n
    t = frame["test_time_second"].to_numpy(float)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise CasipInputError(Problem("Total Time", f"missing time at data row {row0 + i + 1}"))
    state["voltage"] = state.get("voltage", False) or bool(
        np.isfinite(frame["voltage_volt"].to_numpy(float)).any())
    cycle = np.asarray(values["cycle"], dtype=float) if "cycle" in values else np.zeros(n)
    check_integers(cycle, "Cycle")
    if "step" in values:
        check_integers(np.asarray(values["step"], dtype=float), "Step")
    # cycles from 0: the file's first cycle is 0 and none is below it
    finite = cycle[np.isfinite(cycle)]
    if len(finite):
        first = state.setdefault("first_cycle", float(finite[0]))
        state["min_cycle"] = min(state.get("min_cycle", np.inf), float(finite.min()))
        shifted = _decide(state, "cycle numbering", first == 0 and state["min_cycle"] == 0)
    else:
        shifted = state.get("cycle numbering", False)
    frame["cycle_count"] = cycle + 1 if shifted else cycle
    # counters, cumulative from the test start
    boundary = _boundaries(values, state)
    streams = state.setdefault("counters", {})
    raw: dict[str, np.ndarray] = {}
    for role, v in values.items():
        if role in _COUNTERS:
            col, factor, _ = _COUNTERS[role]
            if col in raw:
                continue  # the first column of a kind is read
            raw[col] = np.asarray(v, dtype=float) * factor
            frame[col] = streams.setdefault(col, CounterStream()).push(raw[col], boundary)
    # the current sign, from the rows where a counter rises within a step
    current = frame["current_ampere"].to_numpy(float)
    if "charging_capacity_ah" in raw and "discharging_capacity_ah" in raw:
        rising = []
        last = state.setdefault("last_q", {})
        for col in ("discharging_capacity_ah", "charging_capacity_ah"):
            x = raw[col]
            rising.append(~boundary & (np.diff(x, prepend=last.get(col, np.nan)) > 0))
            if n:
                last[col] = float(x[-1])
        stats = state.setdefault("sign_stats", [None, None])
        nz = np.abs(current) > 0
        for j, rows in enumerate(rising):
            stats[j] = _merge_sign_stats(stats[j], _sign_stats(current[rows & nz]))
        sign = _decide(state, "current sign", sign_decision(*stats))
        if sign == "invert":
            frame["current_ampere"] = -current
        elif sign == "magnitude":
            frame["current_ampere"] = np.where(rising[0], -np.abs(current), current)
    if "x_date" in values:  # PEC's one date form; a clock that steps back is kept as written
        how: list[str] = []
        unix = to_unix_seconds(pa.array(values["x_date"], type=pa.string(), from_pandas=True),
                               _DATE_FORMATS, how=how)
        finite = bool(np.isfinite(unix).any())
        kept, form = state.setdefault("clock", (finite, how[0]))
        if how[0] != form or (finite and not kept):
            raise StreamFallback("the wall-clock times differ between batches")
        if kept:
            frame["unix_time_second"] = unix
    # the resistance: the column the first pass chose (``x_ir``), or, reading the whole file
    # as one batch, the first column that holds a value above 0
    for role in ("x_ir", *_RESISTANCE):
        r = np.asarray(values.get(role, ()), dtype=float)
        if (role == "x_ir" and role in values) or (np.isfinite(r) & (r > 0)).any():
            frame["internal_resistance_ohm"] = np.where(r > 0, r, np.nan)
            break
    return frame


def _sign_warning(decision: str | None) -> list[str]:
    """The warning :func:`current_sign_check` gives for ``decision``."""
    if decision == "invert":
        return current_sign_check(np.array([1.0]), np.array([True]), np.array([False]))[1]
    if decision == "magnitude":
        return current_sign_check(np.array([1.0, 1.0]), np.array([True, False]),
                                  np.array([False, True]))[1]
    return []


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """Refuse a file without a voltage value; the warnings of the whole-file decisions."""
    if not state.get("voltage"):
        raise CasipInputError(Problem("Voltage", "no numeric voltage values"))
    notes = _sign_warning(state.get("current sign"))
    if state.get("clock", (False,))[0]:
        notes.append("the file's wall-clock times carry no time zone; unix_time_second reads "
                     "them as UTC")
    if state.get("cycle numbering"):
        notes.append("the file counts cycles from 0; cycle_count = the file's cycle + 1")
    return {}, notes


#: the layout, with both resistance columns (recognition, the first pass, a whole-file read)
SPEC = TableFormat(
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source=("PEC SBT tester CSV export as in cellpy's test data (the shared pec.csv) and the "
            "column layout of cellpy's pec_csv loader (MIT)"),
    columns=(*_COLUMNS, *(Column(role, (name,), RESISTANCE_UNITS, kind="number")
                          for role, name in _RESISTANCE.items())),
    required=("time", "voltage", "current", "cycle", "step"),
    hooks=Hooks(header=_header, batch=_batch, finish=_finish),
    preamble_metadata=False,  # the header hook reads the block
)
#: the spec read for each choice of resistance column (a few fixed objects, made once)
_SPECS = {role: replace(SPEC, columns=_with_resistance(role)) for role in (None, *_RESISTANCE)}
_ADAPTER = TableAdapter(SPEC)


# --------------------------------------------------------------------------------------------
# recognition, the header checks and the first pass
# --------------------------------------------------------------------------------------------


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
        PEC's metadata keys or time units, when the table engine reads it as :data:`SPEC`;
        0.6 for a PEC metadata block alone; else 0.
    """
    if not head or looks_binary(head):
        return 0.0
    lines = decode_head(head).splitlines()
    has_header = _header_index(lines[:400]) is not None
    meta = sum(any(ln.strip().lower().startswith(k) for k in _META_KEYS) for ln in lines[:60])
    if has_header and (meta or any("total time (" in ln.lower() for ln in lines[:400])):
        return 0.95 if _ADAPTER.sniff(head, name) > 0 else 0.0
    if meta >= 3:
        return 0.6  # a PEC metadata block whose data header is beyond the head
    return 0.0


def _layout(path: Path) -> tuple[bytes, Layout, int]:
    """The head, the engine's layout and the fields per row of a PEC export.

    PEC's own header checks; the number of fields counts the empty one after the delimiter
    that ends PEC's header and data lines.
    """
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise CasipInputError(Problem("", "the file is empty"))
    if looks_binary(head):
        raise CasipInputError(Problem("", "binary content, not a PEC CSV export"))
    lines = decode_head(head).splitlines()
    k = _header_index(lines[:-1])  # the last line of the head may be cut
    layout = probe(SPEC, head, str(path)) if k is not None else None
    if layout is None or layout.header_line != k:
        raise CasipInputError(
            Problem("", "no PEC data header found", None,
                    "a line 'Test,Cell,Rack,Shelf,Position,Cell ID,Step,Cycle,Total Time (...),"
                    "...,Voltage (...),Current (...)'")
        )
    if "time" not in layout.roles:
        raise CasipInputError(Problem("", "the data header lacks test_time", None,
                                      "Voltage, Current and Total Time columns"))
    for tok in layout.tokens:
        name, unit = split_unit(tok)
        if norm(name) in _COUNTER_STEMS and norm(tok) not in SPEC.lookup():
            raise CasipInputError(Problem(tok, "unknown unit", unit, "Ah, mAh, Wh or mWh"))
    return head, layout, row_width(head, layout)


def _resistance_role(path: Path, layout: Layout, width: int) -> str | None:
    """The first resistance column holding a value above 0 (a first pass over those columns)."""
    present = [r for r in _RESISTANCE if r in layout.roles]
    if not present:
        return None
    names = [f"c{j}" for j in range(width)]
    cols = {names[layout.roles[r][0]]: r for r in present}
    options = {
        "read_options": pacsv.ReadOptions(column_names=names),
        "parse_options": pacsv.ParseOptions(delimiter=layout.delimiter),
        "convert_options": pacsv.ConvertOptions(
            include_columns=list(cols), column_types=dict.fromkeys(cols, pa.float64()),
            decimal_point=layout.decimal, strings_can_be_null=True),
    }
    found: set[str] = set()
    start = offset_after_lines(path, layout.header_line + 1)
    for chunk in line_chunks(path, start, 1 << 22):  # flat memory, as the engine's chunks
        try:
            table = pacsv.read_csv(pa.py_buffer(chunk), **options)
        except pa.ArrowInvalid:
            return present[0]  # the engine's pass names the bad line
        for c, role in cols.items():
            r = table.column(c).to_numpy(zero_copy_only=False).astype(float)
            if (np.isfinite(r) & (r > 0)).any():
                found.add(role)
        if present[0] in found:
            break
    return next((r for r in present if r in found), None)


def _batches(path: Path, batch_rows: int, streaming: bool) -> Iterator[RawReading]:
    """The engine's batches of the spec for this file, with the first data row's metadata.

    Streaming, the resistance column is chosen by a first pass; read whole (one batch), the
    hook sees every row and chooses itself.
    """
    head, layout, width = _layout(path)
    fmt = _SPECS[_resistance_role(path, layout, width)] if streaming else SPEC
    first = True
    try:
        for reading in iter_table(fmt, path, batch_rows, streaming=streaming, what="PEC export"):
            if first:
                first = False
                md = reading.metadata
                row = _first_row(head, layout)
                md["extra"].update(row.pop("extra", {}))
                md.update(row)
                if md.get("start_time") is None:  # from the header's Start Time only
                    md.pop("start_time", None)
            yield reading
    except CasipInputError as exc:  # the wording this adapter has always used
        p = exc.problems[0] if exc.problems else None
        if p is None or not p.message.startswith("corrupted or malformed"):
            raise
        raise CasipInputError(Problem(p.field, "unreadable data: " + p.message, p.value,
                                      p.expected), source=exc.source) from None


# --------------------------------------------------------------------------------------------
# the adapter contract
# --------------------------------------------------------------------------------------------


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
    parts, md, warnings = [], {}, []
    for r in _batches(Path(path), 1 << 40, streaming=False):  # one batch: the whole file
        parts.append(r.data)
        merge_metadata(md, r.metadata)
        warnings += [w for w in r.warnings if w not in warnings]
    return RawReading(parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True),
                      md, warnings)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (the engine's streaming).

    A first pass over the resistance columns (if any) chooses the one read; the current sign
    and the cycle numbering are decided on the rows read so far, and a later batch that
    changes either raises :class:`StreamFallback` (the file is then read whole). Counters
    carry their offsets from batch to batch.
    """
    yield from _batches(Path(path), batch_rows, streaming=True)
