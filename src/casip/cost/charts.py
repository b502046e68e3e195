"""Charts of the cell cost: a waterfall per cell and a tornado of $/kWh.

Each chart is built twice, as in :mod:`casip.report`: a matplotlib figure for PNG and a plotly
figure for HTML; write them with :func:`casip.report.write_figures`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from casip import palette
from casip.cost.manufacturing import OVERHEAD_LABELS, CostBreakdown, TornadoBar
from casip.report import Figures, _mpl_figure


def waterfall_items(cost: CostBreakdown, min_usd_kWh: float = 0.05) -> list[tuple[str, float, str]]:
    """The waterfall's bars: (label, $/kWh, group) from materials by component, scrap, each
    process step, each overhead; items below ``min_usd_kWh`` are pooled per group."""
    items: list[tuple[str, float, str]] = []

    def add(pairs, group: str) -> None:
        small = 0.0
        for label, v in pairs:
            v = float(v)
            if abs(v) < min_usd_kWh:
                small += v
            else:
                items.append((label, v, group))
        if small:
            items.append((f"other {group}", small, group))

    add(((f"{k.replace('_', ' ')}", v) for k, v in cost.materials_by_component_usd_kWh.items()),
        "materials")
    items.append(("scrap (yield)", float(cost.scrap_usd_kWh), "scrap"))
    add(((cost.step_labels.get(s, s), v["total"]) for s, v in cost.steps_usd_kWh.items()),
        "process")
    add(((OVERHEAD_LABELS[k], v) for k, v in cost.overheads_usd_kWh.items()), "overheads")
    return items


_GROUP_COLOUR = {"materials": 0, "scrap": 5, "process": 1, "overheads": 2}


def waterfall_figures(cost: CostBreakdown, title: str | None = None) -> Figures:
    """Cell $/kWh built up: materials by component, scrap, each process step, overheads."""
    import plotly.graph_objects as go

    title = title or (f"Cell cost, {cost.process} process at {cost.plant_GWh:g} GWh/yr: "
                      f"{float(cost.cell_usd_kWh):.1f} $/kWh")
    items = waterfall_items(cost)
    labels = [i[0] for i in items] + ["cell cost"]
    values = np.array([i[1] for i in items])
    starts = np.concatenate([[0.0], np.cumsum(values)[:-1]])
    total = float(values.sum())
    colours = [palette.colour(_GROUP_COLOUR[i[2]]) for i in items] + [palette.colour(3)]

    fig = _mpl_figure(11.0, 5.5)
    ax = fig.subplots()
    x = np.arange(len(labels))
    ax.bar(x[:-1], values, bottom=starts, color=colours[:-1], edgecolor="white", linewidth=0.4)
    ax.bar(x[-1], total, color=colours[-1])
    for i, (s, v) in enumerate(zip(starts, values, strict=True)):
        if v >= 0.03 * total:
            ax.text(i, s + v / 2, f"{v:.1f}", ha="center", va="center", fontsize=7)
    ax.text(x[-1], total, f"{total:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("cost [$/kWh of cells]")
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=palette.colour(c), label=g) for g, c in _GROUP_COLOUR.items()],
              fontsize=8, frameon=False, loc="upper left")

    pfig = go.Figure(go.Waterfall(
        x=labels,
        y=[*values.tolist(), total],
        measure=["relative"] * len(items) + ["total"],
        text=[f"{v:.2f}" for v in [*values.tolist(), total]],
        hovertemplate="%{x}: %{y:.2f} $/kWh<extra></extra>",
    ))
    pfig.update_layout(title=title, template="plotly_white",
                       yaxis={"title": {"text": "cost [$/kWh of cells]"}}, height=560)
    return Figures(title=title, png=fig, html=pfig)


def tornado_figures(base: float, bars: Sequence[TornadoBar], title: str | None = None,
                    top: int = 15) -> Figures:
    """Cell $/kWh at the low and high end of each parameter, largest swing on top."""
    import plotly.graph_objects as go

    bars = sorted(bars, key=lambda b: -b.swing)[:top]
    title = title or f"Sensitivity of cell cost (base {base:.1f} $/kWh)"
    labels = [f"{b.label} [{b.low:g} / {b.high:g}]" for b in bars]
    lo = np.array([b.cost_low - base for b in bars])
    hi = np.array([b.cost_high - base for b in bars])

    fig = _mpl_figure(10.0, max(3.0, 0.35 * len(bars) + 1.5))
    ax = fig.subplots()
    y = np.arange(len(bars))
    ax.barh(y, lo, left=base, color=palette.colour(0), label="parameter at low end")
    ax.barh(y, hi, left=base, color=palette.colour(1), label="parameter at high end")
    ax.axvline(base, color="black", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("cell cost [$/kWh]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)

    pfig = go.Figure()
    pfig.add_trace(go.Bar(y=labels, x=lo, base=base, orientation="h",
                          name="parameter at low end", marker_color=palette.colour(0)))
    pfig.add_trace(go.Bar(y=labels, x=hi, base=base, orientation="h",
                          name="parameter at high end", marker_color=palette.colour(1)))
    pfig.update_layout(title=title, template="plotly_white", barmode="overlay",
                       xaxis={"title": {"text": "cell cost [$/kWh]"}},
                       yaxis={"autorange": "reversed"}, height=max(320, 28 * len(bars) + 160))
    return Figures(title=title, png=fig, html=pfig)


__all__ = ["tornado_figures", "waterfall_figures", "waterfall_items"]
