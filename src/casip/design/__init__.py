"""Cell design engine: a layer-by-layer stack model for liquid, semi-solid and solid-state cells.

The same arithmetic serves one design and a million (:func:`engine.evaluate_arrays`);
:func:`evaluate` wraps it for one design with breakdowns and element demand, :func:`sweep` varies
fields of a design in one vectorised call, and :func:`size` solves a free dimension (layers,
electrode area, can height) for a target energy, capacity or envelope, over a sweep at once.
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
from casip.design.sizing import size, size_design
from casip.design.version import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
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
    "size",
    "size_design",
    "sweep",
]
