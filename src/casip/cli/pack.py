"""``casip pack ...``: battery packs built from CASIP cells (:mod:`casip.pack`).

- ``show FILE|ref:ID``: headline figures, mass / volume / cost breakdown, element demand;
  ``--json`` everything, ``--csv`` every number as ``section,name,value,unit``.
- ``references``: the reference packs, computed against published figures.
- ``fit FILE|ref:ID --length L --width W --height H``: how many whole cells fit an envelope.

See ``docs/pack.md``.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from casip.cli.common import (
    CsvOpt,
    JsonOpt,
    echo_json,
    handles_input_errors,
    make_console,
    print_df,
    records,
)

pack_app = typer.Typer(
    help="Battery packs: pack files (casip.pack/1), reference packs, envelope fits.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PackArg = Annotated[
    str,
    typer.Argument(metavar="PACK", help="A pack file (YAML, schema casip.pack/1) or ref:ID "
                   "of a reference pack (see 'casip pack references').", show_default=False),
]

_UNITS = {
    "cells": "", "series": "", "parallel": "", "modules": "", "nominal_voltage_V": "V",
    "gross_kWh": "kWh", "usable_kWh": "kWh", "mass_kg": "kg", "volume_L": "L",
    "length_mm": "mm", "width_mm": "mm", "height_mm": "mm", "specific_energy_Wh_kg": "Wh/kg",
    "usable_Wh_kg": "Wh/kg", "energy_density_Wh_L": "Wh/L", "gravimetric_cell_to_pack": "",
    "volumetric_cell_to_pack": "", "cost_usd_kWh": "USD/kWh",
}


def _long_table(m) -> pd.DataFrame:
    rows = [("headline", k, float(v), _UNITS.get(k, "")) for k, v in m.headline().items()]
    rows += [("cell", "specific_energy_Wh_kg", m.cell_specific_energy_Wh_kg, "Wh/kg"),
             ("cell", "energy_density_Wh_L", m.cell_energy_density_Wh_L, "Wh/L"),
             ("cell", "cell_usd_kWh", m.cell_usd_kWh, "USD/kWh")]
    rows += [("mass", k, v, "kg") for k, v in m.mass_breakdown_kg.items()]
    rows += [("volume", k, v, "L") for k, v in m.volume_breakdown_L.items()]
    rows += [("cost", k, v, "USD") for k, v in m.cost_breakdown_usd.items()]
    rows += [("elements", k, v, "kg") for k, v in m.element_demand_kg.items()]
    rows += [("details", k, v, "") for k, v in m.details.items()]
    return pd.DataFrame(rows, columns=["section", "name", "value", "unit"])


def _fmt(key: str, v: float) -> str:
    if key in ("cells", "series", "parallel", "modules"):
        return f"{int(v)}"
    if "cell_to_pack" in key:
        return f"{v:.3f}"
    return f"{v:,.1f}"


@pack_app.command("show")
@handles_input_errors
def show(pack: PackArg, json_: JsonOpt = False, csv: CsvOpt = False) -> None:
    """Evaluate one pack: kWh, mass, volume, Wh/kg, Wh/L, cell-to-pack ratios, $/kWh."""
    from casip.pack import evaluate_pack

    m = evaluate_pack(pack)
    if json_:
        echo_json({"source": pack, **m.to_dict()})
        return
    if csv:
        typer.echo(_long_table(m).to_csv(index=False), nl=False)
        return
    con = make_console()
    con.print(f"{m.name}\n  cell {m.cell} ({m.cell_name}), {m.integration}, "
              f"{m.series}s{m.parallel}p = {m.cells} cells"
              + (f" in {m.modules} modules" if m.modules else ""))
    head = pd.DataFrame({"value": [_fmt(k, v) for k, v in m.headline().items()],
                         "unit": [_UNITS.get(k, "") for k in m.headline()]},
                        index=list(m.headline()))
    head.index.name = "metric"
    print_df(con, head, title="Pack")
    print_df(con, m.breakdown().round({"cost_usd": 0}), title="Breakdown")
    for w in m.warnings:
        con.print(f"warning: {w}")


@pack_app.command("references")
@handles_input_errors
def references(json_: JsonOpt = False, csv: CsvOpt = False) -> None:
    """The reference packs: headline figures, and computed against published figures."""
    from casip.pack import compare_references, references_table

    table = references_table()
    comp = compare_references()
    if json_:
        echo_json({"packs": records(table, "pack"), "published": records(comp)})
        return
    if csv:
        typer.echo(comp.to_csv(index=False), nl=False)
        return
    con = make_console()
    cols = ["cell", "integration", "gross_kWh", "mass_kg", "specific_energy_Wh_kg",
            "energy_density_Wh_L", "gravimetric_cell_to_pack", "volumetric_cell_to_pack",
            "cost_usd_kWh"]
    shown = table[cols].round({"mass_kg": 1}).rename(columns={"cost_usd_kWh": "pack_usd_kWh"})
    print_df(con, shown, title="Reference packs")
    print_df(con, comp[["pack", "metric", "computed", "published", "difference"]],
             title="Computed vs published", index=False)
    for _, r in comp.iterrows():
        con.print(f"[{r['pack']} {r['metric']}] {r['source']}", soft_wrap=True)


@pack_app.command("fit")
@handles_input_errors
def fit(
    pack: PackArg,
    length: Annotated[float, typer.Option("--length", metavar="MM",
                                          help="Envelope length (outer), mm.")],
    width: Annotated[float, typer.Option("--width", metavar="MM",
                                         help="Envelope width (outer), mm.")],
    height: Annotated[float, typer.Option("--height", metavar="MM",
                                          help="Envelope height (outer), mm.")],
    parallel: Annotated[int | None, typer.Option(
        "--parallel", min=1,
        help="Cells in parallel (default: the pack file's; with a target voltage, as many "
        "strings as fit).",
        show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Fit whole cells into a pack envelope with the pack file's build: cells, kWh, mass."""
    from casip.pack import fit_envelope

    f = fit_envelope(pack, length, width, height, parallel=parallel)
    if json_:
        echo_json(f.to_dict())
        return
    con = make_console()
    con.print(f"{f.cells_fit} cells fit {length:g} x {width:g} x {height:g} mm ({f.rule})")
    if f.pack is None:
        con.print("not one series string fits: the envelope is too small for this cell")
        return
    m = f.pack
    con.print(f"{m.series}s{m.parallel}p = {m.cells} cells used: {m.gross_kWh:.1f} kWh gross, "
              f"{m.usable_kWh:.1f} kWh usable, {m.mass_kg:.0f} kg, "
              f"{m.specific_energy_Wh_kg:.0f} Wh/kg, {m.nominal_voltage_V:.0f} V; pack box "
              f"{m.length_mm:.0f} x {m.width_mm:.0f} x {m.height_mm:.0f} mm")


__all__ = ["fit", "pack_app", "references", "show"]
