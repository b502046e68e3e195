"""Battery Data Format (BDF) CSV: files already in the Battery Data Alliance's schema.

The format is plain CSV whose header uses BDF column names: machine names such as
``test_time_second`` (CASIP's own column names, :data:`casip.data.schema.COLUMNS`) or the
human labels of the BDF specification such as ``Test Time / s``, and a few alternative
machine names (:data:`ALIASES`). Values are already in SI units with current positive on
charge, so nothing is converted. No separate BDF reader package is needed.

What is data and what is a hook
    The format is a :class:`~casip.data.readers.tabular.TableFormat` (:data:`SPEC`) read by
    the table engine of :mod:`casip.data.readers.tabular` (pyarrow parses, batches stream):
    each BDF column with its names, and the one unit the standard allows. Time, voltage,
    current, cycle, step and the temperatures are engine roles (passed through: their only
    unit has factor 1). The other schema columns (``unix_time_second``, ``step_count``, the
    four counters, ``internal_resistance_ohm``, ``applied_pressure_pa``) are roles of this
    format (``x_...``) copied as written by the ``batch`` hook: the counters keep the file's
    values (the normaliser makes them cumulative, as for every reader) instead of the engine's
    counter rule, and ``unix_time_second`` is a number, not a wall-clock text.

What the module adds around the engine
    - recognition is by *exact* names: a header cell counts only if it is a machine name as
      written or a human label as written (case aside); the engine compares names blind to
      spaces and punctuation, under which a LANHE ``Voltage/V`` would pass for the BDF
      ``Voltage / V``. The header must be the first line;
    - header cells outside the schema (and a ``step_type`` column, which CASIP derives
      itself) are left out with a warning naming them;
    - the file states no tester, and its start time is not put in the metadata (as before
      the move to the engine).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from casip.data import schema
from casip.data.readers._base import HEAD_BYTES, RawReading
from casip.data.readers.tabular import Column, Hooks, Layout, TableAdapter, TableFormat, probe
from casip.errors import CasipInputError

FORMAT = "bdf-csv"
VENDOR = "any (Battery Data Format)"
DESCRIPTION = "Battery Data Format CSV (machine names or human labels)"
EXTENSIONS = (".bdf.csv", ".csv", ".bdf")
LIBRARY = "pyarrow"
PRIVATE_COPY = False

#: BDF human labels and alternative machine names -> CASIP (BDF) machine names.
ALIASES = {
    "test time / s": "test_time_second",
    "voltage / v": "voltage_volt",
    "current / a": "current_ampere",
    "unix time / s": "unix_time_second",
    "cycle count / 1": "cycle_count",
    "cycle_dimensionless": "cycle_count",
    "step count / 1": "step_count",
    "step index / 1": "step_index",
    "charging capacity / ah": "charging_capacity_ah",
    "discharging capacity / ah": "discharging_capacity_ah",
    "charging energy / wh": "charging_energy_wh",
    "discharging energy / wh": "discharging_energy_wh",
    "charging_capacity_ampere_hour": "charging_capacity_ah",
    "discharging_capacity_ampere_hour": "discharging_capacity_ah",
    "charging_energy_watt_hour": "charging_energy_wh",
    "discharging_energy_watt_hour": "discharging_energy_wh",
    "ambient temperature / degc": "ambient_temperature_celsius",
    "ambient_temperature_degc": "ambient_temperature_celsius",
    "surface temperature / degc": "surface_temperature_celsius",
    "internal resistance / ohm": "internal_resistance_ohm",
    "applied pressure / pa": "applied_pressure_pa",
    "applied_pressure_pascal": "applied_pressure_pa",
}

#: BDF columns read by an engine role: column -> (role, unit as the header would state it).
_ENGINE_ROLES = {
    "test_time_second": ("time", "s"),
    "voltage_volt": ("voltage", "V"),
    "current_ampere": ("current", "A"),
    "cycle_count": ("cycle", None),
    "step_index": ("step", None),
    "surface_temperature_celsius": ("temperature", "degC"),
    "ambient_temperature_celsius": ("ambient_temperature", "degC"),
}

#: BDF columns copied as written by the batch hook (role ``x_<column>``).
_PASSTHROUGH = (
    "unix_time_second", "step_count", "charging_capacity_ah", "discharging_capacity_ah",
    "charging_energy_wh", "discharging_energy_wh", "internal_resistance_ohm",
    "applied_pressure_pa",
)


def _names(column: str) -> tuple[str, ...]:
    """The header names of a BDF column: its machine name and its aliases (whole cells: the
    human label's unit is part of the name, so no other unit can match)."""
    return (column, *(a for a, c in ALIASES.items() if c == column))


def _column(column: str) -> Column:
    if column in _ENGINE_ROLES:
        role, unit = _ENGINE_ROLES[column]
        units = None if unit is None else {unit.lower(): 1.0}
        return Column(role, _names(column), units, unit)
    return Column(f"x_{column}", _names(column), kind="number")


def _canonical(token: str) -> str | None:
    """The BDF column a header cell names exactly (machine name, or alias case aside)."""
    t = token.strip()
    if t in schema.COLUMNS:
        return t
    return ALIASES.get(t.lower())


def _batch(values: Mapping[str, Any], frame: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Copy the pass-through columns, in the schema's column order."""
    for col in _PASSTHROUGH:
        if f"x_{col}" in values:
            frame[col] = values[f"x_{col}"]
    return frame[[c for c in schema.COLUMNS if c in frame.columns]]


def _header(preamble: list[str], layout: Layout) -> dict[str, Any]:
    # a BDF file names no tester; the engine's defaults (the format's vendor, the first
    # unix time as start time) are not facts the file states as such
    return {"tester": None, "start_time": None}


SPEC = TableFormat(
    format=FORMAT,
    vendor=VENDOR,
    description=DESCRIPTION,
    extensions=EXTENSIONS,
    source="Battery Data Format specification (battery-data-alliance/battery-data-format, "
    "Apache-2.0): machine names and human labels",
    columns=tuple(_column(c) for c in (*_ENGINE_ROLES, *_PASSTHROUGH)),
    hooks=Hooks(header=_header, batch=_batch),
)

_ADAPTER = TableAdapter(SPEC)


def _layout(head: bytes) -> Layout | None:
    try:
        return probe(SPEC, head)
    except CasipInputError:  # a recognised name with a unit of its own: not a BDF name
        return None


def _exact(layout: Layout | None) -> bool:
    """True if the header is the first line and every cell the engine matched is a BDF name
    as written."""
    return (
        layout is not None
        and layout.header_line == 0
        and all(_canonical(layout.tokens[j]) for j, _ in layout.roles.values())
    )


def sniff(head: bytes, name: str) -> float:
    """Confidence that ``head`` is a BDF CSV: the engine's score for a first-line header
    with BDF test time, voltage and current names as written; 0 otherwise."""
    score = _ADAPTER.sniff(head, name)
    if score <= 0 or not _exact(_layout(head)):
        return 0.0
    return score


def _left_out(path: Path) -> list[str]:
    """The warning for header cells outside the schema (empty if there are none)."""
    with Path(path).open("rb") as fh:
        layout = probe(SPEC, fh.read(HEAD_BYTES), str(path))
    if layout is None:
        return []  # the engine refuses the file
    used = {j for j, _ in layout.roles.values()}
    dropped = [t for j, t in enumerate(layout.tokens) if j not in used]
    if dropped:
        return [f"columns outside the schema were left out: {', '.join(dropped)}"]
    return []


def read(path: Path) -> RawReading:
    """Read a BDF CSV (see the module docstring).

    Raises
    ------
    CasipInputError
        For a truncated file, a row that does not fit the header or a file without BDF
        time, voltage and current columns (naming the file).
    """
    reading = _ADAPTER.read(Path(path))
    reading.warnings = _left_out(path) + [w for w in reading.warnings]
    return reading


def iter_batches(path: Path, batch_rows: int) -> Iterator[RawReading]:
    """:func:`read` in batches of about ``batch_rows`` rows (the table engine's streaming)."""
    note = _left_out(path)
    for i, batch in enumerate(_ADAPTER.iter_batches(Path(path), batch_rows)):
        if i == 0:
            batch.warnings = note + batch.warnings
        yield batch
