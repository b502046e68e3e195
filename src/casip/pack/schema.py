"""The pack file format, version 1 (``schema: casip.pack/1``).

A pack file says which cell a battery pack is built from, how many cells there are and how
they are put together (modules, cell-to-pack or cell-to-body), what the housing, busbars,
cooling, insulation, electronics and crash structure are made of, which share of the energy is
used, and how stack pressure is held. It holds no results. Units are in the field names.
Every section except ``cell`` and ``arrangement`` has defaults; each default is an
assumption listed in ``docs/pack.md``. A bad file fails on load with the field, the value and
the allowed range, like a cell design file (:mod:`casip.design.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from casip.errors import CasipInputError, Problem, from_pydantic

SCHEMA_ID = "casip.pack/1"

#: Integration types: cells in modules in a pack; cells straight in the pack tray; cells in
#: the tray with the vehicle floor as the pack's lid.
INTEGRATIONS = ("modules", "cell_to_pack", "cell_to_body")

Length = Annotated[float, Field(ge=0.0, le=500.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_assignment=True)


class Arrangement(_Strict):
    """Cells in series x parallel, or a target voltage and energy the counts are found from.

    Give either ``series`` and ``parallel``, or ``target_voltage_V`` and
    ``target_energy_kWh`` (series = round(V / cell V), parallel = ceil(E / (series x cell E))).
    """

    series: Annotated[int, Field(ge=1, le=2000, strict=True)] | None = None
    parallel: Annotated[int, Field(ge=1, le=500, strict=True)] | None = None
    target_voltage_V: Annotated[float, Field(gt=0, le=2000)] | None = None
    target_energy_kWh: Annotated[float, Field(gt=0, le=2000)] | None = None

    @model_validator(mode="after")
    def _check(self) -> Arrangement:
        counts = (self.series is not None, self.parallel is not None)
        targets = (self.target_voltage_V is not None, self.target_energy_kWh is not None)
        if all(counts) and not any(targets):
            return self
        if all(targets) and not any(counts):
            return self
        raise ValueError(
            "give either series and parallel, or target_voltage_V and target_energy_kWh"
        )


class Layout(_Strict):
    """How the cells (or modules) sit in the pack.

    Cells stand on edge: height vertical, width across the pack (y), stacked face to face
    along their thickness (x). ``rows`` stacks sit side by side across the pack, ``layers``
    on top of each other. Rows of cylindrical cells sit on a square grid, or staggered
    (``cylinder_packing: hex``).
    """

    rows: Annotated[int, Field(ge=1, le=100, strict=True)] = 1
    layers: Annotated[int, Field(ge=1, le=100, strict=True)] = Field(
        default=1, description="stacks on top of each other, each on its own cold plate (up "
        "to 100: a fit with flat cells rotates the pack, its layers then lie side by side)",
    )
    cells_per_module: Annotated[int, Field(ge=1, le=1000, strict=True)] | None = Field(
        default=None, description="cells stacked in one module (integration: modules only)"
    )
    clearance_mm: Length = Field(default=10.0, description="free space inside each pack wall")
    row_gap_mm: Length = Field(default=10.0, description="gap between rows (beams, ducts)")
    module_gap_mm: Length = Field(default=10.0, description="gap between modules in a row")
    busbar_space_mm: Length = Field(
        default=15.0, description="height above the cells for terminals and busbars"
    )
    cylinder_packing: Literal["square", "hex"] = Field(
        default="square",
        description="cylindrical cells: square grid, or hex (rows staggered by half a pitch, "
        "row pitch = pitch x sqrt(3)/2; cell-to-pack and cell-to-body only)",
    )


class Module(_Strict):
    """Module housing (integration: modules): side walls, top and bottom around each stack."""

    material: str = "aluminium"
    wall_mm: Annotated[float, Field(gt=0, le=50)] = 1.5
    end_plate_mm: Annotated[float, Field(gt=0, le=100)] = Field(
        default=5.0,
        description="end plate thickness when no stack pressure sizes it (a thicker sized "
        "plate replaces it)",
    )
    electronics_g: Annotated[float, Field(ge=0, le=1e5)] = Field(
        default=150.0, description="module monitoring board and its connectors, per module"
    )


class Housing(_Strict):
    """The pack enclosure: a tray (floor and walls) and a lid."""

    material: str = "aluminium"
    wall_mm: Annotated[float, Field(gt=0, le=50)] = 3.0
    floor_mm: Annotated[float, Field(gt=0, le=50)] = 3.0
    lid_material: str = "steel"
    lid_mm: Annotated[float, Field(ge=0, le=50)] = 0.8


class Busbars(_Strict):
    """Cell-to-cell and module-to-module conductors, sized by current density."""

    material: str = "copper"
    current_density_A_mm2: Annotated[float, Field(gt=0, le=50)] = 4.0
    max_c_rate: Annotated[float, Field(gt=0, le=20)] = 2.0
    link_extra_mm: Length = Field(
        default=30.0, description="length added to each series link for terminals and bends"
    )
    module_link_mm: Annotated[float, Field(ge=0, le=5000)] = Field(
        default=300.0, description="length of each module-to-module link (modules only)"
    )


class Thermal(_Strict):
    """A cold plate under the cells with its coolant, and a thermal interface layer."""

    plate_material: str = "aluminium"
    plate_mm: Annotated[float, Field(ge=0, le=50)] = 4.0
    channel_fraction: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.3, description="share of the plate's volume that is coolant channel"
    )
    coolant: str = "glycol50"
    interface_material: str = "gap_filler"
    interface_mm: Annotated[float, Field(ge=0, le=20)] = 1.0


class Insulation(_Strict):
    """Fire barrier: a sheet over the cells and optional sheets between cells."""

    material: str = "mica"
    top_sheet_mm: Annotated[float, Field(ge=0, le=20)] = 1.0
    between_cells_material: str = "aerogel"
    between_cells_mm: Annotated[float, Field(ge=0, le=20)] = 0.0
    every_n_cells: Annotated[int, Field(ge=1, le=1000, strict=True)] = 1


class Swelling(_Strict):
    """Compression pads between cells that take up the cells' swelling on charge.

    The pad is ``max(min_pad_mm, swelling / pad_compression)`` thick, where the swelling is the
    cell's charged minus discharged stack thickness from the design engine (zero for a rigid can
    whose charged stack fits inside it).
    """

    pad_material: str = "pu_foam"
    min_pad_mm: Annotated[float, Field(ge=0, le=20)] = 0.5
    pad_compression: Annotated[float, Field(gt=0, le=0.9)] = Field(
        default=0.5, description="share of its thickness a pad may be compressed"
    )


class Electronics(_Strict):
    """Battery management system and harness."""

    bms_kg: Annotated[float, Field(ge=0, le=200)] = 4.0
    harness_g_per_cell: Annotated[float, Field(ge=0, le=1000)] = 10.0
    bms_usd: Annotated[float, Field(ge=0, le=1e5)] = 250.0
    harness_usd_per_cell: Annotated[float, Field(ge=0, le=1000)] = 0.5


class Crash(_Strict):
    """Crash frame around the pack and cross members between rows."""

    material: str = "aluminium"
    frame_section_mm2: Annotated[float, Field(ge=0, le=1e5)] = Field(
        default=800.0, description="cross-section of the side frame, all around the pack"
    )
    cross_members: Annotated[int, Field(ge=0, le=100, strict=True)] = 0
    cross_member_section_mm2: Annotated[float, Field(ge=0, le=1e5)] = 400.0


class Window(_Strict):
    """The state-of-charge window used: usable = gross x (soc_max - soc_min)."""

    soc_min: Annotated[float, Field(ge=0, lt=1)] = 0.04
    soc_max: Annotated[float, Field(gt=0, le=1)] = 0.97

    @model_validator(mode="after")
    def _check(self) -> Window:
        if self.soc_max <= self.soc_min:
            raise ValueError(
                f"soc_max ({self.soc_max:g}) must be above soc_min ({self.soc_min:g})"
            )
        return self


class Pressure(_Strict):
    """Hardware that holds the cells' stack pressure (when the cell says held_by module/pack).

    Sized with :func:`casip.design.pressure.size_hardware` from the cell's pressure x stack area
    per fixture: a module's end plates (integration modules) or each row's end plates
    (cell-to-pack, cell-to-body: a pack-level fixture).
    """

    kind: Literal["plates_bolts", "bands"] = "bands"
    material: str = Field(
        default="steel_hardware", description="hardware material id in the materials library"
    )
    pressure_MPa: Annotated[float, Field(gt=0, le=500)] | None = Field(
        default=None, description="override of the cell design's pressure_hardware.pressure_MPa"
    )
    allowable_stress_MPa: Annotated[float, Field(gt=0, le=5000)] | None = None
    tie_allowable_stress_MPa: Annotated[float, Field(gt=0, le=5000)] | None = None
    ties: Annotated[int, Field(ge=1, le=100, strict=True)] | None = None


class Cost(_Strict):
    """Pack cost beyond cells and overhead materials."""

    assembly_usd: Annotated[float, Field(ge=0, le=1e6)] = Field(
        default=600.0, description="pack assembly, test and plant overhead per pack"
    )
    plant_GWh: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=10.0, description="cell plant size for the cell cost (casip.cost.cell_cost)"
    )


class PublishedFigure(_Strict):
    """A published figure of the real pack this file models, with its source."""

    metric: str
    value: float
    source: str
    note: str = ""


class Pack(_Strict):
    """A battery pack (``schema: casip.pack/1``)."""

    schema_: Literal["casip.pack/1"] = Field(alias="schema")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    cell: str = Field(
        min_length=1, description="ref:ID of a reference cell, or a design file path"
    )
    arrangement: Arrangement
    integration: Literal["modules", "cell_to_pack", "cell_to_body"] = "cell_to_pack"
    layout: Layout = Field(default_factory=Layout)
    module: Module | None = None
    housing: Housing = Field(default_factory=Housing)
    busbars: Busbars = Field(default_factory=Busbars)
    thermal: Thermal = Field(default_factory=Thermal)
    insulation: Insulation = Field(default_factory=Insulation)
    swelling: Swelling = Field(default_factory=Swelling)
    electronics: Electronics = Field(default_factory=Electronics)
    crash: Crash = Field(default_factory=Crash)
    window: Window = Field(default_factory=Window)
    pressure: Pressure = Field(default_factory=Pressure)
    cost: Cost = Field(default_factory=Cost)
    published: list[PublishedFigure] = Field(default_factory=list, max_length=50)
    notes: dict[str, str] = Field(default_factory=dict, max_length=200)

    @model_validator(mode="after")
    def _check(self) -> Pack:
        if self.integration == "modules":
            if self.layout.cells_per_module is None:
                raise ValueError(
                    "integration modules needs layout.cells_per_module (cells in one module)"
                )
            if self.module is None:
                self.module = Module()
        elif self.layout.cells_per_module is not None:
            raise ValueError(
                f"layout.cells_per_module is for integration modules, not {self.integration}"
            )
        elif self.module is not None:
            raise ValueError(f"a module section is for integration modules, not {self.integration}")
        return self


def validate_pack(data: object, source: str) -> Pack:
    """Validate parsed pack data (a mapping in the pack-file format).

    Parameters
    ----------
    data : object
        What the YAML parser returned.
    source : str
        Where the data came from, named in errors.

    Returns
    -------
    Pack
        The validated pack.

    Raises
    ------
    CasipInputError
        If the data is empty, not a mapping, lacks ``schema: casip.pack/1`` or fails
        validation; each problem names the field path, the value and the allowed range.
    """
    if data is None:
        raise CasipInputError(
            Problem("", "the file is empty",
                    expected=f"a pack starting with 'schema: {SCHEMA_ID}' (see docs/pack.md)"),
            source=source,
        )
    if not isinstance(data, Mapping):
        raise CasipInputError(
            Problem("", "the top level is not a mapping of pack fields", type(data).__name__,
                    "keys such as schema, name, cell, arrangement, integration"),
            source=source,
        )
    if "schema" not in data:
        raise CasipInputError(
            Problem("schema", "required field is missing: a pack file says its format version",
                    expected=f"'schema: {SCHEMA_ID}' as the first line"),
            source=source,
        )
    if data["schema"] != SCHEMA_ID:
        v = data["schema"]
        raise CasipInputError(
            Problem("schema", "unsupported pack file version",
                    v if isinstance(v, str | int | float) else type(v).__name__,
                    repr(SCHEMA_ID)),
            source=source,
        )
    try:
        return Pack.model_validate(dict(data))
    except ValidationError as exc:
        raise from_pydantic(exc, source=source, model=Pack) from None


def json_schema() -> dict:
    """The JSON Schema of the pack file format."""
    schema = Pack.model_json_schema(by_alias=True)
    schema["title"] = "CASIP battery pack (casip.pack/1)"
    return schema


__all__ = ["INTEGRATIONS", "SCHEMA_ID", "Pack", "json_schema", "validate_pack"]
