"""The plausibility gate: values checked against physics, whatever the header claims.

Synthetic files are written here, in ``tmp_path``, from the real shared Maccor export
``maccor_001.txt`` (its ``Volts`` column rescaled); the shared originals must still read as
they did.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import casip.data
from casip.data.ingest import capacity_units, check_voltage, voltage_scale
from casip.data.store import Store
from casip.errors import CasipInputError

SOURCE = "maccor_001.txt"
HEADER_LINES = 3  # lines before the column header in maccor_001.txt


@pytest.fixture(scope="module")
def original(shared_data: Path) -> Path:
    return shared_data / "cycler" / SOURCE


def _scaled_copy(src: Path, dst: Path, factor: float) -> Path:
    """A copy of a Maccor text export with its ``Volts`` column multiplied by ``factor``."""
    lines = src.read_bytes().split(b"\n")
    header = lines[HEADER_LINES].split(b"\t")
    col = header.index(b"Volts")
    out = lines[: HEADER_LINES + 1]
    for line in lines[HEADER_LINES + 1:]:
        cells = line.split(b"\t")
        if len(cells) > col and cells[col].strip():
            cells[col] = f"{float(cells[col]) * factor:.5f}".encode()
        out.append(b"\t".join(cells))
    dst.write_bytes(b"\n".join(out))
    return dst


def test_original_reads_unchanged(original: Path) -> None:
    test = casip.data.read(original)
    v = test.data["voltage_volt"]
    assert 2.0 < v.median() < 4.5 and v.max() < 5.0
    assert not any("millivolts" in w for w in test.warnings)


def test_millivolt_column_is_converted_with_warning(original: Path, tmp_path: Path) -> None:
    mv = _scaled_copy(original, tmp_path / "maccor_mV.txt", 1000.0)
    ref = casip.data.read(original)
    test = casip.data.read(mv)
    notes = [w for w in test.warnings if "voltage looks like millivolts" in w]
    assert len(notes) == 1
    assert "for a single cell; converted" in notes[0]
    assert "median 3" in notes[0]  # the evidence: the median of the column, in 'V'
    np.testing.assert_allclose(
        test.data["voltage_volt"].to_numpy(), ref.data["voltage_volt"].to_numpy(), rtol=1e-6
    )


def test_millivolt_column_is_converted_in_the_store(original: Path, tmp_path: Path) -> None:
    mv = _scaled_copy(original, tmp_path / "maccor_mV.txt", 1000.0)
    st = Store(tmp_path / "store")
    res = st.ingest([mv])[0]
    assert res.status == "ingested", res.error
    assert any("voltage looks like millivolts" in w for w in res.warnings)
    ts = st.table(res.test_id)
    assert ts["voltage_volt"].max() < 5.0
    cycles = st.table(res.test_id, "cycles")
    assert cycles["max_voltage_volt"].max() < 5.0


def test_impossible_voltage_is_refused(original: Path, tmp_path: Path) -> None:
    bad = _scaled_copy(original, tmp_path / "maccor_uV.txt", 1e6)  # 3.4e6 "V"
    with pytest.raises(CasipInputError) as exc:
        casip.data.read(bad)
    msg = str(exc.value)
    assert "maccor_uV.txt" in msg and "voltage_volt" in msg
    assert "physically impossible voltage for a single cell" in msg
    assert "expected -0.5 to 5.5 V" in msg
    st = Store(tmp_path / "store")
    res = st.ingest([bad])[0]
    assert res.status == "failed" and "physically impossible voltage" in res.error
    assert not st.tests_dir.is_dir() or not any(st.tests_dir.iterdir())


def test_cells_in_series_widens_the_window(original: Path, tmp_path: Path) -> None:
    module = _scaled_copy(original, tmp_path / "maccor_12s.txt", 12.0)  # ~42 V at the top
    with pytest.raises(CasipInputError, match="declare cells_in_series"):
        casip.data.read(module)
    test = casip.data.read(module, metadata={"cells_in_series": 12})
    assert 30 < test.data["voltage_volt"].max() < 60
    assert not any("millivolts" in w for w in test.warnings)
    assert test.metadata.cells_in_series == 12


def test_voltage_rules() -> None:
    assert voltage_scale(np.array([3650.0, 3700.0, 3600.0])) == (
        1e-3, "voltage looks like millivolts: median 3650 'V' for a single cell; converted"
    )
    assert voltage_scale(np.array([0.01, 0.8, 1.5]))[0] == 1.0  # a half cell, in volts
    assert voltage_scale(np.array([40.0, 42.0]), cells_in_series=12)[0] == 1.0
    check_voltage(np.array([-0.3, 0.0, 5.2]), "x.csv")
    with pytest.raises(CasipInputError, match=r"got -2\.0"):
        check_voltage(np.array([3.0, -2.0]), "x.csv")
    with pytest.raises(CasipInputError, match=r"x\.csv: voltage_volt: .*got 3800\.0"):
        check_voltage(np.array([3.7, 3800.0]), "x.csv")


def test_capacity_units_rules() -> None:
    factor, note = capacity_units(1500.0, 1.5, "charging_capacity_ah", "x.csv")
    assert factor == 1e-3 and "looks like mAh" in note and "ratio 1000" in note
    assert capacity_units(1.5, 1.49, "charging_capacity_ah", "x.csv") == (1.0, None)
    # formation: coulombic efficiency 0.8 is real, and the counter agrees with the current
    assert capacity_units(0.8, 1.0, "discharging_capacity_ah", "x.csv") == (1.0, None)
    for reported in (1.5e-3, 5400.0, 1.5 / 3600):
        with pytest.raises(CasipInputError, match="inconsistent with the current and time"):
            capacity_units(reported, 1.5, "charging_capacity_ah", "x.csv")


def _scaled_capacity_copy(src: Path, dst: Path, factor: float) -> Path:
    lines = src.read_bytes().split(b"\n")
    header = lines[HEADER_LINES].split(b"\t")
    cols = [header.index(b"Amp-hr")]
    out = lines[: HEADER_LINES + 1]
    for line in lines[HEADER_LINES + 1:]:
        cells = line.split(b"\t")
        for col in cols:
            if len(cells) > col and cells[col].strip():
                cells[col] = f"{float(cells[col]) * factor:.5f}".encode()
        out.append(b"\t".join(cells))
    dst.write_bytes(b"\n".join(out))
    return dst


def test_capacity_counter_in_mah_is_converted(original: Path, tmp_path: Path) -> None:
    ref = casip.data.read(original)
    mah = _scaled_capacity_copy(original, tmp_path / "maccor_mAh.txt", 1000.0)
    test = casip.data.read(mah)
    assert any("looks like mAh" in w and "converted" in w for w in test.warnings)
    for c in ("charging_capacity_ah", "discharging_capacity_ah"):
        np.testing.assert_allclose(test.data[c].max(), ref.data[c].max(), rtol=1e-3)


def test_failed_capacity_check_is_stored_flagged(original: Path, tmp_path: Path) -> None:
    """Counters 30 % off the integral of current: unusual, stored, and flagged with the reason."""
    off = _scaled_capacity_copy(original, tmp_path / "maccor_off.txt", 1.3)
    st = Store(tmp_path / "store")
    res = st.ingest([off])[0]
    assert res.status == "ingested", res.error
    assert res.flags and "capacity check failed" in res.flags[0]
    doc = json.loads(
        (st.tests_dir / f"test_id={res.test_id}" / "test.json").read_text(encoding="utf-8")
    )
    assert doc["flags"][0]["kind"] == "capacity_check"
    assert "tolerance 2%" in doc["flags"][0]["reason"]
