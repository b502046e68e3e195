"""Duty cycles as data: how a cell is used, day after day.

A :class:`DutyCycle` is a compact description of a repeating use (cycles per day, depth of
discharge, charge and discharge C-rates, temperature, the SOC the cell rests at, and how many
years). :meth:`DutyCycle.to_timeseries` turns it into one period of state of charge and temperature,
the input the BLAST-Lite ageing models take (``Time_s`` [s], ``SOC`` [-], ``Temperature_C``
[°C]); the models repeat that period for the years asked.

The presets (:data:`PRESETS`, :func:`preset`) are typical uses, not measured ones: their numbers
are assumed and each says why.

The profile of one cycle, starting at the rest SOC ``s0`` with depth ``d``:

* ``order="discharge_first"`` (a vehicle): discharge at ``discharge_c_rate`` from ``s0`` to
  ``s0 - d``, hold there ``hold_h`` hours, charge at ``charge_c_rate`` back to ``s0``, rest.
* ``order="charge_first"`` (storage filled by day): charge from ``s0`` to ``s0 + d``, hold
  ``hold_h`` hours, discharge back to ``s0``, rest.

The repeating period is one cycle, ``24 h / cycles_per_day`` long (two days for 0.5 cycles a
day), so any positive cycle count gives the same throughput per day as described.
SOC is linear in time between corners (constant current); the
corners are always on the time grid so the depth is exact.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casip.errors import CasipInputError, Problem, from_pydantic

SECONDS_PER_DAY = 86400.0
"""Length of the repeating period [s]."""


class DutyCycle(BaseModel):
    """A repeating daily duty, described compactly.

    Parameters
    ----------
    name : str
        A label for charts and reports.
    cycles_per_day : float
        Charge-discharge cycles per day [1/day], > 0 and <= 24.
    depth_of_discharge : float
        Depth of each cycle as a fraction of rated capacity [-], in (0, 1].
    charge_c_rate : float
        Charge current over rated capacity [1/h], > 0.
    discharge_c_rate : float
        Discharge current over rated capacity [1/h], > 0.
    temperature_C : float
        Cell temperature, held constant [°C], in [-40, 80].
    rest_soc : float
        State of charge the cell rests at between cycles [-], in [0, 1].
    hold_h : float
        Time held at the far end of the cycle (the low SOC for ``discharge_first``) before
        returning [h], >= 0.
    order : {"discharge_first", "charge_first"}
        Whether a cycle starts by discharging from the rest SOC or by charging from it.
    years : float
        How long the duty lasts [years], > 0 and <= 50.

    Raises
    ------
    casip.errors.CasipInputError
        A field out of its range (the error names the field, the value and the range), a cycle
        leaving [0, 1] SOC, or cycles that do not fit in a day.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "custom"
    cycles_per_day: float = Field(1.0, gt=0, le=24)
    depth_of_discharge: float = Field(0.8, gt=0, le=1)
    charge_c_rate: float = Field(0.5, gt=0, le=20)
    discharge_c_rate: float = Field(1.0, gt=0, le=20)
    temperature_C: float = Field(25.0, ge=-40, le=80)
    rest_soc: float = Field(1.0, ge=0, le=1)
    hold_h: float = Field(0.0, ge=0, le=24)
    order: Literal["discharge_first", "charge_first"] = "discharge_first"
    years: float = Field(10.0, gt=0, le=50)

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise from_pydantic(exc, model=type(self)) from None
        self._check_fits()

    def _check_fits(self) -> None:
        """Cross-field checks (raised here, not in a pydantic validator, to keep field names)."""
        problems = []
        d, s0 = self.depth_of_discharge, self.rest_soc
        if self.order == "discharge_first" and s0 - d < -1e-12:
            problems.append(
                Problem(
                    "depth_of_discharge",
                    "a discharge-first cycle would go below 0 SOC",
                    d,
                    f"a depth <= rest_soc ({s0})",
                )
            )
        if self.order == "charge_first" and s0 + d > 1 + 1e-12:
            problems.append(
                Problem(
                    "depth_of_discharge",
                    "a charge-first cycle would go above 1 SOC",
                    d,
                    f"a depth <= 1 - rest_soc ({1 - s0:.6g})",
                )
            )
        if self.cycle_hours > 24.0 / self.cycles_per_day + 1e-9:
            problems.append(
                Problem(
                    "cycles_per_day",
                    f"each cycle takes {self.cycle_hours:.3g} h (charge, discharge and hold), "
                    "so the cycles do not fit in a day",
                    self.cycles_per_day,
                    f"at most {24.0 / self.cycle_hours:.3g} cycles per day at these C-rates",
                )
            )
        if problems:
            raise CasipInputError(problems)

    @property
    def cycle_hours(self) -> float:
        """Duration of one cycle's discharge, hold and charge [h]."""
        d = self.depth_of_discharge
        return d / self.discharge_c_rate + d / self.charge_c_rate + self.hold_h

    @property
    def equivalent_full_cycles_per_day(self) -> float:
        """Charge throughput per day over rated capacity [1/day]: cycles per day x depth."""
        return self.cycles_per_day * self.depth_of_discharge

    @property
    def soc_range(self) -> tuple[float, float]:
        """Lowest and highest SOC the duty reaches [-]."""
        s0, d = self.rest_soc, self.depth_of_discharge
        return (s0 - d, s0) if self.order == "discharge_first" else (s0, s0 + d)

    @property
    def period_s(self) -> float:
        """Length of one repeating period, one cycle: ``86400 / cycles_per_day`` [s]."""
        return SECONDS_PER_DAY / self.cycles_per_day

    def to_timeseries(self, step_s: float = 60.0) -> dict[str, np.ndarray]:
        """One period (one cycle) of the duty, in the form BLAST-Lite's models take.

        Parameters
        ----------
        step_s : float
            Largest time step of the grid [s]; the SOC corners are added to the grid.

        Returns
        -------
        dict
            ``Time_s`` [s] from 0 to :attr:`period_s`, ``SOC`` [-] and ``Temperature_C`` [°C],
            numpy arrays of one length. The period starts and ends at the rest SOC, so it can be
            repeated.
        """
        if not step_s > 0:
            raise CasipInputError(Problem("step_s", "the time step must be positive", step_s))
        s0, d = self.rest_soc, self.depth_of_discharge
        far = s0 - d if self.order == "discharge_first" else s0 + d
        out_rate, back_rate = (
            (self.discharge_c_rate, self.charge_c_rate)
            if self.order == "discharge_first"
            else (self.charge_c_rate, self.discharge_c_rate)
        )
        t_out = d / out_rate * 3600.0
        t_hold = self.hold_h * 3600.0
        t_back = d / back_rate * 3600.0
        period = self.period_s
        corner_t = np.array([0.0, t_out, t_out + t_hold, t_out + t_hold + t_back, period])
        corner_s = np.array([s0, far, far, s0, s0])
        grid = np.union1d(np.arange(0.0, period, step_s), corner_t)
        soc = np.interp(grid, *_strictly_increasing(corner_t, corner_s))
        return {
            "Time_s": grid,
            "SOC": soc,
            "Temperature_C": np.full_like(grid, float(self.temperature_C)),
        }


def _strictly_increasing(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated corner times (zero-length segments), keeping the first value."""
    keep = np.insert(np.diff(t) > 0, 0, True)
    return t[keep], s[keep]


PRESETS: dict[str, DutyCycle] = {
    "ev_daily": DutyCycle(
        name="ev_daily",
        cycles_per_day=1,
        depth_of_discharge=0.3,
        discharge_c_rate=0.3,
        charge_c_rate=0.15,
        temperature_C=25,
        rest_soc=0.9,
        hold_h=10,
        order="discharge_first",
        years=10,
    ),
    "ev_fast_charge": DutyCycle(
        name="ev_fast_charge",
        cycles_per_day=2,
        depth_of_discharge=0.6,
        discharge_c_rate=0.5,
        charge_c_rate=2.0,
        temperature_C=30,
        rest_soc=0.8,
        hold_h=1,
        order="discharge_first",
        years=8,
    ),
    "stationary_storage": DutyCycle(
        name="stationary_storage",
        cycles_per_day=1,
        depth_of_discharge=0.8,
        discharge_c_rate=0.25,
        charge_c_rate=0.25,
        temperature_C=25,
        rest_soc=0.1,
        hold_h=4,
        order="charge_first",
        years=15,
    ),
}
"""Typical duties (all values assumed, typical rather than measured):

``ev_daily``
    One commute a day: a 30 % discharge at an average 0.3C (about 40-60 km from a 60-80 kWh
    pack), 10 h parked at the lower SOC, then a Level-2 overnight charge at 0.15C (about 11 kW
    for 70 kWh) back to a 90 % charge limit; 25 °C; 10 years.
``ev_fast_charge``
    Ride-hailing or a long-distance user: two 60 % trips a day at 0.5C, each followed by a DC
    fast charge at 2C to 80 %; 30 °C (warmed by fast charging); 8 years.
``stationary_storage``
    A 4-hour battery paired with solar: charged at 0.25C from 10 % to 90 % by day, held full 4 h,
    discharged at 0.25C in the evening; 25 °C (conditioned enclosure); 15 years.
"""


def preset(name: str, **changes) -> DutyCycle:
    """A preset duty, optionally with some fields changed.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS` (``ev_daily``, ``ev_fast_charge``, ``stationary_storage``).
    **changes
        Fields to override, e.g. ``temperature_C=35``.

    Raises
    ------
    casip.errors.CasipInputError
        An unknown preset name, or a change that makes the duty invalid.
    """
    if name not in PRESETS:
        raise CasipInputError(
            Problem("duty", "unknown duty preset", name, "one of " + ", ".join(sorted(PRESETS)))
        )
    if not changes:
        return PRESETS[name]
    return DutyCycle(**{**PRESETS[name].model_dump(), **changes})
