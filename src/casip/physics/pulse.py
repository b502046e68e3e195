"""Pulse resistance (HPPC-like) of a design at chosen states of charge.

At each state of charge the cell starts at rest (uniform concentrations set by charge balance,
as in :mod:`casip.physics.charge`) and takes a constant-current pulse of ``duration_s``
seconds, once in discharge and once in charge. The resistance is the voltage change over the
current step at the end of the pulse,

``R_dis = (U_ocv - V_end) / I`` and ``R_ch = (V_end - U_ocv) / I``,

with ``U_ocv`` the open-circuit voltage of the rested start state. It includes the ohmic,
charge-transfer and (for 10 s) part of the diffusion polarisation, as a hybrid pulse power
characterisation (HPPC) test does [1]_. The area-specific resistance multiplies the discharge
resistance by the total electrode area (all faces, the design engine's ``cathode_area_cm2``).

One DFN model is built with the current and the initial concentrations as ``[input]``
parameters; all pulses are solved from it in one batch. The voltage cut-offs are widened by
0.3 V for the pulses so that a short pulse near the end of the window is not cut; a pulse
that still stops early gives NaN.

References
----------
.. [1] Idaho National Laboratory, "Battery Test Manual for Electric Vehicles", INL/EXT-15-34184
   (2015), hybrid pulse power characterisation.
.. [2] M. Doyle, T. F. Fuller, J. Newman, J. Electrochem. Soc. 140, 1526 (1993).
.. [3] V. Sulzer et al., "Python Battery Mathematical Modelling (PyBaMM)", J. Open Res.
   Softw. 9, 14 (2021).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pybamm

from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary
from casip.physics.charge import _C_NEG, _C_POS, _cell_for
from casip.physics.solving import make_solver, solve

_CURRENT = "Current function [A]"
_OCV = "Bulk open-circuit voltage [V]"
#: Widening of the voltage cut-offs during a pulse [V].
PULSE_CUTOFF_MARGIN_V = 0.3


def pulse_resistance(
    design,
    socs: Sequence[float] = (0.2, 0.5, 0.8),
    *,
    c_rate: float = 1.0,
    duration_s: float = 10.0,
    library: MaterialLibrary | None = None,
    temperature_K: float | None = None,
    contact_resistance_ohm_cm2: float | None = None,
    overrides: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Discharge and charge pulse resistance at each state of charge.

    Parameters
    ----------
    design : Design, dict, PhysicsSetup or str
        The cell (as for :func:`casip.physics.charge.fast_charge`, ``"pybamm:Chen2020"``
        included).
    socs : sequence of float
        States of charge, fractions of the design capacity in (0, 1).
    c_rate : float
        Pulse current [C, of the design capacity].
    duration_s : float
        Pulse length [s].
    library : MaterialLibrary, optional
        Materials library for the mapping.
    temperature_K, contact_resistance_ohm_cm2, overrides
        Passed to :func:`casip.physics.parameters_for`.

    Returns
    -------
    pandas.DataFrame
        ``soc``, ``discharge_resistance_ohm``, ``charge_resistance_ohm`` [Ohm] and
        ``area_specific_resistance_ohm_cm2`` (discharge resistance x total electrode area
        [Ohm cm2]).

    Raises
    ------
    CasipInputError
        Bad SOC, rate or duration, or a failed solve.
    """
    socs = [float(s) for s in socs]
    if not socs or any(not 0.0 < s < 1.0 for s in socs):
        raise CasipInputError(
            Problem("socs", "states of charge must lie in (0, 1)", socs, "e.g. 0.2, 0.5, 0.8")
        )
    c_rate = float(c_rate)
    if not (c_rate > 0 and math.isfinite(c_rate) and c_rate <= 50):
        raise CasipInputError(Problem("c_rate", "the pulse C-rate must be in (0, 50]", c_rate))
    duration_s = float(duration_s)
    if not (0 < duration_s <= 3600 and math.isfinite(duration_s)):
        raise CasipInputError(
            Problem("duration_s", "the pulse length must be in (0, 3600] s", duration_s)
        )
    cell = _cell_for(
        design,
        library,
        temperature_K=temperature_K,
        contact_resistance_ohm_cm2=contact_resistance_ohm_cm2,
        overrides=overrides,
    )
    pv = cell.parameter_values.copy()
    pv.update(
        {
            _CURRENT: "[input]",
            _C_POS: "[input]",
            "Lower voltage cut-off [V]": max(
                float(pv["Lower voltage cut-off [V]"]) - PULSE_CUTOFF_MARGIN_V, 0.5
            ),
            "Upper voltage cut-off [V]": float(pv["Upper voltage cut-off [V]"])
            + PULSE_CUTOFF_MARGIN_V,
        },
        check_already_exists=False,
    )
    if cell.intercalation:
        pv.update({_C_NEG: "[input]"})
    sim = pybamm.Simulation(
        pybamm.lithium_ion.DFN(options=dict(cell.model_options)),
        parameter_values=pv,
        solver=make_solver(duration_s, output_variables=["Voltage [V]", _OCV]),
    )
    current = c_rate * cell.capacity_Ah
    inputs = []
    for s in socs:
        start = cell.soc_inputs(s)
        inputs.append(dict(start, **{_CURRENT: current}))
        inputs.append(dict(start, **{_CURRENT: -current}))
    sols = solve(
        sim,
        [0.0, duration_s],
        inputs=inputs,
        what=f"{c_rate:g}C {duration_s:g} s pulses of {cell.name!r}",
    )
    sols = sols if isinstance(sols, list) else [sols]
    r = np.full(len(inputs), np.nan)
    for k, sol in enumerate(sols):
        if sol.termination != "final time":
            continue
        ocv = float(sol[_OCV].entries[0])
        v_end = float(sol["Voltage [V]"].entries[-1])
        r[k] = (ocv - v_end) / inputs[k][_CURRENT]
    dis, ch = r[0::2], r[1::2]
    return pd.DataFrame(
        {
            "soc": socs,
            "discharge_resistance_ohm": dis,
            "charge_resistance_ohm": ch,
            "area_specific_resistance_ohm_cm2": dis * cell.area_cm2,
        }
    )


__all__ = ["pulse_resistance"]
