"""``casip data ...``: the test-data hub on the command line.

Ingest cycler files into a local store (Parquet per test), list and show the tests, export
them (CSV, Parquet, Battery Data Format CSV), draw their charts and query every test at once
with SQL (DuckDB). The store is ``./casip-data`` unless ``--store DIR`` or the environment
variable ``CASIP_STORE`` says otherwise.

As everywhere in ``casip``: ``--json`` prints machine-readable JSON on stdout and nothing else;
bad input (a missing file, an unknown test id, bad SQL, a bad ``--cycles`` list) prints one
message naming the file, field and value on stderr and exits with status 2, without a
traceback. ``casip data ingest`` goes on past a bad file, reports it, and exits with 2 at the
end if any file failed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from casip.cli.common import (
    DEFAULT_STORE,
    EXIT_BAD_INPUT,
    CsvOpt,
    JsonOpt,
    handles_input_errors,
    jsonable,
    make_console,
    open_store,
    print_df,
    wrote,
)
from casip.errors import CasipInputError, Problem

#: The ``casip data`` sub-app (registered by :mod:`casip.cli`).
data_app = typer.Typer(
    help=(
        "Test-data hub: ingest cycler files into one schema, list, show, export, plot and "
        "query them. The store is ./casip-data unless --store or CASIP_STORE says otherwise."
    ),
    no_args_is_help=True,
)

#: Export formats and the usual file endings they are inferred from.
EXPORT_FORMATS = {"csv": ".csv", "parquet": ".parquet", "bdf": ".bdf.csv"}
#: Rows of the cycle table that ``casip data show`` prints.
SHOW_CYCLES = 10

StoreOpt = Annotated[
    Path,
    typer.Option(
        "--store",
        metavar="DIR",
        envvar="CASIP_STORE",
        help="The store folder (default ./casip-data; the CASIP_STORE variable also sets it).",
    ),
]
TestIdArg = Annotated[
    str,
    typer.Argument(
        metavar="TEST_ID",
        help="A test id from 'casip data list' (a unique prefix is enough).",
        show_default=False,
    ),
]


def _echo_json(obj: object) -> None:
    """JSON on stdout: NaN becomes null, timestamps and other objects become strings."""
    typer.echo(json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False,
                          default=str))


def _records(df: pd.DataFrame) -> list[dict]:
    return [jsonable(r) for r in df.to_dict(orient="records")]  # type: ignore[misc]


def _fmt(v: Any) -> str:
    """A table cell: about four significant figures, thousands separated."""
    from casip.report import format_value

    if v is None or v is pd.NA or v is pd.NaT:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format_value(v)


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------


def format_table() -> pd.DataFrame:
    """One row per supported format: id, vendor, description, extensions, library.

    Returns
    -------
    pandas.DataFrame
        Columns ``format``, ``vendor``, ``description``, ``extensions``, ``library`` (the
        third-party reader with its installed version, or ``"hand-written"``) and
        ``private_copy`` (the reader is handed a private copy, never the source file).
    """
    from casip.data.readers import adapters
    from casip.data.readers._base import library_version

    rows = []
    for fmt, mod in adapters().items():
        lib = getattr(mod, "LIBRARY", None)
        rows.append(
            {
                "format": fmt,
                "vendor": getattr(mod, "VENDOR", ""),
                "description": getattr(mod, "DESCRIPTION", ""),
                "extensions": " ".join(getattr(mod, "EXTENSIONS", ())),
                "library": library_version(lib) if lib else "hand-written",
                "private_copy": bool(getattr(mod, "PRIVATE_COPY", False)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["format", "vendor", "description", "extensions", "library", "private_copy"],
    )


@data_app.command("formats")
@handles_input_errors
def formats(json_: JsonOpt = False, csv: CsvOpt = False) -> None:
    """The cycler file formats this installation reads (detected from the content)."""
    df = format_table()
    if json_:
        _echo_json(_records(df))
    elif csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        view = df.drop(columns=["private_copy"]).set_index("format")
        print_df(make_console(), view, title=f"{len(df)} supported formats "
                  "(--format ID overrides the detection)")


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------


def _metadata(**fields: Any) -> dict[str, Any]:
    """The user's metadata for a batch, validated before any file is read."""
    from pydantic import ValidationError

    from casip.data.schema import TestMetadata
    from casip.errors import from_pydantic

    meta = {k: v for k, v in fields.items() if v is not None}
    try:
        TestMetadata.model_validate(meta)
    except ValidationError as exc:
        err = from_pydantic(exc, model=TestMetadata)
        for p in err.problems:  # name the command-line option, not the model field
            p.field = "--" + _OPTION_OF.get(p.field, p.field).replace("_", "-")
        raise CasipInputError(err.problems) from None
    return meta


_OPTION_OF = {
    "electrode_area_cm2": "area_cm2",
    "temperature_celsius": "temperature_c",
    "cell_configuration": "configuration",
}


def _check_format(fmt: str | None) -> None:
    if fmt is None:
        return
    from casip.data.readers import adapters

    known = sorted(adapters())
    if fmt not in known:
        raise CasipInputError(
            Problem("--format", "unknown format", fmt,
                    "one of: " + ", ".join(known) + " (see 'casip data formats')")
        )


def _ingest_one(store, path: str, fmt: str | None, meta: Mapping[str, Any]):
    """Ingest one file; every failure becomes a 'failed' result so that the batch goes on."""
    from casip.data.store import IngestResult

    try:
        return store.ingest([path], format=fmt, metadata=meta)[0]
    except OSError as exc:  # e.g. permission denied: bad input, not a bug
        reason = exc.strerror or str(exc)
        return IngestResult(path, "failed", error=f"{path}: cannot read the file: {reason}")
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a reader's bug must not stop the batch; say what happened
        return IngestResult(
            path, "failed",
            error=f"{path}: unexpected error while reading ({type(exc).__name__}: {exc}); "
            "please report it with the file",
        )


def _result_line(res) -> Text:
    name = res.path
    if res.status == "ingested":
        return Text.assemble(("ingested  ", "green"), f"{name} -> test {res.test_id} "
                             f"({res.rows:,} rows)")
    if res.status == "duplicate":
        return Text.assemble(("duplicate ", "yellow"), f"{name} = test {res.test_id} "
                             "(already stored, skipped)")
    reason = res.error or "unknown reason"
    if reason.startswith(f"{name}: "):
        reason = reason[len(name) + 2:]
    return Text.assemble(("failed    ", "red"), f"{name}: {reason}")


@data_app.command("ingest")
@handles_input_errors
def ingest(
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE", help="Cycler files to read (any supported format).",
                       show_default=False),
    ],
    store: StoreOpt = DEFAULT_STORE,
    format: Annotated[
        str | None,
        typer.Option("--format", metavar="ID",
                     help="Read every file as this format (see 'casip data formats'); "
                     "detected from the content if omitted."),
    ] = None,
    cell_id: Annotated[str | None, typer.Option(help="Cell identifier.")] = None,
    chemistry: Annotated[
        str | None, typer.Option(help="e.g. 'NMC811/graphite', 'LFP/graphite'.")
    ] = None,
    nominal_capacity_ah: Annotated[
        float | None, typer.Option(help="Nominal capacity [Ah].")
    ] = None,
    active_mass_g: Annotated[
        float | None, typer.Option(help="Active material mass [g].")
    ] = None,
    area_cm2: Annotated[float | None, typer.Option(help="Electrode area [cm²].")] = None,
    temperature_c: Annotated[
        float | None, typer.Option(help="Test temperature [°C].")
    ] = None,
    stack_pressure_mpa: Annotated[
        float | None, typer.Option(help="Stack pressure applied to the cell [MPa].")
    ] = None,
    solid_electrolyte: Annotated[
        str | None, typer.Option(help="Solid electrolyte, e.g. 'Li6PS5Cl (argyrodite)'.")
    ] = None,
    cells_in_series: Annotated[
        int | None, typer.Option(help="Cells in series in the tested unit (default 1): the "
                                 "plausible voltage is up to 5 V per cell.")
    ] = None,
    configuration: Annotated[
        str | None, typer.Option(help="full, half (against lithium) or symmetric cell: judges "
                                 "whether the voltage range is usual (a flag, never a refusal).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Read cycler files into the store: one test per file, skipped if already stored.

    The metadata options apply to every file of the batch. A file that cannot be read is
    reported with the reason and leaves nothing in the store; the others are still ingested,
    and the exit status is 2 if any file failed.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    _check_format(format)
    meta = _metadata(
        cell_id=cell_id, chemistry=chemistry, nominal_capacity_ah=nominal_capacity_ah,
        active_mass_g=active_mass_g, electrode_area_cm2=area_cm2,
        temperature_celsius=temperature_c, stack_pressure_mpa=stack_pressure_mpa,
        solid_electrolyte=solid_electrolyte, cells_in_series=cells_in_series,
        cell_configuration=configuration,
    )
    st = open_store(store)
    console = make_console(stderr=json_)
    results = []
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"reading {Path(path).name}")
            res = _ingest_one(st, path, format, meta)
            results.append(res)
            if not json_:
                progress.console.print(_result_line(res))
                for w in res.warnings:
                    progress.console.print(Text(f"          warning: {w}", style="yellow"))
                for f in res.flags:
                    progress.console.print(Text(f"          flagged: {f}", style="yellow"))
            progress.advance(task)
    counts = {s: sum(r.status == s for r in results) for s in ("ingested", "duplicate", "failed")}
    if json_:
        _echo_json({
            "store": str(st.root),
            "counts": counts,
            "results": [
                {"path": r.path, "status": r.status, "test_id": r.test_id, "rows": r.rows,
                 "error": r.error, "warnings": list(r.warnings), "flags": list(r.flags)}
                for r in results
            ],
        })
    else:
        console.print(Text(
            f"{len(results)} file{'s' if len(results) != 1 else ''}: "
            f"{counts['ingested']} ingested, {counts['duplicate']} duplicate, "
            f"{counts['failed']} failed (store {st.root})",
            style="bold",
        ))
    if counts["failed"]:
        raise typer.Exit(EXIT_BAD_INPUT)


# --------------------------------------------------------------------------------------------
# list and show
# --------------------------------------------------------------------------------------------


@data_app.command("list")
@handles_input_errors
def list_tests(store: StoreOpt = DEFAULT_STORE, json_: JsonOpt = False,
               csv: CsvOpt = False) -> None:
    """The tests in the store: id, source file, format, rows, cell, ingestion time."""
    st = open_store(store)
    df = st.list()
    if json_:
        _echo_json(_records(df))
        return
    if csv:
        typer.echo(df.to_csv(index=False), nl=False)
        return
    if df.empty:
        where = "" if st.root.is_dir() else " (the folder does not exist yet)"
        make_console(stderr=True).print(Text(
            f"no tests in the store {st.root}{where}; add some with "
            "'casip data ingest FILES'"))
        return
    print_df(make_console(), df.set_index("test_id"),
              title=f"{len(df)} test{'s' if len(df) != 1 else ''} in {st.root} "
              "(casip data show TEST_ID)")


def capacity_check(cycles: pd.DataFrame, reported_counters: Sequence[str]) -> dict[str, Any]:
    """The capacity check of a test in a few numbers, from its cycle table.

    Parameters
    ----------
    cycles : pandas.DataFrame
        From :func:`casip.data.summary.cycles` (``*_integral_deviation``,
        ``capacity_check_ok``).
    reported_counters : sequence of str
        The counters the tester itself recorded.

    Returns
    -------
    dict
        ``status`` (``"ok"``, ``"flagged"`` or ``"not checked"``), ``tolerance``,
        ``cycles_checked``, ``cycles_flagged``, ``flagged_cycles`` (the first 20), ``worst_cycle``,
        ``worst_deviation`` (integral / counter - 1) and ``note``.
    """
    from casip.data.summary import CHECK_TOLERANCE

    out: dict[str, Any] = {"status": "not checked", "tolerance": CHECK_TOLERANCE,
                           "cycles_checked": 0, "cycles_flagged": 0, "flagged_cycles": [],
                           "worst_cycle": None, "worst_deviation": None, "note": ""}
    cols = [c for c in ("charge_integral_deviation", "discharge_integral_deviation")
            if c in cycles.columns]
    if not cols or cycles.empty:
        out["note"] = "no cycles to check"
        return out
    dev = cycles[cols].astype(float)
    checked = dev.notna().any(axis=1)
    if not checked.any():
        out["note"] = (
            "the tester reported no capacity counters; they were integrated from current, "
            "so there is nothing independent to compare"
            if not reported_counters else "no cycle has a capacity to compare"
        )
        return out
    worst = dev.abs().max(axis=1)
    failed = cycles["capacity_check_ok"].astype("boolean").eq(False).fillna(False)
    flagged = cycles.loc[failed.to_numpy(dtype=bool), "cycle_count"]
    iworst = int(worst.idxmax())
    signed = dev.loc[iworst]
    out.update(
        status="flagged" if len(flagged) else "ok",
        cycles_checked=int(checked.sum()),
        cycles_flagged=len(flagged),
        flagged_cycles=[int(c) for c in flagged.head(20)],
        worst_cycle=int(cycles.loc[iworst, "cycle_count"]),
        worst_deviation=float(signed[signed.abs().idxmax()]),
        note=("the integral of current over time against the tester's counters "
              f"({', '.join(reported_counters)}), per cycle"),
    )
    return out


_SHOW_COLUMNS = {
    "cycle_count": "cycle",
    "charge_capacity_ah": "charge [Ah]",
    "discharge_capacity_ah": "discharge [Ah]",
    "coulombic_efficiency": "CE [-]",
    "energy_efficiency": "EE [-]",
    "mean_charge_voltage_volt": "mean V ch [V]",
    "mean_discharge_voltage_volt": "mean V dis [V]",
    "capacity_retention": "retention [-]",
    "internal_resistance_ohm": "R [ohm]",
    "capacity_check_ok": "check ok",
}


def _kv(console: Console, title: str, items: Sequence[tuple[str, Any]]) -> None:
    t = Table(title=title, show_header=False, title_justify="left", box=box.SIMPLE)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for k, v in items:
        t.add_row(Text(k), Text(v if isinstance(v, str) else _fmt(v)))
    console.print(t)


@data_app.command("show")
@handles_input_errors
def show(
    test_id: TestIdArg,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """One test: metadata, provenance, warnings, the first cycles and the capacity check."""
    st = open_store(store)
    info = st.info(test_id)
    tid = info["test_id"]
    cycles = st.table(tid, "cycles")
    check = capacity_check(cycles, info.get("reported_counters", []))
    if json_:
        _echo_json({**info, "designs": info.get("designs") or [], "cycle_count": len(cycles),
                    "capacity_check": check, "cycles": _records(cycles)})
        return
    console = make_console()
    md, pv = info["metadata"], info["provenance"]
    console.print(Text(f"test {tid}", style="bold"))
    _kv(console, "Provenance", [
        ("source", pv["source_name"]),
        ("size", f"{pv['source_size_bytes']:,} bytes"),
        ("sha256", pv["source_sha256"]),
        ("format", pv["format"]),
        ("reader", pv["reader"] + (f" ({pv['reader_library']})" if pv.get("reader_library")
                                   else " (hand-written)")),
        ("casip", pv.get("casip_version") or "—"),
        ("ingested", pv.get("ingested_at") or "—"),
        ("rows", f"{info['rows']:,}"),
        ("counters", ", ".join(info.get("reported_counters", [])) or
         "none reported (integrated from current)"),
    ])
    items = [(k, v) for k, v in md.items() if k != "extra" and v not in (None, "", {})]
    items += [(f"extra.{k}", str(v)) for k, v in (md.get("extra") or {}).items()]
    _kv(console, "Metadata", [(k, v if isinstance(v, int | float) else str(v))
                              for k, v in items] or [("(none)", "give it with casip data "
                                                       "ingest --cell-id ... --chemistry ...")])
    for w in info.get("warnings", []):
        console.print(Text(f"warning: {w}", style="yellow"))
    for f in info.get("flags", []):
        console.print(Text(f"flagged ({f['kind']}): {f['reason']}", style="yellow"))
    _kv(console, "Designs (casip data attach)", [
        (d.get("name", "?"), ", ".join(x for x in (
            d.get("file") or ("reference cell" if d.get("reference") else "by name"),
            d.get("note") or "", f"attached {d.get('attached_at') or '?'}") if x))
        for d in info.get("designs") or []
    ] or [("(none)", f"casip data attach {tid[:8]} --design FILE_OR_NAME")])
    if not cycles.empty:
        cols = [c for c in _SHOW_COLUMNS if c in cycles.columns]
        head = cycles[cols].head(SHOW_CYCLES)
        t = Table(title=f"Cycles (first {len(head)} of {len(cycles)}; all: casip data export "
                  f"{tid} --table cycles)", header_style="bold", title_justify="left",
                  box=box.SIMPLE_HEAD)
        for c in cols:
            t.add_column(Text(_SHOW_COLUMNS[c]), justify="right")
        for _, row in head.iterrows():
            t.add_row(*(Text(_fmt(row[c])) for c in cols))
        console.print(t)
    style = {"ok": "green", "flagged": "red"}.get(check["status"], "yellow")
    line = f"capacity check: {check['status']}"
    if check["cycles_checked"]:
        line += (f" — {check['cycles_flagged']} of {check['cycles_checked']} cycles differ by "
                 f"more than {100 * check['tolerance']:g}%; largest difference "
                 f"{100 * check['worst_deviation']:+.2f}% in cycle {check['worst_cycle']}")
    console.print(Text(line, style=style))
    if check["note"]:
        console.print(Text(f"  ({check['note']})", style="dim"))


# --------------------------------------------------------------------------------------------
# attach and detach (designs a test measures)
# --------------------------------------------------------------------------------------------

DesignNameOpt = Annotated[
    str,
    typer.Option(
        "--design",
        metavar="NAME_OR_FILE",
        help="A design file (YAML, casip.design/1: its name is recorded with the file's path), "
        "ref:ID or a reference cell id, or a design's name.",
        show_default=False,
    ),
]


def _design_of(spec: str) -> tuple[str, str | None, str | None]:
    """(name, absolute file or None, reference id or None) of a ``--design`` value.

    An existing file is read and validated (its ``name`` is recorded); ``ref:ID`` or a bare
    reference cell id names a reference cell; anything else that looks like a file name (a
    path separator or a design-file ending) and does not exist is an error; the rest is a name.
    """
    from casip.cli.common import load_design, reference_cell_ids

    text = spec.strip()
    if not text:
        raise CasipInputError(Problem("--design", "empty", spec,
                                      "a design file, ref:ID or a design name"))
    path = Path(text)
    if path.is_file():
        design, _label, _src = load_design(text)
        return design.name, str(path.resolve()), None
    ref = text[4:] if text.startswith("ref:") else text
    if ref in reference_cell_ids():
        return ref, None, ref
    if text.startswith("ref:"):
        raise CasipInputError(Problem("--design", "no such reference cell", text,
                                      "ref: and one of " + ", ".join(reference_cell_ids())))
    if "/" in text or text.lower().endswith((".yaml", ".yml", ".json")):
        raise CasipInputError(Problem("--design", "no such file", text,
                                      "an existing design file, ref:ID or a design name"))
    return text, None, None


@data_app.command("attach")
@handles_input_errors
def attach(
    test_id: TestIdArg,
    design: DesignNameOpt,
    note: Annotated[
        str | None,
        typer.Option("--note", metavar="TEXT",
                     help="e.g. which cell of the design, or the C-rate (one line)."),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Attach a stored test to the design it measures (kept in the test's test.json)."""
    from casip.data import attachments

    st = open_store(store)
    name, file, reference = _design_of(design)
    tid, entry = attachments.attach(
        st, test_id, attachments.design_entry(name, file, reference, note)
    )
    if json_:
        _echo_json({"test_id": tid, "attached": entry})
        return
    where = f" ({file})" if file else (" (reference cell)" if reference else "")
    make_console().print(Text(f"attached test {tid} to design {name!r}{where}"))


@data_app.command("detach")
@handles_input_errors
def detach(
    test_id: TestIdArg,
    design: DesignNameOpt,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Remove a design from a stored test's attached designs (by name, file or reference)."""
    from casip.data import attachments

    st = open_store(store)
    attached = {d.get("name") for d in attachments.designs(st, test_id)}
    name = design.strip() if design.strip() in attached else _design_of(design)[0]
    tid, entry = attachments.detach(st, test_id, name)
    if json_:
        _echo_json({"test_id": tid, "detached": entry})
        return
    make_console().print(Text(f"detached design {name!r} from test {tid}"))


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


def _export_format(to: str | None, out: Path) -> str:
    if to is not None:
        if to not in EXPORT_FORMATS:
            raise CasipInputError(Problem("--to", "unknown export format", to,
                                          "one of: " + ", ".join(EXPORT_FORMATS)))
        return to
    name = out.name.lower()
    for fmt in ("bdf", "parquet", "csv"):  # .bdf.csv before .csv
        if name.endswith(EXPORT_FORMATS[fmt]):
            return fmt
    raise CasipInputError(Problem(
        "--to", "cannot tell the export format from the file name", out.name,
        "--to csv, parquet or bdf (or a name ending in .csv, .parquet or .bdf.csv)"))


def bdf_frame(timeseries: pd.DataFrame) -> pd.DataFrame:
    """The time series with Battery Data Format machine-name headers only.

    The CASIP time-series columns already carry BDF machine names and units; ``step_type``,
    which BDF does not define, is left out.
    """
    from casip.data.schema import COLUMNS

    keep = [c for c in timeseries.columns if c in COLUMNS and c != "step_type"]
    return timeseries[keep]


@data_app.command("export")
@handles_input_errors
def export(
    test_id: TestIdArg,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE",
                     help="The file to write (never overwritten; its folder must exist).",
                     show_default=False),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="FORMAT",
                     help="csv, parquet or bdf (CSV with BDF column names; time series only). "
                     "Default: from the file name."),
    ] = None,
    table: Annotated[
        str,
        typer.Option("--table", metavar="TABLE", help="timeseries, cycles or steps."),
    ] = "timeseries",
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Write one table of a test to a file: CSV, Parquet (zstd) or BDF CSV."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from casip.data.store import TABLES
    from casip.io import atomic_path

    fmt = _export_format(to, out)
    if table not in TABLES:
        raise CasipInputError(Problem("--table", "unknown table", table,
                                      "one of: " + ", ".join(TABLES)))
    if fmt == "bdf" and table != "timeseries":
        raise CasipInputError(Problem(
            "--table", "the Battery Data Format holds time series only", table,
            "--table timeseries with --to bdf (or --to csv for the cycle and step tables)"))
    if out.is_dir():
        raise CasipInputError(Problem("--out", "is a folder", str(out), "a new file name"))
    if out.exists():  # checked early (and again at the final move) to save the work
        raise CasipInputError(Problem("", "the file exists; refusing to overwrite it",
                                      expected="a new file name (or remove the file first)"),
                              str(out))
    st = open_store(store)
    tid = st.info(test_id)["test_id"]
    df = st.table(tid, table)
    if fmt == "bdf":
        df = bdf_frame(df)
    with atomic_path(out, overwrite=False) as tmp:
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp,
                           compression="zstd")
        else:
            df.to_csv(tmp, index=False, lineterminator="\n")
    if json_:
        _echo_json({"test_id": tid, "table": table, "format": fmt, "rows": len(df),
                    "columns": list(df.columns), "files": [out]})
    wrote([out])


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


@data_app.command("plot")
@handles_input_errors
def plot(
    test_id: TestIdArg,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder for the charts (created if needed).",
                     show_default=False),
    ],
    cycles: Annotated[
        str | None,
        typer.Option("--cycles", metavar="LIST",
                     help="Cycles for the voltage and dQ/dV charts, e.g. 1,2,10 or 1-5. "
                     "Default: the 1st, 2nd, 10th, 100th and last."),
    ] = None,
    per_gram: Annotated[
        bool,
        typer.Option("--per-gram",
                     help="Specific capacity [mAh/g] from the test's active mass."),
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
    json_: JsonOpt = False,
) -> None:
    """Voltage vs capacity, capacity and efficiency vs cycle, and dQ/dV (PNG and HTML)."""
    from casip.data import plots

    wanted = plots.parse_cycles(cycles) if cycles is not None else None
    st = open_store(store)
    info = st.info(test_id)
    tid = info["test_id"]
    mass = info["metadata"].get("active_mass_g") if per_gram else None
    if per_gram and not mass:
        raise CasipInputError(Problem(
            "--per-gram", "the test has no active mass", tid,
            "a test ingested with --active-mass-g (or drop --per-gram)"))
    ts = st.table(tid, "timeseries")
    try:
        chosen = plots.select_cycles(ts, wanted)
    except CasipInputError as exc:  # name the option the user typed, and the test
        for p in exc.problems:
            p.field = "--cycles"
        raise CasipInputError(exc.problems, source=f"test {tid}") from None
    with make_console(stderr=True).status("drawing charts", spinner="dots"):
        files = plots.write_test_plots(
            ts, st.table(tid, "cycles"), out, cycles=chosen, prefix=f"{tid}_",
            title=f"{info['provenance']['source_name']} ({tid})", mass_g=mass,
        )
    if json_:
        _echo_json({"test_id": tid, "cycles": chosen, "files": files})
    wrote(files)


# --------------------------------------------------------------------------------------------
# query
# --------------------------------------------------------------------------------------------


@data_app.command("query")
@handles_input_errors
def query(
    sql: Annotated[
        str,
        typer.Argument(metavar="SQL",
                       help="DuckDB SQL over the views timeseries, cycles and steps (each "
                       "with a test_id column).", show_default=False),
    ],
    store: StoreOpt = DEFAULT_STORE,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Most rows printed as a table.")
    ] = 50,
    json_: JsonOpt = False,
    csv: CsvOpt = False,
) -> None:
    """Query every stored test at once with SQL (DuckDB); --csv or --json for all rows."""
    st = open_store(store)
    if st.list().empty:
        raise CasipInputError(Problem("", "the store holds no tests to query",
                                      expected="tests added with 'casip data ingest FILES'"),
                              str(st.root))
    df = st.query(sql)
    if json_:
        _echo_json(_records(df))
        return
    if csv:
        typer.echo(df.to_csv(index=False), nl=False)
        return
    shown = df.head(max_rows)
    title = (f"{len(df)} row{'s' if len(df) != 1 else ''}" if len(df) <= max_rows else
             f"{len(df)} rows, first {max_rows} shown (--csv or --json for all)")
    t = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
    for c in shown.columns:
        numeric = pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(
            shown[c])
        t.add_column(Text(str(c)), justify="right" if numeric else "left", overflow="fold")
    for row in shown.itertuples(index=False):
        t.add_row(*(Text(_cell(v)) for v in row))
    make_console().print(t)


def _cell(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return "—"
    if isinstance(v, str):
        return v
    return _fmt(v)


__all__ = ["DEFAULT_STORE", "bdf_frame", "capacity_check", "data_app", "format_table"]
