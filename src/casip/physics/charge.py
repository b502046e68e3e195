"""Fast charge of a design: CC-CV and multi-step protocols under plating, CCD, thermal limits.

:func:`fast_charge` charges a cell from ``soc_start`` to ``soc_end`` of its design capacity and
reports the time taken and which limit binds; :func:`fastest_charge` finds the highest
constant-current (CC-CV) rate that stays within the limits.

How a charge is simulated
-------------------------
One DFN model is built per cell and solved for every protocol and rate (PyBaMM's build-once,
solve-many pattern). The external circuit is a CASIP control law given to PyBaMM as a callable
``"operating mode"``: an algebraic equation for the current,

``(1 - m) (I + I_cc) / I_cc + m (V - V_cv) / 10 mV = 0``,

with the charge current ``I_cc``, the constant voltage ``V_cv`` and the switch ``m`` (0 for
constant current, 1 for constant voltage) all ``[input]`` parameters. A charge is a chain of
solves of that one model: a constant-current phase ends at an event (the upper voltage, the
target charge of the step); the next phase continues from the last state with new inputs.
Extra events stop a charge when it has taken in ``(soc_end - soc_start) x capacity`` and,
in constant voltage, when the current falls below C/100 (``soc_end`` unreachable).

State of charge
---------------
SOC is a fraction of the design capacity, which the mapping makes equal to the model's C/20
capacity (:func:`casip.physics.parameters_for`). The start state is set directly, not by a
prior discharge: the mapped set's initial concentrations are the fully charged state, and
charge balance moves each electrode by ``(1 - soc_start) x capacity``, uniformly and at rest
(``y = y100 + (1 - soc) Q / C_p``, ``x = x100 - (1 - soc) Q / C_n``, with ``C = eps L A c_max F``).
The initial concentrations are ``[input]`` parameters, so one built model serves any start.
SOC 0 is thus the end of a C/20 discharge, relaxed: the definition behind the "time to 80% of
the C/20 capacity" figures of the project guide. PyBaMM's own ``initial_soc`` is not used: it
places SOC between the voltage cut-offs of the open-circuit voltage, not on the design's
capacity, and it rebuilds the model on every call.

Limits
------
* Upper voltage: the set's upper cut-off, or ``ChargeLimits.upper_voltage_V``. Reaching it
  hands over to constant voltage (CC-CV) or to the next, lower step (multi-step).
* Lithium plating (graphite and silicon anodes): the potential of the negative against a
  lithium reference in the electrolyte, ``phi_s - phi_e``, at the negative/separator
  interface, where it is lowest during charge (PyBaMM's "Negative electrode surface potential
  difference at separator interface [V]"). Below ``min_anode_potential_V`` (0 V by default)
  lithium plating is thermodynamically possible [3]_ [4]_.
* Critical current density (lithium-metal and anode-free cells): the charge current divided
  by the total electrode area, against the library's ``critical_current_density_mA_cm2`` of
  the cell's solid electrolyte (its separator). PyBaMM has no dendrite, void or stack-pressure
  physics; the check is CASIP's. **The CCD is the main uncertainty of these results**: it
  depends on density, stack pressure, temperature and interface treatment, and published
  values span more than an order of magnitude for one material.
* Temperature: with ``max_temperature_C`` the model gets PyBaMM's lumped thermal option (cell
  volume and cooling surface from the design engine, heat capacities and the heat-transfer
  coefficient from the base set). Only Chen2020 has thermal parameters; other cells are
  refused with that reason.

The charge is not stopped when plating, CCD or temperature limits are crossed: the run goes on
and the result says which limit binds (:attr:`ChargeResult.binding_limit`).

References
----------
.. [1] M. Doyle, T. F. Fuller, J. Newman, "Modeling of galvanostatic charge and discharge of
   the lithium/polymer/insertion cell", J. Electrochem. Soc. 140, 1526 (1993).
.. [2] V. Sulzer, S. G. Marquis, R. Timms, M. Robinson, S. J. Chapman, "Python Battery
   Mathematical Modelling (PyBaMM)", J. Open Res. Softw. 9, 14 (2021).
.. [3] P. Arora, M. Doyle, R. E. White, "Mathematical modeling of the lithium deposition
   overcharge reaction in lithium-ion batteries using carbon-based negative electrodes",
   J. Electrochem. Soc. 146, 3543 (1999) -- the anode-potential plating criterion.
.. [4] S. J. Tomaszewska et al., "Lithium-ion battery fast charging: A review", eTransportation
   1, 100011 (2019).
.. [5] C.-H. Chen et al., "Development of experimental techniques for parameterization of
   multi-scale lithium-ion battery models", J. Electrochem. Soc. 167, 080534 (2020).
.. [6] S. Xu et al., "Evolution of dead lithium growth in lithium metal batteries",
   J. Electrochem. Soc. 166, A3456 (2019).
.. [7] E. Prada et al., "A simplified electrochemical and thermal aging model of
   LiFePO4-graphite Li-ion batteries", J. Electrochem. Soc. 160, A616 (2013).
.. [8] J. Kasemchainan et al., "Critical stripping current leads to dendrite formation on
   plating in lithium anode solid electrolyte cells", Nature Materials 18, 1105 (2019).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pybamm

from casip.design import compile as compile_design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library
from casip.materials.records import Category
from casip.physics.parameters import F, PhysicsSetup, base_set_c20, parameters_for
from casip.physics.solving import make_solver, solve
from casip.physics.temperature import ambient_kelvin

#: PyBaMM variable of the anode potential vs Li at the negative/separator interface.
ANODE_POTENTIAL_VAR = "Negative electrode surface potential difference at separator interface [V]"
TEMPERATURE_VAR = "Volume-averaged cell temperature [K]"
#: Constant-voltage phases stop when the charge current falls below this C-rate.
CV_FLOOR_C_RATE = 0.01
#: Range searched by :func:`fastest_charge` [C].
FASTEST_RANGE = (0.1, 10.0)
BINDING_LIMITS = (
    "upper voltage",
    "lithium plating (anode potential)",
    "critical current density",
    "temperature",
    "none",
)
_PREFIX = "pybamm:"
_I_CC = "CASIP charge current [A]"
_V_CV = "CASIP constant voltage [V]"
_MODE = "CASIP constant-voltage switch"
_TARGET = "CASIP target charge [A.h]"
_FLOOR = "CASIP current floor [A]"
_V_MAX = "Upper voltage cut-off [V]"
_C_POS = "Initial concentration in positive electrode [mol.m-3]"
_C_NEG = "Initial concentration in negative electrode [mol.m-3]"


@dataclass(frozen=True)
class ChargeLimits:
    """Limits a charge must respect.

    Attributes
    ----------
    upper_voltage_V : float, optional
        Voltage at which constant current hands over to constant voltage [V]; the parameter
        set's upper cut-off by default.
    min_anode_potential_V : float, optional
        Lowest allowed potential of a graphite or silicon negative against lithium at the
        separator interface [V] (lithium plating criterion, 0 V by default). None disables it.
        Ignored for lithium-metal cells.
    critical_current_density_mA_cm2 : float, optional
        Critical current density of the lithium/solid-electrolyte interface [mA/cm2]. None
        takes the library's value for the cell's solid-electrolyte separator (lithium-metal
        and anode-free cells). Ignored for intercalation anodes.
    max_temperature_C : float, optional
        Highest allowed cell temperature [degC]. When given, the lumped thermal model is used;
        cells whose base set has no thermal parameters are refused.
    """

    upper_voltage_V: float | None = None
    min_anode_potential_V: float | None = 0.0
    critical_current_density_mA_cm2: float | None = None
    max_temperature_C: float | None = None


@dataclass
class ChargeResult:
    """Outcome of one charge.

    Attributes
    ----------
    name : str
        Design (or parameter set) name.
    protocol : str
        ``"cccv"`` or ``"multistep"``.
    c_rate : float
        First constant-current rate [C] (of the design capacity).
    time_min : float
        Time from ``soc_start`` to ``soc_end`` [min]; NaN if ``soc_end`` was not reached
        (the constant-voltage current fell below C/100 first).
    binding_limit : str
        One of :data:`BINDING_LIMITS`: lithium plating or the critical current density if
        crossed, else the temperature limit if crossed, else ``"upper voltage"`` if constant
        voltage took over, else ``"none"``.
    min_anode_potential_V : float
        Lowest anode potential vs Li at the separator [V] (NaN for lithium-metal cells).
    max_current_density_mA_cm2 : float
        Highest charge current / total electrode area [mA/cm2].
    history : pandas.DataFrame
        ``time_min, soc, voltage_V, current_A`` (positive while charging),
        ``anode_potential_V, temperature_C``.
    soc_start, soc_end : float
        The requested window (fractions of the design capacity).
    capacity_Ah : float
        The design capacity that defines SOC and C-rates [A.h].
    area_cm2 : float
        Total electrode area used for current densities [cm2].
    critical_current_density_mA_cm2 : float or None
        The CCD applied (None for intercalation anodes or when unknown).
    ccd_source : str
        Where the CCD came from.
    max_temperature_C : float
        Highest cell temperature [degC] (the ambient one without the thermal model).
    cv_start_min : float
        When constant voltage took over [min]; NaN if it never did.
    limits_crossed : list of str
        Every limit crossed (the binding one first).
    limits : dict
        The limits applied, with defaults resolved.
    steps : list of (float, float)
        The (C-rate, until SOC) steps run.
    notes : list of str
        Caveats, e.g. that the CCD is the main uncertainty.
    """

    name: str
    protocol: str
    c_rate: float
    time_min: float
    binding_limit: str
    min_anode_potential_V: float
    max_current_density_mA_cm2: float
    history: pd.DataFrame
    soc_start: float = 0.1
    soc_end: float = 0.8
    capacity_Ah: float = math.nan
    area_cm2: float = math.nan
    critical_current_density_mA_cm2: float | None = None
    ccd_source: str = ""
    max_temperature_C: float = math.nan
    cv_start_min: float = math.nan
    limits_crossed: list[str] = field(default_factory=list)
    limits: dict = field(default_factory=dict)
    steps: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self, history: bool = True) -> dict:
        """A JSON-friendly dict (NaN becomes None; the history as a list of records)."""
        d = {k: v for k, v in asdict(self).items() if k != "history"}
        d["steps"] = [list(s) for s in self.steps]
        d = _clean(d)
        if history:
            h = self.history.astype(float).replace({np.nan: None})
            d["history"] = h.to_dict(orient="records")
        return d


def _clean(x):
    if isinstance(x, float | np.floating):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


# --------------------------------------------------------------------------- the cell


@dataclass
class _Cell:
    """What the charge and pulse protocols need of a mapped cell."""

    name: str
    parameter_values: pybamm.ParameterValues
    model_options: dict
    capacity_Ah: float
    area_cm2: float
    intercalation: bool  # graphite/silicon negative (plating limit applies)
    base_set: str
    ccd_mA_cm2: float | None = None
    ccd_source: str = ""
    solid_electrolyte: str | None = None

    def electrode_capacity_Ah(self, electrode: str) -> float:
        pv = self.parameter_values
        e = "Positive" if electrode == "positive" else "Negative"
        area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
        return (
            pv[f"{e} electrode active material volume fraction"]
            * pv[f"{e} electrode thickness [m]"]
            * area
            * pv[f"Maximum concentration in {e.lower()} electrode [mol.m-3]"]
            * F
            / 3600.0
        )

    def soc_inputs(self, soc: float) -> dict[str, float]:
        """Initial concentrations [mol/m3] of a rested cell at ``soc`` (charge balance)."""
        pv = self.parameter_values
        q_out = (1.0 - soc) * self.capacity_Ah
        cmax_p = pv["Maximum concentration in positive electrode [mol.m-3]"]
        y = pv[_C_POS] / cmax_p + q_out / self.electrode_capacity_Ah("positive")
        out = {_C_POS: y * cmax_p}
        bad = not 0.0 < y < 1.0
        if self.intercalation:
            cmax_n = pv["Maximum concentration in negative electrode [mol.m-3]"]
            x = pv[_C_NEG] / cmax_n - q_out / self.electrode_capacity_Ah("negative")
            out[_C_NEG] = x * cmax_n
            bad = bad or not 0.0 < x < 1.0
        if bad:
            raise CasipInputError(
                Problem(
                    "soc",
                    "the state of charge puts an electrode outside its lithium content",
                    soc,
                    "a state of charge in [0, 1]",
                ),
                source=self.name,
            )
        return out

    @property
    def has_thermal(self) -> bool:
        keys = self.parameter_values.keys()
        return all(
            k in keys
            for k in (
                "Total heat transfer coefficient [W.m-2.K-1]",
                "Positive electrode specific heat capacity [J.kg-1.K-1]",
                "Cell volume [m3]",
                "Cell cooling surface area [m2]",
            )
        )


def _ccd_of(design, lib: MaterialLibrary) -> tuple[float | None, str, str | None]:
    sep = lib.materials.get(design.separator.material)
    if sep is None or sep.category != Category.solid_electrolyte:
        return (
            None,
            f"none: the separator {design.separator.material} is not a solid electrolyte",
            None,
        )
    v = sep.critical_current_density_mA_cm2
    if v is None:
        return None, f"none: the library has no critical current density for {sep.id}", sep.id
    note = f" ({v.note})" if getattr(v, "note", None) else ""
    return float(v.value), f"library {sep.id} {v.source}{note}", sep.id


def _cell_for(
    design,
    library: MaterialLibrary | None,
    *,
    temperature_K: float | None = None,
    contact_resistance_ohm_cm2: float | None = None,
    overrides: Mapping[str, object] | None = None,
) -> _Cell:
    """A design, a :class:`PhysicsSetup` or ``"pybamm:<set>"`` -> :class:`_Cell`."""
    if isinstance(design, str):
        if not design.startswith(_PREFIX):
            raise CasipInputError(
                Problem(
                    "design",
                    "a string names a PyBaMM parameter set used as it is",
                    design,
                    "'pybamm:Chen2020' or 'pybamm:Prada2013' (or a Design / design dict)",
                )
            )
        name = design[len(_PREFIX) :]
        if name not in ("Chen2020", "Prada2013"):
            raise CasipInputError(
                Problem("design", "unsupported PyBaMM parameter set", name, "Chen2020, Prada2013")
            )
        base = base_set_c20(name)
        pv = pybamm.ParameterValues(name)
        pv.update(dict(overrides or {}), check_already_exists=False)
        if temperature_K is not None:
            pv.update({"Ambient temperature [K]": temperature_K,
                       "Initial temperature [K]": temperature_K})
        area = pv["Electrode height [m]"] * pv["Electrode width [m]"] * 1e4
        area *= pv["Number of electrodes connected in parallel to make a cell"]
        return _Cell(
            name=name,
            parameter_values=pv,
            model_options={},
            capacity_Ah=base.capacity_Ah,
            area_cm2=area,
            intercalation=True,
            base_set=name,
        )
    if isinstance(design, PhysicsSetup):
        if temperature_K is not None:
            raise CasipInputError(
                Problem(
                    "temperature_c",
                    "the ambient temperature applies when mapping a design; pass temperature_K "
                    "to parameters_for (or edit the PhysicsSetup) instead",
                    temperature_K,
                )
            )
        setup = design
        ccd, ccd_src, se = None, "none: a PhysicsSetup carries no separator material", None
    else:
        lib = library if library is not None else load_library()
        setup = parameters_for(
            design,
            lib,
            temperature_K=temperature_K,
            contact_resistance_ohm_cm2=contact_resistance_ohm_cm2,
            overrides=overrides,
        )
        d = compile_design(design, lib).design
        ccd, ccd_src, se = _ccd_of(d, lib)
    intercalation = setup.model_options.get("working electrode") != "positive"
    return _Cell(
        name=setup.name,
        parameter_values=setup.parameter_values,
        model_options=dict(setup.model_options),
        capacity_Ah=setup.capacity_Ah,
        area_cm2=float(setup.metrics.geometry["cathode_area_cm2"]),
        intercalation=intercalation,
        base_set=setup.base_set,
        ccd_mA_cm2=None if intercalation else ccd,
        ccd_source=ccd_src if not intercalation else "not applied: intercalation anode",
        solid_electrolyte=se,
    )


# --------------------------------------------------------------------------- the rig


def _cccv_control(variables):
    """Residual of the CASIP external circuit: CC (switch 0) or CV (switch 1)."""
    i = variables["Current variable [A]"]
    v = variables["Voltage [V]"]
    i_cc = pybamm.InputParameter(_I_CC)
    m = pybamm.InputParameter(_MODE)
    return (1 - m) * (i + i_cc) / i_cc + m * (v - pybamm.InputParameter(_V_CV)) / 0.01


def _charge_model(model_options: Mapping, *, thermal: bool) -> pybamm.BaseModel:
    """The symbolic DFN of a charge: CASIP's control law, target-charge and floor events.

    It depends only on the model options (no parameter value), so one such model may serve
    any number of parameter sets (:class:`pybamm.Simulation` works on a copy of it).
    """
    options = dict(model_options)
    options["operating mode"] = _cccv_control
    if thermal:
        options["thermal"] = "lumped"
    model = pybamm.lithium_ion.DFN(options=options)
    q = model.variables["Discharge capacity [A.h]"]
    model.events.append(pybamm.Event("CASIP target charge", pybamm.InputParameter(_TARGET) + q))
    model.events.append(
        pybamm.Event(
            "CASIP current floor",
            -model.variables["Current [A]"] - pybamm.InputParameter(_FLOOR),
        )
    )
    model.initial_conditions[model.variables["Current variable [A]"]] = (
        -pybamm.InputParameter(_I_CC)
    )
    return model


class _ChargeModel:
    """A built charge simulation for one parameter structure (several cells may share it).

    ``parameter_values`` may hold ``"[input]"`` for values that differ between the cells it
    serves; each cell's run then passes them as inputs (:class:`_ChargeRig`).
    """

    def __init__(
        self,
        parameter_values: pybamm.ParameterValues,
        model_options: Mapping,
        *,
        intercalation: bool,
        thermal: bool,
        horizon_s: float,
        model: pybamm.BaseModel | None = None,
    ) -> None:
        if model is None:
            model = _charge_model(model_options, thermal=thermal)
        pv = parameter_values.copy()
        pv.update({_C_POS: "[input]", _V_MAX: "[input]"}, check_already_exists=False)
        if intercalation:
            pv.update({_C_NEG: "[input]"})
        outputs = ["Time [s]", "Voltage [V]", "Current [A]", "Discharge capacity [A.h]",
                   TEMPERATURE_VAR]
        if intercalation:
            outputs.append(ANODE_POTENTIAL_VAR)
        self.outputs = outputs
        self.sim = pybamm.Simulation(
            model, parameter_values=pv, solver=make_solver(horizon_s, output_variables=outputs)
        )


class _ChargeRig:
    """One built DFN model that runs any CC / CV chain on one cell.

    ``built`` shares a :class:`_ChargeModel` between cells (:mod:`casip.physics.batch`); its
    ``"[input]"`` values of this cell are ``inputs``, passed to every solve.
    """

    def __init__(
        self,
        cell: _Cell,
        *,
        thermal: bool,
        horizon_s: float,
        built: _ChargeModel | None = None,
        inputs: Mapping[str, float] | None = None,
    ) -> None:
        self.cell = cell
        if built is None:
            built = _ChargeModel(
                cell.parameter_values,
                cell.model_options,
                intercalation=cell.intercalation,
                thermal=thermal,
                horizon_s=horizon_s,
            )
        self.outputs = built.outputs
        self.inputs = dict(inputs or {})
        self.v_max_set = float(cell.parameter_values[_V_MAX])
        self.sim = built.sim

    def run(
        self,
        steps: Sequence[tuple[float, float]],
        soc_start: float,
        soc_end: float,
        v_max: float,
        t_max_s: float,
    ):
        """Run CC steps ``(c_rate, until_soc)`` then CV at ``v_max`` until ``soc_end``.

        Returns the solution and the time [s] at which CV took over (NaN if never).
        """
        q = self.cell.capacity_Ah
        base = dict(self.inputs)
        base.update(self.cell.soc_inputs(soc_start))
        base.update({_V_CV: v_max, _V_MAX: v_max, _MODE: 0.0, _FLOOR: 0.0})
        what = f"charge of {self.cell.name!r}"
        sol = None
        cv_start = math.nan
        k = 0
        while k < len(steps):
            c, until = steps[k]
            inputs = dict(base, **{_I_CC: c * q, _TARGET: (min(until, soc_end) - soc_start) * q})
            if sol is None:
                try:
                    sol = solve(self.sim, [0.0, t_max_s], inputs=inputs, what=f"{c:g}C {what}")
                except CasipInputError as exc:
                    if "reached at the start" not in str(exc):
                        raise
                    k += 1  # the upper voltage is exceeded at once: next step, or CV
                    base[_I_CC] = c * q
                    continue
            else:
                sol = self._continue(sol, inputs, t_max_s, f"{c:g}C {what}")
            base[_I_CC] = c * q
            term = sol.termination
            if "target charge" in term:
                if min(until, soc_end) >= soc_end - 1e-12:
                    return sol, cv_start
                k += 1
                continue
            if "Maximum voltage" in term:
                k += 1
                continue
            raise CasipInputError(
                Problem("", f"{c:g}C {what} ended by {term!r} before the target charge")
            )
        # constant voltage at v_max until soc_end (or the current floor)
        inputs = dict(
            base,
            **{
                _MODE: 1.0,
                _V_MAX: v_max + 0.2,
                _TARGET: (soc_end - soc_start) * q,
                _FLOOR: CV_FLOOR_C_RATE * q,
            },
        )
        inputs.setdefault(_I_CC, steps[-1][0] * q)
        if sol is None:
            cv_start = 0.0
            sol = solve(self.sim, [0.0, t_max_s], inputs=inputs, what=f"CV {what}")
        else:
            cv_start = float(sol.t[-1])
            sol = self._continue(sol, inputs, t_max_s, f"CV {what}")
        return sol, cv_start

    def _continue(self, sol, inputs, t_max_s: float, what: str):
        """Continue ``sol`` from its last state with new inputs (same built model)."""
        t0 = float(sol.t[-1])
        dt = t_max_s - t0
        if dt <= 1.0:
            raise CasipInputError(
                Problem("", f"{what}: not finished within {t_max_s / 3600:.3g} h of charge")
            )
        # PyBaMM's step() refuses to go on after an event; the event is ours to handle
        sol.termination = "final time"
        new = self.sim.step(dt, starting_solution=sol, inputs=inputs)
        if new.termination == "failure":
            raise CasipInputError(
                Problem("", f"{what}: the solver failed at t = {float(new.t[-1]):.4g} s")
            )
        return new


def _history(rig: _ChargeRig, sol, soc_start: float) -> pd.DataFrame:
    q = rig.cell.capacity_Ah
    t = sol["Time [s]"].entries
    n = len(t)
    anode = (
        sol[ANODE_POTENTIAL_VAR].entries if rig.cell.intercalation else np.full(n, np.nan)
    )
    df = pd.DataFrame(
        {
            "time_min": t / 60.0,
            "soc": soc_start - sol["Discharge capacity [A.h]"].entries / q,
            "voltage_V": sol["Voltage [V]"].entries,
            "current_A": -sol["Current [A]"].entries,
            "anode_potential_V": anode,
            "temperature_C": sol[TEMPERATURE_VAR].entries - 273.15,
        }
    )
    # the chained solves repeat the switching instants
    return df.drop_duplicates(subset="time_min", keep="last").reset_index(drop=True)


# --------------------------------------------------------------------------- public API


def _check_window(soc_start: float, soc_end: float) -> None:
    if not (0.0 <= soc_start < soc_end <= 1.0):
        raise CasipInputError(
            Problem(
                "soc_start, soc_end",
                "the charge window must satisfy 0 <= soc_start < soc_end <= 1",
                (soc_start, soc_end),
                "e.g. 0.1 and 0.8",
            )
        )


def _check_rate(c: float, field_: str = "c_rate") -> float:
    c = float(c)
    if not (c > 0 and math.isfinite(c) and c <= 50):
        raise CasipInputError(Problem(field_, "the C-rate must be in (0, 50]", c))
    return c


def _steps_for(protocol: str, c_rate: float, steps, soc_start: float, soc_end: float):
    if protocol == "cccv":
        return [(_check_rate(c_rate), soc_end)]
    if protocol != "multistep":
        raise CasipInputError(
            Problem("protocol", "unknown charge protocol", protocol, "'cccv' or 'multistep'")
        )
    if not steps:
        raise CasipInputError(
            Problem("steps", "a multistep protocol needs (c_rate, until_soc) steps", steps,
                    "e.g. [(3, 0.5), (1.5, 0.8)]")
        )
    out: list[tuple[float, float]] = []
    last = soc_start
    for i, s in enumerate(steps):
        try:
            c, until = (float(v) for v in s)
        except (TypeError, ValueError):
            raise CasipInputError(
                Problem(f"steps[{i}]", "each step is (c_rate, until_soc)", s)
            ) from None
        _check_rate(c, f"steps[{i}].c_rate")
        if not until > last:
            raise CasipInputError(
                Problem(f"steps[{i}].until_soc", "steps must end at increasing SOC above "
                        "soc_start", until, f"> {last:g}")
            )
        out.append((c, min(until, soc_end)))
        last = until
        if until >= soc_end:
            break
    if out[-1][1] < soc_end - 1e-12:
        raise CasipInputError(
            Problem("steps", "the last step ends before soc_end", out[-1][1], f">= {soc_end:g}")
        )
    return out


def _resolve_limits(cell: _Cell, limits: ChargeLimits) -> tuple[dict, list[str]]:
    notes: list[str] = []
    v_max = limits.upper_voltage_V if limits.upper_voltage_V is not None else float(
        cell.parameter_values[_V_MAX]
    )
    anode = limits.min_anode_potential_V if cell.intercalation else None
    if cell.intercalation:
        ccd, src = None, "not applied: intercalation anode"
        if limits.critical_current_density_mA_cm2 is not None:
            notes.append("critical current density ignored: the cell has an intercalation anode")
    elif limits.critical_current_density_mA_cm2 is not None:
        ccd, src = float(limits.critical_current_density_mA_cm2), "caller"
    else:
        ccd, src = cell.ccd_mA_cm2, cell.ccd_source
    if not cell.intercalation:
        notes.append(
            "lithium-metal cell: no plating limit (lithium plating is the charge reaction); the "
            "critical current density is the main uncertainty of this result (it depends on "
            "density, stack pressure, temperature and interface; published values span more "
            "than an order of magnitude)"
        )
        if ccd is None:
            notes.append(f"no critical current density applied ({src})")
    if limits.max_temperature_C is not None and not cell.has_thermal:
        raise CasipInputError(
            Problem(
                "limits.max_temperature_C",
                f"the base set {cell.base_set} has no thermal parameters (heat capacities, "
                "densities, heat-transfer coefficient), so no lumped thermal model can be built "
                "for this cell",
                limits.max_temperature_C,
                "no temperature limit for this cell (only Chen2020-based cells have thermal data)",
            ),
            source=cell.name,
        )
    resolved = {
        "upper_voltage_V": float(v_max),
        "min_anode_potential_V": anode,
        "critical_current_density_mA_cm2": ccd,
        "max_temperature_C": limits.max_temperature_C,
    }
    return resolved, notes + ([f"critical current density from {src}"] if ccd else [])


def _horizon(dsoc: float, c_max: float) -> float:
    """Stall-guard horizon [s]: the constant-current duration of the fastest step."""
    return max(3600.0 * dsoc / c_max, 30.0)


def _time_cap(dsoc: float, steps: Sequence[tuple[float, float]]) -> float:
    """Simulated time allowed for a charge [s]: 1.5 x the slowest CC time + 2 h of CV."""
    return 3600.0 * (1.5 * dsoc / min(c for c, _ in steps) + 2.0)


def _evaluate(
    rig: _ChargeRig,
    sol,
    cv_start: float,
    *,
    protocol: str,
    steps,
    soc_start: float,
    soc_end: float,
    limits: dict,
    notes: list[str],
) -> ChargeResult:
    cell = rig.cell
    h = _history(rig, sol, soc_start)
    reached = "target charge" in sol.termination
    time_min = float(h["time_min"].iloc[-1]) if reached else math.nan
    j = h["current_A"].to_numpy() * 1000.0 / cell.area_cm2
    min_anode = float(np.nanmin(h["anode_potential_V"])) if cell.intercalation else math.nan
    crossed = []
    if limits["min_anode_potential_V"] is not None and min_anode < limits["min_anode_potential_V"]:
        crossed.append("lithium plating (anode potential)")
    ccd = limits["critical_current_density_mA_cm2"]
    if ccd is not None and float(j.max()) > ccd * (1 + 1e-3):
        crossed.append("critical current density")
    t_max = float(h["temperature_C"].max())
    if limits["max_temperature_C"] is not None and t_max > limits["max_temperature_C"]:
        crossed.append("temperature")
    if math.isfinite(cv_start):
        crossed.append("upper voltage")
    binding = crossed[0] if crossed else "none"
    notes = list(notes)
    if not reached:
        notes.append(
            f"soc_end {soc_end:g} not reached: the constant-voltage current fell below "
            f"C/{1 / CV_FLOOR_C_RATE:g} at SOC {float(h['soc'].iloc[-1]):.3f}"
        )
    return ChargeResult(
        name=cell.name,
        protocol=protocol,
        c_rate=float(steps[0][0]),
        time_min=time_min,
        binding_limit=binding,
        min_anode_potential_V=min_anode,
        max_current_density_mA_cm2=float(j.max()),
        history=h,
        soc_start=soc_start,
        soc_end=soc_end,
        capacity_Ah=cell.capacity_Ah,
        area_cm2=cell.area_cm2,
        critical_current_density_mA_cm2=ccd,
        ccd_source=(
            "caller" if ccd is not None and cell.ccd_mA_cm2 != ccd else cell.ccd_source
        ),
        max_temperature_C=t_max,
        cv_start_min=cv_start / 60.0 if math.isfinite(cv_start) else math.nan,
        limits_crossed=crossed,
        limits=limits,
        steps=[tuple(s) for s in steps],
        notes=notes,
    )


def fast_charge(
    design,
    c_rate: float = 1.0,
    *,
    protocol: str = "cccv",
    steps: Sequence[tuple[float, float]] | None = None,
    soc_start: float = 0.1,
    soc_end: float = 0.8,
    limits: ChargeLimits | None = None,
    library: MaterialLibrary | None = None,
    temperature_K: float | None = None,
    contact_resistance_ohm_cm2: float | None = None,
    overrides: Mapping[str, object] | None = None,
    temperature_c: float | None = None,
) -> ChargeResult:
    """Charge a cell from ``soc_start`` to ``soc_end`` and report the time and binding limit.

    Parameters
    ----------
    design : Design, dict, PhysicsSetup or str
        The cell. A :class:`~casip.physics.PhysicsSetup` is used as mapped (no critical
        current density from the library: it carries no separator material; pass one in
        ``limits``). ``"pybamm:Chen2020"`` or ``"pybamm:Prada2013"`` runs PyBaMM's own set
        unchanged, its C/20 capacity defining SOC (for validation against published runs).
    c_rate : float
        Constant-current rate of a CC-CV charge [C, of the design capacity].
    protocol : {"cccv", "multistep"}
        ``"cccv"``: constant current at ``c_rate`` to the upper voltage, then constant voltage
        to ``soc_end``. ``"multistep"``: ``steps`` of constant current, each until its SOC;
        reaching the upper voltage moves on to the next step, and after the last to constant
        voltage.
    steps : sequence of (c_rate, until_soc)
        Multi-step protocol; the last step must reach ``soc_end``.
    soc_start, soc_end : float
        Charge window as fractions of the design capacity (set at rest by charge balance;
        see the module docstring).
    limits : ChargeLimits, optional
        Upper voltage, plating, critical current density and temperature limits.
    library : MaterialLibrary, optional
        Materials library (mapping and critical current density).
    temperature_K, contact_resistance_ohm_cm2, overrides
        Passed to :func:`casip.physics.parameters_for` (ambient temperature [K],
        area-specific contact resistance [Ohm cm2], PyBaMM parameter overrides).
    temperature_c : float, optional
        Ambient and initial temperature [degC], in [-40, 80]; an alternative to
        ``temperature_K`` (not both). Liquid electrolytes without a temperature dependence in
        their base set get an Arrhenius one (:mod:`casip.physics.temperature`).

    Returns
    -------
    ChargeResult
        ``time_min`` to ``soc_end`` and the binding limit. For lithium-metal and anode-free
        cells the critical current density decides the binding limit and **it is the main
        uncertainty**: library CCDs are single literature values that depend strongly on
        density, stack pressure and temperature.

    Raises
    ------
    CasipInputError
        Bad window, rate or steps; a temperature limit on a cell without thermal parameters;
        a failed solve (with the reason).

    Examples
    --------
    >>> from casip.cells import reference_design
    >>> r = fast_charge(reference_design("nmc811-pouch"), 1.0)  # doctest: +SKIP
    >>> r.time_min, r.binding_limit  # doctest: +SKIP
    """
    limits = limits if limits is not None else ChargeLimits()
    temperature_K = ambient_kelvin(temperature_c, temperature_K)
    soc_start, soc_end = float(soc_start), float(soc_end)
    _check_window(soc_start, soc_end)
    step_list = _steps_for(protocol, c_rate, steps, soc_start, soc_end)
    cell = _cell_for(
        design,
        library,
        temperature_K=temperature_K,
        contact_resistance_ohm_cm2=contact_resistance_ohm_cm2,
        overrides=overrides,
    )
    resolved, notes = _resolve_limits(cell, limits)
    horizon = _horizon(soc_end - soc_start, max(c for c, _ in step_list))
    rig = _ChargeRig(cell, thermal=limits.max_temperature_C is not None, horizon_s=horizon)
    return _charge_on(rig, step_list, protocol, soc_start, soc_end, resolved, notes)


def _charge_on(
    rig: _ChargeRig,
    step_list: Sequence[tuple[float, float]],
    protocol: str,
    soc_start: float,
    soc_end: float,
    resolved: dict,
    notes: list[str],
) -> ChargeResult:
    """Run a checked protocol on a rig and evaluate its limits (shared by
    :func:`fast_charge` and :func:`casip.physics.batch.fast_charge_many`)."""
    t_cap = _time_cap(soc_end - soc_start, step_list)
    sol, cv_start = rig.run(step_list, soc_start, soc_end, resolved["upper_voltage_V"], t_cap)
    return _evaluate(
        rig,
        sol,
        cv_start,
        protocol=protocol,
        steps=step_list,
        soc_start=soc_start,
        soc_end=soc_end,
        limits=resolved,
        notes=notes,
    )


def fastest_charge(
    design,
    *,
    limits: ChargeLimits | None = None,
    soc_start: float = 0.1,
    soc_end: float = 0.8,
    library: MaterialLibrary | None = None,
    protocol: str = "cccv",
    iterations: int = 7,
    temperature_K: float | None = None,
    contact_resistance_ohm_cm2: float | None = None,
    overrides: Mapping[str, object] | None = None,
    temperature_c: float | None = None,
) -> ChargeResult:
    """The highest CC-CV rate in [0.1C, 10C] whose charge stays within the limits.

    The critical current density gives its rate bound directly (current density is highest
    during constant current: ``c = CCD x area / capacity``). Plating and temperature are
    searched by bisection on log(C-rate) with one built model (``iterations`` solves after
    the two end points; 7 resolve the rate to about 4%). The upper voltage is not a violation:
    it hands over to constant voltage.

    Parameters
    ----------
    design, limits, soc_start, soc_end, library, temperature_K, contact_resistance_ohm_cm2,
    overrides, temperature_c
        As for :func:`fast_charge`.
    protocol : {"cccv"}
        Only CC-CV is searched.
    iterations : int
        Bisection steps.

    Returns
    -------
    ChargeResult
        The charge at the rate found. If even 0.1C crosses a limit, the 0.1C charge with that
        limit as ``binding_limit`` and a note saying so. Otherwise ``binding_limit`` names the
        limit that stops a faster rate (``"none"`` if 10C stays within every limit).
    """
    if protocol != "cccv":
        raise CasipInputError(
            Problem("protocol", "fastest_charge searches CC-CV rates only", protocol, "'cccv'")
        )
    limits = limits if limits is not None else ChargeLimits()
    temperature_K = ambient_kelvin(temperature_c, temperature_K)
    soc_start, soc_end = float(soc_start), float(soc_end)
    _check_window(soc_start, soc_end)
    cell = _cell_for(
        design,
        library,
        temperature_K=temperature_K,
        contact_resistance_ohm_cm2=contact_resistance_ohm_cm2,
        overrides=overrides,
    )
    resolved, notes = _resolve_limits(cell, limits)
    lo, hi = FASTEST_RANGE
    ccd_bound = None
    ccd = resolved["critical_current_density_mA_cm2"]
    if ccd is not None:
        ccd_bound = ccd * cell.area_cm2 / (1000.0 * cell.capacity_Ah) * (1 - 1e-4)
        hi = min(hi, max(ccd_bound, lo))
    horizon = _horizon(soc_end - soc_start, hi)
    rig = _ChargeRig(cell, thermal=limits.max_temperature_C is not None, horizon_s=horizon)
    searched = ("lithium plating (anode potential)", "temperature", "critical current density")

    def run(c: float) -> ChargeResult:
        t_cap = _time_cap(soc_end - soc_start, [(c, soc_end)])
        sol, cv = rig.run([(c, soc_end)], soc_start, soc_end, resolved["upper_voltage_V"], t_cap)
        return _evaluate(rig, sol, cv, protocol="cccv", steps=[(c, soc_end)],
                         soc_start=soc_start, soc_end=soc_end, limits=resolved, notes=notes)

    def ok(r: ChargeResult) -> bool:
        return not any(x in r.limits_crossed for x in searched)

    top = run(hi)
    if ok(top):
        best = top
        if ccd_bound is not None and hi < FASTEST_RANGE[1]:
            best.binding_limit = "critical current density"
        elif hi >= FASTEST_RANGE[1]:
            best.binding_limit = "none"
            best.notes.append(f"{FASTEST_RANGE[1]:g}C, the top of the range searched, is "
                              "within every limit")
        best.notes.append(f"fastest CC-CV rate: {hi:.3g}C")
        return best
    bottom = run(lo)
    if not ok(bottom):
        bad = next(x for x in searched if x in bottom.limits_crossed)
        bottom.binding_limit = bad
        bottom.notes.append(f"even {lo:g}C crosses the {bad} limit: no CC-CV rate in "
                            f"[{lo:g}, {hi:g}]C respects the limits")
        return bottom
    good, bad_r, bad_c = bottom, top, hi
    good_c = lo
    for _ in range(int(iterations)):
        mid = math.sqrt(good_c * bad_c)
        r = run(mid)
        if ok(r):
            good, good_c = r, mid
        else:
            bad_r, bad_c = r, mid
    binding = next(x for x in searched if x in bad_r.limits_crossed)
    good.binding_limit = binding
    good.notes.append(
        f"fastest CC-CV rate: {good_c:.3g}C (a rate of {bad_c:.3g}C crosses the {binding} limit)"
    )
    return good


__all__ = [
    "BINDING_LIMITS",
    "ChargeLimits",
    "ChargeResult",
    "fast_charge",
    "fastest_charge",
]
