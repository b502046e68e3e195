"""Streaming ingestion stores exactly what the whole-file path stores, with bounded memory.

Every shared cycler file is ingested twice: whole (``read`` then ``Store.add``) and batch by
batch (``ingest_stream``) with tiny batches, so that batch boundaries fall inside steps and
cycles; the stored time series, cycle and step tables and the test record must agree (exact for
integers and strings, within 1e-12 relative for floats).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from casip.data import Store, read
from casip.data import ingest as ingest_mod
from casip.data.readers import adapters
from casip.data.readers._base import StreamFallback
from casip.errors import CasipInputError

TABLES = ("timeseries", "cycles", "steps")


def _files(shared: Path) -> list[Path]:
    with (shared / "cycler" / "MANIFEST.csv").open(encoding="utf-8") as fh:
        return [shared / "cycler" / row["file"] for row in csv.DictReader(fh)]


def _whole(path: Path, folder: Path) -> Path | None:
    try:
        test = read(path)
    except CasipInputError:
        return None
    store = Store(folder)
    tid, _ = store.add(test)
    return store._test_dir(tid)


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    assert len(a) == len(b), what
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        assert x.dtype == y.dtype, f"{what}.{c}: {x.dtype} != {y.dtype}"
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, equal_nan=True,
                                       err_msg=f"{what}.{c}")
        else:
            # object/nullable columns may hold NA (e.g. an unchecked capacity check)
            pd.testing.assert_series_equal(a[c], b[c], check_names=False, obj=f"{what}.{c}")


def assert_same_test(whole: Path, streamed: Path, facts: dict, name: str) -> None:
    for t in TABLES:
        a = pq.read_table(whole / f"{t}.parquet").to_pandas()
        b = pq.read_table(streamed / f"{t}.parquet").to_pandas()
        assert_same_table(a, b, f"{name}:{t}")
    doc = json.loads((whole / "test.json").read_text(encoding="utf-8"))
    assert facts["rows"] == doc["rows"], name
    assert facts["warnings"] == doc["warnings"], name
    assert facts["reported_counters"] == doc["reported_counters"], name
    assert facts["metadata"].model_dump(mode="json") == doc["metadata"], name


@pytest.mark.parametrize("batch_rows", [1000, 7919])
def test_streaming_equals_whole_file_on_every_shared_file(
    shared_data: Path, tmp_path: Path, batch_rows: int
) -> None:
    streamed_formats = set()
    for k, path in enumerate(_files(shared_data)):
        whole = _whole(path, tmp_path / f"whole{k}")
        if whole is None:
            continue
        out = tmp_path / f"stream{k}"
        out.mkdir()
        # every file streams, maccor_001.txt too (cycles derived from the steps while streaming)
        facts = ingest_mod.ingest_stream(path, out, batch_rows=batch_rows)
        assert not (out / "_first_pass.arrows").exists()
        assert_same_test(whole, out, facts, path.name)
        mod = adapters()[facts["provenance"].format]
        if hasattr(mod, "iter_batches"):
            streamed_formats.add(mod.FORMAT)
    # the text formats stream (the binary ones are read whole, one batch)
    assert {
        "bdf-csv",
        "neware-csv",
        "maccor-txt",
        "maccor-raw",
        "arbin-csv",
        "bitrode-csv",
        "pec-csv",
        "landt-csv",
        "novonix-csv",
        "batterydata-csv",
        "biologic-mpr",
        "arbin-res",
    } <= streamed_formats


def test_store_ingest_uses_the_streaming_path(shared_data: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    path = shared_data / "cycler" / "neware_uio.csv"
    calls = []
    real = ingest_mod.ingest_stream

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr("casip.data.store.ingest_stream", spy)
    monkeypatch.setattr("casip.data.store.read", _no_whole_read)
    store = Store(tmp_path / "s")
    (res,) = store.ingest([path], batch_rows=5000)
    assert res.status == "ingested" and calls
    whole = _whole(path, tmp_path / "w")
    assert_same_test(whole, store._test_dir(res.test_id),
                     {"rows": res.rows, "warnings": list(res.warnings),
                      "reported_counters": store.info(res.test_id)["reported_counters"],
                      "metadata": _model(store.info(res.test_id)["metadata"])}, path.name)
    assert not any((tmp_path / "s" / ".staging").iterdir())


def _no_whole_read(*args, **kwargs):
    raise AssertionError("the whole-file path was used")


def _model(md: dict):
    from casip.data.schema import TestMetadata

    return TestMetadata.model_validate(md)


def test_fallback_to_the_whole_file_path(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    """A file the stream cannot handle is read whole; the result is the same."""
    path = shared_data / "cycler" / "neware_uio.csv"

    def refuse(*args, **kwargs):
        raise StreamFallback("test")

    monkeypatch.setattr("casip.data.store.ingest_stream", refuse)
    store = Store(tmp_path / "s")
    (res,) = store.ingest([path])
    assert res.status == "ingested"
    whole = _whole(path, tmp_path / "w")
    for t in TABLES:
        assert_same_table(
            pq.read_table(whole / f"{t}.parquet").to_pandas(), store.table(res.test_id, t), t
        )


def test_bad_file_gets_the_whole_file_error(shared_data: Path, tmp_path: Path) -> None:
    src = (shared_data / "cycler" / "neware_uio.csv").read_bytes()
    bad = tmp_path / "cut.csv"
    bad.write_bytes(src[: len(src) // 2] + b"\x00garbage,,\n" + src[len(src) // 2 :])
    with pytest.raises(CasipInputError) as whole_error:
        read(bad)
    (res,) = Store(tmp_path / "s").ingest([bad])
    assert res.status == "failed" and res.error == str(whole_error.value)
    assert not (tmp_path / "s" / "tests").exists() or not any((tmp_path / "s" / "tests").iterdir())


def test_synthetic_resets_shifts_and_time_warnings(tmp_path: Path) -> None:
    """A BDF CSV with counters that reset per step (small early drops that the whole-file
    scale ignores), cycles from 0, a step spanning many batches and time going backwards."""
    rng = np.random.default_rng(1)
    n = 20000
    t = np.arange(n, dtype=float)
    t[12345] = t[12344] - 5  # backwards once
    step = np.repeat(np.arange(n // 500), 500)
    step[:3000] = 0  # one long first step across several batches
    cur = np.where(step % 2 == 0, 1.0, -1.0) * (1 + 0.001 * rng.standard_normal(n))
    cur[step % 3 == 2] = 0.0
    q = np.zeros(n)
    for s in np.unique(step):  # per-step counter (test data only, not the code under test)
        m = step == s
        q[m] = np.cumsum(np.clip(cur[m], 0, None)) / 3600
    q[100:105] = q[99] - 5e-5  # a reset at the scale seen so far, noise at the file's scale
    cyc = step // 4  # from 0
    df = pd.DataFrame({
        "test_time_second": t,
        "voltage_volt": 3.5 + 0.1 * np.sin(t / 300),
        "current_ampere": cur,
        "cycle_count": cyc,
        "step_index": step % 4,
        "charging_capacity_ah": q,
        "internal_resistance_ohm": np.where(rng.random(n) < 0.5, 0.01 + 0.001 * rng.random(n),
                                            0.0),
    })
    path = tmp_path / "synthetic.bdf.csv"
    df.to_csv(path, index=False)
    whole = _whole(path, tmp_path / "whole")
    doc = json.loads((whole / "test.json").read_text())
    assert any("resets" in w for w in doc["warnings"])
    assert any("backwards" in w for w in doc["warnings"])
    assert any("numbered from 0" in w for w in doc["warnings"])
    for batch_rows in (333, 1000, 4096):
        out = tmp_path / f"s{batch_rows}"
        out.mkdir()
        facts = ingest_mod.ingest_stream(path, out, batch_rows=batch_rows)
        assert_same_test(whole, out, facts, f"synthetic/{batch_rows}")


def test_neware_sign_decision_from_merged_counts_equals_the_median_rule() -> None:
    """The streaming Neware reader decides the sign convention from counts that merge across
    batches; on random data it must decide as the whole-file median rule does."""
    from casip.data.readers import neware_csv as nw

    rng = np.random.default_rng(7)
    for _ in range(3000):
        n = int(rng.integers(1, 12))
        cur = rng.choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], n) * rng.choice([1, 1, 1.5], n)
        dis = rng.random(n) < 0.5
        chg = ~dis & (rng.random(n) < 0.8)
        out, _ = nw.current_sign_check(cur, dis, chg)
        expected = ("invert" if np.array_equal(out, -cur) and not np.array_equal(out, cur)
                    else "magnitude" if not np.array_equal(out, cur) else "keep")
        nz = np.abs(cur) > 0
        parts = np.array_split(np.arange(n), 3)
        stats = [None, None]
        for idx in parts:
            for k, rows in enumerate((dis, chg)):
                part = nw._sign_stats(cur[idx][(rows & nz)[idx]])
                stats[k] = nw._merge_sign_stats(stats[k], part)
        got = nw.sign_decision(*stats)
        if expected == "invert" and got == "magnitude":
            continue  # the same output where every charge current is zero
        assert got == expected, (cur, dis, chg)


def test_digest_taken_again_once_the_file_changed(tmp_path: Path) -> None:
    """The store's digest may be reused by the reader's safeguard, never for a changed file."""
    import os

    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    first = ingest_mod.file_digest(f)
    assert ingest_mod.file_digest(f, fresh=False) == first
    st = f.stat()
    f.write_bytes(b"a,b\n1,3\n")  # same size; the modification time put back
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = ingest_mod.file_digest(f, fresh=False)
    assert changed[0] == first[0] and changed[1] != first[1]
