"""Charts of the longevity module: ageing projections and early cycle-life predictions.

Each function returns a :class:`casip.report.Figures` (matplotlib for PNG, plotly for offline
HTML); write it with :func:`casip.report.write_figures`.

- :func:`capacity_figures` -- relative capacity vs time [years] for several projections (the
  frames of :func:`casip.life.blast.project` and :func:`casip.life.solid_state.project`) on one
  chart, with the 80 % end-of-life line;
- :func:`predicted_observed_figures` -- predicted against observed cycle life (log axes), with
  the identity line and a +/- band (the published ~15 % error of the variance model by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from casip import palette
from casip.report import Figures, _mpl_figure

#: End-of-life capacity drawn on the capacity chart [-].
EOL_LINE = 0.8

_COLOURS = palette.PALETTE  # one colour per projection (Okabe-Ito, casip.palette)


def _thin(x: np.ndarray, n: int = 2000) -> np.ndarray:
    """Indices of at most ``n`` evenly spaced points (keeping the last)."""
    if len(x) <= n:
        return np.arange(len(x))
    return np.unique(np.round(np.linspace(0, len(x) - 1, n)).astype(int))


def _failed(frame: pd.DataFrame) -> bool:
    return bool(frame.attrs.get("failed")) or len(frame) < 2


def capacity_figures(
    projections: Mapping[str, pd.DataFrame], title: str | None = None
) -> Figures:
    """Relative capacity vs time [years], one line per projection, with the 80 % line.

    Parameters
    ----------
    projections : mapping of label to DataFrame
        Frames with ``t_years`` and ``capacity_rel`` columns. A projection that fails at once
        (one row, e.g. a solid-state cell charged above its critical current density) is drawn
        as a single cross at t = 0 and marked "fails" in the legend.
    title : str, optional
        Chart title.
    """
    import plotly.graph_objects as go

    title = title or "Capacity vs time"
    fig = _mpl_figure(8.5, 5.0)
    ax = fig.subplots()
    pfig = go.Figure()
    t_max = 0.0
    for i, (label, frame) in enumerate(projections.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        t = frame["t_years"].to_numpy(dtype=float)
        q = frame["capacity_rel"].to_numpy(dtype=float) * 100
        t_max = max(t_max, float(t.max()) if len(t) else 0.0)
        if _failed(frame):
            name = f"{label} (fails)"
            ax.plot(t[:1], q[:1], "x", color=colour, markersize=10, mew=2, label=name)
            pfig.add_trace(go.Scatter(x=t[:1], y=q[:1], mode="markers", name=name,
                                      marker={"symbol": "x", "size": 12, "color": colour},
                                      hovertext=str(frame.attrs.get("failure") or "fails")))
            continue
        idx = _thin(t)
        ax.plot(t[idx], q[idx], color=colour, lw=1.6, ls=palette.linestyle(i), label=label)
        pfig.add_trace(go.Scatter(x=t[idx], y=q[idx], mode="lines", name=label,
                                  line={"color": colour, "dash": palette.plotly_dash(i)},
                                  hovertemplate="%{x:.2f} years: %{y:.1f} %<extra>"
                                  + label + "</extra>"))
        y80 = frame.attrs.get("years_to_80pct")
        if y80 is not None and y80 > 0:
            ax.plot([y80], [EOL_LINE * 100], "o", color=colour, markersize=5)
    ax.axhline(EOL_LINE * 100, color="grey", ls="--", lw=1)
    ax.text(0.01, EOL_LINE * 100, " 80 % (end of life)", color="grey", va="bottom",
            transform=ax.get_yaxis_transform(), fontsize=8)
    ax.set_xlim(0, max(t_max, 1.0))
    ax.set_xlabel("time [years]")
    ax.set_ylabel("capacity [% of initial]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    pfig.add_hline(y=EOL_LINE * 100, line_dash="dash", line_color="grey",
                   annotation_text="80 % (end of life)", annotation_position="bottom left")
    pfig.update_layout(
        title=title,
        template="plotly_white",
        xaxis={"title": {"text": "time [years]"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "capacity [% of initial]"}},
    )
    return Figures(title=title, png=fig, html=pfig)


def predicted_observed_figures(
    observed: Sequence[float],
    predicted: Mapping[str, Sequence[float]],
    band_percent: float = 15.0,
    title: str | None = None,
    mape: Mapping[str, float] | None = None,
) -> Figures:
    """Predicted against observed cycle life (log-log), identity line and a +/- error band.

    Parameters
    ----------
    observed : sequence of float
        Observed cycle lives [cycles], > 0.
    predicted : mapping of label to sequence of float
        Predictions of the same cells [cycles], one series per model.
    band_percent : float
        Half-width of the shaded band around the identity line [%].
    title : str, optional
        Chart title.
    mape : mapping of label to float, optional
        MAPE per series [%], shown in the legend.
    """
    import plotly.graph_objects as go

    title = title or "Predicted vs observed cycle life"
    obs = np.asarray(observed, dtype=float)
    preds = {k: np.asarray(v, dtype=float) for k, v in predicted.items()}
    for k, v in preds.items():
        if v.shape != obs.shape:
            raise ValueError(f"{k}: {v.shape[0]} predictions for {obs.shape[0]} cells")
    values = np.concatenate([obs, *preds.values()]) if preds else obs
    values = values[np.isfinite(values) & (values > 0)]
    lo, hi = (float(values.min()) / 1.3, float(values.max()) * 1.3) if len(values) else (1, 1e4)
    line = np.geomspace(lo, hi, 50)
    b = band_percent / 100

    def name(k: str) -> str:
        return f"{k} (MAPE {mape[k]:.1f} %)" if mape and k in mape else k

    fig = _mpl_figure(6.5, 6.0)
    ax = fig.subplots()
    ax.fill_between(line, line * (1 - b), line * (1 + b), color="grey", alpha=0.2,
                    label=f"±{band_percent:g} %")
    ax.plot(line, line, color="black", lw=1, label="identity")
    markers = "os^Dv<>"
    for i, (k, v) in enumerate(preds.items()):
        ax.scatter(obs, v, s=22, marker=markers[i % len(markers)],
                   color=_COLOURS[i % len(_COLOURS)], label=name(k), alpha=0.85)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("observed cycle life [cycles]")
    ax.set_ylabel("predicted cycle life [cycles]")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")

    pfig = go.Figure()
    pfig.add_trace(go.Scatter(x=line, y=line * (1 + b), mode="lines", line={"width": 0},
                              showlegend=False, hoverinfo="skip"))
    pfig.add_trace(go.Scatter(x=line, y=line * (1 - b), mode="lines", line={"width": 0},
                              fill="tonexty", fillcolor="rgba(128,128,128,0.2)",
                              name=f"±{band_percent:g} %", hoverinfo="skip"))
    pfig.add_trace(go.Scatter(x=line, y=line, mode="lines", name="identity",
                              line={"color": "black", "width": 1}, hoverinfo="skip"))
    for i, (k, v) in enumerate(preds.items()):
        pfig.add_trace(go.Scatter(
            x=obs, y=v, mode="markers", name=name(k),
            marker={"color": _COLOURS[i % len(_COLOURS)], "size": 7},
            hovertemplate="observed %{x:.0f}, predicted %{y:.0f}<extra>" + k + "</extra>",
        ))
    pfig.update_layout(
        title=title,
        template="plotly_white",
        xaxis={"title": {"text": "observed cycle life [cycles]"}, "type": "log"},
        yaxis={"title": {"text": "predicted cycle life [cycles]"}, "type": "log",
               "scaleanchor": "x"},
    )
    return Figures(title=title, png=fig, html=pfig)


__all__ = ["EOL_LINE", "capacity_figures", "predicted_observed_figures"]
