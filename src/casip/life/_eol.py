"""End of life: where a capacity curve first falls to a level (shared by the ageing models)."""

from __future__ import annotations

import numpy as np

#: Relative capacity that ends a cell's first life.
EOL_CAPACITY = 0.8


def crossing(years, efc, q, level: float = EOL_CAPACITY) -> tuple[float | None, float | None]:
    """Years and equivalent full cycles where ``q`` first falls to ``level`` (linear
    interpolation between samples), or ``(None, None)`` if it never does."""
    q = np.asarray(q, dtype=float)
    below = np.flatnonzero(q <= level)
    if below.size == 0:
        return None, None
    i = int(below[0])
    if i == 0:
        return 0.0, 0.0
    f = (q[i - 1] - level) / (q[i - 1] - q[i])
    return (
        float(years[i - 1] + f * (years[i] - years[i - 1])),
        float(efc[i - 1] + f * (efc[i] - efc[i - 1])),
    )
