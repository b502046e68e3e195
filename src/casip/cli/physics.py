"""``casip sim ...``: physics simulation (PyBaMM) on the command line.

Rate capability, Ragone, fast charge under limits, pulse resistance, and BPX parameter files.
DESIGN is a design file (YAML), ``ref:ID`` for a reference cell, or a BPX JSON file
(``*.json``, read with :func:`casip.physics.bpx.import_bpx`).

As everywhere in ``casip``: ``--json`` prints machine-readable JSON on stdout and nothing else;
``--out DIR`` writes each chart as PNG and offline HTML; bad input (a design, an unsupported
chemistry, a bad ``--c-rates`` list, a solve that fails) prints one message on stderr and exits
with status 2, without a traceback. PyBaMM is imported only when a command runs, so that
``casip --help`` stays quick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.text import Text

from casip.cli.common import (
    DesignArg,
    JsonOpt,
    MaterialsOpt,
    echo_json,
    handles_input_errors,
    jsonable,
    load_design,
    make_console,
    material_library,
    print_df,
    spinner,
    unique_labels,
    wrote,
)
from casip.errors import CasipInputError, Problem

#: The ``casip sim`` sub-app (registered by :mod:`casip.cli`).
sim_app = typer.Typer(
    help=(
        "Physics simulation with PyBaMM: rate capability, Ragone, fast charge under limits, "
        "pulse resistance, BPX parameter files. DESIGN is a design file, ref:ID or a BPX "
        "JSON file."
    ),
    no_args_is_help=True,
)
bpx_app = typer.Typer(
    help="BPX parameter files: export a liquid design's PyBaMM parameters, or read one.",
    no_args_is_help=True,
)
sim_app.add_typer(bpx_app, name="bpx")


OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Folder for the charts (PNG + HTML) and CSV."),
]
CRatesOpt = Annotated[
    str | None,
    typer.Option(
        "--c-rates",
        metavar="LIST",
        help="Comma-separated C-rates, e.g. 0.1,1,3 (default 0.1,0.2,0.5,1,2,3,5).",
        show_default=False,
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="Solver threads (default: all cores).",
                 show_default=False),
]

#: Columns of the printed rate table (the JSON has them all).
_RATE_COLUMNS = (
    "c_rate",
    "capacity_Ah",
    "energy_Wh",
    "mean_voltage_V",
    "capacity_retention",
    "specific_energy_Wh_kg",
    "specific_power_W_kg",
    "limiting_mechanism",
)
_HEADERS = {
    "c_rate": "C-rate",
    "capacity_Ah": "capacity [Ah]",
    "energy_Wh": "energy [Wh]",
    "mean_voltage_V": "mean V",
    "capacity_retention": "capacity kept",
    "energy_retention": "energy kept",
    "specific_energy_Wh_kg": "Wh/kg",
    "specific_power_W_kg": "W/kg",
    "energy_density_Wh_L": "Wh/L",
    "limiting_mechanism": "limited by",
    "name": "cell",
    "soc": "SOC",
    "discharge_resistance_ohm": "discharge R [mΩ]",
    "charge_resistance_ohm": "charge R [mΩ]",
    "area_specific_resistance_ohm_cm2": "ASR [Ω cm²]",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def parse_floats(text: str, option: str, *, positive: bool = True) -> list[float]:
    """Parse ``"0.1,1,3"`` into floats; a bad item is an input error naming ``option``."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            v = float(item)
        except ValueError:
            raise CasipInputError(
                Problem(option, "not a number", item, "comma-separated numbers, e.g. 0.1,1,3")
            ) from None
        if not math.isfinite(v) or (positive and v <= 0):
            raise CasipInputError(
                Problem(option, "must be a positive number", item, "e.g. 0.1,1,3")
            )
        out.append(v)
    if not out:
        raise CasipInputError(Problem(option, "no values given", text, "e.g. 0.1,1,3"))
    return out


def _is_bpx_file(spec: str) -> bool:
    return spec.lower().endswith(".json") and not spec.startswith("ref:")


def _load_target(spec: str) -> tuple[Any, str, str]:
    """A design (file or ``ref:ID``) or a BPX setup (``*.json``): (target, label, source)."""
    if _is_bpx_file(spec):
        from casip.physics.bpx import import_bpx

        setup = import_bpx(spec)
        return setup, Path(spec).stem.removesuffix(".bpx"), spec
    return load_design(spec)


def _display(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    cols = [c for c in columns if c in df.columns]
    return df[cols].rename(columns=_HEADERS)


def _write_charts(figs, out: Path, stem: str) -> list[Path]:
    from casip import report

    with spinner("writing charts"):
        return report.write_figures(figs, out, stem)


def _write_csv(df: pd.DataFrame, out: Path, stem: str) -> Path:
    from casip.io import ensure_dir, write_text_atomic

    return write_text_atomic(ensure_dir(out) / f"{stem}.csv", df.to_csv(index=False))


def _safe_stem(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label) or "cell"


def _notes(console, notes: Sequence[str]) -> None:
    for n in notes:
        console.print(Text(f"note: {n}", style="dim"))


# --------------------------------------------------------------------------------------------
# rate and ragone
# --------------------------------------------------------------------------------------------


@sim_app.command("rate")
@handles_input_errors
def rate(
    design: DesignArg,
    c_rates: CRatesOpt = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", metavar="C",
                     help="Ambient temperature [°C] (default 25, the base set's)."),
    ] = None,
    thermal: Annotated[
        bool,
        typer.Option("--thermal", help="Lumped thermal model (cells whose base set has "
                                       "thermal data, e.g. Chen2020); isothermal otherwise."),
    ] = False,
    threads: ThreadsOpt = None,
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Rate capability: constant-current discharges from full charge at each C-rate.

    Capacity, energy, retention, specific energy and power, and the limiting mechanism per
    C-rate; with --out, the discharge curves and retention chart (rate.png/.html) and
    rate.csv.
    """
    from casip.physics.rate import DEFAULT_C_RATES, rate_capability

    rates = parse_floats(c_rates, "--c-rates") if c_rates else list(DEFAULT_C_RATES)
    target, label, source = _load_target(design)
    lib = material_library(materials)
    with spinner(f"simulating {label}"):
        res = rate_capability(
            target, rates, library=lib, num_threads=threads, temperature_c=temperature,
            thermal=thermal,
        )
    files: list[Path] = []
    if out is not None:
        from casip.physics.charts_rate import rate_figures

        files += _write_charts(rate_figures(res), out, "rate")
        files.append(_write_csv(res.table, out, "rate"))
    if json_:
        echo_json({"source": source, "label": label, **res.to_dict(), "files": files})
    else:
        console = make_console()
        console.print(Text(f"{res.name}  ({res.approximation}, base set {res.base_set})",
                           style="bold"))
        console.print(Text(
            f"1C = {res.capacity_Ah:.4g} Ah; cell mass {res.mass_g:.4g} g; discharges from full "
            f"charge to {res.lower_cutoff_V:g} V"
        ))
        print_df(console, _display(res.table, _RATE_COLUMNS), title="Rate capability",
                  index=False)
        _notes(console, res.notes)
    wrote(files)


@sim_app.command("ragone")
@handles_input_errors
def ragone(
    designs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[DESIGN]...",
            help="Designs (files, ref:ID or BPX .json); default: every reference cell that "
            "maps to PyBaMM, LFP included.",
            show_default=False,
        ),
    ] = None,
    c_rates: CRatesOpt = None,
    threads: ThreadsOpt = None,
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Ragone data: specific energy against specific power of several cells (cell level).

    With --out: ragone.png/.html and ragone.csv.
    """
    from casip.physics.rate import DEFAULT_C_RATES, RAGONE_COLUMNS, rate_capability

    rates = parse_floats(c_rates, "--c-rates") if c_rates else list(DEFAULT_C_RATES)
    lib = material_library(materials)
    if designs:
        loaded = [_load_target(s) for s in designs]
    else:
        from casip.physics.rate import supported_reference_ids

        with spinner("checking which reference cells map to PyBaMM"):
            ids = supported_reference_ids(lib)
        loaded = [load_design(f"ref:{cid}") for cid in ids]
    labels = unique_labels([lab for _, lab, _ in loaded])
    frames = []
    for lab, (target, _, _) in zip(labels, loaded, strict=True):
        with spinner(f"simulating {lab}"):
            res = rate_capability(target, rates, library=lib, num_threads=threads)
        frames.append(res.table.assign(name=lab)[list(RAGONE_COLUMNS)])
    df = pd.concat(frames, ignore_index=True)
    files: list[Path] = []
    if out is not None:
        from casip.physics.charts_rate import ragone_figures

        files += _write_charts(ragone_figures(df), out, "ragone")
        files.append(_write_csv(df, out, "ragone"))
    if json_:
        echo_json({
            "c_rates": rates,
            "rows": [jsonable(r) for r in df.to_dict(orient="records")],
            "files": files,
        })
    else:
        cols = ("name", "c_rate", "specific_energy_Wh_kg", "specific_power_W_kg",
                "energy_density_Wh_L", "limiting_mechanism")
        print_df(make_console(), _display(df, cols), title="Ragone (per kg and litre of cell)",
                  index=False)
    wrote(files)


# --------------------------------------------------------------------------------------------
# charge
# --------------------------------------------------------------------------------------------


@sim_app.command("charge")
@handles_input_errors
def charge(
    design: DesignArg,
    c_rate: Annotated[
        float, typer.Option("--c-rate", help="Constant-current rate of the CC-CV charge [C].")
    ] = 1.0,
    fastest: Annotated[
        bool,
        typer.Option("--fastest", help="Search the fastest CC-CV rate that respects the limits."),
    ] = False,
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            metavar="C@SOC,...",
            help="Multi-step protocol: C-rate@until-SOC pairs, e.g. 3@0.5,2@0.7,1@0.8.",
            show_default=False,
        ),
    ] = None,
    soc_start: Annotated[float, typer.Option("--soc-start", help="Start SOC (fraction).")] = 0.1,
    soc_end: Annotated[float, typer.Option("--soc-end", help="End SOC (fraction).")] = 0.8,
    upper_voltage: Annotated[
        float | None,
        typer.Option("--upper-voltage", metavar="V",
                     help="CC to CV voltage [V] (default: the set's upper cut-off)."),
    ] = None,
    min_anode_potential: Annotated[
        float | None,
        typer.Option("--min-anode-potential", metavar="V",
                     help="Plating limit: lowest anode potential vs Li [V] (default 0)."),
    ] = 0.0,
    ccd: Annotated[
        float | None,
        typer.Option("--ccd", metavar="mA/cm2",
                     help="Critical current density [mA/cm2] for lithium-metal cells "
                          "(default: the library's value for the solid electrolyte)."),
    ] = None,
    max_temp: Annotated[
        float | None,
        typer.Option("--max-temp", metavar="C",
                     help="Temperature limit [°C]; switches the lumped thermal model on."),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", metavar="C",
                     help="Ambient temperature [°C] (default 25, the base set's)."),
    ] = None,
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Fast charge from --soc-start to --soc-end under limits; reports the binding limit.

    Limits: the upper voltage (hands over to constant voltage), lithium plating (anode
    potential, graphite/silicon anodes), the critical current density (lithium-metal anodes)
    and optionally a temperature limit. With --out: charge.png/.html and charge.csv (history).
    """
    from casip.physics.charge import ChargeLimits, fast_charge, fastest_charge

    if fastest and steps:
        raise CasipInputError(Problem("--fastest", "cannot be combined with --steps"))
    limits = ChargeLimits(
        upper_voltage_V=upper_voltage,
        min_anode_potential_V=min_anode_potential,
        critical_current_density_mA_cm2=ccd,
        max_temperature_C=max_temp,
    )
    target, label, source = _load_target(design)
    lib = material_library(materials)
    with spinner(f"charging {label}"):
        if fastest:
            res = fastest_charge(target, limits=limits, soc_start=soc_start, soc_end=soc_end,
                                 library=lib, temperature_c=temperature)
        elif steps:
            res = fast_charge(target, protocol="multistep", steps=_parse_steps(steps),
                              soc_start=soc_start, soc_end=soc_end, limits=limits, library=lib,
                              temperature_c=temperature)
        else:
            res = fast_charge(target, c_rate, soc_start=soc_start, soc_end=soc_end,
                              limits=limits, library=lib, temperature_c=temperature)
    files: list[Path] = []
    if out is not None:
        from casip.physics.charts_charge import charge_figures

        files += _write_charts(charge_figures(res), out, "charge")
        files.append(_write_csv(res.history, out, "charge"))
    if json_:
        echo_json({"source": source, "label": label, **res.to_dict(), "files": files})
    else:
        console = make_console()
        console.print(Text(f"{res.name}: {res.protocol} charge "
                           f"{100 * res.soc_start:.0f}% -> {100 * res.soc_end:.0f}%",
                           style="bold"))
        rows = [
            ("C-rate (first step)", f"{res.c_rate:.3g} C"),
            ("time", "not reached" if not math.isfinite(res.time_min)
             else f"{res.time_min:.1f} min"),
            ("binding limit", res.binding_limit),
            ("limits crossed", ", ".join(res.limits_crossed) or "none"),
            ("min anode potential", "—" if not math.isfinite(res.min_anode_potential_V)
             else f"{1000 * res.min_anode_potential_V:.0f} mV vs Li"),
            ("max current density", f"{res.max_current_density_mA_cm2:.3g} mA/cm²"),
        ]
        if res.critical_current_density_mA_cm2 is not None:
            rows.append(("critical current density",
                         f"{res.critical_current_density_mA_cm2:g} mA/cm² ({res.ccd_source})"))
        if math.isfinite(res.max_temperature_C):
            rows.append(("max temperature", f"{res.max_temperature_C:.1f} °C"))
        df = pd.DataFrame(rows, columns=["quantity", "value"])
        print_df(console, df, index=False)
        _notes(console, res.notes)
    wrote(files)


def _parse_steps(text: str) -> list[tuple[float, float]]:
    out = []
    for item in text.split(","):
        c, at, soc = item.strip().partition("@")
        try:
            out.append((float(c), float(soc)))
        except ValueError:
            raise CasipInputError(
                Problem("--steps", "expected C-rate@SOC pairs", item, "e.g. 3@0.5,2@0.7,1@0.8")
            ) from None
        if not at:
            raise CasipInputError(
                Problem("--steps", "expected C-rate@SOC pairs", item, "e.g. 3@0.5,2@0.7,1@0.8")
            )
    return out


# --------------------------------------------------------------------------------------------
# pulse
# --------------------------------------------------------------------------------------------


@sim_app.command("pulse")
@handles_input_errors
def pulse(
    design: DesignArg,
    soc: Annotated[
        str, typer.Option("--soc", metavar="LIST", help="States of charge (fractions).")
    ] = "0.2,0.5,0.8",
    c_rate: Annotated[float, typer.Option("--c-rate", help="Pulse current [C].")] = 1.0,
    duration: Annotated[
        float, typer.Option("--duration", metavar="S", help="Pulse length [s].")
    ] = 10.0,
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Pulse (HPPC-like) resistance at chosen states of charge: discharge and charge pulses.

    With --out: pulse.png/.html and pulse.csv.
    """
    from casip.physics.pulse import pulse_resistance

    socs = parse_floats(soc, "--soc")
    target, label, source = _load_target(design)
    lib = material_library(materials)
    with spinner(f"pulsing {label}"):
        df = pulse_resistance(target, socs, c_rate=c_rate, duration_s=duration, library=lib)
    files: list[Path] = []
    if out is not None:
        from casip.physics.charts_charge import pulse_figures

        files += _write_charts(pulse_figures(df), out, "pulse")
        files.append(_write_csv(df, out, "pulse"))
    if json_:
        echo_json({
            "source": source,
            "label": label,
            "c_rate": c_rate,
            "duration_s": duration,
            "rows": [jsonable(r) for r in df.to_dict(orient="records")],
            "files": files,
        })
    else:
        shown = df.copy()
        for col in ("discharge_resistance_ohm", "charge_resistance_ohm"):
            if col in shown:
                shown[col] = shown[col] * 1000.0  # mOhm for reading
        print_df(make_console(), _display(shown, list(df.columns)),
                  title=f"Pulse resistance of {label} ({c_rate:g}C, {duration:g} s)",
                  index=False)
    wrote(files)


# --------------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------------


@sim_app.command("replay")
@handles_input_errors
def replay_cmd(
    design: Annotated[
        str | None,
        typer.Option("--design", metavar="NAME|FILE",
                     help="A design file, ref:ID, or pybamm:SET (e.g. pybamm:ORegan2022)."),
    ] = None,
    bpx: Annotated[
        Path | None, typer.Option("--bpx", metavar="FILE", help="A BPX parameter file.")
    ] = None,
    test: Annotated[
        str | None, typer.Option("--test", metavar="TEST_ID", help="A test in the hub store.")
    ] = None,
    store: Annotated[
        Path, typer.Option("--store", metavar="DIR", envvar="CASIP_STORE",
                           help="The store folder (default ./casip-data).")
    ] = Path("casip-data"),
    csv: Annotated[
        Path | None, typer.Option("--csv", metavar="FILE",
                                  help="A CSV of time [s], current [A, + charge], voltage...")
    ] = None,
    scale: Annotated[
        str, typer.Option("--scale", metavar="amps|c-rate",
                          help="Apply the measured amps, or the same C-rate on the design.")
    ] = ...,
    window: Annotated[
        str | None, typer.Option("--window", metavar="T0:T1", help="Test-time window [s].")
    ] = None,
    control: Annotated[
        str, typer.Option("--control", metavar="current|power",
                          help="Drive the model with the measured current, or the measured "
                               "power (power column, else I*V).")
    ] = "current",
    initial_soc: Annotated[
        str, typer.Option("--initial-soc", metavar="auto|from_history|X",
                          help="auto: from the rest voltage the window starts in; "
                               "from_history: the last rest before the window plus the "
                               "charge passed since; or a SOC.")
    ] = "auto",
    temperature: Annotated[
        float | None, typer.Option("--temperature", metavar="C",
                                   help="Ambient temperature [degC] if the test records none.")
    ] = None,
    tested_capacity: Annotated[
        float | None, typer.Option("--tested-capacity", metavar="AH",
                                   help="The tested cell's capacity (for --scale c-rate).")
    ] = None,
    model: Annotated[str, typer.Option("--model", help="DFN or SPMe.")] = "DFN",
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Replay a measured current profile on a design or BPX set; print the voltage errors.

    With --out: replay.png/.html (measured vs simulated voltage) and replay.csv.
    """
    from casip.physics.replay import Profile, replay

    if (test is None) == (csv is None):
        raise CasipInputError(Problem("--test/--csv", "give exactly one", None,
                                      "--test TEST_ID or --csv FILE"))
    scales = {"amps": "amps", "c-rate": "c_rate", "c_rate": "c_rate"}
    if scale not in scales:
        raise CasipInputError(Problem("--scale", "unknown scaling", scale, "amps or c-rate"))
    if control not in ("current", "power"):
        raise CasipInputError(Problem("--control", "unknown control", control,
                                      "current or power"))
    win = None
    if window is not None:
        parts = window.split(":")
        if len(parts) != 2:
            raise CasipInputError(Problem("--window", "not T0:T1", window, "e.g. 94700:115400"))
        win = tuple(parse_floats(x, "--window", positive=False)[0] for x in parts)
    soc: str | float = "from_rest_voltage"
    if initial_soc in ("from_history", "from-history"):
        soc = "from_history"
    elif initial_soc != "auto":
        soc = parse_floats(initial_soc, "--initial-soc", positive=False)[0]
    target, label = _setup_target(design, bpx, materials)
    if test is not None:
        from casip.cli.common import open_store

        profile = Profile.from_store(open_store(store), test)
    else:
        profile = Profile.from_csv(csv)
    with spinner(f"replaying {profile.source} on {label}"):
        res = replay(target, profile, scale=scales[scale], control=control, initial_soc=soc,
                     temperature_c=temperature, window=win, tested_capacity_ah=tested_capacity,
                     model=model)
    files: list[Path] = []
    if out is not None:
        from casip.physics.charts_replay import replay_figures

        files += _write_charts(replay_figures(res), out, "replay")
        files.append(_write_csv(res.to_frame(), out, "replay"))
    if json_:
        echo_json({**res.summary(), "files": files})
    else:
        console = make_console()
        print_df(console, res.errors.rename(columns={
            "step_type": "step type", "rmse_mV": "RMSE [mV]", "max_abs_mV": "max |error| [mV]",
            "mean_mV": "mean error [mV]"}),
            title=f"Replay of {res.source} on {label} ({res.model})", index=False)
        stop = (f"stopped early at t = {res.stopped_at_s:g} s: {res.stop_reason}"
                if res.stopped_early else "simulated to the end of the window")
        _notes(console, [f"initial state: {res.initial_state}", stop, *res.notes])
    wrote(files)


def _setup_target(design: str | None, bpx: Path | None, materials: Path | None):
    """(setup, label) of --design NAME|FILE|pybamm:SET or --bpx FILE."""
    if (design is None) == (bpx is None):
        raise CasipInputError(Problem("--design/--bpx", "give exactly one", None,
                                      "--design NAME|FILE or --bpx FILE"))
    if bpx is not None:
        from casip.physics.bpx import import_bpx

        return import_bpx(bpx), bpx.stem
    from casip.physics.replay import setup_from_pybamm

    if design.startswith("pybamm:"):
        return setup_from_pybamm(design[len("pybamm:"):]), design[len("pybamm:"):]
    d, label, _ = load_design(design)
    from casip.physics.parameters import parameters_for

    return parameters_for(d, material_library(materials)), label


def _cases(specs: list[str], option: str, profiles, **rules):
    """FitCases from LABEL=T0:T1[@TEST_ID] specs."""
    from casip.physics.calibration import FitCase

    out = []
    for spec in specs:
        label, sep, rest = spec.partition("=")
        win, _, test_id = rest.partition("@")
        parts = win.split(":")
        if not sep or not label or len(parts) != 2:
            raise CasipInputError(Problem(option, "not LABEL=T0:T1[@TEST_ID]", spec,
                                          "e.g. C/10=29705:76820"))
        t = tuple(parse_floats(x, option, positive=False)[0] for x in parts)
        out.append(FitCase(label, profiles(test_id or None), window=t, **rules))
    return out


@sim_app.command("calibrate")
@handles_input_errors
def calibrate_cmd(
    design: Annotated[
        str | None,
        typer.Option("--design", metavar="NAME|FILE",
                     help="A design file, ref:ID, or pybamm:SET (e.g. pybamm:ORegan2022)."),
    ] = None,
    bpx: Annotated[
        Path | None, typer.Option("--bpx", metavar="FILE", help="A BPX parameter file.")
    ] = None,
    test: Annotated[
        str | None, typer.Option("--test", metavar="TEST_ID",
                                 help="The hub test the windows come from (unless @TEST_ID).")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", metavar="FILE",
                                  help="A CSV of time [s], current [A, + charge], voltage.")
    ] = None,
    store: Annotated[
        Path, typer.Option("--store", metavar="DIR", envvar="CASIP_STORE",
                           help="The store folder (default ./casip-data).")
    ] = Path("casip-data"),
    fit: Annotated[
        list[str], typer.Option("--fit", metavar="LABEL=T0:T1[@TEST]",
                                help="A protocol to fit on (repeat).")
    ] = ...,
    hold: Annotated[
        list[str] | None, typer.Option("--hold", metavar="LABEL=T0:T1[@TEST]",
                                       help="A protocol held back for prediction (repeat).")
    ] = None,
    scale: Annotated[
        str, typer.Option("--scale", metavar="amps|c-rate",
                          help="Apply the measured amps, or the same C-rate on the design.")
    ] = ...,
    parameters: Annotated[
        str | None, typer.Option("--parameters", metavar="A,B,...",
                                 help="Kinetics/transport parameters to fit (see docs).")
    ] = None,
    stages: Annotated[
        str, typer.Option("--stages", metavar="balance,kinetics_transport",
                          help="Stages to run, in order.")
    ] = "balance,kinetics_transport",
    temperature: Annotated[
        float | None, typer.Option("--temperature", metavar="C",
                                   help="Ambient temperature [degC] if the test records none.")
    ] = None,
    tested_capacity: Annotated[
        float | None, typer.Option("--tested-capacity", metavar="AH",
                                   help="The tested cell's capacity (for --scale c-rate).")
    ] = None,
    initial_soc: Annotated[
        str, typer.Option("--initial-soc", metavar="auto|from_history",
                          help="auto: the rest voltage each window starts in; from_history.")
    ] = "auto",
    model: Annotated[str, typer.Option("--model", help="SPMe (default) or DFN.")] = "SPMe",
    thermal: Annotated[
        str, typer.Option("--thermal", metavar="isothermal|lumped",
                          help="PyBaMM's thermal option for the fit and the replays.")
    ] = "isothermal",
    max_evaluations: Annotated[
        int, typer.Option("--max-evaluations", metavar="N", help="Budget per stage.")
    ] = 600,
    out: OutOpt = None,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Calibrate a design (or BPX/PyBaMM set) to measured windows, in stages, with PyBOP.

    Prints the fitted parameters with their identifiability and the fit and prediction
    errors. With --out: calibration.json (the record; apply it with the Python API) and
    calibrated.bpx.json (liquid cells).
    """
    from casip.physics.calibration import DEFAULT_KINETICS_TRANSPORT, calibrate
    from casip.physics.replay import Profile

    scales = {"amps": "amps", "c-rate": "c_rate", "c_rate": "c_rate"}
    if scale not in scales:
        raise CasipInputError(Problem("--scale", "unknown scaling", scale, "amps or c-rate"))
    if test is not None and csv is not None:
        raise CasipInputError(Problem("--test/--csv", "give at most one", None,
                                      "--test TEST_ID or --csv FILE"))
    target, label = _setup_target(design, bpx, materials)
    cache: dict = {}

    def profiles(test_id):
        key = test_id or test or (str(csv) if csv else None)
        if key is None:
            raise CasipInputError(Problem("--test", "a window names no test", None,
                                          "--test TEST_ID, --csv FILE or LABEL=T0:T1@TEST_ID"))
        if key not in cache:
            if csv is not None and key == str(csv):
                cache[key] = Profile.from_csv(csv)
            else:
                from casip.cli.common import open_store

                cache[key] = Profile.from_store(open_store(store), key)
        return cache[key]

    soc = "from_history" if initial_soc in ("from_history", "from-history") else (
        "from_rest_voltage" if initial_soc == "auto"
        else parse_floats(initial_soc, "--initial-soc", positive=False)[0])
    rules = {"scale": scales[scale], "temperature_c": temperature,
             "tested_capacity_ah": tested_capacity, "initial_soc": soc}
    fit_cases = _cases(fit, "--fit", profiles, **rules)
    held = _cases(hold or [], "--hold", profiles, **rules)
    params = ([p.strip() for p in parameters.split(",") if p.strip()] if parameters
              else list(DEFAULT_KINETICS_TRANSPORT))
    with spinner(f"calibrating {label} on {', '.join(c.label for c in fit_cases)}"):
        res = calibrate(target, fit_cases, held_back=held,
                        stages=[x.strip() for x in stages.split(",") if x.strip()],
                        parameters=params, model=model, thermal=thermal,
                        max_evaluations=max_evaluations)
    files: list[Path] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        files.append(res.save(out / "calibration.json"))
        try:
            files.append(res.export_bpx(out / "calibrated.bpx.json"))
        except CasipInputError as exc:
            res.warnings.append(f"no BPX file: {exc}")
        files.append(_write_csv(pd.concat([res.fit_errors, res.prediction_errors]), out,
                                "calibration-errors"))
    if json_:
        echo_json({**res.summary(), "files": files})
        return
    console = make_console()
    for st in res.stages:
        if st.skipped:
            _notes(console, [f"{st.stage}: skipped: {st.skipped}"])
            continue
        print_df(console, st.parameters[["parameter", "initial", "fitted", "rel_std",
                                         "max_abs_correlation", "identifiability"]],
                 title=(f"{st.stage}: RMSE {st.rmse_before_mV:.1f} -> {st.rmse_after_mV:.1f} "
                        f"mV over {st.points} points ({st.evaluations} evaluations, "
                        f"{st.seconds:.0f} s)"), index=False)
    print_df(console, pd.concat([res.fit_errors, res.prediction_errors])[
        ["case", "role", "rmse_before_mV", "rmse_after_mV"]],
        title=f"Replays before and after ({model})", index=False)
    _notes(console, res.warnings)
    wrote(files)


# --------------------------------------------------------------------------------------------
# bpx
# --------------------------------------------------------------------------------------------


@bpx_app.command("export")
@handles_input_errors
def bpx_export(
    design: DesignArg,
    dest: Annotated[Path, typer.Argument(metavar="OUT.json", help="The BPX file to write.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    materials: MaterialsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Write a liquid design's PyBaMM parameters as a BPX file (validated with bpx).

    Lithium-metal, anode-free and all-solid-state designs are refused: BPX describes a full
    cell with two porous electrodes and a liquid electrolyte.
    """
    from casip.physics.bpx import export_bpx

    if dest.exists() and not force:
        raise CasipInputError(
            Problem("", "the file exists", expected="a new file, or --force"), source=str(dest)
        )
    d, label, source = load_design(design)
    lib = material_library(materials)
    with spinner(f"exporting {label}"):
        path = export_bpx(d, dest, library=lib, source=source)
    if json_:
        echo_json({"source": source, "label": label, "files": [path]})
    else:
        typer.echo(f"exported {label} to {path}; run it with: casip sim charge {path}")


@bpx_app.command("import")
@handles_input_errors
def bpx_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE.json", help="A BPX file.", show_default=False)
    ],
    json_: JsonOpt = False,
) -> None:
    """Read and check a BPX file; print its cell and electrode parameters.

    Any sim command takes it as DESIGN, e.g. casip sim charge FILE.json.
    """
    from casip.physics.bpx import import_bpx

    setup = import_bpx(file)
    pv = setup.parameter_values
    m = setup.metrics

    def num(name: str) -> float | None:
        v = pv[name] if name in pv.keys() else None
        return float(v) if isinstance(v, int | float) else None

    summary = {
        "name": setup.name,
        "capacity_Ah": m.capacity_Ah,
        "mass_g": m.mass_g,
        "volume_cm3": m.volume_cm3,
        "electrode_area_cm2": m.geometry["cathode_area_cm2"],
        "lower_cutoff_V": setup.lower_cutoff_V,
        "upper_cutoff_V": setup.upper_cutoff_V,
        "negative_thickness_um": m.geometry["anode_thickness_um"],
        "separator_thickness_um": m.geometry["separator_thickness_um"],
        "positive_thickness_um": m.geometry["cathode_thickness_um"],
        "negative_porosity": num("Negative electrode porosity"),
        "separator_porosity": num("Separator porosity"),
        "positive_porosity": num("Positive electrode porosity"),
        "negative_max_concentration_mol_m3": num(
            "Maximum concentration in negative electrode [mol.m-3]"),
        "positive_max_concentration_mol_m3": num(
            "Maximum concentration in positive electrode [mol.m-3]"),
    }
    if json_:
        echo_json({"source": str(file), **summary, "notes": setup.notes,
                    "warnings": m.warnings})
        return
    console = make_console()
    df = pd.DataFrame(
        [(k, "—" if v is None or (isinstance(v, float) and not math.isfinite(v))
          else (f"{v:.4g}" if isinstance(v, float) else str(v)))
         for k, v in summary.items()],
        columns=["quantity", "value"],
    )
    print_df(console, df, title=f"BPX file {file}", index=False)
    for w in m.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))
    console.print(Text(f"valid BPX; run it with: casip sim charge {file}", style="dim"))


__all__ = ["bpx_app", "parse_floats", "sim_app"]
