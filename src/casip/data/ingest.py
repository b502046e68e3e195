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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import casip
from casip.data import schema
from casip.data.readers import adapters
from casip.data.readers._base import HEAD_BYTES, RawReading, library_version
from casip.errors import CasipInputError, Problem

MAX_FILE_BYTES = 4 * 1024**3


def file_digest(path: Path) -> tuple[int, str]:
    """Size in bytes and sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


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


def read_raw(path: str | os.PathLike, format: str | None = None) -> tuple[RawReading, Any, dict]:
    """Run the adapter for ``path`` with the safeguards; returns (reading, module, file facts)."""
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
    size, sha = file_digest(p)
    with p.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
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
    mod = mods[fmt]
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
    after = p.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        file_digest(p)[1] != sha
    ):
        raise CasipInputError(
            Problem("", f"the {fmt} reader changed the source file; it was not used"),
            source=str(p),
        )
    return reading, mod, {"size": size, "sha256": sha, "name": p.name}


def normalise(reading: RawReading, source: str) -> tuple[pd.DataFrame, list[str]]:
    """Check and complete a reading: dtypes, required columns, step count, counters, step type."""
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
    if "cycle_count" not in df.columns:
        df["cycle_count"] = 1.0
    df["cycle_count"] = df["cycle_count"].ffill().fillna(1.0)
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
    counters = ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
                "discharging_energy_wh")
    reported = [c for c in counters if c in df.columns and not df[c].isna().all()]
    for c in reported:
        df[c], resets = schema.cumulative_from_drops(df[c].to_numpy())
        if resets:
            warnings.append(
                f"{c} resets {resets} times in the file; made cumulative from the test start"
            )
    if len(reported) < len(counters):
        integrated = schema.integrate_counters(df)
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
    return out, warnings


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
    data, warnings = normalise(reading, str(path))
    meta = dict(reading.metadata)
    meta.update({k: v for k, v in (metadata or {}).items() if v is not None})
    try:
        md = schema.TestMetadata.model_validate(meta)
    except Exception as exc:
        from pydantic import ValidationError

        from casip.errors import from_pydantic

        if isinstance(exc, ValidationError):
            raise from_pydantic(exc, source=str(path), prefix="metadata.") from None
        raise
    lib = getattr(mod, "LIBRARY", None)
    prov = schema.Provenance(
        source_name=facts["name"],
        source_size_bytes=facts["size"],
        source_sha256=facts["sha256"],
        format=mod.FORMAT,
        reader=mod.__name__,
        reader_library=library_version(lib) if lib else None,
        casip_version=casip.__version__,
    )
    return schema.CyclerTest(
        data=data,
        metadata=md,
        provenance=prov,
        warnings=warnings,
        reported_counters=list(data.attrs.get("reported_counters", [])),
    )
