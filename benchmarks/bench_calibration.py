"""Benchmark: calibration -- CASIP's ``calibrate`` against PyBOP used directly and a naive rebuild.

Claim checked (issue 14, "Performance"): a calibration of a handful of parameters on a few
thousand data points finishes in minutes on 2 cores, because the model is built once with the
fitted parameters as PyBaMM ``[input]`` s; CASIP's overhead over PyBOP used directly on the same
problem is small; and a geometry parameter (an electrode thickness), which cannot be an input,
forces a rebuild per evaluation.

The problem (one run, everything on it):

* **data**: "measured" voltages simulated by raw PyBaMM (SPMe with a contact resistance, PyBaMM's
  ``Chen2020`` set for the LG M50 cell [1]_) with known values of four parameters -- a contact
  resistance and factors on the negative and positive particle diffusivities and on the positive
  exchange-current density (:data:`TRUTH`) -- for two current-step protocols (a 1C and a 2C
  discharge between rests, :data:`PROTOCOLS`), 3,069 points in all, plus Gaussian noise of
  ``--noise-mv`` (default 1 mV, seeded). The fit takes each case's initial state from its
  (noisy) rest voltage, as CASIP does, so even the known values leave about 1.7 mV RMSE;
* **(a) CASIP**: :func:`casip.physics.calibration.calibrate` on the ``pybamm:Chen2020`` setup,
  stage ``"kinetics_transport"`` only, SPMe, XNES, the four parameters of :data:`PARAMETERS`
  (calibrate's default ``DEFAULT_KINETICS_TRANSPORT``), ``--evaluations`` budget, seed 0,
  every data point kept (``max_points`` above the data). Its wall time includes what the
  optimiser does not: preparing the cases, building the model, the identifiability Jacobian and
  the before/after replays of the fit cases; the optimiser's own time and evaluation count are
  the stage's ``seconds`` and ``evaluations``;
* **(b) PyBOP directly**: the same model, data, parameters (same bounds, starts, steps, log
  transformations, order), optimiser, options, budget and seed, written by hand against PyBOP
  26.3 and PyBaMM -- one :class:`pybop.pybamm.Simulator` per protocol, a
  :class:`pybop.MetaProblem` of :class:`pybop.SumSquaredError` s, :class:`pybop.XNES`. PyBOP
  26.3 starts its population-based optimisers (XNES, CMA-ES) at the *mean* of each parameter's
  distribution and steps by its *standard deviation*; for plain ``bounds`` (a uniform
  distribution on them) that is the bounds' mid-point and span/sqrt(12), whatever
  ``initial_value`` says. A PyBOP user who wants the search to start at given values therefore
  gives each parameter a distribution whose mean and standard deviation are the start and the
  step. (b) does that with a distribution written here by hand (:class:`StartedUniform`, not
  imported from CASIP): uniform on the bounds, mean = the start moved 1 % inside the bounds
  (of the span on a linear scale, a factor 1.01 on a log scale: contact resistance 0 -> 2 mOhm,
  factors 1), standard deviation = the step (log-scale factors 0.5 x the start in model space,
  i.e. 0.5 in ln x; the contact resistance 5 % of its span, 10 mOhm). These are the starts and
  steps ``calibrate`` documents, so (a) and (b) follow the same trajectory; the script checks
  that to a relative 1e-6 and says so (a NOTE if not: the overhead ratio then compares
  different evaluations);
* **(c) naive rebuild**: the same cost with the model built anew for every parameter vector
  (``build_every_time=True`` in PyBOP's simulator: a new ``pybamm.Simulation`` per evaluation,
  as without inputs), timed over ``--naive-evaluations`` parameter vectors and reported per
  evaluation; the whole fit is *not* run naively, its time is extrapolated from the
  per-evaluation time (stated as such in the output). For an apples-to-apples figure the
  built-once problem is also timed on the same vectors one at a time (no batching);
* **(d) geometry**: the positive electrode thickness as a fitted parameter. PyBOP finds that the
  model cannot be built with it as an input and rebuilds per evaluation; one evaluation is timed.
  CASIP does not offer thickness in ``calibrate`` (its error message is printed);
* **(e) the start that was a bug**: (b) again with plain ``bounds`` and ``initial_value``
  (PyBOP's default, a uniform distribution on the bounds, so XNES starts at the bounds'
  mid-point -- factors 50.005, contact resistance 0.1 Ohm -- with steps of span/sqrt(12):
  0.58 in ln x for the factors, 58 mOhm), which is where ``calibrate`` started
  before it gave its parameters started distributions (this benchmark found that). (e) shows
  what the same budget recovers from there, next to (a).

Time per evaluation runs from the end of the first batch of evaluations to the end of the last,
measured the same way for (a) and (b), in wall and in CPU seconds (all threads); (a) and (b)
are interleaved ``--repeat`` times and the medians reported. CPU time is the figure to trust on
the shared machine. Printed: wall times of (a) and (b), time per evaluation of each, the
overhead ratio (a)/(b) per evaluation, the speed-up (c)/(a) per evaluation, the geometry
evaluation and whether (a) recovered the known parameters (relative error of each), and (e)'s
errors for comparison. No timing is asserted anywhere.

Run: ``python benchmarks/bench_calibration.py [--evaluations 400] [--repeat 2] [--quick]``
(default 1.5-3 minutes on 2 shared cores; ``--quick`` 20-40 s).

References
----------
.. [1] C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
   "Development of experimental techniques for parameterization of multi-scale lithium-ion
   battery models", J. Electrochem. Soc. 167, 080534 (2020), doi:10.1149/1945-7111/ab9050.
.. [2] B. Planden et al., "PyBOP: A Python package for battery model optimisation and
   parameterisation", J. Open Source Softw. 10, 7874 (2025), doi:10.21105/joss.07874.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import statistics
import time
import warnings

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd
import pybamm
import pybop

from casip.errors import CasipInputError
from casip.physics.calibration import FITTABLE, FitCase, calibrate
from casip.physics.replay import Profile

BASE_SET = "Chen2020"
CAPACITY_AH = 5.0  # Chen2020's "Nominal cell capacity [A.h]" (LG M50)
TEMPERATURE_C = 25.0  # Chen2020's ambient and initial temperature, 298.15 K

#: The known parameter values the "measured" data are simulated with (factors multiply the
#: Chen2020 value or function). An assumption of this benchmark, chosen within the default
#: bounds and away from the fit's start (factors 1, contact resistance 0).
TRUTH = {
    "contact_resistance": 0.020,  # Ohm
    "negative_diffusivity": 2.0,
    "positive_diffusivity": 0.5,
    "positive_exchange_current": 0.5,
}
#: The fitted parameters (keys of casip.physics.calibration.FITTABLE), in calibrate's order;
#: the contact resistance first (it is a value, the others are factors).
PARAMETERS = tuple(TRUTH)

#: (label, C-rate of the discharge, rest before [s], discharge [s], rest after [s],
#: sampling interval [s], initial state of charge).
PROTOCOLS = (
    ("1C discharge", 1.0, 300.0, 2400.0, 900.0, 2.0, 0.95),
    ("2C discharge", 2.0, 300.0, 1000.0, 600.0, 1.5, 0.90),
)

CONTACT = "Contact resistance [Ohm]"
THICKNESS = "Positive electrode thickness [m]"


# --------------------------------------------------------------------------------------------
# the problem
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    """Silence warnings and PyBOP's "Discarding duplicate <parameter>." prints (printed when a
    MetaProblem joins the protocols' identical parameter sets)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _scaled(pv: pybamm.ParameterValues, name: str, factor: object) -> None:
    """Multiply the value or function ``name`` of ``pv`` by ``factor`` in place."""
    base = pv[name]
    if callable(base):
        pv[name] = lambda *args, _b=base, _k=factor: _b(*args) * _k
    else:
        pv[name] = base * factor


def _model() -> pybamm.BaseModel:
    return pybamm.lithium_ion.SPMe(options={"contact resistance": "true"})


def protocol(c_rate: float, rest0: float, on: float, rest1: float, dt: float):
    """Time [s] and current [A] (PyBaMM sign, positive on discharge) of rest-discharge-rest."""
    t = np.arange(0.0, rest0 + on + rest1 + 0.5 * dt, dt)
    i = np.where((t > rest0) & (t <= rest0 + on), c_rate * CAPACITY_AH, 0.0)
    return t, i


def synthetic_data(noise_mv: float, seed: int = 1) -> list[dict]:
    """The "measured" cases: raw PyBaMM with the known parameters, plus seeded noise."""
    rng = np.random.default_rng(seed)
    out = []
    for label, c_rate, rest0, on, rest1, dt, soc0 in PROTOCOLS:
        t, i = protocol(c_rate, rest0, on, rest1, dt)
        pv = pybamm.ParameterValues(BASE_SET)
        pv.update({CONTACT: TRUTH["contact_resistance"]}, check_already_exists=False)
        for key in ("negative_diffusivity", "positive_diffusivity", "positive_exchange_current"):
            _scaled(pv, FITTABLE[key].pybamm_name, TRUTH[key])
        pv["Current function [A]"] = pybamm.Interpolant(t, i, pybamm.t)
        pv.set_initial_state(soc0)
        sim = pybamm.Simulation(_model(), parameter_values=pv,
                                solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-8))
        sol = sim.solve([t[0], t[-1]], t_interp=t)
        v = np.asarray(sol["Voltage [V]"].data, dtype=float)
        if len(v) != len(t):
            raise RuntimeError(f"{label}: the synthetic run stopped early ({len(v)} of {len(t)})")
        v = v + rng.normal(0.0, noise_mv * 1e-3, len(v))
        out.append({"label": label, "t": t, "i": i, "v": v})
    return out


def fit_cases(data: list[dict]) -> list[FitCase]:
    """The cases as CASIP sees them (a profile each; CASIP's current is positive on charge)."""
    cases = []
    for d in data:
        frame = pd.DataFrame({"time_s": d["t"], "current_a": -d["i"], "voltage_v": d["v"]})
        prof = Profile.from_frame(frame, source=f"synthetic {d['label']}")
        cases.append(FitCase(d["label"], prof, scale="amps", temperature_c=TEMPERATURE_C))
    return cases


def _pints_options(budget: int) -> pybop.PintsOptions:
    """The options CASIP's calibrate gives PINTS optimisers for a budget (read from its source:
    calibration._optimiser), repeated so that (b) runs the same optimiser: the budget bounds
    both the evaluations and the iterations (so the evaluations are what stops it)."""
    return pybop.PintsOptions(
        max_iterations=budget, max_evaluations=budget,
        max_unchanged_iterations=25, absolute_tolerance=1e-9, relative_tolerance=1e-4)


class StartedUniform(pybop.Uniform):
    """Uniform on ``[lower, upper]`` whose ``mean()`` and ``std()`` are a chosen start and step.

    PyBOP 26.3 starts population-based optimisers at each parameter's ``distribution.mean()``
    and takes ``distribution.std()`` (converted to the search scale) as the initial step; the
    bounds stay the distribution's support. Written here by hand (not imported from CASIP) so
    that (b) is what a PyBOP user would write, and (a) = (b) checks ``calibrate``.
    """

    def __init__(self, lower: float, upper: float, start: float, step: float) -> None:
        super().__init__(lower, upper)
        self.start, self.step = float(start), float(step)

    def mean(self) -> float:
        return self.start

    def std(self) -> float:
        return self.step


def started_parameter(lo: float, hi: float, x0: float, log: bool) -> pybop.Parameter:
    """A parameter on ``[lo, hi]`` that XNES starts at ``x0`` moved 1 % inside the bounds
    (of the span on a linear scale, a factor 1.01 on a log scale), with the step ``calibrate``
    documents: 0.5 x the start in model space on a log scale (0.5 in ln x), else 5 % of the
    span."""
    if log:
        x0 = min(max(x0, lo * 1.01), hi / 1.01)
        dist = StartedUniform(lo, hi, x0, 0.5 * x0)
        return pybop.Parameter(distribution=dist, initial_value=x0,
                               transformation=pybop.LogTransformation())
    span = hi - lo
    x0 = min(max(x0, lo + 0.01 * span), hi - 0.01 * span)
    return pybop.Parameter(distribution=StartedUniform(lo, hi, x0, 0.05 * span),
                           initial_value=x0)


def plain_parameter(lo: float, hi: float, x0: float, log: bool) -> pybop.Parameter:
    """A parameter with plain bounds and an initial value ((e): PyBOP gives it a uniform
    distribution on the bounds, so XNES starts at their mid-point with a step of span/sqrt(12);
    ``x0`` is unused by it)."""
    if log:
        return pybop.Parameter(bounds=[lo, hi], initial_value=x0,
                               transformation=pybop.LogTransformation())
    return pybop.Parameter(bounds=[lo, hi], initial_value=x0)


def pybop_problem(data: list[dict], *, geometry: bool = False, build_every_time: bool = False,
                  started: bool = True):
    """(b) by hand: one PyBOP simulator and SSE per protocol, joined in a MetaProblem.

    The parameters are declared in the order, with the bounds, starts, steps and
    transformations, that ``calibrate`` uses for :data:`PARAMETERS` (contact resistance on a
    linear scale from 0, moved to 2 mOhm; factors on a log scale from 1), through
    :func:`started_parameter`; with ``started=False`` through :func:`plain_parameter` instead
    ((e)). With ``geometry`` the positive electrode thickness (+-20 % of Chen2020's, plain
    bounds) is fitted too.
    """
    make = started_parameter if started else plain_parameter
    model = _model()
    problems, sims = [], []
    for d in data:
        pv = pybamm.ParameterValues(BASE_SET)
        pv.update({CONTACT: 0.0}, check_already_exists=False)
        v_rest = float(d["v"][int(np.flatnonzero(d["i"] != 0)[0]) - 1])
        pv.set_initial_state(f"{v_rest} V")
        pv[CONTACT] = make(*FITTABLE["contact_resistance"].bounds, 0.0, False)
        for key in PARAMETERS[1:]:
            f = FITTABLE[key]
            name = f"factor on {f.pybamm_name}"
            pv.update({name: 1.0}, check_already_exists=False)
            _scaled(pv, f.pybamm_name, pybamm.Parameter(name))
            pv[name] = make(*f.bounds, 1.0, True)
        if geometry:
            L = float(pv[THICKNESS])
            pv[THICKNESS] = pybop.Parameter(bounds=[0.8 * L, 1.2 * L], initial_value=L)
        ds = pybop.Dataset({"Time [s]": d["t"] - d["t"][0], "Current [A]": d["i"],
                            "Voltage [V]": d["v"]})
        with _quiet():
            sim = pybop.pybamm.Simulator(model, parameter_values=pv, protocol=ds,
                                         build_every_time=build_every_time)
            problems.append(pybop.Problem(sim, pybop.SumSquaredError(ds)))
        sims.append(sim)
    with _quiet():
        meta = pybop.MetaProblem(*problems) if len(problems) > 1 else problems[0]
    return meta, sims


# --------------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------------


class Clock:
    """Wall and CPU (all threads of the process) time stamps after each batch of evaluations.

    The per-evaluation figures run from the end of the first batch to the end of the last, so
    both (a) and (b) are timed over the same evaluations in the same way: (a) through
    ``calibrate``'s ``progress`` callback, (b) by wrapping the PyBOP problem's
    ``evaluate_batch`` (one ``perf_counter`` per batch). CPU time is the figure to trust on a
    shared machine: wall time moves with the other sessions' load.
    """

    def __init__(self) -> None:
        self.marks: list[tuple[int, float, float]] = []

    def mark(self, evaluations: int) -> None:
        self.marks.append((evaluations, time.perf_counter(), time.process_time()))

    def per_evaluation(self) -> tuple[float, float]:
        """(wall, CPU) seconds per evaluation."""
        (n0, w0, c0), (n1, w1, c1) = self.marks[0], self.marks[-1]
        n = max(n1 - n0, 1)
        return (w1 - w0) / n, (c1 - c0) / n


def run_casip(cases: list[FitCase], budget: int, max_points: int):
    """(a): CASIP's calibrate, kinetics-and-transport stage only; (result, wall s, clock)."""
    clock = Clock()
    t0 = time.perf_counter()
    with _quiet():
        res = calibrate(f"pybamm:{BASE_SET}", cases, stages=("kinetics_transport",),
                        parameters=PARAMETERS, model="SPMe", optimiser="XNES",
                        max_evaluations=budget, max_points=max_points, seed=0,
                        progress=lambda p: clock.mark(p["evaluations"]))
    return res, time.perf_counter() - t0, clock


def _clocked(problem, clock: Clock):
    """Time-stamp every batch of evaluations of a PyBOP problem."""
    inner = problem.evaluate_batch
    count = [0]

    def evaluate_batch(inputs, calculate_sensitivities=False):
        ev = inner(inputs, calculate_sensitivities)
        count[0] += len(inputs)
        clock.mark(count[0])
        return ev

    problem.evaluate_batch = evaluate_batch
    return problem


def run_pybop(data: list[dict], budget: int, *, started: bool = True):
    """(b), or (e) with ``started=False``: PyBOP by hand; (result, problem, build s,
    optimiser s, wall s, clock). Public PyBOP API only."""
    clock = Clock()
    t0 = time.perf_counter()
    problem, _ = pybop_problem(data, started=started)
    t_build = time.perf_counter() - t0
    np.random.seed(0)  # noqa: NPY002 - PINTS draws from numpy's global generator (as CASIP seeds)
    opt = pybop.XNES(_clocked(problem, clock), options=_pints_options(budget))
    t1 = time.perf_counter()
    with _quiet():
        res = opt.run()
    t_run = time.perf_counter() - t1
    return res, problem, t_build, t_run, time.perf_counter() - t0, clock


def _vectors(problem, n: int, seed: int = 3) -> list[dict]:
    """``n`` parameter vectors inside the bounds: contact resistance 0-50 mOhm, factors
    log-uniform in 0.3-3, thickness uniform in its bounds."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = {}
        for name in problem.parameters.keys():
            if name == CONTACT:
                x[name] = float(rng.uniform(0.0, 0.05))
            elif name == THICKNESS:
                x[name] = float(rng.uniform(*problem.parameters[name].bounds))
            else:
                x[name] = float(math.exp(rng.uniform(math.log(0.3), math.log(3.0))))
        out.append(x)
    return out


def time_evaluations(problem, vectors: list[dict]) -> tuple[float, float, np.ndarray]:
    """(wall, CPU) seconds per evaluation of ``problem`` on ``vectors``, one at a time, and
    the costs."""
    t0, c0 = time.perf_counter(), time.process_time()
    with _quiet():
        vals = np.array([float(problem.evaluate_batch([x], False).values[0]) for x in vectors])
    n = len(vectors)
    return (time.perf_counter() - t0) / n, (time.process_time() - c0) / n, vals


def cost(problem, x: dict) -> float:
    """The summed SSE of ``problem`` at ``x`` [V^2]."""
    with _quiet():
        return float(problem.evaluate_batch([x], False).values[0])


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1.0 else f"{s:.2f} s"


def _starts(problem, key_to_name: dict[str, str]) -> str:
    """Where a PINTS population optimiser starts (the distributions' means, in model units)
    and its initial step (on the search scale: ln x for log parameters)."""
    params = problem.parameters
    means = params.get_mean(transformed=True)
    steps = params.get_std(transformed=True)
    out = []
    for k, x, sd in zip(PARAMETERS, means, steps, strict=True):
        par = params[key_to_name[k]]
        out.append(f"{k} = {par.transformation.to_model(x)[0]:.4g} (step {sd:.3g})")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=400,
                    help="evaluation budget of (a), (b) and (e) (default 400)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="interleaved runs of (a) and (b); medians are reported (default 2)")
    ap.add_argument("--naive-evaluations", type=int, default=4,
                    help="parameter vectors timed with a rebuild per evaluation (default 4)")
    ap.add_argument("--noise-mv", type=float, default=1.0,
                    help="Gaussian noise on the synthetic voltage [mV] (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help="a smaller run: 60 evaluations, one repeat, 2 naive evaluations")
    args = ap.parse_args()
    budget = 60 if args.quick else args.evaluations
    repeat = 1 if args.quick else args.repeat
    n_naive = 2 if args.quick else args.naive_evaluations
    if budget < 20 or repeat < 1 or n_naive < 1:
        ap.error("--evaluations must be at least 20, --repeat and --naive-evaluations at least 1")
    t_start = time.perf_counter()

    print(f"# calibration benchmark: python {platform.python_version()}, "
          f"pybamm {pybamm.__version__}, pybop {pybop.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    data = synthetic_data(args.noise_mv)
    n_points = sum(len(d["t"]) for d in data)
    print(f"synthetic data (raw PyBaMM SPMe, {BASE_SET}, noise {args.noise_mv:g} mV): "
          + ", ".join(f"{d['label']} {len(d['t'])} points" for d in data)
          + f"; {n_points} points in {time.perf_counter() - t0:.1f} s")
    print("known values: " + ", ".join(f"{k} = {v:g}" for k, v in TRUTH.items()))
    print(f"budget {budget} evaluations, XNES, seed 0; {repeat} interleaved run(s) of (a) and "
          "(b); per evaluation = from the end of the first batch to the end of the last")
    cases = fit_cases(data)

    # (a) and (b), interleaved so that they see the same machine load
    runs = []
    for r in range(repeat):
        res_a, wall_a, clock_a = run_casip(cases, budget, max_points=n_points + 1)
        res_b, problem_b, build_b, opt_b, wall_b, clock_b = run_pybop(data, budget)
        st = res_a.stages[-1]
        (wa, ca), (wb, cb) = clock_a.per_evaluation(), clock_b.per_evaluation()
        runs.append({"wall_a": wall_a, "opt_a": st.seconds, "n_a": st.evaluations, "wa": wa,
                     "ca": ca, "wall_b": wall_b, "opt_b": opt_b, "build_b": build_b,
                     "n_b": int(res_b.n_evaluations), "wb": wb, "cb": cb})
        print(f"run {r + 1}: (a) CASIP wall {wall_a:.1f} s, optimiser {st.seconds:.1f} s, "
              f"{st.evaluations} evaluations, {_fmt_s(wa)} ({_fmt_s(ca)} CPU) each; "
              f"(b) PyBOP wall {wall_b:.1f} s, optimiser {opt_b:.1f} s, "
              f"{int(res_b.n_evaluations)} evaluations, {_fmt_s(wb)} ({_fmt_s(cb)} CPU) each; "
              f"(a)/(b) {wa / wb:.3f} wall, {ca / cb:.3f} CPU")

    def med(key: str) -> float:
        return statistics.median(x[key] for x in runs)

    per_a, per_b, cpu_a, cpu_b = med("wa"), med("wb"), med("ca"), med("cb")
    ratio_wall = statistics.median(x["wa"] / x["wb"] for x in runs)
    ratio_cpu = statistics.median(x["ca"] / x["cb"] for x in runs)
    st = res_a.stages[-1]
    fitted = st.fitted()

    print(f"\n(a) CASIP calibrate (median of {repeat}): wall {med('wall_a'):.1f} s; optimiser "
          f"{med('opt_a'):.1f} s for {st.evaluations} evaluations ({_fmt_s(per_a)}, "
          f"{_fmt_s(cpu_a)} CPU, per evaluation); outside the optimiser (prepare, build, "
          f"identifiability, before/after replays) {med('wall_a') - med('opt_a'):.1f} s")
    print(f"    RMSE {st.rmse_before_mV:.1f} -> {st.rmse_after_mV:.2f} mV on {st.points} "
          f"points; stopped: {st.message}")
    print(f"    {'parameter':28s} {'known':>9s} {'fitted':>10s} {'rel. error':>10s}  "
          "identifiability")
    for r in st.parameters.itertuples():
        true = TRUTH[r.parameter]
        print(f"    {r.parameter:28s} {true:9.4g} {r.fitted:10.4g} "
              f"{(r.fitted - true) / true:+10.1%}  {r.identifiability}")

    names_b = list(problem_b.parameters.keys())
    key_to_b = dict(zip(PARAMETERS, names_b, strict=True))
    best_b = {k: float(v) for k, v in res_b.best_inputs.items()}
    same = all(math.isclose(fitted[k], best_b[key_to_b[k]], rel_tol=1e-6, abs_tol=1e-12)
               for k in PARAMETERS)
    print(f"\n(b) PyBOP directly (median of {repeat}): wall {med('wall_b'):.1f} s (build "
          f"{med('build_b'):.1f} s, optimiser {med('opt_b'):.1f} s for {int(res_b.n_evaluations)}"
          f" evaluations: {_fmt_s(per_b)}, {_fmt_s(cpu_b)} CPU, per evaluation)")
    print("    best: " + ", ".join(f"{k} = {best_b[key_to_b[k]]:.4g}"
                                    for k in PARAMETERS)
          + ("  (identical to (a): the same trajectory)" if same else "  (differs from (a))"))
    sse_truth = cost(problem_b, {key_to_b[k]: v for k, v in TRUTH.items()})
    sse_fit = cost(problem_b, {key_to_b[k]: v for k, v in fitted.items()})
    print(f"    cost at the known values {sse_truth:.3g} V^2 (RMSE "
          f"{math.sqrt(sse_truth / n_points) * 1e3:.2f} mV), at (a)'s fit {sse_fit:.3g} V^2 "
          f"(RMSE {math.sqrt(sse_fit / n_points) * 1e3:.2f} mV)")
    print("    where XNES starts (PyBOP: the mean of each parameter's distribution, here the "
          "start) and its step on the search scale: " + _starts(problem_b, key_to_b))
    if not same:
        print("    NOTE: (a) did not follow (b)'s trajectory, so the overhead ratio compares "
              "different evaluations")

    # (c) naive rebuild per evaluation
    vectors = _vectors(problem_b, n_naive)
    problem_c, sims_c = pybop_problem(data, build_every_time=True)
    if not all(s.requires_model_rebuild for s in sims_c):
        raise RuntimeError("build_every_time=True did not make PyBOP rebuild")
    per_c, cpu_c, vals_c = time_evaluations(problem_c, vectors)
    per_once, cpu_once, vals_once = time_evaluations(problem_b, vectors)
    agree = bool(np.allclose(vals_c, vals_once, rtol=1e-3))
    print(f"\n(c) naive rebuild (a new pybamm.Simulation per evaluation: PyBOP "
          f"build_every_time=True), {n_naive} evaluations one at a time: {_fmt_s(per_c)} "
          f"({_fmt_s(cpu_c)} CPU) per evaluation; built once, the same vectors one at a time: "
          f"{_fmt_s(per_once)} ({_fmt_s(cpu_once)} CPU); costs agree within 0.1%: {agree}")
    print(f"    the fit's {st.evaluations} evaluations done naively: about "
          f"{per_c * st.evaluations:.0f} s (extrapolated from the per-evaluation time, not run)")

    # (d) geometry
    problem_d, sims_d = pybop_problem(data, geometry=True)
    rebuild = all(s.requires_model_rebuild for s in sims_d)
    per_d, cpu_d, _ = time_evaluations(problem_d, _vectors(problem_d, 1))
    print(f"\n(d) geometry (positive electrode thickness fitted too): PyBOP rebuilds per "
          f"evaluation: {rebuild}; one evaluation {_fmt_s(per_d)} ({_fmt_s(cpu_d)} CPU); the "
          f"fit's {st.evaluations} evaluations would take about {per_d * st.evaluations:.0f} s "
          "(extrapolated)")
    try:
        with _quiet():
            calibrate(f"pybamm:{BASE_SET}", cases, stages=("kinetics_transport",),
                      parameters=("positive_thickness",), max_evaluations=20)
        print("    CASIP calibrate accepted a thickness parameter")
    except CasipInputError as exc:
        print(f"    CASIP calibrate asked for a thickness: {str(exc).splitlines()[0]}")

    # (e) the same PyBOP fit with plain bounds: where calibrate started before its fix
    res_e, problem_e, _, opt_e, _, clock_e = run_pybop(data, budget, started=False)
    key_to_e = dict(zip(PARAMETERS, problem_e.parameters.keys(), strict=True))
    best_e = {k: float(v) for k, v in res_e.best_inputs.items()}
    fit_e = {k: best_e[key_to_e[k]] for k in PARAMETERS}
    sse_e = cost(problem_e, best_e)
    we, ce = clock_e.per_evaluation()
    print(f"\n(e) (b) with plain bounds (PyBOP's default start, the bounds' mid-point; "
          f"calibrate before its fix): optimiser {opt_e:.1f} s, {int(res_e.n_evaluations)} "
          f"evaluations, {_fmt_s(we)} ({_fmt_s(ce)} CPU) each; RMSE "
          f"{math.sqrt(sse_e / n_points) * 1e3:.2f} mV")
    print("    starts and steps: " + _starts(problem_e, key_to_e))
    print("    " + ", ".join(f"{k} = {v:.4g} ({(v - TRUTH[k]) / TRUTH[k]:+.1%})"
                             for k, v in fit_e.items()))

    print("\n# summary")
    print(f"(a) CASIP: wall {med('wall_a'):.1f} s, {_fmt_s(per_a)} ({_fmt_s(cpu_a)} CPU) per "
          f"evaluation; (b) PyBOP: wall {med('wall_b'):.1f} s, {_fmt_s(per_b)} "
          f"({_fmt_s(cpu_b)} CPU) per evaluation; {st.evaluations} evaluations each")
    print(f"overhead ratio (a)/(b) per evaluation: {ratio_cpu:.3f} CPU, {ratio_wall:.3f} wall "
          f"(medians of per-run ratios); wall of the whole call (a)/(b): "
          f"{med('wall_a') / med('wall_b'):.2f}")
    print(f"speed-up (c)/(a) per evaluation: {per_c / per_a:.1f}x wall, {cpu_c / cpu_a:.1f}x "
          f"CPU; one at a time, (c) / built once: {per_c / per_once:.1f}x")
    print(f"geometry: one evaluation {_fmt_s(per_d)} = {per_d / per_once:.1f}x a built-once one")
    print("recovered by (a): " + ", ".join(
        f"{r.parameter} {(r.fitted - TRUTH[r.parameter]) / TRUTH[r.parameter]:+.1%}"
        for r in st.parameters.itertuples())
          + f" (RMSE {st.rmse_after_mV:.2f} mV)")
    print("recovered by (e), plain bounds: " + ", ".join(
        f"{k} {(v - TRUTH[k]) / TRUTH[k]:+.1%}" for k, v in fit_e.items())
          + f" (RMSE {math.sqrt(sse_e / n_points) * 1e3:.2f} mV)")
    print(f"total benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
