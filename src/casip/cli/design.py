"""The design commands: ``show``, ``compare``, ``references``, ``sweep``, ``size``, ``schema``,
and the ``casip materials ...`` and ``casip reference ...`` groups.

The top-level commands are plain functions; :mod:`casip.cli` registers them on the app.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from casip.cli.common import (
    CsvOpt,
    DesignArg,
    JsonOpt,
    LithiumCarbonateOpt,
    MaterialsOpt,
    PricesOpt,
    echo_json,
    handles_input_errors,
    load_design,
    make_console,
    material_library,
    priced_material_library,
    print_df,
    records,
    reference_cell_ids,
    spinner,
    unique_labels,
    wrote,
)
from casip.errors import CasipInputError, Problem

#: ``casip materials ...``
materials_app = typer.Typer(
    help="Browse the materials library (bundled plus --materials files).", no_args_is_help=True
)
#: ``casip reference ...``
reference_app = typer.Typer(
    help="The reference cells: list them, show one, copy one to start a design.",
    no_args_is_help=True,
)


# --------------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------------


def _num(v: float | None) -> str:
    from casip.report import format_number

    return "—" if v is None else format_number(float(v))


_FRIENDLY = {"cost_usd": "materials cost", "cost_usd_kWh": "materials cost per energy",
             "np_ratio": "N/P ratio",
             "cell_cost_usd_kWh": "cell cost per energy (materials + manufacturing)"}


def _kv_table(title: str, items: Sequence[tuple[str, float]]) -> Table:
    from casip.report import axis_label

    t = Table(title=title, header_style="bold", title_justify="left")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("unit")
    for name, value in items:
        label = axis_label(name)
        stem, _, unit = label.partition(" [")
        stem = _FRIENDLY.get(name, stem)
        t.add_row(Text(stem), Text(_num(value)), Text(unit.rstrip("]").replace("-", "")))
    return t


def _print_metrics(console: Console, m, source: str, cell_usd_kWh: float | None = None) -> None:
    from casip.design import HEADLINE

    console.print(Text(f"{m.name}", style="bold"))
    console.print(Text(f"{m.kind}, {m.format}  ({source})"))
    console.print(Text(f"materials cost at price set {m.price_set}"))
    console.print()
    headline = [(k, getattr(m, k)) for k in HEADLINE]
    headline.insert(headline.index(("cost_usd_kWh", m.cost_usd_kWh)), ("cost_usd", m.cost_usd))
    if cell_usd_kWh is not None:  # the cell cost (casip.cost.manufacturing), labelled apart
        headline.insert(headline.index(("cost_usd_kWh", m.cost_usd_kWh)) + 1,
                        ("cell_cost_usd_kWh", cell_usd_kWh))
    console.print(_kv_table("Headline", headline))
    console.print(_kv_table("Geometry", list(m.geometry.items())))

    bd = m.breakdown()
    vol = pd.Series(m.volume_breakdown_cm3, dtype=float)
    t = Table(title="Mass and cost by component", header_style="bold", title_justify="left")
    for h, j in (("component", "left"), ("mass [g]", "right"), ("mass %", "right"),
                 ("cost [$]", "right"), ("cost %", "right")):
        t.add_column(Text(h), justify=j)  # type: ignore[arg-type]
    for comp, row in bd.iterrows():
        if row["mass_g"] == 0:
            continue
        t.add_row(Text(str(comp).replace("_", " ")), _num(row["mass_g"]),
                  f"{100 * row['mass_share']:.1f}", _num(row["cost_usd"]),
                  "—" if not math.isfinite(row["cost_share"]) else f"{100 * row['cost_share']:.1f}")
    t.add_row(Text("total", style="bold"), _num(m.mass_g), "100.0", _num(m.cost_usd),
              "—" if not math.isfinite(m.cost_usd) else "100.0")
    console.print(t)

    t = Table(title="Volume by component", header_style="bold", title_justify="left")
    t.add_column("component")
    t.add_column(Text("volume [cm³]"), justify="right")
    t.add_column("volume %", justify="right")
    for comp, v in vol.items():
        if v == 0:
            continue
        t.add_row(Text(str(comp).replace("_", " ")), _num(v), f"{100 * v / m.volume_cm3:.1f}")
    console.print(t)

    t = Table(title="Element demand", header_style="bold", title_justify="left")
    t.add_column("element")
    t.add_column("kg per GWh of cells", justify="right")
    for el, v in sorted(m.element_demand_kg_GWh.items(), key=lambda kv: -kv[1]):
        t.add_row(el, f"{v:,.0f}")
    console.print(t)

    if m.missing_cost:
        console.print(Text(
            "No price in the library for: " + ", ".join(m.missing_cost)
            + " (the cost per kWh is left blank; add cost_usd_kg with --materials)",
            style="yellow",
        ))
    for w in m.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))


@handles_input_errors
def show(
    design: DesignArg,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder for the mass-breakdown chart (PNG + HTML) and breakdown CSV.",
        ),
    ] = None,
    materials: MaterialsOpt = None,
    prices: PricesOpt = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
    csv: Annotated[
        bool, typer.Option("--csv", help="Print every number (section,name,value,unit) as CSV.")
    ] = False,
) -> None:
    """Evaluate one design: headline metrics, geometry, breakdowns, element demand, warnings."""
    from casip import report
    from casip.design import evaluate

    d, label, source = load_design(design)
    lib = priced_material_library(materials, prices, lithium_carbonate)
    m = evaluate(d, lib, source=source)
    from casip.cost.manufacturing import cell_cost, default_process

    cell = cell_cost(m, process=default_process(d)) if math.isfinite(m.cost_usd_kWh) else None
    files: list[Path] = []
    if out is not None:
        with spinner("writing charts"):
            files += report.write_figures(
                report.mass_breakdown_figures({label: m}, title=f"Mass breakdown of {m.name}"),
                out, "mass_breakdown",
            )
            files += report.write_table(
                report.breakdown_table(m), out, "breakdown", index=False
            )[:1]
    if json_:
        echo_json({"source": source, "label": label, **m.to_dict(),
                   "cell_cost": cell.to_dict() if cell else None, "files": files})
    elif csv:
        typer.echo(report.breakdown_table(m).to_csv(index=False), nl=False)
    else:
        _print_metrics(make_console(), m, source,
                       float(cell.cell_usd_kWh) if cell else None)
    wrote(files)


# --------------------------------------------------------------------------------------------
# compare and references
# --------------------------------------------------------------------------------------------


_COMPARE_COLUMNS = (
    "kind",
    "specific_energy_Wh_kg",
    "energy_density_Wh_L",
    "cost_usd_kWh",
    "cell_cost_usd_kWh",
    "specific_energy_vs_lfp",
    "energy_density_vs_lfp",
    "cost_vs_lfp",
    "specific_energy_vs_target",
    "energy_density_vs_target",
)


def _evaluate_specs(specs: Sequence[str], lib, designs: dict | None = None) -> dict:
    """Label -> CellMetrics of each design spec; ``designs`` (if given) is filled with label ->
    Design (what the cell cost needs beside the metrics: the process follows the design)."""
    from casip.design import evaluate

    loaded = [load_design(s) for s in specs]
    labels = unique_labels([lab for _, lab, _ in loaded])
    if designs is not None:
        designs.update({lab: d for lab, (d, _, _) in zip(labels, loaded, strict=True)})
    return {
        lab: evaluate(d, lib, source=src)
        for lab, (d, _, src) in zip(labels, loaded, strict=True)
    }


#: plant size of the cell cost column of ``casip compare`` [GWh/yr] (``casip cost cell``'s default)
COMPARE_PLANT_GWH = 10.0


def _with_cell_cost(table: pd.DataFrame, metrics: Mapping, designs: Mapping) -> pd.DataFrame:
    """Add ``cell_cost_usd_kWh`` (materials + scrap + manufacturing, :func:`casip.cost.cell_cost`
    at a :data:`COMPARE_PLANT_GWH` plant, on the process each design's separator calls for) after
    the materials cost; NaN for roadmap rows and designs without a materials cost."""
    from casip.cost import cell_cost
    from casip.cost.manufacturing import default_process

    values = {}
    for label, m in metrics.items():
        d = designs.get(label)
        if d is None and label in reference_cell_ids():  # the LFP baseline added afterwards
            d = load_design(f"ref:{label}")[0]
        process = default_process(d) if d is not None else None
        try:
            c = cell_cost(m, plant_GWh=COMPARE_PLANT_GWH, process=process)
            values[label] = float(c.cell_usd_kWh)
        except CasipInputError:
            values[label] = float("nan")
    col = pd.Series(values, dtype=float).reindex(table.index)
    out = table.copy()
    out.insert(list(out.columns).index("cost_usd_kWh") + 1, "cell_cost_usd_kWh", col.to_numpy())
    out.attrs.update(table.attrs)
    return out


def _with_baseline(metrics: dict, lib) -> dict:
    """Put the LFP reference first as the baseline if it is not among the designs."""
    from casip import report
    from casip.design import evaluate

    if report.LFP_ID in metrics or report.LFP_ID not in reference_cell_ids():
        return metrics
    try:
        base, _, src = load_design(f"ref:{report.LFP_ID}")
    except CasipInputError:
        return metrics
    return {report.LFP_ID: evaluate(base, lib, source=src), **metrics}


def _print_comparison(console: Console, table: pd.DataFrame, title: str) -> None:
    cols = [c for c in _COMPARE_COLUMNS if c in table.columns]
    print_df(console, table[cols], title=title)
    notes = []
    if table.attrs.get("baseline"):
        notes.append(f"'vs LFP' = ratio to {table.attrs['baseline']} (below 1 for cost is cheaper)")
    if table.attrs.get("target_stage"):
        notes.append(f"'of target' = share of the {table.attrs['target_stage']} target")
    for n in notes:
        console.print(Text(n, style="dim"))


def _print_notes(console: Console, metrics: Mapping) -> None:
    sets = sorted({m.price_set for m in metrics.values()})
    if sets:
        console.print(Text(f"cost = materials cost at price set {', '.join(sets)}"))
    for label, m in metrics.items():
        if m.missing_cost:
            console.print(Text(f"{label}: no price for {', '.join(m.missing_cost)}",
                               style="yellow"))
        for w in m.warnings:
            console.print(Text(f"{label}: warning: {w}", style="yellow"))


def _comparison_json(table: pd.DataFrame, metrics: Mapping, files: Sequence[Path]) -> dict:
    from casip.report import roadmap_targets

    return {
        "baseline": table.attrs.get("baseline"),
        "target_stage": table.attrs.get("target_stage"),
        "rows": records(table, "label"),
        "targets": [vars(t) for t in roadmap_targets()],
        "notes": {
            lab: {"missing_cost": m.missing_cost, "warnings": m.warnings,
                  "price_set": m.price_set}
            for lab, m in metrics.items()
        },
        "files": list(files),
    }


def _write_comparison(table: pd.DataFrame, metrics: Mapping, out: Path) -> list[Path]:
    from casip import report

    files = report.write_table(table, out, "comparison")
    files += report.write_figures(report.energy_cost_figures(table), out, "energy_cost")
    files += report.write_figures(report.mass_breakdown_figures(metrics), out, "mass_breakdown")
    return files


@handles_input_errors
def compare(
    designs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DESIGN",
            help="Design files and/or ref:ID; none = all reference cells.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Folder for the comparison table (CSV, Markdown) and charts."
        ),
    ] = None,
    materials: MaterialsOpt = None,
    prices: PricesOpt = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
) -> None:
    """Designs side by side with the CASIP roadmap targets and ratios to LFP."""
    from casip import report

    specs = list(designs or []) or [f"ref:{c}" for c in reference_cell_ids()]
    lib = priced_material_library(materials, prices, lithium_carbonate)
    designs_of: dict = {}
    metrics = _with_baseline(_evaluate_specs(specs, lib, designs_of), lib)
    table = _with_cell_cost(report.comparison_table(metrics), metrics, designs_of)
    files: list[Path] = []
    if out is not None:
        with spinner("writing tables and charts"):
            files = _write_comparison(table, metrics, out)
    if json_:
        echo_json(_comparison_json(table, metrics, files))
    elif csv:
        typer.echo(table.to_csv(), nl=False)
    else:
        console = make_console()
        _print_comparison(console, table, "Designs against LFP and the CASIP roadmap")
        _print_notes(console, metrics)
        console.print(Text(f"cell_cost = materials + scrap + manufacturing at a "
                           f"{COMPARE_PLANT_GWH:g} GWh/yr plant ('casip cost cell')"))
    wrote(files)


@handles_input_errors
def references(
    out: Annotated[
        Path,
        typer.Option(
            metavar="DIR", help="Folder for the tables (CSV, Markdown) and charts (PNG, HTML)."
        ),
    ] = Path("casip-output"),
    materials: MaterialsOpt = None,
    prices: PricesOpt = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
    csv: Annotated[
        bool, typer.Option("--csv", help="Print the comparison table as CSV on stdout.")
    ] = False,
) -> None:
    """Compute every reference cell; compare with LFP, the roadmap and published figures."""
    from casip import report
    from casip.cells import compare as compare_published

    lib = priced_material_library(materials, prices, lithium_carbonate)
    metrics = _evaluate_specs([f"ref:{c}" for c in reference_cell_ids()], lib)
    table = report.comparison_table(metrics)
    published = report.published_table(compare_published(lib))
    with spinner("writing tables and charts"):
        files = _write_comparison(table, metrics, out)
        files += report.write_table(published, out, "published", index=False)
    if json_:
        body = _comparison_json(table, metrics, files)
        body["published"] = records(published)
        echo_json(body)
    elif csv:
        typer.echo(table.to_csv(), nl=False)
    else:
        console = make_console()
        _print_comparison(console, table, "Reference cells against LFP and the CASIP roadmap")
        console.print()
        print_df(console, published.drop(columns=["source", "note"], errors="ignore"),
                  title="Computed versus published (sources in published.md)", index=False)
        _print_notes(console, metrics)
    wrote(files)


# --------------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------------

_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PARAM_EXPECTED = "PATH=START:STOP:NUM (e.g. cathode.thickness_um=40:160:25) or PATH=V1,V2,..."
#: Most points one sweep may ask for on the command line.
MAX_SWEEP_POINTS = 10_000_000


def _scalar(text: str) -> int | float | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        return text
    if not math.isfinite(v):
        raise ValueError(text)
    return v


def parse_param(spec: str) -> tuple[str, list]:
    """Parse one ``--param`` value: ``PATH=START:STOP:NUM`` or ``PATH=V1,V2,...``.

    Parameters
    ----------
    spec : str
        ``cathode.thickness_um=40:160:25`` (25 evenly spaced values from 40 to 160, both
        included) or ``separator.thickness_um=10,20,30`` or ``cathode.active=NMC811,NMC622``.

    Returns
    -------
    tuple of (str, list)
        The design path and its values.

    Raises
    ------
    CasipInputError
        Naming the ``--param`` value and the expected form.
    """

    def bad(message: str) -> CasipInputError:
        return CasipInputError(Problem("--param", message, spec, _PARAM_EXPECTED))

    path, eq, rhs = spec.partition("=")
    path, rhs = path.strip(), rhs.strip()
    if not eq or not path or not rhs:
        raise bad("expected a design path, '=' and values")
    if not _PATH_RE.match(path):
        raise bad(f"{path!r} is not a design field path such as cathode.thickness_um")
    if ":" in rhs:
        parts = rhs.split(":")
        if len(parts) != 3:
            raise bad("a range needs three parts START:STOP:NUM")
        try:
            start, stop = float(parts[0]), float(parts[1])
        except ValueError:
            raise bad("START and STOP must be numbers") from None
        try:
            num = int(parts[2])
        except ValueError:
            raise bad("NUM (the number of points) must be a whole number") from None
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise bad("START and STOP must be finite numbers")
        if not 1 <= num <= MAX_SWEEP_POINTS:
            raise bad(f"NUM must be between 1 and {MAX_SWEEP_POINTS:,}")
        # Rounded to 12 significant figures: 0.3, not 0.30000000000000004.
        return path, [float(f"{v:.12g}") for v in np.linspace(start, stop, num)]
    items = [s.strip() for s in rhs.split(",")]
    if any(not s for s in items):
        raise bad("an empty value in the comma-separated list")
    try:
        return path, [_scalar(s) for s in items]
    except ValueError:
        raise bad("values must be finite numbers or material ids") from None


@handles_input_errors
def sweep(
    design: DesignArg,
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            metavar="PATH=VALUES",
            help="PATH=START:STOP:NUM or PATH=V1,V2,... (repeatable; the first is the x axis).",
            show_default=False,
        ),
    ],
    zip_: Annotated[
        bool,
        typer.Option("--zip", help="Vary the parameters together instead of on a full grid."),
    ] = False,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METRIC",
            help="Metric to chart (repeatable); default specific_energy_Wh_kg and "
            "energy_density_Wh_L.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Folder for sweep.csv and the sweep curves (PNG + HTML)."
        ),
    ] = None,
    materials: MaterialsOpt = None,
    prices: PricesOpt = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
    max_rows: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Rows to print in the terminal table (all go to --csv/--out).",
        ),
    ] = 100,
) -> None:
    """Evaluate a design over ranges of its fields (one vectorised call)."""
    from casip import report
    from casip.design import HEADLINE
    from casip.design import sweep as run_sweep
    from casip.design.engine import STATUS

    parsed: dict[str, list] = {}
    for spec in param:
        path, values = parse_param(spec)
        if path in parsed:
            raise CasipInputError(Problem("--param", "the same path is given twice", path,
                                          "each design path once"))
        parsed[path] = values
    n_points = math.prod(len(v) for v in parsed.values()) if not zip_ else len(
        next(iter(parsed.values())))
    if n_points > MAX_SWEEP_POINTS:
        raise CasipInputError(Problem("--param", "the grid has too many points", n_points,
                                      f"at most {MAX_SWEEP_POINTS:,} (use --zip or fewer values)"))
    metrics = list(metric or ("specific_energy_Wh_kg", "energy_density_Wh_L"))
    for mname in metrics:
        if mname not in HEADLINE:
            close = difflib.get_close_matches(mname, HEADLINE, n=3)
            raise CasipInputError(Problem("--metric", "unknown metric", mname,
                                          "one of: " + ", ".join(close or HEADLINE)))

    d, label, source = load_design(design)
    lib = priced_material_library(materials, prices, lithium_carbonate)
    with spinner(f"evaluating {n_points:,} designs"):
        try:
            df = run_sweep(d, parsed, grid=not zip_, library=lib)
        except CasipInputError as exc:
            if exc.source:
                raise
            raise CasipInputError(exc.problems, source=f"sweep of {source}") from None
    df.insert(len(df.columns), "status_message",
              [STATUS.get(int(s), "unknown") for s in df["status"]])

    files: list[Path] = []
    if out is not None:
        from casip.io import ensure_dir, write_text_atomic

        with spinner("writing the sweep table and curves"):
            folder = ensure_dir(out)
            files.append(write_text_atomic(folder / "sweep.csv", df.to_csv(index=False)))
            files += report.write_figures(
                report.sweep_figures(df, list(parsed), metrics, zipped=zip_,
                                     title=f"{d.name}: sweep of {', '.join(parsed)}"),
                out, "sweep",
            )
    shown = [*parsed, "capacity_Ah", "energy_Wh", "specific_energy_Wh_kg",
             "energy_density_Wh_L", "cost_usd_kWh"]
    shown += [m for m in metrics if m not in shown]
    if json_:
        echo_json({
            "design": label, "source": source, "grid": not zip_,
            "params": parsed, "points": len(df),
            "rows": records(df), "files": files,
        })
    elif csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        console = make_console()
        view = df[[*shown, "status"]].copy()
        if (view["status"] != 0).any():
            view["status"] = df["status_message"]
        else:
            view = view.drop(columns="status")
        title = f"{d.name}: {len(df):,} points" + (" (zipped)" if zip_ else "")
        print_df(console, view.head(max_rows), title=title, index=False)
        if len(df) > max_rows:
            console.print(Text(f"... {len(df) - max_rows:,} more rows: use --csv or --out",
                               style="dim"))
        for w in df.attrs.get("warnings", []):
            console.print(Text(f"warning: {w}", style="yellow"))
        bad = int((df["status"] != 0).sum())
        if bad:
            console.print(Text(f"{bad} points do not fit the cell format (see status)",
                               style="yellow"))
    wrote(files)


# --------------------------------------------------------------------------------------------
# size
# --------------------------------------------------------------------------------------------


def _sizes_mm(option: str, text: str | None) -> tuple[float, ...] | None:
    """``W,H,T`` (or ``D,H`` for a cylinder's envelope) in mm."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 3) or not all(math.isfinite(v) and v > 0 for v in values):
        raise CasipInputError(Problem(option, "expected sizes in mm separated by commas", text,
                                      "WIDTH,HEIGHT,THICKNESS (or DIAMETER,HEIGHT), e.g. "
                                      "320,130,12"))
    return values


@handles_input_errors
def size(
    design: DesignArg,
    energy_wh: Annotated[
        float | None,
        typer.Option("--energy-wh", metavar="WH", help="Target energy [Wh].", show_default=False),
    ] = None,
    capacity_ah: Annotated[
        float | None,
        typer.Option("--capacity-ah", metavar="AH", help="Target capacity [Ah].",
                     show_default=False),
    ] = None,
    envelope_mm: Annotated[
        str | None,
        typer.Option("--envelope-mm", metavar="W,H,T",
                     help="Target outer box [mm]: the cell fills it (cylinder: D,H).",
                     show_default=False),
    ] = None,
    free: Annotated[
        str | None,
        typer.Option(metavar="DIM", help="Dimension to solve for: pouch layers (default), "
                     "electrode_height, electrode_width, electrode_area; prismatic layers "
                     "(default; the can thickness follows), height, length; cylindrical height "
                     "(default), diameter.", show_default=False),
    ] = None,
    rounding: Annotated[
        str | None,
        typer.Option(metavar="RULE", help="Whole layer counts: up (default: the target is "
                     "met), nearest or down.", show_default=False),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--sweep", "-p", metavar="PATH=VALUES",
                     help="Size every point of a sweep: PATH=START:STOP:NUM or PATH=V1,V2,... "
                     "(repeatable).", show_default=False),
    ] = None,
    zip_: Annotated[
        bool, typer.Option("--zip", help="Vary the sweep parameters together, not on a grid.")
    ] = False,
    within_mm: Annotated[
        str | None,
        typer.Option("--within-mm", metavar="W,H,T",
                     help="A limit on the sized cell's outer size; rows beyond it are flagged.",
                     show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Folder for sized.csv (and sized.yaml for one design)."),
    ] = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
    max_rows: Annotated[
        int, typer.Option(min=0, metavar="N", help="Rows to print in the terminal table.")
    ] = 100,
) -> None:
    """Size a design to a target energy, capacity or envelope (every point of a sweep)."""
    from casip.design.sizing import size as run_size
    from casip.design.sizing import size_design

    given = [(k, v) for k, v in (("energy_Wh", energy_wh), ("capacity_Ah", capacity_ah),
                                 ("envelope_mm", _sizes_mm("--envelope-mm", envelope_mm)))
             if v is not None]
    if len(given) != 1:
        raise CasipInputError(Problem("--energy-wh/--capacity-ah/--envelope-mm",
                                      "give exactly one target", len(given) or None,
                                      "e.g. --energy-wh 100"))
    target = dict(given)
    parsed: dict[str, list] = {}
    for spec in param or []:
        path, values = parse_param(spec)
        if path in parsed:
            raise CasipInputError(Problem("--sweep", "the same path is given twice", path,
                                          "each design path once"))
        parsed[path] = values
    n_points = 1 if not parsed else (
        len(next(iter(parsed.values()))) if zip_ else math.prod(len(v) for v in parsed.values()))
    if n_points > MAX_SWEEP_POINTS:
        raise CasipInputError(Problem("--sweep", "the grid has too many points", n_points,
                                      f"at most {MAX_SWEEP_POINTS:,} (use --zip or fewer values)"))
    d, label, source = load_design(design)
    lib = material_library(materials)
    with spinner(f"sizing {n_points:,} designs"):
        try:
            df = run_size(d, target, free, rounding=rounding, sweep=parsed or None,
                          grid=not zip_, within_mm=_sizes_mm("--within-mm", within_mm),
                          library=lib)
        except CasipInputError as exc:
            if exc.source:
                raise
            raise CasipInputError(exc.problems, source=f"sizing of {source}") from None
    files: list[Path] = []
    if out is not None:
        from casip.io import ensure_dir, write_text_atomic

        folder = ensure_dir(out)
        files.append(write_text_atomic(folder / "sized.csv", df.to_csv(index=False)))
        if not parsed and int(df["sizing_status"].iloc[0]) == 0:
            import yaml

            sized = size_design(d, target, free, rounding=rounding, library=lib,
                                within_mm=_sizes_mm("--within-mm", within_mm))
            text = yaml.safe_dump(sized.model_dump(mode="json", by_alias=True, exclude_none=True),
                                  sort_keys=False, allow_unicode=True)
            files.append(write_text_atomic(folder / "sized.yaml", text))
    attrs = df.attrs
    if json_:
        echo_json({
            "design": label, "source": source, "target": attrs["target"], "free": attrs["free"],
            "free_paths": attrs["free_paths"], "rounding": attrs["rounding"],
            "rounding_rule": attrs["rounding_rule"], "params": parsed, "points": len(df),
            "rows": records(df), "warnings": attrs["warnings"], "files": files,
        })
    elif csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        console = make_console()
        (kind, value), = attrs["target"].items()
        shown = [*parsed, *attrs["free_paths"]]
        shown += [c for c in (f"achieved_{kind}", "overshoot", "cell_width_mm",
                              "cell_height_mm", "cell_thickness_mm", "capacity_Ah", "energy_Wh",
                              "specific_energy_Wh_kg", "energy_density_Wh_L", "cost_usd_kWh")
                  if c in df.columns and c not in shown]
        view = df[shown].copy()
        if (df["sizing_status"] != 0).any():
            view["sizing"] = df["sizing_message"]
        tv = " x ".join(f"{v:g}" for v in value) if kind == "envelope_mm" else f"{value:g}"
        print_df(console, view.head(max_rows), index=False,
                 title=f"{d.name}: sized to {kind} {tv}, free {attrs['free']}")
        if len(df) > max_rows:
            console.print(Text(f"... {len(df) - max_rows:,} more rows: use --csv or --out",
                               style="dim"))
        console.print(Text(attrs["rounding_rule"], style="dim"))
        for w in attrs["warnings"]:
            console.print(Text(f"warning: {w}", style="yellow"))
        bad = int((df["sizing_status"] != 0).sum())
        if bad:
            console.print(Text(f"{bad} points could not be sized (see sizing)", style="yellow"))
    wrote(files)


# --------------------------------------------------------------------------------------------
# materials
# --------------------------------------------------------------------------------------------

_MATERIAL_VALUES = (
    ("density_g_cm3", "g/cm³"),
    ("specific_capacity_mAh_g", "mAh/g"),
    ("theoretical_specific_capacity_mAh_g", "mAh/g"),
    ("average_voltage_V", "V vs Li/Li+"),
    ("cost_usd_kg", "$/kg"),
    ("ionic_conductivity_S_cm", "S/cm"),
    ("activation_energy_eV", "eV"),
    ("critical_current_density_mA_cm2", "mA/cm²"),
)


@materials_app.command("list")
@handles_input_errors
def materials_list(
    category: Annotated[
        str | None,
        typer.Option(metavar="CATEGORY", help="Only this category, e.g. cathode_active."),
    ] = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
) -> None:
    """List the materials with their main values."""
    from casip.materials import Category

    lib = material_library(materials)
    df = lib.table()
    if category is not None:
        cats = [c.value for c in Category]
        if category not in cats:
            raise CasipInputError(Problem("--category", "unknown category", category,
                                          "one of: " + ", ".join(cats)))
        df = df[df["category"] == category]
    if json_:
        echo_json(records(df))
        return
    if csv:
        typer.echo(df.to_csv(index=False), nl=False)
        return
    cols = ["id", "name", "category", "density_g_cm3", "specific_capacity_mAh_g",
            "average_voltage_V", "cost_usd_kg"]
    view = df[cols].rename(columns={
        "density_g_cm3": "density [g/cm³]", "specific_capacity_mAh_g": "capacity [mAh/g]",
        "average_voltage_V": "voltage vs Li [V]", "cost_usd_kg": "cost [$/kg]",
    }).set_index("id")
    view.index.name = "id"
    print_df(make_console(), view, title=f"{len(view)} materials (values with sources: "
              "casip materials show ID)")


@materials_app.command("show")
@handles_input_errors
def materials_show(
    material_id: Annotated[str, typer.Argument(metavar="ID", help="Material id, e.g. NMC811.")],
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """One material: every value with its unit and source."""
    lib = material_library(materials)
    if material_id not in lib:
        close = difflib.get_close_matches(material_id, list(lib), n=5, cutoff=0.4)
        raise CasipInputError(Problem(
            "ID", "unknown material", material_id,
            "an id from 'casip materials list'"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
        ))
    m = lib[material_id]
    used = sorted(k for k in m.sources_used() if k in lib.sources)
    if json_:
        echo_json({
            **m.model_dump(mode="json"),
            "origin": lib.origin.get(m.id),
            "sources": {k: lib.sources[k].model_dump(mode="json") for k in used},
        })
        return
    console = make_console()
    console.print(Text(f"{m.id}: {m.name}", style="bold"))
    console.print(Text(f"category {m.category.value}; from {lib.origin.get(m.id, '?')}"))
    if m.formula:
        console.print(Text(f"formula {m.formula}"))
    if m.composition_by_mass:
        console.print(Text("composition by mass: " + ", ".join(
            f"{k} {v:g}" for k, v in m.composition_by_mass.items())))
    t = Table(header_style="bold")
    for h in ("property", "value", "unit", "source", "note"):
        t.add_column(h, justify="right" if h == "value" else "left", overflow="fold")
    for name, unit in _MATERIAL_VALUES:
        v = getattr(m, name)
        if v is None:
            continue
        t.add_row(Text(name), Text(f"{v.value:g}"), Text(unit), Text(v.source),
                  Text(v.note or ""))
    console.print(t)
    if m.notes:
        console.print(Text(m.notes))
    if used:
        s = Table(title="Sources", header_style="bold", title_justify="left")
        for h in ("key", "quality", "citation"):
            s.add_column(h, overflow="fold")
        for k in used:
            src = lib.sources[k]
            s.add_row(Text(k), Text(src.quality.value),
                      Text(src.citation + (f" {src.url}" if src.url else "")))
        console.print(s)


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------


@handles_input_errors
def schema(
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the schema to this file instead of stdout."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """The JSON Schema of the design file format (casip.design/1), for editors and forms."""
    from casip.design import json_schema
    from casip.io import write_text_atomic

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is not None:
        path = write_text_atomic(out, text)
        if json_:
            echo_json({"files": [path]})
        wrote([path])
    else:
        typer.echo(text, nl=False)


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------


def _check_reference(cell_id: str) -> None:
    ids = reference_cell_ids()
    if cell_id not in ids:
        raise CasipInputError(Problem("ID", "unknown reference cell", cell_id,
                                      "one of: " + ", ".join(ids)))


@reference_app.command("list")
@handles_input_errors
def reference_list(json_: JsonOpt = False) -> None:
    """The reference cells with their names and kinds."""
    rows = []
    for cid in reference_cell_ids():
        d, _, _ = load_design(f"ref:{cid}")
        rows.append({"id": cid, "name": d.name, "kind": d.kind.value, "format": d.format.type})
    if json_:
        echo_json(rows)
        return
    df = pd.DataFrame(rows).set_index("id")
    print_df(make_console(), df, title="Reference cells (casip reference show ID)")


@reference_app.command("show")
@handles_input_errors
def reference_show(
    cell_id: Annotated[str, typer.Argument(metavar="ID", help="Reference cell id.")],
    json_: JsonOpt = False,
) -> None:
    """A reference cell's design file and the published figures it is checked against."""
    from casip.cells import published, reference_text

    _check_reference(cell_id)
    text = reference_text(cell_id)
    pubs = published(cell_id)
    if json_:
        d, _, _ = load_design(f"ref:{cell_id}")
        echo_json({
            "id": cell_id,
            "design": d.model_dump(mode="json", by_alias=True, exclude_none=True),
            "published": [vars(p) for p in pubs],
        })
        return
    console = make_console()
    console.print(Text(text.rstrip("\n")))
    if pubs:
        console.print()
        df = pd.DataFrame([vars(p) for p in pubs])[["metric", "value", "source", "note"]]
        print_df(console, df, title="Published figures", index=False)


@reference_app.command("copy")
@handles_input_errors
def reference_copy(
    cell_id: Annotated[str, typer.Argument(metavar="ID", help="Reference cell id.")],
    dest: Annotated[
        Path,
        typer.Argument(metavar="DEST", help="New design file (or a folder: DEST/ID.yaml)."),
    ],
    json_: JsonOpt = False,
) -> None:
    """Copy a reference cell's design file to start your own (never overwrites a file)."""
    from casip.cells import reference_text
    from casip.io import write_text_atomic

    _check_reference(cell_id)
    target = dest / f"{cell_id}.yaml" if dest.is_dir() else dest
    path = write_text_atomic(target, reference_text(cell_id), overwrite=False)
    if json_:
        echo_json({"id": cell_id, "path": path})
    else:
        typer.echo(f"copied {cell_id} to {path}; edit it, then: casip show {path}")


