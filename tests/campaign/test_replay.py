"""Campaign replay on the 41 Severson training cells (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skopt")

from casip.campaign.replay import (
    charge_time_0_80_min,
    cross_fitted_predictions,
    load_policies,
    load_pool,
    noise_level,
    run_replay,
)
from casip.errors import CasipInputError
from casip.life.early import DischargeModel, feature_matrix


@pytest.fixture(scope="module")
def folder(shared_data):
    f = shared_data / "severson"
    if not (f / "train_charging_policies.csv").is_file():
        pytest.skip(f"{f}/train_charging_policies.csv not found")
    return f


@pytest.fixture(scope="module")
def pool(folder):
    return load_pool(folder)


@pytest.fixture(scope="module")
def early(pool):
    return cross_fitted_predictions(pool, 100, "DischargeModel")


def test_every_policy_row_parses(folder):
    cells = load_policies(folder / "train_charging_policies.csv")
    assert len(cells) == 41 and cells[0].cell == "cell1" and cells[-1].cell == "cell41"
    for c in cells:
        p = c.point
        # the numbers written back give the string of the file
        assert f"{p['c1_C']:g}C({p['soc_switch'] * 100:g}%)-{p['c2_C']:g}C" == c.policy
        assert c.charge_time_0_80_min == pytest.approx(charge_time_0_80_min(p))
        assert c.charge_time_10_80_min < c.charge_time_0_80_min
    one = cells[4]  # 5.4C(40%)-3.6C
    assert one.point == {"c1_C": 5.4, "soc_switch": 0.4, "c2_C": 3.6}
    assert one.charge_time_0_80_min == pytest.approx(60 * (0.4 / 5.4 + 0.4 / 3.6))
    # the 6/30/17 batch was designed for a 10-minute 0-80 % charge (Severson et al.)
    batch2 = [c.charge_time_0_80_min for c in cells if c.batch_date == "6/30/17"]
    assert len(batch2) == 21 and max(abs(t - 10) for t in batch2) < 0.05
    # the 5/12/17 batch spans 8.9 (5.4C(80%)-5.4C) to 13.3 minutes (3.6C(80%)-3.6C)
    batch1 = [c.charge_time_0_80_min for c in cells if c.batch_date == "5/12/17"]
    assert min(batch1) == pytest.approx(60 * 0.8 / 5.4)
    assert max(batch1) == pytest.approx(60 * 0.8 / 3.6)


def test_bad_policy_row_is_named(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text(
        "cell,barcode,batch_date,cycle_life,charging_policy\n"
        "cell1,B1,5/12/17,2160,3.6C(80%)-3.6C\n"
        "cell2,B2,5/12/17,1434,4C-80%-4C\n"
    )
    with pytest.raises(CasipInputError, match=r"row 3 \(cell2\): charging_policy"):
        load_policies(csv)
    csv.write_text("cell,barcode,cycle_life\ncell1,B1,2160\n")
    with pytest.raises(CasipInputError, match="missing"):
        load_policies(csv)


def test_noise_level_from_the_shared_policy(pool):
    """One policy has two cells: 4.8C(80%)-4.8C, 870 and 461 cycles (different batches)."""
    nz = noise_level(pool)
    assert nz["dof"] == 1 and nz["policies"] == {"4.8C(80%)-4.8C": [870.0, 461.0]}
    assert nz["sd_cycles"] == pytest.approx(abs(870 - 461) / np.sqrt(2))
    assert pool.policy_life()["4.8C(80%)-4.8C"] == pytest.approx((870 + 461) / 2)


@pytest.mark.slow
def test_cross_fitting_never_saw_the_cell(pool, early):
    import warnings

    pol = np.array(pool.policies)
    for i in range(len(pool.cells)):
        tr = early.trained_on(i)
        assert i not in tr
        assert not np.any(pol[tr] == pol[i])  # nor the other cell of its policy
    # the same model with the cell in its training set predicts it differently (memory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = feature_matrix(pool.curves)
    i = 0  # cell1, the longest-lived (2160 cycles)
    tr = early.trained_on(i)
    seen = DischargeModel().fit(X[np.r_[tr, i]], pool.lives[np.r_[tr, i]], _interval=False)
    unseen = DischargeModel().fit(X[tr], pool.lives[tr], _interval=False)
    assert unseen.predict(X[[i]])[0] == pytest.approx(early.predicted[i])
    assert abs(seen.predict(X[[i]])[0] - early.predicted[i]) > 10
    assert 0.5 < early.coverage <= 1 and early.mape_percent < 20


@pytest.mark.slow
def test_small_replay(folder, pool, early):
    """3 seeds, 4 channels, N = 100. Over 50 seeds (benchmarks/bench_campaign_replay.py) the
    campaign ends on the best policy in 50/50, after a median 1,400 channel-cycles (9,522 in
    total) against 20,310 for random search and 27,624 for exhaustive testing; the noise sd
    is 289 cycles."""
    res = run_replay(folder, seeds=range(3), channels=4, pool=pool, early=early)
    s = res.summary().set_index("strategy")
    assert res.best_policy == "3.6C(80%)-3.6C" and res.best_life == 2160
    ex, rnd, camp = s.loc["exhaustive"], s.loc["random"], s.loc["campaign"]
    assert ex.total_cycles == pool.lives.sum() == 27624
    assert ex.final_regret == 0 and rnd.final_regret == 0
    assert camp.final_regret <= res.noise["sd_cycles"]
    assert camp.total_cycles < ex.total_cycles
    assert camp.cycles_to_best < rnd.cycles_to_best < ex.cycles_to_best
