"""Maccor data files named by the tester (``.000``, ``.001``, ...) as exported to text.

Maccor names each test's data file after the test, with a number as extension. Exported to text
(as in TRI's beep data sets), such a file has a one-line header, ``Today's Date ... Date of
Test: ... Filename: ... Procedure: ... Comment/Barcode: ...``, then the tab-separated columns
(``Rec#``, ``Cyc#``, ``Step``, ``Test (Sec)``, ``Step (Sec)``, ``Amp-hr``, ``Watt-hr``, ``Amps``,
``Volts``, ``State``, ``DPt Time``...). It is read by the same hand-written parser as the other
Maccor text exports (:mod:`casip.data.readers.maccor_txt`, whose docstring says why no existing
reader is used, and gives the tester's conventions): current is written negative on discharge
in these files, and made ``+|I|`` on ``C`` records and ``-|I|`` on ``D`` records whatever the
export did; ``Amp-hr``/``Watt-hr`` restart at every step and are made cumulative.

Maccor's procedure files share the numbered extension (``.000`` is the usual one): they are XML
test schedules (``<MaccorTestProcedure>``) without measurements. The sniffer recognises them so
that reading one says what it is, instead of "unknown format".

Maccor's native binary data files (before export) are not read: no open reader exists for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from casip.data.readers._base import RawReading
from casip.data.readers.maccor_txt import is_procedure, iter_export, read_export, sniff_export

FORMAT = "maccor-raw"
VENDOR = "Maccor"
DESCRIPTION = "Maccor data file (.NNN) exported to text, one-line header"
EXTENSIONS = tuple(f".{n:03d}" for n in range(10))
LIBRARY = "pyarrow"
PRIVATE_COPY = False

_NUMBERED = re.compile(r"\.\d{3}$")


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is an exported Maccor data file (or a Maccor procedure)."""
    if is_procedure(head):
        return 0.9
    layout = sniff_export(head)
    if layout is None:
        return 0.0
    return 0.95 if layout.style == "raw" else 0.0


def read(path: Path) -> RawReading:
    """Read an exported Maccor data file into BDF columns.

    Raises
    ------
    CasipInputError
        For a Maccor procedure file (no measurements), or a truncated or corrupted export.
    """
    return read_export(Path(path))


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches (the shared Maccor export reader's streaming path)."""
    return iter_export(Path(path), batch_rows)
