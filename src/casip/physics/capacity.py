"""Discharge capacity of a mapped design: build the model once, solve each C-rate.

The model is built with "Current function [A]" as an ``[input]`` so that one discretised model
serves every C-rate (PyBaMM's build-once, solve-many pattern).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pybamm

from casip.design.schema import Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary
from casip.physics.parameters import PhysicsSetup, parameters_for
from casip.physics.solving import make_solver, solve

#: Simulated time allowed per discharge, as a multiple of the nominal duration 1/C.
HORIZON_FACTOR = 1.6


def discharge_capacities(
    setup: PhysicsSetup, c_rates: Sequence[float], *, num_threads: int = 1
) -> np.ndarray:
    """Capacity [A.h] delivered from full charge to the lower cut-off at each C-rate.

    One model is built with the current as an input and solved for every C-rate (in parallel
    with ``num_threads`` > 1). The C-rate is relative to the design capacity.

    Raises
    ------
    CasipInputError
        If a C-rate is not positive, a solve fails, or a discharge does not reach the lower
        cut-off within 1.6 times its nominal duration.
    """
    rates = [float(c) for c in c_rates]
    bad = [c for c in rates if not c > 0]
    if bad or not rates:
        raise CasipInputError(
            Problem(
                "c_rates",
                "C-rates must be positive numbers",
                bad[0] if bad else None,
                "e.g. [0.05, 1, 3]",
            )
        )
    q = setup.capacity_Ah
    horizon = HORIZON_FACTOR * 3600.0 / max(rates)  # the shortest solve sets the stall guard
    pv = setup.parameter_values.copy()
    pv["Current function [A]"] = "[input]"
    sim = pybamm.Simulation(
        setup.new_model(),
        parameter_values=pv,
        solver=make_solver(
            horizon,
            num_threads=num_threads,
            output_variables=["Discharge capacity [A.h]", "Voltage [V]"],
        ),
    )
    inputs = [{"Current function [A]": c * q} for c in rates]
    out = []
    for c, inp in zip(rates, inputs, strict=True):
        sol = solve(
            sim,
            [0.0, HORIZON_FACTOR * 3600.0 / c],
            inputs=inp,
            what=f"{c:g}C discharge of {setup.name!r}",
        )
        if sol.termination != "event: Minimum voltage [V]":
            raise CasipInputError(
                Problem(
                    "",
                    f"{c:g}C discharge of {setup.name!r} ended by {sol.termination!r} before "
                    f"the lower cut-off ({setup.lower_cutoff_V:g} V) within "
                    f"{HORIZON_FACTOR / c:.3g} h",
                )
            )
        out.append(float(sol["Discharge capacity [A.h]"].entries[-1]))
    return np.array(out)


def c20_capacity(
    design: Design | Mapping | PhysicsSetup, library: MaterialLibrary | None = None
) -> float:
    """Capacity [A.h] of a design simulated at C/20 from full charge to the lower cut-off.

    The mapping (:func:`casip.physics.parameters_for`) makes this match the design engine's
    ``capacity_Ah`` (the capacity after formation) within 1% for every supported reference
    cell."""
    setup = design if isinstance(design, PhysicsSetup) else parameters_for(design, library)
    return float(discharge_capacities(setup, [0.05])[0])
