"""Maccor text exports (tab-separated), as written by Maccor's MIMS client and export tools.

Hand-written, because no usable maintained reader exists:

- cellpy 1.0.3's ``maccor_txt`` loader returns current 0 on every row of a Maccor text export
  (seen on the shared ``maccor_001.txt``; its tests check it), takes a model name per header
  layout instead of reading the header, reads ``TestTime`` written in minutes as seconds, and
  copies the source file into the temporary folder, where the copy is left behind;
- battery-data-toolkit's ``MACCORReader`` (Apache-2.0) knows one layout only (a ``Test (Min)``
  column), uses pandas' slow Python parser and pulls in PyTables and EMMOntoPy;
- maccor-utility is AGPL; galvani and yadg are GPL (and do not read Maccor text anyway).

The format (read from the files, not from any other reader's code): some header lines (a
"key: value" block, or none), then a tab-separated column header that starts with the record
number (``Rec#`` or ``Rec``), then one line per record. Column names differ between exports
(``Amps`` or ``Current [A]`` or ``mAmps``, ``TestTime`` or ``Test (Sec)``...), so columns are
found by name, with their units. Test time is written as ``Nd hh:mm:ss.fff``, or as a number
whose unit is in the name (``Test (Sec)``, ``Test (Min)``) or not stated (``TestTime``); then the
unit (s, min, h or d) is the one that makes test time advance like the wall-clock column.

Tester conventions, converted here:

- **current**: Maccor marks each record with a state (``C`` charge, ``D`` discharge, ``R`` rest,
  ``O``/``S`` other); some exports write current unsigned, others negative on discharge. CASIP
  current is ``+|I|`` on ``C`` records, ``-|I|`` on ``D`` records and as written on the others
  (rest records hold 0).
- **counters**: ``Amp-hr`` and ``Watt-hr`` (or ``mAmp-hr``...) are unsigned. Most exports
  restart them from 0 at every step, but a counter can also run on from one step into the next
  (CC then CV charge) or never restart at all; which one is decided from the data, record by
  record (:func:`casip.data.schema.counter_resets`): only a step boundary can be a restart,
  and it is one where the counter's value is closer to the charge the current implies since
  the step began than to its previous value plus the charge since the previous record (a fall
  to about zero); anything else continues the counter. The increments are split by state into
  charge and discharge counters, cumulative from the start of the test.
- **cycle**: Maccor counts cycles from 0 (``Cyc#``); when the first record's cycle is 0 the
  reader adds 1, so that cycles count from 1 as in BDF. Exports with ``Cycle P``/``Cycle C``
  columns (procedure and charge cycles) use ``Cycle C``, which already counts from 1.
- **wall clock**: ``DPt Time`` is the tester's local time with no time zone; it is read as if it
  were UTC into ``unix_time_second`` (the note ``wall_clock`` in the metadata says so). Its date
  order (month/day or day/month, 12- or 24-hour) is the one that parses every record and agrees
  best with the test time.
- **auxiliary channels**: the first ``Aux #n`` channel whose unit is ``C`` and whose values are
  physically possible (not below -273.15 degC, as unconnected sensors read) becomes
  ``surface_temperature_celsius``; ``DCIR/Ohms`` becomes ``internal_resistance_ohm`` where it
  is non-zero.

Metadata comes from what the file states: procedure -> ``schedule``, channel -> ``channel``,
barcode -> ``cell_id``; ``start_time`` is the first record's wall clock less its test time (its
date order is checked against every record), else the header's ``Date of Test``/``Started``;
every header field is also kept verbatim in ``extra``. Nothing else is inferred (``SCap`` is
kept in ``extra`` only: the files do not say whether it is the cell's nominal capacity).

Bad input: a header that is not a Maccor column header, a record with the wrong number of fields
(a corrupted line, or the last line cut short by a truncated copy), a value that is not a number,
an unknown time format or an empty data section raises :class:`casip.errors.CasipInputError`
naming the reason. A file cut exactly at a line end cannot be told from a shorter test: it reads
with fewer rows.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    looks_binary,
    truncated_error,
)
from casip.errors import CasipInputError, Problem

FORMAT = "maccor-txt"
VENDOR = "Maccor"
DESCRIPTION = "Maccor text export (tab-separated, MIMS client / Maccor export tools)"
EXTENSIONS = (".txt",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: Normalised column name -> (role, factor to SI). Names are normalised by :func:`_norm`.
_COLUMNS: dict[str, tuple[str, float]] = {}


def _alias(role: str, factor: float, *names: str) -> None:
    for n in names:
        _COLUMNS[_norm(n)] = (role, factor)


def _norm(name: str) -> str:
    """Lower case without blanks or underscores: ``'Current [A]'`` -> ``'current[a]'``."""
    return re.sub(r"[\s_]+", "", name.lower())


_alias("record", 1.0, "Rec#", "Rec", "Rec #", "Record", "Record#", "Rec.")
_alias("cycle", 1.0, "Cyc#", "Cyc #", "Cycle C", "Cycle", "Cycle#", "Cyc")
_alias("cycle_p", 1.0, "Cycle P")
_alias("step", 1.0, "Step", "Step#", "Step #")
_alias("test_time", np.nan, "TestTime", "Test Time")  # unit not stated: from the wall clock
_alias("test_time", 1.0, "Test (Sec)", "Test(s)", "TestTime (s)", "TestTime(Sec)", "Test Time (s)")
_alias("test_time", 60.0, "Test (Min)", "TestTime (Min)", "Test Time (min)")
_alias("test_time", 3600.0, "Test (Hr)", "TestTime (Hr)", "Test Time (h)", "Test (h)")
_alias("step_time", np.nan, "StepTime", "Step Time")
_alias("step_time", 1.0, "Step (Sec)", "Step(s)", "StepTime (s)", "Step Time (s)")
_alias("step_time", 60.0, "Step (Min)", "StepTime (Min)", "Step Time (min)")
_alias("step_time", 3600.0, "Step (Hr)", "StepTime (Hr)", "Step Time (h)")
_alias("capacity", 1.0, "Amp-hr", "Cap. [Ah]", "Capacity (Ah)", "Cap [Ah]", "Capacity [Ah]")
_alias("capacity", 1e-3, "mAmp-hr", "Cap. [mAh]", "Capacity (mAh)", "Cap [mAh]")
_alias("energy", 1.0, "Watt-hr", "Ener. [Wh]", "Energy (Wh)", "Ener [Wh]", "Energy [Wh]")
_alias("energy", 1e-3, "mWatt-hr", "Ener. [mWh]", "Energy (mWh)", "Ener [mWh]")
_alias("current", 1.0, "Amps", "Current [A]", "Current (A)", "Current")
_alias("current", 1e-3, "mAmps", "Current [mA]", "Current (mA)")
_alias("voltage", 1.0, "Volts", "Voltage [V]", "Voltage (V)", "Voltage")
_alias("voltage", 1e-3, "mVolts", "Voltage [mV]", "Voltage (mV)")
_alias("state", 1.0, "State", "Md", "Mode")
_alias("wall_clock", 1.0, "DPt Time", "DPT Time", "DPtTime", "DateTime", "Date/Time", "Date Time")
_alias("dcir", 1.0, "DCIR/Ohms", "DCIR (Ohms)", "DCIR [Ohm]")

#: The roles a column header must hold to be a Maccor data header.
_NEEDED = ("record", "test_time", "current", "voltage", "state")
_STRING_ROLES = ("test_time", "step_time", "state", "wall_clock")
_NUMERIC_ROLES = ("cycle", "cycle_p", "step", "capacity", "energy", "current", "voltage", "dcir")

#: Parse with several threads only where there are enough cores to gain from it.
_THREADS = (os.cpu_count() or 1) > 2
_NUMBER = re.compile(r"^\s*[-+]?\d+(?:[.,]\d*)?(?:[eE][-+]?\d+)?\s*$")

#: Wall-clock layouts seen in Maccor exports (the locale of the tester's PC decides).
_CLOCK_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
)

#: Header keys (longest first where one contains another).
_HEADER_KEYS = (
    "Today's Date",
    "Date of Test",
    "Comment/Barcode",
    "Tester Channel",
    "Test Name",
    "File Name",
    "Filename",
    "Procedure",
    "Description",
    "Barcode",
    "Channel",
    "Started",
    "Tester",
    "Name",
)
_KEY_RE = re.compile(
    r"(?:^|(?<=\s))(" + "|".join(re.escape(k) for k in _HEADER_KEYS) + r")(\s*:)?", re.IGNORECASE
)

_PROCEDURE_MARKERS = (b"<MaccorTestProcedure", b"Maccor Procedure File")

_UNIT_FACTORS = {1.0: "s", 60.0: "min", 3600.0: "h", 86400.0: "d"}


@dataclass
class Layout:
    """What the head of a Maccor text export says about the rest of the file."""

    header_lines: list[str]
    names: list[str]
    roles: dict[str, tuple[int, float]]
    data_offset: int
    first_row: list[str]
    aux_temperatures: list[int] = field(default_factory=list)
    decimal_point: str = "."
    trailing_tab: bool = False

    @property
    def style(self) -> str:
        """``"raw"`` for the one-line ``Today's Date ... Filename: ...`` header, else ``"txt"``."""
        if len(self.header_lines) == 1:
            line = self.header_lines[0]
            if line.lstrip().lower().startswith("today's date") and "filename" in line.lower():
                return "raw"
        return "txt"


def is_procedure(head: bytes) -> bool:
    """True if ``head`` is a Maccor test procedure (an XML schedule file, no measurements)."""
    return any(m in head[:2048] for m in _PROCEDURE_MARKERS)


def _split_lines(head: bytes) -> list[tuple[int, bytes]]:
    """(byte offset after the line, line) for every complete line of ``head``."""
    out = []
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0:
            return out
        out.append((nl + 1, head[pos:nl].rstrip(b"\r")))
        pos = nl + 1


def probe(head: bytes) -> Layout | None:
    """Find the column header and the first data record in the first bytes of a file.

    Parameters
    ----------
    head : bytes
        The first bytes of the file (:data:`casip.data.readers._base.HEAD_BYTES`).

    Returns
    -------
    Layout or None
        None if ``head`` does not look like a Maccor text export.
    """
    if not head or looks_binary(head):
        return None
    lines = _split_lines(head)
    for i, (end, raw) in enumerate(lines[:60]):
        if b"\t" not in raw:
            continue
        names = raw.decode("latin-1").split("\t")
        while names and not names[-1].strip():
            names.pop()
        roles: dict[str, tuple[int, float]] = {}
        for j, name in enumerate(names):
            hit = _COLUMNS.get(_norm(name))
            if hit and hit[0] not in roles:
                roles[hit[0]] = (j, hit[1])
        if not all(r in roles for r in _NEEDED):
            continue
        if "cycle" not in roles and "cycle_p" in roles:
            roles["cycle"] = roles.pop("cycle_p")
        first: list[str] = []
        for _, row in lines[i + 1 :]:
            if row.strip():
                first = row.decode("latin-1").split("\t")
                break
        layout = Layout(
            header_lines=[ln.decode("latin-1") for _, ln in lines[:i]],
            names=names,
            roles=roles,
            data_offset=end,
            first_row=first,
        )
        if first:
            layout.trailing_tab = len(first) > len(names) and not any(
                f.strip() for f in first[len(names) :]
            )
            v = first[roles["voltage"][0]] if roles["voltage"][0] < len(first) else ""
            if "," in v and "." not in v:
                layout.decimal_point = ","
            for j, name in enumerate(names):
                if re.fullmatch(r"\s*aux\s*#?\s*\d+\s*", name, re.IGNORECASE) and j + 1 < len(
                    first
                ):
                    unit = names[j + 1].strip().lower() if j + 1 < len(names) else ""
                    value = first[j + 1].strip().lower().lstrip("°º\xc2").strip()
                    if unit == "units" and value in ("c", "degc", "deg c"):
                        layout.aux_temperatures.append(j)
        return layout
    return None


def sniff_export(head: bytes) -> Layout | None:
    """:func:`probe`, never raising (a sniffer must not fail on odd bytes)."""
    try:
        return probe(head)
    except Exception:  # a sniffer answers "no" to anything it cannot parse
        return None


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Maccor text export with a multi-line (or no) header."""
    layout = sniff_export(head)
    if layout is None:
        return 0.0
    return 0.4 if layout.style == "raw" else 0.9


def read(path: Path) -> RawReading:
    """Read a Maccor text export into BDF columns (see the module docstring)."""
    return read_export(Path(path))


# --------------------------------------------------------------------------- header metadata


def _clean(value: str) -> str:
    """A header value up to the first control character (exports pad with garbage bytes)."""
    return re.split(r"[\x00-\x08\x0b-\x1f\x7f]", value, maxsplit=1)[0].strip(" \t:")


def header_fields(lines: list[str]) -> dict[str, str]:
    """The ``key: value`` fields of the header lines, verbatim (empty values left out)."""
    out: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        lead = len(line) - len(line.lstrip())
        hits = [
            m
            for m in _KEY_RE.finditer(line)
            if m.group(2)
            or m.start() == lead
            or (line[m.start() - 1 : m.start()] == "\t" and line[m.end() : m.end() + 1] == "\t")
        ]
        if hits and hits[0].start() == lead:
            for k, m in enumerate(hits):
                stop = hits[k + 1].start() if k + 1 < len(hits) else len(line)
                value = _clean(line[m.end() : stop])
                if value:
                    out[m.group(1).strip()] = value
            continue
        parts = line.split("\t", 1)
        if len(parts) == 2:
            key = _clean(parts[0])
            value = _clean(parts[1])
            if key and value:
                out[key] = value
    return out


def _parse_datetime(text: str) -> _dt.datetime | None:
    for fmt in (
        "%d %B %Y, %I:%M:%S %p",
        "%d %B %Y, %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ):
        try:
            return _dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _metadata(fields: dict[str, str]) -> dict[str, Any]:
    low = {k.lower(): v for k, v in fields.items()}
    meta: dict[str, Any] = {"tester": VENDOR}
    for key in ("procedure",):
        if key in low:
            meta["schedule"] = low[key]
    for key in ("tester channel", "channel"):
        if key in low:
            meta["channel"] = low[key]
            break
    for key in ("comment/barcode", "barcode"):
        if key in low:
            meta["cell_id"] = low[key]
            break
    for key in ("date of test", "started"):
        if key in low and (when := _parse_datetime(low[key])) is not None:
            meta["start_time"] = when
            break
    meta["extra"] = dict(fields)
    return meta


# --------------------------------------------------------------------------- data section


class _StripTrailingTabs(io.RawIOBase):
    """A read-only stream that drops the tabs some exports write at the end of every line."""

    _RE = re.compile(rb"\t+(?=\r?\n)")
    _END = re.compile(rb"\t+(?=\r?$)")

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._carry = b""  # tabs and CR held back until the next byte shows what they end
        self._out = b""  # processed bytes not yet returned
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size is not None and size >= 0 else 1 << 62
        while len(self._out) < want and not self._eof:
            chunk = self._fh.read(min(max(want, 1 << 16), 1 << 24))
            data = self._carry + chunk
            if not chunk:
                self._eof = True
                self._carry = b""
                self._out += self._END.sub(b"", self._RE.sub(b"", data))
                break
            keep = len(data) - len(data.rstrip(b"\t\r"))
            self._carry = data[len(data) - keep :] if keep else b""
            self._out += self._RE.sub(b"", data[: len(data) - keep] if keep else data)
        out, self._out = self._out[:want], self._out[want:]
        return out

    def readinto(self, b: Any) -> int:  # pragma: no cover - pyarrow calls read()
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _bad(message: str, value: object = None, expected: str | None = None) -> CasipInputError:
    return CasipInputError(Problem("", message, value, expected))


def _check_tail(path: Path, layout: Layout) -> bool:
    """Raise if the last line is a record cut short (a truncated copy of the file).

    Returns True if the file ends without a line break after a complete-looking record.
    """
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size <= layout.data_offset:
            return False
        fh.seek(max(layout.data_offset, size - 65536))
        tail = fh.read()
    if tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1].rstrip(b"\r")
    if not last.strip():
        return False
    fields = last.decode("latin-1").rstrip("\t").split("\t")
    if len(fields) < len(layout.names):
        raise truncated_error(path)
    return True


def _csv_options(layout: Layout, wanted: dict[str, int]) -> dict[str, Any]:
    """pyarrow CSV options reading the ``wanted`` columns of the data section."""
    col = [f"c{i}" for i in range(len(layout.names))]
    types = {}
    for role, idx in wanted.items():
        types[col[idx]] = pa.string() if role in _STRING_ROLES else pa.float64()
    include = [col[i] for i in sorted(set(wanted.values()))]
    return {
        "read_options": pacsv.ReadOptions(
            column_names=col, block_size=1 << 20, use_threads=_THREADS
        ),
        "parse_options": pacsv.ParseOptions(
            delimiter="\t", quote_char=False, ignore_empty_lines=True
        ),
        "convert_options": pacsv.ConvertOptions(
            include_columns=include,
            column_types=types,
            decimal_point=layout.decimal_point,
            null_values=["", "N/A", "NaN", "nan"],
            strings_can_be_null=True,
            check_utf8=False,
        ),
    }


def _read_table(path: Path, layout: Layout, wanted: dict[str, int]) -> pa.Table:
    opts = _csv_options(layout, wanted)
    with path.open("rb") as fh:
        fh.seek(layout.data_offset)
        src = _StripTrailingTabs(fh) if layout.trailing_tab else fh
        try:
            return pacsv.read_csv(src, **opts)
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            m = re.search(r"column #(\d+)", msg)
            if m and int(m.group(1)) < len(layout.names):
                msg = msg.replace(m.group(0), f"column {layout.names[int(m.group(1))].strip()!r}")
            msg = msg.replace("CSV parse error: ", "").replace("CSV conversion error to ", "")
            msg = re.sub(r"Row #(\d+)", r"data row \1", msg).replace("\t", " ")
            msg = "".join(ch if ch.isprintable() else "?" for ch in msg[:240])
            raise _bad(f"corrupted data section: {msg}") from None


def _to_numpy(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=float)


def _first_null(arr: pa.Array) -> int:
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]) + 1


def _duration_error(what: str, detail: str = "") -> CasipInputError:
    return _bad(
        f"unreadable {what} value{': ' + detail if detail else 's'}",
        None,
        "a duration like '1d 02:03:04.5'",
    )


def _durations(
    arr: pa.ChunkedArray | pa.Array, what: str, decimal_point: str = "."
) -> tuple[np.ndarray, bool]:
    """Seconds from ``Nd hh:mm:ss`` strings, or plain numbers; (values, had a unit).

    Vectorised with pyarrow compute, no Python per record: the day prefix ``Nd `` becomes a
    ``:`` field, every value is split at ``:`` into the same number of fields (three, or four
    with days; any other count is an error), the fields are trimmed of blanks and tabs and
    cast to float64 in one call, and the seconds are summed from the days down.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) == 0:
        return np.empty(0), True
    if arr.null_count:
        raise _bad(f"a record has no {what}", f"data row {_first_null(arr)}")
    text = pc.ascii_trim_whitespace(arr)
    sample = text[0].as_py()
    if ":" in sample:
        factors = [3600.0, 60.0, 1.0]
        if re.match(r"^\d+\s*d\s", sample):
            text = pc.replace_substring_regex(text, r"^(\d+)\s*d\s+", r"\1:")
            factors.insert(0, 86400.0)
        k = len(factors)
        parts = pc.split_pattern(text, ":")
        if not pc.all(pc.equal(pc.list_value_length(parts), k)).as_py():
            raise _duration_error(what)
        fields = pc.ascii_trim(parts.flatten(), " \t")
        if decimal_point != ".":
            if pc.any(pc.match_substring(fields, ".")).as_py():
                raise _duration_error(what, f"'.' where the decimal mark is {decimal_point!r}")
            fields = pc.replace_substring(fields, decimal_point, ".")
        try:
            values = _to_numpy(pc.cast(fields, pa.float64())).reshape(-1, k)
        except pa.ArrowInvalid as exc:
            raise _duration_error(what, str(exc)[:200]) from None
        out = np.zeros(len(arr))
        for j, factor in enumerate(factors):
            out += values[:, j] * factor
        return out, True
    if not _NUMBER.match(sample):
        raise _bad(f"unknown {what} format", sample, "'Nd hh:mm:ss' or a number")
    if decimal_point != ".":
        text = pc.replace_substring(text, decimal_point, ".")
    try:
        return _to_numpy(pc.cast(text, pa.float64())), False
    except pa.ArrowInvalid as exc:
        raise _bad(f"unreadable {what} value: {str(exc)[:200]}") from None


def _wall_clock(
    arr: pa.ChunkedArray, test_time_s: np.ndarray | None
) -> tuple[np.ndarray | None, int]:
    """Seconds since 1970 (wall clock read as UTC) in the layout that fits best.

    Returns the values (None if no layout parses at least 99% of the records) and the number
    of records whose wall clock could not be read.
    """
    text = pc.ascii_trim_whitespace(arr)
    valid = len(text) - text.null_count
    if valid == 0:
        return None, 0
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    n = len(text)
    sample = text if n <= 2000 else pa.concat_arrays([text[:1000], text[n - 1000 :]])
    sample_valid = len(sample) - sample.null_count
    candidates = [
        fmt
        for fmt in _CLOCK_FORMATS
        if pc.strptime(sample, format=fmt, unit="s", error_is_null=True).null_count
        - sample.null_count
        <= 0.01 * sample_valid
    ]
    best = None
    for fmt in candidates:
        ts = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        failed = ts.null_count - text.null_count
        if failed > 0.01 * valid:
            continue
        secs = _to_numpy(pc.cast(pc.cast(ts, pa.int64()), pa.float64()))
        mismatch = 0.0
        if test_time_s is not None:
            ok = np.isfinite(secs) & np.isfinite(test_time_s)
            d = np.diff(secs[ok]) - np.diff(test_time_s[ok])
            mismatch = float(np.sum(np.abs(d))) if len(d) else 0.0
        key = (failed, mismatch)
        if best is None or key < best[0]:
            best = (key, secs)
    if best is None:
        return None, valid
    return best[1], best[0][0]


def _time_factor(t: np.ndarray, clock: np.ndarray | None) -> float | None:
    """Seconds per unit of a test-time column written without a unit, from the wall clock."""
    if clock is None:
        return None
    ok = np.isfinite(t) & np.isfinite(clock)
    if ok.sum() < 2:
        return None
    dt = t[ok][-1] - t[ok][0]
    dc = clock[ok][-1] - clock[ok][0]
    if dt <= 0 or dc < 10:
        return None
    ratio = dc / dt
    return min(_UNIT_FACTORS, key=lambda f: abs(np.log(ratio / f)))


class _SplitCounter:
    """A Maccor counter (``Amp-hr`` or ``Watt-hr``) as cumulative BDF charge and discharge
    counters, batch by batch (the whole file is one batch).

    The counter's increment at a record is its rise since the previous record, or its value
    where it restarted; a restart is decided from the data by
    :func:`casip.data.schema.counter_resets` at step boundaries, weighing the two readings
    against the charge (energy) the current implies since the previous record and since the
    step began, so a counter that runs on from one step into the next (CC then CV charge) is
    not counted twice, and one that never restarts reads right too. The increments of charge
    (``C``) and discharge (``D``) records are summed from the start of the test. The last
    record's value, step, mode, time and rate carry over from batch to batch.
    """

    def __init__(self) -> None:
        self.last: tuple[float, float, float, float, float] | None = None
        self.totals = (0.0, 0.0)

    def push(
        self,
        values: np.ndarray,
        rate: np.ndarray,
        t: np.ndarray,
        step_time: np.ndarray | None,
        steps: np.ndarray,
        mode: np.ndarray,
        every_row: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(charge, discharge) counters of one batch.

        ``values``: the counter as written (SI); ``rate``: current (A) or power (W) per record;
        ``t``, ``step_time``: test and step time (s; step time None if not written);
        ``steps``: step label; ``mode``: +1 charge, -1 discharge, 0 other; ``every_row``: every
        record may start a step (the file has no step columns).
        """
        n = len(values)
        if n == 0:
            return np.empty(0), np.empty(0)
        v = np.abs(np.asarray(values, dtype=float))
        ok = np.isfinite(v)
        if not ok.all():  # hold the last value over gaps
            idx = np.maximum.accumulate(np.where(ok, np.arange(n), -1))
            held = 0.0 if self.last is None else self.last[0]
            v = np.where(idx >= 0, v[np.maximum(idx, 0)], held)
        r = np.nan_to_num(np.abs(np.asarray(rate, dtype=float)))
        if self.last is None:
            p0, s0, m0, t0, r0 = 0.0, steps[0], mode[0], t[0], r[0]
        else:
            p0, s0, m0, t0, r0 = self.last
        prev = np.r_[p0, v[:-1]]
        if every_row:
            boundary = np.ones(n, dtype=bool)
        else:
            boundary = (steps != np.r_[s0, steps[:-1]]) | (mode != np.r_[m0, mode[:-1]])
        dt = np.clip(np.nan_to_num(np.diff(np.r_[t0, t])), 0.0, None)
        expected = 0.5 * (r + np.r_[r0, r[:-1]]) * dt / 3600.0
        restart = None if step_time is None else r * np.clip(step_time, 0.0, None) / 3600.0
        reset = schema.counter_resets(v, prev, boundary, expected, restart)
        inc = np.abs(np.where(reset, v, v - prev))
        charge = np.cumsum(np.r_[self.totals[0], np.where(mode > 0, inc, 0.0)])[1:]
        dis = np.cumsum(np.r_[self.totals[1], np.where(mode < 0, inc, 0.0)])[1:]
        self.totals = (float(charge[-1]), float(dis[-1]))
        self.last = (float(v[-1]), float(steps[-1]), float(mode[-1]), float(t[-1]), float(r[-1]))
        return charge, dis


def _split_counters(
    cols: dict[str, Any],
    layout: Layout,
    counters: dict[str, _SplitCounter],
    t: np.ndarray,
    step_time: np.ndarray | None,
    v: np.ndarray,
    current: np.ndarray,
    steps: np.ndarray,
    charge: np.ndarray,
    dis: np.ndarray,
) -> dict[str, np.ndarray]:
    """The BDF charge/discharge capacity and energy counters of a batch (see
    :class:`_SplitCounter`)."""
    out: dict[str, np.ndarray] = {}
    mode = charge.astype(float) - dis.astype(float)
    every_row = "step" not in layout.roles and "step_time" not in layout.roles
    for role, names, rate in (
        ("capacity", ("charging_capacity_ah", "discharging_capacity_ah"), current),
        ("energy", ("charging_energy_wh", "discharging_energy_wh"), current * v),
    ):
        if role in cols:
            x = _to_numpy(cols[role]) * layout.roles[role][1]
            out[names[0]], out[names[1]] = counters[role].push(
                x, rate, t, step_time, steps, mode, every_row
            )
    return out


def _step_seconds(st: np.ndarray, had_unit: bool, layout: Layout, t_factor: float) -> np.ndarray:
    """Step time in seconds: its own unit, else that of the test time (``t_factor``)."""
    if had_unit:
        return st
    f = layout.roles["step_time"][1]
    return st * (f if np.isfinite(f) else t_factor)


def read_export(path: Path) -> RawReading:
    """Read any Maccor tab-separated text export (both header styles) into BDF columns.

    Parameters
    ----------
    path : Path
        The export; opened read-only.

    Returns
    -------
    RawReading
        BDF columns in SI units, current positive on charge, counters cumulative; metadata from
        the header lines.

    Raises
    ------
    CasipInputError
        If the file is not a Maccor text export or its data section is truncated or corrupted.
    """
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head:
        raise _bad("the file is empty")
    if is_procedure(head):
        raise _bad(
            "this is a Maccor test procedure (an XML schedule), not test data: it holds no "
            "measurements",
            None,
            "a Maccor data file exported as text",
        )
    layout = probe(head)
    if layout is None:
        raise _bad(
            "not a Maccor text export: no tab-separated column header with record, test time, "
            "current, voltage and state columns in the first 64 KiB",
        )
    if not layout.first_row:
        raise _bad("no data records after the column header (the file looks truncated)")
    unterminated = _check_tail(path, layout)

    wanted = {role: idx for role, (idx, _) in layout.roles.items()}
    aux = layout.aux_temperatures
    for k, j in enumerate(aux):
        wanted[f"aux{k}"] = j
    table = _read_table(path, layout, wanted)
    if table.num_rows == 0:
        raise _bad("no data records after the column header (the file looks truncated)")
    cols = {role: table.column(f"c{idx}") for role, idx in wanted.items()}
    del table
    warnings: list[str] = []
    if unterminated:
        warnings.append("the file does not end with a line break: its last record may be cut short")
    try:
        data, meta = _convert(layout, cols, warnings)
    except pa.ArrowException as exc:  # odd bytes in a text column of a corrupted file
        raise _bad(f"corrupted data section: {str(exc)[:200]}") from None
    return RawReading(data=pd.DataFrame(data), metadata=meta, warnings=warnings)


def _convert(
    layout: Layout, cols: dict[str, pa.ChunkedArray], warnings: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The columns of the file as BDF arrays (SI, signed, cumulative) and the metadata."""
    aux = layout.aux_temperatures

    t, has_unit = _durations(cols["test_time"], "test time", layout.decimal_point)
    factor = layout.roles["test_time"][1]
    clock, clock_failed = None, 0
    if "wall_clock" in cols:
        clock, clock_failed = _wall_clock(
            cols["wall_clock"], t if has_unit else (t * factor if np.isfinite(factor) else None)
        )
    t_factor = 1.0
    if not has_unit:
        if np.isfinite(factor):
            t = t * factor
            t_factor = factor
        else:
            f = _time_factor(t, clock)
            if f is None:
                warnings.append(
                    "the test time column states no unit and there is no usable wall clock: "
                    "read as seconds"
                )
                f = 1.0
            elif f != 1.0:
                warnings.append(
                    f"the test time column states no unit; it is in {_UNIT_FACTORS[f]} "
                    "(from the wall clock) and was converted to seconds"
                )
            t = t * f
            t_factor = f
            if clock is not None:
                clock, clock_failed = _wall_clock(cols["wall_clock"], t)
    if "wall_clock" in cols and clock is None:
        warnings.append("the wall-clock column is in no known date layout: left out")
    elif clock_failed:
        warnings.append(f"the wall clock of {clock_failed} records could not be read")
    if np.isnan(t).any():
        row = int(np.flatnonzero(np.isnan(t))[0]) + 1
        raise _bad("a record has no test time", f"data row {row}")

    v = _to_numpy(cols["voltage"]) * layout.roles["voltage"][1]
    i_raw = _to_numpy(cols["current"]) * layout.roles["current"][1]
    for name, x in (("voltage", v), ("current", i_raw)):
        if np.isnan(x).any():
            row = int(np.flatnonzero(np.isnan(x))[0]) + 1
            raise _bad(f"a record has no {name}", f"data row {row}")
    state = pc.ascii_upper(pc.ascii_trim_whitespace(cols["state"]))
    charge = np.asarray(pc.fill_null(pc.equal(state, "C"), False).to_numpy(zero_copy_only=False))
    dis = np.asarray(pc.fill_null(pc.equal(state, "D"), False).to_numpy(zero_copy_only=False))
    current = np.where(charge, np.abs(i_raw), np.where(dis, -np.abs(i_raw), i_raw))
    other = ~charge & ~dis & (i_raw != 0)
    if other.any():
        odd = sorted({str(x) for x in pc.filter(state, pa.array(other)).unique().to_pylist()})
        warnings.append(
            f"{int(other.sum())} records with current are in state(s) {', '.join(odd)}, "
            "neither charge (C) nor discharge (D): their current is kept as written"
        )

    data: dict[str, np.ndarray] = {
        "test_time_second": t,
        "voltage_volt": v,
        "current_ampere": current,
    }
    if clock is not None:
        data["unix_time_second"] = clock
    if "cycle" in cols:
        cyc = _to_numpy(cols["cycle"])
        if len(cyc) and cyc[0] == 0:
            cyc = cyc + 1.0
        data["cycle_count"] = cyc
    else:
        cyc = np.ones(len(t))
    step = _to_numpy(cols["step"]) if "step" in cols else np.zeros(len(t))
    if "step" in cols:
        data["step_index"] = step
    new = np.zeros(len(t), dtype=bool)
    new[0] = True
    new[1:] = (step[1:] != step[:-1]) | (cyc[1:] != cyc[:-1])
    st_s = None
    if "step_time" in cols:
        st, st_unit = _durations(cols["step_time"], "step time", layout.decimal_point)
        new[1:] |= np.nan_to_num(st[1:]) < np.nan_to_num(st[:-1])
        st_s = _step_seconds(st, st_unit, layout, t_factor)
    steps = np.cumsum(new).astype(float)
    data["step_count"] = steps
    counters = {"capacity": _SplitCounter(), "energy": _SplitCounter()}
    data.update(
        _split_counters(cols, layout, counters, t, st_s, v, current, steps, charge, dis)
    )
    if "dcir" in cols:
        r = _to_numpy(cols["dcir"])
        if np.nan_to_num(r).any():
            data["internal_resistance_ohm"] = np.where(r > 0, r, np.nan)
    dead = []
    for k, j in enumerate(aux):
        temp = _to_numpy(cols[f"aux{k}"])
        if np.isfinite(temp).any() and np.nanmin(temp) >= -273.15:
            if "surface_temperature_celsius" not in data:
                data["surface_temperature_celsius"] = temp
        else:
            dead.append(layout.names[j].strip())
    if dead:
        warnings.append(
            "auxiliary temperature channels with impossible readings (no sensor connected?) "
            "were left out: " + ", ".join(dead)
        )

    meta = _metadata(header_fields(layout.header_lines))
    if clock is not None and np.isfinite(clock[0]):
        # the first record's wall clock, whose date order was checked against every record,
        # is preferred to the header's date (whose day/month order cannot be checked)
        start = clock[0] - t[0]
        meta["start_time"] = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=float(start))
        meta["extra"]["wall_clock"] = (
            "tester local time, time zone not stated; unix_time_second reads it as UTC"
        )
    return data, meta


# --------------------------------------------------------------------------- streaming


_NOT_SPACE = re.compile(rb"\S")


def _line_blocks(path: Path, start: int, size: int) -> Iterator[tuple[memoryview | bytes, int]]:
    """(chunk, file offset after it): the bytes of ``path`` from ``start`` in chunks of whole
    lines of about ``size``, cut as :func:`casip.data.readers._base.line_chunks` cuts them.

    Each chunk is a view of one buffer that is read into in place and reused for the next
    chunk (no copies of the block, no new memory per chunk): use it before asking for the
    next one (pyarrow's CSV reader copies what it parses).
    """
    buf = bytearray(size)
    view = memoryview(buf)
    with open(path, "rb") as fh:
        fh.seek(start)
        pos = start
        rest = b""
        while True:
            keep = len(rest)
            if len(buf) < keep + size:  # a line longer than a block
                view.release()
                buf = bytearray(keep + size)
                view = memoryview(buf)
            buf[:keep] = rest
            got = fh.readinto(view[keep : keep + size])
            if not got:
                if rest and not rest.isspace():
                    yield rest, pos
                return
            pos += got
            end = keep + got
            cut = buf.rfind(b"\n", 0, end)
            if cut < 0:
                rest = bytes(view[:end])
                continue
            rest = bytes(view[cut + 1 : end])
            chunk = view[: cut + 1]
            if _NOT_SPACE.search(chunk):  # not blank (as not chunk.isspace(), without a copy)
                yield chunk, pos - len(rest)
            chunk.release()


def _chunk_tables(
    path: Path, layout: Layout, wanted: dict[str, int], head: bytes, batch_rows: int
) -> Iterator[tuple[dict[str, pa.Array], int]]:
    """The ``wanted`` columns of the data section, in line-aligned chunks of about
    ``batch_rows`` records (role -> array), with the file offset after each chunk."""
    opts = _csv_options(layout, wanted)
    for chunk, pos in _line_blocks(path, layout.data_offset, block_size_for(head, batch_rows)):
        if layout.trailing_tab:
            chunk = _StripTrailingTabs._END.sub(b"", _StripTrailingTabs._RE.sub(b"", chunk))
        table = pacsv.read_csv(pa.py_buffer(chunk), **opts)
        if table.num_rows:
            cols = {}
            for role, idx in wanted.items():
                col = table.column(f"c{idx}")
                cols[role] = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
            yield cols, pos


def _duration_kind(arr: pa.Array) -> tuple[bool, bool]:
    """What :func:`_durations` decides from an array's first value: (h:mm:ss, with days)."""
    sample = pc.ascii_trim_whitespace(arr[:1])[0].as_py() or ""
    return ":" in sample, bool(re.match(r"^\d+\s*d\s", sample))


class _ClockScan:
    """What :func:`_wall_clock` computes on the whole column, accumulated batch by batch."""

    def __init__(self) -> None:
        self.n = 0
        self.valid = 0
        self.head: list[pa.Array] = []  # the first 1000 records
        self.tail: list[pa.Array] = []  # the last 1000 records after those
        self.failed = dict.fromkeys(_CLOCK_FORMATS, 0)
        self.mismatch: dict[tuple[str, float], float] = {}
        self.first: dict[str, tuple[float, float]] = {}
        self.last: dict[str, tuple[float, float]] = {}
        self.ok = dict.fromkeys(_CLOCK_FORMATS, 0)
        self.out: set[str] = set()  # layouts that fail on too many records to be picked

    @property
    def open_layouts(self) -> int:
        """How many layouts can still be picked (their order needs the test time)."""
        return len(_CLOCK_FORMATS) - len(self.out)

    def push(
        self,
        arr: pa.Array,
        t: np.ndarray | None,
        factors: tuple[float, ...] = (1.0,),
        rows_left: float = np.inf,
    ) -> None:
        """One batch of the wall clock and the test time; the mismatch is summed for the test
        time times each of ``factors`` (the candidate units of a test time without one). ``t``
        may be None once at most one layout is open: its failures are counted, and nothing
        else is needed to pick it (:meth:`time_factor` needs ``t`` on every batch).

        ``rows_left`` bounds the records after this batch: a layout that has already failed on
        more than 1% of the most records the file can hold is left out (:meth:`decide` would
        refuse it however the file ends), so it is not parsed again."""
        text = pc.ascii_trim_whitespace(arr)
        k = len(text)
        take = max(0, min(k, 1000 - self.n))
        if take:
            self.head.append(text[:take])
        if k > take:
            self.tail.append(text[take:])
            tail = pa.concat_arrays(self.tail)
            self.tail = [tail[max(0, len(tail) - 1000) :]]
        self.n += k
        self.valid += k - text.null_count
        for fmt in _CLOCK_FORMATS:
            if fmt in self.out:
                continue
            ts = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
            self.failed[fmt] += ts.null_count - text.null_count
            if self.failed[fmt] > 0.01 * (self.valid + rows_left):
                self.out.add(fmt)
                continue
            if t is None:
                continue
            secs = _to_numpy(pc.cast(pc.cast(ts, pa.int64()), pa.float64()))
            ok = np.isfinite(secs) & np.isfinite(t)
            s, tt = secs[ok], t[ok]
            if fmt in self.last and len(s):
                s, tt = np.r_[self.last[fmt][0], s], np.r_[self.last[fmt][1], tt]
            self.ok[fmt] += int(ok.sum())
            if ok.any() and fmt not in self.first:
                self.first[fmt] = (float(secs[ok][0]), float(t[ok][0]))
            if len(s):
                self.last[fmt] = (float(s[-1]), float(tt[-1]))
                for f in factors:
                    d = np.sum(np.abs(np.diff(s) - np.diff(tt * f if f != 1.0 else tt)))
                    self.mismatch[fmt, f] = self.mismatch.get((fmt, f), 0.0) + float(d)

    def time_factor(self, fmt: str | None) -> float | None:
        """:func:`_time_factor` of the whole test time against the wall clock read as ``fmt``."""
        if fmt is None or self.ok[fmt] < 2:
            return None
        dt = self.last[fmt][1] - self.first[fmt][1]
        dc = self.last[fmt][0] - self.first[fmt][0]
        if dt <= 0 or dc < 10:
            return None
        ratio = dc / dt
        return min(_UNIT_FACTORS, key=lambda f: abs(np.log(ratio / f)))

    def decide(self, factor: float | None = 1.0) -> tuple[str | None, int]:
        """(the layout :func:`_wall_clock` picks on the whole column, records not read), given
        the test time times ``factor`` (None: without a test time)."""
        if self.valid == 0:
            return None, 0
        sample = pa.concat_arrays(self.head + self.tail)
        sample_valid = len(sample) - sample.null_count
        best = None
        for fmt in _CLOCK_FORMATS:
            if fmt in self.out:
                continue
            bad = pc.strptime(sample, format=fmt, unit="s", error_is_null=True).null_count
            if bad - sample.null_count > 0.01 * sample_valid:
                continue
            if self.failed[fmt] > 0.01 * self.valid:
                continue
            mismatch = 0.0 if factor is None else self.mismatch.get((fmt, factor), 0.0)
            key = (self.failed[fmt], mismatch)
            if best is None or key < best[0]:
                best = (key, fmt)
        if best is None:
            return None, self.valid
        return best[1], best[0][0]


def iter_export(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read_export` in batches of about ``batch_rows`` records.

    Two passes over the file: the first reads only the record number, the test time, the wall
    clock, ``DCIR`` and the auxiliary channels, for the whole-file decisions (the wall clock's
    date layout, the unit of a test time written without one, whether there is an internal
    resistance, which auxiliary channel is a temperature); the second reads the columns the
    records need and converts them batch by batch, carrying the step count and the counters'
    offsets. Every column the whole-file path reads is read, and so checked, in one of the
    passes. Warnings and metadata come in a last batch without rows.

    For speed, the first pass stops parsing a date layout once it has failed on more records
    than the file can hold for that layout to be picked (1% of an upper bound on the records,
    from the bytes left), and converts the test time only while the order of several layouts
    still depends on it; the decisions are those of the whole-file path.
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    layout = probe(head) if head and not is_procedure(head) else None
    if layout is None or not layout.first_row:
        raise StreamFallback("not a Maccor export with records")
    unterminated = _check_tail(path, layout)
    wanted = {role: idx for role, (idx, _) in layout.roles.items()}
    aux = layout.aux_temperatures
    for k, j in enumerate(aux):
        wanted[f"aux{k}"] = j
    factor = layout.roles["test_time"][1]
    dp = layout.decimal_point

    # first pass: the whole-file decisions
    # (the record number is read here only to check it, as the second pass does not read it)
    scan_roles = ["test_time"] + [r for r in ("record", "wall_clock", "dcir") if r in wanted]
    scan_roles += [f"aux{k}" for k in range(len(aux))]
    size = path.stat().st_size
    kinds: dict[str, tuple[bool, bool]] = {}
    clock_scan = _ClockScan()
    any_dcir = False
    aux_finite = [False] * len(aux)
    aux_min = [np.inf] * len(aux)
    rows = 0
    scan = {r: wanted[r] for r in scan_roles}
    for cols, pos in _chunk_tables(path, layout, scan, head, batch_rows):
        kind = _duration_kind(cols["test_time"])
        if kinds.setdefault("test_time", kind) != kind:
            raise StreamFallback("the test time is written in two ways")
        has_unit = kind[0]  # as _durations says
        unit_from_clock = not has_unit and not np.isfinite(factor)
        t = None  # only the wall clock's decisions need the test time in this pass
        if "wall_clock" in cols and (unit_from_clock or clock_scan.open_layouts > 1):
            t, has_unit = _durations(cols["test_time"], "test time", dp)
            if not has_unit and not unit_from_clock:
                t = t * factor
        if "wall_clock" in cols:
            clock_scan.push(
                cols["wall_clock"],
                t,
                tuple(_UNIT_FACTORS) if unit_from_clock else (1.0,),
                # a record is at least one byte per column (tabs and the line break)
                max(size - pos, 0) // max(len(layout.names), 1),
            )
        if "dcir" in cols:
            any_dcir |= bool(np.nan_to_num(_to_numpy(cols["dcir"])).any())
        for k in range(len(aux)):
            temp = _to_numpy(cols[f"aux{k}"])
            fin = np.isfinite(temp)
            if fin.any():
                aux_finite[k] = True
                aux_min[k] = min(aux_min[k], float(temp[fin].min()))
        rows += len(cols["test_time"])
    if rows == 0:
        raise StreamFallback("no records")
    time_warning = None
    if kinds["test_time"][0] or np.isfinite(factor):
        fmt, clock_failed = clock_scan.decide() if "wall_clock" in wanted else (None, 0)
    else:  # a test time without a unit: the unit that makes it advance like the wall clock
        fmt1 = clock_scan.decide(None)[0] if "wall_clock" in wanted else None
        f = clock_scan.time_factor(fmt1)
        if f is None:
            time_warning = (
                "the test time column states no unit and there is no usable wall "
                "clock: read as seconds"
            )
            f = 1.0
        elif f != 1.0:
            time_warning = (
                f"the test time column states no unit; it is in {_UNIT_FACTORS[f]} "
                "(from the wall clock) and was converted to seconds"
            )
        factor = f
        fmt, clock_failed = clock_scan.decide(f) if fmt1 is not None else (None, 0)
        if "wall_clock" in wanted and fmt1 is None:
            fmt = None
    live = [k for k in range(len(aux)) if aux_finite[k] and aux_min[k] >= -273.15]
    temp_aux = live[0] if live else None
    dead = [layout.names[j].strip() for k, j in enumerate(aux) if k not in live]

    # second pass: the records
    first = True
    shift = False
    last_keys: tuple[float, float, float] | None = None
    steps_so_far = 0.0
    counters = {"capacity": _SplitCounter(), "energy": _SplitCounter()}
    other_n = 0
    odd: set[str] = set()
    meta = _metadata(header_fields(layout.header_lines))
    # the columns the records need (the others were checked in the first pass)
    skip = {"record", "dcir", "wall_clock"} | {f"aux{k}" for k in range(len(aux))}
    keep = [r for r in wanted if r not in skip]
    keep += ["wall_clock"] if fmt is not None else []
    keep += ["dcir"] if any_dcir else []
    keep += [f"aux{temp_aux}"] if temp_aux is not None else []
    records = {r: wanted[r] for r in keep}
    for cols, _ in _chunk_tables(path, layout, records, head, batch_rows):
        if _duration_kind(cols["test_time"]) != kinds["test_time"]:
            raise StreamFallback("the test time is written in two ways")
        t, has_unit = _durations(cols["test_time"], "test time", dp)
        if not has_unit:
            t = t * factor
        if np.isnan(t).any():
            raise StreamFallback("a record has no test time")
        clock = None
        if fmt is not None:
            text = pc.ascii_trim_whitespace(cols["wall_clock"])
            ts = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
            clock = _to_numpy(pc.cast(pc.cast(ts, pa.int64()), pa.float64()))
        v = _to_numpy(cols["voltage"]) * layout.roles["voltage"][1]
        i_raw = _to_numpy(cols["current"]) * layout.roles["current"][1]
        if np.isnan(v).any() or np.isnan(i_raw).any():
            raise StreamFallback("a record has no voltage or current")
        state = pc.ascii_upper(pc.ascii_trim_whitespace(cols["state"]))
        charge = np.asarray(
            pc.fill_null(pc.equal(state, "C"), False).to_numpy(zero_copy_only=False)
        )
        dis = np.asarray(pc.fill_null(pc.equal(state, "D"), False).to_numpy(zero_copy_only=False))
        current = np.where(charge, np.abs(i_raw), np.where(dis, -np.abs(i_raw), i_raw))
        other = ~charge & ~dis & (i_raw != 0)
        if other.any():
            other_n += int(other.sum())
            odd |= {str(x) for x in pc.filter(state, pa.array(other)).unique().to_pylist()}
        data: dict[str, np.ndarray] = {
            "test_time_second": t,
            "voltage_volt": v,
            "current_ampere": current,
        }
        if clock is not None:
            data["unix_time_second"] = clock
            if first and np.isfinite(clock[0]):
                start = clock[0] - t[0]
                meta["start_time"] = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=float(start))
                meta["extra"]["wall_clock"] = (
                    "tester local time, time zone not stated; unix_time_second reads it as UTC"
                )
        n = len(t)
        if "cycle" in cols:
            cyc = _to_numpy(cols["cycle"])
            if first:
                shift = bool(cyc[0] == 0)
            if shift:
                cyc = cyc + 1.0
            data["cycle_count"] = cyc
        else:
            cyc = np.ones(n)
        step = _to_numpy(cols["step"]) if "step" in cols else np.zeros(n)
        if "step" in cols:
            data["step_index"] = step
        st = st_s = None
        if "step_time" in cols:
            st, st_unit = _durations(cols["step_time"], "step time", dp)
            st_s = _step_seconds(st, st_unit, layout, factor if np.isfinite(factor) else 1.0)
        new = np.zeros(n, dtype=bool)
        new[1:] = (step[1:] != step[:-1]) | (cyc[1:] != cyc[:-1])
        if st is not None:
            new[1:] |= np.nan_to_num(st[1:]) < np.nan_to_num(st[:-1])
        if last_keys is None:
            new[0] = True
        else:
            new[0] = step[0] != last_keys[0] or cyc[0] != last_keys[1]
            if st is not None:
                new[0] |= np.nan_to_num(st[0]) < np.nan_to_num(last_keys[2])
        last_keys = (step[-1], cyc[-1], st[-1] if st is not None else np.nan)
        steps = steps_so_far + np.cumsum(new).astype(float)
        steps_so_far = float(steps[-1])
        data["step_count"] = steps
        data.update(
            _split_counters(cols, layout, counters, t, st_s, v, current, steps, charge, dis)
        )
        if any_dcir:
            r = _to_numpy(cols["dcir"])
            data["internal_resistance_ohm"] = np.where(r > 0, r, np.nan)
        if temp_aux is not None:
            data["surface_temperature_celsius"] = _to_numpy(cols[f"aux{temp_aux}"])
        first = False
        yield RawReading(data=pd.DataFrame(data), metadata={}, warnings=[])
    if first:
        raise StreamFallback("no records")
    warnings: list[str] = []
    if unterminated:
        warnings.append("the file does not end with a line break: its last record may be cut short")
    if time_warning:
        warnings.append(time_warning)
    if "wall_clock" in wanted and fmt is None:
        warnings.append("the wall-clock column is in no known date layout: left out")
    elif clock_failed:
        warnings.append(f"the wall clock of {clock_failed} records could not be read")
    if other_n:
        warnings.append(
            f"{other_n} records with current are in state(s) {', '.join(sorted(odd))}, "
            "neither charge (C) nor discharge (D): their current is kept as written"
        )
    if dead:
        warnings.append(
            "auxiliary temperature channels with impossible readings (no sensor connected?) "
            "were left out: " + ", ".join(dead)
        )
    yield RawReading(data=pd.DataFrame(), metadata=meta, warnings=warnings)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` records (see :func:`iter_export`)."""
    return iter_export(Path(path), batch_rows)
