"""Heteroscedastic Gaussian-process surrogate on scikit-learn, with frozen-hyperparameter fantasies.

Why this is not ``skopt.Optimizer``: its ``tell`` takes one noise level for all observations,
while campaign evidence is heteroscedastic (an early-life prediction carries its interval, a
measured end of life its replicate noise, a simulation a model error). scikit-learn's
``GaussianProcessRegressor`` accepts a per-sample ``alpha`` (noise variance added to the kernel
diagonal), so the model is fitted here directly:

* targets standardised by hand (``normalize_y`` would leave ``alpha`` in unscaled units and
  mis-weight it), ``alpha_i = sigma_i**2 / s_y**2``;
* kernel ``C * Matern(nu=5/2, ARD length scales) + White``, the usual BO default (Snoek, Larochelle
  & Adams, NeurIPS 2012); the white term learns the noise no observation states;
* after fitting, the white level is moved into ``alpha`` and the kernel is frozen, so
  predictions are of the latent function and fantasised observations (Kriging believer) refit
  without re-estimating hyperparameters (Ginsbourger, Le Riche & Carraro 2010).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

_JITTER = 1e-8


class HeteroGP:
    """GP regression with per-observation noise variance, in modelled units.

    Parameters
    ----------
    X : ndarray (n, d)
        Inputs in skopt's warped unit space.
    y : ndarray (n,)
        Targets (modelled units).
    var : ndarray (n,)
        Observation-noise variance per row (modelled units squared).
    seed : int
        Seeds the optimiser restarts.
    """

    def __init__(
        self, X: np.ndarray, y: np.ndarray, var: np.ndarray, *, seed: int = 0, restarts: int = 2
    ):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        self.mu = float(y.mean())
        sd = float(y.std())
        self.scale = sd if sd > 1e-12 else 1.0
        yn = (y - self.mu) / self.scale
        alpha = np.asarray(var, dtype=float) / self.scale**2 + _JITTER
        d = X.shape[1]
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
        ) + WhiteKernel(1e-3, (1e-8, 0.5))
        if len(y) >= 3:
            gpr = GaussianProcessRegressor(
                kernel=kernel,
                alpha=alpha,
                normalize_y=False,
                n_restarts_optimizer=restarts,
                random_state=seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                gpr.fit(X, yn)
            fitted = gpr.kernel_
        else:  # too few points to estimate hyperparameters: keep the prior defaults
            fitted = kernel
        self.kernel = fitted.k1
        self.white = float(fitted.k2.noise_level)
        self.X = X
        self.yn = yn
        self.alpha = alpha + self.white
        self._fit()

    def _fit(self) -> None:
        self._gpr = GaussianProcessRegressor(
            kernel=self.kernel, alpha=self.alpha, optimizer=None, normalize_y=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._gpr.fit(self.X, self.yn)

    def predict_n(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and sd in standardised units."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, s = self._gpr.predict(np.atleast_2d(np.asarray(X, dtype=float)), return_std=True)
        return m, np.maximum(s, 1e-12)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and sd in modelled units."""
        m, s = self.predict_n(X)
        return self.mu + self.scale * m, self.scale * s

    def fantasise(self, Xf: np.ndarray) -> HeteroGP:
        """A copy with observations added at their posterior mean (hyperparameters frozen)."""
        Xf = np.atleast_2d(np.asarray(Xf, dtype=float))
        if len(Xf) == 0:
            return self
        m, _ = self.predict_n(Xf)
        new = object.__new__(HeteroGP)
        new.__dict__.update(self.__dict__)
        new.X = np.vstack([self.X, Xf])
        new.yn = np.concatenate([self.yn, m])
        new.alpha = np.concatenate([self.alpha, np.full(len(Xf), self.white + _JITTER)])
        new._fit()
        return new


class LossModel:
    """Adapter giving skopt's acquisition functions a model to *minimise* (standardised units)."""

    def __init__(self, gp: HeteroGP, sign: float):
        self.gp = gp
        self.sign = sign

    def predict(self, X: np.ndarray, return_std: bool = False):
        m, s = self.gp.predict_n(X)
        return (self.sign * m, s) if return_std else self.sign * m
