"""The shipped drive cycles against their published summary figures (data/README.md)."""

from __future__ import annotations

import pytest

from casip.errors import CasipInputError
from casip.vehicle.cycles import MISSING, list_cycles, load_cycle

MILE_KM = 1.609344


def test_udds_matches_published_summary():
    c = load_cycle("udds")
    assert c.duration_s == 1369.0
    assert c.time_s.size == 1370
    assert c.distance_km / MILE_KM == pytest.approx(7.45, abs=0.005)  # EPA: 7.45 mi
    assert c.distance_km == pytest.approx(11.99, abs=0.005)
    assert c.max_speed_kmh == pytest.approx(91.2, abs=0.1)  # 56.7 mph
    assert c.mean_speed_kmh == pytest.approx(31.5, abs=0.05)


def test_hwfet_matches_published_summary():
    c = load_cycle("hwfet")
    assert c.duration_s == 765.0
    assert c.distance_km / MILE_KM == pytest.approx(10.26, abs=0.005)  # DieselNet: 10.26 mi
    assert c.distance_km / MILE_KM / (c.duration_s / 3600) == pytest.approx(48.3, abs=0.05)
    assert c.max_speed_kmh / MILE_KM == pytest.approx(59.9, abs=1e-9)


def test_wltc_class3b_matches_gtr15():
    c = load_cycle("wltc3b")
    assert c.duration_s == 1800.0
    assert c.time_s.size == 1801
    assert c.distance_km == pytest.approx(23.266, abs=0.001)
    assert c.max_speed_kmh == pytest.approx(131.3, abs=1e-9)


def test_every_cycle_starts_and_ends_at_rest_and_never_reverses():
    for c in list_cycles():
        assert c.speed_m_s[0] == 0 and c.speed_m_s[-1] == 0
        assert (c.speed_m_s >= 0).all()
        assert (c.time_s[1:] - c.time_s[:-1] == 1).all()


def test_cltc_is_refused_with_the_reason():
    assert "cltc-p" in MISSING
    with pytest.raises(CasipInputError, match="CLTC-P"):
        load_cycle("CLTC-P")
    with pytest.raises(CasipInputError, match="expected udds, hwfet, wltc3b"):
        load_cycle("nedc")
