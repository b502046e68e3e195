"""Element mass fractions from chemical formulas.

Atomic masses and formula parsing come from the ``periodictable`` package (NIST atomic weights);
we only combine mixtures by mass here.
"""

from __future__ import annotations

import functools

import periodictable

from casip.errors import CasipInputError, Problem


@functools.lru_cache(maxsize=512)
def formula_mass_fractions(formula: str) -> dict[str, float]:
    """Mass fraction of each element in ``formula`` (periodictable syntax)."""
    try:
        f = periodictable.formula(formula)
        fractions = f.mass_fraction
    except Exception as exc:  # periodictable raises several exception types for bad syntax
        raise ValueError(f"cannot parse formula {formula!r}: {exc}") from None
    return {str(el): float(x) for el, x in fractions.items()}


def element_mass_fractions(
    formula: str | None, composition_by_mass: dict[str, float] | None, where: str = ""
) -> dict[str, float]:
    """Element mass fractions of a pure compound or of a mixture of compounds by mass."""
    try:
        if formula:
            return formula_mass_fractions(formula)
        if composition_by_mass:
            out: dict[str, float] = {}
            for part, w in composition_by_mass.items():
                for el, x in formula_mass_fractions(part).items():
                    out[el] = out.get(el, 0.0) + w * x
            return out
    except ValueError as exc:
        raise CasipInputError(Problem("formula", str(exc)), where or None) from None
    return {}
