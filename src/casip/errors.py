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
            parts.append(f"got {self.value!r}")
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


def from_pydantic(exc, source: str | None = None, prefix: str = "") -> CasipInputError:
    """Turn a pydantic ``ValidationError`` into a :class:`CasipInputError`."""
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
        if "expected" in ctx:
            expected = str(ctx["expected"])
        elif err.get("type") == "missing":
            msg = "required field is missing"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling against the design file reference)"
        problems.append(Problem(field=field, message=msg, value=value, expected=expected))
    return CasipInputError(problems, source=source)
