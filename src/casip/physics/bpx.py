"""Exchange a design's PyBaMM parameters as a BPX file (Battery Parameter eXchange).

BPX [1]_ is an open JSON format for the parameters of a Doyle-Fuller-Newman (DFN) or single
particle model of a *full cell with two porous electrodes*. It has its own parameter names and
conventions, different from PyBaMM's, and the :mod:`bpx` package validates files against its
schema. This module writes a liquid design's mapped parameters
(:func:`casip.physics.parameters_for`) to a BPX file and reads a BPX file back into a
:class:`~casip.physics.PhysicsSetup` that the protocols (rate capability, fast charge, pulse)
can run.

Export mapping (PyBaMM value -> BPX field, all at the set's reference temperature T_ref):

* Cell: electrode area ``A = height x width``; the design engine's outer volume; a lumped
  density ``mass / volume`` (so that an import recovers the cell mass for specific energy
  and power); cut-offs; nominal capacity = the design capacity; one electrode pair.
* Electrodes: thickness; porosity; transport efficiency ``eps**b_e`` (Bruggeman exponent
  folded in); effective electronic conductivity ``sigma (1 - eps)**b_s`` (BPX conductivities
  are effective, PyBaMM applies a Bruggeman factor on the solid fraction); surface area per
  volume ``a = 3 eps_active / R`` (spherical particles); maximum concentration; particle radius.
* Stoichiometry window: the maximum negative and minimum positive stoichiometries are the
  mapped fully charged state (the initial concentrations); the minimum negative and maximum
  positive ones follow from charge balance over the design capacity, ``x0 = x100 - Q / C_n``
  and ``y0 = y100 + Q / C_p`` with ``C = eps_active L A c_max F``, i.e. the end of a C/20
  discharge in the mapping.
* Open-circuit potentials: BPX needs functions of stoichiometry in a restricted syntax or
  tables. The PyBaMM functions are tabulated on a grid refined towards both ends of the
  stoichiometry range (401 points), which PyBaMM's importer interpolates linearly.
* Particle diffusivities, electrolyte conductivity and diffusivity: a constant stays a
  number; a function is tabulated against stoichiometry (particles) or concentration
  (electrolyte, 0 to 4 times the initial concentration). Their temperature dependence is
  written as an Arrhenius activation energy fitted between T_ref and T_ref + 10 K.
* Kinetics: BPX writes the exchange current as ``j0 = F k (c_e/c_e0)**0.5 (x (1 - x))**0.5``.
  CASIP evaluates PyBaMM's exchange-current function at ``c_e = c_e0`` and ``x = 0.5`` and
  sets ``k = 2 j0 / F``; the activation energy is fitted as above. The base sets used here
  (Chen2020, Prada2013) have exactly this form, so the conversion is exact.
* State: initial and ambient temperatures, initial electrolyte concentration.
* User-defined: the open-circuit voltages at 0% and 100% state of charge (the OCVs at the
  stoichiometry window's ends), which PyBaMM uses to set intermediate initial states.

Only liquid (and semi-solid, which CASIP runs on the liquid DFN) full cells with an
intercalation negative can be exported: BPX describes two porous electrodes and a liquid
electrolyte. Lithium-metal and anode-free cells, and the single-ion solid-electrolyte
approximation, have no BPX representation and are refused with that reason.

Import (:func:`import_bpx`) uses PyBaMM's own reader
(:meth:`pybamm.ParameterValues.create_from_bpx`) and wraps the result in a
:class:`~casip.physics.PhysicsSetup` whose ``metrics`` carry what the file says about the cell:
capacity, volume, mass (density x volume, when the file has a density) and electrode area.
Fields the file cannot give (cost, breakdowns, nominal voltage) are NaN or empty.

References
----------
.. [1] "BPX: Battery Parameter eXchange", Faraday Institution, https://bpxstandard.com/ and
   the schema of the ``bpx`` Python package (FaradayInstitution/BPX).
.. [2] V. Sulzer, S. G. Marquis, R. Timms, M. Robinson, S. J. Chapman, "Python Battery
   Mathematical Modelling (PyBaMM)", J. Open Res. Softw. 9, 14 (2021).
.. [3] C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
   "Development of experimental techniques for parameterization of multi-scale lithium-ion
   battery models", J. Electrochem. Soc. 167, 080534 (2020).
.. [4] E. Prada, D. Di Domenico, Y. Creff, J. Bernard, V. Sauvant-Moynot, F. Huet, "A
   simplified electrochemical and thermal aging model of LiFePO4-graphite Li-ion batteries",
   J. Electrochem. Soc. 160, A616 (2013).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pybamm

import casip
from casip.design import CellMetrics
from casip.design.schema import Design
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary
from casip.physics.parameters import Mapped, PhysicsSetup, parameters_for

F = 96485.33212  # C/mol, Faraday constant
R_GAS = 8.314462618  # J/(mol K), gas constant

#: Points of the stoichiometry grid on which open-circuit potentials are tabulated.
OCP_POINTS = 401
#: Points of the concentration grid for electrolyte properties (0 .. 4 c_e0).
ELECTROLYTE_POINTS = 161
#: Temperature step [K] for the fitted activation energies.
ARRHENIUS_STEP_K = 10.0

_REFERENCES = {
    "Chen2020": (
        "C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick, "
        "J. Electrochem. Soc. 167, 080534 (2020)"
    ),
    "Prada2013": (
        "E. Prada, D. Di Domenico, Y. Creff, J. Bernard, V. Sauvant-Moynot, F. Huet, "
        "J. Electrochem. Soc. 160, A616 (2013); OCPs: Afshar et al. 2017 (LFP), Chen et al. "
        "2020 (graphite)"
    ),
}


# --------------------------------------------------------------------------- evaluation


def _sym(x: float | np.ndarray) -> pybamm.Symbol:
    a = np.asarray(x, dtype=float)
    return pybamm.Scalar(float(a)) if a.ndim == 0 else pybamm.Vector(a.ravel())


def _fp(pv: pybamm.ParameterValues, name: str, inputs: Mapping[str, object]) -> np.ndarray:
    """Evaluate PyBaMM parameter ``name`` (a number or a function) at the given inputs."""
    sym = pybamm.FunctionParameter(name, {k: _sym(v) for k, v in inputs.items()})
    out = pv.process_symbol(sym).evaluate()
    return np.atleast_1d(np.asarray(out, dtype=float)).ravel()


def _is_constant(pv: pybamm.ParameterValues, name: str) -> bool:
    v = pv[name]
    return isinstance(v, int | float | np.number) and not isinstance(v, bool)


def _stoichiometry_grid(n: int = OCP_POINTS) -> np.ndarray:
    """Stoichiometries in [1e-4, 1 - 1e-4], refined towards both ends (cosine spacing).

    OCPs are steepest near empty and full (LFP's Afshar fit has ``exp(-150 x)``), so a
    cosine grid keeps linear interpolation accurate there.
    """
    u = np.linspace(0.0, math.pi, n)
    x = 0.5 * (1.0 - np.cos(u))
    return np.unique(np.clip(x, 1e-4, 1.0 - 1e-4))


def _activation_energy(values_ref: np.ndarray, values_hot: np.ndarray, t_ref: float) -> float:
    """Arrhenius activation energy [J/mol] from values at T_ref and T_ref + 10 K."""
    ok = (values_ref > 0) & (values_hot > 0)
    if not ok.any():
        return 0.0
    ratio = float(np.median(values_hot[ok] / values_ref[ok]))
    t_hot = t_ref + ARRHENIUS_STEP_K
    ea = R_GAS * math.log(ratio) / (1.0 / t_ref - 1.0 / t_hot)
    return 0.0 if abs(ea) < 1e-6 else ea


def _table(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    keep = np.isfinite(y)
    return {"x": [float(v) for v in x[keep]], "y": [float(v) for v in y[keep]]}


def _value_or_table(x: np.ndarray, y: np.ndarray) -> float | dict[str, list[float]]:
    """A number when ``y`` is constant over the grid, else a BPX table."""
    if np.allclose(y, y[0], rtol=1e-12, atol=0.0):
        return float(y[0])
    return _table(x, y)


# --------------------------------------------------------------------------- export


_BPX_SCOPE = (
    "BPX describes a DFN full cell with two porous electrodes and a liquid electrolyte"
)
_BPX_EXPECTED = "a liquid or semi-solid cell with a graphite or silicon-graphite anode"


def _refuse_by_kind(design: object, source: str | None) -> None:
    """Refuse all-solid-state and lithium-metal/anode-free designs before mapping them."""
    if isinstance(design, Design):
        kind, anode = design.kind.value, design.anode.type.value
    elif isinstance(design, Mapping):
        a = design.get("anode")
        kind = str(design.get("kind", ""))
        anode = str(a.get("type", "")) if isinstance(a, Mapping) else ""
    else:
        return
    if kind == "all-solid-state":
        raise CasipInputError(
            Problem(
                "kind",
                f"{_BPX_SCOPE}; an all-solid-state cell (solid electrolyte, dense separator) "
                "has no BPX representation",
                kind,
                _BPX_EXPECTED,
            ),
            source=source,
        )
    if anode in ("lithium_metal", "anode_free"):
        raise CasipInputError(
            Problem(
                "anode.type",
                f"{_BPX_SCOPE}; a lithium-metal or anode-free negative is not a porous "
                "electrode and has no BPX representation",
                anode,
                _BPX_EXPECTED,
            ),
            source=source,
        )


def _refuse_unless_liquid(setup: PhysicsSetup, source: str | None) -> None:
    if setup.model_options.get("working electrode") == "positive" or setup.base_set == "Xu2019":
        raise CasipInputError(
            Problem(
                "anode.type",
                f"{_BPX_SCOPE}; this design runs on CASIP's {setup.approximation} against a "
                "lithium-metal counter electrode, which has no BPX representation",
                setup.name,
                _BPX_EXPECTED,
            ),
            source=source,
        )
    if "single-ion solid electrolyte" in setup.approximation:
        raise CasipInputError(
            Problem(
                "kind",
                f"{_BPX_SCOPE}; this design runs on CASIP's {setup.approximation}: BPX has no "
                "solid electrolyte (no single-ion conductor, dense separator or contact "
                "resistance), so it has no BPX representation",
                setup.name,
                _BPX_EXPECTED,
            ),
            source=source,
        )
    if "particle phases" in setup.model_options:
        raise CasipInputError(
            Problem(
                "anode.active",
                "this design's silicon-graphite negative runs as PyBaMM's two-phase composite, "
                "which CASIP's BPX exporter does not represent yet (BPX describes one active "
                "material per electrode)",
                setup.name,
                "a single active material in each electrode",
            ),
            source=source,
        )


def _electrode(
    pv: pybamm.ParameterValues,
    pole: str,
    area_m2: float,
    q_Ah: float,
    t_ref: float,
    ce0: float,
) -> tuple[dict, dict[str, float]]:
    """The BPX block of one electrode and its stoichiometry window (for the OCVs)."""
    P = pole.capitalize()
    eps = float(pv[f"{P} electrode porosity"])
    eps_act = float(pv[f"{P} electrode active material volume fraction"])
    thick = float(pv[f"{P} electrode thickness [m]"])
    radius = float(pv[f"{P} particle radius [m]"])
    c_max = float(pv[f"Maximum concentration in {pole} electrode [mol.m-3]"])
    c_init = float(pv[f"Initial concentration in {pole} electrode [mol.m-3]"])
    b_e = float(pv[f"{P} electrode Bruggeman coefficient (electrolyte)"])
    b_s = float(pv[f"{P} electrode Bruggeman coefficient (electrode)"])
    sigma = _fp(pv, f"{P} electrode conductivity [S.m-1]", {"Stoichiometry": 0.5, "T": t_ref})
    full_Ah = eps_act * thick * area_m2 * c_max * F / 3600.0
    s_full = c_init / c_max
    if pole == "negative":
        lo, hi = s_full - q_Ah / full_Ah, s_full
    else:
        lo, hi = s_full, s_full + q_Ah / full_Ah
    if not (0.0 < lo < hi < 1.0):
        raise CasipInputError(
            Problem(
                f"{pole} electrode",
                "stoichiometry window outside (0, 1) in the mapping",
                (round(lo, 4), round(hi, 4)),
            )
        )

    x = _stoichiometry_grid()
    ocp = _fp(pv, f"{P} electrode OCP [V]", {"sto": x})
    dudt = _fp(pv, f"{P} electrode OCP entropic change [V.K-1]", {"sto": x})

    # particle diffusivity: a function of (stoichiometry, T)
    dname = f"{P} particle diffusivity [m2.s-1]"
    d_ref = _fp(pv, dname, {"sto": x, "T": t_ref})
    d_hot = _fp(pv, dname, {"sto": x, "T": t_ref + ARRHENIUS_STEP_K})
    if d_ref.size == 1:
        d_ref = np.full_like(x, d_ref[0])
        d_hot = np.full_like(x, d_hot[0])

    # exchange current j0(c_e, c_s, c_max, T) -> BPX k = 2 j0(c_e0, c_max / 2) / F
    jname = f"{P} electrode exchange-current density [A.m-2]"
    j_ref = _fp(pv, jname, {"c_e": ce0, "c_s": 0.5 * c_max, "c_max": c_max, "T": t_ref})[0]
    j_hot = _fp(
        pv,
        jname,
        {"c_e": ce0, "c_s": 0.5 * c_max, "c_max": c_max, "T": t_ref + ARRHENIUS_STEP_K},
    )[0]
    k_norm = 2.0 * j_ref / F

    block: dict[str, object] = {
        "Thickness [m]": thick,
        "Porosity": eps,
        "Transport efficiency": eps**b_e,
        "Conductivity [S.m-1]": float(sigma[0]) * (1.0 - eps) ** b_s,
        "Minimum stoichiometry": lo,
        "Maximum stoichiometry": hi,
        "Maximum concentration [mol.m-3]": c_max,
        "Particle radius [m]": radius,
        "Surface area per unit volume [m-1]": 3.0 * eps_act / radius,
        "Diffusivity [m2.s-1]": _value_or_table(x, d_ref),
        "Diffusivity activation energy [J.mol-1]": _activation_energy(d_ref, d_hot, t_ref),
        "OCP [V]": _table(x, ocp),
        "Entropic change coefficient [V.K-1]": _value_or_table(x, np.broadcast_to(dudt, x.shape)),
        "Reaction rate constant [mol.m-2.s-1]": k_norm,
        "Reaction rate constant activation energy [J.mol-1]": _activation_energy(
            np.array([j_ref]), np.array([j_hot]), t_ref
        ),
    }
    ocv_ends = {
        "full": float(np.interp(hi if pole == "negative" else lo, x, ocp)),
        "empty": float(np.interp(lo if pole == "negative" else hi, x, ocp)),
    }
    return block, ocv_ends


def _electrolyte(pv: pybamm.ParameterValues, t_ref: float, ce0: float) -> dict:
    c = np.linspace(0.0, 4.0 * ce0, ELECTROLYTE_POINTS)
    out: dict[str, object] = {}
    t_plus = pv["Cation transference number"]
    if not isinstance(t_plus, int | float):
        t_plus = float(_fp(pv, "Cation transference number", {"c_e": ce0, "T": t_ref})[0])
    out["Cation transference number"] = float(t_plus)
    for key, name in (
        ("Diffusivity", "diffusivity [m2.s-1]"),
        ("Conductivity", "conductivity [S.m-1]"),
    ):
        pname = f"Electrolyte {name}"
        ref = _fp(pv, pname, {"c_e": c, "T": t_ref})
        hot = _fp(pv, pname, {"c_e": c, "T": t_ref + ARRHENIUS_STEP_K})
        if ref.size == 1:
            ref = np.full_like(c, ref[0])
            hot = np.full_like(c, hot[0])
        i0 = int(np.argmin(abs(c - ce0)))
        unit = name.split(" ", 1)[1]
        out[f"{key} {unit}"] = _value_or_table(c, ref)
        out[f"{key} activation energy [J.mol-1]"] = _activation_energy(
            ref[i0 : i0 + 1], hot[i0 : i0 + 1], t_ref
        )
    return out


def _outer_surface_m2(metrics: CellMetrics, fmt: str) -> float:
    g = metrics.geometry
    w, h, t = (g[k] * 1e-3 for k in ("cell_width_mm", "cell_height_mm", "cell_thickness_mm"))
    if fmt == "cylindrical":
        return math.pi * w * h + 2.0 * math.pi * (w / 2.0) ** 2
    return 2.0 * (w * h + w * t + h * t)


def _cell_size(pv: pybamm.ParameterValues, m: CellMetrics) -> tuple[float, float, float]:
    """(volume [m3], outer surface [m2], density [kg/m3]) of the cell: from the design
    engine's metrics for a design; for a setup without them (a PyBaMM set, a calibrated
    variant of one) from the set's ``"Cell volume [m3]"`` and ``"Cell cooling surface area
    [m2]"``, with the repeating stack's thickness-weighted density (the density PyBaMM's lumped
    thermal model uses with these layers) as the cell's."""
    g = m.geometry
    if all(k in g for k in ("cell_width_mm", "cell_height_mm", "cell_thickness_mm")) and \
            math.isfinite(m.mass_g) and math.isfinite(m.volume_cm3):
        v = m.volume_cm3 * 1e-6
        return v, _outer_surface_m2(m, m.format), m.mass_g * 1e-3 / v
    keys = pv.keys()
    if "Cell volume [m3]" not in keys or "Cell cooling surface area [m2]" not in keys:
        raise CasipInputError(
            Problem("", "the setup has neither the design engine's cell size nor PyBaMM's "
                    "'Cell volume [m3]' and 'Cell cooling surface area [m2]'", m.name,
                    "a design, or a parameter set with the cell's volume and surface"))
    parts = ("Negative current collector", "Negative electrode", "Separator",
             "Positive electrode", "Positive current collector")
    num = den = 0.0
    for part in parts:
        rho, thick = pv[f"{part} density [kg.m-3]"], pv[f"{part} thickness [m]"]
        num += float(rho) * float(thick)
        den += float(thick)
    return float(pv["Cell volume [m3]"]), float(pv["Cell cooling surface area [m2]"]), num / den


def _contact_resistance(pv: pybamm.ParameterValues, setup: PhysicsSetup) -> dict:
    """BPX has no contact-resistance field: a setup that uses one (PyBaMM's ``"contact
    resistance"`` option, e.g. a calibrated variant) carries it as a user-defined value."""
    if setup.model_options.get("contact resistance") == "true" and \
            "Contact resistance [Ohm]" in pv.keys():
        return {"Contact resistance [Ohm]": float(pv["Contact resistance [Ohm]"])}
    return {}


def _specific_heat(pv: pybamm.ParameterValues) -> float | None:
    """Lumped specific heat [J/(kg K)] of the repeating stack, where the set has thermal data.

    ``c = sum(rho_i c_i L_i) / sum(rho_i L_i)`` over the two current collectors, the two
    electrodes and the separator.
    """
    parts = (
        "Negative current collector",
        "Negative electrode",
        "Separator",
        "Positive electrode",
        "Positive current collector",
    )
    keys = pv.keys()
    num = den = 0.0
    for p in parts:
        names = (f"{p} density [kg.m-3]", f"{p} specific heat capacity [J.kg-1.K-1]",
                 f"{p} thickness [m]")
        if not all(n in keys for n in names):
            return None
        rho, cp, thick = (pv[n] for n in names)
        if not all(isinstance(v, int | float) for v in (rho, cp, thick)):
            return None
        num += rho * cp * thick
        den += rho * thick
    return num / den if den > 0 else None


def to_bpx_dict(
    design: Design | Mapping | PhysicsSetup,
    *,
    library: MaterialLibrary | None = None,
    source: str | None = None,
) -> dict:
    """A BPX (version 1) dict for a liquid design's mapped PyBaMM parameters.

    Parameters
    ----------
    design : Design, dict or PhysicsSetup
        The cell design (mapped with :func:`casip.physics.parameters_for`), or a setup that is
        already mapped.
    library : MaterialLibrary, optional
        Materials to resolve the design against; the bundled library by default.
    source : str, optional
        Where the design came from, named in errors.

    Returns
    -------
    dict
        Validated against the :mod:`bpx` schema (:func:`bpx.parse_bpx_obj`).

    Raises
    ------
    CasipInputError
        For a lithium-metal, anode-free or solid-state design (BPX describes a full cell with
        two porous electrodes and a liquid electrolyte), a design PyBaMM cannot map, or a
        result the BPX schema rejects.
    """
    import bpx

    _refuse_by_kind(design, source)
    setup = (
        design
        if isinstance(design, PhysicsSetup)
        else parameters_for(design, library, source=source)
    )
    _refuse_unless_liquid(setup, source)
    pv = setup.parameter_values
    m = setup.metrics
    t_ref = float(pv["Reference temperature [K]"])
    ce0 = float(pv["Initial concentration in electrolyte [mol.m-3]"])
    area = float(pv["Electrode height [m]"] * pv["Electrode width [m]"])
    q = float(pv["Nominal cell capacity [A.h]"])
    neg, ocv_n = _electrode(pv, "negative", area, q, t_ref, ce0)
    pos, ocv_p = _electrode(pv, "positive", area, q, t_ref, ce0)
    volume_m3, surface_m2, density = _cell_size(pv, m)
    cell: dict[str, object] = {
        "Electrode area [m2]": area,
        "External surface area [m2]": surface_m2,
        "Volume [m3]": volume_m3,
        "Number of electrode pairs connected in parallel to make a cell": 1,
        "Lower voltage cut-off [V]": float(pv["Lower voltage cut-off [V]"]),
        "Upper voltage cut-off [V]": float(pv["Upper voltage cut-off [V]"]),
        "Nominal cell capacity [A.h]": q,
        "Reference temperature [K]": t_ref,
        "Density [kg.m-3]": density,
    }
    cp = _specific_heat(pv)
    if cp is not None:
        cell["Specific heat capacity [J.K-1.kg-1]"] = cp
    thermal: dict[str, float] = {"Ambient temperature [K]": float(pv["Ambient temperature [K]"])}
    if "Total heat transfer coefficient [W.m-2.K-1]" in pv.keys():
        thermal["Heat transfer coefficient [W.m-2.K-1]"] = float(
            pv["Total heat transfer coefficient [W.m-2.K-1]"]
        )
    eps_s = float(pv["Separator porosity"])
    b_sep = float(pv["Separator Bruggeman coefficient (electrolyte)"])
    notes = "; ".join(setup.notes)
    obj = {
        "Header": {
            "BPX": bpx.__version__,
            "Title": setup.name,
            "Description": (
                f"Exported by CASIP {casip.__version__} from the design {setup.name!r} "
                f"({m.kind}, {m.format}): {setup.approximation} on PyBaMM base set "
                f"{setup.base_set}; geometry, porosities, volume fractions and capacity from "
                f"the design, kinetics, transport and OCPs from the base set. Notes: {notes}"
            ),
            "References": _REFERENCES.get(setup.base_set, setup.base_set),
            "Model": "DFN",
        },
        "Parameterisation": {
            "Cell": cell,
            "Electrolyte": _electrolyte(pv, t_ref, ce0),
            "Negative electrode": neg,
            "Positive electrode": pos,
            "Separator": {
                "Thickness [m]": float(pv["Separator thickness [m]"]),
                "Porosity": eps_s,
                "Transport efficiency": eps_s**b_sep,
            },
            "User-defined": {
                "Open-circuit voltage at 0% SOC [V]": ocv_p["empty"] - ocv_n["empty"],
                "Open-circuit voltage at 100% SOC [V]": ocv_p["full"] - ocv_n["full"],
                **_contact_resistance(pv, setup),
            },
        },
        "State": {
            "Initial conditions": {
                "Initial temperature [K]": float(pv["Initial temperature [K]"]),
                "Initial electrolyte concentration [mol.m-3]": ce0,
            },
            "Thermal environment": thermal,
        },
    }
    try:
        bpx.parse_bpx_obj(json.loads(json.dumps(obj)))
    except Exception as exc:  # pydantic.ValidationError and friends
        raise CasipInputError(
            Problem("", f"the exported parameters do not validate as BPX: {exc}"),
            source=source or setup.name,
        ) from None
    return obj


def export_bpx(
    design: Design | Mapping | PhysicsSetup,
    path: str | os.PathLike,
    *,
    library: MaterialLibrary | None = None,
    source: str | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a liquid design's mapped PyBaMM parameters to a BPX JSON file.

    See the module docstring for the mapping of every field. The file is validated with the
    :mod:`bpx` package before it is written, and written atomically.

    Parameters
    ----------
    design : Design, dict or PhysicsSetup
        The cell design, or an already mapped setup.
    path : path-like
        The JSON file to write.
    library : MaterialLibrary, optional
        Materials to resolve the design against.
    source : str, optional
        Where the design came from, named in errors.
    overwrite : bool
        Replace an existing file (default) or refuse.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    CasipInputError
        For a lithium-metal, anode-free or solid-state design (see :func:`to_bpx_dict`).

    Examples
    --------
    >>> from casip.cells import reference_design
    >>> export_bpx(reference_design("lfp-blade"), "lfp-blade.bpx.json")  # doctest: +SKIP
    PosixPath('lfp-blade.bpx.json')
    """
    from casip.io import write_text_atomic

    obj = to_bpx_dict(design, library=library, source=source)
    text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_text_atomic(Path(path), text, overwrite=overwrite)


# --------------------------------------------------------------------------- import


def _read_bpx_obj(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CasipInputError(Problem("", "no such file", str(path)), source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CasipInputError(Problem("", f"cannot read the file: {exc}"), str(path)) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CasipInputError(
            Problem(f"line {exc.lineno}", f"not valid JSON: {exc.msg}"), source=str(path)
        ) from None
    if not isinstance(obj, dict) or "Header" not in obj or "Parameterisation" not in obj:
        raise CasipInputError(
            Problem(
                "", "not a BPX file", expected="a JSON object with Header and Parameterisation"
            ),
            source=str(path),
        )
    return obj


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors()
            parts = []
            for e in items[:5]:
                loc = ".".join(str(x) for x in e.get("loc", ()))
                parts.append(f"{loc}: {e.get('msg')}")
            more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
            return "; ".join(parts) + more
        except Exception:  # pragma: no cover - fall back to the plain message
            pass
    return str(exc).splitlines()[0]


def import_bpx(path: str | os.PathLike) -> PhysicsSetup:
    """Read a BPX JSON file into a :class:`~casip.physics.PhysicsSetup`.

    The parameter values come from PyBaMM's reader
    (:meth:`pybamm.ParameterValues.create_from_bpx`), which validates the file with the
    :mod:`bpx` package. The cell starts fully charged (or at the file's initial state of
    charge). The returned setup runs with every CASIP protocol that takes a setup.

    Parameters
    ----------
    path : path-like
        A BPX file (version 1; PyBaMM converts version 0 files with a warning).

    Returns
    -------
    PhysicsSetup
        ``parameter_values`` is the :class:`pybamm.ParameterValues`; ``base_set`` is
        ``"BPX <file name>"``; ``approximation`` is ``"DFN from BPX"``; ``metrics`` is a
        :class:`~casip.design.CellMetrics` holding what the file gives: ``capacity_Ah``
        (nominal capacity), ``volume_cm3``, ``mass_g`` (density x volume, NaN without a
        density) and ``geometry["cathode_area_cm2"]``, ``cathode_thickness_um``,
        ``anode_thickness_um``, ``separator_thickness_um``. Cost, breakdowns and nominal
        voltage are NaN or empty: a BPX file does not hold them.

    Raises
    ------
    CasipInputError
        If the file is missing, not JSON, fails the BPX schema (the message names the
        fields), or describes a blended electrode (more than one particle phase), which
        CASIP's protocols do not run yet.
    """
    import bpx

    p = Path(path)
    obj = _read_bpx_obj(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = bpx.parse_bpx_obj(obj)
    except Exception as exc:
        raise CasipInputError(
            Problem("", f"not a valid BPX file: {_validation_message(exc)}"), source=str(p)
        ) from None
    par = parsed.parameterisation
    if getattr(parsed.header, "model", "DFN") not in ("DFN", "SPMe"):
        raise CasipInputError(
            Problem("Header.Model", "CASIP runs the DFN; this file parameterises another model",
                    parsed.header.model, "DFN or SPMe"),
            source=str(p),
        )
    for pole in ("negative_electrode", "positive_electrode"):
        if hasattr(getattr(par, pole), "particle"):
            raise CasipInputError(
                Problem(
                    pole.replace("_", " ").capitalize(),
                    "blended electrodes (several particle phases) are not supported by "
                    "CASIP's protocols yet",
                ),
                source=str(p),
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pv = pybamm.ParameterValues.create_from_bpx(str(p))
    except Exception as exc:
        raise CasipInputError(
            Problem("", f"PyBaMM cannot read this BPX file: {_validation_message(exc)}"),
            source=str(p),
        ) from None

    cell = par.cell
    q = float(cell.nominal_cell_capacity)
    volume_cm3 = float(cell.volume) * 1e6 if cell.volume is not None else math.nan
    mass_g = (
        float(cell.density) * float(cell.volume) * 1e3
        if cell.density is not None and cell.volume is not None
        else math.nan
    )
    area_cm2 = float(cell.electrode_area) * 1e4 * int(cell.number_of_electrodes)
    if int(cell.number_of_electrodes) != 1:
        # CASIP's setups are one electrode pair of the whole area
        pv.update(
            {
                "Electrode width [m]": math.sqrt(area_cm2 * 1e-4),
                "Electrode height [m]": math.sqrt(area_cm2 * 1e-4),
                "Number of electrodes connected in parallel to make a cell": 1.0,
            }
        )
    nan = math.nan
    title = parsed.header.title or p.stem
    metrics = CellMetrics(
        name=title,
        kind="imported (BPX)",
        format="",
        capacity_Ah=q,
        nominal_voltage_V=nan,
        energy_Wh=nan,
        mass_g=mass_g,
        volume_cm3=volume_cm3,
        specific_energy_Wh_kg=nan,
        energy_density_Wh_L=nan,
        cost_usd=nan,
        cost_usd_kWh=nan,
        couple_specific_energy_Wh_kg=nan,
        couple_energy_density_Wh_L=nan,
        cell_to_couple_specific_energy=nan,
        cell_to_couple_energy_density=nan,
        theoretical_specific_energy_Wh_kg=nan,
        geometry={
            "cathode_area_cm2": area_cm2,
            "cathode_thickness_um": float(par.positive_electrode.thickness) * 1e6,
            "anode_thickness_um": float(par.negative_electrode.thickness) * 1e6,
            "separator_thickness_um": float(par.separator.thickness) * 1e6,
        },
        mass_breakdown_g={},
        volume_breakdown_cm3={},
        cost_breakdown_usd={},
        element_demand_kg_GWh={},
        warnings=[] if math.isfinite(mass_g) else [
            "the BPX file gives no cell density and volume: specific energy and power "
            "cannot be computed"
        ],
    )
    origin = f"BPX file {p.name}"
    mapping = {
        k: Mapped(v if isinstance(v, int | float | str) else getattr(v, "__name__", "fn"), origin)
        for k, v in pv.items()
        if k != "citations"
    }
    # CASIP writes a contact resistance (which BPX has no field for) as a user-defined value
    options = {"contact resistance": "true"} if "Contact resistance [Ohm]" in pv.keys() else {}
    return PhysicsSetup(
        name=title,
        approximation="DFN from BPX",
        base_set=f"BPX {p.name}",
        model_options=options,
        parameter_values=pv,
        metrics=metrics,
        mapping=mapping,
        notes=[
            f"read from {p} with pybamm.ParameterValues.create_from_bpx; "
            f"{parsed.header.description or ''}".strip()
        ],
    )


__all__ = ["export_bpx", "import_bpx", "to_bpx_dict"]
