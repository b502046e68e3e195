"""Search space, objectives and constraints of a closed-loop campaign.

A :class:`Space` is a list of :class:`Parameter` (a continuous or integer range, optionally on a
log scale, or a categorical list of values). It is a thin, validated wrapper over
``skopt.space.Space`` (scikit-optimize 0.10.2): skopt provides the warping of every dimension to
the unit cube (``transform="normalize"``, log-uniform ranges in log10; categorical values
one-hot), random and Sobol/LHS sampling, and the inverse map. What is added here is only what
skopt does not do: errors that name the parameter, the value and the range expected (CASIP's
:class:`~casip.errors.CasipInputError`), and plain-Python values in returned points (skopt hands
back numpy scalars, which do not serialise to JSON/YAML journals or database rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from skopt.space import Categorical, Integer, Real
from skopt.space import Space as SkoptSpace

from casip.errors import CasipInputError, Problem

_SOURCE = "campaign"


@dataclass
class Parameter:
    """One dimension of the campaign's search space.

    Parameters
    ----------
    name : str
        The key of this parameter in every point (dict).
    low, high : float, optional
        Inclusive bounds of a continuous (or, with ``integer=True``, integer) range.
    values : list, optional
        The allowed values of a categorical parameter (instead of ``low``/``high``).
    log : bool
        Search the range on a log10 scale (needs ``low > 0``).
    integer : bool
        Only integer values in ``[low, high]``.
    """

    name: str
    low: float | None = None
    high: float | None = None
    values: list | None = None
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        field_ = f"parameters.{self.name}"
        if not isinstance(self.name, str) or not self.name:
            raise CasipInputError(
                Problem(
                    "parameters.name", "a parameter needs a name", self.name, "a non-empty string"
                ),
                source=_SOURCE,
            )
        if self.values is not None:
            if self.low is not None or self.high is not None:
                raise CasipInputError(
                    Problem(
                        field_,
                        "give either values (categorical) or low/high, not both",
                        {"low": self.low, "high": self.high, "values": self.values},
                        "values: [...] or low/high",
                    ),
                    source=_SOURCE,
                )
            if len(self.values) < 1 or len(set(map(repr, self.values))) != len(self.values):
                raise CasipInputError(
                    Problem(
                        f"{field_}.values",
                        "categorical values must be a non-empty list of distinct values",
                        self.values,
                        'e.g. ["LFP", "NMC811"]',
                    ),
                    source=_SOURCE,
                )
            return
        for key in ("low", "high"):
            v = getattr(self, key)
            if v is None or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise CasipInputError(
                    Problem(
                        f"{field_}.{key}",
                        "a range parameter needs finite low and high",
                        v,
                        "a finite number",
                    ),
                    source=_SOURCE,
                )
        if not float(self.low) < float(self.high):
            raise CasipInputError(
                Problem(
                    field_,
                    "low must be below high",
                    {"low": self.low, "high": self.high},
                    "low < high",
                ),
                source=_SOURCE,
            )
        if self.log and float(self.low) <= 0:
            raise CasipInputError(
                Problem(
                    f"{field_}.low",
                    "a log-scale range needs a positive lower bound",
                    self.low,
                    "low > 0",
                ),
                source=_SOURCE,
            )
        if self.integer and (
            float(self.low) != int(self.low) or float(self.high) != int(self.high)
        ):
            raise CasipInputError(
                Problem(
                    field_,
                    "an integer range needs integer bounds",
                    {"low": self.low, "high": self.high},
                    "integer low and high",
                ),
                source=_SOURCE,
            )

    @property
    def categorical(self) -> bool:
        """Whether this parameter is categorical."""
        return self.values is not None

    def to_skopt(self) -> Real | Integer | Categorical:
        """The skopt dimension (warped to the unit cube by ``transform="normalize"``)."""
        if self.categorical:
            return Categorical(list(range(len(self.values))), name=self.name, transform="onehot")
        prior = "log-uniform" if self.log else "uniform"
        if self.integer:
            return Integer(
                int(self.low), int(self.high), prior=prior, transform="normalize", name=self.name
            )
        return Real(
            float(self.low), float(self.high), prior=prior, transform="normalize", name=self.name
        )

    def check(self, value: object, where: str) -> object:
        """Validate one value; return it as a plain Python value (raises CasipInputError)."""
        if self.categorical:
            for v in self.values:
                if v == value:
                    return v
            raise CasipInputError(
                Problem(
                    f"{where}.{self.name}",
                    "value is not one of the parameter's values",
                    value,
                    f"one of {self.values}",
                ),
                source=_SOURCE,
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise CasipInputError(
                Problem(
                    f"{where}.{self.name}",
                    "value is not a number",
                    value,
                    f"a number in [{self.low}, {self.high}]",
                ),
                source=_SOURCE,
            )
        x = float(value)
        tol = 1e-9 * max(1.0, abs(float(self.low)), abs(float(self.high)))
        if not math.isfinite(x) or x < float(self.low) - tol or x > float(self.high) + tol:
            raise CasipInputError(
                Problem(
                    f"{where}.{self.name}",
                    "value is outside the parameter's range",
                    value,
                    f"a number in [{self.low}, {self.high}]",
                ),
                source=_SOURCE,
            )
        x = min(max(x, float(self.low)), float(self.high))
        if self.integer:
            if abs(x - round(x)) > 1e-9:
                raise CasipInputError(
                    Problem(
                        f"{where}.{self.name}",
                        "value must be an integer",
                        value,
                        f"an integer in [{int(self.low)}, {int(self.high)}]",
                    ),
                    source=_SOURCE,
                )
            return round(x)
        return x


@dataclass
class Space:
    """The search space: an ordered list of parameters.

    Parameters
    ----------
    parameters : list of Parameter
        The dimensions, with distinct names.
    """

    parameters: list[Parameter] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.parameters:
            raise CasipInputError(
                Problem(
                    "parameters",
                    "the space needs at least one parameter",
                    self.parameters,
                    "a non-empty list of parameters",
                ),
                source=_SOURCE,
            )
        names = [p.name for p in self.parameters]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise CasipInputError(
                Problem("parameters", "parameter names must be distinct", dup, "distinct names"),
                source=_SOURCE,
            )

    @property
    def names(self) -> list[str]:
        """Parameter names in order."""
        return [p.name for p in self.parameters]

    def to_skopt(self) -> SkoptSpace:
        """The equivalent ``skopt.space.Space`` (unit-cube transforms)."""
        return SkoptSpace([p.to_skopt() for p in self.parameters])

    def validate_point(self, point: dict, where: str = "point") -> dict:
        """Check a point: known names, every parameter given, values inside the space.

        Parameters
        ----------
        point : dict
            Parameter name -> value.
        where : str
            The field name used in error messages (e.g. ``"candidates[3]"``).

        Returns
        -------
        dict
            The point with plain Python values, keys in the space's order.

        Raises
        ------
        CasipInputError
            On unknown or missing names and on values outside the space.
        """
        if not isinstance(point, dict):
            raise CasipInputError(
                Problem(
                    where,
                    "a point must be a mapping of parameter name to value",
                    point,
                    f"a dict with keys {self.names}",
                ),
                source=_SOURCE,
            )
        unknown = [k for k in point if k not in self.names]
        if unknown:
            raise CasipInputError(
                Problem(
                    f"{where}.{unknown[0]}",
                    "unknown parameter name",
                    unknown[0],
                    f"one of {self.names}",
                ),
                source=_SOURCE,
            )
        missing = [n for n in self.names if n not in point]
        if missing:
            raise CasipInputError(
                Problem(
                    f"{where}.{missing[0]}",
                    "parameter missing from the point",
                    None,
                    f"a value for each of {self.names}",
                ),
                source=_SOURCE,
            )
        return {p.name: p.check(point[p.name], where) for p in self.parameters}

    def _row(self, point: dict) -> list:
        """A validated point as a skopt row (categorical values by index)."""
        row = []
        for p in self.parameters:
            v = point[p.name]
            row.append(next(i for i, c in enumerate(p.values) if c == v) if p.categorical else v)
        return row

    def transform(self, points: list[dict]) -> np.ndarray:
        """Validated points -> rows in skopt's warped unit space (one-hot for categorical)."""
        if not points:
            return np.zeros((0, self.to_skopt().transformed_n_dims))
        return np.asarray(self.to_skopt().transform([self._row(p) for p in points]), dtype=float)

    def from_rows(self, rows: list) -> list[dict]:
        """skopt rows (original units, categorical as index) -> points with plain values."""
        out = []
        for row in rows:
            point = {}
            for p, v in zip(self.parameters, row, strict=True):
                if p.categorical:
                    point[p.name] = p.values[int(v)]
                elif p.integer:
                    point[p.name] = round(float(v))
                else:
                    point[p.name] = min(max(float(v), float(p.low)), float(p.high))
            out.append(point)
        return out

    def inverse_transform(self, X: np.ndarray) -> list[dict]:
        """Rows in the warped unit space -> points."""
        return self.from_rows(self.to_skopt().inverse_transform(np.asarray(X, dtype=float)))

    @property
    def all_numeric(self) -> bool:
        """True when no parameter is categorical (then the warped space is the unit cube)."""
        return not any(p.categorical for p in self.parameters)


@dataclass
class Objective:
    """A quantity to maximise or minimise.

    Parameters
    ----------
    name : str
        The key in :attr:`Observation.values`.
    sense : {"max", "min"}
        Direction of improvement.
    log : bool
        Model ``log10(value)`` (e.g. cycle life) instead of the value; observation sigmas are then
        in log10 units.
    """

    name: str
    sense: Literal["max", "min"] = "max"
    log: bool = False

    def __post_init__(self) -> None:
        if self.sense not in ("max", "min"):
            raise CasipInputError(
                Problem(
                    f"objectives.{self.name}.sense", "unknown sense", self.sense, "'max' or 'min'"
                ),
                source=_SOURCE,
            )


@dataclass
class Constraint:
    """A bound on a quantity: ``min <= value <= max``.

    Parameters
    ----------
    name : str
        The key in :attr:`Observation.values` (unknown constraints) or in the dict returned by the
        ``known_constraints`` function (known ones).
    min, max : float, optional
        Bounds (at least one).
    known : bool
        True when the quantity is computable from the point itself (e.g. the charge time of a
        protocol): candidates are filtered with it. False: it is learned from observations by its
        own Gaussian process and enters as a probability of feasibility.
    """

    name: str
    min: float | None = None
    max: float | None = None
    known: bool = False

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise CasipInputError(
                Problem(
                    f"constraints.{self.name}",
                    "a constraint needs min or max",
                    None,
                    "min and/or max",
                ),
                source=_SOURCE,
            )
        for key in ("min", "max"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(float(v))):
                raise CasipInputError(
                    Problem(
                        f"constraints.{self.name}.{key}",
                        "bound is not a finite number",
                        v,
                        "a finite number",
                    ),
                    source=_SOURCE,
                )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise CasipInputError(
                Problem(
                    f"constraints.{self.name}",
                    "min is above max",
                    {"min": self.min, "max": self.max},
                    "min <= max",
                ),
                source=_SOURCE,
            )

    def satisfied(self, value: float) -> bool:
        """Whether a value satisfies the bounds."""
        if not math.isfinite(value):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
