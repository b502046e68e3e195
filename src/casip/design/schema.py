"""The design file format, version 1 (``schema: casip.design/1``).

A design says what a cell is made of and how it is built; it holds no results. Units are in the
field names. Materials are named by their id in the materials library. Every numeric field has
its allowed range here, so that a bad file fails on load with the field, the value and the
range. See ``docs/design-files.md`` for the reference and worked examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from casip.errors import CasipInputError, Problem, from_pydantic

SCHEMA_ID = "casip.design/1"

#: The values of ``format.type``; pydantic puts the chosen one into error paths.
FORMAT_TAGS = ("pouch", "prismatic", "cylindrical")

#: Longest free text of a design (``description``), in characters.
MAX_DESCRIPTION_CHARS = 4000
#: Most ``notes`` entries, longest note key (a field path) and note, in characters.
MAX_NOTES = 200
MAX_NOTE_KEY_CHARS = 200
MAX_NOTE_CHARS = 1000

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Porosity = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


class CellKind(StrEnum):
    liquid = "liquid"
    semi_solid = "semi-solid"
    all_solid_state = "all-solid-state"


class AnodeType(StrEnum):
    intercalation = "intercalation"  # graphite, silicon and their blends in a composite
    lithium_metal = "lithium_metal"  # a lithium foil, excess given by thickness or N/P
    anode_free = "anode_free"  # bare negative current collector; lithium plated from the cathode


class CathodeFractions(_Strict):
    """Mass fractions of the dry cathode composite; they must sum to 1."""

    active: Annotated[float, Field(gt=0.0, le=1.0)]
    catholyte: Fraction = 0.0
    carbon: Fraction = 0.0
    binder: Fraction = 0.0


class AnodeFractions(_Strict):
    """Mass fractions of the dry anode composite; they must sum to 1."""

    active: Annotated[float, Field(gt=0.0, le=1.0)]
    electrolyte: Fraction = 0.0
    carbon: Fraction = 0.0
    binder: Fraction = 0.0


def _fractions_sum_to_one(fr: BaseModel, where: str) -> None:
    total = sum(getattr(fr, k) for k in type(fr).model_fields)
    if abs(total - 1.0) > 1e-6:
        parts = ", ".join(f"{k}={getattr(fr, k):g}" for k in type(fr).model_fields)
        raise ValueError(
            f"{where} mass fractions ({parts}) sum to {total:.6g}; expected 1 (within 1e-6)"
        )


class Cathode(_Strict):
    """Composite cathode coating on aluminium foil.

    Give exactly one of ``thickness_um`` (one side), ``areal_capacity_mAh_cm2`` (one side) or
    ``loading_mg_cm2`` (dry composite, one side).
    """

    active: str = Field(description="material id of the active material (category cathode_active)")
    specific_capacity_mAh_g: Annotated[float, Field(gt=0, le=400)] | None = Field(
        default=None, description="override of the library's practical capacity, e.g. measured"
    )
    catholyte: str | None = Field(
        default=None, description="solid-electrolyte material id mixed into the composite"
    )
    carbon: str | None = None
    binder: str | None = None
    mass_fractions: CathodeFractions
    porosity: Porosity = Field(
        description="void fraction of the coating (filled with liquid in a liquid cell)"
    )
    thickness_um: Annotated[float, Field(gt=0, le=1000)] | None = None
    areal_capacity_mAh_cm2: Annotated[float, Field(gt=0, le=50)] | None = None
    loading_mg_cm2: Annotated[float, Field(gt=0, le=300)] | None = None
    double_sided: bool = True

    @model_validator(mode="after")
    def _check(self) -> Cathode:
        _fractions_sum_to_one(self.mass_fractions, "cathode")
        given = [
            n
            for n in ("thickness_um", "areal_capacity_mAh_cm2", "loading_mg_cm2")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of thickness_um, areal_capacity_mAh_cm2, loading_mg_cm2"
                f" (given: {', '.join(given) or 'none'})"
            )
        for role in ("catholyte", "carbon", "binder"):
            if getattr(self.mass_fractions, role) > 0 and getattr(self, role) is None:
                raise ValueError(
                    f"mass_fractions.{role} is {getattr(self.mass_fractions, role):g} but no "
                    f"{role} material is named; add 'cathode.{role}: <material id>'"
                )
        return self


class Anode(_Strict):
    """Negative electrode.

    ``intercalation``: a composite of ``active`` (a blend by mass of active materials, e.g.
    ``{graphite: 0.9, silicon: 0.1}``) sized by ``np_ratio`` or by ``thickness_um``.
    ``lithium_metal``: a lithium foil on each side of the negative collector, sized by
    ``lithium_thickness_um`` or ``np_ratio``
    (lithium capacity over cathode capacity). ``anode_free``: nothing but the collector; the
    cathode's lithium is plated on charge.
    """

    type: AnodeType
    active: dict[str, Annotated[float, Field(gt=0, le=1)]] | None = Field(
        default=None, description="blend of active material ids by mass fraction (sum 1)"
    )
    electrolyte: str | None = Field(
        default=None, description="solid electrolyte mixed into the composite (solid-state)"
    )
    carbon: str | None = None
    binder: str | None = None
    mass_fractions: AnodeFractions | None = None
    porosity: Porosity | None = None
    np_ratio: Annotated[float, Field(gt=0, le=20)] | None = Field(
        default=None, description="negative over positive areal capacity"
    )
    thickness_um: Annotated[float, Field(gt=0, le=1000)] | None = Field(
        default=None,
        description="composite coating thickness per side (intercalation), instead of np_ratio, "
        "e.g. as measured in a teardown",
    )
    lithium_thickness_um: Annotated[float, Field(ge=0, le=500)] | None = Field(
        default=None, description="lithium foil thickness per side as assembled"
    )
    formation_efficiency: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="lithium_metal and anode_free: share of the lithium plated on the first "
        "charge that can be stripped again (the rest is lost to SEI and dead lithium); "
        "intercalation anodes take theirs from the materials' initial_coulombic_efficiency",
    )

    @model_validator(mode="after")
    def _check(self) -> Anode:
        if self.type == AnodeType.intercalation:
            missing = [
                n for n in ("active", "mass_fractions", "porosity") if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"an intercalation anode needs {', '.join(missing)}")
            if (self.np_ratio is None) == (self.thickness_um is None):
                raise ValueError(
                    "an intercalation anode needs exactly one of np_ratio or thickness_um"
                )
            total = sum(self.active.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"anode.active blend fractions sum to {total:.6g}; expected 1")
            _fractions_sum_to_one(self.mass_fractions, "anode")
            for role in ("electrolyte", "carbon", "binder"):
                if getattr(self.mass_fractions, role) > 0 and getattr(self, role) is None:
                    raise ValueError(
                        f"mass_fractions.{role} is {getattr(self.mass_fractions, role):g} but no "
                        f"{role} material is named; add 'anode.{role}: <material id>'"
                    )
            if self.lithium_thickness_um is not None:
                raise ValueError("lithium_thickness_um is only for a lithium_metal anode")
            if self.formation_efficiency is not None:
                raise ValueError(
                    "formation_efficiency is for lithium_metal and anode_free anodes; an "
                    "intercalation anode's comes from its materials' initial_coulombic_efficiency"
                )
        elif self.type == AnodeType.lithium_metal:
            if (self.lithium_thickness_um is None) == (self.np_ratio is None):
                raise ValueError(
                    "a lithium_metal anode needs exactly one of lithium_thickness_um or np_ratio"
                )
            extra = [
                n
                for n in ("active", "mass_fractions", "porosity", "thickness_um")
                if getattr(self, n) is not None
            ]
            if extra:
                raise ValueError(
                    f"a lithium_metal anode takes no {', '.join(extra)} "
                    "(size the foil with lithium_thickness_um or np_ratio)"
                )
        else:
            extra = [
                n
                for n in (
                    "active", "mass_fractions", "porosity", "np_ratio", "lithium_thickness_um",
                    "thickness_um",
                )
                if getattr(self, n) is not None
            ]
            if extra:
                raise ValueError(f"an anode_free design takes no {', '.join(extra)}")
        return self


class Separator(_Strict):
    """A porous polymer film (liquid cells) or a dense solid-electrolyte layer."""

    material: str
    thickness_um: Annotated[float, Field(gt=0, le=1000)]
    porosity: Porosity


class Foil(_Strict):
    material: str
    thickness_um: Annotated[float, Field(gt=0, le=200)]


class CurrentCollectors(_Strict):
    positive: Foil
    negative: Foil


class LiquidElectrolyte(_Strict):
    """Liquid in the cell: a fraction of the pore volume, plus an optional excess."""

    material: str
    pore_fill: Fraction = Field(
        description="fraction of the pore volume of electrodes and separator filled with liquid"
    )
    excess_g_per_Ah: Annotated[float, Field(ge=0, le=20)] = Field(
        default=0.0, description="liquid outside the pores (wetting reserve), per Ah of capacity"
    )


class Terminal(_Strict):
    material: str
    width_mm: Annotated[float, Field(gt=0, le=500)]
    thickness_mm: Annotated[float, Field(gt=0, le=50)]
    length_mm: Annotated[float, Field(gt=0, le=500)]


class Terminals(_Strict):
    positive: Terminal
    negative: Terminal


class _FormatBase(_Strict):
    anode_overhang_mm: Annotated[float, Field(ge=0, le=50)] = Field(
        default=1.0, description="anode beyond the cathode on each edge"
    )
    separator_overhang_mm: Annotated[float, Field(ge=0, le=50)] = Field(
        default=2.0, description="separator beyond the cathode on each edge"
    )
    terminals: Terminals
    foil_tab_width_mm: Annotated[float, Field(gt=0, le=500)] | None = Field(
        default=None,
        description="width of the uncoated foil tab on each collector sheet (tab bundle); "
        "default: the width of the terminal it is welded to",
    )


class Pouch(_FormatBase):
    """Stacked pouch cell; the outer size follows from the electrodes and seals."""

    type: Literal["pouch"]
    electrode_width_mm: Annotated[float, Field(gt=0, le=2000)] = Field(
        description="cathode coated width"
    )
    electrode_height_mm: Annotated[float, Field(gt=0, le=2000)]
    layers: Annotated[int, Field(ge=1, le=500, strict=True)] = Field(
        description="number of cathode sheets in the stack"
    )
    laminate: str = Field(description="pouch laminate material id")
    laminate_thickness_um: Annotated[float, Field(gt=0, le=1000)]
    side_seal_mm: Annotated[float, Field(ge=0, le=100)] = 5.0
    top_seal_mm: Annotated[float, Field(ge=0, le=200)] = Field(
        default=15.0, description="seal plus tab region on the terminal side"
    )
    bottom_seal_mm: Annotated[float, Field(ge=0, le=100)] = 5.0
    terminal_layout: Literal["same_side", "opposite_sides"] = Field(
        default="same_side",
        description="both terminals on one end (top), or one on each end (top and bottom "
        "then both take top_seal_mm, tab_zone_mm and the protrusion)",
    )
    tab_zone_mm: Annotated[float, Field(ge=0, le=100)] = Field(
        default=0.0,
        description="inner length on each terminal end between the electrodes and the seal, "
        "where the foil tabs are gathered and welded to the terminal (0: inside top_seal_mm)",
    )
    tab_protrusion_mm: Annotated[float, Field(ge=0, le=200)] | None = Field(
        default=None,
        description="terminal length outside the seal, counted in the cell's length; default: "
        "the longer terminal's length_mm minus top_seal_mm (the terminal runs through the seal)",
    )
    side_seals_folded: bool = Field(
        default=False,
        description="side flanges folded up against the cell's sides (the width then grows by "
        "the folded double film, not by side_seal_mm)",
    )
    tab_sealant: str = Field(default="PP_film", description="sealant film around each terminal")
    tab_sealant_thickness_um: Annotated[float, Field(ge=0, le=1000)] = Field(
        default=100.0, description="sealant film on each face of a terminal, across the seal"
    )


class Prismatic(_FormatBase):
    """Hard-case prismatic cell: the can's outer size is given; the stack fills it.

    ``layers`` may be given; if left out it is the largest number of cathode sheets whose stack
    fits ``fill_fraction`` of the can's inner thickness.
    """

    type: Literal["prismatic"]
    length_mm: Annotated[float, Field(gt=0, le=3000)]
    height_mm: Annotated[float, Field(gt=0, le=1000)]
    thickness_mm: Annotated[float, Field(gt=0, le=200)]
    wall_thickness_mm: Annotated[float, Field(gt=0, le=10)]
    can: str = Field(description="can material id")
    headspace_mm: Annotated[float, Field(ge=0, le=200)] = Field(
        default=10.0, description="inner height kept for the lid, tab bundle and terminals"
    )
    side_clearance_mm: Annotated[float, Field(ge=0, le=50)] = 1.0
    fill_fraction: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.92,
        description="share of the inner thickness the stack may take (insulation, swelling)",
    )
    layers: Annotated[int, Field(ge=1, le=2000, strict=True)] | None = None
    lid_thickness_mm: Annotated[float, Field(gt=0, le=20)] | None = Field(
        default=None, description="lid plate thickness (default: wall_thickness_mm)"
    )
    lid_faces: Literal["top", "ends"] = Field(
        default="top",
        description="one lid on the top face, or two lids closing both ends of the length "
        "(long blade-type cells)",
    )
    tab_length_mm: Annotated[float, Field(ge=0, le=200)] | None = Field(
        default=None, description="length of the foil tabs in a bundle (default: headspace_mm)"
    )
    insulation_film: str = Field(default="PP_film", description="inner insulating film")
    insulation_film_um: Annotated[float, Field(ge=0, le=2000)] = Field(
        default=100.0, description="insulating film lining the can's inside"
    )
    wrap_film: str = Field(default="PET_film", description="outer wrap and tape film")
    wrap_film_um: Annotated[float, Field(ge=0, le=2000)] = Field(
        default=100.0, description="wrap film over the can's outside except the lid face(s)"
    )
    tape_coverage: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.1, description="share of the stack's surface under adhesive tape"
    )
    tape_thickness_um: Annotated[float, Field(ge=0, le=500)] = 50.0


class Cylindrical(_FormatBase):
    """Wound cylindrical cell: the jelly roll fills the can annulus around a mandrel hole."""

    type: Literal["cylindrical"]
    diameter_mm: Annotated[float, Field(gt=0, le=200)]
    height_mm: Annotated[float, Field(gt=0, le=500)]
    wall_thickness_mm: Annotated[float, Field(gt=0, le=5)]
    can: str
    headspace_mm: Annotated[float, Field(ge=0, le=100)] = Field(
        default=8.0, description="inner height kept for cap, insulators and tab connections"
    )
    mandrel_diameter_mm: Annotated[float, Field(ge=0, le=50)] = 3.0
    fill_fraction: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.96, description="share of the annulus the winding takes"
    )
    lid_thickness_mm: Annotated[float, Field(gt=0, le=10)] | None = Field(
        default=None, description="cap (lid) thickness (default: wall_thickness_mm)"
    )
    base_thickness_mm: Annotated[float, Field(gt=0, le=10)] | None = Field(
        default=None, description="can bottom thickness (default: wall_thickness_mm)"
    )
    insulator: str = Field(default="PP_film", description="insulator discs at both roll ends")
    insulator_thickness_mm: Annotated[float, Field(ge=0, le=5)] = 0.3
    wrap_film: str = Field(default="PET_film", description="outer insulating sleeve")
    wrap_film_um: Annotated[float, Field(ge=0, le=1000)] = 60.0


Format = Annotated[Pouch | Prismatic | Cylindrical, Field(discriminator="type")]


class PressureHardware(_Strict):
    """Stack pressure a cell is held at, where it is held, and (held by the cell) its hardware.

    ``held_by: cell`` (default): two end plates and tie bolts or bands on this cell, sized
    from ``pressure_MPa`` (see :mod:`casip.design.pressure`), or measured hardware given as
    ``mass_g`` and ``volume_cm3`` (which then override the sizing). ``held_by: module`` or
    ``pack``: the pressure is held by hardware shared by many cells; nothing is counted on the
    cell (the pack model counts it), so it is counted once.
    """

    held_by: Literal["cell", "module", "pack"] = Field(
        default="cell", description="where the pressure is held: cell, module or pack"
    )
    kind: Literal["plates_bolts", "bands"] = Field(
        default="plates_bolts", description="end plates with tie bolts, or with bands"
    )
    material: str = Field(
        default="steel_hardware", description="hardware material id (category hardware)"
    )
    pressure_MPa: Annotated[float, Field(ge=0, le=500)] | None = Field(
        default=None,
        description="stack pressure held; required when the cell's hardware is sized from it",
    )
    allowable_stress_MPa: Annotated[float, Field(gt=0, le=5000)] | None = Field(
        default=None,
        description="allowable stress of the end plates (default: 2/3 of the material's yield)",
    )
    tie_allowable_stress_MPa: Annotated[float, Field(gt=0, le=5000)] | None = Field(
        default=None,
        description="allowable stress of the bolts or bands (default: 2/3 of their yield)",
    )
    ties: Annotated[int, Field(ge=1, le=100, strict=True)] | None = Field(
        default=None, description="number of bolts (default 4) or bands (default 2)"
    )
    mass_g: Annotated[float, Field(ge=0, le=1e5)] | None = Field(
        default=None, description="measured hardware mass per cell (overrides the sizing)"
    )
    volume_cm3: Annotated[float, Field(ge=0, le=1e5)] | None = Field(
        default=None, description="measured hardware volume per cell (overrides the sizing)"
    )

    @model_validator(mode="after")
    def _check(self) -> PressureHardware:
        measured = (self.mass_g is not None, self.volume_cm3 is not None)
        if any(measured) and not all(measured):
            raise ValueError("measured hardware needs both mass_g and volume_cm3")
        if self.held_by != "cell":
            if any(measured):
                raise ValueError(
                    f"held_by {self.held_by}: the {self.held_by} holds the pressure and counts "
                    "its hardware; remove mass_g and volume_cm3 (or set held_by: cell)"
                )
            if self.pressure_MPa is None or self.pressure_MPa <= 0:
                raise ValueError(
                    f"held_by {self.held_by} needs pressure_MPa > 0: the pressure the cell "
                    f"needs from its {self.held_by}"
                )
        elif not any(measured) and (self.pressure_MPa is None or self.pressure_MPa <= 0):
            raise ValueError(
                "cell-held hardware is sized from pressure_MPa: give pressure_MPa > 0, or "
                "measured mass_g and volume_cm3"
            )
        return self


class Design(_Strict):
    """A cell design, version 1 of the file format."""

    schema_: Literal["casip.design/1"] = Field(default=SCHEMA_ID, alias="schema")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    kind: CellKind
    cathode: Cathode
    separator: Separator
    anode: Anode
    current_collectors: CurrentCollectors
    electrolyte: LiquidElectrolyte | None = Field(
        default=None,
        validate_default=True,
        description="liquid electrolyte; absent for all-solid-state",
    )
    format: Format
    pressure_hardware: PressureHardware | None = None
    notes: dict[
        Annotated[str, Field(max_length=MAX_NOTE_KEY_CHARS)],
        Annotated[str, Field(max_length=MAX_NOTE_CHARS)],
    ] = Field(
        default_factory=dict,
        max_length=MAX_NOTES,
        description="field path -> source or 'assumed: why', for the values of this design",
    )

    @field_validator("electrolyte")
    @classmethod
    def _liquid_agrees_with_kind(
        cls, e: LiquidElectrolyte | None, info: ValidationInfo
    ) -> LiquidElectrolyte | None:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is invalid; that error is reported on its own
            return e
        if kind == CellKind.all_solid_state:
            if e is not None and (e.pore_fill > 0 or e.excess_g_per_Ah > 0):
                raise ValueError(
                    "an all-solid-state design holds no liquid: remove 'electrolyte' or set its "
                    "pore_fill and excess_g_per_Ah to 0 (use kind: semi-solid for a wetted cell)"
                )
        elif e is None or e.pore_fill <= 0:
            raise ValueError(
                f"a {kind.value} design needs a liquid electrolyte with pore_fill > 0"
            )
        return e


def _strip_format_tag(field: str, fmt: object) -> str:
    """``format.pouch.layers`` -> ``format.layers`` (pydantic puts the union tag in the path)."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "format" and parts[1] in FORMAT_TAGS:
        if not isinstance(fmt, str) or fmt == parts[1]:
            return ".".join([parts[0], *parts[2:]])
    return field


def validate_design(data: object, source: str) -> Design:
    """Validate parsed design data (a mapping in the design-file format).

    Parameters
    ----------
    data : object
        What the YAML parser returned.
    source : str
        Where the data came from, named in errors.

    Returns
    -------
    Design
        The validated design.

    Raises
    ------
    CasipInputError
        If the data is empty, not a mapping, lacks ``schema: casip.design/1`` or fails
        validation; each problem names the field path, the value and the allowed range.
    """
    if data is None:
        raise CasipInputError(
            Problem(
                "",
                "the file is empty",
                expected=f"a design starting with 'schema: {SCHEMA_ID}' (see docs/design-files.md)",
            ),
            source=source,
        )
    if not isinstance(data, Mapping):
        raise CasipInputError(
            Problem(
                "",
                "the top level is not a mapping of design fields",
                type(data).__name__,
                "keys such as schema, name, kind, cathode, separator, anode, format",
            ),
            source=source,
        )
    if "schema" not in data:
        raise CasipInputError(
            Problem(
                "schema",
                "required field is missing: a design file says which format version it uses",
                expected=f"'schema: {SCHEMA_ID}' as the first line",
            ),
            source=source,
        )
    version = data["schema"]
    if version != SCHEMA_ID:
        raise CasipInputError(
            Problem(
                "schema",
                "unsupported design file version",
                version if isinstance(version, str | int | float) else type(version).__name__,
                repr(SCHEMA_ID),
            ),
            source=source,
        )
    try:
        return Design.model_validate(dict(data))
    except ValidationError as exc:
        err = from_pydantic(exc, source=source, model=Design)
        fmt_data = data.get("format")
        fmt = fmt_data.get("type") if isinstance(fmt_data, Mapping) else None
        for p in err.problems:
            p.field = _strip_format_tag(p.field, fmt)
        raise CasipInputError(err.problems, source=source) from None



def json_schema() -> dict:
    """The JSON Schema of the design file format (for editors and the web form)."""
    schema = Design.model_json_schema(by_alias=True)
    schema["$id"] = "https://casip.example/schemas/casip.design-1.json"
    schema["title"] = "CASIP cell design (casip.design/1)"
    return schema
