"""Declarative table formats: a format is data, one streaming engine reads them all.

Most cycler exports are one table of samples under a header whose column names carry their
units (``Voltage(V)``, ``电流/mA``, ``TestTime/Sec``), perhaps below a block of ``key: value``
lines, in some encoding, delimiter and decimal mark. What differs between vendors and locales
is *data*: which names mean what, which units are allowed, how step types are labelled, how
counters restart. A :class:`TableFormat` states exactly that; :class:`TableAdapter` turns one
into a reader adapter (the contract of :mod:`casip.data.readers._base`), and the engine below
does the rest for every such format:

- **recognition**: the header is the first of the file's first 200 lines whose names cover
  the format's required roles (time, voltage, current); the score grows with the share of the
  header's names the format knows;
- **encoding**: UTF-8 (with or without BOM), else GB18030 (a superset of GBK and GB2312, what
  Chinese-locale Windows writes); chunks are cut at ``\\n``, which is never part of a GBK
  multi-byte character, so a GBK file streams like a UTF-8 one;
- **delimiter and decimal mark**: comma, semicolon or tab, whichever splits the header into
  the most known names; a decimal comma (European locales) is detected from the data rows
  when the delimiter is not a comma;
- **units** from the header (``(mA)``, ``/mA``, ``[mA]``, full-width brackets too), checked
  against the role's table (an unknown unit is refused, naming the column);
- **sign**: where a row's step type says charge or discharge, the current takes that sign
  (exports that write magnitudes are corrected, with a warning); elsewhere it is kept;
- **counters** (capacity and energy, as two directional columns or one column split by the
  current's direction): a restart is a step boundary where the counter falls; a counter that
  runs on across a step boundary, or never restarts, is not re-added. One rule for tester
  software that resets per step, per cycle or never;
- **time**: a test-time column (seconds in any unit, or ``[d-]h:mm:ss[.fff]``); else step
  times accumulated over steps; else the wall clock. Wall-clock dates in ISO, ``Y/M/D``,
  ``D.M.Y`` and ``M/D/Y``/``D/M/Y`` forms (the order that parses and runs forward);
- **truncation**: a last line with fewer fields than the header is the one refusal of
  :func:`casip.data.readers._base.truncated_error`; a malformed row elsewhere is refused with
  its line number.

Decisions that need the whole file (the date order) are taken on the first batch; a later
batch that contradicts one raises :class:`StreamFallback`, and the file is read whole.

Excel workbooks (``.xlsx``) of the same layouts are read by :class:`ExcelAdapter` with
python-calamine (a maintained Rust reader, much faster than openpyxl): the record sheet is the
sheet whose header one of the formats recognises (several such sheets, as testers split
records past Excel's 1,048,576-row limit, are read in order). The rows then go through the
same conversion as a CSV batch.

Why hand-written: pyarrow parses the text; what no library does is map vendors' header
vocabularies and counter semantics to one schema (cellpy's "custom" loader needs a
configuration per laboratory and has no GBK, decimal-comma or Chinese-header support).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    join_batches,
    line_chunks,
    looks_binary,
    offset_after_lines,
    truncated_error,
)
from casip.data.readers.neware_csv import hms_seconds, unit_factor
from casip.errors import CasipInputError, Problem

# --------------------------------------------------------------------------------------------
# the declarative part
# --------------------------------------------------------------------------------------------

#: Roles a column can play. ``time`` is test time, ``step_time`` time within the step;
#: ``capacity``/``energy`` are one undirected counter split by the current's direction.
ROLES = (
    "time", "step_time", "datetime", "voltage", "current", "cycle", "step", "step_type",
    "capacity", "charge_capacity", "discharge_capacity", "energy", "charge_energy",
    "discharge_energy", "temperature", "ambient_temperature", "record",
)

#: How a role's values are written: ``number`` (float with a unit), ``int`` (a counter),
#: ``duration`` (seconds or h:mm:ss), ``datetime`` (wall clock) or ``label`` (text).
KINDS = {"time": "duration", "step_time": "duration", "datetime": "datetime",
         "step_type": "label", "cycle": "int", "step": "int", "record": "int"}


@dataclass(frozen=True)
class Column:
    """One role and the header names that mean it.

    Parameters
    ----------
    role : str
        One of :data:`ROLES`.
    names : tuple of str
        Header names, without their unit; compared case-, space- and punctuation-blind (and
        full-width characters folded to ASCII).
    units : mapping or None
        Allowed units (as written, lower case) -> factor to the schema's unit; ``None`` for
        dimensionless roles.
    default_unit : str or None
        The unit when the header states none; ``None`` makes a unit-less header an error for
        a role that has units.
    kind : str or None
        How the values are written (see :data:`KINDS`), for roles of a format's own (named
        ``x_...``, handed to its hooks); the roles of :data:`ROLES` have theirs.
    """

    role: str
    names: tuple[str, ...]
    units: Mapping[str, float] | None = None
    default_unit: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class Hooks:
    """Where a vendor truly differs from the table engine: small functions, all optional.

    Parameters
    ----------
    header : callable or None
        ``header(preamble, layout) -> dict``: metadata fields (of
        :class:`casip.data.schema.TestMetadata`; others under ``extra``) from the lines above
        the column header.
    batch : callable or None
        ``batch(values, frame, state) -> frame``: adjust one converted batch. ``values`` maps
        every role of the header to its batch values (numbers scaled to SI, labels as text),
        including the format's own ``x_...`` roles; ``state`` is a dict kept across the
        batches of one file. It may drop rows or add schema columns (the same in every
        batch).
    finish : callable or None
        ``finish(state) -> (metadata, warnings)`` after the last batch.
    explain : callable or None
        ``explain(head, name) -> str | None``: why a file the format does not claim is still
        not readable (e.g. a companion summary file), as in the adapter contract.
    """

    header: Callable[[list[str], Layout], dict[str, Any]] | None = None
    batch: Callable[[Mapping[str, Any], pd.DataFrame, dict], pd.DataFrame] | None = None
    finish: Callable[[dict], tuple[dict[str, Any], list[str]]] | None = None
    explain: Callable[[bytes, str], str | None] | None = None


@dataclass(frozen=True)
class TableFormat:
    """A cycler export that is one table of samples: everything the engine needs to read it.

    Parameters
    ----------
    format, vendor, description, extensions
        As in the adapter contract (:mod:`casip.data.readers._base`).
    source : str
        Where the layout comes from (vendor manual, published files, other readers' configs).
    columns : tuple of Column
        The roles it can hold.
    step_labels : mapping
        Step-type label (normalised as names are) -> (schema step type, direction), with
        direction +1 charge, -1 discharge, 0 rest, None unknown.
    required : tuple of str
        Roles that must be in the header (``time`` may be met by ``step_time`` or
        ``datetime``).
    defer : callable or None
        ``defer(info) -> bool``: leave a file this format could read to a dedicated adapter
        (e.g. the plain English comma-separated Neware export, read by ``neware-csv``).
    hooks : Hooks
        The vendor's own steps, where the declarative part does not say it all.
    library : str
        The package the reading builds on (for the supported-formats table).
    preamble_metadata : bool
        Put the ``key: value`` lines above the header into ``metadata.extra`` (turn off where
        the ``header`` hook reads them itself).
    """

    format: str
    vendor: str
    description: str
    extensions: tuple[str, ...]
    source: str
    columns: tuple[Column, ...]
    step_labels: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)
    required: tuple[str, ...] = ("time", "voltage", "current")
    defer: Callable[[Layout], bool] | None = None
    hooks: Hooks = field(default_factory=Hooks)
    library: str = "pyarrow"
    preamble_metadata: bool = True

    def lookup(self) -> dict[str, Column]:
        """Normalised header name -> column (built once per format: sniffing asks often)."""
        cached = _LOOKUPS.get(id(self))
        if cached is not None and cached[0] is self:
            return cached[1]
        out = {}
        for col in self.columns:
            for n in col.names:
                out[norm(n)] = col
        if len(_LOOKUPS) > 256:  # formats built per file (Landt) must not accumulate
            _LOOKUPS.clear()
        _LOOKUPS[id(self)] = (self, out)
        return out


#: TableFormat id -> (the format, its lookup); the format is kept so that its id stays unique.
_LOOKUPS: dict[int, tuple[TableFormat, dict[str, Column]]] = {}


# --------------------------------------------------------------------------------------------
# header parsing
# --------------------------------------------------------------------------------------------

_UNIT_RE = re.compile(r"^(.*?)\s*[\(\[]\s*([^()\[\]]*?)\s*[\)\]]\s*$")


@functools.lru_cache(maxsize=4096)
def norm(name: str) -> str:
    """A header name folded for comparison: NFKC, lower case, no spaces or ``._-:``."""
    s = unicodedata.normalize("NFKC", name).strip().strip('"').lower()
    return re.sub(r"[\s._\-:：]+", "", s)


@functools.lru_cache(maxsize=4096)
def split_unit(token: str) -> tuple[str, str]:
    """``"电流(mA)"``, ``"Current/mA"``, ``"TestTime/Sec"`` -> (name, unit); unit may be ``""``.

    A ``/`` separates the unit only after a name of letters (``dQ/dV`` is a name); a unit
    with a ``/`` of its own (``SpeCap/mAh/g``) keeps it.
    """
    t = unicodedata.normalize("NFKC", token).strip().strip('"').strip()
    m = _UNIT_RE.match(t)
    if m and m.group(1):
        return m.group(1).strip(), m.group(2).strip()
    if "/" in t:
        name, unit = t.split("/", 1)
        if name and not re.search(r"d[qvtu]$", name, re.IGNORECASE):
            return name.strip(), unit.strip()
    return t, ""


@dataclass
class Layout:
    """What the head of a file says about its table (found by :func:`probe`)."""

    encoding: str
    delimiter: str
    decimal: str
    header_line: int  # 0-based line index of the header
    tokens: list[str]
    roles: dict[str, tuple[int, float]]  # role -> (column position, unit factor)
    known: int  # header names the format recognises
    meta: dict[str, str]
    ascii_header: bool
    preamble: list[str] = field(default_factory=list)


def _decode(head: bytes) -> tuple[str, str] | None:
    """(text, encoding) of a file's head: UTF-8 if valid, else GB18030; None if neither."""
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    for enc in ("utf-8", "gb18030"):
        for cut in range(0, 4):  # the head may end inside a multi-byte character
            try:
                text = body[: len(body) - cut].decode(enc)
            except UnicodeDecodeError:
                continue
            return text, ("utf-8-sig" if body is not head else enc)
    return None


def _match(
    fmt: TableFormat, tokens: Sequence[str]
) -> tuple[dict[str, tuple[int, str, Column]], int]:
    """Role -> (position, unit as written, the column that matched) for the header
    ``tokens``; and how many of them the format knows."""
    table = fmt.lookup()
    roles: dict[str, tuple[int, str, Column]] = {}
    known = 0
    for j, tok in enumerate(tokens):
        name, unit = split_unit(tok)
        col = table.get(norm(name)) or table.get(norm(tok))
        if col is None:
            continue
        known += 1
        if col.role not in roles:
            roles[col.role] = (j, unit if table.get(norm(name)) is col else "", col)
    return roles, known


def _has_required(fmt: TableFormat, roles: Mapping[str, Any]) -> bool:
    for r in fmt.required:
        if r == "time":
            if not ({"time", "step_time", "datetime"} & set(roles)):
                return False
        elif r not in roles:
            return False
    return True


_DEC_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def probe(fmt: TableFormat, head: bytes, source: str | None = None) -> Layout | None:
    """The layout of ``head`` if it is this format's table, else None.

    Raises CasipInputError (naming the column) for a recognised header with a unit the role
    does not allow.
    """
    if looks_binary(head):
        return None
    dec = _decode(head)
    if dec is None:
        return None
    text, enc = dec
    lines = text.splitlines()
    for i, line in enumerate(lines[:200]):
        best = None
        for sep in (",", ";", "\t"):
            if sep not in line:
                continue
            tokens = [t.strip().strip('"') for t in line.split(sep)]
            roles, known = _match(fmt, tokens)
            if _has_required(fmt, roles) and (best is None or known > best[2]):
                best = (sep, tokens, known, roles)
        if best is None:
            continue
        sep, tokens, known, raw = best
        while tokens and tokens[-1] == "":
            tokens.pop()
        data = [ln.split(sep) for ln in lines[i + 1 : i + 60] if ln.strip()]
        decimal = "."
        if sep != "," and any(_DEC_COMMA.match(v) for row in data for v in row):
            decimal = ","
        roles = {}
        for role, (j, unit, col) in raw.items():
            factor = 1.0
            if col.units is not None:
                u = unit or col.default_unit
                if u is None:
                    raise CasipInputError(
                        Problem(tokens[j], "the column states no unit", None,
                                "a unit in the header, one of: " + ", ".join(col.units)),
                        source=source,
                    )
                factor = unit_factor(u, dict(col.units), tokens[j])
            roles[role] = (j, factor)
        meta = {}
        for ln in lines[:i]:
            parts = re.split(r"\s*[:：=]\s*|[,;\t]", ln.strip(), maxsplit=1)
            if len(parts) == 2 and parts[0].strip() and parts[1].strip(" ,;\t"):
                meta[parts[0].strip()] = parts[1].strip(" ,;\t\"")
        return Layout(enc, sep, decimal, i, tokens, roles, known, meta,
                      all(ord(ch) < 128 for ch in line), lines[:i])
    return None


# --------------------------------------------------------------------------------------------
# value conversion (one batch of rows -> BDF columns), shared by CSV and Excel
# --------------------------------------------------------------------------------------------

_DATE_FORMATS = (
    "ISO8601",
    "%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%d.%m.%Y %H:%M:%S.%f", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
    "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M:%S %p", "%Y/%m/%d %I:%M:%S %p",
    "%Y-%m-%d %I:%M:%S %p",
)


def _parse_dates(values: pd.Series, fmt: str | None) -> tuple[np.ndarray, str]:
    """Wall-clock strings (or datetimes) to unix seconds (read as UTC) and the format used."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values)
        return ts.astype("int64").to_numpy() / 1e9 if ts.dt.tz is None else (
            ts.dt.tz_convert("UTC").astype("int64").to_numpy() / 1e9), "datetime"
    s = values if values.dtype == object else values.astype(str)
    tried = [fmt] if fmt else list(_DATE_FORMATS)
    best: tuple[int, np.ndarray, str] | None = None
    for f in tried:
        try:
            ts = pd.to_datetime(s, format=f)
        except (ValueError, TypeError):
            continue
        sec = ts.to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
        # where day and month could be either way round, the wrong order runs backwards at
        # month ends: the order with the fewest backward steps wins (a clock set back once,
        # e.g. for daylight saving, does not make the column unreadable)
        back = int(np.sum(np.diff(sec) < 0)) if len(sec) > 1 else 0
        if best is None or back < best[0]:
            best = (back, sec, f)
        if back == 0:
            break
    if best is not None:
        return best[1], best[2]
    if fmt:
        raise StreamFallback(f"wall-clock values no longer parse as {fmt}")
    raise CasipInputError(
        Problem("datetime", "the wall-clock values have no date form CASIP reads", s.iloc[0],
                "e.g. 2024-04-30 14:33:19, 2024/4/30 14:33:19, 30.04.2024 14:33:19")
    )


def _durations(values: pd.Series | pa.Array, factor: float, decimal: str = ".") -> np.ndarray:
    """Seconds from numbers (times ``factor``) or ``[d-]h:mm:ss[.fff]`` text."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(
        values.astype(str).to_numpy() if values.dtype == object else values.to_numpy())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        if decimal != ".":
            arr = pc.replace_substring(arr, decimal, ".")
        num = pc.cast(arr, pa.float64(), safe=False) if _all_numeric(arr) else None
        if num is None:
            return hms_seconds(arr)
        return num.to_numpy(zero_copy_only=False) * factor
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=float) * factor


def _all_numeric(arr: pa.Array) -> bool:
    ok = pc.match_substring_regex(arr, r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
    return bool(pc.all(pc.or_(ok, pc.equal(pc.utf8_trim_whitespace(arr), ""))).as_py())


class _Counter:
    """A capacity/energy counter made cumulative, one batch after another.

    A restart is a step boundary where the value falls (any fall within a step is noise and
    kept as written); each row's increment is the rise since the previous row, or its whole
    value just after a restart. Increments are added to the charge or discharge total by the
    row's direction when one column holds both.
    """

    def __init__(self) -> None:
        self.prev = 0.0
        self.totals = [0.0, 0.0]  # charge, discharge

    def increments(self, v: np.ndarray, boundary: np.ndarray) -> np.ndarray:
        v = np.abs(np.nan_to_num(v, nan=np.nan))
        v = pd.Series(v).ffill().fillna(self.prev).to_numpy()
        prev = np.r_[self.prev, v[:-1]]
        d = v - prev
        restart = boundary & (d < 0)
        d = np.where(restart, v, d)
        d = np.where((d < 0) & ~boundary, 0.0, d)  # in-step jitter downwards: not counted back
        self.prev = float(v[-1]) if len(v) else self.prev
        return d

    def cumulative(self, d: np.ndarray, which: int) -> np.ndarray:
        out = self.totals[which] + np.cumsum(d)
        if len(out):
            self.totals[which] = float(out[-1])
        return out


class Converter:
    """Turns batches of a table's raw columns into BDF columns, carrying state across batches."""

    def __init__(self, fmt: TableFormat, layout: Layout, source: str) -> None:
        self.fmt, self.layout, self.source = fmt, layout, source
        self.labels = {norm(k): v for k, v in fmt.step_labels.items()}
        self.counters: dict[str, _Counter] = {}
        self.last_step: Any = None
        self.last_cycle: Any = None
        self.step_offset = 0.0
        self.last_time = 0.0
        self.date_fmt: str | None = None
        self.t0: float | None = None
        self.flipped = 0
        self.unknown_labels: set[str] = set()
        self.state: dict[str, Any] = {}  # the format's hooks keep theirs here

    def convert(self, raw: Mapping[str, Any]) -> pd.DataFrame:
        """``raw``: role -> column values (pyarrow array or pandas Series) of one batch."""
        roles = self.layout.roles
        n = len(next(iter(raw.values())))
        out: dict[str, np.ndarray] = {}

        def num(role: str) -> np.ndarray:
            v = raw[role]
            if isinstance(v, (pa.Array, pa.ChunkedArray)):
                if not (pa.types.is_floating(v.type) or pa.types.is_integer(v.type)):
                    v = pc.cast(v, pa.float64())
                a = np.asarray(v.to_numpy(zero_copy_only=False), dtype=float)
            else:
                a = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
            return a * roles[role][1]

        out["voltage_volt"] = num("voltage")
        current = num("current")
        direction = np.full(n, np.nan)
        if "step_type" in raw:
            # labels repeat: normalise the distinct ones, then map by index
            codes, uniques = pd.factorize(_series(raw["step_type"]))
            kinds, dirs = [], []
            for lab in uniques:
                key = norm(str(lab))
                st, dirn = self.labels.get(key, ("other", None))
                if key and key not in self.labels:
                    self.unknown_labels.add(str(lab))
                kinds.append(st)
                dirs.append(np.nan if dirn is None else float(dirn))
            kinds_a = np.array([*kinds, "other"], dtype=object)
            dirs_a = np.array([*dirs, np.nan])
            direction = dirs_a[codes]  # code -1 (a missing label) picks the last entry
            types = kinds_a[codes]
            out["step_type"] = np.array(types, dtype=object)
            signed = np.isfinite(direction) & (direction != 0)
            wrong = signed & (np.sign(current) == -direction) & (current != 0)
            self.flipped += int(wrong.sum())
            current = np.where(signed, np.abs(current) * np.nan_to_num(direction), current)
        out["current_ampere"] = current
        if "cycle" in raw:
            out["cycle_count"] = num("cycle")
        step = num("step") if "step" in raw else None
        if step is not None:
            out["step_index"] = step
        # a step boundary: the step number or the cycle number changes
        key = step if step is not None else out.get("cycle_count")
        if key is not None:
            prev = np.r_[self.last_step if self.last_step is not None else key[0], key[:-1]]
            boundary = key != prev
            if "cycle_count" in out and step is not None:
                c = out["cycle_count"]
                cprev = np.r_[self.last_cycle if self.last_cycle is not None else c[0], c[:-1]]
                boundary |= c != cprev
                self.last_cycle = c[-1]
            self.last_step = key[-1]
        else:
            s = np.sign(np.round(current, 9))
            boundary = np.r_[False, s[1:] != s[:-1]]
        # time
        if "datetime" in raw:
            unix, self.date_fmt = _parse_dates(_series(raw["datetime"]), self.date_fmt)
            out["unix_time_second"] = unix
        if "time" in raw:
            out["test_time_second"] = _durations(raw["time"], roles["time"][1], self.layout.decimal)
        elif "step_time" in raw:
            # a new step starts where the last one ended: offsets are running sums of the
            # steps' last step-times, carried across batches
            st = _durations(raw["step_time"], roles["step_time"][1],
                            self.layout.decimal)
            seg = np.cumsum(boundary)
            ends = np.flatnonzero(boundary[1:])  # last rows of segments before a boundary
            base = self.last_time if (n and boundary[0]) else self.step_offset
            offsets = base + np.r_[0.0, np.cumsum(st[ends])] if n else np.zeros(0)
            if n and boundary[0]:
                seg = seg - 1
            t = offsets[seg] + st
            if n:
                self.step_offset, self.last_time = float(offsets[seg[-1]]), float(t[-1])
            out["test_time_second"] = t
        else:
            unix = out["unix_time_second"]
            if self.t0 is None:
                self.t0 = float(unix[0])
            out["test_time_second"] = unix - self.t0
        # counters
        charge = current > 0
        if "step_type" in raw:
            charge = np.where(np.isfinite(direction) & (direction != 0), direction > 0, charge)
        for kind in ("capacity", "energy"):
            unit = "ah" if kind == "capacity" else "wh"
            both = (f"charge_{kind}", f"discharge_{kind}")
            for role, which in zip(both, (0, 1), strict=True):
                if role in raw:
                    ctr = self.counters.setdefault(role, _Counter())
                    d = ctr.increments(num(role), boundary)
                    name = f"{'dis' if which else ''}charging_{kind}_{unit}"
                    out[name] = ctr.cumulative(d, which)
            if kind in raw and not any(r in raw for r in both):
                ctr = self.counters.setdefault(kind, _Counter())
                d = ctr.increments(num(kind), boundary)
                out[f"charging_{kind}_{unit}"] = ctr.cumulative(np.where(charge, d, 0.0), 0)
                out[f"discharging_{kind}_{unit}"] = ctr.cumulative(np.where(charge, 0.0, d), 1)
        if "temperature" in raw:
            out["surface_temperature_celsius"] = num("temperature")
        if "ambient_temperature" in raw:
            out["ambient_temperature_celsius"] = num("ambient_temperature")
        frame = pd.DataFrame(out)
        if self.fmt.hooks.batch is not None:
            # converted on first access: a hook pays only for the columns it reads
            values = _LazyValues(raw, lambda role: num(role) if kind_of(self.fmt, role) in (
                "number", "int") else _series(raw[role]))
            frame = self.fmt.hooks.batch(values, frame, self.state)
        return frame

    def warnings(self) -> list[str]:
        w = []
        if self.flipped:
            w.append(f"{self.flipped} rows of charge or discharge steps had the other sign of "
                     "current in the file: signed by their step type")
        if self.unknown_labels:
            w.append("step types not known to the " + self.fmt.format + " layout, kept as "
                     "'other' with the current's sign as written: "
                     + ", ".join(sorted(self.unknown_labels)[:8]))
        if self.date_fmt not in (None, "datetime"):
            w.append(f"wall-clock times read as {self.date_fmt} in UTC (the file states no "
                     "time zone)")
        if self.layout.decimal == ",":
            w.append("decimal commas read (delimiter "
                     + {";": "semicolon", "\t": "tab"}.get(self.layout.delimiter, "?") + ")")
        return w


def sign_by_evidence(state: dict, current: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The current positive on charge, by the whole file's evidence, decided as rows come.

    For testers whose rows carry a direction (a mode or step code) and whose files may write
    magnitudes only: a file with any negative current is signed and kept; one without, whose
    discharge rows (``direction < 0``) carry current, writes magnitudes (those rows negated).
    The two readings agree until the first discharge row with current. A negative current
    after "magnitudes" was decided contradicts it: :class:`StreamFallback` (the whole file
    decides). ``state`` (a hook's) carries the decision across batches.
    """
    negative = bool(np.any(current < 0))
    carried = bool(np.any((direction < 0) & (np.abs(np.nan_to_num(current)) > 0)))
    rule = state.get("sign")
    if rule == "negate" and negative:
        raise StreamFallback("a negative current after discharge rows written as magnitudes")
    state["negative"] = state.get("negative", False) or negative
    if rule is None and (state["negative"] or carried):
        rule = state["sign"] = "keep" if state["negative"] else "negate"
    return np.where(direction < 0, -np.abs(current), current) if rule == "negate" else current


class DirectionCounter:
    """A counter of magnitudes split by direction into cumulative charge and discharge totals,
    carried across batches (Bitrode, Novonix).

    A drop of the magnitude to less than half its previous value, and by more than 1e-4 of the
    largest magnitude so far, is a reset (the count restarts from that value); each row's rise
    goes to the charge or the discharge total by the row's direction, rest rows add nothing.
    """

    def __init__(self) -> None:
        self.last = 0.0
        self.peak = 0.0
        self.charge = 0.0
        self.discharge = 0.0

    def push(self, counter: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(charge, discharge) cumulative totals of one batch's rows."""
        mag = np.r_[self.last, np.abs(np.asarray(counter, dtype=float))]
        m = pd.Series(mag).ffill().fillna(0.0).to_numpy()[1:]
        if len(m) == 0:
            return m, m
        prev = np.r_[self.last, m[:-1]]
        noise = 1e-4 * np.maximum.accumulate(np.r_[self.peak, m])[1:] + 1e-12
        reset = (m < 0.5 * prev) & (prev - m > noise)
        rise = np.clip(np.where(reset, m, m - prev), 0.0, None)
        # the carried total first, so that the sums round as over the whole file
        charge = np.cumsum(np.r_[self.charge, np.where(direction > 0, rise, 0.0)])[1:]
        discharge = np.cumsum(np.r_[self.discharge, np.where(direction < 0, rise, 0.0)])[1:]
        self.last, self.peak = float(m[-1]), max(self.peak, float(m.max()))
        self.charge, self.discharge = float(charge[-1]), float(discharge[-1])
        return charge, discharge


class _LazyValues(Mapping):
    """A batch's columns by role, each converted when a hook first reads it."""

    def __init__(self, raw: Mapping[str, Any], convert: Callable[[str], Any]) -> None:
        self._raw, self._convert, self._done = raw, convert, {}

    def __getitem__(self, role: str) -> Any:
        if role not in self._done:
            if role not in self._raw:
                raise KeyError(role)
            self._done[role] = self._convert(role)
        return self._done[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def kind_of(fmt: TableFormat, role: str) -> str:
    """How ``role``'s values are written in ``fmt`` (its column's ``kind``, else :data:`KINDS`)."""
    for col in fmt.columns:
        if col.role == role and col.kind:
            return col.kind
    return KINDS.get(role, "number")


def _series(v: Any) -> pd.Series:
    """A batch's column as a pandas Series (from pyarrow without a Python loop)."""
    if isinstance(v, (pa.Array, pa.ChunkedArray)):
        if pa.types.is_string(v.type) or pa.types.is_large_string(v.type):
            v = pc.utf8_trim_whitespace(v)
        return v.to_pandas()
    return v if isinstance(v, pd.Series) else pd.Series(list(v), dtype=object)


# --------------------------------------------------------------------------------------------
# delimited text: streaming with pyarrow
# --------------------------------------------------------------------------------------------


def _metadata(fmt: TableFormat, layout: Layout, first: pd.DataFrame | None) -> dict[str, Any]:
    md: dict[str, Any] = {"tester": fmt.vendor}
    extra: dict[str, Any] = {"layout": fmt.format, "encoding": layout.encoding}
    if fmt.preamble_metadata:
        extra.update(layout.meta)
    md["extra"] = extra
    if first is not None and "unix_time_second" in first and len(first):
        t = first["unix_time_second"].iloc[0]
        if np.isfinite(t):
            md["start_time"] = _dt.datetime.fromtimestamp(float(t), tz=_dt.UTC)
    if fmt.hooks.header is not None:
        _merge_metadata(md, fmt.hooks.header(layout.preamble, layout))
    return md


def _merge_metadata(md: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Add a hook's metadata: schema fields at the top, the rest under ``extra``."""
    from casip.data.schema import TestMetadata

    for k, v in fields.items():
        if k == "extra":
            md.setdefault("extra", {}).update(v)
        elif k in TestMetadata.model_fields:
            md[k] = v
        else:
            md.setdefault("extra", {})[k] = v


def _last_line_cut(path: Path, layout: Layout, width: int | None = None) -> bool:
    """True if the file's last non-empty line has fewer fields than the rows (``width``,
    default the header's): a file cut mid-record."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - HEAD_BYTES))
        tail = fh.read()
    lines = [ln for ln in tail.split(b"\n") if ln.strip()]
    if len(lines) < 2:
        return False
    last = lines[-1].rstrip(b"\r").decode(layout.encoding, errors="replace")
    return len(last.split(layout.delimiter)) < (width or len(layout.tokens))


def row_width(head: bytes, layout: Layout) -> int:
    """Fields per data row: the header's, or more where the first data row ends with
    delimiters (Bitrode and Landt end every row with one: one empty field more)."""
    lines = head.split(b"\n")[layout.header_line + 1 : -1]
    first = next((ln for ln in lines if ln.strip()), b"")
    return max(len(layout.tokens), first.count(layout.delimiter.encode()) + 1 if first else 0)


def _parse_problem(exc: Exception, chunk: bytes, line_no: int, layout: Layout, width: int,
                   what: str) -> Problem:
    """What is wrong with a chunk pyarrow refused: the line and, where known, the column."""
    msg = str(exc)
    sep = layout.delimiter.encode()
    for k, line in enumerate(chunk.split(b"\n")):  # find the line whose width is off
        fields = line.rstrip(b"\r").count(sep) + 1
        if line.strip() and fields != width:
            return Problem("", f"corrupted or malformed {what}: line {line_no + k} has "
                           f"{fields} fields where the rows have {width}",
                           expected="rows of the header's fields")
    col = re.search(r"column #(\d+)", msg)
    idx = int(col.group(1)) if col else -1
    name = layout.tokens[idx] if 0 <= idx < len(layout.tokens) else ""
    text = "".join(ch if ch.isprintable() else "?" for ch in msg.replace("\n", " "))[:160]
    return Problem(name, f"corrupted or malformed {what}: a value does not read ({text}), in "
                   f"the rows from line {line_no}",
                   expected="numbers where the header has numbers")


def iter_table(
    fmt: TableFormat,
    path: Path,
    batch_rows: int,
    *,
    layout: Layout | None = None,
    streaming: bool = False,
    what: str | None = None,
) -> Iterator[RawReading]:
    """Stream a delimited export of ``fmt`` in batches of about ``batch_rows`` rows.

    Parameters
    ----------
    fmt : TableFormat
        The layout's declaration.
    path : Path
        The export (read in place, never modified).
    batch_rows : int
        Rows per batch, about.
    layout : Layout, optional
        The file's layout where the adapter found it itself (default :func:`probe`).
    streaming : bool
        A row that does not parse raises :class:`StreamFallback` (the file is then read
        whole, whose error names the line) instead of :class:`CasipInputError`. The hooks see
        it as ``state["streaming"]``, with ``state["layout"]`` and ``state["source"]``.
    what : str, optional
        The file's kind in error messages (default "<format> export").

    Raises
    ------
    CasipInputError
        A file cut mid-record (:func:`truncated_error`), a row that does not parse (its line
        named), or a file without data rows.
    """
    path = Path(path)
    what = what or f"{fmt.format} export"
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if layout is None:
        layout = probe(fmt, head, str(path))
    if layout is None:
        raise CasipInputError(
            Problem("", f"no {fmt.format} header found in the first 200 lines"), source=str(path)
        )
    width = row_width(head, layout)
    if _last_line_cut(path, layout, width):
        raise truncated_error(path)
    conv = Converter(fmt, layout, str(path))
    conv.state.update(layout=layout, streaming=streaming, source=str(path))
    wanted = {role: j for role, (j, _) in layout.roles.items()}
    names = [f"c{j}" for j in range(width)]
    # GBK/GB18030 files are parsed as they are: their multi-byte characters never hold a
    # delimiter, quote or line break (lead bytes >= 0x81, trail bytes >= 0x30), and the number
    # columns are ASCII, so only the text columns are decoded (:func:`_text_column`)
    native = layout.encoding in ("utf-8", "utf-8-sig")
    text_type = pa.string() if native else pa.binary()
    types = {}
    texts = []
    for role, j in wanted.items():
        kind = kind_of(fmt, role)
        if kind in ("duration", "datetime", "label"):
            types[names[j]] = text_type
            texts.append(role)
        else:
            types[names[j]] = pa.float64()
    options = {
        "read_options": pacsv.ReadOptions(column_names=names, use_threads=True),
        "parse_options": pacsv.ParseOptions(delimiter=layout.delimiter),
        "convert_options": pacsv.ConvertOptions(
            column_types=types, include_columns=[names[j] for j in wanted.values()],
            decimal_point=layout.decimal, strings_can_be_null=True,
            null_values=["", "-", "--", "NaN", "nan", "NA", "N/A", "null", "NULL"]),
    }
    per_row = max(40, len(head) // max(1, head.count(b"\n")))
    start = offset_after_lines(path, layout.header_line + 1)
    line_no = layout.header_line + 2
    pending: RawReading | None = None
    size = min(per_row * batch_rows, path.stat().st_size + 1)
    for chunk in line_chunks(path, start, size):
        try:
            table = pacsv.read_csv(pa.py_buffer(chunk), **options)
        except pa.ArrowInvalid as exc:
            if streaming:
                raise StreamFallback(f"a row near line {line_no} does not parse") from None
            raise CasipInputError(_parse_problem(exc, chunk, line_no, layout, width, what),
                                  source=str(path)) from None
        first_line, line_no = line_no, line_no + chunk.count(b"\n")
        if not table.num_rows:
            continue
        raw = {role: table.column(names[j]) for role, j in wanted.items()}
        if not native:
            for role in texts:
                raw[role] = _text_column(raw[role], layout.encoding)
        try:
            df = conv.convert(raw)
        except CasipInputError:
            raise  # a hook's own refusal, already worded
        except ValueError as exc:  # a duration or label the converter cannot read
            raise CasipInputError(Problem("", f"{what}: {exc}, in the rows from line "
                                          f"{first_line}"), source=str(path)) from None
        if pending is not None:
            yield pending
        pending = RawReading(df, _metadata(fmt, layout, df) if pending is None else {}, [])
    if pending is None:
        raise CasipInputError(Problem("", f"the {what} has a header but no data rows"),
                              source=str(path))
    pending.warnings = conv.warnings()
    if fmt.hooks.finish is not None:
        more, notes = fmt.hooks.finish(conv.state)
        _merge_metadata(pending.metadata, more)
        pending.warnings += [w for w in notes if w not in pending.warnings]
    yield pending


def _text_column(col: pa.ChunkedArray | pa.Array, encoding: str) -> pa.Array:
    """A text column parsed as bytes, decoded from ``encoding`` (e.g. GB18030) to strings.

    ASCII columns (times, dates) are only relabelled; others are decoded value by distinct
    value (step labels repeat), which gives the strings a decoding of the whole file would.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    as_text = arr.view(pa.string())  # no copy; valid text where every byte is ASCII
    if len(arr) == 0 or pc.all(pc.fill_null(pc.string_is_ascii(as_text), True)).as_py():
        return as_text
    enc = arr.dictionary_encode()
    words = [None if b is None else b.decode(encoding) for b in enc.dictionary.to_pylist()]
    return pa.array(words, pa.string()).take(enc.indices)


def read_table(fmt: TableFormat, path: Path, layout: Layout | None = None,
               what: str | None = None) -> RawReading:
    """Read a whole delimited export of ``fmt`` in one batch (whole-file decisions of the
    converter and the hooks then see every row)."""
    return join_batches(
        iter_table(fmt, path, 1 << 40, layout=layout, streaming=False, what=what))


class TableAdapter:
    """A :class:`TableFormat` in the adapter contract of :mod:`casip.data.readers._base`."""

    LIBRARY = "pyarrow"
    PRIVATE_COPY = False

    def __init__(self, fmt: TableFormat) -> None:
        self.spec = fmt
        self.FORMAT = fmt.format
        self.VENDOR = fmt.vendor
        self.DESCRIPTION = fmt.description
        self.EXTENSIONS = fmt.extensions
        self.__name__ = f"{__name__}:{fmt.format}"  # the reader named in provenance
        self.LIBRARY = fmt.library

    def sniff(self, head: bytes, name: str) -> float:
        try:
            layout = probe(self.spec, head)
        except CasipInputError:
            return 0.9  # recognised, with a unit to refuse: let read() say so
        if layout is None:
            return 0.0
        if self.spec.defer is not None and self.spec.defer(layout):
            return 0.55  # below the dedicated adapter's claim, above the refusal
        return 0.5 + 0.45 * layout.known / max(1, len(layout.tokens))

    def explain(self, head: bytes, name: str) -> str | None:
        hook = self.spec.hooks.explain
        return hook(head, name) if hook is not None else None

    def read(self, path: Path) -> RawReading:
        return read_table(self.spec, Path(path))

    def iter_batches(self, path: Path, batch_rows: int) -> Iterator[RawReading]:
        return iter_table(self.spec, Path(path), batch_rows, streaming=True)

    def __repr__(self) -> str:
        return f"TableAdapter({self.FORMAT!r})"


# --------------------------------------------------------------------------------------------
# Excel workbooks
# --------------------------------------------------------------------------------------------


def _is_xlsx(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and (b"xl/" in head or b"[Content_Types]" in head)


class ExcelAdapter:
    """Excel (.xlsx) exports of any :class:`TableFormat`, read with python-calamine.

    The workbook is opened whole (calamine holds a sheet in memory; there is no streaming
    xlsx reader that is both fast and maintained), so memory grows with the sheet: Excel
    itself caps a sheet at 1,048,576 rows.
    """

    FORMAT = "excel-table"
    VENDOR = "Neware / LANHE (Landt)"
    DESCRIPTION = ("Excel workbook (.xlsx) of a table layout (Neware BTS, LANHE/Landt; English "
                   "or Chinese headers): the record sheet found by its columns")
    EXTENSIONS = (".xlsx",)
    LIBRARY = "python-calamine"
    PRIVATE_COPY = False

    def __init__(self, formats: Sequence[TableFormat]) -> None:
        self.formats = list(formats)
        self.__name__ = f"{__name__}:excel"

    def sniff(self, head: bytes, name: str) -> float:
        return 0.7 if _is_xlsx(head) else 0.0

    def explain(self, head: bytes, name: str) -> str | None:
        if name.lower().endswith(".xls") and head.startswith(b"\xd0\xcf\x11\xe0"):
            return ("an Excel 97-2003 workbook (.xls): open it in Excel or LibreOffice and save "
                    "it as .xlsx, or export CSV from the tester's software")
        return None

    def _sheets(self, path: Path) -> tuple[TableFormat, Layout, list[list[list[Any]]]]:
        from python_calamine import CalamineWorkbook

        try:
            wb = CalamineWorkbook.from_path(str(path))
        except Exception as exc:  # calamine's own error on a damaged zip or workbook
            cut = _zip_cut(path)
            if cut:
                raise truncated_error(path, offset=cut) from None
            raise CasipInputError(
                Problem("", f"not a readable Excel workbook: {exc}"), source=str(path)
            ) from None
        found: tuple[TableFormat, Layout] | None = None
        sheets = []
        for sheet_name in wb.sheet_names:
            rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
            head_text = "\n".join(
                "\t".join("" if v is None else str(v) for v in row) for row in rows[:200]
            ).encode("utf-8")
            # the layout that knows the most of the sheet's header names (as in sniffing:
            # a LANHE header also meets the Neware layout's required columns)
            best = None
            for fmt in [found[0]] if found else self.formats:
                layout = probe(fmt, head_text, f"{path} [{sheet_name}]")
                if layout is not None and (best is None or layout.known > best[1].known):
                    best = (fmt, layout)
            if best is not None and (found is None or best[1].tokens == found[1].tokens):
                found = best
                sheets.append(rows[best[1].header_line + 1 :])
        if found is None:
            raise CasipInputError(
                Problem("", "no sheet of this workbook has a cycler table CASIP knows",
                        ", ".join(wb.sheet_names),
                        "a record sheet with time, voltage and current columns ("
                        + ", ".join(f.format for f in self.formats) + ")"),
                source=str(path),
            )
        return found[0], found[1], sheets

    def read(self, path: Path) -> RawReading:
        path = Path(path)
        fmt, layout, sheets = self._sheets(path)
        conv = Converter(fmt, layout, str(path))
        parts = []
        for rows in sheets:
            rows = [r for r in rows if any(v not in (None, "") for v in r)]
            if not rows:
                continue
            width = len(layout.tokens)
            if any(len(r) < width for r in rows):
                raise CasipInputError(Problem("", "a record row is shorter than the header"),
                                      source=str(path))
            raw = {role: pd.Series([r[j] for r in rows]) for role, (j, _) in layout.roles.items()}
            for role in ("time", "step_time"):
                if role in raw:
                    raw[role] = pd.Series([_excel_duration(v) for v in raw[role]], dtype=object)
            parts.append(conv.convert(raw))
        if not parts:
            raise CasipInputError(Problem("", "the record sheet has no data rows"),
                                  source=str(path))
        df = pd.concat(parts, ignore_index=True)
        md = _metadata(fmt, layout, df)
        md["extra"]["container"] = "xlsx"
        warnings = conv.warnings()
        if fmt.hooks.finish is not None:
            more, notes = fmt.hooks.finish(conv.state)
            _merge_metadata(md, more)
            warnings += notes
        return RawReading(df, md, warnings)


def _excel_duration(v: Any) -> Any:
    """An Excel duration cell (a time, a timedelta, a number of seconds or h:mm:ss text)."""
    if isinstance(v, _dt.timedelta):
        return str(v.total_seconds())
    if isinstance(v, _dt.time):
        return str(v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6)
    return "" if v is None else str(v)


def _zip_cut(path: Path) -> int | None:
    """The file's size if it is a zip cut short (no end-of-central-directory record)."""
    try:
        zipfile.ZipFile(path).close()
    except zipfile.BadZipFile:
        return path.stat().st_size
    return None
