"""Cell design engine: a layer-by-layer stack model for liquid, semi-solid and solid-state cells.

The same arithmetic serves one design and a million (:func:`engine.evaluate_arrays`);
:func:`evaluate` wraps it for one design with breakdowns and element demand, :func:`sweep` varies
fields of a design in one vectorised call.
"""

from casip.design.api import (
    GEOMETRY,
    HEADLINE,
    CellMetrics,
    compile,
    element_demand,
    evaluate,
    evaluate_many,
    sweep,
)
from casip.design.schema import SCHEMA_ID, Design, json_schema

__all__ = [
    "GEOMETRY",
    "HEADLINE",
    "SCHEMA_ID",
    "CellMetrics",
    "Design",
    "compile",
    "element_demand",
    "evaluate",
    "evaluate_many",
    "json_schema",
    "sweep",
]
