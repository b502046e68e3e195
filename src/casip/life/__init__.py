"""Longevity: ageing projections and early cycle-life prediction.

- :mod:`casip.life.early` — cycle life from the first 100 cycles (Severson et al. 2019);
- :mod:`casip.life.duty` — duty cycles as data, with presets;
- :mod:`casip.life.blast` — NREL BLAST-Lite Li-ion/LFP ageing models behind one adapter (the
  only module importing blast);
- :mod:`casip.life.solid_state` — a semi-empirical solid-state ageing model (trends only: its
  rate constants are assumed);
- :mod:`casip.life.from_hub` — discharge Q(V) curves and early-life predictions of data-hub tests.
"""

from casip.life.bands import project_band
from casip.life.early import (
    DISCHARGE_FEATURES,
    FEATURE_NAMES,
    FULL_FEATURES,
    SEVERSON_CYCLES,
    SEVERSON_VOLTAGE,
    VARIANCE_FEATURES,
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
from casip.life.from_hub import discharge_qv, predict_test

__all__ = [
    "DISCHARGE_FEATURES",
    "FEATURE_NAMES",
    "FULL_FEATURES",
    "SEVERSON_CYCLES",
    "SEVERSON_VOLTAGE",
    "VARIANCE_FEATURES",
    "DischargeModel",
    "FullModel",
    "VarianceModel",
    "cross_validated_mape",
    "discharge_qv",
    "feature_matrix",
    "load_severson_qv",
    "predict_test",
    "project_band",
    "qv_features",
    "qv_on_grid",
    "severson_provenance",
    "train_on_severson",
]
