"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API returns has ``type``, ``title``, ``status`` and ``detail``; input errors add
``errors``: a list of ``{field, message, value, expected}`` naming what was wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from casip.errors import CasipInputError
from casip.platform.access import AccessDenied, NotFound

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    431: "Request header fields too large",
    500: "Internal server error",
}


class ApiProblem(Exception):
    """Raise from a route to answer with a problem body."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers


class LoginRequired(Exception):
    """A web page was asked for without a session: redirect to the login page."""

    def __init__(self, next_url: str = "/"):
        self.next_url = next_url


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _clean(v: Any) -> Any:
    if isinstance(v, str) and len(v) > 200:  # a refused long text is not echoed back whole
        return v[:200] + "..."
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)[:200]


def input_errors(exc: CasipInputError) -> list[dict[str, Any]]:
    return [
        {"field": p.field, "message": p.message, "value": _clean(p.value), "expected": p.expected}
        for p in exc.problems
    ]


def install(app: FastAPI) -> None:
    """Register the problem handlers on ``app``."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(_req: Request, exc: ApiProblem):
        return problem(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(NotFound)
    async def _not_found(_req: Request, exc: NotFound):
        return problem(404, str(exc))

    @app.exception_handler(AccessDenied)
    async def _denied(_req: Request, exc: AccessDenied):
        return problem(403, exc.message)

    @app.exception_handler(CasipInputError)
    async def _input(_req: Request, exc: CasipInputError):
        return problem(422, str(exc), input_errors(exc))

    @app.exception_handler(LoginRequired)
    async def _login(_req: Request, exc: LoginRequired):
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path")]
            errors.append(
                {
                    "field": ".".join(loc),
                    "message": e.get("msg", ""),
                    "value": _clean(e.get("input")),
                    "expected": None,
                }
            )
        return problem(422, "the request does not match the API description", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    # An id (in a path, a query filter or a body) beyond the database's integer range reaches
    # the driver wherever a route does not check it: it names no row, so it is not found.
    @app.exception_handler(OverflowError)
    async def _overflow(req: Request, exc: OverflowError):
        if "SQLite INTEGER" in str(exc):
            return problem(404, "no such item: the id is beyond the database's integer range")
        return await _unexpected(req, exc)

    @app.exception_handler(DataError)
    async def _data_error(req: Request, exc: DataError):
        if "out of range" in str(exc.orig):
            return problem(404, "no such item: the id is beyond the database's integer range")
        return await _unexpected(req, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception):  # pragma: no cover - last resort
        import logging

        logging.getLogger("casip.platform").exception("unhandled error")
        return problem(500, "an unexpected error occurred; it has been logged")
