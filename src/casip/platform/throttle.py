"""Login throttling: failed logins are limited per account and per client address.

Every login path (``POST /api/login`` and the web form ``POST /login``) wraps its password
check in :func:`login_attempt`. Before the password hash is computed (Argon2id, the expensive
part of a login), one attempt is taken from three moving-window limits of the `limits`_
library (:class:`~limits.strategies.MovingWindowRateLimiter`: at most *n* counted attempts in
any period of the window's length, exactly - not the approximation of the fixed or
sliding-window-counter strategies, which let up to twice the limit through around a window's
boundary):

========================  ===========================================  ==================
scope                     key                                          default
========================  ===========================================  ==================
``account_address``       the e-mail (normalised, hashed) and address  5 per 15 min
``account``               the e-mail alone (every address)             50 per 15 min
``address``               the client address alone (every account)     30 per 15 min
========================  ===========================================  ==================

(:class:`~casip.platform.settings.Settings` ``login_failures_*`` and
``login_throttle_window_s``.) A refused attempt answers 429 with ``Retry-After`` - the
seconds until the window has room again - and never reaches the password hash; it is audited
(``login_throttled``, at most once a minute per scope and key so that a flood of refused
requests cannot flood the audit log). A *failed* login keeps its attempt. A *successful* one
gives its attempts back (so successes never count) and clears the ``account_address``
counter: the user's own address starts afresh, while the per-account and per-address
counters still remember the failures of others (an attacker who owns an account cannot wipe
the per-address counter by logging into it between guesses, and nobody but the user can
clear the per-account one). Taking the attempt *before* the check, atomically, means
parallel requests cannot overshoot a limit while their hashes run.

An attacker could use the per-account limit to lock a user out. The harm is bounded: the
tight limit is per (account, address), so one attacker address locks out only itself; the
per-account limit is ten times looser, so a lock-out needs failures from at least ten
addresses within a window, and it lasts only while they continue; API tokens are not
throttled; the operator can clear the counters (``DELETE FROM rate_limit_counters``).

Client address: ``request.client.host``, as the ASGI server reports it (uvicorn replaces it
with the ``X-Forwarded-For`` client only for connections from the proxies it trusts,
``FORWARDED_ALLOW_IPS``, by default 127.0.0.1 and ::1: the reverse proxy on the same host that
the operator guide recommends); this module never reads forwarding headers itself. An IPv6
address counts by its /64 network (one host usually holds a whole /64), an IPv4-mapped IPv6
address as its IPv4 address.

Storage: the counters live in the platform's own database (table ``rate_limit_counters``,
:class:`SqlStorage`), so that every server process using the database shares them. `limits`
ships storage for memory, Redis, Memcached and MongoDB but none for SQL databases, and the
platform should not need a Redis server only for this; :class:`SqlStorage` implements
`limits`' storage interface (:class:`limits.storage.Storage` and
:class:`~limits.storage.MovingWindowSupport`) with atomic upserts
(``INSERT .. ON CONFLICT DO UPDATE .. RETURNING``) that work on SQLite (3.35+) and PostgreSQL.

.. _limits: https://limits.readthedocs.io/
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from casip.platform.models import RateLimitCounter, User
from casip.platform.problems import ApiProblem
from casip.platform.settings import Settings

log = logging.getLogger("casip.platform.throttle")

COUNTERS = RateLimitCounter.__table__
#: longest key stored as is (the column's width); longer keys are stored as their SHA-256
MAX_KEY = 255
#: expired counters are deleted every this many increments (per process)
PURGE_EVERY = 256
#: namespace of the login limits' keys
NAMESPACE = "casip-login"


class SqlStorage(Storage, MovingWindowSupport):
    """A `limits` storage on the platform's SQL database (SQLite or PostgreSQL).

    Counters are rows of ``rate_limit_counters`` (key, count, expires_at as a Unix time); a
    row whose ``expires_at`` has passed counts as absent, and such rows are deleted every
    :data:`PURGE_EVERY` increments or hits. Each operation is one short transaction of its
    own, apart from the caller's: a counter is kept even when the request that changed it
    fails.
    Increments are atomic (one ``INSERT .. ON CONFLICT DO UPDATE .. RETURNING`` statement),
    so concurrent processes never lose a count.

    Supports the fixed-window and the moving-window strategies of `limits` (the moving
    window keeps at most ``limit`` rows per key, see :meth:`acquire_entry`).

    Parameters
    ----------
    engine : Engine
        The platform's database engine (its pool is shared with the rest of the server).
    wrap_exceptions : bool
        Raise :class:`limits.errors.StorageError` instead of SQLAlchemy's errors.
    """

    STORAGE_SCHEME = None  # built from an engine, not from a URI: not registered by scheme

    def __init__(self, engine: Engine, wrap_exceptions: bool = False) -> None:
        self.engine = engine
        self._calls = itertools.count(1)
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - the platform runs on these two only
            raise ValueError(f"database {engine.dialect.name!r}: expected sqlite or postgresql")
        self._insert = insert
        super().__init__(None, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    @staticmethod
    def _key(key: str) -> str:
        return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` to ``key``'s counter and return the new count.

        A missing or expired counter starts at ``amount`` and expires ``expiry`` seconds from
        now; a live one keeps its expiry.
        """
        now = time.time()
        ins = self._insert(COUNTERS).values(
            key=self._key(key), count=amount, expires_at=now + expiry
        )
        live = COUNTERS.c.expires_at > now
        stmt = ins.on_conflict_do_update(
            index_elements=[COUNTERS.c.key],
            set_={
                "count": sa.case((live, COUNTERS.c.count + ins.excluded.count), else_=amount),
                "expires_at": sa.case((live, COUNTERS.c.expires_at), else_=now + expiry),
            },
        ).returning(COUNTERS.c.count)
        with self.engine.begin() as conn:
            count = conn.execute(stmt).scalar_one()
        self._tick()
        return int(count)

    def decr(self, key: str, amount: int = 1) -> int:
        """Take ``amount`` from ``key``'s live counter (never below 0); the new count."""
        now = time.time()
        stmt = (
            sa.update(COUNTERS)
            .where(COUNTERS.c.key == self._key(key), COUNTERS.c.expires_at > now)
            .values(count=sa.case((COUNTERS.c.count > amount, COUNTERS.c.count - amount), else_=0))
            .returning(COUNTERS.c.count)
        )
        with self.engine.begin() as conn:
            count = conn.execute(stmt).scalar_one_or_none()
        return int(count or 0)

    def get(self, key: str) -> int:
        """The live count of ``key`` (0 when missing or expired)."""
        with self.engine.connect() as conn:
            count = conn.execute(
                sa.select(COUNTERS.c.count).where(
                    COUNTERS.c.key == self._key(key), COUNTERS.c.expires_at > time.time()
                )
            ).scalar_one_or_none()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        """When ``key``'s counter expires (Unix time; now when missing or expired)."""
        now = time.time()
        with self.engine.connect() as conn:
            at = conn.execute(
                sa.select(COUNTERS.c.expires_at).where(
                    COUNTERS.c.key == self._key(key), COUNTERS.c.expires_at > now
                )
            ).scalar_one_or_none()
        return float(at) if at is not None else now

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every counter; how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        """Delete ``key``'s counter and its moving-window slots (``<key>/<i>``, when stored
        under their own names, i.e. shorter than :data:`MAX_KEY`)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(COUNTERS).where(
                    sa.or_(
                        COUNTERS.c.key == self._key(key),
                        COUNTERS.c.key.startswith(key + "/", autoescape=True),
                    )
                )
            )

    def _tick(self) -> None:
        if next(self._calls) % PURGE_EVERY == 0:
            self.purge_expired()

    def purge_expired(self) -> int:
        """Delete the expired counters; how many."""
        with self.engine.begin() as conn:
            return conn.execute(
                sa.delete(COUNTERS).where(COUNTERS.c.expires_at <= time.time())
            ).rowcount

    # -- moving window: at most ``limit`` entries in any ``expiry`` seconds --------------------
    #
    # limits' Redis storage keeps a list of hit times trimmed to ``limit`` entries; here the
    # entries are ``limit`` slot rows ``<key>/<i>`` (count 1, expires_at = hit time + expiry),
    # so a key never has more than ``limit`` rows. A hit takes a free slot (missing or expired)
    # with a conditional upsert that succeeds for one writer only; no free slot: refused.

    @staticmethod
    def _slots(key: str, limit: int) -> list[str]:
        # zero-padded so that they sort in slot order: writers take and delete slots one by
        # one in sorted order, so that two never wait for each other's locks (PostgreSQL)
        return [SqlStorage._key(f"{key}/{i:05d}") for i in range(limit)]

    def _live(self, conn, key: str, limit: int, now: float) -> dict[str, float]:
        rows = conn.execute(
            sa.select(COUNTERS.c.key, COUNTERS.c.expires_at).where(
                COUNTERS.c.key.in_(self._slots(key, limit)), COUNTERS.c.expires_at > now
            )
        ).all()
        return {k: float(at) for k, at in rows}

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record ``amount`` hits now if fewer than ``limit - amount + 1`` are live."""
        if amount > limit:
            return False
        self._tick()
        now = time.time()
        with self.engine.connect() as conn:
            live = self._live(conn, key, limit, now)
        free = sorted(k for k in self._slots(key, limit) if k not in live)
        taken: list[str] = []
        with self.engine.begin() as conn:
            for slot in free:
                ins = self._insert(COUNTERS).values(key=slot, count=1, expires_at=now + expiry)
                stmt = ins.on_conflict_do_update(
                    index_elements=[COUNTERS.c.key],
                    set_={"count": 1, "expires_at": ins.excluded.expires_at},
                    where=COUNTERS.c.expires_at <= now,  # only a free slot: one writer wins
                ).returning(COUNTERS.c.key)
                if conn.execute(stmt).scalar_one_or_none() is not None:
                    taken.append(slot)
                    if len(taken) == amount:
                        return True
            # not enough free slots (others took them meanwhile): take none
            if taken:
                conn.execute(sa.delete(COUNTERS).where(COUNTERS.c.key.in_(taken)))
        return False

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest live hit, number of live hits); (now, 0) without any."""
        now = time.time()
        with self.engine.connect() as conn:
            live = self._live(conn, key, limit, now)
        if not live:
            return now, 0
        return min(live.values()) - expiry, len(live)

    def release_newest(self, key: str, limit: int, amount: int = 1) -> int:
        """Give back the ``amount`` newest live hits of a moving-window ``key`` (an attempt
        that turned out not to count); how many were released."""
        now = time.time()
        with self.engine.begin() as conn:
            live = self._live(conn, key, limit, now)
            newest = sorted(live, key=live.__getitem__, reverse=True)[:amount]
            for slot in sorted(newest):
                conn.execute(sa.delete(COUNTERS).where(COUNTERS.c.key == slot))
        return len(newest)

    def clear_moving_window(self, key: str, limit: int) -> None:
        """Delete every slot of a moving-window ``key``."""
        slots = self._slots(key, limit)
        with self.engine.begin() as conn:
            present = conn.execute(
                sa.select(COUNTERS.c.key).where(COUNTERS.c.key.in_(slots))
            ).scalars()
            for slot in sorted(present):  # in the writers' order (see _slots)
                conn.execute(sa.delete(COUNTERS).where(COUNTERS.c.key == slot))


# ---------------------------------------------------------------------------------------------
# the login throttle


class LoginThrottled(ApiProblem):
    """A login attempt refused by the throttle: 429 with ``Retry-After``."""

    def __init__(self, scope: str, retry_after: int):
        what = {
            "account_address": "for this account from your address",
            "account": "for this account",
            "address": "from your address",
        }[scope]
        super().__init__(
            429,
            f"too many failed logins {what}: try again in {retry_after} s (Retry-After); "
            "the password was not checked",
            headers={"Retry-After": str(retry_after)},
        )
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Limit:
    scope: str
    item: RateLimitItem
    ids: tuple[str, ...]


def client_address(request: Request) -> str:
    """The address the throttle counts ``request`` under (see the module docstring)."""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:100] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def normalise_email(email: str) -> str:
    """The e-mail as logins compare it (see :func:`casip.platform.api.auth.check_login`)."""
    return email.strip().lower()


def account_key(email: str) -> str:
    """The throttle's key of an account: a digest of the normalised e-mail (bounded length;
    the same whether or not the account exists, so the throttle reveals no accounts)."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]


class LoginThrottle:
    """The three login limits of a platform, on its database (see the module docstring).

    Parameters
    ----------
    engine : Engine
        The platform's database engine.
    settings : Settings
        ``login_failures_per_account_address``, ``login_failures_per_account``,
        ``login_failures_per_address`` (0: that limit is off) and ``login_throttle_window_s``.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.storage = SqlStorage(engine)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.audit_limiter = FixedWindowRateLimiter(self.storage)
        self.audit_item = RateLimitItemPerMinute(1, namespace=NAMESPACE)
        self.window = settings.login_throttle_window_s
        amounts = {
            # order: the cheapest refusal first (one address hammering many accounts)
            "address": settings.login_failures_per_address,
            "account": settings.login_failures_per_account,
            "account_address": settings.login_failures_per_account_address,
        }
        self.items = {
            scope: RateLimitItemPerSecond(n, self.window, namespace=NAMESPACE)
            for scope, n in amounts.items()
            if n > 0
        }

    def limits_for(self, email: str, address: str) -> list[_Limit]:
        """The limits one login attempt for ``email`` from ``address`` counts against."""
        account = account_key(email)
        ids = {
            "address": (address,),
            "account": (account,),
            "account_address": (account, address),
        }
        return [_Limit(scope, item, (scope, *ids[scope])) for scope, item in self.items.items()]

    def acquire(self, email: str, address: str) -> list[_Limit]:
        """Take one attempt from every limit, or none and raise :class:`LoginThrottled`.

        Returns the limits taken (to give back with :meth:`succeeded`)."""
        taken: list[_Limit] = []
        for lim in self.limits_for(email, address):
            if not self.limiter.hit(lim.item, *lim.ids):
                self._give_back(taken)
                raise LoginThrottled(lim.scope, self.retry_after(lim))
            taken.append(lim)
        return taken

    def succeeded(self, taken: list[_Limit]) -> None:
        """A successful login: give its attempts back, clear the (account, address) counter."""
        self._give_back([lim for lim in taken if lim.scope != "account_address"])
        for lim in taken:
            if lim.scope == "account_address":
                self.storage.clear_moving_window(lim.item.key_for(*lim.ids), lim.item.amount)

    def _give_back(self, taken: list[_Limit]) -> None:
        # the newest entry of the key: this attempt's own, or one of a concurrent attempt
        # taken a moment later (the same count either way)
        for lim in taken:
            self.storage.release_newest(lim.item.key_for(*lim.ids), lim.item.amount)

    def retry_after(self, lim: _Limit) -> int:
        """Whole seconds until ``lim`` accepts one more attempt (at least 1): when the oldest
        counted attempt leaves the moving window (`limits`' ``get_window_stats``)."""
        reset_at = self.limiter.get_window_stats(lim.item, *lim.ids).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def should_audit(self, lim_scope: str, email: str, address: str) -> bool:
        """Whether a refusal in ``lim_scope`` is audited now: once a minute per scope and key."""
        ids = {
            "address": (address,),
            "account": (account_key(email),),
            "account_address": (account_key(email), address),
        }[lim_scope]
        key = ("audit", lim_scope, *ids)
        # test first: refusals beyond the first of the minute cost a read, not a write
        return self.audit_limiter.test(self.audit_item, *key) and self.audit_limiter.hit(
            self.audit_item, *key
        )


_LOCK = threading.Lock()


def throttle_of(request: Request) -> LoginThrottle:
    """The app's :class:`LoginThrottle` (made on first use, on the platform's database)."""
    state = request.app.state
    throttle = getattr(state, "login_throttle", None)
    if throttle is None:
        with _LOCK:
            throttle = getattr(state, "login_throttle", None)
            if throttle is None:
                platform = state.platform
                throttle = LoginThrottle(platform.db.engine, platform.settings)
                state.login_throttle = throttle
    return throttle


def _audit_refusal(request: Request, exc: LoginThrottled, email: str, address: str) -> None:
    """Audit a refused login (in a transaction of its own: the request answers with an error
    and its own session is rolled back)."""
    from casip.platform import audit

    platform = request.app.state.platform
    with platform.db.session() as s:
        user_id = s.execute(
            sa.select(User.id).where(sa.func.lower(User.email) == normalise_email(email))
        ).scalar_one_or_none()
        audit.record(
            s,
            "login_throttled",
            item_kind="user" if user_id is not None else None,
            item_id=user_id,
            detail={
                "scope": exc.scope,
                "address": address,
                "retry_after_s": exc.retry_after,
                "known_account": user_id is not None,
            },
        )


@contextmanager
def login_attempt(request: Request, email: str) -> Iterator[None]:
    """Run a login's password check inside the throttle.

    Before the body runs (before any password hash), one attempt is taken from each limit,
    or :class:`LoginThrottled` (429) is raised and the refusal audited. If the body raises
    (a wrong e-mail or password), the attempt stays counted; if it returns, the login
    succeeded and :meth:`LoginThrottle.succeeded` gives the attempts back.

    Parameters
    ----------
    request : Request
        The login request (its app's platform and its client address).
    email : str
        The e-mail as typed.
    """
    throttle = throttle_of(request)
    address = client_address(request)
    try:
        taken = throttle.acquire(email, address)
    except LoginThrottled as exc:
        if throttle.should_audit(exc.scope, email, address):  # once a minute per key
            log.warning("login throttled (%s) from %s", exc.scope, address)
            _audit_refusal(request, exc, email, address)
        raise
    yield  # an exception from the body leaves the attempt counted
    throttle.succeeded(taken)
