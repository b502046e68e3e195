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
Neware cycle numbers by 2*pi.

Data and hooks
--------------
The format is a :class:`~casip.data.readers.tabular.TableFormat` read by the table engine of
:mod:`casip.data.readers.tabular` (time, voltage, current, cycle and step numbers, the four
directional counters and their restarts are the engine's). As data: which quantity plays which
role (:data:`_ROLE`) and the units each quantity may carry (:data:`_SCALE`). The unit follows
the name after an underscore (``current_mA``), which the engine's header parser does not read,
so :func:`table_format` builds the format from the file's header names, each with the unit of
its suffix (:data:`LANDT` is the reference file's). Hooks: the metadata block (``header``); the
date order, all-zero sensor columns, discharge magnitudes and the channel (``batch``, decided
on the first batch that shows them; a later batch that contradicts one has the file read
whole); the warnings (``finish``). Data rows end with a comma the header lacks (the engine
takes the row width from the first data row).

Conventions of the tester, as found in the file
-----------------------------------------------
- Current is **negative on discharge** (rows whose ``step_name`` says "discharge" carry
  negative current), as in BDF, so it is kept. Should an export write magnitudes only (all
  discharge-step currents >= 0), the discharge rows are negated; a warning says so.
- The capacity and energy counters **reset at every step** (each discharge step starts again
  from 0; the charge counter reads 0 during discharge steps). The engine makes them cumulative
  from the test start: a restart is a step or cycle boundary where the counter falls, which is
  right whether the tester resets per step, per cycle or never.
- ``date_time_iso_string`` holds the tester PC's local wall-clock (``MM/DD/YYYY hh:mm:ss`` in
  the reference file despite its name), without a time zone: it is taken as UTC for
  ``unix_time_second`` and a warning says so. The date order (month or day first) is the one
  that parses every sampled row and agrees best with ``test_time_s`` (a hook: the engine's
  own rule takes the first order that runs forward).
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
    decode_head,
    looks_binary,
)
from casip.data.readers.tabular import (
    Column,
    Hooks,
    Layout,
    TableAdapter,
    TableFormat,
    iter_table,
    probe,
    read_table,
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
        ns = ts.to_numpy(zero_copy_only=False).astype("datetime64[ns]")
    unix = ns.astype("int64") / 1e9
    unix[np.isnat(ns)] = np.nan
    return unix



# --------------------------------------------------------------------------------------------
# the format: data built from the header (the unit follows an underscore), and hooks
# --------------------------------------------------------------------------------------------

#: quantity of the header -> role in the table engine (``x_...`` roles go to the hooks)
_ROLE = {
    "test_time": "time",
    "current": "current",
    "voltage": "voltage",
    "charge_capacity": "charge_capacity",
    "discharge_capacity": "discharge_capacity",
    "charge_energy": "charge_energy",
    "discharge_energy": "discharge_energy",
    "pressure": "x_pressure",
    "temperature_1": "ambient_temperature",
}
#: the engine's output column of each role a sensor may leave empty
_SENSOR_TARGET = {"x_pressure": "applied_pressure_pa",
                  "ambient_temperature": "ambient_temperature_celsius"}


def _columns(tokens: list[str]) -> tuple[Column, ...]:
    """The columns of a Landt header: the quantity's role, its unit from the name's suffix.

    Raises
    ------
    CasipInputError
        For a quantity column whose unit is not one of the quantity's.
    """
    cols = []
    for name in tokens:
        low = name.lower()
        m = _QUANTITY.match(low)
        if m and m["q"] != "step_time":
            q, unit = m["q"], m["u"]
            units = _SCALE[_family(q)]
            if unit not in units:
                raise _bad(f"unknown unit in column {name!r}", unit)
            cols.append(Column(_ROLE.get(q, f"x_{q}"), (name,), units, unit))
        elif low in ("cycle_index", "step_index"):
            cols.append(Column(low.split("_")[0], (name,)))
        elif low == "channel_index":
            cols.append(Column("x_channel", (name,), kind="int"))
        elif low == "date_time_iso_string":
            cols.append(Column("x_date", (name,), kind="label"))
        elif low == "step_name":
            cols.append(Column("x_step_name", (name,), kind="label"))
    return tuple(cols)


def _is_discharge(names: pd.Series) -> np.ndarray:
    """Rows whose step name says discharge."""
    low = names.astype("string").str.lower()
    return (low.str.contains("discharge") | low.str.contains("dchg")).fillna(False).to_numpy(
        dtype=bool)


def _parses(sample: pd.Series, fmt: str) -> bool:
    try:
        pd.to_datetime(sample, format=fmt, errors="raise")
    except (ValueError, TypeError):
        return False
    return True


def _dates(state: dict, strings: pd.Series, test_time: np.ndarray) -> np.ndarray | None:
    """Unix seconds of the wall-clock column, the date order chosen on the first batch.

    The format that parses every sampled row and agrees best with ``test_time_s`` (the rows of
    :func:`_sample_index`); while another format parses the rows too, it is kept as a rival
    and a later batch on which it agrees better raises :class:`StreamFallback`.
    """
    if "date_fmt" not in state:
        idx = _sample_index(len(strings))
        sample = strings.iloc[idx].reset_index(drop=True).astype(object)
        state["date_fmt"] = fmt = _choose_format(sample, test_time[idx])
        ok = sample.notna() & (sample != "")
        state["rivals"] = {f: None for f in _DATE_FORMATS
                           if fmt and f != fmt and _parses(sample[ok], f)}
    fmt = state["date_fmt"]
    if not fmt:
        return None
    unix = _apply_format(pa.array(strings.astype(object)), fmt)
    given = strings.notna().to_numpy() & (strings.astype("string").str.strip() != "").fillna(
        False).to_numpy()
    if state.get("streaming") and np.any(given & ~np.isfinite(unix)):
        # not on the sample the order was chosen on: the whole file's sample decides
        raise StreamFallback(f"wall-clock values no longer parse as {fmt}")
    spread = {fmt: unix - test_time}
    for rival in list(state["rivals"]):
        other = _apply_format(pa.array(strings.astype(object)), rival)
        if np.any(given & ~np.isfinite(other)):
            del state["rivals"][rival]
        else:
            spread[rival] = other - test_time
    devs = state.setdefault("dev", {})
    for f, off in spread.items():
        ok = given & np.isfinite(off)
        if ok.any():
            ref = state.setdefault("ref", {}).setdefault(f, float(np.median(off[ok])))
            devs[f] = max(devs.get(f, 0.0), float(np.max(np.abs(off[ok] - ref))))
    if any(devs.get(f, 0.0) < devs.get(fmt, 0.0) for f in state["rivals"]):
        raise StreamFallback("another date order fits the test time better")
    return unix


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Landt's own steps on a converted batch: empty sensors, magnitudes, wall clock, channel."""
    frame = frame.drop(columns=[c for c in ("step_type",) if c in frame])
    # sensors: left out when zero on every row of the file (decided on the first batch;
    # a later batch with a value in a left-out sensor has the file read whole)
    for role, values_ in [(r, v) for r, v in values.items() if r.startswith("x_temperature")
                          or r in _SENSOR_TARGET]:
        target = _SENSOR_TARGET.get(role)
        has = bool(np.any(np.nan_to_num(np.asarray(values_, dtype=float))))
        keep = state.setdefault("sensor", {}).setdefault(role, has)
        if has and not keep:
            raise StreamFallback(f"a value in the {role} column left out as empty")
        if target is not None and keep:
            frame[target] = np.asarray(values_, dtype=float)
        elif target is not None and target in frame:
            frame = frame.drop(columns=[target])
    # current: magnitudes on discharge steps are negated (the whole file's evidence)
    if "x_step_name" in values:
        dis = _is_discharge(values["x_step_name"])
        current = frame["current_ampere"].to_numpy()
        clear = dis & (np.abs(current) > 0)
        rule = state.get("magnitudes")
        if clear.any():
            positive = bool(np.all(current[clear] > 0))
            if rule is None:
                rule = state["magnitudes"] = positive
            elif rule and not positive:
                raise StreamFallback("a negative discharge current after magnitudes")
        if rule:
            frame["current_ampere"] = np.where(dis, -np.abs(current), current)
    if "x_channel" in values:
        ch = np.asarray(values["x_channel"], dtype=float)
        first = state.setdefault("channel", float(ch[0]) if len(ch) else np.nan)
        state["channel_same"] = state.get("channel_same", True) and bool(np.all(ch == first))
    if "x_date" in values:
        unix = _dates(state, values["x_date"], frame["test_time_second"].to_numpy())
        if unix is not None:
            frame["unix_time_second"] = unix
            finite = np.flatnonzero(np.isfinite(unix))
            if "start" not in state and len(finite):
                state["start"] = float(unix[finite[0]])
    return frame


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    """The metadata block above the table (cell id, test, nominal capacity...)."""
    return _metadata_block([ln.rstrip("\r\n") for ln in preamble])[0]


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """Channel, start time and date order; the warnings in the order the file gives them."""
    layout: Layout = state["layout"]
    warnings = []
    for role, (j, _) in layout.roles.items():
        name = layout.tokens[j]
        if role in state.get("sensor", {}) and not state["sensor"][role]:
            warnings.append(f"{name} is zero on every row (no sensor): left out")
        elif role.startswith("x_temperature"):
            warnings.append(f"{name} has no column in the schema: left out")
    if state.get("magnitudes"):
        warnings.append("discharge currents were written as magnitudes: negated")
    warnings += _metadata_block([ln.rstrip("\r\n") for ln in layout.preamble])[1]
    md: dict[str, Any] = {}
    ch = state.get("channel")
    if ch is not None and state.get("channel_same") and np.isfinite(ch):
        md["channel"] = str(int(ch))
    if "x_date" in layout.roles:
        if state.get("date_fmt"):
            if "start" in state:
                md["start_time"] = pd.Timestamp(state["start"], unit="s").to_pydatetime()
            md["extra"] = {"date_format": state["date_fmt"]}
            warnings.append(
                "the file's wall-clock is the tester PC's local time without a time zone: "
                "unix_time_second takes it as UTC"
            )
        else:
            warnings.append(f"{layout.tokens[layout.roles['x_date'][0]]} could not be parsed "
                            "as dates: no unix time")
    return md, warnings


def table_format(tokens: list[str]) -> TableFormat:
    """The :class:`TableFormat` of a Landt export with these header names."""
    return TableFormat(
        format=FORMAT,
        vendor=VENDOR,
        description=DESCRIPTION,
        extensions=EXTENSIONS,
        source="Battery Data Alliance reference file SINTEF__LiGrR2032__2024-04-30__25degC__"
        "Landt.csv (layout in the module docstring)",
        columns=_columns(tokens),
        hooks=Hooks(header=_header, batch=_batch, finish=_finish),
        preamble_metadata=False,
    )


#: The format of the reference file's header (units A, V, Ah, Wh, s, psi, degC).
LANDT = table_format([
    *SIGNATURE[:6], "current_A", "voltage_V", "discharge_capacity_Ah", "charge_capacity_Ah",
    "discharge_energy_Wh", "charge_energy_Wh", "Pressure_Psi", "temperature_1_C", "step_name"])


def _head(path: Path) -> bytes:
    with Path(path).open("rb") as fh:
        return fh.read(HEAD_BYTES)


def _find(head: bytes) -> tuple[TableFormat, Layout, list[str]] | None:
    """The file's format, layout and text lines, if ``head`` holds a Landt header."""
    lines = decode_head(head).splitlines()
    k = _find_header(lines)
    if k is None:
        return None
    fmt = table_format(_split(lines[k]))
    layout = probe(fmt, head)
    return None if layout is None else (fmt, layout, lines)


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Landt CSV export (its header and metadata block)."""
    if not head or looks_binary(head):
        return 0.0
    try:
        found = _find(head)
    except CasipInputError:
        found = None  # a unit Landt does not write: not this format
    if found is None or TableAdapter(found[0]).sniff(head, name) < 0.5:
        return 0.0
    block = " ".join(found[2][: found[1].header_line]).lower()
    if "nominal capacity used to define the c rate" in block or "cell model:" in block:
        return 0.95
    return 0.85


def _checked(path: Path) -> tuple[TableFormat, Layout]:
    """The format and layout of a Landt export, or the reason it is not one."""
    head = _head(path)
    if looks_binary(head):
        raise _bad("not a Landt CSV export: the file is binary")
    lines = head.decode("latin-1").splitlines()
    k = _find_header(lines)
    if k is not None and _CONTROL.search("".join(lines[: k + 1])):
        raise _bad("corrupted: control characters in the metadata block or header")
    found = _find(head)
    if found is None:
        raise _bad(
            "not a Landt CSV export: no header line with test_time_s, current_A and voltage_V",
        )
    return found[0], found[1]


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
    fmt, layout = _checked(path)
    return read_table(fmt, Path(path), layout=layout, what="Landt export")


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows, in one pass.

    Whole-file decisions (empty sensors, magnitudes on discharge, the date order) are taken
    on the first batch that shows them; a later batch that contradicts one raises
    :class:`StreamFallback` and the file is read whole.
    """
    fmt, layout = _checked(path)
    return iter_table(fmt, Path(path), batch_rows, layout=layout, streaming=True,
                      what="Landt export")
