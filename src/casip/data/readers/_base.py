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
``iter_batches(path, batch_rows) -> Iterator[RawReading]`` (optional) the same reading in
                consecutive batches of about ``batch_rows`` rows, for ingestion whose memory is
                bounded by the batch size rather than the file size (see
                :func:`casip.data.ingest.ingest_stream`). Concatenated, the batches' ``data``
                equals ``read(path).data`` row for row and column for column; ``metadata`` is
                merged over the batches (later batches win) and ``warnings`` are joined in order
                without repeats. Every batch has the same columns. Where a whole-file decision
                (a sign convention, a unit) is taken from the first batch and a later batch
                contradicts it, the adapter raises :class:`StreamFallback` and the file is read
                whole instead.

``read`` raises :class:`casip.errors.CasipInputError` for a file it recognises but cannot read
(truncated, corrupted); any other exception is turned into one by the dispatcher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata as _md
from pathlib import Path
from typing import Any

import pandas as pd

from casip.errors import CasipInputError, Problem

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


class StreamFallback(Exception):
    """The streaming path cannot give the whole-file result for this file: read it whole."""


def block_size_for(head: bytes, batch_rows: int) -> int:
    """A pyarrow CSV ``block_size`` (bytes) that holds about ``batch_rows`` rows of ``head``.

    The row length is estimated from the lines of the file's head; at least 16 KiB (a line
    longer than a block makes pyarrow fail, and the file is then read whole).
    """
    lines = head.count(b"\n")
    per_row = len(head) / lines if lines else 100.0
    return max(1 << 14, int(per_row * batch_rows))


def line_chunks(path: Path | str, start: int, size: int) -> Iterator[bytes]:
    """The bytes of a text file from offset ``start``, in chunks of whole lines of about ``size``.

    For streaming CSV reads whose memory is bounded by ``size``: each chunk is parsed on its
    own (pyarrow's ``open_csv``, given a path or a file object, reads ahead up to the whole
    file, so memory would grow with the file). Lines are cut at ``\\n`` only: a quoted field
    holding a line break leaves a chunk with an open quote, which the parser refuses (the file
    is then read whole).
    """
    with open(path, "rb") as fh:
        fh.seek(start)
        rest = b""
        while True:
            block = fh.read(size)
            if not block:
                if rest and not rest.isspace():  # as rest.strip(), without the copy
                    yield rest
                return
            buf = rest + block
            cut = buf.rfind(b"\n")
            if cut < 0:
                rest = buf
                continue
            chunk, rest = buf[: cut + 1], buf[cut + 1 :]
            if not chunk.isspace():  # not blank (chunk ends in a line break, so not empty)
                yield chunk


def offset_after_lines(path: Path | str, lines: int) -> int:
    """Byte offset of the start of line ``lines`` (0-based) of a text file."""
    with open(path, "rb") as fh:
        for _ in range(lines):
            fh.readline()
        return fh.tell()


def truncated_error(
    path: Path | str | None = None, *, line: int | None = None, offset: int | None = None
) -> CasipInputError:
    """The one refusal, shared by every reader, of a file that ends in the middle of a record.

    A copy or download cut short ends inside its last record (fewer fields than the header, a
    number cut off); no format reads such a file, even up to its last whole record. The
    message names where the file ends: ``line`` (1-based, text formats; by default that of the
    file's last non-empty line, counted in ``path``) or ``offset`` (bytes, binary formats); the
    error names ``path`` (else the dispatcher adds the file's name).
    """
    if line is None and offset is None and path is not None:
        breaks, tail = 0, b""
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                breaks += block.count(b"\n")
                tail = (tail + block)[-HEAD_BYTES:]
        trailing = tail[len(tail.rstrip(b"\r\n\t ")) :].count(b"\n")
        line = breaks - trailing + 1
    where = f"line {line}" if line is not None else f"byte {offset}"
    return CasipInputError(
        Problem(
            "",
            f"the file ends mid-record at {where}: it looks truncated; copy or export it again",
            expected="the whole file, its last record complete",
        ),
        source=None if path is None else str(path),
    )


def merge_metadata(into: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    """Merge one batch's metadata into ``into`` (later batches win, field by field, and
    ``extra`` is merged key by key rather than replaced); returns ``into``."""
    for k, v in batch.items():
        if k == "extra" and isinstance(v, dict) and isinstance(into.get("extra"), dict):
            into["extra"] = {**into["extra"], **v}
        else:
            into[k] = v
    return into


def join_batches(batches: Iterable[RawReading]) -> RawReading:
    """One reading from consecutive batches (the adapter contract's ``iter_batches``): data
    concatenated, metadata merged with :func:`merge_metadata`, warnings joined without
    repeats."""
    parts: list[pd.DataFrame] = []
    md: dict[str, Any] = {}
    warnings: list[str] = []
    for r in batches:
        if len(r.data) or not parts:
            parts.append(r.data)
        merge_metadata(md, r.metadata)
        warnings += [w for w in r.warnings if w not in warnings]
    data = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    return RawReading(data, md, warnings)


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
