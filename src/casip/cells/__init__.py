"""Reference cells: design files of today's and tomorrow's cells beside their published figures.

Each reference cell is a plain design file in ``casip/cells/data/<id>.yaml`` (copy one to start
your own design); ``published.yaml`` holds the figures published for cells of that kind and the
CASIP roadmap targets, each with its source.

>>> from casip.cells import reference_ids
>>> reference_ids()[:2]
('lfp-blade', 'nmc811-pouch')
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import pandas as pd
import yaml

from casip.design.schema import Design
from casip.errors import CasipInputError, Problem

#: The reference cells, in the order reports show them (today's LFP first). The last one, a
#: teardown-documented 4680 cell, is there to validate the cylindrical arithmetic.
REFERENCE_IDS = (
    "lfp-blade",
    "nmc811-pouch",
    "semi-solid-sic",
    "assb-sulfide-si",
    "assb-sulfide-li",
    "oxide-anode-free",
    "nmc811-4680",
)


@dataclass(frozen=True)
class Target:
    """A CASIP roadmap stage with its cell-level targets."""

    stage: str
    years: str
    specific_energy_Wh_kg: float | None
    energy_density_Wh_L: float | None
    source: str
    #: Low end when the stage's specific energy is a range (stage 1: 200-300 Wh/kg); the
    #: target above is then its high end.
    specific_energy_low_Wh_kg: float | None = None


@dataclass(frozen=True)
class Published:
    """A published figure for a reference cell."""

    cell: str
    metric: str
    value: float
    source: str
    note: str


def _data(name: str) -> str:
    return (resources.files("casip.cells") / "data" / name).read_text(encoding="utf-8")


def reference_ids() -> tuple[str, ...]:
    return REFERENCE_IDS


def reference_text(cell_id: str) -> str:
    """The YAML text of a reference design (to copy and edit)."""
    if cell_id not in REFERENCE_IDS:
        raise CasipInputError(
            Problem(
                "cell", "unknown reference cell", cell_id, "one of: " + ", ".join(REFERENCE_IDS)
            )
        )
    return _data(f"{cell_id}.yaml")


@functools.cache
def _reference_design(cell_id: str) -> Design:
    from casip.io import read_design_text  # strict loader: a key given twice is an error

    return read_design_text(reference_text(cell_id), f"ref:{cell_id}")


def reference_design(cell_id: str) -> Design:
    """The :class:`~casip.design.schema.Design` of a reference cell (a fresh copy to edit)."""
    return _reference_design(cell_id).model_copy(deep=True)


def reference_designs() -> dict[str, Design]:
    return {cid: reference_design(cid) for cid in REFERENCE_IDS}


@functools.lru_cache(maxsize=1)
def _published_raw() -> dict:
    return yaml.safe_load(_data("published.yaml"))


def targets() -> list[Target]:
    """CASIP roadmap stages (cell level)."""
    return [Target(**t) for t in _published_raw()["targets"]]


def published(cell_id: str | None = None) -> list[Published]:
    """Published figures for one reference cell, or all."""
    out = []
    for cid, figs in _published_raw()["cells"].items():
        if cell_id is not None and cid != cell_id:
            continue
        for f in figs:
            out.append(Published(cell=cid, **f))
    return out


def compare(library=None) -> pd.DataFrame:
    """Computed versus published figures for every reference cell.

    One row per (cell, metric) with a published value: computed, published, relative
    difference and the source. The docs explain every difference above 10%.
    """
    from casip.design import evaluate

    rows = []
    for cid in REFERENCE_IDS:
        m = evaluate(reference_design(cid), library)
        for pub in published(cid):
            computed = (
                m.geometry[pub.metric] if pub.metric in m.geometry else getattr(m, pub.metric)
            )
            rows.append(
                {
                    "cell": cid,
                    "name": m.name,
                    "metric": pub.metric,
                    "computed": computed,
                    "published": pub.value,
                    "difference": computed / pub.value - 1.0,
                    "source": pub.source,
                    "note": pub.note,
                }
            )
    return pd.DataFrame(rows)


__all__ = [
    "REFERENCE_IDS",
    "Published",
    "Target",
    "compare",
    "published",
    "reference_design",
    "reference_designs",
    "reference_ids",
    "reference_text",
    "targets",
]
