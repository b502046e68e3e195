"""Rate capability and Ragone data of a design: build the model once, solve every C-rate at once.

:func:`rate_capability` maps a design to a PyBaMM DFN model (:func:`~casip.physics.parameters_for`),
builds it once with the applied current as an ``[input]`` parameter and solves all C-rates in one
batched call of the IDAKLU solver (one input set per C-rate, spread over ``num_threads``
threads), asking the solver only for the few output variables needed. From each constant-current
discharge, full charge to the lower voltage cut-off, it derives:

* capacity ``Q = (1/3600) ∫ I dt`` [A.h] and energy ``E = (1/3600) ∫ V I dt`` [W.h] (trapezoidal
  rule on the solver's time steps), mean voltage ``E / Q`` [V], duration [h] and mean power
  ``P = E / duration`` [W];
* specific energy and power per kilogram of *cell* and energy density per litre of cell, with the
  mass and volume of the design engine (:attr:`PhysicsSetup.metrics`, never PyBaMM, which has no
  packaging or lithium-metal volume);
* capacity and energy retention against the lowest C-rate asked for;
* the limiting mechanism at each rate, from a documented heuristic (:func:`limiting_mechanism`).

Results are cached in the process by a design hash (SHA-256 of the design's JSON, the content of
the materials library and the options), so asking again for the same design is free.

:func:`ragone` runs :func:`rate_capability` over several designs and returns one table of specific
energy against specific power (a Ragone plot's data, [5]).

References
----------
.. [1] M. Doyle, T. F. Fuller, J. Newman, "Modeling of galvanostatic charge and discharge of the
   lithium/polymer/insertion cell", J. Electrochem. Soc. 140, 1526 (1993) -- the DFN model.
.. [2] V. Sulzer, S. G. Marquis, R. Timms, M. Robinson, S. J. Chapman, "Python Battery
   Mathematical Modelling (PyBaMM)", J. Open Res. Softw. 9, 14 (2021).
.. [3] C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
   "Development of experimental techniques for parameterization of multi-scale lithium-ion
   battery models", J. Electrochem. Soc. 167, 080534 (2020).
.. [4] E. Prada et al., "A simplified electrochemical and thermal aging model of
   LiFePO4-graphite Li-ion batteries", J. Electrochem. Soc. 160, A616 (2013); S. Xu et al.,
   "Evolution of dead lithium growth in lithium metal batteries", J. Electrochem. Soc. 166,
   A3456 (2019).
.. [5] T. Christen, M. W. Carlen, "Theory of Ragone plots", J. Power Sources 91, 210 (2000).
.. [6] M. Doyle, J. Newman, "Analysis of capacity-rate data for lithium batteries using
   simplified models of the discharge process", J. Appl. Electrochem. 27, 846 (1997) -- rate
   limitation by electrolyte depletion, solid diffusion and ohmic drop.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pybamm

from casip.design.schema import Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library
from casip.physics.capacity import HORIZON_FACTOR
from casip.physics.parameters import PhysicsSetup, base_set_c20, parameters_for
from casip.physics.solving import make_solver, solve
from casip.physics.temperature import ambient_celsius, ambient_kelvin, has_thermal_parameters

#: C-rates of a rate-capability run when none are given (C/10 to 5C).
DEFAULT_C_RATES = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0)

#: Columns of :attr:`RateResult.table`, in order.
TABLE_COLUMNS = (
    "c_rate",
    "current_A",
    "capacity_Ah",
    "energy_Wh",
    "mean_voltage_V",
    "duration_h",
    "power_W",
    "capacity_retention",
    "energy_retention",
    "specific_energy_Wh_kg",
    "specific_power_W_kg",
    "energy_density_Wh_L",
    "limiting_mechanism",
)

#: Columns of :func:`ragone`'s table; the first five are the contract, the rest context.
RAGONE_COLUMNS = (
    "name",
    "c_rate",
    "specific_energy_Wh_kg",
    "specific_power_W_kg",
    "energy_density_Wh_L",
    "energy_Wh",
    "power_W",
    "limiting_mechanism",
)

# --- limiting-mechanism heuristic (see limiting_mechanism) ---------------------------------
#: Electrolyte depletion: minimum positive-electrode electrolyte concentration at the end of
#: discharge below this fraction of the initial concentration.
DEPLETION_FRACTION = 0.05
#: Solid diffusion: positive surface stoichiometry within this margin of its end-of-discharge
#: value at C/20 ...
SURFACE_MARGIN = 0.02
#: ... while the particles' average has used less than this fraction of the C/20 window.
DIFFUSION_UTILISATION = 0.8
#: A discharge delivering at least this fraction of the design capacity is not rate-limited.
FULL_FRACTION = 0.95

MECH_FULL = "none (full capacity)"
MECH_DEPLETION = "electrolyte depletion"
MECH_DIFFUSION = "solid diffusion (positive particles)"
MECH_FRONT = "ionic transport (reaction front)"
MECH_OHMIC = "ohmic/kinetic"
MECH_CUTOFF_AT_START = "cut-off at start"
MECH_TIME_LIMIT = "time limit (cut-off not reached)"

#: Output variables requested from the solver (PyBaMM 26.10 names).
OUTPUT_VARIABLES = (
    "Voltage [V]",
    "Current [A]",
    "Positive electrolyte concentration [mol.m-3]",
    "Maximum positive particle surface stoichiometry",
    "X-averaged positive particle surface stoichiometry",
    "Average positive particle stoichiometry",
)

#: Volume-averaged cell temperature (constant at the ambient one when isothermal).
TEMPERATURE_VAR = "Volume-averaged cell temperature [K]"

#: Results kept in the in-process cache (least recently used dropped first).
CACHE_SIZE = 64


@dataclass
class RateResult:
    """Rate capability of one design.

    Attributes
    ----------
    name : str
        The design's name.
    table : pandas.DataFrame
        One row per C-rate, ascending, with the columns of :data:`TABLE_COLUMNS`: ``c_rate``
        [1/h, relative to the design capacity], ``current_A`` [A], ``capacity_Ah`` [A.h],
        ``energy_Wh`` [W.h], ``mean_voltage_V`` [V], ``duration_h`` [h], ``power_W`` [W] (mean
        power over the discharge), ``capacity_retention`` and ``energy_retention`` [-] (against
        the lowest C-rate), ``specific_energy_Wh_kg`` and ``specific_power_W_kg`` [per kg of
        cell], ``energy_density_Wh_L`` [per litre of cell] and ``limiting_mechanism`` (text,
        see :func:`limiting_mechanism`).
    curves : dict of float to pandas.DataFrame
        Discharge curve per C-rate: ``capacity_Ah`` [A.h] and ``voltage_V`` [V] (empty for a
        rate whose cut-off is reached at the start).
    design_hash : str
        SHA-256 of the design, the materials library and the options (the cache key).
    capacity_Ah : float
        The design engine's capacity [A.h] that sets 1C.
    mass_g, volume_cm3 : float
        The design engine's cell mass [g] and volume [cm3] used for the specific values.
    lower_cutoff_V : float
        Lower voltage cut-off [V] ending every discharge.
    base_set, approximation : str
        The PyBaMM base parameter set and model (see :class:`PhysicsSetup`).
    """

    name: str
    table: pd.DataFrame
    curves: dict[float, pd.DataFrame]
    design_hash: str = ""
    capacity_Ah: float = math.nan
    mass_g: float = math.nan
    volume_cm3: float = math.nan
    lower_cutoff_V: float = math.nan
    base_set: str = ""
    approximation: str = ""
    notes: list[str] = field(default_factory=list)
    #: Lumped thermal model on (else isothermal), ambient temperature [degC] and the highest
    #: volume-averaged cell temperature of each discharge [degC].
    thermal: bool = False
    ambient_temperature_C: float = math.nan
    max_temperature_C: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-friendly form: NaN becomes ``None``, curves are keyed by ``str(c_rate)``."""
        return {
            "name": self.name,
            "design_hash": self.design_hash,
            "base_set": self.base_set,
            "approximation": self.approximation,
            "capacity_Ah": _json_float(self.capacity_Ah),
            "mass_g": _json_float(self.mass_g),
            "volume_cm3": _json_float(self.volume_cm3),
            "lower_cutoff_V": _json_float(self.lower_cutoff_V),
            "table": [
                {k: _json_value(v) for k, v in row.items()}
                for row in self.table.to_dict(orient="records")
            ],
            "curves": {
                f"{c:g}": {
                    "capacity_Ah": [_json_float(x) for x in df["capacity_Ah"]],
                    "voltage_V": [_json_float(x) for x in df["voltage_V"]],
                }
                for c, df in self.curves.items()
            },
            "notes": list(self.notes),
            "thermal": self.thermal,
            "ambient_temperature_C": _json_float(self.ambient_temperature_C),
            "max_temperature_C": {
                f"{c:g}": _json_float(t) for c, t in self.max_temperature_C.items()
            },
        }

    def copy(self) -> RateResult:
        """A deep copy (the cache hands out copies, so callers may edit theirs)."""
        return copy.deepcopy(self)


def _json_float(v: object) -> float | None:
    f = float(v)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None


def _json_value(v: object) -> object:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    return _json_float(v)


# --------------------------------------------------------------------------- cache

_CACHE: OrderedDict[str, RateResult] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_STATS = {"hits": 0, "misses": 0}


def clear_cache() -> None:
    """Empty the in-process cache of rate-capability results and reset its counters."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _STATS.update(hits=0, misses=0)


def cache_info() -> dict[str, int]:
    """``{"hits": ..., "misses": ..., "size": ...}`` of the rate-capability cache."""
    with _CACHE_LOCK:
        return {**_STATS, "size": len(_CACHE)}


def _library_digest(lib: MaterialLibrary) -> str:
    """SHA-256 of the library's content: every material's values and the file it came from."""
    h = hashlib.sha256()
    for mid in sorted(lib.materials):
        h.update(mid.encode())
        h.update(lib.materials[mid].model_dump_json().encode())
        h.update(str(lib.origin.get(mid, "")).encode())
    return h.hexdigest()


def design_hash(
    design: Design | Mapping,
    library: MaterialLibrary | None = None,
    **options: object,
) -> str:
    """SHA-256 identifying a rate-capability run: design JSON + library content + options.

    Parameters
    ----------
    design : Design or dict
        The design (a dict is hashed as given, keys sorted).
    library : MaterialLibrary, optional
        The materials library (the bundled one by default); its content is hashed, so a
        library edited in memory gives a different hash even with the same file origins.
    **options
        Anything else that changes the result (C-rates, temperature, overrides); values are
        hashed through ``repr`` where they are not JSON.
    """
    lib = library if library is not None else load_library()
    data = design.model_dump(mode="json") if isinstance(design, Design) else dict(design)
    payload = json.dumps(
        {"design": data, "options": options, "pybamm": pybamm.__version__},
        sort_keys=True,
        default=repr,
    )
    h = hashlib.sha256(payload.encode())
    h.update(_library_digest(lib).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- heuristic


def limiting_mechanism(
    capacity_fraction: float,
    min_electrolyte_fraction: float,
    max_surface_stoichiometry: float,
    mean_surface_stoichiometry: float,
    average_utilisation: float,
    surface_limit: float,
) -> str:
    """Name what ended a constant-current discharge, from the state at the lower cut-off.

    A heuristic on the positive electrode (which ends discharge in every CASIP mapping), in
    the spirit of Doyle & Newman's analysis of capacity-rate data [6]. Checked in this order:

    1. ``capacity_fraction >= FULL_FRACTION`` (95% of the design capacity delivered):
       ``"none (full capacity)"`` -- the discharge ended on the open-circuit curve;
    2. ``min_electrolyte_fraction < DEPLETION_FRACTION`` (the lowest electrolyte concentration
       in the positive electrode fell below 5% of its initial value): ``"electrolyte
       depletion"``. A single-ion solid electrolyte (t+ = 1) never depletes;
    3. ``mean_surface_stoichiometry >= surface_limit - SURFACE_MARGIN`` while
       ``average_utilisation < DIFFUSION_UTILISATION``: the particle surfaces are full
       *throughout* the electrode (their through-thickness mean is within 0.02 of the
       stoichiometry at which a C/20 discharge ends) while the particles' average has used less
       than 80% of the C/20 window: ``"solid diffusion (positive particles)"``;
    4. ``max_surface_stoichiometry >= surface_limit - SURFACE_MARGIN`` while
       ``average_utilisation < DIFFUSION_UTILISATION``: the particles are full only where
       the current concentrates (near the separator) and the rest of the electrode is little
       used: ``"ionic transport (reaction front)"`` -- the electrolyte's (or the solid
       electrolyte's) conductivity limits how deep the reaction reaches;
    5. otherwise ``"ohmic/kinetic"``: the cut-off was reached by the ohmic drop (separator,
       contact resistance) and the reaction overpotentials before any particle was full.

    Parameters
    ----------
    capacity_fraction : float
        Delivered capacity / design capacity [-].
    min_electrolyte_fraction : float
        Minimum over the positive electrode of the electrolyte concentration at the end, over
        its initial value [-].
    max_surface_stoichiometry : float
        Maximum over the electrode of the positive particle surface stoichiometry at the end
        (PyBaMM "Maximum positive particle surface stoichiometry") [-].
    mean_surface_stoichiometry : float
        Its through-thickness mean ("X-averaged positive particle surface stoichiometry") [-].
    average_utilisation : float
        (average positive stoichiometry at the end - at full charge) / (its C/20 end value -
        at full charge) [-].
    surface_limit : float
        Average positive stoichiometry at the end of a C/20 discharge of the base set [-].

    Returns
    -------
    str
        One of ``"none (full capacity)"``, ``"electrolyte depletion"``, ``"solid diffusion
        (positive particles)"``, ``"ionic transport (reaction front)"``, ``"ohmic/kinetic"``.

    Examples
    --------
    >>> limiting_mechanism(0.5, 0.0, 0.99, 0.7, 0.5, 0.85)
    'electrolyte depletion'
    >>> limiting_mechanism(0.5, 0.8, 0.86, 0.85, 0.4, 0.85)
    'solid diffusion (positive particles)'
    """
    full = surface_limit - SURFACE_MARGIN
    if capacity_fraction >= FULL_FRACTION:
        return MECH_FULL
    if min_electrolyte_fraction < DEPLETION_FRACTION:
        return MECH_DEPLETION
    if average_utilisation < DIFFUSION_UTILISATION:
        if mean_surface_stoichiometry >= full:
            return MECH_DIFFUSION
        if max_surface_stoichiometry >= full:
            return MECH_FRONT
    return MECH_OHMIC


# --------------------------------------------------------------------------- solving


def _check_rates(c_rates: Sequence[float]) -> list[float]:
    try:
        rates = [float(c) for c in c_rates]
    except (TypeError, ValueError):
        raise CasipInputError(
            Problem("c_rates", "C-rates must be numbers", c_rates, "e.g. [0.1, 1, 3]")
        ) from None
    bad = [c for c in rates if not (c > 0 and math.isfinite(c))]
    if bad or not rates:
        raise CasipInputError(
            Problem(
                "c_rates",
                "C-rates must be positive, finite numbers",
                bad[0] if bad else rates,
                "e.g. [0.1, 1, 3]",
            )
        )
    return sorted(set(rates))


_INPUTS_RE = re.compile(r"with inputs (\{[^{}]*\})")


def _failing_current(message: str) -> float | None:
    """The current of the input set named in a "non-positive at initial conditions" error."""
    m = _INPUTS_RE.search(message)
    if not m:
        return None
    try:
        d = ast.literal_eval(m.group(1))
        return float(d["Current function [A]"])
    except (ValueError, SyntaxError, KeyError, TypeError):
        return None


def _solve_batch(
    sim: pybamm.Simulation,
    t_eval: list[float],
    currents: dict[float, float],
    name: str,
) -> tuple[dict[float, pybamm.Solution], list[float]]:
    """Solve all C-rates in one batch; rates whose cut-off is met at t = 0 are set aside.

    PyBaMM checks every input set's events before integrating any, and stops at the first
    whose voltage is already below the cut-off, naming its inputs. That set is removed and the
    batch retried (the retry costs only the consistent initialisation).
    """
    remaining = dict(currents)
    at_start: list[float] = []
    while remaining:
        rates = list(remaining)
        inputs = [{"Current function [A]": remaining[c]} for c in rates]
        try:
            sols = solve(
                sim, t_eval, inputs=inputs, what=f"rate capability of {name!r}"
            )
        except CasipInputError as exc:
            msg = str(exc)
            if "a voltage cut-off is reached at the start" not in msg:
                raise
            current = _failing_current(msg)
            hit = [
                c for c in rates if current is not None and math.isclose(remaining[c], current)
            ]
            if not hit:
                m = re.search(r"\(input set (\d+)\)", msg)
                hit = [rates[int(m.group(1))]] if m else []
            if not hit:
                raise
            at_start.append(hit[0])
            del remaining[hit[0]]
            continue
        if not isinstance(sols, list):  # PyBaMM returns a bare solution for one input set
            sols = [sols]
        return dict(zip(rates, sols, strict=True)), sorted(at_start)
    return {}, sorted(at_start)


def _setup_for(
    design: Design | Mapping | PhysicsSetup,
    library: MaterialLibrary | None,
    temperature_K: float | None,
    overrides: Mapping[str, object] | None,
) -> PhysicsSetup:
    if isinstance(design, PhysicsSetup):
        if temperature_K is not None or overrides:
            raise CasipInputError(
                Problem(
                    "design",
                    "temperature_K and overrides apply when mapping a design; pass them to "
                    "parameters_for instead of giving a PhysicsSetup",
                )
            )
        return design
    return parameters_for(design, library, temperature_K=temperature_K, overrides=overrides)


def _last(sol: pybamm.Solution, name: str) -> float:
    return float(np.ravel(sol[name].entries)[-1])


def _end_state(sol: pybamm.Solution) -> dict[str, float]:
    c_e = np.asarray(sol["Positive electrolyte concentration [mol.m-3]"].entries)
    c_end = c_e[..., -1] if c_e.ndim > 1 else c_e[-1:]
    return {
        "min_c_e": float(np.min(c_end)),
        "max_surface": _last(sol, "Maximum positive particle surface stoichiometry"),
        "mean_surface": _last(sol, "X-averaged positive particle surface stoichiometry"),
        "average": _last(sol, "Average positive particle stoichiometry"),
    }


def _simulate(
    setup: PhysicsSetup, rates: list[float], num_threads: int, thermal: bool = False
) -> tuple[pd.DataFrame, dict[float, pd.DataFrame]]:
    q_design = setup.capacity_Ah
    metrics = setup.metrics
    mass_kg = metrics.mass_g / 1000.0
    volume_L = metrics.volume_cm3 / 1000.0
    pv = setup.parameter_values.copy()
    pv["Current function [A]"] = "[input]"
    solver = make_solver(
        HORIZON_FACTOR * 3600.0 / max(rates),  # the shortest solve sets the stall guard
        num_threads=num_threads,
        output_variables=[*OUTPUT_VARIABLES, TEMPERATURE_VAR],
    )
    model = (
        pybamm.lithium_ion.DFN(options={**setup.model_options, "thermal": "lumped"})
        if thermal
        else setup.new_model()
    )
    sim = pybamm.Simulation(model, parameter_values=pv, solver=solver)
    t_eval = [0.0, HORIZON_FACTOR * 3600.0 / min(rates)]
    currents = {c: c * q_design for c in rates}
    sols, at_start = _solve_batch(sim, t_eval, currents, setup.name)

    c_e0 = float(pv["Initial concentration in electrolyte [mol.m-3]"])
    y100 = float(
        pv["Initial concentration in positive electrode [mol.m-3]"]
        / pv["Maximum concentration in positive electrode [mol.m-3]"]
    )
    if setup.base_set.startswith("BPX "):  # an imported BPX file: its own stoichiometry window
        y_end = float(pv["Positive electrode maximum stoichiometry"])
    else:
        y_end = base_set_c20(setup.base_set).y0

    rows, curves = [], {}
    for c in rates:
        if c in at_start:
            rows.append(
                {
                    "c_rate": c, "current_A": currents[c], "capacity_Ah": 0.0, "energy_Wh": 0.0,
                    "mean_voltage_V": math.nan, "duration_h": 0.0, "power_W": 0.0,
                    "limiting_mechanism": MECH_CUTOFF_AT_START,
                }
            )
            curves[c] = pd.DataFrame(
                {"capacity_Ah": [], "voltage_V": [], "temperature_C": []}, dtype=float
            )
            continue
        sol = sols[c]
        t = np.asarray(sol.t, dtype=float)
        v = np.ravel(sol["Voltage [V]"].entries).astype(float)
        i = np.ravel(sol["Current [A]"].entries).astype(float)
        q_t = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))]) / 3600.0
        e_wh = float(np.trapezoid(v * i, t)) / 3600.0
        q_ah = float(q_t[-1])
        duration_h = float(t[-1]) / 3600.0
        end = _end_state(sol)
        if sol.termination != "event: Minimum voltage [V]":
            mech = MECH_TIME_LIMIT
        else:
            window = y_end - y100
            mech = limiting_mechanism(
                q_ah / q_design,
                end["min_c_e"] / c_e0 if c_e0 > 0 else 1.0,
                end["max_surface"],
                end["mean_surface"],
                (end["average"] - y100) / window if window > 0 else 1.0,
                y_end,
            )
        rows.append(
            {
                "c_rate": c, "current_A": currents[c], "capacity_Ah": q_ah, "energy_Wh": e_wh,
                "mean_voltage_V": e_wh / q_ah if q_ah > 0 else math.nan,
                "duration_h": duration_h,
                "power_W": e_wh / duration_h if duration_h > 0 else 0.0,
                "limiting_mechanism": mech,
            }
        )
        temp_c = np.ravel(sol[TEMPERATURE_VAR].entries).astype(float) - 273.15
        curves[c] = pd.DataFrame({"capacity_Ah": q_t, "voltage_V": v, "temperature_C": temp_c})

    df = pd.DataFrame(rows)
    ref = df.iloc[0]  # the lowest C-rate
    df["capacity_retention"] = (
        df["capacity_Ah"] / ref["capacity_Ah"] if ref["capacity_Ah"] > 0 else math.nan
    )
    df["energy_retention"] = (
        df["energy_Wh"] / ref["energy_Wh"] if ref["energy_Wh"] > 0 else math.nan
    )
    df["specific_energy_Wh_kg"] = df["energy_Wh"] / mass_kg
    df["specific_power_W_kg"] = df["power_W"] / mass_kg
    df["energy_density_Wh_L"] = df["energy_Wh"] / volume_L
    return df[list(TABLE_COLUMNS)], curves


# --------------------------------------------------------------------------- public API


def rate_capability(
    design: Design | Mapping | PhysicsSetup,
    c_rates: Sequence[float] = DEFAULT_C_RATES,
    *,
    library: MaterialLibrary | None = None,
    num_threads: int | None = None,
    temperature_K: float | None = None,
    overrides: Mapping[str, object] | None = None,
    use_cache: bool = True,
    temperature_c: float | None = None,
    thermal: bool = False,
) -> RateResult:
    """Constant-current discharges of a design from full charge to its lower cut-off.

    The model is built once with the current as an input and every C-rate is solved in one
    batched IDAKLU call (see the module docstring for the quantities derived).

    Parameters
    ----------
    design : Design, dict or PhysicsSetup
        The cell design, or an already mapped setup (not cached).
    c_rates : sequence of float
        C-rates [1/h] relative to the design capacity; sorted and de-duplicated.
    library : MaterialLibrary, optional
        Materials library; the bundled one by default.
    num_threads : int, optional
        Solver threads for the batch; ``os.cpu_count()`` by default.
    temperature_K : float, optional
        Ambient and initial temperature [K] (see :func:`parameters_for`).
    overrides : mapping, optional
        PyBaMM parameter name -> value, applied after the mapping (see :func:`parameters_for`).
    use_cache : bool
        Look up and store the result in the in-process cache (key: :func:`design_hash`).
    temperature_c : float, optional
        Ambient and initial temperature [degC], in [-40, 80]; an alternative to
        ``temperature_K`` (not both). Liquid electrolytes without a temperature dependence in
        their base set get an Arrhenius one (:mod:`casip.physics.temperature`).
    thermal : bool
        PyBaMM's lumped thermal model (cell volume and cooling surface from the design engine,
        heat capacities and heat transfer from the base set); refused for base sets without
        thermal parameters (Prada2013, Xu2019). Isothermal by default.

    Returns
    -------
    RateResult
        A copy; editing it does not change the cache.

    Raises
    ------
    CasipInputError
        If the design is invalid or unsupported, a C-rate is not positive, or a solve fails
        (a rate whose cut-off is reached at t = 0 is not an error: it is recorded with capacity
        0 and the mechanism ``"cut-off at start"``).

    Examples
    --------
    >>> from casip.cells import reference_design
    >>> r = rate_capability(reference_design("lfp-blade"), [0.1, 1, 3])  # doctest: +SKIP
    >>> r.table[["c_rate", "capacity_Ah", "limiting_mechanism"]]  # doctest: +SKIP
    """
    rates = _check_rates(c_rates)
    temperature_K = ambient_kelvin(temperature_c, temperature_K)
    threads = int(num_threads) if num_threads else (os.cpu_count() or 1)
    if threads < 1:
        raise CasipInputError(Problem("num_threads", "must be at least 1", num_threads))
    key = ""
    cacheable = use_cache and not isinstance(design, PhysicsSetup)
    if cacheable:
        key = design_hash(
            design, library, c_rates=rates, temperature_K=temperature_K,
            overrides=dict(overrides or {}), **({"thermal": True} if thermal else {}),
        )
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                _STATS["hits"] += 1
                return hit.copy()
            _STATS["misses"] += 1
    setup = _setup_for(design, library, temperature_K, overrides)
    if thermal and not has_thermal_parameters(setup.parameter_values):
        raise CasipInputError(
            Problem(
                "thermal",
                f"the base set {setup.base_set} has no thermal parameters (heat capacities, "
                "densities, heat-transfer coefficient), so no lumped thermal model can be built "
                "for this cell",
                thermal,
                "thermal=False for this cell (Chen2020-based cells have thermal data)",
            ),
            source=setup.name,
        )
    table, curves = _simulate(setup, rates, min(threads, len(rates)), thermal)
    result = RateResult(
        name=setup.name,
        table=table,
        curves=curves,
        design_hash=key,
        capacity_Ah=setup.capacity_Ah,
        mass_g=float(setup.metrics.mass_g),
        volume_cm3=float(setup.metrics.volume_cm3),
        lower_cutoff_V=setup.lower_cutoff_V,
        base_set=setup.base_set,
        approximation=setup.approximation,
        notes=[
            "energies integrate V*I over time; specific values use the design engine's cell "
            "mass and volume",
            "limiting mechanism: heuristic of casip.physics.rate.limiting_mechanism",
            "lumped thermal model (heating from the ambient temperature)"
            if thermal
            else "isothermal at the ambient temperature",
        ],
        thermal=bool(thermal),
        ambient_temperature_C=ambient_celsius(setup.parameter_values),
        max_temperature_C={
            c: float(df["temperature_C"].max()) if len(df) else math.nan
            for c, df in curves.items()
        },
    )
    if cacheable:
        with _CACHE_LOCK:
            _CACHE[key] = result.copy()
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def supported_reference_ids(library: MaterialLibrary | None = None) -> list[str]:
    """Reference cells that map to PyBaMM (the others are refused by :func:`parameters_for`)."""
    from casip.cells import REFERENCE_IDS, reference_design

    ok = []
    for cid in REFERENCE_IDS:
        try:
            parameters_for(reference_design(cid), library)
        except CasipInputError:
            continue
        ok.append(cid)
    return ok


def ragone(
    designs: Sequence[Design | Mapping | str] | None = None,
    c_rates: Sequence[float] = DEFAULT_C_RATES,
    *,
    library: MaterialLibrary | None = None,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """Specific energy against specific power of several designs (Ragone data [5]).

    Parameters
    ----------
    designs : sequence of Design, dict or str, optional
        Designs, or reference-cell ids; all reference cells that map to PyBaMM by default
        (:func:`supported_reference_ids`, LFP included).
    c_rates : sequence of float
        C-rates [1/h] of each design's :func:`rate_capability` run.
    library : MaterialLibrary, optional
        Materials library; the bundled one by default.
    num_threads : int, optional
        Solver threads; ``os.cpu_count()`` by default.

    Returns
    -------
    pandas.DataFrame
        One row per (design, C-rate) with :data:`RAGONE_COLUMNS`: ``name``, ``c_rate`` [1/h],
        ``specific_energy_Wh_kg`` and ``specific_power_W_kg`` (per kg of cell),
        ``energy_density_Wh_L`` (per litre of cell), ``energy_Wh``, ``power_W``,
        ``limiting_mechanism``.
    """
    from casip.cells import reference_design

    if designs is None:
        designs = supported_reference_ids(library)
    frames = []
    for d in designs:
        design = reference_design(d) if isinstance(d, str) else d
        res = rate_capability(design, c_rates, library=library, num_threads=num_threads)
        t = res.table
        frames.append(t.assign(name=res.name)[list(RAGONE_COLUMNS)])
    if not frames:
        return pd.DataFrame(columns=list(RAGONE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "DEFAULT_C_RATES",
    "RAGONE_COLUMNS",
    "TABLE_COLUMNS",
    "RateResult",
    "cache_info",
    "clear_cache",
    "design_hash",
    "limiting_mechanism",
    "ragone",
    "rate_capability",
    "supported_reference_ids",
]
