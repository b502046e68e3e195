"""``casip cost ...``: the price sets behind every materials cost.

- ``prices``: the bundled price sets (name, date, title, sources), most recent first; with
  ``--show NAME`` the commodity and material prices of one set (``--lithium-carbonate`` for a
  what-if). ``--json`` prints the same as JSON.

The design commands (``show``, ``compare``, ``references``, ``sweep``) take ``--prices NAME``
and ``--lithium-carbonate USD_KG``; see ``docs/cost.md``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from casip.cli.common import (
    JsonOpt,
    LithiumCarbonateOpt,
    echo_json,
    handles_input_errors,
    make_console,
)

cost_app = typer.Typer(
    help="Price sets of the materials cost: names, dates, sources and prices.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _set_json(ps, with_prices: bool) -> dict:
    out = ps.summary()
    if with_prices:
        out["material_prices"] = {
            mid: {"usd_kg": p.usd_kg, "usd_m2": p.usd_m2, "basis": p.basis, "source": p.source,
                  "parts_usd_kg": p.parts}
            for mid, p in ps.prices().items()
        }
    return out


@cost_app.command("prices")
@handles_input_errors
def prices(
    show: Annotated[
        str | None,
        typer.Option("--show", metavar="NAME",
                     help="Print the commodity and material prices of one set.",
                     show_default=False),
    ] = None,
    lithium_carbonate: LithiumCarbonateOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List the price sets (most recent first, the default) with their dates and sources."""
    from casip.cost.prices import load_price_set, price_sets

    overrides = (
        {"commodities": {"Li2CO3": lithium_carbonate}} if lithium_carbonate is not None else None
    )
    if show is not None or overrides:
        ps = load_price_set(show, overrides)
        if json_:
            echo_json(_set_json(ps, True))
            return
        console = make_console()
        console.print(Text(f"{ps.label}: {ps.title} ({ps.date}, {ps.currency})", style="bold"))
        t = Table(title="Commodities", header_style="bold", title_justify="left")
        for h in ("commodity", "USD/kg", "source"):
            t.add_column(h, justify="right" if h == "USD/kg" else "left")
        for k in sorted(ps.commodities):
            t.add_row(k, f"{ps.commodity(k):.3f}", ps.commodity_sources[k].source)
        console.print(t)
        t = Table(title="Material prices", header_style="bold", title_justify="left")
        for h in ("material", "USD/kg", "USD/m2", "basis", "source"):
            t.add_column(h, justify="right" if h.startswith("USD") else "left")
        for mid, p in ps.prices().items():
            t.add_row(mid, f"{p.usd_kg:.3f}", f"{p.usd_m2:.3f}" if p.usd_m2 else "",
                      p.basis, p.source)
        console.print(t)
        return
    sets = price_sets()
    if json_:
        echo_json({"default": sets[0].name, "sets": [_set_json(ps, False) for ps in sets]})
        return
    console = make_console()
    t = Table(title="Price sets (the first is the default)", header_style="bold",
              title_justify="left")
    for h in ("name", "date", "title", "sources"):
        t.add_column(h)
    for ps in sets:
        t.add_row(ps.name, ps.date, ps.title, ", ".join(sorted(ps.sources)) or "library's")
    console.print(t)


__all__ = ["cost_app", "prices"]
