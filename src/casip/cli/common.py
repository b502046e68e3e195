"""What every ``casip`` command group shares: options, error handling and output helpers.

The CLI package imports one way: this module imports nothing from :mod:`casip.cli`; each
command group (:mod:`casip.cli.design`, :mod:`casip.cli.data`, :mod:`casip.cli.life`,
:mod:`casip.cli.physics`, :mod:`casip.cli.explore`, :mod:`casip.cli.platform`) imports this
module and no other module of the package; :mod:`casip.cli` (the package) assembles the app.

Heavy modules (the design engine, pandas-based reports, matplotlib, plotly) are imported
inside the functions so that ``casip --help`` stays quick.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from casip.errors import CasipInputError, Problem

#: Exit status for bad input (the same as a command-line usage error).
EXIT_BAD_INPUT = 2
#: The test-data store used when neither --store nor CASIP_STORE is given.
DEFAULT_STORE = Path("casip-data")

# --------------------------------------------------------------------------------------------
# Shared options
# --------------------------------------------------------------------------------------------

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout (and nothing else).")
]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout.")]
MaterialsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--materials",
        "-m",
        metavar="FILE",
        help="A materials YAML file adding to or overriding the bundled library (repeatable).",
        show_default=False,
    ),
]
PricesOpt = Annotated[
    str | None,
    typer.Option(
        "--prices",
        metavar="NAME",
        help="Price set of the materials cost (see 'casip cost prices'); the most recent by "
        "default.",
        show_default=False,
    ),
]
LithiumCarbonateOpt = Annotated[
    float | None,
    typer.Option(
        "--lithium-carbonate",
        metavar="USD_KG",
        min=0,
        help="What-if: battery-grade lithium carbonate price in USD/kg; every price linked to "
        "lithium moves with it.",
        show_default=False,
    ),
]
DesignArg = Annotated[
    str,
    typer.Argument(
        metavar="DESIGN",
        help="A design file (YAML, schema casip.design/1) or ref:ID for a reference cell.",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def handles_input_errors(func: F) -> F:
    """Turn a :class:`CasipInputError` into a one-message exit with status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CasipInputError as exc:
            typer.echo(f"casip: error: {exc}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def make_console(stderr: bool = False) -> Console:
    """A rich console that is readable in a terminal and in a pipe (plain, 140 columns)."""
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = None if tty or os.environ.get("COLUMNS") else 140
    return Console(file=stream, stderr=stderr, width=width, highlight=False, soft_wrap=False)


def echo_json(obj: object) -> None:
    """Print ``obj`` as indented JSON on stdout (made safe with :func:`jsonable`)."""
    typer.echo(json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False))


def jsonable(x: object) -> object:
    """JSON-safe: NaN and inf become None, numpy scalars become Python, paths become str."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    if x is pd.NA or x is pd.NaT:
        return None
    return x


def records(df: pd.DataFrame, index_name: str | None = None) -> list[dict]:
    """The rows of ``df`` as JSON-safe dicts; with ``index_name`` the index becomes a column."""
    data = df.reset_index() if index_name else df
    if index_name:
        data = data.rename(columns={data.columns[0]: index_name})
    return [jsonable(r) for r in data.to_dict(orient="records")]  # type: ignore[misc]


def print_df(
    console: Console, df: pd.DataFrame, title: str | None = None, index: bool = True
) -> None:
    """Print ``df`` as a table: human headers, numbers formatted and right-aligned."""
    from casip import report

    headers, rows = report.display_table(df, index=index)
    offset = 1 if index else 0
    for j, col in enumerate(df.columns):
        if (report.COLUMNS.get(str(col), ("", "auto"))[1] or "auto") != "auto":
            continue  # a column with its own format (decimals, ratio, %) is consistent already
        cells = column_cells(df[col])
        if cells is not None:
            for r, cell in zip(rows, cells, strict=True):
                r[offset + j] = cell
    table = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
    for i, h in enumerate(headers):
        numeric = bool(rows) and all(report.looks_numeric(r[i]) for r in rows)
        table.add_column(Text(h), justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(*(Text(c) for c in r))
    console.print(table)


def column_cells(values: pd.Series) -> list[str] | None:
    """One numeric column formatted with the same decimals in every row.

    The decimals follow the column's largest magnitude (about four significant figures, as
    :func:`casip.report.format_number`): ``2, 2.25, 6, 6.25`` reads ``2.00, 2.25, 6.00,
    6.25``, not ``2, 2.25, 6, 6.25``. A column of whole numbers keeps no decimals.

    Parameters
    ----------
    values : pandas.Series
        One table column.

    Returns
    -------
    list of str or None
        The cells (``—`` for a missing value), or ``None`` if the column is not numeric (or its
        values span more than four decades, where each value keeps its own format).
    """
    if values.dtype == bool or not pd.api.types.is_numeric_dtype(values.dtype):
        return None
    x = values.to_numpy(dtype=float, na_value=np.nan)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return None
    if np.all(finite == np.round(finite)):
        decimals = 0
    else:
        nonzero = np.abs(finite[finite != 0])
        top = float(nonzero.max())
        if float(nonzero.min()) < top / 1e4:
            return None
        if top >= 1000:
            decimals = 0
        elif top >= 100:
            decimals = 1
        elif top >= 1:
            decimals = 2
        else:  # three significant figures of the largest value
            decimals = 2 - math.floor(math.log10(top))
        # Never hide a step the values have (a sweep of 2, 2.125, ...), up to six decimals.
        for extra in range(decimals, 7):
            if np.allclose(np.round(finite, extra), finite, rtol=0, atol=1e-9 * top):
                decimals = max(decimals, extra)
                break
    return ["—" if not math.isfinite(v) else f"{v:,.{decimals}f}" for v in x]


def wrote(files: Sequence[Path]) -> None:
    """Tell on stderr which files were written (one ``wrote PATH`` line each)."""
    err = make_console(stderr=True)
    for f in files:
        err.print(Text(f"wrote {f}"))


def material_library(materials: Sequence[Path] | None):
    """The bundled materials library plus the user's ``--materials`` files, in order."""
    from casip.materials import load_library

    return load_library(list(materials or ()))


def priced_material_library(
    materials: Sequence[Path] | None, prices: str | None = None,
    lithium_carbonate: float | None = None,
):
    """:func:`material_library` priced by a price set (``--prices``, the most recent by
    default), with an optional lithium-carbonate what-if (``--lithium-carbonate``)."""
    from casip.cost.prices import priced_library

    lib = material_library(materials) if materials else None
    overrides = (
        {"commodities": {"Li2CO3": lithium_carbonate}} if lithium_carbonate is not None else None
    )
    return priced_library(lib, prices, overrides)


def reference_cell_ids() -> tuple[str, ...]:
    """The ids of the bundled reference cells."""
    from casip.cells import reference_ids

    return tuple(reference_ids())


def load_design(spec: str):
    """A design from a file path or ``ref:<id>``; returns (design, label, source)."""
    from casip.io import read_design, read_design_text

    if spec.startswith("ref:"):
        from casip.cells import reference_text

        cid = spec[4:]
        try:
            text = reference_text(cid)
        except FileNotFoundError:
            raise CasipInputError(
                Problem("", "the reference cell's data file is not installed", cid),
                source=spec,
            ) from None
        return read_design_text(text, source=spec), cid, spec
    path = Path(spec)
    if not path.exists() and spec in reference_cell_ids():
        raise CasipInputError(
            Problem("", "no such file", spec,
                    f"a design file, or ref:{spec} for the reference cell"),
            source=spec,
        )
    return read_design(path), path.stem or spec, spec


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels made unique by numbering repeats: ``a, a`` becomes ``a, a (2)``."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        n = seen.get(lab, 0) + 1
        seen[lab] = n
        out.append(lab if n == 1 else f"{lab} ({n})")
    return out


def spinner(message: str):
    """A spinner on stderr while something slow runs (silent when stderr is not a terminal)."""
    return make_console(stderr=True).status(message, spinner="dots")



def open_store(root: Path):
    """The test-data store in the folder ``root`` (created on first write).

    Raises
    ------
    CasipInputError
        If ``root`` exists and is not a folder.
    """
    from casip.data.store import Store

    if root.exists() and not root.is_dir():
        raise CasipInputError(
            Problem("--store", "exists and is not a folder", expected="a store folder"),
            str(root),
        )
    return Store(root)
