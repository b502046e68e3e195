"""One policy for a file cut mid-record (issue 13): every reader refuses it, with one message.

For every text format in the shared data a copy is cut in the middle of its last data line
(into ``tmp_path``; the shared files are never written). Whole-file reading, the streaming
ingest and the store all refuse it with :func:`casip.data.readers._base.truncated_error`'s
text, naming the file and the line; the uncut file still reads.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from casip.data.ingest import ingest_stream, read
from casip.data.store import Store
from casip.errors import CasipInputError

#: Text formats holding time series (the metadata and summary companions are refused anyway).
TEXT_FORMATS = {
    "arbin-csv", "maccor-txt", "neware-csv", "landt-csv", "bdf-csv", "novonix-csv", "pec-csv",
    "bitrode-csv", "batterydata-csv",
}


def _files(shared: Path) -> list[tuple[str, str]]:
    with (shared / "cycler" / "MANIFEST.csv").open() as fh:
        return [(r["file"], r["format"]) for r in csv.DictReader(fh) if r["format"] in TEXT_FORMATS]


def _shared_files() -> list[str]:
    import os

    env = os.environ.get("CASIP_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    manifest = root / "cycler" / "MANIFEST.csv"
    if not manifest.is_file():
        return ["(shared data absent)"]
    return [name for name, _ in _files(root)]


def _cut(src: Path, dst: Path) -> int:
    """Write ``src`` cut in the middle of its last data line; returns that line's number."""
    data = src.read_bytes().rstrip(b"\r\n")
    start = data.rfind(b"\n") + 1
    last = data[start:]
    # cut before the middle field separator, so that the line has fewer fields than the header
    seps = [i for i, ch in enumerate(last) if ch in b",\t;"]
    at = seps[len(seps) // 2] if seps else len(last) // 2
    dst.write_bytes(data[: start + at])
    return data[:start].count(b"\n") + 1


@pytest.mark.parametrize("name", _shared_files())
def test_a_file_cut_mid_record_is_refused(name: str, shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "cycler" / name
    cut = tmp_path / name
    line = _cut(src, cut)
    expected = (
        f"the file ends mid-record at line {line}: it looks truncated; copy or export it again"
    )
    with pytest.raises(CasipInputError) as whole:
        read(cut)
    assert expected in str(whole.value) and str(cut) in str(whole.value)
    with pytest.raises(CasipInputError) as streamed:
        ingest_stream(cut, tmp_path / "out", batch_rows=2000)
    assert expected in str(streamed.value) and str(cut) in str(streamed.value)
    (res,) = Store(tmp_path / "s").ingest([cut], batch_rows=2000)
    assert res.status == "failed" and expected in res.error and str(cut) in res.error
    assert len(read(src).data) > 0  # the uncut file still reads
