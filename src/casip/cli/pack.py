"""``casip pack ...``: battery packs built from CASIP cells (:mod:`casip.pack`).

- ``show FILE|ref:ID``: headline figures, mass / volume / cost breakdown, element demand;
  ``--json`` everything, ``--csv`` every number as ``section,name,value,unit``.
- ``references``: the reference packs, computed against published figures.
- ``fit FILE|ref:ID --length L --width W --height H [--orientation NAME]``: how many whole
  cells fit an envelope, every orientation tried (``--json``, ``--csv`` the candidates).
- ``gains --out DIR``: cell-level against pack-level Wh/kg and Wh/L gain over LFP (PNG + HTML).
- ``charge FILE|ref:ID --charger-kw KW``: pack 10-80 % fast charge from the cell's physics.

See ``docs/pack.md``.
"""

from __future__ import annotations

from pathlib import Path
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
    wrote,
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
def show(
    pack: PackArg,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the breakdown chart (PNG + HTML).")
    ] = None,
) -> None:
    """Evaluate one pack: kWh, mass, volume, Wh/kg, Wh/L, cell-to-pack ratios, $/kWh."""
    from casip.pack import evaluate_pack

    m = evaluate_pack(pack)
    files: list[Path] = []
    if out is not None:
        from casip.pack.charts import breakdown_chart

        files = breakdown_chart(m, out)
    if json_:
        echo_json({"source": pack, **m.to_dict(), "files": [str(f) for f in files]})
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
    wrote(files)


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
    orientation: Annotated[str | None, typer.Option(
        "--orientation", metavar="NAME",
        help="Pin the orientation: upright_length, upright_width, flat_length or flat_width "
        "(flat: pouch and prismatic cells only). Default: the one whose pack has the most "
        "cells.", show_default=False)] = None,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
) -> None:
    """Fit whole cells into a pack envelope with the pack file's build: cells, kWh, mass.

    Every admissible orientation is tried and listed; the chosen one is marked.
    """
    from casip.pack import fit_envelope

    f = fit_envelope(pack, length, width, height, parallel=parallel, orientation=orientation)
    if json_:
        echo_json(f.to_dict())
        return
    table = f.candidates_table()
    if csv:
        typer.echo(table.to_csv(index=False), nl=False)
        return
    con = make_console()
    shown = table.drop(columns=["description"]).set_index("orientation").round(
        {"gross_kWh": 1, "mass_kg": 0})
    print_df(con, shown, title="Orientations tried")
    con.print(f"{f.cells_fit} cells fit {length:g} x {width:g} x {height:g} mm, orientation "
              f"{f.orientation} ({f.rule})")
    if f.pack is None:
        con.print("not one series string fits: the envelope is too small for this cell")
        return
    m = f.pack
    con.print(f"{m.series}s{m.parallel}p = {m.cells} cells used: {m.gross_kWh:.1f} kWh gross, "
              f"{m.usable_kWh:.1f} kWh usable, {m.mass_kg:.0f} kg, "
              f"{m.specific_energy_Wh_kg:.0f} Wh/kg, {m.nominal_voltage_V:.0f} V; pack box "
              f"{m.length_mm:.0f} x {m.width_mm:.0f} x {m.height_mm:.0f} mm")


@pack_app.command("gains")
@handles_input_errors
def gains(
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNG and HTML.")] = Path(
        "casip-output"),
    pack_kwh: Annotated[float, typer.Option("--pack-kwh", min=1.0,
                                            help="Target gross energy of every pack [kWh].")
                        ] = 80.0,
    json_: JsonOpt = False,
) -> None:
    """Cell-level against pack-level Wh/kg and Wh/L gain over LFP, every reference cell."""
    from casip.pack.charts import gain_table, gains_chart

    rows = gain_table(pack_kwh)
    files = gains_chart(rows, out)
    if json_:
        echo_json({"baseline": "lfp-blade", "target_kWh": pack_kwh, "rows": rows,
                   "files": [str(f) for f in files]})
        return
    cols = ["integration", "cell_Wh_kg", "pack_Wh_kg", "cell_gain_Wh_kg", "pack_gain_Wh_kg",
            "cell_Wh_L", "pack_Wh_L", "cell_gain_Wh_L", "pack_gain_Wh_L"]
    df = pd.DataFrame(rows).set_index("cell")[cols]
    df = df.round({c: 2 if "gain" in c else 0 for c in cols[1:]}).rename(columns={
        "cell_Wh_kg": "cell Wh/kg", "pack_Wh_kg": "pack Wh/kg", "cell_gain_Wh_kg": "cell x",
        "pack_gain_Wh_kg": "pack x", "cell_Wh_L": "cell Wh/L", "pack_Wh_L": "pack Wh/L",
        "cell_gain_Wh_L": "cell x/L", "pack_gain_Wh_L": "pack x/L"})
    print_df(make_console(), df, title=f"Gain over lfp-blade (packs of >= {pack_kwh:g} kWh)")
    wrote(files)


@pack_app.command("charge")
@handles_input_errors
def charge(
    pack: PackArg,
    charger_kw: Annotated[float, typer.Option("--charger-kw",
                                              help="Charger power limit at the battery [kW].")
                          ] = 250.0,
    heat_kw: Annotated[float | None, typer.Option(
        "--heat-rejection-kw", help="Heat the pack cooling rejects while charging [kW] "
        "(default 10, an assumption).", show_default=False)] = None,
    vehicle: Annotated[str, typer.Option("--vehicle", metavar="NAME",
                                         help="Reference vehicle: sedan or suv.")] = "sedan",
    json_: JsonOpt = False,
) -> None:
    """Pack 10-80 % fast charge from the cell's fastest plating-free charge (PyBaMM)."""
    from casip.pack.charts import DEFAULT_HEAT_REJECTION_KW, pack_charge

    r = pack_charge(pack, charger_kw,
                    DEFAULT_HEAT_REJECTION_KW if heat_kw is None else heat_kw, vehicle)
    if json_:
        echo_json({"source": pack, "basis": "EPA label", **r.to_dict()})
        return
    typer.echo(
        f"{r.pack}: cell {r.cell} 10-80 % in {r.cell_time_10_80_min:.1f} min at "
        f"{r.cell_c_rate:.2f}C ({r.cell_binding_limit}); pack {r.usable_kWh:.1f} kWh usable, "
        f"{r.pack_mass_kg:.0f} kg\n"
        f"power {r.power_kw:.0f} kW ({r.binding_limit}-limited; cell {r.cell_limited_kw:.0f}, "
        f"charger {r.charger_kw:.0f}, thermal {r.thermal_limit_kw:.0f} kW), 10-80 % in "
        f"{r.time_10_80_min:.1f} min, {r.km_per_10_min:.0f} km per 10 min "
        f"({r.vehicle}, EPA label, {r.consumption_wh_km:.0f} Wh/km)")


__all__ = ["charge", "fit", "gains", "pack_app", "references", "show"]
