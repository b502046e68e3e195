"""batterydata.energy.gov time-series CSV (``<cell>-raw.csv``) and its per-cycle summary.

Hand-written: battery-data-toolkit's ``BDReader`` (Apache-2.0) reads this format, but it
identifies files by their names (``-raw``/``-summary``) rather than their content, converts
the MATLAB datenum with a Python function per row, and brings HDF5 and other dependencies for
what is a plain CSV table. pyarrow's CSV reader parses it here; this module maps columns.

The file
    One header line of ``Name_Unit`` columns: ``Cycle_Index, Step, Time_s, Amphr, Watthr,
    Current_A, Voltage_V, Cell_Temperature_C, Temp2, Datenum_d, ..., Charge_Capacity_Ah,
    Discharge_Capacity_Ah, ..., Frequency_Hz, Z_*_Ohm, ..., Absolute_Charge_Throughput_Ah,
    Charge_Throughput_Ah, Absolute_Energy_Throughput_Wh, Energy_Throughput_Wh, Cycle_Label,
    Segment_Label, ...``. No metadata block.

Sign convention
    ``Current_A`` is positive on charge (rows labelled ``Charge`` carry positive current),
    as CASIP; kept.

Counters
    ``Charge_Capacity_Ah``/``Discharge_Capacity_Ah`` (and ``Amphr``) are the magnitude of a
    net counter that restarts at some step boundaries and not at others (during an HPPC pulse
    pair the charge counter *falls* while charging), so they are neither per step nor
    cumulative and are not used. The throughput columns are cumulative from the test start and
    never fall: ``Absolute_Charge_Throughput_Ah`` is charge plus discharge,
    ``Charge_Throughput_Ah`` charge minus discharge, so charge = (absolute + net) / 2 and
    discharge = (absolute - net) / 2; energies likewise. Without them the counters are
    integrated from current by the dispatcher.

Impedance
    Rows with a ``Frequency_Hz`` value are EIS spectra (their ``Voltage_V`` is not a cell
    voltage); they are left out of the time series, with a warning.

Time
    ``Time_s`` is the test time; ``Datenum_d`` (MATLAB datenum: days since year 0) gives
    ``unix_time_second``, read as UTC (the file states no time zone).

Other columns
    ``Cell_Temperature_C`` becomes ``surface_temperature_celsius``; ``Temp2`` (an unnamed
    second sensor) is left out. ``Cycle_Label`` (e.g. ``Capacity check``, ``HPPC``,
    ``Aging cycle``) is kept per cycle in ``metadata.extra["cycle_labels"]``.

The summary file ``<cell>-summary.csv`` is one row per cycle, not a time series. The sniffer
recognises it (with less confidence than a time series) so that reading it gives a clear
error naming the ``-raw.csv`` file to read instead; :func:`read_summary` returns its table
with CASIP column names, for cross-checking cycle summaries.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from casip.data.readers._base import (
    HEAD_BYTES,
    RawReading,
    StreamFallback,
    block_size_for,
    decode_head,
    first_line,
    header_tokens,
    line_chunks,
    looks_binary,
)
from casip.data.readers.bitrode_csv import check_last_row, column, read_csv_table
from casip.errors import CasipInputError, Problem

FORMAT = "batterydata-csv"
VENDOR = "batterydata.energy.gov (NREL processed)"
DESCRIPTION = "batterydata.energy.gov time-series CSV (<cell>-raw.csv)"
EXTENSIONS = (".csv",)
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: MATLAB datenum of 1970-01-01
DATENUM_UNIX_EPOCH = 719529.0

_RAW_ALIASES = {
    "Cycle_Index": "cycle",
    "Step": "step",
    "Step_Index": "step",
    "Time_s": "time",
    "Test_Time_s": "time",
    "Current_A": "current",
    "Voltage_V": "voltage",
    "Cell_Temperature_C": "temperature",
    "Datenum_d": "datenum",
    "Frequency_Hz": "frequency",
    "Absolute_Charge_Throughput_Ah": "abs_ah",
    "Charge_Throughput_Ah": "net_ah",
    "Absolute_Energy_Throughput_Wh": "abs_wh",
    "Energy_Throughput_Wh": "net_wh",
    "Cycle_Label": "cycle_label",
}

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


def _is_raw(tokens: list[str]) -> bool:
    roles = {_RAW_ALIASES.get(t) for t in tokens}
    return {"cycle", "time", "current", "voltage"} <= roles


def _is_summary(tokens: list[str]) -> bool:
    return _SUMMARY_MARKERS <= set(tokens) and "Current_A" not in tokens


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a batterydata.energy.gov file.

    0.9 for the time series (``Cycle_Index``, ``Time_s``, ``Current_A``, ``Voltage_V``);
    0.6 for the per-cycle summary (``Q_chg``, ``Q_dis``), so that :func:`read` can say what it
    is and which file to read instead; 0 otherwise.
    """
    if not head or looks_binary(head):
        return 0.0
    tokens = _tokens(head)
    if _is_raw(tokens):
        return 0.9
    if _is_summary(tokens):
        return 0.6
    return 0.0


def _raw_name(path: Path) -> str:
    name = path.name
    if name.lower().endswith("-summary.csv"):
        return name[: -len("-summary.csv")] + "-raw.csv"
    return "the matching '<cell>-raw.csv' file"


def read(path: Path) -> RawReading:
    """Read a batterydata.energy.gov time-series CSV into BDF columns (see module docstring).

    Raises
    ------
    CasipInputError
        For a per-cycle summary file (naming the ``-raw.csv`` file to read instead), a file
        without the time-series columns, or a truncated or corrupted file.
    """
    path = Path(path)
    _, tokens, names, roles, types = _layout(path)
    table = read_csv_table(
        path, names, types, check=_check_types(tokens, names, types), labels=tokens,
        skip_rows=1, what="batterydata time series",
    )
    labels: dict[float, str] = {}
    if "cycle_label" in roles:
        _first_labels(table, labels)
    warnings: list[str] = []
    table, n_eis = _drop_eis(table, roles)
    if n_eis:
        warnings.append(_eis_warning(n_eis))
    if table.num_rows == 0:
        raise CasipInputError(Problem("", "the file has a header but no time-series rows"))
    data = _columns(table, roles, _Carry())
    return RawReading(
        data=pd.DataFrame(data), metadata=_metadata(roles, labels), warnings=warnings
    )


def _layout(
    path: Path,
) -> tuple[bytes, list[str], list[str], dict[str, int], dict[str, pa.DataType]]:
    """The header line and what it says: (header bytes, tokens, field names, roles, types).

    Raises
    ------
    CasipInputError
        For a per-cycle summary, a file without the time-series columns, or a truncated file.
    """
    with path.open("rb") as fh:
        header = fh.readline(1 << 16)
    tokens = header_tokens(decode_head(header).rstrip("\r\n"))
    if _is_summary(tokens):
        raise CasipInputError(
            Problem(
                "",
                "this is a batterydata.energy.gov per-cycle summary, not a time series: read "
                f"{_raw_name(path)} instead (casip.data.readers.batterydata_csv.read_summary "
                "returns this table)",
            )
        )
    if not _is_raw(tokens):
        raise CasipInputError(
            Problem(
                "header",
                "not a batterydata.energy.gov time series",
                None,
                "Cycle_Index, Time_s, Current_A and Voltage_V columns",
            )
        )
    check_last_row(path, len(tokens), what="batterydata time series")
    names = [f"_f{i}" for i in range(len(tokens))]
    roles: dict[str, int] = {}
    for idx, tok in enumerate(tokens):
        role = _RAW_ALIASES.get(tok)
        if role and role not in roles:
            roles[role] = idx
            names[idx] = role
    types: dict[str, pa.DataType] = {
        r: (pa.string() if r == "cycle_label" else pa.float64()) for r in roles
    }
    return header, tokens, names, roles, types


def _first_labels(table: pa.Table, labels: dict[float, str]) -> None:
    """Add to ``labels`` the first label of each cycle not yet in it (file order)."""
    frame = pd.DataFrame(
        {"cycle": column(table, "cycle"), "label": table.column("cycle_label").to_pandas()}
    ).dropna()
    for c, lab in zip(frame["cycle"], frame["label"], strict=True):
        if c not in labels:
            labels[c] = str(lab)


def _drop_eis(table: pa.Table, roles: dict[str, int]) -> tuple[pa.Table, int]:
    """The table without its impedance-spectrum rows, and how many there were."""
    if "frequency" not in roles:
        return table, 0
    eis = pc.is_valid(table.column("frequency"))
    n_eis = int(pc.sum(eis).as_py() or 0)
    if n_eis:
        table = table.filter(pc.invert(eis))
    return table, n_eis


def _eis_warning(n_eis: int) -> str:
    return f"{n_eis} rows of impedance spectra (EIS) were left out of the time series"


def _metadata(roles: dict[str, int], labels: dict[float, str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if labels:
        extra["cycle_labels"] = {int(c): lab for c, lab in labels.items()}
    if "datenum" in roles:
        extra["clock_timezone"] = "not stated in the file: Datenum_d is read as UTC"
    return {"extra": extra}


class _Carry:
    """What the counters carry from one batch to the next (the last values read and made)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def ffill(self, name: str, values: np.ndarray) -> np.ndarray:
        out = pd.Series(values).ffill().fillna(self.last.get(name, 0.0)).to_numpy()
        if len(out):
            self.last[name] = float(out[-1])
        return out

    def rising(self, name: str, values: np.ndarray) -> np.ndarray:
        if not len(values):
            return values
        out = np.maximum.accumulate(np.r_[self.last.get(name, 0.0), values])[1:]
        self.last[name] = float(out[-1])
        return out


def _columns(table: pa.Table, roles: dict[str, int], carry: _Carry) -> dict[str, Any]:
    """The BDF columns of the (EIS-free) rows of ``table``."""
    data: dict[str, Any] = {
        "test_time_second": column(table, "time"),
        "voltage_volt": column(table, "voltage"),
        "current_ampere": column(table, "current"),
    }
    if "datenum" in roles:
        data["unix_time_second"] = (column(table, "datenum") - DATENUM_UNIX_EPOCH) * 86400.0
    data["cycle_count"] = column(table, "cycle")
    if "step" in roles:
        data["step_index"] = column(table, "step")
    for unit, (charge_col, discharge_col) in (
        ("ah", ("charging_capacity_ah", "discharging_capacity_ah")),
        ("wh", ("charging_energy_wh", "discharging_energy_wh")),
    ):
        if f"abs_{unit}" in roles and f"net_{unit}" in roles:
            total = carry.ffill(f"abs_{unit}", column(table, f"abs_{unit}"))
            net = carry.ffill(f"net_{unit}", column(table, f"net_{unit}"))
            # float noise of the difference (1e-16) is clipped; the counters never fall
            # (starting from 0, as the clipped values do)
            data[charge_col] = carry.rising(charge_col, np.clip(0.5 * (total + net), 0.0, None))
            data[discharge_col] = carry.rising(
                discharge_col, np.clip(0.5 * (total - net), 0.0, None)
            )
    if "temperature" in roles:
        data["surface_temperature_celsius"] = column(table, "temperature")
    return data


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (line-aligned chunks of the file,
    each parsed and checked as :func:`read` does), carrying the counters' last values and the
    cycle labels seen; the warnings and the metadata come in a last batch without rows."""
    path = Path(path)
    header, tokens, names, roles, types = _layout(path)
    if not header.endswith(b"\n"):
        raise StreamFallback("a header line longer than 64 KiB")
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    check = _check_types(tokens, names, types)
    labels: dict[float, str] = {}
    carry = _Carry()
    n_eis = 0
    rows = 0
    for chunk in line_chunks(path, len(header), block_size_for(head, batch_rows)):
        table = read_csv_table(
            io.BytesIO(chunk), names, types, check=check, labels=tokens,
            what="batterydata time series",
        )
        if "cycle_label" in roles:
            _first_labels(table, labels)
        table, n = _drop_eis(table, roles)
        n_eis += n
        if table.num_rows == 0:
            continue
        rows += table.num_rows
        yield RawReading(data=pd.DataFrame(_columns(table, roles, carry)))
    if rows == 0:
        raise StreamFallback("no time-series rows")
    warnings = [_eis_warning(n_eis)] if n_eis else []
    yield RawReading(data=pd.DataFrame(), metadata=_metadata(roles, labels), warnings=warnings)


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
