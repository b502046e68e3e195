"""Declarative table layouts (Neware and LANHE in Chinese and European locales, Excel).

The round trips over every option are in test_roundtrip.py (the variants of
casip.data.synthetic_tables); here: what a user sees for files that go wrong, and the
details the round trip does not show (encodings, messages, several record sheets, the BTS 7
layout without test time, the streaming path).
"""

from __future__ import annotations

import numpy as np
import pytest

import casip.data.synthetic_tables  # noqa: F401  (registers the table variants)
from casip.data import read, summary, synthetic
from casip.data.readers import adapters
from casip.data.store import Store
from casip.errors import CasipInputError

pytest.importorskip("python_calamine")


@pytest.fixture(scope="module")
def profile():
    return synthetic.make_profile(n_cycles=3, capacity_ah=0.2, c_rate=1.0, sample_s=10, seed=3)


def test_every_layout_is_an_adapter():
    mods = adapters()
    for fmt in ("neware-table", "lanhe-table", "excel-table"):
        assert fmt in mods
        assert mods[fmt].DESCRIPTION


def test_gbk_chinese_neware(profile, tmp_path):
    path = synthetic.write("neware-table", profile, tmp_path / "记录.csv", encoding="gb18030",
                           language="zh", current_unit="mA", capacity_unit="mAh")
    raw = path.read_bytes()
    assert "电压".encode("gb18030") in raw and "电压".encode() not in raw  # really GBK
    test = read(path)
    assert test.provenance.format == "neware-table"
    assert test.metadata.extra["encoding"] == "gb18030"
    assert test.metadata.tester == "Neware"
    types = set(test.data["step_type"])
    assert {"rest", "cc_charge", "cv_charge", "cc_discharge"} <= types
    cyc = summary.cycles(test)
    truth = profile.truth()
    np.testing.assert_allclose(cyc["discharge_capacity_ah"], truth["discharge_capacity_ah"],
                               rtol=0.005)


def test_decimal_comma_semicolon(profile, tmp_path):
    path = synthetic.write("neware-table-eu", profile, tmp_path / "eu.csv", delimiter=";",
                           decimal=",", current_unit="A")
    assert b"3," in path.read_bytes()
    test = read(path)
    assert any("decimal commas" in w for w in test.warnings)
    np.testing.assert_allclose(test.data["voltage_volt"], profile.voltage_v, atol=1e-5)


def test_unsigned_currents_signed_by_step_type(profile, tmp_path):
    path = synthetic.write("lanhe-table", profile, tmp_path / "l.csv", sign="unsigned",
                           language="en")
    test = read(path)
    assert any("signed by their step type" in w for w in test.warnings)
    assert (test.data["current_ampere"][test.data["step_type"] == "cc_discharge"] < 0).all()


def test_unknown_unit_names_the_column(profile, tmp_path):
    path = synthetic.write("lanhe-table", profile, tmp_path / "u.csv", language="en",
                           current_unit="mA")
    text = path.read_text().replace("Current/mA", "Current/furlong")
    path.write_text(text)
    with pytest.raises(CasipInputError) as err:
        read(path)
    msg = str(err.value)
    assert "Current/furlong" in msg and "furlong" in msg and "u.csv" in msg


def test_cut_file_is_refused(profile, tmp_path):
    path = synthetic.write("neware-table", profile, tmp_path / "cut.csv", encoding="utf-8")
    data = path.read_bytes()
    last = data.rstrip(b"\r\n").rfind(b"\n")
    cut = tmp_path / "cut2.csv"
    cut.write_bytes(data[: last + 30])  # a few fields of the last record
    with pytest.raises(CasipInputError, match="truncated"):
        read(cut)


def test_streaming_equals_whole(profile, tmp_path):
    path = synthetic.write("neware-table", profile, tmp_path / "s.csv", encoding="gb18030",
                           time_form="hms", counter_reset="direction", delimiter="\t")
    whole = read(path)
    store = Store(tmp_path / "store")
    res = store.add_file(path, batch_rows=50)
    assert res.status == "ingested", res.error
    ts = store.table(res.test_id, "timeseries")
    np.testing.assert_allclose(ts["test_time_second"], whole.data["test_time_second"])
    np.testing.assert_allclose(ts["charging_capacity_ah"], whole.data["charging_capacity_ah"],
                               atol=1e-9)
    cyc = store.table(res.test_id, "cycles")
    np.testing.assert_allclose(cyc["charge_capacity_ah"], profile.truth()["charge_capacity_ah"],
                               rtol=0.005)


def test_bts7_record_export_without_test_time(profile, tmp_path):
    """BTSDA 7 'Record ID' export: step time only, per-step counters, no step type."""
    cnt = profile.counters("step")
    rows = ["Cycle ID,Step ID,Record ID,Time(h:min:s.ms),Voltage(V),Current(mA),"
            "Capacitance_Chg(mAh),Capacitance_DChg(mAh),Realtime"]
    st = profile.step_time_s
    for k in range(len(profile)):
        s = st[k]
        rows.append(
            f"{profile.cycle[k]},{profile.step_count[k]},{k + 1},"
            f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:06.3f},"
            f"{profile.voltage_v[k]:.4f},{profile.current_a[k] * 1e3:.3f},"
            f"{cnt['qc'][k] * 1e3:.5f},{cnt['qd'][k] * 1e3:.5f},"
            f"2024-03-01 09:30:00"
        )
    path = tmp_path / "bts7.csv"
    path.write_text("\n".join(rows) + "\n")
    test = read(path)
    assert test.provenance.format == "neware-table"
    np.testing.assert_allclose(test.data["test_time_second"], profile.time_s, atol=1e-3)
    cyc = summary.cycles(test)
    np.testing.assert_allclose(cyc["charge_capacity_ah"], profile.truth()["charge_capacity_ah"],
                               rtol=0.005)


def test_day_first_dates(tmp_path):
    lines = ["Record;TestTime/Sec;Voltage/V;Current/mA;SysTime"]
    for k in range(40):
        lines.append(f"{k + 1};{k * 3600};3,{700 + k};100,0;{1 + k // 24:02d}.02.2024 "
                     f"{k % 24:02d}:00:00")
    path = tmp_path / "dmy.csv"
    path.write_text("\n".join(lines) + "\n")
    test = read(path)
    assert test.provenance.format == "lanhe-table"
    assert test.metadata.start_time.day == 1 and test.metadata.start_time.month == 2
    assert any("%d.%m.%Y" in w for w in test.warnings)


def test_excel_record_sheets_in_order(profile, tmp_path):
    """Records split over two sheets (past Excel's row limit) are read in order."""
    openpyxl = pytest.importorskip("openpyxl")
    one = synthetic.write("excel-table", profile, tmp_path / "one.xlsx", layout="neware",
                          language="zh")
    wb = openpyxl.load_workbook(one)
    rec = wb["记录层"]
    rows = list(rec.iter_rows(values_only=True))
    half = len(rows) // 2
    wb2 = openpyxl.Workbook()
    wb2.remove(wb2.active)
    for name, part in (("记录层", rows[:half]), ("记录层_2", [rows[0], *rows[half:]])):
        ws = wb2.create_sheet(name)
        for r in part:
            ws.append(r)
    two = tmp_path / "two.xlsx"
    wb2.save(two)
    a, b = read(one), read(two)
    assert b.provenance.format == "excel-table"
    assert b.metadata.extra["layout"] == "neware-table"
    np.testing.assert_allclose(a.data["charging_capacity_ah"], b.data["charging_capacity_ah"])


def test_excel_without_a_cycler_sheet(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.title = "Budget"
    wb.active.append(["Item", "Cost"])
    wb.active.append(["cells", 3])
    path = tmp_path / "budget.xlsx"
    wb.save(path)
    with pytest.raises(CasipInputError, match="no sheet") as err:
        read(path)
    assert "Budget" in str(err.value)


def test_excel_cut_short_is_truncated(profile, tmp_path):
    path = synthetic.write("excel-table", profile, tmp_path / "x.xlsx")
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(CasipInputError, match="truncated"):
        read(cut)


def test_legacy_xls_explained(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(CasipInputError, match=r"\.xlsx"):
        read(path)


def test_clock_set_back_once_is_kept(tmp_path):
    """A wall clock set back an hour mid-test (daylight saving) is read as written."""
    lines = ["Record,TestTime/Sec,Voltage/V,Current/mA,SysTime"]
    for k in range(30):
        hour = 9 + k // 10 - (1 if k >= 20 else 0)
        lines.append(f"{k + 1},{k * 60},3.{700 + k},100.0,2024/10/27 {hour:02d}:{k % 10:02d}:00")
    path = tmp_path / "dst.csv"
    path.write_text("\n".join(lines) + "\n")
    test = read(path)
    unix = test.data["unix_time_second"].to_numpy()
    assert (np.diff(unix) < 0).sum() == 1


def test_twelve_hour_clock(tmp_path):
    lines = ["Record,TestTime/Sec,Voltage/V,Current/mA,SysTime"]
    for k in range(30):
        lines.append(f"{k + 1},{k * 60},3.{700 + k},100.0,4/30/2024 1:{k:02d}:00 PM")
    path = tmp_path / "pm.csv"
    path.write_text("\n".join(lines) + "\n")
    test = read(path)
    assert test.metadata.start_time.hour == 13


def test_excel_lanhe_sheet_is_read_as_lanhe(profile, tmp_path):
    """A LANHE English record sheet also meets the Neware layout's required columns; the
    layout that knows more of its names (State, SysTime...) reads it, so that magnitudes are
    signed by LANHE's state codes (found by the round trips: read as Neware, unsigned)."""
    path = synthetic.write("excel-table", profile, tmp_path / "l.xlsx", layout="lanhe",
                           language="en", sign="unsigned", cells="text")
    test = read(path)
    assert test.metadata.extra["layout"] == "lanhe-table"
    np.testing.assert_allclose(test.data["current_ampere"], profile.current_a, atol=1e-6)
