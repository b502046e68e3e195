"""``casip life predict --test`` (an ingested test) and ``--duty-file`` (a user-defined duty)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from casip.cli import app
from casip.data import Store
from casip.life import FEATURE_NAMES, VarianceModel
from casip.life.duty import PRESETS


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, ["life", *args], env={"CASIP_STORE": ""})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A small fitted early-life model (synthetic features: only its format matters here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, len(FEATURE_NAMES)))
    y = 10 ** (2.8 - 0.3 * X[:, FEATURE_NAMES.index("log_var_dq")] + rng.normal(0, .05, 20))
    path = tmp_path_factory.mktemp("model") / "model.json"
    return VarianceModel().fit(X, y).save(path)


def test_predict_test_with_too_few_cycles_exits_2(runner, shared_data, tmp_path, model_file):
    store = tmp_path / "store"
    (res,) = Store(store).ingest([shared_data / "cycler" / "neware_uio.csv"])
    assert res.status == "ingested", res.error
    r = invoke(runner, "predict", "--model", str(model_file), "--test", res.test_id,
               "--store", str(store))
    assert r.exit_code == 2, r.output
    assert "too few cycles" in r.output
    assert "Traceback" not in r.output
    # a unique prefix also works; an unknown id is a clear error too
    r = invoke(runner, "predict", "--model", str(model_file), "--test", res.test_id[:6],
               "--store", str(store))
    assert r.exit_code == 2 and "too few cycles" in r.output
    r = invoke(runner, "predict", "--model", str(model_file), "--test", "zzzz",
               "--store", str(store))
    assert r.exit_code == 2 and "no stored test has this id" in r.output


def test_predict_test_excludes_other_sources(runner, tmp_path, model_file):
    r = invoke(runner, "predict", "--model", str(model_file), "--test", "abc",
               "--severson-cell", "1", "--store", str(tmp_path))
    assert r.exit_code == 2
    assert "give exactly one of them" in r.output


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_duty_file_round_trip_equals_preset(runner, tmp_path, suffix):
    preset = PRESETS["ev_fast_charge"]
    path = tmp_path / f"duty{suffix}"
    dump = preset.model_dump()
    path.write_text(yaml.safe_dump(dump) if suffix == ".yaml" else json.dumps(dump))
    args = ("--model", "lfp", "--years", "3", "--json")
    by_preset = invoke(runner, "project", "--duty", "ev_fast_charge", *args)
    by_file = invoke(runner, "project", "--duty-file", str(path), *args)
    assert by_preset.exit_code == 0, by_preset.output
    assert by_file.exit_code == 0, by_file.output
    assert json.loads(by_file.stdout) == json.loads(by_preset.stdout)
    cmp_args = ("--model", "lfp", "--model", "solid-state:LPSCl", "--years", "2", "--json")
    a = invoke(runner, "compare", "--duty", "ev_fast_charge", *cmp_args)
    b = invoke(runner, "compare", "--duty-file", str(path), *cmp_args)
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_partial_duty_file_uses_defaults_and_file_name(runner, tmp_path):
    path = tmp_path / "my_duty.yaml"
    path.write_text("cycles_per_day: 1\ndepth_of_discharge: 0.5\ntemperature_C: 35\n")
    r = invoke(runner, "project", "--model", "lfp", "--duty-file", str(path), "--json")
    assert r.exit_code == 0, r.output
    duty = json.loads(r.stdout)["duty"]
    assert duty["name"] == "my_duty"
    assert duty["depth_of_discharge"] == 0.5 and duty["temperature_C"] == 35


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("cycles_per_day: 1\ndepth_of_discharge: -0.2\n", "depth_of_discharge"),
        ("cycles_per_day: 1\ndepth: 0.5\n", "depth"),
        ("- 1\n- 2\n", "mapping"),
        ("cycles_per_day: [1\n", "duty"),
    ],
)
def test_bad_duty_file_exits_2_naming_file_and_field(runner, tmp_path, text, field):
    path = tmp_path / "duty.yaml"
    path.write_text(text)
    for cmd in (("project", "--model", "lfp"), ("compare", "--model", "lfp")):
        r = invoke(runner, *cmd, "--duty-file", str(path))
        assert r.exit_code == 2, r.output
        assert field in r.output
        assert "duty.yaml" in r.output
        assert "Traceback" not in r.output


def test_duty_and_duty_file_are_exclusive(runner, tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("cycles_per_day: 1\n")
    both = invoke(runner, "project", "--model", "lfp", "--duty", "ev_daily",
                  "--duty-file", str(path))
    neither = invoke(runner, "project", "--model", "lfp")
    for r in (both, neither):
        assert r.exit_code == 2
        assert "--duty/--duty-file" in r.output


def test_missing_duty_file_exits_2(runner, tmp_path):
    r = invoke(runner, "project", "--model", "lfp", "--duty-file", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2
    assert "nope.yaml" in r.output


# --- train --cycles N: a model of cycles 2..N, used at its N by predict (issue 18) ------------


@pytest.mark.parametrize("n", ["10", "101", "0"])
def test_train_cycles_outside_11_to_100_exits_2(runner, tmp_path, n):
    r = invoke(runner, "train", "--out", str(tmp_path / "m.json"), "--cycles", n)
    assert r.exit_code == 2, r.output
    assert "--cycles" in r.output and "11 <= N <= 100" in r.output
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow  # trains the three models at N = 60 (about 10 s)
def test_train_at_60_cycles_and_predict_at_the_models_n(runner, shared_data, tmp_path,
                                                        model_file):
    import warnings

    from casip.life import load_severson_qv, qv_features
    from casip.life.early import DischargeModel

    env = {"CASIP_SHARED_DATA": str(shared_data), "CASIP_STORE": ""}
    path = tmp_path / "m60.json"
    r = runner.invoke(app, ["life", "train", "--out", str(path), "--cycles", "60", "--kind",
                            "discharge", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cycles"] == 60
    model = DischargeModel.load(path)
    assert model.last_cycle == 60 and model.provenance_["ref_cycle"] == 10
    curves, lives = load_severson_qv(shared_data / "severson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = model.predict([qv_features(curves[0], last_cycle=60)])[0]
    # --severson-cell: cycles 2..60 of the shared cell (the model's N, no option needed)
    r = runner.invoke(app, ["life", "predict", "--model", str(path), "--severson-cell", "1",
                            "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["cycles"] == 60
    assert out["cells"][0]["predicted_cycle_life"] == pytest.approx(want, rel=1e-12)
    assert out["cells"][0]["low"] < lives[0] < out["cells"][0]["high"]
    # --qv-folder: a Q(V) file of cycles 2..60 only (59 columns) gives the same prediction
    short = tmp_path / "cell1_60.csv"
    np.savetxt(short, curves[0][:, :59], delimiter=",")
    r = runner.invoke(app, ["life", "predict", "--model", str(path), "--qv-folder", str(short),
                            "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cells"][0]["predicted_cycle_life"] == pytest.approx(
        want, rel=1e-9)
    # ... while a model of cycles 2..100 (no N in its provenance) refuses it, naming 100
    r = runner.invoke(app, ["life", "predict", "--model", str(model_file),
                            "--qv-folder", str(short)], env=env)
    assert r.exit_code == 2, r.output
    assert "too few cycles" in r.output and "need the first 100 cycles" in r.output

