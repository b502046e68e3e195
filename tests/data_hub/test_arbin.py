"""Arbin results databases (arbin-res) and CSV exports (arbin-csv).

Real files only, read in place from the shared data folder; broken files and header variants
are made here, in ``tmp_path``, from the real ones. The ``.res`` values are cross-checked
against cellpy's own parsed output (``cellpy-reference-outputs``) and against access-parser's
row decoder; the CSV values against the file read plainly with pandas and against the
integral of current.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import casip.data
from casip.data import schema
from casip.data.ingest import detect_format
from casip.data.readers import arbin_csv, arbin_res
from casip.errors import CasipInputError

RES = ("20160805_test001_45_cc_01.res", "aux_one_x_dx.res")
CSV = ("arbin_example.csv", "FastCharge_000025_CH8.csv")
METADATA = "FastCharge_000025_CH8_Metadata.csv"
REFERENCE = "cellpy-reference-outputs/loader_arbin_res.parquet"
COUNTERS = (
    "charging_capacity_ah",
    "discharging_capacity_ah",
    "charging_energy_wh",
    "discharging_energy_wh",
)


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    return shared_data / "cycler"


@pytest.fixture(scope="module")
def readings(cycler: Path) -> dict[str, casip.data.CyclerTest]:
    """Each Arbin file read once through the public dispatcher."""
    return {name: casip.data.read(cycler / name) for name in (*RES, *CSV)}


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of this test's own, so that "nothing left in the temp dir" is exact."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _per_cycle_increments(data: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """Rise of a cumulative counter over each cycle (last minus first value per cycle)."""
    df = pd.DataFrame({"c": data["cycle_count"].to_numpy(), "v": values})
    g = df.groupby("c", sort=False)["v"]
    return (g.last() - g.first()).to_numpy()


def _assert_counters_match_integral(data: pd.DataFrame, rtol: float) -> None:
    """Counters in the file vs trapezoidal integration of current (and power), per cycle."""
    integ = schema.integrate_counters(data)
    for c in COUNTERS:
        in_file = _per_cycle_increments(data, data[c].to_numpy())
        integral = _per_cycle_increments(data, integ[c])
        scale = max(np.abs(in_file).max(), 1e-9)
        assert np.abs(in_file - integral).max() <= rtol * scale, c


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "name, fmt", [(n, "arbin-res") for n in RES] + [(n, "arbin-csv") for n in CSV]
)
def test_format_detected_from_content(
    cycler: Path, readings: dict, name: str, fmt: str, tmp_path: Path
) -> None:
    assert detect_format(cycler / name) == fmt
    assert readings[name].provenance.format == fmt
    assert readings[name].provenance.source_name == name
    # the content decides, not the name: the same bytes under a neutral name
    renamed = tmp_path / "upload.bin"
    renamed.write_bytes((cycler / name).read_bytes())
    assert detect_format(renamed) == fmt


def test_sniffers_claim_only_arbin_files(cycler: Path) -> None:
    with (cycler / "MANIFEST.csv").open() as fh:
        declared = {row["file"]: row["format"] for row in csv.DictReader(fh)}
    checked = 0
    for path in sorted(p for p in cycler.rglob("*") if p.is_file()):
        with path.open("rb") as fh:
            head = fh.read(65536)
        fmt = declared.get(path.name)
        res, text = arbin_res.sniff(head, path.name), arbin_csv.sniff(head, path.name)
        assert (res >= 0.5) == (fmt == "arbin-res"), path.name
        assert (text >= 0.5) == (fmt == "arbin-csv"), path.name
        checked += 1
    assert checked >= 25


# ----------------------------------------------------------------------------- .res values


def test_res_matches_cellpy_reference(cycler: Path, readings: dict) -> None:
    ref = pd.read_parquet(cycler / REFERENCE).sort_values("data_point", ignore_index=True)
    data = readings["20160805_test001_45_cc_01.res"].data
    assert len(ref) == len(data) == 10261
    np.testing.assert_allclose(data["voltage_volt"], ref["voltage"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(data["current_ampere"], ref["current"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(data["test_time_second"], ref["test_time"], rtol=1e-12)
    np.testing.assert_array_equal(data["cycle_count"], ref["cycle_index"])
    np.testing.assert_array_equal(data["step_index"], ref["step_index"])
    # cellpy keeps the tester's naive local clock; we read the same clock as UTC
    ref_unix = (ref["date_time"] - pd.Timestamp(0)).dt.total_seconds().to_numpy()
    np.testing.assert_allclose(data["unix_time_second"], ref_unix, rtol=0, atol=1e-3)
    # Arbin's counters reset each cycle (cellpy keeps them so); ours run on: at the end of
    # every cycle ours equal the sum of cellpy's end-of-cycle values so far
    for ours, theirs in (
        ("charging_capacity_ah", "charge_capacity"),
        ("discharging_capacity_ah", "discharge_capacity"),
        ("charging_energy_wh", "charge_energy"),
        ("discharging_energy_wh", "discharge_energy"),
    ):
        ends = ref.groupby("cycle_index", sort=True)[theirs].last().cumsum().to_numpy()
        mine = data.groupby("cycle_count", sort=True)[ours].last().to_numpy()
        np.testing.assert_allclose(mine, ends, rtol=1e-9, atol=1e-15)
        assert np.all(np.diff(data[ours].to_numpy()) >= 0), f"{ours} is not cumulative"
    assert data["charging_capacity_ah"].iloc[-1] == pytest.approx(0.0267609, rel=1e-5)
    ir = data["internal_resistance_ohm"]
    ref_ir = ref["internal_resistance"].where(ref["internal_resistance"] != 0)
    np.testing.assert_allclose(ir, ref_ir, rtol=1e-7, equal_nan=True)


@pytest.mark.parametrize("name", RES)
@pytest.mark.parametrize("table", ["Channel_Normal_Table", "Auxiliary_Table"])
def test_res_vectorised_decoder_matches_access_parser(cycler: Path, name: str, table: str) -> None:
    """Our numpy row decoder gives what access-parser's own row-by-row decoder gives."""
    from access_parser import AccessParser

    path = cycler / name
    theirs = AccessParser(str(path)).parse_table(table)
    with arbin_res._Jet(path) as db:
        names = [c.col_name_str for c in db.table(table).columns.values()]
        ours = db.columns(table, tuple(names))
    lengths = {len(v) for v in theirs.values() if isinstance(v, list)}
    if not lengths:  # an empty table
        assert all(len(v) == 0 for v in ours.values())
        return
    assert set(ours) == set(names)
    for col in names:
        np.testing.assert_array_equal(
            np.asarray(ours[col], dtype=float), np.asarray(theirs[col], dtype=float), err_msg=col
        )


def test_res_aux_file_independent_checks(cycler: Path, readings: dict) -> None:
    from access_parser import AccessParser

    path = cycler / "aux_one_x_dx.res"
    test = readings["aux_one_x_dx.res"]
    data = test.data
    rows = AccessParser(str(path)).parse_table("Channel_Normal_Table")
    assert len(data) == len(rows["Data_Point"]) == 7235
    assert np.all(np.diff(data["test_time_second"]) > 0)
    assert data["voltage_volt"].between(2.5, 4.3).all()
    assert data["current_ampere"].max() == pytest.approx(1.2, rel=0.01)  # charging: positive
    _assert_counters_match_integral(data, rtol=0.002)
    temp = data["surface_temperature_celsius"]
    assert temp.notna().all() and temp.between(15, 40).all()
    assert temp.iloc[0] == pytest.approx(24.40658, abs=1e-4)
    md = test.metadata
    assert (md.tester, md.channel, md.schedule) == ("Arbin", "31", "OCV.sdu")
    assert md.start_time == dt.datetime(2020, 11, 5, 10, 37, 46)
    assert md.extra["Test_Name"] == "aux_one_x_dx"
    assert md.active_mass_g is None and md.nominal_capacity_ah is None  # 0 in the file
    assert test.warnings == []


def test_res_metadata_from_global_table(readings: dict) -> None:
    md = readings["20160805_test001_45_cc_01.res"].metadata
    assert md.channel == "3"
    assert md.schedule == "SiNODE\\24h_rest_3cyc_C20_100cyc_c10_MR.sdu"
    assert md.start_time == dt.datetime(2016, 8, 5, 16, 16, 23)
    assert md.active_mass_g == pytest.approx(0.000852838, rel=1e-6)
    assert md.cell_id is None  # Item_ID is empty: nothing is guessed
    assert md.extra["Test_Name"] == "20160805_sic006_45_cc_01-01-003"
    assert md.extra["results_file_version"] == "Results File 5.26"
    assert "UTC" in md.extra["clock"]


def test_tests_in_one_file_are_chained() -> None:
    data = {"test_time_second": np.array([0.0, 5.0, 0.0, 2.0]),
            "cycle_count": np.array([1.0, 2.0, 1.0, 1.0])}  # fmt: skip
    arbin_res._chain_tests(data, np.array([1, 1, 2, 2]), np.array([1, 2]))
    np.testing.assert_array_equal(data["test_time_second"], [0, 5, 5, 7])
    np.testing.assert_array_equal(data["cycle_count"], [1, 2, 3, 3])


def test_cumulative_counter() -> None:
    resets = np.array([0.0, 1.0, 2.0, 0.0, 0.5, 0.0, 0.0, 3.0])
    np.testing.assert_allclose(
        arbin_res.cumulative_counter(resets), [0, 1, 2, 2, 2.5, 2.5, 2.5, 5.5]
    )
    running = np.array([0.0, 1.0, 1.0, 2.0])
    np.testing.assert_array_equal(arbin_res.cumulative_counter(running), running)


# ----------------------------------------------------------------------------- CSV values


@pytest.mark.parametrize("name", CSV)
def test_csv_values_match_the_file(cycler: Path, readings: dict, name: str) -> None:
    path = cycler / name
    data = readings[name].data
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    assert len(data) == lines - 1
    plain = pd.read_csv(path)
    np.testing.assert_array_equal(data["voltage_volt"], plain["Voltage"])
    np.testing.assert_array_equal(data["current_ampere"], plain["Current"])
    np.testing.assert_array_equal(data["test_time_second"], plain["Test_Time"])
    np.testing.assert_array_equal(data["unix_time_second"], plain["DateTime"].astype(float))
    np.testing.assert_array_equal(data["surface_temperature_celsius"], plain["Temperature"])
    # the schema numbers cycles from 1; a file counting from 0 is shifted by one
    shift = 1 - min(plain["Cycle_Index"].min(), 1)
    np.testing.assert_array_equal(data["cycle_count"], plain["Cycle_Index"] + shift)
    assert np.all(np.diff(data["test_time_second"]) >= 0)
    assert data["voltage_volt"].between(1.9, 3.7).all()
    for c in COUNTERS:
        assert np.all(np.diff(data[c].to_numpy()) >= 0), f"{c} is not cumulative"
    _assert_counters_match_integral(data, rtol=0.005)


def test_csv_counters_made_cumulative(readings: dict, cycler: Path) -> None:
    """arbin_example.csv resets its counters at cycle 2; ours continue from cycle 1's end."""
    data = readings["arbin_example.csv"].data
    plain = pd.read_csv(cycler / "arbin_example.csv")
    c1 = plain[plain["Cycle_Index"] == 1]
    c2 = plain[plain["Cycle_Index"] == 2]
    assert c2["Discharge_Capacity"].iloc[0] == 0  # the tester's reset
    end = c1["Discharge_Capacity"].iloc[-1] + c2["Discharge_Capacity"].iloc[-1]
    assert data["discharging_capacity_ah"].iloc[-1] == pytest.approx(end, rel=1e-12)
    assert data["current_ampere"].min() < -4  # discharge negative, as Arbin writes it


def test_csv_metadata_from_companion_file(readings: dict, cycler: Path, tmp_path: Path) -> None:
    md = readings["FastCharge_000025_CH8.csv"].metadata
    assert md.channel == "7"
    assert md.schedule == "2017-05-12_TESTS\\20170512-4_4C-80PER_4_4C.SDU"
    assert md.start_time == dt.datetime.fromtimestamp(1494645214, tz=dt.UTC)
    assert md.cell_id == "EL150800453116"
    assert md.extra["metadata_file"] == METADATA
    assert md.extra["schedule_version"] == "Schedule Version 7.00.08"
    # without its companion, the data file still reads, with no invented metadata
    alone = tmp_path / "FastCharge_000025_CH8.csv"
    alone.write_bytes((cycler / "FastCharge_000025_CH8.csv").read_bytes())
    md2 = casip.data.read(alone).metadata
    assert md2.channel is None and md2.schedule is None and md2.start_time is None
    assert md2.tester == "Arbin"


def test_metadata_file_alone_is_not_a_test(cycler: Path) -> None:
    path = cycler / METADATA
    head = path.read_bytes()
    assert arbin_csv.sniff(head, path.name) == 0.0
    assert arbin_res.sniff(head, path.name) == 0.0
    why = arbin_csv.explain(head, path.name)
    assert why and "metadata file" in why and "FastCharge_000025_CH8.csv" in why
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path, format="arbin-csv")
    msg = str(err.value)
    assert str(path) in msg and "metadata file" in msg
    assert "'FastCharge_000025_CH8.csv'" in msg  # the data file to read instead
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "variant", ["units", "milli-units-and-spaces", "tab-and-date-strings", "cp1252-degree-sign"]
)
def test_csv_header_variants(cycler: Path, readings: dict, tmp_path: Path, variant: str) -> None:
    """Other Arbin export spellings (units in brackets, mA/mAh, spaces, date strings)."""
    plain = pd.read_csv(cycler / "arbin_example.csv")
    df = plain.copy()
    sep = ","
    if variant == "units":
        df.columns = ["Data_Point", "Test_Time(s)", "Date_Time", "Step_Time(s)", "Step_Index",
                      "Cycle_Index", "Current(A)", "Voltage(V)", "Charge_Capacity(Ah)",
                      "Discharge_Capacity(Ah)", "Charge_Energy(Wh)", "Discharge_Energy(Wh)",
                      "dV/dt(V/s)", "Internal_Resistance(Ohm)", "Aux_Temperature_1(C)"]  # fmt: skip
    elif variant == "milli-units-and-spaces":
        df["Test_Time"] = df["Test_Time"] / 3600.0
        for c in ("Current", "Charge_Capacity", "Discharge_Capacity", "Charge_Energy",
                  "Discharge_Energy"):  # fmt: skip
            df[c] = df[c] * 1000.0
        df.columns = ["Data Point", "Test Time (h)", "Date Time", "Step Time (s)", "Step Index",
                      "Cycle Index", "Current (mA)", "Voltage (V)", "Charge Capacity (mAh)",
                      "Discharge Capacity (mAh)", "Charge Energy (mWh)",
                      "Discharge Energy (mWh)", "dV/dt (V/s)", "Internal Resistance (Ohm)",
                      "Temperature (C)"]  # fmt: skip
    elif variant == "tab-and-date-strings":
        sep = "\t"
        stamps = pd.to_datetime(df["DateTime"], unit="s")
        df["DateTime"] = stamps.dt.strftime("%m/%d/%Y %H:%M:%S")
    else:
        df = df.rename(columns={"Temperature": "Aux_Temperature_1 (°C)"})
    path = tmp_path / f"variant-{variant}.csv"
    encoding = "cp1252" if variant.startswith("cp1252") else "utf-8"
    df.to_csv(path, index=False, sep=sep, float_format="%.10g", encoding=encoding)
    assert detect_format(path) == "arbin-csv"
    got = casip.data.read(path).data
    want = readings["arbin_example.csv"].data
    for col in ("test_time_second", "current_ampere", "voltage_volt", "unix_time_second",
                *COUNTERS, "surface_temperature_celsius"):  # fmt: skip
        np.testing.assert_allclose(got[col], want[col], rtol=1e-8, atol=1e-9, err_msg=col)


# ----------------------------------------------------------------------------- broken files


def _message_names(err: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(err.value), str(err.value)


@pytest.mark.parametrize("name", RES)
def test_res_broken_files_raise(cycler: Path, tmp_path: Path, name: str) -> None:
    data = (cycler / name).read_bytes()
    page = 4096
    cases = {
        "cut-in-header-page": data[:1000],
        "cut-mid-page": data[: len(data) // 2 + 123],
        "cut-at-page-boundary": data[: (len(data) // 2) // page * page],
        "cut-one-byte-short": data[:-1],
        "header-removed": data[page:],
        "empty": b"",
    }
    for case, content in cases.items():
        path = tmp_path / f"{case}.res"
        path.write_bytes(content)
        with pytest.raises(CasipInputError) as err:
            casip.data.read(path)
        _message_names(err, path)
        with pytest.raises(CasipInputError) as err:  # also when the format is forced
            casip.data.read(path, format="arbin-res")
        _message_names(err, path)


@pytest.mark.parametrize("name", RES)
def test_res_random_overwrites_are_detected(
    cycler: Path, readings: dict, tmp_path: Path, name: str
) -> None:
    """4 KiB of random bytes at several places: an error, or (unused pages) the same data."""
    data = (cycler / name).read_bytes()
    want = readings[name].data
    rng = np.random.default_rng(20240501)
    raised = 0
    for frac in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        broken = bytearray(data)
        start = int(len(data) * frac)
        broken[start : start + 4096] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        path = tmp_path / f"overwritten-{frac:.2f}.res"
        path.write_bytes(bytes(broken))
        try:
            got = casip.data.read(path)
        except CasipInputError as exc:
            assert str(path) in str(exc)
            raised += 1
        else:
            pd.testing.assert_frame_equal(got.data, want)
    assert raised >= 4


def test_res_other_formats_renamed(cycler: Path, tmp_path: Path) -> None:
    for other in ("biol.mpr", "maccor_001.txt", "test.nda", "arbin_example.csv"):
        path = tmp_path / f"{Path(other).stem}.res"
        path.write_bytes((cycler / other).read_bytes())
        with pytest.raises(CasipInputError) as err:
            casip.data.read(path, format="arbin-res")
        _message_names(err, path)
        assert arbin_res.sniff(path.read_bytes()[:65536], path.name) == 0.0


def test_res_mislabelled_as_csv_reads_by_content(
    cycler: Path, readings: dict, tmp_path: Path
) -> None:
    path = tmp_path / "results.csv"
    path.write_bytes((cycler / "aux_one_x_dx.res").read_bytes())
    test = casip.data.read(path)
    assert test.provenance.format == "arbin-res"
    pd.testing.assert_frame_equal(test.data, readings["aux_one_x_dx.res"].data)
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path, format="arbin-csv")
    _message_names(err, path)


def test_access_database_without_arbin_tables(
    cycler: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Access database that is not Arbin's: a clear error, not a KeyError."""
    real_catalog = arbin_res._Jet._read_catalog

    def without_arbin_tables(self):
        return {k: v for k, v in real_catalog(self).items() if not k.endswith("_Table")}

    monkeypatch.setattr(arbin_res._Jet, "_read_catalog", without_arbin_tables)
    path = tmp_path / "inventory.mdb"
    path.write_bytes((cycler / RES[1]).read_bytes())
    assert detect_format(path) == "arbin-res"  # an Access database is all the head shows
    with pytest.raises(CasipInputError) as err:
        casip.data.read(path)
    assert "not an Arbin results file" in str(err.value)
    _message_names(err, path)


@pytest.mark.parametrize("name", CSV)
def test_csv_truncations_are_refused(cycler: Path, tmp_path: Path, name: str) -> None:
    """A file cut inside a line is refused, naming the line (issue 13: one policy)."""
    data = (cycler / name).read_bytes()
    for frac in (0.1, 0.5, 0.9, 0.999):
        cut = int(len(data) * frac)
        if data[cut - 1 : cut] == b"\n":
            cut -= 3
        path = tmp_path / f"cut-{frac}.csv"
        path.write_bytes(data[:cut])
        with pytest.raises(CasipInputError) as info:
            casip.data.read(path)
        line = data[:cut].count(b"\n") + 1
        assert f"the file ends mid-record at line {line}: it looks truncated" in str(info.value)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("name", CSV)
def test_csv_broken_files_raise(cycler: Path, tmp_path: Path, name: str) -> None:
    data = (cycler / name).read_bytes()
    header_end = data.index(b"\n") + 1
    rng = np.random.default_rng(7)
    cases = {
        "cut-in-header": data[: header_end // 2],
        "header-only": data[:header_end],
        "header-removed": data[header_end:],
        "empty": b"",
        "binary-garbage": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
    }
    for frac in (0.3, 0.6, 0.9):
        broken = bytearray(data)
        start = int(len(data) * frac)
        broken[start : start + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
        cases[f"random-bytes-{frac}"] = bytes(broken)
    for case, content in cases.items():
        path = tmp_path / f"{case}.csv"
        path.write_bytes(content)
        with pytest.raises(CasipInputError) as err:
            casip.data.read(path)
        _message_names(err, path)
        if content:
            with pytest.raises(CasipInputError) as err:
                casip.data.read(path, format="arbin-csv")
            _message_names(err, path)


def test_csv_other_formats_renamed(cycler: Path, tmp_path: Path) -> None:
    for other in ("pec.csv", "neware_uio.csv", "p492-13-raw.csv", "maccor_001.txt", "biol.mpr"):
        path = tmp_path / f"{Path(other).stem}_arbin.csv"
        path.write_bytes((cycler / other).read_bytes())
        assert arbin_csv.sniff(path.read_bytes()[:65536], path.name) == 0.0
        with pytest.raises(CasipInputError) as err:
            casip.data.read(path, format="arbin-csv")
        _message_names(err, path)


# ----------------------------------------------------------------------------- safety traps


@pytest.mark.parametrize("name", [*RES, *CSV])
def test_source_unchanged_and_nothing_left_in_tempdir(
    cycler: Path, name: str, private_tempdir: Path
) -> None:
    path = cycler / name
    companions = [cycler / METADATA] if name.startswith("FastCharge") else []
    before = {p: (_sha(p), p.stat().st_mtime_ns, p.stat().st_mode) for p in [path, *companions]}
    system_tmp = Path("/tmp")
    listed = {p.name for p in system_tmp.iterdir()} if system_tmp.is_dir() else set()
    casip.data.read(path)
    for p, facts in before.items():
        assert p.exists()
        assert (_sha(p), p.stat().st_mtime_ns, p.stat().st_mode) == facts
    assert list(private_tempdir.iterdir()) == []
    if system_tmp.is_dir():  # nothing of this file's in the real /tmp either
        new = {p.name for p in system_tmp.iterdir()} - listed
        assert not [n for n in new if Path(name).stem in n or "casip" in n.lower()]


def test_res_private_copy_is_private_and_removed(
    cycler: Path, monkeypatch: pytest.MonkeyPatch, private_tempdir: Path
) -> None:
    """Should the adapter ever need a private copy, it is 0600 in a 0700 folder, then gone."""
    seen: dict[str, object] = {}
    real_read = arbin_res.read

    def spy(path: Path):
        seen["path"] = Path(path)
        seen["mode"] = stat.S_IMODE(os.stat(path).st_mode)
        seen["dir_mode"] = stat.S_IMODE(os.stat(Path(path).parent).st_mode)
        return real_read(path)

    monkeypatch.setattr(arbin_res, "PRIVATE_COPY", True)
    monkeypatch.setattr(arbin_res, "read", spy)
    source = cycler / RES[0]
    sha = _sha(source)
    test = casip.data.read(source)
    assert len(test.data) == 10261
    copy = seen["path"]
    assert isinstance(copy, Path) and copy != source
    assert copy.parent.parent == private_tempdir
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert not copy.exists() and not copy.parent.exists()
    assert list(private_tempdir.iterdir()) == []
    assert _sha(source) == sha


def test_res_adapter_makes_no_copy_by_default(cycler: Path, monkeypatch) -> None:
    """arbin-res memory-maps the source read-only; the dispatcher makes no copy for it."""
    assert arbin_res.PRIVATE_COPY is False
    opened: list[tuple[str, str]] = []
    real_open = Path.open

    def spy_open(self, mode="r", *args, **kwargs):
        opened.append((str(self), mode))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy_open)
    arbin_res.read(cycler / RES[0])
    assert opened and all(mode == "rb" for _, mode in opened)


FAKE_MDB_EXPORT = """#!{python}
# Stand-in for mdbtools' mdb-export (absent here): print one table of an Access file as CSV.
import sys
from pathlib import Path
import pandas as pd
from casip.data.readers.arbin_res import _Jet
with _Jet(Path(sys.argv[1])) as db:
    names = [c.col_name_str for c in db.table(sys.argv[2]).columns.values()]
    rows = db.records(sys.argv[2])
pd.DataFrame(rows, columns=names).to_csv(sys.stdout, index=False)
"""


def _run_cellpy(code: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_cellpy_refuse_copying_deletes_its_source_but_ours_never_does(
    cycler: Path, tmp_path: Path
) -> None:
    """The trap: cellpy's ``refuse_copying=True`` removes the .res it read. Shown on a COPY."""
    pytest.importorskip("cellpy")
    work = tmp_path / "work"
    (work / "bin").mkdir(parents=True)
    fake = work / "bin" / "mdb-export"
    fake.write_text(FAKE_MDB_EXPORT.format(python=sys.executable))
    fake.chmod(0o755)
    victim = work / "copy.res"
    victim.write_bytes((cycler / RES[0]).read_bytes())
    env = {**os.environ, "PATH": f"{work / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "TMPDIR": str(work)}  # fmt: skip
    code = (
        "from cellpy.readers.instruments.arbin_res import DataLoader\n"
        "data = DataLoader().loader_executor('copy.res', refuse_copying=True)\n"
        "print(len(data.raw))\n"
    )
    done = _run_cellpy(code, work, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "10261"  # cellpy read it...
    assert not victim.exists()  # ...and deleted the file it was given
    # ours, on the same bytes: read, and the file stays byte-identical
    victim.write_bytes((cycler / RES[0]).read_bytes())
    sha, mtime = _sha(victim), victim.stat().st_mtime_ns
    assert len(casip.data.read(victim).data) == 10261
    assert victim.exists() and _sha(victim) == sha and victim.stat().st_mtime_ns == mtime


def test_cellpy_leaves_world_readable_copy_in_tmp_but_ours_leaves_nothing(
    cycler: Path, tmp_path: Path, private_tempdir: Path
) -> None:
    """The trap: cellpy copies the .res into the temp dir (mode kept, e.g. 0644) and, when its
    mdb-export step fails, leaves the copy there. Shown with a temp dir of the test's own."""
    pytest.importorskip("cellpy")
    work, tmp = tmp_path / "work", tmp_path / "cellpy-tmp"
    work.mkdir()
    tmp.mkdir()
    src = work / "cell.res"
    src.write_bytes((cycler / RES[0]).read_bytes())
    src.chmod(0o644)
    env = {**os.environ, "PATH": "/nonexistent", "TMPDIR": str(tmp)}
    code = (
        "from cellpy.readers.instruments.arbin_res import DataLoader\n"
        "try:\n    DataLoader().loader_executor('cell.res')\n"
        "except Exception as exc:\n    print(type(exc).__name__)\n"
    )
    done = _run_cellpy(code, work, env)
    left = tmp / "cell.res"
    assert left.exists(), done.stdout + done.stderr[-2000:]
    assert stat.S_IMODE(left.stat().st_mode) & 0o004  # readable by every user
    # ours: nothing in the temp dir, whatever the outcome
    casip.data.read(src)
    assert list(private_tempdir.iterdir()) == []
