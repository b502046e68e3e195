"""Fast charge at pack level: 10-80 % time, power profile and km of range added.

The cell's charge comes in either as one number, its 10-80 % time ``t_cell`` (the **flat
approximation**, the original interface), or as a **profile** over state of charge
(:class:`CellChargeProfile`): from the physics (:func:`profile_from_charge` on a
:class:`casip.physics.charge.ChargeResult` of :func:`casip.physics.charge.fast_charge`) or
measured (:func:`measured_profile`: SOC with the cell power, or with current and voltage).
A real charge tapers (high power at low SOC, less towards 80 %, constant voltage at the end);
with a charger cap between the window average and the peak only a profile gives the right time.

What a profile carries
----------------------
At each SOC ``s`` (fraction of the cell capacity) the cell's SOC rate ``r(s) = ds/dt = I / Q``
[1/h] (current ``I`` over capacity ``Q``) and its terminal voltage ``V(s)``. From current and
voltage: ``r = I / Q``. From power alone (a measured power with the cell's energy ``E_cell``
per unit SOC): ``r = P / E_cell``, with the voltage taken as flat over the window
(an ASSUMPTION: the energy per unit SOC is the same everywhere in the window). The flat
approximation is the profile ``r = 0.7 / t_cell`` with a flat voltage.

Scaling to the pack (by energy ratio)
-------------------------------------
The cells are scaled to the pack **by energy ratio**, not by cells in series x parallel: the
pack's window energy is ``E_w = 0.7 E_usable`` (10 % to 80 % of the usable energy, as before)
and it is spread over SOC with the shape of the cell's charge voltage,

``dE/ds = E_w V(s) / integral_{0.1}^{0.8} V ds``.

Every cell charges at the same SOC rate ``r(s)`` (a pack of identical, balanced cells), so the
cell-limited pack power is ``P_cell(s) = dE/ds x r(s)``. This equals ``n_s n_p`` times the
cell power whenever ``E_usable`` is the cells' energy; it does not need the cell count.

Limits per instant
------------------
* charger: ``P_charger``, the charger's (or the car inlet's) power limit at the battery;
* thermal: the heat is ohmic, ``Q = I^2 R`` with the pack current ``I = P / V`` and a fixed
  resistance ``R``. ``R`` is anchored, as in the flat model, by the share ``f_loss`` of the
  power lost as heat at the window-average cell-limited power ``Pbar_cell = E_w / t_cell``
  and the window-mean voltage ``Vbar`` (``R / Vbar^2 = f_loss / Pbar_cell``; ``f_loss`` = 5 %
  by default, an ASSUMPTION). So ``Q(P, s) = f_loss P^2 Vbar^2 / (Pbar_cell V(s)^2)`` and with
  the cooling's heat rejection ``Q_max`` the thermally allowed power is

  ``P_th(s) = (V(s) / Vbar) sqrt(Q_max Pbar_cell / f_loss)``

  (the heat must be rejected as it is made: the pack's heat capacity is not used as a
  buffer, an ASSUMPTION on the safe side);
* pack power: ``P(s) = min(P_cell(s), P_charger, P_th(s))``; the binding limit is the one
  that attains the minimum (ties go to cell, then charger, then thermal).

Time, energy and range
----------------------
* time: ``t = integral_{0.1}^{0.8} (dE/ds) / P(s) ds`` (midpoint rule on the profile, linear
  between its points, at least 2000 sub-intervals over the window); with no pack limit
  binding this is the cell's own time ``integral ds / r``;
* share of time each limit binds: the time spent where it attains the minimum, over ``t``;
* average power ``E_w / t`` and peak power ``max P(s)``;
* energy in the first 10 minutes ``E_10`` from the cumulative energy against the cumulative
  time (the whole window if it takes less than 10 minutes: the charge stops at 80 %); km added
  in the first 10 minutes ``E_10 / c`` with ``c`` the consumption at the battery (Wh/km);
  ``km_per_10_min`` keeps the earlier meaning, the window-average rate ``(Pbar x 1/6 h) / c``.

With the flat profile all of this reduces to the earlier one-number model:
``P = min(Pbar_cell, P_charger, sqrt(Q_max Pbar_cell / f_loss))`` and ``t = E_w / P``.

References: the ohmic heat ``I^2 R`` is Joule's law; the constant-current/constant-voltage taper
and its role in fast charging are reviewed by S. J. Tomaszewska et al., "Lithium-ion battery
fast charging: A review", eTransportation 1, 100011 (2019), doi:10.1016/j.etran.2019.100011.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from casip.errors import CasipInputError, Problem

WINDOW = (0.10, 0.80)
#: A profile may start up to this much above 10 % SOC or end this much below 80 % (its end
#: values are held constant over the gap); physics histories stop within 1e-6 of the target.
SOC_TOLERANCE = 0.005
#: Sub-intervals of the time integral over the window (at least).
N_INTEGRATION = 2000
#: SOC points of the profile returned (every 1 %).
N_OUTPUT = 71
_SOURCE = "casip.vehicle.fastcharge"
_LIMITS = ("cell", "charger", "thermal")


@dataclass(frozen=True)
class CellChargeProfile:
    """A cell's charge over SOC: SOC rate and voltage (module docstring).

    Attributes
    ----------
    soc : tuple of float
        State of charge, non-decreasing (a repeated value is a step) [fraction].
    rate_per_h : tuple of float
        SOC rate ``ds/dt = I / Q`` at each point [1/h], positive.
    voltage_V : tuple of float
        Terminal voltage [V]; all 1.0 when the profile has no voltage (flat, assumed).
    power_W : tuple of float
        Cell power [W] (NaN when unknown, as for the flat profile).
    source : str
        Where the profile came from.
    """

    soc: tuple[float, ...]
    rate_per_h: tuple[float, ...]
    voltage_V: tuple[float, ...]
    power_W: tuple[float, ...]
    source: str

    def time_min(self, window: tuple[float, float] = WINDOW) -> float:
        """The cell's own time over ``window`` [min]: ``integral ds / r``."""
        _s, ds, r, _v = _grid(self, window)
        return float(np.sum(ds / r) * 60.0)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly dict (NaN powers become None)."""
        d = asdict(self)
        d["power_W"] = [None if not math.isfinite(p) else p for p in self.power_W]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _bad(name: str, message: str, value: object, expected: str, source: str) -> CasipInputError:
    return CasipInputError(Problem(name, message, value, expected), source=source)


def _array(name: str, x: Sequence[float], n: int | None, source: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError):
        raise _bad(name, "must be a sequence of numbers", x, "numbers", source) from None
    if n is not None and a.size != n:
        raise _bad(name, f"has {a.size} values but soc has {n}", a.size, f"{n} values", source)
    if not np.all(np.isfinite(a)):
        raise _bad(name, "must be finite numbers", x, "finite numbers", source)
    return a


def _check_soc(soc: np.ndarray, source: str) -> None:
    if soc.size < 2:
        raise _bad("soc", "needs at least two points", soc.size, ">= 2 points", source)
    d = np.diff(soc)
    if np.any(d < 0):
        i = int(np.argmax(d < 0))
        raise _bad("soc", f"must not decrease (soc[{i + 1}] = {soc[i + 1]:g} < soc[{i}] = "
                   f"{soc[i]:g})", soc[i + 1], "non-decreasing SOC", source)
    if soc[0] > WINDOW[0] + SOC_TOLERANCE or soc[-1] < WINDOW[1] - SOC_TOLERANCE:
        raise _bad("soc", f"must cover the {WINDOW[0]:g}-{WINDOW[1]:g} window",
                   (float(soc[0]), float(soc[-1])),
                   f"soc[0] <= {WINDOW[0] + SOC_TOLERANCE:g} and soc[-1] >= "
                   f"{WINDOW[1] - SOC_TOLERANCE:g}", source)


def _in_window(soc: np.ndarray) -> np.ndarray:
    lo, hi = WINDOW[0] - SOC_TOLERANCE, WINDOW[1] + SOC_TOLERANCE
    keep = (soc >= lo) & (soc <= hi)
    # keep the points just outside so that interpolation is defined on the whole window
    idx = np.flatnonzero(keep)
    if idx.size:
        keep[max(idx[0] - 1, 0)] = True
        keep[min(idx[-1] + 1, soc.size - 1)] = True
    return keep


def _check_positive(name: str, a: np.ndarray, soc: np.ndarray, source: str) -> None:
    inside = _in_window(soc)
    if np.any(a[inside] <= 0):
        i = int(np.flatnonzero(inside & (a <= 0))[0])
        raise _bad(name, f"must be positive over the 10-80 % window ({a[i]:g} at SOC "
                   f"{soc[i]:g})", float(a[i]), "> 0", source)


def measured_profile(
    soc: Sequence[float],
    *,
    power_W: Sequence[float] | None = None,
    current_A: Sequence[float] | None = None,
    voltage_V: Sequence[float] | None = None,
    capacity_Ah: float | None = None,
    energy_Wh: float | None = None,
    source: str = "measured",
) -> CellChargeProfile:
    """A cell charge profile from arrays (measured or uploaded data).

    Give either ``current_A`` and ``voltage_V`` with ``capacity_Ah`` (``r = I / Q``), or
    ``power_W`` with ``energy_Wh`` (``r = P / E_cell``, the voltage taken as flat: an
    assumption). Charge current and power are positive.

    Parameters
    ----------
    soc : sequence of float
        State of charge [fraction], non-decreasing, covering 10-80 % (a repeated SOC is a step).
    power_W : sequence of float, optional
        Cell charge power at each SOC [W].
    current_A, voltage_V : sequence of float, optional
        Cell charge current [A] and terminal voltage [V] at each SOC.
    capacity_Ah : float, optional
        The capacity that defines SOC [A.h] (with current and voltage).
    energy_Wh : float, optional
        Cell energy per unit SOC [Wh] (with power; e.g. capacity x nominal voltage).
    source : str
        Label of the data (file name), used in errors and in the result.

    Returns
    -------
    CellChargeProfile

    Raises
    ------
    CasipInputError
        Names the field: ``soc`` decreasing or not covering the window, a non-positive
        ``power_W``/``current_A``/``voltage_V`` in the window, arrays of different lengths,
        or a missing ``capacity_Ah``/``energy_Wh``.
    """
    s = _array("soc", soc, None, source)
    _check_soc(s, source)
    n = s.size
    if current_A is not None or voltage_V is not None:
        if current_A is None or voltage_V is None:
            raise _bad("current_A" if current_A is None else "voltage_V",
                       "current and voltage go together", None, "both arrays", source)
        i = _array("current_A", current_A, n, source)
        v = _array("voltage_V", voltage_V, n, source)
        _check_positive("current_A", i, s, source)
        _check_positive("voltage_V", v, s, source)
        q = _positive("capacity_Ah", capacity_Ah, source)
        return CellChargeProfile(tuple(s), tuple(i / q), tuple(v), tuple(i * v), source)
    if power_W is None:
        raise _bad("power_W", "a profile needs power_W, or current_A and voltage_V", None,
                   "power_W with energy_Wh, or current_A and voltage_V with capacity_Ah",
                   source)
    p = _array("power_W", power_W, n, source)
    _check_positive("power_W", p, s, source)
    e = _positive("energy_Wh", energy_Wh, source)
    return CellChargeProfile(tuple(s), tuple(p / e), tuple(np.ones(n)), tuple(p), source)


def profile_from_charge(result) -> CellChargeProfile:
    """The charge profile of a physics run (:func:`casip.physics.charge.fast_charge`).

    Parameters
    ----------
    result : casip.physics.charge.ChargeResult
        A charge over (at least) 10-80 %; its ``history`` holds ``soc``, ``current_A`` and
        ``voltage_V``, and ``capacity_Ah`` defines the SOC.

    Returns
    -------
    CellChargeProfile
        ``r = I / Q`` and ``V`` at every solver point.

    Raises
    ------
    CasipInputError
        The charge did not reach 80 % (``time_min`` is NaN) or does not cover the window.
    """
    src = f"physics charge of {result.name}"
    if not math.isfinite(float(result.time_min)):
        raise _bad("time_min", "the physics charge did not reach its end SOC",
                   result.soc_end, "a charge that reaches 80 %", src)
    h = result.history
    return measured_profile(h["soc"].to_numpy(), current_A=h["current_A"].to_numpy(),
                            voltage_V=h["voltage_V"].to_numpy(),
                            capacity_Ah=float(result.capacity_Ah), source=src)


def flat_profile(cell_time_10_80_min: float) -> CellChargeProfile:
    """The flat approximation: a constant SOC rate ``0.7 / t_cell`` and a flat voltage."""
    t = _positive("cell_time_10_80_min", cell_time_10_80_min)
    r = (WINDOW[1] - WINDOW[0]) / (t / 60.0)
    return CellChargeProfile(WINDOW, (r, r), (1.0, 1.0), (math.nan, math.nan),
                             f"flat: cell 10-80 % in {t:g} min")


def _grid(p: CellChargeProfile, window: tuple[float, float]):
    """Midpoints, widths, SOC rate and voltage of the integration sub-intervals."""
    s = np.asarray(p.soc)
    r = np.asarray(p.rate_per_h)
    v = np.asarray(p.voltage_V)
    # hold the end values over a small gap to the window edges (within SOC_TOLERANCE)
    if s[0] > window[0]:
        s, r, v = np.r_[window[0], s], np.r_[r[0], r], np.r_[v[0], v]
    if s[-1] < window[1]:
        s, r, v = np.r_[s, window[1]], np.r_[r, r[-1]], np.r_[v, v[-1]]
    h = (window[1] - window[0]) / N_INTEGRATION
    mids, widths, rates, volts = [], [], [], []
    for k in range(s.size - 1):
        a, b = max(s[k], window[0]), min(s[k + 1], window[1])
        if b <= a:
            continue
        m = max(1, math.ceil((b - a) / h - 1e-9))
        edges = np.linspace(a, b, m + 1)
        mid = 0.5 * (edges[:-1] + edges[1:])
        w = (mid - s[k]) / (s[k + 1] - s[k])
        mids.append(mid)
        widths.append(np.diff(edges))
        rates.append(r[k] + w * (r[k + 1] - r[k]))
        volts.append(v[k] + w * (v[k + 1] - v[k]))
    return (np.concatenate(mids), np.concatenate(widths), np.concatenate(rates),
            np.concatenate(volts))


@dataclass(frozen=True)
class PackCharge:
    """The result of :func:`pack_fast_charge` (powers in kW, times in minutes).

    ``cell_limited_kw`` is the window-average cell-limited power ``E_w / t_cell``;
    ``thermal_limit_kw`` the thermal limit at the window-mean voltage; ``power_kw`` (=
    ``average_kw``) the window average ``E_w / t``; ``binding_limit`` the limit binding for
    the largest share of the time (``binding_share``); ``km_per_10_min`` the window-average
    rate and ``km_first_10_min`` the range added in the first 10 minutes from the integrated
    energy. The ``*_profile`` lists are on the ``soc`` points (every 1 %).
    """

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
    average_kw: float = math.nan
    peak_kw: float = math.nan
    binding_share: dict[str, float] = field(default_factory=dict)
    energy_first_10_min_kwh: float = math.nan
    km_first_10_min: float = math.nan
    cell_time_10_80_min: float = math.nan
    cell_profile_kw: list[float] = field(default_factory=list)
    thermal_profile_kw: list[float] = field(default_factory=list)
    time_profile_min: list[float] = field(default_factory=list)
    limit_profile: list[str] = field(default_factory=list)
    profile_source: str = ""
    scaling: str = ""
    loss_fraction: float = 0.05

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly dict."""
        return asdict(self)


def _positive(name: str, value: float | None, source: str = _SOURCE) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if not np.isfinite(v) or v <= 0:
        raise CasipInputError(Problem(name, "must be a positive number", value, "> 0"),
                              source=source)
    return v


def pack_fast_charge(
    cell: float | CellChargeProfile,
    usable_kwh: float,
    charger_kw: float,
    heat_rejection_kw: float,
    consumption_wh_km: float,
    loss_fraction: float = 0.05,
) -> PackCharge:
    """Pack charge power profile, 10-80 % time and km added (module docstring).

    Parameters
    ----------
    cell : float or CellChargeProfile
        The cell's charge: its 10-80 % time [min] (the flat approximation: a constant power
        at the window average), or a profile over SOC (:func:`profile_from_charge`,
        :func:`measured_profile`) for the real taper.
    usable_kwh : float
        Usable energy of the pack at the battery [kWh].
    charger_kw : float
        Charger (or inlet) power limit at the battery [kW].
    heat_rejection_kw : float
        Heat the pack's cooling can reject while charging [kW].
    consumption_wh_km : float
        Consumption at the battery used to turn energy into range [Wh/km].
    loss_fraction : float
        Share of the power lost as heat at the window-average cell-limited power (default
        0.05, assumed).

    Returns
    -------
    PackCharge

    Raises
    ------
    CasipInputError
        A non-positive number (naming it) or a bad profile.

    Examples
    --------
    >>> p = measured_profile([0.1, 0.5, 0.5, 0.8], power_W=[2, 2, 1, 1], energy_Wh=1.0)
    >>> r = pack_fast_charge(p, 100.0, 150.0, 1000.0, 175.0)
    >>> round(r.time_10_80_min, 6), r.binding_share
    (34.0, {'cell': 0.529412, 'charger': 0.470588, 'thermal': 0.0})
    """
    prof = cell if isinstance(cell, CellChargeProfile) else flat_profile(cell)
    e_use = _positive("usable_kwh", usable_kwh)
    p_chg = _positive("charger_kw", charger_kw)
    q_max = _positive("heat_rejection_kw", heat_rejection_kw)
    c = _positive("consumption_wh_km", consumption_wh_km)
    f = _positive("loss_fraction", loss_fraction)
    e_w = (WINDOW[1] - WINDOW[0]) * e_use

    s, ds, r, v = _grid(prof, WINDOW)
    v_int = float(np.sum(v * ds))
    v_bar = v_int / float(np.sum(ds))
    de = e_w * v * ds / v_int  # kWh per sub-interval
    p_cell = e_w * v / v_int * r  # kW
    t_cell_h = float(np.sum(ds / r))
    p_cell_avg = e_w / t_cell_h
    p_th_bar = math.sqrt(q_max * p_cell_avg / f)
    p_th = v / v_bar * p_th_bar
    stack = np.vstack([p_cell, np.full_like(p_cell, p_chg), p_th])
    which = np.argmin(stack, axis=0)
    p = stack[which, np.arange(s.size)]
    dt = de / p  # h
    t_h = float(np.sum(dt))
    share = {k: round(float(np.sum(dt[which == i]) / t_h), 6) for i, k in enumerate(_LIMITS)}
    binding = max(_LIMITS, key=lambda k: (share[k], -_LIMITS.index(k)))
    t_edge = np.r_[0.0, np.cumsum(dt)] * 60.0
    e_edge = np.r_[0.0, np.cumsum(de)]
    e10 = float(np.interp(10.0, t_edge, e_edge))
    avg = e_w / t_h

    out = np.linspace(WINDOW[0], WINDOW[1], N_OUTPUT)
    right = s + 0.5 * ds
    j = np.minimum(np.searchsorted(right, out - 1e-12), s.size - 1)
    t_out = np.interp(out, np.r_[WINDOW[0], right], t_edge)
    return PackCharge(
        cell_limited_kw=p_cell_avg, charger_limit_kw=p_chg, thermal_limit_kw=p_th_bar,
        power_kw=avg, binding_limit=binding, time_10_80_min=t_h * 60.0, energy_added_kwh=e_w,
        km_per_10_min=avg * 1000.0 / 6.0 / c, soc=[round(float(x), 4) for x in out],
        power_profile_kw=[float(x) for x in p[j]], average_kw=avg, peak_kw=float(p.max()),
        binding_share=share, energy_first_10_min_kwh=e10, km_first_10_min=e10 * 1000.0 / c,
        cell_time_10_80_min=t_cell_h * 60.0, cell_profile_kw=[float(x) for x in p_cell[j]],
        thermal_profile_kw=[float(x) for x in p_th[j]],
        time_profile_min=[float(x) for x in t_out],
        limit_profile=[_LIMITS[int(k)] for k in which[j]], profile_source=prof.source,
        scaling="by energy ratio: the pack's 10-80 % energy 0.7 x usable, shaped by the "
                "cell's charge voltage, at the cell's SOC rate",
        loss_fraction=f,
    )


__all__ = [
    "CellChargeProfile", "PackCharge", "flat_profile", "measured_profile",
    "pack_fast_charge", "profile_from_charge",
]
