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
    out = pd.DataFrame({"cycle_count": keys[ends].astype("int64")})
    out["start_time_second"] = t[starts]
    out["end_time_second"] = t[ends]
    out["duration_second"] = t[ends] - t[starts]
    out["rows"] = ends - starts + 1
    for name, col in _COUNTERS.items():
        out[name] = _increments(df[col].to_numpy(dtype=float), ends)
    with np.errstate(divide="ignore", invalid="ignore"):
        qc, qd = out["charge_capacity_ah"].to_numpy(), out["discharge_capacity_ah"].to_numpy()
        ec, ed = out["charge_energy_wh"].to_numpy(), out["discharge_energy_wh"].to_numpy()
        out["coulombic_efficiency"] = np.where(qc > 0, qd / qc, np.nan)
        out["energy_efficiency"] = np.where(ec > 0, ed / ec, np.nan)
        out["mean_charge_voltage_volt"] = np.where(qc > 0, ec / qc, np.nan)
        out["mean_discharge_voltage_volt"] = np.where(qd > 0, ed / qd, np.nan)
    grp = pd.Series(np.repeat(np.arange(len(ends)), ends - starts + 1))
    out["min_voltage_volt"] = pd.Series(v).groupby(grp).min().to_numpy()
    out["max_voltage_volt"] = pd.Series(v).groupby(grp).max().to_numpy()
    if "internal_resistance_ohm" in df.columns:
        r = df["internal_resistance_ohm"].where(df["internal_resistance_ohm"] > 0)
        out["internal_resistance_ohm"] = r.groupby(grp.to_numpy()).median().to_numpy()
    positive = qd[qd > 0]
    if len(positive):
        ref_level = 0.5 * np.median(positive)
        ref_idx = int(np.flatnonzero(qd >= ref_level)[0])
        out["capacity_retention"] = qd / qd[ref_idx]
    else:
        out["capacity_retention"] = np.nan
    # the capacity check: tester counters against the integral of current
    integ = integrate_counters(df)
    for name, col in (("charge", "charging_capacity_ah"), ("discharge", "discharging_capacity_ah")):
        if col in reported:
            integrated = _increments(integ[col], ends)
            rep = out[f"{name}_capacity_ah"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = np.where(rep > 1e-9, integrated / rep - 1.0, np.nan)
            out[f"{name}_integral_deviation"] = dev
        else:
            out[f"{name}_integral_deviation"] = np.nan
    dev = out[["charge_integral_deviation", "discharge_integral_deviation"]].abs().max(axis=1)
    out["capacity_check_ok"] = ~(dev > CHECK_TOLERANCE)
    return out


def steps(test: CyclerTest | pd.DataFrame) -> pd.DataFrame:
    """One row per executed step: type, duration, start and end values, capacity and energy."""
    df = test.data if isinstance(test, CyclerTest) else test
    keys = df["step_count"].to_numpy()
    if len(keys) == 0:
        return pd.DataFrame()
    starts, ends = _group_ends(keys)
    t = df["test_time_second"].to_numpy(dtype=float)
    v = df["voltage_volt"].to_numpy(dtype=float)
    i = df["current_ampere"].to_numpy(dtype=float)
    grp = np.repeat(np.arange(len(ends)), ends - starts + 1)
    out = pd.DataFrame(
        {
            "step_count": keys[ends].astype("int64"),
            "cycle_count": df["cycle_count"].to_numpy()[ends].astype("int64"),
            "step_index": df["step_index"].to_numpy()[ends].astype("int64"),
            "step_type": df["step_type"].to_numpy()[starts],
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
    for name, col in _COUNTERS.items():
        out[name] = _increments(df[col].to_numpy(dtype=float), ends)
    return out
