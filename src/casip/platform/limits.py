"""Limits on the size of requests: the head (header fields) and the body.

:class:`RequestLimits` is a pure ASGI middleware (it never buffers a body: it counts the bytes
as the application reads them). It runs outside routing, exception handling and authentication,
so a request over a limit is refused before anything reads, parses or authenticates it:

* more than :attr:`Settings.max_headers <casip.platform.settings.Settings.max_headers>` header
  fields, or a request line plus header fields longer than ``max_header_bytes``: **431**;
* a body declared (``Content-Length``) longer than the route's limit: **413** at once, without
  calling the application or reading a byte of the body;
* a body sent without a length (``Transfer-Encoding: chunked``) that grows past the limit:
  **413** as soon as the bytes received pass it, before the JSON parser sees the body (FastAPI
  reads the whole body before it parses it or solves any dependency, authentication included).

Each refusal is RFC 9457 problem JSON naming the limit and the size sent, with
``Connection: close`` so that the unread rest of the body is not taken for the next request.

Every route has the limit ``max_json_bytes`` (1 MiB by default: JSON bodies and the web forms),
except those in :data:`UPLOAD_ROUTES`, which stream a raw body into a file and enforce their own,
larger limit (``max_upload_bytes``, :func:`casip.platform.uploads.receive`).

Why not Starlette's ``RequestBodyLimitMiddleware`` (``FastAPI(max_body_size=...)``)? It checks
``Content-Length`` only when the application reads the body or starts its response, so a
route that reads no body runs to the end (with its side effects) before its answer is
replaced by a plain-text 413; its per-route limit is fixed when the route is declared, while
the upload limit here is a run-time setting.

The header limits are enforced here for every ASGI server, but only after the server has parsed
the whole head. uvicorn's default parser (httptools) sets no limit on the head's size, so
``casip serve`` runs uvicorn with its h11 parser and ``h11_max_incomplete_event_size =
max_header_bytes`` (:func:`uvicorn_options`): h11 stops buffering a head longer than that and
uvicorn answers 400 and closes the connection, so a huge header never reaches memory whole.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casip.platform.problems import PROBLEM_JSON, TITLES, problem
from casip.platform.settings import Settings

#: (method, path) of the routes that take a raw file body and limit it themselves
#: (``Settings.max_upload_bytes``, enforced by :func:`casip.platform.uploads.receive`).
UPLOAD_ROUTES = frozenset({("POST", "/api/tests")})

#: bytes a header line adds to its name and value (``": "`` and CRLF), as on the wire
_HEADER_LINE_OVERHEAD = 4


class BodyTooLarge(HTTPException):
    """The body read so far is longer than the route's limit (answered 413 problem JSON)."""

    def __init__(self, limit: int, received: int) -> None:
        super().__init__(
            413,
            detail=body_detail(limit, f"more than {limit} bytes were sent ({received} so far)"),
            headers={"Connection": "close"},
        )
        self.limit = limit
        self.received = received


def body_detail(limit: int, sent: str) -> str:
    """The ``detail`` of a 413: what was sent (``sent``) and the route's limit in bytes."""
    return (
        f"the request body is too large: {sent}; this route accepts at most {limit} bytes "
        "(cycler files are uploaded with POST /api/tests, which has its own limit)"
    )


def head_size(scope: Scope) -> int:
    """Bytes of the request line and header fields, counted as they are on the wire."""
    path = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string") or b""
    # "GET /path?query HTTP/1.1\r\n"; servers give the path without the query
    line = len(scope.get("method", "")) + 1 + len(path) + (1 + len(query) if query else 0) + 11
    return line + sum(len(k) + len(v) + _HEADER_LINE_OVERHEAD for k, v in scope["headers"])


def body_limit(settings: Settings, scope: Scope) -> int | None:
    """The body limit of a request in bytes, or None for a route that enforces its own."""
    if (scope.get("method"), scope.get("path")) in UPLOAD_ROUTES:
        return None
    return settings.max_json_bytes


async def send_problem(
    send: Send,
    status: int,
    detail: str,
    field: str,
    value: Any,
    expected: str,
) -> None:
    """Send an RFC 9457 problem response (and ask the server to close the connection)."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "errors": [{"field": field, "message": detail, "value": value, "expected": expected}],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """ASGI middleware enforcing the header and body limits of ``settings`` (read per request,
    so a changed setting applies at once).

    Parameters
    ----------
    app : ASGIApp
        The application to protect.
    settings : Settings
        Source of ``max_headers``, ``max_header_bytes`` and ``max_json_bytes``.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        count = len(scope["headers"])
        if count > settings.max_headers:
            await send_problem(
                send,
                431,
                f"the request has {count} header fields; at most {settings.max_headers} "
                "are accepted",
                "headers",
                count,
                f"at most {settings.max_headers} header fields",
            )
            return
        size = head_size(scope)
        if size > settings.max_header_bytes:
            await send_problem(
                send,
                431,
                f"the request line and header fields take {size} bytes; at most "
                f"{settings.max_header_bytes} are accepted",
                "headers",
                size,
                f"at most {settings.max_header_bytes} bytes of request line and headers",
            )
            return

        limit = body_limit(settings, scope)
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await send_problem(
                send,
                413,
                body_detail(limit, f"Content-Length is {int(declared)}"),
                "body",
                int(declared),
                f"at most {limit} bytes",
            )
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, received)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as exc:  # read outside a route's exception handling
            if started:
                raise
            await send_problem(
                send, 413, exc.detail, "body", exc.received, f"at most {exc.limit} bytes"
            )


def install(app: FastAPI, settings: Settings) -> None:
    """Add :class:`RequestLimits` to ``app`` and answer :class:`BodyTooLarge` with problem JSON
    naming the limit (when a route's body read passes it)."""
    app.add_middleware(RequestLimits, settings=settings)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(_req: Request, exc: BodyTooLarge):
        return problem(
            413,
            exc.detail,
            [
                {
                    "field": "body",
                    "message": exc.detail,
                    "value": exc.received,
                    "expected": f"at most {exc.limit} bytes",
                }
            ],
            headers=exc.headers,
        )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that bound the request head while it is parsed.

    uvicorn's httptools parser (its default when httptools is installed) has no limit on the
    size of a request's head; its h11 parser keeps at most ``h11_max_incomplete_event_size``
    bytes of an incomplete head and answers 400 (and closes) past it.
    """
    return {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes}
