"""Every file in ../shared/data/cycler: detected as the format MANIFEST.csv says, read with
plausible values, stored, and its source left untouched; the three files that are not test
data are refused with a message saying what they are."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from casip.data import Store, detect_format, read
from casip.errors import CasipInputError

#: MANIFEST format -> CASIP format id, where they differ.
SAME_FORMAT = {"neware-ndax": "neware-nda"}

#: Files that are not time series, and what the refusal must say.
NOT_TEST_DATA = {
    "FastCharge_000025_CH8_Metadata.csv": "FastCharge_000025_CH8.csv",
    "p492-13-summary.csv": "p492-13-raw.csv",
    "xTESLADIAG_000003_CH68.000": "procedure",
}


def _manifest(shared: Path) -> list[dict]:
    with (shared / "cycler" / "MANIFEST.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_every_manifest_file_is_detected_and_read(shared_data: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    rows = _manifest(shared_data)
    assert len(rows) >= 20
    for row in rows:
        path = shared_data / "cycler" / row["file"]
        before = _sha(path)
        assert before == row["sha256"], f"{row['file']} differs from MANIFEST"
        if row["file"] in NOT_TEST_DATA:
            with pytest.raises(CasipInputError, match=NOT_TEST_DATA[row["file"]]):
                read(path)
            continue
        expected = SAME_FORMAT.get(row["format"], row["format"])
        assert detect_format(path) == expected, row["file"]
        test = read(path)
        d = test.data
        assert len(d) > 100, row["file"]
        v = d["voltage_volt"].to_numpy()
        assert np.nanmin(v) > -0.5 and np.nanmax(v) < 6.0, row["file"]
        assert test.provenance.source_sha256 == row["sha256"]
        assert d["cycle_count"].min() >= 1
        for c in ("charging_capacity_ah", "discharging_capacity_ah"):
            assert np.all(np.diff(d[c].to_numpy()) >= -1e-9), f"{row['file']}: {c}"
        (res,) = store.ingest([path])
        assert res.status == "ingested", res
        assert _sha(path) == before  # the source is never changed
    listed = store.list()
    assert len(listed) == len(rows) - len(NOT_TEST_DATA)
    totals = store.query("select count(*) as n from timeseries")
    assert int(totals["n"][0]) == int(listed["rows"].sum())
