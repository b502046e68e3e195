"""Cycle and step summaries of a test in the CASIP schema.

All quantities come from the cumulative BDF counters, so they do not depend on how a tester
resets its own counters:

- charge (discharge) capacity of a cycle = increase of ``charging_capacity_ah``
  (``discharging_capacity_ah``) over the cycle's rows, counted from the last row of the
  previous cycle; energies likewise;
- coulombic efficiency = discharge capacity / charge capacity of the same cycle, energy
  efficiency = discharge energy / charge energy (for a cycle that starts with a discharge
  these read above 1 on the first cycle: the tester's cycle definition decides);
- mean charge (discharge) voltage = charge energy / charge capacity;
- capacity retention = discharge capacity / discharge capacity of the reference cycle, the
  first cycle whose discharge reaches half the median discharge of all cycles (so that
  formation or partial first cycles do not become the reference);
- the capacity check compares the tester's reported charge and discharge counters with the
  integral of current over time (trapezoidal) per cycle; a relative difference above 2% is
  flagged. Where the tester reported no counters they were integrated, and the check is empty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casip.data.schema import CyclerTest, integrate_counters

CHECK_TOLERANCE = 0.02

_COUNTERS = {
    "charge_capacity_ah": "charging_capacity_ah",
    "discharge_capacity_ah": "discharging_capacity_ah",
    "charge_energy_wh": "charging_energy_wh",
    "discharge_energy_wh": "discharging_energy_wh",
}


def _increments(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Increase of a cumulative counter over consecutive groups ending at rows ``ends``."""
    at_end = values[ends]
    before = np.r_[values[0] if len(values) else 0.0, at_end[:-1]]
    # the first group counts from the counter's first value (testers may start above zero)
    return at_end - before


def _group_ends(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    change = np.r_[keys[1:] != keys[:-1], True]
    ends = np.flatnonzero(change)
    starts = np.r_[0, ends[:-1] + 1]
    return starts, ends


def cycles(test: CyclerTest | pd.DataFrame) -> pd.DataFrame:
    """One row per cycle: capacities, energies, efficiencies, voltages, retention, checks.

    Cycles are runs of equal ``cycle_count`` in file order.
    """
    df = test.data if isinstance(test, CyclerTest) else test
    reported = test.reported_counters if isinstance(test, CyclerTest) else list(_COUNTERS.values())
    keys = df["cycle_count"].to_numpy()
    if len(keys) == 0:
        return pd.DataFrame()
    starts, ends = _group_ends(keys)
    t = df["test_time_second"].to_numpy(dtype=float)
    v = df["voltage_volt"].to_numpy(dtype=float)
    base = pd.DataFrame({"cycle_count": keys[ends].astype("int64")})
    base["start_time_second"] = t[starts]
    base["end_time_second"] = t[ends]
    base["duration_second"] = t[ends] - t[starts]
    base["rows"] = ends - starts + 1
    grp = pd.Series(np.repeat(np.arange(len(ends)), ends - starts + 1))
    extremes = pd.DataFrame(
        {
            "min_voltage_volt": pd.Series(v).groupby(grp).min().to_numpy(),
            "max_voltage_volt": pd.Series(v).groupby(grp).max().to_numpy(),
        }
    )
    if "internal_resistance_ohm" in df.columns:
        extremes["internal_resistance_ohm"] = resistance_medians(
            df["internal_resistance_ohm"], grp.to_numpy()
        )
    integ = integrate_counters(df)
    counters = {c: df[c].to_numpy(dtype=float) for c in _COUNTERS.values()}
    return finish_cycles(
        base,
        extremes,
        {c: x[ends] for c, x in counters.items()},
        {c: x[0] for c, x in counters.items()},
        {c: integ[c][ends] for c in ("charging_capacity_ah", "discharging_capacity_ah")},
        {c: integ[c][0] for c in ("charging_capacity_ah", "discharging_capacity_ah")},
        reported,
    )


def resistance_medians(r: pd.Series, grp: np.ndarray) -> np.ndarray:
    """Median of the positive internal resistance values per group (NaN where none)."""
    r = pd.Series(r.to_numpy(dtype=float))
    return r.where(r > 0).groupby(grp).median().to_numpy()


def _increments_at(at_end: np.ndarray, first: float) -> np.ndarray:
    """As :func:`_increments`, from a counter's values at the group ends and at the first row."""
    before = np.r_[first, at_end[:-1]]
    return at_end - before


def finish_cycles(
    base: pd.DataFrame,
    extremes: pd.DataFrame,
    counters_end: dict[str, np.ndarray],
    counters_first: dict[str, float],
    integ_end: dict[str, np.ndarray],
    integ_first: dict[str, float],
    reported: list[str],
) -> pd.DataFrame:
    """The cycle table from per-cycle parts (shared by the whole-file and streaming paths).

    ``base`` holds cycle_count, start/end time, duration and rows; ``extremes`` min/max voltage
    and (if recorded) the internal resistance median; the counters (BDF names) and the
    integrals of current are given at each cycle's last row and at the test's first row.
    """
    out = base.copy()
    for name, col in _COUNTERS.items():
        out[name] = _increments_at(counters_end[col], counters_first[col])
    with np.errstate(divide="ignore", invalid="ignore"):
        qc, qd = out["charge_capacity_ah"].to_numpy(), out["discharge_capacity_ah"].to_numpy()
        ec, ed = out["charge_energy_wh"].to_numpy(), out["discharge_energy_wh"].to_numpy()
        out["coulombic_efficiency"] = np.where(qc > 0, qd / qc, np.nan)
        out["energy_efficiency"] = np.where(ec > 0, ed / ec, np.nan)
        out["mean_charge_voltage_volt"] = np.where(qc > 0, ec / qc, np.nan)
        out["mean_discharge_voltage_volt"] = np.where(qd > 0, ed / qd, np.nan)
    for c in extremes.columns:
        out[c] = extremes[c].to_numpy()
    positive = qd[qd > 0]
    if len(positive):
        ref_level = 0.5 * np.median(positive)
        ref_idx = int(np.flatnonzero(qd >= ref_level)[0])
        out["capacity_retention"] = qd / qd[ref_idx]
    else:
        out["capacity_retention"] = np.nan
    # the capacity check: tester counters against the integral of current
    for name, col in (("charge", "charging_capacity_ah"), ("discharge", "discharging_capacity_ah")):
        if col in reported:
            integrated = _increments_at(integ_end[col], integ_first[col])
            rep = out[f"{name}_capacity_ah"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = np.where(rep > 1e-9, integrated / rep - 1.0, np.nan)
            out[f"{name}_integral_deviation"] = dev
        else:
            out[f"{name}_integral_deviation"] = np.nan
    dev = out[["charge_integral_deviation", "discharge_integral_deviation"]].abs().max(axis=1)
    # True / False where checked; missing (NA) where the tester reported no counters to check
    ok = pd.array(~(dev > CHECK_TOLERANCE), dtype="boolean")
    ok[dev.isna().to_numpy()] = pd.NA
    out["capacity_check_ok"] = ok
    return out


def steps(test: CyclerTest | pd.DataFrame) -> pd.DataFrame:
    """One row per executed step: type, duration, start and end values, capacity and energy."""
    df = test.data if isinstance(test, CyclerTest) else test
    keys = df["step_count"].to_numpy()
    if len(keys) == 0:
        return pd.DataFrame()
    starts, ends = _group_ends(keys)
    out = step_parts(df, starts, ends)
    out.insert(3, "step_type", df["step_type"].to_numpy()[starts])
    for name, col in _COUNTERS.items():
        out[name] = _increments(df[col].to_numpy(dtype=float), ends)
    return out


def step_parts(df: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """The columns of the step table that depend on the step's own rows only.

    Used on whole steps, so the streaming ingestion may pass the rows of complete steps in
    pieces; step type and the counter increments are added by the caller.
    """
    keys = df["step_count"].to_numpy()
    t = df["test_time_second"].to_numpy(dtype=float)
    v = df["voltage_volt"].to_numpy(dtype=float)
    i = df["current_ampere"].to_numpy(dtype=float)
    grp = np.repeat(np.arange(len(ends)), ends - starts + 1)
    return pd.DataFrame(
        {
            "step_count": keys[ends].astype("int64"),
            "cycle_count": df["cycle_count"].to_numpy()[ends].astype("int64"),
            "step_index": df["step_index"].to_numpy()[ends].astype("int64"),
            "start_time_second": t[starts],
            "end_time_second": t[ends],
            "duration_second": t[ends] - t[starts],
            "rows": ends - starts + 1,
            "start_voltage_volt": v[starts],
            "end_voltage_volt": v[ends],
            "start_current_ampere": i[starts],
            "end_current_ampere": i[ends],
            "mean_current_ampere": pd.Series(i).groupby(grp).mean().to_numpy(),
        }
    )
