"""Login throttling (issue 11): failed logins are limited per account and per client address.

Found by a probe: 30 wrong passwords in 4 s, then the right one worked, each attempt costing a
full Argon2 hash. Here: the default limits on the shared ``server`` (SQLite and PostgreSQL),
each test from its own client address (``TestClient(client=...)``); small limits on two apps
sharing one database (two server processes); the `limits` storage on SQL directly; and a real
``casip serve`` process sharing its counters with another app on the same database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from limits import RateLimitItemPerSecond
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from casip.platform import security
from casip.platform.app import create_app
from casip.platform.db import Database, upgrade
from casip.platform.models import AuditEvent, RateLimitCounter, User
from casip.platform.seed import DEMO_PASSWORD, demo_email
from casip.platform.settings import Settings
from casip.platform.throttle import SqlStorage

BACKENDS = ("sqlite", "postgresql")


def client_from(app, address: str) -> TestClient:
    """A client whose requests come from ``address`` (as ``request.client.host``)."""
    return TestClient(app, client=(address, 50000))


def login(c: TestClient, email: str, password: str) -> httpx.Response:
    return c.post("/api/login", json={"email": email, "password": password})


def assert_throttled(r: httpx.Response, window_s: int) -> int:
    """A 429 problem with a Retry-After within the window; the Retry-After in seconds."""
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 429 and "too many failed logins" in body["detail"]
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= window_s
    return retry


# ---------------------------------------------------------------------------------------------
# default limits on the shared server (5 per account and address, 30 per address, 15 min)


def test_failed_logins_are_refused_before_the_password_hash(server):
    app = server.client.app
    email = demo_email("kestrel", "engineer")
    attacker = client_from(app, "198.51.100.1")
    failed = []
    for _ in range(5):
        t = time.perf_counter()
        assert login(attacker, email, "guess").status_code == 401
        failed.append(time.perf_counter() - t)
    refused = []
    for _ in range(5):
        t = time.perf_counter()
        assert_throttled(login(attacker, email, "guess"), 900)
        refused.append(time.perf_counter() - t)
    # the right password is refused as well: it is not even checked
    r = login(attacker, email, DEMO_PASSWORD)
    assert_throttled(r, 900)
    assert "not checked" in r.json()["detail"] and "set-cookie" not in r.headers
    # ... and a refusal costs no Argon2 hash: faster than one hash alone
    one_hash = min(
        _timed(lambda: security.verify_password(security.DUMMY_HASH, "guess")) for _ in range(3)
    )
    assert min(refused) < one_hash / 2 < min(failed), (refused, one_hash, failed)
    # the user, from another address, is not locked out by the attacker
    assert login(client_from(app, "198.51.100.2"), email, DEMO_PASSWORD).status_code == 200


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def test_the_web_login_form_shares_the_throttle(server):
    app = server.client.app
    email = demo_email("lantern", "engineer")
    browser = client_from(app, "198.51.100.3")
    form = {"email": email, "password": "guess", "next": "/"}
    for _ in range(5):
        r = browser.post("/login", data=form, follow_redirects=False)
        assert r.status_code == 401 and "Wrong e-mail or password" in r.text
    r = browser.post("/login", data={**form, "password": DEMO_PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and "Too many failed logins" in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert 1 <= int(r.headers["Retry-After"]) <= 900
    assert "casip_session" not in r.headers.get("set-cookie", "")
    # the same counters as the API's login
    assert_throttled(login(browser, email, DEMO_PASSWORD), 900)


def test_successes_do_not_count_and_reset_the_account_address_counter(server):
    app = server.client.app
    email, address = demo_email("basalt", "engineer"), "198.51.100.4"
    user = client_from(app, address)
    for _ in range(4):
        assert login(user, email, "typo").status_code == 401
    assert login(user, email, DEMO_PASSWORD).status_code == 200
    for _ in range(4):  # 8 failures in all from here: the success started the pair afresh
        assert login(user, email, "typo").status_code == 401
    assert login(user, email, DEMO_PASSWORD).status_code == 200
    for _ in range(5):  # successes of other accounts from the same address are not counted
        assert login(user, demo_email("basalt", "viewer"), DEMO_PASSWORD).status_code == 200
    throttle = app.state.login_throttle
    by_scope = {lim.scope: lim for lim in throttle.limits_for(email, address)}
    stats = {
        scope: throttle.limiter.get_window_stats(lim.item, *lim.ids).remaining
        for scope, lim in by_scope.items()
    }
    # the failures stay counted per account and per address; the pair was cleared
    assert stats == {"address": 30 - 8, "account": 50 - 8, "account_address": 5}


def test_a_refusal_is_audited_once_a_minute(server):
    app = server.client.app
    email = demo_email("ionics-institute", "engineer")
    attacker = client_from(app, "198.51.100.5")
    for _ in range(5):
        assert login(attacker, email, "guess").status_code == 401
    for _ in range(4):
        assert_throttled(login(attacker, email, "guess"), 900)
    with server.platform.db.session() as s:
        user_id = s.execute(sa.select(User.id).where(User.email == email)).scalar_one()
        rows = (
            s.execute(
                sa.select(AuditEvent).where(
                    AuditEvent.action == "login_throttled", AuditEvent.item_id == user_id
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 1, [r.detail for r in rows]
    assert rows[0].item_kind == "user"
    assert '"scope":"account_address"' in rows[0].detail
    assert '"address":"198.51.100.5"' in rows[0].detail


def test_an_ipv6_client_counts_by_its_64_network(server):
    app = server.client.app
    email = demo_email("programme-office", "viewer")
    for i in range(5):  # five hosts of one /64
        assert login(client_from(app, f"2001:db8:0:1::{i + 1}"), email, "x").status_code == 401
    assert_throttled(login(client_from(app, "2001:db8:0:1::99"), email, DEMO_PASSWORD), 900)
    assert login(client_from(app, "2001:db8:0:2::1"), email, DEMO_PASSWORD).status_code == 200


# ---------------------------------------------------------------------------------------------
# small limits, two server processes (apps) on one database

SMALL = {
    "login_failures_per_account_address": 2,
    "login_failures_per_account": 4,
    "login_failures_per_address": 6,
    "login_throttle_window_s": 120,
}


@pytest.fixture(scope="module", params=BACKENDS)
def two_apps(request, tmp_path_factory, database_url_factory) -> Iterator[tuple]:
    """Two apps (as two server processes would be) on one new database, with small limits."""
    folder = tmp_path_factory.mktemp(f"throttle-{request.param}")
    with database_url_factory(request.param, folder) as url:
        apps = []
        for name in ("a", "b"):
            settings = Settings(data_dir=folder / name, database_url=url, demo_jobs=False, **SMALL)
            apps.append(create_app(settings))
        with TestClient(apps[0]), TestClient(apps[1]):  # both started (migrated, seeded once)
            yield apps[0], apps[1]


def test_counters_are_shared_by_every_server_process(two_apps):
    a, b = two_apps
    email, address = demo_email("kestrel", "viewer"), "203.0.113.1"
    assert login(client_from(a, address), email, "guess").status_code == 401
    assert login(client_from(b, address), email, "guess").status_code == 401
    # the limit of 2 per account and address is reached across the two processes
    assert_throttled(login(client_from(a, address), email, DEMO_PASSWORD), 120)
    assert_throttled(login(client_from(b, address), email, DEMO_PASSWORD), 120)
    with b.state.platform.db.session() as s:  # 2 attempts x 3 scopes, in the shared table
        assert s.execute(sa.select(sa.func.count(RateLimitCounter.key))).scalar_one() >= 6


def test_one_address_cannot_spray_many_accounts(two_apps):
    a, b = two_apps
    address = "203.0.113.2"
    for i in range(6):  # one wrong password on each of six accounts, half through each app
        app = a if i % 2 else b
        assert login(client_from(app, address), f"someone{i}@example.org", "pw").status_code == 401
    r = login(client_from(a, address), demo_email("lantern", "viewer"), DEMO_PASSWORD)
    assert_throttled(r, 120)
    assert "from your address" in r.json()["detail"]
    # another address is not affected
    ok = login(client_from(b, "203.0.113.3"), demo_email("lantern", "viewer"), DEMO_PASSWORD)
    assert ok.status_code == 200


def test_many_addresses_are_limited_per_account_and_the_user_gets_a_retry_after(two_apps):
    a, b = two_apps
    email = demo_email("basalt", "viewer")
    for i in range(4):  # 4 addresses, one failure each: the looser per-account limit (4)
        assert (
            login(client_from(a if i % 2 else b, f"203.0.113.{10 + i}"), email, "pw").status_code
            == 401
        )
    r = login(client_from(a, "203.0.113.20"), email, DEMO_PASSWORD)
    retry = assert_throttled(r, 120)
    assert "for this account" in r.json()["detail"] and retry > 100  # the oldest is fresh
    # unknown accounts are throttled alike (the answers reveal no accounts)
    for i in range(4):
        assert (
            login(client_from(b, f"203.0.113.{30 + i}"), "ghost@example.org", "pw").status_code
            == 401
        )
    assert_throttled(login(client_from(a, "203.0.113.40"), "ghost@example.org", "pw"), 120)


# ---------------------------------------------------------------------------------------------
# the `limits` storage on SQL


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path, database_url_factory) -> Iterator[SqlStorage]:
    with database_url_factory(request.param, tmp_path) as url:
        db = Database(url)
        try:
            upgrade(db.engine)
            yield SqlStorage(db.engine)
        finally:
            db.dispose()


def test_sql_storage_moving_window_is_exact_and_expires(storage):
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(3, 2)
    assert [limiter.hit(item, "k") for _ in range(4)] == [True, True, True, False]
    assert limiter.get_window_stats(item, "k").remaining == 0
    assert limiter.get_window_stats(item, "other").remaining == 3
    # at most `limit` rows per key: a refused hit stores nothing
    with storage.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(RateLimitCounter)).scalar_one()
    assert n == 3
    reset = limiter.get_window_stats(item, "k").reset_time
    time.sleep(max(0.0, reset - time.time()) + 0.1)
    assert limiter.hit(item, "k")  # the oldest hits left the window
    limiter.clear(item, "k")
    assert limiter.get_window_stats(item, "k").remaining == 3
    assert storage.check()


def test_sql_storage_fixed_window_counters(storage):
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(2, 1)
    assert [limiter.hit(item, "f") for _ in range(3)] == [True, True, False]
    key = item.key_for("f")
    assert storage.get(key) == 3 and storage.get_expiry(key) > time.time()
    assert storage.decr(key, 5) == 0
    time.sleep(1.1)
    assert storage.get(key) == 0 and limiter.hit(item, "f")  # expired: starts again
    assert storage.incr("long/" + "x" * 400, 60) == 1  # long keys are stored hashed
    assert storage.incr("long/" + "x" * 400, 60) == 2
    time.sleep(1.1)
    assert storage.purge_expired() >= 1
    assert storage.reset() >= 1 and storage.get("long/" + "x" * 400) == 0


def test_sql_storage_never_lets_concurrent_hits_past_the_limit(storage):
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(5, 60)
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def hit() -> None:
        barrier.wait()
        results.append(limiter.hit(item, "race"))

    threads = [threading.Thread(target=hit) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True] * 5


def test_throttle_settings_come_from_the_environment_and_are_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("CASIP_LOGIN_FAILURES_PER_ACCOUNT", "7")
    monkeypatch.setenv("CASIP_LOGIN_THROTTLE_WINDOW_S", "60")
    s = Settings(data_dir=tmp_path)
    assert (s.login_failures_per_account, s.login_throttle_window_s) == (7, 60)
    assert (s.login_failures_per_account_address, s.login_failures_per_address) == (5, 30)
    with pytest.raises(ValueError, match="login_failures_per_address=-1"):
        Settings(data_dir=tmp_path, login_failures_per_address=-1)


# ---------------------------------------------------------------------------------------------
# a real `casip serve` process and another app on the same database


@pytest.mark.slow
def test_a_served_process_and_another_share_the_counters(tmp_path, live_server_factory):
    data = tmp_path / "data"
    with live_server_factory(data, {"CASIP_LOGIN_FAILURES_PER_ACCOUNT": "3"}) as server:
        base = server.base
        email = demo_email("lantern", "admin")
        body = {"email": email, "password": "guess"}
        for _ in range(2):
            assert httpx.post(base + "/api/login", json=body, timeout=30).status_code == 401
        other = Settings(
            data_dir=tmp_path / "other",
            database_url=f"sqlite:///{(data / 'casip.db').resolve()}",
            demo_jobs=False,
            login_failures_per_account=3,
        )
        with TestClient(create_app(other)) as c:  # a second process on the same database
            assert login(c, email, "guess").status_code == 401  # the 3rd failure
            assert_throttled(login(c, email, DEMO_PASSWORD), 900)
        r = httpx.post(base + "/api/login", json={**body, "password": DEMO_PASSWORD}, timeout=30)
        retry = assert_throttled(r, 900)  # the served process counted the other's failure
        assert 800 < retry <= 900
