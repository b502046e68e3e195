"""Charts of charge and pulse results: matplotlib for PNG, plotly for offline HTML.

Both functions return :class:`casip.report.Figures`, which
:func:`casip.report.write_figures` writes as ``<stem>.png`` and ``<stem>.html``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from casip import palette
from casip.physics.charge import ChargeResult
from casip.report import Figures


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(r: ChargeResult) -> str:
    if r.protocol == "multistep":
        proto = "multistep " + " / ".join(f"{c:g}C to {s:.0%}" for c, s in r.steps)
    else:
        proto = f"{r.c_rate:.3g}C CC-CV"
    t = f"{r.time_min:.1f} min" if math.isfinite(r.time_min) else "not reached"
    return f"{r.name}: {proto}, {t}, binds: {r.binding_limit}"


def _nan_none(a) -> list:
    return [None if not math.isfinite(float(v)) else float(v) for v in a]


def charge_figures(result: ChargeResult | Sequence[ChargeResult], title: str | None = None):
    """Voltage, charge current and anode potential against time for one or more charges.

    Parameters
    ----------
    result : ChargeResult or sequence of ChargeResult
        From :func:`casip.physics.charge.fast_charge` or ``fastest_charge``; several are
        overlaid.
    title : str, optional
        Chart title.

    Returns
    -------
    casip.report.Figures
        Three panels: voltage [V], current [A] (positive = charging) and anode potential vs
        Li at the separator [V] with the plating limit (lithium-metal cells have no anode
        potential; the panel then says so). The upper voltage is a dashed line.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    results = [result] if isinstance(result, ChargeResult) else list(result)
    if not results:
        raise ValueError("no charge result to plot")
    title = title or (
        f"Charge of {results[0].name}, SOC {results[0].soc_start:.0%} to {results[0].soc_end:.0%}"
        if len(results) == 1
        else "Charge comparison"
    )
    panels = (
        ("voltage_V", "voltage [V]"),
        ("current_A", "charge current [A]"),
        ("anode_potential_V", "anode potential vs Li at separator [V]"),
    )
    fig = _figure(15.5, 5.0 + 0.25 * len(results))
    axes = fig.subplots(1, 3)
    pfig = make_subplots(rows=1, cols=3, subplot_titles=[p[1] for p in panels])
    for i, r in enumerate(results):
        colour = palette.colour(i)
        h = r.history
        label = _label(r)
        for k, (col, _) in enumerate(panels):
            ys = h[col].to_numpy(dtype=float)
            axes[k].plot(h["time_min"], ys, color=colour, label=label if k == 0 else None)
            pfig.add_trace(
                go.Scatter(
                    x=h["time_min"].tolist(), y=_nan_none(ys), mode="lines", name=label,
                    legendgroup=label, showlegend=k == 0, line={"color": colour},
                ),
                row=1, col=k + 1,
            )
    r0 = results[0]
    v_lim = r0.limits.get("upper_voltage_V")
    a_lim = r0.limits.get("min_anode_potential_V")
    if v_lim is not None:
        axes[0].axhline(v_lim, ls="--", color=palette.LIMIT, lw=1)
        pfig.add_hline(y=v_lim, line_dash="dash", line_color=palette.LIMIT, row=1, col=1,
                       annotation_text="upper voltage limit")
    any_anode = any(np.isfinite(r.history["anode_potential_V"].to_numpy(float)).any()
                    for r in results)
    if a_lim is not None and any_anode:
        axes[2].axhline(a_lim, ls="--", color=palette.LIMIT, lw=1)
        pfig.add_hline(y=a_lim, line_dash="dash", line_color=palette.LIMIT, row=1, col=3,
                       annotation_text="plating limit")
    if not any_anode:
        axes[2].text(0.5, 0.5, "lithium-metal negative:\nno anode potential;\nsee the "
                     "critical current density", ha="center", va="center",
                     transform=axes[2].transAxes)
        axes[2].set_xticks([])
        axes[2].set_yticks([])
    for k, (_, name) in enumerate(panels):
        axes[k].set_xlabel("time [min]")
        axes[k].set_ylabel(name)
        axes[k].grid(alpha=0.3)
        pfig.update_xaxes(title_text="time [min]", row=1, col=k + 1)
        pfig.update_yaxes(title_text=name, row=1, col=k + 1)
    fig.legend(fontsize=8, loc="outside lower center")
    fig.suptitle(title)
    pfig.update_layout(title=title, template="plotly_white", height=480,
                       legend={"orientation": "h", "y": -0.2})
    return Figures(title=title, png=fig, html=pfig)


def pulse_figures(df: pd.DataFrame, title: str | None = None, name: str | None = None):
    """Pulse resistance against state of charge.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`casip.physics.pulse.pulse_resistance`.
    title, name : str, optional
        Chart title; or the cell name to put in the default title.

    Returns
    -------
    casip.report.Figures
        Two panels: discharge and charge resistance [mOhm] and the area-specific resistance
        [Ohm cm2], against SOC [%].
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title = title or ("Pulse resistance" + (f" of {name}" if name else ""))
    soc = df["soc"].to_numpy(float) * 100.0
    fig = _figure(11.0, 4.4)
    ax1, ax2 = fig.subplots(1, 2)
    pfig = make_subplots(rows=1, cols=2, subplot_titles=["resistance [mOhm]",
                                                         "area-specific resistance [Ohm cm2]"])
    series = (
        ("discharge_resistance_ohm", "discharge pulse", palette.colour(0)),
        ("charge_resistance_ohm", "charge pulse", palette.colour(1)),
    )
    for col, label, colour in series:
        ys = df[col].to_numpy(float) * 1000.0
        ax1.plot(soc, ys, marker="o", color=colour, label=label)
        pfig.add_trace(go.Scatter(x=soc.tolist(), y=_nan_none(ys), mode="lines+markers",
                                  name=label, line={"color": colour}), row=1, col=1)
    asr = df["area_specific_resistance_ohm_cm2"].to_numpy(float)
    ax2.plot(soc, asr, marker="o", color=palette.colour(2), label="discharge ASR")
    pfig.add_trace(go.Scatter(x=soc.tolist(), y=_nan_none(asr), mode="lines+markers",
                              name="discharge ASR", line={"color": palette.colour(2)}),
                   row=1, col=2)
    for ax, yl in ((ax1, "resistance [mOhm]"), (ax2, "area-specific resistance [Ohm cm2]")):
        ax.set_xlabel("state of charge [%]")
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for c, yl in ((1, "resistance [mOhm]"), (2, "area-specific resistance [Ohm cm2]")):
        pfig.update_xaxes(title_text="state of charge [%]", row=1, col=c)
        pfig.update_yaxes(title_text=yl, row=1, col=c)
    fig.suptitle(title)
    pfig.update_layout(title=title, template="plotly_white", height=440)
    return Figures(title=title, png=fig, html=pfig)


__all__ = ["charge_figures", "pulse_figures"]
