"""Table layouts of Chinese-made testers, as data for the engine of :mod:`.tabular`.

Each entry is a :class:`~casip.data.readers.tabular.TableFormat`: the header names (English
and Chinese, as the vendors' export dialogs write them), the units each column may carry and
the step-type labels with their direction. A new variant of these exports is a few names or
labels added here; the reading itself is shared.

Sources of the layouts (names and units as the software writes them; no code was taken):

- **Neware BTS** record-layer exports ("数据导出" / "Export data", record layer): BTSDA 7.x
  writes ``Cycle ID, Step ID, Record ID, Time(h:min:s.ms), Voltage(V), Current(mA),
  Capacity(mAh), Energy(mWh), Realtime, Capacitance_Chg(mAh), Capacitance_DChg(mAh),
  Engy_Chg(mWh), Engy_DChg(mWh)...`` (the column lists in cellpy's and other open projects'
  Neware configurations, and Neware's BTSDA manual); BTS 8.x writes ``DataPoint, Cycle Index,
  Step Index, Step Type, Time, Total Time, Current(A|mA), Voltage(V), Capacity, Chg. Cap.,
  DChg. Cap., ..., Date`` (the shared ``neware_uio.csv``). On a Chinese-locale installation the
  same columns are written as 数据序号, 循环号, 工步号, 工步类型, 时间 (step time), 总时间,
  电流(mA), 电压(V), 容量(mAh), 充电容量(mAh), 放电容量(mAh), 能量(mWh), 充电能量(mWh),
  放电能量(mWh), 日期 / 绝对时间 (BTS 8.0 Chinese user manual, "数据导出" chapter), in GBK
  unless UTF-8 is chosen. Step types: 恒流充电 (CC charge), 恒流放电, 恒压充电, 恒流恒压充电,
  恒功率充/放电, 恒阻放电, 搁置 (rest), 脉冲, 工况模拟 (a drive-cycle step: direction unknown).
- **LANHE / Landt** (LANDdt and LANHE BTS software) exports: ``Record, TestTime/Sec,
  StepTime/Sec, Cycle-Index, Step-Index, Voltage/V, Current/mA, Capacity/mAh, SpeCap/mAh/g,
  Energy/mWh, SysTime, State`` (the column names in cellpy's example Landt configuration and
  LANDdt's export dialog; the unit follows a slash); Chinese: 序号, 测试时间, 步骤时间,
  循环, 工步, 电压/V, 电流/mA, 容量/mAh, 比容量/mAh/g, 能量/mWh, 系统时间, 状态. State codes
  ``C_CC``, ``C_CV``, ``D_CC``, ``D_CV``, ``R`` (charge/discharge, constant current/voltage,
  rest) or the Chinese step names above. The ``Capacity`` column restarts at each step and
  counts both directions, so it is split by the step's direction.

European-locale installations of either software write ``;`` or tab delimiters and decimal
commas; the engine detects both.
"""

from __future__ import annotations

from casip.data.readers.neware_csv import (
    CAPACITY_UNITS,
    CURRENT_UNITS,
    ENERGY_UNITS,
    TIME_UNITS,
    VOLTAGE_UNITS,
)
from casip.data.readers.tabular import Column, ExcelAdapter, Layout, TableAdapter, TableFormat

#: durations: a number in a time unit, or h:mm:ss text (the unit then names the form)
DURATION_UNITS = {**TIME_UNITS, "秒": 1.0, "分": 60.0, "分钟": 60.0, "小时": 3600.0,
                  "h:min:s.ms": 1.0, "h:min:s": 1.0, "hh:mm:ss": 1.0, "h:mm:ss": 1.0,
                  "hh:mm:ss.ms": 1.0, "h:mm:ss.ms": 1.0, "d-h:mm:ss": 1.0}
TEMPERATURE_UNITS = {"°c": 1.0, "c": 1.0, "degc": 1.0, "deg c": 1.0, "摄氏度": 1.0}
CAP = {**CAPACITY_UNITS}
ENG = {**ENERGY_UNITS}

#: step labels of both vendors -> (schema step type, direction)
STEP_LABELS: dict[str, tuple[str, int | None]] = {
    # Neware (BTS 7/8, English; '_' and spaces are ignored when comparing)
    "CC Chg": ("cc_charge", 1), "CC DChg": ("cc_discharge", -1),
    "CV Chg": ("cv_charge", 1), "CV DChg": ("cv_discharge", -1),
    "CCCV Chg": ("cc_charge", 1), "CCCV DChg": ("cc_discharge", -1),
    "CP Chg": ("other", 1), "CP DChg": ("other", -1), "CR DChg": ("other", -1),
    "Rest": ("rest", 0), "Pulse": ("pulse", None), "SIM": ("other", None),
    # Neware and LANHE, Chinese
    "恒流充电": ("cc_charge", 1), "恒流放电": ("cc_discharge", -1),
    "恒压充电": ("cv_charge", 1), "恒压放电": ("cv_discharge", -1),
    "恒流恒压充电": ("cc_charge", 1), "恒流恒压放电": ("cc_discharge", -1),
    "恒功率充电": ("other", 1), "恒功率放电": ("other", -1), "恒阻放电": ("other", -1),
    "搁置": ("rest", 0), "静置": ("rest", 0), "脉冲": ("pulse", None),
    "工况模拟": ("other", None), "工况": ("other", None),
    # LANHE state codes
    "C_CC": ("cc_charge", 1), "C_CV": ("cv_charge", 1), "C_CCCV": ("cc_charge", 1),
    "D_CC": ("cc_discharge", -1), "D_CV": ("cv_discharge", -1), "D_CP": ("other", -1),
    "D_CR": ("other", -1), "C_CP": ("other", 1), "R": ("rest", 0),
    "Charge": ("cc_charge", 1), "Discharge": ("cc_discharge", -1),
    "充电": ("cc_charge", 1), "放电": ("cc_discharge", -1),
}


def _plain_english_comma(layout: Layout) -> bool:
    """The English Neware export with a comma or tab and decimal points: ``neware-csv``'s.

    ``neware-csv`` reads it through this same declaration (:func:`.neware_csv.table_format`),
    with Neware's own rules for the English BTS export as hooks."""
    return layout.ascii_header and layout.delimiter in (",", "\t") and layout.decimal == "."


NEWARE = TableFormat(
    format="neware-table",
    vendor="Neware",
    description=("Neware BTS record-layer table in other locales: Chinese headers "
                 "(GBK/GB18030 or UTF-8), ';'/tab delimiters, decimal commas; BTS 7 "
                 "'Record ID' exports"),
    extensions=(".csv", ".txt"),
    source="Neware BTS 8.0 / BTSDA 7.6 export layouts (module docstring)",
    columns=(
        Column("record", ("数据序号", "记录序号", "序号", "DataPoint", "Record ID",
                          "Record Index")),
        Column("cycle", ("循环号", "循环序号", "循环", "Cycle Index", "Cycle ID", "Cycle")),
        Column("step", ("工步号", "工步序号", "Step Index", "Step ID", "Step")),
        Column("step_type", ("工步类型", "工步名称", "Step Type", "Step Name")),
        Column("step_time", ("时间", "相对时间", "工步时间", "Time", "Relative Time",
                             "Step Time"), DURATION_UNITS, "h:mm:ss"),
        Column("time", ("总时间", "累计时间", "测试时间", "Total Time", "Cumulative Time",
                        "Test Time"), DURATION_UNITS, "h:mm:ss"),
        Column("current", ("电流", "Current", "Cur"), CURRENT_UNITS),
        Column("voltage", ("电压", "Voltage"), VOLTAGE_UNITS),
        Column("capacity", ("容量", "Capacity", "CapaCity"), CAP),
        Column("charge_capacity", ("充电容量", "Chg Cap", "Capacitance_Chg"), CAP),
        Column("discharge_capacity", ("放电容量", "DChg Cap", "Capacitance_DChg"), CAP),
        Column("energy", ("能量", "Energy"), ENG),
        Column("charge_energy", ("充电能量", "Chg Energy", "Engy_Chg"), ENG),
        Column("discharge_energy", ("放电能量", "DChg Energy", "Engy_DChg"), ENG),
        Column("datetime", ("日期", "绝对时间", "系统时间", "Date", "Realtime",
                            "Absolute Time")),
        Column("temperature", ("温度", "辅助温度", "电池温度", "Temperature", "Aux T",
                               "T1"), TEMPERATURE_UNITS, "°C"),
        Column("ambient_temperature", ("环境温度", "箱体温度", "Ambient Temperature"),
               TEMPERATURE_UNITS, "°C"),
    ),
    step_labels=STEP_LABELS,
    defer=_plain_english_comma,
)

LANHE = TableFormat(
    format="lanhe-table",
    vendor="LANHE (Landt)",
    description=("LANHE/Landt LANDdt record table, English or Chinese headers, unit after a "
                 "slash (Voltage/V, 电流/mA), any delimiter or decimal mark"),
    extensions=(".csv", ".txt"),
    source="LANDdt / LANHE BTS export layout (module docstring)",
    columns=(
        Column("record", ("Record", "Index", "序号", "记录")),
        Column("time", ("TestTime", "Test Time", "测试时间", "总时间"), DURATION_UNITS, "s"),
        Column("step_time", ("StepTime", "Step Time", "步骤时间", "工步时间"),
               DURATION_UNITS, "s"),
        Column("cycle", ("Cycle-Index", "Cycle", "循环", "循环号")),
        Column("step", ("Step-Index", "Step", "工步", "工步号")),
        Column("step_type", ("State", "状态", "工步状态")),
        Column("voltage", ("Voltage", "电压"), VOLTAGE_UNITS),
        Column("current", ("Current", "电流"), CURRENT_UNITS),
        Column("capacity", ("Capacity", "容量"), CAP),
        Column("energy", ("Energy", "能量"), ENG),
        Column("datetime", ("SysTime", "System Time", "系统时间")),
        Column("temperature", ("Temperature", "温度", "Aux_T", "辅助温度"),
               TEMPERATURE_UNITS, "°C"),
    ),
    step_labels=STEP_LABELS,
)

FORMATS: tuple[TableFormat, ...] = (NEWARE, LANHE)

#: The reader adapters these layouts give (one per layout, and one for Excel workbooks of
#: any of them); :func:`casip.data.readers.adapters` lists them with the module adapters.
SPEC_ADAPTERS = (*(TableAdapter(f) for f in FORMATS), ExcelAdapter(FORMATS))
