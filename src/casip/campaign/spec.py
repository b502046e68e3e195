"""Campaign files (``casip.campaign/1``): what to test next, toward what, within what budget.

A campaign is a small YAML (or JSON) file::

    schema: casip.campaign/1
    name: Longest life with a 10-80 % charge under 15 min
    id: fastcharge                       # short id, used in planned-test ids PT-<id>-<n>
    parameters:                          # protocol parameters and/or design parameters
      c1_C: {low: 3.0, high: 8.0}
      soc_switch: {low: 0.1, high: 0.7}
      c2_C: {low: 2.0, high: 6.0}
    objectives:
      cycle_life: max                    # life objectives are modelled in log10(cycles)
    constraints:
      charge_time_10_80_min: {max: 15}   # known from the protocol itself
    batch: 8                             # tester channels filled per round
    budget: {channels: 48, cycles: 60000, days: 30}
    evidence: {early_cycles: 100, coverage: 0.9, early_stopping: true}
    optimizer: {backend: skopt, seed: 1}

Design parameters are the friendly names of :data:`casip.explore.study.PARAMETERS` (or numeric
design paths) varied around ``design`` (``ref:<id>``, a design file relative to the campaign
file, or an inline design), checked exactly as a study's are. Protocol parameters are those of
:mod:`casip.campaign.protocols`. Objectives and constraints name ``cycle_life`` (cycles to end
of life; ``cycles_to_80`` is the same quantity) or any quantity of
:data:`casip.explore.objectives.QUANTITIES`.

Every mistake is a :class:`~casip.errors.CasipInputError` naming the field, the value and what
was expected, raised before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casip.campaign.protocols import PROTOCOL_PARAMETERS, known_quantities
from casip.errors import CasipInputError, Problem, from_pydantic
from casip.explore.study import ChargeSettings, LifeSettings

SCHEMA_ID = "casip.campaign/1"

#: The campaign's name for cycle life (measured, early-predicted or simulated).
LIFE = "cycle_life"
_LIFE_ALIASES = frozenset({"cycle_life", "cycles_to_80", "life", "cycles"})

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParameterSpec(_Strict):
    """A varied parameter: a range ``low``..``high`` (``log``: searched in log space) or a
    list of ``values`` (categorical)."""

    low: float | None = None
    high: float | None = None
    values: list[float] | None = None
    log: bool = False


class ObjectiveSpec(_Strict):
    """``sense`` and whether the optimiser models ``log10`` of the value (default: yes for
    ``cycle_life``, whose scatter is multiplicative, no otherwise)."""

    sense: Literal["max", "min"]
    log: bool | None = None


class ConstraintSpec(_Strict):
    """``min <= quantity <= max`` (either bound may be left out, not both)."""

    min: float | None = None
    max: float | None = None


class Budget(_Strict):
    """What the campaign may spend: planned tests (``channels``), cycles of testing summed
    over the tests (``cycles``) and calendar ``days`` since ``casip campaign init``. A budget
    left out is not limited."""

    channels: int | None = Field(None, ge=1, le=100_000)
    cycles: int | None = Field(None, ge=1)
    days: float | None = Field(None, gt=0, le=3650)


class Evidence(_Strict):
    """How early evidence is used.

    ``early_cycles``: the cycle at which the campaign intends an early prediction (its
    cycles, for budgeting; the Severson models use cycles 2..100, ``casip life train --cycles
    N`` cycles 2..N). A prediction by a model (``observe --test``, the platform) records the
    model's own N instead, and says so when it differs. ``coverage``: the coverage of the
    prediction interval, turned into the observation noise. ``early_stopping``: stop a
    candidate whose predicted life is confidently poor. ``model``: a saved early-life model
    (``casip life train``) used by
    ``observe --test``, relative to the campaign file.
    """

    early_cycles: int = Field(100, ge=2, le=100_000)
    coverage: float = Field(0.9, gt=0, lt=1)
    early_stopping: bool = True
    model: str | None = None


class Optimizer(_Strict):
    """``backend``: ``skopt`` (default, light) or ``botorch`` (extra ``casip[campaign-heavy]``);
    ``seed``: same seed and same journal give the same proposals."""

    backend: Literal["skopt", "botorch"] = "skopt"
    seed: int = Field(0, ge=0)


class Campaign(_Strict):
    """A campaign file, validated (see the module docstring)."""

    schema_: Literal["casip.campaign/1"] = Field(SCHEMA_ID, alias="schema")
    name: str = Field("campaign", min_length=1, max_length=200)
    id: str | None = Field(None, description="Short id for planned-test ids PT-<id>-<n>.")
    description: str = Field("", max_length=4000)
    design: str | dict | None = None
    parameters: dict[str, ParameterSpec]
    objectives: dict[str, Literal["min", "max"] | ObjectiveSpec]
    constraints: dict[str, ConstraintSpec] = Field(default_factory=dict)
    batch: int = Field(4, ge=1, le=1000)
    budget: Budget = Field(default_factory=Budget)
    evidence: Evidence = Field(default_factory=Evidence)
    optimizer: Optimizer = Field(default_factory=Optimizer)
    pool: list[dict[str, float]] | None = Field(
        None, description="Candidate points (e.g. a list of policies) instead of the ranges."
    )
    charge: ChargeSettings = Field(default_factory=ChargeSettings)
    life: LifeSettings = Field(default_factory=LifeSettings)
    #: Folder that a relative ``design`` or ``evidence.model`` is read from (not in the file).
    base_dir: str | None = Field(None, exclude=True)

    @field_validator("parameters", "objectives")
    @classmethod
    def _not_empty(cls, v):
        if not v:
            raise ValueError("at least one entry is needed")
        return v

    # ------------------------------------------------------------------ derived
    @property
    def campaign_id(self) -> str:
        """The short id (``id``, else a slug of the name)."""
        if self.id:
            return self.id
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()[:40].strip("-")
        return slug or "campaign"

    def protocol_parameters(self) -> list[str]:
        return [n for n in self.parameters if n in PROTOCOL_PARAMETERS]

    def design_parameters(self) -> list[str]:
        return [n for n in self.parameters if n not in PROTOCOL_PARAMETERS]

    def objective_list(self):
        """The optimiser's :class:`casip.campaign.Objective` list."""
        from casip.campaign import Objective

        out = []
        for name, o in self.objectives.items():
            q = quantity_name(name)
            sense = o if isinstance(o, str) else o.sense
            log = (q == LIFE) if isinstance(o, str) or o.log is None else o.log
            out.append(Objective(name=q, sense=sense, log=log))
        return out

    def known_names(self) -> set[str]:
        """Quantities computable from the point itself."""
        if set(PROTOCOL_PARAMETERS) <= set(self.parameters):
            return {"charge_time_10_80_min"}
        return set()

    def constraint_list(self):
        """The optimiser's :class:`casip.campaign.Constraint` list."""
        from casip.campaign import Constraint

        known = self.known_names()
        return [
            Constraint(name=quantity_name(n), min=c.min, max=c.max, known=quantity_name(n) in known)
            for n, c in self.constraints.items()
        ]

    def space(self):
        """The optimiser's :class:`casip.campaign.Space`."""
        from casip.campaign import Parameter, Space
        from casip.explore.study import INTEGER_TARGETS, resolve_parameter

        params = []
        for name, p in self.parameters.items():
            integer = name not in PROTOCOL_PARAMETERS and resolve_parameter(name) in INTEGER_TARGETS
            if p.values is not None:
                params.append(Parameter(name=name, values=[float(v) for v in p.values]))
            else:
                params.append(
                    Parameter(
                        name=name, low=float(p.low), high=float(p.high), log=p.log, integer=integer
                    )
                )
        return Space(params)

    def known_constraints(self):
        """A function point -> known quantities, or None when nothing is known."""
        return known_quantities if self.known_names() else None

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        """A hash of everything that decides the proposals (not the name or description)."""
        d = self.to_dict()
        for k in ("name", "description"):
            d.pop(k, None)
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def model_path(self) -> Path | None:
        """The early-life model of ``evidence.model`` (relative to the campaign file)."""
        if not self.evidence.model:
            return None
        p = Path(self.evidence.model)
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p


def quantity_name(name: str) -> str:
    """The campaign's canonical name of a quantity (``cycle_life`` for life), or the name."""
    from casip.explore.objectives import canonical

    if name in _LIFE_ALIASES:
        return LIFE
    return canonical(name) or name


def result_quantity(campaign, name: str) -> str:
    """The canonical name of a result value ``name`` (:func:`quantity_name`), refused with a
    :class:`CasipInputError` on ``values.<name>`` unless it is one of ``campaign``'s
    objectives or constraints."""
    allowed = {o.name for o in campaign.objective_list()}
    allowed |= {c.name for c in campaign.constraint_list()}
    q = quantity_name(name)
    if q not in allowed:
        raise CasipInputError(
            Problem(
                f"values.{name}",
                "not an objective or constraint of the campaign",
                name,
                ", ".join(sorted(allowed)),
            )
        )
    return q


def _is_known_quantity(name: str) -> bool:
    from casip.explore.objectives import canonical

    return name in _LIFE_ALIASES or canonical(name) is not None


def _close(name: str, options) -> str:
    import difflib

    near = difflib.get_close_matches(name, list(options), n=4, cutoff=0.5)
    return ("did you mean " + ", ".join(near) + "?") if near else ""


# -------------------------------------------------------------------------------- checking


def _check_range(name: str, p: ParameterSpec, problems: list[Problem]) -> None:
    field = f"parameters.{name}"
    if p.values is not None:
        if p.low is not None or p.high is not None:
            problems.append(Problem(field, "give either values or low/high, not both"))
        elif not p.values:
            problems.append(Problem(f"{field}.values", "empty list", [], "at least one value"))
        elif not all(math.isfinite(v) for v in p.values):
            problems.append(Problem(f"{field}.values", "values must be finite"))
        return
    if p.low is None or p.high is None:
        problems.append(
            Problem(
                field,
                "a range needs both low and high (or give values)",
                expected="{low: ..., high: ...}",
            )
        )
    elif not (math.isfinite(p.low) and math.isfinite(p.high)):
        problems.append(Problem(field, "bounds must be finite", f"{p.low}..{p.high}"))
    elif p.low >= p.high:
        problems.append(
            Problem(
                field,
                "empty or inverted range (low >= high)",
                f"{p.low:g}..{p.high:g}",
                "low < high, or values: [x]",
            )
        )
    elif p.log and p.low <= 0:
        problems.append(
            Problem(field, "a log range needs positive bounds", f"{p.low:g}..{p.high:g}", "low > 0")
        )


def _extent(p: ParameterSpec) -> tuple[float, float] | None:
    if p.values:
        return min(p.values), max(p.values)
    if p.low is not None and p.high is not None:
        return p.low, p.high
    return None


def check_campaign(c: Campaign) -> Campaign:
    """Cross-field checks; every problem found is reported in one error."""
    from casip.explore.objectives import QUANTITIES

    problems: list[Problem] = []
    if c.id is not None and not _ID.match(c.id):
        problems.append(
            Problem(
                "id",
                "not a short id",
                c.id,
                "1-40 letters, digits, '-', '_' or '.', starting alphanumeric",
            )
        )
    for name, p in c.parameters.items():
        _check_range(name, p, problems)
        if name in PROTOCOL_PARAMETERS:
            lo_ok, hi_ok, meaning = PROTOCOL_PARAMETERS[name]
            ext = _extent(p)
            if ext and (ext[0] <= lo_ok or ext[1] > hi_ok):
                problems.append(
                    Problem(
                        f"parameters.{name}",
                        f"out of range ({meaning})",
                        f"{ext[0]:g}..{ext[1]:g}",
                        f"values in ({lo_ok:g}, {hi_ok:g}]",
                    )
                )
        else:
            from casip.explore.study import resolve_parameter

            try:
                resolve_parameter(name)
            except CasipInputError as exc:
                problems.extend(
                    Problem(
                        pr.field,
                        pr.message
                        + " (or a protocol parameter: "
                        + ", ".join(PROTOCOL_PARAMETERS)
                        + ")",
                        pr.value,
                        pr.expected,
                    )
                    for pr in exc.problems
                )
    protocol = c.protocol_parameters()
    if protocol and len(protocol) != len(PROTOCOL_PARAMETERS):
        missing = [n for n in PROTOCOL_PARAMETERS if n not in protocol]
        problems.append(
            Problem(
                "parameters",
                "a two-step protocol needs all its parameters",
                ", ".join(protocol),
                "also " + ", ".join(missing),
            )
        )
    design_params = c.design_parameters()
    if design_params and c.design is None:
        problems.append(
            Problem(
                "design",
                "design parameters need a base design",
                ", ".join(design_params),
                "design: ref:<id>, a design file or an inline design",
            )
        )
    names_ok = sorted({*QUANTITIES, LIFE})
    for section, entries in (("objectives", c.objectives), ("constraints", c.constraints)):
        canon: dict[str, str] = {}
        for name in entries:
            if not _is_known_quantity(name):
                problems.append(
                    Problem(
                        f"{section}.{name}",
                        ("unknown quantity; " + _close(name, names_ok)).strip(),
                        name,
                        "cycle_life or one of " + ", ".join(names_ok),
                    )
                )
                continue
            q = quantity_name(name)
            if q in canon:
                problems.append(
                    Problem(
                        section,
                        "the same quantity is named twice",
                        f"{canon[q]} and {name}",
                        "each quantity once",
                    )
                )
            canon[q] = name
    for name, b in c.constraints.items():
        if b.min is None and b.max is None:
            problems.append(
                Problem(f"constraints.{name}", "no bound given", expected="min and/or max")
            )
        elif b.min is not None and b.max is not None and b.min > b.max:
            problems.append(
                Problem(
                    f"constraints.{name}",
                    "contradictory constraints: min > max",
                    f"min {b.min:g}, max {b.max:g}",
                    "min <= max",
                )
            )
    if c.pool is not None:
        if not c.pool:
            problems.append(Problem("pool", "empty list", [], "at least one point, or no pool"))
        for i, pt in enumerate(c.pool):
            if set(pt) != set(c.parameters):
                problems.append(
                    Problem(
                        f"pool[{i}]",
                        "a pool point sets every parameter",
                        sorted(pt),
                        ", ".join(c.parameters),
                    )
                )
    if c.budget.channels is not None and c.budget.channels < c.batch:
        problems.append(
            Problem(
                "budget.channels",
                "smaller than one batch",
                c.budget.channels,
                f">= batch ({c.batch})",
            )
        )
    if c.evidence.model is not None and not c.model_path().is_file():
        problems.append(
            Problem(
                "evidence.model",
                "no such file",
                str(c.model_path()),
                "a model saved by casip life train",
            )
        )
    if problems:
        raise CasipInputError(problems, source=c.name)
    if design_params:
        # the design parameters, the base design and the design quantities are checked as a
        # study's (casip.explore.study.check_study): one set of rules for both file kinds.
        study_from_campaign(c)
    return c


def study_from_campaign(c: Campaign, quantities: list[str] | None = None):
    """The ``casip.study/1`` study that simulates ``c``'s design quantities.

    Parameters
    ----------
    c : Campaign
        A campaign with a base design.
    quantities : list of str, optional
        The explore quantities to evaluate (default: the campaign's objectives and
        constraints that the explore models compute).

    Returns
    -------
    casip.explore.study.Study
    """
    from casip.explore.study import study_from_data

    if quantities is None:
        quantities = [*c.objectives, *c.constraints]
    # every quantity is a study objective, so that the study evaluates each point whole (a
    # study's constraints would skip the costly stages of points that violate cheap ones)
    objectives: dict[str, str] = {}
    for n in quantities:
        q = "cycles_to_80" if quantity_name(n) == LIFE else quantity_name(n)
        if q == "charge_time_10_80_min" and q in c.known_names():
            continue
        o = c.objectives.get(n, "max")
        objectives[q] = o if isinstance(o, str) else o.sense
    if not objectives:  # a study needs one objective
        objectives = {"specific_energy_Wh_kg": "max"}
    data = {
        "schema": "casip.study/1",
        "name": c.name,
        "design": c.design,
        "parameters": {
            n: c.parameters[n].model_dump(exclude_none=True, exclude={"log"})
            for n in c.design_parameters()
        },
        "objectives": objectives,
        "charge": c.charge.model_dump(exclude_none=True),
        "life": c.life.model_dump(exclude_none=True),
    }
    return study_from_data(data, c.name, base_dir=c.base_dir)


def campaign_from_data(
    data: object, source: str = "<campaign>", base_dir: str | None = None
) -> Campaign:
    """Validate a parsed campaign document (a dict).

    Raises
    ------
    CasipInputError
        Naming every wrong field, its value and what was expected.
    """
    if not isinstance(data, Mapping):
        raise CasipInputError(
            Problem("", "a campaign is a mapping", type(data).__name__, f"schema: {SCHEMA_ID} ..."),
            source=source,
        )
    data = dict(data)
    schema = data.get("schema", SCHEMA_ID)
    if schema != SCHEMA_ID:
        raise CasipInputError(
            Problem("schema", "unknown campaign format", schema, SCHEMA_ID), source=source
        )
    try:
        c = Campaign.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, source=source, model=Campaign) from None
    c.base_dir = base_dir
    try:
        return check_campaign(c)
    except CasipInputError as exc:
        raise CasipInputError(exc.problems, source=source) from None


def read_campaign(path: str | Path) -> Campaign:
    """Read a campaign file (YAML or JSON) and check it."""
    from casip.io import parse_yaml, read_text_file

    text = read_text_file(path, "campaign file", 1_000_000)
    data = parse_yaml(text, str(path))  # JSON is YAML
    return campaign_from_data(data, str(path), base_dir=str(Path(path).resolve().parent))


def json_schema() -> dict:
    """The JSON Schema of the campaign file format (for editors and forms)."""
    schema = Campaign.model_json_schema(by_alias=True)
    schema["$id"] = "https://casip.example/schemas/casip.campaign-1.json"
    schema["title"] = "CASIP closed-loop campaign (casip.campaign/1)"
    return schema


__all__ = [
    "LIFE",
    "SCHEMA_ID",
    "Campaign",
    "campaign_from_data",
    "check_campaign",
    "json_schema",
    "quantity_name",
    "read_campaign",
    "study_from_campaign",
]
