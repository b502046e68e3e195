"""A semi-empirical ageing model for solid-state cells with a lithium-metal anode.

Interphase resistance grows as a power of time, faster when hotter and when the charge current
density is a larger share of the critical current density (CCD)::

    R(t) = R0 + k(T, j) * t**n                                       [ohm cm2], t in hours
    k(T, j) = k_ref * exp(-Ea/kB * (1/T - 1/T_ref)) * (1 + beta * (j_ch / CCD) * EFC_day)

Capacity fades by lithium inventory loss (lithium bound in the growing interphase, and lithium
lost per cycle by an imperfect coulombic efficiency) and by the extra overpotential of the grown
resistance, which cuts the discharge short::

    LLI(t)  = lam * (R(t) - R0) + (1 - CE) * EFC(t)                   [-]
    Q_R(t)  = j_dis * 1e-3 * (R(t) - R0) / S                          [-]
    Q(t)    = 1 - LLI(t) - Q_R(t)

The cell fails (lithium filaments, short circuit) when the charge current density exceeds the
CCD of the electrolyte (from :mod:`casip.materials`), and loses contact when the stack pressure is
below the electrolyte's minimum; a failed projection says so (``attrs["failed"]``,
``attrs["failure"]``) and warns.

Every parameter carries a source or says it is assumed (:data:`PARAMETERS`); most rates are
assumed, so this model gives trends and orders of magnitude, not a cell's life.

References
----------
.. [1] S. Wenzel, S. Randau, T. Leichtweiß, D. A. Weber, J. Sann, W. G. Zeier, J. Janek,
   "Direct observation of the interfacial instability of the fast ionic conductor
   Li10GeP2S12 at the lithium metal anode", Chem. Mater. 28 (2016) 2400-2407.
   https://doi.org/10.1021/acs.chemmater.6b00610 (parabolic, t**0.5, interphase growth).
.. [2] J.-M. Doux, H. Nguyen, D. H. S. Tan, A. Banerjee, X. Wang, E. A. Wu, C. Jo, H. Yang,
   Y. S. Meng, "Stack pressure considerations for room-temperature all-solid-state lithium
   metal batteries", Adv. Energy Mater. 10 (2020) 1903253.
   https://doi.org/10.1002/aenm.201903253 (5 MPa for Li | Li6PS5Cl).
.. [3] The CCD values and their sources: :mod:`casip.materials` (``electrolytes.yaml``).
.. [4] The starting interface resistance ``R0`` and the minimum stack pressure of Li | LPSCl:
   the sourced solid-state table :data:`casip.physics.solid_state.TABLE` (one source of truth
   with the physics mapping; its citations are copied into :data:`SOURCES`).

:data:`PARAMETERS` is built on first use, not at import: its table entries live in
:mod:`casip.physics`, whose import loads PyBaMM, and ``import casip.life`` (the platform, the
command line) stays free of it.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life._eol import crossing
from casip.life.duty import DutyCycle

if TYPE_CHECKING:
    from casip.materials.solid_state import SolidStateValue

K_B_EV_K = 8.617333262e-5
"""Boltzmann constant [eV/K]."""

T_REF_K = 298.15
"""Reference temperature of the rate constants [K]."""


class SolidStateFailureWarning(UserWarning):
    """A solid-state cell fails under the duty (current above CCD, pressure too low)."""


@dataclass(frozen=True)
class Param:
    """One model parameter: value, unit, source key or ``"assumed"``, and why."""

    value: float
    unit: str
    source: str
    note: str


ASSUMED = "assumed"

SOURCES = {
    "wenzel2016": "S. Wenzel et al., Chem. Mater. 28 (2016) 2400-2407, "
    "https://doi.org/10.1021/acs.chemmater.6b00610",
    "doux2020": "J.-M. Doux et al., Adv. Energy Mater. 10 (2020) 1903253, "
    "https://doi.org/10.1002/aenm.201903253",
}
"""Citations of the source keys used in :data:`PARAMETERS` (CCD sources are in the materials
library). Entries ``physics:<key>`` are added when :data:`PARAMETERS` is built: the citations
of that :data:`casip.physics.solid_state.TABLE` entry."""

ELECTROLYTES = ("LPSCl", "LLZO")
"""Solid electrolytes with ageing parameters (the keys of :data:`PARAMETERS`)."""

#: Life-model electrolyte -> key of its lithium | SE interface resistance in the physics table.
INTERFACE_KEYS = {"LPSCl": "r_li_argyrodite", "LLZO": "r_li_garnet"}

_COMMON = {
    "n": Param(
        0.5,
        "-",
        "wenzel2016",
        "Parabolic growth of a diffusion-limited interphase, observed at Li | LGPS [1]; "
        "taken for the other electrolytes too.",
    ),
    "Ea_eV": Param(
        0.5,
        "eV",
        ASSUMED,
        "Typical activation energy of solid-state diffusion through an interphase; not measured "
        "for these couples in our sources.",
    ),
    "beta": Param(
        2.0,
        "-",
        ASSUMED,
        "Growth doubles-to-triples as the charge current approaches the CCD (void formation and "
        "contact loss); no fit exists.",
    ),
    "lam_per_ohm_cm2": Param(
        2e-3,
        "1/(ohm cm2)",
        ASSUMED,
        "Lithium bound in the interphase per unit of its resistance, for a ~3 mAh/cm2 cell: "
        "50 ohm cm2 of interphase holds 10 % of the inventory.",
    ),
    "coulombic_efficiency": Param(
        0.99995,
        "-",
        ASSUMED,
        "Lithium-metal plating and stripping on a solid electrolyte; 0.005 % lost per cycle.",
    ),
    "slope_V": Param(
        0.5,
        "V",
        ASSUMED,
        "Cell voltage drop per unit of capacity near the end of discharge (layered oxide "
        "cathode), converting extra overpotential into lost capacity.",
    ),
}

def _from_table(entry: SolidStateValue, unit: str, what: str) -> Param:
    """A :class:`Param` holding a physics-table entry's central value, with its source text.

    A measured or derived entry gets the source key ``physics:<key>`` (its citations are added
    to :data:`SOURCES`); an entry the table itself marks assumed stays :data:`ASSUMED`.
    """
    from casip.materials.solid_state import SOURCES as TABLE_SOURCES

    refs = "; ".join(f"{TABLE_SOURCES[k].citation} ({TABLE_SOURCES[k].doi})" for k in entry.sources)
    if entry.basis == "assumed":
        source = ASSUMED
    else:
        source = f"physics:{entry.key}"
        SOURCES[source] = refs
    note = (
        f"{what} casip.physics.solid_state.TABLE[{entry.key!r}] ({entry.basis}; {entry.quantity}, "
        f"central {entry.central:g}, range {entry.low:g}-{entry.high:g} {entry.unit}): "
        f"{entry.note.rstrip('.')}."
        + (f" Context: {refs}." if entry.basis == "assumed" and refs else "")
    )
    return Param(float(entry.central), unit, source, note)


def _build_parameters() -> dict[str, dict[str, Param]]:
    """The model parameters; the table entries come from :mod:`casip.physics.solid_state`."""
    from casip.materials.solid_state import TABLE

    def r0(electrolyte: str) -> Param:
        return _from_table(
            TABLE[INTERFACE_KEYS[electrolyte]],
            "ohm cm2",
            "Li | SE interface resistance after formation, the same quantity as the physics "
            "mapping's lithium-interface resistance at its reference pressure (5 MPa) and 25 C. "
            "Held constant here (the physics mapping scales it with P^-0.5 and Arrhenius); the "
            "value of",
        )

    return {
        "LPSCl": {
            "R0_ohm_cm2": r0("LPSCl"),
            "k_ref_ohm_cm2_h_n": Param(
                0.15,
                "ohm cm2 / h**n",
                ASSUMED,
                "Argyrodite is reduced by lithium to Li2S, Li3P and LiCl but passivates; chosen "
                "so the interphase grows by about 30 ohm cm2 in 5 years at 25 C.",
            ),
            "p_min_MPa": _from_table(
                TABLE["p_min_li"],
                "MPa",
                "Stable Li | Li6PS5Cl cycling shown at 5 MPa [2]; the value of",
            ),
            **_COMMON,
        },
        "LLZO": {
            "R0_ohm_cm2": r0("LLZO"),
            "k_ref_ohm_cm2_h_n": Param(
                0.03,
                "ohm cm2 / h**n",
                ASSUMED,
                "Garnet is kinetically stable against lithium; growth taken 5x slower than "
                "argyrodite.",
            ),
            "p_min_MPa": Param(
                2.0,
                "MPa",
                ASSUMED,
                "Garnet is stiffer and needs less pressure to keep contact than sulfides. A "
                "different value from the physics table's p_min_li (5 MPa, measured on Li | "
                "Li6PS5Cl cells, Doux et al. 2020), which has no garnet entry.",
            ),
            **_COMMON,
        },
    }


_PARAMETERS: dict[str, dict[str, Param]] | None = None
_BUILD_LOCK = threading.Lock()


def parameters() -> dict[str, dict[str, Param]]:
    """Model parameters per solid electrolyte (material id in :mod:`casip.materials`).

    Built on the first call (this imports :mod:`casip.physics`, hence PyBaMM) and then the same
    dict every time; also readable as the module attribute :data:`PARAMETERS`.

    Returns
    -------
    dict
        Electrolyte id -> parameter name -> :class:`Param`.
    """
    global _PARAMETERS
    if _PARAMETERS is None:
        with _BUILD_LOCK:
            if _PARAMETERS is None:
                _PARAMETERS = _build_parameters()
    return _PARAMETERS


def __getattr__(name: str):
    # PARAMETERS is built lazily (PEP 562): see parameters()
    if name == "PARAMETERS":
        return parameters()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def critical_current_density_mA_cm2(electrolyte: str) -> tuple[float, str]:
    """The CCD of an electrolyte from the materials library [mA/cm2], with its source key."""
    from casip.materials import load_library

    lib = load_library()
    ccd = lib[electrolyte].critical_current_density_mA_cm2 if electrolyte in lib else None
    if ccd is None:
        raise CasipInputError(
            Problem(
                "electrolyte",
                "no critical current density in the materials library",
                electrolyte,
                "one of " + ", ".join(ELECTROLYTES),
            )
        )
    return float(ccd.value), ccd.source


def interphase_resistance(t_h, temperature_C, j_charge_mA_cm2, efc_per_day, electrolyte="LPSCl"):
    """Interphase resistance R(t) = R0 + k(T, j) t**n.

    Parameters
    ----------
    t_h : float or array
        Time since assembly [h].
    temperature_C : float
        Cell temperature [°C].
    j_charge_mA_cm2 : float
        Charge (plating) current density [mA/cm2].
    efc_per_day : float
        Equivalent full cycles per day [1/day].
    electrolyte : str
        Material id with parameters in :data:`PARAMETERS`.

    Returns
    -------
    float or array
        Area-specific interphase resistance [ohm cm2].

    References
    ----------
    .. [1] S. Wenzel et al., Chem. Mater. 28 (2016) 2400-2407.
       https://doi.org/10.1021/acs.chemmater.6b00610
    """
    p = _params(electrolyte)
    ccd, _ = critical_current_density_mA_cm2(electrolyte)
    T = temperature_C + 273.15
    arrhenius = np.exp(-p["Ea_eV"].value / K_B_EV_K * (1.0 / T - 1.0 / T_REF_K))
    stress = 1.0 + p["beta"].value * (j_charge_mA_cm2 / ccd) * efc_per_day
    k = p["k_ref_ohm_cm2_h_n"].value * arrhenius * stress
    return p["R0_ohm_cm2"].value + k * np.asarray(t_h, dtype=float) ** p["n"].value


def _params(electrolyte: str) -> dict[str, Param]:
    if electrolyte not in ELECTROLYTES:
        raise CasipInputError(
            Problem(
                "electrolyte",
                "no solid-state ageing parameters for this electrolyte",
                electrolyte,
                "one of " + ", ".join(ELECTROLYTES),
            )
        )
    return parameters()[electrolyte]


def project(
    electrolyte: str,
    duty: DutyCycle,
    areal_capacity_mAh_cm2: float = 3.0,
    stack_pressure_MPa: float = 5.0,
    step_days: float = 1.0,
    warn: bool = True,
) -> pd.DataFrame:
    """Capacity and resistance of a lithium-metal solid-state cell under a duty.

    Parameters
    ----------
    electrolyte : str
        Solid electrolyte id (``"LPSCl"``, ``"LLZO"``).
    duty : DutyCycle
        The repeating duty, run for ``duty.years``.
    areal_capacity_mAh_cm2 : float
        Areal capacity of the cathode [mAh/cm2]; current density = C-rate x this.
    stack_pressure_MPa : float
        Stack pressure held on the cell [MPa].
    step_days : float
        Output step [day].
    warn : bool
        Also raise a :class:`SolidStateFailureWarning` when the cell fails.

    Returns
    -------
    pandas.DataFrame
        ``t_days`` [day], ``t_years`` [year], ``efc`` [-], ``capacity_rel`` [-],
        ``resistance_ohm_cm2`` [ohm cm2], ``resistance_rel`` [-] (R/R0). When the cell fails,
        one row at t = 0 with ``capacity_rel`` 0. ``attrs``: ``electrolyte``, ``duty``,
        ``failed`` (bool), ``failure`` (str or None), ``j_charge_mA_cm2``, ``ccd_mA_cm2`` and its
        ``ccd_source``, ``parameters`` (value, unit, source, note), ``years_to_80pct`` and
        ``efc_to_80pct`` (None when not reached), ``capacity_end``.

    Raises
    ------
    casip.errors.CasipInputError
        Unknown electrolyte, non-positive areal capacity, pressure or step.

    References
    ----------
    .. [1] S. Wenzel et al., Chem. Mater. 28 (2016) 2400-2407.
    .. [2] J.-M. Doux et al., Adv. Energy Mater. 10 (2020) 1903253.
    """
    p = _params(electrolyte)
    for name, v in (
        ("areal_capacity_mAh_cm2", areal_capacity_mAh_cm2),
        ("stack_pressure_MPa", stack_pressure_MPa),
        ("step_days", step_days),
    ):
        if not (np.isfinite(v) and v > 0):
            raise CasipInputError(Problem(name, "must be a positive number", v, "> 0"))
    if not isinstance(duty, DutyCycle):
        raise CasipInputError(Problem("duty", "not a duty cycle", type(duty).__name__))
    ccd, ccd_source = critical_current_density_mA_cm2(electrolyte)
    j_ch = duty.charge_c_rate * areal_capacity_mAh_cm2
    j_dis = duty.discharge_c_rate * areal_capacity_mAh_cm2
    failure = None
    if j_ch > ccd:
        failure = (
            f"charge current density {j_ch:.3g} mA/cm2 exceeds the critical current density "
            f"of {electrolyte} ({ccd:.3g} mA/cm2, {ccd_source}): lithium filaments short the cell"
        )
    elif stack_pressure_MPa < p["p_min_MPa"].value:
        failure = (
            f"stack pressure {stack_pressure_MPa:g} MPa is below the minimum for {electrolyte} "
            f"({p['p_min_MPa'].value:g} MPa): the lithium loses contact"
        )
    attrs = {
        "electrolyte": electrolyte,
        "duty": duty.model_dump(),
        "failed": failure is not None,
        "failure": failure,
        "j_charge_mA_cm2": j_ch,
        "ccd_mA_cm2": ccd,
        "ccd_source": ccd_source,
        "parameters": {k: vars(v) for k, v in p.items()},
    }
    if failure is not None:
        if warn:
            warnings.warn(failure, SolidStateFailureWarning, stacklevel=2)
        r0 = p["R0_ohm_cm2"].value
        frame = pd.DataFrame(
            {
                "t_days": [0.0],
                "t_years": [0.0],
                "efc": [0.0],
                "capacity_rel": [0.0],
                "resistance_ohm_cm2": [r0],
                "resistance_rel": [1.0],
            }
        )
        frame.attrs.update(attrs, years_to_80pct=0.0, efc_to_80pct=0.0, capacity_end=0.0)
        return frame

    t_days = np.arange(0.0, duty.years * 365.0 + step_days / 2, step_days)
    efc = duty.equivalent_full_cycles_per_day * t_days
    r = interphase_resistance(
        t_days * 24.0, duty.temperature_C, j_ch, duty.equivalent_full_cycles_per_day, electrolyte
    )
    dr = r - p["R0_ohm_cm2"].value
    lli = p["lam_per_ohm_cm2"].value * dr + (1.0 - p["coulombic_efficiency"].value) * efc
    q_r = j_dis * 1e-3 * dr / p["slope_V"].value
    q = np.clip(1.0 - lli - q_r, 0.0, 1.0)
    frame = pd.DataFrame(
        {
            "t_days": t_days,
            "t_years": t_days / 365.0,
            "efc": efc,
            "capacity_rel": q,
            "resistance_ohm_cm2": r,
            "resistance_rel": r / p["R0_ohm_cm2"].value,
        }
    )
    y80, n80 = crossing(t_days / 365.0, efc, q)
    frame.attrs.update(attrs, years_to_80pct=y80, efc_to_80pct=n80, capacity_end=float(q[-1]))
    return frame
