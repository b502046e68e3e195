"""What every reader adapter provides, and helpers they share.

An adapter is one module in :mod:`casip.data.readers` per file format. It defines:

``FORMAT``      the format id, e.g. ``"maccor-txt"`` (used by ``--format``)
``VENDOR``      the tester's maker, e.g. ``"Maccor"``
``DESCRIPTION`` one line for the supported-formats table
``EXTENSIONS``  usual file name endings (lower case), a hint only
``LIBRARY``     the third-party package the adapter builds on (``None`` if hand-written,
                then the module docstring says why)
``PRIVATE_COPY`` True if the third-party reader must be handed a private copy of the file
                (a reader that may write, move or delete its input never sees the source)
``sniff(head, name) -> float``  confidence 0..1 that ``head`` (the first 64 KiB) is this format
``read(path) -> RawReading``    the data in BDF columns and the tester's metadata
``explain(head, name) -> str | None`` (optional) why a file the adapter does not claim is still
                not readable, e.g. a companion metadata file (the message names what to read)

``read`` raises :class:`casip.errors.CasipInputError` for a file it recognises but cannot read
(truncated, corrupted); any other exception is turned into one by the dispatcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import metadata as _md
from typing import Any

import pandas as pd

HEAD_BYTES = 65536


@dataclass
class RawReading:
    """A reader's output before normalisation.

    ``data`` has BDF column names (see :data:`casip.data.schema.COLUMNS`) and SI units, current
    positive on charge. Counters (``charging_capacity_ah``...) may be left out: they are then
    integrated from current. ``metadata`` holds fields of
    :class:`casip.data.schema.TestMetadata` that the file states (others go in ``extra``).
    """

    data: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def library_version(dist: str) -> str:
    """``"name version"`` of an installed distribution (for provenance)."""
    try:
        return f"{dist} {_md.version(dist)}"
    except _md.PackageNotFoundError:
        return dist


def decode_head(head: bytes) -> str:
    """The head of a file as text (UTF-8, else Latin-1), for sniffing."""
    for enc in ("utf-8-sig", "latin-1"):
        try:
            return head.decode(enc)
        except UnicodeDecodeError:
            continue
    return ""


def looks_binary(head: bytes) -> bool:
    """True if the head holds NUL bytes or mostly non-text bytes."""
    if not head:
        return False
    if b"\x00" in head[:4096]:
        return True
    text = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:4096])
    return text < 0.85 * min(len(head), 4096)


def header_tokens(line: str) -> list[str]:
    """Split a CSV/TSV header line into stripped tokens."""
    sep = "\t" if line.count("\t") > line.count(",") else ","
    return [t.strip().strip('"') for t in line.split(sep)]


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def hms_to_seconds(values: pd.Series) -> pd.Series:
    """``[d-]hh:mm:ss[.fff]`` strings to seconds (Neware and Landt write durations this way)."""
    s = values.astype(str).str.strip()
    days = s.str.extract(r"^(\d+)-", expand=False).astype(float).fillna(0.0)
    hms = s.str.replace(r"^\d+-", "", regex=True).str.split(":", expand=True)
    if hms.shape[1] != 3:
        raise ValueError("durations are not in hh:mm:ss form")
    return days * 86400 + hms[0].astype(float) * 3600 + hms[1].astype(float) * 60 + hms[
        2
    ].astype(float)


_NUM = re.compile(r"^[\s+-]*\d")
