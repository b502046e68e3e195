"""Solving with limits: every solve is bounded, and every failure speaks the user's language.

The IDAKLU solver cannot be interrupted from Python once it runs, so the limit is given to the
solver itself as a *stall guard*: if ``SolveLimits.steps_without_progress`` consecutive steps
advance the solution by less than ``SolveLimits.progress_fraction`` of the horizon the solver
was made for, the solver stops (IDAKLU's ``num_steps_no_progress`` / ``t_no_progress``
options) and :func:`solve` reports where. A solve of duration ``T`` made with horizon ``H``
therefore takes at most ``steps_without_progress * T / (progress_fraction * H)`` steps
(2e6 steps for ``T = H`` by default, where a healthy discharge takes a few hundred), so a
stalled or chattering solve ends instead of hanging. Build the solver for the *shortest* solve
it will serve (:func:`make_solver`'s ``horizon_s``).

Failures become :class:`casip.errors.CasipInputError` saying why: a voltage cut-off reached at
the start, the solver failing at t = ... s, or a parameter out of range.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pybamm

from casip.errors import CasipInputError, Problem


@dataclass(frozen=True)
class SolveLimits:
    """Bounds on one solve (see the module docstring).

    Attributes
    ----------
    steps_without_progress : int
        Consecutive solver steps allowed without sufficient progress.
    progress_fraction : float
        Progress required over those steps, as a fraction of the requested horizon.
    rtol, atol : float
        Solver tolerances.
    """

    steps_without_progress: int = 2000
    progress_fraction: float = 0.001
    rtol: float = 1e-4
    atol: float = 1e-6

    def max_steps(self, duration_s: float, horizon_s: float) -> float:
        """Upper bound on the solver steps of a solve of ``duration_s`` (solver made for
        ``horizon_s``)."""
        return self.steps_without_progress * duration_s / (self.progress_fraction * horizon_s)


DEFAULT_LIMITS = SolveLimits()


def make_solver(
    horizon_s: float,
    *,
    limits: SolveLimits = DEFAULT_LIMITS,
    num_threads: int = 1,
    output_variables: Sequence[str] | None = None,
) -> pybamm.IDAKLUSolver:
    """An IDAKLU solver whose stall guard is scaled to solves of ``horizon_s`` seconds.

    Give the duration of the shortest solve the solver will serve (e.g. the 5C discharge of
    a rate sweep): its guard then requires ``limits.progress_fraction * horizon_s`` seconds of
    progress per ``limits.steps_without_progress`` steps.

    Failures return a partial solution (``on_failure="ignore"``) so that :func:`solve` can say
    at which time the solver failed.
    """
    if not (horizon_s > 0 and math.isfinite(horizon_s)):
        raise CasipInputError(
            Problem("horizon_s", "the simulated time must be positive and finite", horizon_s)
        )
    options = {
        "num_steps_no_progress": int(limits.steps_without_progress),
        "t_no_progress": float(horizon_s * limits.progress_fraction),
        "num_threads": int(num_threads),
    }
    return pybamm.IDAKLUSolver(
        rtol=limits.rtol,
        atol=limits.atol,
        options=options,
        on_failure="ignore",
        output_variables=list(output_variables) if output_variables else None,
    )


def _initial_voltage_text(sim: pybamm.Simulation, inputs: Mapping | None) -> str:
    try:
        pv = sim.parameter_values
        return (
            f" (lower cut-off {pv['Lower voltage cut-off [V]']:g} V, upper cut-off "
            f"{pv['Upper voltage cut-off [V]']:g} V)"
        )
    except Exception:
        return ""


def solve(
    sim: pybamm.Simulation,
    t_eval: Sequence[float] | np.ndarray,
    inputs: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
    *,
    what: str = "simulation",
    source: str | None = None,
    t_interp: np.ndarray | None = None,
) -> pybamm.Solution | list[pybamm.Solution]:
    """Solve a built simulation within its solver's limits; failures become input errors.

    Parameters
    ----------
    sim : pybamm.Simulation
        Built with a solver from :func:`make_solver` (so that the step budget applies).
    t_eval : sequence of float
        ``[0, t_end]`` in seconds.
    inputs : dict or list of dict, optional
        Values of the ``[input]`` parameters; a list solves each set (in parallel with a
        multi-threaded solver).
    what : str
        What is being simulated, for messages (e.g. ``"C/20 discharge"``).

    Returns
    -------
    pybamm.Solution or list of pybamm.Solution

    Raises
    ------
    CasipInputError
        If a voltage cut-off is reached at the start, the solver fails (the message gives the
        simulated time reached and the solver's reason) or a parameter is out of range.
    """
    t0 = time.perf_counter()
    try:
        sols = sim.solve(t_eval, inputs=inputs, t_interp=t_interp)
    except pybamm.SolverError as exc:
        msg = str(exc)
        if "non-positive at initial conditions" in msg:
            raise CasipInputError(
                Problem(
                    "",
                    f"{what}: a voltage cut-off is reached at the start"
                    f"{_initial_voltage_text(sim, inputs if isinstance(inputs, Mapping) else None)}"
                    f"; solver says: {msg}",
                ),
                source=source,
            ) from None
        raise CasipInputError(
            Problem("", f"{what}: the solver failed before it started: {msg}"), source=source
        ) from None
    except (ValueError, ZeroDivisionError, pybamm.ModelError) as exc:
        raise CasipInputError(
            Problem("", f"{what}: a parameter is out of range or inconsistent: {exc}"),
            source=source,
        ) from None
    elapsed = time.perf_counter() - t0
    many = isinstance(sols, list)
    for k, sol in enumerate(sols if many else [sols]):
        label = f"{what} (input set {k})" if many else what
        if sol.termination == "failure":
            raise CasipInputError(
                Problem(
                    "",
                    f"{label}: the solver failed at t = {float(sol.t[-1]):.4g} s of "
                    f"{float(t_eval[-1]):.4g} s (no progress within the step budget, or a "
                    f"SUNDIALS error) after {elapsed:.2f} s of computing",
                ),
                source=source,
            )
        if len(sol.t) < 2 or float(sol.t[-1]) <= 0.0:
            raise CasipInputError(
                Problem(
                    "",
                    f"{label}: stopped at t = 0 s ({sol.termination}): a voltage cut-off is "
                    f"reached at the start"
                    f"{_initial_voltage_text(sim, None)}",
                ),
                source=source,
            )
    return sols
