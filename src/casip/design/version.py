"""The design engine's version: which arithmetic a stored result was computed with.

:data:`ENGINE_VERSION` names the engine's arithmetic (not the package release). It is bumped
whenever a change moves any number :func:`casip.design.evaluate` returns for the same design
and materials (a new mass or volume term, a changed default, a new loss); refactors that leave
every number alone keep it. Stored results (the consortium platform's design rows) record it
with the price set of their materials cost, and a result of another version is recomputed or
marked stale (``casip platform recompute``, docs/platform-operator.md), so results of
different models are never mixed silently.

History
-------
``2026.11`` (implicit, before versioning)
    Stack arithmetic of issues 1-14; materials cost at the library's per-kg prices.
``2026.12-hw``
    Issue 15: cell hardware from geometry (pouch tab and terminal zone, prismatic lid, vent and
    wrap, cylindrical lid, base and collector discs), stack-pressure hardware, first-cycle
    loss (rated capacity after formation), sizing to a target; materials cost priced from a
    dated price set.
``2026.12-pack``
    Issue 16: the platform's stored design results include the design built into the
    benchmark's cell-to-pack template (:mod:`casip.pack.templates`): pack Wh/kg, Wh/L and
    $/kWh. Cell numbers are those of ``2026.12-hw``; a pack-model change that moves the template
    figures bumps this version too.
"""

from __future__ import annotations

#: the design engine's arithmetic version (see the module docstring for when to bump it)
ENGINE_VERSION = "2026.12-pack"

__all__ = ["ENGINE_VERSION"]
