"""``casip explore``: run, show, charts; bad input exits 2 with one message."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import typer
from typer.testing import CliRunner

from casip.cli.explore import explore_app

app = typer.Typer()
app.add_typer(explore_app, name="explore")
runner = CliRunner()

STUDY = """\
schema: casip.study/1
name: cli test
design: ref:assb-sulfide-li
parameters:
  cathode_loading_mAh_cm2: {low: 2, high: 8, levels: 4}
  separator_thickness_um: {values: [10, 30]}
objectives: {specific_energy_Wh_kg: max, cost_usd_kWh: min}
constraints: {cell_thickness_mm: {max: 12}}
"""


def invoke(*args):
    return runner.invoke(app, ["explore", *map(str, args)])


def test_run_show_charts(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(STUDY, encoding="utf-8")
    out = tmp_path / "out"
    r = invoke("run", study, "--out", out, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["points"] == 8 and summary["evaluated"] == 8 and summary["pareto"] >= 1
    for f in (
        "points.parquet",
        "pareto.parquet",
        "study.json",
        "pareto.png",
        "pareto.html",
        "parallel.png",
        "parallel.html",
    ):
        assert (out / f).stat().st_size > 0, f
    # again: everything comes from the journal
    r = invoke("run", study, "--out", out, "--json", "--no-charts")
    assert json.loads(r.stdout)["reused_from_journal"] == 8
    r = invoke("show", out, "--json")
    assert r.exit_code == 0, r.output
    front = json.loads(r.stdout)["pareto"]
    assert front and {"cathode_loading_mAh_cm2", "specific_energy_Wh_kg"} <= set(front[0])
    r = invoke("show", out)
    assert r.exit_code == 0 and "Pareto front" in r.stdout
    r = invoke("show", out, "--all", "--json")
    assert len(json.loads(r.stdout)["points"]) == 8
    (out / "pareto.png").unlink()
    r = invoke("charts", out)
    assert r.exit_code == 0 and (out / "pareto.png").exists()


def test_bad_input_exits_2_with_one_message(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(
        STUDY.replace("separator_thickness_um", "separator_thicknes_um"), encoding="utf-8"
    )
    r = invoke("run", study, "--out", tmp_path / "out")
    assert r.exit_code == 2
    assert "separator_thickness_um" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()
    study.write_text(STUDY, encoding="utf-8")
    r = invoke("run", study, "--out", tmp_path / "out", "--executor", "threads")
    assert r.exit_code == 2 and "executor" in r.output
    r = invoke("run", study, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:1")
    assert r.exit_code == 2 and "--executor dask" in r.output
    r = invoke(
        "run",
        study,
        "--out",
        tmp_path / "out",
        "--executor",
        "dask",
        "--scheduler",
        "tcp://127.0.0.1:1",
    )
    assert r.exit_code == 2 and "scheduler" in r.output
    assert not (tmp_path / "out").exists()
    r = invoke("show", tmp_path)
    assert r.exit_code == 2 and "not the folder of a finished study" in r.output


CLI_MAIN = """
import typer
from casip.cli.explore import explore_app
app = typer.Typer()
app.add_typer(explore_app, name="explore")
app()
"""


@pytest.mark.slow
def test_ctrl_c_cancels_cleanly_and_the_same_command_resumes(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text(
        STUDY.replace("{low: 2, high: 8, levels: 4}", "{low: 2, high: 8}").replace(
            "{values: [10, 30]}", "{low: 10, high: 30}"
        )
        + "method: {kind: nsga2, population: 16, generations: 40, seed: 3}\n"
        + "execution: {chunk_size: 1}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", CLI_MAIN, "explore", "run", str(study), "--out", str(out)]
    proc = subprocess.Popen(
        cmd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "journal").glob("*.parquet"))) >= 50:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    assert not (out / "points.parquet").exists()
    kept = len(list((out / "journal").glob("*.parquet")))
    r = invoke("run", study, "--out", out, "--json", "--no-charts")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["reused_from_journal"] >= kept and summary["points"] == 16 * 40
