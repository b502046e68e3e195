"""Early cycle-life prediction from the first N < 100 cycles (issue 18), on the 41 shared cells."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from casip.errors import CasipInputError
from casip.life.early import (
    FEATURE_NAMES,
    SEVERSON_VOLTAGE,
    DischargeModel,
    VarianceModel,
    cross_validated_interval,
    cross_validated_mape,
    feature_matrix,
    load_severson_qv,
    qv_features,
    train_on_severson,
)


@pytest.fixture(scope="module")
def severson(shared_data):
    folder = shared_data / "severson"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    curves, lives = load_severson_qv(folder)
    return folder, curves, lives


def features(curves, n):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return feature_matrix(curves, last_cycle=n)


def test_n100_reproduces_todays_features_and_mape(severson):
    """last_cycle=100 is the paper's feature set: identical values, identical CV MAPE
    (variance model, 5-fold, seed 0: 14.6 %, as in test_early.py)."""
    _, curves, lives = severson
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        today = feature_matrix(curves)
    at100 = features(curves, 100)
    np.testing.assert_array_equal(today, at100)
    mape = cross_validated_mape(VarianceModel(), at100, lives, seed=0)["mape_percent"]
    assert mape == pytest.approx(14.6, abs=0.05)


def test_features_use_only_the_first_n_cycles(severson):
    """Changing the curves after cycle N leaves the N-cycle features unchanged."""
    _, curves, _ = severson
    q = curves[0].copy()
    ref = qv_features(q, last_cycle=40)
    q[:, 39:] *= 0.5  # columns of cycles 41..100
    assert qv_features(q, last_cycle=40) == ref
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the halved cycles look like glitches at N=100
        assert qv_features(q)["log_var_dq"] != qv_features(curves[0])["log_var_dq"]
    # ΔQ_{40-10}: the capacity lost from cycle 10 to 40 is smaller than from 10 to 100
    f40, f100 = qv_features(curves[0], last_cycle=40), qv_features(curves[0])
    assert f40["log_var_dq"] < f100["log_var_dq"]


def null_mape(lives, seed=0):
    """CV MAPE of predicting every cell with its training folds' geometric mean life."""
    from sklearn.model_selection import KFold

    t = np.log10(lives)
    pred = np.empty_like(lives)
    for tr, te in KFold(5, shuffle=True, random_state=seed).split(t):
        pred[te] = 10 ** t[tr].mean()
    return float(np.mean(np.abs(pred - lives) / lives) * 100)


@pytest.mark.slow
def test_mape_grows_as_n_shrinks(severson):
    """5-fold CV MAPE (seed 0), discharge model, measured: N=100 9.8 %, N=40 20.6 %,
    N=20 28.6 %; the no-information baseline (geometric mean of the training folds) is 30.2 %:
    at N=20 the features carry no usable information."""
    _, curves, lives = severson
    m = {
        n: cross_validated_mape(DischargeModel(), features(curves, n), lives, seed=0)[
            "mape_percent"
        ]
        for n in (100, 40, 20)
    }
    null = null_mape(lives, seed=0)
    print(f"discharge model CV MAPE: {m}, null {null:.1f} %")
    assert m[100] == pytest.approx(9.8, abs=0.05)
    assert m[40] == pytest.approx(20.6, abs=0.1)
    assert null == pytest.approx(30.2, abs=0.1)
    assert m[100] < m[40] < m[20]
    assert m[20] > 0.8 * null  # no real gain over guessing the mean


@pytest.mark.slow
def test_grouped_cross_fitting_keeps_groups_out(severson):
    """With groups, no cell's model was fitted on its own group; the intervals cover."""
    _, curves, lives = severson
    X = features(curves, 100)
    groups = np.arange(len(lives)) // 2  # pairs of cells
    r = cross_validated_interval(VarianceModel(), X, lives, groups=groups, seed=0)
    for i in range(len(lives)):
        tr = r["train_index"][r["fold"][i]]
        assert i not in tr and not np.any(groups[tr] == groups[i])
    assert np.all((r["low"] < r["predicted"]) & (r["predicted"] < r["high"]))
    assert 0.6 < r["coverage"] <= 1.0
    assert 10 < r["mape_percent"] < 25


@pytest.mark.slow
def test_train_at_n_records_it(severson):
    folder, _, _ = severson
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = train_on_severson(folder, VarianceModel, last_cycle=60)
    assert m.provenance_["last_cycle"] == 60 and m.provenance_["ref_cycle"] == 10


# --- bad N (synthetic, no shared data needed) -------------------------------------------------


def synthetic(n_cycles=99):
    v = np.linspace(3.6, 2.0, 200)
    cycles = np.arange(2, 2 + n_cycles)
    shape = 1 / (1 + np.exp((v - 3.3) / 0.02))
    q = np.stack([1.07 * (1 - 2e-4 * c) * shape + 1e-4 * np.sin(c * v) for c in cycles], axis=1)
    return q, v, cycles


@pytest.mark.parametrize("n", [10, 5, 101, 200, 0, -3])
def test_n_outside_11_to_100_is_refused(n):
    q, v, cycles = synthetic()
    with pytest.raises(CasipInputError, match=r"last_cycle.*11 <= N <= 100"):
        qv_features(q, v, cycles, last_cycle=n)


@pytest.mark.parametrize("n", [40.0, "40", True])
def test_n_must_be_an_integer(n):
    q, v, cycles = synthetic()
    with pytest.raises(CasipInputError, match="last_cycle: must be an integer"):
        qv_features(q, v, cycles, last_cycle=n)


def test_reference_cycle_before_n():
    q, v, cycles = synthetic()
    with pytest.raises(CasipInputError, match="ref_cycle"):
        qv_features(q, v, cycles, last_cycle=20, ref_cycle=20)


def test_short_test_is_enough_at_small_n():
    """A test with only 40 cycles gives N=40 features, and is refused for N=100."""
    q, v, cycles = synthetic(n_cycles=39)  # cycles 2..40
    f = qv_features(q, v, cycles, last_cycle=40)
    assert set(f) == set(FEATURE_NAMES) and f["fade_slope"] < 0
    with pytest.raises(CasipInputError, match="need the first 100 cycles"):
        qv_features(q, v, cycles)
    with pytest.raises(CasipInputError, match="need the first 60 cycles"):
        qv_features(q, v, cycles, last_cycle=60)


# --- a model trained at N is fed the features of N (issue 18) ---------------------------------


@pytest.fixture(scope="module")
def m60_synthetic():
    """A model fitted on synthetic features, provenance N = 60 (only N matters here)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, len(FEATURE_NAMES)))
    y = 10 ** (2.8 - 0.3 * X[:, FEATURE_NAMES.index("log_var_dq")] + rng.normal(0, 0.05, 20))
    return VarianceModel().fit(X, y, provenance={"last_cycle": 60, "ref_cycle": 10})


def with_provenance(model, **changes):
    """The model saved and loaded with its provenance changed (None removes a key)."""
    d = model.to_dict()
    d["provenance"] = {**d["provenance"], **changes}
    d["provenance"] = {k: v for k, v in d["provenance"].items() if v is not None}
    return type(model).from_dict(d)


def test_last_cycle_is_saved_and_loaded_with_the_model(tmp_path, m60_synthetic):
    m60 = m60_synthetic
    assert m60.last_cycle == 60 and m60.ref_cycle == 10
    again = VarianceModel.from_dict(m60.to_dict())
    assert again.last_cycle == 60
    assert VarianceModel.load(m60.save(tmp_path / "m60.json")).last_cycle == 60
    # a model saved before N could be chosen has no last_cycle: it used cycles 2..100
    assert with_provenance(m60, last_cycle=None).last_cycle == 100
    # a provenance edited to a bad N is refused as qv_features refuses it
    with pytest.raises(CasipInputError, match=r"last_cycle.*11 <= N <= 100"):
        _ = with_provenance(m60, last_cycle=7).last_cycle


@pytest.fixture(scope="module")
def hub60(severson):
    """Cell 1's real Q(V) of cycles 2..60 as a hub time series (a test at cycle 60)."""
    from .test_from_hub import _synthetic_hub

    _, curves, _ = severson
    q = np.maximum.accumulate(curves[0], axis=0)[:, :59]  # cycles 2..60, Q non-decreasing
    cyc = np.arange(2, 61)
    return q, cyc, _synthetic_hub(q, np.asarray(SEVERSON_VOLTAGE), cyc)


def test_hub_path_at_n60_equals_qv_features(hub60):
    from casip.life.from_hub import hub_features

    q, cyc, df = hub60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = qv_features(q, SEVERSON_VOLTAGE, cyc, last_cycle=60)
        got = hub_features(df, last_cycle=60)
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k
    with pytest.raises(CasipInputError, match=r"cycles 2 to 61 \(N = 61\).*missing \[61\]"):
        hub_features(df, last_cycle=61)


@pytest.mark.slow  # trains the discharge model at N = 60 (about 4 s)
def test_predict_test_uses_the_models_own_n(severson, hub60, m60_synthetic):
    """A 60-cycle test: predicted by a model trained at N = 60 (from cycles 2..60, as
    qv_features gives them), refused by a 100-cycle model with "too few cycles" naming 100."""
    from casip.life.from_hub import predict_test

    folder, _, lives = severson
    q, cyc, df = hub60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m60 = train_on_severson(folder, DischargeModel, last_cycle=60)
        r = predict_test(df, m60)
        direct = m60.predict([qv_features(q, SEVERSON_VOLTAGE, cyc, last_cycle=60)])[0]
    assert r["cycles"] == 60 and r["model"] == "DischargeModel"
    assert r["cycle_life"] == pytest.approx(direct, rel=1e-12)
    assert r["low"] < lives[0] < r["high"]  # cell 1, 2160 cycles (in-sample)
    m100 = with_provenance(m60_synthetic, last_cycle=None)  # a model of cycles 2..100
    with pytest.raises(CasipInputError, match=r"too few cycles.*cycles 2 to 100.*missing \[100\]"):
        predict_test(df, m100)
