"""Read any supported cycler file into the CASIP schema, safely.

Safeguards, whatever the adapter or the library behind it does:

- the source file is opened read-only; its size, modification time and sha256 are taken before
  and checked after reading, and a change is reported as an error (it never happens with the
  bundled adapters; the check is there so that a misbehaving library cannot go unnoticed);
- adapters whose library wants a path it might write, move or delete (``PRIVATE_COPY``) get a
  copy in a private temporary folder (mode 0700, so no other user can read it), removed after
  reading, whatever happens;
- every failure becomes a :class:`casip.errors.CasipInputError` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import casip
from casip.data import schema, segmentation, summary
from casip.data.readers import adapters
from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    library_version,
    merge_metadata,
)
from casip.errors import CasipInputError, Problem

MAX_FILE_BYTES = 4 * 1024**3


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file's content can have changed (ctime cannot be set back)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


#: The last digest taken: (resolved path, stat identity before and after hashing, result).
_LAST_DIGEST: tuple[str, tuple[int, ...], tuple[int, str]] | None = None


def file_digest(path: Path, fresh: bool = True) -> tuple[int, str]:
    """Size in bytes and sha256 of a file, read in chunks.

    ``fresh=False`` may return the digest taken last, if it was of the same file and the file's
    identity (device, inode, size, modification and change times) is unchanged since: the
    store hashes a file for its id just before the reader's safeguard hashes it again, and a
    large file then need not be read twice. The check after reading is always fresh.
    """
    global _LAST_DIGEST
    path = Path(path)
    key = os.path.realpath(path)
    if not fresh and _LAST_DIGEST is not None and _LAST_DIGEST[0] == key:
        try:
            if _identity(path.stat()) == _LAST_DIGEST[1]:
                return _LAST_DIGEST[2]
        except OSError:
            pass
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        before = _identity(os.fstat(fh.fileno()))
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
        after = _identity(os.fstat(fh.fileno()))
    result = size, h.hexdigest()
    _LAST_DIGEST = (key, after, result) if before == after else None
    return result


def detect_format(path: Path, head: bytes | None = None) -> str:
    """The format id whose sniffer is most confident about this file's content.

    Raises
    ------
    CasipInputError
        If no adapter recognises the content (the message lists the supported formats).
    """
    if head is None:
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    if not head:
        raise CasipInputError(Problem("", "the file is empty"), source=str(path))
    mods = adapters()
    scores = {fmt: float(mod.sniff(head, path.name)) for fmt, mod in mods.items()}
    best = max(scores, key=scores.get) if scores else None
    if best is None or scores[best] < 0.5:
        for mod in mods.values():
            explain = getattr(mod, "explain", None)
            reason = explain(head, path.name) if explain else None
            if reason:
                raise CasipInputError(Problem("format", reason), source=str(path))
        raise CasipInputError(
            Problem(
                "format",
                "the content matches no supported cycler format",
                path.suffix or None,
                "one of: " + ", ".join(sorted(scores)) + " (or pass --format)",
            ),
            source=str(path),
        )
    return best


def _call_adapter(mod, path: Path) -> RawReading:
    if not getattr(mod, "PRIVATE_COPY", False):
        return mod.read(path)
    tmpdir = tempfile.mkdtemp(prefix="casip-read-")  # created with mode 0700
    try:
        os.chmod(tmpdir, 0o700)
        copy = Path(tmpdir) / path.name
        shutil.copyfile(path, copy)
        os.chmod(copy, 0o600)
        return mod.read(copy)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _open(path: str | os.PathLike, format: str | None) -> tuple[Path, os.stat_result, Any, dict]:
    """Checks before reading: (path, stat, adapter module, file facts)."""
    p = Path(path)
    if not p.exists():
        raise CasipInputError("file not found", source=str(p))
    if not p.is_file():
        raise CasipInputError("not a regular file", source=str(p))
    before = p.stat()
    if before.st_size == 0:
        raise CasipInputError(Problem("", "the file is empty"), source=str(p))
    if before.st_size > MAX_FILE_BYTES:
        raise CasipInputError(
            Problem("", "the file is too large", before.st_size, f"<= {MAX_FILE_BYTES} bytes"),
            source=str(p),
        )
    try:
        size, sha = file_digest(p, fresh=False)  # the store's digest for the test id, if any
        with p.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError as exc:
        raise CasipInputError(
            Problem("", f"cannot read the file: {exc.strerror or exc}"), source=str(p)
        ) from None
    mods = adapters()
    if format is None:
        fmt = detect_format(p, head)
    else:
        if format not in mods:
            raise CasipInputError(
                Problem("format", "unknown format", format, "one of: " + ", ".join(sorted(mods))),
                source=str(p),
            )
        fmt = format
    return p, before, mods[fmt], {"size": size, "sha256": sha, "name": p.name}


def _check_unchanged(p: Path, before: os.stat_result, sha: str, fmt: str) -> None:
    after = p.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        file_digest(p)[1] != sha
    ):
        raise CasipInputError(
            Problem("", f"the {fmt} reader changed the source file; it was not used"),
            source=str(p),
        )


def read_raw(path: str | os.PathLike, format: str | None = None) -> tuple[RawReading, Any, dict]:
    """Run the adapter for ``path`` with the safeguards; returns (reading, module, file facts)."""
    p, before, mod, facts = _open(path, format)
    fmt = mod.FORMAT
    try:
        reading = _call_adapter(mod, p)
    except CasipInputError as exc:
        if exc.source is None:
            exc.source = str(p)
            exc.args = (exc._render(),)
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a library's own error on a bad file: say which file and why
        raise CasipInputError(
            Problem("", f"could not be read as {fmt}: {type(exc).__name__}: {exc}"),
            source=str(p),
        ) from None
    _check_unchanged(p, before, facts["sha256"], fmt)
    return reading, mod, facts


# --------------------------------------------------------------------------------------------
# Plausibility gate: a header is a claim, the values are checked against physics
# --------------------------------------------------------------------------------------------

#: Highest plausible voltage of one cell [V] (any chemistry, full or half cell).
CELL_VOLTAGE_MAX = 5.0
#: Margin on the voltage window [V]: tester overshoot and open-channel readings.
VOLTAGE_MARGIN = 0.5
#: Lowest plausible voltage [V] (a reversed or shorted cell reads slightly negative).
VOLTAGE_MIN = -0.5
#: Median voltage per cell [V] in this range: the column holds millivolts.
MILLIVOLT_MEDIAN = (1000.0, 5000.0)


def _cells(metadata: Mapping[str, Any] | None) -> int:
    n = (metadata or {}).get("cells_in_series")
    return int(n) if n else 1


def voltage_window(cells_in_series: int = 1) -> tuple[float, float]:
    """The plausible voltage range [V] of ``cells_in_series`` cells (margin included)."""
    return VOLTAGE_MIN, CELL_VOLTAGE_MAX * cells_in_series + VOLTAGE_MARGIN


def voltage_scale(v: np.ndarray, cells_in_series: int = 1) -> tuple[float, str | None]:
    """(factor to volts, warning): 1e-3 where the median per cell is 1000-5000 "V"."""
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return 1.0, None
    med = float(np.median(v))
    lo, hi = MILLIVOLT_MEDIAN
    if lo * cells_in_series <= med <= hi * cells_in_series:
        who = "a single cell" if cells_in_series == 1 else f"{cells_in_series} cells in series"
        return 1e-3, (f"voltage looks like millivolts: median {med:.0f} 'V' for {who}; "
                      "converted")
    return 1.0, None


def check_voltage(v: np.ndarray, source: str, cells_in_series: int = 1) -> None:
    """Refuse voltages no cell configuration can have (after any unit conversion)."""
    lo, hi = voltage_window(cells_in_series)
    bad = np.flatnonzero(np.isfinite(v) & ((v < lo) | (v > hi)))
    if len(bad):
        worst = float(v[bad[np.argmax(np.abs(v[bad]))]])
        who = "a single cell" if cells_in_series == 1 else f"{cells_in_series} cells in series"
        raise CasipInputError(
            Problem(
                "voltage_volt",
                f"physically impossible voltage for {who} ({len(bad)} rows; "
                "declare cells_in_series for a module)",
                worst,
                f"{lo:g} to {hi:g} V",
            ),
            source=source,
        )


#: Unit mistakes a capacity counter can show against the integral of current:
#: ratio counter / integral -> (convert the counter by, or None to refuse; the evidence).
_CAPACITY_RATIOS = (
    (1000.0, 1e-3, "the counter looks like mAh"),
    (1e-3, None, "the current looks like mA, or the counter like kAh"),
    (3600.0, None, "the counter looks like A·s, or the time like hours"),
    (1 / 3600.0, None, "the time looks like hours, or the counter like A·h/3600"),
)


def capacity_units(reported: float, integrated: float, name: str,
                   source: str) -> tuple[float, str | None]:
    """(factor for the counter, warning) from a counter's total against the integral of current.

    A ratio within 20 % of 1000 is a counter in mAh (converted); of 1/1000, 3600 or 1/3600 a unit
    error that the data cannot resolve (refused). Other disagreements are left to the per-cycle
    capacity check (flagged, not refused). Totals below 1 µAh are not judged.
    """
    if not (np.isfinite(reported) and np.isfinite(integrated)):
        return 1.0, None
    if reported <= 1e-6 or integrated <= 1e-6:
        return 1.0, None
    ratio = reported / integrated
    for factor, convert, why in _CAPACITY_RATIOS:
        if 0.8 < ratio / factor < 1.25:
            evidence = (f"{name} totals {reported:.6g} 'Ah' but the integral of current over "
                        f"time is {integrated:.6g} Ah (ratio {ratio:.4g}): {why}")
            if convert is None:
                raise CasipInputError(
                    Problem(name, "inconsistent with the current and time columns: " + evidence,
                            reported, f"about {integrated:.6g} Ah"),
                    source=source,
                )
            return convert, evidence + "; converted"
    return 1.0, None


def normalise(
    reading: RawReading, source: str, cells_in_series: int = 1
) -> tuple[pd.DataFrame, list[str]]:
    """Check and complete a reading: dtypes, required columns, step count, counters, step type.

    The plausibility gate: a voltage column in millivolts is converted and an impossible
    voltage refused (:func:`voltage_scale`, :func:`check_voltage`); a capacity counter a
    factor of 1000 or 3600 away from the integral of current is converted or refused
    (:func:`capacity_units`).
    """
    df = reading.data
    warnings = list(reading.warnings)
    missing = [c for c in schema.REQUIRED if c not in df.columns]
    if missing:
        raise CasipInputError(
            Problem(
                "",
                "the file has no " + ", ".join(missing) + " data",
                None,
                "a time series with time, voltage and current",
            ),
            source=source,
        )
    unknown = [c for c in df.columns if c not in schema.COLUMNS]
    if unknown:
        raise RuntimeError(f"adapter produced columns outside the schema: {unknown}")
    df = df.copy()
    for c in df.columns:
        if c == "step_type":
            continue
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df = df[np.isfinite(df["test_time_second"]) & np.isfinite(df["voltage_volt"])]
    df = df.reset_index(drop=True)
    if len(df) == 0:
        raise CasipInputError(
            Problem("", "the file holds no data rows with time and voltage"), source=source
        )
    scale, note = voltage_scale(df["voltage_volt"].to_numpy(), cells_in_series)
    if note:
        df["voltage_volt"] *= scale
        warnings.append(note)
    check_voltage(df["voltage_volt"].to_numpy(), source, cells_in_series)
    df["current_ampere"] = df["current_ampere"].fillna(0.0)
    t = df["test_time_second"].to_numpy()
    if np.any(np.diff(t) < 0):
        warnings.append("test time goes backwards in places (kept in file order)")
    span_years = (np.nanmax(t) - np.nanmin(t)) / (365.25 * 86400)
    if span_years > 10:
        warnings.append(
            f"the test time spans {span_years:.0f} years: check the file's time unit "
            "(the counters integrated from current depend on it)"
        )
    has_counter = "cycle_count" in df.columns and not df["cycle_count"].isna().all()
    if "cycle_count" not in df.columns:
        df["cycle_count"] = 1.0
    df["cycle_count"] = df["cycle_count"].ffill().fillna(1.0)
    whole, note = segmentation.integer_cycles(df["cycle_count"].to_numpy())
    if note:
        df["cycle_count"] = whole
        warnings.append(note)
    first = float(df["cycle_count"].min())
    if first < 1:
        df["cycle_count"] += 1 - first
        warnings.append(f"cycles are numbered from {first:g} in the file; shifted to start at 1")
    if "step_index" not in df.columns:
        sgn = np.sign(np.round(df["current_ampere"].to_numpy(), 9))
        df["step_index"] = np.r_[0, np.cumsum(sgn[1:] != sgn[:-1])] + 1.0
    df["step_index"] = df["step_index"].ffill().fillna(0.0)
    if "step_count" not in df.columns:
        change = (df["step_index"].diff().fillna(0) != 0) | (
            df["cycle_count"].diff().fillna(0) != 0
        )
        df["step_count"] = change.cumsum().astype("float64") + 1.0
    cycle_rule = _derive_cycles(df, has_counter)
    if cycle_rule:
        warnings.append(cycle_rule)
    counters = ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
                "discharging_energy_wh")
    reported = [c for c in counters if c in df.columns and not df[c].isna().all()]
    for c in reported:
        df[c], resets = schema.cumulative_from_drops(df[c].to_numpy())
        if resets:
            warnings.append(
                f"{c} resets {resets} times in the file; made cumulative from the test start"
            )
    integrated = schema.integrate_counters(df)
    for c in ("charging_capacity_ah", "discharging_capacity_ah"):
        if c in reported:
            factor, note = capacity_units(
                float(np.nanmax(df[c].to_numpy())), float(integrated[c][-1]), c, source
            )
            if note:
                df[c] *= factor
                warnings.append(note)
    if len(reported) < len(counters):
        for c in counters:
            if c not in reported:
                df[c] = integrated[c]
    df.attrs["reported_counters"] = reported
    for c in schema.INT_COLUMNS:
        df[c] = df[c].round().astype("int64")
    df["step_type"] = schema.classify_steps(df)
    order = [c for c in schema.COLUMNS if c in df.columns]
    out = df[order]
    out.attrs["reported_counters"] = reported
    if cycle_rule:
        out.attrs["cycle_numbering"] = cycle_rule
    return out, warnings


def _derive_cycles(df: pd.DataFrame, has_counter: bool) -> str | None:
    """Replace a degenerate cycle counter by cycles derived from the steps (in place).

    See :mod:`casip.data.segmentation`; returns the warning, or None if the counter is kept.
    """
    steps = df["step_count"].to_numpy()
    ends = segmentation.step_ends(steps)
    integ = schema.integrate_counters(df)
    qc = np.diff(np.r_[0.0, integ["charging_capacity_ah"][ends]])
    qd = np.diff(np.r_[0.0, integ["discharging_capacity_ah"][ends]])
    per_step, pairs, limit = segmentation.cycles_from_steps(qc, qd)
    counter = df["cycle_count"].to_numpy() if has_counter else None
    reason = segmentation.degenerate_reason(counter, steps, pairs)
    if reason is None:
        return None
    df["cycle_count"] = np.repeat(per_step, np.diff(np.r_[-1, ends]))
    return segmentation.describe(reason, int(per_step[-1]), limit)


def read(
    path: str | os.PathLike,
    format: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> schema.CyclerTest:
    """Read a cycler file into the CASIP schema.

    Parameters
    ----------
    path : path
        The tester's file. It is never modified, moved or deleted.
    format : str, optional
        Format id (see ``casip data formats``); detected from the content if omitted.
    metadata : mapping, optional
        What you know about the cell (``chemistry``, ``nominal_capacity_ah``,
        ``stack_pressure_mpa``, ``solid_electrolyte``...); overrides what the file states.

    Returns
    -------
    CyclerTest
        ``data`` (a DataFrame with BDF columns), ``metadata`` and ``provenance``.
    """
    reading, mod, facts = read_raw(path, format)
    data, warnings = normalise(reading, str(path), _cells(metadata))
    from_file = dict(reading.metadata)
    if data.attrs.get("cycle_numbering"):  # cycles derived from the steps: say so
        from_file["extra"] = {**from_file.get("extra", {}),
                              "cycle_numbering": data.attrs["cycle_numbering"]}
    return schema.CyclerTest(
        data=data,
        metadata=_metadata_model(from_file, metadata, path),
        provenance=_provenance(mod, facts),
        warnings=warnings,
        reported_counters=list(data.attrs.get("reported_counters", [])),
    )


def _metadata_model(
    from_file: Mapping[str, Any], given: Mapping[str, Any] | None, path: str | os.PathLike
) -> schema.TestMetadata:
    meta = dict(from_file)
    meta.update({k: v for k, v in (given or {}).items() if v is not None})
    try:
        return schema.TestMetadata.model_validate(meta)
    except Exception as exc:
        from pydantic import ValidationError

        from casip.errors import from_pydantic

        if isinstance(exc, ValidationError):
            raise from_pydantic(exc, source=str(path), prefix="metadata.") from None
        raise


def _provenance(mod: Any, facts: dict) -> schema.Provenance:
    lib = getattr(mod, "LIBRARY", None)
    return schema.Provenance(
        source_name=facts["name"],
        source_size_bytes=facts["size"],
        source_sha256=facts["sha256"],
        format=mod.FORMAT,
        reader=mod.__name__,
        reader_library=library_version(lib) if lib else None,
        casip_version=casip.__version__,
    )


# --------------------------------------------------------------------------------------------
# Streaming ingestion: memory bounded by the batch size, not by the file size
# --------------------------------------------------------------------------------------------

#: Rows per batch of the streaming ingestion: peak memory grows by about 3-4 KB per batch row
#: (all the copies a batch goes through), so 16k rows hold it near 50 MB above the
#: interpreter's; larger batches are slightly faster.
DEFAULT_BATCH_ROWS = 16384

_COUNTERS = (
    "charging_capacity_ah",
    "discharging_capacity_ah",
    "charging_energy_wh",
    "discharging_energy_wh",
)
_DROP_NOISE = 1e-3  # as schema.cumulative_from_drops


def iter_raw(
    path: str | os.PathLike, format: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> tuple[Iterator[RawReading], Any, dict, Callable[[], None]]:
    """The adapter's reading in batches: (batches, module, file facts, check after reading).

    Adapters with ``iter_batches`` stream; the others (and those that need a private copy, the
    binary formats) are read whole and given as one batch. Call the returned check after the
    last batch: it raises if the source file changed while it was read.
    """
    p, before, mod, facts = _open(path, format)
    if hasattr(mod, "iter_batches") and not getattr(mod, "PRIVATE_COPY", False):
        batches = mod.iter_batches(p, batch_rows)
    else:
        batches = iter((_call_adapter(mod, p),))
    return batches, mod, facts, lambda: _check_unchanged(p, before, facts["sha256"], mod.FORMAT)


class _Cycles:
    """Per-cycle aggregates, built batch by batch (cycles are runs of equal cycle number).

    Kept as numpy arrays per field (complete cycles) and one dict (the cycle still open at the
    end of the last batch); the DataFrame is built once, by :meth:`finish`.
    """

    def __init__(self, has_ir: bool):
        self.has_ir = has_ir
        self.open: dict[str, Any] | None = None
        self.closed: list[dict[str, np.ndarray]] = []

    def push(self, x: np.ndarray, t: np.ndarray, v: np.ndarray, ir: np.ndarray | None,
             offset: int) -> None:
        n = len(x)
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        ends = np.r_[starts[1:], n] - 1
        runs: dict[str, np.ndarray] = {  # fresh arrays: the merge below may write into them
            "key": np.array(x[ends], dtype=float),
            "end_row": ends + offset,
            "start_time_second": np.array(t[starts], dtype=float),
            "end_time_second": np.array(t[ends], dtype=float),
            "rows": ends - starts + 1,
            "min_voltage_volt": np.minimum.reduceat(v, starts),
            "max_voltage_volt": np.maximum.reduceat(v, starts),
        }
        ir_parts = None
        if self.has_ir:
            grp = np.repeat(np.arange(len(starts)), ends - starts + 1)
            runs["internal_resistance_ohm"] = np.array(
                summary.resistance_medians(pd.Series(ir), grp), dtype=float)
            ir_parts = [ir[a : b + 1] for a, b in ((starts[0], ends[0]), (starts[-1], ends[-1]))]
        first_ir = ir_parts[0] if ir_parts else None
        op = self.open
        if op is not None and runs["key"][0] == op["key"]:  # the open cycle goes on
            runs["start_time_second"][0] = op["start_time_second"]
            runs["rows"][0] = op["rows"] + runs["rows"][0]
            runs["min_voltage_volt"][0] = min(op["min_voltage_volt"], runs["min_voltage_volt"][0])
            runs["max_voltage_volt"][0] = max(op["max_voltage_volt"], runs["max_voltage_volt"][0])
            irs = [*op["ir"], first_ir] if self.has_ir else []
            if self.has_ir and len(starts) > 1:  # the merged cycle ends in this batch
                runs["internal_resistance_ohm"][0] = self._median(irs)
        else:
            if op is not None:
                self._close(op)
            irs = [first_ir] if self.has_ir else []
        # every run but the last is complete; the last stays open for the next batch
        if len(starts) > 1:
            self.closed.append({k: a[:-1] for k, a in runs.items()})
            irs = [ir_parts[1]] if self.has_ir else []
        last: dict[str, Any] = {k: a[-1] for k, a in runs.items()}
        last["ir"] = irs
        self.open = last

    @staticmethod
    def _median(parts: list[np.ndarray]) -> float:
        r = np.concatenate(parts)
        return float(summary.resistance_medians(pd.Series(r), np.zeros(len(r), dtype=int))[0])

    def _close(self, op: dict[str, Any]) -> None:
        row = {k: v for k, v in op.items() if k != "ir"}
        if self.has_ir:
            row["internal_resistance_ohm"] = self._median(op["ir"])
        self.closed.append({k: np.array([v]) for k, v in row.items()})

    def finish(self) -> pd.DataFrame:
        if self.open is not None:
            self._close(self.open)
            self.open = None
        return pd.DataFrame(
            {k: np.concatenate([part[k] for part in self.closed]) for k in self.closed[0]}
        )


class _Steps:
    """Per-step parts and classification statistics; the rows of the open step are held back."""

    COLS = ("test_time_second", "voltage_volt", "current_ampere", "step_count", "cycle_count",
            "step_index", "_int_charging_capacity_ah", "_int_discharging_capacity_ah")

    def __init__(self):
        self.held: dict[str, np.ndarray] | None = None
        self.held_offset = 0
        self.parts: list[pd.DataFrame] = []
        self.stats: list[dict[str, np.ndarray]] = []

    def push(self, cols: Mapping[str, np.ndarray], offset: int) -> None:
        new = {c: cols[c] for c in self.COLS}
        if self.held is None or len(self.held["step_count"]) == 0:
            both, start = new, offset
        else:
            both = {c: np.concatenate([self.held[c], new[c]]) for c in self.COLS}
            start = self.held_offset
        keys = both["step_count"]
        last = int(np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])[-1])
        if last > 0:
            self._complete({c: a[:last] for c, a in both.items()}, start)
        # a copy: the held rows must not keep the whole batch alive
        self.held = {c: a[last:].copy() for c, a in both.items()}
        self.held_offset = start + last

    def _complete(self, cols: Mapping[str, np.ndarray], offset: int) -> None:
        keys = cols["step_count"]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)] - 1
        part = summary.step_parts(pd.DataFrame(dict(cols), copy=False), starts, ends)
        part["_start_row"] = starts + offset
        part["_end_row"] = ends + offset
        part["_cycle"] = cols["cycle_count"][ends]
        for name in ("charging_capacity_ah", "discharging_capacity_ah"):  # cycle segmentation
            part[f"_int_{name}"] = cols[f"_int_{name}"][ends]
        self.parts.append(part)
        self.stats.append(
            schema.step_stats(
                cols["current_ampere"].astype(float, copy=False),
                cols["voltage_volt"].astype(float, copy=False),
                cols["test_time_second"].astype(float, copy=False),
                keys,
            )
        )

    def finish(self) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        if self.held is not None and len(self.held["step_count"]):
            self._complete(self.held, self.held_offset)
            self.held = None
        parts = pd.concat(self.parts, ignore_index=True)
        stats = {k: np.concatenate([s[k] for s in self.stats]) for k in self.stats[0]}
        return parts, stats


def _as_float(s: pd.Series) -> np.ndarray:
    """A column as float64 (numbers kept, anything else through ``pd.to_numeric``, NaN if
    unreadable); may be a view of the adapter's array, so never modified in place."""
    a = s.to_numpy()
    if a.dtype.kind in "fiub":
        return a.astype("float64", copy=False)
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()


def _ffill(a: np.ndarray, fill: float) -> np.ndarray:
    """``pd.Series(a).ffill().fillna(fill)`` on a float array, without pandas."""
    nan = np.isnan(a)
    if not nan.any():
        return a
    idx = np.where(nan, -1, np.arange(len(a)))
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, a[np.maximum(idx, 0)], fill)


class _StreamNormaliser:
    """:func:`normalise` batch by batch, carrying across batches what it needs from before.

    Decisions that need the whole file are taken at the end and applied in a second pass over
    the first pass's output (see :func:`ingest_stream`): the cycle shift, which reported counters
    are used (a counter that is empty throughout is integrated instead), the counter resets
    (a drop counts against the counter's largest value in the file), the step types (rest
    is judged against the test's largest current), and cycles derived from the steps where the
    tester's counter is degenerate (:mod:`casip.data.segmentation`).

    Batches are handled as dicts of numpy arrays (a DataFrame per batch costs more than the
    arithmetic); the results are those of :func:`normalise`.
    """

    def __init__(self, source: str, cells_in_series: int = 1):
        self.source = source
        self.cells = cells_in_series
        self.vscale: float | None = None  # the voltage unit, decided on the first batch
        self.vnote: str | None = None
        self.columns: list[str] | None = None
        self.rows = 0
        self.c: dict[str, Any] = {}  # carries from the previous batch
        self.backwards = False
        self.tmin = np.inf
        self.tmax = -np.inf
        self.cmin = np.inf
        self.imax = 0.0
        self.present: list[str] = []
        self.seen: dict[str, bool] = {}
        self.scale: dict[str, float] = {}
        self.drops: dict[str, list[np.ndarray]] = {}
        self.isum = {k: 0.0 for k in _COUNTERS}
        self.cycles: _Cycles | None = None
        self.steps = _Steps()
        self.cycle_seen = False
        self.cycle_runs = 0  # runs of equal cycle number over the rows (cycle segmentation)

    def _first(self, df: pd.DataFrame) -> None:
        missing = [c for c in schema.REQUIRED if c not in df.columns]
        if missing:
            raise CasipInputError(
                Problem("", "the file has no " + ", ".join(missing) + " data", None,
                        "a time series with time, voltage and current"),
                source=self.source,
            )
        unknown = [c for c in df.columns if c not in schema.COLUMNS]
        if unknown:
            raise RuntimeError(f"adapter produced columns outside the schema: {unknown}")
        self.columns = list(df.columns)
        self.present = [c for c in _COUNTERS if c in df.columns]
        self.seen = {c: False for c in self.present}
        self.scale = {c: 0.0 for c in self.present}
        self.drops = {c: [] for c in self.present}
        self.cycles = _Cycles("internal_resistance_ohm" in df.columns)

    def push(self, raw: pd.DataFrame) -> dict[str, np.ndarray] | None:
        """Normalise one batch; returns the first-pass columns (None if no row survives)."""
        if self.columns is None:
            self._first(raw)
        elif list(raw.columns) != self.columns:
            raise StreamFallback("the batches' columns differ")
        df = {c: _as_float(raw[c]) for c in raw.columns if c != "step_type"}
        keep = np.isfinite(df["test_time_second"]) & np.isfinite(df["voltage_volt"])
        if not keep.all():
            df = {c: a[keep] for c, a in df.items()}
        n = len(df["test_time_second"])
        if n == 0:
            return None
        scale, note = voltage_scale(df["voltage_volt"], self.cells)
        if self.vscale is None:
            self.vscale, self.vnote = scale, note
        elif scale != self.vscale:
            raise StreamFallback("the voltage unit looks different in a later batch")
        if self.vscale != 1.0:
            df["voltage_volt"] = df["voltage_volt"] * self.vscale
        check_voltage(df["voltage_volt"], self.source, self.cells)
        c = self.c
        i = df["current_ampere"]
        i = df["current_ampere"] = np.where(np.isnan(i), 0.0, i)
        t = df["test_time_second"]
        v = df["voltage_volt"]
        if np.any(np.diff(np.r_[c.get("t", t[0]), t]) < 0):
            self.backwards = True
        self.tmin = min(self.tmin, float(np.nanmin(t)))
        self.tmax = max(self.tmax, float(np.nanmax(t)))
        self.imax = max(self.imax, float(np.max(np.abs(np.nan_to_num(i)))))

        # cycle numbers: filled forward across batches; shifted at the end
        if "cycle_count" in df and not np.isnan(df["cycle_count"]).all():
            self.cycle_seen = True
        x = df["cycle_count"] if "cycle_count" in df else np.ones(n)
        x = _ffill(x, c.get("cycle", 1.0))
        if np.any(x != np.round(x)):
            raise StreamFallback("non-integer cycle numbers")
        self.cmin = min(self.cmin, float(x.min()))
        self.cycle_runs += int(np.count_nonzero(x != np.r_[c.get("cycle", np.nan), x[:-1]]))
        df["cycle_count"] = x
        if "step_index" not in df:
            sgn = np.sign(np.round(i, 9))
            change = sgn != np.r_[c.get("sgn", sgn[0]), sgn[:-1]]
            df["step_index"] = c.get("derived_index", 1.0) + np.cumsum(change)
            c["sgn"] = sgn[-1]
            c["derived_index"] = float(df["step_index"][-1])
        si = df["step_index"] = _ffill(df["step_index"], c.get("step_index", 0.0))
        if "step_count" not in df:
            change = (np.diff(si, prepend=c.get("step_index", si[0])) != 0) | (
                np.diff(x, prepend=c.get("cycle", x[0])) != 0
            )
            df["step_count"] = c.get("step_count", 1.0) + np.cumsum(change)
            c["step_count"] = float(df["step_count"][-1])
        c["cycle"] = float(x[-1])
        c["step_index"] = float(si[-1])
        df["step_index"] = np.round(si).astype("int64")
        df["step_count"] = np.round(df["step_count"]).astype("int64")

        # counters: the tester's (resets resolved at the end) and the integrals of current
        for name in self.present:
            raw_c = df.pop(name)
            self.seen[name] |= not np.isnan(raw_c).all()
            val = np.nan_to_num(raw_c)
            self.scale[name] = max(self.scale[name], float(np.max(np.abs(val))))
            prev = c.get(f"last_{name}")
            before = np.r_[prev, val[:-1]] if prev is not None else np.r_[val[0], val[:-1]]
            diff = val - before
            if prev is None:
                diff[0] = 0.0
            cand = np.flatnonzero(diff < -_DROP_NOISE * max(self.scale[name], 1e-12))
            if len(cand):
                self.drops[name].append(
                    np.stack([cand + float(self.rows), diff[cand], before[cand]])
                )
            c[f"last_{name}"] = val[-1]
            df[f"_rep_{name}"] = val
        dt = np.diff(t, prepend=c.get("t", t[0]))
        dt = np.where(np.isfinite(dt) & (dt > 0), dt, 0.0)
        p = i * v
        i_prev = np.r_[c.get("i", i[0]), i[:-1]]
        p_prev = np.r_[c.get("p", p[0]), p[:-1]]
        for name, xx, xp, sign in (
            ("charging_capacity_ah", i, i_prev, 1),
            ("discharging_capacity_ah", i, i_prev, -1),
            ("charging_energy_wh", p, p_prev, 1),
            ("discharging_energy_wh", p, p_prev, -1),
        ):
            part = np.clip(sign * xx, 0, None)
            part_prev = np.clip(sign * xp, 0, None)
            cs = np.cumsum(np.r_[self.isum[name], 0.5 * (part + part_prev) * dt])[1:]
            self.isum[name] = float(cs[-1])
            df[f"_int_{name}"] = cs / 3600.0
        c["t"], c["i"], c["p"] = t[-1], i[-1], p[-1]

        ir = df["internal_resistance_ohm"] if self.cycles.has_ir else None
        self.cycles.push(x, t, v, ir, self.rows)
        self.steps.push(df, self.rows)
        self.rows += n
        return df

    def _derive_cycles(self, step_parts: pd.DataFrame, shift: float) -> tuple[
            np.ndarray | None, str | None]:
        """Cycles derived from the steps where the tester's counter is degenerate (as
        :func:`normalise`): (cycle per step, the warning), or (None, None) to keep the counter.
        """
        qc = np.diff(np.r_[0.0, step_parts["_int_charging_capacity_ah"].to_numpy()])
        qd = np.diff(np.r_[0.0, step_parts["_int_discharging_capacity_ah"].to_numpy()])
        per_step, pairs, limit = segmentation.cycles_from_steps(qc, qd)
        counter = None
        if self.cycle_seen:
            # the counter at step ends (shifted as the stored one): the same runs as on every
            # row where the counter changes only at step boundaries
            counter = step_parts["_cycle"].to_numpy() + shift
            if len(segmentation.step_ends(counter)) != self.cycle_runs:
                raise StreamFallback("the cycle counter changes inside a step")
        reason = segmentation.degenerate_reason(counter, step_parts["step_count"].to_numpy(),
                                                pairs)
        if reason is None:
            return None, None
        return per_step, segmentation.describe(reason, int(per_step[-1]), limit)

    def finish(self) -> dict[str, Any]:
        """The whole-file decisions and the normalisation warnings."""
        if self.rows == 0:
            raise CasipInputError(
                Problem("", "the file holds no data rows with time and voltage"),
                source=self.source,
            )
        warnings = [self.vnote] if self.vnote else []
        if self.backwards:
            warnings.append("test time goes backwards in places (kept in file order)")
        span_years = (self.tmax - self.tmin) / (365.25 * 86400)
        if span_years > 10:
            warnings.append(
                f"the test time spans {span_years:.0f} years: check the file's time unit "
                "(the counters integrated from current depend on it)"
            )
        shift = 0.0
        if self.cmin < 1:
            shift = 1 - self.cmin
            warnings.append(
                f"cycles are numbered from {self.cmin:g} in the file; shifted to start at 1"
            )
        step_parts, stats = self.steps.finish()
        derived, cycle_rule = self._derive_cycles(step_parts, shift)
        if cycle_rule:
            warnings.append(cycle_rule)
        reported = [name for name in self.present if self.seen[name]]
        offsets = {}
        for name in reported:
            cand = (np.concatenate(self.drops[name], axis=1) if self.drops[name]
                    else np.empty((3, 0)))
            scale = max(self.scale[name], 1e-12)
            final = cand[:, cand[1] < -_DROP_NOISE * scale]
            offsets[name] = (final[0].astype(np.int64), np.cumsum(final[2]))
            if name in ("charging_capacity_ah", "discharging_capacity_ah"):
                total = float(self.c[f"last_{name}"]) + float(np.sum(final[2]))
                factor, _ = capacity_units(total, self.isum[name] / 3600.0, name, self.source)
                if factor != 1.0:
                    raise StreamFallback(f"{name} needs a unit conversion")
            if final.shape[1]:
                warnings.append(
                    f"{name} resets {final.shape[1]} times in the file; made cumulative from "
                    "the test start"
                )
        codes = schema.step_codes(stats, schema.rest_threshold(self.imax))
        columns = set(self.columns) | {"cycle_count", "step_index", "step_count", "step_type",
                                       *_COUNTERS}
        return {
            "warnings": warnings,
            "shift": shift,
            "reported": reported,
            "offsets": offsets,
            "steps": step_parts,
            "codes": codes,
            # derived cycles: the cycle table is built in the second pass
            "cycles": self.cycles.finish() if derived is None else None,
            "derived": derived,
            "cycle_rule": cycle_rule,
            "order": [c for c in schema.COLUMNS if c in columns],
        }


_STEP_TYPES = pa.array(schema.STEP_TYPES, type=pa.string())


def _final_batch(cols: Mapping[str, np.ndarray], row0: int, fin: dict[str, Any],
                 step_starts: np.ndarray) -> dict[str, Any]:
    """A first-pass batch with the whole-file decisions applied: the stored time series
    (numpy arrays, and ``step_type`` as an Arrow string array)."""
    n = len(cols["test_time_second"])
    rows = np.arange(row0, row0 + n)
    step_of_row = None
    out: dict[str, Any] = {}
    for col in fin["order"]:
        if col == "cycle_count":
            if fin["derived"] is not None:
                step_of_row = np.searchsorted(step_starts, rows, side="right") - 1
                out[col] = fin["derived"][step_of_row].astype("int64")
            else:
                x = cols["cycle_count"]
                if fin["shift"]:
                    x = x + fin["shift"]
                out[col] = np.round(x).astype("int64")
        elif col in _COUNTERS:
            if col in fin["reported"]:
                pos, cum = fin["offsets"][col]
                val = cols[f"_rep_{col}"]
                if len(pos):
                    k = np.searchsorted(pos, rows, side="right")
                    val = val + np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
                out[col] = val
            else:
                out[col] = cols[f"_int_{col}"]
        elif col == "step_type":
            if step_of_row is None:
                step_of_row = np.searchsorted(step_starts, rows, side="right") - 1
            out[col] = _STEP_TYPES.take(pa.array(fin["codes"][step_of_row]))
        else:
            out[col] = cols[col]
    return out


def _parquet_options(table_schema: pa.Schema) -> dict[str, Any]:
    """zstd, with dictionary encoding only for the integer and text columns: measured values
    rarely repeat, and trying a dictionary on them costs time and bytes (the values stored are
    the same either way)."""
    return {"compression": "zstd",
            "use_dictionary": [f.name for f in table_schema
                               if not pa.types.is_floating(f.type)]}


def ingest_stream(
    path: str | os.PathLike,
    folder: str | os.PathLike,
    format: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    streaming_only: bool = False,
) -> dict[str, Any]:
    """Read, normalise, summarise and write a file batch by batch, into ``folder``.

    Writes ``timeseries.parquet``, ``cycles.parquet`` and ``steps.parquet`` (zstd), the same
    tables as :func:`read` followed by :mod:`casip.data.summary`, with memory bounded by
    ``batch_rows`` (plus the rows of the longest step, which are held until the step ends, and
    the internal resistance values of the longest cycle, for their median) rather than by the
    file size, for adapters that stream (``iter_batches``; the others are read whole).

    Two passes: the first normalises each batch and writes it to an uncompressed Arrow stream
    in ``folder``, keeping per-step and per-cycle aggregates; decisions that need the whole file
    (cycle shift, counter resets, rest threshold, cycles derived from the steps) are then taken,
    and the second pass applies them batch by batch while writing the Parquet time series.

    Parameters
    ----------
    path : path
        The tester's file (never modified).
    folder : path
        Where the three tables are written.
    format : str, optional
        Format id; detected from the content if omitted.
    metadata : mapping, optional
        What the caller knows about the cell (as :func:`read`).
    batch_rows : int
        Rows per batch.
    streaming_only : bool
        Raise :class:`StreamFallback` at once for an adapter that cannot stream (its file is
        read whole anyway; the whole-file path is then faster).

    Returns
    -------
    dict
        ``rows``, ``warnings``, ``reported_counters``, ``metadata`` (a TestMetadata) and
        ``provenance``.

    Raises
    ------
    StreamFallback
        The file needs the whole-file path (e.g. a whole-file decision of the adapter was
        contradicted by a later batch); nothing useful is left in ``folder``.
    CasipInputError
        The file cannot be read (the caller may read it whole for the canonical message).
    """
    folder = Path(folder)
    if streaming_only:
        mod = adapters()[format] if format in adapters() else None
        if mod is None:
            with Path(path).open("rb") as fh:
                mod = adapters()[detect_format(Path(path), fh.read(HEAD_BYTES))]
        if not hasattr(mod, "iter_batches") or getattr(mod, "PRIVATE_COPY", False):
            raise StreamFallback(f"the {mod.FORMAT} adapter reads whole files")
        format = mod.FORMAT  # detected once
    batches, mod, facts, check = iter_raw(path, format, batch_rows)
    norm = _StreamNormaliser(str(path), _cells(metadata))
    meta: dict[str, Any] = {}
    read_warnings: list[str] = []
    first_pass = folder / "_first_pass.arrows"
    writer = None
    sink = None
    first_schema = None
    try:
        for reading in batches:
            merge_metadata(meta, reading.metadata)
            read_warnings += [w for w in reading.warnings if w not in read_warnings]
            if reading.data is None or len(reading.data.columns) == 0:
                continue
            cols = norm.push(reading.data)
            if cols is None:
                continue
            batch = pa.RecordBatch.from_arrays(list(cols.values()), names=list(cols))
            if writer is None:
                sink = pa.OSFile(str(first_pass), "wb")
                first_schema = batch.schema
                writer = pa.ipc.new_stream(sink, first_schema)
            elif not batch.schema.equals(first_schema):
                batch = pa.Table.from_batches([batch]).cast(first_schema)
            writer.write(batch)
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
    check()
    if norm.columns is None:
        raise CasipInputError(Problem("", "the file holds no data rows"), source=str(path))
    fin = norm.finish()
    steps_parts: pd.DataFrame = fin["steps"]
    step_starts = steps_parts["_start_row"].to_numpy()
    step_end = steps_parts["_end_row"].to_numpy()
    derived = fin["derived"]

    # second pass: the stored time series, and the counters at cycle and step ends
    if derived is None:
        cyc_end = fin["cycles"]["end_row"].to_numpy().astype(np.int64)
        recycle = None
    else:  # cycles derived from the steps: a cycle ends where its last step ends
        cyc_end = step_end[np.r_[derived[1:] != derived[:-1], True]].astype(np.int64)
        recycle = _Cycles(norm.cycles.has_ir)
    at_cycle_end: dict[str, list] = {c: [] for c in (*_COUNTERS, "_i_qc", "_i_qd")}
    at_step_end: dict[str, list] = {c: [] for c in _COUNTERS}
    first: dict[str, float] = {}
    pq_writer = None
    ts_schema = None
    row0 = 0
    try:
        with pa.OSFile(str(first_pass), "rb") as src:
            reader = pa.ipc.open_stream(src)
            for rb in reader:
                cols = {name: rb.column(k).to_numpy() for k, name in enumerate(rb.schema.names)}
                out = _final_batch(cols, row0, fin, step_starts)
                n = rb.num_rows
                ce = cyc_end[(cyc_end >= row0) & (cyc_end < row0 + n)] - row0
                se = step_end[(step_end >= row0) & (step_end < row0 + n)] - row0
                for col in _COUNTERS:
                    vals = out[col]
                    at_cycle_end[col].append(vals[ce])
                    at_step_end[col].append(vals[se])
                    if row0 == 0:
                        first[col] = vals[0]
                qc_int = cols["_int_charging_capacity_ah"]
                qd_int = cols["_int_discharging_capacity_ah"]
                at_cycle_end["_i_qc"].append(qc_int[ce])
                at_cycle_end["_i_qd"].append(qd_int[ce])
                if row0 == 0:
                    first["_i_qc"] = qc_int[0]
                    first["_i_qd"] = qd_int[0]
                if recycle is not None:
                    ir = cols["internal_resistance_ohm"] if recycle.has_ir else None
                    recycle.push(out["cycle_count"].astype("float64"), cols["test_time_second"],
                                 cols["voltage_volt"], ir, row0)
                if ts_schema is None:  # the schema (and pandas metadata) of the whole-file path
                    first_df = pd.DataFrame(
                        {k: (a.to_numpy(zero_copy_only=False) if isinstance(a, pa.Array) else a)
                         for k, a in out.items()}
                    )
                    table = pa.Table.from_pandas(first_df, preserve_index=False)
                    ts_schema = table.schema
                    pq_writer = pq.ParquetWriter(folder / "timeseries.parquet", ts_schema,
                                                 **_parquet_options(ts_schema))
                else:
                    table = pa.Table.from_arrays(list(out.values()), schema=ts_schema)
                pq_writer.write_table(table)
                row0 += n
    finally:
        if pq_writer is not None:
            pq_writer.close()
        first_pass.unlink(missing_ok=True)

    # the cycle and step tables
    cyc: pd.DataFrame = fin["cycles"] if recycle is None else recycle.finish()
    shift = fin["shift"] if derived is None else 0.0
    base = pd.DataFrame(
        {"cycle_count": np.round(cyc["key"].to_numpy() + shift).astype("int64")}
    )
    base["start_time_second"] = cyc["start_time_second"].to_numpy()
    base["end_time_second"] = cyc["end_time_second"].to_numpy()
    base["duration_second"] = base["end_time_second"] - base["start_time_second"]
    base["rows"] = cyc["rows"].to_numpy().astype("int64")
    extremes = cyc[[c for c in ("min_voltage_volt", "max_voltage_volt",
                                "internal_resistance_ohm") if c in cyc.columns]]
    cat = {k: np.concatenate(v) for k, v in at_cycle_end.items()}
    cycles = summary.finish_cycles(
        base,
        extremes.reset_index(drop=True),
        {c: cat[c] for c in _COUNTERS},
        {c: first[c] for c in _COUNTERS},
        {"charging_capacity_ah": cat["_i_qc"], "discharging_capacity_ah": cat["_i_qd"]},
        {"charging_capacity_ah": first["_i_qc"], "discharging_capacity_ah": first["_i_qd"]},
        fin["reported"],
    )
    steps = steps_parts.drop(columns=["_start_row", "_end_row", "_cycle",
                                      "_int_charging_capacity_ah",
                                      "_int_discharging_capacity_ah"])
    if derived is None:
        steps["cycle_count"] = np.round(steps_parts["_cycle"].to_numpy() + shift).astype("int64")
    else:
        steps["cycle_count"] = derived.astype("int64")
    names = np.array(schema.STEP_TYPES, dtype=object)
    steps.insert(3, "step_type", names[fin["codes"]])
    for name, col in summary._COUNTERS.items():
        steps[name] = summary._increments_at(np.concatenate(at_step_end[col]), first[col])
    for name, table in (("cycles", cycles), ("steps", steps)):
        pq.write_table(
            pa.Table.from_pandas(table, preserve_index=False),
            folder / f"{name}.parquet",
            compression="zstd",
        )
    if fin["cycle_rule"]:  # cycles derived from the steps: say so, as read() does
        meta["extra"] = {**meta.get("extra", {}), "cycle_numbering": fin["cycle_rule"]}
    return {
        "rows": row0,
        "warnings": read_warnings + fin["warnings"],
        "reported_counters": fin["reported"],
        "metadata": _metadata_model(meta, metadata, path),
        "provenance": _provenance(mod, facts),
    }
