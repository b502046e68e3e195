"""The "real but unusual" half of the gate: flags stored with the test, never refusals.

Each case is a known profile (casip.data.synthetic) changed in one way a real file can be
unusual: a lithium-losing cell (coulombic efficiency 0.85), a time column in milliseconds
labelled seconds, a half cell declared as a full cell, a nominal capacity 50x too small.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.data import plausibility, synthetic
from casip.data.store import Store


def _store_profile(tmp_path, profile, metadata=None, name="t.csv"):
    path = synthetic.write("bdf-csv", profile, tmp_path / name, counters=False)
    store = Store(tmp_path / "store")
    res = store.add_file(path, metadata=metadata)
    assert res.status == "ingested", res.error
    return store, res


def _kinds(store, res):
    return [f["kind"] for f in store.info(res.test_id)["flags"]]


@pytest.fixture(scope="module")
def cycling():
    return synthetic.make_profile(n_cycles=7, capacity_ah=0.5, c_rate=1.0, sample_s=30, seed=2)


def test_ordinary_test_has_no_flag(cycling, tmp_path):
    store, res = _store_profile(tmp_path, cycling, {"nominal_capacity_ah": 0.5,
                                                     "cell_configuration": "full"})
    assert _kinds(store, res) == []
    kept, left = store.usable()
    assert kept == [res.test_id] and left == {}


def test_lithium_loss_is_flagged_not_refused(cycling, tmp_path):
    lossy = dataclasses.replace(
        cycling, current_a=np.where(cycling.current_a < 0, 0.85 * cycling.current_a,
                                    cycling.current_a))
    store, res = _store_profile(tmp_path, lossy, {"chemistry": "NMC811/anode-free"})
    flags = store.info(res.test_id)["flags"]
    ce = [f for f in flags if f["kind"] == "coulombic_efficiency"]
    assert ce, flags
    assert "from 0.85" in ce[0]["reason"] and "anode-free" in ce[0]["reason"]
    kept, left = store.usable()
    assert kept == [] and res.test_id in left
    assert store.usable(include_flagged=True)[0] == [res.test_id]


def test_one_odd_cycle_is_not_a_flag(cycling, tmp_path):
    """A single check-up cycle with a low efficiency does not make the test unusual."""
    odd = cycling.cycle == 4
    one = dataclasses.replace(
        cycling, current_a=np.where(odd & (cycling.current_a < 0), 0.8 * cycling.current_a,
                                    cycling.current_a))
    store, res = _store_profile(tmp_path, one)
    assert "coulombic_efficiency" not in _kinds(store, res)


def test_milliseconds_labelled_seconds_is_flagged(cycling, tmp_path):
    slow = dataclasses.replace(cycling, time_s=cycling.time_s * 1000.0,
                               current_a=cycling.current_a / 1000.0)
    store, res = _store_profile(tmp_path, slow)
    reasons = [f["reason"] for f in store.info(res.test_id)["flags"] if f["kind"] == "time"]
    assert reasons and "milliseconds" in reasons[0]


def test_half_cell_declared_full(tmp_path):
    half = synthetic.make_profile(n_cycles=2, capacity_ah=0.002, c_rate=0.5, sample_s=60,
                                  v_min=0.01, v_max=1.5)
    store, res = _store_profile(tmp_path, half, {"cell_configuration": "full"}, "a.csv")
    assert "configuration" in _kinds(store, res)
    store2 = Store(tmp_path / "store2")
    res2 = store2.add_file(tmp_path / "a.csv", metadata={"cell_configuration": "half"})
    assert "configuration" not in _kinds(store2, res2)


def test_nominal_capacity_far_off_is_flagged(cycling, tmp_path):
    store, res = _store_profile(tmp_path, cycling, {"nominal_capacity_ah": 0.01})
    reasons = [f["reason"] for f in store.info(res.test_id)["flags"] if f["kind"] == "rate"]
    assert reasons and "50C" in reasons[0]


def test_flags_function_on_empty_tables():
    import pandas as pd

    assert plausibility.flags(pd.DataFrame(), pd.DataFrame(), {}, []) == []


def test_cli_configuration_option(cycling, tmp_path):
    path = synthetic.write("bdf-csv", cycling, tmp_path / "c.csv", counters=False)
    runner = CliRunner()
    bad = runner.invoke(app, ["data", "ingest", str(path), "--store", str(tmp_path / "s"),
                              "--configuration", "sideways"])
    assert bad.exit_code != 0 and "--configuration" in bad.output
    ok = runner.invoke(app, ["data", "ingest", str(path), "--store", str(tmp_path / "s"),
                             "--configuration", "half"])
    assert ok.exit_code == 0, ok.output
