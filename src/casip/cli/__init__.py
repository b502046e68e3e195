"""The ``casip`` command line: one CLI, a sub-command per capability.

Every command takes ``--json`` (machine-readable output on stdout and nothing else there);
tabular commands take ``--csv``; commands that draw write PNG and self-contained HTML charts
into ``--out DIR``; ``--materials FILE`` (repeatable) adds or overrides materials from the
user's own files. Bad input (a design file, a materials file, an argument) prints one message
on stderr naming the file, the field, the value and what was expected, and exits with status 2.

The package imports one way: :mod:`casip.cli.common` holds the shared options and output
helpers; one module per command group imports it (and nothing else of this package):

- :mod:`casip.cli.design`: ``show``, ``compare``, ``references``, ``sweep``, ``size``, ``schema``,
  ``casip materials ...`` and ``casip reference ...``
- :mod:`casip.cli.data`: ``casip data ...`` (the test-data hub)
- :mod:`casip.cli.physics`: ``casip sim ...`` (PyBaMM)
- :mod:`casip.cli.life`: ``casip life ...`` (longevity)
- :mod:`casip.cli.explore`: ``casip explore ...`` (design-space exploration)
- :mod:`casip.cli.campaign`: ``casip campaign ...`` (closed-loop R&D campaigns)
- :mod:`casip.cli.cost`: ``casip cost ...`` (price sets)
- :mod:`casip.cli.cost_cell`: ``casip cost cell`` (cell cost: materials + manufacturing)
- :mod:`casip.cli.platform`: ``casip serve``, ``casip worker`` (runs the platform's queued
  jobs) and ``casip platform ...``
- :mod:`casip.cli.pack`: ``casip pack ...`` (battery packs)
- :mod:`casip.cli.vehicle`: ``casip vehicle ...`` (drive cycles, range, pack fast charge)

and this module assembles them into :data:`app`. Run ``casip --help`` or see ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

import casip
from casip.cli import (
    campaign,
    cost,
    cost_cell,
    data,
    design,
    explore,
    life,
    pack,
    physics,
    platform,
    vehicle,
)
from casip.cli.common import EXIT_BAD_INPUT

app = typer.Typer(
    name="casip",
    help=(
        "CASIP: design all-solid-state battery cells and compare them with LFP and the CASIP "
        "2030 roadmap. Start with 'casip references' or 'casip show ref:lfp-blade'."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"casip {casip.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """CASIP command line."""


# Top-level commands, in the order `casip --help` lists them.
for _command in (design.show, design.compare, design.references, design.sweep, design.size,
                 design.schema, platform.serve, platform.worker):
    app.command(_command.__name__)(_command)

# Command groups.
app.add_typer(design.materials_app, name="materials")
app.add_typer(design.reference_app, name="reference")
app.add_typer(data.data_app, name="data")
app.add_typer(physics.sim_app, name="sim")
app.add_typer(life.life_app, name="life")
app.add_typer(explore.explore_app, name="explore")
app.add_typer(campaign.campaign_app, name="campaign")
cost.cost_app.command("cell")(cost_cell.cell)  # the cell cost (casip.cost.manufacturing)
app.add_typer(cost.cost_app, name="cost")
app.add_typer(platform.platform_app, name="platform")
app.add_typer(pack.pack_app, name="pack")
app.add_typer(vehicle.vehicle_app, name="vehicle")


def main() -> None:
    """Entry point of the ``casip`` command (and ``python -m casip``)."""
    try:
        app(prog_name="casip")
    except BrokenPipeError:  # e.g. `casip materials list --csv | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


__all__ = ["EXIT_BAD_INPUT", "app", "main"]
