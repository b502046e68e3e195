"""Charts of cycling data: voltage against capacity, capacity and efficiency per cycle, dQ/dV.

Everything here is pure: functions take DataFrames in the CASIP schema (the time series of
:mod:`casip.data.schema`, the cycle table of :func:`casip.data.summary.cycles`) and return
tables or :class:`casip.report.Figures`; nothing reads the store. Each chart is drawn twice from
the same data, as a matplotlib figure (PNG, Agg canvas) and a plotly figure (interactive HTML
that embeds plotly.js, so it opens offline); :func:`write_test_plots` writes all three charts.

Capacities within a cycle come from the cumulative BDF counters: the charge (discharge)
capacity at a row is ``charging_capacity_ah`` (``discharging_capacity_ah``) at that row minus
its value at the cycle's first row, so a tester that resets its counters per step draws the
same curves as one that never resets them.

>>> from casip.data import read, summary  # doctest: +SKIP
>>> from casip.data import plots  # doctest: +SKIP
>>> test = read("cell.bdf.csv")  # doctest: +SKIP
>>> files = plots.write_test_plots(  # doctest: +SKIP
...     test.data, summary.cycles(test), "charts", cycles=[1, 2])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from casip import palette
from casip.errors import CasipInputError, Problem
from casip.report import Figures, _mpl_figure, write_figures

#: Most points drawn per cycle and branch (evenly thinned beyond this, to keep HTML small).
MAX_POINTS_PER_CURVE = 3000
#: Default spacing of the voltage grid for dQ/dV [V].
DQDV_VOLTAGE_STEP_V = 0.002
#: Default standard deviation of the Gaussian smoothing of dQ/dV [V].
DQDV_SMOOTHING_V = 0.004
#: Most points of a dQ/dV voltage grid (the step is widened beyond this, e.g. after a glitch).
MAX_DQDV_GRID_POINTS = 100_000
#: Branches of a cycle and the counter each is measured with.
BRANCHES = {"charge": "charging_capacity_ah", "discharge": "discharging_capacity_ah"}

_PALETTE = palette.PALETTE  # one colour per cycle (Okabe-Ito, casip.palette)
_DASH = {"charge": ("-", "solid"), "discharge": ("--", "dash")}


# --------------------------------------------------------------------------------------------
# Cycle selection
# --------------------------------------------------------------------------------------------


def parse_cycles(spec: str) -> list[int]:
    """Cycle numbers from a command-line list such as ``"1,2,10"`` or ``"1-5,10"``.

    Parameters
    ----------
    spec : str
        Comma-separated cycle numbers (integers >= 0) and inclusive ranges ``A-B``.

    Returns
    -------
    list of int
        The numbers in the order given, without repeats.

    Raises
    ------
    CasipInputError
        If an item is not a number or a range ``A-B`` with ``A <= B``, naming the item.
    """
    expected = "cycle numbers separated by commas, or ranges, e.g. 1,2,10 or 1-5"
    out: list[int] = []
    items = [s.strip() for s in str(spec).split(",")]
    if not any(items):
        raise CasipInputError(Problem("--cycles", "no cycle numbers given", spec, expected))
    for item in items:
        try:
            if "-" in item[1:]:
                a_text, b_text = item.split("-", 1)
                a, b = int(a_text), int(b_text)
                if a < 0 or b < a:
                    raise ValueError(item)
                if b - a > 100_000:
                    raise CasipInputError(
                        Problem("--cycles", "the range is too long", item, "at most 100000 cycles")
                    )
                numbers: Iterable[int] = range(a, b + 1)
            else:
                n = int(item)
                if n < 0:
                    raise ValueError(item)
                numbers = (n,)
        except ValueError:
            raise CasipInputError(
                Problem("--cycles", "not a cycle number or range", item, expected)
            ) from None
        out.extend(n for n in numbers if n not in out)
    return out


def select_cycles(timeseries: pd.DataFrame, cycles: Sequence[int] | None = None) -> list[int]:
    """The cycles to draw: the ones asked for (checked), or a few spread over the test.

    Parameters
    ----------
    timeseries : pandas.DataFrame
        A time series in the CASIP schema (needs ``cycle_count``).
    cycles : sequence of int, optional
        Cycle numbers. ``None`` picks the 1st, 2nd, 10th and 100th cycle of the test (counted
        in order of the cycle numbers present) and the last one, where they exist.

    Returns
    -------
    list of int
        Cycle numbers present in the time series.

    Raises
    ------
    CasipInputError
        If a requested cycle is not in the test (the message gives the cycles present).
    """
    present = np.unique(timeseries["cycle_count"].to_numpy()) if len(timeseries) else np.array([])
    present_list = [int(c) for c in present]
    if cycles is None:
        picks = [i for i in (0, 1, 9, 99) if i < len(present_list)]
        chosen = [present_list[i] for i in picks]
        if present_list and present_list[-1] not in chosen:
            chosen.append(present_list[-1])
        return chosen
    wanted = [int(c) for c in cycles]
    missing = [c for c in wanted if c not in set(present_list)]
    if missing:
        raise CasipInputError(
            Problem(
                "cycles",
                "the test has no such cycle" + ("s" if len(missing) > 1 else ""),
                ",".join(str(c) for c in missing),
                f"cycles present in the test: {_ranges_text(present_list)}",
            )
        )
    return wanted


def _ranges_text(numbers: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    if not numbers:
        return "none"
    parts = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Curves (tables)
# --------------------------------------------------------------------------------------------


def _branch_masks(cyc: pd.DataFrame, imax: float) -> dict[str, np.ndarray]:
    """Rows of a cycle that charge and that discharge (rest rows belong to neither)."""
    i = cyc["current_ampere"].to_numpy(dtype=float)
    thr = max(1e-3 * imax, 1e-12)
    return {"charge": i > thr, "discharge": i < -thr}


def _runs(mask: np.ndarray) -> np.ndarray:
    """A run number for each True row: consecutive True rows share one (-1 elsewhere)."""
    start = mask & ~np.r_[False, mask[:-1]]
    run = np.cumsum(start) - 1
    return np.where(mask, run, -1)


def _evenly(n: int, k: int) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def voltage_capacity_curves(
    timeseries: pd.DataFrame,
    cycles: Sequence[int] | None = None,
    *,
    max_points: int = MAX_POINTS_PER_CURVE,
) -> pd.DataFrame:
    """Voltage against the capacity within the cycle, for the charge and discharge branches.

    Parameters
    ----------
    timeseries : pandas.DataFrame
        A time series in the CASIP schema (``current_ampere``, ``voltage_volt``,
        ``cycle_count`` and the cumulative counters).
    cycles : sequence of int, optional
        The cycles; see :func:`select_cycles`.
    max_points : int
        Most points kept per cycle and branch (evenly thinned beyond this).

    Returns
    -------
    pandas.DataFrame
        Columns ``cycle_count``, ``branch`` (``"charge"`` or ``"discharge"``), ``segment``
        (a number per run of consecutive rows of the branch: a break between runs is not
        drawn), ``capacity_ah`` (charge or discharge capacity since the cycle's first row [Ah])
        and ``voltage_volt`` [V]. Rows where the cell rests are left out.
    """
    chosen = select_cycles(timeseries, cycles)
    imax = float(np.nanmax(np.abs(timeseries["current_ampere"]))) if len(timeseries) else 0.0
    frames = []
    for cycle in chosen:
        cyc = timeseries[timeseries["cycle_count"] == cycle]
        if cyc.empty:
            continue
        for branch, mask in _branch_masks(cyc, imax).items():
            if not mask.any():
                continue
            counter = cyc[BRANCHES[branch]].to_numpy(dtype=float)
            cap = counter - counter[0]
            run = _runs(mask)
            keep = np.flatnonzero(mask)
            keep = keep[_evenly(len(keep), max_points)]
            frames.append(
                pd.DataFrame(
                    {
                        "cycle_count": int(cycle),
                        "branch": branch,
                        "segment": run[keep],
                        "capacity_ah": cap[keep],
                        "voltage_volt": cyc["voltage_volt"].to_numpy(dtype=float)[keep],
                    }
                )
            )
    columns = ["cycle_count", "branch", "segment", "capacity_ah", "voltage_volt"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _gaussian_smooth(y: np.ndarray, sigma_points: float) -> np.ndarray:
    """Gaussian smoothing that keeps the level at the edges (normalised by the kernel used)."""
    if sigma_points <= 0 or len(y) < 3:
        return y
    # the kernel never outgrows the data (numpy's "same" mode returns the longer of the two)
    half = max(1, min(math.ceil(3 * sigma_points), (len(y) - 1) // 2))
    x = np.arange(-half, half + 1, dtype=float)
    kernel = np.exp(-0.5 * (x / sigma_points) ** 2)
    num = np.convolve(y, kernel, mode="same")
    den = np.convolve(np.ones_like(y), kernel, mode="same")
    return num / den


def _not_spikes(v: np.ndarray, window: int = 5, tolerance_v: float = 0.05) -> np.ndarray:
    """Mask of the points within ``tolerance_v`` of the median of their ``window`` neighbours.

    An isolated glitch (one or two points far off, such as an overflow value) is dropped; a
    monotonic run is never touched, since each of its points is the median of its window.
    """
    if len(v) < window:
        return np.ones(len(v), dtype=bool)
    half = window // 2
    padded = np.pad(v, half, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    return np.abs(v - med) <= tolerance_v


def _monotonic(v: np.ndarray, increasing: bool) -> np.ndarray:
    """Indices of the points that take the voltage to a new extreme (a strictly monotonic run)."""
    s = v if increasing else -v
    before = np.r_[-np.inf, np.maximum.accumulate(s)[:-1]]
    return np.flatnonzero(s > before)


def dqdv_segment(
    voltage_v: np.ndarray,
    capacity_ah: np.ndarray,
    increasing: bool,
    *,
    voltage_step_v: float = DQDV_VOLTAGE_STEP_V,
    smoothing_v: float = DQDV_SMOOTHING_V,
) -> tuple[np.ndarray, np.ndarray]:
    """dQ/dV of one charge or discharge segment on a uniform voltage grid.

    Method: drop isolated glitches (a point more than 50 mV from the median of its five
    neighbours); keep only the points that carry the voltage to a new maximum (charge) or
    minimum (discharge), which makes voltage strictly monotonic (noise, relaxation and the
    constant voltage of a CV phase are dropped, so no two points share a voltage); interpolate
    the capacity linearly onto a uniform grid of spacing ``voltage_step_v`` inside the voltage
    range covered (at most :data:`MAX_DQDV_GRID_POINTS` points); differentiate with central
    differences (:func:`numpy.gradient`), which divides only by the fixed grid spacing; then
    smooth with a Gaussian of standard deviation ``smoothing_v``. Peaks therefore keep their
    position and area (the integral of dQ/dV over voltage is the capacity of the segment) but
    are broadened by about ``smoothing_v``.

    Parameters
    ----------
    voltage_v : numpy.ndarray
        Cell voltage [V], in time order.
    capacity_ah : numpy.ndarray
        Capacity charged (or discharged) since the start of the cycle [Ah], non-decreasing.
    increasing : bool
        True for a charge (voltage rises), False for a discharge (voltage falls).
    voltage_step_v : float
        Grid spacing [V], > 0.
    smoothing_v : float
        Standard deviation of the Gaussian smoothing [V]; 0 for none.

    Returns
    -------
    voltage : numpy.ndarray
        The grid [V], in the direction of the segment (rising for a charge).
    dqdv : numpy.ndarray
        dQ/dV [Ah/V]: positive on charge; negative on discharge, where the discharged
        capacity grows as the voltage falls. Empty arrays if the segment spans fewer than
        three grid points.
    """
    if not voltage_step_v > 0:
        raise CasipInputError(
            Problem("voltage_step_v", "must be positive", voltage_step_v, "a value > 0 V")
        )
    v = np.asarray(voltage_v, dtype=float)
    q = np.asarray(capacity_ah, dtype=float)
    ok = np.isfinite(v) & np.isfinite(q)
    v, q = v[ok], q[ok]
    empty = (np.array([]), np.array([]))
    if len(v) < 3:
        return empty
    keep = _not_spikes(v)
    v, q = v[keep], q[keep]
    idx = _monotonic(v, increasing)
    v, q = v[idx], q[idx]
    if len(v) < 3:
        return empty
    # ascending voltage for the grid and interpolation
    if not increasing:
        v, q = v[::-1], q[::-1]
    step = max(voltage_step_v, (v[-1] - v[0]) / MAX_DQDV_GRID_POINTS)
    lo = math.ceil(v[0] / step) * step
    grid = np.arange(lo, v[-1] + 1e-12, step)
    if len(grid) < 3:
        return empty
    q_grid = np.interp(grid, v, q)
    dqdv = np.gradient(q_grid, step)
    dqdv = _gaussian_smooth(dqdv, smoothing_v / step)
    if not increasing:
        grid, dqdv = grid[::-1], dqdv[::-1]
    return grid, dqdv


def _segment_capacity(t: np.ndarray, i: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Capacity through one segment: the current integral, scaled to the counter's increase.

    Testers often round their capacity counters coarsely (to 0.1 mAh, say), which turns
    dQ/dV into a comb of spikes. The trapezoidal integral of |current| over time is smooth;
    scaled so that its total equals the counter's increase over the segment, it keeps the
    counter's capacity and the integral's shape. Without a usable integral (no time steps)
    the counter itself is returned.
    """
    dt = np.diff(t, prepend=t[:1])
    dt = np.where(np.isfinite(dt) & (dt > 0), dt, 0.0)
    a = np.abs(np.nan_to_num(i))
    q = np.cumsum(0.5 * (a + np.r_[a[:1], a[:-1]]) * dt) / 3600.0
    rise = float(counter[-1] - counter[0]) if len(counter) else 0.0
    if len(q) and q[-1] > 0 and math.isfinite(rise) and rise > 0:
        return q * (rise / q[-1])
    return counter - counter[0] if len(counter) else counter


def dqdv_curves(
    timeseries: pd.DataFrame,
    cycles: Sequence[int] | None = None,
    *,
    voltage_step_v: float = DQDV_VOLTAGE_STEP_V,
    smoothing_v: float = DQDV_SMOOTHING_V,
) -> pd.DataFrame:
    """Incremental capacity dQ/dV against voltage for chosen cycles, per branch.

    Each run of consecutive charging (discharging) rows of a cycle is one segment, computed by
    :func:`dqdv_segment` (monotonic filter, uniform voltage grid, central differences,
    Gaussian smoothing). The capacity through a segment is the trapezoidal integral of
    |current| over time, scaled so that its total equals the increase of the tester's counter
    over the segment: the counter sets the amount, the integral the shape (counters rounded to
    0.1 mAh, common in coin-cell files, would otherwise give a comb of spikes). Where the time
    series has ``step_type``, only the constant-current rows of a segment are used
    (``cc_charge``, ``cc_discharge``): in a CV phase the capacity grows at a fixed voltage,
    which has no finite dQ/dV. A segment without CC rows uses all its rows.

    Parameters
    ----------
    timeseries : pandas.DataFrame
        A time series in the CASIP schema.
    cycles : sequence of int, optional
        The cycles; see :func:`select_cycles`.
    voltage_step_v : float
        Voltage grid spacing [V].
    smoothing_v : float
        Standard deviation of the Gaussian smoothing [V].

    Returns
    -------
    pandas.DataFrame
        Columns ``cycle_count``, ``branch``, ``segment``, ``voltage_volt`` [V] and
        ``dqdv_ah_per_volt`` [Ah/V] (negative on discharge).
    """
    chosen = select_cycles(timeseries, cycles)
    imax = float(np.nanmax(np.abs(timeseries["current_ampere"]))) if len(timeseries) else 0.0
    has_type = "step_type" in timeseries.columns
    frames = []
    for cycle in chosen:
        cyc = timeseries[timeseries["cycle_count"] == cycle]
        if cyc.empty:
            continue
        volts = cyc["voltage_volt"].to_numpy(dtype=float)
        times = cyc["test_time_second"].to_numpy(dtype=float)
        amps = cyc["current_ampere"].to_numpy(dtype=float)
        types = cyc["step_type"].to_numpy().astype(str) if has_type else None
        for branch, mask in _branch_masks(cyc, imax).items():
            if not mask.any():
                continue
            counter = cyc[BRANCHES[branch]].to_numpy(dtype=float)
            run = _runs(mask)
            for seg in np.unique(run[run >= 0]):
                rows = run == seg
                cap = np.full(len(cyc), np.nan)
                cap[rows] = _segment_capacity(times[rows], amps[rows], counter[rows])
                if types is not None:
                    cc = rows & (types == f"cc_{branch}")
                    if cc.sum() >= 3:
                        rows = cc
                grid, d = dqdv_segment(
                    volts[rows], cap[rows], branch == "charge",
                    voltage_step_v=voltage_step_v, smoothing_v=smoothing_v,
                )
                if len(grid):
                    frames.append(
                        pd.DataFrame(
                            {
                                "cycle_count": int(cycle),
                                "branch": branch,
                                "segment": int(seg),
                                "voltage_volt": grid,
                                "dqdv_ah_per_volt": d,
                            }
                        )
                    )
    columns = ["cycle_count", "branch", "segment", "voltage_volt", "dqdv_ah_per_volt"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _capacity_unit(max_ah: float, mass_g: float | None) -> tuple[float, str]:
    """Scale factor from Ah and the unit label: mAh/g with a mass, mAh below 1 Ah, else Ah."""
    if mass_g:
        return 1000.0 / mass_g, "mAh/g"
    if not math.isfinite(max_ah) or max_ah < 1.0:
        return 1000.0, "mAh"
    return 1.0, "Ah"


def _broken(df: pd.DataFrame, x: str, y: str, scale: float = 1.0) -> tuple[list, list]:
    """x and y lists with a gap (None) between segments, for one line per branch."""
    xs: list = []
    ys: list = []
    for _, seg in df.groupby("segment", sort=False):
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend((seg[x].to_numpy(dtype=float) * scale).tolist())
        ys.extend(seg[y].to_numpy(dtype=float).tolist())
    return xs, ys


def _nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _colour(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _title(kind: str, title: str | None) -> str:
    return f"{kind}: {title}" if title else kind


def voltage_capacity_figures(
    timeseries: pd.DataFrame,
    cycles: Sequence[int] | None = None,
    *,
    title: str | None = None,
    mass_g: float | None = None,
) -> Figures:
    """Voltage against capacity within the cycle, charge (solid) and discharge (dashed).

    Parameters
    ----------
    timeseries : pandas.DataFrame
        A time series in the CASIP schema.
    cycles : sequence of int, optional
        The cycles to draw; see :func:`select_cycles`.
    title : str, optional
        Added to the chart title (e.g. the test's name).
    mass_g : float, optional
        Active mass [g]: capacity is then shown as specific capacity [mAh/g].

    Returns
    -------
    Figures
        The matplotlib and plotly renderings.
    """
    import plotly.graph_objects as go

    chosen = select_cycles(timeseries, cycles)
    curves = voltage_capacity_curves(timeseries, chosen)
    max_ah = float(curves["capacity_ah"].max()) if len(curves) else 0.0
    scale, unit = _capacity_unit(max_ah, mass_g)
    xlabel = ("specific capacity" if mass_g else "capacity") + f" in the cycle [{unit}]"
    full_title = _title("Voltage against capacity", title)

    fig = _mpl_figure(7.5, 5.0)
    ax = fig.subplots()
    pfig = go.Figure()
    for ci, cycle in enumerate(chosen):
        for branch in BRANCHES:
            sub = curves[(curves["cycle_count"] == cycle) & (curves["branch"] == branch)]
            if sub.empty:
                continue
            xs, ys = _broken(sub, "capacity_ah", "voltage_volt", scale)
            label = f"cycle {cycle} {branch}"
            ax.plot(_nan(xs), _nan(ys), color=_colour(ci), linestyle=_DASH[branch][0],
                    linewidth=1.3, label=label)
            pfig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines", name=label, legendgroup=f"cycle {cycle}",
                    line={"color": _colour(ci), "dash": _DASH[branch][1]},
                    hovertemplate=f"{label}<br>%{{x:.4g}} {unit}<br>%{{y:.4f}} V<extra></extra>",
                )
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("voltage [V]")
    ax.set_title(full_title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncols=2 if len(chosen) > 4 else 1)
    else:
        _no_data(ax)
    pfig.update_layout(
        title=full_title, template="plotly_white",
        xaxis={"title": {"text": xlabel}}, yaxis={"title": {"text": "voltage [V]"}},
        legend={"title": {"text": "cycle and branch"}},
    )
    return Figures(title=full_title, png=fig, html=pfig)


def capacity_efficiency_figures(cycle_table: pd.DataFrame, *, title: str | None = None,
                                mass_g: float | None = None) -> Figures:
    """Charge and discharge capacity (top) and coulombic and energy efficiency (bottom) per cycle.

    Parameters
    ----------
    cycle_table : pandas.DataFrame
        From :func:`casip.data.summary.cycles` (``cycle_count``, ``charge_capacity_ah``,
        ``discharge_capacity_ah``, ``coulombic_efficiency``, ``energy_efficiency``).
    title : str, optional
        Added to the chart title.
    mass_g : float, optional
        Active mass [g]: capacities are then shown as specific capacity [mAh/g].

    Returns
    -------
    Figures
        The matplotlib and plotly renderings. Efficiencies are in percent; a cycle without
        charge has no efficiency (a gap).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ct = cycle_table
    cyc = ct["cycle_count"].to_numpy() if len(ct) else np.array([])
    qc = ct["charge_capacity_ah"].to_numpy(dtype=float) if len(ct) else np.array([])
    qd = ct["discharge_capacity_ah"].to_numpy(dtype=float) if len(ct) else np.array([])
    peak = float(np.nanmax(np.r_[qc, qd, 0.0]))
    scale, unit = _capacity_unit(peak, mass_g)
    cap_label = ("specific capacity" if mass_g else "capacity") + f" [{unit}]"
    full_title = _title("Capacity and efficiency per cycle", title)
    markers = len(ct) <= 200

    def pct(col: str) -> np.ndarray:
        if col not in ct.columns or not len(ct):
            return np.full(len(ct), np.nan)
        return 100.0 * ct[col].to_numpy(dtype=float)

    series_cap = (("charge", qc * scale, palette.VERMILLION),
                  ("discharge", qd * scale, palette.BLUE))
    series_eff = (("coulombic efficiency", pct("coulombic_efficiency"), palette.GREEN),
                  ("energy efficiency", pct("energy_efficiency"), palette.PURPLE))

    fig = _mpl_figure(7.5, 6.2)
    ax_q, ax_e = fig.subplots(2, 1, sharex=True)
    for name, y, colour in series_cap:
        ax_q.plot(cyc, y, marker="o" if markers else None, markersize=3, color=colour,
                  label=f"{name} capacity")
    for name, y, colour in series_eff:
        ax_e.plot(cyc, y, marker="o" if markers else None, markersize=3, color=colour, label=name)
    ax_q.set_ylabel(cap_label)
    ax_q.set_title(full_title)
    ax_e.set_ylabel("efficiency [%]")
    ax_e.set_xlabel("cycle number [-]")
    for ax in (ax_q, ax_e):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ax_e.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    # A short test gets half a cycle of room either side: one cycle reads 0.5 to 1.5 with one
    # tick at 1, not 0.945 to 1.050 with fractional ticks.
    x_range = ([float(np.min(cyc)) - 0.5, float(np.max(cyc)) + 0.5]
               if 0 < len(ct) <= 20 else None)
    if x_range is not None:
        ax_e.set_xlim(*x_range)
    if len(ct) == 0:
        _no_data(ax_q)

    pfig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                         subplot_titles=("Capacity", "Efficiency"))
    mode = "lines+markers" if markers else "lines"
    for row, series, suffix in ((1, series_cap, " capacity"), (2, series_eff, "")):
        for name, y, colour in series:
            pfig.add_trace(
                go.Scatter(x=cyc.tolist(), y=[None if not math.isfinite(v) else v for v in y],
                           mode=mode, name=name + suffix, line={"color": colour}),
                row=row, col=1,
            )
    pfig.update_yaxes(title_text=cap_label, row=1, col=1, rangemode="tozero")
    pfig.update_yaxes(title_text="efficiency [%]", row=2, col=1)
    pfig.update_xaxes(title_text="cycle number [-]", row=2, col=1)
    if 0 < len(ct) <= 20:  # integer ticks: one per cycle
        pfig.update_xaxes(tickmode="array", tickvals=cyc.tolist(), range=x_range)
    pfig.update_layout(title=full_title, template="plotly_white", height=620)
    return Figures(title=full_title, png=fig, html=pfig)


def dqdv_figures(
    timeseries: pd.DataFrame,
    cycles: Sequence[int] | None = None,
    *,
    title: str | None = None,
    mass_g: float | None = None,
    voltage_step_v: float = DQDV_VOLTAGE_STEP_V,
    smoothing_v: float = DQDV_SMOOTHING_V,
) -> Figures:
    """Incremental capacity dQ/dV against voltage; charge solid and above zero, discharge dashed.

    See :func:`dqdv_segment` for the method (monotonic filter, uniform voltage grid, central
    differences, Gaussian smoothing); the smoothing width is stated in the chart.

    Parameters
    ----------
    timeseries : pandas.DataFrame
        A time series in the CASIP schema.
    cycles : sequence of int, optional
        The cycles to draw; see :func:`select_cycles`.
    title : str, optional
        Added to the chart title.
    mass_g : float, optional
        Active mass [g]: dQ/dV is then per gram [mAh/(g V)].
    voltage_step_v, smoothing_v : float
        Grid spacing and smoothing [V].

    Returns
    -------
    Figures
        The matplotlib and plotly renderings.
    """
    import plotly.graph_objects as go

    chosen = select_cycles(timeseries, cycles)
    curves = dqdv_curves(timeseries, chosen, voltage_step_v=voltage_step_v,
                         smoothing_v=smoothing_v)
    total = timeseries[["charging_capacity_ah", "discharging_capacity_ah"]].to_numpy(dtype=float)
    scale, unit = _capacity_unit(float(np.nanmax(np.r_[total.ravel(), 0.0])), mass_g)
    ylabel = f"dQ/dV [{unit}/V]" if unit != "mAh/g" else "dQ/dV [mAh/(g V)]"
    note = f"grid {1000 * voltage_step_v:g} mV, Gaussian smoothing σ = {1000 * smoothing_v:g} mV"
    full_title = _title("Incremental capacity dQ/dV", title)

    fig = _mpl_figure(7.5, 5.0)
    ax = fig.subplots()
    pfig = go.Figure()
    for ci, cycle in enumerate(chosen):
        for branch in BRANCHES:
            sub = curves[(curves["cycle_count"] == cycle) & (curves["branch"] == branch)]
            if sub.empty:
                continue
            xs, ys = _broken(sub, "voltage_volt", "dqdv_ah_per_volt")
            ys = [None if y is None else y * scale for y in ys]
            label = f"cycle {cycle} {branch}"
            ax.plot(_nan(xs), _nan(ys), color=_colour(ci), linestyle=_DASH[branch][0],
                    linewidth=1.2, label=label)
            pfig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines", name=label, legendgroup=f"cycle {cycle}",
                    line={"color": _colour(ci), "dash": _DASH[branch][1]},
                    hovertemplate=f"{label}<br>%{{x:.4f}} V<br>%{{y:.4g}} {unit}/V"
                    "<extra></extra>",
                )
            )
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xlabel("voltage [V]")
    ax.set_ylabel(ylabel)
    ax.set_title(full_title)
    ax.grid(alpha=0.3)
    ax.annotate(note, (0.01, 0.01), xycoords="axes fraction", fontsize=7, color="0.35")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncols=2 if len(chosen) > 4 else 1)
    else:
        _no_data(ax)
    pfig.add_hline(y=0.0, line_color="black", line_width=0.6)
    pfig.update_layout(
        title={"text": f"{full_title}<br><sup>{note}</sup>"}, template="plotly_white",
        xaxis={"title": {"text": "voltage [V]"}}, yaxis={"title": {"text": ylabel}},
        legend={"title": {"text": "cycle and branch"}},
    )
    return Figures(title=full_title, png=fig, html=pfig)


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "no charge or discharge data in the chosen cycles", ha="center",
            va="center", transform=ax.transAxes, color="0.4")


def write_test_plots(
    timeseries: pd.DataFrame,
    cycle_table: pd.DataFrame,
    out_dir: str | Path,
    *,
    cycles: Sequence[int] | None = None,
    prefix: str = "",
    title: str | None = None,
    mass_g: float | None = None,
) -> list[Path]:
    """Write the three charts of a test as PNG and HTML files (atomically).

    Parameters
    ----------
    timeseries : pandas.DataFrame
        The test's time series in the CASIP schema.
    cycle_table : pandas.DataFrame
        Its cycle table (:func:`casip.data.summary.cycles`).
    out_dir : str or path
        Output folder (created if needed).
    cycles : sequence of int, optional
        Cycles for the voltage-capacity and dQ/dV charts; see :func:`select_cycles`.
    prefix : str
        Put before the file names (e.g. the test id and ``"_"``).
    title : str, optional
        Added to every chart title.
    mass_g : float, optional
        Active mass [g] for specific capacities.

    Returns
    -------
    list of pathlib.Path
        ``<prefix>voltage_capacity``, ``<prefix>capacity_efficiency`` and ``<prefix>dqdv``, each
        ``.png`` and ``.html``.
    """
    chosen = select_cycles(timeseries, cycles)
    files: list[Path] = []
    for stem, figs in (
        ("voltage_capacity",
         voltage_capacity_figures(timeseries, chosen, title=title, mass_g=mass_g)),
        ("capacity_efficiency",
         capacity_efficiency_figures(cycle_table, title=title, mass_g=mass_g)),
        ("dqdv", dqdv_figures(timeseries, chosen, title=title, mass_g=mass_g)),
    ):
        files += write_figures(figs, out_dir, prefix + stem)
    return files


__all__ = [
    "BRANCHES",
    "DQDV_SMOOTHING_V",
    "DQDV_VOLTAGE_STEP_V",
    "MAX_DQDV_GRID_POINTS",
    "MAX_POINTS_PER_CURVE",
    "capacity_efficiency_figures",
    "dqdv_curves",
    "dqdv_figures",
    "dqdv_segment",
    "parse_cycles",
    "select_cycles",
    "voltage_capacity_curves",
    "voltage_capacity_figures",
    "write_test_plots",
]
