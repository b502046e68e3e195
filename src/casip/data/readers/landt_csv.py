"""Landt CSV exports: a metadata block, then a table with snake_case headers and units.

The layout (as in the Battery Data Alliance's reference file
``SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv``)::

    cell model:,,,...
    cell id: ,,,...
    test: ,,,...
    checkpoint: ,,,...
    Nominal capacity used to define the C rate:Ah,,,...
    Nominal energy used to define the E rate: Wh,,,...
    channel_index,cycle_index,step_index,date_time_iso_string,test_time_s,step_time_s,
    current_A,voltage_V,discharge_capacity_Ah,charge_capacity_Ah,discharge_energy_Wh,
    charge_energy_Wh,Pressure_Psi,temperature_1_C,temperature_2_C,temperature_3_C,step_name

Hand-written, on pyarrow's CSV reader: cellpy 1.0.3 has no Landt loader; navani reads Landt
Excel files and depends on galvani (GPL); the BDF project's package (batterydf 0.1.0,
Apache-2.0) has a plugin for this layout, but it parses with pandas' slow Python engine, returns
the tester's columns unconverted (counters still reset per step) and the same package multiplies
Neware cycle numbers by 2*pi. Finding the header and mapping a dozen columns takes a few lines;
pyarrow's multithreaded parser reads only the columns needed, with explicit types.

Conventions of the tester, as found in the file
-----------------------------------------------
- Current is **negative on discharge** (rows whose ``step_name`` says "discharge" carry
  negative current), as in BDF, so it is kept. Should an export write magnitudes only (all
  discharge-step currents >= 0), the discharge rows are negated; a warning says so.
- The capacity and energy counters **reset at every step** (each discharge step starts again
  from 0; the charge counter reads 0 during discharge steps). They are made cumulative from the
  test start with :func:`casip.data.schema.cumulative_from_resetting`, a new run starting
  wherever a counter drops, which is right whether the tester resets per step, per cycle or
  never.
- ``date_time_iso_string`` holds the tester PC's local wall-clock (``MM/DD/YYYY hh:mm:ss`` in
  the reference file despite its name), without a time zone: it is taken as UTC for
  ``unix_time_second`` and a warning says so. The date order (month or day first) is the one
  that parses every row and agrees best with ``test_time_s``.
- ``channel_index`` counts the rows in the reference file (1, 2, 3...), so it is recorded as
  the channel only when it is the same on every row.
- Temperature and pressure columns that are zero on every row mean no sensor: they are left
  out (a warning says so). ``temperature_1`` is taken as the ambient temperature, as in the
  BDF reference conversion of the same file; ``Pressure_Psi`` becomes ``applied_pressure_pa``.
- The metadata block (cell id, cell model, test, nominal capacity...) fills the metadata where
  it holds values; empty fields are left empty.

A truncated file whose last line is cut off is refused
(:func:`casip.data.readers._base.truncated_error`); so is a malformed row anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    block_size_for,
    decode_head,
    line_chunks,
    looks_binary,
    truncated_error,
)
from casip.errors import CasipInputError, Problem

FORMAT = "landt-csv"
VENDOR = "Landt"
DESCRIPTION = "Landt CSV export (metadata block, then snake_case columns with units)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: Header names (lower case) that mark the table of a Landt CSV export.
SIGNATURE = (
    "channel_index",
    "cycle_index",
    "step_index",
    "date_time_iso_string",
    "test_time_s",
    "step_time_s",
    "step_name",
)
_REQUIRED = ("test_time", "current", "voltage")
_QUANTITY = re.compile(
    r"^(?P<q>test_time|step_time|current|voltage|discharge_capacity|charge_capacity"
    r"|discharge_energy|charge_energy|pressure|temperature_\d+)_(?P<u>[a-z]+)$"
)
#: (quantity, unit) -> factor to the SI-based unit of the BDF column.
_SCALE = {
    "test_time": {"s": 1.0, "min": 60.0, "h": 3600.0},
    "step_time": {"s": 1.0, "min": 60.0, "h": 3600.0},
    "current": {"a": 1.0, "ma": 1e-3, "ua": 1e-6},
    "voltage": {"v": 1.0, "mv": 1e-3},
    "capacity": {"ah": 1.0, "mah": 1e-3},
    "energy": {"wh": 1.0, "mwh": 1e-3, "kwh": 1e3},
    "pressure": {"pa": 1.0, "kpa": 1e3, "mpa": 1e6, "bar": 1e5, "psi": 6894.757293168},
    "temperature": {"c": 1.0},
}
_TARGET = {
    "test_time": "test_time_second",
    "current": "current_ampere",
    "voltage": "voltage_volt",
    "charge_capacity": "charging_capacity_ah",
    "discharge_capacity": "discharging_capacity_ah",
    "charge_energy": "charging_energy_wh",
    "discharge_energy": "discharging_energy_wh",
    "pressure": "applied_pressure_pa",
    "temperature_1": "ambient_temperature_celsius",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE_FORMATS = (
    "ISO8601",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S.%f",
    "%d/%m/%Y %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)


def _bad(message: str, value: object = None, expected: str | None = None) -> CasipInputError:
    return CasipInputError(Problem("", message, value, expected))


def _family(quantity: str) -> str:
    """The unit family of a quantity name (``discharge_capacity`` -> ``capacity``)."""
    for family in ("time", "capacity", "energy", "temperature"):
        if family in quantity:
            return "test_time" if family == "time" else family
    return quantity


def _split(line: str) -> list[str]:
    return [t.strip().strip('"') for t in line.split(",")]


def _find_header(lines: list[str]) -> int | None:
    """Index of the table's header line among ``lines`` (None if there is none)."""
    for k, line in enumerate(lines[:200]):
        tokens = {t.lower() for t in _split(line)}
        if not {"test_time_s", "current_a", "voltage_v"} <= tokens and not (
            any(t.startswith("test_time_") for t in tokens)
            and any(t.startswith("current_") for t in tokens)
            and any(t.startswith("voltage_") for t in tokens)
        ):
            continue
        if sum(s in tokens for s in SIGNATURE) >= 3:
            return k
    return None


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Landt CSV export (its header and metadata block)."""
    if not head or looks_binary(head):
        return 0.0
    lines = decode_head(head).splitlines()
    k = _find_header(lines)
    if k is None:
        return 0.0
    block = " ".join(lines[:k]).lower()
    if "nominal capacity used to define the c rate" in block or "cell model:" in block:
        return 0.95
    return 0.85


def _metadata_block(lines: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Metadata from the lines above the header (``key: value`` or ``key:unit,value``)."""
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    for line in lines:
        fields = _split(line)
        if not fields or ":" not in fields[0]:
            continue
        key, _, rest = fields[0].partition(":")
        key, rest = key.strip().lower(), rest.strip()
        others = [f for f in fields[1:] if f]
        if key.startswith("nominal capacity") or key.startswith("nominal energy"):
            unit = rest.lower() or "ah"
            value = others[0] if others else None
            if value is None:
                continue
            quantity = "capacity" if "capacity" in key else "energy"
            factor = _SCALE[quantity].get(unit)
            try:
                number = float(value) * factor if factor else None
            except ValueError:
                number = None
            if number is None or number <= 0:
                warnings.append(f"metadata {key!r} not understood: {value!r} {rest!r}")
                extra[key] = f"{value} {rest}".strip()
            elif quantity == "capacity":
                meta["nominal_capacity_ah"] = number
            else:
                extra["nominal_energy_wh"] = number
            continue
        value = rest or (others[0] if others else "")
        if not value:
            continue
        if key == "cell id":
            meta["cell_id"] = value
        elif key == "test":
            meta["schedule"] = value
        else:
            extra[key.replace(" ", "_")] = value
    meta["extra"] = extra
    return meta, warnings


def _data_end(path: Path, size: int, n_columns: int) -> tuple[int, bool]:
    """Where the table's complete rows end: before a last line cut short by truncation.

    Returns the end offset and whether an incomplete last line was left out.
    """
    with path.open("rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    cut = tail.rfind(b"\n")
    last = tail[cut + 1 :]
    if not last.strip() or len(last.split(b",")) == n_columns:
        return size, False
    return size - len(last), True


def _sample_index(n: int) -> np.ndarray:
    """Rows on which the wall-clock format is chosen: the first 200 and 800 spread over all."""
    return np.unique(
        np.r_[np.arange(min(n, 200)), np.linspace(0, n - 1, min(n, 800)).astype(int)]
    )


def _choose_format(sample: pd.Series, test_time: np.ndarray) -> str:
    """The date format that parses every sampled string and fits their test times best."""
    ok = sample.notna() & (sample != "")
    if not ok.any():
        return ""
    best_spread, best_fmt = np.inf, ""
    for fmt in _DATE_FORMATS:
        try:
            parsed = pd.to_datetime(sample[ok], format=fmt, errors="raise")
        except (ValueError, TypeError):
            continue
        unix = parsed.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
        offset = unix - test_time[ok.to_numpy()]
        spread = float(np.nanmax(np.abs(offset - np.nanmedian(offset))))
        if spread < best_spread:
            best_spread, best_fmt = spread, fmt
    return best_fmt


def _apply_format(strings: pa.ChunkedArray | pa.Array, fmt: str) -> np.ndarray:
    """Wall-clock strings to unix seconds in format ``fmt`` (NaN where one does not parse)."""
    if fmt == "ISO8601":
        values = pd.to_datetime(strings.to_pandas(), format="ISO8601", errors="coerce")
        ns = values.to_numpy(dtype="datetime64[ns]")
    else:
        fmt = fmt.replace(".%f", "")  # arrow's strptime reads fractional seconds itself
        ts = pc.strptime(strings, format=fmt, unit="ms", error_is_null=True)
        ns = ts.to_numpy().astype("datetime64[ns]")
    unix = ns.astype("int64") / 1e9
    unix[np.isnat(ns)] = np.nan
    return unix


def _parse_times(strings: pa.ChunkedArray, test_time: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Wall-clock strings to unix seconds: the format that parses all and fits test time best.

    The format is chosen on a sample of rows spread over the file, then applied to every row
    by pyarrow's vectorised ``strptime``.
    """
    idx = _sample_index(len(strings))
    sample = pd.Series(strings.take(pa.array(idx)).to_pylist(), dtype=object)
    best_fmt = _choose_format(sample, test_time[idx])
    if not best_fmt:
        return None, ""
    return _apply_format(strings, best_fmt), best_fmt


def _setup(path: Path) -> dict[str, Any]:
    """The layout of a Landt export: header line, data offset, columns and their types."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if looks_binary(head):
        raise _bad("not a Landt CSV export: the file is binary")
    encoding = "utf8"
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut at the 64 KiB boundary
            text = head[: exc.start].decode("utf-8-sig")
        else:
            encoding, text = "latin1", head.decode("latin-1")
    lines = text.splitlines(keepends=True)
    k = _find_header([ln.rstrip("\r\n") for ln in lines])
    if k is None:
        raise _bad(
            "not a Landt CSV export: no header line with test_time_s, current_A and voltage_V",
        )
    if _CONTROL.search("".join(lines[: k + 1])):
        raise _bad("corrupted: control characters in the metadata block or header")
    names = _split(lines[k].rstrip("\r\n"))
    if k + 1 < len(lines) and lines[k + 1].strip():
        extra_cols = len(_split(lines[k + 1].rstrip("\r\n"))) - len(names)
        names += [f"_unnamed_{j}" for j in range(max(0, extra_cols))]
    data_start = len("".join(lines[: k + 1]).encode("utf-8" if encoding == "utf8" else "latin-1"))
    if head.startswith(b"\xef\xbb\xbf"):
        data_start += 3

    columns: dict[str, tuple[str, float]] = {}  # file column -> (quantity, factor)
    for name in names:
        m = _QUANTITY.match(name.lower())
        if not m or m["q"] == "step_time":
            continue
        q, unit = m["q"], m["u"]
        factor = _SCALE[_family(q)].get(unit)
        if factor is None:
            raise _bad(f"unknown unit in column {name!r}", unit)
        columns[name] = (q, factor)
    found = {q for q, _ in columns.values()}
    missing = [q for q in _REQUIRED if q not in found]
    if missing:
        raise _bad("the table has no " + ", ".join(missing) + " column", names)
    lower = {n.lower(): n for n in names}
    cycle_col, step_col = lower.get("cycle_index"), lower.get("step_index")
    date_col, name_col, chan_col = (
        lower.get("date_time_iso_string"),
        lower.get("step_name"),
        lower.get("channel_index"),
    )
    types: dict[str, pa.DataType] = {c: pa.float64() for c in columns}
    for c in (cycle_col, step_col, chan_col):
        if c:
            types[c] = pa.float64()
    if date_col:
        types[date_col] = pa.string()
    if name_col:
        types[name_col] = pa.dictionary(pa.int32(), pa.string())
    return {
        "size": size,
        "head": head,
        "encoding": encoding,
        "lines": lines,
        "k": k,
        "names": names,
        "data_start": data_start,
        "columns": columns,
        "cycle_col": cycle_col,
        "step_col": step_col,
        "date_col": date_col,
        "name_col": name_col,
        "chan_col": chan_col,
        "types": types,
    }


def read(path: Path) -> RawReading:
    """Read a Landt CSV export into BDF columns.

    Parameters
    ----------
    path : Path
        The CSV file (read in place, never modified).

    Returns
    -------
    RawReading
        Time [s], voltage [V], current [A] (positive = charge), cycle and step numbers,
        cumulative capacities [Ah] and energies [Wh], unix time [s], temperature [degC] and
        pressure [Pa] where recorded; metadata from the block above the table.

    Raises
    ------
    CasipInputError
        If the header is missing, a row is malformed or a value is not a number.
    """
    path = Path(path)
    ctx = _setup(path)
    size = ctx["size"]
    encoding = ctx["encoding"]
    lines = ctx["lines"]
    k = ctx["k"]
    names = ctx["names"]
    data_start = ctx["data_start"]
    columns = ctx["columns"]
    cycle_col = ctx["cycle_col"]
    step_col = ctx["step_col"]
    date_col = ctx["date_col"]
    name_col = ctx["name_col"]
    chan_col = ctx["chan_col"]
    types = ctx["types"]

    end, cut_short = _data_end(path, size, len(names))
    if cut_short:
        raise truncated_error(path)
    if end <= data_start:
        raise _bad("the file holds no data rows")
    try:
        with pa.memory_map(str(path), "r") as mm:
            mm.seek(data_start)
            body = pa.BufferReader(mm.read_buffer(end - data_start))
            table = pacsv.read_csv(
                body,
                read_options=pacsv.ReadOptions(column_names=names, encoding=encoding),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(types), column_types=types, strings_can_be_null=True
                ),
            )
    except pa.ArrowInvalid as exc:
        msg = "".join(c if c.isprintable() else "?" for c in str(exc))
        msg = msg if len(msg) < 200 else msg[:200] + "..."
        raise _bad(f"corrupted or malformed table: {msg}") from None
    if table.num_rows == 0:
        raise _bad("the file holds no data rows")

    warnings: list[str] = []

    def col(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False).astype("float64", copy=False)

    data: dict[str, np.ndarray] = {}
    for name, (q, factor) in columns.items():
        values = col(name) * factor
        target = _TARGET.get(q)
        if q.startswith(("pressure", "temperature")) and not np.any(np.nan_to_num(values)):
            warnings.append(f"{name} is zero on every row (no sensor): left out")
        elif target is None:
            warnings.append(f"{name} has no column in the schema: left out")
        else:
            data[target] = values
    if cycle_col:
        data["cycle_count"] = col(cycle_col)
    if step_col:
        data["step_index"] = col(step_col)

    current = data["current_ampere"]
    if name_col:
        steps = pd.Categorical(table.column(name_col).to_pandas())
        labels = [str(v).lower() for v in steps.categories]
        is_dis_label = np.array(["discharge" in v or "dchg" in v for v in labels] + [False])
        discharge_rows = is_dis_label[steps.codes]  # code -1 (empty) -> the last entry, False
        clear = discharge_rows & (np.abs(current) > 0)
        if clear.any() and np.all(current[clear] > 0):
            data["current_ampere"] = np.where(discharge_rows, -np.abs(current), current)
            warnings.append("discharge currents were written as magnitudes: negated")

    for key in (
        "charging_capacity_ah",
        "discharging_capacity_ah",
        "charging_energy_wh",
        "discharging_energy_wh",
    ):
        if key in data:
            v = np.nan_to_num(data[key])
            runs = np.r_[0, np.cumsum(v[1:] < v[:-1])]
            data[key] = schema.cumulative_from_resetting(v, runs)

    meta, meta_warnings = _metadata_block([ln.rstrip("\r\n") for ln in lines[:k]])
    warnings += meta_warnings
    meta["tester"] = VENDOR
    if chan_col:
        ch = col(chan_col)
        if np.all(ch == ch[0]) and np.isfinite(ch[0]):
            meta["channel"] = str(int(ch[0]))
    if date_col:
        unix, fmt = _parse_times(table.column(date_col), data["test_time_second"])
        if unix is not None:
            data["unix_time_second"] = unix
            first = np.flatnonzero(np.isfinite(unix))
            if len(first):
                meta["start_time"] = pd.Timestamp(unix[first[0]], unit="s").to_pydatetime()
            meta["extra"]["date_format"] = fmt
            warnings.append(
                "the file's wall-clock is the tester PC's local time without a time zone: "
                "unix_time_second takes it as UTC"
            )
        else:
            warnings.append(f"{date_col} could not be parsed as dates: no unix time")
    return RawReading(data=pd.DataFrame(data, copy=False), metadata=meta, warnings=warnings)


def _chunk_tables(path: Path, ctx: dict[str, Any], include: list[str],
                  batch_rows: int) -> Iterator[pa.Table]:
    """The data rows of the file columns ``include`` in tables of about ``batch_rows`` rows."""
    types = ctx["types"]
    options = {
        "read_options": pacsv.ReadOptions(column_names=ctx["names"], encoding=ctx["encoding"]),
        "convert_options": pacsv.ConvertOptions(
            include_columns=include, column_types={c: types[c] for c in include},
            strings_can_be_null=True,
        ),
    }
    size = block_size_for(ctx["head"], batch_rows)
    for chunk in line_chunks(path, ctx["data_start"], size):
        try:
            table = pacsv.read_csv(pa.py_buffer(chunk), **options)
        except pa.ArrowInvalid:
            raise StreamFallback("a malformed data line") from None
        if table.num_rows:
            yield table


def _numeric(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype("float64", copy=False)


def _discharge_rows(table: pa.Table, name_col: str) -> np.ndarray:
    """Rows whose step name says discharge (as :func:`read` decides)."""
    steps = pd.Categorical(table.column(name_col).to_pandas())
    labels = [str(v).lower() for v in steps.categories]
    is_dis_label = np.array(["discharge" in v or "dchg" in v for v in labels] + [False])
    return is_dis_label[steps.codes]


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    Three passes over line-aligned chunks: the first over the current, step name, channel and
    sensor columns (which sensors hold values, whether discharge currents are magnitudes, the
    row count), the second over the sampled rows of the wall-clock and test time (the date
    format, chosen on the same rows as :func:`read` does), the third yields the batches,
    carrying the counters' offsets over. A cut last line has the file read whole
    (:class:`StreamFallback`).
    """
    path = Path(path)
    ctx = _setup(path)
    names, columns = ctx["names"], ctx["columns"]
    cycle_col, step_col, date_col = ctx["cycle_col"], ctx["step_col"], ctx["date_col"]
    name_col, chan_col = ctx["name_col"], ctx["chan_col"]
    end, cut_short = _data_end(path, ctx["size"], len(names))
    if cut_short:
        raise truncated_error(path)
    if end <= ctx["data_start"]:
        raise StreamFallback("no data rows")
    current_cols = [c for c, (q, _) in columns.items() if q == "current"]
    sensors = [c for c, (q, _) in columns.items() if q.startswith(("pressure", "temperature"))]

    # first pass: rows, sensors with values, the current convention, the channel
    rows = 0
    nonzero = dict.fromkeys(sensors, False)
    any_clear, all_positive = False, True
    chan_first: float | None = None
    chan_same = True
    others = [c for c in (name_col, chan_col) if c]
    first_pass = list(dict.fromkeys(current_cols + sensors + others))
    for table in _chunk_tables(path, ctx, first_pass, batch_rows):
        rows += table.num_rows
        for c in sensors:
            if not nonzero[c]:
                nonzero[c] = bool(np.any(np.nan_to_num(_numeric(table, c) * columns[c][1])))
        if name_col and current_cols:
            c = current_cols[-1]  # the last current column is the one read keeps
            current = _numeric(table, c) * columns[c][1]
            clear = _discharge_rows(table, name_col) & (np.abs(current) > 0)
            any_clear |= bool(clear.any())
            all_positive &= bool(np.all(current[clear] > 0))
        if chan_col:
            ch = _numeric(table, chan_col)
            if chan_first is None:
                chan_first = float(ch[0])
            chan_same &= bool(np.all(ch == chan_first))
    if rows == 0:
        raise StreamFallback("no data rows")
    magnitudes = bool(name_col) and any_clear and all_positive

    # second pass: the wall-clock format, on the rows read() samples
    fmt = ""
    if date_col:
        idx = _sample_index(rows)
        t_col = [c for c, (q, _) in columns.items() if _TARGET.get(q) == "test_time_second"][-1]
        sample: list[Any] = []
        sample_t: list[np.ndarray] = []
        row = 0
        for table in _chunk_tables(path, ctx, list(dict.fromkeys([date_col, t_col])), batch_rows):
            n = table.num_rows
            here = idx[(idx >= row) & (idx < row + n)] - row
            if len(here):
                take = pa.array(here)
                sample += table.column(date_col).take(take).to_pylist()
                sample_t.append(_numeric(table, t_col)[here] * columns[t_col][1])
            row += n
        fmt = _choose_format(pd.Series(sample, dtype=object), np.concatenate(sample_t))

    warnings: list[str] = []
    kept: dict[str, tuple[str, float]] = {}
    for name, (q, factor) in columns.items():
        target = _TARGET.get(q)
        if q.startswith(("pressure", "temperature")) and not nonzero[name]:
            warnings.append(f"{name} is zero on every row (no sensor): left out")
        elif target is None:
            warnings.append(f"{name} has no column in the schema: left out")
        else:
            kept[name] = (target, factor)
    if magnitudes:
        warnings.append("discharge currents were written as magnitudes: negated")
    meta, meta_warnings = _metadata_block([ln.rstrip("\r\n") for ln in ctx["lines"][: ctx["k"]]])
    warnings += meta_warnings
    if date_col:
        if fmt:
            warnings.append(
                "the file's wall-clock is the tester PC's local time without a time zone: "
                "unix_time_second takes it as UTC"
            )
        else:
            warnings.append(f"{date_col} could not be parsed as dates: no unix time")

    # third pass: the batches
    counter_keys = ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
                    "discharging_energy_wh")
    last: dict[str, float] = {}
    offset = dict.fromkeys(counter_keys, 0.0)
    start: float | None = None
    for table in _chunk_tables(path, ctx, list(ctx["types"]), batch_rows):
        data: dict[str, np.ndarray] = {}
        for name, (target, factor) in kept.items():
            data[target] = _numeric(table, name) * factor
        if cycle_col:
            data["cycle_count"] = _numeric(table, cycle_col)
        if step_col:
            data["step_index"] = _numeric(table, step_col)
        if magnitudes:
            current = data["current_ampere"]
            data["current_ampere"] = np.where(
                _discharge_rows(table, name_col), -np.abs(current), current
            )
        for key in counter_keys:
            if key not in data:
                continue
            v = np.nan_to_num(data[key])
            prev = np.r_[last.get(key, v[0]), v[:-1]]
            drop = v < prev
            last[key] = float(v[-1])
            if drop.any():
                carried = np.cumsum(np.r_[offset[key], np.where(drop, prev, 0.0)])[1:]
                offset[key] = float(carried[-1])
                data[key] = v + carried
            else:
                data[key] = v + offset[key]
        if fmt:
            unix = _apply_format(table.column(date_col), fmt)
            data["unix_time_second"] = unix
            finite = np.flatnonzero(np.isfinite(unix))
            if start is None and len(finite):
                start = float(unix[finite[0]])
        yield RawReading(data=pd.DataFrame(data, copy=False), metadata={}, warnings=warnings)
        warnings = []
    meta["tester"] = VENDOR
    if chan_col and chan_same and chan_first is not None and np.isfinite(chan_first):
        meta["channel"] = str(int(chan_first))
    if fmt:
        if start is not None:
            meta["start_time"] = pd.Timestamp(start, unit="s").to_pydatetime()
        meta["extra"]["date_format"] = fmt
    yield RawReading(data=pd.DataFrame(), metadata=meta, warnings=[])
