"""A BioLogic .mpr data module of a version the reader does not know is refused as unsupported
(with the version and the supported ones), not as corrupted (issue 13)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from casip.data.ingest import read
from casip.data.readers.biologic_mpr import _DATE
from casip.errors import CasipInputError

FILES = ["biol.mpr", "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"]


def _version_offset(data: bytes) -> int:
    """Byte offset of the data module's version field (see the module header layout)."""
    h = data.index(b"MODULEVMP data") + 6
    # older header: length u4, version u4, date at +43; newer: max length, length, version, ...
    return h + 39 if _DATE.match(data[h + 43 : h + 51]) else h + 43


@pytest.mark.parametrize("name", FILES)
def test_unknown_data_module_version_is_unsupported(
    name: str, shared_data: Path, tmp_path: Path
) -> None:
    data = bytearray((shared_data / "cycler" / name).read_bytes())
    at = _version_offset(bytes(data))
    assert struct.unpack_from("<I", data, at)[0] in (0, 2, 3)
    struct.pack_into("<I", data, at, 7)
    copy = tmp_path / name
    copy.write_bytes(bytes(data))
    with pytest.raises(CasipInputError) as err:
        read(copy)
    msg = str(err.value)
    assert "unsupported version 7 of the data module (supported: 0, 2, 3)" in msg
    assert "corrupted" not in msg and str(copy) in msg


def test_damaged_module_header_is_still_corrupted(shared_data: Path, tmp_path: Path) -> None:
    data = bytearray((shared_data / "cycler" / FILES[0]).read_bytes())
    h = data.index(b"MODULEVMP data") + 6
    data[h + 43 : h + 59] = b"\xff" * 16  # neither header kind's date: version unreadable
    copy = tmp_path / "damaged.mpr"
    copy.write_bytes(bytes(data))
    with pytest.raises(CasipInputError, match="corrupted"):
        read(copy)
