"""``casip life ...``: each command once, --json, bad input (exit 2), charts written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.life.charts import capacity_figures, predicted_observed_figures
from casip.report import write_figures


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, env: dict | None = None):
    return runner.invoke(app, ["life", *args], env=env)


def load_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_chart(files: list[Path]) -> None:
    png = [f for f in files if f.suffix == ".png"]
    html = [f for f in files if f.suffix == ".html"]
    assert png and html
    for f in png:
        assert f.stat().st_size > 1000
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for f in html:
        text = f.read_text()
        assert "plotly" in text.lower()
        assert not re.search(r"<script[^>]+src=[\"']https?://", text), "remote script in HTML"


def shared_env(shared_data: Path) -> dict:
    return {"CASIP_SHARED_DATA": str(shared_data)}


# --------------------------------------------------------------------------------------------
# Charts (no CLI)
# --------------------------------------------------------------------------------------------


def test_capacity_chart_draws_lines_and_failures(tmp_path):
    t = np.linspace(0, 5, 50)
    ok = pd.DataFrame({"t_years": t, "capacity_rel": 1 - 0.05 * t})
    ok.attrs["years_to_80pct"] = 4.0
    failed = pd.DataFrame({"t_years": [0.0], "capacity_rel": [0.0]})
    failed.attrs.update(failed=True, failure="too much current")
    figs = capacity_figures({"a": ok, "b": failed}, title="t")
    names = [tr.name for tr in figs.html.data]
    assert names == ["a", "b (fails)"]
    assert_chart(write_figures(figs, tmp_path, "cap"))


def test_predicted_observed_chart_has_identity_and_band(tmp_path):
    obs = np.array([500.0, 800.0, 1200.0])
    figs = predicted_observed_figures(obs, {"m": obs * 1.1}, band_percent=15, mape={"m": 10.0})
    names = [tr.name for tr in figs.html.data]
    assert "identity" in names and "±15 %" in names and "m (MAPE 10.0 %)" in names
    assert_chart(write_figures(figs, tmp_path, "pvo"))
    with pytest.raises(ValueError):
        predicted_observed_figures(obs, {"m": obs[:2]})


# --------------------------------------------------------------------------------------------
# Ageing projections
# --------------------------------------------------------------------------------------------


def test_models_lists_blast_models_with_validity(runner):
    data = load_json(invoke(runner, "models", "--json"))
    names = {m["name"] for m in data["models"]}
    assert data["defaults"]["lfp"] in names and data["defaults"]["nmc"] in names
    lfp = next(m for m in data["models"] if m["name"] == data["defaults"]["lfp"])
    assert lfp["chemistry"] == "LFP-Gr"
    assert "cycling_temperature" in lfp["validity"]
    text = invoke(runner, "models")
    assert text.exit_code == 0 and "LFP-Gr" in text.stdout


def test_project_lfp_json_warns_on_extrapolation(runner, tmp_path):
    r = invoke(runner, "project", "--model", "lfp", "--duty", "ev_daily", "--years", "3",
               "--json", "--out", str(tmp_path))
    data = load_json(r)
    assert data["duty"]["years"] == 3
    assert data["warnings"], "ev_daily's 30 % depth is outside the LFP model's tested range"
    assert "warning:" in r.stderr
    s = data["series"]
    assert s["t_years"][0] == 0 and s["t_years"][-1] == pytest.approx(3, abs=0.01)
    assert 0.8 < s["capacity_rel"][-1] < 1.0
    assert_chart([Path(f) for f in data["files"]])
    assert (tmp_path / "capacity.csv").is_file()


def test_project_solid_state_text_and_temperature(runner):
    r = invoke(runner, "project", "--model", "solid-state:LPSCl", "--duty", "ev_daily",
               "--years", "5", "--temperature-c", "40")
    assert r.exit_code == 0, r.output
    assert "solid-state LPSCl" in r.stdout and "40 °C" in r.stdout
    cold = load_json(invoke(runner, "project", "--model", "solid-state:LPSCl", "--duty",
                            "ev_daily", "--years", "5", "--temperature-c", "15", "--json"))
    hot = load_json(invoke(runner, "project", "--model", "solid-state:LPSCl", "--duty",
                           "ev_daily", "--years", "5", "--temperature-c", "40", "--json"))
    assert hot["capacity_end"] < cold["capacity_end"]


def test_compare_one_chart(runner, tmp_path):
    r = invoke(runner, "compare", "--duty", "stationary_storage", "--years", "4",
               "--model", "lfp", "--model", "solid-state:LPSCl", "--model", "solid-state:LLZO",
               "--out", str(tmp_path), "--json")
    data = load_json(r)
    assert [p["model"] for p in data["projections"]] == [
        "lfp", "solid-state:LPSCl", "solid-state:LLZO"]
    files = [Path(f) for f in data["files"]]
    assert sorted(f.name for f in files) == ["compare.csv", "compare.html", "compare.png"]
    assert_chart(files)


@pytest.mark.parametrize(
    "args, message",
    [
        (("project", "--model", "bogus", "--duty", "ev_daily"), "unknown ageing model"),
        (("project", "--model", "lfp", "--duty", "nope"), "unknown duty preset"),
        (("project", "--model", "solid-state:XYZ", "--duty", "ev_daily"), "XYZ"),
        (("project", "--model", "lfp", "--duty", "ev_daily", "--temperature-c", "200"),
         "temperature_C"),
        (("compare", "--duty", "ev_daily", "--model", "lfp", "--model", "nope"),
         "unknown ageing model"),
    ],
)
def test_bad_model_or_duty_exits_2(runner, args, message):
    r = invoke(runner, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------------------------
# Early cycle-life prediction (shared data)
# --------------------------------------------------------------------------------------------


def test_missing_shared_data_exits_2(runner, tmp_path):
    r = invoke(runner, "evaluate", env={"CASIP_SHARED_DATA": str(tmp_path)})
    assert r.exit_code == 2
    assert "Severson" in r.stderr


def test_predict_needs_exactly_one_source(runner, tmp_path):
    r = invoke(runner, "predict", "--model", str(tmp_path / "m.json"))
    assert r.exit_code == 2 and "exactly one" in r.stderr


@pytest.fixture(scope="module")
def trained(runner, shared_data, tmp_path_factory):
    pytest.importorskip("sklearn")
    path = tmp_path_factory.mktemp("life") / "model.json"
    r = invoke(runner, "train", "--out", str(path), "--json", env=shared_env(shared_data))
    return path, load_json(r)


@pytest.mark.slow
def test_train_reports_cv_mape_per_model(trained):
    path, data = trained
    assert path.is_file()
    by = {m["model"]: m for m in data["models"]}
    assert set(by) == {"variance", "discharge", "full"}
    assert all(m["cells"] == 41 for m in by.values())
    assert by["variance"]["cv_mape_percent"] < 25
    assert by["full"]["cv_mape_percent"] < by["variance"]["cv_mape_percent"]
    assert json.loads(path.read_text())["model"] == "FullModel"


@pytest.mark.slow
def test_predict_severson_cell_and_qv_file(runner, trained, shared_data):
    path, _ = trained
    env = shared_env(shared_data)
    r = invoke(runner, "predict", "--model", str(path), "--severson-cell", "3", "--json",
               env=env)
    (cell,) = load_json(r)["cells"]
    assert cell["low"] < cell["predicted_cycle_life"] < cell["high"]
    assert cell["observed_cycle_life"] > 0
    assert "in-sample" in r.stderr
    qv = shared_data / "severson" / "train" / "cell3.csv"
    (again,) = load_json(invoke(runner, "predict", "--model", str(path), "--qv-folder",
                                str(qv), "--json"))["cells"]
    assert again["predicted_cycle_life"] == pytest.approx(cell["predicted_cycle_life"])
    text = invoke(runner, "predict", "--model", str(path), "--severson-cell", "3", env=env)
    assert text.exit_code == 0 and "cell3" in text.stdout
    bad = invoke(runner, "predict", "--model", str(path), "--severson-cell", "99", env=env)
    assert bad.exit_code == 2 and "no such cell" in bad.stderr


@pytest.mark.slow
def test_evaluate_report_and_chart(runner, shared_data, tmp_path):
    pytest.importorskip("sklearn")
    r = invoke(runner, "evaluate", "--out", str(tmp_path), "--json",
               env=shared_env(shared_data))
    data = load_json(r)
    assert data["n_cells"] == 41
    assert set(data["mape_percent"]) == {"variance", "discharge", "full"}
    assert data["mape_percent"]["variance"] < 20
    assert min(data["mape_percent"].values()) < data["mape_percent"]["variance"]
    assert len(data["predicted"]["full"]) == 41
    assert_chart([Path(f) for f in data["files"]])
    assert (tmp_path / "evaluation.csv").is_file()
