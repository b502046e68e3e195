"""Batch Bayesian proposals for closed-loop campaigns: stateless functions over plain data.

Library choice. scikit-optimize 0.10.2 supplies the search space (unit-cube warping, Sobol
initial designs, ``skopt.sampler``) and the acquisition function
(``skopt.acquisition.gaussian_ei``); scikit-learn supplies the Gaussian process. skopt's own
``Optimizer`` loop is not used because its ``tell`` cannot take a noise level per observation,
and campaign evidence is heteroscedastic (early-life predictions, measured ends of life and
simulations carry different noise); the GP is therefore fitted here with scikit-learn's
per-sample ``alpha`` (see ``_gp.py``). BoTorch, Ax or BayBE would add PyTorch (gigabytes) to
the default install; they sit behind the optional ``backend="botorch"`` entry of a small
registry (extra ``casip[campaign-heavy]``).

The matrices are small (tens to hundreds of observations), so BLAS is held to one thread
(``threadpoolctl``, a scikit-learn dependency): on a shared 2-core machine a multi-threaded
BLAS made each proposal 3x slower through oversubscription.

What is written here by hand, because no maintained library does it over this data model:

* the noisy incumbent: the best posterior mean among observed points, not the best raw value
  (a plug-in noisy EI; Picheny, Wagner & Ginsbourger, Struct. Multidisc. Optim. 48, 2013);
* batches by Kriging believer / GP-BUCB hallucination: after each choice the point is added as
  a fantasised observation at its posterior mean with hyperparameters frozen, and the next
  point is chosen on the refitted model; pending points are fantasised first (Ginsbourger, Le
  Riche & Carraro 2010, "Kriging is well-suited to parallelize optimization"; Desautels,
  Krause & Burdick, JMLR 15, 2014);
* ParEGO for several objectives (Knowles, IEEE TEC 10(1), 2006): per batch slot a seeded random
  weight vector and an augmented Chebyshev scalarisation of the normalised objectives;
* constraints: known ones filter candidates; unknown ones get their own GP and multiply EI by
  the probability of feasibility (Schonlau, Welch & Jones 1998; Gardner et al., ICML 2014);
* space-filling start (greedy max-min distance over a Sobol set or over the pool) while there
  are too few observations to fit a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr
from skopt.acquisition import gaussian_ei
from skopt.sampler import Sobol
from threadpoolctl import threadpool_limits

from casip.campaign._gp import HeteroGP, LossModel
from casip.campaign.evidence import Evidence, Observation, check_observations, gather
from casip.campaign.space import Constraint, Objective, Space
from casip.errors import CasipInputError, Problem

_SOURCE = "campaign"
_RHO = 0.05  # ParEGO's augmentation weight (Knowles 2006)
_XI = 0.01  # EI exploration margin, standardised units (skopt's default)


@dataclass
class Proposal:
    """One proposed point.

    Attributes
    ----------
    point : dict
        Parameter name -> value.
    acquisition : float
        The acquisition value it was chosen with (EI x P(feasible), standardised units; 0 for
        space-filling picks).
    predicted : dict
        Objective/unknown-constraint name -> (posterior mean, sd) in the modelled space (log10
        for log objectives); empty during the space-filling start.
    reason : str
        Why this point, in words.
    """

    point: dict
    acquisition: float
    predicted: dict[str, tuple[float, float]] = field(default_factory=dict)
    reason: str = ""


@dataclass
class Incumbent:
    """An observed point with its posterior mean and sd per objective (modelled space).

    Unpacks as ``point, mean, sd = best(...)``.
    """

    point: dict
    mean: dict[str, float]
    sd: dict[str, float]

    @property
    def predicted(self) -> dict[str, tuple[float, float]]:
        """Name -> (mean, sd)."""
        return {k: (self.mean[k], self.sd[k]) for k in self.mean}

    def __iter__(self):
        return iter((self.point, self.mean, self.sd))


# ----------------------------------------------------------------------------- validation


def _check_objectives(objectives: Sequence[Objective]) -> list[Objective]:
    objectives = list(objectives)
    if not objectives:
        raise CasipInputError(
            Problem(
                "objectives", "at least one objective is needed", objectives, "a list of Objective"
            ),
            source=_SOURCE,
        )
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise CasipInputError(
            Problem("objectives", "objective names must be distinct", names, "distinct names"),
            source=_SOURCE,
        )
    return objectives


def _key(point: dict) -> tuple:
    return tuple((k, round(v, 9) if isinstance(v, float) else v) for k, v in sorted(point.items()))


def _unit_dist(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances (rows of X to rows of Y)."""
    if len(Y) == 0:
        return np.full((len(X), 0), np.inf)
    return np.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1))


# ----------------------------------------------------------------------------- models


def _fit(ev: Evidence, seed: int) -> HeteroGP:
    return HeteroGP(ev.X, ev.y, ev.var, seed=seed)


def _pof(gps: list[tuple[Constraint, HeteroGP]], X: np.ndarray) -> np.ndarray:
    """Probability that every unknown constraint holds (independent GPs)."""
    p = np.ones(len(X))
    for c, gp in gps:
        m, s = gp.predict(X)
        hi = ndtr((c.max - m) / s) if c.max is not None else 1.0
        lo = ndtr((c.min - m) / s) if c.min is not None else 0.0
        p = p * np.clip(hi - lo, 0.0, 1.0)
    return p


def _objective_evidence(space, objectives, observations, obs_points, simulation_error) -> dict:
    """Each objective's evidence (:func:`~casip.campaign.evidence.gather`), by name."""
    return {
        o.name: gather(
            space,
            o.name,
            observations,
            obs_points,
            log=o.log,
            simulation_error=_sim_error(simulation_error, o.name),
        )
        for o in objectives
    }


def _sim_error(simulation_error, name):
    if isinstance(simulation_error, dict):
        return simulation_error.get(name)
    return simulation_error


# ----------------------------------------------------------------------------- public API


@threadpool_limits.wrap(limits=1, user_api="blas")
def posterior(
    space: Space,
    objectives: Sequence[Objective | Constraint],
    observations: Sequence[Observation],
    points: Sequence[dict],
    *,
    simulation_error: float | dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Posterior mean and sd of each objective (or constraint) at points.

    Parameters
    ----------
    space : Space
    objectives : list of Objective or Constraint
        The quantities to predict (log objectives in log10 units).
    observations : list of Observation
    points : list of dict
        Where to predict.
    simulation_error : float or dict, optional
        Model-error sd of simulation evidence without overlap (see ``evidence``).
    seed : int

    Returns
    -------
    dict
        Name -> (mean array, sd array), latent function (without observation noise).
    """
    observations = list(observations)
    names = [o.name for o in objectives]
    obs_points = check_observations(space, observations, names)
    pts = [space.validate_point(p, f"points[{i}]") for i, p in enumerate(points)]
    X = space.transform(pts)
    out = {}
    for o in objectives:
        ev = gather(
            space,
            o.name,
            observations,
            obs_points,
            log=getattr(o, "log", False),
            simulation_error=_sim_error(simulation_error, o.name),
        )
        if len(ev.y) == 0:
            raise CasipInputError(
                Problem(
                    f"objectives.{o.name}",
                    "no observation has a value for it",
                    o.name,
                    "at least one observation with this value",
                ),
                source=_SOURCE,
            )
        gp = _fit(ev, seed)
        out[o.name] = gp.predict(X) if len(X) else (np.zeros(0), np.zeros(0))
    return out


@threadpool_limits.wrap(limits=1, user_api="blas")
def best(
    space: Space,
    objectives: Sequence[Objective],
    observations: Sequence[Observation],
    *,
    constraints: Sequence[Constraint] = (),
    known_constraints: Callable[[dict], dict] | None = None,
    simulation_error: float | dict[str, float] | None = None,
    seed: int = 0,
) -> Incumbent | list[Incumbent]:
    """The noisy incumbent: the observed point with the best posterior mean.

    Parameters
    ----------
    space, objectives, observations
        As for :func:`propose`.
    constraints, known_constraints
        Observed points that are infeasible (known constraint violated, or probability of
        feasibility of the unknown ones below 0.5) are skipped when a feasible one exists.

    Returns
    -------
    Incumbent or list of Incumbent
        One objective: the observed point with the best posterior mean (not the best raw noisy
        value). Several: the observed points whose posterior means are non-dominated.
    """
    objectives = _check_objectives(objectives)
    observations = list(observations)
    constraints = list(constraints)
    names = [o.name for o in objectives] + [c.name for c in constraints]
    obs_points = check_observations(space, observations, names)
    evs = _objective_evidence(space, objectives, observations, obs_points, simulation_error)
    rows = sorted(set.intersection(*[set(ev.rows) for ev in evs.values()]))
    if not rows:
        raise CasipInputError(
            Problem(
                "observations",
                "no observation has a value for every objective",
                len(observations),
                f"observations with values for {[o.name for o in objectives]}",
            ),
            source=_SOURCE,
        )
    uniq: dict[tuple, dict] = {}
    for i in rows:
        uniq.setdefault(_key(obs_points[i]), obs_points[i])
    pts = list(uniq.values())
    X = space.transform(pts)
    feas = _feasible_mask(
        space,
        pts,
        X,
        observations,
        obs_points,
        constraints,
        known_constraints,
        simulation_error,
        seed,
    )
    if feas.any():
        pts = [p for p, f in zip(pts, feas, strict=True) if f]
        X = X[feas]
    means, sds = {}, {}
    for o in objectives:
        m, s = _fit(evs[o.name], seed).predict(X)
        means[o.name], sds[o.name] = m, s
    sign = {o.name: (1.0 if o.sense == "max" else -1.0) for o in objectives}
    if len(objectives) == 1:
        o = objectives[0]
        j = int(np.argmax(sign[o.name] * means[o.name]))
        return Incumbent(pts[j], {o.name: float(means[o.name][j])}, {o.name: float(sds[o.name][j])})
    G = np.column_stack([sign[o.name] * means[o.name] for o in objectives])  # larger is better
    front = []
    for j in range(len(pts)):
        dominated = np.any(np.all(G >= G[j], axis=1) & np.any(G > G[j], axis=1))
        if not dominated:
            front.append(
                Incumbent(
                    pts[j],
                    {o.name: float(means[o.name][j]) for o in objectives},
                    {o.name: float(sds[o.name][j]) for o in objectives},
                )
            )
    return front


def early_stop(
    prediction_low: float,
    prediction_high: float,
    *,
    incumbent_low: float | None,
    threshold: float | None,
) -> tuple[bool, str]:
    """Whether to stop testing a candidate whose predicted life is confidently poor.

    Parameters
    ----------
    prediction_low, prediction_high : float
        The candidate's prediction interval (e.g. early-life predicted cycles).
    incumbent_low : float or None
        The lower bound of the incumbent's interval (same units).
    threshold : float or None
        A minimum acceptable value (a constraint bound).

    Returns
    -------
    (bool, str)
        Stop when the upper bound is below the incumbent's lower bound or below the threshold;
        the reason says which comparison decided.
    """
    for fname, v in (
        ("prediction_low", prediction_low),
        ("prediction_high", prediction_high),
        ("incumbent_low", incumbent_low),
        ("threshold", threshold),
    ):
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        ):
            raise CasipInputError(
                Problem(fname, "not a finite number", v, "a finite number"), source=_SOURCE
            )
    if prediction_high < prediction_low:
        raise CasipInputError(
            Problem(
                "prediction_high",
                "upper bound below the lower bound",
                prediction_high,
                f">= prediction_low ({prediction_low})",
            ),
            source=_SOURCE,
        )
    if threshold is not None and prediction_high < threshold:
        return True, (
            f"stop: upper bound {prediction_high:.4g} is below the threshold {threshold:.4g} "
            "(confidently infeasible)"
        )
    if incumbent_low is not None and prediction_high < incumbent_low:
        return True, (
            f"stop: upper bound {prediction_high:.4g} is below the incumbent's lower bound "
            f"{incumbent_low:.4g} (confidently worse)"
        )
    parts = []
    if incumbent_low is not None:
        parts.append(
            f"upper bound {prediction_high:.4g} >= incumbent lower bound {incumbent_low:.4g}"
        )
    if threshold is not None:
        parts.append(f"upper bound {prediction_high:.4g} >= threshold {threshold:.4g}")
    return False, "continue: " + ("; ".join(parts) if parts else "nothing to compare against")


def _botorch_backend(*args, **kwargs) -> list[Proposal]:
    try:
        import botorch  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise CasipInputError(
            Problem(
                "backend",
                "the botorch backend needs PyTorch and BoTorch, which are not installed",
                "botorch",
                "pip install 'casip[campaign-heavy]', or backend='skopt'",
            ),
            source=_SOURCE,
        ) from exc
    raise CasipInputError(
        Problem(
            "backend",
            "the botorch backend is a registered extension point, not implemented in this version",
            "botorch",
            "backend='skopt'",
        ),
        source=_SOURCE,
    )


BACKENDS: dict[str, Callable[..., list[Proposal]]] = {}  # filled below: name -> proposal function


def propose(
    space: Space,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    observations: Sequence[Observation],
    *,
    batch: int,
    pending: Sequence[dict] = (),
    candidates: Sequence[dict] | None = None,
    known_constraints: Callable[[dict], dict] | None = None,
    seed: int = 0,
    backend: str = "skopt",
    replicates: bool = False,
    n_candidates: int = 2048,
    polish: bool = True,
    simulation_error: float | dict[str, float] | None = None,
) -> list[Proposal]:
    """Propose the next batch of points to evaluate.

    Parameters
    ----------
    space : Space
    objectives : list of Objective
        One (EI on its GP) or several (ParEGO).
    constraints : list of Constraint
        Known ones need ``known_constraints``; unknown ones are learned from observation values.
    observations : list of Observation
        All evidence so far (any kind).
    batch : int
        Number of points (>= 1).
    pending : list of dict
        Points proposed earlier and not yet observed (fantasised; never re-proposed from a pool).
    candidates : list of dict, optional
        A pool to choose from; None: the continuous space (``n_candidates`` Sobol points, the best
        optionally polished by L-BFGS-B when no parameter is categorical).
    known_constraints : callable, optional
        ``point -> {constraint name: value}`` for the known constraints.
    seed : int
        Makes the result deterministic.
    backend : str
        ``"skopt"`` (default) or ``"botorch"`` (optional extra ``casip[campaign-heavy]``).
    replicates : bool
        Pool mode: allow re-proposing a member already measured or pending.
    n_candidates : int
        Continuous mode: size of the Sobol candidate set.
    polish : bool
        Continuous mode: refine the best candidates with L-BFGS-B.
    simulation_error : float or dict, optional
        Model-error sd of simulation evidence with no overlap (modelled units; per objective name).

    Returns
    -------
    list of Proposal
        ``batch`` proposals, fewer only when a pool has fewer members left.

    Raises
    ------
    CasipInputError
        Bad batch, names, values outside the space, non-finite values, empty pool, unknown backend.
    """
    if backend not in BACKENDS:
        raise CasipInputError(
            Problem("backend", "unknown backend", backend, f"one of {sorted(BACKENDS)}"),
            source=_SOURCE,
        )
    return BACKENDS[backend](
        space,
        objectives,
        constraints,
        observations,
        batch=batch,
        pending=pending,
        candidates=candidates,
        known_constraints=known_constraints,
        seed=seed,
        replicates=replicates,
        n_candidates=n_candidates,
        polish=polish,
        simulation_error=simulation_error,
    )


def _feasible_mask(
    space, pts, X, observations, obs_points, constraints, known_constraints, simulation_error, seed
) -> np.ndarray:
    mask = np.ones(len(pts), dtype=bool)
    known = [c for c in constraints if c.known]
    if known:
        mask &= np.array([_known_ok(p, known, known_constraints) for p in pts], dtype=bool)
    gps = _constraint_gps(
        space,
        [c for c in constraints if not c.known],
        observations,
        obs_points,
        simulation_error,
        seed,
    )
    if gps:
        mask &= _pof(gps, X) >= 0.5
    return mask


def _known_ok(point: dict, known: list[Constraint], fn: Callable[[dict], dict] | None) -> bool:
    if fn is None:
        raise CasipInputError(
            Problem(
                "known_constraints",
                "known constraints need a function computing them",
                None,
                f"a callable point -> {{{', '.join(c.name for c in known)}: value}}",
            ),
            source=_SOURCE,
        )
    values = fn(dict(point))
    for c in known:
        if c.name not in values:
            raise CasipInputError(
                Problem(
                    f"known_constraints.{c.name}",
                    "the function did not return this constraint",
                    sorted(values),
                    f"a dict with key {c.name!r}",
                ),
                source=_SOURCE,
            )
        if not c.satisfied(float(values[c.name])):
            return False
    return True


def _constraint_gps(space, unknown, observations, obs_points, simulation_error, seed):
    gps = []
    for c in unknown:
        ev = gather(
            space,
            c.name,
            observations,
            obs_points,
            simulation_error=_sim_error(simulation_error, c.name),
        )
        if len(ev.y):
            gps.append((c, _fit(ev, seed)))
    return gps


@threadpool_limits.wrap(limits=1, user_api="blas")
def _propose_skopt(
    space: Space,
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    observations: Sequence[Observation],
    *,
    batch: int,
    pending: Sequence[dict],
    candidates: Sequence[dict] | None,
    known_constraints: Callable[[dict], dict] | None,
    seed: int,
    replicates: bool,
    n_candidates: int,
    polish: bool,
    simulation_error,
) -> list[Proposal]:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise CasipInputError(
            Problem("batch", "batch size must be a positive integer", batch, "an integer >= 1"),
            source=_SOURCE,
        )
    objectives = _check_objectives(objectives)
    constraints = list(constraints)
    observations = list(observations)
    names = [o.name for o in objectives] + [c.name for c in constraints if not c.known]
    obs_points = check_observations(space, observations, names)
    pend = [space.validate_point(p, f"pending[{i}]") for i, p in enumerate(pending)]
    known = [c for c in constraints if c.known]
    rng = np.random.default_rng(seed)

    # ---- candidate set
    pool_mode = candidates is not None
    if pool_mode:
        candidates = list(candidates)
        if not candidates:
            raise CasipInputError(
                Problem(
                    "candidates",
                    "the candidate pool is empty",
                    candidates,
                    "a non-empty list of points",
                ),
                source=_SOURCE,
            )
        cand = [space.validate_point(p, f"candidates[{i}]") for i, p in enumerate(candidates)]
        if not replicates:
            taken = {_key(p) for p in pend}
            taken |= {
                _key(obs_points[i]) for i, ob in enumerate(observations) if ob.kind == "measured"
            }
            cand = [p for p in cand if _key(p) not in taken]
        seen, uniq = set(), []
        for p in cand:
            if _key(p) not in seen:
                seen.add(_key(p))
                uniq.append(p)
        cand = uniq
    else:
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 2:
            raise CasipInputError(
                Problem("n_candidates", "too few candidates", n_candidates, "an integer >= 2"),
                source=_SOURCE,
            )
        rows = Sobol().generate(space.to_skopt().dimensions, n_candidates, random_state=seed)
        cand = space.from_rows(rows)
    if known:
        cand = [p for p in cand if _known_ok(p, known, known_constraints)]
        if not cand and not pool_mode:
            raise CasipInputError(
                Problem(
                    "known_constraints",
                    "no candidate point satisfies the known constraints",
                    [c.name for c in known],
                    "constraints that some of the space can meet",
                ),
                source=_SOURCE,
            )
    if not cand:
        return []
    Xc = space.transform(cand)
    Xp = space.transform(pend)

    # ---- too few observations: space-filling start
    modelled = {
        _key(obs_points[i])
        for i, ob in enumerate(observations)
        if all(o.name in ob.values for o in objectives)
    }
    need = max(3, 2 * len(space.parameters))
    if len(modelled) < need:
        existing = (
            np.vstack([space.transform([obs_points[i] for i, ob in enumerate(observations)]), Xp])
            if observations or pend
            else np.zeros((0, Xc.shape[1]))
        )
        return _space_filling(cand, Xc, existing, batch, rng, len(modelled), need, pool_mode)

    # ---- models
    evs = _objective_evidence(space, objectives, observations, obs_points, simulation_error)
    obj_gps = {o.name: _fit(evs[o.name], seed) for o in objectives}
    con_gps = _constraint_gps(
        space,
        [c for c in constraints if not c.known],
        observations,
        obs_points,
        simulation_error,
        seed,
    )
    notes = [ev.note for ev in evs.values() if ev.note]

    # observed distinct points (for the incumbent) and their feasibility
    obs_keys: dict[tuple, dict] = {}
    for i in sorted(set.intersection(*[set(ev.rows) for ev in evs.values()])):
        obs_keys.setdefault(_key(obs_points[i]), obs_points[i])
    inc_pts = list(obs_keys.values())
    Xo = space.transform(inc_pts)
    feas = np.ones(len(inc_pts), dtype=bool)
    if known:
        feas &= np.array([_known_ok(p, known, known_constraints) for p in inc_pts], dtype=bool)
    if con_gps:
        feas &= _pof(con_gps, Xo) >= 0.5
    pof_c = _pof(con_gps, Xc) if con_gps else np.ones(len(Xc))

    multi = len(objectives) > 1
    if not multi:
        o = objectives[0]
        sign = -1.0 if o.sense == "max" else 1.0  # loss = sign * y
        target = obj_gps[o.name]
        if len(Xp):
            target = target.fantasise(Xp)

    chosen: list[dict] = []
    Xchosen = np.zeros((0, Xc.shape[1]))
    alive = np.ones(len(cand), dtype=bool)
    out: list[Proposal] = []
    for slot in range(batch):
        if not alive.any():
            break
        if multi:
            w = rng.dirichlet(np.ones(len(objectives)))
            gp, _ = _parego_gp(objectives, evs, obs_points, w, seed)
            fx = np.vstack([Xp, Xchosen]) if len(Xp) or len(Xchosen) else np.zeros((0, Xc.shape[1]))
            target = gp.fantasise(fx)
            sign = 1.0
            label = (
                "ParEGO weights ["
                + ", ".join(f"{o.name} {x:.2f}" for o, x in zip(objectives, w, strict=True))
                + "]"
            )
        else:
            label = f"{o.name}{' (log10)' if o.log else ''} {o.sense}"
        model = LossModel(target, sign)
        if (
            feas.any() or not con_gps
        ):  # no unknown constraint: all observed points can be incumbents
            inc_mask = feas if feas.any() else np.ones(len(inc_pts), dtype=bool)
            inc_loss = float(np.min(model.predict(Xo[inc_mask])))
            acq_fn = _acq(model, inc_loss, con_gps)
            how = "EI x P(feasible)" if con_gps else "EI"
        else:
            inc_loss = None
            acq_fn = _acq(None, None, con_gps)
            how = "P(feasible) (no feasible point observed yet)"
        acq = acq_fn(Xc)
        acq = np.where(alive, acq, -np.inf)
        if np.nanmax(acq[alive]) <= 1e-12:  # EI vanished everywhere: most uncertain point instead
            _, s = target.predict_n(Xc)
            acq = np.where(alive, s * (pof_c if con_gps else 1.0), -np.inf)
            how = "posterior sd (EI vanished)"
        j = int(np.argmax(acq))
        x, val, point = Xc[j], float(acq[j]), cand[j]
        if polish and not pool_mode and space.all_numeric:
            x2, p2, v2 = _polish(
                space, acq_fn, Xc, acq, known, known_constraints, np.vstack([Xp, Xchosen])
            )
            if p2 is not None and v2 > val:
                x, val, point = x2, v2, p2
        alive[j] = False
        chosen.append(point)
        Xchosen = np.vstack([Xchosen, x])
        if not multi:
            target = target.fantasise(x[None, :])
        pred = {
            name: tuple(float(v[0]) for v in g.predict(x[None, :])) for name, g in obj_gps.items()
        }
        pred.update({c.name: tuple(float(v[0]) for v in g.predict(x[None, :])) for c, g in con_gps})
        if inc_loss is None:
            inc_txt = "no incumbent"
        elif multi:
            inc_txt = "incumbent: best posterior mean of the scalarised loss among observed points"
        else:
            inc_txt = _inc_text(o, obj_gps, Xo, inc_mask)
        reason = (
            f"{how} {val:.3g} on {label}; {inc_txt}; slot {slot + 1} of {batch}, "
            f"{len(pend) + slot} fantasised point(s) (Kriging believer)"
        )
        if notes:
            reason += "; " + "; ".join(notes)
        out.append(Proposal(point=point, acquisition=val, predicted=pred, reason=reason))
    return out


def _inc_text(o: Objective, gps, Xo, feas) -> str:
    m, _ = gps[o.name].predict(Xo[feas])
    v = float(m.max() if o.sense == "max" else m.min())
    return f"noisy incumbent (best posterior mean of observed points) {v:.4g}"


def _acq(
    model: LossModel | None, inc_loss: float | None, con_gps
) -> Callable[[np.ndarray], np.ndarray]:
    def f(X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X)
        a = gaussian_ei(X, model, y_opt=inc_loss, xi=_XI) if model is not None else np.ones(len(X))
        if con_gps:
            a = a * _pof(con_gps, X)
        return a

    return f


def _parego_gp(objectives, evs, obs_points, w, seed) -> tuple[HeteroGP, np.ndarray]:
    """GP on the augmented Chebyshev scalarisation (a loss) of the normalised objectives."""
    rows = sorted(set.intersection(*[set(ev.rows) for ev in evs.values()]))
    L, S = [], []
    for o in objectives:
        ev = evs[o.name]
        pos = {r: k for k, r in enumerate(ev.rows)}
        y = np.array([ev.y[pos[r]] for r in rows])
        sd = np.sqrt([ev.var[pos[r]] for r in rows])
        loss = -y if o.sense == "max" else y
        lo, hi = loss.min(), loss.max()
        rng_ = hi - lo if hi - lo > 1e-12 else 1.0
        L.append((loss - lo) / rng_)
        S.append(sd / rng_)
    L, S = np.column_stack(L), np.column_stack(S)
    wl = L * w
    f = wl.max(axis=1) + _RHO * wl.sum(axis=1)
    # first-order noise propagation through the scalarisation
    g = np.tile(_RHO * w, (len(rows), 1))
    g[np.arange(len(rows)), wl.argmax(axis=1)] += w[wl.argmax(axis=1)]
    var = ((g * S) ** 2).sum(axis=1)
    X = np.asarray(evs[objectives[0].name].X)
    pos0 = {r: k for k, r in enumerate(evs[objectives[0].name].rows)}
    X = X[[pos0[r] for r in rows]]
    return HeteroGP(X, f, var, seed=seed), f


def _polish(space, acq_fn, Xc, acq, known, known_constraints, Xtaken):
    """L-BFGS-B on -acquisition from the 3 best candidates (unit cube; numeric gradients)."""
    best_x, best_p, best_v = None, None, -np.inf
    order = np.argsort(-acq)[:3]
    for j in order:
        if not np.isfinite(acq[j]):
            continue
        res = minimize(
            lambda z: -float(acq_fn(z[None, :])[0]),
            Xc[j],
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * Xc.shape[1],
            options={"maxiter": 50},
        )
        p = space.inverse_transform(np.clip(res.x, 0, 1)[None, :])[0]
        x = space.transform([p])[0]
        if len(Xtaken) and _unit_dist(x[None, :], Xtaken).min() < 1e-6:
            continue
        if known and not _known_ok(p, known, known_constraints):
            continue
        v = float(acq_fn(x[None, :])[0])
        if v > best_v:
            best_x, best_p, best_v = x, p, v
    return best_x, best_p, best_v


def _space_filling(cand, Xc, existing, batch, rng, n_have, need, pool_mode) -> list[Proposal]:
    """Greedy max-min distance picks (unit space) away from observed and pending points."""
    dmin = _unit_dist(Xc, existing).min(axis=1) if len(existing) else np.full(len(Xc), np.inf)
    out = []
    alive = np.ones(len(cand), dtype=bool)
    source = "the pool" if pool_mode else "a scrambled Sobol set (skopt.sampler.Sobol)"
    for slot in range(batch):
        if not alive.any():
            break
        if np.isinf(dmin[alive]).all():
            j = int(rng.choice(np.flatnonzero(alive)))
        else:
            j = int(np.argmax(np.where(alive, dmin, -np.inf)))
        alive[j] = False
        dmin = np.minimum(dmin, np.sqrt(((Xc - Xc[j]) ** 2).sum(axis=1)))
        out.append(
            Proposal(
                point=cand[j],
                acquisition=0.0,
                predicted={},
                reason=(
                    f"space-filling initial design: {n_have} observed point(s) < {need} needed to "
                    f"fit the model (2 x dims, at least 3); max-min distance pick from {source}, "
                    f"slot {slot + 1} of {batch}"
                ),
            )
        )
    return out


BACKENDS.update({"skopt": _propose_skopt, "botorch": _botorch_backend})
