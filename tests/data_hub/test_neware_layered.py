"""Neware BTSDA "regular export" (cycle, step and record layers in one file).

The files are written here from the documented layout (three indented header lines, then a
cycle row, its step rows and each step's record rows) with a known profile: three cycles of
rest, CC charge, CV charge (or one CC-CV step), rest and CC discharge, with known capacities.
Variants: English UTF-8 in mA with signed current, Chinese GBK in A with current written as a
magnitude, tab-separated UTF-8 with a BOM and one CCCV_Chg step per charge, a pause between
cycles, and cut, mislabelled and unit-less files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casip.data import Store, detect_format, read, summary
from casip.data.readers import ADAPTERS, neware_csv, neware_layered
from casip.data.readers._base import HEAD_BYTES, StreamFallback
from casip.errors import CasipInputError

#: cycle -> (CC charge s at 1 A, CV charge s, CC discharge s at 1 A)
CC_S, CV_S = 3240.0, 1800.0
DIS_S = {1: 3708.0, 2: 3672.0, 3: 3636.0}
Q_CC = CC_S / 3600  # 0.9 Ah
Q_CV = (0.5 + 0.05) / 2 * CV_S / 3600  # linear 0.5 -> 0.05 A: 0.1375 Ah
Q_CHARGE = Q_CC + Q_CV
Q_DIS = {c: s / 3600 for c, s in DIS_S.items()}  # 1.03, 1.02, 1.01 Ah
START = dt.datetime(2026, 4, 2, 8, 0, 0)
DCIR = {1: 0.025, 2: 0.026, 3: 0.027}  # ohm, stated on the discharge step rows

EN = {
    "cycle": ["Cycle ID", "Cap_Chg(mAh)", "Cap_DChg(mAh)", "Chg/DChg Efficiency(%)",
              "Engy_Chg(mWh)", "Engy_DChg(mWh)"],
    "step": ["Step ID", "Step Name", "Step Time(h:min:s.ms)", "Capacity(mAh)", "Energy(mWh)",
             "Start Voltage(V)", "End Voltage(V)", "DCIR(O)"],
    "ohm": 1.0,
    "record": ["Record ID", "Time(h:min:s.ms)", "Voltage(V)", "Current(mA)", "Temperature(C)",
               "Capacity(mAh)", "Capacity Density(mAh/g)", "Energy(mWh)", "CmpEng(mWh/g)",
               "Realtime", "Min-T(C)", "Max-T(C)", "Avg-T(C)", "Power(mW)"],
    "types": {"rest": "Rest", "cc": "CC_Chg", "cv": "CV_Chg", "cccv": "CCCV_Chg",
              "dis": "CC_DChg"},
}
ZH = {
    "cycle": ["循环序号", "充电容量/Ah", "放电容量/Ah", "充放电效率/%", "充电能量/Wh",
              "放电能量/Wh"],
    "step": ["工步号", "工步类型", "工步时间", "容量/Ah", "能量/Wh", "起始电压/V", "终止电压/V",
             "直流内阻/mΩ"],
    "ohm": 1e3,
    "record": ["记录序号", "时间", "电压/V", "电流/A", "温度/℃", "容量/Ah", "比容量/mAh/g",
               "能量/Wh", "比能量/mWh/g", "绝对时间", "最低温度/℃", "最高温度/℃", "平均温度/℃",
               "功率/W"],
    "types": {"rest": "搁置", "cc": "恒流充电", "cv": "恒压充电", "cccv": "恒流恒压充电",
              "dis": "恒流放电"},
}


def _hms(s: float) -> str:
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{sec:06.3f}"


def _steps(cycle: int, cccv: bool) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(kind, step times, current A, voltage V) of the steps of one cycle."""
    out = []
    t = np.arange(1, 7) * 10.0
    out.append(("rest", t, np.zeros_like(t), np.full_like(t, 3.45)))
    tc = np.arange(1, 91) * 36.0
    ic = np.ones_like(tc)
    vc = 3.5 + 0.7 * tc / CC_S
    tv = np.arange(1, 31) * 60.0
    iv = 0.5 - 0.45 * tv / CV_S
    vv = np.full_like(tv, 4.2)
    if cccv:
        out.append(("cccv", np.r_[tc, CC_S + tv], np.r_[ic, iv], np.r_[vc, vv]))
    else:
        out.append(("cc", tc, ic, vc))
        out.append(("cv", tv, iv, vv))
    out.append(("rest", t, np.zeros_like(t), np.full_like(t, 4.15)))
    n = int(DIS_S[cycle] / 36)
    td = np.arange(1, n + 1) * 36.0
    out.append(("dis", td, -np.ones_like(td), 4.1 - 1.1 * td / DIS_S[cycle]))
    return out


def _capacity(kind: str, t: np.ndarray) -> np.ndarray:
    """The step's charge counter [Ah] at step times ``t`` (exact for the profile)."""
    if kind == "rest":
        return np.zeros_like(t)
    if kind in ("cc", "dis"):
        return t / 3600
    if kind == "cv":
        return (0.5 * t - 0.45 * t**2 / (2 * CV_S)) / 3600
    tv = np.clip(t - CC_S, 0, None)  # cccv: CC, then CV, one counter
    return np.minimum(t, CC_S) / 3600 + (0.5 * tv - 0.45 * tv**2 / (2 * CV_S)) / 3600


def write_layered(path: Path, *, lang: dict = EN, sep: str = ",", encoding: str = "utf-8",
                  amps: float = 1e3, ah: float = 1e3, signed: bool = True, pad: bool = True,
                  cccv: bool = False, pause_s: float = 0.0, date_fmt: str = "%Y-%m-%d %H:%M:%S",
                  cycle_cap: dict[int, float] | None = None, text_cells: bool = False
                  ) -> pd.DataFrame:
    """Write a regular export; returns the expected time series (SI, BDF sign).

    ``text_cells``: step and record cells written as BTSDA's CSV writes them for Excel, quoted
    text with a leading tab (``"\t3.4500"``), and ``-`` where a step has no DC resistance.
    """

    def q(cells: list[str]) -> list[str]:
        return [f'"\t{c}"' if text_cells and c else c for c in cells]

    width = 2 + len(lang["record"])
    rows: list[list[str]] = [
        lang["cycle"], ["", *lang["step"]], ["", "", *lang["record"]],
    ]
    expected = []
    t0 = 0.0
    rec_id = step_id = 0
    for cycle in (1, 2, 3):
        steps = _steps(cycle, cccv)
        if cycle > 1:
            t0 += pause_s
        qc = sum(_capacity(k, t)[-1] for k, t, _, _ in steps if k in ("cc", "cv", "cccv"))
        qd = sum(_capacity(k, t)[-1] for k, t, _, _ in steps if k == "dis")
        if cycle_cap and cycle in cycle_cap:
            qd = cycle_cap[cycle]
        rows.append([str(cycle), f"{qc * ah:.4f}", f"{qd * ah:.4f}", f"{100 * qd / qc:.3f}",
                     f"{qc * 3.9 * ah:.4f}", f"{qd * 3.6 * ah:.4f}"])
        for kind, t, i, v in steps:
            step_id += 1
            cap = _capacity(kind, t)
            energy = cap * v
            dcir = f"{DCIR[cycle] * lang['ohm']:.4f}" if kind == "dis" else "-"
            rows.append(["", *q([str(step_id), lang["types"][kind], _hms(t[-1]),
                                 f"{cap[-1] * ah:.4f}", f"{energy[-1] * ah:.4f}", f"{v[0]:.4f}",
                                 f"{v[-1]:.4f}", dcir])])
            written_i = i if signed else np.abs(i)
            for k in range(len(t)):
                rec_id += 1
                when = START + dt.timedelta(seconds=t0 + t[k])
                rows.append(["", "", *q([str(rec_id), _hms(t[k]), f"{v[k]:.4f}",
                                         f"{written_i[k] * amps:.4f}", "25.0", f"{cap[k] * ah:.6f}",
                                         f"{cap[k] * ah / 0.01:.3f}", f"{energy[k] * ah:.6f}",
                                         "0.0", when.strftime(date_fmt), "25.0", "25.0", "25.0",
                                         f"{v[k] * abs(i[k]) * amps:.4f}"])])
                expected.append((t0 + t[k], v[k], i[k], cycle, step_id, kind,
                                 DCIR[cycle] if kind == "dis" else np.nan))
            t0 += t[-1]
    text = "\n".join(sep.join(r + [""] * (width - len(r)) if pad else r) for r in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return pd.DataFrame(expected, columns=["t", "v", "i", "cycle", "step", "kind", "dcir"])


def _check(test, exp: pd.DataFrame) -> None:
    d = test.data
    assert len(d) == len(exp)
    np.testing.assert_allclose(d["test_time_second"], exp["t"], atol=1e-6)
    np.testing.assert_allclose(d["voltage_volt"], exp["v"], atol=1e-4)
    np.testing.assert_allclose(d["current_ampere"], exp["i"], atol=1e-6)
    np.testing.assert_array_equal(d["cycle_count"], exp["cycle"])
    np.testing.assert_array_equal(d["step_index"], exp["step"])
    np.testing.assert_array_equal(d["step_count"], exp["step"])
    assert np.all(np.diff(d["test_time_second"]) > 0)
    np.testing.assert_allclose(d["internal_resistance_ohm"], exp["dcir"], atol=1e-9)
    cyc = summary.cycles(test)
    assert cyc["cycle_count"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(cyc["charge_capacity_ah"], [Q_CHARGE] * 3, rtol=1e-5)
    np.testing.assert_allclose(cyc["discharge_capacity_ah"], list(Q_DIS.values()), rtol=1e-5)
    assert {"charging_capacity_ah", "discharging_capacity_ah"} <= set(test.reported_counters)
    # the file's counters agree with the integral of current (capacity check passes)
    assert cyc["capacity_check_ok"].all()


def _step_kinds(test) -> list[str]:
    steps = summary.steps(test)
    return steps["step_type"].tolist()


def test_english_utf8_in_ma(tmp_path: Path) -> None:
    path = tmp_path / "regular.csv"
    exp = write_layered(path)
    assert detect_format(path) == "neware-layered"
    test = read(path)
    _check(test, exp)
    assert _step_kinds(test) == ["rest", "cc_charge", "cv_charge", "rest", "cc_discharge"] * 3
    assert test.metadata.tester == "Neware"
    assert test.metadata.start_time == START + dt.timedelta(seconds=10)
    assert test.provenance.format == "neware-layered"
    unix = test.data["unix_time_second"].to_numpy()
    np.testing.assert_allclose(unix - unix[0], exp["t"] - exp["t"][0], atol=1e-6)
    assert not any("sign" in w or "magnitude" in w for w in test.warnings)
    assert not any("cycle layer" in w for w in test.warnings)


def test_chinese_gbk_in_ampere_with_unsigned_current(tmp_path: Path) -> None:
    path = tmp_path / "常规导出.csv"
    exp = write_layered(path, lang=ZH, encoding="gbk", amps=1.0, ah=1.0, signed=False, pad=False,
                        date_fmt="%Y/%m/%d %H:%M:%S")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    assert detect_format(path) == "neware-layered"
    test = read(path)
    _check(test, exp)  # discharge made negative from the step types (恒流放电)
    assert any("magnitude" in w for w in test.warnings)
    assert _step_kinds(test) == ["rest", "cc_charge", "cv_charge", "rest", "cc_discharge"] * 3


def test_tab_separated_with_bom_and_one_cccv_step(tmp_path: Path) -> None:
    path = tmp_path / "regular.txt"
    exp = write_layered(path, sep="\t", encoding="utf-8-sig", cccv=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert detect_format(path) == "neware-layered"
    test = read(path)
    _check(test, exp)
    assert test.data["step_count"].max() == 12


def test_cells_written_as_quoted_text_with_a_tab(tmp_path: Path) -> None:
    """BTSDA's CSV writer quotes cells and puts a tab before them (so that Excel keeps them as
    text), and writes ``-`` for a missing resistance: read the same as plain cells."""
    path = tmp_path / "excel_text.csv"
    exp = write_layered(path, text_cells=True)
    assert ',"\t' in path.read_text(encoding="utf-8")
    test = read(path)
    _check(test, exp)
    pd.testing.assert_frame_equal(test.data, read(_plain(tmp_path)).data)


def _plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.csv"
    write_layered(path)
    return path


def test_chinese_utf8_gb18030_same_values(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_layered(a, lang=ZH, encoding="utf-8", amps=1.0, ah=1.0)
    write_layered(b, lang=ZH, encoding="gb18030", amps=1.0, ah=1.0)
    pd.testing.assert_frame_equal(read(a).data, read(b).data)


def test_pause_between_steps_is_kept_from_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "pause.csv"
    exp = write_layered(path, pause_s=3600.0)
    test = read(path)
    np.testing.assert_allclose(test.data["test_time_second"], exp["t"], atol=1e-6)
    first2 = int(np.flatnonzero(exp["cycle"].to_numpy() == 2)[0])
    gap = exp["t"][first2] - exp["t"][first2 - 1]
    assert gap == pytest.approx(3610.0)


def test_cycle_layer_disagreeing_with_the_records_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    write_layered(path, cycle_cap={2: 0.5})
    test = read(path)
    (w,) = [w for w in test.warnings if "cycle layer" in w]
    assert "cycle 2 discharge" in w and "500 mAh stated" in w


def test_streamed_ingestion_equals_the_whole_file_read(tmp_path: Path) -> None:
    path = tmp_path / "regular.csv"
    write_layered(path, lang=ZH, encoding="gbk", amps=1.0, ah=1.0, signed=False)
    whole = read(path).data
    batches = list(neware_layered.iter_batches(path, batch_rows=37))
    assert len(batches) > 4  # 16 KiB chunks at least: steps and cycles span batches
    streamed = pd.concat([b.data for b in batches if len(b.data.columns)], ignore_index=True)
    raw = neware_layered.read(path).data
    pd.testing.assert_frame_equal(streamed, raw)
    store = Store(tmp_path / "store")
    (res,) = store.ingest([path], batch_rows=37)
    assert res.status == "ingested", res.error
    stored = store.table(res.test_id, "timeseries")
    for col in ("test_time_second", "voltage_volt", "current_ampere", "cycle_count",
                "charging_capacity_ah", "discharging_capacity_ah"):
        np.testing.assert_allclose(stored[col].to_numpy(dtype=float),
                                   whole[col].to_numpy(dtype=float), atol=1e-9, err_msg=col)
    cycles = store.table(res.test_id, "cycles")
    np.testing.assert_allclose(cycles["discharge_capacity_ah"], list(Q_DIS.values()), rtol=1e-5)
    assert store.info(res.test_id)["provenance"]["format"] == "neware-layered"


@pytest.mark.parametrize("cut_in", ["time", "date", "fields"])
def test_a_file_cut_mid_record_is_refused(tmp_path: Path, cut_in: str) -> None:
    path = tmp_path / "regular.csv"
    write_layered(path)
    data = path.read_bytes().rstrip(b"\n")
    start = data.rfind(b"\n") + 1
    last = data[start:]
    fields = last.split(b",")
    if cut_in == "time":  # inside the step time: the rest of the line is lost
        at = len(b",".join(fields[:3])) + 3
    elif cut_in == "date":
        at = len(b",".join(fields[:11])) + 8
    else:
        at = len(b",".join(fields[:7]))
    cut = tmp_path / "cut.csv"
    cut.write_bytes(data[: start + at])
    line = data[:start].count(b"\n") + 1
    expected = f"the file ends mid-record at line {line}: it looks truncated"
    with pytest.raises(CasipInputError, match=expected):
        read(cut)
    (res,) = Store(tmp_path / "s").ingest([cut], batch_rows=50)
    assert res.status == "failed" and expected in res.error and str(cut) in res.error


def test_units_must_be_stated(tmp_path: Path) -> None:
    path = tmp_path / "nounit.csv"
    write_layered(path)
    text = path.read_text(encoding="utf-8").replace("Current(mA)", "Current", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CasipInputError, match=r"Current.*no unit"):
        read(path)


def test_an_unknown_resistance_unit_leaves_the_resistance_out(tmp_path: Path) -> None:
    path = tmp_path / "ohm.csv"
    exp = write_layered(path)
    text = path.read_text(encoding="utf-8").replace("DCIR(O)", "DCIR(kO)", 1)
    path.write_text(text, encoding="utf-8")
    test = read(path)
    assert "internal_resistance_ohm" not in test.data.columns
    assert any("'kO'" in w and "not read" in w for w in test.warnings)
    np.testing.assert_allclose(test.data["current_ampere"], exp["i"], atol=1e-9)


def test_a_misplaced_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    write_layered(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3], lines[4] = lines[4], lines[3]  # a step row before the first cycle row
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CasipInputError, match=r"step row before any cycle row \(line 4\)"):
        read(path)


def test_a_row_that_fits_no_layer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shifted.csv"
    write_layered(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[10] = "," + lines[10]  # a record row shifted by one cell
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CasipInputError, match=r"fits no layer.*\(line 11\)"):
        read(path)


def test_magnitudes_without_discharge_in_the_first_batch_are_read_whole(tmp_path: Path) -> None:
    """The sign convention is taken from the first batch; where that batch has no discharge
    and the file writes magnitudes, the stream gives way to the whole-file read."""
    path = tmp_path / "late.csv"
    exp = write_layered(path, signed=False, text_cells=True)
    with pytest.raises(StreamFallback):
        list(neware_layered.iter_batches(path, batch_rows=50))
    store = Store(tmp_path / "store")
    (res,) = store.ingest([path], batch_rows=50)
    assert res.status == "ingested", res.error
    stored = store.table(res.test_id, "timeseries")
    np.testing.assert_allclose(stored["current_ampere"], exp["i"], atol=1e-9)


def test_sniffers_keep_to_their_own_files(tmp_path: Path, shared_data: Path) -> None:
    """The layered sniffer is tried before neware_csv and must not take its files, and the
    flat-export sniffer does not claim a layered file."""
    assert ADAPTERS.index("neware_layered") < ADAPTERS.index("neware_csv")
    path = tmp_path / "regular.csv"
    write_layered(path)
    head = path.read_bytes()[:HEAD_BYTES]
    assert neware_csv.sniff(head, path.name) == 0.0
    for p in sorted((shared_data / "cycler").iterdir()):
        if p.is_file():
            with p.open("rb") as fh:
                assert neware_layered.sniff(fh.read(HEAD_BYTES), p.name) == 0.0, p.name
