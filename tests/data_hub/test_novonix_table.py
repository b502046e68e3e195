"""Novonix HPC data files on the table engine (issue 13: a format is data).

``novonix-csv`` is a :class:`~casip.data.readers.tabular.TableFormat` (``NOVONIX``) with hooks;
these tests cover what the module keeps on top of the engine (a data header below a protocol
longer than the engine's 200-line search, whole-row quotes, the sign decided while streaming)
and what the spec adds (a unit other than Novonix's refused, naming the column). Files are
written by the tests, from the synthetic Novonix writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import casip.data
from casip.data import ingest as ingest_mod
from casip.data import synthetic
from casip.data.readers import adapters, novonix_csv
from casip.data.readers._base import HEAD_BYTES, StreamFallback
from casip.data.readers.tabular import TableFormat
from casip.errors import CasipInputError


def _file(tmp_path: Path, name: str = "cell.csv", **options) -> Path:
    path = tmp_path / name
    return synthetic.write("novonix-csv", synthetic.make_profile(), path, **options)


def test_novonix_is_a_table_spec_listed_as_its_module() -> None:
    assert isinstance(novonix_csv.NOVONIX, TableFormat)
    assert novonix_csv.NOVONIX.format == novonix_csv.FORMAT
    assert adapters()[novonix_csv.FORMAT] is novonix_csv
    assert not hasattr(novonix_csv, "SPEC_ADAPTERS")


@pytest.mark.parametrize("quoted", [False, True])
def test_data_header_below_a_long_protocol(tmp_path: Path, quoted: bool) -> None:
    """The engine looks for a header in the first 200 lines; a Novonix protocol can be longer."""
    short = _file(tmp_path, quoted=quoted)
    text = short.read_text(encoding="utf-8")
    steps = "".join(f"[{k % 7}: Constant_current_charge: 5 C/xx to 4.2 V]\n"
                    "   [Save data when dt > 1 seconds or when dV > 0.005 V]\n"
                    for k in range(1500))
    long = tmp_path / "long.csv"
    long.write_text(text.replace("[End Protocol]", steps + "[End Protocol]"), encoding="utf-8")
    head = long.read_bytes()[:HEAD_BYTES]
    assert b"[Data]" not in head  # the header is far past the head and line 200
    assert novonix_csv.sniff(head, long.name) == pytest.approx(0.95)
    ref = casip.data.read(short)
    test = casip.data.read(long)
    assert test.provenance.format == "novonix-csv"
    for col in ("voltage_volt", "current_ampere", "charging_capacity_ah",
                "discharging_capacity_ah", "unix_time_second"):
        np.testing.assert_array_equal(test.data[col], ref.data[col])
    assert test.metadata.extra["protocol"].count("Constant_current_charge") == 1500
    streamed = list(novonix_csv.iter_batches(long, 50))
    assert sum(len(b.data) for b in streamed) == len(ref.data)


def test_a_unit_other_than_novonix_is_refused_naming_the_column(tmp_path: Path) -> None:
    path = _file(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("Current (A)", "Current (mA)"),
                    encoding="utf-8")
    with pytest.raises(CasipInputError) as err:
        novonix_csv.read(path)
    message = str(err.value)
    assert "Current (mA)" in message and "unknown unit" in message and str(path) in message


def test_sign_decided_while_streaming_falls_back_when_contradicted(tmp_path: Path) -> None:
    """Magnitudes in the first discharge, a negative current later: the file is signed, so
    every current is kept as written; the stream, which took "magnitudes" from its first
    batches, hands over to the whole-file path (:class:`StreamFallback`)."""
    path = _file(tmp_path, sign="signed", quoted=False)
    lines = path.read_text(encoding="utf-8").split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Date and Time")) + 1
    rows = [ln.split(",") for ln in lines[start:] if ln]
    negative = [k for k, r in enumerate(rows) if float(r[5]) < 0]
    half = negative[len(negative) // 2]
    for r in rows[:half]:  # the first half of the discharges written as magnitudes
        r[5] = r[5].lstrip("-")
    path.write_text("\n".join(lines[:start] + [",".join(r) for r in rows]) + "\n",
                    encoding="utf-8")
    whole = novonix_csv.read(path)
    assert whole.metadata["extra"]["current_sign_in_file"].startswith("signed")
    np.testing.assert_array_equal(whole.data["current_ampere"],
                                  [float(r[5]) for r in rows])
    with pytest.raises(StreamFallback):
        list(novonix_csv.iter_batches(path, 20))
    out = tmp_path / "stream"
    out.mkdir()
    with pytest.raises(StreamFallback):  # the store then ingests the file whole
        ingest_mod.ingest_stream(path, out, batch_rows=20)
