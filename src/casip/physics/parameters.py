"""Map a CASIP design to a PyBaMM model and parameter values.

:func:`parameters_for` takes a design (and optionally a materials library), evaluates it with the
design engine and returns a :class:`PhysicsSetup`: the model options, the
:class:`pybamm.ParameterValues`, the design's :class:`~casip.design.CellMetrics`, the name of the
PyBaMM base parameter set, and every mapped value with its origin.

Approach (see ``docs/physics.md`` for the table of every parameter):

* Liquid and semi-solid cells with an intercalation anode: the Doyle-Fuller-Newman (DFN) model on
  a chemistry-appropriate base set (LFP: ``Prada2013``; Ni-rich layered oxides on graphite:
  ``Chen2020``; Ni-rich oxides on a silicon-graphite blend: ``Chen2020_composite``, a
  two-phase negative with graphite and silicon at one potential at rest, see
  ``docs/physics.md``; LFP on a blend: ``Prada2013`` with one effective negative).
  Geometry, porosities and active-material volume fractions come from the design;
  kinetics, transport, open-circuit potentials and voltage cut-offs from the base set.
* Lithium-metal and anode-free cells: the DFN with ``{"working electrode": "positive"}`` (a
  lithium-metal counter electrode) on ``Xu2019``. With a solid electrolyte (all-solid-state,
  or a dense solid-electrolyte separator) the electrolyte becomes a single-ion conductor:
  cation transference number 1, constant conductivity from the materials library with an
  Arrhenius temperature dependence, separator porosity and Bruggeman coefficient 1, cathode
  "porosity" equal to the solid-electrolyte volume fraction of the composite, a constant
  lithium-interface exchange current and a contact resistance.
* All-solid-state cells with an intercalation anode: the liquid full-cell mapping above (for a
  silicon-graphite blend the two-phase ``Chen2020_composite`` negative) with the same single-ion
  solid electrolyte: each composite's "porosity" is its solid-electrolyte volume fraction (the
  residual voids neglected), dense separator, contact resistance.

Capacity match. The base set's open-circuit potentials and its C/20 stoichiometry window are
kept; maximum concentrations are rescaled so that the model's C/20 capacity reproduces the
design engine's capacity:

1. The base set is discharged once at C/20 from its initial (fully charged) state to its lower
   cut-off (:func:`base_set_c20`, cached). Charge balance gives the stoichiometries at the end
   of discharge: ``y0 = y100 + Q20 / C_p`` (positive) and ``x0 = x100 - Q20 / C_n`` (negative),
   where ``C = eps_active * L * A * c_max * F`` is an electrode's full lithium capacity.
2. Negative: its full capacity is the design's anode capacity taken to the library's
   theoretical specific capacity, ``C_n = NP * Q_design * q_theoretical / q_practical``,
   so ``c_max,n = C_n / (eps_active,n L_n A F)``. The negative keeps the base set's
   end-of-discharge stoichiometry ``x0``; at full charge it holds ``x100 = x0 + Q_design / C_n``.
   A lower N/P therefore fills the negative further, as in the real cell.
3. Positive: it keeps the base set's end-of-discharge stoichiometry ``y0``. At full charge it
   sits at the base set's ``y100``, or less delithiated if the negative's potential at its
   new ``x100`` would otherwise put the open-circuit voltage above the base set's charged
   open-circuit voltage. ``C_p = Q_design / (y0 - y100)`` sets ``c_max,p``.

With the base set's own geometry and capacities this reproduces the base set exactly (a test
checks it against ``pybamm.ParameterValues("Chen2020")``).

References
----------
.. [1] C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
   "Development of experimental techniques for parameterization of multi-scale lithium-ion
   battery models", J. Electrochem. Soc. 167, 080534 (2020).
.. [2] E. Prada, D. Di Domenico, Y. Creff, J. Bernard, V. Sauvant-Moynot, F. Huet, "A
   simplified electrochemical and thermal aging model of LiFePO4-graphite Li-ion batteries:
   power and capacity fade simulations", J. Electrochem. Soc. 160, A616 (2013).
.. [3] S. Xu, K.-H. Chen, N. P. Dasgupta, J. B. Siegel, A. G. Stefanopoulou, "Evolution of
   dead lithium growth in lithium metal batteries: experimentally validated model of the
   apparent capacity loss", J. Electrochem. Soc. 166, A3456 (2019).
.. [4] M. Doyle, T. F. Fuller, J. Newman, "Modeling of galvanostatic charge and discharge of
   the lithium/polymer/insertion cell", J. Electrochem. Soc. 140, 1526 (1993).
.. [5] W. Ai, N. Kirkaldy, Y. Jiang, G. Offer, H. Wang, B. Wu, "A composite electrode model for
   lithium-ion batteries with silicon/graphite negative electrodes", J. Power Sources 527,
   231142 (2022).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pybamm

from casip.design import CellMetrics, evaluate
from casip.design import compile as compile_design
from casip.design.schema import AnodeType, CellKind, Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library
from casip.materials.records import Category

F = 96485.33212  # C/mol, Faraday constant
K_B_EV = 8.617333262e-5  # eV/K, Boltzmann constant
T_REF = 298.15  # K, reference temperature of library conductivities (25 C)

#: Fallback activation energy for a solid electrolyte that neither the library nor the sourced
#: table of :mod:`casip.physics.solid_state` covers (e.g. a user's own material).
ASSUMED_ACTIVATION_ENERGY_EV = 0.3
#: Electrolyte diffusivity of the single-ion conductor: inert at transference number 1.
ASSUMED_SE_DIFFUSIVITY_M2_S = 1e-12

LIQUID_BASE = {"LFP": "Prada2013", "layered": "Chen2020"}
LITHIUM_BASE = "Xu2019"
#: Base set of Ni-rich layered oxides on a silicon-graphite blend: a two-phase negative
#: (primary graphite, secondary silicon) [5].
COMPOSITE_BASE = "Chen2020_composite"
#: Model options of the two-phase negative: two particle phases in the negative, and the
#: silicon's open-circuit potential switching between the set's lithiation and delithiation
#: branches with the sign of the current (the options of PyBaMM's composite-electrode example).
COMPOSITE_OPTIONS = {
    "particle phases": ("2", "1"),
    "open-circuit potential": (("single", "current sigmoid"), "single"),
}
#: The silicon branch a rested negative sits on: it was last discharged (delithiated), both at
#: the start of a discharge from full charge and at the end of the C/20 discharge that defines
#: SOC 0 for the charge protocols.
SILICON_REST_OCP = "Secondary: Negative electrode delithiation OCP [V]"
GRAPHITE_OCP = "Primary: Negative electrode OCP [V]"


@dataclass(frozen=True)
class Mapped:
    """One PyBaMM parameter as CASIP sets it: its value (or a description) and its origin.

    ``origin`` is one of ``"design"``, ``"design engine"``, ``"base set <name>"``,
    ``"library <material> <source>"``, ``"derived: ..."`` or ``"assumed: why"``.
    """

    value: object
    origin: str


@dataclass
class PhysicsSetup:
    """Everything needed to simulate one design with PyBaMM.

    Attributes
    ----------
    name : str
        The design's name.
    approximation : str
        ``"liquid DFN"`` (with the negative in parentheses for silicon blends),
        ``"full-cell DFN (single-ion solid electrolyte, ...)"``, ``"lithium-metal DFN (liquid)"``
        or ``"lithium-metal DFN (single-ion solid electrolyte)"``.
    base_set : str
        The PyBaMM parameter set the values start from.
    model_options : dict
        Options for :class:`pybamm.lithium_ion.DFN`; :meth:`new_model` builds one.
    parameter_values : pybamm.ParameterValues
        The mapped values ("Current function [A]" is the design's 1C current).
    metrics : CellMetrics
        The design engine's result for the same design (capacity, masses, volumes).
    mapping : dict
        PyBaMM parameter name -> :class:`Mapped` for every value CASIP sets or keeps on
        purpose, for the model notes.
    notes : list of str
        Modelling choices and assumptions in words.
    """

    name: str
    approximation: str
    base_set: str
    model_options: dict
    parameter_values: pybamm.ParameterValues
    metrics: CellMetrics
    mapping: dict[str, Mapped] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def capacity_Ah(self) -> float:
        """The design engine's capacity, which the model's C/20 capacity reproduces."""
        return self.metrics.capacity_Ah

    @property
    def lower_cutoff_V(self) -> float:
        return float(self.parameter_values["Lower voltage cut-off [V]"])

    @property
    def upper_cutoff_V(self) -> float:
        return float(self.parameter_values["Upper voltage cut-off [V]"])

    def new_model(self) -> pybamm.lithium_ion.DFN:
        """A fresh DFN model with this setup's options (build once, solve many)."""
        return pybamm.lithium_ion.DFN(options=dict(self.model_options))

    def mapping_table(self):
        """The mapping as a pandas DataFrame: parameter, value, origin."""
        import pandas as pd

        rows = [
            {"parameter": k, "value": _show(m.value), "origin": m.origin}
            for k, m in self.mapping.items()
        ]
        return pd.DataFrame(rows)


def _show(v: object) -> object:
    if isinstance(v, float):
        return f"{v:.4g}"
    return v


# --------------------------------------------------------------------------- base sets


@dataclass(frozen=True)
class BaseC20:
    """A base set's own C/20 discharge from its initial state (fully charged).

    Capacities in A.h for the base set's own geometry; stoichiometries are electrode averages.
    For a lithium-metal set the negative entries are NaN.
    """

    name: str
    capacity_Ah: float
    positive_capacity_Ah: float  # eps * L * A * c_max * F
    negative_capacity_Ah: float
    y100: float
    y0: float
    x100: float
    x0: float
    ocv100_V: float  # open-circuit voltage of the initial (charged) state
    lower_cutoff_V: float
    upper_cutoff_V: float
    #: Two-phase sets: ``x100``/``x0`` are the primary (graphite) phase's average
    #: stoichiometries, these the secondary (silicon) phase's.
    x100_secondary: float = math.nan
    x0_secondary: float = math.nan


def _full_capacity_Ah(
    pv: pybamm.ParameterValues, electrode: str, area_m2: float, phase: str = ""
) -> float:
    """``eps_active L A c_max F`` [A.h]; ``phase`` is ``""``, ``"Primary: "`` or
    ``"Secondary: "``."""
    e = "Positive" if electrode == "positive" else "Negative"
    return (
        pv[f"{phase}{e} electrode active material volume fraction"]
        * pv[f"{e} electrode thickness [m]"]
        * area_m2
        * pv[f"{phase}Maximum concentration in {e.lower()} electrode [mol.m-3]"]
        * F
        / 3600.0
    )


def _ocp(pv: pybamm.ParameterValues, electrode: str, sto: np.ndarray) -> np.ndarray:
    """Open-circuit potential [V] of a base set's electrode at stoichiometries ``sto``.

    ``electrode`` is ``"positive"``, ``"negative"`` or a full parameter name (e.g. a phase's
    ``"Primary: Negative electrode OCP [V]"``)."""
    if electrode in ("positive", "negative"):
        key = f"{'Positive' if electrode == 'positive' else 'Negative'} electrode OCP [V]"
    else:
        key = electrode
    f = pv[key]
    sto = np.atleast_1d(np.asarray(sto, dtype=float))
    if not callable(f):
        return np.full(sto.shape, float(f))
    n_args = len(inspect.signature(f).parameters)
    args = [pybamm.Vector(sto)]
    if n_args >= 2:
        args.append(pybamm.Scalar(float(pv["Reference temperature [K]"])))
    return np.asarray(f(*args).evaluate(), dtype=float).ravel()


def _is_lithium_set(name: str) -> bool:
    return name == LITHIUM_BASE


@functools.cache
def base_set_c20(name: str) -> BaseC20:
    """Discharge a PyBaMM base set at C/20 from its initial state; cached per process.

    The base set's own "Nominal cell capacity [A.h]" is not trusted (Prada2013 says 2.3 Ah and
    delivers about 1.94 Ah at 1C): the C-rate is set from a first run and the discharge
    repeated at the C/20 of the capacity found.
    """
    from casip.physics.solving import make_solver, solve

    pv = pybamm.ParameterValues(name)
    composite = name == COMPOSITE_BASE
    if _is_lithium_set(name):
        options: dict = {"working electrode": "positive"}
    else:
        options = dict(COMPOSITE_OPTIONS) if composite else {}
    outputs = ["Discharge capacity [A.h]"]
    if composite:
        outputs += [
            "Average negative primary particle stoichiometry",
            "Average negative secondary particle stoichiometry",
        ]
    area = pv["Electrode height [m]"] * pv["Electrode width [m]"]
    cp = _full_capacity_Ah(pv, "positive", area)
    y100 = (
        pv["Initial concentration in positive electrode [mol.m-3]"]
        / pv["Maximum concentration in positive electrode [mol.m-3]"]
    )
    # first guess of the capacity: what the positive can take up to full lithiation
    q_guess = cp * (1.0 - y100)
    pv = pv.copy()
    pv["Current function [A]"] = "[input]"
    horizon = 40 * 3600.0
    sim = pybamm.Simulation(
        pybamm.lithium_ion.DFN(options=options),
        parameter_values=pv,
        solver=make_solver(horizon, output_variables=outputs),
    )
    q = q_guess
    for _ in range(2):
        sol = solve(
            sim,
            [0.0, horizon],
            inputs={"Current function [A]": q / 20.0},
            what=f"C/20 discharge of base set {name}",
        )
        q = float(sol["Discharge capacity [A.h]"].entries[-1])
    x100_2 = x0_2 = math.nan
    if composite:
        cn = _full_capacity_Ah(pv, "negative", area, "Primary: ") + _full_capacity_Ah(
            pv, "negative", area, "Secondary: "
        )
        x100 = float(sol["Average negative primary particle stoichiometry"].entries[0])
        x0 = float(sol["Average negative primary particle stoichiometry"].entries[-1])
        x100_2 = float(sol["Average negative secondary particle stoichiometry"].entries[0])
        x0_2 = float(sol["Average negative secondary particle stoichiometry"].entries[-1])
        ocv100 = float(
            _ocp(pv, "positive", np.array([y100]))[0] - _ocp(pv, GRAPHITE_OCP, np.array([x100]))[0]
        )
    elif _is_lithium_set(name):
        cn = x100 = x0 = math.nan
        ocv100 = float(_ocp(pv, "positive", np.array([y100]))[0])
    else:
        cn = _full_capacity_Ah(pv, "negative", area)
        x100 = (
            pv["Initial concentration in negative electrode [mol.m-3]"]
            / pv["Maximum concentration in negative electrode [mol.m-3]"]
        )
        x0 = x100 - q / cn
        ocv100 = float(
            _ocp(pv, "positive", np.array([y100]))[0] - _ocp(pv, "negative", np.array([x100]))[0]
        )
    return BaseC20(
        name=name,
        capacity_Ah=q,
        positive_capacity_Ah=cp,
        negative_capacity_Ah=cn,
        y100=float(y100),
        y0=float(y100 + q / cp),
        x100=float(x100),
        x0=float(x0),
        ocv100_V=ocv100,
        lower_cutoff_V=float(pv["Lower voltage cut-off [V]"]),
        upper_cutoff_V=float(pv["Upper voltage cut-off [V]"]),
        x100_secondary=x100_2,
        x0_secondary=x0_2,
    )


# --------------------------------------------------------------------------- chemistry


def _cathode_family(material_id: str, formula: str | None) -> str | None:
    """``"LFP"``, ``"layered"`` (Ni-rich NMC/NCA) or None (no base set)."""
    f = (formula or "").replace(" ", "")
    mid = material_id.upper()
    if mid == "LFP" or (f and "PO4" in f and "Fe" in f and "Mn" not in f and "Co" not in f):
        return "LFP"
    if mid.startswith(("NMC", "NCM", "NCA")) or (f and "Ni" in f and "O2" in f):
        return "layered"
    return None


def _anode_kind(lib: MaterialLibrary, material_id: str) -> str | None:
    """``"graphite"`` (formula C), ``"silicon"`` (formula Si) or None (no PyBaMM negative)."""
    m = lib.materials[material_id]
    f = (m.formula or "").replace(" ", "")
    if f == "C" or material_id.lower().startswith("graphite"):
        return "graphite"
    if f == "Si" or material_id.lower().startswith("silicon"):
        return "silicon"
    return None


def _refuse(field_: str, message: str, value: object, expected: str, source: str | None):
    raise CasipInputError(Problem(field_, message, value, expected), source=source)


def _volume_fractions(
    w: Mapping[str, float], rho: Mapping[str, float], porosity: float
) -> dict[str, float]:
    """Volume fraction of each solid component of a composite coating.

    ``eps_i = (1 - porosity) * (w_i / rho_i) / sum_j (w_j / rho_j)`` over the components with
    a non-zero mass fraction.
    """
    inv = {k: w[k] / rho[k] for k in w if w[k] > 0}
    total = sum(inv.values())
    return {k: (1.0 - porosity) * v / total for k, v in inv.items()}


def _arrhenius_conductivity(sigma_ref_S_m: float, ea_eV: float) -> Callable:
    """A PyBaMM electrolyte conductivity function (c_e, T) -> S/m, Arrhenius in T."""

    def conductivity(c_e, T):
        return sigma_ref_S_m * pybamm.exp(-ea_eV / K_B_EV * (1.0 / T - 1.0 / T_REF))

    conductivity.__name__ = f"arrhenius_{sigma_ref_S_m:.3g}S_m_{ea_eV:.3g}eV"
    return conductivity


def _constant_li_exchange_current(j0: float) -> Callable:
    def exchange_current(c_e, c_Li, T):
        return pybamm.Scalar(j0)

    exchange_current.__name__ = f"constant_{j0:g}A_m2"
    return exchange_current


# --------------------------------------------------------------------------- mapping


def parameters_for(
    design: Design | Mapping,
    library: MaterialLibrary | None = None,
    *,
    temperature_K: float | None = None,
    contact_resistance_ohm_cm2: float | None = None,
    overrides: Mapping[str, object] | None = None,
    source: str | None = None,
    stack_pressure_MPa: float | None = None,
    solid_state_case: str = "central",
) -> PhysicsSetup:
    """Map a design to a PyBaMM DFN model and parameter values.

    Parameters
    ----------
    design : Design or dict
        The cell design.
    library : MaterialLibrary, optional
        Materials to resolve ids against (densities, capacities, conductivities); the bundled
        library by default.
    temperature_K : float, optional
        Ambient and initial temperature [K]; the base set's (298.15 K) by default. The
        solid-electrolyte conductivity follows it through its Arrhenius law.
    contact_resistance_ohm_cm2 : float, optional
        Area-specific contact resistance [Ohm cm2], an explicit override. A solid-state cell
        otherwise gets the interface resistances of :mod:`casip.physics.solid_state` at the
        stack pressure and temperature; liquid cells have none unless given.
    overrides : mapping, optional
        PyBaMM parameter name -> value, applied last (origin ``"caller"``).
    source : str, optional
        Where the design came from, named in errors.
    stack_pressure_MPa : float, optional
        Stack pressure [MPa] of a solid-state cell: sets the lithium | solid-electrolyte
        contact resistance (``P^-0.5`` law, see :mod:`casip.physics.solid_state`). Default:
        the design's ``pressure_hardware.pressure_MPa``, else 5 MPa (the pressure of the cited
        Li | Li6PS5Cl cells, Doux et al. 2020). Below 5 MPa with lithium metal the setup's
        notes carry a warning (voids and contact loss are not modelled).
    solid_state_case : str
        ``"central"`` (default), ``"pessimistic"`` or ``"optimistic"``: which end of the
        sourced ranges the uncertain solid-state values take (see
        :func:`casip.physics.solid_state.solid_state_band`).

    Returns
    -------
    PhysicsSetup

    Raises
    ------
    CasipInputError
        If the design is invalid, or its chemistry or kind has no PyBaMM mapping yet (the
        message says why), or a mapped value is out of range.
    """
    lib = library if library is not None else load_library()
    comp = compile_design(design, lib, source=source)
    d = comp.design
    assert d is not None
    src = source or d.name
    metrics = evaluate(d, lib, source=source)
    p = comp.params
    ss = _SolidStateInputs(
        stack_pressure_MPa=(
            stack_pressure_MPa
            if stack_pressure_MPa is not None
            else (d.pressure_hardware.pressure_MPa if d.pressure_hardware is not None else None)
        ),
        case=solid_state_case,
        pressure_given=stack_pressure_MPa is not None
        or (d.pressure_hardware is not None and d.pressure_hardware.pressure_MPa is not None),
    )
    if solid_state_case not in ("central", "pessimistic", "optimistic"):
        _refuse(
            "solid_state_case",
            "unknown case",
            solid_state_case,
            "central, pessimistic or optimistic",
            src,
        )

    cat = lib.materials[d.cathode.active]
    family = _cathode_family(cat.id, cat.formula)
    if family is None:
        _refuse(
            "cathode.active",
            "no PyBaMM parameter set for this chemistry yet (CASIP maps LFP to Prada2013 and "
            "Ni-rich layered oxides, NMC/NCA, to Chen2020 or Xu2019)",
            d.cathode.active,
            "LFP, NMC811, NMC622, NMC532 or NCA",
            src,
        )
    a_type = d.anode.type
    if a_type == AnodeType.intercalation:
        others = [m for m in d.anode.active if _anode_kind(lib, m) is None]
        if others:
            _refuse(
                "anode.active",
                "no PyBaMM negative-electrode parameters for this anode material yet",
                ", ".join(others),
                "graphite, optionally blended with silicon",
                src,
            )
        return _liquid_full_cell(
            d, p, lib, metrics, family, temperature_K, contact_resistance_ohm_cm2, overrides, src,
            ss,
        )
    if family != "layered":
        _refuse(
            "cathode.active",
            "no PyBaMM parameter set for this chemistry against lithium metal yet (Xu2019 "
            "has a layered-oxide positive)",
            d.cathode.active,
            "NMC or NCA with a lithium_metal or anode_free anode",
            src,
        )
    return _lithium_metal_cell(
        d, p, lib, metrics, temperature_K, contact_resistance_ohm_cm2, overrides, src, ss
    )


def _common_geometry(
    d: Design, metrics: CellMetrics, pv: pybamm.ParameterValues, m: dict[str, Mapped]
) -> float:
    """Electrode area, capacity, current; returns the area in m2."""
    g = metrics.geometry
    area_m2 = g["cathode_area_cm2"] * 1e-4
    height_m = g["electrode_height_mm"] * 1e-3
    width_m = area_m2 / height_m
    set_ = _setter(pv, m)
    set_("Electrode height [m]", height_m, "design engine: cathode electrode height")
    set_(
        "Electrode width [m]",
        width_m,
        "derived: total cathode area (all faces, design engine) / electrode height, one pair",
    )
    set_(
        "Number of electrodes connected in parallel to make a cell",
        1.0,
        "derived: the whole area is one electrode pair",
    )
    set_("Nominal cell capacity [A.h]", metrics.capacity_Ah, "design engine: capacity_Ah")
    set_("Current function [A]", metrics.capacity_Ah, "derived: 1C of the design capacity")
    set_(
        "Positive electrode thickness [m]",
        g["cathode_thickness_um"] * 1e-6,
        "design engine: cathode coating thickness per side",
    )
    set_("Separator thickness [m]", d.separator.thickness_um * 1e-6, "design: separator")
    # lumped thermal models: the cell's outer volume and surface (only where the base set has
    # thermal parameters)
    if "Cell volume [m3]" in pv.keys():
        set_("Cell volume [m3]", metrics.volume_cm3 * 1e-6, "design engine: volume_cm3")
    if "Cell cooling surface area [m2]" in pv.keys():
        w_, h_, t_ = (g[k] * 1e-3 for k in ("cell_width_mm", "cell_height_mm", "cell_thickness_mm"))
        if d.format.type == "cylindrical":
            surface = math.pi * w_ * h_ + 2 * math.pi * (w_ / 2) ** 2
        else:
            surface = 2 * (w_ * h_ + w_ * t_ + h_ * t_)
        set_(
            "Cell cooling surface area [m2]",
            surface,
            "derived: outer surface of the cell (design engine dimensions)",
        )
    return area_m2


def _setter(pv: pybamm.ParameterValues, m: dict[str, Mapped]):
    def set_(name: str, value, origin: str, shown: object = None) -> None:
        pv.update({name: value}, check_already_exists=False)
        m[name] = Mapped(value if shown is None else shown, origin)

    return set_


def _keep(pv: pybamm.ParameterValues, m: dict[str, Mapped], base: str, *names: str) -> None:
    for n in names:
        if n in pv.keys():
            v = pv[n]
            m[n] = Mapped(
                v if isinstance(v, int | float | str) else getattr(v, "__name__", "fn"),
                f"base set {base}",
            )


def _source_of(lib: MaterialLibrary, mid: str, prop: str) -> str:
    v = getattr(lib.materials[mid], prop)
    if v is None:
        return "missing"
    if v.source == "assumed":
        return f"library {mid} assumed ({v.note})"
    return f"library {mid} {v.source}"


def _temperature(pv, set_, base: str, temperature_K: float | None) -> float:
    if temperature_K is None:
        return float(pv["Ambient temperature [K]"])
    if not 200.0 <= temperature_K <= 400.0:
        raise CasipInputError(
            Problem(
                "temperature_K",
                "temperature out of range",
                temperature_K,
                "a value in [200, 400] K",
            )
        )
    set_("Ambient temperature [K]", float(temperature_K), "caller")
    set_("Initial temperature [K]", float(temperature_K), "caller")
    return float(temperature_K)


def _apply_overrides(pv, set_, overrides: Mapping[str, object] | None) -> None:
    for k, v in (overrides or {}).items():
        set_(k, v, "caller")


def _check_fraction(name: str, v: float, src: str) -> None:
    if not (0.0 < v < 1.0):
        raise CasipInputError(
            Problem(name, "mapped value out of range for PyBaMM", round(v, 6), "in (0, 1)"),
            source=src,
        )


def _liquid_full_cell(
    d: Design,
    p: Mapping[str, float],
    lib: MaterialLibrary,
    metrics: CellMetrics,
    family: str,
    temperature_K: float | None,
    contact_resistance_ohm_cm2: float | None,
    overrides: Mapping[str, object] | None,
    src: str,
    ss: _SolidStateInputs | None = None,
) -> PhysicsSetup:
    ss = ss or _SolidStateInputs()
    blend = dict(d.anode.active)
    has_silicon = any(_anode_kind(lib, k) == "silicon" for k in blend)
    composite = has_silicon and family == "layered"
    base_name = COMPOSITE_BASE if composite else LIQUID_BASE[family]
    base = base_set_c20(base_name)
    pv = pybamm.ParameterValues(base_name)
    m: dict[str, Mapped] = {}
    set_ = _setter(pv, m)
    notes: list[str] = []
    area = _common_geometry(d, metrics, pv, m)
    g = metrics.geometry
    fill = d.electrolyte.pore_fill if d.electrolyte is not None else 1.0
    semi = d.kind == CellKind.semi_solid
    solid = d.kind == CellKind.all_solid_state

    # ---- porosities and volume fractions
    c_frac = _volume_fractions(
        {
            "active": p["c_w_active"],
            "catholyte": p["c_w_catholyte"],
            "carbon": p["c_w_carbon"],
            "binder": p["c_w_binder"],
        },
        {
            "active": p["c_rho_active"],
            "catholyte": p["c_rho_catholyte"],
            "carbon": p["c_rho_carbon"],
            "binder": p["c_rho_binder"],
        },
        d.cathode.porosity,
    )
    a_frac = _volume_fractions(
        {
            "active": p["a_w_active"],
            "electrolyte": p["a_w_electrolyte"],
            "carbon": p["a_w_carbon"],
            "binder": p["a_w_binder"],
        },
        {
            "active": p["a_rho_active"],
            "electrolyte": p["a_rho_electrolyte"],
            "carbon": p["a_rho_carbon"],
            "binder": p["a_rho_binder"],
        },
        d.anode.porosity,
    )
    if solid:
        # single-ion solid electrolyte: the electrolyte phase of each composite is its
        # solid-electrolyte volume fraction; the residual voids are neglected
        se, ea = _solid_electrolyte_conductivity(d, lib, set_, m, src, ss.case)
        eps_p = c_frac.get("catholyte", 0.0)
        eps_n = a_frac.get("electrolyte", 0.0)
        for name, v in (
            ("Positive electrode porosity", eps_p),
            ("Negative electrode porosity", eps_n),
        ):
            _check_fraction(name, v, src)
        se_how = (
            "derived: {what} volume fraction (1 - porosity) (w/rho)_SE / sum(w/rho), design mass "
            "fractions and library densities (the {porosity:g} residual voids are neglected)"
        )
        set_(
            "Positive electrode porosity",
            eps_p,
            se_how.format(what="catholyte", porosity=d.cathode.porosity),
        )
        set_(
            "Negative electrode porosity",
            eps_n,
            se_how.format(what="anode solid-electrolyte", porosity=d.anode.porosity),
        )
        for pole, se_id, eps, label in (
            ("Positive", d.cathode.catholyte, eps_p, "cathode"),
            ("Negative", d.anode.electrolyte, eps_n, "anode"),
        ):
            b, b_how = _composite_bruggeman(lib, se, se_id, eps, label, notes)
            set_(f"{pole} electrode Bruggeman coefficient (electrolyte)", b, b_how)
        _single_ion_electrolyte(d, set_)
    else:
        fill_note = "" if fill == 1 else f" x pore_fill {fill:g}"
        eps_p = d.cathode.porosity * fill
        eps_n = d.anode.porosity * fill
        eps_s = d.separator.porosity * fill
        for name, v in (
            ("Positive electrode porosity", eps_p),
            ("Negative electrode porosity", eps_n),
            ("Separator porosity", eps_s),
        ):
            _check_fraction(name, v, src)
        set_("Positive electrode porosity", eps_p, f"design: cathode.porosity{fill_note}")
        set_("Negative electrode porosity", eps_n, f"design: anode.porosity{fill_note}")
        set_("Separator porosity", eps_s, f"design: separator.porosity{fill_note}")
    set_(
        "Positive electrode active material volume fraction",
        c_frac["active"],
        "derived: (1 - porosity) (w/rho)_active / sum(w/rho), design mass fractions and "
        "library densities",
    )
    set_(
        "Negative electrode active material volume fraction",
        a_frac["active"],
        "derived: (1 - porosity) (w/rho)_active / sum(w/rho), design mass fractions and "
        "library densities",
    )
    set_(
        "Negative electrode thickness [m]",
        g["anode_thickness_um"] * 1e-6,
        "design engine: anode coating thickness per side (as built)",
    )
    for pole, cc in (
        ("Positive", d.current_collectors.positive),
        ("Negative", d.current_collectors.negative),
    ):
        n = f"{pole} current collector thickness [m]"
        if n in pv.keys():
            set_(n, cc.thickness_um * 1e-6, f"design: current_collectors.{pole.lower()}")

    # ---- capacity match, with the lithium lost on formation
    q = metrics.capacity_Ah
    q_pos = _positive_capacity_Ah(g)
    loss = _formation_loss(q, q_pos)
    neg_ocp = GRAPHITE_OCP if composite else "negative"
    ocv0 = float(
        _ocp(pv, "positive", np.array([base.y0]))[0] - _ocp(pv, neg_ocp, np.array([base.x0]))[0]
    )
    y100 = base.y100
    for _ in range(8):  # the charged positive depends on the negative and back: fixed point
        # end of discharge: the positive short of y0 by the lithium lost, the negative at the
        # potential that puts the open-circuit voltage at the base set's end-of-discharge one
        y_end = base.y0 - loss / q_pos * (base.y0 - y100)
        u_end = None if loss == 0.0 else float(_ocp(pv, "positive", np.array([y_end]))[0]) - ocv0
        neg_notes: list[str] = []
        if composite:
            neg_values, un = _composite_negative(
                d, p, lib, pv, neg_notes, g, area, q, base, src, u_end
            )
        else:
            neg_values, un = _effective_negative(
                d, p, pv, neg_notes, g, area, q, a_frac, base, src, u_end
            )
        y100_new, pos_note = _charged_positive(pv, un, base)
        if abs(y100_new - y100) < 1e-7:
            break
        y100 = y100_new
    notes += neg_notes + pos_note
    _positive_window(pv, set_, g, area, q_pos, y100, c_frac, base, base_name, src)
    for name, value, how, *shown in neg_values:
        set_(name, value, how, *shown)
    if loss > 0.0:
        notes.append(
            f"first-cycle loss: the design engine's capacity is after formation; the positive "
            f"keeps its reversible capacity {q_pos:.4g} Ah (window y100-y0) and the lithium "
            f"lost to the negative's SEI ({loss:.4g} Ah, {loss / q_pos:.1%}) is missing from "
            f"the cyclable inventory: the discharge ends with the positive at {y_end:.4f} "
            f"instead of {base.y0:.4f} and the negative emptied to {u_end * 1e3:.0f} mV vs Li"
        )

    # ---- semi-solid and silicon
    approximation = "liquid DFN"
    if semi:
        notes.append(
            "semi-solid: modelled as the liquid DFN; only the liquid-filled pore fraction "
            "(porosity x pore_fill) conducts, with the base set's liquid-electrolyte "
            "properties; the solid-electrolyte additive counts as inert volume"
        )
    if composite:
        approximation = "liquid DFN (two-phase silicon-graphite negative)"
    elif has_silicon:
        notes.append(
            "silicon-graphite blend: one effective negative with the base set's graphite "
            "open-circuit potential and kinetics and the blend's theoretical capacity "
            "(capacity-weighted); the silicon plateau (about 0.4 V vs Li) and its hysteresis "
            "are not represented"
        )
        approximation = "liquid DFN (effective silicon-graphite negative)"
    if solid:
        negative = (
            "two-phase silicon-graphite negative"
            if composite
            else "effective silicon-graphite negative"
            if has_silicon
            else "graphite negative"
        )
        approximation = f"full-cell DFN (single-ion solid electrolyte, {negative})"
        notes.append(
            "all-solid-state full cell: the single-ion solid-electrolyte approximation on the "
            f"{base_name} full cell (transference number 1, constant {se.id} conductivity with "
            "an Arrhenius temperature dependence, dense separator, composite electrolyte "
            "fractions from the solid-electrolyte volume fractions, contact resistance); "
            f"kinetics, particle sizes and open-circuit potentials stay {base_name}'s liquid-"
            "cell values, so the solid/solid interface kinetics are not represented"
        )

    # ---- kept from the base set
    electrolyte_kept = (
        ()
        if solid
        else (
            "Electrolyte conductivity [S.m-1]",
            "Electrolyte diffusivity [m2.s-1]",
            "Cation transference number",
            "Positive electrode Bruggeman coefficient (electrolyte)",
            "Negative electrode Bruggeman coefficient (electrolyte)",
            "Separator Bruggeman coefficient (electrolyte)",
        )
    )
    _keep(
        pv,
        m,
        base_name,
        "Positive electrode OCP [V]",
        "Negative electrode OCP [V]",
        "Positive electrode exchange-current density [A.m-2]",
        "Negative electrode exchange-current density [A.m-2]",
        "Positive particle radius [m]",
        "Negative particle radius [m]",
        "Positive particle diffusivity [m2.s-1]",
        "Negative particle diffusivity [m2.s-1]",
        "Positive electrode conductivity [S.m-1]",
        "Negative electrode conductivity [S.m-1]",
        *electrolyte_kept,
        "Initial concentration in electrolyte [mol.m-3]",
        "Lower voltage cut-off [V]",
        "Upper voltage cut-off [V]",
        "Ambient temperature [K]",
    )
    if composite:
        _keep(
            pv,
            m,
            base_name,
            *(
                f"{phase}: {n}"
                for phase in ("Primary", "Secondary")
                for n in (
                    "Negative electrode exchange-current density [A.m-2]",
                    "Negative particle radius [m]",
                    "Negative particle diffusivity [m2.s-1]",
                )
            ),
            GRAPHITE_OCP,
            "Secondary: Negative electrode lithiation OCP [V]",
            "Secondary: Negative electrode delithiation OCP [V]",
        )
    elif has_silicon:
        m["Negative electrode OCP [V]"] = Mapped(
            getattr(pv["Negative electrode OCP [V]"], "__name__", "fn"),
            f"base set {base_name}: graphite OCP for the whole silicon-graphite blend "
            "(approximation)",
        )
    _temperature(pv, set_, base_name, temperature_K)
    if not solid:  # liquid electrolyte: Arrhenius transport where the base set has none
        from casip.physics.temperature import add_electrolyte_temperature_dependence

        notes += add_electrolyte_temperature_dependence(pv, set_, base_name)
    options: dict = dict(COMPOSITE_OPTIONS) if composite else {}
    if solid:
        _solid_contact_resistance(
            options,
            set_,
            m,
            area,
            contact_resistance_ohm_cm2,
            se_id=se.id,
            ea_eV=ea,
            lithium=False,
            solid_cathode=p["c_w_catholyte"] > 0,
            temperature_K=temperature_K,
            ss=ss,
            notes=notes,
        )
    elif contact_resistance_ohm_cm2 is not None:
        options["contact resistance"] = "true"
        set_(
            "Contact resistance [Ohm]",
            contact_resistance_ohm_cm2 * 1e-4 / area,
            "caller: area-specific contact resistance / electrode area",
        )
    _apply_overrides(pv, set_, overrides)
    notes.append(
        f"voltage cut-offs from {base_name}: {base.lower_cutoff_V:g} V to {base.upper_cutoff_V:g} V"
    )
    notes.append("the anode overhang is not modelled: the negative has the cathode's area")
    return PhysicsSetup(
        name=d.name,
        approximation=approximation,
        base_set=base_name,
        model_options=options,
        parameter_values=pv,
        metrics=metrics,
        mapping=m,
        notes=notes,
    )


def _positive_capacity_Ah(g: Mapping[str, float]) -> float:
    """The positive's reversible capacity before formation [A.h]: the design engine's cathode
    areal capacity x cathode area (capped by the anode's capacity, N/P < 1)."""
    return (
        g["cathode_areal_capacity_mAh_cm2"]
        * g["cathode_area_cm2"]
        * 1e-3
        * min(1.0, g["np_ratio"])
    )


def _formation_loss(q: float, q_pos: float) -> float:
    """Lithium lost on formation [A.h]: the positive's reversible capacity minus the design
    engine's capacity after formation (0 when the positive limits, rounding included)."""
    loss = q_pos - q
    return loss if loss > 1e-9 * q_pos else 0.0


def _effective_negative(d, p, pv, notes, g, area, q, a_frac, base, src, u_end=None):
    """One-phase negative: returns its values to set and its potential at full charge [V].

    ``u_end`` is its potential at the end of discharge [V] when lithium was lost on formation
    (None: the base set's end stoichiometry ``x0``)."""
    base_name = base.name
    blend = dict(d.anode.active)
    q_prac = p["a_q_mAh_g"]
    q_th = p["a_qth_mAh_g"]
    if not (q_th == q_th and q_th > 0):  # NaN: no theoretical capacity in the library
        q_th = q_prac
        notes.append("anode theoretical capacity missing in the library: practical used")
    np_ratio = g["np_ratio"]
    cn = (
        np_ratio
        * g["cathode_areal_capacity_mAh_cm2"]
        * g["cathode_area_cm2"]
        * 1e-3
        * (q_th / q_prac)
    )
    x_end = base.x0 if u_end is None else _negative_end(pv, "negative", u_end, base, src)
    x100 = x_end + q / cn
    if not x100 < 0.995:
        _refuse(
            "anode.np_ratio",
            f"the negative cannot take the positive's lithium in the {base_name} mapping "
            f"(full-charge stoichiometry {x100:.3f} >= 0.995): anode-limited designs are not "
            "supported",
            round(np_ratio, 4),
            f"an N/P ratio above about {(q_prac / q_th) / (0.995 - base.x0):.2f}",
            src,
        )
    c_max_n = cn * 3600.0 / (F * a_frac["active"] * g["anode_thickness_um"] * 1e-6 * area)
    un = float(_ocp(pv, "negative", np.array([x100]))[0])
    values = [
        (
            "Maximum concentration in negative electrode [mol.m-3]",
            c_max_n,
            "derived: C_n = N/P x Q_c x q_theoretical/q_practical (design engine N/P, library "
            f"capacities of {', '.join(blend)})",
        ),
        (
            "Initial concentration in negative electrode [mol.m-3]",
            x100 * c_max_n,
            f"derived: x100 = x_end + Q_design / C_n = {x_end:.4f} + {q / cn:.4f}"
            + (" (x_end: the base set's x0)" if u_end is None else
               " (x_end: emptied by the lithium lost on formation)"),
        ),
    ]
    return values, un


def _negative_end(pv, ocp: str, u_end: float, base, src) -> float:
    """Stoichiometry of a negative (its OCP named by ``ocp``) at potential ``u_end`` [V]: where
    a cell short of lithium ends its discharge."""
    s = np.linspace(1e-4, 0.999, 9991)
    u = _ocp(pv, ocp, s)
    if not u_end < u[0]:
        _refuse(
            "anode",
            f"the lithium lost on formation empties the {base.name} negative before the "
            f"lower cut-off (it would have to reach {u_end:.3f} V vs Li, its open-circuit "
            f"potential ends at {u[0]:.3f} V)",
            round(u_end, 4),
            "a smaller first-cycle loss",
            src,
        )
    return float(_inverse_ocp(s, u, np.array([u_end]))[0])


def _charged_positive(pv, un: float, base: BaseC20) -> tuple[float, list[str]]:
    """The positive's stoichiometry at full charge: the base set's ``y100``, or less delithiated
    if the negative at potential ``un`` [V] would put the charged open-circuit voltage above the
    base set's; returns it and a note (empty when unchanged)."""
    grid = np.linspace(max(1e-4, base.y100 * 0.5), base.y0, 4001)
    up = _ocp(pv, "positive", grid)
    target = base.ocv100_V + un
    above = np.nonzero(up > target)[0]
    if len(above) and above[-1] + 1 < len(grid):
        i = above[-1]  # up[i] > target >= up[i + 1]: interpolate the crossing
        y_root = grid[i] + (grid[i + 1] - grid[i]) * (up[i] - target) / (up[i] - up[i + 1])
    else:
        y_root = grid[-1] if len(above) else grid[0]
    if y_root > base.y100 + 1e-4:
        y100 = float(y_root)
        return y100, [
            f"positive charged to stoichiometry {y100:.4f} instead of the base set's "
            f"{base.y100:.4f} so that the charged open-circuit voltage stays at the base set's "
            f"{base.ocv100_V:.3f} V with the negative at {un * 1e3:.1f} mV vs Li"
        ]
    return base.y100, []


def _positive_window(pv, set_, g, area, q_pos, y100, c_frac, base, base_name, src) -> None:
    """Positive: the base set's ``y0``, charged to ``y100``; its reversible capacity
    ``q_pos`` [A.h] (before formation) over that window sets its maximum and initial
    concentration."""
    if not y100 < base.y0 - 0.05:
        _refuse(
            "anode.np_ratio",
            "the positive's window collapses in the mapping",
            round(g["np_ratio"], 4),
            "a larger N/P ratio",
            src,
        )
    cp = q_pos / (base.y0 - y100)
    c_max_p = cp * 3600.0 / (F * c_frac["active"] * g["cathode_thickness_um"] * 1e-6 * area)
    how_p = (
        f"derived: C_p = Q_positive / (y0 - y100), the design's cathode capacity before "
        f"formation over the window with y0 = {base.y0:.4f} from the {base_name} C/20 run "
        f"({base.capacity_Ah:.4g} Ah)"
    )
    set_("Maximum concentration in positive electrode [mol.m-3]", c_max_p, how_p)
    set_(
        "Initial concentration in positive electrode [mol.m-3]",
        y100 * c_max_p,
        f"derived: stoichiometry {y100:.4f} (fully charged) x maximum concentration",
    )


def _inverse_ocp(s: np.ndarray, u_curve: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Stoichiometry at potential ``u`` of a decreasing OCP curve ``u_curve(s)``, clipped to
    the ends of ``s``."""
    inc = np.maximum.accumulate(u_curve[::-1])  # increasing for np.interp
    return np.interp(u, inc, s[::-1])


def _rest_path(
    pv: pybamm.ParameterValues, cap_gr: float, cap_si: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rest states of a graphite + silicon negative: both phases at one potential.

    Returns ``theta`` (lithium in the negative / its full capacity, increasing), the graphite
    and silicon stoichiometries and the potential [V] along it. Silicon on its delithiation
    branch (:data:`SILICON_REST_OCP`).
    """
    s = np.linspace(1e-3, 0.999, 1997)
    u_gr = _ocp(pv, GRAPHITE_OCP, s)
    u_si = _ocp(pv, SILICON_REST_OCP, s)
    u = np.unique(np.concatenate([u_gr, u_si]))[::-1]  # falling potential: rising lithium
    xg = _inverse_ocp(s, u_gr, u)
    xs = _inverse_ocp(s, u_si, u)
    theta = (xg * cap_gr + xs * cap_si) / (cap_gr + cap_si)
    keep = np.concatenate([[True], np.diff(theta) > 1e-9])
    return theta[keep], xg[keep], xs[keep], u[keep]


def _phase_initial_concentration(
    c_max: float, theta: np.ndarray, x: np.ndarray, c_eff: float, name: str
) -> Callable:
    """A phase's initial concentration following the negative's effective one at rest.

    The negative's "Initial concentration in negative electrode [mol.m-3]" (its total lithium
    over the effective maximum concentration) stays the one input; each phase takes its share
    on the rest path, so a caller that sets only the effective value (the charge and pulse
    protocols' SOC) gets both phases at one potential.
    """
    idx = np.unique(np.round(np.linspace(0, len(theta) - 1, 600)).astype(int))
    t_tab, x_tab = theta[idx], x[idx]

    def initial_concentration(r, x_):
        total = pybamm.Parameter("Initial concentration in negative electrode [mol.m-3]")
        sto = pybamm.Interpolant(t_tab, x_tab, total / c_eff, name=f"{name}_rest_path")
        return c_max * sto

    initial_concentration.__name__ = f"{name}_on_rest_path"
    return initial_concentration


def _composite_negative(d, p, lib, pv, notes, g, area, q, base, src, u_end=None):
    """Two-phase (graphite + silicon) negative on :data:`COMPOSITE_BASE`; returns its values to
    set and its potential at full charge [V].

    ``u_end`` is its potential at the end of discharge [V] when lithium was lost on formation
    (None: graphite at the base set's end stoichiometry ``x0``)."""
    values: list[tuple] = []

    def set_(name, value, how, shown=None):
        values.append((name, value, how, shown))

    blend = dict(d.anode.active)
    kinds: dict[str, dict[str, float]] = {
        k: {"w": 0.0, "inv_rho": 0.0, "q": 0.0, "qth": 0.0} for k in ("graphite", "silicon")
    }
    for mid, b in blend.items():
        mat = lib.materials[mid]
        k = kinds[_anode_kind(lib, mid)]
        q_p = mat.specific_capacity_mAh_g.value
        q_t = (
            mat.theoretical_specific_capacity_mAh_g.value
            if mat.theoretical_specific_capacity_mAh_g is not None
            else q_p
        )
        k["w"] += b
        k["inv_rho"] += b / mat.density_g_cm3.value
        k["q"] += b * q_p
        k["qth"] += b * q_t
    w_act = p["a_w_active"]
    frac = _volume_fractions(
        {
            "graphite": w_act * kinds["graphite"]["w"],
            "silicon": w_act * kinds["silicon"]["w"],
            "electrolyte": p["a_w_electrolyte"],
            "carbon": p["a_w_carbon"],
            "binder": p["a_w_binder"],
        },
        {
            "graphite": kinds["graphite"]["w"] / kinds["graphite"]["inv_rho"],
            "silicon": kinds["silicon"]["w"] / kinds["silicon"]["inv_rho"],
            "electrolyte": p["a_rho_electrolyte"],
            "carbon": p["a_rho_carbon"],
            "binder": p["a_rho_binder"],
        },
        d.anode.porosity,
    )
    # the design's anode capacity (N/P x cathode capacity) split by each phase's practical
    # capacity, and taken to its theoretical capacity for the full lithium content
    q_anode = g["np_ratio"] * g["cathode_areal_capacity_mAh_cm2"] * g["cathode_area_cm2"] * 1e-3
    q_sum = kinds["graphite"]["q"] + kinds["silicon"]["q"]
    cap = {
        k: q_anode * v["q"] / q_sum * (v["qth"] / v["q"]) for k, v in kinds.items()
    }  # A.h, eps L A c_max F of each phase
    t_n = g["anode_thickness_um"] * 1e-6
    c_max = {k: cap[k] * 3600.0 / (F * frac[k] * t_n * area) for k in cap}
    theta, xg, xs, u = _rest_path(pv, cap["graphite"], cap["silicon"])
    cap_n = cap["graphite"] + cap["silicon"]
    # end of a C/20 discharge: graphite at the base set's end stoichiometry, silicon at rest
    # with it; full charge: Q_design more lithium, both phases at one potential
    x_gr0 = base.x0 if u_end is None else _negative_end(pv, GRAPHITE_OCP, u_end, base, src)
    u0 = float(_ocp(pv, GRAPHITE_OCP, np.array([x_gr0]))[0])
    xs0 = float(
        _inverse_ocp(
            np.linspace(1e-3, 0.999, 1997),
            _ocp(pv, SILICON_REST_OCP, np.linspace(1e-3, 0.999, 1997)),
            np.array([u0]),
        )[0]
    )
    theta0 = (x_gr0 * cap["graphite"] + xs0 * cap["silicon"]) / cap_n
    theta100 = theta0 + q / cap_n
    x_gr100 = float(np.interp(theta100, theta, xg))
    x_si100 = float(np.interp(theta100, theta, xs))
    u100 = float(np.interp(theta100, theta, u))
    if not (theta100 < theta[-1] and x_gr100 < 0.995 and x_si100 < 0.995):
        _refuse(
            "anode.np_ratio",
            f"the two-phase negative cannot take the positive's lithium in the {COMPOSITE_BASE} "
            f"mapping (graphite {x_gr100:.3f}, silicon {x_si100:.3f} at full charge): "
            "anode-limited designs are not supported",
            round(g["np_ratio"], 4),
            "a larger N/P ratio",
            src,
        )
    eps_n = frac["graphite"] + frac["silicon"]
    c_eff = cap_n * 3600.0 / (F * eps_n * t_n * area)
    vf_how = (
        "derived: (1 - porosity) (w/rho)_{phase} / sum(w/rho), design mass fractions x blend "
        "fractions and library densities"
    )
    for phase, k in (("Primary: ", "graphite"), ("Secondary: ", "silicon")):
        mats = ", ".join(m for m in blend if _anode_kind(lib, m) == k)
        set_(
            f"{phase}Negative electrode active material volume fraction",
            frac[k],
            vf_how.format(phase=k),
        )
        set_(
            f"{phase}Maximum concentration in negative electrode [mol.m-3]",
            c_max[k],
            f"derived: C_{k} = N/P x Q_c x (w q_practical)_{k} / sum(w q_practical) x "
            f"q_theoretical/q_practical of {mats} (library capacities)",
        )
    set_(
        "Negative electrode active material volume fraction",
        eps_n,
        "derived: graphite + silicon volume fractions (the effective negative the charge "
        "protocols' charge balance uses)",
    )
    set_(
        "Maximum concentration in negative electrode [mol.m-3]",
        c_eff,
        "derived: (C_graphite + C_silicon) / (eps_n L A F), the effective negative",
    )
    set_(
        "Initial concentration in negative electrode [mol.m-3]",
        theta100 * c_eff,
        f"derived: lithium in the negative at full charge, theta100 = theta0 + Q_design / C_n "
        f"= {theta0:.4f} + {q / cap_n:.4f}",
    )
    set_(
        "Primary: Initial concentration in negative electrode [mol.m-3]",
        _phase_initial_concentration(c_max["graphite"], theta, xg, c_eff, "graphite"),
        f"derived: graphite on the rest path at theta100, stoichiometry {x_gr100:.4f}",
        shown=x_gr100 * c_max["graphite"],
    )
    set_(
        "Secondary: Initial concentration in negative electrode [mol.m-3]",
        _phase_initial_concentration(c_max["silicon"], theta, xs, c_eff, "silicon"),
        f"derived: silicon at the graphite's potential ({u100 * 1e3:.1f} mV) on the set's "
        f"delithiation branch, stoichiometry {x_si100:.4f}",
        shown=x_si100 * c_max["silicon"],
    )
    notes.append(
        f"silicon-graphite blend: {COMPOSITE_BASE}'s two-phase negative (graphite primary, "
        f"silicon secondary); volume fractions {frac['graphite']:.3f} / {frac['silicon']:.3f}; "
        f"at full charge graphite {x_gr100:.4f} and silicon {x_si100:.4f} at "
        f"{u100 * 1e3:.1f} mV vs Li, at the end of discharge graphite {x_gr0:.4f} and silicon "
        f"{xs0:.4f}; silicon's open-circuit potential follows the set's lithiation/"
        "delithiation branches with the current's sign (hysteresis), rest states are on the "
        "delithiation branch"
    )
    return values, u100


@dataclass(frozen=True)
class _SolidStateInputs:
    """Stack pressure (None: the default) and end of the sourced ranges for a solid cell."""

    stack_pressure_MPa: float | None = None
    case: str = "central"
    pressure_given: bool = False


def _solid_electrolyte_conductivity(
    d: Design, lib: MaterialLibrary, set_, m, src: str, case: str = "central"
):
    """Set the single-ion electrolyte's conductivity from the solid electrolyte of the
    separator (or, without one, the cathode's catholyte): the library's 25 C value (or, off
    the central case, the end of the range in :mod:`casip.physics.solid_state`) with an
    Arrhenius temperature dependence. Returns the material and the activation energy [eV]."""
    from casip.materials import solid_state as ss_table

    sep = lib.materials[d.separator.material]
    if sep.category == Category.solid_electrolyte:
        se = sep
        se_field = "separator.material"
    elif d.cathode.catholyte:
        se = lib.materials[d.cathode.catholyte]
        se_field = "cathode.catholyte"
    else:  # pragma: no cover - compile refuses an all-solid-state cell without either
        _refuse(
            "separator.material",
            "no solid electrolyte to take a conductivity from",
            d.separator.material,
            "a solid-electrolyte separator",
            src,
        )
    if se.ionic_conductivity_S_cm is None:
        _refuse(
            se_field,
            "the library has no ionic_conductivity_S_cm for this solid electrolyte",
            se.id,
            "a material with a sourced conductivity",
            src,
        )
    fam = ss_table.family_of(se.id)
    sigma_entry = ss_table.TABLE.get(f"sigma_{fam}") if fam else None
    sigma = se.ionic_conductivity_S_cm.value * 100.0  # S/cm -> S/m
    sigma_origin = f"{_source_of(lib, se.id, 'ionic_conductivity_S_cm')} (x100 S/m per S/cm)"
    if case != "central" and sigma_entry is not None:
        sigma = sigma_entry.at(case) * 0.1  # mS/cm -> S/m
        sigma_origin = sigma_entry.origin(case)
    ea_entry = ss_table.activation_energy(se.id)
    if se.activation_energy_eV is not None and (case == "central" or ea_entry is None):
        ea = se.activation_energy_eV.value
        ea_origin = _source_of(lib, se.id, "activation_energy_eV")
    elif ea_entry is not None:
        ea = ea_entry.at(case)
        ea_origin = ea_entry.origin(case)
    else:
        ea = ASSUMED_ACTIVATION_ENERGY_EV
        ea_origin = (
            f"assumed: {ea:g} eV, neither the library nor casip.physics.solid_state gives an "
            f"activation energy for {se.id} (sulfide and garnet conductors lie near 0.2-0.45 eV)"
        )
    set_(
        "Electrolyte conductivity [S.m-1]",
        _arrhenius_conductivity(sigma, ea),
        f"{sigma_origin}; Arrhenius with Ea from {ea_origin}",
        shown=f"{sigma:.4g} S/m at 25 C, Ea {ea:g} eV",
    )
    m["Electrolyte activation energy [eV] (CASIP)"] = Mapped(ea, ea_origin)
    return se, ea


def _composite_bruggeman(
    lib: MaterialLibrary, se, composite_se: str | None, eps: float, label: str, notes: list[str]
) -> tuple[float, str]:
    """Bruggeman exponent of a composite electrode's solid-electrolyte phase: 1.5, or, when the
    composite's solid electrolyte conducts differently from the separator's, 1.5 with their
    conductivity ratio folded in (``sigma_sep eps^b = sigma_composite eps^1.5``)."""
    if not composite_se or composite_se == se.id:
        return 1.5, "assumed: 1.5 (Bruggeman), as the base sets"
    other = lib.materials[composite_se]
    if other.ionic_conductivity_S_cm is None:
        return 1.5, "assumed: 1.5 (Bruggeman), as the base sets"
    ratio = other.ionic_conductivity_S_cm.value / se.ionic_conductivity_S_cm.value
    b = 1.5 + math.log(ratio) / math.log(eps)
    notes.append(
        f"{label} solid electrolyte {other.id} conducts {ratio:.3g} x the separator's {se.id}: "
        f"folded into the {label} Bruggeman exponent ({b:.3g})"
    )
    return b, "derived: 1.5 with the composite/separator conductivity ratio folded in"


def _single_ion_electrolyte(d: Design, set_) -> None:
    """The single-ion solid-electrolyte settings shared by the lithium-metal and the full-cell
    solid-state mappings: dense separator, transference number 1, inert diffusion."""
    set_(
        "Separator porosity",
        1.0,
        "assumed: dense solid-electrolyte separator conducts with its full cross-section "
        f"(its {d.separator.porosity:g} voids are neglected)",
    )
    set_(
        "Separator Bruggeman coefficient (electrolyte)",
        1.0,
        "assumed: no tortuosity in a dense separator",
    )
    set_(
        "Cation transference number",
        1.0,
        "assumed: single-ion solid conductor (no salt depletion)",
    )
    set_("Thermodynamic factor", 1.0, "assumed: single-ion conductor")
    set_(
        "Electrolyte diffusivity [m2.s-1]",
        ASSUMED_SE_DIFFUSIVITY_M2_S,
        "assumed: inert at transference number 1; small constant",
    )


def _solid_contact_resistance(
    options: dict,
    set_,
    m,
    area: float,
    contact_resistance_ohm_cm2: float | None,
    *,
    se_id: str,
    ea_eV: float,
    lithium: bool,
    solid_cathode: bool,
    temperature_K: float | None,
    ss: _SolidStateInputs,
    notes: list[str],
) -> None:
    """Contact resistance of a solid-state cell: the lithium | SE contact at the stack pressure
    (lithium-metal and anode-free cells) plus the cathode | SE interphase (a solid catholyte),
    both Arrhenius with the electrolyte's activation energy; or the caller's value."""
    from casip.materials import solid_state as sst

    options["contact resistance"] = "true"
    if contact_resistance_ohm_cm2 is not None:
        r_area = float(contact_resistance_ohm_cm2)
        origin = f"caller: {r_area:g} Ohm cm2 / electrode area"
    else:
        case = ss.case
        t_k = float(temperature_K) if temperature_K is not None else sst.T_REF
        pressure = (
            ss.stack_pressure_MPa
            if ss.stack_pressure_MPa is not None
            else sst.DEFAULT_STACK_PRESSURE_MPA
        )
        if lithium or ss.pressure_given:
            notes += sst.pressure_notes(se_id, pressure, lithium)
        factor = sst.arrhenius_factor(ea_eV, t_k)
        parts, how = [], []
        if lithium:
            r_li = sst.lithium_contact_resistance_ohm_cm2(se_id, pressure, t_k, ea_eV, case)
            key = sst.li_interface_key(se_id)
            entry = sst.TABLE[key]
            r_ct = sst.charge_transfer_resistance_ohm_cm2(sst.TABLE["j0_li_se"].at(case))
            parts.append(r_li)
            how.append(
                f"lithium contact {r_li:.3g} Ohm cm2 = max(R_ref {entry.at(case):g} - R_ct "
                f"{r_ct:.3g}, 0) x ({sst.reference_pressure_MPa(se_id):g}/{pressure:g} MPa)^0.5 x "
                f"Arrhenius {factor:.3g} [{entry.origin(case)}; pressure law: "
                f"{sst.TABLE['pressure_exponent'].origin()}]"
            )
            m["Stack pressure [MPa] (CASIP)"] = Mapped(
                pressure,
                "caller or design pressure_hardware"
                if ss.pressure_given
                else f"assumed: {pressure:g} MPa, the pressure of the cited Li | Li6PS5Cl cells "
                "(Doux et al. 2020, doi 10.1002/aenm.201903253)",
            )
        if solid_cathode:
            entry = sst.TABLE["r_cathode_coated_nmc"]
            r_cat = entry.at(case) * factor
            parts.append(r_cat)
            how.append(f"cathode interphase {r_cat:.3g} Ohm cm2 [{entry.origin(case)}]")
        r_area = float(sum(parts))
        origin = (
            f"derived: {r_area:.3g} Ohm cm2 / electrode area at {t_k - 273.15:.3g} C = "
            + " + ".join(how)
        )
    set_("Contact resistance [Ohm]", r_area * 1e-4 / area, origin)
    m["Contact resistance [Ohm cm2] (CASIP)"] = Mapped(r_area, origin)


def _lithium_metal_cell(
    d: Design,
    p: Mapping[str, float],
    lib: MaterialLibrary,
    metrics: CellMetrics,
    temperature_K: float | None,
    contact_resistance_ohm_cm2: float | None,
    overrides: Mapping[str, object] | None,
    src: str,
    ss: _SolidStateInputs | None = None,
) -> PhysicsSetup:
    ss = ss or _SolidStateInputs()
    base_name = LITHIUM_BASE
    base = base_set_c20(base_name)
    pv = pybamm.ParameterValues(base_name)
    m: dict[str, Mapped] = {}
    set_ = _setter(pv, m)
    notes: list[str] = []
    area = _common_geometry(d, metrics, pv, m)
    g = metrics.geometry
    sep = lib.materials[d.separator.material]
    solid = d.kind == CellKind.all_solid_state or sep.category == Category.solid_electrolyte
    options: dict = {"working electrode": "positive"}
    cat = lib.materials[d.cathode.active]
    notes.append(
        f"positive: {cat.id} on Xu2019's NMC open-circuit potential (a polynomial PyBaMM takes "
        "from Mohtat et al. 2020, an NMC532-like curve), kinetics and particle size; only its "
        "capacity follows the design"
    )
    notes.append(
        "the lithium-metal (or plated) negative has no volume in PyBaMM; lithium excess, "
        "masses and volumes come from the design engine"
    )

    w = {
        "active": p["c_w_active"],
        "catholyte": p["c_w_catholyte"],
        "carbon": p["c_w_carbon"],
        "binder": p["c_w_binder"],
    }
    rho = {
        "active": p["c_rho_active"],
        "catholyte": p["c_rho_catholyte"],
        "carbon": p["c_rho_carbon"],
        "binder": p["c_rho_binder"],
    }
    frac = _volume_fractions(w, rho, d.cathode.porosity)
    set_(
        "Positive electrode active material volume fraction",
        frac["active"],
        "derived: (1 - porosity) (w/rho)_active / sum(w/rho), design mass fractions and "
        "library densities",
    )
    fill = d.electrolyte.pore_fill if d.electrolyte is not None else 0.0
    liquid_in_cathode = d.cathode.porosity * fill

    if solid:
        approximation = "lithium-metal DFN (single-ion solid electrolyte)"
        se, ea = _solid_electrolyte_conductivity(d, lib, set_, m, src, ss.case)
        # cathode: the electrolyte phase is the solid-electrolyte volume fraction
        b_pos, b_origin = 1.5, "base set Xu2019 (1.5)"
        if p["c_w_catholyte"] > 0:
            eps_p = frac["catholyte"]
            eps_origin = "derived: catholyte volume fraction (1 - porosity) (w/rho)_SE / sum(w/rho)"
            if liquid_in_cathode > 0:
                eps_p += liquid_in_cathode
                eps_origin += " + liquid-filled pores"
            cly = lib.materials[d.cathode.catholyte]
            if cly.id != se.id and cly.ionic_conductivity_S_cm is not None:
                b_pos, b_origin = _composite_bruggeman(lib, se, cly.id, eps_p, "cathode", notes)
        else:
            eps_p = liquid_in_cathode
            eps_origin = "design: cathode.porosity x pore_fill (liquid/gel catholyte)"
            notes.append(
                "the cathode's liquid/gel catholyte is modelled as a single-ion conductor with "
                f"the separator's ({se.id}) conductivity (assumed: the library gives no "
                "conductivity for the liquid, and PyBaMM has one electrolyte phase)"
            )
        _check_fraction("Positive electrode porosity", eps_p, src)
        set_("Positive electrode porosity", eps_p, eps_origin)
        set_(
            "Positive electrode Bruggeman coefficient (electrolyte)",
            b_pos,
            b_origin,
        )
        _single_ion_electrolyte(d, set_)
        from casip.materials.solid_state import TABLE as SS_TABLE

        j0 = SS_TABLE["j0_li_se"].at(ss.case)
        set_(
            "Exchange-current density for lithium metal electrode [A.m-2]",
            _constant_li_exchange_current(j0),
            f"{SS_TABLE['j0_li_se'].origin(ss.case)}; constant in temperature (assumed)",
            shown=j0,
        )
        _solid_contact_resistance(
            options,
            set_,
            m,
            area,
            contact_resistance_ohm_cm2,
            se_id=se.id,
            ea_eV=ea,
            lithium=True,
            solid_cathode=p["c_w_catholyte"] > 0,
            temperature_K=temperature_K,
            ss=ss,
            notes=notes,
        )
    else:
        approximation = "lithium-metal DFN (liquid)"
        _check_fraction("Positive electrode porosity", liquid_in_cathode, src)
        set_(
            "Positive electrode porosity", liquid_in_cathode, "design: cathode.porosity x pore_fill"
        )
        set_(
            "Separator porosity",
            d.separator.porosity * fill,
            "design: separator.porosity x pore_fill",
        )
        _keep(
            pv,
            m,
            base_name,
            "Electrolyte conductivity [S.m-1]",
            "Electrolyte diffusivity [m2.s-1]",
            "Cation transference number",
            "Exchange-current density for lithium metal electrode [A.m-2]",
        )
        if contact_resistance_ohm_cm2 is not None:
            options["contact resistance"] = "true"
            set_(
                "Contact resistance [Ohm]",
                contact_resistance_ohm_cm2 * 1e-4 / area,
                "caller: area-specific contact resistance / electrode area",
            )

    # ---- capacity match (half cell: the positive's window of the base set)
    q = metrics.capacity_Ah
    if _formation_loss(q, _positive_capacity_Ah(g)) > 0.0:
        # the half cell's lithium counter electrode never runs out, so a cell whose capacity
        # is set by the lithium left after formation cannot end its discharge on an empty
        # negative here: the positive's window is shrunk to that capacity instead
        notes.append(
            "first-cycle loss: the capacity after formation is below the positive's reversible "
            "capacity, but the half-cell model's lithium electrode is unlimited; the positive's "
            "maximum concentration is scaled to the capacity after formation (approximation)"
        )
    cp = q / (base.y0 - base.y100)
    c_max_p = cp * 3600.0 / (F * frac["active"] * g["cathode_thickness_um"] * 1e-6 * area)
    set_(
        "Maximum concentration in positive electrode [mol.m-3]",
        c_max_p,
        f"derived: capacity match, C_p = Q_design / (y0 - y100), window {base.y100:.4f}-"
        f"{base.y0:.4f} from the Xu2019 C/20 run",
    )
    set_(
        "Initial concentration in positive electrode [mol.m-3]",
        base.y100 * c_max_p,
        f"derived: base set's charged stoichiometry {base.y100:.4f} x maximum concentration",
    )
    _keep(
        pv,
        m,
        base_name,
        "Positive electrode OCP [V]",
        "Positive electrode exchange-current density [A.m-2]",
        "Positive particle radius [m]",
        "Positive particle diffusivity [m2.s-1]",
        "Positive electrode conductivity [S.m-1]",
        "Lower voltage cut-off [V]",
        "Upper voltage cut-off [V]",
        "Ambient temperature [K]",
    )
    _temperature(pv, set_, base_name, temperature_K)
    _apply_overrides(pv, set_, overrides)
    notes.append(
        f"voltage cut-offs from Xu2019: {base.lower_cutoff_V:g} V to {base.upper_cutoff_V:g} V "
        "vs lithium"
    )
    return PhysicsSetup(
        name=d.name,
        approximation=approximation,
        base_set=base_name,
        model_options=options,
        parameter_values=pv,
        metrics=metrics,
        mapping=m,
        notes=notes,
    )
