"""Fast charge at pack level: 10-80 % time, power and km of range added per 10 minutes.

The cell's 10-80 % charge time ``t_cell`` (from :func:`casip.physics.charge.fast_charge`, a
measurement, or a datasheet) is passed in; so is the pack. Equations:

* energy of the window: ``E_w = 0.7 E_usable`` (10 % to 80 % of the usable energy);
* cell-limited power (the cells charged as fast as they can, on average over the window):
  ``P_cell = E_w / t_cell``;
* thermal limit: the heat the pack makes while charging is ohmic, ``Q = I^2 R``; at fixed
  voltage ``I`` scales with the power, so ``Q(P) = f_loss P (P / P_cell)``, with ``f_loss`` the
  share of the power lost as heat at ``P_cell`` (an input; 5 % by default, ASSUMED). With the
  cooling system's heat rejection ``Q_max``, the thermally allowed power is
  ``P_th = sqrt(Q_max P_cell / f_loss)``;
* pack power: ``P = min(P_cell, P_charger, P_th)``, with ``P_charger`` the charger's (or the
  car's inlet's) power limit at the battery;
* time: ``t = E_w / P``; range added per 10 minutes: ``(P x 1/6 h) / c`` with ``c`` the
  consumption at the battery (Wh/km).

The power is the window average; the profile returned is flat at that average because one
number (the cell's time) is all that comes in. A cell's real taper (high power at low SOC,
less towards 80 %) moves energy earlier in the window but not the average.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from casip.errors import CasipInputError, Problem

WINDOW = (0.10, 0.80)


@dataclass(frozen=True)
class PackCharge:
    """The result of :func:`pack_fast_charge` (powers in kW, times in minutes)."""

    cell_limited_kw: float
    charger_limit_kw: float
    thermal_limit_kw: float
    power_kw: float
    binding_limit: str
    time_10_80_min: float
    energy_added_kwh: float
    km_per_10_min: float
    soc: list[float]
    power_profile_kw: list[float]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise CasipInputError(Problem(name, "must be a positive number", value, "> 0"),
                              source="casip.vehicle.fastcharge")
    return v


def pack_fast_charge(
    cell_time_10_80_min: float,
    usable_kwh: float,
    charger_kw: float,
    heat_rejection_kw: float,
    consumption_wh_km: float,
    loss_fraction: float = 0.05,
) -> PackCharge:
    """Pack charge power, 10-80 % time and km added per 10 minutes (module docstring).

    Parameters
    ----------
    cell_time_10_80_min : float
        The cell's 10-80 % charge time [min].
    usable_kwh : float
        Usable energy of the pack at the battery [kWh].
    charger_kw : float
        Charger (or inlet) power limit at the battery [kW].
    heat_rejection_kw : float
        Heat the pack's cooling can reject while charging [kW].
    consumption_wh_km : float
        Consumption at the battery used to turn energy into range [Wh/km].
    loss_fraction : float
        Share of the power lost as heat at the cell-limited power (default 0.05, assumed).
    """
    t_cell = _positive("cell_time_10_80_min", cell_time_10_80_min)
    e_use = _positive("usable_kwh", usable_kwh)
    p_chg = _positive("charger_kw", charger_kw)
    q_max = _positive("heat_rejection_kw", heat_rejection_kw)
    c = _positive("consumption_wh_km", consumption_wh_km)
    f = _positive("loss_fraction", loss_fraction)
    e_window = (WINDOW[1] - WINDOW[0]) * e_use
    p_cell = e_window / (t_cell / 60.0)
    p_th = float(np.sqrt(q_max * p_cell / f))
    limits = {"cell": p_cell, "charger": p_chg, "thermal": p_th}
    binding = min(limits, key=limits.__getitem__)
    p = limits[binding]
    soc = [round(x, 2) for x in np.linspace(WINDOW[0], WINDOW[1], 8)]
    return PackCharge(
        cell_limited_kw=p_cell, charger_limit_kw=p_chg, thermal_limit_kw=p_th, power_kw=p,
        binding_limit=binding, time_10_80_min=e_window / p * 60.0, energy_added_kwh=e_window,
        km_per_10_min=p * 1000.0 / 6.0 / c, soc=soc, power_profile_kw=[p] * len(soc),
    )
