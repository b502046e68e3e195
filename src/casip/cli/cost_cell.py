"""``casip cost cell DESIGN``: the cell cost (materials + scrap + manufacturing) of one design.

Registered on the ``casip cost`` group by :mod:`casip.cli`. Prints the breakdown per kWh of good
cells; ``--out DIR`` writes the waterfall and tornado charts (PNG + HTML) and the breakdown CSV;
``--json`` prints the whole :class:`casip.cost.manufacturing.CostBreakdown` and the price set.
``--prices NAME`` prices the materials at another dated set (the most recent by default, as
``casip show``), and ``--lithium-carbonate USD_KG`` moves every lithium-linked price.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from casip.cli.common import (
    DesignArg,
    JsonOpt,
    LithiumCarbonateOpt,
    MaterialsOpt,
    PricesOpt,
    echo_json,
    handles_input_errors,
    load_design,
    make_console,
    priced_material_library,
    spinner,
    wrote,
)


@handles_input_errors
def cell(
    design: DesignArg,
    plant_gwh: Annotated[
        float, typer.Option("--plant-gwh", help="Plant output, GWh of good cells per year.")
    ] = 10.0,
    process: Annotated[
        str | None,
        typer.Option(help="liquid, sulfide or oxide (default: from the design's separator).",
                     show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Folder for the waterfall and tornado charts and CSV."),
    ] = None,
    materials: MaterialsOpt = None,
    prices: PricesOpt = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Cell cost per kWh: materials + scrap (yield) + each process step + overheads."""
    from casip.cost.manufacturing import OVERHEAD_LABELS, default_process, manufacturing_cost
    from casip.design import evaluate

    d, label, source = load_design(design)
    m = evaluate(d, priced_material_library(materials, prices, lithium_carbonate), source=source)
    proc = process or default_process(d)
    c = manufacturing_cost(m, plant_GWh=plant_gwh, process=proc)
    files: list[Path] = []
    if out is not None:
        from casip import report
        from casip.cost.charts import tornado_figures, waterfall_figures
        from casip.cost.manufacturing import sensitivity

        with spinner("writing charts"):
            files += report.write_figures(waterfall_figures(c), out, f"{label}-cost-waterfall")
            base, bars = sensitivity(m, plant_GWh=plant_gwh, process=proc)
            files += report.write_figures(tornado_figures(base, bars), out,
                                          f"{label}-cost-tornado")
            files += report.write_table(c.table(), out, f"{label}-cost", index=False)[:1]
    if json_:
        echo_json({"source": source, "label": label, "price_set": m.price_set, **c.to_dict(),
                   "files": files})
        wrote(files)
        return
    console = make_console()
    console.print(Text(f"{m.name}: cell cost, {proc} process, {plant_gwh:g} GWh/yr plant, "
                       f"materials at price set {m.price_set}", style="bold"))
    t = Table(title="Cost per kWh of good cells", header_style="bold", title_justify="left")
    t.add_column("item")
    t.add_column("$/kWh", justify="right")
    t.add_row("materials cost (bill of materials)", f"{c.materials_usd_kWh:.2f}")
    t.add_row("scrap (materials lost to yield)", f"{c.scrap_usd_kWh:.2f}")
    for s, v in c.steps_usd_kWh.items():
        t.add_row(f"  {c.step_labels[s]} (capital {v['capital']:.2f}, labour "
                  f"{v['labour']:.2f}, energy {v['energy']:.2f})", f"{v['total']:.2f}")
    for k, v in c.overheads_usd_kWh.items():
        t.add_row(f"  {OVERHEAD_LABELS[k]}", f"{v:.2f}")
    t.add_row("manufacturing cost", f"{c.manufacturing_usd_kWh:.2f}")
    t.add_row(Text("cell cost", style="bold"), Text(f"{c.cell_usd_kWh:.2f}", style="bold"))
    console.print(t)
    console.print(Text(
        f"line yield {100 * c.line_yield:.1f} %, investment {c.investment_MUSD:,.0f} M$ "
        f"({c.investment_MUSD / plant_gwh:.0f} M$ per GWh/yr), dry room "
        f"{c.dry_room_area_m2:,.0f} m2, {c.energy_kWh_per_kWh:.1f} kWh of plant energy per kWh",
        style="dim"))
    wrote(files)


__all__ = ["cell"]
