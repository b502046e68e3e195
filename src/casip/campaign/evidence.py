"""Observations of a campaign and how evidence of different kinds is combined.

Three kinds of evidence feed one Gaussian process per modelled quantity, each with its own
observation-noise variance (heteroscedastic regression: the GP's per-sample noise term, scikit-
learn's ``alpha``):

* ``"measured"``: a measured outcome (e.g. end-of-life cycles); ``sigma`` is the replicate noise
  when known, else 0 and the GP learns a common noise level (its white-noise term).
* ``"early"``: an early-life prediction; ``sigma`` must come from the predictor's interval
  (:func:`sigma_from_interval`).
* ``"simulation"``: a physics-model result, biased. Where simulation and other evidence exist at
  the same or nearby points, the mean offset (other minus simulation) is estimated and added to
  every simulation value; its scatter (and the standard error of the mean offset) is added to
  the simulation noise variance. Where both kinds exist but never at nearby points, no offset
  can be estimated: simulation values enter unshifted with a stated model-error sd added
  (ASSUMPTION: 0.3 decade for log objectives, i.e. a factor of 2 in life; 10 % of the median
  absolute value for linear ones; override with ``simulation_error``). When only simulation
  evidence exists the offset does not change which point is best, so the values enter as given.

The offset is treated as independent noise per simulation point, a simplification (a shared
offset is correlated across points; a multi-fidelity model such as Kennedy & O'Hagan,
Biometrika 87(1), 2000 would carry it as a kernel term). It is conservative: it widens the
uncertainty instead of trusting the simulation's level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

import numpy as np

from casip.campaign.space import Space
from casip.errors import CasipInputError, Problem

_SOURCE = "campaign"
KINDS = ("simulation", "early", "measured")
#: ASSUMPTION: model error sd of simulation vs. cells when no overlap exists, log10 units.
SIMULATION_LOG_SD = 0.3
#: ASSUMPTION: the same for linear objectives, as a fraction of the median |value|.
SIMULATION_REL_SD = 0.10
#: Points closer than this (Euclidean distance in the unit cube divided by sqrt(dims)) count as
#: "the same point" when pairing simulation with other evidence.
NEAR = 0.05


@dataclass
class Observation:
    """One piece of evidence at a point.

    Parameters
    ----------
    point : dict
        Parameter name -> value (inside the space).
    values : dict
        Objective/constraint name -> observed value (raw units; log objectives are log10'd
        by the model).
    sigma : dict
        Name -> 1-sd observation noise in the modelled space (log10 units for log objectives).
    kind : {"simulation", "early", "measured"}
        Where the value comes from.
    candidate_id : str, optional
        The caller's id of the candidate (pairs simulation with other evidence too).
    cycles : int, optional
        Cycles behind an early prediction (informational).
    """

    point: dict
    values: dict[str, float]
    sigma: dict[str, float] = field(default_factory=dict)
    kind: Literal["simulation", "early", "measured"] = "measured"
    candidate_id: str | None = None
    cycles: int | None = None


def sigma_from_interval(low: float, high: float, *, level: float = 0.9, log: bool = True) -> float:
    """The 1-sd noise implied by a symmetric (Gaussian) prediction interval.

    Parameters
    ----------
    low, high : float
        The interval's bounds in raw units (e.g. cycles).
    level : float
        Its coverage (0.9 for a 90 % interval).
    log : bool
        Return the sd in log10 units (for a log objective).

    Returns
    -------
    float
        ``(f(high) - f(low)) / (2 z)``, ``z`` the standard-normal quantile of ``(1+level)/2``,
        ``f`` = log10 or identity.
    """
    if not (0 < level < 1):
        raise CasipInputError(
            Problem("level", "coverage must be in (0, 1)", level, "e.g. 0.9"), source=_SOURCE
        )
    if not (math.isfinite(low) and math.isfinite(high)) or high < low or (log and low <= 0):
        raise CasipInputError(
            Problem(
                "interval", "not a valid interval", (low, high), "finite low <= high (> 0 for log)"
            ),
            source=_SOURCE,
        )
    z = NormalDist().inv_cdf(0.5 + level / 2)
    width = (math.log10(high) - math.log10(low)) if log else (high - low)
    return width / (2 * z)


@dataclass
class Evidence:
    """The data one Gaussian process is fitted to (one objective or constraint)."""

    name: str
    points: list[dict]
    X: np.ndarray
    y: np.ndarray  # modelled space (log10 for log objectives), offset-corrected
    var: np.ndarray  # observation-noise variance per row
    kinds: list[str]
    offset: float = 0.0
    offset_sd: float = 0.0
    note: str = ""
    rows: list[int] = field(default_factory=list)  # index of each row in the observations list


def check_observations(
    space: Space, observations: list[Observation], names: list[str]
) -> list[dict]:
    """Validate observations; return their points (plain values). Raises CasipInputError."""
    points = []
    for i, ob in enumerate(observations):
        where = f"observations[{i}]"
        if not isinstance(ob, Observation):
            raise CasipInputError(
                Problem(
                    where, "not an Observation", type(ob).__name__, "casip.campaign.Observation"
                ),
                source=_SOURCE,
            )
        if ob.kind not in KINDS:
            raise CasipInputError(
                Problem(f"{where}.kind", "unknown evidence kind", ob.kind, f"one of {list(KINDS)}"),
                source=_SOURCE,
            )
        points.append(space.validate_point(ob.point, f"{where}.point"))
        for key, v in ob.values.items():
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(float(v))
            ):
                raise CasipInputError(
                    Problem(
                        f"{where}.values.{key}",
                        "value is not a finite number",
                        v,
                        "a finite number",
                    ),
                    source=_SOURCE,
                )
        for key, s in ob.sigma.items():
            if (
                isinstance(s, bool)
                or not isinstance(s, (int, float))
                or not math.isfinite(float(s))
                or s < 0
            ):
                raise CasipInputError(
                    Problem(
                        f"{where}.sigma.{key}",
                        "sigma is not a finite non-negative number",
                        s,
                        "a finite sd >= 0 in the modelled space",
                    ),
                    source=_SOURCE,
                )
        if ob.kind == "early":
            for key in ob.values:
                if key in names and key not in ob.sigma:
                    raise CasipInputError(
                        Problem(
                            f"{where}.sigma.{key}",
                            "an early-life prediction needs its sigma",
                            None,
                            "the sd from the predictor's interval (sigma_from_interval)",
                        ),
                        source=_SOURCE,
                    )
    return points


def gather(
    space: Space,
    name: str,
    observations: list[Observation],
    points: list[dict],
    *,
    log: bool = False,
    simulation_error: float | None = None,
) -> Evidence:
    """Collect the evidence for one quantity, correcting simulation bias (see module notes).

    Parameters
    ----------
    space : Space
    name : str
        The objective/constraint name.
    observations : list of Observation
        Already checked by :func:`check_observations`.
    points : list of dict
        Their validated points.
    log : bool
        Model log10(value) (values must be > 0).
    simulation_error : float, optional
        Model-error sd of simulation evidence when no overlap with other evidence exists
        (modelled units); default: the module's stated assumption.
    """
    rows = [i for i, ob in enumerate(observations) if name in ob.values]
    y = []
    for i in rows:
        v = float(observations[i].values[name])
        if log:
            if v <= 0:
                raise CasipInputError(
                    Problem(
                        f"observations[{i}].values.{name}",
                        "a log objective needs a positive value",
                        v,
                        "a value > 0",
                    ),
                    source=_SOURCE,
                )
            v = math.log10(v)
        y.append(v)
    y = np.asarray(y, dtype=float)
    var = np.asarray([float(observations[i].sigma.get(name, 0.0)) ** 2 for i in rows], dtype=float)
    kinds = [observations[i].kind for i in rows]
    pts = [points[i] for i in rows]
    X = space.transform(pts)
    ev = Evidence(name=name, points=pts, X=X, y=y, var=var, kinds=kinds, rows=rows)
    sim = np.array([k == "simulation" for k in kinds], dtype=bool)
    if not sim.any() or sim.all():
        if sim.any():
            ev.note = f"{name}: simulation evidence only (optimising the simulation)"
        return ev
    # pair each simulation row with other evidence at the same candidate id or a nearby point
    scale = math.sqrt(max(X.shape[1], 1))
    diffs = []
    for a in np.flatnonzero(sim):
        ida = observations[rows[a]].candidate_id
        near = []
        for b in np.flatnonzero(~sim):
            idb = observations[rows[b]].candidate_id
            same_id = ida is not None and ida == idb
            if same_id or np.linalg.norm(X[a] - X[b]) / scale <= NEAR:
                near.append(y[b])
        if near:
            diffs.append(float(np.mean(near)) - y[a])
    if diffs:
        d = np.asarray(diffs)
        offset = float(d.mean())
        if len(d) >= 2:
            scatter = float(d.std(ddof=1))
        else:
            scatter = _default_error(y[sim], log, simulation_error)
        se = scatter / math.sqrt(len(d))
        ev.offset, ev.offset_sd = offset, se
        ev.y = np.where(sim, y + offset, y)
        ev.var = np.where(sim, var + scatter**2 + se**2, var)
        ev.note = (
            f"{name}: simulation offset {offset:+.3g} ± {se:.2g} estimated from "
            f"{len(d)} paired points "
            f"(scatter {scatter:.2g} added to the simulation noise)"
        )
    else:
        sd = _default_error(y[sim], log, simulation_error)
        ev.offset, ev.offset_sd = 0.0, sd
        ev.var = np.where(sim, var + sd**2, var)
        ev.note = (
            f"{name}: no simulation point near other evidence; simulation used with an assumed "
            f"model-error sd {sd:.2g}"
        )
    return ev


def _default_error(sim_y: np.ndarray, log: bool, simulation_error: float | None) -> float:
    if simulation_error is not None:
        return float(simulation_error)
    if log:
        return SIMULATION_LOG_SD
    med = float(np.median(np.abs(sim_y))) if len(sim_y) else 0.0
    return max(SIMULATION_REL_SD * med, 1e-12)
