"""Novonix HPC data files (CSV with ``[Summary]``, ``[Protocol]`` and ``[Data]`` sections).

A declarative :class:`~casip.data.readers.tabular.TableFormat` (:data:`NOVONIX`) converted by
the table engine of :mod:`casip.data.readers.tabular`, with hooks for what is Novonix's own.
Hand-written on pyarrow: cellpy has no Novonix loader; beep's ``NovonixDatapath`` pulls in the
whole beep stack, parses the wall-clock with a Python loop per row and maps step type 8 (the
CV phase of a CC-CV *charge*) to discharge; ``preparenovonix`` (2019) cleans files rather than
reading them.

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
    the next CC charge). They are made cumulative per direction as
    :func:`casip.data.readers.bitrode_csv.counters_by_direction` does (a reset is a drop of
    the magnitude to less than half its previous value, by more than 1e-4 of the largest
    magnitude so far), which does not depend on where the tester resets.

Time
    ``Run Time (h)`` is the test time. The wall clock (``Date and Time``, to the second, local
    time of the tester without a time zone) gives the start; ``unix_time_second`` is that start
    read as UTC plus the run time (recorded in ``metadata.extra["clock_timezone"]``).

Temperatures
    ``Temperature (°C)`` (the cell's probe) becomes ``surface_temperature_celsius``;
    ``Circuit Temperature (°C)`` (the channel electronics) is left out.

What is data (:data:`NOVONIX`)
    The ``[Data]`` header's names and units (hours, A, V, Ah, Wh, °C), the roles they play
    (the engine converts run time, potential, current, cycle and step numbers and the cell
    temperature), the Step Type codes' directions (:data:`STEP_TYPE_DIRECTION`), and the
    recognition rule: run time, potential, current and cycle number in one header line.

What is a hook
    - ``header``: the ``[Summary]`` fields and the ``[Protocol]`` text (the lines above the
      data header);
    - ``batch``: the sign convention and the direction of each row from the Step Type codes
      (numbers, not labels, and a file-wide sign rule rather than the engine's per-row
      step-label rule; decided as the rows come, a later batch that contradicts it has the
      file read whole), the counters per direction (rest rows add nothing, which the
      engine's counter rule does not say), the unix time from the first wall-clock value
      plus the run time (the engine reads no ``AM``/``PM`` clock);
    - ``finish``: the convention found, the clock's time zone and drift, the unknown codes and
      the summary's unset defaults, as warnings and metadata.
    The rows are parsed by this module's loop (:func:`_batches`), not by the engine's
    ``iter_table``: the data header may follow a protocol of any length (the engine looks in
    the first 200 lines), and rows wrapped whole in double quotes are not CSV the engine's
    parser reads (the quotes are kept and trimmed from the first and the last field).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Iterator, Mapping
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
    join_batches,
    line_chunks,
    looks_binary,
)
from casip.data.readers.bitrode_csv import (
    check_last_row,
    norm_token,
    read_csv_table,
    signed_current,
)
from casip.data.readers.tabular import (
    Column,
    Converter,
    DirectionCounter,
    Hooks,
    Layout,
    TableFormat,
    kind_of,
    probe,
    sign_by_evidence,
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

#: Step Type code -> direction (+1 charge, -1 discharge, 0 rest)
STEP_TYPE_DIRECTION = {0: 0.0, 1: 1.0, 2: -1.0, 7: 1.0, 8: 1.0, 9: -1.0, 10: -1.0}

_HOURS = {"h": 3600.0}
_CELSIUS = {"°c": 1.0, "c": 1.0, "℃": 1.0}

_DATE_FORMATS = (
    "%Y-%m-%d %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M:%S",
)

#: roles of the format's own that are parsed only so that corruption in them shows
_CHECKED = ("x_step_time", "x_circuit_temperature", "x_dvdt", "x_didt", "x_step_position")

_NO_CLOCK = "the Date and Time column does not parse: no unix time"
_CLOCK_TZ = "not stated in the file: the wall clock is read as UTC"
_DEFAULTS = (
    "the file states Mass (g) = 1.000 and Area (cm2) = 1.000, which look like the "
    "Novonix software's unset defaults: check them before using per-mass or per-area values"
)


# --------------------------------------------------------------------------------------------
# the hooks
# --------------------------------------------------------------------------------------------


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


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    """TestMetadata fields from the ``[Summary]`` lines (others, and the protocol, in
    ``extra``)."""
    summary: list[str] = []
    protocol: list[str] = []
    section = None
    for line in preamble:
        bare = line.strip().strip('"').strip()
        if bare in ("[Summary]", "[Protocol]", "[Data]"):
            section = bare
        elif bare in ("[End Summary]", "[End Protocol]"):
            section = None
        elif section == "[Summary]":
            summary.append(bare)
        elif section == "[Protocol]":
            protocol.append(bare)
    meta: dict[str, Any] = {"tester": VENDOR}
    extra: dict[str, Any] = {}
    fields = {"mass(g)": "active_mass_g", "capacity(ah)": "nominal_capacity_ah",
              "area(cm2)": "electrode_area_cm2"}
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
        elif k in fields:
            number = _number(value)
            if number is not None and number > 0:
                meta[fields[k]] = number
            else:
                extra[key] = value
        else:
            extra[key] = value
    if protocol:
        extra["protocol"] = "\n".join(protocol)
    return {**meta, "extra": extra}


def _directions(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Direction per row from the Step Type codes (NaN where unknown), and the unknown rows."""
    direction = np.full(len(codes), np.nan)
    for code, value in STEP_TYPE_DIRECTION.items():
        direction[codes == code] = value
    return direction, np.isnan(direction) & np.isfinite(codes)


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Novonix's own steps on a converted batch: Step Type -> sign and direction, counters
    per direction, unix time from the first wall-clock value and the run time."""
    n = len(frame)
    direction = np.full(n, np.nan)
    if "x_step_type" in values:
        codes = np.asarray(values["x_step_type"], dtype=float)
        direction, unknown = _directions(codes)
        if unknown.any():
            state["n_unknown"] = state.get("n_unknown", 0) + int(unknown.sum())
            state.setdefault("codes", set()).update(int(c) for c in np.unique(codes[unknown]))
    current = sign_by_evidence(state, frame["current_ampere"].to_numpy(), direction)
    direction = np.where(np.isnan(direction), np.sign(np.nan_to_num(current)), direction)
    t = frame["test_time_second"].to_numpy()
    out: dict[str, Any] = {"test_time_second": t, "voltage_volt": frame["voltage_volt"].to_numpy(),
                           "current_ampere": current}
    if "x_datetime" in values:
        state["clock"] = True
        dates = values["x_datetime"]
        if "start" not in state:  # decided on the first batch, as the old two-pass reader did
            first = _parse_date(_text(dates.iloc[0])) if n else None
            state["first_date"] = first
            state["start"] = (first.replace(tzinfo=dt.UTC).timestamp(), float(t[0])) if (
                first is not None and np.isfinite(t[0])) else None
        if state["start"] is not None:
            out["unix_time_second"] = state["start"][0] + (t - state["start"][1])
        if n:
            state["last"] = (_text(dates.iloc[-1]), float(t[-1]))
    for col in ("cycle_count", "step_index"):
        if col in frame:
            out[col] = frame[col].to_numpy()
    for role, unit in (("x_capacity", "capacity_ah"), ("x_energy", "energy_wh")):
        if role in values:
            ctr = state.setdefault(role, DirectionCounter())
            out[f"charging_{unit}"], out[f"discharging_{unit}"] = ctr.push(values[role],
                                                                          direction)
    if "surface_temperature_celsius" in frame:
        out["surface_temperature_celsius"] = frame["surface_temperature_celsius"].to_numpy()
    return pd.DataFrame(out)


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """The sign convention and the clock found, and the warnings counted over the batches."""
    rule = state.get("sign")
    probe_sign = {"keep": (np.array([-1.0]), np.array([np.nan])),
                  "negate": (np.array([1.0]), np.array([-1.0]))}.get(
        rule, (np.array([0.0]), np.array([np.nan])))
    extra: dict[str, Any] = {"current_sign_in_file": signed_current(*probe_sign)[2]}
    md: dict[str, Any] = {"extra": extra}
    warnings = []
    if state.get("n_unknown"):
        warnings.append(
            f"{state['n_unknown']} rows have Step Type codes {sorted(state['codes'])[:10]} of "
            "unknown direction; taken from the sign of the current"
        )
    header = state.get("header", {})
    if header.get("active_mass_g") == 1.0 and header.get("electrode_area_cm2") == 1.0:
        warnings.append(_DEFAULTS)
    if state.get("clock"):
        start = state.get("start")
        if start is None:
            warnings.append(_NO_CLOCK)
        else:
            extra["clock_timezone"] = _CLOCK_TZ
            text, last_t = state["last"]
            last = _parse_date(text)
            if last is not None and np.isfinite(last_t):
                drift = last.replace(tzinfo=dt.UTC).timestamp() - (start[0] + last_t - start[1])
                if abs(drift) > 120:
                    warnings.append(
                        f"the wall clock and the run time differ by {drift:.0f} s at the end "
                        "(clock changed during the test?); unix time follows the run time"
                    )
            if "start_time" not in header:
                md["start_time"] = state["first_date"]
    return md, warnings


# --------------------------------------------------------------------------------------------
# the format as data
# --------------------------------------------------------------------------------------------

NOVONIX = TableFormat(
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source="Novonix HPC data files as the software writes them (the shared "
    "test_Nova_Form-CH01-01_short.csv, 2.2.1.6); Step Type codes from the file's protocol "
    "section and its rows (CC-CV charge steps are codes 7 then 8)",
    columns=(
        Column("time", ("Run Time",), _HOURS),
        Column("voltage", ("Potential",), {"v": 1.0}),
        Column("current", ("Current",), {"a": 1.0}),
        Column("cycle", ("Cycle Number",)),
        Column("step", ("Step Number",)),
        Column("temperature", ("Temperature",), _CELSIUS),
        Column("x_datetime", ("Date and Time",), kind="label"),
        Column("x_step_type", ("Step Type",), kind="int"),
        Column("x_capacity", ("Capacity",), {"ah": 1.0}),
        Column("x_energy", ("Energy",), {"wh": 1.0}),
        Column("x_step_time", ("Step Time",), _HOURS),
        Column("x_circuit_temperature", ("Circuit Temperature",), _CELSIUS),
        Column("x_dvdt", ("dVdt",), kind="number"),
        Column("x_didt", ("dIdt",), kind="number"),
        Column("x_step_position", ("Step position",), kind="int"),
    ),
    required=("time", "voltage", "current", "cycle"),
    hooks=Hooks(header=_header, batch=_batch, finish=_finish),
)

# --------------------------------------------------------------------------------------------
# finding the data header, and the loop over the rows
# --------------------------------------------------------------------------------------------


def _header_layout(line: str, source: str | None = None) -> Layout | None:
    """The engine's layout of ``line`` if it is the ``[Data]`` header line, else None.

    Raises CasipInputError for a header whose unit the format does not allow (``source``
    named), as the engine does.
    """
    if "," not in line:
        return None
    try:
        layout = probe(NOVONIX, line.encode("utf-8"), source)
    except CasipInputError as exc:
        if exc.source is None and source is not None:
            exc.source = source
            exc.args = (exc._render(),)
        raise
    return layout if layout is not None and layout.delimiter == "," else None


def _is_data_header(line: str) -> bool:
    try:
        return _header_layout(line) is not None
    except CasipInputError:
        return False


@dataclasses.dataclass
class _Table:
    """Where the data rows start and how they are written."""

    layout: Layout  # the header line's, with header_line and preamble of the whole file
    offset: int  # byte offset of the first data row
    width: int  # fields per row
    quoted_rows: bool  # every row wrapped whole in one pair of double quotes


def _locate(path: Path) -> _Table:
    """Find the data header line below the summary and the protocol (of any length)."""
    preamble: list[str] = []
    section = None
    with path.open("rb") as fh:
        while fh.tell() < _MAX_HEADER_BYTES:
            raw = fh.readline(1 << 20)
            if not raw:
                break
            line = decode_head(raw).rstrip("\r\n")
            layout = _header_layout(line, str(path))
            if layout is not None:
                stripped = line.strip()
                quoted = (stripped.startswith('"') and stripped.endswith('"')
                          and '","' not in stripped)
                layout = dataclasses.replace(layout, header_line=len(preamble),
                                             preamble=preamble)
                return _Table(layout, fh.tell(), len(stripped.split(",")), quoted)
            preamble.append(line)
            bare = line.strip().strip('"').strip()
            if bare in ("[Summary]", "[Protocol]", "[Data]"):
                section = bare
            elif section == "[Data]" and bare:
                break
    raise CasipInputError(
        Problem("", "no [Data] header line (Date and Time, Cycle Number, ..., Potential (V)) "
                "was found: the file is truncated or not a Novonix data file"),
        source=str(path),
    )


def _parse(chunk: bytes, tab: _Table, path: Path) -> dict[str, Any]:
    """One chunk of data rows: role -> column (every other field converted and dropped)."""
    lay = tab.layout
    edge = {0, tab.width - 1} if tab.quoted_rows else set()
    names = [f"_f{j}" for j in range(tab.width)]
    labels = list(lay.tokens) + [""] * (tab.width - len(lay.tokens))
    types: dict[str, pa.DataType] = {}
    check: dict[str, pa.DataType] = {}
    for role, (j, _) in lay.roles.items():
        names[j] = role
        text = j in edge or kind_of(NOVONIX, role) == "label"
        (check if role in _CHECKED else types)[role] = pa.string() if text else pa.float64()
    for name in names:
        if name.startswith("_f"):
            check[name] = pa.string()
    try:
        table = read_csv_table(io.BytesIO(chunk), names, types, check=check, labels=labels,
                               quoted=not tab.quoted_rows, what="Novonix data")
    except CasipInputError as exc:
        exc.source = str(path)
        exc.args = (exc._render(),)
        raise
    raw: dict[str, Any] = {}
    for role in types:
        col = table.column(role)
        j = lay.roles[role][0]
        if j in edge:
            col = pc.utf8_trim(col, '"')
            if kind_of(NOVONIX, role) != "label":
                try:
                    col = pc.cast(col, pa.float64())
                except pa.ArrowInvalid:
                    raise CasipInputError(
                        Problem(lay.tokens[j], "a value is not a number: the file is corrupted"),
                        source=str(path),
                    ) from None
        raw[role] = col
    return raw


def _batches(path: Path, batch_rows: int | None) -> Iterator[RawReading]:
    """The data rows in chunks of about ``batch_rows`` rows (all in one if None) through the
    engine's converter and the hooks; a last batch without rows carries the metadata and the
    warnings."""
    path = Path(path)
    tab = _locate(path)
    check_last_row(path, tab.width, what="Novonix data")
    size = path.stat().st_size + 1
    if batch_rows is not None:
        with path.open("rb") as fh:
            fh.seek(tab.offset)
            size = block_size_for(fh.read(HEAD_BYTES), batch_rows)
    conv = Converter(NOVONIX, tab.layout, str(path))
    header = _header(tab.layout.preamble, tab.layout)
    conv.state["header"] = header
    rows = 0
    for chunk in line_chunks(path, tab.offset, size):
        raw = _parse(chunk, tab, path)
        if not len(raw["current"]):
            continue
        frame = conv.convert(raw)
        rows += len(frame)
        yield RawReading(data=frame)
    if rows == 0:
        if batch_rows is not None:
            raise StreamFallback("no data rows")
        raise CasipInputError(Problem("", "the [Data] section has a header but no rows"),
                              source=str(path))
    more, warnings = _finish(conv.state)
    md = {k: v for k, v in header.items() if k != "extra"}
    md.update({k: v for k, v in more.items() if k != "extra"})
    md["extra"] = {**header.get("extra", {}), **more.get("extra", {})}
    yield RawReading(data=pd.DataFrame(), metadata=md, warnings=warnings)


# --------------------------------------------------------------------------------------------
# the adapter contract
# --------------------------------------------------------------------------------------------


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Novonix data file: its section markers or data header.

    0.95 for a ``[Summary]`` first line and the vendor's name; 0.9 for a ``[Data]`` section
    whose header line (one the format's columns recognise: run time, potential, current and
    cycle number) is in the head; 0.85 for such a header as the first line.
    """
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


def read(path: Path) -> RawReading:
    """Read a Novonix HPC data file into BDF columns (see the module docstring).

    Raises
    ------
    CasipInputError
        For a file without a ``[Data]`` header (run time, potential, current, cycle number),
        with a unit other than Novonix's, cut mid-row, corrupted, or without data rows.
    """
    path = Path(path)
    return join_batches(_batches(path, None))


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows.

    One pass: the sign convention is decided as the rows come (the rule of :func:`read`
    agrees until the first discharge row with current; a later negative current that
    contradicts "unsigned" raises :class:`StreamFallback`, and the file is read whole), the
    counters and the clock's start are carried from batch to batch. Warnings and metadata
    come in a last batch without rows.
    """
    return _batches(Path(path), batch_rows)
