"""Ageing projections for Li-ion and LFP cells with NREL's BLAST-Lite.

This is the only module in CASIP that imports ``blast`` (the BLAST-Lite package). It lists the
BLAST-Lite models, names the LFP/graphite and NMC/graphite ones, runs a model under a
:class:`~casip.life.duty.DutyCycle` and returns relative capacity (and resistance where the model
has it) against time and equivalent full cycles, with the years and cycles to 80 % capacity.

Each model states the range of its ageing experiments (``experimental_range``: cycling
temperature [°C], depth of discharge [-], SOC [-], largest charge and discharge C-rates [1/h]).
A duty outside that range is an extrapolation: :func:`project` lists it in the result and
raises a :class:`ExtrapolationWarning`; it never passes silently.

How a duty is run: one period of the duty (:meth:`DutyCycle.to_timeseries`) is given to the
model's ``simulate_battery_life`` with ``is_constant_input=True``, so BLAST-Lite extracts the
stressors once and repeats the period until the duty's years have passed; charge throughput is
conserved (``is_conserve_energy_throughput=True``, BLAST-Lite's default: the depth grows as the
cell loses capacity). Note that BLAST-Lite's C-rate stressor is the time average of
``|dSOC/dt|`` over a simulation step (rests included), so the charge C-rate of a duty enters
its models mainly through that average; the stated maximum C-rates are checked separately.

References
----------
.. [1] K. Smith, P. Gasper, A. M. Colclasure, Y. Shimonishi, S. Yoshida, "Lithium-ion battery
   life model with electrode cracking and early-life break-in processes", J. Electrochem. Soc.
   168 (2021) 100530. https://doi.org/10.1149/1945-7111/ac2ebd
.. [2] P. Gasper, N. Prakash, K. Smith, BLAST-Lite: Battery Lifetime Analysis and Simulation
   Toolsuite, NREL software (2024). https://github.com/NREL/BLAST-Lite
.. [3] P. Gasper, N. Collath, H. C. Hesse, A. Jossen, K. Smith, "Machine-learning assisted
   identification of accurate battery lifetime models with uncertainty", J. Electrochem. Soc.
   169 (2022) 080518. https://doi.org/10.1149/1945-7111/ac86a8 (identification of the
   Sony-Murata LFP model).
.. [4] M. Naumann, M. Schimpe, P. Keil, H. C. Hesse, A. Jossen, "Analysis and modeling of
   calendar aging of a commercial LiFePO4/graphite cell", J. Energy Storage 17 (2018) 153-169.
   https://doi.org/10.1016/j.est.2018.01.019 ; M. Naumann, F. B. Spingler, A. Jossen,
   "Analysis and modeling of cycle aging of a commercial LiFePO4/graphite cell", J. Power
   Sources 451 (2020) 227666. https://doi.org/10.1016/j.jpowsour.2019.227666
.. [5] J. Schmalstieg, S. Käbitz, M. Ecker, D. U. Sauer, "A holistic aging model for
   Li(NiMnCo)O2 based 18650 lithium-ion batteries", J. Power Sources 257 (2014) 325-334.
   https://doi.org/10.1016/j.jpowsour.2014.02.012
.. [7] K. Smith, A. Saxon, M. Keyser, B. Lundstrom, Z. Cao, A. Roc, "Life prediction model for
   grid-connected Li-ion battery energy storage system", 2017 American Control Conference,
   4062-4068. https://doi.org/10.23919/ACC.2017.7963578 (the Kokam 75 Ah NMC111 model).
.. [6] P. Gasper et al., "Degradation and modeling of large-format commercial lithium-ion
   cells as a function of chemistry, design, and aging conditions", J. Energy Storage 73
   (2023) 109042. https://doi.org/10.1016/j.est.2023.109042 (the LFP-Gr 250 Ah and the
   NMC-Gr A/B1/B2 models).
"""

from __future__ import annotations

import sys
import types
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life._eol import EOL_CAPACITY, crossing
from casip.life.duty import DutyCycle

LFP_GRAPHITE_MODELS = ("Lfp_Gr_SonyMurata3Ah_Battery", "Lfp_Gr_250AhPrismatic")
"""BLAST-Lite's LFP/graphite models: Sony-Murata 3 Ah 18650 (data: Naumann et al. 2018, 2020;
model: Gasper et al. 2022; with resistance) and a >250 Ah prismatic cell (Gasper et al. 2023;
capacity only)."""

NMC_GRAPHITE_MODELS = (
    "Nmc111_Gr_Kokam75Ah_Battery",
    "Nmc111_Gr_Sanyo2Ah_Battery",
    "NMC_Gr_75Ah_A",
    "NMC_Gr_50Ah_B1",
    "NMC_Gr_50Ah_B2",
    "Nmc622_Gr_DENSO50Ah_Battery",
)
"""BLAST-Lite's NMC/graphite models (graphite only, no silicon): Kokam 75 Ah NMC111 (Smith et al.
2017; with resistance), Sanyo 2 Ah NMC111 (Schmalstieg et al. 2014; with resistance), the
large-format A/B1/B2 cells (Gasper et al. 2023) and the DENSO 50 Ah NMC622 cell."""

DEFAULT_MODELS = {"lfp": LFP_GRAPHITE_MODELS[0], "nmc": NMC_GRAPHITE_MODELS[0]}
"""The model used for each chemistry when none is named: the ones that also give resistance."""

"""End of life: relative capacity [-]."""


class ExtrapolationWarning(UserWarning):
    """A duty lies outside the conditions a model was fitted to."""


@dataclass(frozen=True)
class ModelInfo:
    """What BLAST-Lite says about one of its models.

    Attributes
    ----------
    name : str
        The class name in ``blast.models`` (BLAST-Lite's own name for the model).
    label : str
        BLAST-Lite's plot label, e.g. ``"LFP-Gr Sony-Murata"``.
    chemistry : str
        Cathode-anode pair from the name, e.g. ``"LFP-Gr"``, ``"NMC111-Gr"``, ``"NMC811-GrSi"``.
    capacity_Ah : float
        Nominal capacity of the tested cell [Ah].
    outputs : tuple of str
        The model's outputs (``q`` relative capacity; ``r`` relative resistance when present).
    validity : dict
        The model's ``experimental_range``: ``cycling_temperature`` [°C] as [min, max],
        ``dod`` [-] and ``soc`` [-] as [min, max] (a single value means only that one was
        tested), ``max_rate_charge`` and ``max_rate_discharge`` [1/h].
    """

    name: str
    label: str
    chemistry: str
    capacity_Ah: float
    outputs: tuple[str, ...]
    validity: dict = field(default_factory=dict)

    @property
    def has_resistance(self) -> bool:
        """Whether the model gives relative resistance."""
        return "r" in self.outputs


class _NumpyWithTrapz(types.ModuleType):
    """numpy as BLAST-Lite 1.1.0 expects it: with ``trapz`` (removed in numpy 2.4).

    ``numpy.trapezoid`` is the same function under its new name (numpy 2.0).
    """

    def __getattr__(self, name):
        return getattr(np, name)


_NP_COMPAT = _NumpyWithTrapz("numpy")
_NP_COMPAT.trapz = np.trapezoid


def _blast_models():
    """``blast.models``, imported once, with numpy's ``trapz`` restored for its modules only.

    BLAST-Lite 1.1.0 calls ``np.trapz``, which numpy 2.4 removed; each ``blast.*`` module's
    ``np`` is pointed at a view of numpy that also has ``trapz`` (numpy itself is untouched).
    """
    import blast.models  # the one import of BLAST-Lite in CASIP

    if not hasattr(np, "trapz"):
        for mod_name, mod in list(sys.modules.items()):
            if (mod_name == "blast" or mod_name.startswith("blast.")) and getattr(
                mod, "np", None
            ) is np:
                mod.np = _NP_COMPAT
    return blast.models


def _chemistry(name: str) -> str:
    parts = name.split("_")
    return f"{parts[0].upper()}-{parts[1][0].upper()}{parts[1][1:]}"


def list_models() -> list[ModelInfo]:
    """All the ageing models BLAST-Lite provides, with their stated validity ranges.

    Returns
    -------
    list of ModelInfo
        One per model, in BLAST-Lite's order (``blast.models.available_models()``).

    References
    ----------
    .. [1] P. Gasper, N. Prakash, K. Smith, BLAST-Lite, NREL (2024).
       https://github.com/NREL/BLAST-Lite
    """
    models = _blast_models()
    return [model_info(name) for name in models.available_models()]


def model_info(model_name: str) -> ModelInfo:
    """What BLAST-Lite says about one model (see :class:`ModelInfo`).

    Raises
    ------
    casip.errors.CasipInputError
        The name is not a BLAST-Lite model (the error lists the available ones).
    """
    model = _new_model(model_name)
    return ModelInfo(
        name=model_name,
        label=model._label,
        chemistry=_chemistry(model_name),
        capacity_Ah=float(model.cap),
        outputs=tuple(model.outputs),
        validity={k: _plain(v) for k, v in model.experimental_range.items()},
    )


def _plain(v):
    if isinstance(v, list | tuple):
        return [float(x) for x in v]
    return float(v)


def _new_model(model_name: str, degradation_scalar: float = 1.0):
    models = _blast_models()
    names = models.available_models()
    key = (
        DEFAULT_MODELS.get(model_name.lower(), model_name) if isinstance(model_name, str) else None
    )
    if key not in names:
        raise CasipInputError(
            Problem(
                "model",
                "unknown BLAST-Lite model",
                model_name,
                "one of " + ", ".join(names) + ' (or "lfp", "nmc")',
            )
        )
    return getattr(models, key)(degradation_scalar=degradation_scalar)



#: Public name for building a BLAST-Lite model (used by casip.life.profile).
new_model = _new_model

def extrapolations(validity: dict, duty: DutyCycle) -> list[str]:
    """Where a duty lies outside a model's stated experimental range.

    Parameters
    ----------
    validity : dict
        A model's range (:attr:`ModelInfo.validity`).
    duty : DutyCycle
        The duty to check.

    Returns
    -------
    list of str
        One sentence per quantity out of range; empty when the duty is within range.
    """
    out = []

    def _range(key):
        v = validity.get(key)
        if v is None:
            return None
        return (v[0], v[0]) if len(v) == 1 else (v[0], v[-1])

    t = _range("cycling_temperature")
    if t and not t[0] <= duty.temperature_C <= t[1]:
        out.append(
            f"temperature {duty.temperature_C:g} °C is outside the cycling temperatures tested "
            f"({t[0]:g} to {t[1]:g} °C)"
        )
    d = _range("dod")
    if d and not d[0] - 1e-9 <= duty.depth_of_discharge <= d[1] + 1e-9:
        out.append(
            f"depth of discharge {duty.depth_of_discharge:g} is outside the depths tested "
            f"({d[0]:g} to {d[1]:g})"
        )
    s = _range("soc")
    lo, hi = duty.soc_range
    if s and (lo < s[0] - 1e-9 or hi > s[1] + 1e-9):
        out.append(f"SOC range {lo:g}-{hi:g} goes outside the SOC tested ({s[0]:g} to {s[1]:g})")
    for key, rate, what in (
        ("max_rate_charge", duty.charge_c_rate, "charge"),
        ("max_rate_discharge", duty.discharge_c_rate, "discharge"),
    ):
        mx = validity.get(key)
        if mx is not None and rate > mx + 1e-9:
            out.append(f"{what} rate {rate:g}C is above the largest tested ({mx:g}C)")
    return out


def simulate(
    model_name: str,
    duty: DutyCycle,
    step_s: float = 60.0,
    degradation_scalar: float = 1.0,
    years: float | None = None,
):
    """Run a BLAST-Lite model under a duty and return the model object (its raw histories).

    Parameters
    ----------
    model_name : str
        A BLAST-Lite model name (see :func:`list_models`), or ``"lfp"`` / ``"nmc"``.
    duty : DutyCycle
        The repeating duty; run for ``duty.years``.
    step_s : float
        Time step of the one-period profile [s].
    degradation_scalar : float
        BLAST-Lite's multiplier of every degradation rate [-] (1 = the fitted model).
    years : float, optional
        Horizon [year]; ``duty.years`` when not given.

    Returns
    -------
    blast.models.BatteryDegradationModel
        After ``simulate_battery_life``; ``outputs``, ``stressors`` and ``states`` hold the
        histories.
    """
    if not isinstance(duty, DutyCycle):
        raise CasipInputError(
            Problem("duty", "not a duty cycle", type(duty).__name__, "a casip DutyCycle")
        )
    if not (np.isfinite(degradation_scalar) and degradation_scalar > 0):
        raise CasipInputError(
            Problem("degradation_scalar", "must be positive", degradation_scalar, "> 0")
        )
    horizon = duty.years if years is None else years
    if not (np.isfinite(horizon) and 0 < horizon <= 100):
        raise CasipInputError(Problem("years", "horizon out of range", horizon, "(0, 100] years"))
    model = _new_model(model_name, degradation_scalar)
    model.simulate_battery_life(
        duty.to_timeseries(step_s),
        threshold_time=horizon,
        is_constant_input=True,
    )
    return model


def project(
    model_name: str,
    duty: DutyCycle,
    step_s: float = 60.0,
    warn: bool = True,
    years: float | None = None,
) -> pd.DataFrame:
    """Relative capacity and resistance of a Li-ion/LFP cell under a duty, with BLAST-Lite.

    Parameters
    ----------
    model_name : str
        A BLAST-Lite model name (e.g. ``"Lfp_Gr_SonyMurata3Ah_Battery"``,
        ``"Nmc111_Gr_Kokam75Ah_Battery"``; see :func:`list_models`), or ``"lfp"`` / ``"nmc"``
        for :data:`DEFAULT_MODELS`.
    duty : DutyCycle
        The repeating duty, run for ``duty.years``.
    step_s : float
        Time step of the one-period profile given to BLAST-Lite [s].
    warn : bool
        Also raise an :class:`ExtrapolationWarning` when the duty is out of range (the list in
        ``attrs["warnings"]`` is always filled).
    years : float, optional
        Horizon [year] instead of ``duty.years`` (e.g. longer, to reach 80 %).

    Returns
    -------
    pandas.DataFrame
        One row per simulation step, from the start: ``t_days`` [day], ``t_years`` [year],
        ``efc`` equivalent full cycles [-], ``capacity_rel`` [-] (1 at the start) and, when the
        model gives it, ``resistance_rel`` [-]. ``attrs`` holds ``model``, ``label``,
        ``duty`` (a dict), ``validity`` (the model's stated range), ``warnings`` (list of str),
        ``years_to_80pct`` [year] and ``efc_to_80pct`` [-] (linear interpolation; ``None`` when
        80 % is not reached within the horizon) and ``capacity_end`` [-].

    Warns
    -----
    ExtrapolationWarning
        The duty is outside the model's tested range (temperature, depth, SOC, C-rates).

    Raises
    ------
    casip.errors.CasipInputError
        An unknown model name or an invalid duty.

    References
    ----------
    .. [1] P. Gasper, N. Prakash, K. Smith, BLAST-Lite, NREL (2024).
       https://github.com/NREL/BLAST-Lite
    .. [2] K. Smith et al., J. Electrochem. Soc. 168 (2021) 100530.
       https://doi.org/10.1149/1945-7111/ac2ebd
    """
    model = simulate(model_name, duty, step_s, years=years)
    name = type(model).__name__
    info = model_info(name)
    problems = extrapolations(info.validity, duty)
    if problems and warn:
        warnings.warn(
            f"{name} extrapolates for duty {duty.name!r}: " + "; ".join(problems),
            ExtrapolationWarning,
            stacklevel=2,
        )
    return projection_frame(model, info, duty.model_dump(), problems)


def projection_frame(model, info: ModelInfo, duty: dict, problems: list[str]) -> pd.DataFrame:
    """The projection table of a simulated BLAST-Lite model (see :func:`project`)."""
    t_days = np.asarray(model.stressors["t_days"], dtype=float)
    efc = np.asarray(model.stressors["efc"], dtype=float)
    q = np.asarray(model.outputs["q"], dtype=float)
    frame = pd.DataFrame(
        {"t_days": t_days, "t_years": t_days / 365.0, "efc": efc, "capacity_rel": q}
    )
    if "r" in model.outputs:
        frame["resistance_rel"] = np.asarray(model.outputs["r"], dtype=float)
    years_80, efc_80 = crossing(frame["t_years"].to_numpy(), efc, q, EOL_CAPACITY)
    frame.attrs.update(
        model=type(model).__name__,
        label=info.label,
        duty=duty,
        validity=info.validity,
        warnings=problems,
        years_to_80pct=years_80,
        efc_to_80pct=efc_80,
        capacity_end=float(q[-1]),
    )
    return frame


