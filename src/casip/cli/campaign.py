"""``casip campaign ...``: closed-loop R&D campaigns (propose, test, learn), resumable.

- ``init FILE --dir DIR``: check a campaign file (``casip.campaign/1``) and start its folder.
- ``propose DIR``: the next batch of planned tests ``PT-<id>-<n>`` (the open batch again if
  its tests have no result yet; ``--more`` proposes more beside it).
- ``observe DIR --planned-test ID``: evidence for a planned test: ``--life N`` (measured end of
  life), ``--early LIFE --low L --high H --cycles N`` (an early prediction), ``--test FILE|ID``
  (the early predictor on a cycler test), ``--value NAME=X`` / ``--simulation NAME=X``.
- ``simulate DIR``: evaluate the planned tests with the project's models (kind simulation).
- ``status DIR``, ``best DIR``; ``schema`` prints the JSON Schema of campaign files.

Every command is safe to interrupt and to run again (see :mod:`casip.campaign.journal`); bad
input exits with status 2 and one message naming the field, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from casip.cli.common import (
    DEFAULT_STORE,
    JsonOpt,
    echo_json,
    handles_input_errors,
    make_console,
    print_df,
    wrote,
)
from casip.errors import CasipInputError, Problem

#: The ``casip campaign`` sub-app (registered by :mod:`casip.cli`).
campaign_app = typer.Typer(
    help=(
        "Closed-loop R&D campaigns: propose the next cells or charging protocols to test, "
        "take early predictions and measured lives as they arrive, stop poor candidates "
        "early, and propose again. Resumable after a kill."
    ),
    no_args_is_help=True,
)

DirArg = Annotated[
    Path, typer.Argument(metavar="DIR", help="A campaign folder (casip campaign init).",
                         show_default=False)
]


def _notes(notes: list[str]) -> None:
    err = make_console(stderr=True)
    for n in notes:
        err.print(f"note: {n}", markup=False, highlight=False)


def _fmt_point(point: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in point.items())


def _tests_table(tests: list[dict], title: str) -> None:
    import pandas as pd

    rows = []
    for t in tests:
        row = {"planned test": t["id"], "batch": t["batch"], "status": t["status"],
               **t["point"]}
        for name, (m, lo, hi) in t.get("predicted_value", {}).items():
            row[f"{name} (model, 1 sd)"] = f"{m:.4g} [{lo:.4g}, {hi:.4g}]"
        ev = [e for e in t["evidence"] if e["kind"] != "simulation"]
        if ev:
            e = ev[-1]
            vals = ", ".join(f"{v:.4g}" for v in e["values"].values())
            if e["kind"] == "early":
                vals += f" [{e['low']:.4g}, {e['high']:.4g}]"
            row["evidence"] = f"{e['kind']}: {vals}"
        rows.append(row)
    print_df(make_console(), pd.DataFrame(rows), title=title, index=False)


def _kv(items: list[str], option: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise CasipInputError(Problem(option, "not NAME=NUMBER", item,
                                          "e.g. specific_energy_Wh_kg=412")) from None
    return out


@campaign_app.command("init")
@handles_input_errors
def init_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A campaign file (YAML or JSON, "
                                         "schema casip.campaign/1).", show_default=False)],
    folder: Annotated[Path, typer.Option("--dir", metavar="DIR",
                                         help="The campaign folder to create.")],
    json_: JsonOpt = False,
) -> None:
    """Check a campaign file and start its folder (the file is copied, never modified)."""
    from casip.campaign.journal import init

    st = init(file, folder)
    c = st.campaign
    if json_:
        echo_json({"campaign": c.name, "id": c.campaign_id, "dir": str(folder),
                   "parameters": list(c.parameters), "batch": c.batch,
                   "records": st.records, "notes": st.notes})
        return
    _notes(st.notes)
    typer.echo(f"campaign {c.campaign_id} ({c.name}) in {folder}: {len(c.parameters)} "
               f"parameters, batches of {c.batch}; next: casip campaign propose {folder}")


@campaign_app.command("propose")
@handles_input_errors
def propose_cmd(
    folder: DirArg,
    batch: Annotated[int | None, typer.Option("--batch", metavar="K", help="Tests in the batch "
                                              "(default: the campaign's batch).",
                                              show_default=False)] = None,
    more: Annotated[bool, typer.Option("--more", help="Propose a new batch although planned "
                                       "tests are still open (they count as pending).")] = False,
    json_: JsonOpt = False,
) -> None:
    """The next batch of planned tests (or the open batch again: proposing is idempotent)."""
    from casip.campaign.journal import propose

    r = propose(folder, batch=batch, more=more)
    if json_:
        echo_json(r)
        return
    _notes(r["notes"])
    if r["closed"]:
        typer.echo(f"campaign closed: {r['closed']}")
        return
    what = "new batch" if r["new"] else "open batch (already proposed)"
    _tests_table(r["tests"], f"{what} {r['batch']}")


@campaign_app.command("observe")
@handles_input_errors
def observe_cmd(
    folder: DirArg,
    planned_test: Annotated[str, typer.Option("--planned-test", metavar="ID",
                                              help="The planned test answered, PT-<id>-<n>.")],
    life: Annotated[float | None, typer.Option("--life", metavar="N", help="Measured cycle "
                                               "life (end of life).", show_default=False)] = None,
    early: Annotated[float | None, typer.Option("--early", metavar="LIFE", help="Early "
                                                "prediction of the cycle life (with --low, "
                                                "--high).", show_default=False)] = None,
    low: Annotated[float | None, typer.Option("--low", metavar="L", help="Lower bound of the "
                                              "early prediction's interval.",
                                              show_default=False)] = None,
    high: Annotated[float | None, typer.Option("--high", metavar="H", help="Upper bound of the "
                                               "early prediction's interval.",
                                               show_default=False)] = None,
    cycles: Annotated[int | None, typer.Option("--cycles", metavar="N", help="Cycles tested "
                                               "so far (default: the campaign's early_cycles "
                                               "for early evidence).", show_default=False)] = None,
    test: Annotated[str | None, typer.Option("--test", metavar="FILE|ID", help="A cycler file "
                                             "or a data-hub test id: the early predictor is run "
                                             "on its cycles 2..N, N the model's (100 unless "
                                             "trained with casip life train --cycles N); N is "
                                             "recorded as the observation's cycles.",
                                             show_default=False)] = None,
    model: Annotated[Path | None, typer.Option("--model", metavar="MODEL.json", help="Early-"
                                               "life model for --test (default: the campaign's "
                                               "evidence.model).", show_default=False)] = None,
    store: Annotated[Path | None, typer.Option("--store", metavar="DIR", envvar="CASIP_STORE",
                                               help="The store of a hub test id.",
                                               show_default=False)] = None,
    value: Annotated[list[str] | None, typer.Option("--value", metavar="NAME=X", help="A "
                                                    "measured value (repeatable).",
                                                    show_default=False)] = None,
    simulation: Annotated[list[str] | None, typer.Option("--simulation", metavar="NAME=X",
                                                         help="A simulated value (repeatable).",
                                                         show_default=False)] = None,
    sigma: Annotated[list[str] | None, typer.Option("--sigma", metavar="NAME=S", help="1-sd "
                                                    "noise of a value in the modelled space "
                                                    "(log10 for log objectives).",
                                                    show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Record evidence for a planned test (an early prediction may stop it early)."""
    from casip.campaign.journal import observe, predict_from_test, replay

    given = {"--life": life is not None, "--early": early is not None,
             "--test": test is not None, "--value": bool(value),
             "--simulation": bool(simulation)}
    if sum(given.values()) != 1:
        raise CasipInputError(Problem("--life/--early/--test/--value/--simulation",
                                      "give exactly one kind of evidence",
                                      [k for k, v in given.items() if v] or None))
    if (low is not None or high is not None) and early is None:
        raise CasipInputError(Problem("--low/--high", "only used with --early"))
    sig = _kv(sigma or [], "--sigma")
    if life is not None:
        r = observe(folder, planned_test, "measured", {"cycle_life": life}, sigma=sig,
                    cycles=cycles, source="cli --life")
    elif early is not None:
        if low is None or high is None:
            raise CasipInputError(Problem("--low/--high", "an early prediction needs its "
                                          "interval", expected="--low L --high H"))
        r = observe(folder, planned_test, "early", {"cycle_life": early}, cycles=cycles,
                    interval=(low, high), source="cli --early")
    elif test is not None:
        c = replay(folder).campaign
        path = model if model is not None else c.model_path()
        if path is None:
            raise CasipInputError(Problem("--model", "an early-life model is needed for --test",
                                          expected="--model MODEL.json (casip life train) or "
                                          "evidence.model in the campaign file"))
        p = predict_from_test(test, path, c.evidence.coverage,
                              store if store is not None else DEFAULT_STORE)
        # the model's own N: its features are from cycles 2..N, the cost of the observation
        r = observe(folder, planned_test, "early", {"cycle_life": p["cycle_life"]},
                    cycles=p["cycles"], interval=(p["low"], p["high"]),
                    source=f"{p['source']} ({p['model']})")
        if p["cycles"] != c.evidence.early_cycles:
            r["notes"] = [*r["notes"], f"predicted from cycles 2..{p['cycles']} (the model's "
                          f"N), not the campaign's early_cycles {c.evidence.early_cycles}"]
    else:
        kind = "measured" if value else "simulation"
        r = observe(folder, planned_test, kind, _kv(value or simulation, f"--{kind}"),
                    sigma=sig, cycles=cycles, source=f"cli --{'value' if value else kind}")
    if json_:
        echo_json(r)
        return
    _notes(r["notes"])
    t = r["test"]
    e = t["evidence"][-1] if t["evidence"] else {}
    said = "recorded" if r["recorded"] else "already recorded (nothing written)"
    typer.echo(f"{t['id']}: {e.get('kind')} {json.dumps(e.get('values'))} {said}; "
               f"status {t['status']}")
    if r["early_stop"]:
        typer.echo(f"{t['id']} stopped early: {r['early_stop']}")


@campaign_app.command("simulate")
@handles_input_errors
def simulate_cmd(
    folder: DirArg,
    planned_test: Annotated[list[str] | None, typer.Option(
        "--planned-test", metavar="ID", help="Only these planned tests (default: every one "
        "without a simulation).", show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Evaluate planned tests with the design and ageing models (evidence of kind simulation)."""
    from casip.campaign.journal import simulate

    r = simulate(folder, planned_test or None)
    if json_:
        echo_json(r)
        return
    _notes(r["notes"])
    for i, vals in r["simulated"].items():
        typer.echo(f"{i}: " + ", ".join(f"{k}={v:.4g}" for k, v in vals.items()))
    for i, why in r["skipped"].items():
        typer.echo(f"{i}: not simulated ({why})")
    if r["not_modelled"]:
        typer.echo("no model in this campaign for: " + ", ".join(r["not_modelled"]))


def _print_best(rows: list[dict] | None) -> None:
    if not rows:
        typer.echo("best: none yet (no evidence on the objectives)")
        return
    for b in rows:
        typer.echo(f"best: {b['planned_test'] or '(unplanned point)'} {_fmt_point(b['point'])}")
        for name, (m, lo, hi) in b["value"].items():
            typer.echo(f"  {name}: {m:.4g} (1 sd: {lo:.4g} to {hi:.4g}; posterior)")


@campaign_app.command("status")
@handles_input_errors
def status_cmd(folder: DirArg, json_: JsonOpt = False) -> None:
    """What was proposed, tested, predicted, stopped and learned; budget; the current best."""
    from casip.campaign.journal import status

    r = status(folder)
    if json_:
        echo_json(r)
        return
    _notes(r["notes"])
    ch, cy, dy = (r["budget"][k] for k in ("channels", "cycles", "days"))

    def of(used, cap):
        return f"{used}" + (f" of {cap}" if cap is not None else "")

    typer.echo(f"{r['id']}: {r['campaign']}" + (f" - closed: {r['closed']}" if r["closed"]
                                                   else ""))
    typer.echo(f"{r['batches']} batches; planned tests {of(*ch)}; cycles {of(*cy)}; "
               f"days {of(*dy)}; " + ", ".join(f"{v} {k}" for k, v in r["counts"].items()))
    if r["tests"]:
        _tests_table(r["tests"], "planned tests")
    _print_best(r["best"])


@campaign_app.command("best")
@handles_input_errors
def best_cmd(folder: DirArg, json_: JsonOpt = False) -> None:
    """The current best candidate with its posterior mean and sd."""
    from casip.campaign.journal import best

    r = best(folder)
    if json_:
        echo_json(r)
        return
    _notes(r["notes"])
    _print_best(r["best"])


@campaign_app.command("schema")
@handles_input_errors
def schema_cmd(
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the schema "
                                             "to this file instead of stdout.",
                                             show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """The JSON Schema of campaign files (casip.campaign/1), for editors and forms."""
    from casip.campaign.spec import json_schema
    from casip.io import write_text_atomic

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    path = write_text_atomic(out, text)
    if json_:
        echo_json({"files": [str(path)]})
    else:
        wrote([path])


__all__ = ["campaign_app"]
