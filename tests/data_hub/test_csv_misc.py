"""Novonix, Bitrode and batterydata.energy.gov readers, on the real shared files.

Values are checked against independent parses of the same files (Python's ``csv`` module),
against the integral of current, and (batterydata) against the file's own per-cycle summary.
Broken files are made here from the real ones, in ``tmp_path``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casip.data import read, schema
from casip.data.readers import adapters
from casip.data.readers._base import HEAD_BYTES
from casip.data.readers.batterydata_csv import read_summary
from casip.data.readers.bitrode_csv import counters_by_direction, signed_current
from casip.errors import CasipInputError

NOVONIX = "test_Nova_Form-CH01-01_short.csv"
BITRODE_1C = "cell-discharge-bitrode-1c.csv"
BITRODE_HPPC = "cell-low-current-hppc-25c.csv"
BD_RAW = "p492-13-raw.csv"
BD_SUMMARY = "p492-13-summary.csv"

MINE = {
    NOVONIX: "novonix-csv",
    BITRODE_1C: "bitrode-csv",
    BITRODE_HPPC: "bitrode-csv",
    BD_RAW: "batterydata-csv",
}
OUR_FORMATS = ("novonix-csv", "bitrode-csv", "batterydata-csv")


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    path = shared_data / "cycler"
    if not path.is_dir():
        pytest.skip(f"no cycler folder in {shared_data}")
    return path


@pytest.fixture(scope="module")
def readings(cycler: Path) -> dict:
    return {name: read(cycler / name) for name in MINE}


def _rows(path: Path, start_marker: bytes | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV table by Python's csv module (whole-row quotes removed)."""
    raw = path.read_bytes()
    if start_marker is not None:
        raw = raw[raw.index(start_marker) :].split(b"\n", 1)[1]
    text = raw.decode("utf-8").replace('"', "")
    table = [r for r in csv.reader(io.StringIO(text)) if r]
    return table[0], table[1:]


def _frame(path: Path, start_marker: bytes | None = None) -> pd.DataFrame:
    header, rows = _rows(path, start_marker)
    names = [f"{h}#{i}" if header.count(h) > 1 else h for i, h in enumerate(header)]
    return pd.DataFrame(rows, columns=names)


def _cycle_increments(df: pd.DataFrame, col: str) -> pd.Series:
    """Rise of a cumulative counter over each cycle (from the previous cycle's last row)."""
    last = df.groupby("cycle_count", sort=False)[col].last()
    return last.diff().fillna(last.iloc[0])


def _step_increments(df: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    steps = df["step_count"].to_numpy()
    ends = np.flatnonzero(np.r_[steps[1:] != steps[:-1], True])
    return np.diff(np.r_[0.0, values[ends]])


# --------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------


def test_sniffers_claim_only_their_own_files(cycler: Path):
    mods = adapters()
    for fmt in OUR_FORMATS:
        assert fmt in mods, f"adapter {fmt} is not registered"
    for path in sorted(p for p in cycler.iterdir() if p.is_file()):
        head = path.open("rb").read(HEAD_BYTES)
        for fmt in OUR_FORMATS:
            score = mods[fmt].sniff(head, path.name)
            if MINE.get(path.name) == fmt:
                assert score >= 0.85, (fmt, path.name, score)
            elif path.name == BD_SUMMARY and fmt == "batterydata-csv":
                # recognised only so that reading it can say what it is (below 0.9)
                assert 0.5 <= score < 0.9
            else:
                assert score < 0.5, (fmt, path.name, score)


def test_sniff_uses_content_not_extension(cycler: Path):
    mods = adapters()
    for name, fmt in MINE.items():
        head = (cycler / name).open("rb").read(HEAD_BYTES)
        assert mods[fmt].sniff(head, "renamed.dat") >= 0.85


@pytest.mark.parametrize("name", sorted(MINE))
def test_public_read_detects_format(readings, name):
    test = readings[name]
    assert test.provenance.format == MINE[name]
    assert test.provenance.reader.endswith(MINE[name].replace("-", "_"))
    data = test.data
    assert list(data.columns[:3]) == ["test_time_second", "voltage_volt", "current_ampere"]
    assert np.all(np.diff(data["test_time_second"].to_numpy()) >= 0), "time not monotonic"
    for col in ("charging_capacity_ah", "discharging_capacity_ah"):
        assert np.all(np.diff(data[col].to_numpy()) >= -1e-12), f"{col} falls"


# --------------------------------------------------------------------------------------------
# Bitrode
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [BITRODE_1C, BITRODE_HPPC])
def test_bitrode_values_match_an_independent_parse(cycler, readings, name):
    path = cycler / name
    ref = _frame(path)
    data = readings[name].data
    n_lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert len(data) == len(ref) == n_lines - 1
    np.testing.assert_allclose(data["test_time_second"], ref["Time(s)"].astype(float))
    np.testing.assert_allclose(data["voltage_volt"], ref["Voltage(V)"].astype(float))
    np.testing.assert_allclose(data["current_ampere"], ref["Current(A)"].astype(float))
    np.testing.assert_array_equal(data["cycle_count"], ref["Cycle"].astype(int))
    np.testing.assert_array_equal(data["step_index"], ref["Step"].astype(int))
    assert data["voltage_volt"].between(2.5, 4.3).all()
    # sign: current > 0 only in CHRG rows, < 0 only in DCHG rows (the file is signed)
    mode = ref["Mode"].str.strip().to_numpy()
    i = data["current_ampere"].to_numpy()
    assert np.all(mode[i > 0.05] == "CHRG") and np.all(mode[i < -0.05] == "DCHG")
    assert (mode == "DCHG").any() and (mode == "CHRG").any()
    assert readings[name].metadata.extra["current_sign_in_file"].startswith("signed")
    assert readings[name].metadata.tester == "Bitrode"


@pytest.mark.parametrize("name", [BITRODE_1C, BITRODE_HPPC])
def test_bitrode_counters_equal_the_files_step_totals(cycler, readings, name):
    """Each charge (discharge) step adds exactly |Capacity(Ah)| at its last row to the counter.

    Trap: REST steps hold the previous step's capacity; counting that value again would
    inflate the cumulative counters.
    """
    ref = _frame(cycler / name)
    data = readings[name].data
    steps = data["step_count"].to_numpy()
    ends = np.flatnonzero(np.r_[steps[1:] != steps[:-1], True])
    mode = ref["Mode"].str.strip().to_numpy()[ends]
    for col, unit in (("Capacity(Ah)", "capacity_ah"), ("Energy(Wh)", "energy_wh")):
        file_total = np.abs(ref[col].astype(float).to_numpy()[ends])
        chg = _step_increments(data, data[f"charging_{unit}"].to_numpy())
        dis = _step_increments(data, data[f"discharging_{unit}"].to_numpy())
        np.testing.assert_allclose(chg[mode == "CHRG"], file_total[mode == "CHRG"], atol=1e-9)
        np.testing.assert_allclose(dis[mode == "DCHG"], file_total[mode == "DCHG"], atol=1e-9)
        assert np.all(chg[mode != "CHRG"] == 0) and np.all(dis[mode != "DCHG"] == 0)
    if name == BITRODE_1C:  # five charges of ~30.3 Ah, four discharges of ~30.3 Ah
        assert data["charging_capacity_ah"].iloc[-1] == pytest.approx(151.69, abs=1e-6)
        assert data["discharging_capacity_ah"].iloc[-1] == pytest.approx(121.26, abs=1e-6)


def test_bitrode_counters_agree_with_current_integration(readings):
    """Cycle by cycle (1 s sampling): within 0.1 %."""
    data = readings[BITRODE_1C].data
    integ = pd.DataFrame(schema.integrate_counters(data))
    integ["cycle_count"] = data["cycle_count"]
    for col in ("charging_capacity_ah", "discharging_capacity_ah"):
        ours = _cycle_increments(data, col)
        theirs = _cycle_increments(integ, col)
        big = ours > 1.0
        assert big.sum() >= 4
        np.testing.assert_allclose(ours[big], theirs[big], rtol=1e-3)


def test_bitrode_hppc_dense_steps_agree_with_integration(readings):
    """HPPC: 1 s-sampled 10 A discharge steps agree within 0.2 %.

    (Over the whole file the integral reads 2.8 % more discharge than the counter: the rest
    after each 10 A step is sampled every 60 s, so the trapezoid spreads the step's last
    current over a minute of rest. The tester's counter is the better value.)
    """
    data = readings[BITRODE_HPPC].data
    integ = schema.integrate_counters(data)
    ours = _step_increments(data, data["discharging_capacity_ah"].to_numpy())
    theirs = _step_increments(data, integ["discharging_capacity_ah"])
    steps = data["step_count"].to_numpy()
    ends = np.flatnonzero(np.r_[steps[1:] != steps[:-1], True])
    long_cc = data["step_type"].to_numpy()[ends] == "cc_discharge"
    assert long_cc.sum() >= 9
    np.testing.assert_allclose(ours[long_cc], theirs[long_cc], rtol=2e-3)


def test_bitrode_unsigned_current_is_signed_from_mode(cycler, readings, tmp_path):
    """Trap: exports with unsigned current and capacity; Mode says the direction."""
    frame = _frame(cycler / BITRODE_1C)
    text = (cycler / BITRODE_1C).read_text()
    lines = text.splitlines(keepends=True)
    out = [lines[0]]
    for line in lines[1:]:
        out.append(line.replace(",-", ","))  # drop every minus sign
    assert "-" not in "".join(out[1:])
    path = tmp_path / "unsigned.csv"
    path.write_text("".join(out))
    test = read(path)
    ref = readings[BITRODE_1C].data
    assert test.provenance.format == "bitrode-csv"
    assert test.metadata.extra["current_sign_in_file"].startswith("unsigned")
    np.testing.assert_allclose(test.data["current_ampere"], ref["current_ampere"])
    for col in ("charging_capacity_ah", "discharging_capacity_ah", "discharging_energy_wh"):
        np.testing.assert_allclose(test.data[col], ref[col])
    assert len(frame) == len(test.data)


# --------------------------------------------------------------------------------------------
# Novonix
# --------------------------------------------------------------------------------------------


def test_novonix_values_match_an_independent_parse(cycler, readings):
    path = cycler / NOVONIX
    ref = _frame(path, start_marker=b"[Data]")
    data = readings[NOVONIX].data
    after = path.read_bytes().split(b"[Data]", 1)[1]
    n_lines = sum(1 for line in after.splitlines() if line.strip())
    assert len(data) == len(ref) == n_lines - 1 == 3942
    np.testing.assert_allclose(data["test_time_second"], ref["Run Time (h)"].astype(float) * 3600)
    np.testing.assert_allclose(data["voltage_volt"], ref["Potential (V)"].astype(float))
    np.testing.assert_allclose(data["current_ampere"], ref["Current (A)"].astype(float))
    np.testing.assert_allclose(
        data["surface_temperature_celsius"], ref["Temperature (°C)"].astype(float)
    )
    np.testing.assert_array_equal(data["cycle_count"], ref["Cycle Number"].astype(int))
    np.testing.assert_array_equal(data["step_index"], ref["Step Number"].astype(int))
    assert data["voltage_volt"].between(0.0, 4.5).all()
    # wall clock: every row's Date and Time within 1 s of start + run time (read as UTC)
    clock = pd.to_datetime(ref["Date and Time"], format="%Y-%m-%d %I:%M:%S %p")
    clock_unix = (clock - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    assert np.max(np.abs(clock_unix - data["unix_time_second"].to_numpy())) <= 1.0
    # a charge-only file: the counter never resets, so it equals the file's own capacity
    np.testing.assert_allclose(
        data["charging_capacity_ah"], ref["Capacity (Ah)"].astype(float), atol=1e-12
    )
    np.testing.assert_allclose(
        data["charging_energy_wh"], ref["Energy (Wh)"].astype(float), atol=1e-12
    )
    assert (data["discharging_capacity_ah"] == 0).all()


def test_novonix_counter_agrees_with_current_integration(readings):
    data = readings[NOVONIX].data
    integ = schema.integrate_counters(data)
    assert data["charging_capacity_ah"].iloc[-1] == pytest.approx(0.029468, rel=1e-4)
    assert integ["charging_capacity_ah"][-1] == pytest.approx(
        data["charging_capacity_ah"].iloc[-1], rel=5e-3
    )


def test_novonix_metadata_from_summary(readings):
    md = readings[NOVONIX].metadata
    assert md.tester == "Novonix"
    assert md.channel == "01"
    assert md.cell_id == "Test_Form-CH01-01.csv"
    assert md.schedule == "XC_Formation_Entree_Test.pro1"
    assert md.nominal_capacity_ah == pytest.approx(0.24)
    assert md.start_time == dt.datetime(2022, 4, 11, 10, 58, 7)
    assert md.extra["Version"] == "2.2.1.6"
    assert "CC-CV_charge" in md.extra["protocol"]
    assert readings[NOVONIX].data["unix_time_second"].iloc[0] == pytest.approx(
        dt.datetime(2022, 4, 11, 10, 58, 7, tzinfo=dt.UTC).timestamp()
    )
    assert any("defaults" in w for w in readings[NOVONIX].warnings)


def test_novonix_cv_phase_of_a_charge_is_charge(cycler, readings):
    """Trap: Step Type 8 is the CV phase of a CC-CV *charge* (beep maps it to discharge)."""
    ref = _frame(cycler / NOVONIX, start_marker=b"[Data]")
    data = readings[NOVONIX].data
    cv = ref["Step Type"].astype(int).to_numpy() == 8
    assert cv.sum() > 100
    assert (data["current_ampere"].to_numpy()[cv] >= 0).all()
    rise = np.diff(data["charging_capacity_ah"].to_numpy(), prepend=0.0)[cv]
    assert rise.sum() > 0
    assert (data["discharging_capacity_ah"] == 0).all()


def _quote_fields(body: bytes) -> bytes:
    return b"\n".join(
        b",".join(b'"' + f + b'"' for f in line.split(b",")) if line else line
        for line in body.split(b"\n")
    )


@pytest.mark.parametrize("variant", ["unquoted", "crlf", "no_summary", "bom", "field_quoted"])
def test_novonix_layout_variants(cycler, readings, tmp_path, variant):
    """Quoted or plain rows, CRLF line ends, a BOM, or no summary: the same data."""
    raw = (cycler / NOVONIX).read_bytes()
    at = raw.index(b"[Data]")
    plain = raw[:at] + raw[at:].replace(b'"', b"")
    body = {
        "unquoted": plain,
        "crlf": raw.replace(b"\n", b"\r\n"),
        "no_summary": plain[at:].split(b"\n", 1)[1],
        "bom": b"\xef\xbb\xbf" + plain,
        "field_quoted": plain[:at] + _quote_fields(plain[at:]),
    }[variant]
    path = tmp_path / f"{variant}.csv"
    path.write_bytes(body)
    test = read(path)
    ref = readings[NOVONIX].data
    assert test.provenance.format == "novonix-csv"
    assert len(test.data) == len(ref)
    for col in ("voltage_volt", "current_ampere", "charging_capacity_ah", "unix_time_second"):
        np.testing.assert_allclose(test.data[col], ref[col])


# --------------------------------------------------------------------------------------------
# batterydata.energy.gov
# --------------------------------------------------------------------------------------------


def test_batterydata_values_match_an_independent_parse(cycler, readings):
    path = cycler / BD_RAW
    ref = _frame(path)
    eis = ref["Frequency_Hz"].str.strip().str.lower().ne("nan") & ref["Frequency_Hz"].ne("")
    assert eis.sum() == 78
    ref = ref[~eis.to_numpy()]
    test = readings[BD_RAW]
    data = test.data
    n_lines = sum(1 for line in path.read_bytes().splitlines() if line.strip())
    assert len(data) == len(ref) == n_lines - 1 - 78
    assert any("78 rows of impedance" in w for w in test.warnings)
    np.testing.assert_allclose(data["test_time_second"], ref["Time_s"].astype(float))
    np.testing.assert_allclose(data["voltage_volt"], ref["Voltage_V"].astype(float))
    np.testing.assert_allclose(data["current_ampere"], ref["Current_A"].astype(float))
    assert data["voltage_volt"].between(2.9, 4.2).all()  # EIS rows (-3.79 V) are out
    # the file's sign is positive on charge: rows labelled Charge carry current >= 0
    seg = ref["Segment_Label"].to_numpy()
    assert (data["current_ampere"].to_numpy()[seg == "Charge"] > 0).all()
    assert (data["current_ampere"].to_numpy()[seg == "Discharge"] < 0).all()
    datenum = ref["Datenum_d"].astype(float).to_numpy()
    unix = (datenum - 719529.0) * 86400.0
    np.testing.assert_allclose(data["unix_time_second"], unix, atol=1e-3)
    assert dt.datetime.fromtimestamp(unix[0], dt.UTC).date() == dt.date(2020, 1, 2)
    assert test.metadata.extra["cycle_labels"][2] == "Capacity check"


def test_batterydata_summary_matches_the_raw_counters(cycler, readings):
    """The brief's cross-check: the raw file's Charge/Discharge_Capacity_Ah per cycle vs Q_chg,
    Q_dis of the summary; then our cumulative counters against the same summary."""
    summary = read_summary(cycler / BD_SUMMARY).set_index("cycle_count")
    raw = pd.read_csv(cycler / BD_RAW)
    per_cycle = raw.groupby("Cycle_Index")[["Charge_Capacity_Ah", "Discharge_Capacity_Ah"]].max()
    for cyc, row in per_cycle.iterrows():
        for col, q in (("Charge_Capacity_Ah", "charge_capacity_ah"),
                       ("Discharge_Capacity_Ah", "discharge_capacity_ah")):
            expected = summary.loc[cyc, q]
            assert row[col] == pytest.approx(0.0 if np.isnan(expected) else expected, abs=1e-7)
    data = readings[BD_RAW].data
    ours = pd.DataFrame(
        {c: _cycle_increments(data, c) for c in ("charging_capacity_ah",
                                                  "discharging_capacity_ah",
                                                  "charging_energy_wh",
                                                  "discharging_energy_wh")}
    )
    # cycles with one charge and one discharge step: our counters equal the summary's
    for cyc in (1, 2, 3, 6, 8, 9):
        for c, q in (("charging_capacity_ah", "charge_capacity_ah"),
                     ("discharging_capacity_ah", "discharge_capacity_ah"),
                     ("charging_energy_wh", "charge_energy_wh"),
                     ("discharging_energy_wh", "discharge_energy_wh")):
            expected = summary.loc[cyc, q]
            expected = 0.0 if np.isnan(expected) else expected
            assert ours.loc[cyc, c] == pytest.approx(expected, abs=1e-7), (cyc, c)
    # cycle 4 charges twice (CC stopped and resumed); Q_chg is the larger step only
    assert ours.loc[4, "charging_capacity_ah"] == pytest.approx(0.030762, abs=1e-5)
    assert summary.loc[4, "charge_capacity_ah"] == pytest.approx(0.019642, abs=1e-6)
    # and our counters agree with the integral of current on the capacity-check cycle
    integ = pd.DataFrame(schema.integrate_counters(data))
    integ["cycle_count"] = data["cycle_count"]
    for c in ("charging_capacity_ah", "discharging_capacity_ah"):
        assert _cycle_increments(integ, c).loc[2] == pytest.approx(ours.loc[2, c], rel=1e-3)


def test_batterydata_read_summary_table(cycler):
    table = read_summary(cycler / BD_SUMMARY)
    assert len(table) == 267
    assert table["cycle_count"].tolist() == list(range(1, 268))
    row = table.set_index("cycle_count").loc[2]
    assert row["cycle_label"] == "Capacity check"
    assert row["charge_capacity_ah"] == pytest.approx(0.02187029)
    assert row["discharge_capacity_ah"] == pytest.approx(0.02173834)
    assert row["coulombic_efficiency"] == pytest.approx(0.02173834 / 0.02187029)
    for name in ("energy_efficiency", "start_time_second", "min_voltage_volt",
                 "mean_temperature_celsius", "start_unix_time_second"):
        assert name in table.columns


def test_batterydata_summary_is_not_a_time_series(cycler, tmp_path):
    with pytest.raises(CasipInputError) as err:
        read(cycler / BD_SUMMARY)
    msg = str(err.value)
    assert BD_SUMMARY in msg and "summary" in msg and "p492-13-raw.csv" in msg
    with pytest.raises(CasipInputError, match=r"not a batterydata\.energy\.gov per-cycle summary"):
        read_summary(cycler / BD_RAW)
    trunc = tmp_path / BD_SUMMARY
    body = (cycler / BD_SUMMARY).read_bytes()
    trunc.write_bytes(body[: len(body) // 2])
    with pytest.raises(CasipInputError, match="truncated") as err:
        read_summary(trunc)
    assert str(trunc) in str(err.value)


# --------------------------------------------------------------------------------------------
# broken files, made from the real ones
# --------------------------------------------------------------------------------------------


def _data_start(raw: bytes, name: str) -> int:
    """Offset of the first data row."""
    at = raw.index(b"[Data]") if name == NOVONIX else 0
    header_end = raw.index(b"\n", at) + 1
    if name == NOVONIX:
        header_end = raw.index(b"\n", header_end) + 1
    return header_end


def _mid_row(raw: bytes, pos: int) -> int:
    """A cut position inside a row near ``pos`` (a few bytes after a line start)."""
    line_start = raw.index(b"\n", pos) + 1
    return line_start + 7


def _raises(path: Path, fmt: str | None = None, match: str | None = None) -> str:
    with pytest.raises(CasipInputError) as err:
        read(path, format=fmt)
    msg = str(err.value)
    assert str(path) in msg, msg
    if match:
        assert match in msg, msg
    assert "Traceback" not in msg
    return msg


@pytest.mark.parametrize("name", sorted(MINE))
def test_truncated_inside_a_row_raises(cycler, tmp_path, name):
    raw = (cycler / name).read_bytes()
    start = _data_start(raw, name)
    for frac in (0.25, 0.5, 0.9):
        cut = _mid_row(raw, start + int(frac * (len(raw) - start)))
        path = tmp_path / name
        path.write_bytes(raw[:cut])
        _raises(path, match="truncated")
        _raises(path, fmt=MINE[name], match="truncated")


@pytest.mark.parametrize("name", sorted(MINE))
def test_truncated_at_a_line_end_reads_fewer_rows(cycler, readings, tmp_path, name):
    """A cut exactly at a line end cannot be told from a shorter test: fewer rows, no error."""
    raw = (cycler / name).read_bytes()
    start = _data_start(raw, name)
    cut = raw.index(b"\n", start + (len(raw) - start) // 2) + 1
    path = tmp_path / name
    path.write_bytes(raw[:cut])
    test = read(path)
    assert test.provenance.format == MINE[name]
    assert 0 < len(test.data) < len(readings[name].data)


@pytest.mark.parametrize("name", sorted(MINE))
def test_truncated_in_the_header_raises(cycler, tmp_path, name):
    raw = (cycler / name).read_bytes()
    start = _data_start(raw, name)
    path = tmp_path / name
    path.write_bytes(raw[: start - 20])
    _raises(path)
    _raises(path, fmt=MINE[name])


@pytest.mark.parametrize("name", sorted(MINE))
def test_random_bytes_in_the_data_raise(cycler, tmp_path, name):
    raw = (cycler / name).read_bytes()
    start = _data_start(raw, name)
    rng = random.Random(name)
    for _ in range(5):
        pos = rng.randrange(start + 100, len(raw) - 200)
        junk = bytes(rng.randrange(128, 256) for _ in range(64))
        path = tmp_path / name
        path.write_bytes(raw[:pos] + junk + raw[pos + 64 :])
        _raises(path)


@pytest.mark.parametrize("name", sorted(MINE))
def test_header_removed_raises(cycler, tmp_path, name):
    raw = (cycler / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(raw[_data_start(raw, name) :])
    _raises(path)
    _raises(path, fmt=MINE[name])


@pytest.mark.parametrize("name", sorted(MINE))
def test_empty_file_raises(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    _raises(path, match="empty")
    _raises(path, fmt=MINE[name], match="empty")


@pytest.mark.parametrize(
    "other", ["maccor_001.txt", "neware_uio.csv", "arbin_example.csv", "biol.mpr", "pec.csv"]
)
def test_other_format_renamed_is_refused_or_read_as_its_own(cycler, tmp_path, other):
    """A file of another format named like ours: never read as ours."""
    path = tmp_path / "renamed.csv"
    shutil.copyfile(cycler / other, path)
    for fmt in OUR_FORMATS:
        _raises(path, fmt=fmt)
    try:
        test = read(path)
    except CasipInputError as exc:
        assert str(path) in str(exc)
    else:
        assert test.provenance.format not in OUR_FORMATS


@pytest.mark.parametrize("name", sorted(MINE))
def test_ours_mislabelled_as_each_other(cycler, name):
    for fmt in OUR_FORMATS:
        if fmt != MINE[name]:
            _raises(cycler / name, fmt=fmt)


# --------------------------------------------------------------------------------------------
# the source file is untouched and no copy is left
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*sorted(MINE), BD_SUMMARY])
def test_source_untouched_and_no_temp_files(cycler, tmp_path, monkeypatch, name):
    path = cycler / name
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    global_tmp = Path("/tmp")
    seen = {p.name for p in global_tmp.iterdir()} if global_tmp.is_dir() else set()
    if name == BD_SUMMARY:
        read_summary(path)
        with pytest.raises(CasipInputError):
            read(path)
    else:
        read(path)
    after = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    assert after == before
    assert list(private_tmp.iterdir()) == []
    if global_tmp.is_dir():
        new = {p.name for p in global_tmp.iterdir()} - seen
        stem = Path(name).stem
        assert not [n for n in new if stem in n or n.startswith("casip")], new
    assert os.access(path, os.R_OK)


# --------------------------------------------------------------------------------------------
# the shared helpers, on small made-up arrays
# --------------------------------------------------------------------------------------------


def test_counters_by_direction_handles_every_reset_style():
    # charge 0->2 (step), rest holding 2, discharge restarting at 0 -> 1.5 (signed, negative),
    # rest reset to 0, charge continuing over two steps 0->0.5->1.0 without reset
    counter = np.array([0.0, 1.0, 2.0, 2.0, 2.0, -0.5, -1.5, 0.0, 0.25, 0.5, 0.75, 1.0])
    direction = np.array([1, 1, 1, 0, 0, -1, -1, 0, 1, 1, 1, 1], dtype=float)
    chg, dis = counters_by_direction(counter, direction)
    assert chg[-1] == pytest.approx(3.0)
    assert dis[-1] == pytest.approx(1.5)
    assert np.all(np.diff(chg) >= 0) and np.all(np.diff(dis) >= 0)
    # a counter that dips by noise during a CV hold is not a reset
    chg, _ = counters_by_direction(np.array([0.0, 1.0, 0.9999999, 1.2]), np.ones(4))
    assert chg[-1] == pytest.approx(1.2)


def test_signed_current_keeps_signed_and_fixes_unsigned():
    direction = np.array([1.0, 0.0, -1.0, np.nan])
    i, d, how = signed_current(np.array([2.0, 0.0, -1.0, -0.5]), direction)
    np.testing.assert_array_equal(i, [2.0, 0.0, -1.0, -0.5])
    np.testing.assert_array_equal(d, [1.0, 0.0, -1.0, -1.0])
    assert how.startswith("signed")
    i, d, how = signed_current(np.array([2.0, 0.0, 1.0, 0.5]), direction)
    np.testing.assert_array_equal(i, [2.0, 0.0, -1.0, 0.5])
    assert how.startswith("unsigned")
