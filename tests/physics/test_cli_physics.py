"""``casip sim ...``: the physics commands, their JSON, charts and errors (exit 2, no traceback)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("pybamm")

from casip.cli import app
from casip.cli.physics import parse_floats
from casip.errors import CasipInputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _ok(r) -> None:
    assert r.exit_code == 0, (r.exit_code, r.output, r.exception)


def _bad(r) -> None:
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    assert "casip: error:" in r.output


def _json(r) -> dict:
    _ok(r)
    return json.loads(r.stdout)


def test_sim_help_lists_the_commands(runner):
    r = runner.invoke(app, ["sim", "--help"])
    _ok(r)
    for cmd in ("rate", "ragone", "charge", "pulse", "bpx"):
        assert cmd in r.output
    r = runner.invoke(app, ["sim", "bpx", "--help"])
    _ok(r)
    assert "export" in r.output and "import" in r.output


def test_parse_floats():
    assert parse_floats("0.1, 1,3", "--c-rates") == [0.1, 1.0, 3.0]
    with pytest.raises(CasipInputError, match="--c-rates"):
        parse_floats("1,x", "--c-rates")
    with pytest.raises(CasipInputError, match="positive"):
        parse_floats("-1", "--c-rates")
    with pytest.raises(CasipInputError, match="no values"):
        parse_floats(" , ", "--c-rates")


@pytest.mark.parametrize(
    "args",
    [
        ["sim", "rate", "ref:lfp-blade", "--c-rates", "1,abc"],
        ["sim", "rate", "ref:lfp-blade", "--c-rates", "0"],
        ["sim", "rate", "ref:no-such-cell"],
        ["sim", "rate", "no-such-file.yaml"],
        ["sim", "pulse", "ref:lfp-blade", "--soc", "half"],
        ["sim", "charge", "ref:lfp-blade", "--steps", "3-0.5"],
        ["sim", "charge", "ref:lfp-blade", "--fastest", "--steps", "3@0.8"],
        ["sim", "bpx", "import", "no-such-file.json"],
    ],
)
def test_bad_input_exits_2_without_traceback(runner, args):
    _bad(runner.invoke(app, args))


@pytest.mark.slow
def test_rate_json_table_and_charts(runner, tmp_path):
    out = tmp_path / "out"
    d = _json(runner.invoke(
        app, ["sim", "rate", "ref:lfp-blade", "--c-rates", "0.5,1", "--out", str(out), "--json"]
    ))
    assert d["label"] == "lfp-blade"
    rows = d["table"]
    assert [r["c_rate"] for r in rows] == [0.5, 1.0]
    assert 0 < rows[1]["capacity_Ah"] <= rows[0]["capacity_Ah"] <= 1.05 * d["capacity_Ah"]
    assert rows[1]["specific_energy_Wh_kg"] > 0
    names = sorted(p.rsplit("/", 1)[-1] for p in d["files"])
    assert names == ["rate.csv", "rate.html", "rate.png"]
    assert (out / "rate.png").read_bytes().startswith(PNG_MAGIC)
    # the table form
    r = runner.invoke(app, ["sim", "rate", "ref:lfp-blade", "--c-rates", "0.5,1"])
    _ok(r)
    assert "Rate capability" in r.stdout and "Prada2013" in r.stdout


@pytest.mark.slow
def test_ragone_of_two_cells(runner, tmp_path):
    d = _json(runner.invoke(app, [
        "sim", "ragone", "ref:lfp-blade", "ref:assb-sulfide-li", "--c-rates", "0.5,1",
        "--out", str(tmp_path), "--json",
    ]))
    assert {r["name"] for r in d["rows"]} == {"lfp-blade", "assb-sulfide-li"}
    assert len(d["rows"]) == 4
    assert all(r["specific_power_W_kg"] > 0 for r in d["rows"])
    assert (tmp_path / "ragone.png").read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "ragone.html").exists()


@pytest.mark.slow
def test_charge_reports_the_binding_limit(runner):
    d = _json(runner.invoke(app, ["sim", "charge", "ref:nmc811-pouch", "--json"]))
    assert d["binding_limit"] == "lithium plating (anode potential)"
    assert d["time_min"] > 0
    d = _json(runner.invoke(app, [
        "sim", "charge", "ref:assb-sulfide-li", "--c-rate", "2", "--ccd", "0.5", "--json",
    ]))
    assert d["binding_limit"] == "critical current density"
    assert d["critical_current_density_mA_cm2"] == 0.5
    r = runner.invoke(app, ["sim", "charge", "ref:assb-sulfide-li", "--ccd", "0.5"])
    _ok(r)
    assert "critical current density" in r.stdout


@pytest.mark.slow
def test_charge_and_pulse_charts(runner, tmp_path):
    pytest.importorskip("casip.physics.charts_charge")
    _ok(runner.invoke(app, ["sim", "charge", "ref:lfp-blade", "--out", str(tmp_path)]))
    _ok(runner.invoke(app, ["sim", "pulse", "ref:lfp-blade", "--soc", "0.5",
                            "--out", str(tmp_path)]))
    for stem in ("charge", "pulse"):
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG_MAGIC)
        assert (tmp_path / f"{stem}.html").exists()


@pytest.mark.slow
def test_pulse_json(runner):
    d = _json(runner.invoke(app, ["sim", "pulse", "ref:lfp-blade", "--soc", "0.5,0.8", "--json"]))
    assert [r["soc"] for r in d["rows"]] == [0.5, 0.8]
    for r in d["rows"]:
        assert r["discharge_resistance_ohm"] > 0
        assert r["area_specific_resistance_ohm_cm2"] > 0


def test_bpx_export_import_and_refusals(runner, tmp_path):
    f = tmp_path / "lfp.json"
    d = _json(runner.invoke(app, ["sim", "bpx", "export", "ref:lfp-blade", str(f), "--json"]))
    assert d["files"] == [str(f)]
    assert json.loads(f.read_text())["Header"]["Model"] == "DFN"
    # no silent overwrite; the message names the file given, not the OUT.json metavar
    r = runner.invoke(app, ["sim", "bpx", "export", "ref:lfp-blade", str(f)])
    _bad(r)
    assert f"{f}: the file exists" in r.stderr and "OUT.json" not in r.stderr
    _ok(runner.invoke(app, ["sim", "bpx", "export", "ref:lfp-blade", str(f), "--force"]))
    d = _json(runner.invoke(app, ["sim", "bpx", "import", str(f), "--json"]))
    # the design engine's rated capacity (after formation: first-cycle loss, issue 15)
    from casip.cells import reference_design
    from casip.design import evaluate

    assert d["capacity_Ah"] == pytest.approx(evaluate(reference_design("lfp-blade")).capacity_Ah,
                                             rel=1e-3)
    assert d["mass_g"] > 0
    r = runner.invoke(app, ["sim", "bpx", "import", str(f)])
    _ok(r)
    assert "valid BPX" in r.stdout
    # solid-state and lithium-metal cells: refused with the reason, nothing written
    g = tmp_path / "assb.json"
    r = runner.invoke(app, ["sim", "bpx", "export", "ref:assb-sulfide-li", str(g)])
    _bad(r)
    assert "two porous electrodes" in r.output
    assert not g.exists()
    # a broken file
    bad = tmp_path / "bad.json"
    bad.write_text('{"Header": {"BPX": "1.0.0", "Model": "DFN"}, "Parameterisation": {}}')
    _bad(runner.invoke(app, ["sim", "bpx", "import", str(bad)]))


@pytest.mark.slow
def test_a_bpx_file_runs_as_design(runner, tmp_path):
    f = tmp_path / "nmc.json"
    _ok(runner.invoke(app, ["sim", "bpx", "export", "ref:nmc811-pouch", str(f)]))
    d = _json(runner.invoke(app, ["sim", "pulse", str(f), "--soc", "0.5", "--json"]))
    assert d["rows"][0]["discharge_resistance_ohm"] > 0


@pytest.mark.slow
def test_rate_of_a_bpx_file_matches_the_design(runner, tmp_path):
    f = tmp_path / "nmc.json"
    _ok(runner.invoke(app, ["sim", "bpx", "export", "ref:nmc811-pouch", str(f)]))
    a = _json(runner.invoke(app, ["sim", "rate", str(f), "--c-rates", "1", "--json"]))
    b = _json(runner.invoke(app, ["sim", "rate", "ref:nmc811-pouch", "--c-rates", "1", "--json"]))
    assert a["table"][0]["capacity_Ah"] == pytest.approx(b["table"][0]["capacity_Ah"], rel=0.01)
