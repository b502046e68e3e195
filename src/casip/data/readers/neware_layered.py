"""Neware BTSDA "regular export": cycle, step and record layers interleaved in one file.

Hand-written on pyarrow's CSV reader. BTSDA (BTS Data Analyzer, the viewer of Neware's BTS
software) exports a test either as flat layers (one row per record, read by
:mod:`casip.data.readers.neware_csv`) or, in its default "regular" report, as one table in which
the three layers of the test are nested:

- three header lines, one per layer, each indented like its rows::

      Cycle ID,Cap_Chg(mAh),Cap_DChg(mAh),...
      ,Step ID,Step Name,Step Time(h:min:s.ms),Capacity(mAh),...
      ,,Record ID,Time(h:min:s.ms),Voltage(V),Current(mA),...,Capacity(mAh),Energy(mWh),Realtime

- then, for every cycle, a cycle row (first cell filled: the cycle number and its charge and
  discharge totals), then for every step of that cycle a step row (first cell empty, second
  filled: the step number, its type such as ``CC_Chg``, ``CCCV_Chg``, ``CC_DChg``, ``Rest``, its
  duration and totals), then that step's record rows (first two cells empty: record number,
  step time, voltage, current, capacity, energy, wall-clock time...).

The layout is described by the columns of BTSDA's export (as listed by the public readers that
parse it: cellpy's Neware configuration (MIT) and lab scripts converting the report to JSON)
and by the BTS user manual; the rows' kind is given by the number of empty cells they start
with, and a column's position is its position in its layer's header line. Chinese-locale
exports name the same columns 循环序号, 工步号, 工步类型, 记录序号, 时间, 电压/V, 电流/mA,
容量/mAh, 能量/mWh, 绝对时间...; the file may be UTF-8 (with or without BOM) or GBK/GB18030,
separated by commas, tabs or semicolons (with a decimal comma, then, where the values have one).

What the tester writes, and what this module makes of it:

- **units** come from the headers (``Current(mA)``, ``电流/A``, ``Capacity(Ah)``, ``能量/mWh``...);
  a current or capacity column without a unit is refused, not guessed;
- **sign**: BTSDA writes discharge current negative, the BDF convention; a file that writes it
  as a magnitude (or inverted) is recognised from the step types (``CC_DChg``, ``恒流放电``...
  discharge; ``CC_Chg``, ``CCCV_Chg``, ``CV_Chg``, ``恒流充电``... charge; ``Rest``, ``搁置``
  rest) and converted, with a warning;
- **counters**: the record layer's ``Capacity`` and ``Energy`` restart at every step and carry
  no direction: they are given to the charge or the discharge counter by the step's type (a
  step of unknown type by the sign of its current) and made cumulative with the same
  data-driven rule as the flat export (a fall at a step boundary is a reset; see
  :func:`casip.data.readers.neware_csv.counter_cumulative`); explicit ``Capacitance_Chg`` /
  ``Capacitance_DChg`` / ``Engy_Chg`` / ``Engy_DChg`` columns are used where present;
- **time**: the record layer's ``Time`` is the step time (``[d-]h:mm:ss[.fff]``, hours may
  exceed 24). The test time is the step's start plus the step time; a step starts where the
  previous one ended (its duration from the step layer, or its last record if longer), or,
  where the wall-clock column shows a pause between steps longer than 2 s, at the wall-clock
  time of its first record less its step time;
- **cycles** come from the cycle layer, **step numbers and types** from the step layer
  (``Raw Step ID``, the schedule's step, is the ``step_index`` where present, else ``Step ID``);
  every step row starts a new ``step_count``; a step row's ``DCIR`` (O/Ω or mΩ) is the
  ``internal_resistance_ohm`` of its records (an unknown unit leaves it out, with a warning);
- cells written as quoted text with a leading tab (BTSDA's CSV writer does this so that Excel
  keeps them as text) and ``-`` for "no value" are read;
- the wall-clock time (``Realtime``, 绝对时间) has no time zone: it is read as UTC (a warning
  says so) and its first value is the test's start time;
- where the cycle layer states charge and discharge capacities, they are compared with the
  records' own totals and a difference above 2% is reported in a warning;
- a file whose last line is cut short is refused (:func:`casip.data.readers._base.truncated_error`).

The file is streamed (:func:`iter_batches`): the rows are classified line by line, and the
record rows of each batch are parsed by pyarrow.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterator
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
    block_size_for,
    line_chunks,
    looks_binary,
    truncated_error,
)
from casip.data.readers.neware_csv import (
    CAPACITY_UNITS,
    CURRENT_UNITS,
    ENERGY_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
    CounterStream,
    _merge_sign_stats,
    _sign_stats,
    current_sign_check,
    detect_encoding,
    hms_seconds,
    sign_decision,
    to_unix_seconds,
    unit_factor,
)
from casip.errors import CasipInputError, Problem

FORMAT = "neware-layered"
VENDOR = "Neware"
DESCRIPTION = "Neware BTSDA regular export (cycle, step and record layers in one CSV/TXT)"
EXTENSIONS = (".csv", ".txt")
LIBRARY = "pyarrow"
PRIVATE_COPY = False

_SEPS = (",", "\t", ";")

#: layer -> role -> header names (lower case, without unit)
_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "cycle": {
        "cycle": ("cycle id", "cycleid", "cycle index", "cycle", "cycle no.", "cycle number",
                  "循环序号", "循环号", "循环", "循环次数"),
        "qc": ("cap_chg", "chg. cap.", "charge capacity", "充电容量"),
        "qd": ("cap_dchg", "dchg. cap.", "discharge capacity", "放电容量"),
    },
    "step": {
        "step": ("step id", "step index", "step", "step no.", "step number", "工步号", "工步序号",
                 "工步"),
        "raw_step": ("raw step id", "原始工步号", "原工步号"),
        "type": ("step name", "step type", "工步类型", "工步名称", "工步状态"),
        "duration": ("step time", "time", "工步时间", "时间"),
        "dcir": ("dcir", "直流内阻"),
    },
    "record": {
        "record": ("record id", "record index", "record", "data point", "记录序号", "记录号",
                   "数据序号"),
        "time": ("time", "step time", "relative time", "时间", "相对时间", "工步时间"),
        "voltage": ("voltage", "vol", "电压"),
        "current": ("current", "cur", "电流"),
        "capacity": ("capacity", "cap", "容量"),
        "energy": ("energy", "能量"),
        "qc": ("capacitance_chg", "chg. cap.", "charge capacity", "充电容量"),
        "qd": ("capacitance_dchg", "dchg. cap.", "discharge capacity", "放电容量"),
        "ec": ("engy_chg", "chg. energy", "charge energy", "充电能量"),
        "ed": ("engy_dchg", "dchg. energy", "discharge energy", "放电能量"),
        "date": ("realtime", "real time", "absolute time", "system time", "date", "绝对时间",
                 "系统时间", "实际时间"),
        "temperature": ("temperature", "temp", "t1", "温度"),
    },
}

#: resistance units as Neware writes them (``O`` stands for ohm in its ASCII exports)
_OHM = {"o": 1.0, "ohm": 1.0, "ω": 1.0, "Ω": 1.0, "mo": 1e-3, "mohm": 1e-3, "mω": 1e-3,
        "mΩ": 1e-3}

_NAME_UNIT = re.compile(r"^\s*(.*?)\s*[\(\[]([^()\[\]]*)[\)\]]\s*$")


def _name_unit(token: str) -> tuple[str, str]:
    """``"Current(mA)"`` / ``"电流/mA"`` / ``"电流（mA）"`` -> ``("current", "mA")``."""
    t = token.strip().strip('"').strip().replace("（", "(").replace("）", ")")
    m = _NAME_UNIT.match(t)
    if m:
        base, unit = m.group(1), m.group(2).strip()
    elif "/" in t:
        base, unit = t.split("/", 1)
    else:
        base, unit = t, ""
    return re.sub(r"\s+", " ", base.strip().lower()), unit.strip()


def _fields(line: str, sep: str) -> list[str]:
    return [t.strip().strip('"').strip() for t in line.rstrip("\r\n").split(sep)]


def _cell(fields: list[str], pos: int) -> str:
    """The stripped cell ``pos`` of a split row ("" past its end)."""
    return fields[pos].strip().strip('"').strip() if pos < len(fields) else ""


def _indent(fields: list[str]) -> int | None:
    return next((j for j, f in enumerate(fields) if f), None)


def _roles(fields: list[str], layer: str) -> dict[str, tuple[int, str]]:
    """role -> (position, unit) for a layer's header fields (first column of each role)."""
    lookup = {n: r for r, names in _NAMES[layer].items() for n in names}
    out: dict[str, tuple[int, str]] = {}
    for j, tok in enumerate(fields):
        if not tok:
            continue
        base, unit = _name_unit(tok)
        role = lookup.get(base)
        if role and role not in out:
            out[role] = (j, unit)
    return out


def _find_headers(text: str) -> dict[str, Any] | None:
    """The three header lines among the first lines of ``text``: their line number (0-based,
    of the cycle header), separator, fields, indents and roles; None if not found."""
    lines = text.splitlines()[:12]
    for k in range(max(0, len(lines) - 2)):
        trio = lines[k : k + 3]
        counts = {s: sum(ln.count(s) for ln in trio) for s in _SEPS}
        sep = max(counts, key=counts.get)
        if counts[sep] == 0:
            continue
        fields = [_fields(ln, sep) for ln in trio]
        ind = [_indent(f) for f in fields]
        if ind[0] != 0 or ind[1] is None or ind[2] is None or not 0 < ind[1] < ind[2]:
            continue
        roles = {layer: _roles(f, layer) for layer, f in zip(("cycle", "step", "record"), fields,
                                                              strict=True)}
        if (roles["cycle"].get("cycle", (-1,))[0] == 0
                and roles["step"].get("step", (-1,))[0] == ind[1]
                and {"voltage", "current"} <= set(roles["record"])):
            return {"line": k, "sep": sep, "fields": fields, "indent": ind, "roles": roles}
    return None


def _decode(head: bytes) -> tuple[str, str]:
    encoding = detect_encoding(head)
    return encoding, head.decode(encoding, errors="replace").lstrip("\ufeff")


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Neware BTSDA regular (layered) export.

    Parameters
    ----------
    head : bytes
        The first 64 KiB of the file.
    name : str
        The file name (not used: the content decides).

    Returns
    -------
    float
        0.95 when three header lines, indented 0 < step < record, name the cycle (Cycle ID,
        循环序号...), the step (Step ID, 工步号...) and, in the record layer, voltage and
        current; else 0.
    """
    if not head or looks_binary(head):
        return 0.0
    _, text = _decode(head)
    return 0.95 if _find_headers(text) is not None else 0.0


# --------------------------------------------------------------------------------------------
# step types
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def step_direction(label: str) -> int:
    """+1 for a charge step type, -1 for discharge, 0 for rest, 2 if unknown.

    ``CC_Chg``, ``CC Chg``, ``CCCV_Chg``, ``CV_Chg``, ``CP_Chg``, ``恒流充电``, ``恒流恒压充电``,
    ``恒压充电`` charge; ``CC_DChg``, ``CCCV_DChg``, ``CP_DChg``, ``CR_DChg``, ``恒流放电``...
    discharge; ``Rest``, ``搁置``, ``静置``, ``Pause`` rest; anything else (``SIM``, ``Pulse``,
    ``Cycle``...) is unknown.
    """
    s = re.sub(r"[\s_\-./]", "", label.lower())
    if not s:
        return 2
    if "dchg" in s or "dischg" in s or "discharge" in s or "放电" in s:
        return -1
    if "chg" in s or "charge" in s or "充电" in s:
        return 1
    if s in ("rest", "pause", "搁置", "静置", "休眠", "暂停") or s.startswith("rest"):
        return 0
    return 2


def _hms(value: str) -> float:
    """A duration ``[d-]h:mm:ss[.fff]`` (or seconds) in seconds; NaN if empty or unreadable."""
    v = value.strip().replace(",", ".")
    if not v:
        return np.nan
    days = 0.0
    m = re.match(r"^(\d+)-(.*)$", v)
    if m:
        days, v = float(m.group(1)), m.group(2)
    parts = v.split(":")
    try:
        if len(parts) == 3:
            return days * 86400 + float(parts[0]) * 3600 + float(parts[1]) * 60 + float(parts[2])
        if len(parts) == 1:
            return float(parts[0])
    except ValueError:
        pass
    return np.nan


# --------------------------------------------------------------------------------------------
# setup: headers, units, truncation
# --------------------------------------------------------------------------------------------


def _setup(path: Path) -> dict[str, Any]:
    """The headers: layers' columns, units, separator, encoding and where the rows start."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if not head.strip():
        raise CasipInputError(Problem("", "the file is empty"))
    if looks_binary(head):
        raise CasipInputError(Problem("", "binary content, not a Neware BTSDA export"))
    encoding, text = _decode(head)
    found = _find_headers(text)
    if found is None:
        raise CasipInputError(Problem(
            "", "no Neware regular-export header found", None,
            "three header lines: Cycle ID..., then ,Step ID..., then ,,Record ID,...,Voltage,"
            "Current... (or 循环序号 / 工步号 / 记录序号 with 电压, 电流)"))
    rec = found["roles"]["record"]
    if "time" not in rec:
        raise CasipInputError(Problem("record header", "no time column", None,
                                      "Time(h:min:s.ms) or 时间"))
    tokens = found["fields"][2]
    for role, units, what in (("current", CURRENT_UNITS, "Current(mA) or Current(A)"),
                              ("capacity", CAPACITY_UNITS, "Capacity(mAh) or Capacity(Ah)"),
                              ("qc", CAPACITY_UNITS, "mAh or Ah"),
                              ("qd", CAPACITY_UNITS, "mAh or Ah"),
                              ("energy", ENERGY_UNITS, "Energy(mWh) or Energy(Wh)"),
                              ("ec", ENERGY_UNITS, "mWh or Wh"),
                              ("ed", ENERGY_UNITS, "mWh or Wh")):
        if role in rec:
            j, unit = rec[role]
            if not unit:
                raise CasipInputError(Problem(tokens[j], "the column states no unit", None, what))
            unit_factor(unit, units, tokens[j])  # raises for an unknown unit
    found.update(encoding=encoding, head=head)
    found["start"] = _offset_after(head, found["line"] + 3)
    return found


def _offset_after(head: bytes, lines: int) -> int:
    pos = 0
    for _ in range(lines):
        nl = head.find(b"\n", pos)
        if nl < 0:
            return len(head)
        pos = nl + 1
    return pos


def _check_tail(path: Path, ctx: dict[str, Any]) -> None:
    """Refuse a file whose last line is cut short (fewer fields than the rows of its layer)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size <= ctx["start"]:
            return
        start = max(ctx["start"], size - HEAD_BYTES)
        fh.seek(start)
        tail = fh.read().decode(ctx["encoding"], errors="replace")
    sep = ctx["sep"]
    lines = [ln for ln in tail.splitlines() if ln.strip(sep + " \t\r")]
    if start > ctx["start"] and lines:
        lines = lines[1:]  # the first line of the tail may be partial
    if not lines:
        return
    kind = _kinds(ctx)

    def layer(ln: str) -> int:
        return 2 if ln.startswith(kind[2]) else 1 if ln.startswith(kind[1]) else 0

    last = lines[-1]
    k = layer(last)
    same = [ln for ln in lines[:-1] if layer(ln) == k]
    if same:  # rows of a layer have one width (which may differ from their header's)
        need = same[-1].count(sep) + 1
    else:
        need = max(j for j, f in enumerate(ctx["fields"][k]) if f) + 1
    fields = last.rstrip("\r").split(sep)
    cut = len(fields) < need
    if not cut and k == 2 and same:
        # a cell cut short: its digit pattern is a proper prefix of the row before's (e.g.
        # "2026-04-02 08:0" of "2026-04-02 08:00:10"); the step time and the wall clock
        before = same[-1].rstrip("\r").split(sep)
        roles = ctx["roles"]["record"]
        for role in ("time", "date"):
            if role in roles:
                a = re.sub(r"\d", "9", _cell(fields, roles[role][0]))
                b = re.sub(r"\d", "9", _cell(before, roles[role][0]))
                cut |= len(a) < len(b) and b.startswith(a)
    if cut:
        raise truncated_error(path)


def _kinds(ctx: dict[str, Any]) -> tuple[str, str, str]:
    """Line prefixes of the three layers (the record prefix is the longest)."""
    sep = ctx["sep"]
    ind = ctx["indent"]
    return "", sep * ind[1], sep * ind[2]


# --------------------------------------------------------------------------------------------
# the streaming engine
# --------------------------------------------------------------------------------------------


class _Stream:
    """What carries over between batches of one file."""

    def __init__(self) -> None:
        self.line = 0  # 1-based number of the last line seen
        self.cycle = np.nan
        self.step: list[Any] | None = None  # the current step (see _Engine._step_row)
        self.step_count = 0
        self.rt0: float | None = None
        self.prev_end = 0.0  # test time at which the step before the current one ended
        self.first = True
        self.rows = 0
        self.counters = {r: CounterStream() for r in ("qc", "qd", "ec", "ed")}
        self.sign = "keep"
        self.sign_stats: list[np.ndarray | None] = [None, None]
        self.date_how: str | None = None
        self.unknown_unsigned = False
        self.cycle_rows: dict[float, tuple[float, float]] = {}
        self.cycle_order: list[float] = []
        self.cycle_end: dict[float, tuple[float, float]] = {}
        self.metadata: dict[str, Any] = {"tester": "Neware"}


class _Engine:
    def __init__(self, path: Path, ctx: dict[str, Any]) -> None:
        self.path = path
        self.ctx = ctx
        self.sep = ctx["sep"]
        self.st = _Stream()
        self.st.line = ctx["line"] + 3
        self.kinds = _kinds(ctx)
        r = ctx["roles"]
        self.cyc, self.stp, self.rec = r["cycle"], r["step"], r["record"]
        self.tok = ctx["fields"]
        self.need = max(j for j, _ in self.rec.values()) + 1
        self._last_count: float | None = None
        self.warnings: list[str] = []
        self.as_text = False
        self.ohm = 1.0
        self.notes: list[str] = []
        if "dcir" in self.stp:
            unit = self.stp["dcir"][1]
            if unit not in _OHM and unit.lower() not in _OHM:
                name = self.tok[1][self.stp["dcir"][0]]
                self.notes.append(f"the step column {name!r} has an unknown resistance unit "
                                  f"{unit!r} (expected O, Ω, mO or mΩ): it was not read")
                del self.stp["dcir"]
            else:
                self.ohm = _OHM.get(unit, _OHM.get(unit.lower(), 1.0))
        self.decimal_comma = False
        if self.sep != ",":
            self.decimal_comma = self._decimal_comma(ctx["head"])

    def _decimal_comma(self, head: bytes) -> bool:
        text = head.decode(self.ctx["encoding"], errors="replace")
        pos = self.rec["voltage"][0]
        for ln in text.splitlines()[self.ctx["line"] + 3 : self.ctx["line"] + 200]:
            if ln.startswith(self.kinds[2]):
                f = ln.split(self.sep)
                if len(f) > pos and f[pos].strip():
                    return bool(re.fullmatch(r"\s*-?\d+,\d+\s*", f[pos]))
        return False

    def _num(self, fields: list[str], pos: int) -> float:
        v = _cell(fields, pos)
        if not v:
            return np.nan
        try:
            return float(v.replace(",", ".") if self.decimal_comma else v)
        except ValueError:
            return np.nan

    def _error(self, line: int, field: str, message: str, value: object = None,
               expected: str | None = None) -> CasipInputError:
        return CasipInputError(Problem(field, f"{message} (line {line})", value, expected),
                               source=str(self.path))

    def _cycle_row(self, line: str, lineno: int) -> None:
        f = line.rstrip("\r\n").split(self.sep)
        j = self.cyc["cycle"][0]
        c = self._num(f, j)
        if not np.isfinite(c) or c != round(c):
            raise self._error(lineno, self.tok[0][j], "cycle number is not an integer",
                              f[j] if j < len(f) else None, "an integer")
        self.st.cycle = c
        if "qc" in self.cyc and "qd" in self.cyc:
            qc = self._num(f, self.cyc["qc"][0]) * unit_factor(
                self.cyc["qc"][1] or "mAh", CAPACITY_UNITS, "Cap_Chg")
            qd = self._num(f, self.cyc["qd"][0]) * unit_factor(
                self.cyc["qd"][1] or "mAh", CAPACITY_UNITS, "Cap_DChg")
            if c not in self.st.cycle_rows:
                self.st.cycle_order.append(c)
            self.st.cycle_rows[c] = (qc, qd)

    def _step_row(self, line: str, lineno: int) -> list[Any]:
        """A step: [count, cycle, step no, schedule step, direction, duration, start, maxrec,
        label, DC internal resistance]."""
        if not np.isfinite(self.st.cycle):
            raise self._error(lineno, "", "a step row before any cycle row")
        f = line.rstrip("\r\n").split(self.sep)
        j = self.stp["step"][0]
        no = self._num(f, j)
        if not np.isfinite(no) or no != round(no):
            raise self._error(lineno, self.tok[1][j], "step number is not an integer",
                              f[j] if j < len(f) else None, "an integer")
        raw = self._num(f, self.stp["raw_step"][0]) if "raw_step" in self.stp else np.nan
        label = _cell(f, self.stp["type"][0]) if "type" in self.stp else ""
        dur = np.nan
        if "duration" in self.stp:
            dur = _hms(_cell(f, self.stp["duration"][0]))
            unit = self.stp["duration"][1].lower()
            if unit in TIME_UNITS and np.isfinite(dur):
                dur *= TIME_UNITS[unit]
        dcir = np.nan
        if "dcir" in self.stp:
            dcir = self._num(f, self.stp["dcir"][0]) * self.ohm
        self.st.step_count += 1
        return [self.st.step_count, self.st.cycle, no, raw if np.isfinite(raw) else no,
                step_direction(label), dur, np.nan, 0.0, label, dcir]

    def batch(self, chunk: bytes) -> dict[str, np.ndarray] | None:
        """Classify the lines of a chunk; the record rows in BDF columns (None if none).

        The lines are classified with numpy on the raw bytes (a record line starts with as
        many separators as the record header's indent, a step line with the step header's);
        the few cycle and step lines are parsed in Python and the record lines, cut out in
        runs, by pyarrow.
        """
        st, enc = self.st, self.ctx["encoding"]
        buf = np.frombuffer(chunk, dtype=np.uint8)
        nl = np.flatnonzero(buf == 10)
        ends = nl if len(nl) and nl[-1] == len(buf) - 1 else np.r_[nl, len(buf) - 1]
        starts = np.r_[0, ends[:-1] + 1]
        sepb = ord(self.sep)
        ind = self.ctx["indent"]
        # the first bytes of every line (a newline past its end)
        lead = np.full((ind[2] + 1, len(starts)), 10, dtype=np.uint8)
        for k in range(ind[2] + 1):
            pos = starts + k
            ok = pos <= ends
            lead[k, ok] = buf[pos[ok]]
        is_sep = lead == sepb
        empty = np.isin(lead, np.array([sepb, 10, 13], dtype=np.uint8))
        is_step = is_sep[: ind[1]].all(axis=0) & ~empty[ind[1]]
        is_rec = is_sep[: ind[2]].all(axis=0) & ~empty[ind[2]]
        is_cycle = ~empty[0]
        other = ~(is_step | is_rec | is_cycle)
        for k in np.flatnonzero(other).tolist():  # blank lines (only separators) are skipped
            line = chunk[starts[k] : ends[k] + 1].decode(enc)
            if line.strip(self.sep + " \t\r\n"):
                raise self._error(st.line + k + 1, "", "a row that fits no layer "
                                  "(its first cells are empty where its layer's are filled)",
                                  line[:80])
        table: list[list[Any] | None] = [st.step]
        base = st.line
        for k in np.flatnonzero(is_step | is_cycle).tolist():
            line = chunk[starts[k] : ends[k] + 1].decode(enc)
            if is_step[k]:
                table.append(self._step_row(line, base + k + 1))
            else:
                self._cycle_row(line, base + k + 1)
        st.line = base + len(nl)
        st.step = table[-1]
        rec_idx = np.flatnonzero(is_rec)
        if not len(rec_idx):
            self._resolve(table, np.zeros(0, dtype=np.int64), np.zeros(0), None)
            return None
        owner = np.cumsum(is_step)[rec_idx]
        if table[0] is None and owner[0] == 0:
            raise self._error(base + int(rec_idx[0]) + 1, "", "a record row before any step row")
        breaks = np.flatnonzero(np.diff(rec_idx) != 1)
        first = rec_idx[np.r_[0, breaks + 1]]
        last = rec_idx[np.r_[breaks, len(rec_idx) - 1]]
        body = b"".join(chunk[starts[i] : ends[j] + 1] for i, j in zip(first.tolist(),
                                                                        last.tolist(),
                                                                        strict=True))
        if enc not in ("utf-8", "utf-8-sig"):
            body = body.decode(enc).encode("utf-8")
        return self._records(body, owner, base + rec_idx + 1, table)

    def _parse(self, body: bytes, width: int) -> pa.Table:
        """pyarrow's reading of record lines of ``width + 1`` fields (the used columns).

        Numbers are parsed by pyarrow; where that fails (BTSDA may write cells as quoted text
        with a leading tab, and ``-`` for no value) every used column is read as text and
        converted by :meth:`_number` (raises ``pyarrow.ArrowInvalid`` for rows of another
        width).
        """
        rec = self.rec
        names = [f"_c{j}" for j in range(width + 1)]
        used = [f"_c{rec[r][0]}" for r in rec if r not in ("time", "date")]
        types = {c: pa.float64() for c in used}
        for r in ("time", "date"):
            if r in rec:
                tunit = rec[r][1].lower()
                types[f"_c{rec[r][0]}"] = (pa.float64() if r == "time" and tunit in TIME_UNITS
                                           else pa.string())

        def parse(column_types: dict[str, pa.DataType]) -> pa.Table:
            return pacsv.read_csv(
                pa.py_buffer(body),
                read_options=pacsv.ReadOptions(column_names=names),
                parse_options=pacsv.ParseOptions(delimiter=self.sep),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(column_types), column_types=column_types,
                    strings_can_be_null=True, decimal_point="," if self.decimal_comma else "."),
            )

        if not self.as_text:
            try:
                return parse(types)
            except pa.ArrowInvalid:
                pass
        table = parse({c: pa.string() for c in types})
        self.as_text = True
        return table

    def _number(self, arr: pa.ChunkedArray, column: str, linenos: np.ndarray) -> np.ndarray:
        """Text cells as numbers: blanks, tabs and quotes trimmed, empty or ``-`` as NaN."""
        s = pc.utf8_trim(arr.combine_chunks(), characters=' \t"')
        if self.decimal_comma:
            s = pc.replace_substring(s, ",", ".")
        s = pc.if_else(pc.is_in(s, pa.array(["", "-", "--"])), pa.scalar(None, pa.string()), s)
        ok = pc.match_substring_regex(s, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        bad = pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False)))
        if pc.any(bad).as_py():
            i = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
            raise self._error(int(linenos[i]), column, "not a number", s[i].as_py())
        return s.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float)

    def _resolve(self, table: list[list[Any] | None], owner: np.ndarray, step_t: np.ndarray,
                 unix: np.ndarray | None) -> None:
        """Give each step of a batch its start in test time (see the module docstring).

        A step starts where the previous one ended (its start plus its duration, or its last
        record if later); where the wall clock of its first record shows a pause longer than
        2 s, at that wall-clock time less the record's step time. A step whose first record
        is not seen yet (its row ends the batch) is left pending.
        """
        st = self.st
        first_of: dict[int, int] = {}
        if len(owner):
            starts_at = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
            maxrec = np.maximum.reduceat(step_t, starts_at)
            for j, m, i in zip(owner[starts_at].tolist(), maxrec.tolist(), starts_at.tolist(),
                               strict=True):
                table[j][7] = max(table[j][7], m)
                first_of[j] = i
        prev_end = st.prev_end
        last = len(table) - 1
        for j, s in enumerate(table):
            if s is None:
                continue
            if not np.isfinite(s[6]):
                i = first_of.get(j)
                if i is None and j == last:
                    break
                start = prev_end
                if i is not None and unix is not None and np.isfinite(unix[i]):
                    if st.rt0 is None:
                        st.rt0 = float(unix[i] - start - step_t[i])
                    wall = float(unix[i] - st.rt0 - step_t[i])
                    if wall > start + 2.0:
                        start = wall
                s[6] = start
            if j < last:
                prev_end = s[6] + max(s[5] if np.isfinite(s[5]) else 0.0, s[7])
        st.prev_end = prev_end

    def _records(self, body: bytes, owner: np.ndarray, linenos: np.ndarray,
                 table: list[list[Any] | None]) -> dict[str, np.ndarray]:
        """The record lines ``body`` (UTF-8) in BDF columns."""
        st, rec = self.st, self.rec
        try:
            tbl = self._parse(body, body[: body.find(b"\n") + 1 or None].count(self.sep.encode()))
        except pa.ArrowInvalid:  # rows of unequal width, or too short: look at each line
            lines = body.decode("utf-8").splitlines()
            counts = np.array([ln.count(self.sep) for ln in lines])
            short = counts + 1 < self.need
            if short.any():
                i = int(np.flatnonzero(short)[0])
                raise self._error(int(linenos[i]), "", "a record row has too few fields",
                                  int(counts[i]) + 1, f"at least {self.need}") from None
            width = int(counts.max())
            body = "\n".join(ln + self.sep * (width - int(c))
                              for ln, c in zip(lines, counts, strict=True)).encode("utf-8")
            try:
                tbl = self._parse(body, width)
            except pa.ArrowInvalid as exc:
                msg = re.sub(r"_c(\d+)", lambda m: f"column {int(m.group(1)) + 1}", str(exc))
                raise CasipInputError(
                    Problem("", f"unreadable record rows between lines {linenos[0]} and "
                                f"{linenos[-1]}: {msg[:200]}"), source=str(self.path)) from None

        def col(role: str) -> np.ndarray:
            c = tbl.column(f"_c{rec[role][0]}")
            if pa.types.is_string(c.type):
                return self._number(c, self.tok[2][rec[role][0]], linenos)
            return c.to_numpy().astype(float) if c.num_chunks else np.full(len(owner), np.nan)

        def scaled(role: str, units: dict[str, float], default: str) -> np.ndarray:
            name = self.tok[2][rec[role][0]]
            return col(role) * unit_factor(rec[role][1] or default, units, name)

        n = len(owner)
        # step time of each record
        tunit = rec["time"][1].lower()
        if tunit in TIME_UNITS:
            step_t = col("time") * TIME_UNITS[tunit]
        else:
            arr = tbl.column(f"_c{rec['time'][0]}").combine_chunks()
            if self.decimal_comma:
                arr = pc.replace_substring(arr, ",", ".")
            try:
                step_t = hms_seconds(arr)
            except (ValueError, pa.ArrowInvalid) as exc:
                raise CasipInputError(Problem(self.tok[2][rec["time"][0]], str(exc)),
                                      source=str(self.path)) from None
        bad = ~np.isfinite(step_t)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise self._error(int(linenos[i]), self.tok[2][rec["time"][0]], "missing or unreadable "
                              "step time")
        unix = None
        if "date" in rec:
            how: list[str] = []
            unix = to_unix_seconds(tbl.column(f"_c{rec['date'][0]}"),
                                   ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                                    "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S"), how=how)
            if st.date_how is None:
                st.date_how = how[0]
            elif how[0] != st.date_how:
                raise StreamFallback("the wall-clock times differ between batches")
            if not np.isfinite(unix).any():
                unix = None
        self._resolve(table, owner, step_t, unix)
        info = np.array([[s[0], s[1], s[2], s[3], s[4], s[6], s[9]] if s is not None else
                         [np.nan] * 7 for s in table], dtype=float)
        rows = info[owner]
        test_t = rows[:, 5] + step_t
        direction = rows[:, 4]
        count = rows[:, 0]

        voltage = scaled("voltage", VOLTAGE_UNITS, "V")
        current = scaled("current", CURRENT_UNITS, "A")
        dis, chg = direction == -1, direction == 1
        nz = np.abs(np.nan_to_num(current)) > 0
        for k, sel in enumerate((dis, chg)):
            st.sign_stats[k] = _merge_sign_stats(st.sign_stats[k], _sign_stats(current[sel & nz]))
        warnings: list[str] = []
        if st.first:
            current, more = current_sign_check(current, dis, chg)
            warnings += more
            st.sign = sign_decision(*st.sign_stats)
        elif st.sign == "invert":
            current = -current
        elif st.sign == "magnitude":
            current = np.where(dis, -np.abs(current), current)
        if st.sign == "magnitude" and ((direction == 2) & nz).any() and not st.unknown_unsigned:
            st.unknown_unsigned = True
            warnings.append("steps of unknown type keep the current as written (the file writes "
                            "current as a magnitude)")

        boundary = np.r_[False, count[1:] != count[:-1]]
        if self._last_count is not None:
            boundary[0] = count[0] != self._last_count
        self._last_count = count[-1]
        data: dict[str, np.ndarray] = {
            "test_time_second": test_t,
            "voltage_volt": voltage,
            "current_ampere": current,
            "cycle_count": rows[:, 1],
            "step_index": rows[:, 3],
            "step_count": count,
        }
        if "date" in rec:
            data["unix_time_second"] = unix if unix is not None else np.full(n, np.nan)
        if unix is not None and "start_time" not in st.metadata:
            ok = np.isfinite(unix)
            st.metadata["start_time"] = _dt.datetime.fromtimestamp(
                float(unix[ok][0]), _dt.UTC).replace(tzinfo=None)
            warnings.append("the file's wall-clock times carry no time zone; unix_time_second "
                            "reads them as UTC")
        # counters: explicit charge/discharge columns, else the step's capacity by direction
        pos = np.where(direction == 2, np.sign(np.nan_to_num(current)), direction)
        split = {"qc": ("capacity", CAPACITY_UNITS, "Ah", 1),
                 "qd": ("capacity", CAPACITY_UNITS, "Ah", -1),
                 "ec": ("energy", ENERGY_UNITS, "Wh", 1),
                 "ed": ("energy", ENERGY_UNITS, "Wh", -1)}
        names_out = {"qc": "charging_capacity_ah", "qd": "discharging_capacity_ah",
                     "ec": "charging_energy_wh", "ed": "discharging_energy_wh"}
        for role, (whole, units, default, sign) in split.items():
            if role in rec:
                raw = np.abs(scaled(role, units, default))
            elif whole in rec:
                raw = np.where(pos == sign, np.abs(scaled(whole, units, default)), np.nan)
            else:
                continue
            data[names_out[role]] = st.counters[role].push(raw, boundary)
        if "temperature" in rec:
            data["surface_temperature_celsius"] = col("temperature")
        if "dcir" in self.stp:  # the step's DC internal resistance, on each of its records
            data["internal_resistance_ohm"] = rows[:, 6]
        self._cycle_totals(data)
        st.first = False
        st.rows += n
        self.warnings = warnings
        return data

    def _cycle_totals(self, data: dict[str, np.ndarray]) -> None:
        """The cumulative counters at the last row of each cycle (for the cycle-layer check)."""
        if "charging_capacity_ah" not in data or "discharging_capacity_ah" not in data:
            return
        cyc = data["cycle_count"]
        ends = np.r_[np.flatnonzero(cyc[1:] != cyc[:-1]), len(cyc) - 1]
        for e in ends:
            self.st.cycle_end[float(cyc[e])] = (float(data["charging_capacity_ah"][e]),
                                                float(data["discharging_capacity_ah"][e]))

    def finish(self) -> tuple[dict[str, Any], list[str]]:
        """The metadata and the closing warnings, once every row was seen."""
        st = self.st
        if st.rows == 0:
            raise CasipInputError(Problem("", "no record rows after the header"),
                                  source=str(self.path))
        if st.sign_stats[0] is not None and sign_decision(*st.sign_stats) != st.sign:
            raise StreamFallback("the current sign convention differs from the first batch's")
        warnings = list(self.notes)
        before = (0.0, 0.0)
        off = []
        for c in sorted(st.cycle_end):
            end = st.cycle_end[c]
            got = (end[0] - before[0], end[1] - before[1])
            before = end
            stated = st.cycle_rows.get(c)
            if stated is None:
                continue
            for k, what in enumerate(("charge", "discharge")):
                s, g = stated[k], got[k]
                if np.isfinite(s) and abs(g - s) > max(0.02 * abs(s), 1e-6):
                    off.append(f"cycle {c:g} {what}: {s * 1e3:.6g} mAh stated, "
                               f"{g * 1e3:.6g} mAh in the records")
        if off:
            warnings.append(
                f"the cycle layer's capacities differ by more than 2% from the records' in "
                f"{len(off)} places (e.g. {'; '.join(off[:3])})")
        metadata = dict(st.metadata)
        metadata["extra"] = {"neware_export": "BTSDA regular export (cycle, step and record "
                                              "layers)"}
        return metadata, warnings


def _engine(path: Path) -> _Engine:
    """The headers read and the last line checked: an engine ready for the rows."""
    ctx = _setup(path)
    _check_tail(path, ctx)
    return _Engine(path, ctx)


def _batches(engine: _Engine, size: int) -> Iterator[tuple[dict[str, np.ndarray], list[str]]]:
    """The record rows of the file in chunks of about ``size`` bytes, with their warnings."""
    try:
        for chunk in line_chunks(engine.path, engine.ctx["start"], size):
            data = engine.batch(chunk)
            if data is not None:
                yield data, engine.warnings
    except UnicodeDecodeError as exc:
        raise CasipInputError(
            Problem("", f"the text is not valid {engine.ctx['encoding']}: {exc.reason}"),
            source=str(engine.path)) from None


def read(path: Path) -> RawReading:
    """Read a Neware BTSDA regular export into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The export; read in place, never written.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units (current positive on charge, counters
        cumulative), the metadata the file states, and warnings.

    Raises
    ------
    CasipInputError
        No layered header, no record rows, a malformed row, an unknown unit, a truncated file.
    """
    path = Path(path)
    engine = _engine(path)
    parts: list[dict[str, np.ndarray]] = []
    warnings: list[str] = []
    for data, more in _batches(engine, max(path.stat().st_size, 1 << 16)):
        parts.append(data)
        warnings += [w for w in more if w not in warnings]
    metadata, more = engine.finish()
    warnings += more
    if len(parts) == 1:
        frame = pd.DataFrame(parts[0])
    else:
        frame = pd.DataFrame({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    return RawReading(data=frame, metadata=metadata, warnings=warnings)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` lines.

    The current sign convention is decided on the first batch and checked at the end; where a
    later batch contradicts it (or the wall-clock format changes), :class:`StreamFallback` has
    the file read whole.
    """
    path = Path(path)
    engine = _engine(path)
    columns: list[str] | None = None
    for data, more in _batches(engine, block_size_for(engine.ctx["head"], batch_rows)):
        if columns is None:
            columns = list(data)
        elif list(data) != columns:
            raise StreamFallback("the batches' columns differ")
        yield RawReading(data=pd.DataFrame(data), metadata={}, warnings=list(more))
    metadata, more = engine.finish()
    yield RawReading(data=pd.DataFrame(), metadata=metadata, warnings=more)
