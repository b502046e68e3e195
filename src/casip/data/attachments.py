"""Designs attached to tests of a local store (``casip data attach`` / ``detach``).

The attachments of a stored test are kept in its ``test.json`` under ``"designs"``: a list of
``{"name", "file", "reference", "note", "attached_at"}`` (``file``: the absolute path of a
design file, ``reference``: a reference cell id, else both ``None`` for a design known by name
only). The name identifies an attachment: a test is attached at most once to a design name.
``test.json`` is rewritten atomically (a temporary file renamed over it) under a lock, so two
commands at once never lose an attachment. The test's data files are never touched.

The consortium server keeps its attachments in its database instead
(:mod:`casip.platform.design_tests`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from casip.data.store import Store
from casip.errors import CasipInputError, Problem

#: longest note [characters] (as on the platform)
MAX_NOTE_CHARS = 500


def _test_json(store: Store, test_id: str) -> tuple[str, Path]:
    info = store.info(test_id)  # resolves a unique prefix; names the id when unknown
    tid = info["test_id"]
    return tid, store.tests_dir / f"test_id={tid}" / "test.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict]:
    """The document of ``path``, written back (atomically) when the block ends normally."""
    lock = path.with_name(".test.json.lock")
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            yield doc
            tmp = path.with_name(f".test.json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_note(note: str | None) -> str | None:
    """The note stripped (``None`` when empty); one line of at most :data:`MAX_NOTE_CHARS`."""
    if note is None or not note.strip():
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS or any(ord(c) < 32 and c != "\t" for c in note):
        raise CasipInputError(
            Problem("--note", f"{len(note)} characters" if len(note) > MAX_NOTE_CHARS
                    else "contains line breaks or control characters", note,
                    f"one line of at most {MAX_NOTE_CHARS} characters")
        )
    return note


def design_entry(name: str, file: str | None = None, reference: str | None = None,
                 note: str | None = None) -> dict[str, Any]:
    """One attachment as stored in ``test.json``."""
    return {
        "name": name,
        "file": file,
        "reference": reference,
        "note": check_note(note),
        "attached_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }


def designs(store: Store, test_id: str) -> list[dict[str, Any]]:
    """The designs attached to a stored test (``[]`` when none)."""
    return list(store.info(test_id).get("designs") or [])


def attach(store: Store, test_id: str, entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Attach a design (:func:`design_entry`) to a stored test.

    Returns
    -------
    (str, dict)
        The test's full id and the entry stored.

    Raises
    ------
    CasipInputError
        The test is unknown, or a design of that name is attached already (``--design``).
    """
    tid, path = _test_json(store, test_id)
    with _locked(path) as doc:
        current = list(doc.get("designs") or [])
        if any(d.get("name") == entry["name"] for d in current):
            raise CasipInputError(
                Problem("--design", "already attached to this test", entry["name"],
                        f"a design not yet attached (casip data detach {tid[:8]} --design "
                        f"'{entry['name']}' first to change it)"),
                source=f"test {tid}",
            )
        doc["designs"] = [*current, entry]
    return tid, entry


def detach(store: Store, test_id: str, name: str) -> tuple[str, dict[str, Any]]:
    """Remove the design named ``name`` from a stored test's attachments.

    Returns the test's full id and the entry removed; :class:`CasipInputError` naming
    ``--design`` when no design of that name is attached."""
    tid, path = _test_json(store, test_id)
    with _locked(path) as doc:
        current = list(doc.get("designs") or [])
        gone = [d for d in current if d.get("name") == name]
        if not gone:
            names = ", ".join(repr(d.get("name")) for d in current) or "none"
            raise CasipInputError(
                Problem("--design", "not attached to this test", name,
                        f"one of the attached designs: {names}"),
                source=f"test {tid}",
            )
        doc["designs"] = [d for d in current if d.get("name") != name]
    return tid, gone[0]
