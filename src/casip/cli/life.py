"""``casip life ...``: ageing projections and early cycle-life prediction on the command line.

- ``models``: the BLAST-Lite ageing models, their chemistry and validity ranges;
- ``project`` / ``compare``: capacity vs time of one or several models under a duty preset
  (``lfp``, ``nmc``, a BLAST-Lite model name, or ``solid-state:LPSCl`` / ``solid-state:LLZO``);
- ``train`` / ``predict`` / ``evaluate``: the Severson et al. early-life predictor, trained on the
  Q(V) form of ``../shared/data/severson`` (``CASIP_SHARED_DATA`` overrides ``../shared/data``).

As everywhere in ``casip``: ``--json`` prints JSON on stdout and nothing else (warnings go to
stderr); ``--out DIR`` writes each chart as PNG and offline HTML; bad input exits with status 2
and one message, without a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.text import Text

from casip.cli.common import (
    DEFAULT_STORE,
    JsonOpt,
    echo_json,
    handles_input_errors,
    load_design,
    make_console,
    open_store,
    print_df,
    spinner,
    wrote,
)
from casip.errors import CasipInputError, Problem

#: The ``casip life`` sub-app (registered by :mod:`casip.cli`).
life_app = typer.Typer(
    help=(
        "Longevity: ageing projections (BLAST-Lite Li-ion/LFP, semi-empirical solid-state) "
        "under a duty, and early cycle-life prediction from the first 100 cycles."
    ),
    no_args_is_help=True,
)


SOLID_PREFIX = "solid-state:"
#: Early-life model kinds, by CLI name.
KINDS = ("variance", "discharge", "full")

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Folder for the charts (PNG + HTML) and CSV."),
]
DutyOpt = Annotated[
    str | None,
    typer.Option("--duty", help="Duty preset: ev_daily, ev_fast_charge or stationary_storage "
                 "(or give --duty-file).", show_default=False),
]
DutyFileOpt = Annotated[
    Path | None,
    typer.Option("--duty-file", metavar="FILE", help="A user-defined duty (YAML or JSON) with "
                 "the DutyCycle fields: cycles_per_day, depth_of_discharge, charge_c_rate, "
                 "discharge_c_rate, temperature_C, rest_soc, hold_h, order, years, name.",
                 show_default=False),
]
#: Largest duty file read [bytes].
MAX_DUTY_FILE_BYTES = 1_000_000
YearsOpt = Annotated[
    float | None,
    typer.Option("--years", metavar="N", help="Horizon [years] (default: the duty's own).",
                 show_default=False),
]
TempOpt = Annotated[
    float | None,
    typer.Option("--temperature-c", metavar="T", help="Cell temperature [°C] (default: the "
                 "duty's own).", show_default=False),
]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data", metavar="DIR", help="The Severson Q(V) folder (default: "
                 "$CASIP_SHARED_DATA/severson or ../shared/data/severson beside the repo).",
                 show_default=False),
]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def read_duty_file(path: Path, **changes):
    """A :class:`~casip.life.duty.DutyCycle` from a YAML or JSON file (``changes`` override its
    fields); errors name the file and the field."""
    from casip.io import parse_yaml, read_text_file
    from casip.life.duty import DutyCycle

    src = str(path)
    text = read_text_file(path, what="duty file", max_bytes=MAX_DUTY_FILE_BYTES)
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CasipInputError(Problem("", f"not valid JSON: {e}"), source=src) from None
    else:
        data = parse_yaml(text, src)
    if not isinstance(data, dict):
        raise CasipInputError(Problem(
            "", "a duty file must be a mapping of DutyCycle fields",
            expected="e.g. cycles_per_day: 1, depth_of_discharge: 0.8, ..."), source=src)
    data.setdefault("name", Path(path).stem)
    try:
        return DutyCycle(**{**data, **changes})
    except CasipInputError as e:
        raise CasipInputError(e.problems, source=src) from None
    except TypeError as e:  # non-string keys
        raise CasipInputError(Problem("", f"bad duty fields: {e}"), source=src) from None


def _duty(name: str | None, years: float | None, temperature_c: float | None,
          duty_file: Path | None = None):
    from casip.life.duty import preset

    if (name is None) == (duty_file is None):
        raise CasipInputError(Problem("--duty/--duty-file", "give exactly one of them",
                                      expected="a preset name (--duty) or a duty file "
                                      "(--duty-file)"))
    changes = {}
    if years is not None:
        changes["years"] = years
    if temperature_c is not None:
        changes["temperature_C"] = temperature_c
    if duty_file is not None:
        return read_duty_file(duty_file, **changes)
    return preset(name, **changes)


def project_spec(spec: str, duty) -> tuple[str, pd.DataFrame, list[str]]:
    """Project one model spec under a duty: (label, frame, warnings).

    ``spec`` is ``lfp``, ``nmc``, a BLAST-Lite model name or ``solid-state:<electrolyte>``.
    """
    if spec.lower().startswith(SOLID_PREFIX):
        from casip.life import solid_state

        electrolyte = spec[len(SOLID_PREFIX):]
        if not electrolyte:
            raise CasipInputError(Problem("--model", "no electrolyte given", spec,
                                          "solid-state:LPSCl or solid-state:LLZO"))
        frame = solid_state.project(electrolyte, duty, warn=False)
        notes = [frame.attrs["failure"]] if frame.attrs.get("failure") else []
        return f"solid-state {electrolyte}", frame, notes
    from casip.life import blast

    if spec.lower() in blast.DEFAULT_MODELS:
        spec = spec.lower()
    elif spec not in {m.name for m in blast.list_models()}:
        raise CasipInputError(Problem(
            "--model", "unknown ageing model", spec,
            "lfp, nmc, solid-state:LPSCl, solid-state:LLZO or a BLAST-Lite model "
            "(see casip life models)",
        ))
    frame = blast.project(spec, duty, warn=False)
    name = frame.attrs["model"]
    label = f"{frame.attrs.get('label') or name}" if spec in blast.DEFAULT_MODELS else name
    return label, frame, [f"{name}: {w}" for w in frame.attrs.get("warnings", [])]


def _summary(spec: str, label: str, frame: pd.DataFrame, notes: list[str]) -> dict:
    a = frame.attrs
    out = {
        "model": spec,
        "label": label,
        "years_to_80pct": a.get("years_to_80pct"),
        "efc_to_80pct": a.get("efc_to_80pct"),
        "capacity_end": a.get("capacity_end"),
        "resistance_rel_end": (float(frame["resistance_rel"].iloc[-1])
                               if "resistance_rel" in frame else None),
        "warnings": notes,
    }
    if "failed" in a:
        out["failed"] = a["failed"]
        out["failure"] = a.get("failure")
    if "validity" in a:
        out["validity"] = a["validity"]
    return out


def _series(frame: pd.DataFrame, n: int = 200) -> dict:
    idx = np.unique(np.round(np.linspace(0, len(frame) - 1, min(n, len(frame)))).astype(int))
    cols = [c for c in ("t_years", "efc", "capacity_rel", "resistance_rel") if c in frame]
    return {c: frame[c].to_numpy(dtype=float)[idx].tolist() for c in cols}


def _warn(notes: list[str]) -> None:
    err = make_console(stderr=True)
    for n in notes:
        err.print(Text(f"warning: {n}", style="yellow"))


def _summary_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([
        {
            "model": r["label"],
            "years to 80 %": r["years_to_80pct"],
            "EFC to 80 %": r["efc_to_80pct"],
            "capacity at end [%]": (None if r["capacity_end"] is None
                                    else 100 * r["capacity_end"]),
            "R/R0 at end": r["resistance_rel_end"],
        }
        for r in rows
    ])


def _write(figs, out: Path, stem: str) -> list[Path]:
    from casip import report

    with spinner("writing charts"):
        return report.write_figures(figs, out, stem)


def _write_csv(df: pd.DataFrame, out: Path, stem: str) -> Path:
    from casip.io import ensure_dir, write_text_atomic

    return write_text_atomic(ensure_dir(out) / f"{stem}.csv", df.to_csv(index=False))


def severson_folder(data: Path | None = None) -> Path:
    """The Severson Q(V) folder: ``data``, else ``$CASIP_SHARED_DATA/severson``, else
    ``../shared/data/severson`` beside the repository."""
    if data is not None:
        folder = data
    else:
        env = os.environ.get("CASIP_SHARED_DATA")
        import casip

        repo = Path(casip.__file__).resolve().parents[2]  # src/casip/__init__.py
        folder = (Path(env) if env else repo.parent / "shared" / "data") / "severson"
    if not folder.is_dir():
        raise CasipInputError(Problem(
            "--data", "the Severson Q(V) folder was not found", str(folder),
            "a folder with train/cell*.csv and train_cycle_lives.csv (set CASIP_SHARED_DATA "
            "or pass --data)",
        ))
    return folder


def _model_class(kind: str):
    from casip.life import DischargeModel, FullModel, VarianceModel

    classes = {"variance": VarianceModel, "discharge": DischargeModel, "full": FullModel}
    if kind not in classes:
        raise CasipInputError(Problem("--kind", "unknown model kind", kind,
                                      "one of " + ", ".join(KINDS)))
    return classes[kind]


def load_early_model(path: Path):
    """A saved early-life model of any kind (the class is read from the file)."""
    from casip.life import DischargeModel, FullModel, VarianceModel

    try:
        d = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CasipInputError(Problem("--model", f"cannot read model: {e}"),
                              source=str(path)) from None
    classes = {c.__name__: c for c in (VarianceModel, DischargeModel, FullModel)}
    cls = classes.get(d.get("model") if isinstance(d, dict) else None)
    if cls is None:
        raise CasipInputError(Problem("model", "not a saved early-life model",
                                      expected=", ".join(classes)), source=str(path))
    return cls.load(path)


def _features(curves, names: list[str], last_cycle: int = 100) -> tuple[np.ndarray, list[str]]:
    """Feature matrix of Q(V) curves (Severson grid, columns = cycles 2, 3, ...) from cycles
    2..``last_cycle``, with the data warnings as messages."""
    from casip.life import FEATURE_NAMES, qv_features

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # column j is cycle j + 2, as in the shared files (2..100); a file with fewer columns
        # (a test still running) is read the same way and refused if it stops before N
        rows = [qv_features(q, cycles=np.arange(2, 2 + np.shape(q)[1]), source=n,
                            last_cycle=last_cycle)
                for q, n in zip(curves, names, strict=True)]
    X = np.array([[r[k] for k in FEATURE_NAMES] for r in rows], dtype=float)
    return X, [str(w.message) for w in caught]


def _check_cycles(cycles: int) -> int:
    """``--cycles N``, checked as :func:`casip.life.qv_features` checks ``last_cycle``."""
    from casip.life.early import _check_cycle_window

    try:
        return _check_cycle_window(cycles, 2)[0]
    except CasipInputError as e:
        raise CasipInputError([dataclasses.replace(p, field="--cycles")
                               for p in e.problems]) from None


def _qv_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise CasipInputError(Problem("--qv-folder", "no such file or folder", str(folder)))
    base = folder / "train" if (folder / "train").is_dir() else folder
    files = sorted(base.glob("*.csv"), key=lambda p: (len(p.stem), p.stem))
    files = [p for p in files if p.name != "train_cycle_lives.csv"]
    if not files:
        raise CasipInputError(Problem("--qv-folder", "no Q(V) CSV files found", str(folder),
                                      "CSV files of 1000 voltages x cycles 2..100"))
    return files


# --------------------------------------------------------------------------------------------
# Ageing projections
# --------------------------------------------------------------------------------------------


@life_app.command("models")
@handles_input_errors
def models(json_: JsonOpt = False) -> None:
    """The BLAST-Lite ageing models with their chemistry and stated validity range.

    Besides these, --model takes lfp, nmc (the default LFP and NMC models) and
    solid-state:LPSCl or solid-state:LLZO (the semi-empirical solid-state model).
    """
    from casip.life import blast

    infos = blast.list_models()
    if json_:
        echo_json({
            "defaults": dict(blast.DEFAULT_MODELS),
            "solid_state": [f"{SOLID_PREFIX}LPSCl", f"{SOLID_PREFIX}LLZO"],
            "models": [
                {"name": m.name, "label": m.label, "chemistry": m.chemistry,
                 "capacity_Ah": m.capacity_Ah, "outputs": list(m.outputs),
                 "validity": m.validity}
                for m in infos
            ],
        })
        return

    def rng(v):
        if v is None:
            return ""
        if isinstance(v, list):
            return " to ".join(f"{x:g}" for x in v) if len(v) > 1 else f"{v[0]:g}"
        return f"{v:g}"

    df = pd.DataFrame([
        {
            "model": m.name,
            "chemistry": m.chemistry,
            "capacity [Ah]": m.capacity_Ah,
            "T [°C]": rng(m.validity.get("cycling_temperature")),
            "DoD": rng(m.validity.get("dod")),
            "SOC": rng(m.validity.get("soc")),
            "max charge [C]": rng(m.validity.get("max_rate_charge")),
            "max discharge [C]": rng(m.validity.get("max_rate_discharge")),
        }
        for m in infos
    ])
    console = make_console()
    print_df(console, df, title="BLAST-Lite ageing models (validity ranges)", index=False)
    console.print(Text(
        f"lfp = {blast.DEFAULT_MODELS['lfp']}, nmc = {blast.DEFAULT_MODELS['nmc']}; "
        "solid-state:LPSCl and solid-state:LLZO use the semi-empirical solid-state model.",
        style="dim",
    ))


@life_app.command("project")
@handles_input_errors
def project(
    model: Annotated[str | None, typer.Option("--model", help="lfp, nmc, a BLAST-Lite model "
                                              "name, or solid-state:LPSCl / solid-state:LLZO.",
                                              show_default=False)] = None,
    design: Annotated[str | None, typer.Option(
        "--design", metavar="DESIGN", help="A design file or ref:ID instead of --model: the "
        "ageing model is chosen from its chemistry.", show_default=False)] = None,
    duty: DutyOpt = None,
    duty_file: DutyFileOpt = None,
    years: YearsOpt = None,
    temperature_c: TempOpt = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Capacity and resistance of one model under a duty: years and cycles to 80 %.

    Extrapolation (a duty outside the model's tested range) and solid-state failures are
    printed as warnings. With --out, the capacity chart (capacity.png/.html) and capacity.csv.
    """
    if (model is None) == (design is None):
        raise CasipInputError(Problem("--model/--design", "give exactly one of them"))
    d = _duty(duty, years, temperature_c, duty_file)
    mapping = None
    if design is not None:
        from casip.life.design_life import project_design

        design_obj, design_label, _ = load_design(design)
        with spinner(f"projecting {design}"):
            frame = project_design(design_obj, d, warn=False)
        model, mapping = frame.attrs["model"], frame.attrs["mapping"]
        label = f"{design_label} ({model})"
        notes = ([frame.attrs["failure"]] if frame.attrs.get("failure") else
                 [f"{model}: {w}" for w in frame.attrs.get("warnings", [])])
    else:
        with spinner(f"projecting {model}"):
            label, frame, notes = project_spec(model, d)
    row = _summary(model, label, frame, notes)
    if mapping is not None:
        row = {"design": design, "mapping": mapping, **row}
    files: list[Path] = []
    if out is not None:
        from casip.life.charts import capacity_figures

        files += _write(capacity_figures({label: frame}, title=f"{label} under {d.name}"),
                        out, "capacity")
        files.append(_write_csv(frame, out, "capacity"))
    _warn(notes)
    if json_:
        echo_json({"duty": d.model_dump(), **row, "series": _series(frame), "files": files})
    else:
        console = make_console()
        console.print(Text(f"{label} under {d.name} ({d.years:g} years, {d.temperature_C:g} °C)",
                           style="bold"))
        print_df(console, _summary_table([row]), index=False)
        if mapping is not None:
            console.print(Text(mapping, style="dim"))
    wrote(files)


@life_app.command("compare")
@handles_input_errors
def compare(
    model: Annotated[list[str], typer.Option("--model", help="A model (repeat): lfp, nmc, a "
                                             "BLAST-Lite name, solid-state:LPSCl ...")],
    duty: DutyOpt = None,
    duty_file: DutyFileOpt = None,
    years: YearsOpt = None,
    temperature_c: TempOpt = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Several models under the same duty: a table and, with --out, one capacity chart
    (compare.png/.html) and compare.csv."""
    d = _duty(duty, years, temperature_c, duty_file)
    frames: dict[str, pd.DataFrame] = {}
    rows, notes_all = [], []
    with spinner("projecting"):
        for spec in model:
            label, frame, notes = project_spec(spec, d)
            while label in frames:
                label += " '"
            frames[label] = frame
            rows.append(_summary(spec, label, frame, notes))
            notes_all += notes
    files: list[Path] = []
    if out is not None:
        from casip.life.charts import capacity_figures

        files += _write(capacity_figures(frames, title=f"Capacity under {d.name}"), out,
                        "compare")
        long = pd.concat([f.assign(model=lab) for lab, f in frames.items()], ignore_index=True)
        files.append(_write_csv(long, out, "compare"))
    _warn(notes_all)
    if json_:
        echo_json({"duty": d.model_dump(),
                    "projections": [{**r, "series": _series(frames[r["label"]])} for r in rows],
                    "files": files})
    else:
        console = make_console()
        console.print(Text(f"under {d.name} ({d.years:g} years, {d.temperature_C:g} °C)",
                           style="bold"))
        print_df(console, _summary_table(rows), index=False)
    wrote(files)


# --------------------------------------------------------------------------------------------
# Early cycle-life prediction
# --------------------------------------------------------------------------------------------


@life_app.command("train")
@handles_input_errors
def train(
    out: Annotated[Path, typer.Option("--out", metavar="MODEL.json",
                                      help="Where to save the trained model.")],
    kind: Annotated[str, typer.Option("--kind", help="Model saved: variance, discharge or "
                                      "full.")] = "full",
    cycles: Annotated[int, typer.Option(
        "--cycles", metavar="N", help="Train on the features of cycles 2..N (11..100; "
        "docs/longevity.md gives the error at each N: 60 is close to 100, 40 and below are "
        "poor). The model records N and predict uses it.")] = 100,
    data: DataOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Train the variance, discharge and full models on the Severson training cells; print
    each one's cross-validated MAPE and save the --kind model."""
    from casip.life import load_severson_qv, severson_provenance

    _model_class(kind)
    _check_cycles(cycles)
    folder = severson_folder(data)
    with spinner("reading the training cells"):
        curves, lives = load_severson_qv(folder)
        X, notes = _features(curves, [f"cell{i + 1}" for i in range(len(curves))], cycles)
        prov = {**severson_provenance(folder), "last_cycle": cycles, "ref_cycle": 10}
    _warn(notes)
    fitted, rows = {}, []
    with spinner("training"):
        for k in KINDS:
            m = _model_class(k)().fit(X, lives, provenance=prov)
            fitted[k] = m
            p = m.provenance_
            rows.append({"model": k, "features": len(m.features), "cells": p["n_cells"],
                         "cv_mape_percent": p["cv_mape_percent"],
                         "training_mape_percent": m.mape(X, lives)})
    path = fitted[kind].save(out)
    if json_:
        echo_json({"data": str(folder), "saved": kind, "cycles": cycles, "models": rows,
                   "files": [path]})
    else:
        console = make_console()
        print_df(console, pd.DataFrame(rows).rename(columns={
            "cv_mape_percent": "CV MAPE [%]", "training_mape_percent": "training MAPE [%]"}),
            title=f"Early-life models on {len(lives)} cells ({folder}), cycles 2..{cycles}",
            index=False)
        console.print(Text(f"saved the {kind} model", style="dim"))
    wrote([path])


@life_app.command("predict")
@handles_input_errors
def predict(
    model: Annotated[Path, typer.Option("--model", metavar="MODEL.json",
                                        help="A model saved by casip life train.")],
    qv_folder: Annotated[Path | None, typer.Option(
        "--qv-folder", metavar="FOLDER",
        help="A Q(V) CSV (1000 voltages 3.6-2.0 V x cycles 2..100, or 2..N for a model "
        "trained with --cycles N) or a folder of them.",
        show_default=False)] = None,
    severson_cell: Annotated[int | None, typer.Option(
        "--severson-cell", metavar="N", help="Cell N of the shared Severson training set.",
        show_default=False)] = None,
    test: Annotated[str | None, typer.Option(
        "--test", metavar="TEST_ID", help="A test ingested with casip data ingest (an id or "
        "unique prefix from casip data list); it needs the discharges of cycles 2 to N, "
        "the model's N (100 unless trained with --cycles).",
        show_default=False)] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", metavar="DIR", envvar="CASIP_STORE",
        help="The store of --test (default ./casip-data; CASIP_STORE also sets it).",
        show_default=False)] = None,
    coverage: Annotated[float, typer.Option("--coverage", help="Interval coverage.")] = 0.9,
    include_flagged: Annotated[bool, typer.Option(
        "--include-flagged", help="Predict a --test flagged at ingestion too (e.g. a failed "
        "capacity check); flagged tests are refused by default.")] = False,
    data: DataOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Predicted cycle life with an interval, from the Q(V) curves of cycles 2..N, N the
    model's own (100, or its train --cycles), of --qv-folder, --severson-cell, or an ingested
    test with --test."""
    from casip.life import load_severson_qv

    sources = [qv_folder is not None, severson_cell is not None, test is not None]
    if sum(sources) != 1:
        raise CasipInputError(Problem("--qv-folder/--severson-cell/--test",
                                      "give exactly one of them"))
    if not 0 < coverage < 1:
        raise CasipInputError(Problem("--coverage", "out of range", coverage,
                                      "a value in (0, 1)"))
    if test is not None:
        _predict_test(model, test, store, coverage, json_, include_flagged)
        return
    m = load_early_model(model)
    notes: list[str] = []
    if severson_cell is not None:
        folder = severson_folder(data)
        curves, lives = load_severson_qv(folder)
        if not 1 <= severson_cell <= len(curves):
            raise CasipInputError(Problem("--severson-cell", "no such cell", severson_cell,
                                          f"1 to {len(curves)}"))
        names = [f"cell{severson_cell}"]
        X, notes = _features([curves[severson_cell - 1]], names, m.last_cycle)
        observed = [float(lives[severson_cell - 1])]
        if "cell" + str(severson_cell) in (m.provenance_.get("cells") or []):
            notes.append("this cell was in the model's training set: the prediction is "
                         "in-sample")
    else:
        files = _qv_files(qv_folder)
        curves = []
        for p in files:
            try:
                curves.append(np.loadtxt(p, delimiter=",", ndmin=2))
            except ValueError as e:
                raise CasipInputError(Problem("", f"not a numeric CSV: {e}"),
                                      source=str(p)) from None
        names = [p.stem for p in files]
        X, notes = _features(curves, [str(p) for p in files], m.last_cycle)
        observed = [None] * len(names)
    pred, lo, hi = m.predict_interval(X, coverage=coverage)
    cells = [
        {"cell": n, "predicted_cycle_life": float(p), "low": float(a), "high": float(b),
         "observed_cycle_life": o}
        for n, p, a, b, o in zip(names, pred, lo, hi, observed, strict=True)
    ]
    _warn(notes)
    if json_:
        echo_json({"model": type(m).__name__, "cycles": m.last_cycle, "coverage": coverage,
                   "cells": cells})
        return
    df = pd.DataFrame(cells).rename(columns={
        "predicted_cycle_life": "predicted [cycles]", "low": f"low ({coverage:.0%})",
        "high": f"high ({coverage:.0%})", "observed_cycle_life": "observed [cycles]"})
    if all(o is None for o in observed):
        df = df.drop(columns="observed [cycles]")
    print_df(make_console(), df, title=f"Cycle life predicted by the {type(m).__name__} "
             f"from cycles 2..{m.last_cycle}", index=False)


def _predict_test(model: Path, test: str, store: Path | None, coverage: float,
                  json_: bool, include_flagged: bool = False) -> None:
    """``casip life predict --test``: the cycle life of a stored test (refused when flagged,
    unless ``--include-flagged``)."""
    from casip.life.from_hub import predict_stored

    st = open_store(store if store is not None else DEFAULT_STORE)
    m = load_early_model(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with spinner("reading the test"):
            r = predict_stored(st, test, m, coverage=coverage, include_flagged=include_flagged)
    test_id = r["test_id"]
    _warn([str(w.message) for w in caught]
          + [f"test {test_id} is flagged (included by --include-flagged): {f}"
             for f in r["flags"]])
    if json_:
        echo_json({"test": test_id, "store": str(st.root), "model": r["model"],
                    "cycles": r["cycles"], "coverage": coverage,
                    "predicted_cycle_life": r["cycle_life"],
                    "low": r["low"], "high": r["high"], "features": r["features"],
                    "flags": r["flags"]})
        return
    df = pd.DataFrame([{"test": test_id, "predicted [cycles]": r["cycle_life"],
                        f"low ({coverage:.0%})": r["low"], f"high ({coverage:.0%})": r["high"]}])
    print_df(make_console(), df, title=f"Cycle life predicted by the {r['model']} from cycles "
             f"2..{r['cycles']}", index=False)


@life_app.command("evaluate")
@handles_input_errors
def evaluate(
    folds: Annotated[int, typer.Option("--folds", min=2, help="Outer cross-validation folds.")]
    = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold shuffling.")] = 0,
    data: DataOpt = None,
    out: OutOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Cross-validated evaluation of the three early-life models on the Severson cells: MAPE
    table and, with --out, the predicted-vs-observed chart (predicted_vs_observed.png/.html)
    and the out-of-fold predictions (evaluation.csv)."""
    from casip.life import cross_validated_mape, load_severson_qv

    folder = severson_folder(data)
    with spinner("reading the cells"):
        curves, lives = load_severson_qv(folder)
        X, notes = _features(curves, [f"cell{i + 1}" for i in range(len(curves))])
    _warn(notes)
    if folds > len(lives):
        raise CasipInputError(Problem("--folds", "more folds than cells", folds,
                                      f"at most {len(lives)}"))
    preds, mape = {}, {}
    with spinner("cross-validating"):
        for k in KINDS:
            r = cross_validated_mape(_model_class(k)(), X, lives, folds=folds, seed=seed)
            preds[k] = np.asarray(r["predicted"], dtype=float)
            mape[k] = r["mape_percent"]
    files: list[Path] = []
    if out is not None:
        from casip.life.charts import predicted_observed_figures

        files += _write(predicted_observed_figures(
            lives, preds, mape=mape,
            title=f"Cycle life, {folds}-fold cross-validation ({len(lives)} cells)"),
            out, "predicted_vs_observed")
        table = pd.DataFrame({"cell": np.arange(1, len(lives) + 1), "observed": lives,
                              **{f"predicted_{k}": v for k, v in preds.items()}})
        files.append(_write_csv(table, out, "evaluation"))
    if json_:
        echo_json({
            "data": str(folder), "folds": folds, "seed": seed, "n_cells": len(lives),
            "mape_percent": mape, "observed": lives.tolist(),
            "predicted": {k: v.tolist() for k, v in preds.items()}, "files": files,
        })
    else:
        df = pd.DataFrame([{"model": k, "CV MAPE [%]": mape[k],
                            "median APE [%]": float(np.median(np.abs(preds[k] - lives) / lives)
                                                    * 100)} for k in KINDS])
        print_df(make_console(), df, title=f"{folds}-fold cross-validation on {len(lives)} cells "
                  "(published variance model: ~15 %)", index=False)
    wrote(files)


__all__ = ["life_app", "load_early_model", "project_spec", "severson_folder"]
