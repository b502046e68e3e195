"""Bitrode CSV exports (VisuaLCN "Time(s), Cycle, Loop, Step, ... Mode" tables).

Hand-written: no maintained Python reader for Bitrode files exists (cellpy, beep and
battery-data-toolkit have none), and the format is a plain CSV table, so pyarrow's CSV reader
parses it and this module only maps columns and makes the counters cumulative.

The file
    One header line, then one row per record: ``Exclude, Time(s), Cycle, Loop, Loop, Loop,
    Step, StepTime(s), Current(A), Voltage(V), Power(W), Capacity(Ah), Energy(Wh), Mode, Data``
    (the three ``Loop`` columns share a name, and a trailing comma adds an empty column). There
    is no metadata block and no wall-clock time.

Sign convention
    ``Mode`` says what the channel does: ``CHRG``, ``DCHG`` or ``REST``. The exports seen write
    the current signed, positive on charge (as CASIP); some Bitrode set-ups write it unsigned.
    The reader checks: if any row has a negative current the file's sign is kept; if none has
    while ``DCHG`` rows carry current, the current of those rows is negated. What was found is
    recorded in ``metadata.extra["current_sign_in_file"]``.

Counters
    ``Capacity(Ah)`` and ``Energy(Wh)`` count the current step only (negative in ``DCHG``
    steps); a ``REST`` step either holds the previous step's value or restarts at zero. They are
    made cumulative by :func:`counters_by_direction`: the rise of the counter's magnitude from
    row to row, counted from zero after a reset, is added to the charge counter in charge rows
    and to the discharge counter in discharge rows (rest rows add nothing).

Other columns
    ``Loop`` counters, ``Power(W)``, ``StepTime(s)``, ``Exclude`` and the ``Data`` flag are not
    in the schema and are left out (rows marked ``Exclude = Yes`` are kept, with a warning).

The helpers :func:`read_csv_table`, :func:`check_last_row`, :func:`counters_by_direction` and
:func:`signed_current` are shared with the Novonix and batterydata.energy.gov adapters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    block_size_for,
    decode_head,
    first_line,
    header_tokens,
    line_chunks,
    looks_binary,
    offset_after_lines,
    truncated_error,
)
from casip.errors import CasipInputError, Problem

FORMAT = "bitrode-csv"
VENDOR = "Bitrode"
DESCRIPTION = "Bitrode CSV export (Time(s), Cycle, Loop, Step, Current, Voltage, Mode)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

_TAIL_BYTES = 65536


# --------------------------------------------------------------------------------------------
# helpers shared by the hand-written CSV adapters
# --------------------------------------------------------------------------------------------


def norm_token(token: str) -> str:
    """A header token reduced for matching: lower case, ASCII only, no blanks, ``_`` or ``-``.

    ``"Temperature (°C)"`` becomes ``"temperature(c)"``, ``"Amp-Hours"`` ``"amphours"``.
    """
    t = token.strip().strip('"').lower()
    return re.sub(r"[^a-z0-9()/#%.]", "", t)


def _clean_message(text: str, limit: int = 160) -> str:
    """An error text from a parser, printable and short (corrupted bytes are escaped)."""
    text = text.replace("\n", " ").strip()
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch) & 0xFF:02x}" for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_last_row(path: Path, n_fields: int, delimiter: str = ",", what: str = "file") -> None:
    """Raise if the file's last non-empty line has fewer fields than the header.

    A file cut short in the middle of a row (an interrupted copy or download) ends with such a
    line. A file cut exactly at a line end cannot be told from a shorter test and reads as one.

    Raises
    ------
    CasipInputError
        If the last row is incomplete.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read()
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    if not lines:
        return
    got = lines[-1].count(delimiter.encode()) + 1
    if got < n_fields:
        raise truncated_error(path)


def read_csv_table(
    source: str | os.PathLike | IO[bytes],
    names: list[str],
    types: Mapping[str, pa.DataType],
    *,
    check: Mapping[str, pa.DataType] | None = None,
    labels: list[str] | None = None,
    skip_rows: int = 0,
    quoted: bool = True,
    delimiter: str = ",",
    what: str = "file",
) -> pa.Table:
    """Parse a CSV table with pyarrow, with our own column names and explicit types.

    The file is read in blocks; every block's ``check`` columns are converted (so that a
    corrupted value anywhere in them is found) and dropped, only the ``types`` columns are
    kept: memory grows with the kept columns only.

    Parameters
    ----------
    source : path or binary file object
        A file object is read from its current position.
    names : list of str
        One unique name per field of a row (the file's header line is skipped, ``skip_rows``).
    types : mapping
        Name -> Arrow type of the columns to keep.
    check : mapping, optional
        Name -> Arrow type of further columns to validate and drop.
    labels : list of str, optional
        The file's own column names, for error messages (default ``names``).
    quoted : bool
        False for files that wrap a whole row in double quotes (the quotes are then kept in
        the first and the last field).

    Raises
    ------
    CasipInputError
        For a row with a wrong number of fields or a value that does not convert.
    """
    labels = labels or names
    convert = {**(check or {}), **types}
    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=skip_rows, block_size=1 << 22)
    parse_opts = pacsv.ParseOptions(
        delimiter=delimiter, quote_char='"' if quoted else False, newlines_in_values=False
    )
    conv_opts = pacsv.ConvertOptions(
        include_columns=[n for n in names if n in convert],
        column_types=convert,
        null_values=["", "NaN", "nan", "NA", "N/A", "null", "NULL", "-"],
        strings_can_be_null=True,
    )
    keep = list(types)
    try:
        with pacsv.open_csv(
            source, read_options=read_opts, parse_options=parse_opts, convert_options=conv_opts
        ) as reader:
            batches = [batch.select(keep) for batch in reader]
            schema = pa.schema([reader.schema.field(n) for n in keep])
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        m = re.search(r"Expected (\d+) columns, got (\d+)", msg)
        if m:
            reason = (
                f"a row has {m.group(2)} fields where the header has {m.group(1)}: "
                "the file is corrupted or truncated"
            )
        elif "conversion error" in msg or "UTF8" in msg:
            col = re.search(r"column #(\d+)", msg)
            idx = int(col.group(1)) if col else -1
            field = labels[idx].strip() if 0 <= idx < len(labels) else ""
            reason = f"a value does not read ({_clean_message(msg)}): the file is corrupted"
            raise CasipInputError(Problem(field, reason)) from None
        else:
            reason = f"the {what} does not parse as CSV: {_clean_message(msg)}"
        raise CasipInputError(Problem("", reason)) from None
    return pa.Table.from_batches(batches, schema=schema)


def column(table: pa.Table, name: str) -> np.ndarray:
    """A float64 numpy array of a table column (nulls as NaN), one copy at most."""
    chunks = table.column(name).chunks
    if not chunks:
        return np.empty(0)
    parts = [
        (c if pa.types.is_floating(c.type) else pc.cast(c, pa.float64())).to_numpy(
            zero_copy_only=False
        )
        for c in chunks
    ]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def signed_current(
    current: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray, str]:
    """Current positive on charge, and the direction of each row, from the tester's labels.

    Parameters
    ----------
    current : array
        The tester's current column [A].
    direction : array of float
        +1 where the tester labels the row a charge, -1 a discharge, 0 a rest, NaN unknown.

    Returns
    -------
    current : array
        Signed, positive on charge.
    direction : array
        +1, -1 or 0 per row: the tester's label where known, else the sign of the current.
    convention : str
        What the file was found to use (for the metadata).
    """
    i = np.asarray(current, dtype=float)
    dirn = np.asarray(direction, dtype=float)
    signed_in_file = bool(np.any(i < 0))
    if signed_in_file:
        convention = "signed, positive on charge (kept)"
        out = i
    elif np.any((dirn < 0) & (np.abs(np.nan_to_num(i)) > 0)):
        convention = "unsigned, direction from the tester's step labels (negated on discharge)"
        out = np.where(dirn < 0, -np.abs(i), i)
    else:
        convention = "no negative current and no discharge rows: taken as positive on charge"
        out = i
    fallback = np.sign(np.nan_to_num(out))
    return out, np.where(np.isnan(dirn), fallback, dirn), convention


def counters_by_direction(
    counter: np.ndarray, direction: np.ndarray, noise: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative charge and discharge counters from a tester counter that resets.

    The counter's magnitude (signed or unsigned in the file) rises within a step; a drop to
    less than half its previous value (and by more than ``noise``) is a reset, after which it
    counts from zero again. Each row's rise is added to the charge counter in charge rows
    (``direction`` > 0) and to the discharge counter in discharge rows (< 0); rest rows add
    nothing. This needs no knowledge of where the tester resets (per step, per cycle, on a
    change of direction, or not at all).

    Parameters
    ----------
    counter : array
        The tester's capacity [Ah] or energy [Wh] column; NaN rows carry the previous value.
    direction : array
        +1 charge, -1 discharge, 0 rest, per row.
    noise : float, optional
        Smallest drop taken as a reset; default 1e-4 of the counter's largest magnitude.

    Returns
    -------
    charge, discharge : arrays
        Cumulative from the first row, never decreasing.
    """
    m = pd.Series(np.abs(np.asarray(counter, dtype=float))).ffill().fillna(0.0).to_numpy()
    if len(m) == 0:
        return m, m
    if noise is None:
        noise = 1e-4 * float(m.max()) + 1e-12
    prev = np.r_[0.0, m[:-1]]
    rise = m - prev
    reset = (m < 0.5 * prev) & (prev - m > noise)
    rise = np.where(reset, m, rise)
    rise = np.clip(rise, 0.0, None)
    charge = np.cumsum(np.where(direction > 0, rise, 0.0))
    discharge = np.cumsum(np.where(direction < 0, rise, 0.0))
    return charge, discharge


def string_column(table: pa.Table, name: str) -> pa.Array:
    """A table column as one Arrow string array, trimmed and upper-cased."""
    col = table.column(name)
    arr = pa.concat_arrays(col.chunks) if col.num_chunks != 1 else col.chunk(0)
    return pc.utf8_upper(pc.utf8_trim_whitespace(arr))


# --------------------------------------------------------------------------------------------
# the Bitrode adapter
# --------------------------------------------------------------------------------------------

#: normalised header token -> role (the units are in the tokens: only SI-unit columns map)
_ALIASES = {
    "time(s)": "time",
    "totaltime(s)": "time",
    "totaltime(sec)": "time",
    "testtime(s)": "time",
    "cycle": "cycle",
    "cyclenumber": "cycle",
    "step": "step",
    "stepnumber": "step",
    "steptime(s)": "step_time",
    "steptime(sec)": "step_time",
    "current(a)": "current",
    "amps": "current",
    "voltage(v)": "voltage",
    "volts": "voltage",
    "capacity(ah)": "capacity",
    "amphours": "capacity",
    "amphours(ah)": "capacity",
    "energy(wh)": "energy",
    "watthours": "energy",
    "watthours(wh)": "energy",
    "mode": "mode",
    "exclude": "exclude",
    "power(w)": "power",
    "data": "data",
}

_CHARGE_MODES = ("CHRG", "CHG", "CHARGE")
_DISCHARGE_MODES = ("DCHG", "DCH", "DIS", "DISCHARGE")
_REST_MODES = ("REST", "PAUSE", "PAUS", "WAIT", "OCV")


def _roles(tokens: list[str]) -> dict[str, int]:
    """Role -> field index for the header tokens (first occurrence; ``Loop`` columns skipped)."""
    roles: dict[str, int] = {}
    for idx, tok in enumerate(tokens):
        key = norm_token(tok)
        role = "loop" if key.startswith("loop") else _ALIASES.get(key)
        if role and role not in roles:
            roles[role] = idx
    return roles


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Bitrode CSV export: its header line's column names."""
    if not head or looks_binary(head):
        return 0.0
    roles = _roles(header_tokens(first_line(decode_head(head))))
    if not {"time", "current", "voltage"} <= set(roles):
        return 0.0
    typical = {"mode", "step_time", "exclude", "loop"} & set(roles)
    if len(typical) >= 2 and "mode" in typical:
        return 0.9
    return 0.0


def _layout(path: Path) -> tuple[list[str], dict[str, int], list[str], dict, dict]:
    """Header tokens, roles, field names, kept and checked column types (raises if not ours)."""
    with path.open("rb") as fh:
        header = fh.readline(1 << 16)
    tokens = header_tokens(decode_head(header).rstrip("\r\n"))
    roles = _roles(tokens)
    missing = [r for r in ("time", "current", "voltage") if r not in roles]
    if missing or "mode" not in roles:
        raise CasipInputError(
            Problem(
                "header",
                "not a Bitrode export: the header lacks "
                + ", ".join(missing + ([] if "mode" in roles else ["mode"])),
                None,
                "Time(s), Current(A), Voltage(V) and Mode columns",
            )
        )
    names = [f"_f{i}" for i in range(len(tokens))]
    for role, idx in roles.items():
        names[idx] = role
    numeric = ("time", "cycle", "step", "current", "voltage", "capacity", "energy")
    types: dict[str, pa.DataType] = {r: pa.float64() for r in numeric if r in roles}
    types["mode"] = pa.string()
    if "exclude" in roles:
        types["exclude"] = pa.string()
    # every other column is converted too (and dropped), so that corruption anywhere shows
    check: dict[str, pa.DataType] = {}
    for idx, tok in enumerate(tokens):
        if names[idx] in types:
            continue
        key = norm_token(tok)
        role = "loop" if key.startswith("loop") else _ALIASES.get(key)
        numeric_col = role in ("loop", "step_time", "power") or role in numeric
        check[names[idx]] = pa.float64() if numeric_col else pa.string()
    return tokens, roles, names, types, check


def _mode_direction(table: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """The ``Mode`` column (trimmed, upper case) and the direction it gives each row."""
    mode = string_column(table, "mode")
    direction = np.full(table.num_rows, np.nan)
    for modes, value in ((_CHARGE_MODES, 1.0), (_DISCHARGE_MODES, -1.0), (_REST_MODES, 0.0)):
        hit = pc.is_in(mode, value_set=pa.array(modes)).to_numpy(zero_copy_only=False)
        direction[np.asarray(hit, dtype=bool)] = value
    return mode, direction


def _others_warning(tokens: list[str], names: list[str]) -> list[str]:
    """The warning naming the columns left out (none if every column is used)."""
    others = [t for t, n in zip(tokens, names, strict=True) if n.startswith("_f") and t.strip()]
    others = [t for t in others if not norm_token(t).startswith("loop")]
    if others:
        return ["columns outside the schema were left out: " + ", ".join(others)]
    return []


def _bdf_columns(
    table, roles, current: np.ndarray, direction: np.ndarray, split
) -> dict[str, Any]:
    """The BDF columns of a table of Bitrode rows; ``split(role, values, direction)`` turns a
    capacity or energy column into (charge, discharge) counters (whole file, or carried across
    batches)."""
    data: dict[str, Any] = {
        "test_time_second": column(table, "time"),
        "voltage_volt": column(table, "voltage"),
        "current_ampere": current,
    }
    if "cycle" in roles:
        data["cycle_count"] = column(table, "cycle")
    if "step" in roles:
        data["step_index"] = column(table, "step")
    for role, (charge_col, discharge_col) in (
        ("capacity", ("charging_capacity_ah", "discharging_capacity_ah")),
        ("energy", ("charging_energy_wh", "discharging_energy_wh")),
    ):
        if role in roles:
            data[charge_col], data[discharge_col] = split(role, column(table, role), direction)
    return data


def read(path: Path) -> RawReading:
    """Read a Bitrode CSV export into BDF columns (see the module docstring)."""
    path = Path(path)
    tokens, roles, names, types, check = _layout(path)
    check_last_row(path, len(tokens), what="Bitrode export")
    table = read_csv_table(
        path, names, types, check=check, labels=tokens, skip_rows=1, what="Bitrode export"
    )
    if table.num_rows == 0:
        raise CasipInputError(Problem("", "the Bitrode export has a header but no data rows"))

    mode, direction = _mode_direction(table)
    warnings: list[str] = []
    unknown = np.isnan(direction)
    if unknown.any():
        values = pc.unique(pc.filter(mode, pa.array(unknown))).to_pylist()[:10]
        warnings.append(
            f"{int(unknown.sum())} rows have a Mode other than CHRG/DCHG/REST ({values}); "
            "their direction is taken from the sign of the current"
        )
    current, direction, convention = signed_current(column(table, "current"), direction)

    data = _bdf_columns(
        table, roles, current, direction, lambda role, v, d: counters_by_direction(v, d)
    )
    if "exclude" in roles:
        flagged = pc.equal(string_column(table, "exclude"), "YES")
        n_flag = int(pc.sum(flagged).as_py() or 0)
        if n_flag:
            warnings.append(f"{n_flag} rows are marked Exclude = Yes by the tester (kept)")
    warnings += _others_warning(tokens, names)
    metadata = {
        "tester": VENDOR,
        "extra": {"current_sign_in_file": convention},
    }
    return RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)


# --------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------


class _DirectionCounters:
    """:func:`counters_by_direction` carried across batches (the noise is the whole file's)."""

    def __init__(self, noise: float) -> None:
        self.noise = noise
        self.last = 0.0  # the previous row's magnitude (0 before the first row, as NaN filled)
        self.charge = 0.0
        self.discharge = 0.0

    def push(self, counter: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mag = np.r_[self.last, np.abs(np.asarray(counter, dtype=float))]
        m = pd.Series(mag).ffill().fillna(0.0).to_numpy()[1:]
        if len(m) == 0:
            return m, m
        prev = np.r_[self.last, m[:-1]]
        rise = m - prev
        reset = (m < 0.5 * prev) & (prev - m > self.noise)
        rise = np.where(reset, m, rise)
        rise = np.clip(rise, 0.0, None)
        charge = np.cumsum(np.r_[self.charge, np.where(direction > 0, rise, 0.0)])[1:]
        discharge = np.cumsum(np.r_[self.discharge, np.where(direction < 0, rise, 0.0)])[1:]
        self.last, self.charge, self.discharge = float(m[-1]), charge[-1], discharge[-1]
        return charge, discharge


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    A first pass over the line-aligned chunks takes the whole-file decisions: the current's
    sign convention (:func:`signed_current`), the counters' reset noise (1e-4 of their largest
    magnitude, :func:`counters_by_direction`) and the counts in the warnings. The second pass
    converts chunk by chunk, carrying the counters' last value and running totals. A chunk that
    does not parse raises :class:`StreamFallback` (the file is read whole, for its message).
    """
    path = Path(path)
    tokens, roles, names, types, check = _layout(path)
    check_last_row(path, len(tokens), what="Bitrode export")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if b"\n" not in head:
        raise StreamFallback("no line break in the file's head")
    start = offset_after_lines(path, 1)
    size = block_size_for(head, batch_rows)

    def tables() -> Iterator[pa.Table]:
        for chunk in line_chunks(path, start, size):
            try:
                table = read_csv_table(
                    pa.BufferReader(chunk),
                    names,
                    types,
                    check=check,
                    labels=tokens,
                    what="Bitrode export",
                )
            except CasipInputError as exc:
                raise StreamFallback(f"a chunk does not read ({exc})") from None
            if table.num_rows:
                yield table

    # first pass: the whole-file decisions
    rows = n_unknown = n_flag = 0
    unknown_values: list[Any] = []
    any_negative = any_discharge = False
    peak = {r: 0.0 for r in ("capacity", "energy") if r in roles}
    for table in tables():
        rows += table.num_rows
        mode, direction = _mode_direction(table)
        unknown = np.isnan(direction)
        if unknown.any():
            n_unknown += int(unknown.sum())
            if len(unknown_values) < 10:
                for v in pc.unique(pc.filter(mode, pa.array(unknown))).to_pylist():
                    if v not in unknown_values and len(unknown_values) < 10:
                        unknown_values.append(v)
        i = column(table, "current")
        any_negative = any_negative or bool(np.any(i < 0))
        any_discharge = any_discharge or bool(
            np.any((direction < 0) & (np.abs(np.nan_to_num(i)) > 0))
        )
        for role in peak:
            m = np.abs(column(table, role))
            if np.isfinite(m).any():
                peak[role] = max(peak[role], float(np.nanmax(m)))
        if "exclude" in roles:
            n_flag += int(pc.sum(pc.equal(string_column(table, "exclude"), "YES")).as_py() or 0)
    if rows == 0:
        raise StreamFallback("no data rows")
    if any_negative:
        rule = "keep"
        _, _, convention = signed_current(np.array([-1.0]), np.array([np.nan]))
    elif any_discharge:
        rule = "negate"
        _, _, convention = signed_current(np.array([1.0]), np.array([-1.0]))
    else:
        rule = "keep"
        _, _, convention = signed_current(np.array([0.0]), np.array([np.nan]))
    warnings: list[str] = []
    if n_unknown:
        warnings.append(
            f"{n_unknown} rows have a Mode other than CHRG/DCHG/REST ({unknown_values}); "
            "their direction is taken from the sign of the current"
        )
    if n_flag:
        warnings.append(f"{n_flag} rows are marked Exclude = Yes by the tester (kept)")
    warnings += _others_warning(tokens, names)
    metadata = {"tester": VENDOR, "extra": {"current_sign_in_file": convention}}

    counters = {r: _DirectionCounters(1e-4 * peak[r] + 1e-12) for r in peak}
    for table in tables():
        _, dirn = _mode_direction(table)
        i = column(table, "current")
        current = np.where(dirn < 0, -np.abs(i), i) if rule == "negate" else i
        direction = np.where(np.isnan(dirn), np.sign(np.nan_to_num(current)), dirn)
        data = _bdf_columns(
            table, roles, current, direction, lambda role, v, d: counters[role].push(v, d)
        )
        yield RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)
