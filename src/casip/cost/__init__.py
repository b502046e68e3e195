"""Cost of a cell: dated, sourced price sets for its materials and the cost of making it.

>>> from casip.cost import load_price_set, price_sets
>>> [p.name for p in price_sets()]  # most recent first  # doctest: +SKIP
['china-2025', 'batpac-2022']
"""

from casip.cost.manufacturing import (
    DRIVERS,
    OVERHEAD_LABELS,
    OVERHEADS,
    PROCESSES,
    CostBreakdown,
    TornadoBar,
    cell_cost,
    default_process,
    load_process,
    manufacturing_cost,
    sensitivity,
)
from casip.cost.prices import (
    MaterialPrice,
    PriceSet,
    apply_prices,
    default_price_set_name,
    load_price_set,
    price_sets,
    priced_library,
)

__all__ = [
    "DRIVERS",
    "OVERHEADS",
    "OVERHEAD_LABELS",
    "PROCESSES",
    "CostBreakdown",
    "MaterialPrice",
    "PriceSet",
    "TornadoBar",
    "apply_prices",
    "cell_cost",
    "default_price_set_name",
    "default_process",
    "load_price_set",
    "load_process",
    "manufacturing_cost",
    "price_sets",
    "priced_library",
    "sensitivity",
]
