"""Novonix HPC data files (CSV with ``[Summary]``, ``[Protocol]`` and ``[Data]`` sections).

Hand-written: cellpy has no Novonix loader; beep's ``NovonixDatapath`` pulls in the whole beep
stack, parses the wall-clock with a Python loop per row and maps step type 8 (the CV phase of a
CC-CV *charge*) to discharge; ``preparenovonix`` (2019) cleans files rather than reading them.
The data table is plain CSV, so pyarrow's CSV reader parses it from the ``[Data]`` line on.

The file
    ``[Summary]`` holds ``Key: value`` lines (channel, cell, protocol, mass, capacity, area,
    start time, software version), ``[Protocol]`` the schedule as text, ``[Data]`` a header
    line and the rows: ``Date and Time, Cycle Number, Step Type, Run Time (h), Step Time (h),
    Current (A), Potential (V), Capacity (Ah), Temperature (°C), Circuit Temperature (°C),
    Energy (Wh), ..., Step Number, Step position``. Some copies wrap every line in double
    quotes (as the one shared here does); both forms read. Exports without the summary (the
    header line first) read too.

Sign convention
    ``Step Type`` codes: 0 open circuit, 1 CC charge, 2 CC discharge, 7/8 the CC and CV phases
    of a CC-CV charge, 9/10 those of a CC-CV discharge. If the file has any negative current
    its sign is kept (positive on charge, as CASIP); if it has none, the current of discharge
    rows is negated (an unsigned export). ``metadata.extra["current_sign_in_file"]`` says
    which. Rows of other codes take their direction from the sign of the current.

Counters
    ``Capacity (Ah)`` and ``Energy (Wh)`` count from zero within a charge or a discharge (they
    carry over between consecutive steps of the same direction, e.g. from the CC-CV charge to
    the next CC charge). They are made cumulative per direction by
    :func:`casip.data.readers.bitrode_csv.counters_by_direction`, which does not depend on
    where the tester resets.

Time
    ``Run Time (h)`` is the test time. The wall clock (``Date and Time``, to the second, local
    time of the tester without a time zone) gives the start; ``unix_time_second`` is that start
    read as UTC plus the run time (recorded in ``metadata.extra["clock_timezone"]``).

Temperatures
    ``Temperature (°C)`` (the cell's probe) becomes ``surface_temperature_celsius``;
    ``Circuit Temperature (°C)`` (the channel electronics) is left out.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    block_size_for,
    decode_head,
    line_chunks,
    looks_binary,
)
from casip.data.readers.bitrode_csv import (
    check_last_row,
    column,
    counters_by_direction,
    norm_token,
    read_csv_table,
    signed_current,
)
from casip.errors import CasipInputError, Problem

FORMAT = "novonix-csv"
VENDOR = "Novonix"
DESCRIPTION = "Novonix HPC data file (CSV with [Summary], [Protocol] and [Data] sections)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: longest header (summary + protocol) searched for the data header line
_MAX_HEADER_BYTES = 16 * 1024 * 1024

_ALIASES = {
    "dateandtime": "datetime",
    "cyclenumber": "cycle",
    "steptype": "step_type",
    "runtime(h)": "time_h",
    "steptime(h)": "step_time_h",
    "current(a)": "current",
    "potential(v)": "voltage",
    "capacity(ah)": "capacity",
    "temperature(c)": "temperature",
    "energy(wh)": "energy",
    "stepnumber": "step",
}

#: other numeric columns (validated, not kept)
_OTHER_NUMERIC = {"circuittemperature(c)", "dvdt(i/h)", "didt(v/h)", "stepposition"}

#: Step Type code -> direction (+1 charge, -1 discharge, 0 rest)
STEP_TYPE_DIRECTION = {0: 0.0, 1: 1.0, 2: -1.0, 7: 1.0, 8: 1.0, 9: -1.0, 10: -1.0}

_DATE_FORMATS = (
    "%Y-%m-%d %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M:%S",
)


def _is_data_header(line: str) -> bool:
    keys = {norm_token(t) for t in line.strip().strip('"').split(",")}
    return {"cyclenumber", "potential(v)", "current(a)"} <= keys and (
        "runtime(h)" in keys or "steptype" in keys
    )


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Novonix data file: its section markers or data header."""
    if not head or looks_binary(head):
        return 0.0
    text = decode_head(head)
    lines = text.splitlines()
    if not lines:
        return 0.0
    if lines[0].strip() == "[Summary]" and "novonix" in text[:4096].lower():
        return 0.95
    if "[Data]" in text and any(_is_data_header(ln) for ln in lines[:2000]):
        return 0.9
    if _is_data_header(lines[0]):
        return 0.85
    return 0.0


def _parse_date(text: str) -> dt.datetime | None:
    text = text.strip().strip('"')
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _metadata(summary: list[str], protocol: list[str]) -> tuple[dict[str, Any], list[str]]:
    """TestMetadata fields from the ``[Summary]`` lines (others in ``extra``)."""
    meta: dict[str, Any] = {"tester": VENDOR}
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    for line in summary:
        if ":" not in line:
            if line and line != VENDOR:
                extra.setdefault("file_type", line)
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not value:
            continue
        k = norm_token(key)
        if k == "channel":
            meta["channel"] = value
        elif k == "cell":
            meta["cell_id"] = value
        elif k == "protocol":
            meta["schedule"] = value
        elif k == "started":
            start = _parse_date(value)
            if start is not None:
                meta["start_time"] = start
            else:
                extra["started"] = value
        elif k in ("mass(g)", "capacity(ah)", "area(cm2)"):
            number = _number(value)
            field = {
                "mass(g)": "active_mass_g",
                "capacity(ah)": "nominal_capacity_ah",
                "area(cm2)": "electrode_area_cm2",
            }[k]
            if number is not None and number > 0:
                meta[field] = number
            else:
                extra[key] = value
        else:
            extra[key] = value
    if meta.get("active_mass_g") == 1.0 and meta.get("electrode_area_cm2") == 1.0:
        warnings.append(
            "the file states Mass (g) = 1.000 and Area (cm2) = 1.000, which look like the "
            "Novonix software's unset defaults: check them before using per-mass or per-area "
            "values"
        )
    if protocol:
        extra["protocol"] = "\n".join(protocol)
    return {**meta, "extra": extra}, warnings


def _split_header(path: Path) -> tuple[int, str, list[str], list[str]]:
    """Find the data header: (byte offset after it, header line, summary and protocol lines)."""
    summary: list[str] = []
    protocol: list[str] = []
    section = None
    with path.open("rb") as fh:
        while fh.tell() < _MAX_HEADER_BYTES:
            raw = fh.readline(1 << 20)
            if not raw:
                break
            line = decode_head(raw).rstrip("\r\n")
            bare = line.strip().strip('"').strip()
            if _is_data_header(line):
                return fh.tell(), line, summary, protocol
            if bare in ("[Summary]", "[Protocol]", "[Data]"):
                section = bare
            elif bare in ("[End Summary]", "[End Protocol]"):
                section = None
            elif section == "[Summary]":
                summary.append(bare)
            elif section == "[Protocol]":
                protocol.append(bare)
            elif section == "[Data]" and bare:
                break
    reason = (
        "no [Data] header line (Date and Time, Cycle Number, ..., Potential (V)) was found: "
        "the file is truncated or not a Novonix data file"
    )
    raise CasipInputError(Problem("", reason))


@dataclass
class _Layout:
    """Where the data table starts and how its fields are read."""

    offset: int
    summary: list[str]
    protocol: list[str]
    tokens: list[str]
    names: list[str]
    roles: dict[str, int]
    edge: set[int]
    types: dict[str, pa.DataType]
    check: dict[str, pa.DataType]
    quoted_rows: bool


def _layout(path: Path) -> _Layout:
    """The header, the data header line and the types of the fields (raises for a file
    without the required columns or with a truncated last row)."""
    offset, header, summary, protocol = _split_header(path)
    stripped = header.strip()
    # whole rows wrapped in one pair of quotes (not each field quoted, which CSV handles)
    quoted_rows = stripped.startswith('"') and stripped.endswith('"') and '","' not in stripped
    tokens = [t.strip().strip('"') for t in header.strip().split(",")]
    names = [f"_f{i}" for i in range(len(tokens))]
    roles: dict[str, int] = {}
    for idx, tok in enumerate(tokens):
        role = _ALIASES.get(norm_token(tok))
        if role and role not in roles:
            roles[role] = idx
            names[idx] = role
    missing = [r for r in ("time_h", "current", "voltage") if r not in roles]
    if missing:
        raise CasipInputError(
            Problem("header", "the [Data] header lacks " + ", ".join(missing), None,
                    "Run Time (h), Current (A), Potential (V)")
        )
    check_last_row(path, len(tokens), what="Novonix data")
    # with whole-row quotes kept, the first and the last field carry a quote: read as text
    edge = {0, len(tokens) - 1} if quoted_rows else set()
    types: dict[str, pa.DataType] = {}
    for role, idx in roles.items():
        if role == "datetime" or idx in edge:
            types[role] = pa.string()
        else:
            types[role] = pa.float64()
    # the other columns are converted too (and dropped), so that corruption anywhere shows
    check: dict[str, pa.DataType] = {}
    for idx, tok in enumerate(tokens):
        if names[idx] in types:
            continue
        numeric_col = norm_token(tok) in _OTHER_NUMERIC and idx not in edge
        check[names[idx]] = pa.float64() if numeric_col else pa.string()
    return _Layout(offset, summary, protocol, tokens, names, roles, edge, types, check,
                   quoted_rows)


def _table(source, lay: _Layout, roles: list[str] | None = None) -> pa.Table:
    """Parse the data rows of ``source`` (all kept roles and checked columns, or only
    ``roles`` unchecked)."""
    types = lay.types if roles is None else {r: lay.types[r] for r in roles if r in lay.roles}
    return read_csv_table(
        source, lay.names, types, check=lay.check if roles is None else None,
        labels=lay.tokens, quoted=not lay.quoted_rows, what="Novonix data",
    )


def _num(table: pa.Table, lay: _Layout, role: str) -> np.ndarray:
    """A numeric column as float64 (whole-row quotes trimmed from an edge field)."""
    if lay.roles[role] in lay.edge and role != "datetime":
        text = pc.utf8_trim(table.column(role), '"')
        try:
            return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            raise CasipInputError(
                Problem(lay.tokens[lay.roles[role]],
                        "a value is not a number: the file is corrupted")
            ) from None
    return column(table, role)


def _directions(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direction per row from the Step Type codes (NaN where unknown), and the unknown rows."""
    direction = np.full(len(codes), np.nan)
    for code, value in STEP_TYPE_DIRECTION.items():
        direction[codes == code] = value
    return direction, np.isnan(direction) & np.isfinite(codes)


def _unknown_warning(count: int, codes: set[int]) -> str:
    return (
        f"{count} rows have Step Type codes {sorted(codes)[:10]} of unknown "
        "direction; taken from the sign of the current"
    )


def _drift_warning(drift: float) -> str | None:
    if abs(drift) > 120:
        return (
            f"the wall clock and the run time differ by {drift:.0f} s at the end "
            "(clock changed during the test?); unix time follows the run time"
        )
    return None


_NO_CLOCK = "the Date and Time column does not parse: no unix time"
_CLOCK_TZ = "not stated in the file: the wall clock is read as UTC"


def read(path: Path) -> RawReading:
    """Read a Novonix HPC data file into BDF columns (see the module docstring)."""
    path = Path(path)
    lay = _layout(path)
    roles, offset = lay.roles, lay.offset
    with path.open("rb") as fh:
        fh.seek(offset)
        table = _table(fh, lay)
    if table.num_rows == 0:
        raise CasipInputError(Problem("", "the [Data] section has a header but no rows"))

    def num(role: str) -> np.ndarray:
        return _num(table, lay, role)

    warnings: list[str] = []
    n = table.num_rows
    direction = np.full(n, np.nan)
    if "step_type" in roles:
        codes = num("step_type")
        direction, unknown = _directions(codes)
        if unknown.any():
            warnings.append(
                _unknown_warning(int(unknown.sum()), {int(c) for c in np.unique(codes[unknown])})
            )
    current, direction, convention = signed_current(num("current"), direction)
    t = num("time_h") * 3600.0
    data: dict[str, Any] = {
        "test_time_second": t,
        "voltage_volt": num("voltage"),
        "current_ampere": current,
    }
    meta, meta_warnings = _metadata(lay.summary, lay.protocol)
    warnings += meta_warnings
    extra = meta["extra"]
    extra["current_sign_in_file"] = convention
    if "datetime" in roles:
        dates = table.column("datetime")
        first = _parse_date(str(dates[0].as_py() or ""))
        if first is not None and np.isfinite(t[0]):
            start_unix = first.replace(tzinfo=dt.UTC).timestamp()
            data["unix_time_second"] = start_unix + (t - t[0])
            extra["clock_timezone"] = _CLOCK_TZ
            last = _parse_date(str(dates[n - 1].as_py() or ""))
            if last is not None and np.isfinite(t[-1]):
                drift = last.replace(tzinfo=dt.UTC).timestamp() - data["unix_time_second"][-1]
                if (text := _drift_warning(drift)) is not None:
                    warnings.append(text)
            meta.setdefault("start_time", first)
        else:
            warnings.append(_NO_CLOCK)
    if "cycle" in roles:
        data["cycle_count"] = num("cycle")
    if "step" in roles:
        data["step_index"] = num("step")
    for role, (charge_col, discharge_col) in (
        ("capacity", ("charging_capacity_ah", "discharging_capacity_ah")),
        ("energy", ("charging_energy_wh", "discharging_energy_wh")),
    ):
        if role in roles:
            data[charge_col], data[discharge_col] = counters_by_direction(num(role), direction)
    if "temperature" in roles:
        data["surface_temperature_celsius"] = num("temperature")
    return RawReading(data=pd.DataFrame(data), metadata=meta, warnings=warnings)


class _Counter:
    """:func:`casip.data.readers.bitrode_csv.counters_by_direction` batch by batch: the last
    magnitude and the two sums carry over (``noise`` is the whole file's, from a first pass)."""

    def __init__(self, noise: float) -> None:
        self.noise = noise
        self.last = 0.0
        self.sums = [0.0, 0.0]

    def push(self, counter: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = pd.Series(np.abs(np.asarray(counter, dtype=float))).ffill().fillna(self.last)
        m = m.to_numpy()
        if len(m) == 0:
            return m, m
        prev = np.r_[self.last, m[:-1]]
        rise = m - prev
        reset = (m < 0.5 * prev) & (prev - m > self.noise)
        rise = np.clip(np.where(reset, m, rise), 0.0, None)
        out = []
        for k, rows in enumerate((direction > 0, direction < 0)):
            # one running sum from the first row (as the whole-file cumsum adds)
            total = np.cumsum(np.r_[self.sums[k], np.where(rows, rise, 0.0)])[1:]
            self.sums[k] = float(total[-1])
            out.append(total)
        self.last = float(m[-1])
        return out[0], out[1]


def _chunks(path: Path, lay: _Layout, batch_rows: int, head: bytes,
            roles: list[str] | None = None) -> Iterator[pa.Table]:
    for chunk in line_chunks(path, lay.offset, block_size_for(head, batch_rows)):
        table = _table(io.BytesIO(chunk), lay, roles)
        if table.num_rows:
            yield table


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    Two passes over the data rows: the first reads only the current, the Step Type and the
    counters, for the whole-file decisions (the sign convention, the counters' reset noise
    level, the unknown Step Type codes); the second converts the rows batch by batch, carrying
    the counters and the clock's start. Warnings and metadata come in a last batch without
    rows.
    """
    path = Path(path)
    lay = _layout(path)
    roles = lay.roles
    with path.open("rb") as fh:
        fh.seek(lay.offset)
        head = fh.read(HEAD_BYTES)
    counters = [r for r in ("capacity", "energy") if r in roles]

    # first pass: the whole-file decisions
    any_negative = any_discharge = False
    unknown_n = 0
    unknown_codes: set[int] = set()
    largest = dict.fromkeys(counters, 0.0)
    rows = 0
    scan = ["current", "step_type", *counters]
    for table in _chunks(path, lay, batch_rows, head, scan):
        i = _num(table, lay, "current")
        direction = np.full(table.num_rows, np.nan)
        if "step_type" in roles:
            codes = _num(table, lay, "step_type")
            direction, unknown = _directions(codes)
            unknown_n += int(unknown.sum())
            unknown_codes |= {int(c) for c in np.unique(codes[unknown])}
        any_negative |= bool(np.any(i < 0))
        any_discharge |= bool(np.any((direction < 0) & (np.abs(np.nan_to_num(i)) > 0)))
        for role in counters:
            m = np.abs(_num(table, lay, role))
            m = m[~np.isnan(m)]
            if len(m):
                largest[role] = max(largest[role], float(m.max()))
        rows += table.num_rows
    if rows == 0:
        raise StreamFallback("no data rows")
    # the sign rule applied to a batch with one leading row that forces the whole file's case
    lead = (-1.0, np.nan) if any_negative else (1.0, -1.0) if any_discharge else None
    runs = {role: _Counter(1e-4 * largest[role] + 1e-12) for role in counters}

    # second pass: the rows
    convention = ""
    start: tuple[float, float] | None = None  # (unix time, run time) of the first row
    first_date: dt.datetime | None = None
    last_date = ""
    last_t = np.nan
    first = True
    for table in _chunks(path, lay, batch_rows, head):
        n = table.num_rows
        direction = np.full(n, np.nan)
        if "step_type" in roles:
            direction, _ = _directions(_num(table, lay, "step_type"))
        i = _num(table, lay, "current")
        if lead is None:
            current, direction, convention = signed_current(i, direction)
        else:
            current, direction, convention = signed_current(
                np.r_[lead[0], i], np.r_[lead[1], direction]
            )
            current, direction = current[1:], direction[1:]
        t = _num(table, lay, "time_h") * 3600.0
        data: dict[str, Any] = {
            "test_time_second": t,
            "voltage_volt": _num(table, lay, "voltage"),
            "current_ampere": current,
        }
        if "datetime" in roles:
            dates = table.column("datetime")
            if first:
                first_date = _parse_date(str(dates[0].as_py() or ""))
                if first_date is not None and np.isfinite(t[0]):
                    start = (first_date.replace(tzinfo=dt.UTC).timestamp(), float(t[0]))
            if start is not None:
                data["unix_time_second"] = start[0] + (t - start[1])
            last_date = str(dates[n - 1].as_py() or "")
        last_t = float(t[-1])
        if "cycle" in roles:
            data["cycle_count"] = _num(table, lay, "cycle")
        if "step" in roles:
            data["step_index"] = _num(table, lay, "step")
        for role, (charge_col, discharge_col) in (
            ("capacity", ("charging_capacity_ah", "discharging_capacity_ah")),
            ("energy", ("charging_energy_wh", "discharging_energy_wh")),
        ):
            if role in roles:
                data[charge_col], data[discharge_col] = runs[role].push(
                    _num(table, lay, role), direction
                )
        if "temperature" in roles:
            data["surface_temperature_celsius"] = _num(table, lay, "temperature")
        first = False
        yield RawReading(data=pd.DataFrame(data))
    if first:
        raise StreamFallback("no data rows")

    warnings: list[str] = []
    if unknown_n:
        warnings.append(_unknown_warning(unknown_n, unknown_codes))
    meta, meta_warnings = _metadata(lay.summary, lay.protocol)
    warnings += meta_warnings
    extra = meta["extra"]
    extra["current_sign_in_file"] = convention
    if "datetime" in roles:
        if start is not None:
            extra["clock_timezone"] = _CLOCK_TZ
            last = _parse_date(last_date)
            if last is not None and np.isfinite(last_t):
                drift = last.replace(tzinfo=dt.UTC).timestamp() - (
                    start[0] + (last_t - start[1])
                )
                if (text := _drift_warning(drift)) is not None:
                    warnings.append(text)
            meta.setdefault("start_time", first_date)
        else:
            warnings.append(_NO_CLOCK)
    yield RawReading(data=pd.DataFrame(), metadata=meta, warnings=warnings)
