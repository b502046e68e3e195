"""Flagged tests are left out of what uses tests (issue 13, plausibility gate) unless included.

A test stored flagged at ingestion (unusual but real: here a failed capacity check) is kept out
of life prediction by :meth:`casip.data.store.Store.usable`, :func:`casip.life.from_hub.
predict_stored` and ``casip life predict --test`` unless ``include_flagged`` /
``--include-flagged`` is given, and the refusal names the reasons. The flagged files are the
real shared ``p492-13-raw.csv`` (a capacity check fails in two of its cycles) and a cycler file
written here (a battery-data-format CSV whose capacity counters read 30 % above the integral of
its current); an unflagged twin of the latter is used and never refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.data.store import Store
from casip.errors import CasipInputError
from casip.life import FEATURE_NAMES, VarianceModel
from casip.life.from_hub import predict_stored

FLAGGED_SHARED = "p492-13-raw.csv"
COLUMNS = (
    "test_time_second,voltage_volt,current_ampere,cycle_count,step_index,"
    "charging_capacity_ah,discharging_capacity_ah"
)


def write_cell(path: Path, counter_factor: float = 1.0, cycles: int = 101) -> Path:
    """A BDF CSV of ``cycles`` 1 A charge/discharge cycles between 2.0 and 3.6 V (+-0.05 V).

    The capacity fades 0.3 % per cycle and the discharge curve bends a little more each cycle,
    so the Severson features are finite; the capacity counters are the integral of current
    times ``counter_factor`` (1.3: the capacity check fails in every cycle).
    """
    rows = [COLUMNS]
    t, dt, qc, qd = 0.0, 60.0, 0.0, 0.0
    for n in range(1, cycles + 1):
        cap = 1.0 * (1 - 0.003 * (n - 1))
        steps = round(cap * 3600 / dt)
        for k in range(1, steps + 1):
            t += dt
            qc += dt / 3600
            v = 1.95 + 1.7 * k / steps
            rows.append(f"{t:.1f},{v:.5f},1.000,{n},1,{qc * counter_factor:.6f},"
                        f"{qd * counter_factor:.6f}")
        for k in range(1, steps + 1):
            t += dt
            qd += dt / 3600
            v = 3.65 - 1.7 * (k / steps) ** (1 + 0.002 * n)
            rows.append(f"{t:.1f},{v:.5f},-1.000,{n},2,{qc * counter_factor:.6f},"
                        f"{qd * counter_factor:.6f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_data: Path) -> tuple[Store, dict[str, str]]:
    """A store with a flagged and an unflagged written cell and the flagged shared file."""
    folder = tmp_path_factory.mktemp("flags")
    files = {
        "ok": write_cell(folder / "cell_ok.bdf.csv"),
        "off": write_cell(folder / "cell_off.bdf.csv", counter_factor=1.3),
        "shared": shared_data / "cycler" / FLAGGED_SHARED,
    }
    st = Store(folder / "store")
    ids = {}
    for key, path in files.items():
        (res,) = st.ingest([path])
        assert res.status == "ingested", res.error
        ids[key] = res.test_id
    return st, ids


@pytest.fixture(scope="module")
def model() -> VarianceModel:
    """A small fitted early-life model (synthetic features: only its use matters here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, len(FEATURE_NAMES)))
    y = 10 ** (2.8 - 0.3 * X[:, FEATURE_NAMES.index("log_var_dq")] + rng.normal(0, 0.05, 20))
    return VarianceModel().fit(X, y)


def test_the_files_are_flagged_as_expected(store) -> None:
    st, ids = store
    assert st.flags_of(ids["ok"]) == []
    for key in ("off", "shared"):
        reasons = st.flags_of(ids[key])
        assert reasons and "capacity check failed" in reasons[0], (key, reasons)


def test_usable_leaves_flagged_tests_out_unless_included(store) -> None:
    st, ids = store
    kept, left_out = st.usable()
    assert kept == [ids["ok"]]
    assert set(left_out) == {ids["off"], ids["shared"]}
    assert all("capacity check failed" in r[0] for r in left_out.values())
    kept, left_out = st.usable(include_flagged=True)
    assert sorted(kept) == sorted(ids.values()) and left_out == {}
    # prefixes resolve to full ids
    kept, left_out = st.usable([ids["off"][:8]])
    assert kept == [] and list(left_out) == [ids["off"]]


def test_life_prediction_refuses_a_flagged_test_unless_included(store, model) -> None:
    st, ids = store
    ok = predict_stored(st, ids["ok"], model)
    assert ok["test_id"] == ids["ok"] and ok["flags"] == [] and ok["cycle_life"] > 0
    with pytest.raises(CasipInputError) as exc:
        predict_stored(st, ids["off"], model)
    msg = str(exc.value)
    assert "flagged at ingestion, so left out of life prediction" in msg
    assert "capacity check failed" in msg and ids["off"] in msg
    assert "include_flagged=True (--include-flagged)" in msg
    included = predict_stored(st, ids["off"], model, include_flagged=True)
    assert included["cycle_life"] > 0
    assert "capacity check failed" in included["flags"][0]
    # the real shared file: refused for its flag first; included, its own limit shows
    with pytest.raises(CasipInputError, match="flagged at ingestion"):
        predict_stored(st, ids["shared"], model)
    with pytest.raises(CasipInputError, match="too few cycles"):
        predict_stored(st, ids["shared"], model, include_flagged=True)


def test_cli_life_predict_needs_include_flagged(store, model, tmp_path) -> None:
    st, ids = store
    model_file = model.save(tmp_path / "model.json")
    runner = CliRunner()
    base = ["life", "predict", "--model", str(model_file), "--store", str(st.root), "--json"]
    env = {"CASIP_STORE": ""}
    r = runner.invoke(app, [*base, "--test", ids["off"]], env=env)
    assert r.exit_code == 2, r.output
    assert "flagged at ingestion" in r.output and "--include-flagged" in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, [*base, "--test", ids["off"], "--include-flagged"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["test"] == ids["off"] and out["predicted_cycle_life"] > 0
    assert "capacity check failed" in out["flags"][0]
    assert "is flagged (included by --include-flagged)" in r.stderr
    r = runner.invoke(app, [*base, "--test", ids["ok"]], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["flags"] == []
