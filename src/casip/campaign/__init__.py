"""Closed-loop R&D campaigns: batch Bayesian proposals over a design/protocol space (issue 18).

Stateless functions over plain dataclasses, so that the CLI journal and the platform database
both store :class:`Observation` records and call :func:`propose` again; same inputs and seed,
same proposals. Library choice (details in ``optimizer.py`` and docs/campaigns.md):
scikit-optimize 0.10.2 for the search space, Sobol designs and the EI acquisition function;
scikit-learn's Gaussian process fitted directly, because skopt's ``Optimizer.tell`` cannot take
a noise level per observation and campaign evidence (early predictions, measurements,
simulations) is heteroscedastic. BoTorch is an optional backend (``casip[campaign-heavy]``),
kept out of the default install because it pulls PyTorch.
"""

from casip.campaign.evidence import Observation, sigma_from_interval
from casip.campaign.optimizer import (
    BACKENDS,
    Incumbent,
    Proposal,
    best,
    early_stop,
    posterior,
    propose,
)
from casip.campaign.space import Constraint, Objective, Parameter, Space

__all__ = [
    "BACKENDS",
    "Constraint",
    "Incumbent",
    "Objective",
    "Observation",
    "Parameter",
    "Proposal",
    "Space",
    "best",
    "early_stop",
    "posterior",
    "propose",
    "sigma_from_interval",
]
