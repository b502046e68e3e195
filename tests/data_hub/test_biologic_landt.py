"""BioLogic .mpr and Landt CSV readers: real files, cross-checks, broken files, source safety.

The real files are read in place from the shared data folder (skipped when it is absent); the
broken ones are made here, in ``tmp_path``, from the real ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import casip.data as cdata
from casip.data import schema
from casip.data.readers import adapters, biologic_mpr, landt_csv
from casip.errors import CasipInputError

BIOL = "biol.mpr"
JDB = "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
LANDT = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
LANDT_BDF = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
CELLPY_MPR = "cellpy-reference-outputs/loader_biologics_mpr.parquet"
MPR_FILES = (BIOL, JDB)


@pytest.fixture(scope="module")
def cycler(shared_data: Path) -> Path:
    return shared_data / "cycler"


@pytest.fixture(scope="module")
def read_cache(cycler: Path):
    """Each shared file read once through the public dispatcher."""
    cache: dict[str, cdata.CyclerTest] = {}

    def get(name: str) -> cdata.CyclerTest:
        if name not in cache:
            cache[name] = cdata.read(cycler / name)
        return cache[name]

    return get


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mpr_points(path: Path) -> int:
    """Point count in the data module header, read independently of the reader."""
    raw = path.read_bytes()
    at = raw.index(b"MODULEVMP data")
    return struct.unpack_from("<I", raw, at + 6 + 10 + 25 + 16)[0]


# --------------------------------------------------------------------------- BioLogic .mpr


@pytest.mark.parametrize("name", MPR_FILES)
def test_mpr_reads_through_dispatcher(read_cache, cycler: Path, name: str) -> None:
    test = read_cache(name)
    assert cdata.detect_format(cycler / name) == "biologic-mpr"
    assert test.provenance.format == "biologic-mpr"
    assert test.provenance.reader_library is None  # hand-written
    d = test.data
    assert len(d) == _mpr_points(cycler / name)
    assert np.all(np.diff(d["test_time_second"]) >= 0)
    for c in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh"):
        assert np.all(np.diff(d[c]) >= -1e-12), f"{c} must never reset"
    assert test.metadata.tester == "BioLogic"


def test_jdb11_voltage_within_the_programmed_window(read_cache) -> None:
    """The file name states the GCPL window, 2 V to 3.8 V, and the C/24 rate."""
    d = read_cache(JDB).data
    assert d["voltage_volt"].min() == pytest.approx(2.0, abs=2e-3)
    assert d["voltage_volt"].max() == pytest.approx(3.8, abs=2e-3)
    cc = d[d["step_type"].isin(["cc_charge", "cc_discharge"])]
    # one current magnitude on both sides (C/24): 0.0888 mA
    assert np.median(np.abs(cc["current_ampere"])) == pytest.approx(8.88e-5, rel=2e-3)


def test_biol_matches_cellpy_reference(read_cache, cycler: Path) -> None:
    """Row by row against cellpy's own parse of biol.mpr (23561 rows), after unit conversion."""
    ref = pd.read_parquet(cycler / CELLPY_MPR)
    d = read_cache(BIOL).data
    assert len(ref) == len(d) == 23561
    np.testing.assert_allclose(d["test_time_second"], ref["test_time"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(d["voltage_volt"], ref["voltage"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(d["current_ampere"], ref["current"] * 1e-3, rtol=0, atol=1e-10)
    # (Q-Qo) is EC-Lab's signed charge since the start [mAh]: charge minus discharge
    net_mah = (d["charging_capacity_ah"] - d["discharging_capacity_ah"]) * 1e3
    np.testing.assert_allclose(net_mah, ref["QminusQnull"], rtol=0, atol=1e-6)
    assert net_mah.iloc[-1] == pytest.approx(4.976893, abs=1e-6)
    np.testing.assert_allclose(d["charging_energy_wh"], ref["Energy_charge"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(d["step_index"], ref["Ns"] + 1)
    np.testing.assert_array_equal(d["cycle_count"], ref["cycle_index"])


@pytest.mark.parametrize("name", MPR_FILES)
def test_mpr_counters_agree_with_integrated_current(read_cache, name: str) -> None:
    """Per constant-current step, the file's own charge counter (dQ) against I x dt.

    EC-Lab's current at a point is the mean over the interval before it, so the rectangle rule
    on the right point is the matching integral. Impedance (GEIS) steps of biol.mpr are left
    out: their current samples are an AC excitation, whose net charge EC-Lab counts as zero.
    """
    d = read_cache(name).data
    t = d["test_time_second"].to_numpy()
    i = d["current_ampere"].to_numpy()
    dq = pd.Series(np.diff(t, prepend=t[0]) * i / 3600.0)
    checked = 0
    for _, s in d.groupby("step_count"):
        kind = s["step_type"].iloc[0]
        if kind not in ("cc_charge", "cc_discharge") or len(s) < 10:
            continue
        key = "charging_capacity_ah" if kind == "cc_charge" else "discharging_capacity_ah"
        own = s[key].iloc[-1] - s[key].iloc[0]
        mine = abs(dq[s.index[1:]].sum())
        assert mine == pytest.approx(own, rel=1e-3)
        checked += 1
    assert checked >= 4
    # and over the whole test, the trapezoidal integral (schema.integrate_counters) agrees to
    # within the impedance steps' spurious charge (1 % for biol.mpr, 1e-6 for jdb11)
    integ = schema.integrate_counters(d)
    for key in ("charging_capacity_ah", "discharging_capacity_ah"):
        assert integ[key][-1] == pytest.approx(d[key].iloc[-1], rel=0.015, abs=5e-5)


@pytest.mark.parametrize("name", MPR_FILES)
def test_mpr_current_sign_agrees_with_ox_red_flag(read_cache, name: str) -> None:
    """EC-Lab's ox/red flag is set on oxidation; positive current (= charge) must match it."""
    share = read_cache(name).metadata.extra["ox_red_flag_agrees_with_current_sign"]
    assert share >= 0.98  # biol.mpr: 0.99 (its impedance points disagree); jdb11: 1.0


def test_jdb11_charge_raises_voltage(read_cache) -> None:
    """The sign convention seen in the data: positive current raises the cell voltage."""
    d = read_cache(JDB).data
    for kind, sign in (("cc_charge", 1), ("cc_discharge", -1)):
        steps = d[d["step_type"] == kind].groupby("step_count")["voltage_volt"]
        change = steps.last() - steps.first()
        assert (np.sign(change) == sign).all()
        assert (np.sign(d.loc[d["step_type"] == kind, "current_ampere"]) == sign).all()


@pytest.mark.parametrize(
    ("name", "start", "channel", "module_date"),
    [
        (BIOL, dt.datetime(2017, 3, 15, 10, 22, 54), "2", "03.15.17"),
        (JDB, dt.datetime(2020, 10, 26, 12, 49, 58), "9", "10/26/20"),
    ],
)
def test_mpr_metadata(read_cache, cycler, name, start, channel, module_date) -> None:
    test = read_cache(name)
    md = test.metadata
    assert abs((md.start_time.replace(tzinfo=None) - start).total_seconds()) < 1
    # the start date agrees with the date stamped on the file's data module header
    assert module_date.encode() in (cycler / name).read_bytes()[:8000]
    assert md.start_time.strftime("%m/%d/%y") == module_date.replace(".", "/")
    assert md.channel == channel  # the file names end in _C02 / _C09
    assert md.extra["original_file_name"].endswith(f"_C{int(channel):02d}.mpr")
    d = test.data
    assert d["unix_time_second"].iloc[0] == pytest.approx(
        start.replace(tzinfo=dt.UTC).timestamp(), abs=1
    )
    np.testing.assert_allclose(
        d["unix_time_second"] - d["test_time_second"], d["unix_time_second"].iloc[0], atol=1e-3
    )
    assert any("local time" in w for w in test.warnings)


def test_mpr_settings_metadata(read_cache) -> None:
    biol = read_cache(BIOL).metadata
    assert biol.extra["comments"] == "Si/C Li half cell with reference electrode"
    assert biol.extra["electrode_material"] == "Si/C"
    assert read_cache(JDB).metadata.schedule == "GCPL"  # the file name says gcpl
    assert biol.nominal_capacity_ah is None and biol.active_mass_g is None  # not stated


# --------------------------------------------------------------------------- Landt CSV


def _landt_rows(path: Path) -> int:
    """Data rows by a plain line count: lines after the header line."""
    lines = path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("channel_index,"))
    return sum(1 for ln in lines[k + 1 :] if ln.strip())


def test_landt_reads_through_dispatcher(read_cache, cycler: Path) -> None:
    test = read_cache(LANDT)
    assert cdata.detect_format(cycler / LANDT) == "landt-csv"
    assert test.provenance.format == "landt-csv"
    d = test.data
    assert len(d) == _landt_rows(cycler / LANDT) == 25162
    assert np.all(np.diff(d["test_time_second"]) > 0)
    assert d["voltage_volt"].between(0.0, 3.0).all()
    md = test.metadata
    assert md.tester == "Landt"
    assert md.start_time == dt.datetime(2024, 4, 30, 14, 33, 19)
    assert md.cell_id is None and md.nominal_capacity_ah is None  # empty in the file's block
    assert md.channel is None  # channel_index counts rows in this file
    for c in ("ambient_temperature_celsius", "applied_pressure_pa"):
        assert c not in d.columns  # all-zero sensor columns are left out
    assert any("no sensor" in w for w in test.warnings)


def test_landt_agrees_row_by_row_with_its_bdf_conversion(read_cache, cycler: Path) -> None:
    d = read_cache(LANDT).data
    bdf = pd.read_csv(cycler / LANDT_BDF)
    assert len(bdf) == len(d)
    for c in ("test_time_second", "voltage_volt", "current_ampere"):
        np.testing.assert_allclose(d[c], bdf[c], rtol=0, atol=1e-9, err_msg=c)
    np.testing.assert_array_equal(d["step_index"], bdf["step_index"])
    # The BDF conversion copied Landt's per-step counters; ours are cumulative. Within each
    # step, ours minus its value at the step's start is the file's per-step counter.
    step_run = (bdf["step_index"].diff().fillna(0) != 0).cumsum()
    for c in ("charging_capacity_ah", "discharging_capacity_ah"):
        per_step = d[c] - d.groupby(step_run)[c].transform("first")
        bdf_first = bdf.groupby(step_run)[c].transform("first")
        np.testing.assert_allclose(per_step + bdf_first, bdf[c], rtol=0, atol=1e-9)
        # and the cumulative total is the sum of the steps' final values
        assert d[c].iloc[-1] == pytest.approx(bdf.groupby(step_run)[c].last().sum(), abs=1e-9)
    assert d["discharging_capacity_ah"].iloc[-1] == pytest.approx(0.0063 + 0.0013, abs=1e-9)
    assert d["charging_capacity_ah"].iloc[-1] == pytest.approx(0.0032, abs=1e-9)


def test_landt_counters_agree_with_current_times_time(read_cache) -> None:
    """Per step, the counter's rise against |I| x duration, within the current's rounding.

    Landt writes current to 0.1 mA (here 0.2 mA for ~0.18 mA), so the bound is the step's
    duration times half a digit (0.05 mA), plus one digit of the capacity (0.1 mAh).
    """
    d = read_cache(LANDT).data
    for _, s in d.groupby("step_count"):
        duration = s["test_time_second"].iloc[-1] - s["test_time_second"].iloc[0]
        i = s["current_ampere"].median()
        key = "charging_capacity_ah" if i > 0 else "discharging_capacity_ah"
        rise = s[key].iloc[-1] - s[key].iloc[0]
        expected = abs(i) * duration / 3600
        assert abs(rise - expected) <= 5e-5 * duration / 3600 + 1e-4


def test_landt_sign_convention(read_cache, cycler: Path) -> None:
    """Landt writes discharge current negative (by the file's step names): kept as is."""
    d = read_cache(LANDT).data
    names = pd.read_csv(cycler / LANDT, skiprows=6, index_col=False)["step_name"]
    assert (d.loc[names.str.startswith("discharge").to_numpy(), "current_ampere"] < 0).all()
    assert (d.loc[names.str.startswith("charge").to_numpy(), "current_ampere"] > 0).all()


def test_landt_magnitude_currents_are_negated_on_discharge(tmp_path: Path, cycler: Path) -> None:
    text = (cycler / LANDT).read_text()
    head, _, body = text.partition("step_name\n")
    rows = [ln.replace(",-0.", ",0.") for ln in body.splitlines()]
    p = tmp_path / "magnitudes.csv"
    p.write_text(head + "step_name\n" + "\n".join(rows) + "\n")
    test = cdata.read(p)
    assert (test.data.loc[test.data["step_type"] == "cc_discharge", "current_ampere"] < 0).all()
    assert any("magnitudes" in w for w in test.warnings)


def test_landt_metadata_block_values(tmp_path: Path, cycler: Path) -> None:
    text = (cycler / LANDT).read_text()
    text = text.replace("cell id: ,", "cell id: R2032-7,", 1)
    text = text.replace("C rate:Ah,", "C rate:mAh,2.5", 1)
    text = text.replace("cell model:,", "cell model:LiGr R2032,", 1)
    p = tmp_path / "with_meta.csv"
    p.write_text(text)
    md = cdata.read(p).metadata
    assert md.cell_id == "R2032-7"
    assert md.nominal_capacity_ah == pytest.approx(2.5e-3)
    assert md.extra["cell_model"] == "LiGr R2032"


# --------------------------------------------------------------------------- format detection


def test_sniffers_claim_only_their_own_files(cycler: Path) -> None:
    mine = {"biologic-mpr": set(MPR_FILES), "landt-csv": {LANDT}}
    for path in sorted(p for p in cycler.iterdir() if p.is_file()):
        head = path.open("rb").read(65536)
        for fmt, mod in (("biologic-mpr", biologic_mpr), ("landt-csv", landt_csv)):
            score = mod.sniff(head, path.name)
            if path.name in mine[fmt]:
                assert score >= 0.9, (fmt, path.name)
            else:
                assert score < 0.5, (fmt, path.name)
    assert {"biologic-mpr", "landt-csv"} <= set(adapters())


# --------------------------------------------------------------------------- broken files


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _raises(path: Path, *words: str, format: str | None = None) -> str:
    with pytest.raises(CasipInputError) as info:
        cdata.read(path, format=format)
    msg = str(info.value)
    assert path.name in msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.mark.parametrize("name", MPR_FILES)
@pytest.mark.parametrize("where", [30, 60, 200, 5000, 0.5, -100, -1])
def test_truncated_mpr_is_an_error(tmp_path, cycler, name, where) -> None:
    """Any cut of an .mpr file is an error: every module states its length."""
    raw = (cycler / name).read_bytes()
    cut = int(len(raw) * where) if isinstance(where, float) else where % len(raw)
    _raises(_write(tmp_path, f"cut_{cut}.mpr", raw[:cut]), "truncated")


@pytest.mark.parametrize("name", MPR_FILES)
def test_corrupted_mpr_is_an_error(tmp_path, cycler, name) -> None:
    """Random bytes over module headers or over whole records are errors.

    An .mpr file has no checksum: bytes changed only inside columns the reader does not use
    (impedance, counter-electrode...) cannot be noticed, so each case here spans at least one
    full record (53 or 153 bytes), whose time, voltage and current are then checked.
    """
    raw = (cycler / name).read_bytes()
    rng = np.random.default_rng(20261125)
    at = raw.index(b"MODULEVMP data") + 1000
    cases = {
        "module_header": (52, 200),
        "data_block": (len(raw) // 3, 4096),
        "one_record": (len(raw) // 2, 160),
        "data_start": (at, 160),
    }
    for label, (start, n) in cases.items():
        bad = bytearray(raw)
        bad[start : start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        _raises(_write(tmp_path, f"{label}.mpr", bytes(bad)), "corrupted")
    # a wrong point count in the data module header
    bad = bytearray(raw)
    struct.pack_into("<I", bad, at - 1000 + 57, _mpr_points(cycler / name) + 1)
    _raises(_write(tmp_path, "count.mpr", bytes(bad)), "corrupted")


def test_mpr_without_header_empty_and_mislabelled(tmp_path, cycler) -> None:
    raw = (cycler / BIOL).read_bytes()
    _raises(_write(tmp_path, "no_header.mpr", raw[52:]), "no supported cycler format")
    _raises(_write(tmp_path, "no_header2.mpr", raw[52:]), "not a BioLogic", format="biologic-mpr")
    _raises(_write(tmp_path, "empty.mpr", b""), "empty")
    # another format renamed .mpr: the content decides
    landt = _write(tmp_path, "landt_renamed.mpr", (cycler / LANDT).read_bytes())
    assert cdata.read(landt).provenance.format == "landt-csv"
    _raises(landt, "not a BioLogic", format="biologic-mpr")
    other = _write(tmp_path, "maccor_renamed.mpr", (cycler / "maccor_001.txt").read_bytes())
    _raises(other, "not a BioLogic", format="biologic-mpr")
    # and an .mpr renamed .csv is still read as one
    assert cdata.read(_write(tmp_path, "renamed.csv", raw)).provenance.format == "biologic-mpr"


def test_truncated_landt(tmp_path, cycler) -> None:
    """A cut in the metadata block or header is an error; so is a cut in the table (issue 13:
    a file ending mid-record is refused, naming the line)."""
    raw = (cycler / LANDT).read_bytes()
    _raises(_write(tmp_path, "cut_meta.csv", raw[:50]), "no supported cycler format")
    _raises(_write(tmp_path, "cut_meta2.csv", raw[:50]), "no header line", format="landt-csv")
    header_end = raw.index(b"step_name\n") + len(b"step_name\n")
    _raises(_write(tmp_path, "cut_header.csv", raw[: header_end - 1]), "no data rows")
    for cut in (header_end + 300, len(raw) // 2, len(raw) - 10):
        p = _write(tmp_path, f"cut_{cut}.csv", raw[:cut])
        line = raw[:cut].count(b"\n") + 1
        _raises(p, f"the file ends mid-record at line {line}: it looks truncated")
    at_newline = raw.rindex(b"\n", 0, len(raw) // 2) + 1
    test = cdata.read(_write(tmp_path, "cut_at_newline.csv", raw[:at_newline]))
    assert len(test.data) == raw[:at_newline].count(b"\n") - raw[:header_end].count(b"\n")


def test_corrupted_landt_is_an_error(tmp_path, cycler) -> None:
    raw = (cycler / LANDT).read_bytes()
    rng = np.random.default_rng(7)
    for label, start, n in (
        ("block", len(raw) // 3, 4096),
        ("row", len(raw) // 2, 64),
        ("metadata", 100, 50),
        ("tail", len(raw) - 500, 100),
    ):
        bad = bytearray(raw)
        bad[start : start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        msg = _raises(_write(tmp_path, f"{label}.csv", bytes(bad)), "corrupted")
        assert msg.isprintable()
    text = raw.decode()
    _raises(
        _write(tmp_path, "letters.csv", text.replace(",2.9214,", ",2.9x14,", 1).encode()),
        "corrupted",
    )


def test_landt_without_header_empty_and_mislabelled(tmp_path, cycler) -> None:
    raw = (cycler / LANDT).read_bytes()
    header_end = raw.index(b"step_name\n") + len(b"step_name\n")
    _raises(_write(tmp_path, "no_header.csv", raw[header_end:]), "no supported cycler format")
    _raises(_write(tmp_path, "no_header2.csv", raw[header_end:]), "no header", format="landt-csv")
    _raises(_write(tmp_path, "empty.csv", b""), "empty")
    mpr = _write(tmp_path, "mpr_as_landt.csv", (cycler / BIOL).read_bytes())
    _raises(mpr, "binary", format="landt-csv")
    maccor = _write(tmp_path, "maccor.csv", (cycler / "maccor_001.txt").read_bytes())
    _raises(maccor, "no header", format="landt-csv")


# --------------------------------------------------------------------------- source safety


def _snapshot(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return _sha(path), st.st_mtime_ns, st.st_mode


@pytest.mark.parametrize("name", [*MPR_FILES, LANDT])
def test_source_untouched_and_no_temp_files(tmp_path, monkeypatch, cycler, name) -> None:
    src = cycler / name
    before = _snapshot(src)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    global_tmp = Path(tempfile.gettempdir())
    stem_before = {p.name for p in global_tmp.iterdir() if Path(name).stem in p.name}
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    cdata.read(src)
    assert _snapshot(src) == before
    assert list(private_tmp.iterdir()) == []
    stem_after = {p.name for p in global_tmp.iterdir() if Path(name).stem in p.name}
    assert stem_after <= stem_before


def test_trap_mpr_source_is_never_deleted(tmp_path, monkeypatch, cycler) -> None:
    """cellpy 1.0.3's BioLogic loader with ``refuse_copying=True`` deletes the .mpr it read
    (its clean-up removes the path it was given), and without it leaves a world-readable copy
    in the temporary folder when reading fails. Our read must leave the source present and
    byte-identical, and leave no copy anywhere, for a good and a failing read alike."""
    work = tmp_path / "work"
    work.mkdir()
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    for name in MPR_FILES:
        src = work / name
        shutil.copyfile(cycler / name, src)
        os.chmod(src, 0o644)  # writable, as in a user's folder: deletable by a careless reader
        before = _snapshot(src)
        test = cdata.read(src)
        assert len(test.data) > 0
        assert src.exists() and _snapshot(src) == before
    broken = work / "broken.mpr"
    broken.write_bytes((cycler / BIOL).read_bytes()[:100_000])
    with pytest.raises(CasipInputError):
        cdata.read(broken)
    assert broken.exists() and broken.stat().st_size == 100_000
    assert sorted(p.name for p in work.iterdir()) == sorted([*MPR_FILES, "broken.mpr"])
    assert list(private_tmp.iterdir()) == []
