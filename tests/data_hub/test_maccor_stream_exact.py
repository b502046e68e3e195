"""The Maccor text reader's streaming shortcuts give exactly the whole-file result.

The streaming reader (``maccor_txt.iter_export``) reads its chunks into one reused buffer,
stops parsing a wall-clock date layout once it can no longer be picked, and skips the test
time in its first pass once the layout no longer depends on it. These tests build files from
the shared ``maccor_001.txt`` where those shortcuts matter, and check the streamed records,
warnings and metadata against the whole-file read (``read_export``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from casip.data.readers import maccor_txt
from casip.data.readers._base import line_chunks

CLOCK = re.compile(rb"\t(\d\d)/(\d\d)/(\d{4}) ")


def _streamed(path: Path, batch_rows: int) -> tuple[pd.DataFrame, list[str], dict]:
    parts = list(maccor_txt.iter_export(path, batch_rows))
    frames = [p.data for p in parts if len(p.data.columns)]
    return pd.concat(frames, ignore_index=True), parts[-1].warnings, parts[-1].metadata


def _assert_stream_is_whole(path: Path, batch_rows: int) -> pd.DataFrame:
    whole = maccor_txt.read_export(path)
    data, warnings, meta = _streamed(path, batch_rows)
    pd.testing.assert_frame_equal(data, whole.data, check_exact=True)
    assert warnings == whole.warnings
    assert meta == whole.metadata
    return whole.data


def _with_records(src: Path, dst: Path, edit) -> Path:
    """``src`` with ``edit(index, line)`` applied to every record line."""
    raw = src.read_bytes()
    with src.open("rb") as fh:
        layout = maccor_txt.probe(fh.read(65536))
    assert layout is not None
    lines = raw[layout.data_offset :].split(b"\n")
    dst.write_bytes(
        raw[: layout.data_offset] + b"\n".join(edit(k, ln) for k, ln in enumerate(lines))
    )
    return dst


@pytest.mark.parametrize("size", [16, 100, 4096])
def test_line_blocks_cut_like_line_chunks(tmp_path: Path, size: int) -> None:
    lines = [b"x" * (k * 37 % 300) + b"\tend" for k in range(200)]
    lines[50] = b"y" * 9000  # longer than a block
    data = b"head\n" + b"\r\n".join(lines) + b"\n\n  \n"
    path = tmp_path / "blocks.txt"
    path.write_bytes(data)
    mine = []
    for chunk, end in maccor_txt._line_blocks(path, 5, size):
        chunk = bytes(chunk)
        assert data[end - len(chunk) : end] == chunk  # the offset is where the chunk ends
        mine.append(chunk)
    assert mine == list(line_chunks(path, 5, size))
    path.write_bytes(data.rstrip(b"\n "))  # no line break at the end
    assert [bytes(c) for c, _ in maccor_txt._line_blocks(path, 5, size)] == list(
        line_chunks(path, 5, size)
    )


def test_day_month_clock_is_found_when_streamed(shared_data: Path, tmp_path: Path) -> None:
    """The wall clock written day first: month-first parses the first days too, and is only
    ruled out by the records from the 13th on; the stream must pick day-first as the whole
    read does, although it stops parsing layouts that fail."""
    src = shared_data / "cycler" / "maccor_001.txt"
    path = _with_records(
        src, tmp_path / "dm.txt", lambda k, ln: CLOCK.sub(rb"\t\2/\1/\3 ", ln, count=1)
    )
    data = _assert_stream_is_whole(path, 500)
    start = pd.Timestamp(data["unix_time_second"].iloc[0], unit="s")
    assert start == pd.Timestamp("2020-12-11 12:22:12")


def test_clock_failing_on_the_first_records_is_kept(shared_data: Path, tmp_path: Path) -> None:
    """Every layout fails on the first 20 records (under 1% of the file): no layout may be
    ruled out on the first batches, where 20 failures are most of the records read."""
    src = shared_data / "cycler" / "maccor_001.txt"

    def broken(k: int, line: bytes) -> bytes:
        return CLOCK.sub(b"\tnot a date ", line, count=1) if 0 < k <= 20 else line

    path = _with_records(src, tmp_path / "early.txt", broken)
    data = _assert_stream_is_whole(path, 30)
    assert data["unix_time_second"].isna().sum() == 20
    assert "the wall clock of 20 records could not be read" in maccor_txt.read_export(path).warnings
