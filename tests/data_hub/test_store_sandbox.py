"""A store query can read the store and nothing else: no other files, no writes, no extensions."""

from __future__ import annotations

from pathlib import Path

import pytest

from casip.data import Store
from casip.errors import CasipInputError


def test_queries_are_confined_to_the_store(shared_data: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    (res,) = store.ingest([shared_data / "cycler" / "pec.csv"])
    assert res.status == "ingested"
    assert int(store.query("select count(*) as n from timeseries")["n"][0]) == res.rows
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n", encoding="utf-8")
    for sql in (
        f"select * from read_csv('{outside}')",
        f"copy (select 1) to '{tmp_path / 'leak.csv'}'",
        "set enable_external_access = true",
        "install httpfs",
    ):
        with pytest.raises(CasipInputError, match="sql"):
            store.query(sql)
    assert not (tmp_path / "leak.csv").exists()
