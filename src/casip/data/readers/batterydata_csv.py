"""batterydata.energy.gov time-series CSV (``<cell>-raw.csv``) and its per-cycle summary.

battery-data-toolkit's ``BDReader`` (Apache-2.0) reads this format, but it identifies files
by their names (``-raw``/``-summary``) rather than their content, converts the MATLAB datenum
with a Python function per row, and brings HDF5 and other dependencies for what is a plain CSV
table. Here the time series is a :class:`~casip.data.readers.tabular.TableFormat`
(:data:`SPEC`) read by the table engine of :mod:`casip.data.readers.tabular` (pyarrow parses,
batches stream); the facts below say which parts are data and which are hooks.

The file
    One header line of ``Name_Unit`` columns: ``Cycle_Index, Step, Time_s, Amphr, Watthr,
    Current_A, Voltage_V, Cell_Temperature_C, Temp2, Datenum_d, ..., Charge_Capacity_Ah,
    Discharge_Capacity_Ah, ..., Frequency_Hz, Z_*_Ohm, ..., Absolute_Charge_Throughput_Ah,
    Charge_Throughput_Ah, Absolute_Energy_Throughput_Wh, Energy_Throughput_Wh, Cycle_Label,
    Segment_Label, ...``. No metadata block. *Data*: the engine's roles (cycle, step, test
    time, current, voltage, temperature) with their names and their one unit each; every other
    documented column is a role of this format (``x_...``), the numeric ones read as numbers
    so that a corrupted value in any of them is refused. The names must be written as
    documented (case included) on the first line: the engine alone compares names blind to
    case and punctuation.

Sign convention
    ``Current_A`` is positive on charge (rows labelled ``Charge`` carry positive current),
    as CASIP; kept (*data*: no step-type role, so the engine keeps the sign as written).

Counters
    ``Charge_Capacity_Ah``/``Discharge_Capacity_Ah`` (and ``Amphr``) are the magnitude of a
    net counter that restarts at some step boundaries and not at others (during an HPPC pulse
    pair the charge counter *falls* while charging), so they are neither per step nor
    cumulative and are not used. The throughput columns are cumulative from the test start and
    never fall: ``Absolute_Charge_Throughput_Ah`` is charge plus discharge,
    ``Charge_Throughput_Ah`` charge minus discharge, so charge = (absolute + net) / 2 and
    discharge = (absolute - net) / 2; energies likewise. Without them the counters are
    integrated from current by the dispatcher. *Hook* (``batch``): the engine's counter rule
    reads a counter per column, not a sum and a difference of two.

Impedance
    Rows with a ``Frequency_Hz`` value are EIS spectra (their ``Voltage_V`` is not a cell
    voltage); they are left out of the time series, with a warning (*hook*: ``batch`` drops
    them, ``finish`` words the warning).

Time
    ``Time_s`` is the test time; ``Datenum_d`` (MATLAB datenum: days since year 0) gives
    ``unix_time_second``, read as UTC (the file states no time zone; *hook*: a number of days,
    not a wall-clock text).

Other columns
    ``Cell_Temperature_C`` becomes ``surface_temperature_celsius``; ``Temp2`` (an unnamed
    second sensor) is left out. ``Cycle_Label`` (e.g. ``Capacity check``, ``HPPC``,
    ``Aging cycle``) is kept per cycle in ``metadata.extra["cycle_labels"]`` (*hook*).

The summary file ``<cell>-summary.csv`` is one row per cycle, not a time series. The sniffer
recognises it (with less confidence than a time series) so that reading it gives a clear
error naming the ``-raw.csv`` file to read instead; :func:`read_summary` returns its table
with CASIP column names, for cross-checking cycle summaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from casip.data import schema
from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    decode_head,
    first_line,
    header_tokens,
    looks_binary,
)
from casip.data.readers.bitrode_csv import check_last_row, read_csv_table
from casip.data.readers.tabular import Column, Hooks, Layout, TableAdapter, TableFormat, probe
from casip.errors import CasipInputError, Problem

FORMAT = "batterydata-csv"
VENDOR = "batterydata.energy.gov (NREL processed)"
DESCRIPTION = "batterydata.energy.gov time-series CSV (<cell>-raw.csv)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: MATLAB datenum of 1970-01-01
DATENUM_UNIX_EPOCH = 719529.0

#: summary column -> CASIP cycle-table name (the names of :func:`casip.data.summary.cycles`)
SUMMARY_COLUMNS = {
    "Cycle_Index": "cycle_count",
    "Cycle_Label": "cycle_label",
    "tsecs_start": "start_time_second",
    "tsecs_end": "end_time_second",
    "tsecs_cycle": "duration_second",
    "Q_chg": "charge_capacity_ah",
    "Q_dis": "discharge_capacity_ah",
    "E_chg": "charge_energy_wh",
    "E_dis": "discharge_energy_wh",
    "CE": "coulombic_efficiency",
    "EE": "energy_efficiency",
    "q_chg": "charge_capacity_fraction",
    "q_dis": "discharge_capacity_fraction",
    "V_min": "min_voltage_volt",
    "V_max": "max_voltage_volt",
    "V_avg": "mean_voltage_volt",
    "I_min": "min_current_ampere",
    "I_max": "max_current_ampere",
    "I_avg": "mean_current_ampere",
    "T_min": "min_temperature_celsius",
    "T_max": "max_temperature_celsius",
    "T_avg": "mean_temperature_celsius",
    "Absolute_Charge_Throughput_Ah": "absolute_charge_throughput_ah",
    "Charge_Throughput_Ah": "charge_throughput_ah",
    "Absolute_Energy_Throughput_Wh": "absolute_energy_throughput_wh",
    "Energy_Throughput_Wh": "energy_throughput_wh",
    "Equivalent_Full_Cycles": "equivalent_full_cycles",
    "Datenum_d": "start_unix_time_second",
}

_UNIT_SUFFIXES = {"s", "d", "A", "V", "W", "Ah", "Wh", "C", "Hz", "Ohm", "Degree"}

_SUMMARY_MARKERS = {"Cycle_Index", "Q_chg", "Q_dis"}

# --------------------------------------------------------------------------------------------
# the time series as data
# --------------------------------------------------------------------------------------------

#: the roles this format uses itself (numbers, handed to the hooks)
_OWN = {
    "x_datenum": ("Datenum_d",),
    "x_frequency": ("Frequency_Hz",),
    "x_abs_ah": ("Absolute_Charge_Throughput_Ah",),
    "x_net_ah": ("Charge_Throughput_Ah",),
    "x_abs_wh": ("Absolute_Energy_Throughput_Wh",),
    "x_net_wh": ("Energy_Throughput_Wh",),
}

#: documented numeric columns not used, read (as numbers) only to refuse corrupted values
_CHECKED = (
    "Power_W", "Charge_Capacity_Ah", "Discharge_Capacity_Ah", "Charge_Energy_Wh",
    "Discharge_Energy_Wh", "Z_Imag_Ohm", "Z_Mag_Ohm", "Z_Phase_Degree", "Z_Real_Ohm",
    "Differential_Capacity_Ah_V", "Differential_Voltage_V_Ah",
)

#: documented text columns not used (known, so that they count for recognition)
_TEXT = ("Segment_Label", "Amphr", "Watthr", "Temp2")

_COLUMNS = (
    Column("cycle", ("Cycle_Index",)),
    Column("step", ("Step", "Step_Index")),
    Column("time", ("Time_s", "Test_Time_s"), {"s": 1.0}, "s"),
    Column("current", ("Current_A",), {"a": 1.0}, "A"),
    Column("voltage", ("Voltage_V",), {"v": 1.0}, "V"),
    Column("temperature", ("Cell_Temperature_C",), {"c": 1.0}, "C"),
    *(Column(role, names, kind="number") for role, names in _OWN.items()),
    *(Column(f"x_{n.lower()}", (n,), kind="number") for n in _CHECKED),
    Column("x_cycle_label", ("Cycle_Label",), kind="label"),
    Column("x_text", _TEXT, kind="label"),
)

#: every name the layout documents, as written
_DOCUMENTED = {n for c in _COLUMNS for n in c.names}


# --------------------------------------------------------------------------------------------
# the hooks
# --------------------------------------------------------------------------------------------


def _ffill(state: dict, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` with gaps filled by the last value read (0 before the first)."""
    out = pd.Series(values).ffill().fillna(state.get(name, 0.0)).to_numpy()
    if len(out):
        state[name] = float(out[-1])
    return out


def _rising(state: dict, name: str, values: np.ndarray) -> np.ndarray:
    """``values`` never below the largest value made so far (from 0)."""
    if not len(values):
        return values
    out = np.maximum.accumulate(np.r_[state.get(name, 0.0), values])[1:]
    state[name] = float(out[-1])
    return out


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Cycle labels; EIS rows out; unix time from the datenum; counters from throughputs."""
    labels = state.setdefault("labels", {})
    if "x_cycle_label" in values:
        pairs = pd.DataFrame({"cycle": values["cycle"], "label": values["x_cycle_label"]})
        for c, lab in pairs.dropna().drop_duplicates("cycle").itertuples(index=False):
            labels.setdefault(c, str(lab))
    keep = np.ones(len(frame), dtype=bool)
    if "x_frequency" in values:
        keep = np.isnan(values["x_frequency"])
        state["eis"] = state.get("eis", 0) + int((~keep).sum())
        frame = frame[keep].reset_index(drop=True)
    state["rows"] = state.get("rows", 0) + len(frame)
    state["datenum"] = "x_datenum" in values
    if "x_datenum" in values:
        frame["unix_time_second"] = (values["x_datenum"][keep] - DATENUM_UNIX_EPOCH) * 86400.0
    for unit, (charge_col, discharge_col) in (
        ("ah", ("charging_capacity_ah", "discharging_capacity_ah")),
        ("wh", ("charging_energy_wh", "discharging_energy_wh")),
    ):
        if f"x_abs_{unit}" in values and f"x_net_{unit}" in values:
            total = _ffill(state, f"abs_{unit}", values[f"x_abs_{unit}"][keep])
            net = _ffill(state, f"net_{unit}", values[f"x_net_{unit}"][keep])
            # float noise of the difference (1e-16) is clipped; the counters never fall
            # (starting from 0, as the clipped values do)
            frame[charge_col] = _rising(state, charge_col, np.clip(0.5 * (total + net), 0.0, None))
            frame[discharge_col] = _rising(
                state, discharge_col, np.clip(0.5 * (total - net), 0.0, None)
            )
    return frame[[c for c in schema.COLUMNS if c in frame.columns]]


def _finish(state: dict) -> tuple[dict[str, Any], list[str]]:
    """The cycle labels and the clock's time zone (metadata), and the EIS warning."""
    if not state.get("rows"):
        raise CasipInputError(Problem("", "the file has a header but no time-series rows"))
    extra: dict[str, Any] = {}
    if state.get("labels"):
        extra["cycle_labels"] = {int(c): lab for c, lab in state["labels"].items()}
    if state.get("datenum"):
        extra["clock_timezone"] = "not stated in the file: Datenum_d is read as UTC"
    warnings = [_eis_warning(state["eis"])] if state.get("eis") else []
    return {"extra": extra}, warnings


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    # the file names no tester, and its first datenum was never put in the metadata as the
    # start time: the engine's defaults are not taken
    return {"tester": None, "start_time": None}


def _eis_warning(n_eis: int) -> str:
    return f"{n_eis} rows of impedance spectra (EIS) were left out of the time series"


SPEC = TableFormat(
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source="batterydata.energy.gov processed-data layout (NREL); column semantics checked "
    "against the shared p492-13 files and battery-data-toolkit's documentation (Apache-2.0)",
    columns=_COLUMNS,
    required=("time", "voltage", "current", "cycle"),
    hooks=Hooks(header=_header, batch=_batch, finish=_finish),
)

_ADAPTER = TableAdapter(SPEC)


# --------------------------------------------------------------------------------------------
# the module's adapter functions
# --------------------------------------------------------------------------------------------


def _check_types(
    tokens: list[str], names: list[str], keep: dict[str, pa.DataType]
) -> dict[str, pa.DataType]:
    """Types of the columns not kept, converted only to find corruption: numbers where the
    name ends in a unit (``_Ah``, ``_V``...), text otherwise (checked to be UTF-8)."""
    out: dict[str, pa.DataType] = {}
    for tok, name in zip(tokens, names, strict=True):
        if name in keep:
            continue
        numeric = tok.rsplit("_", 1)[-1] in _UNIT_SUFFIXES and not tok.endswith("_Label")
        out[name] = pa.float64() if numeric else pa.string()
    return out


def _tokens(head: bytes) -> list[str]:
    return header_tokens(first_line(decode_head(head)))


def _is_summary(tokens: list[str]) -> bool:
    return _SUMMARY_MARKERS <= set(tokens) and "Current_A" not in tokens


def _exact(head: bytes) -> bool:
    """True if the engine's header is the first line and every cell it matched is written
    as documented."""
    try:
        layout = probe(SPEC, head)
    except CasipInputError:
        return False
    return (
        layout is not None
        and layout.header_line == 0
        and all(layout.tokens[j] in _DOCUMENTED for j, _ in layout.roles.values())
    )


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a batterydata.energy.gov file.

    The table engine's score (about 0.95 for the documented columns) for the time series
    (``Cycle_Index``, ``Time_s``, ``Current_A``, ``Voltage_V`` written as documented on the
    first line); 0.6 for the per-cycle summary (``Q_chg``, ``Q_dis``), so that :func:`read`
    can say what it is and which file to read instead; 0 otherwise.
    """
    if not head or looks_binary(head):
        return 0.0
    score = _ADAPTER.sniff(head, name)
    if score > 0 and _exact(head):
        return score
    if _is_summary(_tokens(head)):
        return 0.6
    return 0.0


def _raw_name(path: Path) -> str:
    name = path.name
    if name.lower().endswith("-summary.csv"):
        return name[: -len("-summary.csv")] + "-raw.csv"
    return "the matching '<cell>-raw.csv' file"


def _refuse_summary(path: Path) -> None:
    """Raise, naming the ``-raw.csv`` file to read instead, if ``path`` is a summary."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    if _is_summary(_tokens(head)):
        raise CasipInputError(
            Problem(
                "",
                "this is a batterydata.energy.gov per-cycle summary, not a time series: read "
                f"{_raw_name(path)} instead (casip.data.readers.batterydata_csv.read_summary "
                "returns this table)",
            ),
            source=str(path),
        )


def read(path: Path) -> RawReading:
    """Read a batterydata.energy.gov time-series CSV into BDF columns (see module docstring).

    Raises
    ------
    CasipInputError
        For a per-cycle summary file (naming the ``-raw.csv`` file to read instead), a file
        without the time-series columns, or a truncated or corrupted file.
    """
    path = Path(path)
    _refuse_summary(path)
    return _ADAPTER.read(path)


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (the table engine's streaming,
    the counters and cycle labels carried across batches by the hooks); the warnings and the
    metadata come with the last batch."""
    path = Path(path)
    _refuse_summary(path)
    return _ADAPTER.iter_batches(path, batch_rows)


def read_summary(path: str | Path) -> pd.DataFrame:
    """The per-cycle table of a batterydata.energy.gov ``<cell>-summary.csv``.

    Columns get the names of :func:`casip.data.summary.cycles` where they mean the same
    (``cycle_count``, ``charge_capacity_ah``, ``discharge_capacity_ah``, ``charge_energy_wh``,
    ``discharge_energy_wh``, ``coulombic_efficiency``, ``energy_efficiency``,
    ``start_time_second``, ``end_time_second``, ``duration_second``, ``min_voltage_volt``,
    ``max_voltage_volt``), plus ``cycle_label``, ``mean_voltage_volt``, current and
    temperature ranges, throughputs, ``equivalent_full_cycles`` and
    ``start_unix_time_second`` (from ``Datenum_d``, read as UTC). Other columns are left out.

    Note that the file's ``Q_chg`` (``Q_dis``) is the largest value of the tester's charge
    (discharge) counter within the cycle, not the cycle's total: a cycle with two charge steps
    (a CC charge stopped and resumed) reads lower than the charge that went in.

    Parameters
    ----------
    path : path
        The summary CSV. It is opened read-only.

    Returns
    -------
    pandas.DataFrame
        One row per cycle, in file order.

    Raises
    ------
    CasipInputError
        If the file is not such a summary, or is truncated or corrupted (names the file).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            header = fh.readline(1 << 16)
        tokens = header_tokens(decode_head(header).rstrip("\r\n"))
        if not _SUMMARY_MARKERS <= set(tokens):
            raise CasipInputError(
                Problem(
                    "header",
                    "not a batterydata.energy.gov per-cycle summary",
                    None,
                    "Cycle_Index, Q_chg and Q_dis columns",
                )
            )
        check_last_row(p, len(tokens), what="batterydata summary")
        names = [f"_f{i}" for i in range(len(tokens))]
        for idx, tok in enumerate(tokens):
            if tok in SUMMARY_COLUMNS and SUMMARY_COLUMNS[tok] not in names:
                names[idx] = SUMMARY_COLUMNS[tok]
        types = {
            n: (pa.string() if n == "cycle_label" else pa.float64())
            for n in names
            if not n.startswith("_f")
        }
        table = read_csv_table(
            p, names, types, check=_check_types(tokens, names, types), labels=tokens,
            skip_rows=1, what="batterydata summary",
        )
    except CasipInputError as exc:
        exc.source = str(p)
        exc.args = (exc._render(),)
        raise
    except OSError as exc:
        raise CasipInputError(Problem("", f"cannot be opened: {exc.strerror}"), str(p)) from None
    out = table.to_pandas()
    out = out[[c for c in SUMMARY_COLUMNS.values() if c in out.columns]]
    if "cycle_count" in out:
        out["cycle_count"] = out["cycle_count"].astype("Int64")
    if "start_unix_time_second" in out:
        out["start_unix_time_second"] = (
            out["start_unix_time_second"] - DATENUM_UNIX_EPOCH
        ) * 86400.0
    return out.reset_index(drop=True)
