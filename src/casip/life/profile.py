"""User-defined duty profiles: a measured or designed time series of current or power.

A :class:`DutyProfile` is one repeating period of use read from a CSV file with the columns

* ``time_s`` [s], strictly increasing (shifted so the period starts at 0);
* either ``current_a`` [A] (positive = charge, CASIP's convention) or ``power_w`` [W]
  (positive = charge; turned into current with the cell's nominal voltage);
* ``temperature_c`` [°C].

Each row's current (or power) holds until the next row (zero-order hold; the last row's value
is not used), so SOC is piecewise linear and, from an initial SOC,
``SOC[i+1] = SOC[i] + I[i] (t[i+1] - t[i]) / (3600 capacity_ah)``. The SOC must stay in [0, 1].

:meth:`DutyProfile.to_timeseries` gives the ``Time_s`` / ``SOC`` / ``Temperature_C`` arrays
BLAST-Lite's models take (one period, or repeated for a number of days), and
:func:`project_profile` runs a BLAST-Lite model under the profile the same way
:func:`casip.life.blast.project` runs a :class:`~casip.life.duty.DutyCycle`: one period with
``is_constant_input=True``, repeated by BLAST-Lite to the horizon.
"""

from __future__ import annotations

import math
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life import blast as _blast

SOC_TOLERANCE = 1e-9
"""Slack allowed on the [0, 1] SOC bounds and on the closure of a period [-]."""


@dataclass(frozen=True)
class DutyProfile:
    """One period of a duty as a time series (see the module docstring for the CSV form).

    Attributes
    ----------
    time_s : numpy.ndarray
        Time from the start of the period [s], strictly increasing, starting at 0.
    current_a : numpy.ndarray
        Cell current [A], positive = charge; ``current_a[i]`` holds from ``time_s[i]`` to
        ``time_s[i + 1]``.
    temperature_c : numpy.ndarray
        Cell temperature [°C].
    capacity_ah : float
        Cell capacity [Ah], > 0.
    initial_soc : float
        SOC at the start of the period [-], in [0, 1].
    name : str
        A label (the file name when read from a CSV).
    source : str or None
        Where the profile came from (the CSV path).
    years : float
        Default horizon of a projection [year].
    """

    time_s: np.ndarray
    current_a: np.ndarray
    temperature_c: np.ndarray
    capacity_ah: float
    initial_soc: float = 1.0
    name: str = "profile"
    source: str | None = None
    years: float = 10.0
    soc: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        src = self.source
        if not (math.isfinite(self.capacity_ah) and self.capacity_ah > 0):
            raise CasipInputError(
                Problem("capacity_ah", "capacity must be positive", self.capacity_ah, "> 0 Ah"),
                source=src,
            )
        if not (0.0 <= self.initial_soc <= 1.0):
            raise CasipInputError(
                Problem("initial_soc", "initial SOC out of range", self.initial_soc, "in [0, 1]"),
                source=src,
            )
        t = np.asarray(self.time_s, dtype=float)
        i = np.asarray(self.current_a, dtype=float)
        temp = np.asarray(self.temperature_c, dtype=float)
        if not (t.shape == i.shape == temp.shape and t.ndim == 1 and t.size >= 2):
            raise CasipInputError(
                Problem("time_s", "need at least two rows of equal length", t.size, ">= 2 rows"),
                source=src,
            )
        for col, arr in (("time_s", t), ("current_a", i), ("temperature_c", temp)):
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                raise CasipInputError(
                    _row_problem(col, bad[0], "missing or not a number", arr[bad[0]]), source=src
                )
        back = np.flatnonzero(np.diff(t) <= 0)
        if back.size:
            k = back[0] + 1
            raise CasipInputError(
                _row_problem(
                    "time_s",
                    k,
                    "time does not increase",
                    t[k],
                    f"> {t[k - 1]!r} (the previous row)",
                ),
                source=src,
            )
        soc = self.initial_soc + np.concatenate(
            ([0.0], np.cumsum(i[:-1] * np.diff(t)) / (3600.0 * self.capacity_ah))
        )
        out = np.flatnonzero((soc < -SOC_TOLERANCE) | (soc > 1 + SOC_TOLERANCE))
        if out.size:
            k = out[0]
            raise CasipInputError(
                _row_problem(
                    "current_a",
                    k - 1,
                    f"SOC leaves [0, 1] (SOC {soc[k]:.6g} at row {k + 1}, "
                    f"from initial SOC {self.initial_soc:g})",
                    i[k - 1],
                    "SOC in [0, 1]",
                ),
                source=src,
            )
        object.__setattr__(self, "time_s", t - t[0])
        object.__setattr__(self, "current_a", i)
        object.__setattr__(self, "temperature_c", temp)
        object.__setattr__(self, "soc", np.clip(soc, 0.0, 1.0))

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        capacity_ah: float,
        nominal_voltage_v: float | None = None,
        initial_soc: float = 1.0,
        years: float = 10.0,
    ) -> DutyProfile:
        """Read a profile from a CSV file.

        Parameters
        ----------
        path : str or Path
            CSV with ``time_s``, ``current_a`` or ``power_w``, and ``temperature_c``.
        capacity_ah : float
            Cell capacity [Ah].
        nominal_voltage_v : float, optional
            Nominal cell voltage [V]; required for ``power_w`` (current = power / voltage).
        initial_soc : float
            SOC at the first row [-].
        years : float
            Default projection horizon [year].

        Raises
        ------
        casip.errors.CasipInputError
            Unreadable file, missing column, non-numeric value, non-increasing time, or SOC
            leaving [0, 1]; the error names the file, the column and the row (1 = first data row).
        """
        src = str(path)
        try:
            frame = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise CasipInputError(Problem("", f"cannot read the CSV: {e}"), source=src) from None
        frame.columns = [str(c).strip().lower() for c in frame.columns]
        missing = [c for c in ("time_s", "temperature_c") if c not in frame.columns]
        has_i, has_p = "current_a" in frame.columns, "power_w" in frame.columns
        if not (has_i or has_p):
            missing.append("current_a or power_w")
        if missing:
            raise CasipInputError(
                [Problem(c, "missing column", None, "a column named " + c) for c in missing],
                source=src,
            )
        if has_i and has_p:
            raise CasipInputError(
                Problem("power_w", "give current_a or power_w, not both", None, "one of them"),
                source=src,
            )
        col = "current_a" if has_i else "power_w"
        if has_p and not (
            nominal_voltage_v is not None
            and math.isfinite(nominal_voltage_v)
            and nominal_voltage_v > 0
        ):
            raise CasipInputError(
                Problem(
                    "nominal_voltage_v",
                    "needed to turn power_w into current",
                    nominal_voltage_v,
                    "> 0 V",
                ),
                source=src,
            )
        values = {}
        for c in ("time_s", col, "temperature_c"):
            num = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(num))
            if bad.size:
                raise CasipInputError(
                    _row_problem(c, bad[0], "missing or not a number", frame[c].iloc[bad[0]]),
                    source=src,
                )
            values[c] = num
        current = values[col] if has_i else values[col] / float(nominal_voltage_v)
        return _build(
            cls,
            values["time_s"],
            current,
            values["temperature_c"],
            capacity_ah,
            initial_soc,
            Path(path).stem,
            src,
            years,
            col,
        )

    @property
    def period_s(self) -> float:
        """Length of one period [s]."""
        return float(self.time_s[-1])

    @property
    def soc_range(self) -> tuple[float, float]:
        """Lowest and highest SOC of the period [-]."""
        return float(self.soc.min()), float(self.soc.max())

    def c_rates(self) -> tuple[float, float]:
        """Largest charge and discharge C-rates over the period [1/h] (0 when none)."""
        c = self.current_a[:-1] / self.capacity_ah
        return float(max(c.max(), 0.0)), float(max(-c.min(), 0.0))

    def to_timeseries(self, repeat_days: float | None = None) -> dict[str, np.ndarray]:
        """The profile in the form BLAST-Lite's models take.

        Parameters
        ----------
        repeat_days : float, optional
            Repeat the period until at least this many days are covered; one period when not
            given. Repeating needs a closed period (the SOC at the end equals the SOC at the
            start).

        Returns
        -------
        dict
            ``Time_s`` [s], ``SOC`` [-] and ``Temperature_C`` [°C], numpy arrays of one length.
        """
        t, s, temp = self.time_s, self.soc, self.temperature_c
        if repeat_days is None:
            return {"Time_s": t.copy(), "SOC": s.copy(), "Temperature_C": temp.copy()}
        if not (math.isfinite(repeat_days) and repeat_days > 0):
            raise CasipInputError(
                Problem("repeat_days", "must be positive", repeat_days, "> 0 days"),
                source=self.source,
            )
        self._check_closed()
        n = max(1, math.ceil(repeat_days * 86400.0 / self.period_s - 1e-12))
        times = [t] + [t[1:] + k * self.period_s for k in range(1, n)]
        socs = [s] + [s[1:]] * (n - 1)
        temps = [temp] + [temp[1:]] * (n - 1)
        return {
            "Time_s": np.concatenate(times),
            "SOC": np.concatenate(socs),
            "Temperature_C": np.concatenate(temps),
        }

    def _check_closed(self) -> None:
        if abs(self.soc[-1] - self.soc[0]) > 1e-6:
            raise CasipInputError(
                Problem(
                    "current_a",
                    "the period does not return to its initial SOC, so it cannot be repeated",
                    float(self.soc[-1]),
                    f"final SOC = initial SOC ({self.soc[0]:g}) within 1e-6",
                ),
                source=self.source,
            )


def _build(cls, t, i, temp, cap, soc0, name, src, years, col):
    try:
        return cls(
            time_s=t,
            current_a=i,
            temperature_c=temp,
            capacity_ah=float(cap),
            initial_soc=float(soc0),
            name=name,
            source=src,
            years=float(years),
        )
    except CasipInputError as e:
        if col != "current_a":
            for p in e.problems:
                if p.field.startswith("current_a"):
                    p.field = col + p.field[len("current_a") :]
            raise CasipInputError(e.problems, source=e.source) from None
        raise


def _row_problem(column: str, index: int, message: str, value=None, expected=None) -> Problem:
    """A problem at data row ``index + 1`` (CSV line ``index + 2``, after the header)."""
    value = value.item() if isinstance(value, np.generic) else value
    return Problem(f"{column} (row {index + 1}, line {index + 2})", message, value, expected)


def project_profile(
    model_name: str,
    profile: DutyProfile,
    years: float | None = None,
    warn: bool = True,
    degradation_scalar: float = 1.0,
) -> pd.DataFrame:
    """Relative capacity (and resistance) under a time-series profile, with BLAST-Lite.

    Runs the model as :func:`casip.life.blast.project` does (one period,
    ``is_constant_input=True``, repeated by BLAST-Lite to the horizon) and returns the same
    frame: ``t_days``, ``t_years``, ``efc``, ``capacity_rel`` and, when the model has it,
    ``resistance_rel``; ``attrs`` as in ``project`` with ``duty`` describing the profile.

    Parameters
    ----------
    model_name : str
        A BLAST-Lite model name or ``"lfp"`` / ``"nmc"``.
    profile : DutyProfile
        One closed period of use.
    years : float, optional
        Horizon [year]; ``profile.years`` when not given.

    Warns
    -----
    casip.life.blast.ExtrapolationWarning
        The profile's temperatures, depth, SOC or C-rates lie outside the model's tested range.
    """
    if not isinstance(profile, DutyProfile):
        raise CasipInputError(
            Problem("profile", "not a duty profile", type(profile).__name__, "a DutyProfile")
        )
    horizon = profile.years if years is None else years
    if not (np.isfinite(horizon) and 0 < horizon <= 100):
        raise CasipInputError(Problem("years", "horizon out of range", horizon, "(0, 100] years"))
    profile._check_closed()
    # blast.py has no public model constructor for a raw time series (simulate() takes only a
    # DutyCycle); blast.new_model builds the model it runs.
    model = _blast.new_model(model_name, degradation_scalar)
    model.simulate_battery_life(
        profile.to_timeseries(), threshold_time=horizon, is_constant_input=True
    )
    name = type(model).__name__
    info = _blast.model_info(name)
    lo, hi = profile.soc_range
    charge, discharge = profile.c_rates()
    problems: list[str] = []
    for temp in (float(profile.temperature_c.min()), float(profile.temperature_c.max())):
        view = types.SimpleNamespace(
            temperature_C=temp,
            depth_of_discharge=hi - lo,
            soc_range=(lo, hi),
            charge_c_rate=charge,
            discharge_c_rate=discharge,
        )
        problems += [p for p in _blast.extrapolations(info.validity, view) if p not in problems]
    if problems and warn:
        warnings.warn(
            f"{name} extrapolates for profile {profile.name!r}: " + "; ".join(problems),
            _blast.ExtrapolationWarning,
            stacklevel=2,
        )
    duty = {
        "name": profile.name,
        "source": profile.source,
        "capacity_ah": profile.capacity_ah,
        "initial_soc": profile.initial_soc,
        "period_s": profile.period_s,
        "years": horizon,
    }
    return _blast.projection_frame(model, info, duty, problems)


