"""Early cycle-life prediction from the first 100 cycles (Severson et al. 2019).

The features are computed from discharge-capacity-vs-voltage curves :math:`Q_n(V)` of cycles
2..100 and fed to an elastic net that predicts :math:`\\log_{10}` of the cycle life.

Features (all from :math:`Q_n(V)` alone; the paper's temperature, resistance and charge-time
features need data the Q(V) form does not hold):

* :math:`\\Delta Q_{100-10}(V) = Q_{100}(V) - Q_{10}(V)` on a common voltage grid
  :math:`V_1..V_m` (by default 1000 points from 3.6 V down to 2.0 V, as in the paper), and

  - ``log_var_dq``  :math:`\\log_{10}|\\operatorname{var}(\\Delta Q)|`,
    :math:`\\operatorname{var} = \\frac1m \\sum_i (\\Delta Q_i - \\overline{\\Delta Q})^2`
  - ``log_min_dq``  :math:`\\log_{10}|\\min_i \\Delta Q_i|`
  - ``log_skew_dq`` :math:`\\log_{10}|\\frac{1}{m}\\sum_i (\\Delta Q_i-\\overline{\\Delta Q})^3
    / \\sigma^3|`
  - ``log_kurt_dq`` :math:`\\log_{10}|\\frac{1}{m}\\sum_i (\\Delta Q_i-\\overline{\\Delta Q})^4
    / \\sigma^4|` (Pearson kurtosis, not the excess)

* discharge capacity per cycle :math:`Q_d(n) = Q_n(V_{\\min})` (the full discharge, at the
  lowest voltage of the grid), and

  - ``qd_2``          :math:`Q_d(2)` [Ah]
  - ``qd_max_minus_2`` :math:`\\max_n Q_d(n) - Q_d(2)` [Ah]
  - ``fade_slope``, ``fade_intercept``: least squares :math:`Q_d(n) \\approx a\\,n + b` over the
    cycles 2..100 [Ah/cycle], [Ah]

Models (elastic net on the standardised features, target :math:`\\log_{10} N_{life}`):

* :class:`VarianceModel` -- ``log_var_dq`` only (the paper's "variance" model)
* :class:`DischargeModel` -- the paper's "discharge" model features: the four
  :math:`\\Delta Q` statistics, ``qd_2`` and ``qd_max_minus_2``
* :class:`FullModel` -- all eight features available from Q(V) (the paper's "full" model
  also uses charge time, temperature and internal resistance, which the Q(V) form lacks)

Validation on the 41 shared training cells (``tests/life/test_early.py``): cross-validated
MAPE of the cycle life, leave-one-out / 5-fold mean over 10 seeds: variance 14.8 / 15.1 %,
discharge 10.4 / 10.9 %, full 10.0 / 10.7 %; the variance model's training error (14.1 %)
matches the paper's.

References
----------
K. A. Severson, P. M. Attia, N. Jin, N. Perkins, B. Jiang, Z. Yang, M. H. Chen, M. Aykol,
P. K. Herring, D. Fraggedakis, M. Z. Bazant, S. J. Harris, W. C. Chueh, R. D. Braatz,
"Data-driven prediction of battery cycle life before capacity degradation",
Nature Energy 4, 383-391 (2019). https://doi.org/10.1038/s41560-019-0356-8
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from casip.errors import CasipInputError, Problem

FEATURE_NAMES: tuple[str, ...] = (
    "log_var_dq",
    "log_min_dq",
    "log_skew_dq",
    "log_kurt_dq",
    "qd_2",
    "qd_max_minus_2",
    "fade_slope",
    "fade_intercept",
)
VARIANCE_FEATURES: tuple[str, ...] = ("log_var_dq",)
DISCHARGE_FEATURES: tuple[str, ...] = (
    "log_var_dq",
    "log_min_dq",
    "log_skew_dq",
    "log_kurt_dq",
    "qd_2",
    "qd_max_minus_2",
)
FULL_FEATURES: tuple[str, ...] = FEATURE_NAMES

#: The voltage grid of the paper and of the shared Q(V) files [V]: 3.6 V down to 2.0 V.
SEVERSON_VOLTAGE = np.linspace(3.6, 2.0, 1000)
#: Cycles held as columns in the shared Q(V) files.
SEVERSON_CYCLES = np.arange(2, 101)

_FORMAT = "casip.life.early/1"


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _cell_files(folder: Path) -> list[Path]:
    train = folder / "train" if (folder / "train").is_dir() else folder
    files = [p for p in train.glob("cell*.csv") if re.fullmatch(r"cell\d+\.csv", p.name)]
    return sorted(files, key=lambda p: int(p.stem[4:]))


def _lives_file(folder: Path) -> Path:
    for p in (folder / "train_cycle_lives.csv", folder.parent / "train_cycle_lives.csv"):
        if p.is_file():
            return p
    raise CasipInputError(
        Problem("train_cycle_lives.csv", "file not found", expected="beside the train/ folder"),
        source=str(folder),
    )


def load_severson_qv(folder: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Read the Q(V) form of the Severson et al. training cells in place.

    Parameters
    ----------
    folder : path
        ``.../severson`` (holding ``train/`` and ``train_cycle_lives.csv``) or its ``train/``.

    Returns
    -------
    curves : list of ndarray
        Per cell ``cell1..cellN`` (numeric order), discharge capacity Q [Ah] of shape
        (1000 voltages from 3.6 V to 2.0 V, 99 cycles 2..100); see :data:`SEVERSON_VOLTAGE`.
    lives : ndarray
        Cycle life of each cell, in the same order.
    """
    folder = Path(folder)
    files = _cell_files(folder)
    if not files:
        raise CasipInputError(
            Problem("cell*.csv", "no cell files found", expected="train/cell1.csv ..."),
            source=str(folder),
        )
    lives = np.loadtxt(_lives_file(folder), delimiter=",", ndmin=1)
    if len(lives) != len(files):
        raise CasipInputError(
            Problem(
                "train_cycle_lives.csv",
                f"{len(lives)} cycle lives for {len(files)} cell files",
                expected="one cycle life per cell file",
            ),
            source=str(folder),
        )
    curves = [np.loadtxt(p, delimiter=",", ndmin=2) for p in files]
    return curves, lives


def severson_provenance(folder: str | Path) -> dict:
    """Names and sha256 of the files :func:`load_severson_qv` reads."""
    folder = Path(folder)
    files = [*_cell_files(folder), _lives_file(folder)]
    return {
        "folder": str(folder),
        "cells": [p.stem for p in files[:-1]],
        "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def _err(field: str, message: str, value=None, expected=None, source=None) -> CasipInputError:
    return CasipInputError(Problem(field, message, value, expected), source=source)


def qv_on_grid(
    curves: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    v_high: float = 3.6,
    v_low: float = 2.0,
    n_points: int = 1000,
    source: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolate per-cycle discharge curves onto one voltage grid.

    Parameters
    ----------
    curves : mapping cycle -> (V, Q)
        Voltage [V] and discharge capacity [Ah] of each cycle, on any (strictly monotonic) grid.
    v_high, v_low : float
        The window [V]; every cycle must cover it.
    n_points : int
        Points of the common grid (linear, from ``v_high`` down to ``v_low``).

    Returns
    -------
    q : ndarray (n_points, n_cycles)
    voltage : ndarray (n_points,)
    cycles : ndarray (n_cycles,), ascending
    """
    voltage = np.linspace(v_high, v_low, n_points)
    cycles = np.array(sorted(int(c) for c in curves))
    q = np.empty((n_points, len(cycles)))
    for j, c in enumerate(cycles):
        v, qc = (np.asarray(a, dtype=float) for a in curves[c])
        field = f"cycle {c}"
        if v.ndim != 1 or v.shape != qc.shape or len(v) < 2:
            raise _err(
                field,
                "voltage and capacity must be 1-D arrays of the same length (>= 2)",
                value=f"{v.shape} and {qc.shape}",
                source=source,
            )
        if np.isnan(v).any() or np.isnan(qc).any():
            raise _err(field, "NaN in voltage or capacity", expected="finite values", source=source)
        dv = np.diff(v)
        if not (np.all(dv > 0) or np.all(dv < 0)):
            raise _err(
                field,
                "voltage is not strictly monotonic",
                source=source,
                expected="a discharge curve with strictly decreasing (or increasing) V",
            )
        if v.min() > v_low + 1e-9 or v.max() < v_high - 1e-9:
            raise _err(
                field,
                "voltage range does not cover the feature window",
                value=f"{v.min():.4g}..{v.max():.4g} V",
                expected=f"{v_low}..{v_high} V",
                source=source,
            )
        order = np.argsort(v)
        q[:, j] = np.interp(voltage, v[order], qc[order])
    return q, voltage, cycles


def _glitches(qd: np.ndarray, window: int = 5, tol: float = 0.05) -> np.ndarray:
    """Cycles whose discharge capacity departs from the running median of its neighbours by
    more than ``tol`` of the cell's median capacity (logging glitches, e.g. the ~31 Ah cycles
    12 and 13 of cells 2 and 9 in the shared training set)."""
    n = len(qd)
    half = window // 2
    ref = np.array(
        [np.median(np.delete(qd[max(0, i - half) : i + half + 1], min(i, half))) for i in range(n)]
    )
    return np.abs(qd - ref) > tol * abs(np.median(qd))


#: The range of N (last cycle) accepted by :func:`qv_features`: the shared Q(V) files hold
#: cycles 2..100, and ΔQ_{N-10} needs N > 10.
LAST_CYCLE_RANGE: tuple[int, int] = (11, 100)


def _check_cycle_window(last_cycle, ref_cycle, source=None) -> tuple[int, int]:
    """Validate N (``last_cycle``) and the reference cycle of ΔQ; return them as ints."""
    lo, hi = LAST_CYCLE_RANGE
    if isinstance(last_cycle, bool) or not isinstance(last_cycle, (int, np.integer)):
        raise _err("last_cycle", "must be an integer", value=last_cycle,
                   expected=f"an integer {lo}..{hi}", source=source)
    if not lo <= int(last_cycle) <= hi:
        raise _err(
            "last_cycle",
            f"N = {last_cycle} is outside the validated range: ΔQ_N-10 needs N > 10 and the "
            f"Severson Q(V) data (and these models) stop at cycle {hi}",
            value=last_cycle,
            expected=f"{lo} <= N <= {hi}",
            source=source,
        )
    if isinstance(ref_cycle, bool) or not isinstance(ref_cycle, (int, np.integer)) or not (
        2 <= int(ref_cycle) < int(last_cycle)
    ):
        raise _err("ref_cycle", "the reference cycle of ΔQ must be before N", value=ref_cycle,
                   expected=f"an integer 2 <= ref_cycle < {last_cycle}", source=source)
    return int(last_cycle), int(ref_cycle)


def qv_features(
    q: np.ndarray,
    voltage: Sequence[float] | None = None,
    cycles: Sequence[int] | None = None,
    source: str | None = None,
    *,
    last_cycle: int = 100,
    ref_cycle: int = 10,
) -> dict[str, float]:
    """The Severson et al. features of one cell from its Q(V) curves on a common grid.

    Parameters
    ----------
    q : array (n_voltages, n_cycles)
        Discharge capacity [Ah]; column j is the curve of cycle ``cycles[j]``.
    voltage : array (n_voltages,), optional
        The grid [V], strictly monotonic; default :data:`SEVERSON_VOLTAGE`. The discharge
        capacity of a cycle is Q at the lowest voltage.
    cycles : array (n_cycles,), optional
        Cycle numbers of the columns; default 2..100 (:data:`SEVERSON_CYCLES`). Cycles 2, 10
        and 100 must be present (``ref_cycle`` and ``last_cycle`` when those are given).
    last_cycle : int, keyword-only
        N: the features use cycles 2..N only, with :math:`\\Delta Q_{N-10}(V) = Q_N(V) -
        Q_{10}(V)` and the discharge-capacity features over cycles 2..N; 11 <= N <= 100
        (default 100: the paper's features). See :func:`validate_at_cycles` for how good a
        model is at each N.
    ref_cycle : int, keyword-only
        The reference cycle of ΔQ (default 10, the paper's); 2 <= ref_cycle < last_cycle.

    Returns
    -------
    dict
        One value per name in :data:`FEATURE_NAMES` (equations in the module docstring).

    Raises
    ------
    CasipInputError
        Too few cycles, a missing or non-monotonic voltage grid, NaNs, a flat ΔQ.
    """
    q = np.asarray(q, dtype=float)
    if q.ndim != 2:
        raise _err(
            "Q(V)",
            "must be a 2-D array (voltages x cycles)",
            value=f"shape {q.shape}",
            source=source,
        )
    voltage = SEVERSON_VOLTAGE if voltage is None else np.asarray(voltage, dtype=float)
    cycles = SEVERSON_CYCLES if cycles is None else np.asarray(cycles)
    last_cycle, ref_cycle = _check_cycle_window(last_cycle, ref_cycle, source)
    if voltage.ndim != 1 or len(voltage) != q.shape[0]:
        raise _err(
            "voltage",
            "grid length does not match the rows of Q(V)",
            value=f"{voltage.shape} vs {q.shape[0]} rows",
            source=source,
            expected="one voltage per row",
        )
    if len(cycles) != q.shape[1]:
        raise _err(
            "cycles",
            f"{q.shape[1]} Q(V) columns but {len(cycles)} cycle numbers",
            source=source,
            expected="one cycle number per column",
        )
    if np.isnan(voltage).any():
        raise _err("voltage", "NaN in the voltage grid", source=source)
    dv = np.diff(voltage)
    if len(voltage) < 10 or not (np.all(dv > 0) or np.all(dv < 0)):
        raise _err(
            "voltage",
            "grid is not strictly monotonic (or has fewer than 10 points)",
            source=source,
            expected="a strictly monotonic grid, e.g. 3.6 V down to 2.0 V",
        )
    have = set(int(c) for c in cycles)
    needed_cycles = (2, ref_cycle, last_cycle)
    missing = [c for c in needed_cycles if c not in have]
    n_early = int(np.sum((cycles >= 2) & (cycles <= last_cycle)))
    if missing or n_early < 10:
        raise _err(
            "cycles",
            f"too few cycles: need the first {last_cycle} cycles (at least 2, {ref_cycle}, "
            f"{last_cycle})",
            value=f"{len(cycles)} cycles, max {int(np.max(cycles)) if len(cycles) else 0}"
            + (f", missing {missing}" if missing else ""),
            expected=f">= {last_cycle} cycles",
            source=source,
        )
    col = {int(c): j for j, c in enumerate(cycles)}
    early = np.array(sorted(c for c in have if 2 <= c <= last_cycle))
    cols = [col[c] for c in early]
    needed = q[:, sorted(set(cols))]
    if np.isnan(needed).any():
        bad = sorted({int(cycles[j]) for j in cols if np.isnan(q[:, j]).any()})
        raise _err(
            "Q(V)",
            f"NaN in the curves of cycles {bad[:10]}",
            expected="finite values",
            source=source,
        )

    dq = q[:, col[last_cycle]] - q[:, col[ref_cycle]]
    mean = dq.mean()
    var = float(np.mean((dq - mean) ** 2))
    if not var > 0:
        raise _err(
            f"ΔQ{last_cycle}-{ref_cycle}(V)",
            f"identically zero: cycles {ref_cycle} and {last_cycle} have the same curve",
            source=source,
        )
    sd = np.sqrt(var)
    skew = float(np.mean((dq - mean) ** 3) / sd**3)
    kurt = float(np.mean((dq - mean) ** 4) / sd**4)
    i_low = int(np.argmin(voltage))
    qd_all = q[i_low, cols]
    glitch = _glitches(qd_all)
    bad_needed = [c for c in needed_cycles if glitch[list(early).index(c)]]
    if bad_needed:
        raise _err(
            "Q(V)",
            f"implausible discharge capacity at cycles {bad_needed}",
            value=[float(qd_all[list(early).index(c)]) for c in bad_needed],
            expected="within 5% of the neighbouring cycles",
            source=source,
        )
    if glitch.any():
        warnings.warn(
            f"{source or 'cell'}: cycles {early[glitch].tolist()} have implausible discharge "
            f"capacity {np.round(qd_all[glitch], 4).tolist()} Ah (more than 5% from the running "
            "median of their neighbours); left out of the discharge-capacity features",
            stacklevel=2,
        )
    early, qd = early[~glitch], qd_all[~glitch]
    slope, intercept = np.polyfit(early.astype(float), qd, 1)

    def log_abs(x: float) -> float:
        return float(np.log10(abs(x))) if x != 0 else float("-inf")

    out = {
        "log_var_dq": log_abs(var),
        "log_min_dq": log_abs(float(dq.min())),
        "log_skew_dq": log_abs(skew),
        "log_kurt_dq": log_abs(kurt),
        "qd_2": float(qd[0]),
        "qd_max_minus_2": float(qd.max() - qd[0]),
        "fade_slope": float(slope),
        "fade_intercept": float(intercept),
    }
    bad = [k for k, v in out.items() if not np.isfinite(v)]
    if bad:
        raise _err("features", f"not finite: {bad}", source=source)
    return out


def feature_matrix(
    cells: Sequence[np.ndarray],
    voltage: Sequence[float] | None = None,
    cycles: Sequence[int] | None = None,
    *,
    last_cycle: int = 100,
    ref_cycle: int = 10,
) -> np.ndarray:
    """Stack :func:`qv_features` of many cells: array (n_cells, len(FEATURE_NAMES)).

    ``last_cycle`` (N) and ``ref_cycle`` are passed to :func:`qv_features`: features from the
    first N cycles only.
    """
    rows = []
    for i, q in enumerate(cells):
        f = qv_features(
            q, voltage, cycles, source=f"cell {i + 1}", last_cycle=last_cycle, ref_cycle=ref_cycle
        )
        rows.append([f[k] for k in FEATURE_NAMES])
    return np.array(rows, dtype=float)


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


def _select(X, features: Sequence[str]) -> np.ndarray:
    """Columns ``features`` of X: a DataFrame with named columns, a sequence of feature dicts,
    or an array whose columns are :data:`FEATURE_NAMES` (all of them) or exactly ``features``."""
    if hasattr(X, "columns"):
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise _err("X", f"missing feature columns {missing}", expected=str(list(features)))
        return np.asarray(X[list(features)], dtype=float)
    if len(X) and isinstance(X[0], Mapping):
        return np.array([[row[f] for f in features] for row in X], dtype=float)
    a = np.asarray(X, dtype=float)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.shape[1] == len(FEATURE_NAMES):
        return a[:, [FEATURE_NAMES.index(f) for f in features]]
    if a.shape[1] == len(features):
        return a
    raise _err(
        "X",
        f"{a.shape[1]} columns",
        expected=f"{len(FEATURE_NAMES)} (FEATURE_NAMES) or {len(features)} ({list(features)})",
    )


class _EarlyLifeModel:
    """Elastic net on standardised features, target log10(cycle life).

    ``predict`` evaluates :math:`\\log_{10} \\hat N = b + \\sum_k w_k (x_k - \\mu_k)/s_k` from the
    stored coefficients (so a saved and reloaded model predicts identically).
    ``score`` is scikit-learn's default: R² of the predicted against the observed cycle life;
    :meth:`mape` gives the mean absolute percentage error.

    Parameters
    ----------
    l1_ratio : sequence of float
        Candidate L1 ratios for :class:`sklearn.linear_model.ElasticNetCV`.
    cv : int
        Folds of the inner cross-validation (choice of alpha and l1_ratio, and the residuals
        behind the prediction interval).
    random_state : int
        Seed of the fold shuffling.
    """

    features: tuple[str, ...] = FEATURE_NAMES

    def __init__(self, l1_ratio=(0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0), cv=5, random_state=0):
        self.l1_ratio = l1_ratio
        self.cv = cv
        self.random_state = random_state

    # scikit-learn protocol -------------------------------------------------------------------
    def get_params(self, deep=True):
        return {"l1_ratio": self.l1_ratio, "cv": self.cv, "random_state": self.random_state}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _pipeline(self):
        from sklearn.linear_model import ElasticNetCV
        from sklearn.model_selection import KFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        enet = ElasticNetCV(l1_ratio=list(self.l1_ratio), cv=folds, max_iter=100_000)
        return make_pipeline(StandardScaler(), enet)

    def fit(self, X, y, provenance: dict | None = None, _interval: bool = True):
        """Fit on features X and cycle lives y (> 0); ``provenance`` is stored with the model.

        Besides the coefficients, a second (inner, k-fold) cross-validation gives out-of-fold
        residuals for the prediction interval and the CV error in the provenance.
        """
        import sklearn
        from sklearn.model_selection import KFold, cross_val_predict

        x = _select(X, self.features)
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(x):
            raise _err("y", f"{len(y)} cycle lives for {len(x)} cells")
        if not np.all(np.isfinite(x)):
            raise _err("X", "non-finite feature values", expected="finite values")
        if not np.all(np.isfinite(y) & (y > 0)):
            raise _err("y", "cycle lives must be finite and positive")
        if len(y) < 2 * self.cv:
            raise _err("y", f"{len(y)} cells", expected=f">= {2 * self.cv} for cv={self.cv}")
        t = np.log10(y)
        pipe = self._pipeline().fit(x, t)
        scaler, enet = pipe[0], pipe[-1]
        self.mean_ = scaler.mean_.copy()
        self.scale_ = scaler.scale_.copy()
        self.coef_ = enet.coef_.copy()
        self.intercept_ = float(enet.intercept_)
        self.alpha_ = float(enet.alpha_)
        self.l1_ratio_ = float(enet.l1_ratio_)
        if not _interval:
            return self
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state + 1)
        t_cv = cross_val_predict(self._pipeline(), x, t, cv=folds)
        self.residuals_ = np.sort(t - t_cv)  # log10 space, out-of-fold
        cv_mape = float(np.mean(np.abs(10**t_cv - y) / y) * 100)
        self.provenance_ = {
            **(provenance or {}),
            "model": type(self).__name__,
            "n_cells": len(y),
            "features": list(self.features),
            "sklearn_version": sklearn.__version__,
            "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "cv_folds": self.cv,
            "cv_mape_percent": cv_mape,
            "cv_rmse_log10": float(np.sqrt(np.mean((t - t_cv) ** 2))),
            "alpha": self.alpha_,
            "l1_ratio": self.l1_ratio_,
        }
        return self

    @property
    def last_cycle(self) -> int:
        """N: the last cycle of the features this model was trained on, from its provenance
        (``"last_cycle"``, written by :func:`train_on_severson`); 100 when absent (models
        trained, or saved, before N could be chosen used cycles 2..100). Feed it features
        computed with the same N (:func:`qv_features` ``last_cycle=model.last_cycle``)."""
        n = (getattr(self, "provenance_", None) or {}).get("last_cycle", 100)
        # checked as qv_features checks it (11..100, an integer): a hand-edited file is refused
        return _check_cycle_window(n, 2, source="model provenance")[0]

    @property
    def ref_cycle(self) -> int:
        """The reference cycle of ΔQ the model was trained with (provenance ``"ref_cycle"``;
        10, the paper's, when absent)."""
        return int((getattr(self, "provenance_", None) or {}).get("ref_cycle", 10))

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            raise CasipInputError(f"{type(self).__name__} is not fitted: call fit() or load()")

    def predict_log10(self, X) -> np.ndarray:
        """Predicted log10(cycle life)."""
        self._check_fitted()
        x = _select(X, self.features)
        return ((x - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def predict(self, X) -> np.ndarray:
        """Predicted cycle life [cycles]."""
        return 10 ** self.predict_log10(X)

    def predict_interval(self, X, coverage: float = 0.9):
        """Prediction with an interval from the out-of-fold residuals in log10 space.

        :math:`[\\hat N\\,10^{r_{(1-c)/2}},\\ \\hat N\\,10^{r_{(1+c)/2}}]` with :math:`r_p` the
        empirical p-quantile of the cross-validated residuals :math:`\\log_{10} N -
        \\log_{10}\\hat N` of the training cells.

        Returns
        -------
        (prediction, low, high) : three arrays [cycles]
        """
        if not 0 < coverage < 1:
            raise _err("coverage", "must be between 0 and 1", value=coverage)
        t = self.predict_log10(X)
        lo, hi = np.quantile(self.residuals_, [(1 - coverage) / 2, (1 + coverage) / 2])
        return 10**t, 10 ** (t + lo), 10 ** (t + hi)

    def score(self, X, y) -> float:
        """R² of the predicted against the observed cycle life (scikit-learn's convention)."""
        from sklearn.metrics import r2_score

        return float(r2_score(np.asarray(y, dtype=float), self.predict(X)))

    def mape(self, X, y) -> float:
        """Mean absolute percentage error of the predicted cycle life [%]."""
        y = np.asarray(y, dtype=float)
        return float(np.mean(np.abs(self.predict(X) - y) / y) * 100)

    # persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "format": _FORMAT,
            "model": type(self).__name__,
            "features": list(self.features),
            "params": {**self.get_params(), "l1_ratio": list(self.l1_ratio)},
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "alpha": self.alpha_,
            "l1_ratio": self.l1_ratio_,
            "residuals_log10": self.residuals_.tolist(),
            "provenance": self.provenance_,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model (coefficients and provenance) as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_dict(cls, d: dict):
        if d.get("format") != _FORMAT:
            raise _err(
                "format", "not a saved early-life model", value=d.get("format"), expected=_FORMAT
            )
        model_cls = _MODELS.get(d.get("model"))
        if model_cls is None or not issubclass(model_cls, cls):
            raise _err(
                "model", "unknown or mismatched model", value=d.get("model"), expected=cls.__name__
            )
        m = model_cls(**d["params"])
        m.features = tuple(d["features"])
        m.mean_ = np.array(d["mean"], dtype=float)
        m.scale_ = np.array(d["scale"], dtype=float)
        m.coef_ = np.array(d["coef"], dtype=float)
        m.intercept_ = float(d["intercept"])
        m.alpha_ = float(d["alpha"])
        m.l1_ratio_ = float(d["l1_ratio"])
        m.residuals_ = np.array(d["residuals_log10"], dtype=float)
        m.provenance_ = d["provenance"]
        return m

    @classmethod
    def load(cls, path: str | Path):
        """Read a model written by :meth:`save`."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise CasipInputError(Problem("", f"cannot read model: {e}"), source=str(path)) from e
        try:
            return cls.from_dict(d)
        except CasipInputError as e:
            e.source = str(path)
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cv={self.cv}, random_state={self.random_state})"


class VarianceModel(_EarlyLifeModel):
    """The "variance" model: log10 var(ΔQ100-10(V)) only."""

    features = VARIANCE_FEATURES


class DischargeModel(_EarlyLifeModel):
    """The "discharge" model: ΔQ100-10 statistics, Q_d(2) and max Q_d - Q_d(2)."""

    features = DISCHARGE_FEATURES


class FullModel(_EarlyLifeModel):
    """All features available from Q(V): :data:`FEATURE_NAMES`."""

    features = FULL_FEATURES


_MODELS = {c.__name__: c for c in (VarianceModel, DischargeModel, FullModel)}


def train_on_severson(
    folder: str | Path,
    model: type[_EarlyLifeModel] = VarianceModel,
    *,
    last_cycle: int = 100,
    **kw,
):
    """Load the shared training cells, build features and fit ``model`` with file provenance.

    ``last_cycle`` (N, 11..100): features from the first N cycles only (:func:`qv_features`);
    it is recorded in the provenance (``"last_cycle"``) and the model must then be fed features
    computed with the same N.
    """
    curves, lives = load_severson_qv(folder)
    X = feature_matrix(curves, last_cycle=last_cycle)
    prov = {**severson_provenance(folder), "last_cycle": int(last_cycle), "ref_cycle": 10}
    return model(**kw).fit(X, lives, provenance=prov)


def cross_validated_mape(model: _EarlyLifeModel, X, y, folds: int = 5, seed: int = 0) -> dict:
    """Outer k-fold cross-validation of ``model``: MAPE [%] and out-of-fold predictions."""
    from sklearn.model_selection import KFold

    x = _select(X, FEATURE_NAMES)
    y = np.asarray(y, dtype=float)
    pred = np.empty_like(y)
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(x):
        m = type(model)(**model.get_params()).fit(x[tr], y[tr], _interval=False)
        pred[te] = m.predict(x[te])
    return {"mape_percent": float(np.mean(np.abs(pred - y) / y) * 100), "predicted": pred}


# --------------------------------------------------------------------------------------------
# Early life at fewer cycles: out-of-fold intervals and validation against N
# --------------------------------------------------------------------------------------------


def cross_validated_interval(
    model: _EarlyLifeModel,
    X,
    y,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence | None = None,
    coverage: float = 0.9,
) -> dict:
    """Out-of-fold predictions *with* prediction intervals (cross-fitting).

    Each cell is predicted by a model fitted, interval included (its own inner
    cross-validation), on the other folds only. With ``groups`` (e.g. the charging policy of
    each cell) the folds are :class:`sklearn.model_selection.GroupKFold` so that cells sharing
    a group are never split between training and prediction.

    Parameters
    ----------
    model : VarianceModel, DischargeModel or FullModel
        The kind of model (its parameters are copied; it is not fitted in place).
    X, y : features (as for :meth:`fit`) and cycle lives [cycles]
    folds : int
        Outer folds (each outer training set must hold >= 2 * model.cv cells).
    seed : int
        Shuffling of the outer folds.
    groups : sequence, optional
        One label per cell; cells of one label stay in one fold.
    coverage : float
        Nominal coverage of the interval (default 0.9).

    Returns
    -------
    dict
        ``predicted``, ``low``, ``high`` (arrays [cycles]); ``fold`` (the outer fold of each
        cell); ``train_index`` (per fold, the cells its model was fitted on); ``mape_percent``;
        ``coverage`` (fraction of cells whose life is inside their interval).
    """
    from sklearn.model_selection import GroupKFold, KFold

    x = _select(X, FEATURE_NAMES)
    y = np.asarray(y, dtype=float)
    if groups is None:
        splits = KFold(folds, shuffle=True, random_state=seed).split(x)
    else:
        g = np.asarray(groups)
        if len(g) != len(y):
            raise _err("groups", f"{len(g)} labels for {len(y)} cells", expected="one per cell")
        splits = GroupKFold(folds, shuffle=True, random_state=seed).split(x, y, g)
    pred, low, high = np.empty_like(y), np.empty_like(y), np.empty_like(y)
    fold = np.empty(len(y), dtype=int)
    train_index = []
    for k, (tr, te) in enumerate(splits):
        m = type(model)(**model.get_params()).fit(x[tr], y[tr])
        pred[te], low[te], high[te] = m.predict_interval(x[te], coverage=coverage)
        fold[te] = k
        train_index.append(np.asarray(tr))
    return {
        "predicted": pred,
        "low": low,
        "high": high,
        "fold": fold,
        "train_index": train_index,
        "mape_percent": float(np.mean(np.abs(pred - y) / y) * 100),
        "coverage": float(np.mean((y >= low) & (y <= high))),
    }


def validate_at_cycles(
    curves: Sequence[np.ndarray],
    lives,
    last_cycles: Sequence[int] = (20, 30, 40, 60, 80, 100),
    models: Sequence[type[_EarlyLifeModel]] = (VarianceModel, DischargeModel, FullModel),
    *,
    seeds: Sequence[int] = tuple(range(10)),
    folds: int = 5,
    interval_seeds: Sequence[int] = (0,),
    coverage: float = 0.9,
):
    """Cross-validated error of the early-life models against N, the last cycle used.

    For each N and model: features from cycles 2..N (:func:`feature_matrix` with
    ``last_cycle=N``), the outer k-fold MAPE of :func:`cross_validated_mape` for every seed in
    ``seeds`` (the validation of the 100-cycle models), and for the seeds in
    ``interval_seeds`` the out-of-fold coverage of the ``coverage`` interval
    (:func:`cross_validated_interval`, each fold's interval from its own training cells).

    Returns
    -------
    pandas.DataFrame
        One row per (N, model): ``last_cycle``, ``model``, ``cv_mape_mean``,
        ``cv_mape_min``, ``cv_mape_max`` [%], ``n_seeds``, ``interval_coverage`` [-] and
        ``interval_ratio_median`` (median high/low ratio of the interval).
    """
    import pandas as pd

    lives = np.asarray(lives, dtype=float)
    rows = []
    for n in last_cycles:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the glitch warnings, once per cell and N
            X = feature_matrix(curves, last_cycle=n)
        for cls in models:
            mapes = [cross_validated_mape(cls(), X, lives, folds=folds, seed=s)["mape_percent"]
                     for s in seeds]
            cov, ratio = [], []
            for s in interval_seeds:
                r = cross_validated_interval(cls(), X, lives, folds=folds, seed=s,
                                             coverage=coverage)
                cov.append(r["coverage"])
                ratio.append(float(np.median(r["high"] / r["low"])))
            rows.append({
                "last_cycle": int(n),
                "model": cls.__name__,
                "cv_mape_mean": float(np.mean(mapes)),
                "cv_mape_min": float(np.min(mapes)),
                "cv_mape_max": float(np.max(mapes)),
                "n_seeds": len(mapes),
                "interval_coverage": float(np.mean(cov)) if cov else float("nan"),
                "interval_ratio_median": float(np.mean(ratio)) if ratio else float("nan"),
            })
    return pd.DataFrame(rows)
