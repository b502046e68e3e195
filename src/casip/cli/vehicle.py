"""``casip vehicle ...``: drive cycles, consumption and range, pack fast charge.

- ``cycles``: the shipped drive cycles with duration, distance, speeds and source (and the
  cycles left out, with the reason);
- ``range``: Wh/km at the battery and range of a reference vehicle carrying a given pack, on
  each cycle (raw) and each label (EPA adjusted by 0.7, WLTP unadjusted);
- ``charge``: pack 10-80 % charge power profile and time, km added in the first 10 minutes,
  from the cell's 10-80 % time (flat) or its physics charge profile (the taper);
- ``chart``: range against pack mass across the reference cells (PNG + HTML).

See ``docs/vehicle.md``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from casip.cli.common import CsvOpt, JsonOpt, echo_json, handles_input_errors, make_console, wrote

vehicle_app = typer.Typer(
    help="Vehicle model: drive cycles, Wh/km and range, pack fast charge.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

VehicleOpt = Annotated[
    str, typer.Option("--vehicle", metavar="NAME", help="Reference vehicle: sedan or suv.")
]


def _table(rows: list[dict], columns: list[str], title: str) -> None:
    from rich import box
    from rich.table import Table

    table = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*(f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]) for c in columns))
    make_console().print(table)


@vehicle_app.command("cycles")
@handles_input_errors
def cycles(json_: JsonOpt = False) -> None:
    """List the shipped drive cycles (duration, distance, max speed, source)."""
    from casip.vehicle.cycles import MISSING, list_cycles

    rows = [c.summary() for c in list_cycles()]
    if json_:
        echo_json({"cycles": rows, "not_shipped": MISSING})
        return
    _table(rows, ["id", "duration_s", "distance_km", "max_speed_kmh", "mean_speed_kmh", "source"],
           "Drive cycles")
    for k, why in MISSING.items():
        typer.echo(f"not shipped: {k}: {why}")


@vehicle_app.command("range")
@handles_input_errors
def range_(
    pack_kwh: Annotated[float, typer.Option("--pack-kwh", min=0.0,
                                            help="Usable energy of the pack [kWh].")],
    pack_mass_kg: Annotated[float, typer.Option("--pack-mass-kg", min=0.0,
                                                help="Pack mass [kg].")],
    vehicle: VehicleOpt = "sedan",
    cycle: Annotated[
        list[str] | None,
        typer.Option("--cycle", metavar="ID",
                     help="Cycle id (repeatable): udds, hwfet, wltc3b. All by default.",
                     show_default=False),
    ] = None,
    json_: JsonOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Wh/km at the battery and range on each cycle (raw) and label (EPA x 0.7; WLTP raw)."""
    from casip.vehicle.cycles import load_cycle
    from casip.vehicle.model import get_vehicle, vehicle_range

    veh = get_vehicle(vehicle)
    ids = tuple(load_cycle(c).id for c in cycle) if cycle else None
    rows = vehicle_range(veh, pack_mass_kg, pack_kwh, ids)
    if json_:
        echo_json({"vehicle": veh.to_dict(), "pack_kwh": pack_kwh, "pack_mass_kg": pack_mass_kg,
                   "range_basis": "usable energy at the battery / consumption at the battery",
                   "results": rows})
        return
    if csv_:
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        return
    _table(rows, ["basis", "kind", "wh_km", "range_km"],
           f"{veh.name}: {pack_kwh:g} kWh usable, pack {pack_mass_kg:g} kg")


@vehicle_app.command("charge")
@handles_input_errors
def charge(
    pack_kwh: Annotated[float, typer.Option("--pack-kwh", help="Usable pack energy [kWh].")],
    charger_kw: Annotated[float, typer.Option("--charger-kw", help="Charger power limit.")],
    heat_kw: Annotated[float, typer.Option("--heat-rejection-kw",
                                           help="Heat the pack cooling rejects [kW].")],
    pack_mass_kg: Annotated[float, typer.Option("--pack-mass-kg",
                                                help="Pack mass, for the consumption.")],
    cell_minutes: Annotated[
        float | None,
        typer.Option("--cell-10-80-min",
                     help="Cell 10-80 % time [min]: the flat approximation (constant power).",
                     show_default=False),
    ] = None,
    physics_cell: Annotated[
        str | None,
        typer.Option("--profile-from-physics", metavar="DESIGN",
                     help="Run the physics 10-80 % charge of this cell (design file or ref:ID) "
                          "and use its power profile (the taper); takes seconds.",
                     show_default=False),
    ] = None,
    c_rate: Annotated[
        float | None,
        typer.Option("--c-rate", min=0.0,
                     help="CC-CV rate for --profile-from-physics; default: the fastest rate "
                          "within the plating/CCD limits (fastest_charge).",
                     show_default=False),
    ] = None,
    vehicle: VehicleOpt = "sedan",
    json_: JsonOpt = False,
) -> None:
    """Pack 10-80 % power profile and time, km (EPA label basis) in the first 10 minutes.

    Give the cell either as its 10-80 % time (--cell-10-80-min, flat approximation) or as a
    design whose physics charge gives the power profile (--profile-from-physics).
    """
    from casip.errors import CasipInputError, Problem
    from casip.vehicle.fastcharge import pack_fast_charge, profile_from_charge
    from casip.vehicle.model import label_consumption, vehicle_consumption_wh_km

    if (cell_minutes is None) == (physics_cell is None):
        raise CasipInputError(Problem(
            "--cell-10-80-min, --profile-from-physics", "give exactly one of them",
            (cell_minutes, physics_cell), "a cell time [min] or a design (file or ref:ID)"),
            source="casip vehicle charge")
    cell_run = None
    cell: object = cell_minutes
    if physics_cell is not None:
        from casip.cli.common import load_design, spinner
        from casip.physics.charge import fast_charge, fastest_charge

        design, _label, _src = load_design(physics_cell)
        with spinner("physics 10-80 % charge of the cell"):
            cell_run = (fastest_charge(design) if c_rate is None
                        else fast_charge(design, c_rate))
        cell = profile_from_charge(cell_run)
    raw = {c: vehicle_consumption_wh_km(vehicle, c, pack_mass_kg) for c in ("udds", "hwfet")}
    wh_km = float(label_consumption(raw, "epa"))
    res = pack_fast_charge(cell, pack_kwh, charger_kw, heat_kw, wh_km)  # type: ignore[arg-type]
    if json_:
        out: dict[str, object] = {"consumption_wh_km": wh_km, "basis": "EPA label",
                                  **res.to_dict()}
        if cell_run is not None:
            out["cell_charge"] = {
                "design": physics_cell, "c_rate": cell_run.c_rate,
                "time_10_80_min": cell_run.time_min, "binding_limit": cell_run.binding_limit,
                "notes": list(cell_run.notes), "profile": cell.to_dict()}  # type: ignore[attr-defined]
        echo_json(out)
        return
    shares = ", ".join(f"{k} {v:.0%}" for k, v in res.binding_share.items() if v > 0)
    typer.echo(
        f"10-80 % in {res.time_10_80_min:.1f} min (cell alone {res.cell_time_10_80_min:.1f} "
        f"min), average {res.average_kw:.0f} kW, peak {res.peak_kw:.0f} kW; limits binding: "
        f"{shares}; {res.km_first_10_min:.0f} km in the first 10 min "
        f"(EPA label, {wh_km:.0f} Wh/km)"
    )
    if cell_run is not None:
        typer.echo(f"cell: {cell_run.c_rate:.3g}C CC-CV, {cell_run.binding_limit}; "
                   f"profile from {res.profile_source}")


@vehicle_app.command("chart")
@handles_input_errors
def chart(
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNG and HTML.")] = Path(
        "casip-output"),
    vehicle: VehicleOpt = "sedan",
    label: Annotated[str, typer.Option("--label", help="epa or wltp.")] = "epa",
) -> None:
    """Range against pack mass across the reference cells (packs from the pack model)."""
    from casip.vehicle.charts import model_reference_packs, range_vs_pack_mass

    wrote(range_vs_pack_mass(model_reference_packs(), out, vehicle, label))
