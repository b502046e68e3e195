"""Material records: every value with its unit (in the field name) and its source.

A material file is YAML with two top-level keys::

    sources:            # citation keys used by the values below (optional in a user file)
      batpac5:
        citation: "Argonne National Laboratory, BatPaC 5.0 ..."
        url: https://www.anl.gov/cse/batpac-model-software
        quality: primary            # primary | secondary | low
    materials:
      - id: NMC811
        name: LiNi0.8Mn0.1Co0.1O2
        category: cathode_active
        formula: LiNi0.8Mn0.1Co0.1O2
        density_g_cm3: {value: 4.65, source: batpac5}
        specific_capacity_mAh_g: {value: 200, source: batpac5, note: "..."}

A value whose ``source`` is ``assumed`` must say why in its ``note``. A value that no source
gives is left out: the design engine then refuses a design that needs it, naming the material
and the field, instead of inventing a number.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

ASSUMED = "assumed"


class Category(StrEnum):
    """What a material is for in a cell."""

    cathode_active = "cathode_active"
    anode_active = "anode_active"
    solid_electrolyte = "solid_electrolyte"
    liquid_electrolyte = "liquid_electrolyte"
    binder = "binder"
    conductive_carbon = "conductive_carbon"
    current_collector = "current_collector"
    separator = "separator"
    packaging = "packaging"
    terminal = "terminal"
    hardware = "hardware"


class SourceQuality(StrEnum):
    primary = "primary"  # the original measurement, model or data book
    secondary = "secondary"  # a review, teardown report or reputable press relaying a primary
    low = "low"  # a blog, vendor page or aggregator: order of magnitude only


class Source(BaseModel):
    """A citation that values point to by key."""

    model_config = ConfigDict(extra="forbid")

    citation: str = Field(min_length=3)
    url: str | None = None
    quality: SourceQuality = SourceQuality.secondary


class Value(BaseModel):
    """One number, its source key (or ``assumed``) and an optional note."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(allow_inf_nan=False)
    source: str = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _assumption_says_why(self) -> Value:
        if self.source == ASSUMED and not (self.note and self.note.strip()):
            raise ValueError("a value with source 'assumed' needs a note saying why")
        return self


PositiveValue = Annotated[Value, Field(description="must be > 0")]

#: Physically plausible ranges; a value outside is a typo or a unit error.
_PLAUSIBLE = (
    ("density_g_cm3", 0.01, 25.0),
    ("specific_capacity_mAh_g", 1.0, 4000.0),
    ("theoretical_specific_capacity_mAh_g", 1.0, 4000.0),
    ("average_voltage_V", 0.0, 6.0),
    ("ionic_conductivity_S_cm", 1e-12, 1.0),
    ("critical_current_density_mA_cm2", 1e-4, 1e3),
    ("cost_usd_kg", 0.0, 1e6),
    ("lithiation_volume_expansion", 0.0, 5.0),
    ("initial_coulombic_efficiency", 0.3, 1.0),
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")


class Material(BaseModel):
    """One material with sourced properties.

    Units are in the field names. ``average_voltage_V`` is the mean potential against Li/Li+
    over the practical capacity window, so that the cell voltage is the cathode's value minus the
    anode's. ``density_g_cm3`` is the true (skeletal) density of the solid or the density of the
    liquid; porosity is a design choice, never folded into a material's density.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    category: Category
    formula: str | None = Field(
        default=None, description="chemical formula (periodictable syntax) for element demand"
    )
    composition_by_mass: dict[str, float] | None = Field(
        default=None,
        description="mixture of formulas by mass fraction, for blends (e.g. electrolyte, laminate)",
    )
    density_g_cm3: Value | None = None
    cost_usd_kg: Value | None = None
    specific_capacity_mAh_g: Value | None = Field(
        default=None, description="practical reversible capacity of an active material"
    )
    theoretical_specific_capacity_mAh_g: Value | None = None
    average_voltage_V: Value | None = Field(default=None, description="vs Li/Li+")
    ionic_conductivity_S_cm: Value | None = Field(default=None, description="at 25 C")
    activation_energy_eV: Value | None = None
    critical_current_density_mA_cm2: Value | None = Field(
        default=None, description="against lithium metal, room temperature"
    )
    lithiation_volume_expansion: Value | None = Field(
        default=None,
        description="relative volume increase of an anode active material at its practical "
        "capacity (0.10 = +10%)",
    )
    initial_coulombic_efficiency: Value | None = Field(
        default=None,
        description="first-cycle charge returned over charge taken, in a half cell against "
        "lithium (active materials; 0.93 = 7% lost on formation)",
    )
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id_is_a_token(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                "material id must start with a letter or digit and contain only letters, "
                "digits and _ . + -"
            )
        return v

    @model_validator(mode="after")
    def _check(self) -> Material:
        positive = (
            "density_g_cm3",
            "specific_capacity_mAh_g",
            "theoretical_specific_capacity_mAh_g",
            "ionic_conductivity_S_cm",
            "critical_current_density_mA_cm2",
        )
        for name in positive:
            v = getattr(self, name)
            if v is not None and not v.value > 0:
                raise ValueError(f"{name} must be > 0, got {v.value}")
        if self.cost_usd_kg is not None and self.cost_usd_kg.value < 0:
            raise ValueError(f"cost_usd_kg must be >= 0, got {self.cost_usd_kg.value}")
        for name, lo, hi in _PLAUSIBLE:
            v = getattr(self, name)
            if v is not None and not lo <= v.value <= hi:
                raise ValueError(
                    f"{name} {v.value:g} is outside the plausible range [{lo:g}, {hi:g}]"
                )
        if self.formula and self.composition_by_mass:
            raise ValueError("give either formula or composition_by_mass, not both")
        if self.composition_by_mass:
            total = sum(self.composition_by_mass.values())
            if abs(total - 1.0) > 1e-3:
                raise ValueError(f"composition_by_mass fractions sum to {total:.4f}, expected 1")
            if any(f < 0 for f in self.composition_by_mass.values()):
                raise ValueError("composition_by_mass fractions must be >= 0")
        return self

    def sources_used(self) -> set[str]:
        keys = set()
        for name in type(self).model_fields:
            v = getattr(self, name)
            if isinstance(v, Value):
                keys.add(v.source)
        return keys


class MaterialFile(BaseModel):
    """The content of one materials YAML file."""

    model_config = ConfigDict(extra="forbid")

    sources: dict[str, Source] = Field(default_factory=dict)
    materials: list[Material] = Field(default_factory=list)
    #: Partial overrides merged onto known records on load: ``{id: [fields given]}``.
    _merged: dict[str, list[str]] = PrivateAttr(default_factory=dict)
