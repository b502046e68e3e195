"""Study files (``casip.study/1``): what to vary, what to optimise, what to respect.

A study is a small YAML (or JSON) file::

    schema: casip.study/1
    name: Lightest fast-charging sulfide Li-metal cell
    design: ref:assb-sulfide-li          # or a design file (relative to the study) or inline
    parameters:                          # friendly names (PARAMETERS) or design paths
      cathode_loading_mAh_cm2: {low: 1.0, high: 6.0}
      separator_thickness_um: {low: 10, high: 40, levels: 4}
      layers: {values: [20, 25, 30]}
    objectives: {specific_energy_Wh_kg: max, cost_usd_kWh: min}
    constraints:
      charge_time_10_80_min: {max: 15}
      cycles_to_80: {min: 1000}
    method: {kind: nsga2, population: 24, generations: 10, seed: 1}

Every mistake (an unknown parameter or quantity, an empty or inverted range, a range the
design format refuses, contradictory constraints) is a :class:`~casip.errors.CasipInputError`
naming the field, the value and what was expected, raised before any evaluation starts.

Cathode mass fractions
----------------------
``cathode_active_fraction`` and ``cathode_catholyte_fraction`` set those mass fractions; the
components that are *not* varied (carbon, binder and, if only the active fraction varies, the
catholyte) are scaled in their base-design proportions so that the four fractions sum to 1. A
point whose varied fractions leave nothing (or less than nothing) for the others is recorded as
a failed evaluation with that reason.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casip.errors import CasipInputError, Problem, from_pydantic

SCHEMA_ID = "casip.study/1"

#: Friendly parameter names -> design-file path. ``mass_fraction:<component>`` and
#: ``protocol:c_rate`` are special targets handled by :mod:`casip.explore.objectives`.
PARAMETERS: dict[str, str] = {
    "cathode_thickness_um": "cathode.thickness_um",
    "cathode_loading_mAh_cm2": "cathode.areal_capacity_mAh_cm2",
    "cathode_areal_capacity_mAh_cm2": "cathode.areal_capacity_mAh_cm2",
    "cathode_loading_mg_cm2": "cathode.loading_mg_cm2",
    "cathode_active_fraction": "mass_fraction:active",
    "cathode_catholyte_fraction": "mass_fraction:catholyte",
    "cathode_porosity": "cathode.porosity",
    "separator_thickness_um": "separator.thickness_um",
    "separator_porosity": "separator.porosity",
    "lithium_thickness_um": "anode.lithium_thickness_um",
    "lithium_excess": "anode.np_ratio",
    "np_ratio": "anode.np_ratio",
    "anode_thickness_um": "anode.thickness_um",
    "positive_collector_um": "current_collectors.positive.thickness_um",
    "negative_collector_um": "current_collectors.negative.thickness_um",
    "electrode_width_mm": "format.electrode_width_mm",
    "electrode_height_mm": "format.electrode_height_mm",
    "layers": "format.layers",
    "cell_height_mm": "format.height_mm",
    "cell_length_mm": "format.length_mm",
    "cell_thickness_mm": "format.thickness_mm",
    "cell_diameter_mm": "format.diameter_mm",
    "charge_c_rate": "protocol:c_rate",
}

#: Design paths whose values are whole numbers.
INTEGER_TARGETS = frozenset({"format.layers"})

_SIZING_GROUPS = (
    {"cathode.thickness_um", "cathode.areal_capacity_mAh_cm2", "cathode.loading_mg_cm2"},
    {"anode.np_ratio", "anode.lithium_thickness_um", "anode.thickness_um"},
)


def _close(name: str, options) -> str:
    near = difflib.get_close_matches(name, list(options), n=4, cutoff=0.5)
    return ("did you mean " + ", ".join(near) + "? ") if near else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParameterRange(_Strict):
    """One varied parameter: a range ``low``..``high`` or an explicit list of ``values``.

    ``levels`` is the number of evenly spaced values of a range in a full-factorial sweep.
    """

    low: float | None = None
    high: float | None = None
    values: list[float] | None = None
    levels: int = Field(5, ge=1, le=1000)


class ConstraintBound(_Strict):
    """``min <= quantity <= max`` (either bound may be left out, not both)."""

    min: float | None = None
    max: float | None = None


class Method(_Strict):
    """How points are chosen.

    ``factorial``: every combination of the parameters' levels (or values). ``lhs``: ``samples``
    points of a Latin hypercube (McKay, Beckman & Conover 1979, *Technometrics* 21:239),
    seeded. ``nsga2``: NSGA-II (Deb et al. 2002, *IEEE Trans. Evol. Comput.* 6:182) through
    pymoo (Blank & Deb 2020, *IEEE Access* 8:89497), ``population`` x ``generations``
    evaluations, seeded.
    """

    kind: Literal["factorial", "lhs", "nsga2"] = "factorial"
    samples: int = Field(50, ge=1, le=1_000_000)
    population: int = Field(20, ge=4, le=10_000)
    generations: int = Field(10, ge=1, le=10_000)
    seed: int = Field(1, ge=0)


class ChargeSettings(_Strict):
    """The fast charge behind ``charge_time_10_80_min``, ``ccd_margin``, ``plating_margin_V``.

    ``c_rate`` is the CC-CV rate unless ``charge_c_rate`` is a varied parameter.
    ``critical_current_density_mA_cm2`` overrides the library's CCD of the separator.
    """

    c_rate: float = Field(1.0, gt=0, le=20)
    soc_start: float = Field(0.1, ge=0, lt=1)
    soc_end: float = Field(0.8, gt=0, le=1)
    critical_current_density_mA_cm2: float | None = Field(None, gt=0)
    upper_voltage_V: float | None = Field(None, gt=0)


class LifeSettings(_Strict):
    """The duty behind ``cycles_to_80`` and ``years_to_80``: a preset of
    :mod:`casip.life.duty` with optional field ``changes``, projected over ``years``."""

    duty: str = "ev_daily"
    changes: dict[str, float | str] = Field(default_factory=dict)
    years: float | None = Field(None, gt=0, le=50)


class Execution(_Strict):
    """``chunk_size``: points per task sent to the executor (and per journal file); by
    default 16 for studies whose costly quantities are all charge times (their points share
    PyBaMM builds, casip.physics.batch), 1 for studies with lifetime quantities, else 256."""

    chunk_size: int | None = Field(None, ge=1, le=100_000)


class Study(_Strict):
    """A study file, validated (see the module docstring)."""

    schema_: Literal["casip.study/1"] = Field(SCHEMA_ID, alias="schema")
    name: str = Field("study", max_length=200)
    description: str = Field("", max_length=4000)
    design: str | dict
    parameters: dict[str, ParameterRange]
    objectives: dict[str, Literal["min", "max"]]
    constraints: dict[str, ConstraintBound] = Field(default_factory=dict)
    method: Method = Field(default_factory=Method)
    charge: ChargeSettings = Field(default_factory=ChargeSettings)
    life: LifeSettings = Field(default_factory=LifeSettings)
    execution: Execution = Field(default_factory=Execution)
    #: Folder that a relative ``design`` path is read from (not part of the file).
    base_dir: str | None = Field(None, exclude=True)

    @field_validator("parameters", "objectives")
    @classmethod
    def _not_empty(cls, v):
        if not v:
            raise ValueError("at least one entry is needed")
        return v

    # ---------------------------------------------------------------- derived
    def targets(self) -> dict[str, str]:
        """Parameter name -> design path (or special target)."""
        return {n: resolve_parameter(n) for n in self.parameters}

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """A hash of everything that decides the result of an evaluation and the points."""
        d = self.to_dict()
        d.pop("name", None)
        d.pop("description", None)
        d.pop("execution", None)
        d["design"] = base_design(self).model_dump(mode="json", by_alias=True, exclude_none=True)
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_parameter(name: str) -> str:
    """The design path (or special target) of a parameter name; raises with close names."""
    from casip.design.compile import PATHS

    if name in PARAMETERS:
        return PARAMETERS[name]
    if name in PATHS:
        return name
    raise CasipInputError(
        Problem(
            f"parameters.{name}",
            "unknown parameter; " + _close(name, [*PARAMETERS, *PATHS]).rstrip(),
            name,
            "one of " + ", ".join(PARAMETERS) + ", or a numeric design path such as "
            "cathode.porosity",
        )
    )


def base_design(study: Study):
    """The validated design the study starts from."""
    from casip.design.api import _resolve

    src = study.design
    if isinstance(src, dict):
        return _resolve(src, "study.design")
    if src.startswith("ref:"):
        from casip.cells import reference_design

        return reference_design(src[4:])
    from casip.io import read_design

    p = Path(src)
    if not p.is_absolute() and study.base_dir:
        p = Path(study.base_dir) / p
    return read_design(p)


def parameter_values(study: Study, name: str) -> list[float]:
    """The factorial levels of one parameter."""
    import numpy as np

    r = study.parameters[name]
    if r.values is not None:
        vals = [float(v) for v in r.values]
    elif r.levels == 1:
        vals = [float(r.low)]
    else:
        vals = [float(v) for v in np.linspace(r.low, r.high, r.levels)]
    if resolve_parameter(name) in INTEGER_TARGETS:
        vals = sorted({float(round(v)) for v in vals})
    return vals


def bounds(study: Study, name: str) -> tuple[float, float]:
    r = study.parameters[name]
    if r.values is not None:
        return float(min(r.values)), float(max(r.values))
    return float(r.low), float(r.high)


# -------------------------------------------------------------------------------- checking


def check_study(study: Study) -> Study:
    """Cross-field checks; every problem found is reported in one error."""
    from casip.design.api import with_updates
    from casip.explore.objectives import QUANTITIES, canonical

    problems: list[Problem] = []
    # parameters
    targets: dict[str, str] = {}
    for name, r in study.parameters.items():
        try:
            target = resolve_parameter(name)
        except CasipInputError as exc:
            problems.extend(exc.problems)
            continue
        for other, t in targets.items():
            if t == target or any(t in g and target in g for g in _SIZING_GROUPS):
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        f"sizes the same thing as parameters.{other} ({target} / {t})",
                        expected="one parameter per sizing",
                    )
                )
        targets[name] = target
        if r.values is not None:
            if r.low is not None or r.high is not None:
                problems.append(
                    Problem(f"parameters.{name}", "give either values or low/high, not both")
                )
            if not r.values:
                problems.append(
                    Problem(f"parameters.{name}.values", "empty list", [], "at least one value")
                )
            elif not all(math.isfinite(v) for v in r.values):
                problems.append(Problem(f"parameters.{name}.values", "values must be finite"))
            continue
        if r.low is None or r.high is None:
            problems.append(
                Problem(
                    f"parameters.{name}",
                    "a range needs both low and high (or give values)",
                    r.model_dump(exclude_none=True, exclude={"levels"}),
                    "{low: ..., high: ...}",
                )
            )
            continue
        if not (math.isfinite(r.low) and math.isfinite(r.high)):
            problems.append(Problem(f"parameters.{name}", "bounds must be finite"))
        elif r.low > r.high:
            problems.append(
                Problem(
                    f"parameters.{name}",
                    "inverted range (low > high)",
                    f"{r.low:g}..{r.high:g}",
                    "low < high",
                )
            )
        elif r.low == r.high:
            problems.append(
                Problem(
                    f"parameters.{name}",
                    "empty range (low == high)",
                    f"{r.low:g}..{r.high:g}",
                    "low < high, or values: [x] for a fixed value",
                )
            )
    # objectives and constraints
    for name in study.objectives:
        if canonical(name) is None:
            problems.append(
                Problem(
                    f"objectives.{name}",
                    "unknown quantity; " + _close(name, QUANTITIES).rstrip(),
                    name,
                    "one of " + ", ".join(sorted(QUANTITIES)),
                )
            )
    for name, b in study.constraints.items():
        if canonical(name) is None:
            problems.append(
                Problem(
                    f"constraints.{name}",
                    "unknown quantity; " + _close(name, QUANTITIES).rstrip(),
                    name,
                    "one of " + ", ".join(sorted(QUANTITIES)),
                )
            )
        if b.min is None and b.max is None:
            problems.append(
                Problem(f"constraints.{name}", "no bound given", expected="min and/or max")
            )
        elif b.min is not None and b.max is not None and b.min > b.max:
            problems.append(
                Problem(
                    f"constraints.{name}",
                    "contradictory constraints: min > max, no point can satisfy both",
                    f"min {b.min:g}, max {b.max:g}",
                    "min <= max",
                )
            )
    canon = [canonical(n) for n in study.constraints]
    dup = {c for c in canon if c is not None and canon.count(c) > 1}
    for c in sorted(dup):
        problems.append(
            Problem("constraints", "the same quantity is constrained twice under two names", c)
        )
    if study.charge.soc_end <= study.charge.soc_start:
        problems.append(
            Problem(
                "charge.soc_end",
                "must be above charge.soc_start",
                study.charge.soc_end,
                f"> {study.charge.soc_start}",
            )
        )
    from casip.explore.objectives import LIFE, stage_of

    if any(canonical(n) and stage_of(n) == LIFE for n in [*study.objectives, *study.constraints]):
        from casip.life.duty import preset

        try:
            preset(study.life.duty, **study.life.changes)
        except CasipInputError as exc:
            problems.extend(
                Problem(f"life.{p.field}" if p.field else "life", p.message, p.value, p.expected)
                for p in exc.problems
            )
    if problems:
        raise CasipInputError(problems, source=study.name)
    # the base design and each range against the design schema, at the range's extremes
    design = base_design(study)
    from casip.design.api import compile as compile_design

    comp = compile_design(design)
    for name, target in targets.items():
        lo, hi = bounds(study, name)
        if target.startswith("protocol:"):
            if lo <= 0 or hi > 20:
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        "C-rate out of range",
                        f"{lo:g}..{hi:g}",
                        "a value in (0, 20]",
                    )
                )
            continue
        if target.startswith("mass_fraction:"):
            if lo < 0 or hi > 1:
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        "a mass fraction is within [0, 1]",
                        f"{lo:g}..{hi:g}",
                        "a range within [0, 1]",
                    )
                )
            comp_name = target.split(":", 1)[1]
            if comp_name == "catholyte" and design.cathode.catholyte is None:
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        "the design's cathode has no catholyte",
                        expected="a design with cathode.catholyte",
                    )
                )
            continue
        try:
            comp.format_key(target)
        except KeyError:
            problems.append(
                Problem(
                    f"parameters.{name}",
                    f"{target} does not apply to this design ({design.format.type} format, "
                    f"{design.anode.type.value} anode)",
                    expected="a parameter of the study's design",
                )
            )
            continue
        for v in (lo, hi):
            val = round(v) if target in INTEGER_TARGETS else v
            try:
                with_updates(design, {target: val})
            except CasipInputError as exc:
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        f"range end {v:g} is refused by the design: {exc.problems[0]}",
                        f"{lo:g}..{hi:g}",
                    )
                )
                break
    if problems:
        raise CasipInputError(problems, source=study.name)
    return study


def study_from_data(data: object, source: str = "<study>", base_dir: str | None = None) -> Study:
    """Validate a parsed study document (dict)."""
    if not isinstance(data, Mapping):
        raise CasipInputError(
            Problem("", "a study is a mapping", type(data).__name__, "schema: casip.study/1 ..."),
            source=source,
        )
    data = dict(data)
    schema = data.get("schema", SCHEMA_ID)
    if schema != SCHEMA_ID:
        raise CasipInputError(
            Problem("schema", "unknown study format", schema, SCHEMA_ID), source=source
        )
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, source=source, model=Study) from None
    study.base_dir = base_dir
    if not data.get("name"):
        study.name = Path(source).stem if source and not source.startswith("<") else "study"
    return check_study(study)


def read_study(path: str | Path) -> Study:
    """Read a study file (YAML or JSON) and check it."""
    from casip.io import parse_yaml, read_text_file

    text = read_text_file(path, "study file", 1_000_000)
    data = parse_yaml(text, str(path))  # JSON is YAML
    try:
        return study_from_data(data, str(path), base_dir=str(Path(path).resolve().parent))
    except CasipInputError as exc:
        exc.source = str(path)
        raise CasipInputError(exc.problems, source=str(path)) from None


__all__ = [
    "PARAMETERS",
    "SCHEMA_ID",
    "Study",
    "base_design",
    "bounds",
    "check_study",
    "parameter_values",
    "read_study",
    "resolve_parameter",
    "study_from_data",
]
