"""One schema for cycling data from any tester.

Time series use the Battery Data Format (BDF) machine-readable column names of the Battery Data
Alliance (https://w3id.org/battery-data-alliance/ontology/battery-data-format) with SI-based units
in the names. CASIP adds ``step_type`` (a label per row), which BDF does not define.

Sign convention (one, whatever the tester wrote): **current is positive while charging the
cell and negative while discharging it**, as in BDF, where ``charging_capacity_ah`` is the
integral of the positive part of the current. Readers convert their tester's convention.

Counters follow BDF: ``charging_capacity_ah``, ``discharging_capacity_ah``,
``charging_energy_wh`` and ``discharging_energy_wh`` accumulate from the start of the test and
never reset (testers that reset them per step or per cycle are made cumulative by the reader).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

#: BDF column name -> (unit, meaning). Required columns come first.
COLUMNS: dict[str, tuple[str, str]] = {
    "test_time_second": ("s", "time since the start of the test"),
    "voltage_volt": ("V", "cell voltage"),
    "current_ampere": ("A", "current; positive = charging the cell, negative = discharging"),
    "unix_time_second": ("s", "wall-clock time, seconds since 1970-01-01 UTC"),
    "cycle_count": ("1", "cycle number as counted by the tester, shifted to start at 1"),
    "step_index": ("1", "step number in the tester's schedule"),
    "step_count": ("1", "running count of steps executed, from 1 (increments at each change)"),
    "step_type": ("-", "rest, cc_charge, cc_discharge, cv_charge, cv_discharge, pulse, other"),
    "charging_capacity_ah": ("Ah", "cumulative charge put in since the test started"),
    "discharging_capacity_ah": ("Ah", "cumulative charge taken out since the test started"),
    "charging_energy_wh": ("Wh", "cumulative energy put in since the test started"),
    "discharging_energy_wh": ("Wh", "cumulative energy taken out since the test started"),
    "ambient_temperature_celsius": ("degC", "chamber or ambient temperature"),
    "surface_temperature_celsius": ("degC", "cell surface temperature (first sensor)"),
    "internal_resistance_ohm": ("ohm", "internal resistance recorded by the tester"),
    "applied_pressure_pa": ("Pa", "stack pressure applied to the cell"),
}

REQUIRED = ("test_time_second", "voltage_volt", "current_ampere")

INT_COLUMNS = ("cycle_count", "step_index", "step_count")

STEP_TYPES = ("rest", "cc_charge", "cc_discharge", "cv_charge", "cv_discharge", "pulse", "other")


class TestMetadata(BaseModel):
    """What is known about the cell and the test, beyond the time series.

    Fields no tester records (chemistry, solid electrolyte, stack pressure...) are filled in by
    the user at ingestion or left empty; nothing is guessed.
    """

    model_config = ConfigDict(extra="forbid")

    cell_id: str | None = None
    chemistry: str | None = Field(default=None, description="e.g. NMC811/graphite, LFP/graphite")
    nominal_capacity_ah: float | None = Field(default=None, gt=0)
    cells_in_series: int | None = Field(
        default=None, ge=1, description="cells in series in the tested unit (default 1): "
        "sets the plausible voltage window, 5 V per cell"
    )
    cell_configuration: Literal["full", "half", "symmetric"] | None = Field(
        default=None, description="full cell, half cell (against lithium) or symmetric cell: "
        "judges whether the voltage range is usual (see casip.data.plausibility)"
    )
    active_mass_g: float | None = Field(default=None, gt=0)
    electrode_area_cm2: float | None = Field(default=None, gt=0)
    temperature_celsius: float | None = None
    stack_pressure_mpa: float | None = Field(default=None, ge=0)
    solid_electrolyte: str | None = Field(default=None, description="e.g. Li6PS5Cl (argyrodite)")
    start_time: _dt.datetime | None = None
    tester: str | None = Field(default=None, description="vendor, e.g. Arbin, Maccor, Neware")
    channel: str | None = None
    schedule: str | None = None
    extra: dict[str, Any] = Field(
        default_factory=dict, description="other header fields the tester recorded"
    )


class Provenance(BaseModel):
    """Where a test came from: the source file and the reader that read it."""

    model_config = ConfigDict(extra="forbid")

    source_name: str
    source_size_bytes: int
    source_sha256: str
    format: str
    reader: str = Field(description="the CASIP adapter module")
    reader_library: str | None = Field(
        default=None, description="the third-party reader used by the adapter, with its version"
    )
    casip_version: str
    ingested_at: _dt.datetime | None = None


@dataclass
class CyclerTest:
    """A test in the CASIP schema: time series, metadata and provenance."""

    data: pd.DataFrame
    metadata: TestMetadata
    provenance: Provenance
    warnings: list[str] = field(default_factory=list)
    #: counters the tester itself recorded (the others were integrated from current)
    reported_counters: list[str] = field(default_factory=list)

    @property
    def test_id(self) -> str:
        """Content address of the source file (the first 16 hex digits of its sha256)."""
        return self.provenance.source_sha256[:16]


def cumulative_from_resetting(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Make a counter that resets at segment boundaries (a step, a cycle) cumulative.

    Within each run of equal ``segment`` values the counter rises from its value at the start
    of the run; the result adds the final value of every earlier run.
    """
    v = np.nan_to_num(np.asarray(values, dtype=float))
    seg = np.asarray(segment)
    if len(v) == 0:
        return v
    new = np.empty(len(v), dtype=bool)
    new[0] = True
    new[1:] = seg[1:] != seg[:-1]
    run = np.cumsum(new) - 1
    ends = np.flatnonzero(np.r_[new[1:], True])  # last index of each run
    offsets = np.r_[0.0, np.cumsum(v[ends])[:-1]]
    return v + offsets[run]


def counter_resets(
    values: np.ndarray,
    previous: np.ndarray,
    boundary: np.ndarray,
    expected: np.ndarray | None = None,
    restart: np.ndarray | None = None,
) -> np.ndarray:
    """Where a tester's counter restarted: the one reset rule of the readers.

    Only a step boundary can be a reset. From the counter alone, a reset is a boundary where
    the counter falls below its previous value; a counter that continues from (or holds) its
    previous value across a boundary is not reset, so a tester that runs a counter on from one
    step into the next (CC then CV charge) is not counted twice. Where the current tells what
    to expect, the two readings are weighed instead: continuing predicts ``prev + e`` (``e``,
    the charge or energy since the previous record), restarting predicts ``r`` (the charge or
    energy since the step started, ``e`` where not known); the boundary is a reset if
    ``|v - r| <= |v - prev - e|``. A fall to about zero is then a reset, a small dip (rounding,
    a counter that decreases on discharge) is not, and a restart whose first value happens to
    equal the previous step's last (sparsely sampled steps) is found too.

    Parameters
    ----------
    values : array of float
        The counter at each record (no NaN: hold the previous value over gaps first).
    previous : array of float
        The counter at the record before each one.
    boundary : array of bool
        True where a record is the first of a step (a change of step, cycle or mode).
    expected : array of float, optional
        The increment the current implies since the previous record (NaN where unknown), in
        the counter's unit.
    restart : array of float, optional
        The value the current implies if the counter restarted at the step's start (NaN where
        unknown; ``expected`` is used there).

    Returns
    -------
    array of bool
        True where the counter restarted at that record.
    """
    v = np.asarray(values, dtype=float)
    p = np.asarray(previous, dtype=float)
    b = np.asarray(boundary, dtype=bool)
    fall = v < p - (1e-12 + 1e-7 * np.abs(p))
    if expected is None:
        return fall & b
    e = np.asarray(expected, dtype=float)
    r = e if restart is None else np.where(np.isfinite(restart), restart, e)
    weighed = np.abs(v - r) <= np.abs(v - p - e)
    return b & np.where(np.isfinite(e) & np.isfinite(r), weighed, fall)


def cumulative_from_drops(values: np.ndarray, noise: float = 1e-3) -> tuple[np.ndarray, int]:
    """Make a counter cumulative where it drops back (a reset the tester did not mark).

    A drop larger than ``noise`` times the counter's largest value starts a new segment; the
    value just before each drop is carried over. Returns the cumulative counter and the number
    of resets found.
    """
    v = np.nan_to_num(np.asarray(values, dtype=float))
    if len(v) < 2:
        return v, 0
    scale = max(float(np.max(np.abs(v))), 1e-12)
    drop = np.r_[False, np.diff(v) < -noise * scale]
    if not drop.any():
        return v, 0
    carried = np.where(drop, np.r_[0.0, v[:-1]], 0.0)
    return v + np.cumsum(carried), int(drop.sum())


def integrate_counters(data: pd.DataFrame) -> dict[str, np.ndarray]:
    """Cumulative charge/discharge capacity and energy from current, voltage and time.

    Trapezoidal integration of the positive and negative parts of current (and power) over
    test time; the BDF definitions of ``charging_capacity_ah`` etc. Across a step change the
    trapezoid is kept: testers differ on whether a step's first record comes at its start (then
    the interval belongs to the old step) or one sampling period later (then to the new one), so
    sparsely sampled pulses make this integral, and the capacity check built on it, less exact.
    """
    t = data["test_time_second"].to_numpy(dtype=float)
    i = data["current_ampere"].to_numpy(dtype=float)
    v = data["voltage_volt"].to_numpy(dtype=float)
    dt = np.diff(t, prepend=t[:1])
    dt = np.where(np.isfinite(dt) & (dt > 0), dt, 0.0)
    i_prev = np.r_[i[:1], i[:-1]]
    p = i * v
    p_prev = np.r_[p[:1], p[:-1]]

    out = {}
    for name, x, xp, sign in (
        ("charging_capacity_ah", i, i_prev, 1),
        ("discharging_capacity_ah", i, i_prev, -1),
        ("charging_energy_wh", p, p_prev, 1),
        ("discharging_energy_wh", p, p_prev, -1),
    ):
        part = np.clip(sign * x, 0, None)
        part_prev = np.clip(sign * xp, 0, None)
        out[name] = np.cumsum(0.5 * (part + part_prev) * dt) / 3600.0
    return out


def step_stats(
    i: np.ndarray, v: np.ndarray, t: np.ndarray, steps: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-step quantities that :func:`classify_steps` decides on (steps = runs of ``steps``).

    Every quantity depends on the step's own rows only, so the rows of whole steps may be passed
    in pieces (the streaming ingestion does) with the same result.
    """
    n = len(i)
    i0 = np.nan_to_num(i)
    v0 = np.nan_to_num(v)
    starts = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1]])
    ends = np.r_[starts[1:], n] - 1
    count = ends - starts + 1
    absmean = np.add.reduceat(np.abs(i0), starts) / count
    # a noisy or drifting constant current (e.g. computed from P/V): steady point to point
    jump = np.abs(np.diff(i0, prepend=i0[0]))
    jump[starts] = 0.0
    return {
        "count": count,
        "absmean": absmean,
        "mean": np.add.reduceat(i0, starts) / count,
        "duration": t[ends] - t[starts],
        "i_span": np.maximum.reduceat(i0, starts) - np.minimum.reduceat(i0, starts),
        "v_span": np.maximum.reduceat(v0, starts) - np.minimum.reduceat(v0, starts),
        "steady": np.add.reduceat(jump, starts) / count <= 1e-3 * absmean,
    }


def rest_threshold(imax: float, rest_current_a: float | None = None) -> float:
    """Current below which a step is rest: 0.1% of the test's largest |I|, at least 1e-6 A."""
    return rest_current_a if rest_current_a is not None else max(1e-3 * imax, 1e-6)


def step_codes(stats: dict[str, np.ndarray], thr: float) -> np.ndarray:
    """Index into :data:`STEP_TYPES` per step, from :func:`step_stats` and the rest threshold."""
    absmean, duration = stats["absmean"], stats["duration"]
    charge = stats["mean"] > 0
    is_rest = absmean < thr
    is_pulse = ~is_rest & (np.nan_to_num(duration) < 30.0)
    is_cc = ~is_rest & ~is_pulse & (stats["i_span"] <= 0.02 * absmean)
    is_cv = ~is_rest & ~is_pulse & ~is_cc & (stats["v_span"] <= 0.005)
    is_cc = is_cc | (~is_rest & ~is_pulse & ~is_cv & stats["steady"])
    return np.select(
        [is_rest, is_pulse, is_cc & charge, is_cc, is_cv & charge, is_cv],
        [0, 5, 1, 2, 3, 4],
        6,
    )


def classify_steps(data: pd.DataFrame, rest_current_a: float | None = None) -> np.ndarray:
    """Label each row's step: rest, cc/cv charge or discharge, pulse or other.

    A step is a run of equal ``step_count``. Per step: rest if the mean |I| stays below the
    threshold (default 0.1% of the test's largest |I|, at least 1e-6 A); pulse if it lasts under
    30 s and is not rest; otherwise CC when the current varies by less than 2% of its mean, CV
    when the voltage varies by less than 5 mV while the current moves; other if neither.
    Thresholds are assumptions chosen for common cycler data; the testers' own step labels are
    not used because testers disagree on them. Vectorised over steps (``numpy.ufunc.reduceat``).
    """
    i = data["current_ampere"].to_numpy(dtype=float)
    v = data["voltage_volt"].to_numpy(dtype=float)
    t = data["test_time_second"].to_numpy(dtype=float)
    steps = data["step_count"].to_numpy()
    if len(i) == 0:
        return np.empty(0, dtype=object)
    stats = step_stats(i, v, t, steps)
    thr = rest_threshold(float(np.max(np.abs(np.nan_to_num(i)))), rest_current_a)
    names = np.array(STEP_TYPES, dtype=object)  # codes index STEP_TYPES
    return np.repeat(names[step_codes(stats, thr)], stats["count"])
