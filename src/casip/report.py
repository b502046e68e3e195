"""Tables and charts from design results: comparisons, breakdowns and sweeps.

Everything here takes results (:class:`~casip.design.api.CellMetrics`, sweep DataFrames) and
returns pandas tables or figures; the ``write_*`` functions save them atomically (see
:mod:`casip.io`). Each chart is built twice from the same data: a matplotlib figure for PNG
(rendered with the Agg canvas, no display needed) and a plotly figure for interactive HTML that
embeds plotly.js, so the HTML opens offline.

>>> from casip.cells import reference_designs  # doctest: +SKIP
>>> from casip.design import evaluate  # doctest: +SKIP
>>> from casip import report  # doctest: +SKIP
>>> metrics = {cid: evaluate(d) for cid, d in reference_designs().items()}  # doctest: +SKIP
>>> table = report.comparison_table(metrics)  # doctest: +SKIP
>>> report.write_figures(report.energy_cost_figures(table), "out", "energy_cost")  # doctest: +SKIP
"""

from __future__ import annotations

import io as _io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from casip import palette
from casip.design import engine
from casip.design.api import CellMetrics
from casip.io import ensure_dir, write_bytes_atomic, write_text_atomic

#: The reference cell used as today's baseline for the ratio columns.
LFP_ID = "lfp-blade"

#: Columns of :func:`comparison_table` taken from each design's metrics, in order.
METRIC_COLUMNS = (
    "capacity_Ah",
    "nominal_voltage_V",
    "energy_Wh",
    "mass_g",
    "volume_cm3",
    "specific_energy_Wh_kg",
    "energy_density_Wh_L",
    "cost_usd_kWh",
)

#: Header and number format of known columns, for printed and Markdown tables.
#: Formats: ``"0"``..``"3"`` decimals, ``"ratio"`` (x2.35), ``"pct"`` (share as %),
#: ``"signed_pct"`` (relative difference as %), ``"text"``.
COLUMNS: dict[str, tuple[str, str]] = {
    "label": ("design", "text"),
    "name": ("name", "text"),
    "kind": ("kind", "text"),
    "format": ("format", "text"),
    "capacity_Ah": ("capacity [Ah]", "1"),
    "nominal_voltage_V": ("voltage [V]", "2"),
    "energy_Wh": ("energy [Wh]", "1"),
    "mass_g": ("mass [g]", "0"),
    "volume_cm3": ("volume [cm³]", "0"),
    "specific_energy_Wh_kg": ("Wh/kg", "0"),
    "energy_density_Wh_L": ("Wh/L", "0"),
    "cost_usd_kWh": ("materials\n$/kWh", "1"),
    "cell_cost_usd_kWh": ("cell\n$/kWh", "1"),
    "specific_energy_vs_lfp": ("Wh/kg\nvs LFP", "ratio"),
    "energy_density_vs_lfp": ("Wh/L\nvs LFP", "ratio"),
    "cost_vs_lfp": ("materials $/kWh\nvs LFP", "ratio"),
    "specific_energy_vs_target": ("Wh/kg\nof target", "pct"),
    "energy_density_vs_target": ("Wh/L\nof target", "pct"),
    "cell": ("cell", "text"),
    "metric": ("metric", "text"),
    "computed": ("computed", "1"),
    "published": ("published", "1"),
    "difference": ("difference", "signed_pct"),
    "source": ("source", "text"),
    "note": ("note", "text"),
}

#: Units of name suffixes, for axis labels (longest suffix first wins).
_UNITS = {
    "_Wh_kg": "Wh/kg",
    "_Wh_L": "Wh/L",
    "_usd_kWh": "$/kWh",
    "_usd": "$",
    "_mAh_cm2": "mAh/cm²",
    "_mg_cm2": "mg/cm²",
    "_mAh_g": "mAh/g",
    "_g_per_Ah": "g/Ah",
    "_g_cm3": "g/cm³",
    "_cm2": "cm²",
    "_cm3": "cm³",
    "_um": "µm",
    "_mm": "mm",
    "_MPa": "MPa",
    "_Ah": "Ah",
    "_Wh": "Wh",
    "_V": "V",
    "_g": "g",
}

#: Labels of columns whose name alone does not say what they are.
_NAMED_LABELS = {
    "cost_usd_kWh": "materials cost [$/kWh]",
    "cost_usd": "materials cost [$]",
    "cell_cost_usd_kWh": "cell cost [$/kWh]",
}

#: Colours of the cell kinds in bar charts (from :mod:`casip.palette`, Okabe-Ito hues).
KIND_COLOURS = {
    "liquid": palette.BLUE,
    "semi-solid": palette.ORANGE,
    "all-solid-state": palette.GREEN,
}
_OTHER_KIND = palette.NEUTRAL


# --------------------------------------------------------------------------------------------
# Labels and numbers
# --------------------------------------------------------------------------------------------


def axis_label(name: str) -> str:
    """A readable axis label with unit from a field or column name.

    ``"cathode.thickness_um"`` -> ``"cathode thickness [µm]"``;
    ``"specific_energy_Wh_kg"`` -> ``"specific energy [Wh/kg]"``; a name without a unit suffix
    (porosity, fractions, ratios) gets ``[-]``.
    Costs say what they are: ``"cost_usd_kWh"`` -> ``"materials cost [$/kWh]"`` (the design
    engine's bill of materials; a cell cost adds scrap and manufacturing, :mod:`casip.cost`).
    """
    if name in _NAMED_LABELS:
        return _NAMED_LABELS[name]
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return f"{stem.replace('.', ' ').replace('_', ' ')} [{_UNITS[suffix]}]"
    return f"{name.replace('.', ' ').replace('_', ' ')} [-]"


def format_number(v: float) -> str:
    """About four significant figures, thousands separated; whole numbers without decimals."""
    if not math.isfinite(v):
        return "—"
    a = abs(v)
    if float(v).is_integer() and a < 1e6:
        return f"{v:,.0f}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def format_value(value: object, fmt: str = "auto") -> str:
    """Format one table cell.

    ``fmt`` is a number of decimals (``"0"``..``"3"``), ``"ratio"`` (×2.35), ``"pct"`` (a
    share as %), ``"signed_pct"`` (a relative difference as %), or ``"auto"`` (about four
    significant figures, see :func:`format_number`).
    """
    if value is None:
        return "—"
    if isinstance(value, float | int | np.floating | np.integer) and not isinstance(value, bool):
        v = float(value)
        if not math.isfinite(v):
            return "—"
        if fmt == "ratio":
            return f"×{v:.2f}"
        if fmt == "pct":
            return f"{100 * v:.0f}%"
        if fmt == "signed_pct":
            return f"{100 * v:+.1f}%"
        if fmt.isdigit():
            return f"{v:,.{int(fmt)}f}"
        return format_number(v)
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return str(value)


def display_table(df: pd.DataFrame, index: bool = True) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a table, using :data:`COLUMNS` for known columns."""
    cols = list(df.columns)
    headers = ([COLUMNS.get(str(df.index.name or "label"), (df.index.name or "", ""))[0]]
               if index else [])
    headers += [COLUMNS.get(str(c), (str(c), ""))[0] for c in cols]
    rows = []
    for label, row in df.iterrows():
        cells = [str(label)] if index else []
        for c in cols:
            fmt = COLUMNS.get(str(c), ("", "auto"))[1] or "auto"
            cells.append(format_value(row[c], fmt))
        rows.append(cells)
    return headers, rows


def to_markdown(df: pd.DataFrame, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table of ``df`` with headers and units from :data:`COLUMNS`."""
    headers, rows = display_table(df, index=index)

    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    numeric = [
        i for i, h in enumerate(headers)
        if rows and all(looks_numeric(r[i]) for r in rows)
    ]
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
    lines.append(
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(headers))) + "|"
    )
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def looks_numeric(s: str) -> bool:
    """True if a formatted cell is a number (for right-aligning columns)."""
    t = s.replace(",", "").replace("×", "").replace("%", "").replace("+", "").replace("—", "")
    if not t:
        return True
    try:
        float(t)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetLine:
    """One horizontal target line: a roadmap stage's value of one metric."""

    stage: str
    years: str
    metric: str
    value: float


def roadmap_targets() -> list:
    """The CASIP roadmap stages from :func:`casip.cells.targets`, or ``[]`` if not bundled."""
    from casip import cells

    try:
        return list(cells.targets())
    except (FileNotFoundError, KeyError, TypeError):
        return []


def target_lines(targets: Sequence, metric: str) -> list[TargetLine]:
    """The stages that set a value for ``metric`` (e.g. ``specific_energy_Wh_kg``)."""
    out = []
    for t in targets:
        v = getattr(t, metric, None)
        if v is not None and math.isfinite(float(v)):
            out.append(TargetLine(t.stage, t.years, metric, float(v)))
    return out


def _stage_label(t) -> str:
    """``"CASIP stage 2 (2027-2030)"`` from a target's stage and years."""
    stage = str(t.stage or "").strip()
    if not stage.upper().startswith("CASIP"):
        stage = f"CASIP {stage}".strip()
    years = str(t.years or "").strip()
    return f"{stage} ({years})" if years and years not in stage else stage


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def comparison_table(
    metrics: Mapping[str, CellMetrics],
    *,
    baseline: str | CellMetrics | None = LFP_ID,
    targets: Sequence | None = None,
    target_stage: str | None = None,
    include_targets: bool = True,
) -> pd.DataFrame:
    """Designs side by side with the CASIP roadmap targets and LFP as the baseline.

    Parameters
    ----------
    metrics : mapping of label -> CellMetrics
        The evaluated designs, in the order to show them (labels are the row index: reference
        ids or file names).
    baseline : str or CellMetrics or None
        The label of the baseline design in ``metrics`` (default the LFP reference,
        ``"lfp-blade"``), or its metrics. Ratio columns ``*_vs_lfp`` are added when the
        baseline is present; ``None`` leaves them out.
    targets : sequence of casip.cells.Target, optional
        Roadmap stages; :func:`casip.cells.targets` by default (none if not bundled).
    target_stage : str, optional
        The stage the ``*_vs_target`` columns compare against; the last (most ambitious) stage
        by default.
    include_targets : bool
        Append one row per roadmap stage (``kind`` = ``"CASIP target"``) holding its targets.

    Returns
    -------
    pandas.DataFrame
        Index ``label``; columns ``name``, ``kind``, ``format``, the headline metrics
        (:data:`METRIC_COLUMNS`), then, where available, ``specific_energy_vs_lfp``,
        ``energy_density_vs_lfp``, ``cost_vs_lfp`` (ratios, 1 = same as LFP; cost below 1 is
        cheaper) and ``specific_energy_vs_target``, ``energy_density_vs_target`` (share of the
        chosen stage's target, 1 = met). ``df.attrs["target_stage"]`` names that stage and
        ``df.attrs["baseline"]`` the baseline.
    """
    rows = []
    for label, m in metrics.items():
        row = {"label": label, "name": m.name, "kind": m.kind, "format": m.format}
        row.update({k: getattr(m, k) for k in METRIC_COLUMNS})
        rows.append(row)
    df = pd.DataFrame(rows, columns=["label", "name", "kind", "format", *METRIC_COLUMNS])
    df = df.set_index("label")
    for k in METRIC_COLUMNS:
        df[k] = df[k].astype(float)

    targets = roadmap_targets() if targets is None else list(targets)
    stage = None
    if targets:
        stage = next((t for t in targets if t.stage == target_stage), None)
        if stage is None:
            stage = targets[-1]
    if include_targets:
        trows = []
        for t in targets:
            trows.append(
                {
                    "name": "roadmap target",
                    "kind": "CASIP target",
                    "format": "",
                    "specific_energy_Wh_kg": t.specific_energy_Wh_kg,
                    "energy_density_Wh_L": t.energy_density_Wh_L,
                }
            )
        if trows:
            tdf = pd.DataFrame(trows, index=[_stage_label(t) for t in targets])
            tdf.index.name = "label"
            df = pd.concat([df, tdf.astype({"specific_energy_Wh_kg": float,
                                             "energy_density_Wh_L": float})])

    base = metrics.get(baseline) if isinstance(baseline, str) else baseline
    if base is not None:
        df["specific_energy_vs_lfp"] = df["specific_energy_Wh_kg"] / base.specific_energy_Wh_kg
        df["energy_density_vs_lfp"] = df["energy_density_Wh_L"] / base.energy_density_Wh_L
        df["cost_vs_lfp"] = df["cost_usd_kWh"] / base.cost_usd_kWh
    if stage is not None:
        if stage.specific_energy_Wh_kg:
            df["specific_energy_vs_target"] = (
                df["specific_energy_Wh_kg"] / float(stage.specific_energy_Wh_kg)
            )
        if stage.energy_density_Wh_L:
            df["energy_density_vs_target"] = (
                df["energy_density_Wh_L"] / float(stage.energy_density_Wh_L)
            )
    df.attrs["target_stage"] = _stage_label(stage) if stage is not None else None
    df.attrs["baseline"] = (
        baseline if isinstance(baseline, str) and base is not None
        else (base.name if base is not None else None)
    )
    return df


def published_table(compared: pd.DataFrame) -> pd.DataFrame:
    """Computed versus published figures (from :func:`casip.cells.compare`), ready to print.

    Keeps ``cell``, ``metric``, ``computed``, ``published``, ``difference`` (relative,
    computed / published - 1), ``source`` and ``note``.
    """
    cols = [c for c in ("cell", "metric", "computed", "published", "difference", "source", "note")
            if c in compared.columns]
    return compared[cols].reset_index(drop=True)


def breakdown_table(metrics: CellMetrics) -> pd.DataFrame:
    """Mass, volume and cost by component of one design (long form for CSV).

    Returns
    -------
    pandas.DataFrame
        Columns ``section``, ``name``, ``value``, ``unit``: headline metrics, geometry, mass,
        volume and cost breakdowns, element demand.
    """
    rows: list[tuple[str, str, object, str]] = []
    for k in ("capacity_Ah", "nominal_voltage_V", "energy_Wh", "mass_g", "volume_cm3",
              "specific_energy_Wh_kg", "energy_density_Wh_L", "cost_usd", "cost_usd_kWh",
              "couple_specific_energy_Wh_kg", "couple_energy_density_Wh_L",
              "cell_to_couple_specific_energy", "cell_to_couple_energy_density"):
        rows.append(("headline", k, getattr(metrics, k), _unit_of(k)))
    for k, v in metrics.geometry.items():
        rows.append(("geometry", k, v, _unit_of(k)))
    for k, v in metrics.mass_breakdown_g.items():
        rows.append(("mass_g", k, v, "g"))
    for k, v in metrics.volume_breakdown_cm3.items():
        rows.append(("volume_cm3", k, v, "cm3"))
    for k, v in metrics.cost_breakdown_usd.items():
        rows.append(("cost_usd", k, v, "USD"))
    for k, v in metrics.element_demand_kg_GWh.items():
        rows.append(("element_demand_kg_GWh", k, v, "kg/GWh"))
    return pd.DataFrame(rows, columns=["section", "name", "value", "unit"])


def _unit_of(name: str) -> str:
    label = axis_label(name)
    unit = label[label.rfind("[") + 1 : -1]
    return "" if unit == "-" else unit


def write_table(df: pd.DataFrame, out_dir: str | Path, stem: str, index: bool = True) -> list[Path]:
    """Write a table as ``<stem>.csv`` (full precision) and ``<stem>.md`` (formatted).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = ensure_dir(out_dir)
    csv = write_text_atomic(out / f"{stem}.csv", df.to_csv(index=index))
    md = write_text_atomic(out / f"{stem}.md", to_markdown(df, index=index))
    return [csv, md]


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One chart in two renderings: matplotlib (for PNG) and plotly (for HTML)."""

    title: str
    png: object  # matplotlib.figure.Figure
    html: object  # plotly.graph_objects.Figure


def _mpl_figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_BAR_PANELS = (
    ("specific_energy_Wh_kg", "Specific energy", "cell specific energy [Wh/kg]"),
    ("energy_density_Wh_L", "Energy density", "cell energy density [Wh/L]"),
    ("cost_usd_kWh", "Materials cost", "materials cost [$/kWh]"),
)


def energy_cost_figures(
    table: pd.DataFrame, targets: Sequence | None = None, title: str | None = None
) -> Figures:
    """Bar charts of Wh/kg, Wh/L and $/kWh per design with the roadmap targets as lines.

    Three panels side by side (one per metric, each with its own unit), bars coloured by cell
    kind; the CASIP stages that set a Wh/kg or Wh/L target are dashed horizontal lines.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`comparison_table`; rows of kind ``"CASIP target"`` are skipped.
    targets : sequence of casip.cells.Target, optional
        Roadmap stages; :func:`casip.cells.targets` by default.
    title : str, optional
        Chart title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    targets = roadmap_targets() if targets is None else list(targets)
    designs = table[table["kind"] != "CASIP target"]
    labels = [str(i) for i in designs.index]
    kinds = [str(k) for k in designs["kind"]]
    colours = [KIND_COLOURS.get(k, _OTHER_KIND) for k in kinds]
    title = title or "Cell energy and cost against the CASIP roadmap"

    # -- matplotlib
    fig = _mpl_figure(max(11.0, 1.2 * len(labels) * 3 / 2 + 4), 5.2)
    axes = fig.subplots(1, 3)
    x = np.arange(len(labels))
    for ax, (col, panel, ylabel) in zip(axes, _BAR_PANELS, strict=True):
        values = designs[col].to_numpy(dtype=float)
        ax.bar(x, np.nan_to_num(values, nan=0.0), color=colours, edgecolor="black", linewidth=0.5)
        top = np.nanmax(values) if np.isfinite(values).any() else 1.0
        for xi, v in zip(x, values, strict=True):
            if math.isfinite(v):
                text = format_value(v, "0")
            else:
                text = "no price" if col.startswith("cost") else "n/a"
            ax.annotate(text, (xi, 0 if not math.isfinite(v) else v), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")
        for line in target_lines(targets, col):
            ax.axhline(line.value, color=palette.stage_colour(line.stage),
                       linestyle="--", linewidth=1.3)
            ax.annotate(f"{line.value:g}", (1.0, line.value), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", fontsize=7,
                        color=palette.stage_colour(line.stage))
            top = max(top, line.value)
        ax.set_ylim(0, top * 1.15)
        ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(panel)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("design")
        ax.grid(axis="y", alpha=0.3)
    # One legend for kinds and targets, below the panels.
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=KIND_COLOURS.get(k, _OTHER_KIND), edgecolor="black", label=k)
               for k in dict.fromkeys(kinds)]
    for t in targets:
        parts = []
        if t.specific_energy_Wh_kg:
            parts.append(f"{t.specific_energy_Wh_kg:g} Wh/kg")
        if t.energy_density_Wh_L:
            parts.append(f"{t.energy_density_Wh_L:g} Wh/L")
        if parts:
            handles.append(Line2D([0], [0], color=palette.stage_colour(str(t.stage)),
                                  linestyle="--", label=f"{_stage_label(t)}: {', '.join(parts)}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
               fontsize=8, frameon=False)
    fig.suptitle(title)

    # -- plotly
    pfig = make_subplots(rows=1, cols=3, subplot_titles=[p[1] for p in _BAR_PANELS],
                         horizontal_spacing=0.07)
    shown: set[str] = set()
    for ci, (col, _panel, ylabel) in enumerate(_BAR_PANELS, start=1):
        for kind in dict.fromkeys(kinds):
            sel = [i for i, k in enumerate(kinds) if k == kind]
            vals = designs[col].to_numpy(dtype=float)[sel]
            pfig.add_trace(
                go.Bar(
                    x=[labels[i] for i in sel],
                    y=[None if not math.isfinite(v) else v for v in vals],
                    name=kind,
                    legendgroup=kind,
                    showlegend=kind not in shown,
                    marker_color=KIND_COLOURS.get(kind, _OTHER_KIND),
                    text=[format_value(v, "0") if math.isfinite(v) else "n/a" for v in vals],
                    textposition="outside",
                    customdata=[str(designs["name"].iloc[i]) for i in sel],
                    hovertemplate="%{customdata}<br>%{y:.1f} " + ylabel.split("[")[-1][:-1]
                    + "<extra>" + kind + "</extra>",
                ),
                row=1,
                col=ci,
            )
            shown.add(kind)
        for line in target_lines(targets, col):
            colour = palette.stage_colour(line.stage)
            pfig.add_hline(y=line.value, line_dash="dash", line_color=colour, row=1, col=ci,
                           annotation_text=f"{line.value:g}", annotation_position="top right",
                           annotation_font_color=colour, annotation_font_size=10)
            if ("stage " + line.stage) not in shown:  # a legend entry for the stage
                pfig.add_trace(
                    go.Scatter(
                        x=[None], y=[None], mode="lines",
                        line={"color": colour, "dash": "dash"},
                        name=_stage_label(line), legendgroup="stage " + line.stage,
                    ),
                    row=1, col=ci,
                )
                shown.add("stage " + line.stage)
        pfig.update_yaxes(title_text=ylabel, row=1, col=ci, rangemode="tozero")
        pfig.update_xaxes(title_text="design", tickangle=-35, row=1, col=ci,
                          categoryorder="array", categoryarray=labels)
    pfig.update_layout(title=title, barmode="overlay", template="plotly_white",
                       legend={"orientation": "h", "y": -0.35}, height=560,
                       margin={"b": 170})
    return Figures(title=title, png=fig, html=pfig)


def mass_breakdown_figures(
    metrics: Mapping[str, CellMetrics], title: str | None = None
) -> Figures:
    """Stacked horizontal bars: share of cell mass by component, one bar per design.

    Components that weigh nothing in every design are left out; the order of the components
    follows :data:`casip.design.engine.MASS_COMPONENTS` (electrodes, then inactive parts).
    """
    import plotly.graph_objects as go

    title = title or "Mass breakdown (share of cell mass)"
    labels = list(metrics)
    comps = [c for c in engine.MASS_COMPONENTS
             if any(m.mass_breakdown_g.get(c, 0.0) > 0 for m in metrics.values())]
    grams = np.array([[metrics[lab].mass_breakdown_g.get(c, 0.0) for c in comps] for lab in labels])
    totals = np.array([metrics[lab].mass_g for lab in labels])
    share = grams / totals[:, None] * 100 if len(labels) else grams
    # Okabe-Ito colours in turn; each further round of eight repeats them with another hatch.
    colours = {c: palette.colour(i) for i, c in enumerate(comps)}
    hatch_shapes = ("", "/", "x", ".")
    hatched = {c: hatch_shapes[(i // len(palette.PALETTE)) % len(hatch_shapes)]
               for i, c in enumerate(comps)}

    fig = _mpl_figure(11.0, max(3.0, 0.55 * len(labels) + 2.2))
    ax = fig.subplots()
    y = np.arange(len(labels))
    left = np.zeros(len(labels))
    for j, c in enumerate(comps):
        ax.barh(y, share[:, j], left=left, color=colours[c], edgecolor="white", linewidth=0.4,
                hatch=hatched[c] * 2 or None, label=c.replace("_", " "))
        for i in range(len(labels)):
            if share[i, j] >= 6:
                ax.text(left[i] + share[i, j] / 2, y[i], f"{share[i, j]:.0f}", ha="center",
                        va="center", fontsize=7)
        left += share[:, j]
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of cell mass [%]")
    ax.set_ylabel("design")
    ax.set_title(title)
    fig.legend(loc="outside right upper", fontsize=8, title="component", title_fontsize=8,
               frameon=False)

    pfig = go.Figure()
    for j, c in enumerate(comps):
        pfig.add_trace(
            go.Bar(
                y=labels,
                x=share[:, j],
                orientation="h",
                name=c.replace("_", " "),
                marker_color=colours[c],
                marker_pattern_shape=hatched[c],
                customdata=grams[:, j],
                hovertemplate="%{y}: %{x:.1f}% (%{customdata:.1f} g)<extra>"
                + c.replace("_", " ") + "</extra>",
            )
        )
    pfig.update_layout(
        barmode="stack",
        title=title,
        template="plotly_white",
        xaxis={"title": {"text": "share of cell mass [%]"}, "range": [0, 100]},
        yaxis={"title": {"text": "design"}, "autorange": "reversed"},
        legend={"title": {"text": "component"}, "traceorder": "normal"},
        height=max(320, 60 * len(labels) + 200),
    )
    return Figures(title=title, png=fig, html=pfig)


#: Most lines a sweep chart draws (values of the second parameter, evenly picked) and most
#: points per line (evenly thinned): beyond these a chart is unreadable and its HTML huge.
MAX_SWEEP_LINES = 10
MAX_SWEEP_POINTS_PER_LINE = 2000


def _evenly(n: int, k: int) -> np.ndarray:
    """Indices of ``k`` evenly spaced items out of ``n`` (all of them if ``n <= k``)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def sweep_figures(
    df: pd.DataFrame,
    params: Sequence[str],
    metrics: Sequence[str] = ("specific_energy_Wh_kg", "energy_density_Wh_L"),
    *,
    zipped: bool = False,
    title: str | None = None,
) -> Figures:
    """Sweep curves: each metric against the first swept parameter.

    With two or more parameters swept on a grid, one line per value (or combination of values)
    of the others; with more than :data:`MAX_SWEEP_LINES` of them, that many evenly spaced
    ones are drawn and the title says so. Points whose design did not fit (``status`` not 0)
    are gaps. A non-numeric parameter (a material id) is shown as categories.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`casip.design.sweep`.
    params : sequence of str
        The swept design paths, the x axis first.
    metrics : sequence of str
        Columns of ``df`` to plot, one panel each.
    zipped : bool
        The parameters were zipped (varied together): one line against the first; the
        values of the others are shown on hover in the HTML chart.
    title : str, optional
        Chart title.

    Returns
    -------
    Figures
        The matplotlib and plotly renderings.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    xname = params[0]
    others = [] if zipped else list(params[1:])
    title = title or f"Sweep of {', '.join(params)}"
    if others:
        groups = list(df.groupby(others, sort=True, dropna=False))
        keep = _evenly(len(groups), MAX_SWEEP_LINES)
        if len(keep) < len(groups):
            title += f" ({len(keep)} of {len(groups)} lines shown)"
        groups = [groups[i] for i in keep]
    else:
        groups = [((), df)]

    def group_label(key) -> str:
        key = key if isinstance(key, tuple) else (key,)
        parts = []
        for p, v in zip(others, key, strict=True):
            stem, _, unit = axis_label(p).partition(" [")
            unit = unit.rstrip("]")
            value = v if isinstance(v, str) else format_value(v)
            parts.append(f"{stem} = {value}" + (f" {unit}" if unit and unit != "-" else ""))
        return ", ".join(parts)

    numeric_x = pd.api.types.is_numeric_dtype(df[xname])
    hover_cols = list(params[1:]) if zipped else []

    fig = _mpl_figure(5.2 * len(metrics) + 1.5, 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    pfig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[axis_label(m) for m in metrics])
    for mi, metric in enumerate(metrics):
        ax = axes[mi]
        for gi, (key, sub) in enumerate(groups):
            if numeric_x:
                sub = sub.sort_values(xname, kind="stable")
            sub = sub.iloc[_evenly(len(sub), MAX_SWEEP_POINTS_PER_LINE)]
            ok = sub["status"] == 0 if "status" in sub else np.ones(len(sub), bool)
            ys = sub[metric].where(ok).to_numpy(dtype=float)
            xs = sub[xname].to_numpy(dtype=float) if numeric_x else sub[xname].astype(str)
            xs = np.asarray(xs)
            label = group_label(key) if others else axis_label(metric).split(" [")[0]
            colour = palette.colour(gi)
            markers = len(xs) <= 60
            ax.plot(xs, ys, marker=palette.marker(gi) if markers else None,
                    markersize=3 if len(xs) > 12 else 5, color=colour, label=label,
                    linestyle=palette.linestyle(gi))
            hover = None
            if hover_cols:
                hover = [
                    "<br>".join(f"{c} = {row[c]}" for c in hover_cols)
                    for _, row in sub[hover_cols].iterrows()
                ]
            pfig.add_trace(
                go.Scatter(
                    x=list(xs), y=[None if not math.isfinite(v) else v for v in ys],
                    mode="lines+markers" if markers else "lines", name=label, legendgroup=label,
                    showlegend=mi == 0, text=hover,
                    line={"color": colour, "dash": palette.plotly_dash(gi)},
                    marker={"symbol": palette.plotly_symbol(gi)},
                ),
                row=1, col=mi + 1,
            )
        ax.set_xlabel(axis_label(xname))
        ax.set_ylabel(axis_label(metric))
        ax.set_title(axis_label(metric).split(" [")[0].capitalize())
        ax.grid(alpha=0.3)
        if others:
            ax.legend(fontsize=7)
        pfig.update_xaxes(title_text=axis_label(xname), row=1, col=mi + 1)
        pfig.update_yaxes(title_text=axis_label(metric), row=1, col=mi + 1)
    fig.suptitle(title)
    pfig.update_layout(title=title, template="plotly_white", height=480,
                       showlegend=bool(others), legend={"title": {"text": ", ".join(others)}})
    return Figures(title=title, png=fig, html=pfig)


def figure_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes (Agg canvas)."""
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    return buf.getvalue()


def figure_html(fig, title: str = "CASIP chart") -> str:
    """A self-contained HTML page of a plotly figure: plotly.js is embedded, no CDN, no network.

    The page works offline; ``include_plotlyjs=True`` inlines the library (about 4.7 MB). Traces
    without a colour of their own take :data:`casip.palette.PALETTE` in turn.
    """
    if fig.layout.colorway is None:
        fig.update_layout(colorway=list(palette.PALETTE))
    html = fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False,
                       config={"displaylogo": False, "responsive": True})
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return html.replace("<head>", f"<head>\n    <title>{safe}</title>", 1)


def write_figures(figs: Figures, out_dir: str | Path, stem: str) -> list[Path]:
    """Write a chart as ``<stem>.png`` and ``<stem>.html`` in ``out_dir`` (atomically).

    Returns
    -------
    list of pathlib.Path
        The two files written.
    """
    out = ensure_dir(out_dir)
    png = write_bytes_atomic(out / f"{stem}.png", figure_png(figs.png))
    html = write_text_atomic(out / f"{stem}.html", figure_html(figs.html, figs.title))
    return [png, html]


__all__ = [
    "COLUMNS",
    "LFP_ID",
    "MAX_SWEEP_LINES",
    "MAX_SWEEP_POINTS_PER_LINE",
    "METRIC_COLUMNS",
    "Figures",
    "TargetLine",
    "axis_label",
    "breakdown_table",
    "comparison_table",
    "display_table",
    "energy_cost_figures",
    "figure_html",
    "figure_png",
    "format_number",
    "format_value",
    "looks_numeric",
    "mass_breakdown_figures",
    "published_table",
    "roadmap_targets",
    "sweep_figures",
    "target_lines",
    "to_markdown",
    "write_figures",
    "write_table",
]
