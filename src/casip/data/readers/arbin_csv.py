"""Arbin CSV exports: the channel data table written as text, with an optional metadata file.

The export is a plain CSV whose header holds Arbin's own column names (``Data_Point``,
``Test_Time``, ``Cycle_Index``, ``Charge_Capacity``...). It is read by the table engine of
:mod:`casip.data.readers.tabular`: :data:`ARBIN` states the layout as data, and the few
things Arbin does its own way are hooks. The maintained readers that know this layout (beep,
battery-data-toolkit) each bring a large dependency tree for a few lines of mapping; cellpy
reads Arbin CSV only through a per-file configuration.

What is data (:data:`ARBIN`): the column names with underscores or spaces (``Test_Time``,
``Test Time``), with or without units in brackets (``Current(A)``, ``Current (mA)``,
``Charge_Capacity(Ah)``, ``Test_Time(h)``) and the units each may carry; ``Test_Time`` in
seconds (any time unit) or ``h:mm:ss``; the counters as two directional columns (charge and
discharge, capacity and energy); the first temperature column (``Temperature``,
``Aux_Temperature_1(C)``, ``Cell_Temperature_2``...) as ``surface_temperature_celsius``.

What is a hook (vendor-specific):

- ``DateTime``/``Date_Time`` holds unix seconds, an Excel serial date or a date string
  (:func:`_batch`; the Excel/unix choice is taken on the first batch's median);
- ``Internal_Resistance`` writes 0 where nothing was measured: 0 is read as missing, and the
  column is left out when no row has a value (:func:`_batch`, and a first pass over that
  one column when streaming, since every batch must have the same columns);
- a temperature in °F or K is converted to °C (the engine's units are factors only);
- the companion ``<name>_Metadata.csv`` and the refusal of that file alone (:func:`explain`);
- the counters (a fall anywhere is a reset, as before; the engine would reset only at a step
  boundary, and its cumulative sums round differently streamed and whole);
- the header must be the file's first line, and a repeated column name is refused.

Tester conventions
------------------
- ``Current`` positive while charging (the CASIP convention): no sign change.
- Capacity and energy counters reset at each cycle (MITS Pro's default; a schedule may reset
  them per step); they are made cumulative wherever a counter falls (a hook, as
  :func:`casip.data.readers.arbin_res.cumulative_counter`, the offset carried across batches
  so that a value is the same streamed or read whole). A file whose counters do not start at
  zero (the export of a test that had already run) keeps its first values as the offset.
- Encoding: the engine reads UTF-8 or GB18030. Arbin software on Windows may write ``°`` and
  ``µ`` in cp1252; in the header those bytes pair with the next letter into GB18030
  characters, which the units tables list, so such files still read. A byte that neither
  encoding decodes is refused, naming the byte and the line.
- European-locale exports (tab-separated, decimal commas) are read; the engine finds the
  decimal comma, this module also in ``DateTime``.
- Unix ``DateTime`` values are read as UTC; date strings and Excel dates have no time zone and
  are read as UTC too (``metadata.extra["clock"]`` says so). The start time is taken from the
  metadata file only.
- A last line cut short (a truncated file) is refused
  (:func:`casip.data.readers._base.truncated_error`); a bad line elsewhere is an error.

Metadata: when ``<name>_Metadata.csv`` sits beside the data file (as in Arbin's database
exports), its channel (``iv_ch_id``), schedule, start time (``first_start_datetime``, unix s),
and cell id (``item_id``) are read; its other fields go to ``extra``. That file alone is not a
test: :func:`sniff` does not claim it and :func:`read` says which file to read instead.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    decode_head,
    first_line,
    header_tokens,
    join_batches,
    looks_binary,
)
from casip.data.readers.tabular import (
    Column,
    Hooks,
    Layout,
    TableAdapter,
    TableFormat,
    norm,
    probe,
    split_unit,
)
from casip.errors import CasipInputError, Problem

FORMAT = "arbin-csv"
VENDOR = "Arbin"
DESCRIPTION = "Arbin CSV export of the channel data (with <name>_Metadata.csv if present)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False


def _gb(unit: str) -> str:
    """``unit`` written in cp1252 as the engine's GB18030 fallback decodes it (``°C`` -> 癈)."""
    return unit.encode("cp1252").decode("gb18030", errors="replace").lower()


#: Arbin software on Windows may write ``°`` and ``µ`` in cp1252; the engine then reads the
#: header as GB18030, which pairs those bytes with the next letter: the pairs are listed too.
_TEMPERATURE_SCALE = {"": "C", "c": "C", "°c": "C", "degc": "C", "deg_c": "C", "f": "F",
                      "°f": "F", "k": "K", _gb("°C"): "C", _gb("°c"): "C", _gb("°F"): "F",
                      _gb("°f"): "F"}  # fmt: skip
_MICRO = {"µa": 1e-6, "μa": 1e-6, _gb("µA"): 1e-6, _gb("µa"): 1e-6}
_TEMPERATURE_NAMES = tuple(
    f"{aux}{cell}Temperature{n}"
    for aux in ("", "Aux_")
    for cell in ("", "Cell_")
    for n in ("", *(f"_{i}" for i in range(65)))
)

# --------------------------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------------------------


def _bad(message: str) -> CasipInputError:
    return CasipInputError(Problem("", message))


def _data_file_for(name: str) -> str:
    return re.sub(r"_metadata(\.csv)?$", r"\1", name, flags=re.IGNORECASE)


_METADATA_KEYS = {"testid", "ivchid", "firststartdatetime", "schedulefilename"}


def _first_line_keys(head: bytes) -> list[str]:
    """The header names of the file's first line, folded as the engine compares them."""
    return [norm(split_unit(t)[0]) for t in header_tokens(first_line(decode_head(head)))]


def explain(head: bytes, name: str) -> str | None:
    """Why a file this adapter does not claim is still Arbin's, or None.

    For an Arbin metadata file (``<name>_Metadata.csv``): it is not a test, read the data file.
    """
    if not head or looks_binary(head):
        return None
    keys = set(_first_line_keys(head))
    if _METADATA_KEYS <= keys and "testtime" not in keys:
        return (
            "this is an Arbin test metadata file, not a test; read the data file "
            f"{_data_file_for(name)!r} beside it (its metadata is taken from this file)"
        )
    return None


def _unix_seconds(values: pd.Series, state: dict) -> np.ndarray:
    """``DateTime`` text: unix seconds, Excel serial days or date strings -> unix s (UTC)."""
    arr = pa.array(values.astype(object).where(values.notna(), None), type=pa.string())
    try:
        x = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        x = None
    if x is None and pc.any(pc.match_substring(arr, ",")).as_py():
        try:  # a decimal comma (European locale, tab-separated)
            x = pc.cast(pc.replace_substring(arr, ",", "."), pa.float64())
            x = x.to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            x = None
    if x is None:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        if parsed.isna().all():
            raise ValueError("the DateTime column holds no readable dates") from None
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return (parsed - pd.Timestamp(0)).dt.total_seconds().to_numpy(float)
    x = np.asarray(x, dtype=float)
    finite = x[np.isfinite(x)]
    if not len(finite):
        return x
    excel = bool(np.nanmedian(finite) < 1e6)  # Excel/OLE serial days
    if state.setdefault("excel", excel) != excel:
        raise StreamFallback("DateTime: Excel days in one batch, unix seconds in another")
    return (x - 25569.0) * 86400.0 if excel else x


class _Counter:
    """:func:`casip.data.readers.arbin_res.cumulative_counter` carried across batches.

    A fall anywhere is a reset: the value reached before it is added from there on. The
    offset changes only at a reset, so a row's value is the same whichever batch it is in.
    """

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


#: counter role -> BDF column
_COUNTERS = {
    "charge_capacity": "charging_capacity_ah",
    "discharge_capacity": "discharging_capacity_ah",
    "charge_energy": "charging_energy_wh",
    "discharge_energy": "discharging_energy_wh",
}


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Counters (a fall is a reset), the wall clock from ``DateTime``, the resistance."""
    counters = state.setdefault("counters", {})
    for role, col in _COUNTERS.items():
        if role in values:
            frame[col] = counters.setdefault(role, _Counter()).push(values[role])
    if "x_datetime" in values:
        try:
            unix, why = _unix_seconds(values["x_datetime"], state), None
        except ValueError as exc:
            unix, why = None, str(exc)
        if "clock" not in state:  # the first batch decides; a later one that differs: read whole
            state["clock"], state["no_clock"] = why is None, why
        elif state["clock"] != (why is None):
            raise StreamFallback("DateTime reads in one batch and not in another")
        if unix is not None:
            frame["unix_time_second"] = unix
    if "x_resistance" in values:
        r = np.array(values["x_resistance"], dtype=float)
        r[r == 0] = np.nan
        frame["internal_resistance_ohm"] = r
    return frame


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    """The clock's time zone (none stated) and no start time but the metadata file's."""
    out: dict[str, Any] = {"start_time": None}
    if "x_datetime" in layout.roles:
        col = layout.tokens[layout.roles["x_datetime"][0]]
        out["extra"] = {
            "clock": f"{col} read as UTC (the export does not state a time zone)"
        }
    return out


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """The warning for a ``DateTime`` column that could not be read."""
    if state.get("no_clock"):
        return {}, [f"column DateTime left out: {state['no_clock']}"]
    return {}, []


ARBIN = TableFormat(
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source=("Arbin MITS Pro data export layout, as in the published exports of TRI-AMDD/beep "
            "and ROVI-org/battery-data-toolkit (shared files arbin_example.csv, "
            "FastCharge_000025_CH8.csv)"),
    columns=(
        Column("record", ("Data_Point",), kind="label"),  # required, not read as a number
        Column("time", ("Test_Time",),
               {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}, "s"),
        Column("current", ("Current",), {"a": 1.0, "ma": 1e-3, "ua": 1e-6, **_MICRO}, "a"),
        Column("voltage", ("Voltage",), {"v": 1.0, "mv": 1e-3}, "v"),
        Column("charge_capacity", ("Charge_Capacity",), {"ah": 1.0, "mah": 1e-3}, "ah"),
        Column("discharge_capacity", ("Discharge_Capacity",), {"ah": 1.0, "mah": 1e-3}, "ah"),
        Column("charge_energy", ("Charge_Energy",), {"wh": 1.0, "mwh": 1e-3}, "wh"),
        Column("discharge_energy", ("Discharge_Energy",), {"wh": 1.0, "mwh": 1e-3}, "wh"),
        Column("cycle", ("Cycle_Index",)),
        Column("step", ("Step_Index",)),
        Column("x_resistance", ("Internal_Resistance",),
               {"ohm": 1.0, "mohm": 1e-3, "ω": 1.0, "mω": 1e-3}, "ohm", kind="number"),
        Column("x_datetime", ("DateTime", "Date_Time"), kind="label"),
        Column("temperature", _TEMPERATURE_NAMES, dict.fromkeys(_TEMPERATURE_SCALE, 1.0), ""),
    ),
    required=("time", "voltage", "current", "record"),
    hooks=Hooks(header=_header, batch=_batch, finish=_finish, explain=explain),
)
_ADAPTER = TableAdapter(ARBIN)


# --------------------------------------------------------------------------------------------
# what needs the file itself: header checks, the metadata file, whole-file column decisions
# --------------------------------------------------------------------------------------------


@dataclass
class _File:
    """What the header line says, beyond the engine's layout."""

    layout: Layout
    encoding: str
    temperature: str | None  # "C", "F" or "K"
    dropped: list[str]
    resistance: str | None  # the Internal_Resistance column's header


def _file(path: Path) -> _File:
    """Check the header (as Arbin writes it) and take what the hooks cannot see."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    why = explain(head, path.name)
    if why:
        raise _bad(why)
    if looks_binary(head):
        raise _bad("not an Arbin CSV export: the file is binary")
    keys = _first_line_keys(head)
    missing = [n for k, n in (("datapoint", "data_point"), ("testtime", "test_time"),
                              ("current", "current"), ("voltage", "voltage")) if k not in keys]
    if missing:
        raise _bad(
            "not an Arbin CSV export: the header has no "
            + ", ".join(missing)
            + " column (expected Data_Point, Test_Time, Current, Voltage...)"
        )
    tokens = header_tokens(first_line(decode_head(head)))
    if len(set(tokens)) != len(tokens):
        raise _bad("the header repeats a column name")
    if b"\n" not in head and b"\r" not in head:
        raise _bad("the file ends inside its header line: it holds no data rows (truncated?)")
    layout = probe(ARBIN, head, str(path))
    if layout is None or layout.header_line != 0:
        raise _bad(_undecodable(head) or "not an Arbin CSV export: its first line is not a header "
                   "with Data_Point, Test_Time, Current and Voltage columns")
    used = {j for j, _ in layout.roles.values()}
    dropped = [t for j, t in enumerate(layout.tokens) if j not in used]
    temperature = None
    if "temperature" in layout.roles:
        tok = layout.tokens[layout.roles["temperature"][0]]
        temperature = _TEMPERATURE_SCALE[split_unit(tok)[1].strip().lower().replace(" ", "")]
    resistance = None
    if "x_resistance" in layout.roles:
        resistance = header_tokens(first_line(decode_head(head)))[layout.roles["x_resistance"][0]]
    try:
        head[:-4].decode("utf-8")
        encoding = "utf8"
    except UnicodeDecodeError:
        encoding = "cp1252"
    return _File(layout, encoding, temperature, dropped, resistance)


def _undecodable(head: bytes) -> str | None:
    """Why the engine cannot decode ``head`` (neither UTF-8 nor GB18030), or None."""
    body = head[:-4]
    for enc in ("utf-8", "gb18030"):
        try:
            body.decode(enc)
            return None
        except UnicodeDecodeError as exc:
            if enc == "utf-8":
                pos = exc.start
    line = head[:pos].count(b"\n") + 1
    return (f"byte 0x{head[pos]:02x} on line {line} is neither UTF-8 nor "
            "GB18030 text, the encodings the table engine reads (an Arbin export written in "
            "cp1252 is read only where its non-ASCII bytes happen to be GB18030 too)")


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


def _any_resistance(path: Path, f: _File) -> bool:
    """True if some ``Internal_Resistance`` value is neither 0 nor missing (a first pass)."""
    try:
        with pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 22, encoding=f.encoding),
            parse_options=pacsv.ParseOptions(delimiter=f.layout.delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=[f.resistance], column_types={f.resistance: pa.float64()},
                strings_can_be_null=True),
        ) as reader:
            for batch in reader:
                r = batch.column(0).to_numpy(zero_copy_only=False).astype(float)
                if (np.isfinite(r) & (r != 0)).any():
                    return True
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
        return True  # the engine's pass names the bad line
    return False


def _adjust(reading: RawReading, f: _File, keep_resistance: bool | None) -> None:
    """Per batch: °F/K to °C, and the resistance column left out if never measured."""
    data = reading.data
    if f.temperature in ("F", "K") and "surface_temperature_celsius" in data:
        t = data["surface_temperature_celsius"].to_numpy(float)
        data["surface_temperature_celsius"] = (t - 32.0) * 5.0 / 9.0 if f.temperature == "F" \
            else t - 273.15
    if "internal_resistance_ohm" in data:
        keep = keep_resistance
        if keep is None:
            keep = bool(np.isfinite(data["internal_resistance_ohm"].to_numpy(float)).any())
        if not keep:
            del data["internal_resistance_ohm"]


def _engine(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """The engine's batches; its ValueError on a bad ``h:mm:ss`` time becomes an input error."""
    batches = _ADAPTER.iter_batches(path, batch_rows)
    while True:
        try:
            reading = next(batches)
        except StopIteration:
            return
        except CasipInputError:
            raise
        except ValueError as exc:
            raise CasipInputError(Problem("Test_Time", str(exc))) from None
        yield reading


def _batches(path: Path, batch_rows: int, keep_resistance: bool | None,
             f: _File) -> Iterator[RawReading]:
    first = True
    for reading in _engine(path, batch_rows):
        _adjust(reading, f, keep_resistance)
        if first:
            first = False
            if f.dropped:
                reading.warnings.insert(
                    0, f"columns outside the schema were left out: {', '.join(f.dropped)}")
            md = reading.metadata
            companion = _companion_metadata(path, reading.warnings)
            extra = companion.pop("extra", {})
            md.update(companion)
            md.setdefault("extra", {}).update(extra)
            if md.get("start_time") is None:  # from the metadata file only (see _header)
                md.pop("start_time", None)
            if f.encoding == "cp1252" and md["extra"].get("encoding") != "utf-8":
                md["extra"]["encoding"] = "cp1252"
        yield reading


# --------------------------------------------------------------------------------------------
# the adapter contract
# --------------------------------------------------------------------------------------------


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` starts an Arbin CSV export (not its metadata file)."""
    if not head or looks_binary(head):
        return 0.0
    keys = set(_first_line_keys(head))
    if not ({"datapoint", "testtime", "current", "voltage"} <= keys
            and keys & {"cycleindex", "stepindex"}):
        return 0.0
    return 0.9 if _ADAPTER.sniff(head, name) > 0 else 0.0


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
    f = _file(path)
    # one batch, so that the whole-file decisions are the file's: the engine cuts chunks of
    # (bytes per line in the head, at least 40) x batch_rows bytes
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    per_row = max(40, len(head) // max(1, head.count(b"\n")))
    whole = path.stat().st_size // per_row + 2
    try:
        parts = list(_batches(path, whole, None, f))
    except StreamFallback as exc:  # only if the engine ever cut the file in several batches
        raise _bad(f"the file's batches do not read alike ({exc})") from None
    return join_batches(parts)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (the engine's streaming).

    Whole-file decisions: ``Internal_Resistance`` is kept only if some value is not zero (a
    first pass over that column); ``DateTime`` as Excel days or unix seconds by the first
    batch's median (a later batch that disagrees raises :class:`StreamFallback`: the file is
    then read whole). The counters' reset offsets are carried from batch to batch.
    """
    path = Path(path)
    f = _file(path)
    keep = _any_resistance(path, f) if f.resistance else None
    yield from _batches(path, batch_rows, keep, f)
