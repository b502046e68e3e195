"""Synthetic files of the declarative table layouts (:mod:`casip.data.readers.table_formats`).

Registers variants in :mod:`casip.data.synthetic` for the Neware and LANHE (Landt) exports
of Chinese- and European-locale installations: Chinese or English headers, UTF-8 (with or
without BOM) or GB18030, comma / semicolon / tab delimiters, decimal commas, A or mA, Ah or
mAh, durations as seconds or ``h:mm:ss``, counters that restart per step, per cycle, at each
change of direction or never, signed currents or magnitudes with the step type, and Excel
workbooks with the record sheet beside step and cycle sheets. The headers are written from
the vendors' documented layouts (listed in :mod:`casip.data.readers.table_formats`), not
from the reader's name tables, so a name the reader lacks fails the round trip.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from casip.data.synthetic import (
    _CAP,
    _CUR,
    Profile,
    Variant,
    _dates,
    _fmt,
    _hms,
    _ints,
    _tol,
    register,
)

_NEWARE_ZH = {"rest": "搁置", "cc_charge": "恒流充电", "cv_charge": "恒压充电",
              "cc_discharge": "恒流放电"}
_NEWARE_EN = {"rest": "Rest", "cc_charge": "CC Chg", "cv_charge": "CV Chg",
              "cc_discharge": "CC DChg"}
_LANHE_CODE = {"rest": "R", "cc_charge": "C_CC", "cv_charge": "C_CV", "cc_discharge": "D_CC"}
_LANHE_ZH = {"rest": "静置", "cc_charge": "恒流充电", "cv_charge": "恒压充电",
             "cc_discharge": "恒流放电"}


def _columns(p: Profile, layout: str, language: str, current_unit: str, capacity_unit: str,
             time_form: str, sign: str, counter_reset: str) -> dict[str, list]:
    """Header -> written values (strings with '.' decimals) of one layout."""
    fi, di = _CUR[current_unit]
    fq, dq = _CAP[capacity_unit]
    eu = capacity_unit.replace("Ah", "Wh")
    cnt = p.counters(counter_reset)
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    zh = language == "zh"
    hms = time_form == "hms"
    step_t = _hms(p.step_time_s, 1) if hms else _fmt(p.step_time_s, 3)
    test_t = _hms(p.time_s, 1) if hms else _fmt(p.time_s, 3)
    qc, qd = _fmt(cnt["qc"] * fq, dq), _fmt(cnt["qd"] * fq, dq)
    ec, ed = _fmt(cnt["ec"] * fq, dq), _fmt(cnt["ed"] * fq, dq)
    both = _fmt((cnt["qc"] + cnt["qd"]) * fq, dq)
    volts = _fmt(p.voltage_v, 5)
    amps = _fmt(cur * fi, di)
    if layout == "neware":
        labels = _NEWARE_ZH if zh else _NEWARE_EN
        unit_t = "" if hms else "(s)"
        names = (["数据序号", "循环号", "工步号", "工步类型", f"时间{unit_t}", f"总时间{unit_t}",
                  f"电流({current_unit})", "电压(V)", f"容量({capacity_unit})",
                  f"充电容量({capacity_unit})", f"放电容量({capacity_unit})",
                  f"充电能量({eu})", f"放电能量({eu})", "日期"] if zh else
                 ["DataPoint", "Cycle Index", "Step Index", "Step Type", f"Time{unit_t}",
                  f"Total Time{unit_t}", f"Current({current_unit})", "Voltage(V)",
                  f"Capacity({capacity_unit})", f"Chg. Cap.({capacity_unit})",
                  f"DChg. Cap.({capacity_unit})", f"Chg. Energy({eu})", f"DChg. Energy({eu})",
                  "Date"])
        values = [_ints(np.arange(1, len(p) + 1)), _ints(p.cycle), _ints(p.step_count),
                  [labels[k] for k in p.step_type], step_t, test_t, amps, volts, both, qc, qd,
                  ec, ed, _dates(p, "%Y-%m-%d %H:%M:%S")]
    else:  # LANHE: one undirected capacity counter, the unit after a slash
        labels = _LANHE_ZH if zh else _LANHE_CODE
        unit_t = "" if hms else "/Sec"
        names = (["序号", "循环", "工步", "状态", f"测试时间{unit_t}", f"步骤时间{unit_t}",
                  "电压/V", f"电流/{current_unit}", f"容量/{capacity_unit}",
                  f"比容量/{capacity_unit}/g", "系统时间"] if zh else
                 ["Record", "Cycle-Index", "Step-Index", "State", f"TestTime{unit_t}",
                  f"StepTime{unit_t}", "Voltage/V", f"Current/{current_unit}",
                  f"Capacity/{capacity_unit}", f"SpeCap/{capacity_unit}/g", "SysTime"])
        values = [_ints(np.arange(1, len(p) + 1)), _ints(p.cycle), _ints(p.step_count),
                  [labels[k] for k in p.step_type], test_t, step_t, volts, amps, both,
                  _fmt((cnt["qc"] + cnt["qd"]) * fq / 0.01, 3),
                  _dates(p, "%Y/%m/%d %H:%M:%S")]
    return dict(zip(names, values, strict=True))


def _write_csv(layout: str):
    def write(p: Profile, path: Path, language: str, encoding: str, delimiter: str,
              decimal: str, current_unit: str, capacity_unit: str, time_form: str, sign: str,
              counter_reset: str, line_ending: str) -> None:
        if decimal == "," and delimiter == ",":
            delimiter = ";"  # no locale writes a decimal comma in a comma-separated file
        cols = _columns(p, layout, language, current_unit, capacity_unit, time_form, sign,
                        counter_reset)
        rows = []
        for row in zip(*cols.values(), strict=True):
            if decimal == ",":
                row = tuple(_comma(v) for v in row)
            rows.append(delimiter.join(row))
        nl = "\r\n" if line_ending == "crlf" else "\n"
        text = nl.join([delimiter.join(cols), *rows]) + nl
        with open(path, "w", encoding=encoding, newline="") as fh:
            fh.write(text)

    return write


def _comma(v: str) -> str:
    """A decimal comma in a number (not in dates or durations)."""
    if ":" in v or "/" in v or "-" in v[1:]:
        return v
    return v.replace(".", ",")


def _write_xlsx(p: Profile, path: Path, layout: str, language: str, current_unit: str,
                capacity_unit: str, time_form: str, sign: str, counter_reset: str,
                cells: str) -> None:
    """A workbook: a cycle sheet, a step sheet and the record sheet (as the vendors export)."""
    from openpyxl import Workbook

    cols = _columns(p, layout, language, current_unit, capacity_unit, time_form, sign,
                    counter_reset)
    wb = Workbook(write_only=True)
    zh = language == "zh"
    cyc = wb.create_sheet("循环层" if zh else "cycle")
    cyc.append(["循环号", "充电容量(mAh)", "放电容量(mAh)"] if zh else
               ["Cycle Index", "Chg. Cap.(mAh)", "DChg. Cap.(mAh)"])
    truth = p.truth()
    for r in truth.itertuples():
        cyc.append([int(r.cycle_count), r.charge_capacity_ah * 1e3, r.discharge_capacity_ah * 1e3])
    stp = wb.create_sheet("工步层" if zh else "step")
    stp.append(["工步号", "工步类型"] if zh else ["Step Index", "Step Type"])
    for k in np.flatnonzero(p.step_starts):
        stp.append([int(p.step_count[k]), str(p.step_type[k])])
    rec = wb.create_sheet("记录层" if zh else "record")
    names = list(cols)
    rec.append(names)
    numeric = cells == "numbers"
    for row in zip(*cols.values(), strict=True):
        out: list = []
        for name, v in zip(names, row, strict=True):
            if numeric and _is_number(v):
                out.append(float(v))
            elif numeric and name in ("日期", "Date", "系统时间", "SysTime"):
                out.append(_dt.datetime.strptime(v.replace("/", "-"), "%Y-%m-%d %H:%M:%S"))
            else:
                out.append(v)
        rec.append(out)
    wb.save(path)


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


_CSV_OPTIONS = {
    "language": ("zh", "en"),
    "encoding": ("gb18030", "utf-8", "utf-8-sig"),
    "delimiter": (",", ";", "\t"),
    "decimal": (".", ","),
    "current_unit": ("mA", "A"),
    "capacity_unit": ("mAh", "Ah"),
    "time_form": ("hms", "seconds"),
    "sign": ("signed", "unsigned"),
    "counter_reset": ("step", "cycle", "direction", "none"),
    "line_ending": ("crlf", "lf"),
}


def _tolerance(**o) -> dict[str, float]:
    di = _CUR[o["current_unit"]]
    return _tol(0.1 if o["time_form"] == "hms" else 1e-3, 10.0 ** -di[1] / di[0], 1e-5)


for _layout, _fmt_id in (("neware", "neware-table"), ("lanhe", "lanhe-table")):
    _opts = dict(_CSV_OPTIONS)
    if _layout == "neware":
        # the plain English comma-separated export is neware-csv's (its own variant)
        _opts["language"] = ("zh",)
    register(f"{_fmt_id}", Variant(format=_fmt_id, options=_opts, write=_write_csv(_layout),
                                   tolerance=_tolerance))
register("neware-table-eu", Variant(
    format="neware-table",
    # with a decimal point, comma- and tab-separated English exports are neware-csv's
    options={**_CSV_OPTIONS, "language": ("en",), "delimiter": (";", "\t"),
             "decimal": (",",)},
    write=_write_csv("neware"), tolerance=_tolerance,
))
register("excel-table", Variant(
    format="excel-table",
    options={"layout": ("neware", "lanhe"), "language": ("zh", "en"),
             "current_unit": ("mA", "A"), "capacity_unit": ("mAh", "Ah"),
             "time_form": ("hms", "seconds"), "sign": ("signed", "unsigned"),
             "counter_reset": ("step", "none"), "cells": ("numbers", "text")},
    write=_write_xlsx, tolerance=_tolerance, suffix=".xlsx",
))
