"""Named, dated and sourced price sets, with commodity-linked material prices.

A price set (``src/casip/cost/data/prices-NAME.yaml``) gives, at one date and in one currency:

- **commodities**: traded compounds in USD per kg of the compound (``Li2CO3``, ``LiOH_H2O``,
  ``NiSO4_6H2O``, ``CoSO4_7H2O``, ``MnSO4_H2O``, ``Cu``, ``Al``, ...), each with its formula and
  source. A commodity may itself be linked to another (lithium hydroxide to lithium carbonate).
- **materials**: the price of each library material it covers, one of

  - ``usd_kg``: a fixed price with its source;
  - ``linked``: commodity-linked through the material's composition. For each element the
    material takes from a commodity, the commodity mass per kg of material is
    ``m_c = w_el(material) / w_el(commodity)`` (element mass fractions from the formulas), and

    .. math:: p = \\frac{\\sum_c m_c\\,P_c}{Y} + C

    with ``P_c`` the commodity price, ``Y`` the yield of the conversion and ``C`` the conversion
    cost. ``C`` is either given with a source (``conversion_usd_kg``) or derived from a sourced
    market price of the material at the set's own commodity prices (``market_usd_kg``):
    ``C = p_market - sum(m_c P_c0) / Y``. Moving a commodity price then moves ``p`` by exactly
    ``sum(m_c dP_c) / Y``.
  - ``usd_m2``: a price per area of the layer (separator) or a per-area forming cost added to
    the per-kg price (lithium foil rolled to a thickness). The design compiler turns it into a
    per-kg price with the layer's areal mass, so the cost follows the area the engine computes.

Materials a set does not name keep the library's ``cost_usd_kg`` (listed as ``library``).

>>> from casip.cost import load_price_set
>>> ps = load_price_set()                       # the most recent set  # doctest: +SKIP
>>> ps.name, ps.date                                                    # doctest: +SKIP
('china-2025', '2025-07-11')
>>> ps2 = load_price_set(overrides={"commodities": {"Li2CO3": 12}})    # a what-if  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from casip.errors import CasipInputError, Problem, from_pydantic
from casip.materials.composition import formula_mass_fractions
from casip.materials.library import MaterialLibrary, _bundled
from casip.materials.records import ASSUMED, Source, Value

# ---------------------------------------------------------------------------------------------
# File format
# ---------------------------------------------------------------------------------------------


class _Commodity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formula: str = Field(min_length=1, description="periodictable formula of the traded compound")
    usd_kg: Value = Field(description="price per kg of the compound (the anchor when linked)")
    linked: dict[str, str] | None = Field(
        default=None, description="element -> commodity this one is made from (one level deep)"
    )


class _Linked(BaseModel):
    model_config = ConfigDict(extra="forbid")

    elements: dict[str, str] = Field(min_length=1, description="element -> commodity")
    yield_: Value = Field(alias="yield")
    conversion_usd_kg: Value | None = None
    market_usd_kg: Value | None = None

    @model_validator(mode="after")
    def _one_conversion(self) -> _Linked:
        if (self.conversion_usd_kg is None) == (self.market_usd_kg is None):
            raise ValueError("give exactly one of conversion_usd_kg and market_usd_kg")
        if not 0 < self.yield_.value <= 1:
            raise ValueError(f"yield must be in (0, 1], got {self.yield_.value}")
        return self


class _MaterialPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd_kg: Value | None = None
    linked: _Linked | None = None
    usd_m2: Value | None = Field(
        default=None, description="per-area price (separator) or per-area forming cost (foil)"
    )

    @model_validator(mode="after")
    def _some_price(self) -> _MaterialPrice:
        if self.usd_kg is not None and self.linked is not None:
            raise ValueError("give usd_kg or linked, not both")
        if self.usd_kg is None and self.linked is None and self.usd_m2 is None:
            raise ValueError("give usd_kg, linked or usd_m2")
        return self


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$", description="ISO date of the prices")
    currency: str = "USD"
    title: str
    notes: str | None = None
    sources: dict[str, Source] = Field(default_factory=dict)
    commodities: dict[str, _Commodity] = Field(default_factory=dict)
    materials: dict[str, _MaterialPrice] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Price sets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialPrice:
    """The price of one material in a set, with how it was made.

    ``usd_kg`` is the per-kg price and ``usd_m2`` the per-area part (0 if none); ``basis`` is
    ``fixed``, ``linked``, ``by area`` or ``library``; ``parts`` splits a linked price into each
    commodity's share and the conversion cost (USD per kg of material).
    """

    material: str
    usd_kg: float
    usd_m2: float
    basis: str
    source: str
    note: str = ""
    parts: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PriceSet:
    """A named, dated, sourced set of prices.

    ``commodities`` are the prices in force (after any what-if overrides), ``base_commodities``
    the ones the file states; ``overrides`` records what was changed.
    """

    name: str
    date: str
    currency: str
    title: str
    notes: str
    sources: dict[str, Source]
    commodities: dict[str, float]
    base_commodities: dict[str, float]
    commodity_sources: dict[str, Value]
    commodity_formulas: dict[str, str]
    commodity_links: dict[str, dict[str, str]]
    materials: dict[str, _MaterialPrice]
    file: str
    overrides: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The set's name, with the overrides if any (what results record)."""
        if not self.overrides:
            return self.name
        ov = ", ".join(f"{k}={v:g}" for k, v in sorted(self.overrides.items()))
        return f"{self.name} ({ov})"

    # -- commodities --------------------------------------------------------------------------
    def _kg_per_kg(self, elements: Mapping[str, str], fractions: Mapping[str, float],
                   where: str) -> dict[str, float]:
        """Commodity mass per kg of a material that takes ``elements`` from commodities."""
        out: dict[str, float] = {}
        for el, com in elements.items():
            if com not in self.commodity_formulas:
                raise CasipInputError(
                    Problem(f"{where}.{el}", "unknown commodity", com,
                            "one of: " + ", ".join(sorted(self.commodity_formulas))),
                    self.file,
                )
            w_com = formula_mass_fractions(self.commodity_formulas[com]).get(el, 0.0)
            if w_com <= 0:
                raise CasipInputError(
                    Problem(f"{where}.{el}", f"commodity {com!r} holds no {el}", com), self.file
                )
            out[com] = out.get(com, 0.0) + fractions.get(el, 0.0) / w_com
        return out

    def _commodity_price(self, name: str, prices: Mapping[str, float]) -> float:
        link = self.commodity_links.get(name)
        if not link or name in self.overrides:
            return prices[name]
        # linked commodity: anchor at the file's prices, move with its sources
        frac = formula_mass_fractions(self.commodity_formulas[name])
        kg = self._kg_per_kg(link, frac, f"commodities.{name}.linked")
        base = sum(m * self.base_commodities[c] for c, m in kg.items())
        now = sum(m * prices[c] for c, m in kg.items())
        return self.base_commodities[name] + now - base

    def commodity(self, name: str) -> float:
        """The price in force of one commodity, USD per kg of the compound."""
        if name not in self.commodities:
            raise KeyError(name)
        return self._commodity_price(name, self.commodities)

    # -- materials ----------------------------------------------------------------------------
    def price(
        self, material_id: str, library: MaterialLibrary | None = None
    ) -> MaterialPrice | None:
        """The price of one material in this set (None if the set does not name it).

        ``library`` gives the material's composition for linked prices (bundled by default).
        """
        entry = self.materials.get(material_id)
        if entry is None:
            return None
        if entry.linked is None:
            base = entry.usd_kg
            return MaterialPrice(
                material=material_id,
                usd_kg=base.value if base is not None else 0.0,
                usd_m2=entry.usd_m2.value if entry.usd_m2 is not None else 0.0,
                basis="fixed" if entry.usd_m2 is None else ("by area" if base is None
                                                            else "fixed + by area"),
                source=(base or entry.usd_m2).source,
                note=" ".join(x.note for x in (base, entry.usd_m2) if x is not None and x.note),
            )
        lib = library if library is not None else _bundled()
        if material_id not in lib.materials:
            raise CasipInputError(
                Problem(f"materials.{material_id}", "not in the materials library", material_id),
                self.file,
            )
        lk = entry.linked
        kg = self._kg_per_kg(lk.elements, lib.elements(material_id),
                             f"materials.{material_id}.linked.elements")
        y = lk.yield_.value
        now = {c: self._commodity_price(c, self.commodities) for c in kg}
        parts = {c: m * now[c] / y for c, m in kg.items()}
        if lk.conversion_usd_kg is not None:
            conv = lk.conversion_usd_kg.value
            src = lk.conversion_usd_kg.source
        else:
            base = {c: self._commodity_price(c, self.base_commodities) for c in kg}
            conv = lk.market_usd_kg.value - sum(m * base[c] for c, m in kg.items()) / y
            src = lk.market_usd_kg.source
        parts["conversion"] = conv
        return MaterialPrice(
            material=material_id,
            usd_kg=sum(parts.values()),
            usd_m2=entry.usd_m2.value if entry.usd_m2 is not None else 0.0,
            basis="linked",
            source=src,
            note=" ".join(
                x.note for x in (lk.market_usd_kg, lk.conversion_usd_kg, entry.usd_m2)
                if x is not None and x.note
            ),
            parts=parts,
        )

    def prices(self, library: MaterialLibrary | None = None) -> dict[str, MaterialPrice]:
        """Every material of ``library`` with a price: from this set, else the library's."""
        lib = library if library is not None else _bundled()
        out: dict[str, MaterialPrice] = {}
        for mid, m in lib.materials.items():
            p = self.price(mid, lib)
            if p is None and m.cost_usd_kg is not None:
                p = MaterialPrice(mid, m.cost_usd_kg.value, 0.0, "library",
                                  m.cost_usd_kg.source, m.cost_usd_kg.note or "")
            if p is not None:
                out[mid] = p
        return out

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float]] | None) -> PriceSet:
        """A what-if copy, e.g. ``{"commodities": {"Li2CO3": 12.0}}`` (USD per kg)."""
        if not overrides:
            return self
        unknown = sorted(set(overrides) - {"commodities"})
        if unknown:
            raise CasipInputError(
                Problem("overrides", "unknown section", ", ".join(unknown), "'commodities'"),
                self.file,
            )
        coms = dict(overrides.get("commodities") or {})
        problems = []
        for k, v in coms.items():
            if k not in self.commodities:
                problems.append(Problem(
                    f"overrides.commodities.{k}", f"price set {self.name!r} has no commodity {k!r}",
                    k, "one of: " + (", ".join(sorted(self.commodities)) or
                                     "(none: this set gives fixed prices only)")))
            elif not (isinstance(v, int | float) and v >= 0 and v == v and v != float("inf")):
                problems.append(Problem(f"overrides.commodities.{k}", "not a price", v,
                                        "a finite number >= 0 (USD per kg)"))
        if problems:
            raise CasipInputError(problems, self.file)
        new = dict(self.commodities)
        new.update({k: float(v) for k, v in coms.items()})
        return dataclasses.replace(
            self, commodities=new, overrides={**self.overrides, **{k: float(v)
                                                                   for k, v in coms.items()}}
        )

    def summary(self) -> dict:
        """A JSON-friendly description: name, date, sources and commodity prices."""
        return {
            "name": self.name,
            "label": self.label,
            "date": self.date,
            "currency": self.currency,
            "title": self.title,
            "notes": self.notes,
            "file": self.file,
            "commodities_usd_kg": {k: self.commodity(k) for k in sorted(self.commodities)},
            "commodity_sources": {k: v.source for k, v in sorted(self.commodity_sources.items())},
            "materials": sorted(self.materials),
            "sources": {k: s.model_dump(exclude_none=True) for k, s in self.sources.items()},
        }


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def parse_price_set(text: str, source: str) -> PriceSet:
    """Validate a price-set YAML text; errors name the file and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CasipInputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", source) from None
    if not isinstance(data, dict):
        raise CasipInputError(Problem("", "expected a mapping", type(data).__name__), source)
    try:
        pf = _PriceFile.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, source=source, model=_PriceFile) from None
    bundled = _bundled()
    known = set(pf.sources) | set(bundled.sources) | {ASSUMED}
    problems: list[Problem] = []

    def check(where: str, v: Value | None) -> None:
        if v is not None and v.source not in known:
            problems.append(Problem(where, "cites a source key that no sources section defines",
                                    v.source, "a key under 'sources:' here or in the materials "
                                    "library, or 'assumed'"))

    for k, c in pf.commodities.items():
        check(f"commodities.{k}.usd_kg", c.usd_kg)
        try:
            formula_mass_fractions(c.formula)
        except ValueError as exc:
            problems.append(Problem(f"commodities.{k}.formula", str(exc), c.formula))
        for el, other in (c.linked or {}).items():
            if other not in pf.commodities or pf.commodities[other].linked:
                problems.append(Problem(f"commodities.{k}.linked.{el}",
                                        "must name an unlinked commodity of this set", other))
    for mid, m in pf.materials.items():
        if mid not in bundled.materials:
            problems.append(Problem(f"materials.{mid}", "not a material of the library", mid,
                                    "an id as in 'casip materials list'"))
        for name in ("usd_kg", "usd_m2"):
            check(f"materials.{mid}.{name}", getattr(m, name))
        if m.linked is not None:
            for name in ("yield_", "conversion_usd_kg", "market_usd_kg"):
                check(f"materials.{mid}.linked.{name.rstrip('_')}", getattr(m.linked, name))
    if problems:
        raise CasipInputError(problems, source)
    base = {k: c.usd_kg.value for k, c in pf.commodities.items()}
    ps = PriceSet(
        name=pf.name,
        date=pf.date,
        currency=pf.currency,
        title=pf.title,
        notes=pf.notes or "",
        sources={**pf.sources},
        commodities=dict(base),
        base_commodities=dict(base),
        commodity_sources={k: c.usd_kg for k, c in pf.commodities.items()},
        commodity_formulas={k: c.formula for k, c in pf.commodities.items()},
        commodity_links={k: dict(c.linked) for k, c in pf.commodities.items() if c.linked},
        materials=dict(pf.materials),
        file=source,
    )
    # resolve every linked price once, so a bad element map fails on load
    for mid in ps.materials:
        ps.price(mid, bundled)
    return ps


@functools.lru_cache(maxsize=1)
def _bundled_sets() -> dict[str, PriceSet]:
    folder = resources.files("casip.cost") / "data"
    out: dict[str, PriceSet] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("prices-") and entry.name.endswith(".yaml"):
            ps = parse_price_set(entry.read_text(encoding="utf-8"),
                                 f"casip/cost/data/{entry.name}")
            out[ps.name] = ps
    return out


def price_sets() -> list[PriceSet]:
    """The bundled price sets, most recent first."""
    return sorted(_bundled_sets().values(), key=lambda p: (p.date, p.name), reverse=True)


def default_price_set_name() -> str:
    """The name of the most recent bundled price set (the default everywhere)."""
    return price_sets()[0].name


def load_price_set(
    name: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> PriceSet:
    """A price set by name (or a YAML file path), the most recent by default.

    Parameters
    ----------
    name : str or path, optional
        A bundled set's name (see :func:`price_sets`) or the path of a price-set YAML file.
    overrides : mapping, optional
        What-if commodity prices, e.g. ``{"commodities": {"Li2CO3": 12}}`` (USD per kg).

    Raises
    ------
    CasipInputError
        If no set has that name (the message lists the sets), or the file or an override is
        invalid.
    """
    sets = _bundled_sets()
    if name is None:
        ps = price_sets()[0]
    elif str(name) in sets:
        ps = sets[str(name)]
    elif str(name).endswith((".yaml", ".yml")):
        p = Path(name)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise CasipInputError(f"price-set file cannot be read: {exc.strerror or exc}",
                                  str(p)) from None
        ps = parse_price_set(text, str(p))
    else:
        raise CasipInputError(
            Problem("prices", "unknown price set", str(name),
                    "one of: " + ", ".join(f"{p.name} ({p.date})" for p in price_sets())
                    + ", or a price-set YAML file")
        )
    return ps.with_overrides(overrides)


def apply_prices(library: MaterialLibrary, price_set: PriceSet) -> MaterialLibrary:
    """A copy of ``library`` whose materials are priced by ``price_set``.

    A material keeps its library price when the set does not name it, and when the user gave
    its ``cost_usd_kg`` in their own materials file (it differs from the bundled record): a
    user's quote wins over a market set. Per-area prices go to ``area_cost_usd_m2``, which the
    design compiler turns into per-kg prices with each layer's areal mass.
    """
    bundled = _bundled()
    materials = dict(library.materials)
    area: dict[str, float] = {}
    for mid, m in library.materials.items():
        b = bundled.materials.get(mid)
        if b is None or b.cost_usd_kg != m.cost_usd_kg:
            continue  # a user's own material or price
        p = price_set.price(mid, library)
        if p is None:
            continue
        note = f"price set {price_set.label}: {p.basis}" + (f"; {p.note}" if p.note else "")
        materials[mid] = m.model_copy(
            update={"cost_usd_kg": Value(value=max(p.usd_kg, 0.0), source=p.source, note=note)}
        )
        if p.usd_m2:
            area[mid] = p.usd_m2
    sources = {**library.sources, **price_set.sources}
    return dataclasses.replace(
        library, materials=materials, sources=sources, area_cost_usd_m2=area,
        price_set=price_set.label,
    )


def priced_library(
    library: MaterialLibrary | None = None,
    prices: str | Path | PriceSet | None = None,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
) -> MaterialLibrary:
    """``library`` (the bundled one by default) priced by a set (the most recent by default)."""
    if library is None and not overrides and not isinstance(prices, PriceSet | Path):
        return _priced_bundled(prices)
    lib = library if library is not None else _bundled()
    ps = prices if isinstance(prices, PriceSet) else load_price_set(prices)
    return apply_prices(lib, ps.with_overrides(overrides))


@functools.lru_cache(maxsize=8)
def _priced_bundled(name: str | None) -> MaterialLibrary:
    """The bundled library at a bundled price set (cached: the default of every evaluation)."""
    return apply_prices(_bundled(), load_price_set(name))


__all__ = [
    "MaterialPrice",
    "PriceSet",
    "apply_prices",
    "default_price_set_name",
    "load_price_set",
    "parse_price_set",
    "price_sets",
    "priced_library",
]
