"""Battery packs built from CASIP cells: pack files (``casip.pack/1``), the vectorised pack
model and reference packs. See ``docs/pack.md``.

>>> from casip.pack import evaluate_pack
>>> m = evaluate_pack("ref:blade-ctp")  # doctest: +SKIP
>>> m.specific_energy_Wh_kg  # doctest: +SKIP
"""

from casip.pack.api import (
    REFERENCE_IDS,
    CellFacts,
    EnvelopeFit,
    PackMetrics,
    compare_references,
    evaluate_many,
    evaluate_pack,
    fit_envelope,
    read_pack,
    reference_ids,
    reference_text,
    references_table,
)
from casip.pack.schema import SCHEMA_ID, Pack, validate_pack

__all__ = [
    "REFERENCE_IDS",
    "SCHEMA_ID",
    "CellFacts",
    "EnvelopeFit",
    "Pack",
    "PackMetrics",
    "compare_references",
    "evaluate_many",
    "evaluate_pack",
    "fit_envelope",
    "read_pack",
    "reference_ids",
    "reference_text",
    "references_table",
    "validate_pack",
]
