"""Calibrate a design's uncertain physical parameters to measured tests, in stages, with PyBOP.

:func:`calibrate` fits a :class:`~casip.physics.PhysicsSetup` (a mapped design, a BPX file or
a PyBaMM set) to measured protocols (:class:`FitCase`: a profile, the replay rules and a
window) in the two stages practitioners use [1]_ [2]_:

1. **Electrode balance** (``"balance"``), on low-rate data only (every row at or below
   ``balance_max_c_rate``): the open-circuit voltage of the full cell is the difference of the
   setup's two half-cell open-circuit potentials at the electrodes' stoichiometries, which move
   with the charge passed,

   .. math::

      x(t) = x_0 + Q(t)/Q_n,\\qquad y(t) = y_0 - Q(t)/Q_p,\\qquad
      V(t) = U_p(y(t)) - U_n(x(t)) + R_\\mathrm{low}\\, I(t),

   with :math:`Q(t)=\\int I\\,dt` (positive on charge). The fit gives the stoichiometries at the
   data's start (:math:`x_0, y_0`: the cyclable lithium), the electrodes' capacities
   (:math:`Q_n, Q_p`, as factors on the setup's active-material volume fractions) and a lumped
   low-rate resistance (kept only for this stage). This is the differential-voltage / electrode
   balancing analysis of Bloom et al. [3]_ and Dahn et al. [4]_ done as a least-squares fit of
   the voltage itself, so no diffusivity can later absorb an open-circuit-voltage error.
2. **Kinetics and transport** (``"kinetics_transport"``), on every fit case: a PyBaMM model
   (DFN or SPMe) built once, with the chosen parameters as PyBaMM ``[input]`` s (so no solve
   rebuilds the mesh), driven by each case's measured current through PyBOP's
   :class:`pybop.pybamm.Simulator`; the cost is the sum of squared voltage errors over all fit
   cases (PyBOP ``MetaProblem`` of one ``SumSquaredError`` per case). Diffusivities and
   exchange currents are fitted as *factors* on the setup's (possibly concentration- and
   temperature-dependent) functions, on a log scale; the contact resistance as a value.

Both stages run PyBOP [5]_ optimisers (default ``XNES``, a natural evolution strategy from
PINTS, which is robust on the few-parameter, multi-modal problems of battery fitting; scipy's
local methods are available). Thickness and other geometry are not offered: they cannot be
PyBaMM inputs (the mesh depends on them), so a fit of them would rebuild the model on every
evaluation.

**Identifiability.** After each stage the residual Jacobian :math:`J` with respect to the
fitted parameters (on their search scale: log for factors) is taken by central differences at
the optimum, and the local covariance :math:`C = s^2 (J^T J)^{-1}` with
:math:`s^2 = \\mathrm{SSE}/(N-p)` gives each parameter's standard error and the correlation
matrix. A parameter is ``"identified"`` when its standard error is below 10 % and no correlation
exceeds 0.95 in magnitude, ``"weak"`` below 100 %, otherwise ``"not identifiable"`` from these
data; the condition number of :math:`J^T J` is reported too. The residuals are dominated by
model error, not measurement noise, so these are local, indicative figures [6]_.

**Prediction.** Every held-back case is replayed (:func:`casip.physics.replay.replay`, the same
rules) with the setup before and after calibration; the result reports both errors, so that a
fit that only bends the model to the fitted protocols shows.

The result (:class:`CalibrationResult`) holds the calibrated setup, a JSON-able record
(:meth:`CalibrationResult.to_record`, format ``casip.calibration/1``) that
:func:`apply_calibration` re-applies to the same design (a *calibrated variant*), and
:meth:`CalibrationResult.export_bpx` writes the calibrated parameters as a BPX file.

References
----------
.. [1] W. Li, I. Demir, D. Cao, D. Joest, F. Ringbeck, M. Junker, D. U. Sauer, "Data-driven
   systematic parameter identification of an electrochemical model for lithium-ion
   batteries with artificial intelligence", Energy Storage Mater. 44, 557 (2022) — staged
   identification, OCV first.
.. [2] C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
   J. Electrochem. Soc. 167, 080534 (2020) — OCP and balance from low-rate data, then
   kinetics and transport.
.. [3] I. Bloom, A. N. Jansen, D. P. Abraham, J. Knuth, S. A. Jones, V. S. Battaglia,
   G. L. Henriksen, "Differential voltage analyses of high-power, lithium-ion cells",
   J. Power Sources 139, 295 (2005).
.. [4] H. M. Dahn, A. J. Smith, J. C. Burns, D. A. Stevens, J. R. Dahn, "User-friendly
   differential voltage analysis freeware for the analysis of degradation mechanisms in
   Li-ion batteries", J. Electrochem. Soc. 159, A1405 (2012).
.. [5] B. Planden, N. E. Courtier, M. Robinson, A. Khetarpal, F. Brosa Planella, D. A. Howey,
   "PyBOP: A Python package for battery model optimisation and parameterisation",
   J. Open Source Softw. 10, 7874 (2025).
.. [6] A. Raue, C. Kreutz, T. Maiwald, J. Bachmann, M. Schilling, U. Klingmüller, J. Timmer,
   "Structural and practical identifiability analysis of partially observed dynamical models
   by exploiting the profile likelihood", Bioinformatics 25, 1923 (2009).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd
import pybamm

import casip
from casip.errors import CasipInputError, Problem
from casip.physics.parameters import Mapped, PhysicsSetup, _ocp
from casip.physics.replay import (
    Profile,
    ReplayResult,
    _current_factor,
    _setup_of,
    _temperatures,
    _window_mask,
    apply_initial_state,
    as_profile,
    replay,
)

#: Format tag of calibration records (:meth:`CalibrationResult.to_record`).
RECORD_FORMAT = "casip.calibration/1"
#: Rows at or below this C-rate (of the setup's capacity) feed the balance stage.
BALANCE_MAX_C_RATE = 0.2
#: Identifiability thresholds: relative standard error and correlation.
IDENTIFIED_REL_STD = 0.10
WEAK_REL_STD = 1.0
CORRELATION_LIMIT = 0.95

_VOLTAGE = "Voltage [V]"
_FACTOR = "CASIP factor: "
_STAGES = ("balance", "kinetics_transport")
_OPTIMISERS = ("XNES", "CMAES", "NelderMead", "SciPyMinimize")


@dataclass(frozen=True)
class Fittable:
    """One parameter that the kinetics-and-transport stage can fit.

    ``pybamm_name`` is the PyBaMM parameter; ``kind`` ``"factor"`` multiplies the setup's value
    or function, ``"value"`` replaces it; ``bounds`` are the default search bounds; ``log``
    searches on a log scale.
    """

    key: str
    pybamm_name: str
    kind: Literal["factor", "value"]
    bounds: tuple[float, float]
    log: bool
    description: str


#: The parameters the kinetics-and-transport stage offers (key -> :class:`Fittable`).
FITTABLE: dict[str, Fittable] = {
    f.key: f
    for f in (
        Fittable("contact_resistance", "Contact resistance [Ohm]", "value", (0.0, 0.2), False,
                 "series resistance of contacts, tabs and fixture [Ohm]"),
        Fittable("negative_diffusivity", "Negative particle diffusivity [m2.s-1]", "factor",
                 (0.01, 100.0), True, "factor on the negative particles' solid diffusivity"),
        Fittable("positive_diffusivity", "Positive particle diffusivity [m2.s-1]", "factor",
                 (0.01, 100.0), True, "factor on the positive particles' solid diffusivity"),
        Fittable("negative_exchange_current",
                 "Negative electrode exchange-current density [A.m-2]", "factor", (0.01, 100.0),
                 True, "factor on the negative's exchange-current density"),
        Fittable("positive_exchange_current",
                 "Positive electrode exchange-current density [A.m-2]", "factor", (0.01, 100.0),
                 True, "factor on the positive's exchange-current density"),
        Fittable("electrolyte_diffusivity", "Electrolyte diffusivity [m2.s-1]", "factor",
                 (0.1, 10.0), True, "factor on the electrolyte's salt diffusivity"),
        Fittable("electrolyte_conductivity", "Electrolyte conductivity [S.m-1]", "factor",
                 (0.1, 10.0), True, "factor on the electrolyte's conductivity"),
    )
}

#: What the kinetics-and-transport stage fits unless told otherwise.
DEFAULT_KINETICS_TRANSPORT = (
    "contact_resistance", "negative_diffusivity", "positive_diffusivity",
    "positive_exchange_current",
)

#: The balance stage's parameters: (name, bounds, log, description).
BALANCE_PARAMETERS = (
    ("x0", (0.0, 1.0), False, "negative stoichiometry at the start of the low-rate data"),
    ("y0", (0.0, 1.0), False, "positive stoichiometry at the start of the low-rate data"),
    ("negative_capacity_factor", (0.5, 2.0), True,
     "factor on the negative's capacity (its active-material volume fraction)"),
    ("positive_capacity_factor", (0.5, 2.0), True,
     "factor on the positive's capacity (its active-material volume fraction)"),
    ("low_rate_resistance", (0.0, 1.0), False,
     "lumped resistance of the low-rate data [Ohm] (balance stage only)"),
)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitCase:
    """One measured protocol for a fit or a held-back prediction, with its replay rules.

    Attributes
    ----------
    label : str
        A name for reports (e.g. ``"C/10"``).
    profile : Profile, CyclerTest, DataFrame or path
        The measured profile (:meth:`casip.physics.replay.Profile.from_store` for a hub test).
    scale : {"amps", "c_rate"}
        Current scaling, as in :func:`~casip.physics.replay.replay` (required there too).
    window : (float, float), optional
        Test-time window [s].
    initial_soc : "from_rest_voltage", "from_history" or float
        Initial state rule, as in ``replay``.
    temperature_c : float, optional
        Ambient temperature where the test records none.
    tested_capacity_ah : float, optional
        For ``scale="c_rate"``.
    """

    label: str
    profile: Any
    scale: Literal["amps", "c_rate"]
    window: tuple[float, float] | None = None
    initial_soc: str | float = "from_rest_voltage"
    temperature_c: float | None = None
    tested_capacity_ah: float | None = None


@dataclass
class _Prepared:
    """A case as the fit sees it: the model's current (PyBaMM sign) and the measured voltage on
    the (thinned) fit grid, the temperatures and the rest voltage of the initial state."""

    case: FitCase
    profile: Profile
    t_rel: np.ndarray
    current_pybamm: np.ndarray
    voltage: np.ndarray
    mask: np.ndarray
    factor: float
    ambient_c: float
    initial_c: float
    rows: int


def _thin(t: np.ndarray, i: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most about ``max_points`` rows: every row where the current changes
    (both sides of each step edge, so the interpolated current keeps its steps) plus an even
    stride through the rest."""
    n = len(t)
    if n <= max_points:
        return np.arange(n)
    scale = max(float(np.nanmax(np.abs(i))), 1e-12)
    edge = np.flatnonzero(np.abs(np.diff(i)) > 0.02 * scale)
    keep = set(edge.tolist()) | set((edge + 1).tolist()) | {0, n - 1}
    stride = max(1, math.ceil(n / max(max_points - len(keep), 1)))
    keep |= set(range(0, n, stride))
    return np.array(sorted(keep))


def _prepare(setup: PhysicsSetup, case: FitCase, max_points: int) -> _Prepared:
    p = as_profile(case.profile)
    if p.voltage_v is None:
        raise CasipInputError(
            Problem("profile", f"case {case.label!r}: a fit needs a measured voltage", None,
                    "a profile with a voltage column"), source=p.source)
    mask, _ = _window_mask(p, case.window)
    factor, _ = _current_factor(setup, p, case.scale, case.tested_capacity_ah)
    ambient, initial, _ = _temperatures(p, mask, case.temperature_c)
    if case.initial_soc is None:
        raise CasipInputError(
            Problem("initial_soc", f"case {case.label!r}: a fit needs the state each protocol "
                    "starts from", None,
                    "'from_rest_voltage', 'from_history' or a state of charge in [0, 1]"))
    # the rule is checked now (a bad case fails before any fitting)
    apply_initial_state(setup.parameter_values.copy(), setup, p, mask, factor, case.initial_soc)
    t = p.time_s[mask]
    i = p.current_a[mask] * factor
    v = p.voltage_v[mask]
    ok = np.isfinite(t) & np.isfinite(i) & np.isfinite(v)
    if ok.sum() < 10:
        raise CasipInputError(
            Problem("window", f"case {case.label!r}: fewer than 10 rows with time, current and "
                    "voltage", case.window, "a window with measured rows"), source=p.source)
    t, i, v = t[ok], i[ok], v[ok]
    keep = _thin(t, i, max_points)
    return _Prepared(case=case, profile=p, t_rel=t[keep] - t[0], current_pybamm=-i[keep],
                     voltage=v[keep], mask=mask, factor=factor, ambient_c=ambient,
                     initial_c=initial, rows=len(keep))


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass
class StageResult:
    """One stage of a calibration.

    Attributes
    ----------
    stage : str
        ``"balance"`` or ``"kinetics_transport"``.
    parameters : pandas.DataFrame
        One row per fitted parameter: ``parameter``, ``pybamm_name``, ``kind``, ``initial``,
        ``fitted``, ``lower``, ``upper``, ``std`` (standard error on the search scale: of
        ln(value) for log parameters, of the value otherwise), ``rel_std`` (relative standard
        error), ``at_bound`` and ``identifiability``.
    correlations : pandas.DataFrame
        The correlation matrix of the fitted parameters.
    condition_number : float
        Of :math:`J^T J` on the search scale.
    cases : list of str
        The labels of the cases the stage was fitted on.
    points : int
        Data points in the cost.
    rmse_before_mV, rmse_after_mV : float
        Over the stage's data, at the initial and the fitted values.
    optimiser : str
    evaluations : int
    seconds : float
    message : str
        The optimiser's reason for stopping.
    skipped : str or None
        Why the stage did not run (then the other fields are empty).
    """

    stage: str
    parameters: pd.DataFrame
    correlations: pd.DataFrame
    condition_number: float
    cases: list[str]
    points: int
    rmse_before_mV: float
    rmse_after_mV: float
    optimiser: str
    evaluations: int
    seconds: float
    message: str
    skipped: str | None = None

    def fitted(self) -> dict[str, float]:
        """Parameter key -> fitted value."""
        return {r.parameter: float(r.fitted) for r in self.parameters.itertuples()}


@dataclass
class CalibrationResult:
    """A staged calibration and its checks.

    Attributes
    ----------
    setup : PhysicsSetup
        The calibrated setup (a copy; the input setup is unchanged).
    original : PhysicsSetup
        The setup before calibration.
    stages : list of StageResult
    fit_errors : pandas.DataFrame
        Every fit case replayed before and after: ``case``, ``role`` (``"fit"``),
        ``rmse_before_mV``, ``rmse_after_mV``, ``max_before_mV``, ``max_after_mV``,
        ``coverage_before``, ``coverage_after`` (the fraction of the rows simulated: a replay
        that stops early is scored on the rows it reached), ``stopped_before``,
        ``stopped_after``.
    prediction_errors : pandas.DataFrame
        The same for every held-back case (``role`` ``"held back"``).
    replays : dict
        ``(case label, "before"|"after")`` -> :class:`~casip.physics.replay.ReplayResult`.
    overrides : dict
        PyBaMM parameter name -> value as applied to the setup (factors baked in).
    record : dict
        The JSON-able calibration record (:meth:`to_record`).
    warnings : list of str
        What the user should know (ill-posed stages, parameters at their bounds, held-back
        errors that grew).
    """

    setup: PhysicsSetup
    original: PhysicsSetup
    stages: list[StageResult]
    fit_errors: pd.DataFrame
    prediction_errors: pd.DataFrame
    replays: dict[tuple[str, str], ReplayResult]
    overrides: dict[str, Any]
    record: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The calibration as a JSON-able dict (``casip.calibration/1``)."""
        return json.loads(json.dumps(self.record))

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_record` as JSON (atomically)."""
        from casip.io import write_text_atomic

        return write_text_atomic(path, json.dumps(self.record, indent=2, allow_nan=False))

    def export_bpx(self, path: str | os.PathLike) -> Path:
        """Write the calibrated parameters as a BPX file (liquid cells; see
        :func:`casip.physics.bpx.export_bpx`). The contact resistance, which BPX has no field
        for, is written under ``"User-defined"``."""
        from casip.physics.bpx import export_bpx

        return export_bpx(self.setup, path)

    def summary(self) -> dict[str, Any]:
        """Headline figures: per stage the fitted values and identifiability, the fit and
        prediction errors."""
        return {
            "setup": self.original.name,
            "stages": [
                {
                    "stage": s.stage,
                    "skipped": s.skipped,
                    "rmse_before_mV": s.rmse_before_mV,
                    "rmse_after_mV": s.rmse_after_mV,
                    "parameters": s.parameters.to_dict(orient="records"),
                }
                for s in self.stages
            ],
            "fit_errors": self.fit_errors.to_dict(orient="records"),
            "prediction_errors": self.prediction_errors.to_dict(orient="records"),
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# PyBOP pieces
# --------------------------------------------------------------------------------------------


def _pybop():
    import pybop

    return pybop


class _Progress:
    """Counts evaluations across stages and reports them; raising from ``callback`` stops the
    fit (a job's cancellation or wall clock)."""

    def __init__(self, callback: Callable[[dict], None] | None, budget: int):
        self.callback = callback
        self.budget = max(int(budget), 1)
        self.evaluations = 0
        self.stage = ""
        self.best = math.inf

    def tick(self, n: int, best: float | None = None) -> None:
        self.evaluations += n
        if best is not None and best < self.best:
            self.best = best
        if self.callback is not None:
            self.callback({
                "stage": self.stage,
                "evaluations": self.evaluations,
                "fraction": min(self.evaluations / self.budget, 1.0),
                "best_cost": self.best,
            })


def _counting(problem, progress: _Progress):
    """A PyBOP problem whose evaluations are counted (wraps ``evaluate_batch``)."""
    inner = problem.evaluate_batch

    def evaluate_batch(inputs, calculate_sensitivities=False):
        ev = inner(inputs, calculate_sensitivities)
        vals = np.asarray(ev.values, dtype=float)
        finite = vals[np.isfinite(vals)]
        progress.tick(len(inputs), float(finite.min()) if finite.size else None)
        return ev

    problem.evaluate_batch = evaluate_batch
    return problem


def _optimiser(problem, name: str, max_evaluations: int, seed: int | None,
               unchanged: int = 25):
    pybop = _pybop()
    if name not in _OPTIMISERS:
        raise CasipInputError(Problem("optimiser", "unknown optimiser", name,
                                      ", ".join(_OPTIMISERS)))
    if seed is not None:
        np.random.seed(seed)  # noqa: NPY002 - PINTS draws from numpy's global generator
    if name == "SciPyMinimize":
        return pybop.SciPyMinimize(problem, options=pybop.SciPyMinimizeOptions(
            method="Nelder-Mead", maxiter=max_evaluations))
    cls = getattr(pybop, name)
    return cls(problem, options=pybop.PintsOptions(
        max_iterations=max_evaluations, max_evaluations=max_evaluations,
        max_unchanged_iterations=unchanged, absolute_tolerance=1e-9, relative_tolerance=1e-4))


def _inside(lo: float, hi: float, x0: float, log: bool) -> float:
    """The start moved 1 % inside its bounds (a population method samples around it)."""
    if log:
        return min(max(x0, lo * 1.01), hi / 1.01)
    span = hi - lo
    return min(max(x0, lo + 0.01 * span), hi - 0.01 * span)


_STARTED: dict[str, type] = {}


def _started_uniform(lo: float, hi: float, start: float, step: float):
    """A uniform prior on the bounds whose mean and spread are the start and the step.

    PyBOP 26.3 starts its population-based optimisers (XNES, CMA-ES...) at the *mean* of each
    parameter's distribution, which for plain bounds is their mid-point (a factor of 50 on
    0.01-100), not at the parameter's initial value; this distribution makes the mean the start
    and the initial spread the step, keeping the bounds as the support."""
    if "cls" not in _STARTED:
        pybop = _pybop()

        class StartedUniform(pybop.Uniform):
            def __init__(self, lower, upper, start_, step_):
                super().__init__(lower, upper)
                self._start, self._step = float(start_), float(step_)

            def mean(self):
                return self._start

            def std(self):
                return self._step

        _STARTED["cls"] = StartedUniform
    return _STARTED["cls"](lo, hi, start, step)


def _parameter(lo: float, hi: float, x0: float, log: bool):
    """A PyBOP parameter on [lo, hi] started at ``x0`` (log scale: search step 0.5 in ln x,
    a factor of 1.65; else 5 % of the span, PyBOP's own default)."""
    pybop = _pybop()
    step = 0.5 * x0 if log else 0.05 * (hi - lo)
    dist = _started_uniform(lo, hi, x0, step)
    if log:
        return pybop.Parameter(distribution=dist, initial_value=x0,
                               transformation=pybop.LogTransformation())
    return pybop.Parameter(distribution=dist, initial_value=x0)


# ---- stage 1: balance -----------------------------------------------------------------------


class _BalanceSimulator:
    """PyBOP simulator of the full cell's pseudo-open-circuit voltage (no PDE): the setup's
    two open-circuit potentials at stoichiometries moved by the charge passed."""

    def __new__(cls, *args, **kwargs):  # subclass PyBOP's base lazily (import cost)
        pybop = _pybop()

        class Impl(pybop.BaseSimulator):
            def __init__(self, pv, cases, q_n, q_p, params):
                super().__init__(parameters=params)
                self.pv = pv
                self.cases = cases
                self.q_n, self.q_p = q_n, q_p
                # charge passed [Ah], positive on charge, and current, per concatenated row
                qs, cur = [], []
                for c in cases:
                    i = -c.current_pybamm
                    q = np.concatenate([[0.0], np.cumsum(
                        0.5 * (i[1:] + i[:-1]) * np.diff(c.t_rel))]) / 3600.0
                    qs.append(q)
                    cur.append(i)
                self.q = qs
                self.i = cur

            def voltages(self, x):
                out = []
                for q, i in zip(self.q, self.i, strict=True):
                    xs = np.clip(x["x0"] + q / (self.q_n * x["negative_capacity_factor"]),
                                 1e-6, 1 - 1e-6)
                    ys = np.clip(x["y0"] - q / (self.q_p * x["positive_capacity_factor"]),
                                 1e-6, 1 - 1e-6)
                    v = (_ocp(self.pv, "positive", ys) - _ocp(self.pv, "negative", xs)
                         + x["low_rate_resistance"] * i)
                    out.append(v)
                return np.concatenate(out)

            def solve_batch(self, inputs, calculate_sensitivities=False):
                sols = []
                for x in inputs:
                    s = pybop.Solution(inputs=x)
                    s.set_solution_variable(_VOLTAGE, self.voltages(x))
                    sols.append(s)
                return sols

        return Impl(*args, **kwargs)


def _electrode_capacity_ah(pv: pybamm.ParameterValues, electrode: str) -> float:
    E = "Negative" if electrode == "negative" else "Positive"
    try:
        eps = float(pv[f"{E} electrode active material volume fraction"])
        thick = float(pv[f"{E} electrode thickness [m]"])
        cmax = float(pv[f"Maximum concentration in {electrode} electrode [mol.m-3]"])
        area = float(pv["Electrode height [m]"] * pv["Electrode width [m]"])
        n_par = float(pv["Number of electrodes connected in parallel to make a cell"])
    except (KeyError, TypeError) as exc:
        raise CasipInputError(
            Problem("stages", "the balance stage needs one particle phase per electrode with "
                    f"constant volume fraction, thickness and maximum concentration ({exc})",
                    "balance", "a setup with single-phase electrodes, or skip 'balance'")
        ) from None
    return eps * thick * area * n_par * cmax * 96485.33212 / 3600.0


def _stoichiometries(pv: pybamm.ParameterValues) -> tuple[float, float]:
    x = float(pv["Initial concentration in negative electrode [mol.m-3]"]) / float(
        pv["Maximum concentration in negative electrode [mol.m-3]"])
    y = float(pv["Initial concentration in positive electrode [mol.m-3]"]) / float(
        pv["Maximum concentration in positive electrode [mol.m-3]"])
    return x, y


def _balance_stage(setup, pv, fit, balance_max_c_rate, optimiser, max_evaluations, seed,
                   progress):
    pybop = _pybop()
    q_cell = float(setup.capacity_Ah)
    low = [c for c in fit
           if np.nanmax(np.abs(c.current_pybamm)) <= balance_max_c_rate * q_cell * (1 + 1e-6)]
    if not low:
        return None, (
            f"no fit case runs at or below C/{1 / balance_max_c_rate:g} "
            f"({balance_max_c_rate * q_cell:.3g} A on the setup's {q_cell:.3g} Ah): the "
            "electrode balance is kept from the setup")
    q_n = _electrode_capacity_ah(pv, "negative")
    q_p = _electrode_capacity_ah(pv, "positive")
    # start: the setup's state at the first case's rest voltage (or its own state)
    pv0 = pv.copy()
    c0 = low[0]
    apply_initial_state(pv0, setup, c0.profile, c0.mask, c0.factor, c0.case.initial_soc)
    x_start, y_start = _stoichiometries(pv0)
    starts = {"x0": x_start, "y0": y_start, "negative_capacity_factor": 1.0,
              "positive_capacity_factor": 1.0, "low_rate_resistance": 0.0}
    # a capacity factor cannot grow the active material past the electrode's solid volume
    spec = []
    for name, b, log, _ in BALANCE_PARAMETERS:
        if name.endswith("_capacity_factor"):
            E = "Negative" if name.startswith("negative") else "Positive"
            eps = float(pv[f"{E} electrode active material volume fraction"])
            por = float(pv[f"{E} electrode porosity"])
            b = (b[0], max(min(b[1], (1.0 - por) / eps), 1.0))
        spec.append((name, b, log))
    starts = {name: _inside(*b, starts[name], log) for name, b, log in spec}
    params = {name: _parameter(*b, starts[name], log) for name, b, log in spec}
    # each low-rate case starts from its own rest: x0/y0 fitted for the first, the others
    # continue on the same lithium line from their own measured rest (independent cases
    # would need their own x0, y0; the common case is one slow discharge)
    sim = _BalanceSimulator(pv, low[:1], q_n, q_p, params)
    data_v = low[0].voltage
    ds = pybop.Dataset({"Time [s]": np.arange(len(data_v), dtype=float), "Voltage [V]": data_v,
                        "Current [A]": np.zeros(len(data_v))})
    problem = _counting(pybop.Problem(sim, pybop.SumSquaredError(ds)), progress)
    x0 = {k: starts[k] for k in params}
    before = _rmse(sim.voltages(x0), data_v)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no PDE here (a millisecond per evaluation): a ten times larger budget and patience,
        # as x0 and the negative's capacity trade off when the data span part of its range
        res = _optimiser(problem, optimiser, 10 * max_evaluations, seed, unchanged=150).run()
    best = {k: float(v) for k, v in res.best_inputs.items()}
    after = _rmse(sim.voltages(best), data_v)
    message = str(res.message)
    if not after <= before:  # a population method need not evaluate the start itself
        best, after = dict(x0), before
        message += "; no point better than the start was found: the start is kept"

    def residuals(x):
        return sim.voltages(x) - data_v

    table, corr, cond = _identifiability(residuals, best, spec, starts)
    table.insert(1, "pybamm_name", [
        "Initial concentration in negative electrode [mol.m-3] / max",
        "Initial concentration in positive electrode [mol.m-3] / max",
        "Negative electrode active material volume fraction",
        "Positive electrode active material volume fraction",
        "(balance stage only)",
    ])
    table.insert(2, "kind", ["value", "value", "factor", "factor", "value"])
    stage = StageResult(
        stage="balance", parameters=table, correlations=corr, condition_number=cond,
        cases=[low[0].case.label], points=len(data_v), rmse_before_mV=before * 1e3,
        rmse_after_mV=after * 1e3, optimiser=optimiser, evaluations=int(res.n_evaluations),
        seconds=time.perf_counter() - t0, message=message)
    # the balance as PyBaMM values: scaled volume fractions, the fitted lithium at the start
    fn, fp = best["negative_capacity_factor"], best["positive_capacity_factor"]
    over = {
        "Negative electrode active material volume fraction":
            float(pv["Negative electrode active material volume fraction"]) * fn,
        "Positive electrode active material volume fraction":
            float(pv["Positive electrode active material volume fraction"]) * fp,
        "Initial concentration in negative electrode [mol.m-3]":
            best["x0"] * float(pv["Maximum concentration in negative electrode [mol.m-3]"]),
        "Initial concentration in positive electrode [mol.m-3]":
            best["y0"] * float(pv["Maximum concentration in positive electrode [mol.m-3]"]),
    }
    for k in ("Negative electrode active material volume fraction",
              "Positive electrode active material volume fraction"):
        por = k.replace("active material volume fraction", "porosity")
        if over[k] + float(pv[por]) > 1.0 + 1e-9:
            raise CasipInputError(
                Problem("balance", f"the fitted capacity needs {k.lower()} {over[k]:.3f}, "
                        f"which with the porosity {float(pv[por]):.3f} exceeds the electrode "
                        "volume: the data disagree with the setup's geometry or OCPs",
                        over[k], "a fraction below 1 - porosity"))
    return (stage, over), None


# ---- stage 2: kinetics and transport ------------------------------------------------------


def _factor_name(f: Fittable) -> str:
    return _FACTOR + f.pybamm_name


def _with_factor(pv: pybamm.ParameterValues, name: str, factor: object) -> None:
    """Multiply the value or function ``name`` of ``pv`` by ``factor`` (a number, or a
    ``pybamm.Parameter`` that PyBOP turns into an input)."""
    orig = pv[name]
    if callable(orig):
        def scaled(*args, _o=orig, _k=factor):
            return _o(*args) * _k
        pv[name] = scaled
    else:
        pv[name] = float(orig) * factor if isinstance(factor, int | float) else orig * factor


def _stage_pv(pv: pybamm.ParameterValues, chosen: Sequence[Fittable], values: Mapping,
              as_inputs: bool) -> pybamm.ParameterValues:
    """A copy of ``pv`` with the chosen parameters as PyBOP parameters (``as_inputs``) or set
    to ``values``."""
    out = pv.copy()
    for f in chosen:
        v = values[f.key]
        if f.kind == "factor":
            fname = _factor_name(f)
            if as_inputs:
                out.update({fname: 1.0}, check_already_exists=False)
                _with_factor(out, f.pybamm_name, pybamm.Parameter(fname))
                out[fname] = v
            else:
                _with_factor(out, f.pybamm_name, float(v))
        else:
            if f.pybamm_name not in out.keys():
                out.update({f.pybamm_name: 0.0}, check_already_exists=False)
            out[f.pybamm_name] = v
    return out


def _model(setup: PhysicsSetup, chosen: Sequence[Fittable], model: str, thermal: str):
    options = dict(setup.model_options)
    if any(f.key == "contact_resistance" for f in chosen) or \
            "Contact resistance [Ohm]" in setup.parameter_values.keys():
        options["contact resistance"] = "true"
    if thermal != "isothermal":
        options["thermal"] = thermal
    cls = pybamm.lithium_ion.DFN if model == "DFN" else pybamm.lithium_ion.SPMe
    return cls(options=options), options


def _case_pv(base: pybamm.ParameterValues, setup: PhysicsSetup, c: _Prepared):
    pv = base.copy()
    pv.update({"Ambient temperature [K]": c.ambient_c + 273.15,
               "Initial temperature [K]": c.initial_c + 273.15}, check_already_exists=False)
    apply_initial_state(pv, setup, c.profile, c.mask, c.factor, c.case.initial_soc)
    return pv


def _kinetics_stage(setup, pv, fit, chosen, bounds, model, thermal, optimiser, max_evaluations,
                    seed, progress):
    pybop = _pybop()
    pmodel, _ = _model(setup, chosen, model, thermal)
    if any(f.key == "contact_resistance" for f in chosen) and \
            "Contact resistance [Ohm]" not in pv.keys():
        pv = pv.copy()
        pv.update({"Contact resistance [Ohm]": 0.0}, check_already_exists=False)
    starts = {}
    for f in chosen:
        if f.kind == "factor":
            starts[f.key] = 1.0
        else:
            starts[f.key] = float(pv[f.pybamm_name]) if f.pybamm_name in pv.keys() else 0.0
    starts = {f.key: _inside(*bounds[f.key], starts[f.key], f.log) for f in chosen}
    sims, problems = [], []
    for c in fit:
        cpv = _case_pv(pv, setup, c)
        params_pv = _stage_pv(cpv, chosen, {
            f.key: _parameter(*bounds[f.key], starts[f.key], f.log) for f in chosen},
            as_inputs=True)
        # PyBOP keys the inputs by the names in the parameter values: the factor names
        ds = pybop.Dataset({"Time [s]": c.t_rel, "Current [A]": c.current_pybamm,
                            "Voltage [V]": c.voltage})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = pybop.pybamm.Simulator(pmodel, parameter_values=params_pv, protocol=ds)
        sims.append(sim)
        problems.append(pybop.Problem(sim, pybop.SumSquaredError(ds)))
    # PyBOP prints a line per parameter shared by the cases' problems: expected here
    with contextlib.redirect_stdout(io.StringIO()):
        joined = pybop.MetaProblem(*problems) if len(problems) > 1 else problems[0]
    problem = _counting(joined, progress)
    key_of = {(_factor_name(f) if f.kind == "factor" else f.pybamm_name): f.key for f in chosen}
    name_of = {v: k for k, v in key_of.items()}
    data_v = np.concatenate([c.voltage for c in fit])

    def simulate(x: Mapping[str, float]) -> np.ndarray:
        inputs = {name_of[k]: float(v) for k, v in x.items()}
        out = []
        for sim in sims:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = sim.solve(inputs)
            try:
                out.append(np.asarray(sol[_VOLTAGE].data, dtype=float))
            except Exception:
                return np.full(len(data_v), np.nan)
        v = np.concatenate(out)
        return v if len(v) == len(data_v) else np.full(len(data_v), np.nan)

    start_in = dict(starts)
    before = _rmse(simulate(start_in), data_v)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _optimiser(problem, optimiser, max_evaluations, seed).run()
    best = {key_of[k]: float(v) for k, v in res.best_inputs.items()}
    after = _rmse(simulate(best), data_v)
    message = str(res.message)
    if not after <= before:  # a population method need not evaluate the start itself
        best, after = dict(start_in), before
        message += "; no point better than the start was found: the start is kept"
    table, corr, cond = _identifiability(
        lambda x: simulate(x) - data_v, best,
        [(f.key, bounds[f.key], f.log) for f in chosen], start_in)
    table.insert(1, "pybamm_name", [f.pybamm_name for f in chosen])
    table.insert(2, "kind", [f.kind for f in chosen])
    stage = StageResult(
        stage="kinetics_transport", parameters=table, correlations=corr, condition_number=cond,
        cases=[c.case.label for c in fit], points=len(data_v),
        rmse_before_mV=before * 1e3, rmse_after_mV=after * 1e3, optimiser=optimiser,
        evaluations=int(res.n_evaluations), seconds=time.perf_counter() - t0,
        message=message)
    return stage, best


def _rmse(sim: np.ndarray, meas: np.ndarray) -> float:
    e = np.asarray(sim, float) - np.asarray(meas, float)
    e = e[np.isfinite(e)]
    return float(np.sqrt(np.mean(e**2))) if e.size else math.nan


def _identifiability(residuals: Callable[[Mapping[str, float]], np.ndarray],
                     best: Mapping[str, float], spec: Sequence[tuple[str, tuple, bool]],
                     initial: Mapping[str, float]):
    """Parameter table, correlation matrix and condition number from the residual Jacobian
    (central differences on the search scale) at the optimum."""
    names = [s[0] for s in spec]
    r0 = residuals(best)
    ok = np.isfinite(r0)
    n, p = int(ok.sum()), len(names)
    J = np.zeros((n, p))
    for k, (name, (lo, hi), log) in enumerate(spec):
        x = float(best[name])
        if log:
            h = 0.01
            up, dn = dict(best), dict(best)
            up[name], dn[name] = x * math.exp(h), x * math.exp(-h)
            step = 2 * h
        else:
            h = max(1e-3 * (hi - lo), 1e-6)
            up, dn = dict(best), dict(best)
            up[name], dn[name] = min(x + h, hi), max(x - h, lo)
            step = up[name] - dn[name]
        ru, rd = residuals(up), residuals(dn)
        J[:, k] = (ru[ok] - rd[ok]) / step if step > 0 else 0.0
    J = np.nan_to_num(J)
    sse = float(np.sum(r0[ok] ** 2))
    s2 = sse / max(n - p, 1)
    jtj = J.T @ J
    with np.errstate(all="ignore"):
        ev = np.linalg.eigvalsh(jtj) if p else np.array([1.0])
        cond = float(ev.max() / ev.min()) if ev.min() > 0 else math.inf
        try:
            cov = s2 * np.linalg.inv(jtj) if np.isfinite(cond) and cond < 1e14 else None
        except np.linalg.LinAlgError:
            cov = None
    if cov is None:
        std = np.full(p, math.inf)
        corr = np.full((p, p), np.nan)
    else:
        std = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(all="ignore"):
            corr = cov / np.outer(std, std)
    rows = []
    for k, (name, (lo, hi), log) in enumerate(spec):
        x = float(best[name])
        if log:
            # beyond e^20 the figure only says "undetermined"
            rel = float(math.expm1(std[k])) if std[k] < 20.0 else math.inf
        else:
            rel = float(std[k] / abs(x)) if x != 0 and math.isfinite(std[k]) else math.inf
        others = [abs(corr[k, j]) for j in range(p) if j != k and np.isfinite(corr[k, j])]
        max_corr = max(others) if others else 0.0
        tol = 1e-3 * (hi - lo) if not log else 1e-3 * x
        at_bound = bool(abs(x - lo) <= tol or abs(x - hi) <= tol)
        if rel < IDENTIFIED_REL_STD and max_corr < CORRELATION_LIMIT:
            verdict = "identified"
        elif rel < WEAK_REL_STD:
            verdict = "weak" + (f" (correlated {max_corr:.2f})" if max_corr >= CORRELATION_LIMIT
                                else "")
        else:
            verdict = "not identifiable"
        rows.append({"parameter": name, "initial": float(initial.get(name, math.nan)),
                     "fitted": x, "lower": lo, "upper": hi, "std": float(std[k]),
                     "rel_std": rel, "max_abs_correlation": max_corr, "at_bound": at_bound,
                     "identifiability": verdict})
    table = pd.DataFrame(rows)
    corr_df = pd.DataFrame(corr, index=names, columns=names)
    return table, corr_df, cond


# --------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------


def _apply(setup: PhysicsSetup, overrides: Mapping[str, Any], factors: Mapping[str, float],
           origin: str, name: str | None = None) -> PhysicsSetup:
    pv = setup.parameter_values.copy()
    options = dict(setup.model_options)
    mapping = dict(setup.mapping)
    for k, v in overrides.items():
        if k == "Contact resistance [Ohm]":
            options["contact resistance"] = "true"
        pv.update({k: v}, check_already_exists=False)
        mapping[k] = Mapped(v, origin)
    for k, f in factors.items():
        _with_factor(pv, k, float(f))
        old = mapping.get(k)
        mapping[k] = Mapped(f"x{f:.4g} on the setup's value",
                            f"{origin}; before: {old.origin if old else 'the setup'}")
    return PhysicsSetup(
        name=name or f"{setup.name} (calibrated)",
        approximation=setup.approximation,
        base_set=setup.base_set,
        model_options=options,
        parameter_values=pv,
        metrics=setup.metrics,
        mapping=mapping,
        notes=[*setup.notes, origin],
    )


def apply_calibration(setup_or_design: Any, record: Mapping[str, Any] | str | os.PathLike,
                      ) -> PhysicsSetup:
    """Re-apply a calibration record to the setup it was fitted on: the calibrated variant.

    Parameters
    ----------
    setup_or_design : PhysicsSetup, Design, dict or str
        The same setup (or design, mapped with ``parameters_for``) the record was fitted on.
    record : dict or path
        :meth:`CalibrationResult.to_record`, or a JSON file written by
        :meth:`CalibrationResult.save`.

    Returns
    -------
    PhysicsSetup

    Raises
    ------
    CasipInputError
        A record of another format, or one that names a parameter the setup does not have.
    """
    source = None
    if isinstance(record, str | os.PathLike):
        source = str(record)
        try:
            record = json.loads(Path(record).read_text())
        except (OSError, ValueError) as exc:
            raise CasipInputError(Problem("", f"not a calibration record: {exc}"),
                                  source=source) from None
    if not isinstance(record, Mapping) or record.get("format") != RECORD_FORMAT:
        raise CasipInputError(
            Problem("format", "not a CASIP calibration record",
                    record.get("format") if isinstance(record, Mapping) else type(record),
                    RECORD_FORMAT), source=source)
    setup = _setup_of(setup_or_design)
    keys = set(setup.parameter_values.keys())
    for k in record.get("factors", {}):
        if k not in keys:
            raise CasipInputError(
                Problem("factors", f"the setup {setup.name!r} has no such parameter", k,
                        "the setup the record was fitted on"), source=source)
    if record.get("setup") and record["setup"] != setup.name:
        warnings.warn(
            f"calibration record fitted on {record['setup']!r} applied to {setup.name!r}",
            stacklevel=2)
    origin = (f"calibrated {record.get('created', '')} on "
              f"{', '.join(record.get('fit_cases', []))} (casip.calibration/1)")
    return _apply(setup, record.get("overrides", {}), record.get("factors", {}), origin)


# --------------------------------------------------------------------------------------------
# calibrate
# --------------------------------------------------------------------------------------------


def calibrate(
    setup_or_design: Any,
    fit: Sequence[FitCase],
    *,
    held_back: Sequence[FitCase] = (),
    stages: Sequence[str] = _STAGES,
    parameters: Sequence[str] = DEFAULT_KINETICS_TRANSPORT,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    model: Literal["DFN", "SPMe"] = "SPMe",
    thermal: Literal["isothermal", "lumped"] = "isothermal",
    optimiser: str = "XNES",
    max_evaluations: int = 600,
    max_points: int = 1500,
    balance_max_c_rate: float = BALANCE_MAX_C_RATE,
    seed: int | None = 0,
    progress: Callable[[dict], None] | None = None,
) -> CalibrationResult:
    """Fit a setup's uncertain parameters to measured protocols in stages (see the module).

    Parameters
    ----------
    setup_or_design : PhysicsSetup, Design, dict or str
        What to calibrate (as :func:`~casip.physics.replay.replay` takes it).
    fit : sequence of FitCase
        The protocols to fit on (at least one).
    held_back : sequence of FitCase
        Protocols not fitted on: replayed before and after to report the prediction error.
    stages : sequence of str
        ``"balance"`` and/or ``"kinetics_transport"``, run in that order.
    parameters : sequence of str
        Keys of :data:`FITTABLE` for the kinetics-and-transport stage.
    bounds : mapping, optional
        Key -> (lower, upper) replacing :data:`FITTABLE`'s default bounds.
    model : {"SPMe", "DFN"}
        The model of the kinetics-and-transport stage (SPMe by default: several times faster;
        the checks replay with the same model).
    thermal : {"isothermal", "lumped"}
    optimiser : {"XNES", "CMAES", "NelderMead", "SciPyMinimize"}
        PyBOP optimiser of each stage.
    max_evaluations : int
        Budget per stage.
    max_points : int
        Rows per case kept for the fit (step edges always kept).
    balance_max_c_rate : float
        Cases whose largest current is at most this C-rate feed the balance stage.
    seed : int, optional
        Seed of the optimisers' random draws (reproducible fits).
    progress : callable, optional
        Called with ``{"stage", "evaluations", "fraction", "best_cost"}`` after every batch of
        evaluations; an exception raised from it stops the fit and propagates.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CasipInputError
        No fit case, an unknown stage or parameter, bounds that do not contain the start, a
        case that cannot be replayed under its rules, or a stage that cannot run on this
        setup (the message says why).
    """
    if not fit:
        raise CasipInputError(Problem("fit", "no protocol to fit on", 0, "at least one FitCase"))
    for s in stages:
        if s not in _STAGES:
            raise CasipInputError(Problem("stages", "unknown stage", s, ", ".join(_STAGES)))
    if model not in ("DFN", "SPMe"):
        raise CasipInputError(Problem("model", "unknown model", model, "DFN or SPMe"))
    if thermal not in ("isothermal", "lumped"):
        raise CasipInputError(Problem("thermal", "unknown thermal option", thermal,
                                      "isothermal or lumped"))
    if not (int(max_evaluations) >= 20):
        raise CasipInputError(Problem("max_evaluations", "too small a budget", max_evaluations,
                                      "at least 20 evaluations per stage"))
    labels = [c.label for c in [*fit, *held_back]]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise CasipInputError(Problem("label", "case labels must be unique", ", ".join(dup),
                                      "one label per case"))
    chosen: list[Fittable] = []
    for k in parameters:
        if k not in FITTABLE:
            why = "not a fittable parameter"
            if any(g in str(k).lower() for g in ("thickness", "radius", "area", "width",
                                                  "height", "length")):
                why = ("geometry is not fitted: PyBaMM cannot take it as an input (the mesh "
                       "depends on it), so every evaluation would rebuild the model; fix the "
                       "geometry in the design and fit transport or kinetics instead")
            raise CasipInputError(Problem("parameters", why, k, ", ".join(FITTABLE)))
        chosen.append(FITTABLE[k])
    bnds = {f.key: tuple(map(float, (bounds or {}).get(f.key, f.bounds))) for f in chosen}
    for k, (lo, hi) in bnds.items():
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo) or \
                (FITTABLE[k].log and lo <= 0):
            raise CasipInputError(Problem("bounds", f"bad bounds for {k}", (lo, hi),
                                          "finite lower < upper (positive for factors)"))
    if "kinetics_transport" in stages and not chosen:
        raise CasipInputError(Problem("parameters", "the kinetics_transport stage has nothing "
                                      "to fit", [], "one or more of " + ", ".join(FITTABLE)))

    original = _setup_of(setup_or_design)
    prepared = [_prepare(original, c, max_points) for c in fit]
    budget = max_evaluations * len(stages)
    prog = _Progress(progress, budget)
    results: list[StageResult] = []
    overrides: dict[str, Any] = {}
    factors: dict[str, float] = {}
    warns: list[str] = []
    pv = original.parameter_values.copy()
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

    if "balance" in stages:
        prog.stage = "balance"
        out, why = _balance_stage(original, pv, prepared, balance_max_c_rate, optimiser,
                                  max_evaluations, seed, prog)
        if out is None:
            results.append(_skipped("balance", why))
            warns.append(f"balance stage skipped: {why}")
        else:
            st, over = out
            results.append(st)
            overrides.update(over)
            pv.update(over, check_already_exists=False)
    if "kinetics_transport" in stages:
        prog.stage = "kinetics_transport"
        interim = _apply(original, overrides, {}, "interim") if overrides else original
        st, best = _kinetics_stage(interim, interim.parameter_values, prepared, chosen, bnds,
                                   model, thermal, optimiser, max_evaluations, seed, prog)
        results.append(st)
        for f in chosen:
            if f.kind == "factor":
                factors[f.pybamm_name] = best[f.key]
            else:
                overrides[f.pybamm_name] = best[f.key]
    for st in results:
        if st.skipped:
            continue
        for r in st.parameters.itertuples():
            if r.at_bound:
                warns.append(f"{st.stage}: {r.parameter} ended at its bound ({r.fitted:.4g}); "
                             "widen the bound or question the model")
            if r.identifiability != "identified":
                warns.append(f"{st.stage}: {r.parameter} is {r.identifiability} from these data "
                             f"(relative standard error {r.rel_std:.2g})")
        if "Maximum number of evaluations" in st.message or \
                "Maximum number of iterations" in st.message:
            warns.append(f"{st.stage}: the optimiser stopped on its budget ({st.evaluations} "
                         "evaluations), not on convergence: the fitted values and their "
                         "identifiability are taken at the last best point; raise "
                         "max_evaluations to check")
        if not st.rmse_after_mV < st.rmse_before_mV:
            warns.append(f"{st.stage}: the fit did not lower the error "
                         f"({st.rmse_before_mV:.1f} -> {st.rmse_after_mV:.1f} mV)")

    origin = (f"calibrated {created} with PyBOP on {', '.join(c.label for c in fit)} "
              f"(stages: {', '.join(s.stage for s in results if not s.skipped)})")
    calibrated = _apply(original, overrides, factors, origin)
    record = {
        "format": RECORD_FORMAT,
        "setup": original.name,
        "base_set": original.base_set,
        "created": created,
        "software": {"casip": casip.__version__, "pybamm": pybamm.__version__,
                     "pybop": _pybop().__version__},
        "model": model,
        "thermal": thermal,
        "optimiser": optimiser,
        "fit_cases": [c.label for c in fit],
        "held_back_cases": [c.label for c in held_back],
        "cases": [_case_record(c) for c in [*fit, *held_back]],
        "overrides": overrides,
        "factors": factors,
        "stages": [
            {"stage": s.stage, "skipped": s.skipped, "points": s.points,
             "rmse_before_mV": s.rmse_before_mV, "rmse_after_mV": s.rmse_after_mV,
             "evaluations": s.evaluations, "seconds": s.seconds, "message": s.message,
             "condition_number": s.condition_number if math.isfinite(s.condition_number)
             else None,
             "parameters": json.loads(s.parameters.to_json(orient="records")),
             "correlations": json.loads(s.correlations.to_json(orient="split"))}
            for s in results
        ],
    }

    # checks: every case replayed with the same rules before and after
    replays: dict[tuple[str, str], ReplayResult] = {}
    rows = []
    for role, cases in (("fit", fit), ("held back", held_back)):
        for c in cases:
            row = {"case": c.label, "role": role}
            for when, s in (("before", original), ("after", calibrated)):
                r = replay(s, c.profile, scale=c.scale, window=c.window,
                           initial_soc=c.initial_soc, temperature_c=c.temperature_c,
                           tested_capacity_ah=c.tested_capacity_ah, model=model,
                           thermal=thermal)
                replays[(c.label, when)] = r
                row[f"rmse_{when}_mV"] = r.rmse_v * 1e3
                row[f"max_{when}_mV"] = r.max_error_v * 1e3
                row[f"stopped_{when}"] = r.stop_reason if r.stopped_early else ""
                # an early stop is scored on the rows it reached: say how many
                row[f"coverage_{when}"] = float(np.isfinite(r.simulated_voltage_v).mean())
            rows.append(row)
            worse = (row["coverage_after"] < row["coverage_before"] - 1e-9
                     or not row["rmse_after_mV"] <= row["rmse_before_mV"])
            if worse:
                what = "held-back case" if role == "held back" else "fitted case"
                warns.append(
                    f"{what} {c.label!r}: the calibrated replay is worse "
                    f"({row['rmse_before_mV']:.1f} -> {row['rmse_after_mV']:.1f} mV over "
                    f"{row['coverage_before']:.0%} -> {row['coverage_after']:.0%} of the rows)")
    cols = ["case", "role", "rmse_before_mV", "rmse_after_mV", "max_before_mV", "max_after_mV",
            "coverage_before", "coverage_after", "stopped_before", "stopped_after"]
    table = pd.DataFrame(rows, columns=cols)
    record["fit_errors"] = json.loads(table[table.role == "fit"].to_json(orient="records"))
    record["prediction_errors"] = json.loads(
        table[table.role == "held back"].to_json(orient="records"))
    record["warnings"] = warns
    record = _json_safe(record)
    return CalibrationResult(
        setup=calibrated, original=original, stages=results,
        fit_errors=table[table.role == "fit"].reset_index(drop=True),
        prediction_errors=table[table.role == "held back"].reset_index(drop=True),
        replays=replays, overrides=overrides, record=record, warnings=warns)


def _json_safe(obj: Any) -> Any:
    """The record with every non-finite number as None (strict JSON, PostgreSQL's jsonb)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.floating):
        return _json_safe(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _skipped(stage: str, why: str) -> StageResult:
    empty = pd.DataFrame(columns=["parameter", "pybamm_name", "kind", "initial", "fitted",
                                  "lower", "upper", "std", "rel_std", "max_abs_correlation",
                                  "at_bound", "identifiability"])
    return StageResult(stage=stage, parameters=empty, correlations=pd.DataFrame(),
                       condition_number=math.nan, cases=[], points=0, rmse_before_mV=math.nan,
                       rmse_after_mV=math.nan, optimiser="", evaluations=0, seconds=0.0,
                       message="", skipped=why)


def _case_record(c: FitCase) -> dict[str, Any]:
    p = as_profile(c.profile)
    return {"label": c.label, "source": p.source, "window": list(c.window) if c.window else None,
            "scale": c.scale, "initial_soc": c.initial_soc, "temperature_c": c.temperature_c,
            "tested_capacity_ah": c.tested_capacity_ah}


__all__ = [
    "BALANCE_PARAMETERS",
    "DEFAULT_KINETICS_TRANSPORT",
    "FITTABLE",
    "RECORD_FORMAT",
    "CalibrationResult",
    "FitCase",
    "Fittable",
    "StageResult",
    "apply_calibration",
    "calibrate",
]
