"""Binary formats: every layout variant read alike, every cut file refused (issue 13).

BioLogic ``.mpr``: the two shared files (data module versions 2 and 3, the older module
header) are rewritten, as copies in ``tmp_path``, into the other documented layouts: data
module versions 0 (before EC-Lab 11.50, one-byte column ids, records at byte 100), 0 as EC-Lab
11.50+ writes it (two bytes per column id, records after a padded header), 2 and 3, each with
the older and with the EC-Lab 11.50+ module header. Each must read to the same data.

Cut files: copies of the shared ``.mpr``, ``.res``, ``.nda``, ``.ndax`` and Maccor data files
cut at several points are refused with :func:`casip.data.readers._base.truncated_error`'s
message, by whole-file reading and by the streaming ingest.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casip.data.ingest import ingest_stream, read
from casip.data.readers.biologic_mpr import _record_dtype
from casip.errors import CasipInputError

MPR_FILES = ["biol.mpr", "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"]

#: Column ids of EC-Lab 11.x (two-byte lists) and the one-byte ids older files use for the same
#: quantity (Q charge/discharge, half cycle, z cycle).
_OLD_IDS = {467: 211, 468: 212, 469: 213}


# --------------------------------------------------------------------------- .mpr layouts
def _split(data: bytes) -> tuple[bytes, list[dict]]:
    """File header and modules of an .mpr written with the older module header."""
    pos, mods = 52, []
    while pos < len(data):
        assert data[pos : pos + 6] == b"MODULE"
        h = pos + 6
        length, version = struct.unpack_from("<II", data, h + 35)
        body = data[h + 51 : h + 51 + length]
        mods.append({"names": data[h : h + 35], "version": version, "date": data[h + 43 : h + 51],
                     "body": body})  # fmt: skip
        pos = h + 51 + length
    return data[:52], mods


def _join(head: bytes, mods: list[dict], new_header: bool) -> bytes:
    """An .mpr from modules, with the older or the EC-Lab 11.50+ module header."""
    out = [head]
    for m in mods:
        n = len(m["body"])
        if new_header:  # max length (all ones), length, version, an extra word, date
            fields = struct.pack("<IIII", 0xFFFFFFFF, n, m["version"], 10)
        else:
            fields = struct.pack("<II", n, m["version"])
        out += [b"MODULE", m["names"], fields, m["date"], m["body"]]
    return b"".join(out)


def _records(body: bytes, version: int) -> tuple[int, list[int], np.ndarray]:
    """Point count, column ids and records of a version 2 or 3 data module."""
    n_points, n_cols = struct.unpack_from("<IB", body)
    ids = list(struct.unpack_from(f"<{n_cols}H", body, 5))
    dtype, _ = _record_dtype(ids, None)
    offset = {2: 405, 3: 406}[version]
    assert len(body) - offset == n_points * dtype.itemsize
    return n_points, ids, np.frombuffer(body, dtype=dtype, offset=offset)


def _one_byte_ids(ids: list[int], rec: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Ids below 256 (older ids where EC-Lab changed them); other columns (impedance of the
    counter electrode, <Ece>, none of them read) are left out, with their record fields."""
    keep = [c for c in ids if c < 256 or c in _OLD_IDS]
    new_ids = [_OLD_IDS.get(c, c) for c in keep]
    dtype, _ = _record_dtype(new_ids, None)
    out = np.zeros(len(rec), dtype=dtype)
    for name in dtype.names:
        if name == "flags":
            out[name] = rec["flags"]
        else:
            cid = int(name[1:])
            src = next((k for k, v in _OLD_IDS.items() if v == cid and f"c{k}" in rec.dtype.names),
                       cid)  # fmt: skip
            out[name] = rec[f"c{src}"]
    return new_ids, out


def _data_body(layout: str, n_points: int, ids: list[int], rec: np.ndarray) -> bytes:
    """A data module body in ``layout``: "0", "0-wide" (EC-Lab 11.50+), "2" or "3"."""
    head = struct.pack("<IB", n_points, len(ids))
    if layout == "0":
        table, start = bytes(ids), 100
    elif layout == "0-wide":
        table, start = b"".join(b"\x00" + bytes([c]) for c in ids), 1007
    else:
        table, start = struct.pack(f"<{len(ids)}H", *ids), 405
    body = bytearray(head + table)
    body += b"\x00" * (start - len(body))
    if layout in ("3", "0-wide"):
        body += b"\x01"  # version 3's extra byte before the records (also accepted in 0-wide)
    return bytes(body) + rec.tobytes()


def _variant(src: Path, layout: str, new_header: bool) -> bytes:
    head, mods = _split(src.read_bytes())
    data = next(m for m in mods if m["names"].startswith(b"VMP data"))
    n_points, ids, rec = _records(data["body"], data["version"])
    if layout.startswith("0"):
        ids, rec = _one_byte_ids(ids, rec)
    data["body"] = _data_body(layout, n_points, ids, rec)
    data["version"] = int(layout[0])
    return _join(head, mods, new_header)


@pytest.mark.parametrize("new_header", [False, True], ids=["header-old", "header-11.50"])
@pytest.mark.parametrize("layout", ["0", "0-wide", "2", "3"])
@pytest.mark.parametrize("name", MPR_FILES)
def test_every_mpr_layout_reads_the_same_data(
    name: str, layout: str, new_header: bool, shared_data: Path, tmp_path: Path
) -> None:
    src = shared_data / "cycler" / name
    copy = tmp_path / f"v{layout}_{name}"
    copy.write_bytes(_variant(src, layout, new_header))
    got, want = read(copy), read(src)
    pd.testing.assert_frame_equal(got.data, want.data)
    assert got.metadata.start_time == want.metadata.start_time
    version = int(layout[0])
    assert got.metadata.extra["ec_lab_data_module"].startswith(f"version {version}")
    if layout == "0-wide":
        assert "11.50" in got.metadata.extra["ec_lab_data_module"]


def test_a_misaligned_wide_version_0_module_is_refused(shared_data: Path, tmp_path: Path) -> None:
    """Records that do not end the module exactly (a column of the wrong width) are refused."""
    src = shared_data / "cycler" / MPR_FILES[1]
    head, mods = _split(_variant(src, "0-wide", new_header=False))
    data = next(m for m in mods if m["names"].startswith(b"VMP data"))
    data["body"] = data["body"][:1007] + b"\x07" * 3 + data["body"][1007:]  # 3 stray bytes
    copy = tmp_path / "misaligned.mpr"
    copy.write_bytes(_join(head, mods, new_header=False))
    with pytest.raises(CasipInputError, match="do not match their column list"):
        read(copy)


# --------------------------------------------------------------------------- cut files
def _cut_points(src: Path) -> list[int]:
    """Half, nine tenths, and one byte short of the whole file."""
    size = src.stat().st_size
    return [size // 2, size * 9 // 10, size - 1]


def _truncated(cut: Path) -> str:
    return f"the file ends mid-record at byte {cut.stat().st_size}: it looks truncated"


def _assert_refused_as_cut(cut: Path, tmp_path: Path) -> None:
    expected = _truncated(cut)
    with pytest.raises(CasipInputError) as whole:
        read(cut)
    assert expected in str(whole.value) and str(cut) in str(whole.value)
    with pytest.raises(CasipInputError) as streamed:
        ingest_stream(cut, tmp_path / "out", batch_rows=2000)
    assert expected in str(streamed.value)


@pytest.mark.parametrize("name", MPR_FILES)
def test_a_cut_mpr_is_refused_as_truncated(name: str, shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "cycler" / name
    data = src.read_bytes()
    # also one byte short of the data module's last record, before the log module
    _, mods = _split(data)
    end_of_data = 52
    for m in mods:
        end_of_data += 6 + 51 + len(m["body"])
        if m["names"].startswith(b"VMP data"):
            break
    for at in [*_cut_points(src), end_of_data - 1]:
        cut = tmp_path / f"cut{at}_{name}"
        cut.write_bytes(data[:at])
        _assert_refused_as_cut(cut, tmp_path)


_RES_FILES = ["20160805_test001_45_cc_01.res", "aux_one_x_dx.res"]


@pytest.mark.parametrize("name", _RES_FILES)
def test_a_cut_res_is_refused_as_truncated(name: str, shared_data: Path, tmp_path: Path) -> None:
    """Inside a page, and on page boundaries (half the pages, the index pages at the end)."""
    src = shared_data / "cycler" / name
    data = src.read_bytes()
    pages = len(data) // 4096
    on_pages = [pages // 2 * 4096, (pages - 2) * 4096]
    for at in [*_cut_points(src), *on_pages]:
        cut = tmp_path / f"cut{at}_{name}"
        cut.write_bytes(data[:at])
        _assert_refused_as_cut(cut, tmp_path)


def test_a_cut_nda_is_refused_as_truncated(shared_data: Path, tmp_path: Path) -> None:
    """NewareNDA reads a cut .nda up to its last whole record: the cut is found by the reader."""
    src = shared_data / "cycler" / "test.nda"
    data = src.read_bytes()
    first = data.find(b"\x00\x00\x00\x00\x55\x00") + 4  # first record (86 bytes each)
    mid_record = first + 86 * ((len(data) - first) // 172) + 43
    for at in [len(data) * 9 // 10, mid_record, len(data) - 1]:
        cut = tmp_path / f"cut{at}_test.nda"
        cut.write_bytes(data[:at])
        _assert_refused_as_cut(cut, tmp_path)
    # cut inside the header, before any record: refused too (no record to read)
    cut = tmp_path / "header_only.nda"
    cut.write_bytes(data[: first // 2])
    with pytest.raises(CasipInputError, match="no valid data record"):
        read(cut)


def test_a_cut_ndax_is_refused_as_truncated(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "cycler" / "20260302_IFE_BTS85_2_9_8_1.ndax"
    data = src.read_bytes()
    for at in _cut_points(src):
        cut = tmp_path / f"cut{at}.ndax"
        cut.write_bytes(data[:at])
        _assert_refused_as_cut(cut, tmp_path)


def test_a_cut_maccor_data_file_is_refused_as_truncated(shared_data: Path, tmp_path: Path) -> None:
    """Maccor numbered data files are text exports: the text message, naming the line."""
    src = shared_data / "cycler" / "PreDiag_000412_00008Fshort.022"
    data = src.read_bytes()
    body = data.rstrip(b"\r\n")
    last = body.rfind(b"\n") + 1
    mid_last = last + body[last:].index(b"\t", len(body[last:]) // 2)
    for at in [len(data) // 2, len(data) * 9 // 10, mid_last]:
        cut = tmp_path / f"cut{at}_{src.name}"
        cut.write_bytes(data[:at])
        with pytest.raises(CasipInputError) as whole:
            read(cut)
        msg = str(whole.value)
        assert "the file ends mid-record at line" in msg and "it looks truncated" in msg
        with pytest.raises(CasipInputError, match="it looks truncated"):
            ingest_stream(cut, tmp_path / "out", batch_rows=2000)


@pytest.mark.parametrize(
    "name", [*MPR_FILES, *_RES_FILES, "test.nda", "20260302_IFE_BTS85_2_9_8_1.ndax"]
)
def test_the_whole_binary_files_still_read(name: str, shared_data: Path) -> None:
    assert len(read(shared_data / "cycler" / name).data) > 0
