"""Bitrode CSV exports (VisuaLCN "Time(s), Cycle, Loop, Step, ... Mode" tables).

A declarative :class:`~casip.data.readers.tabular.TableFormat` (:data:`BITRODE`) read by the
table engine of :mod:`casip.data.readers.tabular`, with two hooks for what is Bitrode's own.
Hand-written on pyarrow: no maintained Python reader for Bitrode files exists (cellpy, beep
and battery-data-toolkit have none).

The file
    One header line, then one row per record: ``Exclude, Time(s), Cycle, Loop, Loop, Loop,
    Step, StepTime(s), Current(A), Voltage(V), Power(W), Capacity(Ah), Energy(Wh), Mode, Data``
    (the three ``Loop`` columns share a name, and a trailing comma adds an empty column). There
    is no metadata block and no wall-clock time.

What is data (:data:`BITRODE`)
    The header names and their units (seconds, A, V, Ah, Wh; the unit in brackets), which
    roles they play, and the recognition rule: time, voltage, current and ``Mode`` in the
    first line, with one more of Bitrode's own columns (``StepTime``, ``Exclude``, ``Loop``).

What is a hook
    - **Sign convention** (``batch``): ``Mode`` says what the channel does: ``CHRG``, ``DCHG``
      or ``REST``. The exports seen write the current signed, positive on charge (as CASIP);
      some Bitrode set-ups write it unsigned. A file with any negative current is kept as
      written; one without, whose ``DCHG`` rows carry current, has those rows negated. The
      decision is taken as the rows come (the two rules agree until the first discharge row
      with current; a later negative current contradicting "unsigned" has the file read whole).
      What was found is recorded in ``metadata.extra["current_sign_in_file"]``.
    - **Counters** (``batch``): ``Capacity(Ah)`` and ``Energy(Wh)`` count the current step only
      (negative in ``DCHG`` steps); a ``REST`` step either holds the previous step's value or
      restarts at zero. The rise of the counter's magnitude from row to row, counted from zero
      after a reset (a drop to less than half the previous value, and by more than 1e-4 of the
      largest magnitude so far), is added to the charge counter in charge rows and to the
      discharge counter in discharge rows; rest rows add nothing. The direction comes from
      ``Mode``, not from the current, so the engine's generic counter rule is not used.
    - **Warnings** (``finish``): rows whose ``Mode`` is not known, rows marked ``Exclude =
      Yes`` (kept), columns outside the schema.
    - **Rows wider than the header**: every data row ends with a delimiter; the engine takes
      the row width from the first data row.

Other columns
    ``Loop`` counters, ``Power(W)``, ``StepTime(s)``, ``Exclude`` and the ``Data`` flag are not
    in the schema: they are parsed (so that corruption in them shows) and left out.

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
    truncated_error,
)
from casip.data.readers.tabular import (
    Column,
    DirectionCounter,
    Hooks,
    Layout,
    TableAdapter,
    TableFormat,
    iter_table,
    probe,
    read_table,
    sign_by_evidence,
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
# the Bitrode format: data, and the hooks for its Mode column and step counters
# --------------------------------------------------------------------------------------------

_SECONDS = {"s": 1.0, "sec": 1.0}
_CHARGE_MODES = ("CHRG", "CHG", "CHARGE")
_DISCHARGE_MODES = ("DCHG", "DCH", "DIS", "DISCHARGE")
_REST_MODES = ("REST", "PAUSE", "PAUS", "WAIT", "OCV")
_MODE_DIRECTION = {
    **dict.fromkeys(_CHARGE_MODES, 1.0),
    **dict.fromkeys(_DISCHARGE_MODES, -1.0),
    **dict.fromkeys(_REST_MODES, 0.0),
}
#: columns read only to be checked (and left out of the schema)
_UNUSED = ("x_step_time", "x_power", "x_loop", "x_exclude", "x_data")


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Bitrode's own steps on a converted batch: Mode -> sign and direction, step counters."""
    mode = values["x_mode"].astype("string").str.strip().str.upper()
    direction = mode.map(_MODE_DIRECTION).astype(float).to_numpy()
    unknown = np.isnan(direction)
    if unknown.any():
        state["n_unknown"] = state.get("n_unknown", 0) + int(unknown.sum())
        seen = state.setdefault("unknown", [])
        for v in pd.unique(mode[unknown]):
            if v not in seen and len(seen) < 10:
                seen.append(None if pd.isna(v) else v)
    current = sign_by_evidence(state, frame["current_ampere"].to_numpy(), direction)
    direction = np.where(unknown, np.sign(np.nan_to_num(current)), direction)
    out = {"test_time_second": frame["test_time_second"].to_numpy(),
           "voltage_volt": frame["voltage_volt"].to_numpy(), "current_ampere": current}
    for col in ("cycle_count", "step_index"):
        if col in frame:
            out[col] = frame[col].to_numpy()
    for role, unit in (("x_capacity", "capacity_ah"), ("x_energy", "energy_wh")):
        if role in values:
            ctr = state.setdefault(role, DirectionCounter())
            out[f"charging_{unit}"], out[f"discharging_{unit}"] = ctr.push(values[role],
                                                                          direction)
    if "x_exclude" in values:
        flagged = values["x_exclude"].astype("string").str.strip().str.upper() == "YES"
        state["n_flag"] = state.get("n_flag", 0) + int(flagged.fillna(False).sum())
    return pd.DataFrame(out)


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """The sign convention found, and the warnings counted over the batches."""
    rule = state.get("sign")
    probe_sign = {"keep": (np.array([-1.0]), np.array([np.nan])),
                  "negate": (np.array([1.0]), np.array([-1.0]))}.get(
        rule, (np.array([0.0]), np.array([np.nan])))
    convention = signed_current(*probe_sign)[2]
    warnings = []
    if state.get("n_unknown"):
        warnings.append(
            f"{state['n_unknown']} rows have a Mode other than CHRG/DCHG/REST "
            f"({state['unknown']}); their direction is taken from the sign of the current"
        )
    if state.get("n_flag"):
        warnings.append(f"{state['n_flag']} rows are marked Exclude = Yes by the tester (kept)")
    layout: Layout = state["layout"]
    used = {j for j, _ in layout.roles.values()}
    others = [t for j, t in enumerate(layout.tokens)
              if j not in used and t.strip() and not norm_token(t).startswith("loop")]
    if others:
        warnings.append("columns outside the schema were left out: " + ", ".join(others))
    return {"extra": {"current_sign_in_file": convention}}, warnings


BITRODE = TableFormat(
    preamble_metadata=False,
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source="VisuaLCN CSV exports (the shared cell-discharge-bitrode-1c.csv and "
    "cell-low-current-hppc-25c.csv, from the BatteryArchive/Sandia data)",
    columns=(
        Column("time", ("Time", "Total Time", "Test Time"), _SECONDS),
        Column("cycle", ("Cycle", "Cycle Number")),
        Column("step", ("Step", "Step Number")),
        Column("current", ("Current", "Amps"), {"a": 1.0}, "a"),
        Column("voltage", ("Voltage", "Volts"), {"v": 1.0}, "v"),
        Column("x_capacity", ("Capacity", "Amp-Hours"), {"ah": 1.0}, "ah"),
        Column("x_energy", ("Energy", "Watt-Hours"), {"wh": 1.0}, "wh"),
        Column("x_mode", ("Mode",), kind="label"),
        Column("x_step_time", ("StepTime", "Step Time"), _SECONDS),
        Column("x_power", ("Power",), {"w": 1.0}),
        Column("x_loop", ("Loop",), kind="int"),
        Column("x_exclude", ("Exclude",), kind="label"),
        Column("x_data", ("Data",), kind="label"),
    ),
    required=("time", "voltage", "current", "x_mode"),
    hooks=Hooks(batch=_batch, finish=_finish),
)

ADAPTER = TableAdapter(BITRODE)


def _layout(head: bytes) -> Layout | None:
    """The Bitrode table of ``head``, or None (a unit other than Bitrode's is not ours)."""
    try:
        return probe(BITRODE, head)
    except CasipInputError:
        return None


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Bitrode CSV export: its header line's column names.

    Time, voltage, current and ``Mode``, and one more of Bitrode's own columns (``StepTime``,
    ``Exclude``, ``Loop``), in the file's first line.
    """
    layout = _layout(head) if head else None
    if layout is None or layout.header_line != 0 or ADAPTER.sniff(head, name) < 0.5:
        return 0.0
    return 0.9 if {"x_step_time", "x_exclude", "x_loop"} & set(layout.roles) else 0.0


def _checked(path: Path) -> Layout:
    with Path(path).open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    layout = _layout(head)
    if layout is None or layout.header_line != 0:
        raise CasipInputError(
            Problem("header", "not a Bitrode export: the first line lacks a Time(s), "
                    "Current(A), Voltage(V) or Mode column", None,
                    "Time(s), Current(A), Voltage(V) and Mode columns"),
            source=str(path),
        )
    return layout


def read(path: Path) -> RawReading:
    """Read a Bitrode CSV export into BDF columns (see the module docstring)."""
    return read_table(BITRODE, Path(path), layout=_checked(path), what="Bitrode export")


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (one pass; the sign decided as the
    rows come, :class:`StreamFallback` if a later row contradicts it)."""
    return iter_table(BITRODE, Path(path), batch_rows, layout=_checked(path), streaming=True,
                      what="Bitrode export")
