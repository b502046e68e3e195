"""Chart of a replay: measured and simulated voltage, their difference, and the current.

:func:`replay_figures` returns :class:`casip.report.Figures` (matplotlib for PNG, plotly for
offline HTML), which :func:`casip.report.write_figures` writes as ``<stem>.png`` and
``<stem>.html``.
"""

from __future__ import annotations

import math

import numpy as np

from casip import palette
from casip.physics.replay import ReplayResult
from casip.report import Figures


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _none(a: np.ndarray) -> list:
    return [None if not math.isfinite(float(v)) else float(v) for v in a]


def replay_figures(result: ReplayResult, title: str | None = None) -> Figures:
    """Three stacked panels against test time [h]: voltage (measured and simulated), error
    (simulated minus measured, mV) and applied current (A, positive on charge).

    Parameters
    ----------
    result : ReplayResult
        From :func:`casip.physics.replay.replay`.
    title : str, optional
        Chart title (default: the setup, the source and the RMSE).

    Returns
    -------
    casip.report.Figures
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rmse = result.rmse_v * 1e3
    title = title or (
        f"Replay of {result.source} on {result.name} ({result.model}): RMSE "
        + (f"{rmse:.1f} mV" if math.isfinite(rmse) else "n/a")
        + (f", stopped early at {result.stopped_at_s:g} s" if result.stopped_early else "")
    )
    th = result.time_s / 3600.0
    meas = (
        result.measured_voltage_v if result.measured_voltage_v is not None
        else np.full(len(th), np.nan)
    )
    sim = result.simulated_voltage_v
    err = (sim - meas) * 1e3
    c_meas, c_sim = palette.colour(0), palette.colour(1)

    fig = _figure(11.0, 8.0)
    ax = fig.subplots(3, 1, sharex=True)
    ax[0].plot(th, meas, color=c_meas, label="measured")
    ax[0].plot(th, sim, color=c_sim, ls="--", label="simulated")
    ax[0].set_ylabel("voltage [V]")
    ax[0].legend(loc="best")
    ax[0].set_title(title, fontsize=10)
    ax[1].plot(th, err, color=c_sim)
    ax[1].axhline(0.0, color=palette.LIMIT, lw=0.8, ls=":")
    ax[1].set_ylabel("simulated - measured [mV]")
    ax[2].plot(th, result.applied_current_a, color=c_meas)
    ax[2].set_ylabel("applied current [A]\n(+ charge)")
    ax[2].set_xlabel("test time [h]")
    if result.stopped_early:
        for a in ax:
            a.axvline(result.stopped_at_s / 3600.0, color=palette.LIMIT, ls="--", lw=1)

    pfig = make_subplots(
        rows=3, cols=1, shared_xaxes=True,
        subplot_titles=("voltage [V]", "simulated - measured [mV]", "applied current [A]"),
    )
    x = th.tolist()
    pfig.add_trace(go.Scatter(x=x, y=_none(meas), name="measured", line={"color": c_meas}),
                   row=1, col=1)
    pfig.add_trace(
        go.Scatter(x=x, y=_none(sim), name="simulated", line={"color": c_sim, "dash": "dash"}),
        row=1, col=1,
    )
    pfig.add_trace(go.Scatter(x=x, y=_none(err), name="error", line={"color": c_sim},
                              showlegend=False), row=2, col=1)
    pfig.add_trace(go.Scatter(x=x, y=_none(result.applied_current_a), name="current",
                              line={"color": c_meas}, showlegend=False), row=3, col=1)
    if result.stopped_early:
        pfig.add_vline(x=result.stopped_at_s / 3600.0, line_dash="dash",
                       line_color=palette.LIMIT)
    pfig.update_xaxes(title_text="test time [h]", row=3, col=1)
    pfig.update_layout(title=title, height=750)
    return Figures(title=title, png=fig, html=pfig)


__all__ = ["replay_figures"]
