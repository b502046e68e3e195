"""Charts of a study: Pareto scatter (pairwise for more than two objectives) and parallel
coordinates, each as PNG (matplotlib) and offline HTML (plotly), written with
:func:`casip.report.write_figures`.

The LFP reference cell (``lfp-blade``) is marked wherever its value of a quantity is known from
the design engine (Wh/kg, Wh/L, $/kWh and the other cheap quantities), and the CASIP roadmap
targets (:func:`casip.cells.targets`) are drawn as lines on Wh/kg and Wh/L axes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from casip import palette
from casip.explore.objectives import CHEAP, canonical, stage_of

_FEASIBLE, _FRONT, _OTHER, _LFP = palette.BLUE, palette.ORANGE, palette.NEUTRAL, palette.REFERENCE


def _label(q: str) -> str:
    from casip.report import axis_label

    return axis_label(q)


def lfp_values(quantities: list[str]) -> dict[str, float]:
    """The LFP reference cell's value of each cheap quantity (others are left out)."""
    from casip.cells import reference_design
    from casip.design import evaluate

    m = evaluate(reference_design("lfp-blade"))
    out = {}
    for q in quantities:
        if stage_of(q) != CHEAP:
            continue
        if hasattr(m, q):
            out[q] = float(getattr(m, q))
        elif q in m.geometry:
            out[q] = float(m.geometry[q])
        elif q.startswith("element_"):
            el = q.split("_")[1]
            out[q] = float(m.element_demand_kg_GWh.get(el, 0.0))
    return out


def target_values(q: str) -> list[tuple[str, float]]:
    """CASIP roadmap targets on quantity ``q`` (stage label, value)."""
    from casip.cells import targets

    attr = {
        "specific_energy_Wh_kg": "specific_energy_Wh_kg",
        "energy_density_Wh_L": "energy_density_Wh_L",
    }.get(q)
    if attr is None:
        return []
    return [
        (f"{t.stage} ({t.years})", float(getattr(t, attr)))
        for t in targets()
        if getattr(t, attr) is not None
    ]


def pareto_figures(
    points: pd.DataFrame,
    pareto: pd.DataFrame,
    objectives: dict[str, str],
    title: str = "Pareto front",
):
    """Scatter of every feasible point, infeasible points in grey, the front highlighted."""
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    from casip.report import Figures, _mpl_figure

    objs = [canonical(q) for q in objectives]
    pairs = list(itertools.combinations(objs, 2)) or [(objs[0], objs[0])]
    lfp = lfp_values(objs)
    n = len(pairs)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig = _mpl_figure(4.6 * ncol, 3.9 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    pfig = make_subplots(rows=nrow, cols=ncol)
    feas = points[points["feasible"]] if len(points) else points
    infeas = points[~points["feasible"]] if len(points) else points
    labelled: set[str] = set()  # stages already in the legend (each once, in its own colour)
    for k, (x, y) in enumerate(pairs):
        ax = axes[k // ncol][k % ncol]
        r, c = k // ncol + 1, k % ncol + 1
        for df, colour, name, size in (
            (infeas, _OTHER, "infeasible or failed", 8),
            (feas, _FEASIBLE, "feasible", 12),
            (pareto, _FRONT, "Pareto front", 30),
        ):
            if len(df) == 0 or x not in df or y not in df:
                continue
            ax.scatter(df[x], df[y], s=size, c=colour, label=name, alpha=0.8, linewidths=0)
            pfig.add_trace(
                go.Scatter(
                    x=df[x],
                    y=df[y],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "size": max(4, size // 3)},
                    showlegend=k == 0,
                    legendgroup=name,
                ),
                row=r,
                col=c,
            )
        if x in lfp and y in lfp:
            ax.scatter([lfp[x]], [lfp[y]], marker="*", s=160, c=_LFP, label="LFP (lfp-blade)")
            pfig.add_trace(
                go.Scatter(
                    x=[lfp[x]],
                    y=[lfp[y]],
                    mode="markers+text",
                    text=["LFP"],
                    textposition="top center",
                    name="LFP (lfp-blade)",
                    showlegend=k == 0,
                    marker={"symbol": "star", "size": 14, "color": _LFP},
                ),
                row=r,
                col=c,
            )
        for axis, q in (("x", x), ("y", y)):
            for stage, v in target_values(q):
                colour = palette.stage_colour(stage)
                line = ax.axvline if axis == "x" else ax.axhline
                label = None if stage in labelled else f"target {stage}"
                labelled.add(stage)
                line(v, ls="--", lw=1, c=colour, label=label)
                if axis == "x":
                    pfig.add_vline(
                        x=v,
                        line_dash="dash",
                        line_color=colour,
                        row=r,
                        col=c,
                        annotation_text=stage.split(" (")[0],
                    )
                else:
                    pfig.add_hline(
                        y=v,
                        line_dash="dash",
                        line_color=colour,
                        row=r,
                        col=c,
                        annotation_text=stage.split(" (")[0],
                    )
        ax.set_xlabel(_label(x))
        ax.set_ylabel(_label(y))
        ax.grid(alpha=0.3)
        pfig.update_xaxes(title_text=_label(x), row=r, col=c)
        pfig.update_yaxes(title_text=_label(y), row=r, col=c)
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].set_visible(False)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    pfig.update_layout(title=title, template="plotly_white", height=420 * nrow)
    return Figures(title=title, png=fig, html=pfig)


def parallel_figures(
    points: pd.DataFrame,
    pareto: pd.DataFrame,
    columns: list[str],
    title: str = "Parallel coordinates",
):
    """Parallel coordinates of the feasible points over parameters and quantities; the Pareto
    front in colour, LFP's values (where known) as a black line."""
    from plotly import graph_objects as go

    from casip.report import Figures, _mpl_figure

    cols = [c for c in columns if c in points and points[c].notna().any()]
    feas = points[points["feasible"]].drop_duplicates("point_id") if len(points) else points
    data = feas[cols].astype(float) if len(feas) else pd.DataFrame(columns=cols, dtype=float)
    lo = data.min() if len(data) else pd.Series(0.0, index=cols)
    hi = data.max() if len(data) else pd.Series(1.0, index=cols)
    lfp = lfp_values([c for c in cols if canonical(c)])
    for c, v in lfp.items():
        lo[c], hi[c] = min(lo[c], v), max(hi[c], v)
    span = (hi - lo).replace(0, 1.0)

    def norm(df: pd.DataFrame) -> np.ndarray:
        return ((df[cols].astype(float) - lo) / span).to_numpy()

    fig = _mpl_figure(max(6.0, 1.5 * len(cols)), 4.2)
    ax = fig.subplots()
    xs = np.arange(len(cols))
    front_ids = set(pareto["point_id"]) if len(pareto) else set()
    others = feas[~feas["point_id"].isin(front_ids)] if len(feas) else feas
    for row in norm(others) if len(others) else []:
        ax.plot(xs, row, c=_FEASIBLE, alpha=0.25, lw=0.8)
    for row in norm(pareto) if len(pareto) else []:
        ax.plot(xs, row, c=_FRONT, alpha=0.9, lw=1.4)
    if lfp and len(lfp) == len(cols):
        ax.plot(xs, [(lfp[c] - lo[c]) / span[c] for c in cols], c=_LFP, lw=2, label="LFP")
        ax.legend(fontsize=7)
    ax.set_xticks(xs, [_label(c) for c in cols], rotation=20, ha="right", fontsize=8)
    ax.set_yticks([0, 1], ["min", "max"])
    ax.set_ylim(-0.12, 1.1)
    for x, c in zip(xs, cols, strict=True):
        ax.annotate(f"{lo[c]:.3g}", (x, -0.09), ha="center", fontsize=7)
        ax.annotate(f"{hi[c]:.3g}", (x, 1.03), ha="center", fontsize=7)
    ax.set_title(title + " (feasible points; Pareto front in red)")
    dims = [
        {
            "label": _label(c),
            "values": feas[c].astype(float) if len(feas) else [],
            "range": [float(lo[c]), float(hi[c])],
        }
        for c in cols
    ]
    colour = feas["point_id"].isin(front_ids).astype(int) if len(feas) else []
    pfig = go.Figure(
        go.Parcoords(
            line={"color": colour, "colorscale": [[0, _FEASIBLE], [1, _FRONT]]}, dimensions=dims
        )
    )
    pfig.update_layout(title=title + " (Pareto front in red)", template="plotly_white")
    return Figures(title=title, png=fig, html=pfig)


def write_study_charts(
    out_dir: str | Path,
    points: pd.DataFrame | None = None,
    pareto: pd.DataFrame | None = None,
    meta: dict | None = None,
) -> list[Path]:
    """Write ``pareto.png/.html`` and ``parallel.png/.html`` of a finished study."""
    from casip.explore.run import load_results
    from casip.report import write_figures

    if points is None or pareto is None or meta is None:
        points, pareto, meta = load_results(out_dir)
    study = meta["study"]
    objectives = study["objectives"]
    params = list(study["parameters"])
    quantities = [canonical(q) for q in [*objectives, *study.get("constraints", {})]]
    cols = list(dict.fromkeys([*params, *quantities]))
    name = study.get("name", "study")
    files = write_figures(
        pareto_figures(points, pareto, objectives, f"{name}: Pareto front"), out_dir, "pareto"
    )
    files += write_figures(parallel_figures(points, pareto, cols, f"{name}"), out_dir, "parallel")
    return files


__all__ = [
    "lfp_values",
    "parallel_figures",
    "pareto_figures",
    "target_values",
    "write_study_charts",
]
