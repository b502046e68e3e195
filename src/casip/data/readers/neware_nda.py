"""Neware binary files: .nda (BTS 7.x, BTS 9.x) and .ndax (BTS 8.x and later, a ZIP archive).

Built on NewareNDA (BSD-3-Clause, https://github.com/Solid-Energy-Systems/NewareNDA), which
reads both .nda and .ndax. The adapter calls its ``read_nda`` / ``read_ndax`` according to the
file's *content* (an .nda starts with ``NEWARE``; an .ndax is a ZIP archive holding
``data.ndc``), not its name, so a renamed file reads too. NewareNDA opens the source read-only
(mmap with read access, ``zipfile`` in read mode); for an .ndax it extracts the archive's
members into its own ``tempfile.TemporaryDirectory`` (mode 0700, removed when it returns),
never next to the source, so no private copy is needed (``PRIVATE_COPY = False``).

What the tester writes, and what this module makes of it:

- **sign convention**: Neware writes discharge current negative, the BDF convention; kept;
- ``Time`` is the **step** time, and the capacity and energy counters **restart at every
  step**; both are made cumulative from the test start (a new step begins at the instant the
  previous one ended: the tester writes the same wall-clock time on both rows);
- units: NewareNDA gives mA, mAh, mWh and V; converted to A, Ah, Wh;
- ``Cycle`` is the cycle number the tester recorded (NewareNDA's ``software_cycle_number``
  is *not* used, so cycle numbers are the file's own); files whose records carry no cycle
  number (BTS 9.0 .nda) get NewareNDA's regenerated ("charge first") cycle numbers, with a
  warning;
- ``Step_Index`` is the step number in the schedule; NewareNDA's ``Step`` (a running count of
  steps) is ``step_count``;
- wall-clock: .ndax records carry UTC timestamps, read exactly; .nda (BTS 7) records carry the
  tester's local time without a time zone, which ``unix_time_second`` reads as UTC (with a
  warning);
- auxiliary channels: a ``T<n>`` temperature channel NewareNDA decoded (the first one that is
  not all zero) becomes ``surface_temperature_celsius``; channels NewareNDA could not type
  (named ``?...``) are left out, with a warning;
- metadata: .nda: active mass, BTS server/client versions and remarks; .ndax: channel, step
  (schedule) file name, barcode, BTS versions, from the archive's XML files.

Checks against corrupted files (an .nda has no checksum; an .ndax's ZIP CRC catches damage):
a BTS 7 .nda in which no valid record follows the record marker is refused before NewareNDA
sees it (NewareNDA 2026.6.11 searches such a file forever);
records with impossible values (non-finite or beyond +-1000 V, negative times), an unknown
status or range code, or holes in the record index of a BTS 7 .nda (version 29, whose records
are numbered without gaps) raise :class:`casip.errors.CasipInputError`.

Cut files (a copy or download that stopped early) are refused with the shared truncation
message (:func:`casip.data.readers._base.truncated_error`, naming the byte where the file
ends), never read up to the cut: NewareNDA itself reads a cut .nda silently as far as its last
whole record, so the cut is detected here. A BTS 7 .nda (version 29) holds fixed 86-byte
records from its first record to the end of the file: a remainder is a cut record. An .ndax
is a ZIP archive whose central directory is written last: a cut archive has no whole
end-of-central-directory record (damage inside a member is caught by the ZIP CRC, as
"damaged"). Limits: a version-29 .nda cut exactly between two records cannot be told from
a shorter test (the file states no record count), nor one cut before its first record from a
file without records ("no valid data record"); BTS 9 .nda files (version 130) are not checked
for cuts (no sample file to confirm their trailer on).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import mmap
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from casip.data.readers._base import RawReading, truncated_error
from casip.data.readers.neware_csv import counter_cumulative, cycles_from_one, step_runs
from casip.errors import CasipInputError, Problem

FORMAT = "neware-nda"
VENDOR = "Neware"
DESCRIPTION = "Neware binary .nda (BTS 7/9) and .ndax (BTS 8+) files, via NewareNDA"
EXTENSIONS = (".nda", ".ndax")
LIBRARY = "NewareNDA"
PRIVATE_COPY = False

_NDA_MAGIC = b"NEWARE"
_ZIP_MAGIC = b"PK\x03\x04"
_NDAX_MEMBERS = (b"data.ndc", b"TestInfo.xml", b"VersionInfo.xml", b"Step.xml", b".ndc")


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a Neware .nda or .ndax file.

    Parameters
    ----------
    head : bytes
        The first 64 KiB of the file.
    name : str
        The file name: only breaks the tie for a ZIP archive whose first members are not
        Neware's.

    Returns
    -------
    float
        0.99 for the ``NEWARE`` magic of an .nda; 0.95 for a ZIP archive holding Neware's
        members (``data.ndc``, ``TestInfo.xml``...); 0.6 for another ZIP named .ndax; else 0.
    """
    if head.startswith(_NDA_MAGIC):
        return 0.99
    if head.startswith(_ZIP_MAGIC):
        if any(m in head for m in _NDAX_MEMBERS):
            return 0.95
        if name.lower().endswith(".ndax"):
            return 0.6
    return 0.0


def _library():
    from NewareNDA import NewareNDA as nda_mod
    from NewareNDA import NewareNDAx as ndax_mod

    return nda_mod, ndax_mod


@contextlib.contextmanager
def _quiet():
    """Silence NewareNDA's logger (its errors become CasipInputError here)."""
    logger = logging.getLogger("newarenda")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _kind(path: Path) -> tuple[str, int]:
    """("nda", version) or ("ndax", 0), from the first bytes."""
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(_NDA_MAGIC):
        return "nda", head[14] if len(head) > 14 else -1
    if head.startswith(_ZIP_MAGIC):
        return "ndax", 0
    raise CasipInputError(Problem("", "neither an .nda (NEWARE header) nor an .ndax (ZIP) file"))


_V29_MARK = b"\x00\x00\x00\x00\x55\x00"  # what precedes a BTS 7 (version 29) data record
_V29_RECORD = 86
_EOCD = b"PK\x05\x06"  # ZIP end-of-central-directory signature
_EOCD_SEARCH = 65536 + 22  # the record (22 bytes) plus the longest archive comment


def _nda29_first_record(path: Path) -> int | None:
    """Offset of the first data record of a version-29 .nda where NewareNDA's search will stop
    (None if there is none).

    NewareNDA looks for the first record by cycling through the occurrences of a marker; when
    no occurrence is followed by a valid record it cycles forever (seen with NewareNDA
    2026.6.11 on a file cut and padded after its header). This check visits each occurrence
    once, so a file without any valid record is refused instead of hanging the reader.
    """
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = mm.size()
        h = mm.find(_V29_MARK)
        while h != -1:
            nxt = h + 4 + _V29_RECORD
            if nxt >= size or (mm[nxt] == 0x55 and mm[h + 4 + 12] != 0):
                return h + 4
            h = mm.find(_V29_MARK, h + 4)
        # NewareNDA's search then restarts from offset -1 and accepts it in this case only
        if size > 4 + _V29_RECORD and mm[3 + _V29_RECORD] == 0x55 and mm[3 + 12] != 0:
            return 3
        return None


def _refuse_cut(path: Path, kind: str, version: int) -> None:
    """Raise :func:`truncated_error` for a file cut short (see the module docstring).

    A BTS 7 .nda (version 29) is a header then fixed-size records up to the end of the file:
    bytes after the last whole record are a cut record. An .ndax is a ZIP archive whose
    directory is written last: without the end-of-central-directory record (``PK\x05\x06``,
    in the last 64 KiB + 22 bytes) the archive was cut.
    """
    size = path.stat().st_size
    if kind == "nda" and version == 29:
        first = _nda29_first_record(path)
        if first is None:
            raise CasipInputError(Problem("", "no valid data record in the .nda file"))
        if (size - first) % _V29_RECORD:
            raise truncated_error(path, offset=size)
    elif kind == "ndax":
        with path.open("rb") as fh:
            fh.seek(max(0, size - _EOCD_SEARCH))
            tail = fh.read()
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) - at < 22:
            raise truncated_error(path, offset=size)
        (comment,) = struct.unpack_from("<H", tail, at + 20)
        if at + 22 + comment > len(tail):  # the archive comment is cut
            raise truncated_error(path, offset=size)


def _raw_frame(path: Path, kind: str, software_cycles: bool) -> pd.DataFrame:
    nda_mod, ndax_mod = _library()
    try:
        with _quiet():
            if kind == "nda":
                return nda_mod.read_nda(str(path), software_cycles, "chg")
            with path.open("rb") as fh:
                return ndax_mod.read_ndax(fh, software_cycles, "chg")
    except MemoryError:
        raise
    except zipfile.BadZipFile as exc:
        raise CasipInputError(Problem("", f"damaged .ndax archive: {exc}")) from None
    except KeyError as exc:
        raise CasipInputError(
            Problem("", f"a record holds an unknown status or range code ({exc}): corrupted?")
        ) from None
    except Exception as exc:
        raise CasipInputError(
            Problem("", f"NewareNDA could not read it: {type(exc).__name__}: {exc}")
        ) from None


def _metadata(path: Path, kind: str, df: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    nda_mod, ndax_mod = _library()
    meta: dict[str, Any] = {"tester": "Neware"}
    extra: dict[str, Any] = {}
    try:
        if kind == "nda":
            with _quiet():
                raw = nda_mod.read_nda_metadata(path)
            mass_mg = raw.get("active_mass_mg")
            if isinstance(mass_mg, int | float) and np.isfinite(mass_mg) and mass_mg > 0:
                meta["active_mass_g"] = float(mass_mg) / 1000.0
            for k in ("nda_version", "bts_version", "server_version", "client_version",
                      "remarks"):
                if raw.get(k) not in (None, ""):
                    extra[k] = raw[k]
        else:
            with _quiet():
                raw = ndax_mod.read_ndax_metadata(path)
            info = (raw.get("TestInfo") or {}).get("TestInfo") or {}
            if info.get("ChlID"):
                meta["channel"] = str(info["ChlID"])
            if info.get("StepName"):
                meta["schedule"] = str(info["StepName"])
            for src, dst in (("DevID", "device_id"), ("UnitID", "unit_id"), ("SN", "barcode"),
                             ("StartTime", "start_time_local"), ("TestID", "test_id")):
                if info.get(src):
                    extra[dst] = str(info[src])
            ver = (raw.get("VersionInfo") or {}).get("ZwjVersion") or {}
            for src, dst in (("SvrVer", "server_version"), ("CurrClientVer", "client_version"),
                             ("MainXwjVer", "tester_firmware")):
                if ver.get(src):
                    extra[dst] = str(ver[src])
    except Exception as exc:  # metadata is optional: the data were read
        return meta, [f"the file's metadata could not be read ({type(exc).__name__})"]
    ts = df["Timestamp"]
    if len(ts) and pd.notna(ts.iloc[0]):
        first = ts.iloc[0]
        meta["start_time"] = first.to_pydatetime() if hasattr(first, "to_pydatetime") else first
    if extra:
        meta["extra"] = extra
    return meta, []


def _unix_seconds(ts: pd.Series) -> tuple[np.ndarray, bool]:
    """Seconds since 1970 from NewareNDA's timestamps; True if they had no time zone."""
    naive = getattr(ts.dt, "tz", None) is None
    if not naive:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = ts.to_numpy(dtype="datetime64[ns]")
    out = ns.astype("int64").astype(float) / 1e9
    out[np.isnat(ns)] = np.nan
    return out, naive


def _check(df: pd.DataFrame, kind: str, version: int) -> list[str]:
    """Raise CasipInputError for records that cannot come from a tester (corruption).

    Holes in the record index are an error in a BTS 7 .nda (version 29), whose records carry
    no checksum and are numbered without gaps; elsewhere they are only reported.
    """
    v = df["Voltage"].to_numpy(dtype=float)
    i = df["Current(mA)"].to_numpy(dtype=float)
    t = df["Time"].to_numpy(dtype=float)
    bad = ~np.isfinite(v) | (np.abs(v) > 1000) | ~np.isfinite(i) | ~np.isfinite(t) | (t < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise CasipInputError(
            Problem("", f"corrupted record (index {int(df['Index'].iloc[k])}): impossible "
                        f"voltage, current or time")
        )
    idx = df["Index"].to_numpy(dtype=np.int64)
    holes = np.flatnonzero(np.diff(idx) != 1)
    if len(holes) or idx[0] != 1:
        at = int(idx[holes[0]]) if len(holes) else 0
        text = f"records are missing or corrupted after record index {at}"
        if kind == "nda" and version == 29:
            raise CasipInputError(Problem("", text))
        return [text + f" ({len(holes)} gaps in the record index)"]
    return []


def read(path: Path) -> RawReading:
    """Read a Neware .nda or .ndax file into BDF columns (see the module docstring).

    Parameters
    ----------
    path : Path
        The file; opened read-only, never written.

    Returns
    -------
    RawReading
        Time series in BDF columns and SI units (current positive on charge, test time and
        counters cumulative), the metadata the file states, and warnings.

    Raises
    ------
    CasipInputError
        Not a Neware binary file, a damaged archive, corrupted records, no records.
    """
    path = Path(path)
    kind, version = _kind(path)
    _refuse_cut(path, kind, version)
    df = _raw_frame(path, kind, software_cycles=False)
    if len(df) == 0:
        raise CasipInputError(Problem("", "no data records in the file"))
    warnings = _check(df, kind, version)
    cycle = df["Cycle"].to_numpy(dtype=float)
    if np.all(cycle == 0):
        cycle = _raw_frame(path, kind, software_cycles=True)["Cycle"].to_numpy(dtype=float)
        warnings.append(
            "the records carry no cycle number; cycle_count is NewareNDA's regenerated "
            "('charge first') count"
        )
    cycle, shifted = cycles_from_one(cycle)
    if shifted:
        warnings.append("the file counts cycles from 0; cycle_count = the file's cycle + 1")
    step_count = df["Step"].to_numpy(dtype=float)
    runs = step_runs(step_count, cycle)
    t, _ = counter_cumulative(df["Time"].to_numpy(dtype=float), runs)
    data: dict[str, np.ndarray] = {
        "test_time_second": t,
        "voltage_volt": df["Voltage"].to_numpy(dtype=float),
        "current_ampere": df["Current(mA)"].to_numpy(dtype=float) / 1000.0,
        "cycle_count": cycle,
        "step_index": df["Step_Index"].to_numpy(dtype=float),
        "step_count": step_count,
    }
    for src, dst in (
        ("Charge_Capacity(mAh)", "charging_capacity_ah"),
        ("Discharge_Capacity(mAh)", "discharging_capacity_ah"),
        ("Charge_Energy(mWh)", "charging_energy_wh"),
        ("Discharge_Energy(mWh)", "discharging_energy_wh"),
    ):
        if src in df.columns:
            data[dst], _ = counter_cumulative(df[src].to_numpy(dtype=float) / 1000.0, runs)
    if "Timestamp" in df.columns:
        unix, naive = _unix_seconds(df["Timestamp"])
        if np.isfinite(unix).any():
            data["unix_time_second"] = unix
            if naive:
                warnings.append(
                    "the file's wall-clock times carry no time zone; unix_time_second reads "
                    "them as UTC"
                )
    base = {"Index", "Cycle", "Step", "Step_Index", "Status", "Time", "Voltage", "Current(mA)",
            "Charge_Capacity(mAh)", "Discharge_Capacity(mAh)", "Charge_Energy(mWh)",
            "Discharge_Energy(mWh)", "Timestamp"}
    aux = [c for c in df.columns if c not in base]
    left_out = []
    for c in aux:
        vals = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        if (
            "surface_temperature_celsius" not in data
            and re.fullmatch(r"T\d+", str(c))
            and np.any(np.isfinite(vals) & (vals != 0))
        ):
            data["surface_temperature_celsius"] = vals
        else:
            left_out.append(str(c))
    if left_out:
        warnings.append(
            "auxiliary channels left out (type not known to NewareNDA, or all zero): "
            + ", ".join(left_out)
        )
    meta, more = _metadata(path, kind, df)
    warnings += more
    if isinstance(meta.get("start_time"), _dt.datetime) and meta["start_time"].tzinfo:
        meta["start_time"] = meta["start_time"].astimezone(_dt.UTC)
    return RawReading(data=pd.DataFrame(data), metadata=meta, warnings=warnings)
