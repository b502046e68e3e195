"""BioLogic EC-Lab binary data files (``.mpr``).

Hand-written, for three reasons (checked in November 2026):

- the maintained readers of ``.mpr`` files, galvani and yadg, are GPL-licensed, which CASIP
  does not use; eclabfiles (built on galvani) is unmaintained since 2022 and its author points
  to yadg;
- cellpy 1.0.3's MIT-licensed loader (``cellpy.readers.instruments.biologics_mpr``) fails on
  ``jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr`` ("Unrecognised version for data module:
  3"), then leaves its world-readable copy of the file in the temporary folder; with
  ``refuse_copying=True`` it deletes the *source* file after reading it (its clean-up removes
  whatever path it read); it also ignores the acquisition start time (it dates every test at
  midnight) and loops over rows in Python;
- the file layout is simple enough to read with numpy alone: this module reads it in place,
  read-only (through a read-only memory map), and never writes anywhere.

File layout, as read here (EC-Lab versions 10 and 11 write it this way)
-------------------------------------------------------------------------
BioLogic does not publish it; this is the layout reported by public reverse-engineering (issue
threads of galvani and eclabfiles, cellpy's loader), checked on the shared files.
The file starts with ``BIO-LOGIC MODULAR FILE\\x1a``, padded with spaces and 4 NUL bytes to
52 bytes, then a sequence of modules. Each module is ``MODULE``, a 10-byte short name
(``VMP Set``, ``VMP data``, ``VMP LOG``...), a 25-byte long name, then either
``length u4, version u4, date 8s`` (older header) or ``max length u4, length u4, version u4,
unknown u4, date 8s`` (EC-Lab 11.50 and later); the header kind is recognised by where the
date (``mm/dd/yy``) sits. ``length`` bytes of module data follow.

The data module holds ``n_points u4``, ``n_columns u1``, the column table, padding, then
``n_points`` packed little-endian records whose layout is computed from the column table:

- version 0 as written before EC-Lab 11.50: one byte per column id, records at byte 100
  (cellpy's MIT-licensed loader reads it so);
- version 0 as written by EC-Lab 11.50 and later: two bytes per column id, a zero then the id
  (so the byte where the first id of the older layout sits is zero), then a padded header;
  the records fill the end of the module, so their start is the module length
  minus ``n_points`` times the record size, accepted only if what lies between the column
  table and it is padding (zero bytes, or the marker byte 1);
- version 2: ``u2`` ids, records at byte 405; version 3: ``u2`` ids, a byte ``01``, records at
  byte 406 (galvani pull request #36 reports the extra byte; the shared file has it).

Another version is refused as unsupported (its layout is not known), damage to the layout as
corrupted. Column ids 1, 2, 3, 21, 31 and 65 are bit flags packed together in one byte (mode,
ox/red, error, control changes, Ns changes, counter inc.). The record size is checked against
the module length, so a column of unknown width is reported, never read misaligned.
``metadata.extra["ec_lab_data_module"]`` names the layout read.

A file cut short has a module that runs past its end (every module states its length): it is
refused with the shared truncation message (:func:`casip.data.readers._base.truncated_error`,
naming the byte where the file ends), never read up to the cut.

Conversions
-----------
- ``voltage_volt`` is ``Ewe/V``, the working electrode against the reference (the cell voltage
  in a two-electrode set-up, where reference and counter electrode are the same).
- EC-Lab's current ``I/mA`` is positive for an **oxidation at the working electrode** and
  negative for a reduction. The working electrode is the cell's positive terminal, so a
  positive current raises the cell voltage: it is a charge in the BDF sense, and ``I/mA`` is
  only scaled (x 1e-3), not negated. For a cathode half cell this is the usual charge
  (delithiation of the cathode); for an anode half cell (graphite or Si/C against Li) the BDF
  "charge" is the delithiation of the anode. The file's ``ox/red`` flag agrees with the sign of
  the current on the shared files (checked in the tests).
- Files without an ``I/mA`` column (GCPL files of EC-Lab 11.3x hold ``control/V/mA``, ``P/W``
  and ``dQ/mA.h`` instead) get the current from ``P/W`` / ``Ewe/V``, which agrees with
  ``dQ`` / ``dt`` to 1e-7 relative on the shared file, or from ``dQ`` / ``dt`` where ``Ewe`` is
  near zero or ``P`` is absent.
- Counters: EC-Lab's ``dQ/mA.h`` is the charge passed since the previous point, signed like the
  current; its running sums of the positive and negative parts are the BDF cumulative charge
  and discharge capacities (they never reset). Energies come from the file's ``Energy
  charge/W.h`` and ``Energy discharge/W.h`` (made cumulative where EC-Lab resets them: every
  drop starts a new run) when both are present, else from ``dQ`` times the mean voltage of the
  interval.
- ``cycle_count`` is EC-Lab's ``cycle number`` when recorded (+ 1 if it counts from 0), else
  ``half cycle`` // 2 + 1;
  ``step_index`` is the sequence number ``Ns`` + 1; a new ``step_count`` starts whenever ``Ns``,
  the control mode (CC, CV, rest) or the half cycle changes, or the Ns-changes flag is set.
- ``unix_time_second`` is the acquisition start (an OLE date in the log module) plus the test
  time. EC-Lab writes the tester PC's local time without a time zone: it is taken as UTC and a
  warning says so.
"""

from __future__ import annotations

import datetime as _dt
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casip.data.readers._base import RawReading, truncated_error
from casip.errors import CasipInputError, Problem

FORMAT = "biologic-mpr"
VENDOR = "BioLogic"
DESCRIPTION = "BioLogic EC-Lab binary data file (.mpr)"
EXTENSIONS = (".mpr",)
LIBRARY = None
PRIVATE_COPY = False

MAGIC = b"BIO-LOGIC MODULAR FILE\x1a"
_FILE_HEADER_BYTES = 52
_MODULE_TAG = b"MODULE"
_DATE = re.compile(rb"^\d\d[/.\-]\d\d[/.\-]\d\d$")

#: Column ids packed as bits of one flag byte: id -> (name, bit mask).
FLAG_BITS: dict[int, tuple[str, int]] = {
    1: ("mode", 0x03),
    2: ("ox/red", 0x04),
    3: ("error", 0x08),
    21: ("control changes", 0x10),
    31: ("Ns changes", 0x20),
    65: ("counter inc.", 0x80),
}

_F4, _F8, _U2, _U4 = "<f4", "<f8", "<u2", "<u4"

#: Data column id -> (EC-Lab label, little-endian dtype). The widths of the ids in the shared
#: files (4-9, 13, 20, 32, 35, 36, 39, 70, 74, 96, 98-101, 123-126, 131, 430-433, 467-469, 471)
#: are confirmed by their record sizes; the others follow EC-Lab's column list as it is commonly
#: reported, and a wrong width would be caught by the record-size check.
COLUMN_TYPES: dict[int, tuple[str, str]] = {
    4: ("time/s", _F8),
    5: ("control/V/mA", _F4),
    6: ("Ewe/V", _F4),
    7: ("dQ/mA.h", _F8),
    8: ("I/mA", _F4),
    9: ("Ece/V", _F4),
    11: ("<I>/mA", _F8),
    13: ("(Q-Qo)/mA.h", _F8),
    16: ("Analog IN 1/V", _F4),
    17: ("Analog IN 2/V", _F4),
    19: ("control/V", _F4),
    20: ("control/mA", _F4),
    23: ("dQ/mA.h", _F8),
    24: ("cycle number", _F8),
    26: ("Rapp/Ohm", _F4),
    27: ("Ewe-Ece/V", _F4),
    32: ("freq/Hz", _F4),
    33: ("|Ewe|/V", _F4),
    34: ("|I|/A", _F4),
    35: ("Phase(Z)/deg", _F4),
    36: ("|Z|/Ohm", _F4),
    37: ("Re(Z)/Ohm", _F4),
    38: ("-Im(Z)/Ohm", _F4),
    39: ("I Range", _U2),
    69: ("R/Ohm", _F4),
    70: ("P/W", _F4),
    74: ("|Energy|/W.h", _F8),
    75: ("Analog OUT/V", _F4),
    76: ("<I>/mA", _F4),
    77: ("<Ewe>/V", _F4),
    78: ("Cs-2/µF-2", _F4),
    96: ("|Ece|/V", _F4),
    98: ("Phase(Zce)/deg", _F4),
    99: ("|Zce|/Ohm", _F4),
    100: ("Re(Zce)/Ohm", _F4),
    101: ("-Im(Zce)/Ohm", _F4),
    123: ("Energy charge/W.h", _F8),
    124: ("Energy discharge/W.h", _F8),
    125: ("Capacitance charge/µF", _F8),
    126: ("Capacitance discharge/µF", _F8),
    131: ("Ns", _U2),
    163: ("|Estack|/V", _F4),
    168: ("Rcmp/Ohm", _F4),
    169: ("Cs/µF", _F4),
    172: ("Cp/µF", _F4),
    173: ("Cp-2/µF-2", _F4),
    174: ("<Ewe>/V", _F4),
    178: ("(Q-Qo)/C", _F4),
    179: ("dQ/C", _F4),
    211: ("Q charge/discharge/mA.h", _F8),
    212: ("half cycle", _U4),
    213: ("z cycle", _U4),
    430: ("Phase(Zwe-ce)/deg", _F4),
    431: ("|Zwe-ce|/Ohm", _F4),
    432: ("Re(Zwe-ce)/Ohm", _F4),
    433: ("-Im(Zwe-ce)/Ohm", _F4),
    434: ("(Q-Qo)/C", _F4),
    435: ("dQ/C", _F4),
    467: ("Q charge/discharge/mA.h", _F8),
    468: ("half cycle", _U4),
    469: ("z cycle", _U4),
    471: ("<Ece>/V", _F4),
}

#: Byte offset of the first record in the data module, by module version (version 0 as
#: written before EC-Lab 11.50; see the module docstring for the later version-0 layout).
DATA_OFFSETS = {0: 100, 2: 405, 3: 406}
#: Largest header before the records of a version-0 module with two-byte column ids.
_V0_WIDE_MAX_HEADER = 2048

#: EC-Lab technique ids confirmed on the shared files (others are reported by number).
TECHNIQUES = {0x04: "GCPL"}

_OLE_EPOCH_UNIX = -2209161600.0  # 1899-12-30T00:00:00 as unix seconds
_MAX_TIME_S = 1e10  # about 300 years: larger times mean a corrupted record


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is an EC-Lab ``.mpr`` file (its fixed magic string)."""
    if head.startswith(MAGIC):
        return 0.99
    return 0.0


def _bad(message: str, value: object = None, expected: str | None = None) -> CasipInputError:
    return CasipInputError(Problem("", message, value, expected))


def _module_header(
    buf: memoryview | bytes, pos: int, size: int, path: Path | None = None
) -> tuple[str, int, int, int]:
    """(short name, version, data start, data length) of the module at ``pos``."""
    if size - pos < len(_MODULE_TAG) and bytes(buf[pos:size]) == _MODULE_TAG[: size - pos]:
        raise truncated_error(path, offset=size)
    if bytes(buf[pos : pos + 6]) != _MODULE_TAG:
        raise _bad(f"corrupted: no module tag at byte {pos}", expected="'MODULE'")
    h = pos + 6
    if h + 59 > size:
        raise truncated_error(path, offset=size)
    name = bytes(buf[h : h + 10]).decode("latin-1").strip()
    old_date = bytes(buf[h + 43 : h + 51])
    new_date = bytes(buf[h + 51 : h + 59])
    if _DATE.match(old_date):
        length, version = struct.unpack_from("<II", buf, h + 35)
        start = h + 51
    elif _DATE.match(new_date):
        length, version = struct.unpack_from("<II", buf, h + 39)
        start = h + 59
    else:
        raise _bad(f"corrupted: unrecognised header of module {name!r} at byte {pos}")
    return name, version, start, length


def _modules(
    buf: memoryview | bytes, size: int, path: Path | None = None
) -> dict[str, tuple[int, int, int]]:
    """Short name -> (version, start, length) of every module; checks they fit in the file
    (a module that runs past the end of the file is a cut file: :func:`truncated_error`)."""
    if bytes(buf[: len(MAGIC)]) != MAGIC:
        raise _bad("not a BioLogic .mpr file", expected="a file starting 'BIO-LOGIC MODULAR FILE'")
    pos = _FILE_HEADER_BYTES
    found: dict[str, tuple[int, int, int]] = {}
    while pos < size:
        name, version, start, length = _module_header(buf, pos, size, path)
        end = start + length
        if end > size:
            raise truncated_error(path, offset=size)
        found.setdefault(name, (version, start, length))
        pos = end
    return found


def _record_dtype(ids: list[int], row_bytes: int | None) -> tuple[np.dtype, list[str]]:
    """The numpy record type of the data columns, and the labels in order."""
    fields: list[tuple[str, str]] = []
    names: list[str] = []
    unknown: list[int] = []
    flags_done = False
    for cid in ids:
        if cid in FLAG_BITS:
            if not flags_done:
                fields.append(("flags", "u1"))
                flags_done = True
            continue
        if cid in COLUMN_TYPES:
            dt = COLUMN_TYPES[cid][1]
        else:
            unknown.append(cid)
            dt = ""
        key = f"c{cid}"
        if key in names:
            raise _bad(f"corrupted: column id {cid} appears twice in the data module")
        fields.append((key, dt))
        names.append(key)
    known = sum(np.dtype(dt).itemsize for _, dt in fields if dt)
    if unknown:
        spare = None if row_bytes is None else row_bytes - known
        if len(unknown) == 1 and spare in (1, 2, 4, 8):
            width = {1: "u1", 2: _U2, 4: _F4, 8: _F8}[spare]
            fields = [(k, dt or width) for k, dt in fields]
        else:
            raise _bad(
                "unsupported EC-Lab column id(s) of unknown width",
                ", ".join(map(str, unknown)),
                "columns known to this reader (see COLUMN_TYPES)",
            )
    return np.dtype(fields), names


def _pascal(buf: bytes, offset: int) -> str | None:
    """A length-prefixed string at ``offset`` of ``buf`` (None if out of range or empty)."""
    if offset >= len(buf):
        return None
    n = buf[offset]
    text = buf[offset + 1 : offset + 1 + n]
    if n == 0 or len(text) < n:
        return None
    return text.decode("latin-1").strip() or None


def _settings_metadata(body: bytes) -> dict[str, Any]:
    """Technique and the user's notes from the settings module (layout of EC-Lab 10-11)."""
    extra: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    if not body:
        return meta
    technique = body[0]
    extra["technique_id"] = int(technique)
    if technique in TECHNIQUES:
        meta["schedule"] = TECHNIQUES[technique]
    comments = _pascal(body, 7)
    if comments:
        extra["comments"] = comments
    material = _pascal(body, 0x11E)
    if material and material.isprintable():
        extra["electrode_material"] = material
    meta["extra"] = extra
    return meta


def _log_metadata(body: bytes, version: int) -> tuple[dict[str, Any], float | None]:
    """Acquisition start (OLE date before the original file path), channel and file name."""
    meta: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    start_ole = None
    # The original path is a length-prefixed string ending in '.mpr'; the 8 bytes before its
    # length byte hold the acquisition start as an OLE date (days since 1899-12-30).
    for m in re.finditer(rb"\.mpr", body[:8192], flags=re.IGNORECASE):
        end = m.end()
        for p in range(max(8, end - 256), end - 4):
            text = body[p + 1 : end]
            if body[p] != len(text) or not all(32 <= b < 127 for b in text):
                continue
            (ole,) = struct.unpack_from("<d", body, p - 8)
            if 30000.0 < ole < 80000.0:  # 1982 .. 2119
                start_ole = ole
                name = re.split(r"[\\/]", text.decode("latin-1"))[-1]
                extra["original_file_name"] = name
            break
        if start_ole is not None:
            break
    if version == 0 and len(body) > 9:
        # byte 9 is the channel counted from 0: it gives 2 and 9 for the shared files, whose
        # original names end in _C02 and _C09
        meta["channel"] = str(body[9] + 1)
    meta["extra"] = extra
    return meta, start_ole


def _ole_to_datetime(ole: float) -> _dt.datetime:
    return _dt.datetime(1899, 12, 30) + _dt.timedelta(days=ole)


def _field(rec: np.ndarray, names: list[str], *cids: int) -> np.ndarray | None:
    """The first present column among ``cids``, as float64."""
    for cid in cids:
        key = f"c{cid}"
        if key in names:
            return rec[key].astype("float64")
    return None


def _current_a(
    rec: np.ndarray,
    names: list[str],
    ewe: np.ndarray,
    t: np.ndarray,
    warnings: list[str],
    t_prev: float | None = None,
) -> np.ndarray | None:
    """Current [A]; ``t_prev`` is the time of the record before ``rec`` (None at the start)."""
    i_ma = _field(rec, names, 8, 76, 11)
    if i_ma is not None:
        return i_ma * 1e-3
    dq = _field(rec, names, 7, 23)
    from_dq = None
    if dq is not None:
        dt = np.diff(t, prepend=t[:1] if t_prev is None else np.array([t_prev]))
        with np.errstate(divide="ignore", invalid="ignore"):
            from_dq = np.where(dt > 0, dq * 3.6 / dt, np.nan)
    power = _field(rec, names, 70)
    if power is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            from_p = np.where(np.abs(ewe) >= 1e-3, power / ewe, np.nan)
        current = from_p if from_dq is None else np.where(np.isnan(from_p), from_dq, from_p)
        warnings.append("the file has no I/mA column: current derived from P/W / Ewe/V")
    elif from_dq is not None:
        current = from_dq
        warnings.append("the file has no I/mA column: current derived from dQ/mA.h / dt")
    else:
        return None
    return np.nan_to_num(current, nan=0.0)


def _problems(
    t: np.ndarray,
    v: np.ndarray,
    i: np.ndarray | None,
    dq: np.ndarray | None,
    t_prev: float | None = None,
) -> tuple[int, int | None, int | None]:
    """(count of impossible records, index of the first, index of the first backwards step).

    The backwards index is that of the later record (0-based, relative to ``t``); with
    ``t_prev`` the step from the record before ``t`` counts too.
    """
    bad = ~np.isfinite(t) | (t < -1.0) | (t > _MAX_TIME_S)
    bad |= ~np.isfinite(v) | (np.abs(v) > 1e3)
    if i is not None:
        bad |= ~np.isfinite(i) | (np.abs(i) > 1e4)
    if dq is not None:
        bad |= ~np.isfinite(dq) | (np.abs(dq) > 1e7)
    rows = np.flatnonzero(bad)
    steps = np.diff(t, prepend=t[:1] if t_prev is None else np.array([t_prev]))
    back = np.flatnonzero(steps < -1.0)
    return len(rows), (int(rows[0]) if len(rows) else None), (int(back[0]) if len(back) else None)


def _raise_problems(n_bad: int, first_bad: int | None, first_back: int | None) -> None:
    """Records of a corrupted file give absurd numbers: refuse them rather than store them.

    The file has no checksum; this catches damaged records through the columns read (time,
    voltage, current, charge), not damage confined to columns left unread.
    """
    if n_bad:
        raise _bad(
            f"corrupted: {n_bad} data record(s) hold impossible time, voltage, current or "
            f"charge values (first at record {first_bad + 1})"
        )
    if first_back is not None:
        raise _bad(f"corrupted: test time goes backwards at record {first_back + 1}")


def _check_values(
    t: np.ndarray, v: np.ndarray, i: np.ndarray | None, dq: np.ndarray | None
) -> None:
    """Refuse a corrupted file's records (see :func:`_raise_problems`)."""
    _raise_problems(*_problems(t, v, i, dq))


def read(path: Path) -> RawReading:
    """Read an EC-Lab ``.mpr`` file in place (read-only) into BDF columns.

    Parameters
    ----------
    path : Path
        The ``.mpr`` file. It is opened read-only and never modified.

    Returns
    -------
    RawReading
        Time [s], voltage [V], current [A] (positive = charge), cycle and step numbers,
        cumulative capacities [Ah] and energies [Wh], unix time [s]; metadata from the settings
        and log modules.

    Raises
    ------
    CasipInputError
        If the file is not an ``.mpr`` file, is truncated, or holds corrupted records.
    """
    path = Path(path)
    size = path.stat().st_size
    if size < _FILE_HEADER_BYTES:
        raise truncated_error(path, offset=size)
    mm = np.memmap(path, dtype="u1", mode="r")
    try:
        with np.errstate(all="ignore"):  # garbage records are reported, not warned about
            return _read_mapped(mm, size, path)
    finally:
        del mm


@dataclass
class _Layout:
    """Where the records of a mapped file are, and what they hold."""

    buf: memoryview
    mods: dict[str, tuple[int, int, int]]
    rec: np.ndarray
    names: list[str]
    ids: list[int]
    has_flags: bool
    layout: str = ""

    @property
    def n_points(self) -> int:
        return len(self.rec)


def _layout(mm: np.memmap, size: int, path: Path | None = None) -> _Layout:
    buf = memoryview(mm)
    mods = _modules(buf, size, path)
    if "VMP data" not in mods:
        raise _bad("the file has no data module", expected="a 'VMP data' module")
    version, start, length = mods["VMP data"]
    if length < 5:
        raise _bad("corrupted: the data module is too short", length)
    if version not in DATA_OFFSETS:
        supported = ", ".join(str(v) for v in sorted(DATA_OFFSETS))
        raise _bad(f"unsupported version {version} of the data module (supported: {supported})")
    n_points, ids, offset, dtype, names, layout = _data_table(mm, start, length, version)
    rec = np.frombuffer(mm, dtype=dtype, count=n_points, offset=start + offset)
    if _field(rec[:1], names, 4) is None or _field(rec[:1], names, 6, 77, 174, 27) is None:
        raise _bad("the data module has no time or voltage column", ids)
    return _Layout(buf, mods, rec, names, ids, "flags" in dtype.names, layout)


def _data_table(
    mm: np.memmap, start: int, length: int, version: int
) -> tuple[int, list[int], int, np.dtype, list[str], str]:
    """The record layout of the data module at ``start`` (``length`` bytes, ``version``).

    Returns (point count, column ids, byte offset of the first record in the module, record
    dtype, column keys, name of the layout). See the module docstring for the layouts; the
    record size follows from the column table and must account for the module's bytes
    exactly, else the file is refused (corrupted, or a column of unknown width).
    """
    n_points, n_cols = struct.unpack_from("<IB", mm, start)
    if n_points == 0:
        raise _bad("the data module holds no data points")
    wide_v0 = version == 0 and length > 5 and mm[start + 5] == 0
    id_bytes = n_cols * (1 if version == 0 and not wide_v0 else 2)
    if 5 + id_bytes > length:
        raise _bad("corrupted: the data module's column list runs past its end", n_cols)
    if wide_v0:
        # EC-Lab 11.50 and later in a version-0 module: each column id takes two bytes, a
        # zero byte then the id (ids are below 256 in this layout)
        pairs = np.frombuffer(mm, dtype="u1", count=id_bytes, offset=start + 5)
        if pairs[0::2].any():
            raise _bad("corrupted: the data module's two-byte column list has non-zero fillers")
        ids = pairs[1::2].astype(int).tolist()
        dtype, names = _record_dtype(ids, None)
        offset = length - n_points * dtype.itemsize
        gap = np.frombuffer(mm, dtype="u1", count=max(offset - 5 - id_bytes, 0),
                            offset=start + 5 + id_bytes)  # fmt: skip
        if not 5 + id_bytes <= offset <= _V0_WIDE_MAX_HEADER or np.any(gap > 1):
            raise _bad(
                "corrupted or unsupported: the data records do not match their column list",
                f"{length} bytes for {n_points} points of columns {ids}",
                f"{dtype.itemsize} bytes per record after a header of padding",
            )
        return n_points, ids, offset, dtype, names, "version 0, EC-Lab 11.50+ column list"
    id_dtype = "u1" if version == 0 else _U2
    ids = np.frombuffer(mm, dtype=id_dtype, count=n_cols, offset=start + 5).astype(int).tolist()
    offset = DATA_OFFSETS[version]
    payload = length - offset
    if payload <= 0 or payload % n_points:
        raise _bad(
            "corrupted: the data module's size does not fit its point count",
            f"{length} bytes for {n_points} points",
        )
    row_bytes = payload // n_points
    dtype, names = _record_dtype(ids, row_bytes)
    if dtype.itemsize != row_bytes:
        raise _bad(
            "corrupted or unsupported: the data records do not match their column list",
            f"{row_bytes} bytes per record for columns {ids}",
            f"{dtype.itemsize} bytes",
        )
    return n_points, ids, offset, dtype, names, f"version {version}"


def _file_metadata(lay: _Layout) -> tuple[dict[str, Any], float | None, list[str]]:
    """(metadata, acquisition start as an OLE date, warnings) from the settings and log."""
    metadata: dict[str, Any] = {"tester": VENDOR}
    extra: dict[str, Any] = {
        "ec_lab_columns": [
            COLUMN_TYPES.get(c, (str(c),))[0] for c in lay.ids if c not in FLAG_BITS
        ],
        "ec_lab_data_module": lay.layout,
    }
    warnings: list[str] = []
    buf, mods = lay.buf, lay.mods
    if "VMP Set" in mods:
        _, s_start, s_len = mods["VMP Set"]
        s_meta = _settings_metadata(bytes(buf[s_start : s_start + s_len]))
        extra.update(s_meta.pop("extra", {}))
        metadata.update(s_meta)
    start_ole = None
    if "VMP LOG" in mods:
        l_version, l_start, l_len = mods["VMP LOG"]
        l_meta, start_ole = _log_metadata(bytes(buf[l_start : l_start + l_len]), l_version)
        extra.update(l_meta.pop("extra", {}))
        metadata.update(l_meta)
    else:
        warnings.append("the file has no log module: no acquisition start time")
    if start_ole is not None:
        metadata["start_time"] = _ole_to_datetime(start_ole)
        warnings.append(
            "EC-Lab records the acquisition start in the tester PC's local time without a time "
            "zone: unix_time_second takes it as UTC"
        )
    metadata["extra"] = extra
    return metadata, start_ole, warnings


class _Converter:
    """Records to BDF columns, range by range, carrying what a range needs from before it
    (the previous record's time, voltage, Ns, half cycle and mode, the step count and the
    running sums of charge and energy), so that consecutive ranges give the whole file's
    columns."""

    def __init__(self, lay: _Layout, cycle_shift: float, start_ole: float | None):
        self.lay = lay
        self.cycle_shift = cycle_shift
        self.start_ole = start_ole
        self.prev: dict[str, Any] = {}
        self.sums: dict[str, float] = {}

    def convert(
        self, rec: np.ndarray, warnings: list[str]
    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """The BDF columns of ``rec`` (the records after the last converted), and the current."""
        names, ids, prev = self.lay.names, self.lay.ids, self.prev
        first = not prev
        n = len(rec)
        t = _field(rec, names, 4)
        ewe = _field(rec, names, 6, 77, 174, 27)
        current = _current_a(rec, names, ewe, t, warnings, prev.get("t"))
        dq = _field(rec, names, 7, 23)

        data: dict[str, np.ndarray] = {"test_time_second": t, "voltage_volt": ewe}
        if current is not None:
            data["current_ampere"] = current
        cycle = _field(rec, names, 24)
        half = _field(rec, names, 468, 212)
        if cycle is not None:
            data["cycle_count"] = cycle + self.cycle_shift
        elif half is not None:
            data["cycle_count"] = np.floor(half / 2.0) + 1.0
        ns = _field(rec, names, 131)
        if ns is not None:
            data["step_index"] = ns + 1.0
        flags = np.array(rec["flags"]) if self.lay.has_flags else None
        change = np.zeros(n, dtype=bool)
        mode = None if flags is None else (flags & 0x03)
        for key, col in (("ns", ns), ("half", half), ("mode", mode)):
            if col is not None:
                change[1:] |= col[1:] != col[:-1]
                if not first:
                    change[0] |= col[0] != prev[key]
                prev[key] = col[-1]
        if flags is not None and 31 in ids:
            change[1:] |= (flags[1:] & 0x20) != 0
            if not first:
                change[0] |= (flags[0] & 0x20) != 0
        if ns is not None or flags is not None:
            data["step_count"] = np.cumsum(change) + prev.get("step_count", 1.0)
            prev["step_count"] = float(data["step_count"][-1])

        if dq is not None:
            data["charging_capacity_ah"] = self._cumsum("qc", np.clip(dq, 0, None)) * 1e-3
            data["discharging_capacity_ah"] = self._cumsum("qd", np.clip(-dq, 0, None)) * 1e-3
            e_ch, e_dis = _field(rec, names, 123), _field(rec, names, 124)
            if e_ch is not None and e_dis is not None:
                for key, e in (("charging_energy_wh", e_ch), ("discharging_energy_wh", e_dis)):
                    data[key] = self._resetting(key, e)
            else:
                v_prev = ewe[:1] if first else np.array([prev["ewe"]])
                v_mid = 0.5 * (ewe + np.r_[v_prev, ewe[:-1]])
                data["charging_energy_wh"] = self._cumsum("ec", np.clip(dq, 0, None) * v_mid) * 1e-3
                data["discharging_energy_wh"] = (
                    self._cumsum("ed", np.clip(-dq, 0, None) * v_mid) * 1e-3
                )
        if self.start_ole is not None:
            data["unix_time_second"] = _OLE_EPOCH_UNIX + self.start_ole * 86400.0 + t
        prev["t"], prev["ewe"] = float(t[-1]), float(ewe[-1])
        return data, current

    def _cumsum(self, key: str, x: np.ndarray) -> np.ndarray:
        """Running sum of ``x`` continuing the earlier ranges' (added in the same order)."""
        cs = np.cumsum(np.r_[self.sums.get(key, 0.0), x])[1:]
        self.sums[key] = float(cs[-1])
        return cs

    def _resetting(self, key: str, e: np.ndarray) -> np.ndarray:
        """An energy counter that EC-Lab resets, made cumulative: every drop starts a new run
        and adds the value before it (as :func:`casip.data.schema.cumulative_from_resetting`
        over runs of drops)."""
        v = np.nan_to_num(e)
        last = self.prev.get(f"{key}_raw")
        drop = np.zeros(len(e), dtype=bool)
        drop[1:] = e[1:] < e[:-1]
        before = np.r_[self.prev.get(f"{key}_val", 0.0), v[:-1]]
        if last is not None:
            drop[0] = e[0] < last
        offsets = self._cumsum(key, np.where(drop, before, 0.0))
        self.prev[f"{key}_raw"], self.prev[f"{key}_val"] = float(e[-1]), float(v[-1])
        return v + offsets


def _cycle_shift(cycle_min: float) -> float:
    """EC-Lab may count cycles from 0; BDF counts from 1."""
    return 1.0 if cycle_min == 0 else 0.0


def _read_mapped(mm: np.memmap, size: int, path: Path | None = None) -> RawReading:
    lay = _layout(mm, size, path)
    rec, names = lay.rec, lay.names
    warnings: list[str] = []
    t = _field(rec, names, 4)
    ewe = _field(rec, names, 6, 77, 174, 27)
    current = _current_a(rec, names, ewe, t, [])
    _check_values(t, ewe, current, _field(rec, names, 7, 23))
    cycle = _field(rec, names, 24)
    shift = _cycle_shift(np.nanmin(cycle)) if cycle is not None else 0.0
    metadata, start_ole, meta_warnings = _file_metadata(lay)
    data, current = _Converter(lay, shift, start_ole).convert(rec, warnings)
    warnings += meta_warnings
    if lay.has_flags and 2 in lay.ids and current is not None:
        metadata["extra"]["ox_red_flag_agrees_with_current_sign"] = _oxred_agreement(
            np.array(rec["flags"]), current
        )
    return RawReading(data=pd.DataFrame(data, copy=False), metadata=metadata, warnings=warnings)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in ranges of ``batch_rows`` records of the read-only memory map.

    A first pass over the time, voltage, current, charge and cycle columns, range by range,
    checks the records (the same errors as :func:`read`) and takes the whole-file decisions
    (cycles counted from 0, the threshold of the ox/red agreement); the second converts each
    range, carrying the step count and the cumulative charge and energy sums across ranges.
    The metadata of the last batch holds the ox/red agreement.
    """
    path = Path(path)
    size = path.stat().st_size
    if size < _FILE_HEADER_BYTES:
        raise truncated_error(path, offset=size)
    mm = np.memmap(path, dtype="u1", mode="r")
    try:
        with np.errstate(all="ignore"):
            lay = _layout(mm, size, path)
            rec, names, n = lay.rec, lay.names, lay.n_points
            step = max(1, int(batch_rows))
            bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
            n_bad, first_bad, first_back = 0, None, None
            cycle_min, i_max = np.nan, 0.0
            t_prev = None
            for a, b in bounds:
                part = rec[a:b]
                t = _field(part, names, 4)
                ewe = _field(part, names, 6, 77, 174, 27)
                current = _current_a(part, names, ewe, t, [], t_prev)
                nb, fb, bk = _problems(t, ewe, current, _field(part, names, 7, 23), t_prev)
                if nb and first_bad is None:
                    first_bad = a + fb
                n_bad += nb
                if bk is not None and first_back is None:
                    first_back = a + bk
                cycle = _field(part, names, 24)
                if cycle is not None:
                    cycle_min = np.fmin(cycle_min, np.fmin.reduce(cycle))
                if current is not None:
                    i_max = max(i_max, float(np.max(np.abs(current))))
                t_prev = float(t[-1])
            _raise_problems(n_bad, first_bad, first_back)
            metadata, start_ole, meta_warnings = _file_metadata(lay)
            conv = _Converter(lay, _cycle_shift(cycle_min), start_ole)
        oxred = lay.has_flags and 2 in lay.ids
        clear_n, agree_n = 0, 0
        for k, (a, b) in enumerate(bounds):
            warnings: list[str] = []
            with np.errstate(all="ignore"):
                part = rec[a:b]
                data, current = conv.convert(part, warnings)
                df = pd.DataFrame(data, copy=True)
                meta = {**metadata, "extra": dict(metadata["extra"])}
                if oxred and current is not None:
                    clear = np.abs(current) > 1e-3 * i_max
                    ox = (np.array(part["flags"])[clear] & 0x04) != 0
                    clear_n += int(clear.sum())
                    agree_n += int(np.sum(ox == (current[clear] > 0)))
                    if k == len(bounds) - 1:
                        meta["extra"]["ox_red_flag_agrees_with_current_sign"] = (
                            round(agree_n / clear_n, 4) if clear_n else None
                        )
            yield RawReading(data=df, metadata=meta, warnings=warnings + meta_warnings)
    finally:
        del mm


def _oxred_agreement(flags: np.ndarray, current: np.ndarray) -> float | None:
    """Share of rows with a clear current whose ox/red flag matches its sign (1.0 = all)."""
    thr = 1e-3 * float(np.max(np.abs(current))) if len(current) else 0.0
    clear = np.abs(current) > thr
    if not clear.any():
        return None
    ox = (flags[clear] & 0x04) != 0
    return round(float(np.mean(ox == (current[clear] > 0))), 4)
