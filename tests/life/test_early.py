"""Early cycle-life prediction (Severson et al. 2019) on the 41 shared training cells."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from casip.errors import CasipInputError
from casip.life import (
    FEATURE_NAMES,
    SEVERSON_VOLTAGE,
    DischargeModel,
    FullModel,
    VarianceModel,
    cross_validated_mape,
    feature_matrix,
    load_severson_qv,
    qv_features,
    qv_on_grid,
    severson_provenance,
    train_on_severson,
)


@pytest.fixture(scope="module")
def severson(shared_data):
    folder = shared_data / "severson"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    curves, lives = load_severson_qv(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = feature_matrix(curves)
    return folder, curves, lives, X


def col(X, name):
    return X[:, FEATURE_NAMES.index(name)]


def test_loader_shapes(severson):
    _, curves, lives, X = severson
    assert len(curves) == len(lives) == 41
    assert all(c.shape == (1000, 99) for c in curves)
    assert lives.min() >= 100 and X.shape == (41, len(FEATURE_NAMES))
    assert np.all(np.isfinite(X))


def test_feature_signs_on_real_data(severson):
    """Measured Pearson r with log10(cycle life): log var -0.90, log |min| -0.89."""
    _, _, lives, X = severson
    t = np.log10(lives)
    assert np.corrcoef(col(X, "log_var_dq"), t)[0, 1] < -0.7
    assert np.corrcoef(col(X, "log_min_dq"), t)[0, 1] < -0.7
    # the capacity loss from cycle 10 to 100 is small: |ΔQ| well under 0.1 Ah
    assert np.all(col(X, "log_min_dq") < -0.5)
    # nominal 1.1 Ah A123 LFP cells
    assert np.all((col(X, "qd_2") > 0.9) & (col(X, "qd_2") < 1.2))
    assert np.all(col(X, "qd_max_minus_2") >= 0)
    assert np.all(np.abs(col(X, "fade_slope")) < 1e-3)


def test_glitched_cycles_are_named_and_left_out(severson):
    """Cells 2 and 9 log one ~31 Ah cycle (12, 13); it must not enter the capacity features."""
    _, curves, _, X = severson
    with pytest.warns(UserWarning, match=r"cycles \[12\]"):
        qv_features(curves[1], source="cell 2")
    assert col(X, "qd_max_minus_2").max() < 0.1


def test_any_voltage_grid_gives_the_same_features(severson):
    _, curves, _, _ = severson
    q = curves[0]
    ref = qv_features(q)
    # each cycle on its own ascending, coarser grid wider than the window
    v = np.linspace(1.9, 3.7, 1500)
    per_cycle = {
        c: (v, np.interp(v, SEVERSON_VOLTAGE[::-1], q[::-1, j]))
        for j, c in enumerate(range(2, 101))
    }
    q2, volt, cyc = qv_on_grid(per_cycle)
    got = qv_features(q2, volt, cyc)
    for k in ("log_var_dq", "log_min_dq", "qd_2", "fade_slope"):
        assert got[k] == pytest.approx(ref[k], rel=0.02, abs=1e-6), k


def test_variance_model_cv_mape(severson):
    """5-fold CV MAPE of the variance model, measured: 14.6 % (seed 0); 14.5-15.7 % over seeds
    0-9 (mean 15.1 %); leave-one-out 14.8 %; training error 14.1 % (R2 0.90). The paper reports
    14.1 % training and 14.7 % primary-test error for this model."""
    _, _, lives, X = severson
    r = cross_validated_mape(VarianceModel(), X, lives, folds=5, seed=0)
    print(f"variance model 5-fold CV MAPE: {r['mape_percent']:.1f} %")
    assert r["mape_percent"] < 20


def test_richer_models_not_worse(severson):
    """5-fold CV MAPE (seed 0), measured: discharge 9.8 %, full 10.0 % vs variance 14.6 %.
    Over seeds 0-9: discharge 9.8-12.5 % (mean 10.9), full 10.0-11.6 % (mean 10.7);
    leave-one-out: discharge 10.4 %, full 10.0 %."""
    _, _, lives, X = severson
    var = cross_validated_mape(VarianceModel(), X, lives, seed=0)["mape_percent"]
    dis = cross_validated_mape(DischargeModel(), X, lives, seed=0)["mape_percent"]
    full = cross_validated_mape(FullModel(), X, lives, seed=0)["mape_percent"]
    print(f"CV MAPE: variance {var:.1f} %, discharge {dis:.1f} %, full {full:.1f} %")
    assert dis < var + 2
    assert full < var + 2
    assert full < 15


def test_save_load_round_trip_and_provenance(severson, tmp_path):
    folder, _, lives, X = severson
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = train_on_severson(folder, VarianceModel)
    path = m.save(tmp_path / "variance.json")
    m2 = VarianceModel.load(path)
    np.testing.assert_array_equal(m.predict(X), m2.predict(X))
    p, lo, hi = m2.predict_interval(X, coverage=0.9)
    assert np.all((lo < p) & (p < hi))
    inside = np.mean((lives >= lo) & (lives <= hi))
    assert inside > 0.7
    prov = json.loads(path.read_text())["provenance"]
    assert prov["cells"][0] == "cell1" and len(prov["cells"]) == 41
    assert prov["sha256"] == severson_provenance(folder)["sha256"]
    assert prov["sklearn_version"] and prov["date"] and 5 < prov["cv_mape_percent"] < 25
    assert -1 < m.score(X, lives) <= 1
    with pytest.raises(CasipInputError, match="model"):
        FullModel.load(path)


# --- bad input (synthetic, no shared data needed) ---------------------------------------------


def synthetic(n_cycles=99):
    v = np.linspace(3.6, 2.0, 200)
    cycles = np.arange(2, 2 + n_cycles)
    shape = 1 / (1 + np.exp((v - 3.3) / 0.02))
    q = np.stack([1.07 * (1 - 2e-4 * c) * shape + 1e-4 * np.sin(c * v) for c in cycles], axis=1)
    return q, v, cycles


def test_synthetic_ok():
    q, v, cycles = synthetic()
    f = qv_features(q, v, cycles)
    assert set(f) == set(FEATURE_NAMES)
    assert f["fade_slope"] < 0


def test_too_few_cycles():
    q, v, cycles = synthetic(n_cycles=60)
    with pytest.raises(CasipInputError, match="too few cycles"):
        qv_features(q, v, cycles)


def test_non_monotonic_voltage():
    q, v, cycles = synthetic()
    v = v.copy()
    v[50], v[51] = v[51], v[50]
    with pytest.raises(CasipInputError, match="monotonic"):
        qv_features(q, v, cycles)
    with pytest.raises(CasipInputError, match="cycle 2: voltage is not strictly monotonic"):
        qv_on_grid({c: (v, q[:, j]) for j, c in enumerate(cycles)})


def test_missing_voltage_range():
    q, v, cycles = synthetic()
    keep = v > 2.5
    with pytest.raises(CasipInputError, match="does not cover"):
        qv_on_grid({c: (v[keep], q[keep, j]) for j, c in enumerate(cycles)})
    with pytest.raises(CasipInputError, match="grid length"):
        qv_features(q, v[keep], cycles)


def test_nans():
    q, v, cycles = synthetic()
    q = q.copy()
    q[10, 40] = np.nan
    with pytest.raises(CasipInputError, match=r"NaN in the curves of cycles \[42\]"):
        qv_features(q, v, cycles)
    with pytest.raises(CasipInputError, match="cycle 42: NaN"):
        qv_on_grid({c: (v, q[:, j]) for j, c in enumerate(cycles)})


def test_unfitted_and_bad_targets():
    with pytest.raises(CasipInputError, match="not fitted"):
        VarianceModel().predict(np.zeros((1, len(FEATURE_NAMES))))
    with pytest.raises(CasipInputError, match="positive"):
        VarianceModel().fit(np.zeros((20, len(FEATURE_NAMES))), -np.ones(20))


def test_glitch_at_a_needed_cycle_is_an_error():
    q, v, cycles = synthetic()
    q = q.copy()
    q[-1, list(cycles).index(100)] = 31.0  # a logging glitch at the full discharge of cycle 100
    with pytest.raises(CasipInputError, match=r"implausible discharge capacity at cycles \[100\]"):
        qv_features(q, v, cycles)
