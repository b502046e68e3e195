"""The campaign core: proposals, evidence, constraints, several objectives, errors.

All numbers are computed by the test (known analytic functions); nothing is mocked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from casip.campaign import (
    Constraint,
    Objective,
    Observation,
    Parameter,
    Space,
    best,
    early_stop,
    posterior,
    propose,
)
from casip.campaign.evidence import gather, sigma_from_interval
from casip.errors import CasipInputError

BRANIN_MIN = 0.397887  # global minimum of the Branin function (Dixon & Szego 1978)


def branin(x1: float, x2: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


BRANIN = Space([Parameter("x1", -5, 10), Parameter("x2", 0, 15)])
UNIT = Space([Parameter("x", 0.0, 1.0), Parameter("y", 0.0, 1.0)])


def _evals_to_target(seed: int, budget: int, target: float) -> int:
    obs: list[Observation] = []
    while len(obs) < budget:
        props = propose(
            BRANIN,
            [Objective("f", "min")],
            [],
            obs,
            batch=2,
            seed=seed * 1000 + len(obs),
            polish=False,
            n_candidates=512,
        )
        for p in props:
            obs.append(Observation(point=p.point, values={"f": branin(**p.point)}))
            if obs[-1].values["f"] <= target:
                return len(obs)
    return budget + 1


@pytest.mark.slow
def test_gp_campaign_beats_random_search_on_branin():
    budget, target = 30, BRANIN_MIN + 0.5
    gp = [_evals_to_target(s, budget, target) for s in range(10)]
    rand = []
    for s in range(10):
        rng = np.random.default_rng(s)
        n = budget + 1
        for k in range(budget):
            if branin(rng.uniform(-5, 10), rng.uniform(0, 15)) <= target:
                n = k + 1
                break
        rand.append(n)
    # random search: P(f <= target) over the box, hence its expected evaluations 1/p
    rng = np.random.default_rng(123)
    u = rng.uniform(size=(200_000, 2))
    p = np.mean(branin(-5 + 15 * u[:, 0], 15 * u[:, 1]) <= target)
    assert 1 / p > 2 * budget  # the target is hard for random search (1/p ~ 100)
    assert sum(n <= budget for n in gp) >= 9, gp
    print("evaluations to target, GP:", gp, "random:", rand, "1/p:", 1 / p)
    assert np.mean(gp) < 0.7 * np.mean(rand), (gp, rand)


def test_large_sigma_moves_the_posterior_less():
    base = [
        Observation(point={"x": x, "y": y}, values={"f": x + y})
        for x, y in [(0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9), (0.5, 0.2), (0.2, 0.5)]
    ]
    at = {"x": 0.5, "y": 0.5}
    prior = posterior(UNIT, [Objective("f")], base, [at])["f"][0][0]
    moved = {}
    for sd in (0.01, 1.0):
        obs = [*base, Observation(point=at, values={"f": 3.0}, sigma={"f": sd}, kind="early")]
        moved[sd] = abs(posterior(UNIT, [Objective("f")], obs, [at])["f"][0][0] - prior)
    assert moved[0.01] > 1.0  # a precise observation of 3.0 (vs 1.0 around) pulls the mean
    assert moved[1.0] < 0.5 * moved[0.01]


def test_batch_is_distinct_and_respects_known_constraints():
    con = [Constraint("sum", max=1.0, known=True)]

    def fn(p):
        return {"sum": p["x"] + p["y"]}

    obs: list[Observation] = []
    for rnd in range(3):  # space-filling start, then model-based rounds
        props = propose(UNIT, [Objective("f")], con, obs, batch=4, known_constraints=fn, seed=rnd)
        pts = [tuple(p.point.values()) for p in props]
        assert len(props) == 4 and len(set(pts)) == 4
        assert all(x + y <= 1.0 + 1e-12 for x, y in pts)
        obs += [
            Observation(point=p.point, values={"f": p.point["x"] * p.point["y"]}) for p in props
        ]
    assert "Kriging believer" in props[1].reason
    with pytest.raises(CasipInputError, match="known_constraints"):
        propose(UNIT, [Objective("f")], con, obs, batch=1)


def _pool():
    return [{"x": i / 10, "y": j / 10} for i in range(11) for j in range(0, 11, 2)]


def test_pool_mode_pending_and_measured_members_are_not_reproposed():
    pool = _pool()
    obs = [
        Observation(point=p, values={"f": -((p["x"] - 0.7) ** 2) - (p["y"] - 0.4) ** 2})
        for p in pool[::7]
    ]
    early = Observation(point=pool[3], values={"f": 0.0}, sigma={"f": 0.3}, kind="early")
    pending = pool[1:40:9]
    props = propose(
        UNIT, [Objective("f")], [], [*obs, early], batch=6, pending=pending, candidates=pool, seed=1
    )
    keys = {tuple(p.values()) for p in pool}
    got = [tuple(p.point.values()) for p in props]
    assert len(got) == 6 and len(set(got)) == 6
    assert all(g in keys for g in got)  # pool members only
    forbidden = {tuple(p.values()) for p in pending} | {tuple(o.point.values()) for o in obs}
    assert not forbidden & set(got)
    # replicates=True may return a measured member; an exhausted pool yields no proposals
    again = propose(
        UNIT, [Objective("f")], [], obs, batch=2, candidates=[obs[0].point], replicates=True, seed=1
    )
    assert again[0].point == obs[0].point
    assert propose(UNIT, [Objective("f")], [], obs, batch=2, candidates=[obs[0].point]) == []


def test_continuous_pending_points_are_not_reproposed():
    obs = [
        Observation(point={"x": x, "y": y}, values={"f": -((x - 0.3) ** 2) - (y - 0.6) ** 2})
        for x, y in [(0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9), (0.5, 0.5), (0.3, 0.7)]
    ]
    first = propose(UNIT, [Objective("f")], [], obs, batch=1, seed=0)[0].point
    nxt = propose(UNIT, [Objective("f")], [], obs, batch=1, pending=[first], seed=0)[0].point
    assert math.dist(first.values(), nxt.values()) > 1e-3


def test_two_objectives_cover_both_ends_of_the_front():
    def f(p):
        return {
            "f1": p["x"] ** 2 + (p["y"] - 0.5) ** 2,
            "f2": (p["x"] - 1) ** 2 + (p["y"] - 0.5) ** 2,
        }

    objs = [Objective("f1", "min"), Objective("f2", "min")]
    obs: list[Observation] = []
    for rnd in range(6):
        for p in propose(UNIT, objs, [], obs, batch=4, seed=rnd, polish=False, n_candidates=512):
            obs.append(Observation(point=p.point, values=f(p.point)))
    front = best(UNIT, objs, obs)
    assert isinstance(front, list) and len(front) >= 3
    true = [f(inc.point) for inc in front]
    assert min(t["f1"] for t in true) < 0.05 and min(t["f2"] for t in true) < 0.05
    assert "ParEGO" in propose(UNIT, objs, [], obs, batch=1, seed=9)[0].reason


def test_unknown_constraint_model_avoids_the_infeasible_region():
    # maximise x + 0.5 y subject to an unknown g = x <= 0.6 (unconstrained optimum infeasible)
    con = [Constraint("g", max=0.6)]
    obs: list[Observation] = []
    later = []
    for rnd in range(6):
        props = propose(
            UNIT, [Objective("f")], con, obs, batch=2, seed=rnd, polish=False, n_candidates=512
        )
        if rnd >= 3:
            later += [p.point for p in props]
        obs += [
            Observation(
                point=p.point, values={"f": p.point["x"] + 0.5 * p.point["y"], "g": p.point["x"]}
            )
            for p in props
        ]
    assert sum(p["x"] <= 0.65 for p in later) >= len(later) - 1, later
    inc = best(UNIT, [Objective("f")], obs, constraints=con)
    assert inc.point["x"] <= 0.6 + 1e-9 and inc.point["x"] > 0.3
    _point, mean, sd = inc  # unpacks
    assert mean["f"] == inc.mean["f"] and sd["f"] > 0


def test_simulation_offset_is_estimated_and_removed():
    pts = [{"x": x, "y": y} for x in np.linspace(0, 1, 4) for y in np.linspace(0, 1, 4)]
    sim = [
        Observation(point=p, values={"life": 10 ** (3 + p["x"] - p["y"] + 0.4)}, kind="simulation")
        for p in pts
    ]
    meas = [
        Observation(point=p, values={"life": 10 ** (3 + p["x"] - p["y"])}, sigma={"life": 0.02})
        for p in pts[::5]
    ]
    obs = [*sim, *meas]
    ev = gather(UNIT, "life", obs, [o.point for o in obs], log=True)
    assert ev.offset == pytest.approx(-0.4, abs=1e-9)
    mean = posterior(UNIT, [Objective("life", log=True)], obs, [{"x": 0.2, "y": 0.9}])["life"][0][0]
    assert mean == pytest.approx(3 + 0.2 - 0.9, abs=0.05)
    # no overlap: the stated model-error sd is added to simulation noise
    far = [Observation(point={"x": 0.5, "y": 0.45}, values={"life": 1000.0})]
    ev2 = gather(UNIT, "life", [*sim, *far], [o.point for o in [*sim, *far]], log=True)
    assert ev2.offset == 0 and ev2.var[0] == pytest.approx(0.3**2) and "assumed" in ev2.note
    assert sigma_from_interval(500, 2000, level=0.9) == pytest.approx(
        math.log10(4) / (2 * 1.6448536), 1e-6
    )


def test_early_stop_cases():
    assert early_stop(300, 600, incumbent_low=800, threshold=None)[0] is True
    stop, why = early_stop(300, 900, incumbent_low=800, threshold=None)
    assert stop is False and "continue" in why
    stop, why = early_stop(300, 450, incumbent_low=None, threshold=500)
    assert stop is True and "threshold" in why
    assert early_stop(300, 900, incumbent_low=None, threshold=None)[0] is False
    with pytest.raises(CasipInputError, match="prediction_high"):
        early_stop(900, 300, incumbent_low=None, threshold=None)


def test_deterministic_for_a_seed_and_space_filling_start():
    obs = [Observation(point={"x": 0.2, "y": 0.3}, values={"f": 1.0})]
    a = propose(UNIT, [Objective("f")], [], obs, batch=3, seed=5)
    b = propose(UNIT, [Objective("f")], [], obs, batch=3, seed=5)
    assert [p.point for p in a] == [p.point for p in b]
    assert "space-filling" in a[0].reason
    c = propose(UNIT, [Objective("f")], [], obs, batch=3, seed=6)
    assert [p.point for p in a] != [p.point for p in c]
    more = obs + [Observation(point=p.point, values={"f": p.point["x"]}) for p in a]
    m1 = propose(UNIT, [Objective("f")], [], more, batch=2, seed=5)
    m2 = propose(UNIT, [Objective("f")], [], more, batch=2, seed=5)
    assert [p.point for p in m1] == [p.point for p in m2] and "EI" in m1[0].reason


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {"observations": [Observation(point={"x": 0.1, "z": 0.2}, values={"f": 1.0})]},
            "observations[0].point.z",
        ),
        (
            {"observations": [Observation(point={"x": 1.5, "y": 0.2}, values={"f": 1.0})]},
            "observations[0].point.x",
        ),
        (
            {"observations": [Observation(point={"x": 0.5, "y": 0.2}, values={"f": float("nan")})]},
            "observations[0].values.f",
        ),
        (
            {
                "observations": [
                    Observation(point={"x": 0.5, "y": 0.2}, values={"f": 1.0}, kind="early")
                ]
            },
            "observations[0].sigma.f",
        ),
        ({"batch": 0}, "batch"),
        ({"candidates": []}, "candidates"),
        ({"candidates": [{"x": 0.5, "y": 2.0}]}, "candidates[0].y"),
        ({"backend": "botorch"}, "backend"),
        ({"backend": "nope"}, "backend"),
    ],
)
def test_errors_name_the_field(kwargs, field):
    args = {"observations": [], "batch": 1, **kwargs}
    with pytest.raises(CasipInputError) as err:
        propose(UNIT, [Objective("f")], [], args.pop("observations"), **args)
    assert err.value.problems[0].field == field
    if kwargs.get("backend") == "botorch":
        assert "casip[campaign-heavy]" in str(err.value)


def test_space_and_parameter_errors():
    with pytest.raises(CasipInputError, match=r"parameters\.a"):
        Parameter("a", 2.0, 1.0)
    with pytest.raises(CasipInputError, match=r"parameters\.b\.low"):
        Parameter("b", 0.0, 1.0, log=True)
    sp = Space(
        [
            Parameter("n", 1, 8, integer=True),
            Parameter("c", values=["LFP", "NMC"]),
            Parameter("r", 0.1, 10, log=True),
        ]
    )
    assert sp.validate_point({"n": 3.0, "c": "NMC", "r": 1.0}) == {"n": 3, "c": "NMC", "r": 1.0}
    with pytest.raises(CasipInputError, match=r"point\.c"):
        sp.validate_point({"n": 3, "c": "LCO", "r": 1.0})
    with pytest.raises(CasipInputError, match=r"point\.n"):
        sp.validate_point({"n": 3.5, "c": "LFP", "r": 1.0})
    # a mixed space proposes valid points
    props = propose(sp, [Objective("f")], [], [], batch=3, seed=0)
    assert all(sp.validate_point(p.point) == p.point for p in props)
