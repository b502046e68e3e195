"""The virtual lab of issue 18: its ground truth (PyBaMM + BLAST-Lite + Severson calibration),
its noise, and a small campaign-vs-random comparison. Real data (../shared/data/severson), real
physics; nothing is mocked. The truth is built once, on a coarse 4 x 3 x 3 grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from casip.campaign.virtual_lab import (
    NAMES,
    Trace,
    calibrate,
    default_data_folder,
    design_grid,
    ground_truth,
    noise_model,
    run_strategy,
    run_virtual_lab,
    severson_one_step_lives,
)
from casip.errors import CasipInputError

SEVERSON = default_data_folder()
needs_data = pytest.mark.skipif(
    not (SEVERSON / "train_charging_policies.csv").is_file(), reason="no Severson data"
)


def P(c1: float, s: float, c2: float) -> dict:
    return dict(zip(NAMES, (c1, s, c2), strict=True))


@pytest.fixture(scope="module")
def truth():
    return ground_truth((4, 3, 3))


@needs_data
def test_noise_from_severson_and_the_early_predictor():
    n = noise_model()
    # the one repeated policy, 4.8C(80%)-4.8C: 461 and 870 cycles -> |log10(870/461)| / sqrt 2
    assert n["cell_dof"] == 1
    assert n["cell_sd_log10"] == pytest.approx(abs(math.log10(870 / 461)) / math.sqrt(2), 1e-12)
    assert n["cell_sd_log10"] == pytest.approx(0.1950, abs=1e-4)
    # MAPE 10.7 % of the full model -> sd of log10 residuals 0.107 / (ln 10 sqrt(2/pi))
    assert n["early_sd_log10"] == pytest.approx(0.0582, abs=1e-4)
    lives = severson_one_step_lives(SEVERSON)
    assert lives == {3.6: [2160.0], 4.0: [1434.0], 4.4: [1074.0], 4.8: [870.0, 461.0], 5.4: [870.0]}


def test_calibration_recovers_a_known_plating_law():
    base, k, beta = 7000.0, 2.0e-6, 1.7
    doses = {3.0: 10.0, 4.0: 18.0, 5.0: 27.0, 6.0: 40.0}
    lives = {c: [0.2 / (0.2 / base + k * d**beta)] for c, d in doses.items()}
    k_fit, beta_fit = calibrate(doses, lives, base)
    assert beta_fit == pytest.approx(beta, rel=1e-4)
    assert k_fit == pytest.approx(k, rel=1e-3)


def test_trace_counts_cycles_only_once_the_regret_stays_within():
    tr = Trace("x", 0)
    for c, r in [(100, math.nan), (200, 0.05), (300, 0.3), (400, 0.08), (500, 0.02)]:
        tr.steps.append({"channel_cycles": c, "recommended": None, "regret": r})
    assert tr.cycles_within(0.1) == 400
    assert tr.cycles_within(0.01) == math.inf
    np.testing.assert_allclose(tr.regret_at(np.array([50, 250, 450])), [np.nan, 0.05, 0.08])


@pytest.mark.slow
@needs_data
def test_ground_truth_responds_the_right_way(truth):
    # higher c1 charges faster and, by plating more, lives shorter (c2 and the switch fixed)
    slow, fast = P(3.0, 0.45, 4.0), P(8.0, 0.45, 4.0)
    assert truth.charge_time(slow)[0] == pytest.approx(12.25, abs=0.05)  # nominal: no V limit
    assert truth.charge_time(fast)[0] == pytest.approx(8.83, abs=0.1)
    assert truth.life(slow)[0] == pytest.approx(2097, rel=0.03)
    assert truth.life(fast)[0] == pytest.approx(758, rel=0.03)
    # a harsher second step: shorter charge, shorter life
    mild, harsh = P(6.333333, 0.45, 2.0), P(6.333333, 0.45, 6.0)
    assert truth.charge_time(mild)[0] > truth.charge_time(harsh)[0] + 6.0
    assert truth.life(mild)[0] / truth.life(harsh)[0] == pytest.approx(6.18, rel=0.05)
    # the slowest corner approaches BLAST-Lite's base life (7494 cycles to 80 %), the harshest
    # plates most: life = 0.2 / (0.2 / N_blast + k D^beta)
    assert truth.base_life == pytest.approx(7494, rel=0.01)
    assert truth.life(P(3.0, 0.2, 2.0))[0] == pytest.approx(7391, rel=0.02)
    assert truth.life(P(8.0, 0.7, 6.0))[0] == pytest.approx(415, rel=0.05)
    # calibrated on Severson's one-step policies: the rms log10 residual over the six cells
    # (0.12 decade; largest 5.4C, 612 vs 870 cycles) is below the cell-to-cell sd (0.195)
    res = [
        math.log10(v["model"] / life) for v in truth.calibration.values() for life in v["severson"]
    ]
    assert len(res) == 6
    assert math.sqrt(np.mean(np.square(res))) == pytest.approx(0.12, abs=0.01)
    assert math.sqrt(np.mean(np.square(res))) < noise_model()["cell_sd_log10"]
    assert truth.beta == pytest.approx(2.17, abs=0.05)
    # every protocol plates somewhere (anode below 0 V vs Li): the optimum trades life for time
    assert truth.min_anode_V.max() < 0
    point, life = truth.optimum(15.0)
    assert truth.charge_time(point)[0] <= 15.0
    assert truth.charge_time(point)[0] > 14.5  # on the constraint: slower would live longer
    assert 4500 < life < 5600
    assert point["c2_C"] < 2.6  # a gentle second step, as Attia et al. found
    assert len(design_grid(truth)) == 21  # of 27 (20 on the 8 x 6 x 6 truth of the benchmark)
    with pytest.raises(CasipInputError, match="c1_C"):
        truth.life(P(9.0, 0.4, 3.0))


@pytest.mark.slow
@needs_data
def test_campaign_regret_below_random_at_equal_spend(truth):
    seeds, spend = [0, 1, 2], np.array([3000.0, 6000.0])
    r = run_virtual_lab(truth, seeds, strategies=["random", "campaign"], budget=6000.0)
    c = r.curves(spend)
    # median regret over the seeds at each spend: the campaign's is lower
    assert np.all(c["campaign"]["median"] < c["random"]["median"] - 0.2), c
    camp = r.traces["campaign"]
    assert sum(tr.early_stopped for tr in camp) > 0
    for tr in camp:  # every recommended protocol respects the 15-minute charge
        for s in tr.steps:
            if s["recommended"] is not None:
                assert truth.charge_time(s["recommended"])[0] <= 15.0 + 1e-9


@pytest.mark.slow
@needs_data
def test_bad_inputs_are_named(truth):
    n = noise_model()
    with pytest.raises(CasipInputError, match="strategy"):
        run_strategy("bayes", truth, n, 0)
    with pytest.raises(CasipInputError, match="channels"):
        run_strategy("random", truth, n, 0, channels=0)
    with pytest.raises(CasipInputError, match="grid"):
        ground_truth((4, 1, 3))


def test_summary_counts_never_as_infinite():
    from casip.campaign.virtual_lab import LabResult

    def trace(cycles: float | None) -> Trace:
        tr = Trace("campaign", 0)
        tr.steps.append({"channel_cycles": 100.0, "recommended": None, "regret": 0.5})
        if cycles is not None:
            tr.steps.append({"channel_cycles": cycles, "recommended": None, "regret": 0.05})
        return tr

    r = LabResult({"campaign": [trace(1000.0), trace(3000.0), trace(None)]}, {}, 1.0, {}, 1e4, 4)
    s = r.summary(0.1)["campaign"]
    assert s["reached"] == pytest.approx(2 / 3)
    assert s["cycles_median"] == 3000.0
    assert s["cycles_q25"] == 2000.0
    assert s["cycles_q75"] == math.inf
