"""PEC CSV on the table engine (issue 13: a format is data, vendor differences are hooks).

The module is a :class:`~casip.data.readers.tabular.TableFormat` read by the one streaming
engine; these tests cover what its hooks decide for the whole file while the engine streams
(the resistance column, by a first pass; the current sign, on the rows read so far, with the
file read whole when a later batch changes it). Files are written by the tests from the
synthetic PEC variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casip.data import Store, read, synthetic
from casip.data.ingest import ingest_stream
from casip.data.readers import adapters, pec_csv
from casip.data.readers._base import StreamFallback
from casip.data.readers.tabular import TableFormat


def _pec(path: Path, edit=None, extra: dict[str, list[str]] | None = None) -> Path:
    """A synthetic PEC export; ``edit(row)`` changes data rows, ``extra`` adds columns."""
    profile = synthetic.make_profile(n_cycles=2, capacity_ah=0.2, c_rate=1.0, sample_s=10,
                                     seed=3)
    synthetic.write("pec-csv", profile, path, **synthetic.VARIANTS["pec-csv"].defaults())
    lines = path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Test,Cell"))
    header = lines[k].split(",")
    for name in extra or {}:
        lines[k] += f",{name}"
    for i, line in enumerate(lines[k + 1 :]):
        row = dict(zip(header, line.split(","), strict=True))
        if edit:
            edit(row)
        lines[k + 1 + i] = ",".join([row[h] for h in header]
                                    + [v[i] for v in (extra or {}).values()])
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(path: Path) -> int:
    lines = path.read_text().splitlines()
    return len(lines) - 1 - next(i for i, ln in enumerate(lines) if ln.startswith("Test,Cell"))


def _streamed(path: Path, folder: Path, **kw) -> pd.DataFrame:
    folder.mkdir()
    ingest_stream(path, folder, batch_rows=50, **kw)
    return pd.read_parquet(folder / "timeseries.parquet")


def test_pec_is_a_table_spec_listed_as_its_module() -> None:
    assert isinstance(pec_csv.SPEC, TableFormat) and pec_csv.SPEC.format == pec_csv.FORMAT
    assert adapters()[pec_csv.FORMAT] is pec_csv
    assert not hasattr(pec_csv, "SPEC_ADAPTERS")


def test_resistance_measured_late_is_kept_when_streamed(tmp_path: Path) -> None:
    """``Internal Resistance 1`` holds zeros (not measured) until the last rows, and ``DC
    Internal Resistance`` is empty: the first pass picks the column that has values, so the
    small batches that hold only zeros have the column too (missing values), and the file
    streams without being read whole."""
    path = tmp_path / "pec_ir.csv"
    n = _rows(_pec(path))
    ir1 = ["0"] * (n - 5) + ["12.5"] * 5
    _pec(path, extra={"DC Internal Resistance (mOhm)": [""] * n,
                      "Internal Resistance 1 (mOhm)": ir1})
    whole = read(path).data["internal_resistance_ohm"].to_numpy()
    assert np.isnan(whole[: n - 5]).all() and np.allclose(whole[n - 5 :], 0.0125)
    ts = _streamed(path, tmp_path / "s", streaming_only=True)
    np.testing.assert_array_equal(ts["internal_resistance_ohm"].to_numpy(), whole)


def test_never_measured_resistance_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "pec_ir0.csv"
    n = _rows(_pec(path))
    _pec(path, extra={"Internal Resistance 1 (mOhm)": ["0"] * n})
    assert "internal_resistance_ohm" not in read(path).data


def test_inverted_current_streams_as_read_whole(tmp_path: Path) -> None:
    """Discharge written positive: flipped, with a warning, the same streamed as whole."""

    def flip(row: dict[str, str]) -> None:
        row["Current (mA)"] = str(-float(row["Current (mA)"]))

    path = _pec(tmp_path / "pec_inverted.csv", edit=flip)
    base = _pec(tmp_path / "pec.csv")
    test = read(path)
    assert any("sign was inverted" in w for w in test.warnings)
    np.testing.assert_allclose(test.data["current_ampere"], read(base).data["current_ampere"])
    # the first batches (rest, charge) say nothing against the file's sign; the discharge
    # does: the stream stops and the store reads the file whole
    with pytest.raises(StreamFallback):
        _streamed(path, tmp_path / "s")
    store = Store(tmp_path / "store")
    res = store.add_file(path, batch_rows=50)
    assert res.status == "ingested", res.error
    ts = pd.read_parquet(store._test_dir(res.test_id) / "timeseries.parquet")
    np.testing.assert_allclose(ts["current_ampere"], test.data["current_ampere"])


def test_wall_clock_that_steps_back_is_kept_as_written(tmp_path: Path) -> None:
    """A daylight-saving change sets the tester's clock back an hour mid-test: the rows are
    read (the engine's date-order guess would refuse the column), the times as written."""
    base = read(_pec(tmp_path / "pec.csv")).data["unix_time_second"].to_numpy()
    n = len(base)

    def back(row: dict[str, str], seen=[0]) -> None:  # noqa: B006 (a row counter)
        if seen[0] >= n // 2:
            t = pd.Timestamp(row["Real Time"]) - pd.Timedelta(hours=1)
            row["Real Time"] = t.strftime("%m/%d/%Y %H:%M:%S")
        seen[0] += 1

    test = read(_pec(tmp_path / "pec_dst.csv", edit=back))
    unix = test.data["unix_time_second"].to_numpy()
    np.testing.assert_array_equal(unix[: n // 2], base[: n // 2])
    np.testing.assert_array_equal(unix[n // 2 :], base[n // 2 :] - 3600)
    assert any("carry no time zone" in w for w in test.warnings)
