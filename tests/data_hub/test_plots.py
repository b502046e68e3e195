"""Charts of cycling data (:mod:`casip.data.plots`): the curves behind them and the files.

The curves are checked on synthetic cycles whose answer is known (capacity linear or quadratic
in voltage, counters rounded like a coin-cell tester's, a CV phase); the files are drawn from
a real Battery Data Format file of ``../shared/data/cycler``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from casip.data import plots, schema, summary
from casip.errors import CasipInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SINTEF = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"


def synthetic_test(
    n_cycles: int = 3,
    capacity_ah: float = 1.0,
    current_a: float = 0.5,
    dt_s: float = 10.0,
    fade: float = 0.01,
    round_counters_ah: float | None = None,
    cv_seconds: float = 0.0,
) -> pd.DataFrame:
    """Cycles of an ideal cell whose voltage is linear in its charge (3.0 V empty, 4.0 V full).

    Each cycle: CC charge, an optional CV hold at 4.0 V (current decaying), rest, CC
    discharge, rest. Counters are integrated from current (then rounded if asked), as a tester
    records them; capacity fades by ``fade`` per cycle.
    """
    rows = []
    t = 0.0
    step = 0
    for c in range(1, n_cycles + 1):
        cap = capacity_ah * (1 - fade * (c - 1))
        n = round(cap / current_a * 3600 / dt_s)
        q = np.linspace(0, cap, n + 1)
        step += 1
        for qi in q:  # CC charge
            rows.append((t, 3.0 + qi / cap, current_a, c, step, "cc_charge"))
            t += dt_s
        if cv_seconds:
            step += 1
            for k in range(int(cv_seconds / dt_s)):
                rows.append((t, 4.0, current_a * np.exp(-k * dt_s / (cv_seconds / 4)), c, step,
                             "cv_charge"))
                t += dt_s
        step += 1
        for _ in range(10):  # rest
            rows.append((t, 4.0, 0.0, c, step, "rest"))
            t += dt_s
        step += 1
        for qi in q:  # CC discharge
            rows.append((t, 4.0 - qi / cap, -current_a, c, step, "cc_discharge"))
            t += dt_s
        step += 1
        for _ in range(10):
            rows.append((t, 3.0, 0.0, c, step, "rest"))
            t += dt_s
    df = pd.DataFrame(rows, columns=["test_time_second", "voltage_volt", "current_ampere",
                                     "cycle_count", "step_count", "step_type"])
    df["step_index"] = df["step_count"]
    for name, values in schema.integrate_counters(df).items():
        if round_counters_ah and name.endswith("_ah"):
            values = np.round(values / round_counters_ah) * round_counters_ah
        df[name] = values
    return df


# --------------------------------------------------------------------------------------------
# Cycle lists
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("1,2,10", [1, 2, 10]), ("1-3,5", [1, 2, 3, 5]), (" 4 , 4,2", [4, 2]), ("0", [0])],
)
def test_parse_cycles(spec: str, expected: list[int]) -> None:
    assert plots.parse_cycles(spec) == expected


@pytest.mark.parametrize("spec", ["x", "1,x", "3-1", "-2", "", "1.5", "1-", "1-2-3"])
def test_parse_cycles_rejects_bad_items(spec: str) -> None:
    with pytest.raises(CasipInputError, match="--cycles") as exc:
        plots.parse_cycles(spec)
    assert "e.g. 1,2,10" in str(exc.value)


def test_select_cycles_default_and_missing() -> None:
    df = synthetic_test(n_cycles=12, fade=0.0)
    assert plots.select_cycles(df) == [1, 2, 10, 12]
    assert plots.select_cycles(df, [3, 1]) == [3, 1]
    with pytest.raises(CasipInputError) as exc:
        plots.select_cycles(df, [1, 13, 20])
    msg = str(exc.value)
    assert "'13,20'" in msg and "1-12" in msg


# --------------------------------------------------------------------------------------------
# Voltage against capacity
# --------------------------------------------------------------------------------------------


def test_voltage_capacity_counts_from_the_cycle_start() -> None:
    df = synthetic_test(n_cycles=3, fade=0.05)
    curves = plots.voltage_capacity_curves(df, [1, 3])
    assert set(curves["branch"]) == {"charge", "discharge"}
    for cycle, cap in ((1, 1.0), (3, 0.9)):
        for branch in ("charge", "discharge"):
            sub = curves[(curves["cycle_count"] == cycle) & (curves["branch"] == branch)]
            assert sub["capacity_ah"].min() == pytest.approx(0.0, abs=1e-3)
            assert sub["capacity_ah"].max() == pytest.approx(cap, rel=2e-3)
    # the ideal cell: voltage linear in charge, so V = 3 + Q/C on charge, 4 - Q/C on discharge
    ch = curves[(curves["cycle_count"] == 3) & (curves["branch"] == "charge")]
    assert np.allclose(ch["voltage_volt"], 3.0 + ch["capacity_ah"] / 0.9, atol=2e-3)
    # rest rows are not part of either branch
    assert len(curves) < len(df[df["cycle_count"].isin([1, 3])])


def test_voltage_capacity_is_thinned() -> None:
    df = synthetic_test(n_cycles=1, dt_s=0.5)  # 7200 rows per branch
    curves = plots.voltage_capacity_curves(df, [1], max_points=500)
    assert curves.groupby("branch").size().max() <= 500


# --------------------------------------------------------------------------------------------
# dQ/dV
# --------------------------------------------------------------------------------------------


def test_dqdv_segment_matches_the_derivative() -> None:
    v = np.linspace(3.0, 4.0, 2001)
    q = (v - 3.0) ** 2  # dQ/dV = 2 (V - 3)
    grid, d = plots.dqdv_segment(v, q, True, voltage_step_v=0.005, smoothing_v=0.0)
    inner = slice(2, -2)
    assert np.allclose(d[inner], 2 * (grid[inner] - 3.0), atol=1e-6)
    assert np.all(np.diff(grid) > 0)


def test_dqdv_discharge_is_negative_and_keeps_the_capacity() -> None:
    df = synthetic_test(n_cycles=1)
    curves = plots.dqdv_curves(df, [1], voltage_step_v=0.002, smoothing_v=0.004)
    for branch, sign in (("charge", 1), ("discharge", -1)):
        sub = curves[curves["branch"] == branch].sort_values("voltage_volt")
        # linear cell of 1 Ah over 1 V: dQ/dV = 1 Ah/V everywhere (away from the smoothed edges)
        middle = sub[(sub["voltage_volt"] > 3.1) & (sub["voltage_volt"] < 3.9)]
        assert np.allclose(middle["dqdv_ah_per_volt"], sign * 1.0, rtol=0.02)
        area = np.trapezoid(sub["dqdv_ah_per_volt"], sub["voltage_volt"])
        assert abs(area) == pytest.approx(1.0, rel=0.03)


def test_dqdv_has_no_spikes_from_rounded_counters() -> None:
    """Counters rounded to 0.1 mAh (as in coin-cell files) must not give a comb of spikes."""
    small = dict(n_cycles=1, capacity_ah=0.005, current_a=0.0005, dt_s=5.0)
    exact = plots.dqdv_curves(synthetic_test(**small), [1])
    rounded = plots.dqdv_curves(synthetic_test(round_counters_ah=1e-4, **small), [1])
    assert len(exact) == len(rounded)
    peak = np.abs(exact["dqdv_ah_per_volt"]).max()
    assert np.abs(rounded["dqdv_ah_per_volt"]).max() < 1.1 * peak
    assert np.allclose(rounded["dqdv_ah_per_volt"], exact["dqdv_ah_per_volt"], atol=0.05 * peak)


def test_dqdv_ignores_cv_and_noise() -> None:
    """A CV hold adds capacity at constant voltage: no infinite or huge dQ/dV from it."""
    df = synthetic_test(n_cycles=1, cv_seconds=1800)
    rng = np.random.default_rng(0)
    df["voltage_volt"] += rng.normal(0, 2e-4, len(df))  # measurement noise, non-monotonic
    curves = plots.dqdv_curves(df, [1])
    d = curves["dqdv_ah_per_volt"].to_numpy()
    assert np.isfinite(d).all()
    assert np.abs(d).max() < 1.5  # the true value is 1 Ah/V
    # without step types the CV rows take part but the monotonic filter still keeps it finite
    bare = plots.dqdv_curves(df.drop(columns=["step_type"]), [1])
    assert np.isfinite(bare["dqdv_ah_per_volt"]).all()


@settings(max_examples=200, deadline=None)
@given(
    v=hnp.arrays(np.float64, st.integers(0, 200),
                 elements=st.floats(-5, 5) | st.just(float("nan"))),
    increasing=st.booleans(),
)
def test_dqdv_segment_never_returns_infinities(v: np.ndarray, increasing: bool) -> None:
    """Any voltage trace (noisy, flat, repeated, NaN) gives finite dQ/dV or nothing."""
    q = np.linspace(0.0, 1.0, len(v))
    grid, d = plots.dqdv_segment(v, q, increasing, voltage_step_v=0.01, smoothing_v=0.02)
    assert len(grid) == len(d)
    assert np.isfinite(d).all() and np.isfinite(grid).all()


def test_dqdv_segment_survives_a_glitch() -> None:
    """One overflow value in the voltage must neither blow up the grid nor hide the data."""
    v = np.linspace(3.0, 4.0, 1001)
    q = v - 3.0
    v[500] = 9.9e37
    grid, d = plots.dqdv_segment(v, q, True, voltage_step_v=0.005, smoothing_v=0.0)
    assert grid.max() <= 4.0 + 1e-9 and len(grid) == 201
    assert np.allclose(d[2:-2], 1.0, atol=1e-6)


def test_dqdv_segment_too_short_or_flat() -> None:
    grid, d = plots.dqdv_segment(np.array([3.0, 3.0, 3.0]), np.array([0.0, 0.1, 0.2]), True)
    assert len(grid) == 0 and len(d) == 0
    with pytest.raises(CasipInputError, match="voltage_step_v"):
        plots.dqdv_segment(np.linspace(3, 4, 10), np.linspace(0, 1, 10), True, voltage_step_v=0)


# --------------------------------------------------------------------------------------------
# Figures and files
# --------------------------------------------------------------------------------------------


def _check_files(files: list[Path]) -> None:
    for f in files:
        assert f.is_file() and f.stat().st_size > 0, f
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == PNG_MAGIC
        else:
            html = f.read_text(encoding="utf-8")
            assert "plotly" in html.lower()
            assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "remote script in HTML"


def test_figures_have_labels_with_units() -> None:
    df = synthetic_test(n_cycles=3, capacity_ah=0.004, current_a=0.0004)
    vc = plots.voltage_capacity_figures(df, [1, 3], title="synthetic")
    assert vc.html.layout.xaxis.title.text == "capacity in the cycle [mAh]"
    assert vc.html.layout.yaxis.title.text == "voltage [V]"
    assert {t.name for t in vc.html.data} == {
        "cycle 1 charge", "cycle 1 discharge", "cycle 3 charge", "cycle 3 discharge"}
    ax = vc.png.axes[0]
    assert ax.get_xlabel() == "capacity in the cycle [mAh]" and "synthetic" in ax.get_title()

    ce = plots.capacity_efficiency_figures(summary.cycles(df), mass_g=0.02)
    assert ce.png.axes[0].get_ylabel() == "specific capacity [mAh/g]"
    assert ce.png.axes[1].get_ylabel() == "efficiency [%]"
    assert ce.png.axes[1].get_xlabel() == "cycle number [-]"

    dq = plots.dqdv_figures(df, [2])
    assert dq.png.axes[0].get_ylabel() == "dQ/dV [mAh/V]"
    assert dq.png.axes[0].get_xlabel() == "voltage [V]"


@pytest.mark.slow
def test_rest_only_test_draws_an_empty_chart(tmp_path: Path) -> None:
    df = synthetic_test(n_cycles=1)
    df["current_ampere"] = 0.0
    files = plots.write_test_plots(df, summary.cycles(df), tmp_path, cycles=[1])
    assert len(files) == 6
    _check_files(files)


@pytest.mark.slow
def test_write_test_plots_on_a_real_file(shared_data: Path, tmp_path: Path) -> None:
    from casip.data import read

    path = shared_data / "cycler" / SINTEF
    if not path.is_file():
        pytest.skip(f"{SINTEF} is not in the shared data")
    test = read(path)
    files = plots.write_test_plots(test.data, summary.cycles(test), tmp_path / "charts",
                                   prefix="sintef_", title=SINTEF)
    assert [f.name for f in files] == [
        f"sintef_{stem}.{ext}" for stem in ("voltage_capacity", "capacity_efficiency", "dqdv")
        for ext in ("png", "html")
    ]
    _check_files(files)
    # the lithiation/delithiation of graphite: dQ/dV peaks below 0.3 V vs Li
    d = plots.dqdv_curves(test.data)
    charge = d[d["branch"] == "charge"]
    peak_v = charge.loc[charge["dqdv_ah_per_volt"].idxmax(), "voltage_volt"]
    assert 0.05 < peak_v < 0.3
