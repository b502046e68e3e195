"""Domain errors that speak the user's language.

Every error raised for bad input names where the problem is (the file and the field), the value
that was given and what was expected. The CLI prints the message without a traceback and exits
with status 2; a later API layer answers 4xx with the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One thing wrong with an input."""

    field: str
    message: str
    value: object = None
    expected: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.field}: {self.message}" if self.field else self.message]
        if self.value is not None:
            shown = repr(self.value)
            if len(shown) > 200:  # a refused long text is named, not repeated whole
                shown = shown[:200] + "..."
            parts.append(f"got {shown}")
        if self.expected:
            parts.append(f"expected {self.expected}")
        return "; ".join(parts)


class CasipInputError(ValueError):
    """Invalid input: a design, a materials file or an argument.

    Attributes
    ----------
    source : str or None
        The file (or other origin, e.g. ``"<dict>"``) that held the bad input.
    problems : list of Problem
        Each wrong field with its value and what was expected.
    """

    def __init__(self, problems: list[Problem] | Problem | str, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(field="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return f"{where}{self.problems[0]}"
        lines = [f"{where}{len(self.problems)} problems"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-friendly form (the body of an API problem response)."""
        return {
            "source": self.source,
            "problems": [
                {
                    "field": p.field,
                    "message": p.message,
                    "value": p.value if isinstance(p.value, (int, float, str, bool)) else None,
                    "expected": p.expected,
                }
                for p in self.problems
            ],
        }


_BOUND_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _bounds_of(metadata) -> dict[str, float]:
    out = {}
    for m in metadata:
        for name in ("gt", "ge", "lt", "le"):
            v = getattr(m, name, None)
            if v is not None:
                out[name] = v
    return out


def _models_in(annotation) -> list:
    import typing

    from pydantic import BaseModel

    found = []
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
    return found


def _tag_of(model) -> str | None:
    import typing

    f = getattr(model, "model_fields", {}).get("type")
    if f is None:
        return None
    args = typing.get_args(f.annotation)
    return args[0] if len(args) == 1 and isinstance(args[0], str) else None


def _field_bounds(model, loc: tuple) -> dict[str, float]:
    """The numeric bounds (gt/ge/lt/le) declared on the field at ``loc`` of a pydantic model.

    Follows nested models, optional fields and discriminated unions (whose tag pydantic puts in
    the path, e.g. ``format.pouch.layers``).
    """
    import typing

    candidates = [model]
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        owner = next((m for m in candidates if part in m.model_fields), None)
        if owner is None:
            tagged = [m for m in candidates if _tag_of(m) == part]
            if tagged:
                candidates = tagged
                continue
            return {}
        info = owner.model_fields[part]
        candidates = _models_in(info.annotation)
    if info is None:
        return {}
    bounds = _bounds_of(info.metadata)
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            for extra in typing.get_args(arg)[1:]:
                bounds.update(_bounds_of(getattr(extra, "metadata", [extra])))
    return bounds


def _range_text(b: dict[str, float]) -> str | None:
    lo = f"[{b['ge']:g}" if "ge" in b else (f"({b['gt']:g}" if "gt" in b else None)
    hi = f"{b['le']:g}]" if "le" in b else (f"{b['lt']:g})" if "lt" in b else None)
    if lo and hi:
        return f"a value in {lo}, {hi}"
    if lo:
        return f"a value {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
    if hi:
        return f"a value {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"
    return None


def from_pydantic(
    exc, source: str | None = None, prefix: str = "", model=None
) -> CasipInputError:
    """Turn a pydantic ``ValidationError`` into a :class:`CasipInputError`.

    With ``model`` (the pydantic model validated), a violated bound is reported with the
    field's whole allowed range, e.g. ``expected a value in [0, 1)``.
    """
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        if isinstance(value, dict | list):
            value = None
        expected = None
        ctx = err.get("ctx") or {}
        if model is not None and err.get("type") in _BOUND_TYPES:
            expected = _range_text(_field_bounds(model, tuple(err.get("loc", ())))) or None
        if expected is not None:
            pass
        elif "expected" in ctx:
            expected = str(ctx["expected"])
        elif err.get("type") == "missing":
            msg = "required field is missing"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling against the design file reference)"
        problems.append(Problem(field=field, message=msg, value=value, expected=expected))
    return CasipInputError(problems, source=source)
