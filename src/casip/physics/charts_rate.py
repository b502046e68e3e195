"""Charts of rate capability and Ragone data, as :class:`casip.report.Figures` (PNG + HTML).

Each chart is built twice from the same data, like every CASIP chart: a matplotlib figure for
PNG and a plotly figure for an HTML page that embeds plotly.js (it opens offline). Save them
with :func:`casip.report.write_figures`.

>>> from casip.cells import reference_design  # doctest: +SKIP
>>> from casip.physics.rate import rate_capability, ragone  # doctest: +SKIP
>>> from casip.report import write_figures  # doctest: +SKIP
>>> write_figures(rate_figures(rate_capability(reference_design("lfp-blade"))), "out", "rate")
... # doctest: +SKIP
>>> write_figures(ragone_figures(ragone()), "out", "ragone")  # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from casip import palette
from casip.physics.rate import RateResult
from casip.report import Figures, _mpl_figure

#: The series colours (:data:`casip.palette.PALETTE`, Okabe-Ito), kept for importers.
PALETTE = palette.PALETTE

#: Points per discharge curve drawn (longer curves are thinned evenly).
MAX_CURVE_POINTS = 400


def _thin(df: pd.DataFrame, k: int = MAX_CURVE_POINTS) -> pd.DataFrame:
    if len(df) <= k:
        return df
    idx = np.unique(np.round(np.linspace(0, len(df) - 1, k)).astype(int))
    return df.iloc[idx]


def _rate_label(c: float) -> str:
    if c < 1:
        inv = 1.0 / c
        if math.isclose(inv, round(inv), rel_tol=1e-9):
            return f"C/{round(inv)}"
    return f"{c:g}C"


def _finite(values) -> list[float | None]:
    return [float(v) if math.isfinite(float(v)) else None for v in values]


def rate_figures(result: RateResult, title: str | None = None) -> Figures:
    """Discharge curves per C-rate and capacity/energy retention against C-rate.

    Two panels: voltage [V] against discharged capacity [A.h], one line per C-rate (a rate
    whose cut-off is reached at the start has no line and is named in the legend as such);
    capacity and energy retention [%] against C-rate on a logarithmic axis, each point labelled
    (in the HTML hover) with its limiting mechanism.

    Parameters
    ----------
    result : RateResult
        From :func:`casip.physics.rate.rate_capability`.
    title : str, optional
        Chart title; ``"Rate capability of <name>"`` by default.

    Returns
    -------
    casip.report.Figures
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title = title or f"Rate capability of {result.name}"
    table = result.table
    fig = _mpl_figure(11.5, 4.6)
    ax_v, ax_r = fig.subplots(1, 2)
    pfig = make_subplots(
        rows=1, cols=2,
        subplot_titles=("Discharge curves", "Retention vs C-rate"),
    )
    for k, c in enumerate(sorted(result.curves)):
        curve = _thin(result.curves[c])
        colour = palette.colour(k)
        label = _rate_label(c)
        if curve.empty:
            label += " (cut-off at start)"
        ax_v.plot(curve["capacity_Ah"], curve["voltage_V"], color=colour, label=label,
                  linestyle=palette.linestyle(k))
        pfig.add_trace(
            go.Scatter(
                x=_finite(curve["capacity_Ah"]), y=_finite(curve["voltage_V"]), mode="lines",
                name=label, line={"color": colour, "dash": palette.plotly_dash(k)},
                legendgroup="curves",
            ),
            row=1, col=1,
        )
    ax_v.set_xlabel("discharged capacity [Ah]")
    ax_v.set_ylabel("voltage [V]")
    ax_v.set_title("Discharge curves")
    ax_v.grid(alpha=0.3)
    ax_v.legend(fontsize=7)

    c = table["c_rate"].to_numpy(dtype=float)
    for col, name, colour, marker in (
        ("capacity_retention", "capacity retention", palette.colour(0), palette.marker(0)),
        ("energy_retention", "energy retention", palette.colour(1), palette.marker(1)),
    ):
        y = 100.0 * table[col].to_numpy(dtype=float)
        ax_r.plot(c, y, marker=marker, color=colour, label=name)
        pfig.add_trace(
            go.Scatter(
                x=list(c), y=_finite(y), mode="lines+markers", name=name,
                line={"color": colour}, text=list(table["limiting_mechanism"]),
                hovertemplate="%{x:g}C: %{y:.1f}%<br>limited by %{text}<extra>" + name
                + "</extra>",
            ),
            row=1, col=2,
        )
    ax_r.set_xscale("log")
    ax_r.set_xlabel("C-rate [1/h]")
    ax_r.set_ylabel(f"retention vs {_rate_label(float(c[0]))} [%]")
    ax_r.set_ylim(0, 105)
    ax_r.set_title("Retention vs C-rate")
    ax_r.grid(alpha=0.3, which="both")
    ax_r.legend(fontsize=8)
    fig.suptitle(title)

    pfig.update_xaxes(title_text="discharged capacity [Ah]", row=1, col=1)
    pfig.update_yaxes(title_text="voltage [V]", row=1, col=1)
    pfig.update_xaxes(title_text="C-rate [1/h]", type="log", row=1, col=2)
    pfig.update_yaxes(
        title_text=f"retention vs {_rate_label(float(c[0]))} [%]", range=[0, 105], row=1, col=2
    )
    pfig.update_layout(title=title, template="plotly_white", height=480)
    return Figures(title=title, png=fig, html=pfig)


def ragone_figures(df: pd.DataFrame, title: str | None = None) -> Figures:
    """Ragone plot: specific power against specific energy, log-log, one series per design.

    Points with zero energy or power (a rate whose cut-off is reached at the start) cannot
    be drawn on logarithmic axes and are left out.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`casip.physics.rate.ragone` (columns ``name``, ``c_rate``,
        ``specific_energy_Wh_kg``, ``specific_power_W_kg``).
    title : str, optional
        Chart title; ``"Ragone plot (cell level)"`` by default.

    Returns
    -------
    casip.report.Figures

    References
    ----------
    .. [1] T. Christen, M. W. Carlen, "Theory of Ragone plots", J. Power Sources 91, 210 (2000).
    """
    import plotly.graph_objects as go

    title = title or "Ragone plot (cell level)"
    fig = _mpl_figure(7.5, 5.2)
    ax = fig.subplots(1, 1)
    pfig = go.Figure()
    names = list(dict.fromkeys(df["name"]))
    for k, name in enumerate(names):
        sub = df[df["name"] == name].sort_values("c_rate")
        e = sub["specific_energy_Wh_kg"].to_numpy(dtype=float)
        p = sub["specific_power_W_kg"].to_numpy(dtype=float)
        ok = np.isfinite(e) & np.isfinite(p) & (e > 0) & (p > 0)
        colour = palette.colour(k)
        rates = sub["c_rate"].to_numpy(dtype=float)[ok]
        ax.plot(e[ok], p[ok], marker=palette.marker(k), markersize=5, color=colour,
                linestyle=palette.linestyle(k), label=str(name))
        pfig.add_trace(
            go.Scatter(
                x=list(e[ok]), y=list(p[ok]), mode="lines+markers", name=str(name),
                line={"color": colour, "dash": palette.plotly_dash(k)},
                marker={"symbol": palette.plotly_symbol(k), "size": 7},
                text=[_rate_label(r) for r in rates],
                hovertemplate="%{text}: %{x:.0f} Wh/kg, %{y:.0f} W/kg<extra>" + str(name)
                + "</extra>",
            )
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("specific energy [Wh/kg]")
    ax.set_ylabel("specific power [W/kg]")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    pfig.update_xaxes(title_text="specific energy [Wh/kg]", type="log")
    pfig.update_yaxes(title_text="specific power [W/kg]", type="log")
    pfig.update_layout(title=title, template="plotly_white", height=520)
    return Figures(title=title, png=fig, html=pfig)


__all__ = ["ragone_figures", "rate_figures"]
