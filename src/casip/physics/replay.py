"""Replay a measured current profile against a design or a parameter set, and score it.

:func:`replay` drives a PyBaMM model (DFN or SPMe) with the current of a measured test (a hub
test, a CSV, a :class:`~casip.data.CyclerTest`) and compares the simulated voltage with the
measured one on the measured time grid: RMSE and maximum error overall and per step type
(rest, cc_charge, cc_discharge, cv_charge, cv_discharge, pulse, other, from the hub's step
classification :func:`casip.data.schema.classify_steps`).

The measured current becomes the model's ``"Current function [A]"`` as a
:class:`pybamm.Interpolant` of time, linear between samples, as in PyBaMM's drive-cycle
examples [2]_; the measured times are also the solver's stop times (``t_eval``), so each kink
of the piecewise-linear current is a solver breakpoint, and the solution is read at the
measured times (``t_interp``). Sign: CASIP's (and BDF's) current is positive on *charge*,
PyBaMM's on *discharge*; the replay negates it.

With ``control="power"`` the model is driven by power instead: PyBaMM's ``"operating mode":
"power"`` with ``"Power function [W]"`` as the same kind of Interpolant of time (PyBaMM's power
is positive on discharge, CASIP's on charge; the replay negates it). The power is the profile's
power column (``power_watt``, ``power_w``...), else the measured ``I * V`` row by row; the
current the model then draws is reported as the applied current.

Rules that change the error (each stated in the result, see ``docs/replay.md``):

* **Initial state of charge.** ``"from_rest_voltage"`` (default): the replayed window must
  start in a rest; the *last* voltage of that rest (the most relaxed one; no current flows,
  so the state is the same at the window's start) is taken as the open-circuit voltage, and
  the state on the setup's lithium-conservation line whose open-circuit voltage equals it is
  found by PyBaMM's electrode state-of-health solver
  (:meth:`pybamm.ParameterValues.set_initial_state` with a ``"<V> V"`` string, PyBaMM 26) [2]_.
  ``"from_history"``: for a window that need not start at rest, the last rest *before* the
  window's start in the same profile (the whole profile is read; the window only selects the
  replayed rows) gives a state of charge as above, ``SOC_rest``; the charge passed between the
  end of that rest and the window's first row, ``dQ`` (trapezoid of the measured current,
  times the replay's current factor, positive on charge), is then counted against the
  model's capacity between its cut-offs, ``Q_model = C_n (x_100 - x_0)`` (the capacity
  PyBaMM's state of charge is a fraction of): ``SOC_start = SOC_rest + dQ / Q_model``. A
  window that starts in a rest gets the rest-voltage state (no charge passes in a rest). No
  rest before the window, or a state outside [0, 1], is refused.
  A float is PyBaMM's state of charge (0 and 1 where the open-circuit voltage reaches the
  lower and upper cut-off). ``None`` keeps the setup's own initial state (a design's is fully
  charged).
* **Temperature.** Where the test records it, the ambient temperature is the recorded ambient
  temperature at the window's start (else the metadata's test temperature) and the initial
  cell temperature is the recorded surface temperature at the start (else the ambient one).
  Otherwise ``temperature_c`` must be given; a given value that differs from a recorded one
  by more than :data:`TEMPERATURE_CONFLICT_C` is refused, not silently preferred.
* **Current scaling.** ``scale="amps"`` applies the measured amperes; ``scale="c_rate"``
  applies the same C-rate, ``I_model = I_measured * C_design / C_tested``, with ``C_design``
  the setup's capacity and ``C_tested`` the tested cell's (``tested_capacity_ah``, else the
  test's ``nominal_capacity_ah``). There is no default: the caller chooses. With
  ``control="power"`` the same factor scales the power: ``"amps"`` applies the measured watts,
  ``"c_rate"`` ``P_model = P_measured * C_design / C_tested``.
* **Window.** ``window=(t0, t1)`` in the test's own time [s] replays the rows with
  ``t0 <= t <= t1``; ``None`` replays the whole profile.

The voltage cut-offs of the setup are widened by ``cutoff_margin_v`` (default
:data:`REPLAY_CUTOFF_MARGIN_V`, as :mod:`casip.physics.pulse` does for pulses): the tester
stopped the measured cell at its own cut-off, and a model a few millivolts below it at that
moment is an error to report, not a reason to stop. A simulation that still leaves the widened
window, or whose solver fails, stops there: the result says when and why, the simulated voltage
is NaN afterwards and the errors cover the simulated part only.

References
----------
.. [1] M. Doyle, T. F. Fuller, J. Newman, J. Electrochem. Soc. 140, 1526 (1993) (DFN).
.. [2] V. Sulzer, S. G. Marquis, R. Timms, M. Robinson, S. J. Chapman, "Python Battery
   Mathematical Modelling (PyBaMM)", J. Open Res. Softw. 9, 14 (2021); drive-cycle example
   ``examples/scripts/drive_cycle.py`` (current as an Interpolant of time).
.. [3] S. G. Marquis, V. Sulzer, R. Timms, C. P. Please, S. J. Chapman, "An asymptotic
   derivation of a single particle model with electrolyte", J. Electrochem. Soc. 166, A3693
   (2019) (SPMe).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pybamm

from casip.design import CellMetrics
from casip.errors import CasipInputError, Problem
from casip.physics.parameters import Mapped, PhysicsSetup, parameters_for
from casip.physics.solving import DEFAULT_LIMITS, SolveLimits, make_solver

#: Widening of the setup's voltage cut-offs during a replay [V].
REPLAY_CUTOFF_MARGIN_V = 0.3
#: A given temperature further than this from a recorded one is refused [degC].
TEMPERATURE_CONFLICT_C = 1.0
#: Step type of rows that a CSV without step labels cannot classify.
STEP_TYPES = ("rest", "cc_charge", "cc_discharge", "cv_charge", "cv_discharge", "pulse", "other")

_CURRENT = "Current function [A]"
_POWER = "Power function [W]"
_SIM_CURRENT = "Current [A]"
_CONTROLS = ("current", "power")
_VOLTAGE = "Voltage [V]"
_TEMPERATURE = "X-averaged cell temperature [K]"
_MODELS = ("DFN", "SPMe")
_THERMAL = ("isothermal", "lumped")

#: CSV column aliases -> BDF name (BDF names are accepted as they are).
_ALIASES = {
    "test_time_second": ("test_time_second", "time_s", "time", "t_s", "time [s]"),
    "current_ampere": ("current_ampere", "current_a", "current", "i_a", "current [a]"),
    "voltage_volt": ("voltage_volt", "voltage_v", "voltage", "v_v", "voltage [v]"),
    "ambient_temperature_celsius": (
        "ambient_temperature_celsius", "temperature_c", "temperature", "ambient_temperature_c",
        "temperature [degc]",
    ),
    "surface_temperature_celsius": ("surface_temperature_celsius", "surface_temperature_c"),
    "step_type": ("step_type",),
    "power_watt": ("power_watt", "power_w", "power", "power [w]"),
}


# --------------------------------------------------------------------------------------------
# profile
# --------------------------------------------------------------------------------------------


def _step_types_from_current(t: np.ndarray, i: np.ndarray, v: np.ndarray | None) -> np.ndarray:
    """Step types for a profile without labels: a step is a run of one mode (rest below the
    hub's rest threshold, else charge or discharge); each run is then classified by the hub's
    rule (:func:`casip.data.schema.classify_steps`)."""
    from casip.data.schema import classify_steps, rest_threshold

    thr = rest_threshold(float(np.max(np.abs(i))) if len(i) else 0.0)
    mode = np.where(np.abs(i) < thr, 0, np.sign(i)).astype(int)
    steps = np.cumsum(np.r_[True, mode[1:] != mode[:-1]])
    df = pd.DataFrame(
        {
            "test_time_second": t,
            "current_ampere": i,
            "voltage_volt": v if v is not None else np.zeros_like(t),
            "step_count": steps,
        }
    )
    return np.asarray(classify_steps(df), dtype=object)


@dataclass(frozen=True)
class Profile:
    """A measured current profile in CASIP's conventions.

    Attributes
    ----------
    time_s : numpy.ndarray
        Test time [s], strictly increasing.
    current_a : numpy.ndarray
        Current [A], positive on charge (CASIP/BDF sign).
    voltage_v : numpy.ndarray or None
        Measured voltage [V] (None: nothing to compare with; replay still simulates).
    step_type : numpy.ndarray
        Hub step type per row (see :data:`STEP_TYPES`).
    ambient_temperature_c, surface_temperature_c : numpy.ndarray or None
        Recorded temperatures [degC], where the test has them.
    metadata_temperature_c : float or None
        The test's temperature from its metadata (``TestMetadata.temperature_celsius``).
    nominal_capacity_ah : float or None
        The tested cell's nominal capacity, where known.
    source : str
        Where the profile came from, for messages and reports.
    notes : list of str
        What was done to the rows (duplicate times dropped...).
    power_w : numpy.ndarray or None
        Measured power [W], positive on charge (CASIP sign), where the profile has a power
        column. A profile with power but no current column gets ``current_a = P / V`` from
        the measured voltage (NaN without one).
    """

    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray | None
    step_type: np.ndarray
    ambient_temperature_c: np.ndarray | None = None
    surface_temperature_c: np.ndarray | None = None
    metadata_temperature_c: float | None = None
    nominal_capacity_ah: float | None = None
    source: str = "<profile>"
    notes: tuple[str, ...] = ()
    power_w: np.ndarray | None = None

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        source: str = "<frame>",
        nominal_capacity_ah: float | None = None,
        metadata_temperature_c: float | None = None,
    ) -> Profile:
        """A profile from a table with BDF column names or the aliases of a simple CSV.

        Required: time (``test_time_second``, ``time_s`` or ``time``) and current
        (``current_ampere``, ``current_a`` or ``current``, positive on charge) or power
        (``power_watt``, ``power_w`` or ``power``, positive on charge). Optional:
        voltage (``voltage_volt``, ``voltage_v``, ``voltage``), temperature
        (``ambient_temperature_celsius``, ``temperature_c``, ``temperature``),
        ``surface_temperature_celsius`` and ``step_type`` (else derived from the current).
        Rows with a missing time or current are dropped; rows whose time does not advance
        (a tester's duplicate time stamps) are dropped after the first.
        """
        lower = {str(c).strip().lower(): c for c in df.columns}
        cols: dict[str, Any] = {}
        for bdf, names in _ALIASES.items():
            for n in names:
                if n in lower:
                    cols[bdf] = lower[n]
                    break
        need_drive = (
            "power_watt" if "power_watt" in cols and "current_ampere" not in cols
            else "current_ampere"
        )
        for need, names in (("test_time_second", "time"), (need_drive, "current")):
            if need not in cols:
                raise CasipInputError(
                    Problem(
                        names,
                        f"the profile has no {names} column",
                        sorted(map(str, df.columns))[:20],
                        "one of: " + ", ".join(_ALIASES[need])
                        + ("" if need == "test_time_second"
                           else "; or a power column: " + ", ".join(_ALIASES["power_watt"])),
                    ),
                    source=source,
                )

        def num(key: str) -> np.ndarray | None:
            if key not in cols:
                return None
            return pd.to_numeric(df[cols[key]], errors="coerce").to_numpy(dtype=float)

        t, i = num("test_time_second"), num(need_drive)
        keep = np.isfinite(t) & np.isfinite(i)
        notes: list[str] = []
        if not keep.all():
            notes.append(f"{int((~keep).sum())} rows without a time or current were dropped")
        if keep.sum() < 2:
            raise CasipInputError(
                Problem("rows", "fewer than two rows with a time and a current",
                        int(keep.sum()), "a profile of at least two samples"),
                source=source,
            )
        t_k = t[keep]
        if np.any(np.diff(t_k) < 0):
            k = int(np.flatnonzero(np.diff(t_k) < 0)[0]) + 1
            raise CasipInputError(
                Problem("time", f"time goes backwards at row {k}", float(t_k[k]),
                        "non-decreasing test time in seconds"),
                source=source,
            )
        idx = np.flatnonzero(keep)
        adv = np.r_[True, np.diff(t_k) > 0]
        if not adv.all():
            notes.append(f"{int((~adv).sum())} rows repeating the previous time were dropped")
        idx = idx[adv]
        v = num("voltage_volt")
        amb = num("ambient_temperature_celsius")
        surf = num("surface_temperature_celsius")

        def sub(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            a = a[idx]
            return a if np.isfinite(a).any() else None

        t_out, i_out, v_out = t[idx], i[idx], sub(v)
        p_out = None
        if "power_watt" in cols:
            p_out = sub(num("power_watt"))
            if need_drive == "power_watt":
                p_out = i_out
                if v_out is not None:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        i_out = np.where(v_out > 0, p_out / v_out, np.nan)
                    notes.append("current derived as P / V from the measured voltage "
                                 "(no current column)")
                else:
                    i_out = np.full(len(t_out), np.nan)
                    notes.append("no current column and no voltage: current unknown")
        if "step_type" in cols:
            st = df[cols["step_type"]].astype(str).to_numpy(dtype=object)[idx]
        else:
            basis = i_out if np.isfinite(i_out).all() else p_out
            st = _step_types_from_current(t_out, basis, v_out)
            notes.append("step types derived from the "
                          + ("current" if basis is i_out else "power")
                          + " (no step_type column)")
        return cls(
            time_s=t_out,
            current_a=i_out,
            voltage_v=v_out,
            step_type=st,
            ambient_temperature_c=sub(amb),
            surface_temperature_c=sub(surf),
            metadata_temperature_c=metadata_temperature_c,
            nominal_capacity_ah=nominal_capacity_ah,
            source=source,
            notes=tuple(notes),
            power_w=p_out,
        )

    @classmethod
    def from_csv(cls, path: str | os.PathLike, **kwargs: Any) -> Profile:
        """A profile from a CSV file (columns as :meth:`from_frame`)."""
        p = Path(path)
        try:
            df = pd.read_csv(p)
        except FileNotFoundError:
            raise CasipInputError(Problem("csv", "no such file", str(p)), source=str(p)) from None
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise CasipInputError(
                Problem("csv", f"cannot read the CSV: {exc}", str(p)), source=str(p)
            ) from None
        return cls.from_frame(df, source=str(p), **kwargs)

    @classmethod
    def from_test(cls, test: Any) -> Profile:
        """A profile from a :class:`casip.data.CyclerTest` (its time series and metadata)."""
        md = test.metadata
        return cls.from_frame(
            test.data,
            source=getattr(test.provenance, "source_name", "<test>"),
            nominal_capacity_ah=md.nominal_capacity_ah,
            metadata_temperature_c=md.temperature_celsius,
        )

    @classmethod
    def from_store(cls, store: Any, test_id: str) -> Profile:
        """A profile from a test ingested in a hub :class:`casip.data.Store`."""
        from casip.data.store import Store

        st = store if isinstance(store, Store) else Store(store)
        info = st.info(test_id)
        md = info.get("metadata") or {}
        return cls.from_frame(
            st.table(test_id, "timeseries"),
            source=f"test {info['test_id']} ({info['provenance']['source_name']})",
            nominal_capacity_ah=md.get("nominal_capacity_ah"),
            metadata_temperature_c=md.get("temperature_celsius"),
        )

    @classmethod
    def drive_cycle(cls, name: str = "US06", *, current_scale: float = 1.0) -> Profile:
        """A drive-cycle current profile shipped with CASIP (no measured voltage).

        Parameters
        ----------
        name : str
            One of :data:`DRIVE_CYCLES` (``"US06"``: PyBaMM's US06 current, 601 samples at
            1 s, peak 8.1 A on discharge; source, commit and licence in
            ``casip/physics/data/README.md``).
        current_scale : float
            Factor on the file's current (e.g. to drive a larger cell at the same C-rates;
            ``replay(..., scale="c_rate", tested_capacity_ah=...)`` does the same at replay).

        Returns
        -------
        Profile
            Time [s] and current [A] in CASIP's sign (positive on charge): the file holds
            PyBaMM's ``"Current function [A]"``, positive on discharge, and is negated. Step
            type ``"rest"`` below the hub's rest threshold, else ``"other"``; ``voltage_v`` is
            None.
        """
        key = str(name).strip().upper()
        if key not in DRIVE_CYCLES:
            raise CasipInputError(
                Problem("drive_cycle", "no such drive cycle shipped with CASIP", name,
                        ", ".join(sorted(DRIVE_CYCLES)))
            )
        f = float(current_scale)
        if not (math.isfinite(f) and f > 0):
            raise CasipInputError(
                Problem("current_scale", "must be a positive factor", current_scale, "> 0")
            )
        from importlib import resources

        ref = resources.files("casip.physics").joinpath("data", DRIVE_CYCLES[key])
        with resources.as_file(ref) as path:
            df = pd.read_csv(path, comment="#")
        t = df["time_s"].to_numpy(dtype=float)
        i = -df["current_a_pybamm"].to_numpy(dtype=float) * f
        from casip.data.schema import rest_threshold

        # the hub's run-by-run rule would call a drive cycle's runs pulses and CV steps: every
        # row is "rest" below the hub's rest threshold, else "other"
        thr = rest_threshold(float(np.max(np.abs(i))))
        steps = np.where(np.abs(i) < thr, "rest", "other").astype(object)
        return cls.from_frame(
            pd.DataFrame({"time_s": t, "current_a": i, "step_type": steps}),
            source=f"drive cycle {key} (PyBaMM's {DRIVE_CYCLES[key]}"
            + (f", current x {f:g}" if f != 1.0 else "") + ")",
        )


#: Drive cycles shipped in ``casip/physics/data`` (name -> file), see its README.md.
DRIVE_CYCLES = {"US06": "us06.csv"}


def as_profile(profile: Any) -> Profile:
    """A :class:`Profile` from a Profile, a CyclerTest, a DataFrame or a CSV path."""
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, pd.DataFrame):
        return Profile.from_frame(profile)
    if isinstance(profile, str | os.PathLike):
        return Profile.from_csv(profile)
    if hasattr(profile, "data") and hasattr(profile, "metadata"):
        return Profile.from_test(profile)
    raise CasipInputError(
        Problem("profile", "not a current profile", type(profile).__name__,
                "a Profile, a casip.data CyclerTest, a DataFrame or a CSV path")
    )


# --------------------------------------------------------------------------------------------
# setups
# --------------------------------------------------------------------------------------------


def setup_from_pybamm(
    name: str, *, overrides: Mapping[str, object] | None = None
) -> PhysicsSetup:
    """A :class:`PhysicsSetup` holding one of PyBaMM's own parameter sets, used as it is.

    Parameters
    ----------
    name : str
        A PyBaMM parameter set with two porous electrodes (e.g. ``"Chen2020"`` or
        ``"ORegan2022"``, both an LG M50 cell).
    overrides : mapping, optional
        Values to change (e.g. ``"Electrode width [m]"``); ``"Nominal cell capacity [A.h]"``
        sets the capacity used by ``scale="c_rate"``.

    Returns
    -------
    PhysicsSetup
        ``capacity_Ah`` is the set's ``"Nominal cell capacity [A.h]"`` (Chen2020 and
        ORegan2022: 5 Ah, the LG M50's datasheet value); other metrics are NaN.
    """
    try:
        pv = pybamm.ParameterValues(name)
    except Exception:
        raise CasipInputError(
            Problem("parameter_set", "PyBaMM has no such parameter set", name,
                    "e.g. Chen2020 or ORegan2022")
        ) from None
    if overrides:
        pv.update(dict(overrides), check_already_exists=False)
    try:
        q = float(pv["Nominal cell capacity [A.h]"])
    except KeyError:
        raise CasipInputError(
            Problem("parameter_set", "the set gives no nominal cell capacity", name,
                    "a set with 'Nominal cell capacity [A.h]'")
        ) from None
    nan = math.nan
    area_cm2 = float(pv["Electrode height [m]"] * pv["Electrode width [m]"]) * 1e4
    metrics = CellMetrics(
        name=name, kind=f"PyBaMM set {name}", format="", capacity_Ah=q,
        nominal_voltage_V=nan, energy_Wh=nan, mass_g=nan, volume_cm3=nan,
        specific_energy_Wh_kg=nan, energy_density_Wh_L=nan, cost_usd=nan, cost_usd_kWh=nan,
        couple_specific_energy_Wh_kg=nan, couple_energy_density_Wh_L=nan,
        cell_to_couple_specific_energy=nan, cell_to_couple_energy_density=nan,
        theoretical_specific_energy_Wh_kg=nan,
        geometry={"cathode_area_cm2": area_cm2}, mass_breakdown_g={}, volume_breakdown_cm3={},
        cost_breakdown_usd={}, element_demand_kg_GWh={},
    )
    origin = f"PyBaMM parameter set {name}" + (" with overrides" if overrides else "")
    return PhysicsSetup(
        name=name,
        approximation=f"PyBaMM set {name}",
        base_set=name,
        model_options={},
        parameter_values=pv,
        metrics=metrics,
        mapping={"Nominal cell capacity [A.h]": Mapped(q, origin)},
        notes=[f"{origin}, used as it is"],
    )


def _setup_of(target: Any) -> PhysicsSetup:
    if isinstance(target, PhysicsSetup):
        return target
    if isinstance(target, str) and target.startswith("pybamm:"):
        return setup_from_pybamm(target[len("pybamm:"):])
    return parameters_for(target)


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    """A replayed profile: simulated against measured voltage on the measured time grid.

    Attributes
    ----------
    name, source : str
        The setup's name and the profile's origin.
    model : str
        ``"DFN"`` or ``"SPMe"`` with the thermal option, e.g. ``"DFN (isothermal)"``.
    time_s : numpy.ndarray
        Test time of the replayed rows [s] (the test's own clock).
    measured_current_a, applied_current_a : numpy.ndarray
        The measured current and the current applied to the model (after scaling) [A],
        positive on charge.
    measured_voltage_v : numpy.ndarray or None
    simulated_voltage_v : numpy.ndarray
        NaN after an early stop.
    simulated_temperature_c : numpy.ndarray or None
        Cell temperature (x-averaged) with ``thermal="lumped"``.
    step_type : numpy.ndarray
    errors : pandas.DataFrame
        One row per step type present, and ``"all"``: ``step_type``, ``points``,
        ``rmse_mV``, ``max_abs_mV`` (largest absolute error), ``mean_mV`` (mean of simulated
        minus measured). Empty without a measured voltage.
    initial_state : str
        The initial state and the rule that set it.
    temperature_c, initial_temperature_c : float
        Ambient and initial cell temperature of the replay [degC].
    temperature_rule : str
    scale : str
        ``"amps"`` or ``"c_rate"``.
    current_factor : float
        ``I_model / I_measured`` (1 for amps, ``C_design / C_tested`` for c_rate).
    window : tuple of float
        First and last replayed test time [s].
    stopped_early : bool
    stopped_at_s : float
        Test time where the simulation stopped (the window's end if it did not stop early).
    stop_reason : str
        Why it stopped (``"end of the profile"``, a voltage cut-off, a solver failure).
    solve_time_s : float
    notes : list of str
    control : str
        ``"current"`` or ``"power"`` (what drove the model). With ``"power"``,
        ``applied_current_a`` is the current the model drew (NaN after an early stop).
    measured_power_w, applied_power_w : numpy.ndarray or None
        With ``control="power"``: the measured power (the profile's column, else measured
        ``I * V``) and the power applied to the model (after scaling) [W], positive on charge.
    initial_state_of_charge : float or None
        PyBaMM's state of charge at the window's start where the rule computed it (a given
        float, ``"from_history"``); None for ``"from_rest_voltage"`` and the setup's own.
    """

    name: str
    source: str
    model: str
    time_s: np.ndarray
    measured_current_a: np.ndarray
    applied_current_a: np.ndarray
    measured_voltage_v: np.ndarray | None
    simulated_voltage_v: np.ndarray
    simulated_temperature_c: np.ndarray | None
    step_type: np.ndarray
    errors: pd.DataFrame
    initial_state: str
    temperature_c: float
    initial_temperature_c: float
    temperature_rule: str
    scale: str
    current_factor: float
    window: tuple[float, float]
    stopped_early: bool
    stopped_at_s: float
    stop_reason: str
    solve_time_s: float
    notes: list[str] = field(default_factory=list)
    control: str = "current"
    measured_power_w: np.ndarray | None = None
    applied_power_w: np.ndarray | None = None
    initial_state_of_charge: float | None = None

    def _overall(self, col: str) -> float:
        row = self.errors[self.errors["step_type"] == "all"]
        return float(row[col].iloc[0]) / 1e3 if len(row) else math.nan

    @property
    def rmse_v(self) -> float:
        """Root-mean-square error of the simulated voltage over the simulated rows [V]."""
        return self._overall("rmse_mV")

    @property
    def max_error_v(self) -> float:
        """Largest absolute voltage error over the simulated rows [V]."""
        return self._overall("max_abs_mV")

    def to_frame(self) -> pd.DataFrame:
        """The time series: time, currents, measured and simulated voltage, error, step."""
        out = {
            "test_time_second": self.time_s,
            "measured_current_a": self.measured_current_a,
            "applied_current_a": self.applied_current_a,
            "measured_voltage_v": (
                self.measured_voltage_v if self.measured_voltage_v is not None
                else np.full(len(self.time_s), np.nan)
            ),
            "simulated_voltage_v": self.simulated_voltage_v,
        }
        out["error_v"] = out["simulated_voltage_v"] - out["measured_voltage_v"]
        if self.control == "power":
            out["measured_power_w"] = self.measured_power_w
            out["applied_power_w"] = self.applied_power_w
            out["simulated_power_w"] = self.applied_current_a * self.simulated_voltage_v
        if self.simulated_temperature_c is not None:
            out["simulated_temperature_c"] = self.simulated_temperature_c
        out["step_type"] = self.step_type
        return pd.DataFrame(out)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary (no time series)."""
        return {
            "name": self.name,
            "source": self.source,
            "model": self.model,
            "control": self.control,
            "window_s": list(self.window),
            "points": len(self.time_s),
            "initial_state": self.initial_state,
            "initial_state_of_charge": self.initial_state_of_charge,
            "temperature_c": self.temperature_c,
            "initial_temperature_c": self.initial_temperature_c,
            "temperature_rule": self.temperature_rule,
            "scale": self.scale,
            "current_factor": self.current_factor,
            "rmse_mV": self.rmse_v * 1e3,
            "max_error_mV": self.max_error_v * 1e3,
            "stopped_early": self.stopped_early,
            "stopped_at_s": self.stopped_at_s,
            "stop_reason": self.stop_reason,
            "errors": self.errors.to_dict(orient="records"),
            "notes": list(self.notes),
        }


def error_table(
    measured_v: np.ndarray, simulated_v: np.ndarray, step_type: np.ndarray
) -> pd.DataFrame:
    """RMSE, maximum and mean error [mV] overall (``"all"``) and per step type, over the
    rows where both voltages are finite."""
    err = np.asarray(simulated_v, float) - np.asarray(measured_v, float)
    ok = np.isfinite(err)
    rows = []
    groups = [("all", ok)] + [
        (s, ok & (step_type == s)) for s in STEP_TYPES if np.any(ok & (step_type == s))
    ]
    for s in sorted({str(x) for x in step_type[ok]} - set(STEP_TYPES)):
        groups.append((s, ok & (step_type == s)))
    for s, m in groups:
        e = err[m]
        rows.append(
            {
                "step_type": s,
                "points": int(m.sum()),
                "rmse_mV": float(np.sqrt(np.mean(e**2))) * 1e3 if e.size else math.nan,
                "max_abs_mV": float(np.max(np.abs(e))) * 1e3 if e.size else math.nan,
                "mean_mV": float(np.mean(e)) * 1e3 if e.size else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["step_type", "points", "rmse_mV", "max_abs_mV", "mean_mV"])


# --------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------


def _window_mask(p: Profile, window: Sequence[float] | None) -> tuple[np.ndarray, str | None]:
    if window is None:
        return np.ones(len(p.time_s), dtype=bool), None
    try:
        t0, t1 = (float(x) for x in window)
    except (TypeError, ValueError):
        raise CasipInputError(
            Problem("window", "not a pair of times", window, "(t0, t1) in seconds of test time")
        ) from None
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise CasipInputError(
            Problem("window", "the window must be two finite times with t1 > t0", (t0, t1),
                    "(t0, t1) in seconds of test time")
        )
    m = (p.time_s >= t0) & (p.time_s <= t1)
    if m.sum() < 2:
        raise CasipInputError(
            Problem("window", "fewer than two profile rows fall in the window", (t0, t1),
                    f"times within the profile's {p.time_s[0]:g} .. {p.time_s[-1]:g} s"),
            source=p.source,
        )
    return m, f"window {t0:g} .. {t1:g} s of test time ({int(m.sum())} rows)"


def _current_factor(
    setup: PhysicsSetup, p: Profile, scale: str, tested_capacity_ah: float | None,
    control: str = "current",
) -> tuple[float, str]:
    x = "P" if control == "power" else "I"
    if scale not in ("amps", "c_rate"):
        raise CasipInputError(
            Problem("scale", "unknown current scaling", scale,
                    "'amps' (as measured) or 'c_rate' (same C-rate on the design's capacity)")
        )
    if scale == "amps":
        return 1.0, ("power applied as measured (amps: watts as measured)" if x == "P"
                     else "currents applied as measured (amps)")
    c_tested = tested_capacity_ah if tested_capacity_ah is not None else p.nominal_capacity_ah
    if c_tested is None:
        raise CasipInputError(
            Problem("tested_capacity_ah", "scale='c_rate' needs the tested cell's capacity and "
                    "the test's metadata gives none", None,
                    "tested_capacity_ah in A.h (or scale='amps')"),
            source=p.source,
        )
    c_tested = float(c_tested)
    if not (c_tested > 0 and math.isfinite(c_tested)):
        raise CasipInputError(
            Problem("tested_capacity_ah", "must be a positive capacity", c_tested, "A.h > 0")
        )
    c_design = float(setup.capacity_Ah)
    if not (c_design > 0 and math.isfinite(c_design)):
        raise CasipInputError(
            Problem("scale", "the setup has no capacity to scale to", c_design, "scale='amps'")
        )
    f = c_design / c_tested
    return f, (
        f"same C-rate: {x}_model = {x}_measured x C_design / C_tested = {x} x {c_design:.4g}"
        f" / {c_tested:.4g} Ah = {f:.4g} {x}"
    )


def _temperatures(
    p: Profile, mask: np.ndarray, temperature_c: float | None
) -> tuple[float, float, str]:
    """(ambient, initial cell temperature, rule) in degC."""

    def first(a: np.ndarray | None) -> float | None:
        if a is None:
            return None
        a = a[mask]
        fin = a[np.isfinite(a)]
        return float(fin[0]) if fin.size else None

    amb, surf = first(p.ambient_temperature_c), first(p.surface_temperature_c)
    recorded, how = None, None
    if amb is not None:
        recorded, how = amb, "recorded ambient temperature at the window's start"
    elif p.metadata_temperature_c is not None:
        recorded, how = float(p.metadata_temperature_c), "the test's metadata temperature"
    elif surf is not None:
        recorded, how = surf, "recorded surface temperature at the window's start"
    if temperature_c is not None:
        given = float(temperature_c)
        if not (math.isfinite(given) and -60.0 <= given <= 150.0):
            raise CasipInputError(
                Problem("temperature_c", "not a plausible cell temperature", temperature_c,
                        "degrees Celsius in [-60, 150]")
            )
        if recorded is not None and abs(given - recorded) > TEMPERATURE_CONFLICT_C:
            raise CasipInputError(
                Problem("temperature_c", f"the test records {recorded:g} degC ({how}); a "
                        "different given temperature is refused rather than preferred",
                        given, f"{recorded:g} degC, or no temperature_c"),
                source=p.source,
            )
        ambient, rule = given, "given" + (f" (agrees with the {how})" if recorded is not None
                                          else " (the test records none)")
    elif recorded is not None:
        ambient, rule = recorded, f"from the test: {how}"
    else:
        raise CasipInputError(
            Problem("temperature_c", "the test records no temperature; give one", None,
                    "the test's ambient temperature in degC"),
            source=p.source,
        )
    initial = surf if surf is not None else ambient
    if surf is not None:
        rule += f"; initial cell temperature {surf:g} degC from the recorded surface temperature"
    return ambient, initial, rule


def _rest_voltage(p: Profile, mask: np.ndarray) -> tuple[float, float]:
    """(voltage, time) of the last row of the rest the window starts in."""
    idx = np.flatnonzero(mask)
    k0 = idx[0]
    if p.voltage_v is None:
        raise CasipInputError(
            Problem("initial_soc", "'from_rest_voltage' needs a measured voltage; the profile "
                    "has none", "from_rest_voltage", "a float state of charge, or None"),
            source=p.source,
        )
    if str(p.step_type[k0]) != "rest":
        raise CasipInputError(
            Problem("initial_soc", f"'from_rest_voltage': the window starts at t = "
                    f"{p.time_s[k0]:g} s in a {p.step_type[k0]} step, not a rest",
                    "from_rest_voltage",
                    "a window that starts in a rest, or a float state of charge"),
            source=p.source,
        )
    k = k0
    while k + 1 <= idx[-1] and str(p.step_type[k + 1]) == "rest":
        k += 1
    v = float(p.voltage_v[k])
    if not math.isfinite(v):
        raise CasipInputError(
            Problem("initial_soc", "the rest voltage is missing", v, "a measured rest voltage"),
            source=p.source,
        )
    return v, float(p.time_s[k])


def _set_initial_state(
    pv: pybamm.ParameterValues, setup: PhysicsSetup, value: float | str, what: str
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pv.set_initial_state(value, inplace=True, options=(
                pybamm.BatteryModelOptions(dict(setup.model_options))
                if setup.model_options else None))
    except Exception as exc:  # PyBaMM raises ValueError/SolverError for unreachable states
        raise CasipInputError(
            Problem("initial_soc", f"{what} cannot be set on {setup.name!r}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", value,
                    f"an open-circuit voltage within the setup's window "
                    f"{setup.lower_cutoff_V:g} .. {setup.upper_cutoff_V:g} V, or a state of "
                    "charge in [0, 1]")
        ) from None


def _model_soc_scale(
    pv: pybamm.ParameterValues, setup: PhysicsSetup, v_rest: float
) -> tuple[float, float]:
    """(PyBaMM's state of charge at the open-circuit voltage ``v_rest``, the model's capacity
    between its cut-offs [A.h]) from PyBaMM's electrode state-of-health solver: the state of
    charge is linear in the stoichiometries, ``x = x_0 + SOC (x_100 - x_0)``, so one A.h is
    ``1 / (C_n (x_100 - x_0))`` of it, with ``C_n`` the negative electrode's capacity."""
    from pybamm.models.full_battery_models.lithium_ion.electrode_soh import ElectrodeSOHSolver

    opts = dict(setup.model_options) or None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            param = pybamm.LithiumIonParameters(opts)
            esoh = ElectrodeSOHSolver(pv, param=param, options=opts)
            x0, x100, _, _ = esoh.get_min_max_stoichiometries()
            x, _ = esoh.get_initial_stoichiometries(f"{v_rest} V")
            q_n = float(pv.evaluate(param.n.prim.Q_init))
    except Exception as exc:  # PyBaMM raises ValueError/SolverError/KeyError here
        raise CasipInputError(
            Problem("initial_soc", f"'from_history': the state of charge at the rest voltage "
                    f"{v_rest:.4f} V cannot be found on {setup.name!r}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                    "from_history", "a float state of charge, or 'from_rest_voltage'")
        ) from None
    q_model = q_n * float(x100 - x0)
    return float((x - x0) / (x100 - x0)), q_model


def _history_state(
    pv: pybamm.ParameterValues, setup: PhysicsSetup, p: Profile, mask: np.ndarray,
    factor: float,
) -> tuple[float, str]:
    """The ``"from_history"`` rule: (state of charge at the window's start, its statement)."""
    idx = np.flatnonzero(mask)
    k0 = int(idx[0])
    t0 = float(p.time_s[k0])
    if p.voltage_v is None:
        raise CasipInputError(
            Problem("initial_soc", "'from_history' needs a measured voltage; the profile has "
                    "none", "from_history", "a float state of charge, or None"),
            source=p.source,
        )
    st = np.asarray(p.step_type, dtype=object).astype(str)
    if st[k0] == "rest":
        v_rest, t_rest = _rest_voltage(p, mask)
        soc, q_model = _model_soc_scale(pv, setup, v_rest)
        return soc, (
            f"state of charge {soc:.4f} from the test's history: the window starts in a rest, "
            f"so no charge passes between that rest and its start; open-circuit voltage "
            f"{v_rest:.4f} V, the last voltage of that rest (t = {t_rest:g} s), inverted on "
            "the setup's open-circuit voltage"
        )
    before = np.flatnonzero((st[:k0] == "rest") & np.isfinite(p.voltage_v[:k0]))
    if before.size == 0:
        raise CasipInputError(
            Problem("initial_soc", f"'from_history': the profile has no rest (with a measured "
                    f"voltage) before the window's start at t = {t0:g} s, so there is no "
                    "open-circuit voltage to count the charge from", "from_history",
                    "a window with a rest somewhere before it in the same profile, a float "
                    "state of charge, or 'from_rest_voltage' with a window that starts in a "
                    "rest"),
            source=p.source,
        )
    r = int(before[-1])  # the last (most relaxed) row of the last rest before the window
    r_start = r
    while r_start > 0 and st[r_start - 1] == "rest":
        r_start -= 1
    seg = slice(r, k0 + 1)
    i_seg = p.current_a[seg]
    if not np.isfinite(i_seg).all():
        raise CasipInputError(
            Problem("initial_soc", "'from_history': the current is missing between the rest "
                    f"(t = {p.time_s[r]:g} s) and the window's start (t = {t0:g} s)",
                    "from_history", "a finite current on every row before the window"),
            source=p.source,
        )
    dq_meas = float(np.trapezoid(i_seg, p.time_s[seg])) / 3600.0
    dq_model = dq_meas * factor
    v_rest = float(p.voltage_v[r])
    soc_rest, q_model = _model_soc_scale(pv, setup, v_rest)
    soc = soc_rest + dq_model / q_model
    if not (-1e-6 <= soc <= 1.0 + 1e-6):
        raise CasipInputError(
            Problem("initial_soc", f"'from_history' gives a state of charge of {soc:.4f} at "
                    f"the window's start (t = {t0:g} s): {soc_rest:.4f} at the rest voltage "
                    f"{v_rest:.4f} V plus {dq_model:+.4g} A.h on a model of {q_model:.4g} A.h "
                    "between its cut-offs, outside [0, 1] (the tested cell and the model "
                    "disagree on capacity or balance, or the current factor is wrong)",
                    "from_history", "a float state of charge, or a window nearer its rest"),
            source=p.source,
        )
    soc = min(max(soc, 0.0), 1.0)
    rest_s = float(p.time_s[r] - p.time_s[r_start])
    return soc, (
        f"state of charge {soc:.4f} at the window's start (t = {t0:g} s) from the test's "
        f"history: open-circuit voltage {v_rest:.4f} V at the end of the last rest before the "
        f"window (t = {p.time_s[r]:g} s, after {rest_s:g} s of rest), inverted on the "
        f"setup's open-circuit voltage (state of charge {soc_rest:.4f}), plus the charge "
        f"passed since, {dq_meas:+.4g} A.h measured x {factor:.4g} = {dq_model:+.4g} A.h "
        f"(trapezoid of the current, + on charge), over the model's {q_model:.4g} A.h "
        "between its cut-offs (PyBaMM's state of charge); the model starts from uniform "
        "concentrations at that state (the history's gradients are not simulated)"
    )


# --------------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------------


def apply_initial_state(
    pv: pybamm.ParameterValues, setup: PhysicsSetup, p: Profile, mask: np.ndarray,
    factor: float, initial_soc: str | float | None,
) -> tuple[str, float | None]:
    """Set the initial state of ``pv`` (in place) by one of the replay's rules.

    Shared by :func:`replay` and :mod:`casip.physics.calibration`, so that a fit starts each
    protocol exactly as its replay does. Returns the statement of the rule and the state of
    charge where the rule gives one (``"from_history"``, a float).
    """
    soc_value: float | None = None
    if initial_soc is None:
        initial_state = "the setup's own initial state (a design's is fully charged)"
    elif isinstance(initial_soc, str) and initial_soc == "from_history":
        soc_value, initial_state = _history_state(pv, setup, p, mask, factor)
        _set_initial_state(pv, setup, soc_value, "the state of charge from the history")
    elif isinstance(initial_soc, str):
        if initial_soc not in ("from_rest_voltage", "auto"):
            raise CasipInputError(
                Problem("initial_soc", "unknown rule", initial_soc,
                        "'from_rest_voltage', 'from_history', a state of charge in [0, 1], "
                        "or None")
            )
        v_rest, t_rest = _rest_voltage(p, mask)
        _set_initial_state(pv, setup, f"{v_rest} V", "the rest voltage")
        initial_state = (
            f"open-circuit voltage {v_rest:.4f} V: the last voltage of the rest the window "
            f"starts in (t = {t_rest:g} s), inverted on the setup's open-circuit voltage"
        )
    else:
        soc = float(initial_soc)
        if not (0.0 <= soc <= 1.0):
            raise CasipInputError(
                Problem("initial_soc", "a state of charge must lie in [0, 1]", initial_soc,
                        "a fraction, 'from_rest_voltage' or None")
            )
        _set_initial_state(pv, setup, soc, "the state of charge")
        soc_value = soc
        initial_state = (
            f"given state of charge {soc:g} (PyBaMM's: 0 and 1 where the open-circuit voltage "
            "reaches the lower and upper cut-off)"
        )
    return initial_state, soc_value


def replay(
    setup_or_design: Any,
    profile: Any,
    *,
    scale: Literal["amps", "c_rate"],
    control: Literal["current", "power"] = "current",
    initial_soc: str | float | None = "from_rest_voltage",
    temperature_c: float | None = None,
    window: Sequence[float] | None = None,
    tested_capacity_ah: float | None = None,
    model: Literal["DFN", "SPMe"] = "DFN",
    thermal: Literal["isothermal", "lumped"] = "isothermal",
    cutoff_margin_v: float = REPLAY_CUTOFF_MARGIN_V,
    limits: SolveLimits = DEFAULT_LIMITS,
) -> ReplayResult:
    """Simulate a measured current profile and compare it with the measured voltage.

    Parameters
    ----------
    setup_or_design : PhysicsSetup, Design, dict or str
        A setup (:func:`casip.physics.parameters_for`, :func:`casip.physics.import_bpx`,
        :func:`setup_from_pybamm`), a design (mapped with ``parameters_for``) or
        ``"pybamm:<set>"`` (e.g. ``"pybamm:ORegan2022"``).
    profile : Profile, CyclerTest, DataFrame or path
        The measured profile (:meth:`Profile.from_store` for a hub test).
    scale : {"amps", "c_rate"}
        Current scaling, required (see the module docstring); with ``control="power"`` it
        scales the power.
    control : {"current", "power"}
        Drive the model with the measured current, or with the measured power (the profile's
        power column, else measured ``I * V``) in PyBaMM's power operating mode.
    initial_soc : None, "from_rest_voltage", "from_history" or float
        Initial state rule (see the module docstring).
    temperature_c : float, optional
        Ambient temperature [degC] where the test records none.
    window : (float, float), optional
        Test-time window [s] to replay.
    tested_capacity_ah : float, optional
        The tested cell's capacity for ``scale="c_rate"`` (default: the test's nominal one).
    model : {"DFN", "SPMe"}
    thermal : {"isothermal", "lumped"}
        PyBaMM's thermal option; ``"lumped"`` also returns the simulated temperature.
    cutoff_margin_v : float
        Widening of the setup's voltage cut-offs [V].
    limits : SolveLimits
        Solver tolerances and stall guard (:mod:`casip.physics.solving`).

    Returns
    -------
    ReplayResult

    Raises
    ------
    CasipInputError
        A bad argument, a profile that cannot be replayed under the chosen rules (no
        temperature, a window not starting at rest for ``"from_rest_voltage"``, no tested
        capacity for ``"c_rate"``), or a solve that cannot start.
    """
    if model not in _MODELS:
        raise CasipInputError(Problem("model", "unknown model", model, "DFN or SPMe"))
    if control not in _CONTROLS:
        raise CasipInputError(Problem("control", "unknown control", control,
                                      "'current' or 'power'"))
    if thermal not in _THERMAL:
        raise CasipInputError(Problem("thermal", "unknown thermal option", thermal,
                                      "isothermal or lumped"))
    if not (math.isfinite(float(cutoff_margin_v)) and 0.0 <= float(cutoff_margin_v) <= 2.0):
        raise CasipInputError(Problem("cutoff_margin_v", "must be in [0, 2] V", cutoff_margin_v))
    p = as_profile(profile)
    mask, window_note = _window_mask(p, window)
    setup = _setup_of(setup_or_design)
    factor, scale_note = _current_factor(setup, p, scale, tested_capacity_ah, control)
    ambient_c, initial_c, temp_rule = _temperatures(p, mask, temperature_c)

    pv = setup.parameter_values.copy()
    pv.update(
        {
            "Ambient temperature [K]": ambient_c + 273.15,
            "Initial temperature [K]": initial_c + 273.15,
        },
        check_already_exists=False,
    )
    # initial state (before the current is replaced: the state solver reads the set as it is)
    initial_state, soc_value = apply_initial_state(pv, setup, p, mask, factor, initial_soc)

    t_abs = p.time_s[mask]
    t_rel = t_abs - t_abs[0]
    i_meas = p.current_a[mask]
    i_model = i_meas * factor
    p_meas = p_model = None
    power_note = None
    if control == "power":
        if p.power_w is not None:
            p_meas = p.power_w[mask]
            power_note = "power control: the profile's power column"
        elif p.voltage_v is not None:
            p_meas = p.current_a[mask] * p.voltage_v[mask]
            power_note = "power control: power computed as measured I x V"
        else:
            raise CasipInputError(
                Problem("control", "power control needs a power column, or a measured "
                        "current and voltage", control, "control='current'"),
                source=p.source,
            )
        if not np.isfinite(p_meas).all():
            raise CasipInputError(
                Problem("control", "the power is missing in some replayed rows", control,
                        "a finite power (or current and voltage) in every row of the window"),
                source=p.source,
            )
        p_model = p_meas * factor
        drive = {_POWER: pybamm.Interpolant(t_rel, -p_model, pybamm.t, interpolator="linear")}
    else:
        if not np.isfinite(i_meas).all():
            raise CasipInputError(
                Problem("control", "the current is missing in some replayed rows (a power "
                        "profile without voltage?)", control, "control='power'"),
                source=p.source,
            )
        drive = {_CURRENT: pybamm.Interpolant(t_rel, -i_model, pybamm.t,
                                              interpolator="linear")}
    lower = max(setup.lower_cutoff_V - cutoff_margin_v, 0.0)
    upper = setup.upper_cutoff_V + cutoff_margin_v
    pv.update(
        {
            **drive,
            "Lower voltage cut-off [V]": lower,
            "Upper voltage cut-off [V]": upper,
        },
        check_already_exists=False,
    )
    options = dict(setup.model_options)
    if thermal != "isothermal":
        options["thermal"] = thermal
    if control == "power":
        options["operating mode"] = "power"
    cls = pybamm.lithium_ion.DFN if model == "DFN" else pybamm.lithium_ion.SPMe
    try:
        pmodel = cls(options=options)
    except pybamm.OptionError as exc:
        raise CasipInputError(
            Problem("model", f"PyBaMM refuses the options: {exc}", model)
        ) from None
    outputs = [_VOLTAGE] + ([_TEMPERATURE] if thermal != "isothermal" else [])
    if control == "power":
        outputs.append(_SIM_CURRENT)
    duration = float(t_rel[-1])
    sim = pybamm.Simulation(
        pmodel, parameter_values=pv,
        solver=make_solver(duration, limits=limits, output_variables=outputs),
    )
    what = f"replay of {p.source} on {setup.name!r}"
    t_clock = time.perf_counter()
    try:
        sol = sim.solve(t_eval=t_rel, t_interp=t_rel)
    except pybamm.SolverError as exc:
        raise CasipInputError(
            Problem("", f"{what}: the solver could not start: {str(exc).splitlines()[0]} "
                    f"(voltage window {lower:g} .. {upper:g} V)"),
            source=p.source,
        ) from None
    except (ValueError, ZeroDivisionError, pybamm.ModelError) as exc:
        raise CasipInputError(
            Problem("", f"{what}: a parameter is out of range or inconsistent: {exc}"),
            source=p.source,
        ) from None
    elapsed = time.perf_counter() - t_clock

    ts = np.asarray(sol.t, dtype=float)
    vs = np.asarray(sol[_VOLTAGE].entries, dtype=float)
    t_end = float(ts[-1]) if ts.size else 0.0
    sim_v = np.full(len(t_rel), np.nan)
    reached = t_rel <= t_end + 1e-9
    if ts.size >= 2:
        sim_v[reached] = np.interp(t_rel[reached], ts, vs)
    elif ts.size == 1:
        sim_v[0] = vs[0]
    sim_temp = None
    if thermal != "isothermal":
        temps = np.asarray(sol[_TEMPERATURE].entries, dtype=float) - 273.15
        sim_temp = np.full(len(t_rel), np.nan)
        if ts.size >= 2:
            sim_temp[reached] = np.interp(t_rel[reached], ts, temps)
    if control == "power":
        # the current the model drew, CASIP sign (PyBaMM's is positive on discharge)
        currents = -np.asarray(sol[_SIM_CURRENT].entries, dtype=float)
        i_model = np.full(len(t_rel), np.nan)
        if ts.size >= 2:
            i_model[reached] = np.interp(t_rel[reached], ts, currents)
        elif ts.size == 1:
            i_model[0] = currents[0]
    term = str(sol.termination)
    stopped = not (term == "final time" and t_end >= duration - 1e-6)
    if not stopped:
        reason = "end of the profile"
    elif term.startswith("event"):
        ev = term.split(":", 1)[-1].strip()
        v_last = float(vs[-1]) if vs.size else math.nan
        reason = (
            f"{ev} reached ({v_last:.3f} V; replay window {lower:g} .. {upper:g} V, the "
            f"setup's cut-offs widened by {cutoff_margin_v:g} V)"
        )
    else:
        reason = (
            f"the solver failed ({term}: no progress within the step budget, or a SUNDIALS "
            "error)"
        )
    measured_v = p.voltage_v[mask] if p.voltage_v is not None else None
    step_type = np.asarray(p.step_type[mask], dtype=object)
    errors = (
        error_table(measured_v, sim_v, step_type) if measured_v is not None
        else error_table(np.array([]), np.array([]), np.array([], dtype=object)).iloc[0:0]
    )
    notes = [*p.notes, scale_note, f"temperature: {temp_rule}"]
    if power_note:
        notes.insert(len(p.notes), power_note)
    if window_note:
        notes.insert(0, window_note)
    return ReplayResult(
        name=setup.name,
        source=p.source,
        model=f"{model} ({thermal})",
        time_s=t_abs,
        measured_current_a=i_meas,
        applied_current_a=i_model,
        measured_voltage_v=measured_v,
        simulated_voltage_v=sim_v,
        simulated_temperature_c=sim_temp,
        step_type=step_type,
        errors=errors,
        initial_state=initial_state,
        temperature_c=ambient_c,
        initial_temperature_c=initial_c,
        temperature_rule=temp_rule,
        scale=scale,
        current_factor=factor,
        window=(float(t_abs[0]), float(t_abs[-1])),
        stopped_early=stopped,
        stopped_at_s=float(t_abs[0] + t_end),
        stop_reason=reason,
        solve_time_s=elapsed,
        notes=notes,
        control=control,
        measured_power_w=p_meas,
        applied_power_w=p_model,
        initial_state_of_charge=soc_value,
    )


__all__ = [
    "DRIVE_CYCLES",
    "REPLAY_CUTOFF_MARGIN_V",
    "Profile",
    "ReplayResult",
    "as_profile",
    "error_table",
    "replay",
    "setup_from_pybamm",
]
