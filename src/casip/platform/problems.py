"""Errors as RFC 9457 problem details (``application/problem+json``) or HTML pages.

Every error the API (paths under ``/api``) returns has ``type``, ``title``, ``status`` and
``detail``; input errors add ``errors``: a list of ``{field, message, value, expected}`` naming
what was wrong. Every other path (the web pages, static files, ``/no-such-page``) answers the
same status with an HTML error page inside the site's layout (``templates/error.html``): a
browser never shows raw problem JSON. HTML or JSON is decided by the path alone
(:func:`wants_html`), never by the ``Accept`` header.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
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


def wants_html(request: Request) -> bool:
    """Whether an error on ``request`` answers with an HTML page: every path outside ``/api``
    (``/api`` itself and everything under ``/api/`` keep problem JSON)."""
    path = request.url.path
    return not (path == "/api" or path.startswith("/api/"))


#: headings of the HTML error page (the problem titles elsewhere)
PAGE_TITLES = {
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    422: "Invalid address or input",
    500: "Something went wrong",
}


def _html_error(
    request: Request,
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None,
    headers: dict | None,
) -> Response:
    """The error page inside the layout; the navigation shows when the browser has a valid
    session (looked up like :func:`casip.platform.deps.web_auth` does, never by API token)."""
    from casip.platform.deps import _authenticate
    from casip.platform.web.pages import render

    session = None
    auth = None
    try:
        platform = getattr(request.app.state, "platform", None)
        if platform is not None:
            session = platform.db.sessions()
            if "authorization" not in request.headers:
                auth = _authenticate(request, session)
                if auth is not None and auth.session is None:
                    auth = None
        response = render(
            request,
            auth,
            session if auth is not None else None,
            "error.html",
            status_code=status,
            status=status,
            title=PAGE_TITLES.get(status, TITLES.get(status, "Error")),
            message=detail,
            errors=errors or [],
        )
    finally:
        if session is not None:
            session.close()
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


async def answer(
    request: Request,
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict | None = None,
) -> Response:
    """An error answer for ``request``: problem JSON under ``/api``, else an HTML page.

    The page is rendered on a worker thread (it may look up the browser's session); should
    rendering fail, the problem JSON is answered instead."""
    if wants_html(request):
        import anyio

        try:
            return await anyio.to_thread.run_sync(
                lambda: _html_error(request, status, detail, errors, headers)
            )
        except Exception:  # pragma: no cover - the page itself failed: still answer
            import logging

            logging.getLogger("casip.platform").exception("error page failed")
    return problem(status, detail, errors, headers)


def _validation_detail(errors: list[dict[str, Any]], html: bool) -> str:
    if not html:
        return "the request does not match the API description"
    parts = [
        f"{e['field'] or 'request'} {e['value']!r}: {e['message']}"
        if e["value"] is not None
        else f"{e['field'] or 'request'}: {e['message']}"
        for e in errors[:3]
    ]
    return "this address or form is not valid: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    """Register the problem handlers on ``app`` (problem JSON under ``/api``, HTML pages
    elsewhere: see :func:`answer`)."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(req: Request, exc: ApiProblem):
        return await answer(req, exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(NotFound)
    async def _not_found(req: Request, exc: NotFound):
        return await answer(req, 404, str(exc))

    @app.exception_handler(AccessDenied)
    async def _denied(req: Request, exc: AccessDenied):
        return await answer(req, 403, exc.message)

    @app.exception_handler(CasipInputError)
    async def _input(req: Request, exc: CasipInputError):
        return await answer(req, 422, str(exc), input_errors(exc))

    @app.exception_handler(LoginRequired)
    async def _login(_req: Request, exc: LoginRequired):
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def _validation(req: Request, exc: RequestValidationError):
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
        return await answer(req, 422, _validation_detail(errors, wants_html(req)), errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 404 and wants_html(req) and detail == "Not Found":
            detail = f"there is no page at {req.url.path}"
        elif exc.status_code == 405 and wants_html(req) and detail == "Method Not Allowed":
            detail = f"{req.method} is not accepted at {req.url.path}"
        return await answer(req, exc.status_code, detail, headers=getattr(exc, "headers", None))

    # An id (in a path, a query filter or a body) beyond the database's integer range reaches
    # the driver wherever a route does not check it: it names no row, so it is not found.
    @app.exception_handler(OverflowError)
    async def _overflow(req: Request, exc: OverflowError):
        if "SQLite INTEGER" in str(exc):
            return await answer(
                req, 404, "no such item: the id is beyond the database's integer range"
            )
        return await _unexpected(req, exc)

    @app.exception_handler(DataError)
    async def _data_error(req: Request, exc: DataError):
        if "out of range" in str(exc.orig):
            return await answer(
                req, 404, "no such item: the id is beyond the database's integer range"
            )
        return await _unexpected(req, exc)

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception):  # pragma: no cover - last resort
        import logging

        logging.getLogger("casip.platform").exception("unhandled error")
        return await answer(req, 500, "an unexpected error occurred; it has been logged")
