"""Metrics of an API process in the Prometheus text format (``GET /api/metrics``).

Measured with the maintained ``prometheus_client`` package:

``casip_http_requests_total{method, route, status}``
    requests answered, by route template (``/api/designs/{design_id}``, never an id: the
    labels stay few and name no item);
``casip_http_request_duration_seconds{route}``
    a latency histogram, from the request's arrival until its last body byte is sent;
``casip_db_pool_checked_out``, ``casip_db_pool_size``
    the SQLAlchemy connection pool: connections in use, and the pool's size.

With ``casip serve --workers N`` the N uvicorn processes listen on one port and a scrape
reaches one of them; ``casip serve`` therefore sets ``PROMETHEUS_MULTIPROC_DIR`` (the client's
multi-process mode: each process writes its values to memory-mapped files there) and the
endpoint adds up every process's values. Without it (one process) the values are this
process's.
"""

from __future__ import annotations

import hmac
import os
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: environment variable of prometheus_client's multi-process mode
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("casip_http_requests", "HTTP requests answered", ("method", "route", "status"))
LATENCY = Histogram(
    "casip_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte",
    ("route",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
POOL_OUT = Gauge(
    "casip_db_pool_checked_out",
    "Database connections in use (all API processes)",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "casip_db_pool_size",
    "Database connection pool size (all API processes)",
    multiprocess_mode="livesum",
)


def _route(scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class MetricsMiddleware:
    """ASGI middleware counting and timing every HTTP request (see the module docstring)."""

    def __init__(self, app, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route(scope)
            REQUESTS.labels(scope.get("method", ""), route, str(status[0])).inc()
            LATENCY.labels(route).observe(time.perf_counter() - start)
            _pool(self.fastapi_app)


def _pool(app: FastAPI) -> None:
    platform = getattr(app.state, "platform", None)
    pool = getattr(getattr(getattr(platform, "db", None), "engine", None), "pool", None)
    if pool is None or not hasattr(pool, "checkedout"):
        return
    POOL_OUT.set(pool.checkedout())
    POOL_SIZE.set(pool.size())


def render(app: FastAPI) -> Response:
    """The metrics of this process, or of every API process in multi-process mode."""
    _pool(app)
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


#: the bearer token a scraper must send (``Authorization: Bearer ...``); unset: loopback only
TOKEN_ENV = "CASIP_METRICS_TOKEN"
_LOOPBACK = ("127.0.0.1", "::1")


def allowed(request: Request) -> bool:
    """Whether ``request`` may read the metrics.

    Request counts per route are activity data (how often members run simulations, upload
    tests): they are not for members or the public. With ``CASIP_METRICS_TOKEN`` set, a
    scraper sends it as a bearer token; without it, only a client on this host talking to the
    server directly (loopback, no proxy's forwarding header) may read them."""
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    host = request.client.host if request.client else ""
    forwarded = any(h in request.headers for h in ("x-forwarded-for", "forwarded", "x-real-ip"))
    return host in _LOOPBACK and not forwarded


def install(app: FastAPI) -> None:
    """Count and time every request of ``app``; serve ``GET /api/metrics`` to the scraper
    (:func:`allowed`; anyone else gets the 404 of a missing page)."""
    app.add_middleware(MetricsMiddleware, fastapi_app=app)

    @app.get("/api/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not allowed(request):
            return Response(
                '{"type":"about:blank","title":"Not found","status":404,"detail":"Not Found"}',
                status_code=404, media_type="application/problem+json")
        return render(app)
