"""Cycler-file uploads: receive, check, unpack, ingest into the Parquet store, record.

How a client uploads (one request, the file is the raw request body, no multipart)::

    POST /api/tests?filename=<URL-encoded file name>[&name=...][&visibility=private]
                   [&benchmark_opt_in=false]
    Content-Type: application/octet-stream
    Content-Length: <bytes>            (optional; chunked bodies are measured while received)
    <the file's bytes>

A browser sends it with ``XMLHttpRequest`` (``xhr.upload.onprogress`` shows the progress):
``xhr.open("POST", "/api/tests?filename=" + encodeURIComponent(file.name));
xhr.setRequestHeader("X-CSRF-Token", csrf); xhr.send(file)``.

Safeguards:

- the body is streamed into a private temporary file (mode 0600) in ``settings.upload_dir``,
  named ``<process tag>-<random>`` (:func:`casip.platform.startup.process_tag`: host, pid and
  start time of the receiving process) plus a suffix (``.csv``, ``.bdf.csv``...) kept only
  when it is made of letters and digits (format detection needs it); the client's file name
  is a display label only and never part of a path. Names with path separators, ``..``,
  control characters or more than 255 bytes are refused (400, field ``filename``);
- more than ``settings.max_upload_bytes`` is refused with 413, from ``Content-Length`` before
  reading, else as soon as the streamed body passes the limit; the temporary file is always
  removed, whatever happens (also when the client goes away);
- a ``.zip`` is accepted when it holds exactly one cycler file: member names must be relative
  without ``..``; the declared total size must be within ``max_upload_bytes``, the overall
  compression ratio at most :data:`MAX_COMPRESSION_RATIO` (for archives above
  :data:`RATIO_FLOOR_BYTES`), and the bytes actually extracted are counted against the declared
  size and the limit. Archives inside the zip, encrypted members and other archive or
  compression formats (gzip, bzip2, xz, zstd, 7z, rar, tar) are refused. Zip-based cycler
  formats (Neware ``.ndax``) are recognised by the format detection first and get the same
  size and ratio checks;
- a file no reader recognises is refused with 415, listing the supported formats.

Consistency: the file is parsed into a private scratch folder in the store's ``.staging`` area,
moved into the store with one rename, then its :class:`~casip.platform.models.TestDataset` row is
committed, so a row never exists without its stored data. If the row cannot be written, the
stored folder stays behind: it is harmless (the organisation's next upload of the same file
reuses it) and is not visible to anyone. Storing, recording and deleting the same test are
serialised per store test id (a lock in the process and, on PostgreSQL, a transaction-level
advisory lock).

Provenance is per organisation. The store is content-addressed per organisation
(:func:`store_key`: a hash of the organisation id and the file's sha256), so the same file
uploaded by two organisations is parsed in full and stored twice: the answer (status 201, the
``ingested_at``, reader and CASIP version of the provenance, the cycle table), the work done and
so its timing, and later deletes depend only on the uploader's organisation. The same file
uploaded again by the same organisation returns the existing dataset (HTTP 200,
``"duplicate": true``): that tells the organisation only about its own uploads. (Rows stored
before this rule may share a folder keyed by the file's hash alone; deleting one of them keeps
the folder while another row uses it.)

:func:`cleanup_partial` runs at server start: it removes uploads a killed server left half
received and the store's ``.staging`` leftovers. Several processes may share the data folder
(``casip serve --workers N``, hosts sharing the store): work files are named after the process
writing them, and only those of processes that no longer run (same host: pid and start time;
another host: older than :data:`casip.platform.startup.STALE_AFTER_S`) are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from casip.data.ingest import detect_format, file_digest
from casip.data.readers import adapters
from casip.data.readers._base import HEAD_BYTES
from casip.data.store import Store
from casip.errors import CasipInputError
from casip.platform import access
from casip.platform.access import Actor
from casip.platform.models import TestDataset, Visibility
from casip.platform.problems import ApiProblem, input_errors
from casip.platform.settings import Settings
from casip.platform.startup import process_tag, tag_alive, tag_of

log = logging.getLogger("casip.platform.uploads")

#: Most a zip may expand relative to its compressed size (overall, all members together).
MAX_COMPRESSION_RATIO = 100
#: Archives whose declared content is below this are not ratio-checked [bytes].
RATIO_FLOOR_BYTES = 1024 * 1024
#: Discharge capacity, as a fraction of the reference cycle's, that ends the cycle life.
END_OF_LIFE_RETENTION = 0.8
MAX_FILENAME_BYTES = 255
CHUNK_BYTES = 1 << 20

_TEMP_NAME = re.compile(r"^(\d+)-[0-9a-f]{32}")  # before process tags: <pid>-<random>
_SAFE_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,10}){1,2}$")
#: magic bytes of archive and compression formats (zip is handled separately)
_ARCHIVE_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
_ARCHIVE_SUFFIXES = frozenset(
    {".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".tar", ".lz", ".lzma", ".z"}
)


# --------------------------------------------------------------------------------------------
# Start-up cleanup
# --------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # we are starting: none of our uploads can be in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _writer_alive(entry: Path, keep_untagged: bool = False) -> bool:
    """Whether the process that named the work file ``entry`` may still be writing it
    (``keep_untagged``: True for names of neither form, which are not work files)."""
    if tag_of(entry.name) is None:
        if (m := _TEMP_NAME.match(entry.name)) is not None:
            return _pid_alive(int(m.group(1)))  # named before process tags (a pid alone)
        if keep_untagged:
            return True
    return tag_alive(entry.name, entry)


def cleanup_partial(settings: Settings, db=None) -> dict[str, Any]:
    """Remove what killed server processes left behind; called at server start.

    Removes the half-received uploads in ``settings.upload_dir`` and the folders in the
    store's ``.staging`` work area (tests are moved out of it only when complete) whose writer
    no longer runs: entries are named after the process writing them
    (:func:`casip.platform.startup.process_tag`), so an upload another live process is
    receiving or parsing is kept (see :func:`casip.platform.startup.tag_alive`; unnamed
    entries are removed once older than :data:`casip.platform.startup.STALE_AFTER_S`). Stored
    tests without a dataset row are kept (they
    are content-addressed and reused by the next upload of the same file). Dataset rows whose
    stored folder is missing cannot be produced by the platform (the store is written first);
    any found (e.g. a folder deleted by hand) are logged.

    Parameters
    ----------
    settings : Settings
        The server's settings (data folder, database URL).
    db : casip.platform.db.Database, optional
        The server's database (else one is opened on ``settings.database_url`` for the check).

    Returns
    -------
    dict
        ``removed_uploads`` and ``removed_staging`` (counts) and ``missing_store_folders``
        (ids of dataset rows whose stored test is missing).
    """
    up = settings.upload_dir
    up.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(up, 0o700)
    removed = 0
    for entry in up.iterdir():
        if _writer_alive(entry, keep_untagged=True):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    staging = settings.store_dir / ".staging"
    removed_staging = 0
    if staging.is_dir():
        for entry in staging.iterdir():
            if _writer_alive(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed_staging += 1
    missing = _rows_without_data(settings, db)
    if missing:
        log.warning(
            "test datasets %s: their stored data is missing from %s", missing, settings.store_dir
        )
    return {
        "removed_uploads": removed,
        "removed_staging": removed_staging,
        "missing_store_folders": missing,
    }


def _rows_without_data(settings: Settings, db=None) -> list[int]:
    from casip.platform.db import Database

    own = db is None
    db = Database(settings.database_url) if own else db
    try:
        with db.session() as s:
            rows = s.execute(sa.select(TestDataset.id, TestDataset.store_test_id)).all()
    finally:
        if own:
            db.dispose()
    store = Store(settings.store_dir)
    return [i for i, tid in rows if tid not in store]


# --------------------------------------------------------------------------------------------
# Receiving
# --------------------------------------------------------------------------------------------


def check_filename(filename: str | None) -> str:
    """The client's file name if it is acceptable as a display label, else a 400 problem.

    Refused: empty names, path separators (``/``, ``\\``), ``..``, NUL and other control
    characters, more than 255 bytes of UTF-8.
    """
    expected = (
        "a plain file name (no '/', '\\', '..' or control characters), at most "
        f"{MAX_FILENAME_BYTES} bytes"
    )

    def bad(message: str) -> ApiProblem:
        shown = filename if filename is None or len(filename) <= 100 else filename[:100] + "..."
        return ApiProblem(
            400,
            f"filename: {message}",
            [{"field": "filename", "message": message, "value": shown, "expected": expected}],
        )

    if filename is None or not filename.strip():
        raise bad("missing or empty")
    if len(filename.encode("utf-8", "surrogatepass")) > MAX_FILENAME_BYTES:
        raise bad(f"longer than {MAX_FILENAME_BYTES} bytes")
    if "/" in filename or "\\" in filename:
        raise bad("contains a path separator")
    if ".." in filename:
        raise bad("contains '..'")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in filename):
        raise bad("contains a control character")
    return filename


def check_label(value: str, field: str, max_chars: int = 200) -> str:
    """A display label (dataset name): 1 to ``max_chars`` characters, no control characters."""
    if (
        not value.strip()
        or len(value) > max_chars
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in value)
    ):
        raise ApiProblem(
            400,
            f"{field}: not an acceptable name",
            [
                {
                    "field": field,
                    "message": "empty, too long or with control characters",
                    "value": value[:100],
                    "expected": f"1 to {max_chars} characters without control characters",
                }
            ],
        )
    return value.strip()


def safe_suffix(name: str) -> str:
    """The file-name ending (``.csv``, ``.bdf.csv``, ``.022``) if made of letters and digits."""
    m = _SAFE_SUFFIX.search(name)
    return m.group(0) if m else ""


def _new_temp(upload_dir: Path, suffix: str) -> tuple[Path, int]:
    upload_dir.mkdir(parents=True, exist_ok=True)
    path = upload_dir / f"{process_tag()}-{uuid.uuid4().hex}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    return path, fd


def too_large(limit: int, got: int | None = None) -> ApiProblem:
    what = f"{got} bytes" if got is not None else "more"
    return ApiProblem(
        413,
        f"the upload is too large: {what}, at most {limit} bytes are accepted",
        [{"field": "file", "message": "too large", "value": got, "expected": f"<= {limit} bytes"}],
    )


@dataclass
class Received:
    """A file received into the upload folder (removed by :meth:`discard`)."""

    path: Path
    size_bytes: int
    sha256: str
    filename: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


async def receive(
    chunks: AsyncIterator[bytes], filename: str, settings: Settings, content_length: str | None
) -> Received:
    """Stream a request body into a private temporary file, enforcing the size limit.

    Parameters
    ----------
    chunks : async iterator of bytes
        The body (``request.stream()``).
    filename : str
        The client's file name (already checked with :func:`check_filename`).
    settings : Settings
        Gives ``upload_dir`` and ``max_upload_bytes``.
    content_length : str or None
        The ``Content-Length`` header: a body announced larger than the limit is refused
        before any of it is read.

    Raises
    ------
    ApiProblem
        413 when the body is larger than ``settings.max_upload_bytes``; 400 for an empty body.
    """
    limit = settings.max_upload_bytes
    if content_length:
        try:
            announced = int(content_length)
        except ValueError:
            raise ApiProblem(400, f"Content-Length {content_length[:40]!r}: not a number") from None
        if announced > limit:
            raise too_large(limit, announced)
    path, fd = _new_temp(settings.upload_dir, safe_suffix(filename))
    h = hashlib.sha256()
    size = 0
    ok = False
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                h.update(chunk)
                fh.write(chunk)
        if size == 0:
            raise ApiProblem(
                400,
                "the upload is empty: send the file's bytes as the request body",
                [{"field": "file", "message": "empty", "value": 0, "expected": "a cycler file"}],
            )
        ok = True
        return Received(path, size, h.hexdigest(), filename)
    finally:
        if not ok:  # too large, client gone, cancelled: nothing stays behind
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Format check and zip unpacking
# --------------------------------------------------------------------------------------------


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def _archive_kind(head: bytes) -> str | None:
    for magic, kind in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def expected_formats() -> str:
    """What an upload may be, for error messages (one clause, no final full stop)."""
    return (
        "a cycler file in one of the formats "
        + ", ".join(sorted(adapters()))
        + ", or a .zip holding exactly one such file"
    )


def _unsupported(filename: str, message: str, status: int = 415) -> ApiProblem:
    return ApiProblem(
        status,
        f"{filename}: {message}; expected {expected_formats()}.",
        [{"field": "file", "message": message, "value": filename, "expected": expected_formats()}],
    )


def _scrub(text: str, paths: list[Path], label: str) -> str:
    """Replace server-side temporary paths in a message by the client's file name."""
    for p in paths:
        text = text.replace(str(p), label).replace(p.name, label)
    return text


def _input_problem(exc: CasipInputError, paths: list[Path], label: str, status: int) -> ApiProblem:
    errors = input_errors(exc)
    for e in errors:
        if e["field"] in ("", "format"):  # the upload's only input is the file itself
            e["field"] = "file"
            if e.get("expected") and " (or pass --format)" in str(e["expected"]):
                e["expected"] = expected_formats()  # the data hub's wording is for the CLI
                e["value"] = label  # not the file-name ending the data hub reports
        for k in ("message", "value", "expected"):
            if isinstance(e.get(k), str):
                e[k] = _scrub(e[k], paths, label)
    if errors and all(e["field"] == "file" for e in errors):
        # one sentence naming the file and what was expected (the errors repeat it per item)
        clauses = [
            e["message"] + (f"; expected {e['expected']}" if e.get("expected") else "")
            for e in errors
        ]
        detail = f"{label}: " + "; ".join(clauses).rstrip(".") + "."
    else:
        detail = _scrub(str(exc), paths, label)
    return ApiProblem(status, detail, errors)


def _check_zip(path: Path, filename: str, limit: int) -> zipfile.ZipFile:
    """Open a zip and check it against zip bombs (declared size, ratio, member names)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _unsupported(filename, f"not a readable zip archive ({exc})", 422) from None
    infos = zf.infolist()
    declared = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos)
    for i in infos:
        parts = re.split(r"[\\/]", i.filename)
        if (
            i.filename.startswith(("/", "\\"))
            or re.match(r"^[A-Za-z]:", i.filename)
            or (".." in parts)
        ):
            zf.close()
            raise _unsupported(filename, "the zip has an absolute or '..' member name", 422)
        if i.flag_bits & 0x1:
            zf.close()
            raise _unsupported(filename, "the zip has an encrypted member", 422)
    if declared > limit:
        zf.close()
        raise ApiProblem(
            413,
            f"{filename}: the zip expands to {declared} bytes, at most {limit} are accepted",
            [
                {
                    "field": "file",
                    "message": "uncompressed content too large",
                    "value": declared,
                    "expected": f"<= {limit} bytes",
                }
            ],
        )
    if declared > RATIO_FLOOR_BYTES and declared > MAX_COMPRESSION_RATIO * max(compressed, 1):
        zf.close()
        ratio = declared / max(compressed, 1)
        raise ApiProblem(
            422,
            f"{filename}: the zip is compressed {ratio:.0f}:1, more than "
            f"{MAX_COMPRESSION_RATIO}:1 is refused (a zip bomb?)",
            [
                {
                    "field": "file",
                    "message": "compression ratio too high",
                    "value": round(ratio, 1),
                    "expected": f"<= {MAX_COMPRESSION_RATIO}:1",
                }
            ],
        )
    return zf


def _extract_single(path: Path, filename: str, settings: Settings) -> tuple[Path, str]:
    """Extract the one cycler file of an uploaded zip; returns (path, member name)."""
    limit = settings.max_upload_bytes
    with _check_zip(path, filename, limit) as zf:
        members = [
            i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
        ]
        if len(members) != 1:
            raise _unsupported(
                filename, f"the zip holds {len(members)} files, exactly one is accepted", 422
            )
        info = members[0]
        member_name = re.split(r"[\\/]", info.filename)[-1]
        if safe_suffix(member_name).lower().rsplit(".", 1)[-1] in {
            s.lstrip(".") for s in _ARCHIVE_SUFFIXES
        }:
            raise _unsupported(
                filename, f"archives inside the zip are refused ({member_name})", 422
            )
        out, fd = _new_temp(settings.upload_dir, safe_suffix(member_name))
        got = 0
        try:
            with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
                while chunk := src.read(CHUNK_BYTES):
                    got += len(chunk)
                    if got > info.file_size or got > limit:  # lying headers
                        raise ApiProblem(
                            422,
                            f"{filename}: the zip member expands beyond its declared size",
                            [
                                {
                                    "field": "file",
                                    "message": "member larger than declared",
                                    "value": info.filename[:100],
                                    "expected": f"<= {min(info.file_size, limit)} bytes",
                                }
                            ],
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            out.unlink(missing_ok=True)
            raise _unsupported(
                filename, f"the zip member cannot be extracted ({exc})", 422
            ) from None
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        return out, member_name


@dataclass
class Prepared:
    """The cycler file to ingest, with its format and origin."""

    path: Path
    format: str
    size_bytes: int
    sha256: str
    archive_member: str | None = None


def prepare(received: Received, settings: Settings, temps: list[Path]) -> Prepared:
    """Find the cycler file in an upload: the file itself, or the one member of a zip.

    Extracted files are appended to ``temps`` (the caller removes them).

    Raises
    ------
    ApiProblem
        415 for content no reader recognises and other archive formats, 422 for a refused zip
        (several members, nesting, bomb), 413 for a zip expanding beyond the size limit.
    """
    name = received.filename
    head = _head(received.path)
    try:
        fmt = detect_format(received.path, head)
    except CasipInputError as exc:
        kind = _archive_kind(head)
        if kind != "zip":
            if kind is not None:
                raise _unsupported(
                    name, f"{kind} archives and compressed files are not accepted"
                ) from None
            raise _input_problem(exc, [received.path], name, 415) from None
        member_path, member = _extract_single(received.path, name, settings)
        temps.append(member_path)
        mhead = _head(member_path)
        try:
            fmt = detect_format(member_path, mhead)
        except CasipInputError as exc2:
            nested = _archive_kind(mhead)
            if nested is not None:
                raise _unsupported(
                    name, f"archives inside the zip are refused ({member}: {nested})", 422
                ) from None
            raise _input_problem(exc2, [member_path], member, 415) from None
        if _archive_kind(mhead) == "zip":  # a zip-based cycler format: same bomb checks
            _check_zip(member_path, member, settings.max_upload_bytes).close()
        size, sha = file_digest(member_path)
        return Prepared(member_path, fmt, size, sha, member)
    if _archive_kind(head) == "zip":  # a zip-based cycler format (.ndax)
        _check_zip(received.path, name, settings.max_upload_bytes).close()
    return Prepared(received.path, fmt, received.size_bytes, received.sha256)


# --------------------------------------------------------------------------------------------
# Ingesting and recording
# --------------------------------------------------------------------------------------------

_LOCKS = tuple(threading.Lock() for _ in range(64))


@contextlib.contextmanager
def dataset_lock(s: Session, store_test_id: str) -> Iterator[None]:
    """Serialise storing, recording and deleting one stored test.

    A lock in this process, and on PostgreSQL a transaction-level advisory lock (released when
    the session's transaction ends: commit inside the block).
    """
    key = int(store_test_id[:15], 16)
    with _LOCKS[key % len(_LOCKS)]:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        yield


def cycle_life(cycles: pd.DataFrame, retention: float = END_OF_LIFE_RETENTION) -> float | None:
    """Cycles until the discharge capacity falls below ``retention`` of the reference cycle's.

    The reference is the first full cycle (the store's ``capacity_retention`` reference: the
    first cycle whose discharge reaches half the median discharge, so formation or partial
    first cycles are skipped). Cycles discharging less than half the reference (diagnostic,
    partial or interrupted cycles) and cycles without discharge are ignored, and the fall must
    hold for two consecutive remaining cycles (one odd cycle does not end the life). These are
    assumptions: a test whose capacity collapses below half within one cycle is not caught.

    Returns
    -------
    float or None
        Number of cycles from the reference cycle to the first cycle below the threshold;
        ``None`` when the test never gets there.
    """
    if cycles.empty or "discharge_capacity_ah" not in cycles:
        return None
    qd = cycles["discharge_capacity_ah"].to_numpy(dtype=float)
    num = cycles["cycle_count"].to_numpy(dtype=float)
    ok = np.isfinite(qd) & (qd > 0)
    qd, num = qd[ok], num[ok]
    if len(qd) < 2:
        return None
    ref = int(np.flatnonzero(qd >= 0.5 * np.median(qd))[0])
    full = np.flatnonzero(qd >= 0.5 * qd[ref])
    full = full[full > ref]
    below = qd[full] < retention * qd[ref]
    for k in range(len(full) - 1):
        if below[k] and below[k + 1]:
            return float(num[full[k]] - num[ref])
    return None


def _details(info: dict, received: Received, prepared: Prepared) -> dict[str, Any]:
    prov = dict(info.get("provenance") or {})
    prov["source_name"] = prepared.archive_member or received.filename  # not the temp name
    out = {
        "metadata": info.get("metadata") or {},
        "warnings": list(info.get("warnings") or []),
        "provenance": prov,
        "reported_counters": info.get("reported_counters") or [],
        # unusual but real findings of the ingestion (``kind``, ``reason``): shown with the
        # dataset, and the dataset is left out of the benchmark unless included explicitly
        "flags": list(info.get("flags") or []),
    }
    if prepared.archive_member:
        out["archive"] = {
            "filename": received.filename,
            "member": prepared.archive_member,
            "size_bytes": received.size_bytes,
            "sha256": received.sha256,
        }
    return out


def store_key(org_id: int, sha256: str) -> str:
    """The store id of one organisation's copy of a file (16 hex digits).

    The store is content-addressed per organisation: the same file uploaded by two
    organisations is parsed and stored twice, under two ids, so that nothing about one
    organisation's upload (its ingestion time, the parser version that read it, whether the
    folder already exists, how long storing or deleting takes) can show in the other's.
    """
    return hashlib.sha256(f"casip-org:{org_id}:{sha256}".encode()).hexdigest()[:16]


@dataclass
class Parsed:
    """A file parsed into a private scratch store, ready to be moved into the real one."""

    folder: Path
    info: dict[str, Any]
    cycles: pd.DataFrame


def parse_private(
    prepared: Prepared, scratch: Path, tid: str, metadata: Mapping[str, Any] | None = None
) -> Parsed:
    """Read, normalise and summarise a file into ``scratch`` (a folder of its own).

    Every upload that creates a dataset goes through here, whether or not another
    organisation has the same file: the work, the answer and its timing depend only on the
    file and the uploader. The stored ``test.json`` names ``tid``.

    Raises
    ------
    CasipInputError
        The file cannot be read.
    """
    work = Store(scratch)
    res = work.add_file(prepared.path, format=prepared.format, metadata=metadata)
    if res.status != "ingested" or res.test_id is None:  # a fresh scratch store
        raise RuntimeError(f"scratch ingest of {prepared.path.name}: {res.status}")
    folder = work.tests_dir / f"test_id={res.test_id}"
    info = work.info(res.test_id)
    info["test_id"] = tid
    (folder / "test.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return Parsed(folder, info, work.table(res.test_id, "cycles"))


def ingest(
    s: Session,
    actor: Actor,
    settings: Settings,
    received: Received,
    *,
    name: str | None = None,
    visibility: str = Visibility.PRIVATE,
    benchmark_opt_in: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[TestDataset, bool]:
    """Store a received upload and record its dataset; returns (row, newly_created).

    The temporary files are removed whatever happens. The row is committed here (inside the
    per-test lock); an upload of a file the actor's organisation already has returns that
    organisation's existing row and ``False``. Otherwise the file is always parsed in full
    (:func:`parse_private`) and stored under the organisation's own id (:func:`store_key`):
    what another organisation uploaded is never looked at.
    """
    access.require_create(actor)
    temps: list[Path] = [received.path]
    try:
        prepared = prepare(received, settings, temps)
        tid = store_key(actor.org_id, prepared.sha256)
        store = Store(settings.store_dir)
        with dataset_lock(s, tid):
            existing = (
                s.execute(
                    access.readable(actor, "test")
                    .where(
                        TestDataset.owner_org_id == actor.org_id,
                        TestDataset.sha256 == prepared.sha256,
                    )
                    .order_by(TestDataset.id)
                    .limit(1)
                )
                .scalars()
                .first()
            )
            if existing is not None and existing.store_test_id in store:
                s.commit()
                return existing, False
            scratch = store.root / ".staging" / f"{process_tag()}-upload-{uuid.uuid4().hex}"
            temps.append(scratch)
            try:
                parsed = parse_private(prepared, scratch, tid, metadata)
            except CasipInputError as exc:
                label = prepared.archive_member or received.filename
                raise _input_problem(exc, temps, label, 422) from None
            if tid not in store:  # else: this organisation's earlier copy (row not recorded)
                store.tests_dir.mkdir(parents=True, exist_ok=True)
                os.rename(parsed.folder, store.tests_dir / f"test_id={tid}")
            info, cyc = parsed.info, parsed.cycles
            row = TestDataset(
                owner_org_id=actor.org_id,
                created_by_id=actor.user_id,
                name=name or received.filename[:200],
                store_test_id=tid,
                filename=received.filename,
                format=prepared.format,
                sha256=prepared.sha256,
                size_bytes=prepared.size_bytes,
                rows=int(info["rows"]),
                cycles=len(cyc),
                cycle_life=cycle_life(cyc),
                details=_details(info, received, prepared),
                visibility=visibility,
                benchmark_opt_in=benchmark_opt_in,
            )
            s.add(row)
            s.flush()
            s.commit()
            return row, True
    finally:
        for p in temps:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def delete(s: Session, actor: Actor, settings: Settings, dataset_id: int) -> None:
    """Delete a dataset row; its stored test too when no other row references it.

    The folder is first moved into the store's ``.staging`` area, the deletion committed, and
    only then the folder removed (moved back if the commit fails), all inside the per-test
    lock: a new upload of the same file cannot slip in between.
    """
    row = access.get_for_write(s, actor, "test", dataset_id)
    tid = row.store_test_id
    store = Store(settings.store_dir)
    trash: Path | None = None
    with dataset_lock(s, tid):
        s.delete(row)
        s.flush()
        # integrity, not access: does any row (of any organisation) still use the folder?
        others = s.execute(
            sa.select(sa.func.count())
            .select_from(TestDataset)
            .where(TestDataset.store_test_id == tid)
        ).scalar_one()
        folder = store.tests_dir / f"test_id={tid}"
        if others == 0 and folder.is_dir():
            name = f"{process_tag()}-deleted-{tid}-{uuid.uuid4().hex[:8]}"
            trash = store.root / ".staging" / name
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder, trash)
        try:
            s.commit()
        except BaseException:
            if trash is not None:
                os.rename(trash, folder)
            raise
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def flags_of(details: dict[str, Any] | None) -> list[dict[str, str]]:
    """The flags stored with a dataset (``details["flags"]``): ``[{kind, reason}]``.

    Flags are the ingestion's unusual but real findings (e.g. a failed capacity check,
    :func:`casip.data.store.flags`); a flagged dataset is shown with its reasons and left out
    of the benchmark unless included explicitly. Rows recorded before flags were kept have none.
    """
    out = []
    for f in (details or {}).get("flags") or []:
        if isinstance(f, dict) and f.get("reason"):
            out.append({"kind": str(f.get("kind") or "flag"), "reason": str(f["reason"])})
    return out


def summary(row: TestDataset) -> dict[str, Any]:
    """The dataset as listed (no metadata or warnings; its flags with their reasons)."""
    flags = flags_of(row.details)
    return {
        "id": row.id,
        "name": row.name,
        "filename": row.filename,
        "format": row.format,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "rows": row.rows,
        "cycles": row.cycles,
        "cycle_life": row.cycle_life,
        "owner_org_id": row.owner_org_id,
        "visibility": row.visibility,
        "benchmark_opt_in": row.benchmark_opt_in,
        "design_id": row.design_id,
        "created_at": row.created_at.isoformat() + "Z" if row.created_at else None,
        "flagged": bool(flags),
        "flags": flags,
    }


def full(row: TestDataset) -> dict[str, Any]:
    """The dataset with its metadata, warnings and provenance."""
    return {**summary(row), "details": row.details}


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON records: NaN and missing values become ``None``, numpy scalars Python."""
    out = df.astype(object).where(df.notna(), None)
    rows = out.to_dict(orient="records")
    for r in rows:
        for k, v in r.items():
            if isinstance(v, np.generic):
                r[k] = v.item()
            if isinstance(r[k], float) and not np.isfinite(r[k]):
                r[k] = None
    return rows
