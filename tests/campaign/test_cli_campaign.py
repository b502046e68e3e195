"""``casip campaign ...`` through the real CLI: init/propose/observe/status round trip,
idempotent proposals, early stops, simulation evidence, and resumption after a kill (a torn
last journal line, and a real process killed with SIGKILL during ``propose``)."""

from __future__ import annotations

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casip.campaign.journal import JOURNAL_FILE, read_records
from casip.campaign.protocols import charge_time_10_80_min
from casip.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "casip" / "campaign" / "examples"
FAST = EXAMPLES / "fast-charge-life.yaml"


def cli(*args: str, code: int = 0):
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "160"})
    assert r.exit_code == code, (r.output, r.exception)
    return r


def cli_json(*args) -> dict:
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture
def started(tmp_path) -> Path:
    folder = tmp_path / "fc"
    cli("campaign", "init", FAST, "--dir", folder)
    return folder


def test_round_trip_init_propose_observe_status(started):
    src_before = FAST.read_bytes()
    batch = cli_json("campaign", "propose", started)
    assert batch["new"] and batch["batch"] == 1
    ids = [t["id"] for t in batch["tests"]]
    assert ids == [f"PT-fastcharge-{i}" for i in range(1, 9)]
    for t in batch["tests"]:  # the known constraint holds for every proposal
        assert charge_time_10_80_min(t["point"]) <= 15.0
        assert 3.0 <= t["point"]["c1_C"] <= 8.0 and 0.1 <= t["point"]["soc_switch"] <= 0.75
    # proposing again while the batch is open returns it and writes nothing
    n_lines = len(read_records(started / JOURNAL_FILE)[0])
    again = cli_json("campaign", "propose", started)
    assert not again["new"] and [t["id"] for t in again["tests"]] == ids
    assert [t["point"] for t in again["tests"]] == [t["point"] for t in batch["tests"]]
    assert len(read_records(started / JOURNAL_FILE)[0]) == n_lines
    # evidence: a measured life, a good early prediction, a confidently poor one
    r = cli_json("campaign", "observe", started, "--planned-test", ids[0], "--life", "1100")
    assert r["test"]["status"] == "measured" and r["test"]["cycles"] == 1100
    r = cli_json("campaign", "observe", started, "--planned-test", ids[1], "--early", "1500",
                 "--low", "1200", "--high", "1900")
    assert r["test"]["status"] == "predicted" and r["early_stop"] is None
    ev = r["test"]["evidence"][0]
    # 90 % interval -> sd in log10(cycles): (log10 1900 - log10 1200) / (2 * 1.6449)
    assert ev["sigma"]["cycle_life"] == pytest.approx(0.19957 / 3.28971, rel=1e-3)
    assert ev["cycles"] == 100  # the campaign's early_cycles
    r = cli_json("campaign", "observe", started, "--planned-test", ids[2], "--early", "500",
                 "--low", "400", "--high", "650", "--cycles", "100")
    assert r["test"]["status"] == "stopped"
    assert "650" in r["early_stop"] and "1200" in r["early_stop"]  # vs the incumbent's low
    # the same observation again: nothing written
    r = cli_json("campaign", "observe", started, "--planned-test", ids[2], "--early", "500",
                 "--low", "400", "--high", "650", "--cycles", "100")
    assert r["recorded"] is False
    st = cli_json("campaign", "status", started)
    assert st["counts"] == {"planned": 5, "predicted": 1, "measured": 1, "stopped": 1}
    assert st["budget"]["channels"] == [8, 48]
    assert st["budget"]["cycles"] == [1100 + 100 + 100, 60000]
    [best] = st["best"]
    assert best["planned_test"] == ids[1]  # the longest-lived evidence so far
    m, lo, hi = best["value"]["cycle_life"]
    assert lo < m < hi and 1000 < m < 1900
    records = read_records(started / JOURNAL_FILE)[0]
    assert [r["type"] for r in records].count("early_stop") == 1
    assert FAST.read_bytes() == src_before  # the source file is never modified
    # human output names the tests and the best
    out = cli("campaign", "status", started).stdout
    assert "PT-fastcharge-2" in out and "best:" in out


def test_bad_input_names_the_field(started, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(FAST.read_text().replace("c2_C: {low: 2.5, high: 6.0}",
                                            "c2_C: {low: 6.0, high: 2.5}"))
    r = cli("campaign", "init", bad, "--dir", tmp_path / "x", code=2)
    assert "parameters.c2_C" in r.output and not (tmp_path / "x").exists()
    cli("campaign", "propose", started)
    r = cli("campaign", "observe", started, "--planned-test", "PT-fastcharge-99", "--life",
            "900", code=2)
    assert "--planned-test" in r.output and "PT-fastcharge-99" in r.output
    r = cli("campaign", "observe", started, "--planned-test", "PT-fastcharge-1", "--early",
            "900", "--low", "950", "--high", "1200", code=2)
    assert "contain the prediction" in r.output


def test_torn_last_line_is_reported_ignored_and_never_merged(started):
    first = cli_json("campaign", "propose", started)
    journal = started / JOURNAL_FILE
    clean = journal.read_bytes()
    # a kill in the middle of writing an observation: half a record, no newline
    rec = {"seq": 2, "type": "observation", "planned_test": "PT-fastcharge-1"}
    torn = json.dumps(rec).encode()[:37]
    journal.write_bytes(clean + torn)
    st = cli_json("campaign", "status", started)
    assert any("torn" in n for n in st["notes"])
    assert st["observations"] == 0 and st["counts"]["planned"] == 8
    again = cli_json("campaign", "propose", started)  # still the same open batch
    assert [t["point"] for t in again["tests"]] == [t["point"] for t in first["tests"]]
    # the next write moves the torn bytes aside and appends a whole record after the last one
    cli("campaign", "observe", started, "--planned-test", "PT-fastcharge-1", "--life", "800")
    assert (started / "journal.torn").read_bytes() == torn + b"\n"
    records, tail = read_records(journal)
    assert tail == b"" and [r["seq"] for r in records] == [0, 1, 2]
    assert journal.read_bytes().startswith(clean)
    assert not any("torn" in n for n in cli_json("campaign", "status", started)["notes"])


def test_same_seed_and_journal_give_the_same_proposals(started, tmp_path):
    other = tmp_path / "fc2"
    cli("campaign", "init", FAST, "--dir", other)
    a = cli_json("campaign", "propose", started)
    b = cli_json("campaign", "propose", other)
    assert [t["point"] for t in a["tests"]] == [t["point"] for t in b["tests"]]
    # a batch record torn by a kill is ignored; proposing again writes the identical batch
    journal = other / JOURNAL_FILE
    whole = journal.read_bytes()
    cut = whole.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(whole[: cut + (len(whole) - cut) // 2])
    assert cli_json("campaign", "status", other)["batches"] == 0
    c = cli_json("campaign", "propose", other)
    assert c["new"] and [t["point"] for t in c["tests"]] == [t["point"] for t in a["tests"]]
    assert [t["id"] for t in c["tests"]] == [t["id"] for t in a["tests"]]


def test_simulate_records_design_and_life_model_values(tmp_path):
    from casip.campaign.spec import read_campaign, study_from_campaign
    from casip.explore.objectives import evaluate_points, study_payload

    folder = tmp_path / "el"
    cli("campaign", "init", EXAMPLES / "energy-life.yaml", "--dir", folder)
    tests = cli_json("campaign", "propose", folder)["tests"]
    assert [t["id"] for t in tests] == [f"PT-energylife-{i}" for i in range(1, 5)]
    r = cli_json("campaign", "simulate", folder)
    assert sorted(r["simulated"]) == sorted(t["id"] for t in tests)
    # the values are those of the explore models at the same points
    c = read_campaign(EXAMPLES / "energy-life.yaml")
    rows = evaluate_points(study_payload(study_from_campaign(c)), [t["point"] for t in tests])
    for t, row in zip(tests, rows, strict=True):
        got = r["simulated"][t["id"]]
        assert got["specific_energy_Wh_kg"] == pytest.approx(row["specific_energy_Wh_kg"])
        assert got["cycle_life"] == pytest.approx(row["cycles_to_80"])
        assert 200 < got["specific_energy_Wh_kg"] < 700
    st = cli_json("campaign", "status", folder)
    assert st["counts"]["planned"] == 4  # simulation does not answer a planned test
    assert cli_json("campaign", "simulate", folder)["simulated"] == {}  # nothing twice


def test_schema_command_prints_the_json_schema():
    schema = json.loads(cli("campaign", "schema").stdout)
    assert schema["$id"].endswith("casip.campaign-1.json")
    assert {"parameters", "objectives", "budget", "evidence"} <= set(schema["properties"])


@pytest.mark.slow
def test_sigkill_during_propose_then_resume(started):
    """A real process killed (SIGKILL) at several moments of ``propose``; each time the
    resumed campaign has one whole batch, never a duplicate or a half one."""
    env = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true", "COLUMNS": "160"}
    reference = None
    for delay in (0.8, 1.6, 2.4):
        folder = started.parent / f"kill{delay}"
        shutil.copytree(started, folder)
        p = subprocess.Popen([sys.executable, "-m", "casip", "campaign", "propose", str(folder)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        records, _ = read_records(folder / JOURNAL_FILE)
        assert [r["type"] for r in records] in (["init"], ["init", "batch"])
        first = cli_json("campaign", "propose", folder)
        second = cli_json("campaign", "propose", folder)
        assert not second["new"]
        records, tail = read_records(folder / JOURNAL_FILE)
        assert tail == b"" and [r["type"] for r in records] == ["init", "batch"]
        points = [t["point"] for t in first["tests"]]
        assert [t["point"] for t in second["tests"]] == points
        assert reference is None or points == reference  # same however the kill fell
        reference = points


@pytest.mark.slow  # trains an early-life model at N = 60 (a few seconds)
def test_observe_test_uses_the_models_n(started, shared_data, tmp_path):
    """``observe --test`` with a model trained at N = 60 on a cycler file of cycles 2..60 (the
    real Q(V) discharges of Severson cell 1, every 10th voltage): the prediction is the model's
    on that file and the observation records cycles = 60, with a note that the campaign
    planned early_cycles = 100."""
    import warnings

    import numpy as np
    import pandas as pd

    from casip.data import read
    from casip.life import SEVERSON_VOLTAGE, DischargeModel, load_severson_qv
    from casip.life.early import train_on_severson
    from casip.life.from_hub import predict_test

    folder = shared_data / "severson"
    curves, lives = load_severson_qv(folder)
    q = np.maximum.accumulate(curves[0], axis=0)  # Q non-decreasing as V falls
    v = SEVERSON_VOLTAGE
    idx = np.unique(np.r_[np.arange(0, len(v), 10), len(v) - 1])
    rows, t, total = [], 0.0, 0.0
    for j, c in enumerate(range(2, 61)):  # a 3.6 V charge row, then the discharge at -1 A
        rows.append((t, 3.6, 1.0, c, total))
        rows += [(t + 1 + i, v[k], -1.0, c, total + q[k, j]) for i, k in enumerate(idx)]
        t += len(idx) + 2
        total += q[-1, j]
    cell = tmp_path / "cell1-60.csv"
    pd.DataFrame(rows, columns=["test_time_second", "voltage_volt", "current_ampere",
                                "cycle_count", "discharging_capacity_ah"]).to_csv(cell,
                                                                                   index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = train_on_severson(folder, DischargeModel, last_cycle=60)
        want = predict_test(read(cell), model)
    path = model.save(tmp_path / "m60.json")
    ids = [t["id"] for t in cli_json("campaign", "propose", started)["tests"]]
    r = cli_json("campaign", "observe", started, "--planned-test", ids[0], "--test", cell,
                 "--model", path)
    [ev] = r["test"]["evidence"]
    assert ev["kind"] == "early" and ev["cycles"] == 60 and want["cycles"] == 60
    assert ev["values"]["cycle_life"] == pytest.approx(want["cycle_life"], rel=1e-12)
    assert want["low"] < lives[0] < want["high"]  # cell 1: 2160 cycles (in-sample)
    assert any("2..60" in n and "early_cycles 100" in n for n in r["notes"]), r["notes"]
    st = cli_json("campaign", "status", started)
    assert st["budget"]["cycles"][0] == 60  # the early observation cost its 60 cycles
