"""Temperature in the physics protocols: ambient temperature input, Arrhenius electrolyte
transport for base sets without a temperature dependence, lumped-thermal availability.

Electrolyte transport
---------------------
PyBaMM's ``Chen2020`` (and ``Chen2020_composite``) electrolyte is LiPF6 in EC:EMC 3:7 after
Nyman et al. [1]_, whose conductivity ``kappa(c_e)`` and diffusivity ``D_e(c_e)`` have **no**
temperature dependence; ``Prada2013`` gives constants. A cell run away from 25 degC (or heating
up in the lumped thermal model) then keeps its 25 degC electrolyte. For such base sets CASIP
multiplies both by an Arrhenius factor,

``kappa(c_e, T) = kappa_base(c_e) a_kappa(T)``,  ``D_e(c_e, T) = D_e,base(c_e) a_D(T)``,

``a(T) = exp(-Ea / R (1/T - 1/T_ref))``, ``T_ref = 298.15 K``,

so that values at the reference temperature are the base set's, unchanged (isothermal runs at
25 degC give exactly the previous results). The activation energies are those of LiPF6 in
EC:EMC 3:7 measured by Landesfeind & Gasteiger [2]_, as PyBaMM implements them in its
``ORegan2022`` set [3]_ (offline), evaluated at 1 mol/L:

* diffusivity: their fit is ``D = p1 exp(p2 c) exp(p3 / T) exp(p4 c / T)`` (c in mol/L) with
  ``p3 = -1.56e3 K`` and ``p4 = -4.87e2 K L/mol``, exactly Arrhenius at fixed ``c`` with
  ``Ea / R = -(p3 + p4 c) = 2047 K`` at 1 mol/L: ``Ea_D = 17.0 kJ/mol``;
* conductivity: their fit is not Arrhenius; a least-squares line of ``ln kappa`` against
  ``1/T`` at 1 mol/L over 0-45 degC gives ``Ea_kappa = 12.5 kJ/mol`` (the local value runs from
  14.6 kJ/mol near 0-10 degC to 10.7 kJ/mol near 35-45 degC, so the single value overstates the
  conductivity by a few per cent at 0 degC and understates it at 45 degC).

``tests/physics/test_temperature.py`` recomputes both numbers from PyBaMM's ORegan2022
functions. Valøen & Reimers [4]_ report a similar temperature dependence for LiPF6 in
PC/EC/DMC. ``Xu2019`` (lithium-metal cells) already carries a temperature-dependent electrolyte
and is left as it is; single-ion solid electrolytes have their own Arrhenius law
(:func:`casip.physics.parameters._arrhenius_conductivity`).

The transference number and the thermodynamic factor stay the base set's (constant): their
temperature dependence in [2]_ is weak next to that of the transport coefficients.

References
----------
.. [1] A. Nyman, M. Behm, G. Lindbergh, "Electrochemical characterisation and modelling of the
   mass transport phenomena in LiPF6-EC-EMC electrolyte", Electrochim. Acta 53, 6356 (2008).
.. [2] J. Landesfeind, H. A. Gasteiger, "Temperature and concentration dependence of the ionic
   transport properties of lithium-ion battery electrolytes", J. Electrochem. Soc. 166, A3079
   (2019).
.. [3] K. O'Regan, F. Brosa Planella, W. D. Widanage, E. Kendrick, "Thermal-electrochemical
   parameters of a high energy lithium-ion cylindrical battery", Electrochim. Acta 425, 140700
   (2022).
.. [4] L. O. Valøen, J. N. Reimers, "Transport properties of LiPF6-based Li-ion battery
   electrolytes", J. Electrochem. Soc. 152, A882 (2005).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pybamm

from casip.errors import CasipInputError, Problem

R_GAS = 8.314462618  # J/(mol K), molar gas constant
T_REF_K = 298.15  # K, reference temperature of the base sets' electrolytes (25 degC)
ZERO_C_K = 273.15

#: Activation energy of the electrolyte conductivity [J/mol]: LiPF6 in EC:EMC 3:7 at 1 mol/L,
#: Arrhenius fit over 0-45 degC of Landesfeind & Gasteiger 2019 (PyBaMM ORegan2022).
EA_CONDUCTIVITY_J_MOL = 12.5e3
#: Activation energy of the electrolyte diffusivity [J/mol]: LiPF6 in EC:EMC 3:7 at 1 mol/L,
#: ``R (1.56e3 + 4.87e2) K`` from Landesfeind & Gasteiger 2019 (PyBaMM ORegan2022).
EA_DIFFUSIVITY_J_MOL = 17.0e3
EA_SOURCE = (
    "Landesfeind & Gasteiger, J. Electrochem. Soc. 166, A3079 (2019), LiPF6 in EC:EMC 3:7 at "
    "1 mol/L, as in PyBaMM's ORegan2022 set"
)

#: Ambient temperatures accepted by the protocols [degC].
TEMPERATURE_RANGE_C = (-40.0, 80.0)

CONDUCTIVITY = "Electrolyte conductivity [S.m-1]"
DIFFUSIVITY = "Electrolyte diffusivity [m2.s-1]"

#: Parameters the lumped thermal model needs beyond the electrochemistry.
THERMAL_KEYS = (
    "Total heat transfer coefficient [W.m-2.K-1]",
    "Positive electrode specific heat capacity [J.kg-1.K-1]",
    "Cell volume [m3]",
    "Cell cooling surface area [m2]",
)


def arrhenius_factor(T, ea_J_mol: float, t_ref_K: float = T_REF_K):
    """``exp(-Ea / R (1/T - 1/T_ref))``: 1 at ``T_ref``; ``T`` a number or a PyBaMM symbol."""
    x = -ea_J_mol / R_GAS * (1.0 / T - 1.0 / t_ref_K)
    return pybamm.exp(x) if isinstance(x, pybamm.Symbol) else math.exp(x)


def with_arrhenius(fn, ea_J_mol: float, t_ref_K: float = T_REF_K) -> Callable:
    """A PyBaMM electrolyte function ``(c_e, T)``: the base ``fn`` (a callable or a number)
    times :func:`arrhenius_factor`."""

    def transport(c_e, T):
        base = fn(c_e, T) if callable(fn) else pybamm.Scalar(float(fn))
        return base * arrhenius_factor(T, ea_J_mol, t_ref_K)

    base_name = getattr(fn, "__name__", f"{fn}")
    transport.__name__ = f"{base_name}_arrhenius_{ea_J_mol / 1e3:.3g}kJ_mol"
    return transport


def _evaluate(fn, c_e: float, T: float) -> float:
    if not callable(fn):
        return float(fn)
    return float(fn(pybamm.Scalar(c_e), pybamm.Scalar(T)).evaluate())


def depends_on_temperature(pv: pybamm.ParameterValues, name: str) -> bool:
    """Whether the electrolyte function ``name`` changes between 0 and 25 degC (at the set's
    initial electrolyte concentration)."""
    fn = pv[name]
    c0 = float(pv["Initial concentration in electrolyte [mol.m-3]"])
    cold, ref = _evaluate(fn, c0, ZERO_C_K), _evaluate(fn, c0, T_REF_K)
    return not math.isclose(cold, ref, rel_tol=1e-9)


def add_electrolyte_temperature_dependence(pv: pybamm.ParameterValues, set_, base_name: str):
    """Give a liquid base set's electrolyte conductivity and diffusivity the Arrhenius
    temperature dependence of the module docstring where it has none; ``set_`` records each
    change (``set_(name, value, origin, shown)``). Returns notes (empty if nothing changed)."""
    changed = []
    for name, ea in ((CONDUCTIVITY, EA_CONDUCTIVITY_J_MOL), (DIFFUSIVITY, EA_DIFFUSIVITY_J_MOL)):
        if name not in pv.keys() or depends_on_temperature(pv, name):
            continue
        base_fn = pv[name]
        set_(
            name,
            with_arrhenius(base_fn, ea),
            f"base set {base_name} (25 degC) x Arrhenius exp(-Ea/R (1/T - 1/298.15 K)), "
            f"Ea = {ea / 1e3:g} kJ/mol from {EA_SOURCE}",
            shown=f"{getattr(base_fn, '__name__', base_fn)} x Arrhenius, Ea {ea / 1e3:g} kJ/mol",
        )
        changed.append(f"{name.split(' [')[0].lower()} {ea / 1e3:g} kJ/mol")
    if not changed:
        return []
    return [
        f"electrolyte transport: {base_name} has no temperature dependence; CASIP adds an "
        f"Arrhenius factor (1 at 25 degC) with activation energies {', '.join(changed)} "
        f"({EA_SOURCE})"
    ]


def has_thermal_parameters(pv: pybamm.ParameterValues) -> bool:
    """Whether PyBaMM's lumped thermal model can be built on ``pv``."""
    keys = pv.keys()
    return all(k in keys for k in THERMAL_KEYS)


def ambient_celsius(pv: pybamm.ParameterValues) -> float:
    """The set's ambient temperature [degC]; NaN if it is not a number (a function of time)."""
    try:
        return float(pv["Ambient temperature [K]"]) - ZERO_C_K
    except (TypeError, ValueError, KeyError):
        return math.nan


def ambient_kelvin(
    temperature_c: float | None, temperature_K: float | None = None
) -> float | None:
    """Resolve the ambient temperature given in degC (``temperature_c``) or K.

    Returns kelvin, or None when neither is given. Refuses both at once, and a
    ``temperature_c`` that is not a finite number in :data:`TEMPERATURE_RANGE_C`, naming the
    field.
    """
    if temperature_c is None:
        return temperature_K
    if temperature_K is not None:
        raise CasipInputError(
            Problem(
                "temperature_c",
                "give the ambient temperature once, in degC (temperature_c) or in K "
                "(temperature_K)",
                (temperature_c, temperature_K),
            )
        )
    lo, hi = TEMPERATURE_RANGE_C
    try:
        t = float(temperature_c)
    except (TypeError, ValueError):
        t = math.nan
    if not (math.isfinite(t) and lo <= t <= hi):
        raise CasipInputError(
            Problem(
                "temperature_c",
                "ambient temperature out of range (degC, not K)",
                temperature_c,
                f"a temperature in [{lo:g}, {hi:g}] degC",
            )
        )
    return t + ZERO_C_K


__all__ = [
    "EA_CONDUCTIVITY_J_MOL",
    "EA_DIFFUSIVITY_J_MOL",
    "R_GAS",
    "TEMPERATURE_RANGE_C",
    "T_REF_K",
    "add_electrolyte_temperature_dependence",
    "ambient_celsius",
    "ambient_kelvin",
    "arrhenius_factor",
    "depends_on_temperature",
    "has_thermal_parameters",
    "with_arrhenius",
]
