"""The differentially private mechanisms and the release schedule, without a server.

The privacy of a release is checked empirically as well as by construction: the output
distributions of the released median on two neighbouring consortia (with and without one
organisation, whatever its items) must stay within the stated factor ``exp(epsilon)`` of each
other on every event tested (a DP audit in the spirit of Jagielski et al., NeurIPS 2020).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from casip.platform import privacy, releases
from casip.platform.settings import Settings

RIVALS = [(250.0, 1), (262.0, 1), (301.0, 2), (288.0, 2), (355.0, 3)]


def test_each_organisation_contributes_three_clipped_values_whatever_its_item_count():
    rows = [(v, 7) for v in np.linspace(100, 200, 1000)] + [(5000.0, 8), (-50.0, 9)]
    vals = privacy.organisation_values(rows, "specific_energy")
    assert set(vals) == {7, 8, 9}
    assert all(len(v) == privacy.CONTRIBUTIONS for v in vals.values())
    assert vals[7] == pytest.approx([100 + 100 / 6, 150, 100 + 500 / 6])
    assert list(vals[8]) == [600.0] * 3 and list(vals[9]) == [0.0] * 3  # the public range


def test_a_release_spends_exactly_its_epsilon_and_publishes_grid_values():
    out = privacy.release(RIVALS, "specific_energy", 2.0, k=0)
    assert out["epsilon"] == pytest.approx(2.0, rel=1e-6)
    assert out["epsilon"] <= 2.0 * (1 + 1e-9)
    assert out["quantiles"]["p25"] is None and out["quantiles"]["p75"] is None  # 3 orgs
    assert out["quantiles"]["p50"] in privacy.RANGES["specific_energy"].candidates()
    assert out["histogram"] is None  # small consortium: count and median only
    assert out["mechanisms"]["count"]["sensitivity_l1"] == privacy.CONTRIBUTIONS


def test_a_large_consortium_gets_a_histogram_and_three_ordered_quartiles():
    rng = np.random.default_rng(3)
    rows = [(float(v), org) for org in range(60) for v in rng.normal(300, 40, 3)]
    out = privacy.release(rows, "specific_energy", 4.0, k=3)
    assert out["shown"] and out["n_organisations"] > privacy.QUARTILES_FROM_ORGS
    q = out["quantiles"]
    assert q["p25"] <= q["p50"] <= q["p75"]
    assert 200 < q["p50"] < 400  # 60 organisations at epsilon 4: close to the true 300
    hist = out["histogram"]
    assert hist["edges"] == list(privacy.RANGES["specific_energy"].edges)
    assert len(hist["counts"]) == len(hist["edges"]) - 1 and min(hist["counts"]) >= 0
    assert out["epsilon"] == pytest.approx(4.0, rel=1e-6)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(ValueError, match="epsilon=0: expected a positive"):
        privacy.release(RIVALS, "specific_energy", 0)
    with pytest.raises(privacy.UnknownRange, match="'pack_wh_kg' has no public range"):
        privacy.release(RIVALS, "pack_wh_kg", 1.0)
    with pytest.raises(ValueError, match="privacy_release_every='hourly'"):
        Settings(privacy_release_every="hourly")
    with pytest.raises(ValueError, match=r"privacy_budget=1\.0: expected at least"):
        Settings(privacy_budget=1.0, privacy_epsilon=2.0)
    with pytest.raises(ValueError, match="longer than privacy_budget_period"):
        Settings(privacy_release_every="quarter", privacy_budget_period="month")


def test_released_median_is_differentially_private_against_a_chosen_organisation():
    """An attacker adds an organisation whose items all sit far above everyone's: the released
    median's distribution may move by at most a factor exp(epsilon) on any event."""
    eps = 1.0
    meas, cost, _ = privacy._quantile_measurement("specific_energy", 0.5, eps)
    assert cost == pytest.approx(eps)
    without = [float(v) for _o, v in sorted(_org_values(RIVALS).items()) for v in v]
    attacker = _org_values([*RIVALS, (600.0, 99), (590.0, 99)])
    with_ = [float(v) for _o, v in sorted(attacker.items()) for v in v]
    n = 4000
    a = np.array([meas(without) for _ in range(n)])
    b = np.array([meas(with_) for _ in range(n)])
    # events: the median at or above thresholds across the range the attacker pulls towards
    for t in (262.0, 280.0, 300.0, 330.0, 400.0):
        pa, pb = (a >= t).mean(), (b >= t).mean()
        # 4-sigma sampling allowance on each side
        slack = 4 * math.sqrt(max(pa, 1 / n) / n) + 4 * math.sqrt(max(pb, 1 / n) / n)
        assert pb <= math.exp(eps) * pa + slack * math.exp(eps), t
        assert pa <= math.exp(eps) * pb + slack * math.exp(eps), t
    # and it is not deterministic (the k-anonymous median was a rival's value exactly)
    assert len(set(a.tolist())) > 10


def _org_values(rows):
    return privacy.organisation_values(rows, "specific_energy")


def test_calendar_slots_and_periods():
    t = dt.datetime(2026, 12, 6, 18, 30)
    assert releases.period_key(t, "quarter") == "2026-Q4"
    assert releases.period_key(t, "week") == "2026-W49"
    assert releases.period_key(t, "year") == "2026"
    assert releases.next_start(t, "quarter") == dt.datetime(2027, 1, 1)
    assert releases.next_start(t, "month") == dt.datetime(2027, 1, 1)
    assert releases.next_start(dt.datetime(2026, 5, 31), "quarter") == dt.datetime(2026, 7, 1)
    assert releases.next_start(t, "week") == dt.datetime(2026, 12, 7)  # Monday
    assert releases.next_start(t, "day") == dt.datetime(2026, 12, 7)


def test_every_benchmark_kpi_has_a_public_range_and_bins_inside_it():
    from casip.platform.benchmarking import KPIS

    assert set(KPIS) <= set(privacy.RANGES)
    for name, rng in privacy.RANGES.items():
        assert rng.edges[0] == rng.lo and rng.edges[-1] == rng.hi, name
        assert list(rng.edges) == sorted(set(rng.edges)), name
        cands = rng.candidates()
        assert cands[0] == rng.lo and cands[-1] == pytest.approx(rng.hi), name
