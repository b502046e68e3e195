"""FastAPI dependencies: the database session and the authenticated actor.

Authentication, in order: ``Authorization: Bearer <API token>`` (scripts), else the session
cookie set by the login page (browsers). A cookie-authenticated request that changes state must
carry the session's CSRF token in the ``X-CSRF-Token`` header (API) or the ``csrf_token`` form
field (web forms, checked by :func:`require_csrf`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import inspect
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from casip.platform import security
from casip.platform.access import Actor
from casip.platform.data_version import auth_version, db_key
from casip.platform.models import ApiToken, User, WebSession, utcnow
from casip.platform.problems import ApiProblem, LoginRequired

SESSION_COOKIE = "casip_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def platform_of(request: Request):
    return request.app.state.platform


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed when the route returns normally.

    Always declared with ``scope="function"`` (``Depends(db_session, scope="function")``):
    FastAPI's default for dependencies with ``yield`` runs the code after ``yield`` once the
    response has been sent, which would let a client see 201 before the commit (and a
    request right after it miss the row).

    The dependency is ``async`` so that its commit runs on the event loop, not on a worker
    thread: with SQLite, writers queue on a lock held until their commit
    (:func:`casip.platform.db.make_engine`), and a commit that needed a worker thread could
    wait forever behind requests that hold every worker thread while waiting for that lock.
    Pending ORM changes are flushed on a worker thread first (a flush may wait for the lock;
    it holds none yet), so the event loop only ever runs the COMMIT itself."""
    s = platform_of(request).db.sessions()
    token = _REQUEST_SESSION.set(s)
    try:
        yield s
        if s.new or s.dirty or s.deleted:
            await anyio.to_thread.run_sync(s.flush)
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        _REQUEST_SESSION.reset(token)
        s.close()


_REQUEST_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "casip_request_session", default=None
)


class CommitRoute(APIRoute):
    """A route whose synchronous handler commits the request's session on its own worker
    thread, as soon as it returns.

    Without this the commit waits for the dependency's teardown, after FastAPI has validated
    the response - on another worker thread. Under load every worker thread can be taken by
    requests waiting for SQLite's write lock, held by a transaction that is itself waiting for
    a thread to finish: the server stalls until SQLite's busy timeout (seen with 32 clients
    and 8 threads). Committing here releases the lock before the handler gives up its thread.
    Every router of the platform uses this class (``APIRouter(route_class=CommitRoute)``).
    """

    def __init__(self, path: str, endpoint, **kwargs) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _committing(endpoint):
    @functools.wraps(endpoint)
    def handler(*args, **kwargs):
        result = endpoint(*args, **kwargs)
        session = _REQUEST_SESSION.get()
        if session is not None:
            session.commit()
        return result

    return handler


@dataclass(frozen=True)
class SessionInfo:
    """What a request needs of its browser session (a detached copy of the row)."""

    id: int
    csrf_token: str
    expires_at: dt.datetime


@dataclass
class Authenticated:
    actor: Actor
    session: SessionInfo | None  # None when authenticated by an API token


#: seconds an authentication is reused without a database look-up (see _authenticate)
AUTH_CACHE_S = 5.0
_AUTH_CACHE: dict[tuple, tuple[float, tuple, Authenticated]] = {}
_AUTH_LOCK = threading.Lock()


def _cached(key: tuple, s: Session) -> Authenticated | None:
    with _AUTH_LOCK:
        hit = _AUTH_CACHE.get(key)
    if hit is None:
        return None
    at, version, auth = hit
    if version != auth_version(s) or time.monotonic() - at > AUTH_CACHE_S:
        return None
    if auth.session is not None and auth.session.expires_at < utcnow():
        return None
    return auth


def _remember(key: tuple, version: tuple, auth: Authenticated) -> None:
    with _AUTH_LOCK:
        if len(_AUTH_CACHE) > 10_000:
            _AUTH_CACHE.clear()
        _AUTH_CACHE[key] = (time.monotonic(), version, auth)


def _authenticate(request: Request, s: Session) -> Authenticated | None:
    """Who is asking, from an API token or the session cookie.

    A successful look-up is reused for up to :data:`AUTH_CACHE_S` seconds, and only while no
    user, token, session or organisation was written by this process since (the ``auth``
    data version, :mod:`casip.platform.data_version`, which every process's writes move in the
    database): a logout, a revoked token or a deactivated user takes effect at once here, and
    within ``data_version.DB_CHECK_S`` on other server processes sharing the database."""
    database = db_key(s)
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiProblem(
                401,
                "Authorization header: expected 'Bearer <API token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = (database, "token", security.digest(token.strip()))
        hit = _cached(key, s)
        if hit is not None:
            return hit
        version: tuple | None = auth_version(s)
        row = s.execute(
            sa.select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == key[2])
        ).first()
        if row is None or row[0].revoked_at is not None or not row[1].is_active:
            raise ApiProblem(
                401, "API token unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        tok, user = row
        now = utcnow()
        if tok.last_used_at is None or (now - tok.last_used_at).total_seconds() > 60:
            tok.last_used_at = now  # at most once a minute: keeps reads cheap
            version = None  # this request writes the token row: do not cache before it commits
        result = Authenticated(Actor.of(user, via_token=True), None)
        if version is not None:
            _remember(key, version, result)
        return result
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    key = (database, "cookie", security.digest(cookie))
    hit = _cached(key, s)
    if hit is not None:
        return hit
    version = auth_version(s)
    row = s.execute(
        sa.select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == key[2])
    ).first()
    if row is None or row[0].expires_at < utcnow() or not row[1].is_active:
        return None
    ws = row[0]
    result = Authenticated(Actor.of(row[1]), SessionInfo(ws.id, ws.csrf_token, ws.expires_at))
    _remember(key, version, result)
    return result


def authenticated(
    request: Request, s: Session = Depends(db_session, scope="function")
) -> Authenticated:
    """The API's authentication; 401 without credentials, 403 on a missing CSRF token."""
    auth = _authenticate(request, s)
    if auth is None:
        raise ApiProblem(
            401,
            "log in (session cookie) or send 'Authorization: Bearer <API token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if auth.session is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not security.same(sent, auth.session.csrf_token):
            raise ApiProblem(403, f"missing or wrong {CSRF_HEADER} header (CSRF protection)")
    return auth


def current_actor(auth: Authenticated = Depends(authenticated)) -> Actor:
    return auth.actor


#: route-signature shorthands: ``def route(actor: CurrentActor, s: DbSession)``
DbSession = Annotated[Session, Depends(db_session, scope="function")]
CurrentActor = Annotated[Actor, Depends(current_actor)]


def web_auth(request: Request, s: Session = Depends(db_session, scope="function")) -> Authenticated:
    """The web pages' authentication: redirect to the login page without a session."""
    auth = _authenticate(request, s) if "authorization" not in request.headers else None
    if auth is None or auth.session is None:
        raise LoginRequired(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
    return auth


def require_csrf(auth: Authenticated, token: str | None) -> None:
    """Check the CSRF token of a web form post."""
    if auth.session is None:
        return
    if not token or not security.same(token, auth.session.csrf_token):
        raise ApiProblem(403, "missing or wrong csrf_token form field (CSRF protection)")
