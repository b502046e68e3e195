"""Arbin CSV exports: the channel data table written as text, with an optional metadata file.

Hand-written on pyarrow's CSV reader: the export is a plain CSV whose header holds Arbin's own
column names (``Data_Point``, ``Test_Time``, ``Cycle_Index``, ``Charge_Capacity``...), so
pyarrow parses it (explicit columns and float types) and this module only maps names and units.
The maintained readers that know this layout (beep, battery-data-toolkit) each bring a large
dependency tree for a few lines of mapping; cellpy reads Arbin CSV only through a per-file
configuration.

Header variants handled: names with underscores or spaces (``Test_Time``, ``Test Time``), with
or without units in brackets (``Current(A)``, ``Current (mA)``, ``Charge_Capacity(Ah)``,
``Test_Time(h)``); ``DateTime``/``Date_Time`` as unix seconds, an Excel serial date or a date
string; the first temperature column (``Temperature``, ``Aux_Temperature_1(C)``) as
``surface_temperature_celsius``.

Tester conventions
------------------
- ``Current`` positive while charging (the CASIP convention): no sign change.
- Capacity and energy counters reset at each cycle (MITS Pro's default; a schedule may reset
  them per step); they are made cumulative wherever a counter falls (see
  :func:`casip.data.readers.arbin_res.cumulative_counter`). A file whose counters do not start
  at zero (the export of a test that had already run) keeps its first values as the offset.
- Unix ``DateTime`` values are read as UTC; date strings and Excel dates have no time zone and
  are read as UTC too (``metadata.extra["clock"]`` says so).
- A last line cut short (a truncated file) is refused
  (:func:`casip.data.readers._base.truncated_error`); a bad line elsewhere is an error.

Metadata: when ``<name>_Metadata.csv`` sits beside the data file (as in Arbin's database
exports), its channel (``iv_ch_id``), schedule, start time (``first_start_datetime``, unix s),
and cell id (``item_id``) are read; its other fields go to ``extra``. That file alone is not a
test: :func:`sniff` does not claim it and :func:`read` says which file to read instead.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
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
    first_line,
    header_tokens,
    hms_to_seconds,
    line_chunks,
    looks_binary,
    offset_after_lines,
    truncated_error,
)
from casip.data.readers.arbin_res import cumulative_counter
from casip.errors import CasipInputError, Problem

FORMAT = "arbin-csv"
VENDOR = "Arbin"
DESCRIPTION = "Arbin CSV export of the channel data (with <name>_Metadata.csv if present)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: Arbin column key (lower case, no unit) -> (BDF column, {unit: factor to SI}, default unit)
_QUANTITIES: dict[str, tuple[str, dict[str, float], str]] = {
    "test_time": (
        "test_time_second",
        {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0},
        "s",
    ),
    "current": ("current_ampere", {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6}, "a"),
    "voltage": ("voltage_volt", {"v": 1.0, "mv": 1e-3}, "v"),
    "charge_capacity": ("charging_capacity_ah", {"ah": 1.0, "mah": 1e-3}, "ah"),
    "discharge_capacity": ("discharging_capacity_ah", {"ah": 1.0, "mah": 1e-3}, "ah"),
    "charge_energy": ("charging_energy_wh", {"wh": 1.0, "mwh": 1e-3}, "wh"),
    "discharge_energy": ("discharging_energy_wh", {"wh": 1.0, "mwh": 1e-3}, "wh"),
    "internal_resistance": ("internal_resistance_ohm", {"ohm": 1.0, "mohm": 1e-3, "Ω": 1.0}, "ohm"),
    "cycle_index": ("cycle_count", {"": 1.0}, ""),
    "step_index": ("step_index", {"": 1.0}, ""),
}
_TIME_KEYS = ("datetime", "date_time")
_TEMPERATURE = re.compile(r"^(aux_)?(cell_)?temperature(_\d+)?$")
_TEMPERATURE_UNITS = {
    "": "C",
    "c": "C",
    "°c": "C",
    "degc": "C",
    "deg_c": "C",
    "f": "F",
    "°f": "F",
    "k": "K",
}
_REQUIRED = ("data_point", "test_time", "current", "voltage")
_METADATA_KEYS = {"test_id", "iv_ch_id", "first_start_datetime", "schedule_file_name"}
_COUNTERS = (
    "charging_capacity_ah",
    "discharging_capacity_ah",
    "charging_energy_wh",
    "discharging_energy_wh",
)
_UNIT = re.compile(r"^(.*?)\s*[\(\[]\s*([^\)\]]*?)\s*[\)\]]\s*$")


def _bad(message: str) -> CasipInputError:
    return CasipInputError(Problem("", message))


def _key(token: str) -> tuple[str, str]:
    """Arbin header token -> (key, unit): ``"Current (mA)"`` -> ``("current", "ma")``."""
    t = token.strip().strip('"').strip()
    m = _UNIT.match(t)
    name, unit = (m.group(1), m.group(2)) if m else (t, "")
    return re.sub(r"[\s_]+", "_", name.strip().lower()), unit.strip().lower()


def _header(head: bytes) -> list[str]:
    return header_tokens(first_line(decode_head(head)))


def _is_metadata_header(keys: set[str]) -> bool:
    return _METADATA_KEYS <= keys and "test_time" not in keys


def _data_file_for(name: str) -> str:
    return re.sub(r"_metadata(\.csv)?$", r"\1", name, flags=re.IGNORECASE)


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` starts an Arbin CSV export (not its metadata file)."""
    if not head or looks_binary(head):
        return 0.0
    keys = {_key(t)[0] for t in _header(head)}
    if set(_REQUIRED) <= keys and keys & {"cycle_index", "step_index"}:
        return 0.9
    return 0.0


def explain(head: bytes, name: str) -> str | None:
    """Why a file this adapter does not claim is still Arbin's, or None.

    For an Arbin metadata file (``<name>_Metadata.csv``): it is not a test, read the data file.
    """
    if not head or looks_binary(head):
        return None
    keys = {_key(t)[0] for t in _header(head)}
    if _is_metadata_header(keys):
        return (
            "this is an Arbin test metadata file, not a test; read the data file "
            f"{_data_file_for(name)!r} beside it (its metadata is taken from this file)"
        )
    return None


def _to_unix_seconds(values: pa.ChunkedArray) -> np.ndarray:
    """Arbin ``DateTime``: unix seconds, an Excel serial date or date strings -> unix s (UTC)."""
    if pa.types.is_timestamp(values.type):
        s = pd.Series(values.to_numpy(zero_copy_only=False))
        return (s - pd.Timestamp(0)).dt.total_seconds().to_numpy(float)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        x = values.to_numpy(zero_copy_only=False).astype(float)
        finite = x[np.isfinite(x)]
        if len(finite) and np.nanmedian(finite) < 1e6:  # Excel/OLE serial days
            return (x - 25569.0) * 86400.0
        return x
    s = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_datetime(s, errors="coerce", format="mixed")
    if parsed.isna().all():
        raise ValueError("the DateTime column holds no readable dates")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return (parsed - pd.Timestamp(0)).dt.total_seconds().to_numpy(float)


def _companion_metadata(path: Path, warnings: list[str]) -> dict[str, Any]:
    """Channel, schedule, start time and cell id from ``<name>_Metadata.csv``, if present."""
    candidates = [
        path.with_name(f"{path.stem}{suffix}.csv")
        for suffix in ("_Metadata", "_metadata", "_METADATA")
    ]
    meta_path = next((p for p in candidates if p.is_file()), None)
    if meta_path is None:
        return {}
    try:
        df = pd.read_csv(meta_path, nrows=2, dtype=str, keep_default_na=False)
        if len(df) == 0:
            raise ValueError("no row")
    except Exception as exc:
        warnings.append(f"the metadata file {meta_path.name} could not be read ({exc})")
        return {}
    row = {str(k).strip().lower(): str(v).strip() for k, v in df.iloc[0].items()}
    row.pop("", None)
    row = {k: v for k, v in row.items() if v != "" and not k.startswith("unnamed")}
    meta: dict[str, Any] = {}
    if row.get("iv_ch_id"):
        meta["channel"] = row.pop("iv_ch_id")
    if row.get("schedule_file_name"):
        meta["schedule"] = row.pop("schedule_file_name")
    if row.get("item_id"):
        meta["cell_id"] = row.pop("item_id")
    try:
        start = float(row.get("first_start_datetime", "nan"))
        if np.isfinite(start) and start > 0:
            meta["start_time"] = _dt.datetime.fromtimestamp(start, tz=_dt.UTC)
            row.pop("first_start_datetime")
    except ValueError:
        pass
    extra: dict[str, Any] = {"metadata_file": meta_path.name}
    extra.update(row)
    meta["extra"] = extra
    return meta


@dataclass
class _Layout:
    """What :func:`_layout` finds in the header line."""

    head: bytes
    tokens: list[str]
    sep: str
    plan: dict[str, tuple[str, float]]
    temperature: tuple[str, str] | None
    time_col: str | None
    test_time_col: str | None
    dropped: list[str]
    include: list[str]
    numeric: list[str]
    encoding: str


def _layout(path: Path) -> _Layout:
    """The columns to read and how (from the header line); raises for a file not read."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    why = explain(head, path.name)
    if why:
        raise _bad(why)
    if looks_binary(head):
        raise _bad("not an Arbin CSV export: the file is binary")
    tokens = _header(head)
    line = first_line(decode_head(head))
    sep = "\t" if line.count("\t") > line.count(",") else ","
    keys = [_key(t) for t in tokens]
    present = {k for k, _ in keys}
    missing = [k for k in _REQUIRED if k not in present]
    if missing:
        raise _bad(
            "not an Arbin CSV export: the header has no "
            + ", ".join(missing)
            + " column (expected Data_Point, Test_Time, Current, Voltage...)"
        )
    # original column name -> (BDF name, factor) / special handling
    plan: dict[str, tuple[str, float]] = {}
    temperature: tuple[str, str] | None = None
    time_col: str | None = None
    test_time_col: str | None = None
    dropped: list[str] = []
    for token, (key, unit) in zip(tokens, keys, strict=True):
        if key in _QUANTITIES:
            target, units, default = _QUANTITIES[key]
            if any(p[0] == target for p in plan.values()):
                dropped.append(token)
                continue
            factor = units.get(unit or default)
            if factor is None:
                raise _bad(f"column {token!r}: unit {unit!r} not understood")
            if key == "test_time":
                test_time_col = token
            plan[token] = (target, factor)
        elif key in _TIME_KEYS and time_col is None:
            time_col = token
        elif _TEMPERATURE.match(key) and temperature is None:
            scale = _TEMPERATURE_UNITS.get(unit)
            if scale is None:
                dropped.append(token)
            else:
                temperature = (token, scale)
        elif key != "data_point":
            dropped.append(token)
    if len(set(tokens)) != len(tokens):
        raise _bad("the header repeats a column name")

    numeric = [c for c in plan if c != test_time_col]
    include = list(plan)
    if time_col:
        include.append(time_col)
    if temperature:
        include.append(temperature[0])
        numeric.append(temperature[0])
    if b"\n" not in head and b"\r" not in head:
        raise _bad("the file ends inside its header line: it holds no data rows (truncated?)")
    try:  # Arbin software on Windows may write the degree sign etc. in a code page
        head[:-4].decode("utf-8")
        encoding = "utf8"
    except UnicodeDecodeError:
        encoding = "cp1252"
    return _Layout(
        head,
        tokens,
        sep,
        plan,
        temperature,
        time_col,
        test_time_col,
        dropped,
        include,
        numeric,
        encoding,
    )


def _convert(table: pa.Table, lay: _Layout) -> dict[str, np.ndarray]:
    """The ``plan`` columns of a parsed table in BDF names and SI units (row by row)."""
    data: dict[str, np.ndarray] = {}
    for col, (target, factor) in lay.plan.items():
        arr = table.column(col)
        if col == lay.test_time_col and not (
            pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
        ):
            try:
                x = hms_to_seconds(pd.Series(arr.to_numpy(zero_copy_only=False))).to_numpy(float)
            except Exception:
                raise _bad(f"column {col!r} holds values that are not times") from None
        else:
            x = arr.to_numpy(zero_copy_only=False).astype(float)
        data[target] = x * factor if factor != 1.0 else x
    return data


def _temperature(table: pa.Table, temperature: tuple[str, str]) -> np.ndarray:
    """The temperature column in degrees Celsius."""
    t = table.column(temperature[0]).to_numpy(zero_copy_only=False).astype(float)
    if temperature[1] == "F":
        t = (t - 32.0) * 5.0 / 9.0
    elif temperature[1] == "K":
        t = t - 273.15
    return t


def read(path: Path) -> RawReading:
    """Read an Arbin CSV export into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The data file. A ``<stem>_Metadata.csv`` beside it is read for the metadata.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units, the tester's metadata and any warnings.

    Raises
    ------
    CasipInputError
        If the file is an Arbin metadata file, not an Arbin CSV export, or has bad lines.
    """
    path = Path(path)
    lay = _layout(path)
    tokens, sep = lay.tokens, lay.sep
    temperature, time_col = lay.temperature, lay.time_col
    dropped, include, numeric, encoding = lay.dropped, lay.include, lay.numeric, lay.encoding
    warnings: list[str] = []
    cut = _incomplete_last_line(path, sep, len(tokens))
    if cut is not None:
        raise truncated_error(path)
    try:
        with contextlib.nullcontext(path) if cut is None else _Prefix(path, cut) as source:
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=1 << 22, encoding=encoding),
                parse_options=pacsv.ParseOptions(delimiter=sep),
                convert_options=pacsv.ConvertOptions(
                    include_columns=include,
                    column_types={c: pa.float64() for c in numeric},
                    strings_can_be_null=True,
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in msg)[:160]
        raise _bad(f"a line of the Arbin CSV export is corrupted ({msg})") from None
    if table.num_rows == 0:
        raise _bad("the Arbin CSV export holds no data rows")

    data = _convert(table, lay)
    if time_col:
        try:
            data["unix_time_second"] = _to_unix_seconds(table.column(time_col))
        except Exception as exc:
            warnings.append(f"column {time_col!r} left out: {exc}")
    if temperature:
        data["surface_temperature_celsius"] = _temperature(table, temperature)
    for c in _COUNTERS:
        if c in data:
            data[c] = cumulative_counter(data[c])
    if "internal_resistance_ohm" in data:
        r = data["internal_resistance_ohm"]
        r[r == 0] = np.nan
        if not np.isfinite(r).any():
            del data["internal_resistance_ohm"]
    if dropped:
        warnings.append(f"columns outside the schema were left out: {', '.join(dropped)}")

    metadata: dict[str, Any] = {"tester": VENDOR}
    metadata.update(_companion_metadata(path, warnings))
    extra = metadata.setdefault("extra", {})
    if time_col:
        extra["clock"] = f"{time_col} read as UTC (the export does not state a time zone)"
    return RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a file (all of it if ``limit`` is None), read-only."""

    def __init__(self, path: Path, limit: int | None):
        super().__init__()
        self._fh = path.open("rb")
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b)
        if self._left is not None:
            view = view[: max(0, self._left)]
        n = self._fh.readinto(view) if len(view) else 0
        if self._left is not None:
            self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _incomplete_last_line(path: Path, sep: str, n_fields: int) -> int | None:
    """Byte offset where the last line starts if it has fewer fields than the header, else None.

    A file cut short while being written or copied ends inside a line; that line is left out.
    """
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        start = max(0, size - 65536)
        fh.seek(start)
        tail = fh.read()
    body = tail.rstrip(b"\r\n")
    if len(body) < len(tail):  # ends with a line break: the last line is whole
        return None
    nl = max(body.rfind(b"\n"), body.rfind(b"\r"))
    if nl < 0:
        return None
    last = body[nl + 1 :].decode("utf-8", errors="replace")
    if last.count(sep) + 1 >= n_fields:
        return None
    return start + nl + 1


# --------------------------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------------------------


def _data_chunks(path: Path, lay: _Layout, cut: int | None, batch_rows: int) -> Iterator[bytes]:
    """The data lines (after the header line, before an incomplete last line) in chunks."""
    start = offset_after_lines(path, 1)
    pos = start
    for chunk in line_chunks(path, start, block_size_for(lay.head, batch_rows)):
        end = pos + len(chunk)
        if cut is not None and end > cut:
            chunk = chunk[: max(0, cut - pos)]
        pos = end
        if chunk.strip():
            yield chunk
        if cut is not None and pos >= cut:
            return


class _Counter:
    """:func:`casip.data.readers.arbin_res.cumulative_counter` carried across batches."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.offset = 0.0

    def push(self, values: np.ndarray) -> np.ndarray:
        v = np.nan_to_num(np.asarray(values, dtype=float))
        if len(v) == 0:
            return v
        first = v[0] if self.last is None else self.last
        prev = np.r_[first, v[:-1]]
        falls = v < prev
        offsets = np.cumsum(np.r_[self.offset, prev[falls]])
        out = v + offsets[np.cumsum(falls)] if falls.any() or self.offset else v
        self.last, self.offset = float(v[-1]), float(offsets[-1])
        return out


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    The column types of ``Test_Time`` and ``DateTime`` are those pyarrow infers from the file's
    first block (as :func:`read`); a first pass over only ``DateTime`` (numeric: unix seconds
    or Excel days, decided by the median) and ``Internal_Resistance`` (kept only if some value
    is not zero) takes the whole-file decisions; the counters' reset offsets are carried from
    batch to batch. Anything else (date strings, a line that does not parse, hh:mm:ss times
    that do not convert alike) raises :class:`StreamFallback`: the file is then read whole.
    """
    path = Path(path)
    lay = _layout(path)
    if b"\n" not in lay.head:
        raise StreamFallback("no line break in the file's head")
    cut = _incomplete_last_line(path, lay.sep, len(lay.tokens))
    if cut is not None:
        raise truncated_error(path)
    parse = pacsv.ParseOptions(delimiter=lay.sep)
    numeric = {c: pa.float64() for c in lay.numeric}
    try:
        with contextlib.nullcontext(path) if cut is None else _Prefix(path, cut) as source:
            with pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    block_size=1 << 22, encoding=lay.encoding, use_threads=False
                ),
                parse_options=parse,
                convert_options=pacsv.ConvertOptions(
                    include_columns=lay.include, column_types=numeric, strings_can_be_null=True
                ),
            ) as reader:
                inferred = reader.schema
        header = lay.head[: lay.head.find(b"\n") + 1]
        names = pacsv.read_csv(
            pa.py_buffer(header),
            read_options=pacsv.ReadOptions(encoding=lay.encoding),
            parse_options=parse,
        ).column_names
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, StopIteration) as exc:
        raise StreamFallback(f"the head does not parse alike ({exc})") from None
    types = dict(numeric)
    for col in (lay.test_time_col, lay.time_col):
        if col is None:
            continue
        t = inferred.field(col).type
        if pa.types.is_null(t):
            raise StreamFallback(f"column {col!r} is empty in the first block")
        types[col] = t
    dt_type = inferred.field(lay.time_col).type if lay.time_col else None
    if dt_type is not None and not (
        pa.types.is_integer(dt_type)
        or pa.types.is_floating(dt_type)
        or (pa.types.is_timestamp(dt_type) and dt_type.tz is None)
    ):
        raise StreamFallback(f"column {lay.time_col!r} holds date strings")
    ir_col = next((c for c, (t, _) in lay.plan.items() if t == "internal_resistance_ohm"), None)

    def tables(columns: list[str]) -> Iterator[pa.Table]:
        opts = {
            "read_options": pacsv.ReadOptions(column_names=names, encoding=lay.encoding),
            "parse_options": parse,
            "convert_options": pacsv.ConvertOptions(
                include_columns=columns,
                column_types={c: types[c] for c in columns if c in types},
                strings_can_be_null=True,
            ),
        }
        for chunk in _data_chunks(path, lay, cut, batch_rows):
            try:
                table = pacsv.read_csv(pa.py_buffer(chunk), **opts)
            except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
                raise StreamFallback(f"a chunk does not parse ({exc})") from None
            if table.num_rows:
                yield table

    # first pass: the whole-file decisions
    excel = False
    keep_ir = ir_col is not None
    numeric_dt = dt_type is not None and not pa.types.is_timestamp(dt_type)
    if numeric_dt or ir_col:
        first_cols = [c for c in (lay.time_col if numeric_dt else None, ir_col) if c]
        low = high = 0
        any_ir = False
        for table in tables(first_cols):
            if numeric_dt:
                x = table.column(lay.time_col).to_numpy(zero_copy_only=False).astype(float)
                x = x[np.isfinite(x)]
                n_low = int((x < 1e6).sum())
                low, high = low + n_low, high + len(x) - n_low
            if ir_col and not any_ir:
                r = table.column(ir_col).to_numpy(zero_copy_only=False).astype(float)
                any_ir = bool((np.isfinite(r) & (r != 0)).any())
        n = low + high
        if n and 2 * low == n:
            raise StreamFallback("DateTime: half of the values look like Excel days")
        excel = n > 0 and 2 * low > n
        keep_ir = any_ir

    warnings: list[str] = []
    if lay.dropped:
        warnings.append(f"columns outside the schema were left out: {', '.join(lay.dropped)}")
    metadata: dict[str, Any] = {"tester": VENDOR}
    metadata.update(_companion_metadata(path, warnings))
    extra = metadata.setdefault("extra", {})
    if lay.time_col:
        extra["clock"] = f"{lay.time_col} read as UTC (the export does not state a time zone)"

    counters = {c: _Counter() for c in _COUNTERS}
    rows = 0
    for table in tables(lay.include):
        try:
            data = _convert(table, lay)
        except CasipInputError:
            raise StreamFallback("Test_Time values do not convert batch by batch") from None
        if lay.time_col:
            if excel:
                x = table.column(lay.time_col).to_numpy(zero_copy_only=False).astype(float)
                data["unix_time_second"] = (x - 25569.0) * 86400.0
            else:
                data["unix_time_second"] = _to_unix_seconds(table.column(lay.time_col))
        if lay.temperature:
            data["surface_temperature_celsius"] = _temperature(table, lay.temperature)
        for c in _COUNTERS:
            if c in data:
                data[c] = counters[c].push(data[c])
        if "internal_resistance_ohm" in data:
            if keep_ir:
                r = data["internal_resistance_ohm"]
                r[r == 0] = np.nan
            else:
                del data["internal_resistance_ohm"]
        rows += table.num_rows
        yield RawReading(data=pd.DataFrame(data), metadata=metadata, warnings=warnings)
    if rows == 0:
        raise StreamFallback("no data rows")
