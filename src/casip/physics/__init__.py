"""Physics simulation with PyBaMM: a design becomes a DFN model with parameter values.

This package is the only place in CASIP that imports :mod:`pybamm`. Telemetry is switched off
before the first import (the machines are offline and the platform must not phone home).

>>> from casip.cells import reference_design
>>> from casip.physics import parameters_for, c20_capacity
>>> setup = parameters_for(reference_design("lfp-blade"))  # doctest: +SKIP
>>> round(c20_capacity(reference_design("lfp-blade")))  # doctest: +SKIP
135

See ``docs/physics.md`` for the mapping of every parameter and its origin.
"""

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pybamm

from casip.physics.bpx import export_bpx, import_bpx, to_bpx_dict
from casip.physics.capacity import c20_capacity
from casip.physics.charge import ChargeLimits, ChargeResult, fast_charge, fastest_charge
from casip.physics.parameters import (
    Mapped,
    PhysicsSetup,
    base_set_c20,
    parameters_for,
)
from casip.physics.pulse import pulse_resistance
from casip.physics.rate import (
    DEFAULT_C_RATES,
    RateResult,
    clear_cache,
    limiting_mechanism,
    ragone,
    rate_capability,
)
from casip.physics.replay import Profile, ReplayResult, replay, setup_from_pybamm
from casip.physics.solving import SolveLimits, make_solver, solve

__all__ = [
    "DEFAULT_C_RATES",
    "ChargeLimits",
    "ChargeResult",
    "Mapped",
    "PhysicsSetup",
    "Profile",
    "RateResult",
    "ReplayResult",
    "SolveLimits",
    "base_set_c20",
    "c20_capacity",
    "clear_cache",
    "export_bpx",
    "fast_charge",
    "fastest_charge",
    "import_bpx",
    "limiting_mechanism",
    "make_solver",
    "parameters_for",
    "pulse_resistance",
    "pybamm",
    "ragone",
    "rate_capability",
    "replay",
    "setup_from_pybamm",
    "solve",
    "to_bpx_dict",
]
