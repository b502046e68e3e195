"""Costs labelled as what they are in the CLI (issue 15): ``casip compare`` shows the cell cost
beside the materials cost, and ``casip cost cell`` takes ``--prices``."""

from __future__ import annotations

import json
import math
import os

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from typer.testing import CliRunner

from casip.cells import reference_design
from casip.cli import app
from casip.cost import cell_cost
from casip.design import evaluate


def _run(*args: str):
    r = CliRunner().invoke(app, list(args))
    return r


def test_compare_has_a_cell_cost_column_on_each_designs_own_process():
    r = _run("compare", "ref:assb-sulfide-li", "ref:nmc811-pouch", "--json")
    assert r.exit_code == 0, r.output
    rows = {row["label"]: row for row in json.loads(r.stdout)["rows"]}
    assert set(rows) >= {"lfp-blade", "assb-sulfide-li", "nmc811-pouch"}  # LFP baseline added
    for ref in ("assb-sulfide-li", "nmc811-pouch", "lfp-blade"):
        d = reference_design(ref)
        want = float(cell_cost(d).cell_usd_kWh)  # process from the design: sulfide, liquid
        assert rows[ref]["cell_cost_usd_kWh"] == pytest.approx(want, rel=1e-9), ref
        assert rows[ref]["cell_cost_usd_kWh"] > rows[ref]["cost_usd_kWh"]
    targets = [row for row in rows.values() if row["kind"] == "CASIP target"]
    assert targets and all(
        row["cell_cost_usd_kWh"] is None or math.isnan(row["cell_cost_usd_kWh"])
        for row in targets
    )
    text = _run("compare", "ref:assb-sulfide-li")
    assert text.exit_code == 0, text.output
    assert "materials" in text.stdout and "cell" in text.stdout
    assert "cell_cost = materials + scrap + manufacturing" in text.stdout


def test_cost_cell_takes_a_price_set():
    default = json.loads(_run("cost", "cell", "ref:lfp-blade", "--json").stdout)
    old = _run("cost", "cell", "ref:lfp-blade", "--prices", "batpac-2022", "--json")
    assert old.exit_code == 0, old.output
    old = json.loads(old.stdout)
    assert (default["price_set"], old["price_set"]) == ("china-2025", "batpac-2022")
    want = evaluate(reference_design("lfp-blade"), prices="batpac-2022").cost_usd_kWh
    assert old["materials_usd_kWh"] == pytest.approx(want, rel=1e-9)
    assert old["materials_usd_kWh"] > 1.5 * default["materials_usd_kWh"]  # 2022 LFP was dear
    li = json.loads(
        _run("cost", "cell", "ref:lfp-blade", "--lithium-carbonate", "20", "--json").stdout
    )
    assert li["price_set"] == "china-2025 (Li2CO3=20)"
    assert li["materials_usd_kWh"] > default["materials_usd_kWh"]
    bad = _run("cost", "cell", "ref:lfp-blade", "--prices", "china-1999")
    assert bad.exit_code == 2 and "china-1999" in bad.output and "china-2025" in bad.output
