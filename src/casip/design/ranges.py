"""The ranges real cells use, for warnings on designs that are valid but far from practice.

The design schema accepts anything physically possible (a porosity in [0, 1), a coating up to
1000 µm); a design outside what manufactured or published cells use still evaluates, but its
numbers are then an extrapolation: a 25 mAh/cm² cathode (about 460 µm) "reaches" 480 Wh/kg on
paper and would not charge at any useful rate. :data:`RANGES` is the one table of those ranges,
each with the source it comes from; :func:`range_warnings` checks one evaluated design and
:func:`sweep_range_warnings` the points of a sweep.

Where a bound is a judgement drawn from the cited work rather than a number it states, the
``basis`` says "assumed". Sources (full references):

- ARORA2004: P. Arora, Z. Zhang (2004), "Battery Separators", Chemical Reviews 104(10),
  4419-4462.
- GALLAGHER2016: K. G. Gallagher, S. E. Trask, C. Bauer, T. Woehrle, S. F. Lux, M. Tschech,
  P. Lamp, B. J. Polzin, S. Ha, B. Long, Q. Wu, W. Lu, D. W. Dees, A. N. Jansen (2016),
  "Optimizing Areal Capacities through Understanding the Limitations of Lithium-Ion
  Electrodes", Journal of The Electrochemical Society 163(2), A138-A149.
- KUANG2019: Y. Kuang, C. Chen, D. Kirsch, L. Hu (2019), "Thick Electrode Batteries:
  Principles, Opportunities, and Challenges", Advanced Energy Materials 9(33), 1901457.
- KWADE2018: A. Kwade, W. Haselrieder, R. Leithoff, A. Modlinger, F. Dietrich, K. Droeder
  (2018), "Current status and challenges for automotive battery production technologies",
  Nature Energy 3, 290-300.
- LIU2019: J. Liu, Z. Bao, Y. Cui, E. J. Dufek, J. B. Goodenough, P. Khalifah, Q. Li, B. Y.
  Liaw, P. Liu, A. Manthiram, Y. S. Meng, V. R. Subramanian, M. F. Toney, V. V. Viswanathan,
  M. S. Whittingham, J. Xiao, W. Xu, J. Yang, X.-Q. Yang, J.-G. Zhang (2019), "Pathways for
  practical high-energy long-cycling lithium metal batteries", Nature Energy 4, 180-186.
- RANDAU2020: S. Randau, D. A. Weber, O. Kötz, R. Koerver, P. Braun, A. Weber,
  E. Ivers-Tiffée, T. Adermann, J. Kulisch, W. G. Zeier, F. H. Richter, J. Janek (2020),
  "Benchmarking the performance of all-solid-state lithium batteries", Nature Energy 5,
  259-270.
- SCHNELL2018: J. Schnell, T. Günther, T. Knoche, C. Vieider, L. Köhler, A. Just, M. Keller,
  S. Passerini, G. Reinhart (2018), "All-solid-state lithium-ion and lithium metal batteries -
  paving the way to large-scale production", Journal of Power Sources 382, 160-175.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from casip.design.schema import Design

LIQUID, SEMI, SOLID = "liquid", "semi-solid", "all-solid-state"
INTERCALATION, LI_METAL = "intercalation", "lithium_metal"


@dataclass(frozen=True)
class Range:
    """The values real cells use for one quantity of a design.

    ``key`` is a geometry output of the engine (:data:`casip.design.api.GEOMETRY`) or, with
    ``from_design``, read from the design document at ``field``. ``kinds`` and ``anodes`` limit
    the range to cells of those kinds and anode types (empty: all). ``basis`` says what the
    range is and how sure it is; ``source`` names the works (see the module docstring).
    """

    field: str
    label: str
    unit: str
    low: float | None
    high: float | None
    basis: str
    source: str
    key: str | None = None
    from_design: Callable[[Design], float | None] | None = None
    kinds: tuple[str, ...] = ()
    anodes: tuple[str, ...] = ()

    def applies(self, kind: str, anode: str) -> bool:
        """Whether this range is for a cell of this kind and anode type."""
        return (not self.kinds or kind in self.kinds) and (not self.anodes or anode in self.anodes)

    def span(self) -> str:
        """The range as text, e.g. ``1-6 mAh/cm²`` or ``≤ 30 µm``."""
        u = f" {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"{self.low:g}-{self.high:g}{u}"
        if self.low is not None:
            return f"≥ {self.low:g}{u}"
        return f"≤ {self.high:g}{u}"

    def message(self, value: float) -> str:
        """The warning for a value outside the range."""
        side = "above" if self.high is not None and value > self.high else "below"
        u = f" {self.unit}" if self.unit else ""
        name = f"{self.label} ({self.field})" if "." in self.field else self.label
        return (
            f"{name} {value:.3g}{u} is {side} the {self.span()} real cells use, so the "
            f"results are an extrapolation ({self.basis}; {self.source})"
        )


#: relative slack so that a value equal to a bound (e.g. 6.0 mAh/cm² computed as 6.0000001)
#: is inside
_TOL = 1e-6

#: The ranges real cells use. One row per quantity and cell family.
RANGES: tuple[Range, ...] = (
    Range(
        "cathode areal capacity", "Cathode areal capacity", "mAh/cm²", 1.0, 6.0,
        "commercial EV cathodes are coated at about 2-5 mAh/cm², power cells lower; "
        "thick-electrode research cells reach about 6-8 mAh/cm² at low rates only",
        "Gallagher et al. 2016, J. Electrochem. Soc. 163, A138; "
        "Kuang et al. 2019, Adv. Energy Mater. 9, 1901457",
        key="cathode_areal_capacity_mAh_cm2",
    ),
    Range(
        "cathode thickness", "Cathode coating thickness per side", "µm", 20.0, 200.0,
        "commercial cathode coatings are roughly 50-100 µm per side and thick-electrode "
        "research goes to about 200-300 µm; assumed bounds 20-200 µm",
        "Kwade et al. 2018, Nat. Energy 3, 290; Kuang et al. 2019, Adv. Energy Mater. 9, 1901457",
        key="cathode_thickness_um",
    ),
    Range(
        "anode thickness", "Anode coating thickness per side", "µm", 15.0, 200.0,
        "graphite and silicon-graphite coatings matched to 2-5 mAh/cm² cathodes are roughly "
        "40-120 µm per side; assumed bounds 15-200 µm",
        "Kwade et al. 2018, Nat. Energy 3, 290; Kuang et al. 2019, Adv. Energy Mater. 9, 1901457",
        key="anode_thickness_um", anodes=(INTERCALATION,),
    ),
    Range(
        "cathode.porosity", "Cathode porosity", "", 0.15, 0.45,
        "calendered electrodes of liquid cells hold about 20-40 % pores for the electrolyte; "
        "assumed bounds 0.15-0.45",
        "Kwade et al. 2018, Nat. Energy 3, 290; "
        "Gallagher et al. 2016, J. Electrochem. Soc. 163, A138",
        from_design=lambda d: d.cathode.porosity, kinds=(LIQUID, SEMI),
    ),
    Range(
        "cathode.porosity", "Cathode porosity", "", None, 0.3,
        "pressed solid-state composite cathodes keep roughly 10-25 % voids, which carry no "
        "ions; assumed bound 0.3",
        "Randau et al. 2020, Nat. Energy 5, 259",
        from_design=lambda d: d.cathode.porosity, kinds=(SOLID,),
    ),
    Range(
        "anode.porosity", "Anode porosity", "", 0.15, 0.5,
        "calendered graphite anodes of liquid cells hold about 25-40 % pores; assumed bounds "
        "0.15-0.5",
        "Kwade et al. 2018, Nat. Energy 3, 290",
        from_design=lambda d: d.anode.porosity, kinds=(LIQUID, SEMI), anodes=(INTERCALATION,),
    ),
    Range(
        "anode.porosity", "Anode porosity", "", None, 0.3,
        "pressed solid-state composite anodes keep roughly 10-25 % voids; assumed bound 0.3",
        "Randau et al. 2020, Nat. Energy 5, 259",
        from_design=lambda d: d.anode.porosity, kinds=(SOLID,), anodes=(INTERCALATION,),
    ),
    Range(
        "separator.thickness_um", "Separator thickness", "µm", 7.0, 30.0,
        "polyolefin separators of lithium-ion cells are about 9-25 µm thick",
        "Arora & Zhang 2004, Chem. Rev. 104, 4419",
        from_design=lambda d: d.separator.thickness_um, kinds=(LIQUID,),
    ),
    Range(
        "separator.thickness_um", "Separator thickness", "µm", 5.0, 60.0,
        "separators of semi-solid cells are coated polymer or thin ceramic layers of tens of "
        "µm; assumed bounds 5-60 µm",
        "Arora & Zhang 2004, Chem. Rev. 104, 4419; Schnell et al. 2018, J. Power Sources 382, 160",
        from_design=lambda d: d.separator.thickness_um, kinds=(SEMI,),
    ),
    Range(
        "separator.thickness_um", "Solid-electrolyte separator thickness", "µm", 10.0, 60.0,
        "a solid-electrolyte separator must be thinned to a few tens of µm for an ASSB to match "
        "liquid cells' energy (lab pellets of 300-1000 µm are test fixtures, not cells); assumed "
        "bounds 10-60 µm",
        "Randau et al. 2020, Nat. Energy 5, 259; Schnell et al. 2018, J. Power Sources 382, 160",
        from_design=lambda d: d.separator.thickness_um, kinds=(SOLID,),
    ),
    Range(
        "separator.porosity", "Separator porosity", "", 0.3, 0.6,
        "polyolefin separators have about 40 % porosity",
        "Arora & Zhang 2004, Chem. Rev. 104, 4419",
        from_design=lambda d: d.separator.porosity, kinds=(LIQUID,),
    ),
    Range(
        "N/P ratio", "N/P ratio", "", 1.0, 1.5,
        "graphite and silicon anodes are sized about 1.05-1.2 times the cathode's capacity; "
        "assumed upper bound 1.5 (beyond it the anode is mostly dead weight)",
        "Gallagher et al. 2016, J. Electrochem. Soc. 163, A138",
        key="np_ratio", anodes=(INTERCALATION,),
    ),
    Range(
        "N/P ratio", "N/P ratio (lithium excess)", "", None, 3.0,
        "high-energy lithium-metal cells need thin lithium, N/P < 2; assumed bound 3",
        "Liu et al. 2019, Nat. Energy 4, 180",
        key="np_ratio", anodes=(LI_METAL,),
    ),
)


def _outside(r: Range, v: float) -> bool:
    if r.low is not None and v < r.low * (1 - _TOL):
        return True
    return r.high is not None and v > r.high * (1 + _TOL)


def _value(r: Range, design: Design, geometry: Mapping[str, float]) -> float | None:
    if r.key is not None:
        v = geometry.get(r.key)
    else:
        assert r.from_design is not None
        v = r.from_design(design)
    if v is None or not math.isfinite(float(v)):
        return None
    return float(v)


def range_warnings(
    design: Design, geometry: Mapping[str, float], known: list[str] | None = None
) -> list[str]:
    """Warnings for the values of one evaluated design that leave the ranges of real cells.

    Parameters
    ----------
    design : Design
        The validated design.
    geometry : mapping
        The engine's geometry outputs for it (``CellMetrics.geometry``).
    known : list of str, optional
        Warnings already given; a range whose field they already name (e.g. N/P < 1) is not
        repeated.

    Returns
    -------
    list of str
        One message per value outside its range, naming the field, the value, the range and
        its source.
    """
    known = known or []
    kind, anode = design.kind.value, str(getattr(design.anode.type, "value", design.anode.type))
    out = []
    for r in RANGES:
        if not r.applies(kind, anode):
            continue
        v = _value(r, design, geometry)
        if v is None or not _outside(r, v):
            continue
        probe = r.key or r.field
        if any(probe in w or r.field in w for w in known):
            continue
        out.append(r.message(v))
    return out


def sweep_range_warnings(design: Design, table: Mapping[str, np.ndarray]) -> list[str]:
    """Warnings for the points of a sweep whose values leave the ranges of real cells.

    ``table`` holds the sweep's columns: geometry outputs by name and swept fields by path
    (e.g. ``cathode.porosity``); a field not swept takes the design's value. Only points that
    fit (``status == 0``) count.
    """
    kind, anode = design.kind.value, str(getattr(design.anode.type, "value", design.anode.type))
    ok = np.asarray(table["status"]) == 0
    n = int(ok.sum())
    out = []
    for r in RANGES:
        if not r.applies(kind, anode) or n == 0:
            continue
        if r.key is not None:
            col = np.asarray(table[r.key], dtype=float)
        elif r.field in table:
            col = np.asarray(table[r.field], dtype=float)
        else:
            v = r.from_design(design) if r.from_design else None
            if v is None:
                continue
            col = np.full(len(ok), float(v))
        col = col[ok]
        fin = np.isfinite(col)
        bad = np.zeros_like(col, dtype=bool)
        if r.low is not None:
            bad |= fin & (col < r.low * (1 - _TOL))
        if r.high is not None:
            bad |= fin & (col > r.high * (1 + _TOL))
        k = int(bad.sum())
        if k:
            out.append(
                f"{k} of {n} points have {r.label.lower()} outside the {r.span()} real cells "
                f"use ({r.basis}; {r.source})"
            )
    return out


__all__ = ["RANGES", "Range", "range_warnings", "sweep_range_warnings"]
