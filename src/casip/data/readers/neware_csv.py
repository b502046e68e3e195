"""Neware BTS CSV exports (BTSDA "record" layer: one row per data point).

Read by the declarative table engine (:mod:`.tabular`): the format is the Neware record-layer
declaration of :mod:`.table_formats` (``NEWARE``: header names in English and Chinese, the units
each column may carry), extended here with the English BTS names that declaration does not list
(``Status``, ``Cycle No.``, ``Charge Capacity``...) and with Neware's own rules as hooks
(:func:`table_format`). The one maintained reader for this export, cellpy's ``neware_txt`` loader
(MIT), reads the values correctly but (1) copies the source file into the system temporary
folder and leaves that copy behind, readable by every user (seen with cellpy 1.0.3:
``/tmp/neware_uio.csv``, mode 0444), (2) needs a per-laboratory "model" configuration to know
the column names and units of an export, and (3) is several times slower than a direct pyarrow
read. No other permissively licensed reader exists (NewareNDA reads only the binary
.nda/.ndax files).

What the tester writes, and what this module makes of it (D: data of the declaration; H: a
hook of this module):

- (D) column names carry their units in parentheses, e.g. ``Current(A)`` or ``Current(mA)``,
  ``Voltage(V)``, ``Chg. Cap.(Ah)`` or ``(mAh)``, ``Chg. Energy(Wh)`` or ``(mWh)``; units are
  read from the header, so exports in A/Ah and in mA/mAh both read correctly (A, V, Ah, Wh
  where the header states none); comma or tab, decimal point or (with a tab) decimal comma;
- (H) **sign convention**: Neware writes discharge current negative and charge current
  positive, the BDF convention, so current is kept as written; a file whose discharge rows
  carry a positive current, by the tester's own step labels (``DChg``/``Dis`` in
  ``Step Type``; without labels, the rising ``DChg. Cap.`` counter), is flipped as a whole,
  with a warning (the median rule of :func:`current_sign_check`, decided on the first batch
  and checked over the whole file with :func:`sign_decision`);
- (H) **counters reset at every step**: ``Chg. Cap.``, ``DChg. Cap.``, ``Chg. Energy`` and
  ``DChg. Energy`` restart from zero when a step starts; they are made cumulative from the
  test start (a reset is a drop of the counter at a step boundary; :class:`CounterStream`);
- (D) times: ``Time`` is the step time and ``Cumulative Time`` (or ``Total Time``) the test
  time, both as ``[d-]h:mm:ss[.fff]`` with hours that may exceed 24; numeric times in seconds
  are read too. Where there is no test-time column the step times are accumulated;
- (H) ``Date`` is the wall-clock time of the tester's computer **without a time zone**:
  ``unix_time_second`` reads it as UTC (and says so in a warning); the start time is the
  first ``Date``;
- (H) ``Cycle Index`` is the tester's cycle number, from 1, kept as written (the trap of a
  reader that multiplied it by 2*pi is tested; a count from 0 is shifted, with a warning);
  ``Step Index`` is the step number in the schedule; both must be integers;
- (H) the active mass, where the file has specific-capacity columns, is the mass the tester
  divided by (``Capacity(Ah) / Spec. Cap.(mAh/g)``, recorded as derived in ``extra``);
- (H) recognition: a comma- or tab-separated header among the first 10 lines with names only
  Neware writes (``Chg. Cap.``...) or its ``Cycle Index``/``Step Index``/``Step Type``; the
  same header in other locales (Chinese names, ``;``) is ``neware-table``'s.

Helpers shared with the other Neware and PEC adapters (:func:`counter_cumulative`,
:func:`hms_seconds`, :func:`read_csv_columns`...) live here.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from casip.data import schema
from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    decode_head,
    hms_to_seconds,
    looks_binary,
    truncated_error,
)
from casip.errors import CasipInputError, Problem

FORMAT = "neware-csv"
VENDOR = "Neware"
DESCRIPTION = "Neware BTS/BTSDA CSV export (record layer, durations as h:mm:ss)"
EXTENSIONS = (".csv", ".txt")
LIBRARY = "pyarrow"
PRIVATE_COPY = False

# --------------------------------------------------------------------------------------------
# helpers shared with neware_nda and pec_csv
# --------------------------------------------------------------------------------------------

#: unit (lower case, as written in the header) -> factor to the SI-based unit of the schema
CURRENT_UNITS = {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6, "μa": 1e-6, "na": 1e-9}
VOLTAGE_UNITS = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6}
CAPACITY_UNITS = {"ah": 1.0, "mah": 1e-3, "uah": 1e-6, "µah": 1e-6, "μah": 1e-6,
                  "as": 1 / 3600, "mas": 1e-3 / 3600, "c": 1 / 3600}
ENERGY_UNITS = {"wh": 1.0, "mwh": 1e-3, "uwh": 1e-6, "µwh": 1e-6, "μwh": 1e-6, "kwh": 1e3,
                "j": 1 / 3600, "ws": 1 / 3600}
TIME_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
              "min": 60.0, "mins": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0,
              "hrs": 3600.0, "hours": 3600.0, "decimal hours": 3600.0}
RESISTANCE_UNITS = {"ohm": 1.0, "mohm": 1e-3, "mo": 1e-3, "mω": 1e-3, "ω": 1.0, "uohm": 1e-6,
                    "µohm": 1e-6}

_NAME_UNIT = re.compile(r"^\s*(.*?)\s*[\(\[]([^()\[\]]*)[\)\]]\s*$")


def split_name_unit(token: str) -> tuple[str, str]:
    """``"Current(mA)"`` -> ``("current", "mA")``; a name without a unit gives ``(name, "")``."""
    t = token.strip().strip('"').strip()
    m = _NAME_UNIT.match(t)
    if m:
        return m.group(1).strip().lower(), m.group(2).strip()
    return t.lower(), ""


def unit_factor(unit: str, table: dict[str, float], column: str) -> float:
    """The factor for ``unit`` from ``table``; raises CasipInputError for an unknown unit."""
    key = unit.strip().lower().replace(" ", "")
    for k, v in table.items():
        if key == k.replace(" ", ""):
            return v
    raise CasipInputError(
        Problem(column, "unknown unit", unit, "one of: " + ", ".join(sorted(table)))
    )


def counter_cumulative(values: np.ndarray, step_run: np.ndarray) -> tuple[np.ndarray, int]:
    """Make a counter that restarts at some step boundaries cumulative from the test start.

    A reset is a step boundary (a change of ``step_run``) where the counter falls
    (:func:`casip.data.schema.counter_resets`); the value before it is carried over
    (:func:`casip.data.schema.cumulative_from_resetting` on the runs between resets). Counters
    that restart per step (Neware) and per cycle (PEC), and counters already cumulative, are
    all handled, and a counter that merely holds its value across steps is never double
    counted. Missing values (NaN) hold the previous value.

    Parameters
    ----------
    values : array of float
        The counter as the tester wrote it (capacity, energy or a step time).
    step_run : array
        A label per row that changes at every step boundary (see :func:`step_runs`).

    Returns
    -------
    cumulative : array of float
        The counter accumulated from the test start.
    resets : int
        How many resets were found.
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return np.nan_to_num(v), 0
    ok = np.isfinite(v)
    if not ok.all():  # hold the last value over gaps (vectorised forward fill)
        last = np.maximum.accumulate(np.where(ok, np.arange(len(v)), 0))
        v = np.where(ok[last], v[last], 0.0)
    boundary = np.asarray(step_run)[1:] != np.asarray(step_run)[:-1]
    reset = np.r_[False, schema.counter_resets(v[1:], v[:-1], boundary)]
    n = int(reset.sum())
    if n == 0:
        return v, 0
    return schema.cumulative_from_resetting(v, np.cumsum(reset)), n


def step_runs(*keys: np.ndarray) -> np.ndarray:
    """Run id (0, 1, 2...) that changes whenever any of ``keys`` (step, cycle) changes."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    for k in keys:
        k = np.asarray(k)
        change[1:] |= k[1:] != k[:-1]
    return np.cumsum(change)


def cycles_from_one(cycle: np.ndarray) -> tuple[np.ndarray, bool]:
    """The tester's cycle numbers, shifted by +1 if the tester counts from 0."""
    c = np.asarray(cycle, dtype=float)
    finite = c[np.isfinite(c)]
    if len(finite) and finite[0] == 0 and finite.min() == 0:
        return c + 1, True
    return c, False


def check_integers(values: np.ndarray, column: str) -> None:
    """Raise CasipInputError if a cycle or step column holds non-integer numbers."""
    v = np.asarray(values, dtype=float)
    bad = np.isfinite(v) & (v != np.round(v))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CasipInputError(
            Problem(column, f"non-integer value at data row {i + 1}", float(v[i]), "an integer")
        )


def hms_seconds(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``[d-]h:mm:ss[.fff]`` strings (hours may exceed 24) to seconds, vectorised.

    Parameters
    ----------
    arr : pyarrow string array
        Durations as the tester wrote them; empty entries give NaN. A numeric array is
        returned as it is.

    Returns
    -------
    array of float
        Seconds.

    Raises
    ------
    ValueError
        If an entry is not of the form h:mm:ss.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=float)
    s = pc.utf8_trim_whitespace(arr)
    s = pc.if_else(pc.or_(pc.is_null(s), pc.equal(s, "")), "nan:nan:nan", s)
    if pc.any(pc.match_substring(s, "-")).as_py():
        out = hms_to_seconds(pd.Series(s.to_pylist()))
        return out.to_numpy(dtype=float)
    parts = pc.split_pattern(s, ":")
    lens = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if not np.all(lens == 3):
        i = int(np.flatnonzero(lens != 3)[0])
        raise ValueError(f"duration {s[i].as_py()!r} at data row {i + 1} is not h:mm:ss")
    flat = pc.list_flatten(parts).cast(pa.float64()).to_numpy(zero_copy_only=False)
    return flat.reshape(-1, 3) @ np.array([3600.0, 60.0, 1.0])


def to_unix_seconds(
    arr: pa.Array | pa.ChunkedArray, formats: Sequence[str] = (), how: list[str] | None = None
) -> np.ndarray:
    """Wall-clock strings to seconds since 1970-01-01, a time without zone read as UTC.

    Parameters
    ----------
    arr : pyarrow string or timestamp array
        The tester's date-time column.
    formats : sequence of str
        strptime formats tried in order when the strings are not ISO 8601; if none fits all
        entries, pandas' mixed-format parser is used.
    how : list, optional
        If given, the way the strings were parsed is appended (``"timestamp"``, ``"iso"``, a
        format, or ``"mixed"``), so that batches of one file can be checked to agree.

    Returns
    -------
    array of float
        Seconds since 1970-01-01 UTC; NaN where an entry could not be parsed.
    """
    how = [] if how is None else how
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        ts = arr
        how.append("timestamp")
    else:
        s = pc.utf8_trim_whitespace(arr)
        ts = None
        try:
            ts = s.cast(pa.timestamp("ns"))
            how.append("iso")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for fmt in formats:
                cand = pc.strptime(s, format=fmt, unit="s", error_is_null=True)
                if cand.null_count == s.null_count:
                    ts = cand
                    how.append(fmt)
                    break
        if ts is None:
            how.append("mixed")
            parsed = pd.to_datetime(pd.Series(s.to_pylist()), errors="coerce", format="mixed")
            ns = parsed.to_numpy(dtype="datetime64[ns]")
            out = ns.astype("int64").astype(float) / 1e9
            out[np.isnat(ns)] = np.nan
            return out
    if ts.type.tz is not None:
        ts = ts.cast(pa.timestamp(ts.type.unit, tz="UTC"))
    as_int = ts.cast(pa.timestamp("ns", tz=ts.type.tz)).cast(pa.int64())
    return as_int.to_numpy(zero_copy_only=False).astype(float) / 1e9


def current_sign_check(
    current: np.ndarray, discharge_rows: np.ndarray, charge_rows: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """Make current positive on charge, using the tester's own charge/discharge marks.

    Parameters
    ----------
    current : array of float
        Current as read [A].
    discharge_rows, charge_rows : array of bool
        Rows the tester marked as discharge / charge (step labels or rising counters).

    Returns
    -------
    current : array of float
        Unchanged when discharge rows are negative; negated when the file's convention is
        inverted; discharge rows made negative when the file writes magnitudes.
    warnings : list of str
        What was changed, if anything.
    """
    i = np.asarray(current, dtype=float)
    warnings: list[str] = []
    nz = np.abs(i) > 0
    d = i[discharge_rows & nz]
    c = i[charge_rows & nz]
    if len(d) and np.median(d) > 0 and (len(c) == 0 or np.median(c) < 0):
        warnings.append(
            "the file writes discharge current as positive; the sign was inverted so that "
            "current is positive on charge"
        )
        return -i, warnings
    if len(d) and len(c) and np.median(d) > 0 and np.median(c) > 0:
        warnings.append(
            "the file writes current as a magnitude on both charge and discharge; discharge "
            "rows were made negative"
        )
        return np.where(discharge_rows, -np.abs(i), i), warnings
    return i, warnings


def complete_length(path: Path, sep: str, n_fields: int) -> int | None:
    """Bytes up to the end of the last whole line if the file's last line is cut, else None.

    A cut line (a truncated file) has fewer fields than the header. Only the last 64 KiB are
    read.
    """
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        start = max(0, size - HEAD_BYTES)
        fh.seek(start)
        tail = fh.read()
    body = tail.rstrip(b"\r\n\t ")
    nl = body.rfind(b"\n")
    if not body or nl < 0:
        return None
    if body[nl + 1 :].count(sep.encode()) + 1 >= n_fields:
        return None
    return start + nl + 1


def _printable(text: str, limit: int = 160) -> str:
    text = "".join(ch if ch.isprintable() and ord(ch) < 128 else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "..."


def read_csv_columns(
    path: Path,
    header_line: int,
    n_fields: int,
    columns: dict[str, int],
    types: dict[str, pa.DataType],
    sep: str,
    encoding: str,
) -> tuple[pa.Table, list[str]]:
    """Read chosen columns (by position) of a delimited file whose header is at ``header_line``.

    Parameters
    ----------
    path : Path
        The file (read in place, never written).
    header_line : int
        0-based line number of the column header; data start on the next line.
    n_fields : int
        Number of fields in the header (every data line must have as many).
    columns : dict of str to int
        Name to give -> position of the column in the header.
    types : dict of str to pyarrow.DataType
        Type of each named column.
    sep, encoding : str
        Field separator and text encoding.

    Returns
    -------
    table : pyarrow.Table
        The named columns.
    warnings : list of str
        Always empty (kept for the callers).

    Raises
    ------
    CasipInputError
        A line with a wrong number of fields, a last line cut short (a truncated file:
        :func:`casip.data.readers._base.truncated_error`), or a value that does not convert
        to its column's type.
    """
    names = [f"_c{j}" for j in range(n_fields)]
    enc = "utf8" if encoding in ("utf-8", "utf-8-sig", "utf8") else encoding
    warnings = []
    if complete_length(path, sep, n_fields) is not None:
        raise truncated_error(path)
    options = {
        "read_options": pacsv.ReadOptions(
            skip_rows=header_line + 1, column_names=names, encoding=enc
        ),
        "parse_options": pacsv.ParseOptions(delimiter=sep),
        "convert_options": pacsv.ConvertOptions(
            include_columns=[f"_c{j}" for j in columns.values()],
            column_types={f"_c{columns[k]}": t for k, t in types.items()},
            strings_can_be_null=True,
        ),
    }
    try:
        table = pacsv.read_csv(path, **options)
    except pa.ArrowInvalid as exc:
        msg = re.sub(r"_c(\d+)", lambda m: f"column {int(m.group(1)) + 1}", str(exc))
        raise CasipInputError(Problem("", f"unreadable data: {_printable(msg)}")) from None
    table = table.rename_columns(
        [next(k for k, j in columns.items() if f"_c{j}" == c) for c in table.column_names]
    )
    return table, warnings


def column_numpy(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as a float64 numpy array (nulls as NaN)."""
    col = table.column(name)
    if col.num_chunks != 1:
        col = col.combine_chunks()
    else:
        col = col.chunk(0)
    return col.to_numpy(zero_copy_only=False).astype(float, copy=False)


def detect_encoding(head: bytes) -> str:
    """``"utf-8"`` if the head decodes as UTF-8 (a character cut at the end is allowed)."""
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:
            return "utf-8"
    for enc in ("gb18030",):
        try:
            head.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return "latin-1"


def split_fields(line: str, sep: str) -> list[str]:
    """A header line's fields, stripped of blanks and quotes."""
    return [t.strip().strip('"').strip() for t in line.split(sep)]



class CounterStream:
    """:func:`counter_cumulative` batch by batch: the last value and the offset carry over."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.offset = 0.0

    def push(self, values: np.ndarray, boundary: np.ndarray) -> np.ndarray:
        """The cumulative counter of one batch; ``boundary[k]``: a step boundary before row k
        (the first row's against the previous batch's last)."""
        v = np.asarray(values, dtype=float)
        ok = np.isfinite(v)
        if not ok.all():
            idx = np.where(ok, np.arange(len(v)), -1)
            last = np.maximum.accumulate(idx)
            held = 0.0 if self.last is None else self.last
            v = np.where(last >= 0, v[np.maximum(last, 0)], held)
        prev = np.r_[self.last if self.last is not None else v[0], v[:-1]]
        reset = schema.counter_resets(v, prev, boundary)
        if self.last is None:
            reset[0] = False
        self.last = float(v[-1])
        if not reset.any():
            return v + self.offset if self.offset else v
        carried = np.cumsum(np.r_[self.offset, np.where(reset, prev, 0.0)])[1:]
        self.offset = float(carried[-1])
        return v + carried


def _median_sign(st: np.ndarray) -> int:
    """Sign of the median of nonzero values from (negatives, positives, largest negative,
    smallest positive): +1, -1 or 0 (0 also when there are no values)."""
    neg, pos, max_neg, min_pos = st
    n = neg + pos
    if n == 0:
        return 0
    if n % 2:
        return -1 if neg > (n - 1) // 2 else 1
    if neg <= n // 2 - 1:
        return 1
    if neg >= n // 2 + 1:
        return -1
    mid = (max_neg + min_pos) / 2
    return int(np.sign(mid))


def _sign_stats(x: np.ndarray) -> np.ndarray:
    neg, pos = x[x < 0], x[x > 0]
    return np.array([len(neg), len(pos), neg.max() if len(neg) else 0.0,
                     pos.min() if len(pos) else 0.0])


def _merge_sign_stats(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    if a is None:
        return b
    max_neg = b[2] if a[0] == 0 else (a[2] if b[0] == 0 else max(a[2], b[2]))
    min_pos = b[3] if a[1] == 0 else (a[3] if b[1] == 0 else min(a[3], b[3]))
    return np.array([a[0] + b[0], a[1] + b[1], max_neg, min_pos])


def sign_decision(d: np.ndarray, c: np.ndarray) -> str:
    """What :func:`current_sign_check` does, from :func:`_sign_stats` of the discharge and
    charge rows' nonzero currents: ``"invert"``, ``"magnitude"`` or ``"keep"``."""
    md, mc = _median_sign(d), _median_sign(c)
    has_d, has_c = d[0] + d[1] > 0, c[0] + c[1] > 0
    if has_d and md > 0 and (not has_c or mc < 0):
        return "invert"
    if has_d and has_c and md > 0 and mc > 0:
        return "magnitude"
    return "keep"



# --------------------------------------------------------------------------------------------
# Neware CSV: the Neware record-layer table of table_formats, with Neware's own rules as hooks
# --------------------------------------------------------------------------------------------

#: header names found only in Neware exports (what the sniffer claims a file by)
_NEWARE_ONLY = {"chg. cap.", "dchg. cap.", "chg. energy", "dchg. energy", "chg. spec. cap.",
                "dchg. spec. cap.", "spec. cap.", "module start-stop switch"}

#: the Neware layout's roles that this adapter reads by its own rules (hooks), and as what:
#: role in :data:`casip.data.readers.table_formats.NEWARE` -> (own role, kind, units, default)
_OWN_ROLES: dict[str, tuple[str | None, str, dict[str, float] | None, str | None]] = {
    "step_type": ("x_step_type", "label", None, None),
    "charge_capacity": ("x_qc", "number", CAPACITY_UNITS, "Ah"),
    "discharge_capacity": ("x_qd", "number", CAPACITY_UNITS, "Ah"),
    "charge_energy": ("x_ec", "number", ENERGY_UNITS, "Wh"),
    "discharge_energy": ("x_ed", "number", ENERGY_UNITS, "Wh"),
    "datetime": ("x_date", "datetime", None, None),
    "capacity": ("x_capacity", "number", None, None),  # only for the active mass
    "energy": (None, "number", None, None),  # not read
}

#: English BTS names the Chinese-/European-locale declaration does not list (role -> names)
_MORE_NAMES: dict[str, tuple[str, ...]] = {
    "cycle": ("Cycle No.", "Cycle Number"),
    "step": ("Step No.", "Step Number"),
    "x_step_type": ("Status", "State"),
    "x_qc": ("Chg. Capacity", "Charge Capacity", "Charge Cap."),
    "x_qd": ("DChg. Capacity", "Discharge Capacity", "Discharge Cap."),
    "x_ec": ("Charge Energy",),
    "x_ed": ("Discharge Energy",),
    "x_date": ("Real Time", "System Time", "Timestamp"),
    "temperature": ("Aux. Temperature", "Auxiliary Temperature"),
}

#: the units a role defaults to where the header states none (as the tester's A, V, Ah, Wh)
_DEFAULT_UNITS = {"current": "A", "voltage": "V"}


def _columns(base: Sequence[Any]) -> tuple[Any, ...]:
    """The Neware layout's columns with this adapter's own roles, names and defaults."""
    from casip.data.readers.tabular import Column

    out = []
    for col in base:
        role, kind, units, default = col.role, None, col.units, col.default_unit
        if col.role in _OWN_ROLES:
            role, kind, units, default = _OWN_ROLES[col.role]
            if role is None:
                continue
        elif col.role in ("temperature", "ambient_temperature"):
            units, default = None, None  # kept as written (the tester writes °C)
        default = _DEFAULT_UNITS.get(role, default)
        out.append(Column(role, col.names + _MORE_NAMES.get(role, ()), units, default, kind))
    out.append(Column("x_spec_cap", ("Spec. Cap.", "Specific Capacity"), kind="number"))
    return tuple(out)


@functools.cache
def table_format() -> Any:
    """The :class:`~casip.data.readers.tabular.TableFormat` of this adapter.

    Built on first use (:mod:`.tabular` imports this module's helpers, so it cannot be
    imported here at module level).

    Returns
    -------
    TableFormat
        ``table_formats.NEWARE`` with this adapter's id, its own roles and names
        (:func:`_columns`) and its hooks (:func:`_batch`, :func:`_finish`).
    """
    from casip.data.readers.table_formats import NEWARE
    from casip.data.readers.tabular import Hooks

    return dataclasses.replace(
        NEWARE, format=FORMAT, vendor=VENDOR, description=DESCRIPTION, extensions=EXTENSIONS,
        source="Neware BTS 8 English export (the shared neware_uio.csv) and BTSDA 7.6 layouts",
        columns=_columns(NEWARE.columns), defer=None, preamble_metadata=False,
        hooks=Hooks(batch=_batch, finish=_finish),
    )


def _unit(layout: Any, role: str) -> str:
    """The unit a column's header states (``""`` if none)."""
    return split_name_unit(layout.tokens[layout.roles[role][0]])[1]


def _name(layout: Any, role: str, default: str) -> str:
    return layout.tokens[layout.roles[role][0]] if role in layout.roles else default


def _state(state: dict) -> dict[str, Any]:
    """This adapter's part of the engine's per-file ``state``."""
    if "neware" not in state:
        state["neware"] = {
            "first": True, "row": 0, "last_keys": None, "last_raw": {}, "shift": False,
            "sign": "keep", "stats": [None, None], "unix": False, "date_how": None,
            "any_voltage": False, "best_spec": -1.0, "best_cap": np.nan, "warnings": [],
            "start_time": None,
            "counters": {r: CounterStream() for r in ("x_qc", "x_qd", "x_ec", "x_ed")},
        }
    return state["neware"]


_COUNTERS = {"x_qc": "charging_capacity_ah", "x_qd": "discharging_capacity_ah",
             "x_ec": "charging_energy_wh", "x_ed": "discharging_energy_wh"}


def _batch(values: dict[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Neware's rules on one converted batch: cycles and steps as integers (a count from 0
    shifted), counters made cumulative per step, the whole-file current sign, the wall clock
    read as UTC, the active mass from ``Spec. Cap.``."""
    layout, streaming, st = state["layout"], state["streaming"], _state(state)
    n = len(frame)
    out = {c: frame[c].to_numpy() for c in frame.columns}  # one frame built at the end
    warnings = st["warnings"]
    st["any_voltage"] |= bool(np.isfinite(out["voltage_volt"]).any())
    if st["first"] and not st["any_voltage"] and not streaming:
        raise CasipInputError(Problem("Voltage", "no numeric voltage values"),
                              source=state["source"])
    cycle = values["cycle"] if "cycle" in values else np.ones(n)
    check_integers(cycle, _name(layout, "cycle", "cycle"))
    step = values.get("step")
    if step is not None:
        check_integers(step, _name(layout, "step", "step"))
    # a step boundary before each row (the first row's against the previous batch's last)
    boundary = np.zeros(n, dtype=bool)
    for j, k in enumerate((cycle, step)):
        if k is None:
            continue
        boundary[1:] |= k[1:] != k[:-1]
        if st["last_keys"] is not None:
            boundary[0] |= k[0] != st["last_keys"][j]
    st["last_keys"] = (cycle[-1], step[-1] if step is not None else np.nan)
    t = out["test_time_second"]
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise CasipInputError(
            Problem("time", f"missing or unreadable time at data row {st['row'] + i + 1}"),
            source=state["source"])
    if st["first"]:
        _, st["shift"] = cycles_from_one(cycle)
        if st["shift"]:
            warnings.append("the file counts cycles from 0; cycle_count = the file's cycle + 1")
        elif streaming and not np.isfinite(cycle).any():
            raise StreamFallback("no cycle number in the first batch")
    elif st["shift"] and np.nanmin(cycle) < 0:
        raise StreamFallback("cycle numbers below 0 after the first batch")
    out["cycle_count"] = cycle + 1 if st["shift"] else cycle
    for role, col in _COUNTERS.items():
        if role in values:
            out[col] = st["counters"][role].push(values[role], boundary)
    out["current_ampere"] = _sign(values, out["current_ampere"], st)
    if "x_date" in values:
        _wall_clock(values["x_date"], out, st)
    if "x_capacity" in values and "x_spec_cap" in values:
        cap, spec = np.abs(values["x_capacity"]), np.abs(values["x_spec_cap"])
        ok = np.isfinite(cap) & np.isfinite(spec) & (spec > 0) & (cap > 0)
        if ok.any():
            k = int(np.argmax(np.where(ok, spec, -1.0)))
            if spec[k] > st["best_spec"]:
                st["best_spec"], st["best_cap"] = float(spec[k]), float(cap[k])
    st["first"] = False
    st["row"] += n
    return pd.DataFrame(out)


def _sign(values: dict[str, Any], current: np.ndarray, st: dict[str, Any]) -> np.ndarray:
    """The tester's step labels (or its rising counters) say which rows discharge; the sign
    convention is decided on the first batch and checked over the whole file (the median rule
    of :func:`current_sign_check`, from counts that merge across batches)."""
    dis = chg = None
    if "x_step_type" in values:
        codes, labels = pd.factorize(values["x_step_type"])
        low = [str(u).lower() for u in labels]
        is_dis = np.array([bool(re.search("dchg|dis", u)) for u in low] + [False])
        is_chg = np.array([("chg" in u and "dchg" not in u) for u in low] + [False])
        dis, chg = is_dis[codes], is_chg[codes]  # code -1 (no label) takes the last: False
    elif "x_qd" in values and "x_qc" in values:
        rising = []
        for role in ("x_qd", "x_qc"):
            x = values[role]
            before = st["last_raw"].get(role)
            rising.append(np.diff(x, prepend=before if before is not None else np.nan) > 0)
            st["last_raw"][role] = x[-1]
        dis, chg = rising
    if dis is None:
        return current
    nz = np.abs(current) > 0
    for k, rows in enumerate((dis, chg)):
        st["stats"][k] = _merge_sign_stats(st["stats"][k], _sign_stats(current[rows & nz]))
    if st["first"]:
        current, more = current_sign_check(current, dis, chg)
        st["warnings"] += more
        st["sign"] = sign_decision(*st["stats"])
    elif st["sign"] == "invert":
        current = -current
    elif st["sign"] == "magnitude":
        current = np.where(dis, -np.abs(current), current)
    return current


def _wall_clock(dates: pd.Series, out: dict[str, np.ndarray], st: dict[str, Any]) -> None:
    """``Date``: the tester computer's clock without a zone, read as UTC."""
    how: list[str] = []
    unix = to_unix_seconds(pa.array(dates, pa.string()),
                           ("%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S"), how=how)
    finite = np.isfinite(unix)
    if st["first"]:
        st["date_how"] = how[0]
        st["unix"] = bool(finite.any())
        if st["unix"]:
            first = unix[finite][0]
            st["start_time"] = _dt.datetime.fromtimestamp(first, _dt.UTC).replace(tzinfo=None)
            st["warnings"].append("the file's wall-clock times carry no time zone; "
                                  "unix_time_second reads them as UTC")
    elif how[0] != st["date_how"] or (finite.any() and not st["unix"]):
        raise StreamFallback("the wall-clock times differ between batches")
    if st["unix"]:
        out["unix_time_second"] = unix


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """The metadata once every row was seen; checks the first batch's decisions."""
    st, layout = _state(state), state["layout"]
    if not st["any_voltage"]:
        raise CasipInputError(Problem("Voltage", "no numeric voltage values"),
                              source=state["source"])
    if st["stats"][0] is not None and sign_decision(*st["stats"]) != st["sign"]:
        raise StreamFallback("the current sign convention differs from the first batch's")
    metadata: dict[str, Any] = {"tester": VENDOR}
    if st["start_time"] is not None:
        metadata["start_time"] = st["start_time"]
    if st["best_spec"] > 0:
        cap_factor = unit_factor(_unit(layout, "x_capacity") or "Ah", CAPACITY_UNITS,
                                 "Capacity")
        spec_unit = _unit(layout, "x_spec_cap").lower().replace(" ", "")
        spec_factor = {"mah/g": 1e-3, "ah/g": 1.0, "mah/mg": 1.0, "ah/kg": 1e-3}.get(spec_unit)
        if spec_factor:
            mass_g = st["best_cap"] * cap_factor / (st["best_spec"] * spec_factor)
            metadata["active_mass_g"] = float(f"{mass_g:.6g}")
            metadata["extra"] = {"active_mass_source": (
                "derived: Capacity / Spec. Cap. (the mass the tester divided by)")}
    return metadata, list(st["warnings"])


# --------------------------------------------------------------------------------------------
# the adapter contract
# --------------------------------------------------------------------------------------------


def _header_tokens(text: str) -> list[str] | None:
    """The tokens of a header line with Neware-only names among the first 10 lines (comma or
    tab separated), for a header whose units the layout refuses."""
    for line in text.splitlines()[:10]:
        sep = "\t" if line.count("\t") > line.count(",") else ","
        tokens = split_fields(line, sep)
        if {split_name_unit(t)[0] for t in tokens} & _NEWARE_ONLY:
            return tokens
    return None


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Neware CSV export.

    Parameters
    ----------
    head : bytes
        The first 64 KiB of the file.
    name : str
        The file name (not used: the content decides).

    Returns
    -------
    float
        For a comma- or tab-separated header among the first 10 lines that the Neware layout
        recognises: 0.9 with names only Neware writes (``Chg. Cap.``, ``DChg. Energy``...), 0.7
        with Neware's ``Cycle Index``, ``Step Index`` and ``Step Type``; else 0 (other
        locales are ``neware-table``'s).
    """
    from casip.data.readers.tabular import probe

    if not head or looks_binary(head):
        return 0.0
    try:
        layout = probe(table_format(), head)
    except CasipInputError:  # a unit the layout refuses: read() says which
        tokens = _header_tokens(decode_head(head))
        return 0.9 if tokens is not None else 0.0
    if layout is None or layout.header_line >= 10 or layout.delimiter not in (",", "\t"):
        return 0.0
    return _neware_score(layout.tokens)


def _neware_score(tokens: Sequence[str]) -> float:
    """0.9 for a header with names only Neware writes, 0.7 for Neware's cycle/step trio."""
    bases = {split_name_unit(t)[0] for t in tokens}
    if bases & _NEWARE_ONLY:
        return 0.9
    if {"cycle index", "step index", "step type"} <= bases:
        return 0.7
    return 0.0


def _layout(path: Path) -> Any:
    """The file's layout, or the error a Neware reader gives for a file that is not one."""
    from casip.data.readers.tabular import probe

    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise CasipInputError(Problem("", "the file is empty"), source=str(path))
    if looks_binary(head):
        raise CasipInputError(Problem("", "binary content, not a Neware CSV export"),
                              source=str(path))
    layout = probe(table_format(), head, str(path))
    if layout is None or not _neware_score(layout.tokens):  # e.g. an Arbin CSV's own names
        raise CasipInputError(
            Problem("", "no Neware column header found", None,
                    "a header line with Current(...), Voltage(...) and Time columns"),
            source=str(path))
    # columns not used are not parsed: the record number, and the step time where the test
    # time is written
    unused = {"record"} | ({"step_time"} if "time" in layout.roles else set())
    layout.roles = {r: v for r, v in layout.roles.items() if r not in unused}
    return layout


def _reworded(exc: CasipInputError) -> CasipInputError:
    """The engine's refusal, worded as this adapter always did: a row that does not parse is
    "unreadable data"; this adapter's own refusals (raised in its hooks, which the engine
    wraps) are given as they were raised."""
    inner = exc.__context__
    if isinstance(inner, CasipInputError):
        return CasipInputError(inner.problems, source=inner.source or exc.source)
    problems = [Problem(p.field, "unreadable data: " + p.message, p.value, p.expected)
                if p.message.startswith("corrupted or malformed") else p
                for p in exc.problems]
    return CasipInputError(problems, source=exc.source)


def read(path: Path) -> RawReading:
    """Read a Neware CSV export into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The export; read in place, never written.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units (current positive on charge, counters
        cumulative), the metadata the file states, and warnings.

    Raises
    ------
    CasipInputError
        No Neware header, no data rows, a malformed line or value, an unknown unit.
    """
    from casip.data.readers.tabular import read_table

    path = Path(path)
    try:
        return read_table(table_format(), path, layout=_layout(path), what="Neware CSV export")
    except CasipInputError as exc:
        raise _reworded(exc) from None


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (the table engine's stream).

    Whole-file decisions are taken on the first batch and checked at the end (the current sign
    convention, a cycle count from 0, the wall-clock format); where a later batch contradicts
    them, :class:`StreamFallback` has the file read whole; a cut last line is refused.
    """
    from casip.data.readers.tabular import iter_table

    path = Path(path)
    try:
        yield from iter_table(table_format(), path, batch_rows, layout=_layout(path),
                              streaming=True, what="Neware CSV export")
    except CasipInputError as exc:
        raise _reworded(exc) from None
