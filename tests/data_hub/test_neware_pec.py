"""Neware (CSV, .nda, .ndax) and PEC (CSV) readers on the real shared files.

Values are cross-checked against cellpy's own parsed output where the shared data have it
(``cellpy-reference-outputs``) and otherwise against independent checks (the file's own
counters vs the integral of current, the library's raw records, wall-clock spans). A corpus of
broken files is made here from the real ones. The sources are read in place and never touched.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casip.data import detect_format, read, summary
from casip.data.readers import neware_csv, neware_nda, pec_csv
from casip.data.readers._base import HEAD_BYTES
from casip.errors import CasipInputError

FILES = {
    "neware_uio.csv": "neware-csv",
    "test.nda": "neware-nda",
    "20260302_IFE_BTS85_2_9_8_1.ndax": "neware-nda",
    "pec.csv": "pec-csv",
}
MODULES = {"neware-csv": neware_csv, "neware-nda": neware_nda, "pec-csv": pec_csv}


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    path = shared_data / "cycler"
    if not path.is_dir():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="module")
def tests_read(cycler: Path) -> dict:
    """Each shared file read once through the public dispatcher."""
    return {name: read(cycler / name) for name in FILES}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reference(cycler: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(cycler / "cellpy-reference-outputs" / name)


def _per_cycle_max(ref: pd.DataFrame, col: str) -> np.ndarray:
    return ref.groupby("cycle_index", sort=True)[col].max().to_numpy()


# ------------------------------------------------------------------------------------------
# detection
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FILES))
def test_format_detected_from_content(cycler: Path, name: str, tmp_path: Path):
    assert detect_format(cycler / name) == FILES[name]
    # the content decides, not the name
    renamed = tmp_path / "renamed.dat"
    shutil.copyfile(cycler / name, renamed)
    assert detect_format(renamed) == FILES[name]


def test_sniffers_refuse_every_other_shared_file(cycler: Path):
    for path in sorted(p for p in cycler.iterdir() if p.is_file()):
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        for fmt, mod in MODULES.items():
            score = mod.sniff(head, path.name)
            if FILES.get(path.name) == fmt:
                assert score >= 0.9, (path.name, fmt, score)
            else:
                assert score < 0.5, (path.name, fmt, score)


# ------------------------------------------------------------------------------------------
# values: Neware CSV against cellpy's parsed output
# ------------------------------------------------------------------------------------------


def test_neware_csv_matches_cellpy_reference(cycler: Path, tests_read: dict):
    test = tests_read["neware_uio.csv"]
    df = test.data
    ref = _reference(cycler, "loader_neware_txt.parquet")
    assert len(df) == len(ref) == 9065
    np.testing.assert_allclose(df["voltage_volt"], ref["voltage"], atol=1e-9)
    np.testing.assert_allclose(df["current_ampere"], ref["current"], atol=1e-12)
    np.testing.assert_allclose(df["test_time_second"], ref["test_time"], atol=1e-6)
    assert (df["cycle_count"].to_numpy() == ref["cycle_index"].to_numpy()).all()
    # cellpy accumulates capacities within each cycle and leaves energies as the tester wrote
    # them (restarting at every step); our counters accumulate over the whole test
    cyc = summary.cycles(test)
    for ours, theirs in (
        ("charge_capacity_ah", "charge_capacity"),
        ("discharge_capacity_ah", "discharge_capacity"),
    ):
        np.testing.assert_allclose(cyc[ours], _per_cycle_max(ref, theirs), rtol=1e-6, atol=1e-12)
    steps = summary.steps(test)
    run = ((ref["step_index"].diff() != 0) | (ref["cycle_index"].diff() != 0)).cumsum()
    for ours, theirs in (
        ("charge_energy_wh", "charge_energy"),
        ("discharge_energy_wh", "discharge_energy"),
    ):
        per_step = ref.groupby(run)[theirs].max().to_numpy()
        np.testing.assert_allclose(steps[ours], per_step, rtol=1e-6, atol=1e-12)
    # sign: charge steps positive, discharge steps negative (Neware's own labels)
    labels = ref["Step Type"].to_numpy()
    cur = df["current_ampere"].to_numpy()
    assert (cur[labels == "CC Chg"] > 0).all()
    assert (cur[labels == "CC DChg"] < 0).all()
    # wall-clock and metadata
    assert test.metadata.start_time.isoformat() == "2022-05-18T16:27:52"
    first = pd.Timestamp("2022-05-18 16:27:52", tz="UTC").timestamp()
    assert df["unix_time_second"].iloc[0] == first
    assert test.metadata.tester == "Neware"
    assert test.metadata.active_mass_g == pytest.approx(0.00208, rel=1e-4)
    assert any("time zone" in w for w in test.warnings)


def test_neware_csv_counters_cumulative_and_match_current_integral(tests_read: dict):
    test = tests_read["neware_uio.csv"]
    df = test.data
    for c in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
              "discharging_energy_wh"):
        assert (np.diff(df[c].to_numpy()) >= -1e-12).all(), c
    cyc = summary.cycles(test)
    assert cyc["capacity_check_ok"].all()
    assert np.nanmax(np.abs(cyc["charge_integral_deviation"])) < 0.005
    assert np.nanmax(np.abs(cyc["discharge_integral_deviation"])) < 0.005


def test_neware_csv_row_count_equals_plain_line_count(cycler: Path, tests_read: dict):
    with (cycler / "neware_uio.csv").open("rb") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    assert len(tests_read["neware_uio.csv"].data) == len(lines) - 1


# ------------------------------------------------------------------------------------------
# values: PEC against cellpy's parsed output
# ------------------------------------------------------------------------------------------


def test_pec_csv_matches_cellpy_reference(cycler: Path, tests_read: dict):
    test = tests_read["pec.csv"]
    df = test.data
    ref = _reference(cycler, "loader_pec_csv.parquet")
    assert len(df) == len(ref) == 16255
    np.testing.assert_allclose(df["voltage_volt"], ref["voltage"], rtol=1e-12)  # mV -> V
    np.testing.assert_allclose(df["current_ampere"], ref["current"], atol=1e-12)  # mA -> A
    np.testing.assert_allclose(df["test_time_second"], ref["test_time"], atol=1e-9)
    assert (df["cycle_count"].to_numpy() == ref["cycle_index"].to_numpy()).all()
    cyc = summary.cycles(test)
    for ours, theirs in (
        ("charge_capacity_ah", "charge_capacity"),
        ("discharge_capacity_ah", "discharge_capacity"),
        ("charge_energy_wh", "charge_energy"),
        ("discharge_energy_wh", "discharge_energy"),
    ):
        np.testing.assert_allclose(cyc[ours], _per_cycle_max(ref, theirs), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        df["ambient_temperature_celsius"], ref["ambient_temperature_degc"], equal_nan=True
    )
    np.testing.assert_allclose(
        df["surface_temperature_celsius"], ref["cell_surface_temperature_degc"], equal_nan=True
    )
    unix = ref["date_time"].astype("datetime64[ns]").astype("int64") / 1e9
    np.testing.assert_allclose(df["unix_time_second"], unix, atol=1e-6)
    # the discharge of a 43 Ah cell at C/25: ~44 Ah in each full cycle, current negative
    assert cyc["discharge_capacity_ah"].iloc[1] == pytest.approx(44.351991)
    assert (df.loc[df["step_index"] == 10, "current_ampere"] < 0).all()


def test_pec_csv_metadata_from_its_header(tests_read: dict):
    md = tests_read["pec.csv"].metadata
    assert md.tester == "PEC"
    assert md.schedule == "SAFT VL43EFe dQdV C/25"
    assert md.start_time.isoformat() == "2019-02-22T16:21:35"
    assert md.channel == "rack SBT0550 shelf 001 position 1"
    assert md.temperature_celsius is None  # "R.T./AMB" is not a number: not guessed
    assert md.extra["Test Temp"] == "R.T./AMB"
    assert md.extra["Test"] == "187"


def test_pec_csv_counters_match_current_integral(tests_read: dict):
    cyc = summary.cycles(tests_read["pec.csv"])
    assert cyc["capacity_check_ok"].all()
    assert np.nanmax(np.abs(cyc[["charge_integral_deviation",
                                 "discharge_integral_deviation"]].to_numpy())) < 0.001


def test_pec_csv_row_count_equals_plain_line_count(cycler: Path, tests_read: dict):
    with (cycler / "pec.csv").open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    header = next(i for i, r in enumerate(rows) if r[:2] == ["Test", "Cell"])
    assert len(tests_read["pec.csv"].data) == len(rows) - header - 1


# ------------------------------------------------------------------------------------------
# values: Neware binary files against NewareNDA's raw records and independent checks
# ------------------------------------------------------------------------------------------


def _raw_nda(path: Path) -> pd.DataFrame:
    import NewareNDA

    return NewareNDA.read(str(path), software_cycle_number=False)


@pytest.mark.parametrize("name", ["test.nda", "20260302_IFE_BTS85_2_9_8_1.ndax"])
def test_neware_binary_values(cycler: Path, tests_read: dict, name: str):
    test = tests_read[name]
    df = test.data
    raw = _raw_nda(cycler / name)
    assert len(df) == len(raw)
    np.testing.assert_allclose(df["voltage_volt"], raw["Voltage"].astype(float))
    np.testing.assert_allclose(df["current_ampere"], raw["Current(mA)"].astype(float) / 1000)
    t = df["test_time_second"].to_numpy()
    assert t[0] == 0 and (np.diff(t) >= 0).all()
    # test time built from step times spans the same as the tester's wall-clock (within 0.1%
    # and the 1 s resolution of old files)
    unix = df["unix_time_second"].to_numpy()
    # the tester's clock is corrected now and then (the .ndax steps back ~0.4 s every 8 h)
    assert (np.diff(unix) > -1.0).all()
    assert abs((t[-1] - t[0]) - (unix[-1] - unix[0])) < max(2.0, 1e-3 * t[-1])
    v = df["voltage_volt"]
    assert v.between(-1.0, 6.0).all()
    # the file's own counters against the integral of current, per cycle
    cyc = summary.cycles(test)
    assert cyc["capacity_check_ok"].all()
    for c in ("charging_capacity_ah", "discharging_capacity_ah"):
        assert (np.diff(df[c].to_numpy()) >= -1e-12).all()
    # per step: the cumulative counters rise by what the tester recorded in that step
    steps = summary.steps(test)
    per_step = raw.groupby("Step", sort=True)["Charge_Capacity(mAh)"].max().to_numpy() / 1000
    np.testing.assert_allclose(steps["charge_capacity_ah"], per_step, rtol=1e-5, atol=1e-9)
    assert test.metadata.tester == "Neware"
    assert test.metadata.start_time is not None


def test_ndax_is_read_with_exact_utc_times_and_metadata(tests_read: dict):
    test = tests_read["20260302_IFE_BTS85_2_9_8_1.ndax"]
    md = test.metadata
    assert md.channel == "72"
    assert md.schedule == "LNMO-C_Formation_1Ah feb 2026.xml"
    assert md.start_time.utcoffset().total_seconds() == 0
    assert test.data["unix_time_second"].iloc[0] == pytest.approx(
        pd.Timestamp("2026-02-27 10:17:33.977", tz="UTC").timestamp()
    )
    assert not any("time zone" in w for w in test.warnings)
    assert test.data["charging_capacity_ah"].iloc[-1] == pytest.approx(1.4188, rel=1e-3)


def test_nda_metadata(tests_read: dict):
    md = tests_read["test.nda"].metadata
    assert md.extra["nda_version"] == 29
    assert md.extra["server_version"].startswith("BTSServer")
    assert md.active_mass_g == pytest.approx(0.001)


# ------------------------------------------------------------------------------------------
# the trap: a reader that multiplied Neware cycle numbers by 2*pi
# ------------------------------------------------------------------------------------------


def _assert_sane_cycles(cycle: pd.Series) -> None:
    assert cycle.dtype == np.int64
    c = cycle.to_numpy()
    assert c[0] == 1
    assert set(np.unique(np.diff(c))) <= {0, 1}


def test_neware_csv_cycle_numbers_are_the_files_own(cycler: Path, tests_read: dict):
    with (cycler / "neware_uio.csv").open(newline="") as fh:
        own = [int(r["Cycle Index"]) for r in csv.DictReader(fh)]
    cycle = tests_read["neware_uio.csv"].data["cycle_count"]
    _assert_sane_cycles(cycle)
    assert cycle.tolist() == own
    assert cycle.max() == 4  # not 4 * 2 * pi


@pytest.mark.parametrize("name", ["test.nda", "20260302_IFE_BTS85_2_9_8_1.ndax"])
def test_neware_binary_cycle_numbers_are_the_files_own(cycler: Path, tests_read: dict, name):
    cycle = tests_read[name].data["cycle_count"]
    _assert_sane_cycles(cycle)
    assert cycle.tolist() == _raw_nda(cycler / name)["Cycle"].astype(int).tolist()


def test_pec_cycle_numbers_are_the_files_own_plus_one(cycler: Path, tests_read: dict):
    with (cycler / "pec.csv").open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    header = next(i for i, r in enumerate(rows) if r[:2] == ["Test", "Cell"])
    col = rows[header].index("Cycle")
    own = [int(r[col]) for r in rows[header + 1 :]]
    cycle = tests_read["pec.csv"].data["cycle_count"]
    _assert_sane_cycles(cycle)
    assert cycle.tolist() == [c + 1 for c in own]


# ------------------------------------------------------------------------------------------
# other exports of the same formats (a format, not a file)
# ------------------------------------------------------------------------------------------


def test_neware_csv_in_milliamperes_and_tab_separated(cycler: Path, tmp_path: Path):
    """Neware also exports mA/mAh/mWh, with tabs; units are read from the header."""
    with (cycler / "neware_uio.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[:2001]
    header = rows[0]
    scale = {"Current(A)": "Current(mA)", "Chg. Cap.(Ah)": "Chg. Cap.(mAh)",
             "DChg. Cap.(Ah)": "DChg. Cap.(mAh)", "Chg. Energy(Wh)": "Chg. Energy(mWh)",
             "DChg. Energy(Wh)": "DChg. Energy(mWh)"}
    cols = [header.index(k) for k in scale]
    out = [[scale.get(h, h) for h in header]]
    for r in rows[1:]:
        r = list(r)
        for j in cols:
            r[j] = repr(float(r[j]) * 1000)
        out.append(r)
    path = tmp_path / "neware_ma.txt"
    path.write_text("\n".join("\t".join(r) for r in out) + "\n")
    assert detect_format(path) == "neware-csv"
    test = read(path)
    base = read(cycler / "neware_uio.csv").data.iloc[:2000]
    np.testing.assert_allclose(test.data["current_ampere"], base["current_ampere"], rtol=1e-12)
    np.testing.assert_allclose(
        test.data["discharging_capacity_ah"], base["discharging_capacity_ah"], rtol=1e-9
    )


def test_pec_without_metadata_block_still_reads(cycler: Path, tmp_path: Path):
    lines = (cycler / "pec.csv").read_bytes().split(b"\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith(b"Test,Cell"))
    path = tmp_path / "pec_data_only.csv"
    path.write_bytes(b"\n".join(lines[k:]))
    test = read(path)
    assert test.provenance.format == "pec-csv"
    assert len(test.data) == 16255
    assert test.metadata.schedule is None


# ------------------------------------------------------------------------------------------
# safety: the source is never touched, nothing is left in the temporary folder
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FILES))
def test_source_untouched_and_no_temporary_files(
    cycler: Path, name: str, tmp_path: Path, monkeypatch
):
    src = cycler / name
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    assert tempfile.gettempdir() == str(private_tmp)
    made: list[tuple[str, int]] = []
    real_mkdtemp = tempfile.mkdtemp

    def spying_mkdtemp(*args, **kwargs):
        d = real_mkdtemp(*args, **kwargs)
        made.append((d, os.stat(d).st_mode & 0o777))
        return d

    monkeypatch.setattr(tempfile, "mkdtemp", spying_mkdtemp)
    before = (_sha256(src), src.stat().st_mtime_ns, src.stat().st_size)
    siblings = sorted(p.name for p in src.parent.iterdir())
    read(src)
    assert (_sha256(src), src.stat().st_mtime_ns, src.stat().st_size) == before
    assert sorted(p.name for p in src.parent.iterdir()) == siblings
    assert list(private_tmp.iterdir()) == []
    # any temporary folder made on the way (NewareNDA extracts an .ndax) was private
    assert all(mode == 0o700 for _, mode in made), made


# ------------------------------------------------------------------------------------------
# broken files, made here from the real ones
# ------------------------------------------------------------------------------------------


def _corrupt(data: bytes, at: float, size: int = 512, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    k = int(len(data) * at)
    out[k : k + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return bytes(out)


def _expect_error(path: Path, fmt: str | None = None, match: str | None = None) -> str:
    with pytest.raises(CasipInputError) as info:
        read(path, format=fmt)
    msg = str(info.value)
    assert str(path) in msg
    if match:
        assert match in msg, msg
    return msg


@pytest.mark.parametrize("name", ["neware_uio.csv", "pec.csv"])
@pytest.mark.parametrize("frac", [0.01, 0.5, 0.9, 0.999])
def test_truncated_csv_is_refused(cycler, name, frac, tmp_path):
    """A CSV cut mid-line is refused, naming the line (issue 13: one policy for all formats)."""
    data = (cycler / name).read_bytes()
    cut = data[: int(len(data) * frac)]
    assert not cut.endswith(b"\n")
    path = tmp_path / name
    path.write_bytes(cut)
    line = cut.count(b"\n") + 1
    _expect_error(path, match=f"the file ends mid-record at line {line}: it looks truncated")


@pytest.mark.parametrize("name", ["neware_uio.csv", "pec.csv"])
def test_csv_cut_inside_the_header_is_an_error(cycler, name, tmp_path):
    data = (cycler / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[:60])
    _expect_error(path)
    _expect_error(path, FILES[name])


@pytest.mark.parametrize("name", ["neware_uio.csv", "pec.csv"])
@pytest.mark.parametrize("at", [0.3, 0.6])
def test_csv_with_random_bytes_is_an_error(cycler, name, at, tmp_path):
    path = tmp_path / name
    path.write_bytes(_corrupt((cycler / name).read_bytes(), at))
    _expect_error(path, match="unreadable data")


def test_neware_csv_without_header_is_an_error(cycler, tmp_path):
    data = (cycler / "neware_uio.csv").read_bytes()
    path = tmp_path / "neware_uio.csv"
    path.write_bytes(data.split(b"\n", 1)[1])
    _expect_error(path, match="matches no supported")
    _expect_error(path, "neware-csv", match="no Neware column header")


def test_pec_without_header_is_an_error(cycler, tmp_path):
    lines = (cycler / "pec.csv").read_bytes().split(b"\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith(b"Test,Cell"))
    path = tmp_path / "pec.csv"
    path.write_bytes(b"\n".join(lines[k + 1 :]))
    _expect_error(path, match="matches no supported")
    _expect_error(path, "pec-csv", match="no PEC data header")


@pytest.mark.parametrize("name", list(FILES))
def test_empty_file_is_an_error(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"")
    _expect_error(path, match="empty")
    _expect_error(path, FILES[name], match="empty")


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("neware_uio.csv", "arbin_example.csv"),
        ("neware_uio.csv", "pec.csv"),
        ("pec.csv", "neware_uio.csv"),
        ("pec.csv", "maccor_001.txt"),
        ("test.nda", "neware_uio.csv"),
        ("test.nda", "biol.mpr"),
        ("20260302_IFE_BTS85_2_9_8_1.ndax", "pec.csv"),
        ("20260302_IFE_BTS85_2_9_8_1.ndax", "20160805_test001_45_cc_01.res"),
    ],
)
def test_other_format_renamed_to_our_extension(cycler, name, other, tmp_path):
    """Mislabelled: detection goes by content (never ours); forcing our format is an error."""
    path = tmp_path / f"mislabelled{Path(name).suffix}"
    shutil.copyfile(cycler / other, path)
    try:
        assert detect_format(path) != FILES[name]
    except CasipInputError as exc:
        assert str(path) in str(exc)
    _expect_error(path, FILES[name])


@pytest.mark.parametrize("frac", [0.9, 0.999])
def test_truncated_nda_is_refused_not_read_partly(cycler, frac, tmp_path):
    """Issue 13: one truncation policy; a cut .nda is refused (NewareNDA alone reads it up to
    its last whole record)."""
    data = (cycler / "test.nda").read_bytes()
    path = tmp_path / "test.nda"
    path.write_bytes(data[: int(len(data) * frac)])
    _expect_error(path, match=f"the file ends mid-record at byte {path.stat().st_size}")


def test_nda_cut_before_its_records_is_an_error(cycler, tmp_path):
    data = (cycler / "test.nda").read_bytes()
    path = tmp_path / "test.nda"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, match="no valid data record")


def test_nda_with_a_marker_but_no_record_fails_fast(cycler, tmp_path):
    """NewareNDA 2026.6.11 loops forever on this; the adapter must refuse it, not hang."""
    data = (cycler / "test.nda").read_bytes()
    path = tmp_path / "padded.nda"
    path.write_bytes(data[:85000] + b"\x00\x00\x00\x00\x55\x00" + b"\x01" * 200)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            read(path)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the reader hangs"
    assert len(outcome) == 1 and isinstance(outcome[0], CasipInputError)
    assert str(path) in str(outcome[0])


@pytest.mark.parametrize("at", [0.8, 0.9, 0.97])
def test_nda_with_random_bytes_in_its_records_is_an_error(cycler, at, tmp_path):
    path = tmp_path / "test.nda"
    path.write_bytes(_corrupt((cycler / "test.nda").read_bytes(), at, size=64))
    _expect_error(path)


@pytest.mark.parametrize("frac", [0.01, 0.5, 0.999])
def test_truncated_ndax_is_an_error(cycler, frac, tmp_path):
    data = (cycler / "20260302_IFE_BTS85_2_9_8_1.ndax").read_bytes()
    path = tmp_path / "cut.ndax"
    path.write_bytes(data[: int(len(data) * frac)])
    _expect_error(path, match=f"the file ends mid-record at byte {path.stat().st_size}")


@pytest.mark.parametrize("at", [0.3, 0.6])
def test_ndax_with_random_bytes_is_an_error(cycler, at, tmp_path):
    path = tmp_path / "bad.ndax"
    path.write_bytes(_corrupt((cycler / "20260302_IFE_BTS85_2_9_8_1.ndax").read_bytes(), at))
    _expect_error(path, match="damaged .ndax")


@pytest.mark.parametrize("name", ["test.nda", "20260302_IFE_BTS85_2_9_8_1.ndax"])
def test_neware_binary_without_header_is_an_error(cycler, name, tmp_path):
    path = tmp_path / name
    path.write_bytes((cycler / name).read_bytes()[1024:])
    _expect_error(path, match="matches no supported")
    _expect_error(path, "neware-nda")


# ------------------------------------------------------------------------------------------
# conventions: counters made cumulative, current sign
# ------------------------------------------------------------------------------------------


def test_counter_cumulative_per_step_per_cycle_and_holding():
    step = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    # Neware: restarts at every step
    per_step = np.array([0.0, 1.0, 0.0, 2.0, 0.0, 0.5, 0.0, 0.0])
    out, n = neware_csv.counter_cumulative(per_step, step)
    np.testing.assert_allclose(out, [0, 1, 1, 3, 3, 3.5, 3.5, 3.5])
    assert n == 3
    # PEC: holds its value over the steps of a cycle, restarts at the next cycle (step 4)
    per_cycle = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.0, 0.5])
    out, n = neware_csv.counter_cumulative(per_cycle, step)
    np.testing.assert_allclose(out, [0, 1, 1, 1, 1, 2, 2, 2.5])
    assert n == 1
    # already cumulative, with a missing value that holds the previous one
    cumulative = np.array([0.0, 1.0, np.nan, 2.0, 2.0, 3.0, 3.0, 4.0])
    out, n = neware_csv.counter_cumulative(cumulative, step)
    np.testing.assert_allclose(out, [0, 1, 1, 2, 2, 3, 3, 4])
    assert n == 0


def test_neware_csv_with_inverted_current_is_flipped(cycler: Path, tmp_path: Path):
    """A file whose discharge steps (by the tester's labels) carry positive current."""
    with (cycler / "neware_uio.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[:3001]
    j = rows[0].index("Current(A)")
    for r in rows[1:]:
        r[j] = repr(-float(r[j]))
    path = tmp_path / "inverted.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    test = read(path)
    base = read(cycler / "neware_uio.csv").data.iloc[:3000]
    np.testing.assert_allclose(test.data["current_ampere"], base["current_ampere"])
    assert any("sign was inverted" in w for w in test.warnings)
