"""Longevity: ageing projections and early cycle-life prediction.

- :mod:`casip.life.early` — cycle life from the first 100 cycles (Severson et al. 2019);
- :mod:`casip.life.duty` — duty cycles as data, with presets;
- :mod:`casip.life.blast` — NREL BLAST-Lite Li-ion/LFP ageing models behind one adapter (the
  only module importing blast);
- :mod:`casip.life.solid_state` — a semi-empirical solid-state ageing model (trends only: its
  rate constants are assumed).
"""

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
    "feature_matrix",
    "load_severson_qv",
    "qv_features",
    "qv_on_grid",
    "severson_provenance",
    "train_on_severson",
]
