"""Charging-protocol parameters of a campaign: a two-step constant-current fast charge.

The protocol family is the one of Severson et al. (Nature Energy 4, 383, 2019) and Attia et
al. (Nature 578, 397, 2020) in its two-step form, written ``C1(Q1%)-C2`` in their data:
constant current ``c1_C`` (C-rate) from empty to the state of charge ``soc_switch``, then
``c2_C`` up to 80 % SOC (the cells then finish with a 1C CC-CV to the upper voltage, which is
outside the 10-80 % window and not a parameter).

Charge time 10-80 % (a *known* constraint: it follows from the point alone)::

    t = 60 * ( max(0, min(s, 0.8) - 0.1) / c1  +  (0.8 - max(s, 0.1)) / c2 )   [min]

with ``s = soc_switch`` (a fraction), ``c1``, ``c2`` in C (1C charges the nominal capacity in
one hour). Assumption: the constant-current steps deliver their nominal rate up to the SOC
switch (no voltage limit reached, coulombic efficiency 1), as in the policy definitions of
Severson et al.; a real charge that hits its voltage limit takes longer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from casip.errors import CasipInputError, Problem

#: Protocol parameters: name -> (smallest, largest allowed, meaning). The C-rate limits are
#: those of the explore study's ``charge_c_rate`` (0, 20]; the switch is a fraction of SOC.
PROTOCOL_PARAMETERS: dict[str, tuple[float, float, str]] = {
    "c1_C": (0.0, 20.0, "C-rate of the first constant-current step (from 0 % SOC)"),
    "soc_switch": (0.0, 0.8, "state of charge (fraction) where the first step ends"),
    "c2_C": (0.0, 20.0, "C-rate of the second constant-current step (up to 80 % SOC)"),
}

#: The SOC window of the charge-time constraint (the usual 10-80 % fast-charge window).
SOC_START, SOC_END = 0.1, 0.8

_POLICY = re.compile(r"^\s*([0-9.]+)C\(([0-9.]+)%\)-([0-9.]+)C\s*$")


def is_protocol_parameter(name: str) -> bool:
    """True for the names of :data:`PROTOCOL_PARAMETERS`."""
    return name in PROTOCOL_PARAMETERS


def charge_time_10_80_min(point: Mapping[str, float]) -> float:
    """Minutes to charge 10-80 % SOC with the two-step protocol of ``point`` (see module).

    Parameters
    ----------
    point : mapping
        ``c1_C``, ``soc_switch`` and ``c2_C``.

    Returns
    -------
    float
        The charge time in minutes.
    """
    c1, s, c2 = float(point["c1_C"]), float(point["soc_switch"]), float(point["c2_C"])
    if c1 <= 0 or c2 <= 0:
        raise CasipInputError(
            Problem("c1_C/c2_C", "C-rates must be positive", f"{c1:g}, {c2:g}", "> 0")
        )
    first = max(0.0, min(s, SOC_END) - SOC_START) / c1
    second = max(0.0, SOC_END - max(s, SOC_START)) / c2
    return 60.0 * (first + second)


def parse_policy(text: str) -> dict[str, float]:
    """A Severson/Attia policy string such as ``"5.4C(40%)-3.6C"`` as a protocol point.

    Returns
    -------
    dict
        ``{"c1_C": 5.4, "soc_switch": 0.4, "c2_C": 3.6}``.
    """
    m = _POLICY.match(str(text))
    if not m:
        raise CasipInputError(
            Problem("charging_policy", "not a two-step policy", text, "e.g. 5.4C(40%)-3.6C")
        )
    c1, q1, c2 = (float(g) for g in m.groups())
    return {"c1_C": c1, "soc_switch": q1 / 100.0, "c2_C": c2}


def known_quantities(point: Mapping[str, float]) -> dict[str, float]:
    """Quantities computable from a point alone (``charge_time_10_80_min`` of a protocol)."""
    if all(k in point for k in PROTOCOL_PARAMETERS):
        t = charge_time_10_80_min(point)
        if math.isfinite(t):
            return {"charge_time_10_80_min": t}
    return {}


__all__ = [
    "PROTOCOL_PARAMETERS",
    "SOC_END",
    "SOC_START",
    "charge_time_10_80_min",
    "is_protocol_parameter",
    "known_quantities",
    "parse_policy",
]
