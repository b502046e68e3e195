"""Sensitivity bands around an ageing projection: what if the duty or the rates were different?

:func:`project_band` reruns a projection with a few inputs moved by fixed amounts and reports,
at every time point, the central capacity and the lowest and highest capacity of all the
variants. The band is a **sensitivity band**, not a statistical interval: it has no coverage
probability, no confidence level, and it says nothing about cell-to-cell spread, measurement
error or the error of the model itself. It answers one question only: *how much does the
projection move if the temperature, the depth of discharge (BLAST-Lite) or the assumed rate
constant (solid state) were off by the stated amounts?* The true life can lie outside it.

What is varied (full factorial grid, every combination, the central one included):

* BLAST-Lite models (:mod:`casip.life.blast`): the duty's temperature by
  :data:`TEMPERATURE_DELTA_K` (-5, 0, +5 K) and its depth of discharge by
  :data:`DOD_REL_DELTA` (x0.9, x1, x1.1), i.e. 9 runs. Values are clipped to what a
  :class:`~casip.life.duty.DutyCycle` allows (temperature in [-40, 80] °C; depth in (0, 1],
  not leaving [0, 1] SOC from the rest SOC, and a cycle still fitting in its period).
* The solid-state model (:mod:`casip.life.solid_state`): its interphase growth rate constant
  ``k_ref_ohm_cm2_h_n`` (the prefactor of ``k(T, j)``, an assumed value) by
  :data:`RATE_FACTORS` (/2, x1, x2) and the duty's temperature by -5, 0, +5 K, i.e. 9 runs.
  The other parameters (``Ea_eV``, ``beta``, ``lam_per_ohm_cm2``, ...) are not varied.

A variant that extrapolates beyond a BLAST-Lite model's tested range is still used; its
reasons are listed in ``attrs["variants"]``.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life import blast, solid_state
from casip.life.duty import DutyCycle

TEMPERATURE_DELTA_K = 5.0
"""Temperature shift of the band [K], applied down and up."""

DOD_REL_DELTA = 0.10
"""Relative shift of the depth of discharge of the band [-], applied down and up (BLAST-Lite)."""

RATE_FACTORS = (0.5, 1.0, 2.0)
"""Factors on the solid-state rate constant ``k_ref_ohm_cm2_h_n`` [-]."""

_EOL = 0.8
_T_MIN, _T_MAX = -40.0, 80.0
_SOLID_LOCK = threading.Lock()


def _max_depth(duty: DutyCycle) -> float:
    """Largest depth the duty allows: within [0, 1] SOC and the cycle fitting its period."""
    soc_room = duty.rest_soc if duty.order == "discharge_first" else 1.0 - duty.rest_soc
    per_depth_h = 1.0 / duty.discharge_c_rate + 1.0 / duty.charge_c_rate
    time_room = (24.0 / duty.cycles_per_day - duty.hold_h) / per_depth_h
    return float(min(1.0, soc_room, time_room))


def _variant(duty: DutyCycle, d_temp: float, dod_factor: float, years=None) -> DutyCycle:
    data = duty.model_dump()
    data["temperature_C"] = float(np.clip(duty.temperature_C + d_temp, _T_MIN, _T_MAX))
    if dod_factor != 1.0:
        data["depth_of_discharge"] = float(
            np.clip(duty.depth_of_discharge * dod_factor, 1e-6, _max_depth(duty))
        )
    if years is not None:
        data["years"] = years
    data["name"] = f"{duty.name} (T{d_temp:+g} K, DoD x{dod_factor:g})"
    return DutyCycle(**data)


def _solid_state_run(electrolyte, duty, factor, **kwargs) -> pd.DataFrame:
    """Run the solid-state model with ``k_ref_ohm_cm2_h_n`` multiplied by ``factor``.

    The model takes its parameters from :data:`casip.life.solid_state.PARAMETERS`; the entry of
    the electrolyte is swapped for a copy with the scaled constant for the duration of the call
    (under a lock) and always put back.
    """
    if electrolyte not in solid_state.PARAMETERS:
        return solid_state.project(electrolyte, duty, **kwargs)  # raises the model's own error
    with _SOLID_LOCK:
        original = solid_state.PARAMETERS[electrolyte]
        k = original["k_ref_ohm_cm2_h_n"]
        scaled = dict(original)
        scaled["k_ref_ohm_cm2_h_n"] = replace(
            k, value=k.value * factor, note=f"{k.note} (x{factor:g} in a sensitivity band)"
        )
        solid_state.PARAMETERS[electrolyte] = scaled
        try:
            return solid_state.project(electrolyte, duty, **kwargs)
        finally:
            solid_state.PARAMETERS[electrolyte] = original


def _years(value) -> float:
    return np.inf if value is None else float(value)


def project_band(
    model: str,
    duty: DutyCycle,
    *,
    years: float | None = None,
    temperature_delta_K: float = TEMPERATURE_DELTA_K,
    dod_rel_delta: float = DOD_REL_DELTA,
    rate_factors: tuple[float, float] = (RATE_FACTORS[0], RATE_FACTORS[-1]),
    warn: bool = True,
    **model_kwargs,
) -> pd.DataFrame:
    """Central ageing projection with a sensitivity band (min/max over input variants).

    The band is the envelope of the projections rerun on a small grid of changed inputs (see
    the module docstring): temperature +-``temperature_delta_K`` and, for BLAST-Lite models,
    depth of discharge x(1 +- ``dod_rel_delta``); for the solid-state model, temperature and the
    rate constant ``k_ref_ohm_cm2_h_n`` x``rate_factors``. It is **not** a confidence or
    prediction interval and has no probability attached: it shows how sensitive the projection
    is to those inputs, nothing about model error or cell-to-cell spread.

    Parameters
    ----------
    model : str
        A BLAST-Lite model name (or ``"lfp"`` / ``"nmc"``, see :func:`casip.life.blast.project`)
        or a solid-state electrolyte id with parameters in
        :data:`casip.life.solid_state.PARAMETERS` (``"LPSCl"``, ``"LLZO"``).
    duty : DutyCycle
        The central duty.
    years : float, optional
        Horizon [year] instead of ``duty.years`` (BLAST-Lite up to 100, solid state up to 50).
    temperature_delta_K : float
        Temperature shift, down and up [K] (default 5).
    dod_rel_delta : float
        Relative depth-of-discharge shift, down and up [-] (default 0.1; BLAST-Lite only).
    rate_factors : (float, float)
        Low and high factor on the solid-state rate constant [-] (default 0.5 and 2).
    warn : bool
        Let the central projection warn (extrapolation, solid-state failure); the variants
        never warn, their reasons are in ``attrs["variants"]``.
    **model_kwargs
        Passed to the underlying ``project`` (e.g. ``step_s`` for BLAST-Lite,
        ``areal_capacity_mAh_cm2`` for solid state).

    Returns
    -------
    pandas.DataFrame
        ``t_years`` [year], ``capacity_rel`` (central) [-], ``capacity_low`` and
        ``capacity_high`` (min and max over all variants, central included) [-], on the
        central projection's time points. ``attrs``: ``kind`` (``"blast"`` or
        ``"solid_state"``), ``band`` (a sentence saying what was varied), ``varied`` (the
        deltas), ``years_to_80`` as ``{"central", "low", "high"}`` [year] (low = earliest, high
        = latest crossing of 80 %; ``None`` when not reached within the horizon),
        ``variants`` (one dict per run: its changes, ``years_to_80pct`` and ``warnings``) and
        ``central_attrs`` (the central projection's own ``attrs``).

    Raises
    ------
    casip.errors.CasipInputError
        An unknown model, an invalid duty, negative deltas or rate factors not bracketing 1.
    """
    if not isinstance(duty, DutyCycle):
        raise CasipInputError(
            Problem("duty", "not a duty cycle", type(duty).__name__, "a casip DutyCycle")
        )
    if not (np.isfinite(temperature_delta_K) and temperature_delta_K >= 0):
        raise CasipInputError(
            Problem("temperature_delta_K", "must be >= 0", temperature_delta_K, ">= 0 K")
        )
    if not (np.isfinite(dod_rel_delta) and 0 <= dod_rel_delta < 1):
        raise CasipInputError(Problem("dod_rel_delta", "out of range", dod_rel_delta, "[0, 1)"))
    f_lo, f_hi = (float(f) for f in rate_factors)
    if not (0 < f_lo <= 1 <= f_hi and np.isfinite(f_hi)):
        raise CasipInputError(
            Problem("rate_factors", "must bracket 1", rate_factors, "0 < low <= 1 <= high")
        )
    temps = (-temperature_delta_K, 0.0, temperature_delta_K)
    solid = isinstance(model, str) and model in solid_state.ELECTROLYTES
    runs = []
    if solid:
        horizon = None if years is None else years
        for d_t, f in itertools.product(temps, (f_lo, 1.0, f_hi)):
            v_duty = _variant(duty, d_t, 1.0, horizon)
            is_central = d_t == 0.0 and f == 1.0
            with warnings.catch_warnings():
                if not (is_central and warn):
                    warnings.simplefilter("ignore", solid_state.SolidStateFailureWarning)
                frame = _solid_state_run(model, v_duty, f, **model_kwargs)
            change = {"temperature_C": v_duty.temperature_C, "k_ref_factor": f}
            issues = [frame.attrs["failure"]] if frame.attrs.get("failed") else []
            runs.append((is_central, change, frame, issues))
        what = (
            f"solid-state model {model}: temperature {-temperature_delta_K:+g}/0/"
            f"{temperature_delta_K:+g} K x rate constant k_ref_ohm_cm2_h_n x{f_lo:g}/1/x{f_hi:g}"
        )
        varied = {"temperature_delta_K": temperature_delta_K, "k_ref_factors": [f_lo, f_hi]}
    else:
        dods = (1.0 - dod_rel_delta, 1.0, 1.0 + dod_rel_delta)
        for d_t, g in itertools.product(temps, dods):
            v_duty = duty if (d_t == 0.0 and g == 1.0) else _variant(duty, d_t, g)
            is_central = v_duty is duty
            with warnings.catch_warnings():
                if not (is_central and warn):
                    warnings.simplefilter("ignore", blast.ExtrapolationWarning)
                frame = blast.project(model, v_duty, years=years, warn=True, **model_kwargs)
            change = {
                "temperature_C": v_duty.temperature_C,
                "depth_of_discharge": v_duty.depth_of_discharge,
            }
            runs.append((is_central, change, frame, list(frame.attrs["warnings"])))
        what = (
            f"BLAST-Lite model {model}: temperature {-temperature_delta_K:+g}/0/"
            f"{temperature_delta_K:+g} K x depth of discharge x{1 - dod_rel_delta:g}/1/"
            f"x{1 + dod_rel_delta:g} (clipped to valid duties)"
        )
        varied = {"temperature_delta_K": temperature_delta_K, "dod_rel_delta": dod_rel_delta}

    central = next(frame for is_central, _, frame, _ in runs if is_central)
    t = central["t_years"].to_numpy(dtype=float)
    q0 = central["capacity_rel"].to_numpy(dtype=float)
    curves = []
    for _, _, frame, _ in runs:
        tv = frame["t_years"].to_numpy(dtype=float)
        qv = frame["capacity_rel"].to_numpy(dtype=float)
        if len(tv) == 1:  # a failed solid-state variant: no capacity from the start
            curves.append(np.full_like(t, qv[0]))
        else:
            curves.append(np.interp(t, tv, qv))
    stack = np.vstack(curves)
    out = pd.DataFrame(
        {
            "t_years": t,
            "capacity_rel": q0,
            "capacity_low": stack.min(axis=0),
            "capacity_high": stack.max(axis=0),
        }
    )
    crossings = [_years(frame.attrs.get("years_to_80pct")) for _, _, frame, _ in runs]
    lo, hi = min(crossings), max(crossings)
    out.attrs.update(
        kind="solid_state" if solid else "blast",
        band=(
            "sensitivity band (min/max over a grid of changed inputs, not a statistical "
            "interval): " + what
        ),
        varied=varied,
        years_to_80={
            "central": central.attrs.get("years_to_80pct"),
            "low": None if np.isinf(lo) else lo,
            "high": None if np.isinf(hi) else hi,
        },
        variants=[
            {**change, "years_to_80pct": frame.attrs.get("years_to_80pct"), "warnings": issues}
            for _, change, frame, issues in runs
        ],
        central_attrs=dict(central.attrs),
    )
    return out
