"""Platform settings, from arguments or the environment (``CASIP_*`` variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("casip-platform")


def _env_number(name: str, default, kind: type = int, expected: str = "an integer"):
    """The environment variable ``name`` as ``kind``, ``default`` when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected {expected}") from None


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def check_price_set(name: str) -> str:
    """The label of the price set ``name`` (a bundled set or a YAML file; empty: the most
    recent bundled set), else ``ValueError`` naming the setting and the sets there are.

    Parameters
    ----------
    name : str
        The ``price_set`` setting.

    Returns
    -------
    str
        The label stored with every result priced by it (e.g. ``china-2025``).
    """
    from casip.cost.prices import load_price_set
    from casip.errors import CasipInputError

    try:
        return load_price_set(name or None).label
    except CasipInputError as exc:
        raise ValueError(f"price_set={name!r}: {exc}") from None


@dataclass
class Settings:
    """Everything the server needs to run.

    Attributes
    ----------
    data_dir : Path
        Folder for the SQLite database (when no URL is given), the test-data store and uploads in
        progress.
    database_url : str
        SQLAlchemy URL; ``sqlite:///<data_dir>/casip.db`` by default. PostgreSQL:
        ``postgresql+psycopg://user:password@host:5432/dbname``.
    k_anonymity : int
        Minimum number of distinct organisations behind any aggregate shown (default 3).
    max_upload_bytes : int
        Largest cycler file accepted (default 512 MiB).
    max_json_bytes : int
        Largest request body of every route other than the cycler-file upload: JSON bodies and
        the web forms (default 1 MiB). Larger bodies are refused with 413 before they are read
        or parsed and before authentication (:mod:`casip.platform.limits`).
    max_header_bytes : int
        Largest request head: request line (method, path, query) and header fields (default
        32 KiB). ``casip serve`` also gives it to uvicorn's h11 parser, which stops buffering a
        longer head (400); the middleware answers 431 under any server.
    max_headers : int
        Most header fields in one request (default 100); more: 431.
    seed_demo : bool
        Seed the demo consortium on first start.
    demo_jobs : bool
        On the first start with the demo, queue fast-charge simulations of a few shared demo
        designs (PyBaMM, in the background) so that the charge-time KPI has data.
    job_workers : int
        Jobs one worker process runs at once (each in its own child process).
    embedded_workers : int
        Worker processes (``casip worker``) started with the server: by the app itself
        (:func:`casip.platform.app.create_app`) or, for several API processes, once by
        ``casip serve``. 0: the operator runs ``casip worker`` processes
        (docs/platform-operator.md).
    job_lease_s, job_heartbeat_s : float
        A running job's lease, renewed every ``job_heartbeat_s`` by its worker's supervisor; a
        job whose lease ran out (worker killed or stalled) is claimed again by another worker.
    job_wall_clock_s : float
        Hard wall-clock limit of one job attempt, enforced by killing its process.
    job_max_attempts : int
        Attempts of a job whose worker was lost before it is failed.
    worker_poll_s : float
        How often an idle worker looks for queued jobs.
    worker_nice : int
        CPU priority increment (``nice``, 0-19) a ``casip worker`` process gives itself and its
        jobs at start (default 10): on a host shared with API processes, requests get the CPU
        before simulations, whose latency matters less (``benchmarks/bench_platform_scale.py``;
        docs/workers.md). 0 keeps the priority it was started with; on a host that runs
        only workers it changes nothing.
    request_threads : int
        Threads that run request handlers (default 8).
    session_hours : int
        Lifetime of a browser login.
    secure_cookies : bool
        Send the session cookie only over HTTPS (``CASIP_SECURE_COOKIES=1`` behind TLS).
    audit_journal_fsync : bool
        ``fdatasync`` the audit journal before answering an audited read (default on;
        ``CASIP_AUDIT_JOURNAL_FSYNC=0`` keeps reads recorded across a killed server but not
        across a power loss). See :class:`casip.platform.audit.Journal`.
    privacy_epsilon : float
        Privacy loss (epsilon, pure differential privacy, per organisation) of one release of one
        benchmark KPI (``CASIP_PRIVACY_EPSILON``, default 2.0). See docs/security.md.
    privacy_release_every : str
        Release slot: each KPI is released at most once per ``day``, ``week``, ``month`` or
        ``quarter`` (``CASIP_PRIVACY_RELEASE_EVERY``, default ``quarter``).
    privacy_budget : float
        Total epsilon per organisation over one budget period, every KPI and release together
        (``CASIP_PRIVACY_BUDGET``, default 60); when it is spent, the last releases are served.
    privacy_budget_period : str
        ``month``, ``quarter`` or ``year`` (``CASIP_PRIVACY_BUDGET_PERIOD``, default ``year``).
    privacy_check_s : float
        Seconds between two checks of the release schedule (``CASIP_PRIVACY_CHECK_S``).
    login_failures_per_account_address : int
        Failed logins allowed for one account from one client address per throttle window
        (default 5, ``CASIP_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS``); a success clears it. 0: no
        such limit. See :mod:`casip.platform.throttle`.
    login_failures_per_account : int
        Failed logins allowed for one account from all addresses together per window (default
        50, ``CASIP_LOGIN_FAILURES_PER_ACCOUNT``): looser, so that one attacker cannot lock a
        user out. 0: no such limit.
    login_failures_per_address : int
        Failed logins allowed from one client address (IPv6: its /64) for all accounts together
        per window (default 30, ``CASIP_LOGIN_FAILURES_PER_ADDRESS``). 0: no such limit.
    login_throttle_window_s : int
        Length of the login throttle's sliding window in seconds (default 900,
        ``CASIP_LOGIN_THROTTLE_WINDOW_S``).
    price_set : str
        The price set of every materials and cell cost the platform stores
        (``CASIP_PRICE_SET``): a bundled set's name or a price-set YAML file; by default the
        library's most recent set (:func:`casip.cost.default_price_set_name`). Changing it
        makes every stored design result stale until recomputed (:mod:`casip.platform.designs`).
    recompute_on_start : bool
        Recompute, at start-up, the stored design results of another engine version or price
        set (``CASIP_RECOMPUTE_ON_START``, default on; ``casip platform recompute`` does the
        same offline).
    """

    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CASIP_DATA_DIR", DEFAULT_DATA_DIR))
    )
    database_url: str = ""
    k_anonymity: int = field(default_factory=lambda: _env_int("CASIP_K_ANONYMITY", 3))
    max_upload_bytes: int = field(
        default_factory=lambda: _env_int("CASIP_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
    )
    max_json_bytes: int = field(
        default_factory=lambda: _env_int("CASIP_MAX_JSON_BYTES", 1024 * 1024)
    )
    max_header_bytes: int = field(
        default_factory=lambda: _env_int("CASIP_MAX_HEADER_BYTES", 32 * 1024)
    )
    max_headers: int = field(default_factory=lambda: _env_int("CASIP_MAX_HEADERS", 100))
    seed_demo: bool = field(
        default_factory=lambda: os.environ.get("CASIP_SEED_DEMO", "1") not in ("0", "false")
    )
    demo_jobs: bool = field(
        default_factory=lambda: os.environ.get("CASIP_DEMO_JOBS", "1") not in ("0", "false")
    )
    job_workers: int = field(default_factory=lambda: _env_int("CASIP_JOB_WORKERS", 1))
    embedded_workers: int = field(
        default_factory=lambda: _env_int("CASIP_EMBEDDED_WORKERS", 1)
    )
    job_lease_s: float = field(default_factory=lambda: _env_float("CASIP_JOB_LEASE_S", 30.0))
    job_heartbeat_s: float = field(
        default_factory=lambda: _env_float("CASIP_JOB_HEARTBEAT_S", 5.0)
    )
    job_wall_clock_s: float = field(
        default_factory=lambda: _env_float("CASIP_JOB_WALL_CLOCK_S", 6 * 3600.0)
    )
    job_max_attempts: int = field(default_factory=lambda: _env_int("CASIP_JOB_MAX_ATTEMPTS", 3))
    worker_poll_s: float = field(default_factory=lambda: _env_float("CASIP_WORKER_POLL_S", 0.5))
    worker_nice: int = field(default_factory=lambda: _env_int("CASIP_WORKER_NICE", 10))
    request_threads: int = field(default_factory=lambda: _env_int("CASIP_REQUEST_THREADS", 8))
    session_hours: int = field(default_factory=lambda: _env_int("CASIP_SESSION_HOURS", 12))
    #: mark the session cookie Secure (set when the platform is served over HTTPS)
    secure_cookies: bool = field(
        default_factory=lambda: os.environ.get("CASIP_SECURE_COOKIES", "0") in ("1", "true")
    )
    #: sync the audit journal of answered reads to disk before each answer (casip.platform.audit)
    audit_journal_fsync: bool = field(
        default_factory=lambda: os.environ.get("CASIP_AUDIT_JOURNAL_FSYNC", "1")
        not in ("0", "false")
    )
    #: login throttle (casip.platform.throttle): failures allowed per window, 0 = no limit
    login_failures_per_account_address: int = field(
        default_factory=lambda: _env_int("CASIP_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", 5)
    )
    login_failures_per_account: int = field(
        default_factory=lambda: _env_int("CASIP_LOGIN_FAILURES_PER_ACCOUNT", 50)
    )
    login_failures_per_address: int = field(
        default_factory=lambda: _env_int("CASIP_LOGIN_FAILURES_PER_ADDRESS", 30)
    )
    login_throttle_window_s: int = field(
        default_factory=lambda: _env_int("CASIP_LOGIN_THROTTLE_WINDOW_S", 900)
    )

    privacy_epsilon: float = field(
        default_factory=lambda: _env_float("CASIP_PRIVACY_EPSILON", 2.0)
    )
    privacy_release_every: str = field(
        default_factory=lambda: os.environ.get("CASIP_PRIVACY_RELEASE_EVERY", "quarter")
    )
    privacy_budget: float = field(
        default_factory=lambda: _env_float("CASIP_PRIVACY_BUDGET", 60.0)
    )
    privacy_budget_period: str = field(
        default_factory=lambda: os.environ.get("CASIP_PRIVACY_BUDGET_PERIOD", "year")
    )
    privacy_check_s: float = field(
        default_factory=lambda: _env_float("CASIP_PRIVACY_CHECK_S", 60.0)
    )
    price_set: str = field(default_factory=lambda: os.environ.get("CASIP_PRICE_SET", ""))
    recompute_on_start: bool = field(
        default_factory=lambda: os.environ.get("CASIP_RECOMPUTE_ON_START", "1")
        not in ("0", "false")
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = os.environ.get("CASIP_DATABASE_URL", "") or (
                f"sqlite:///{(self.data_dir / 'casip.db').resolve()}"
            )
        if self.k_anonymity < 2:
            raise ValueError(f"k_anonymity={self.k_anonymity}: expected at least 2")
        from casip.platform.releases import check_privacy_settings

        check_privacy_settings(
            self.privacy_epsilon,
            self.privacy_budget,
            self.privacy_release_every,
            self.privacy_budget_period,
        )
        for name in ("max_json_bytes", "max_header_bytes", "max_headers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: expected a positive integer")
        for name in (
            "login_failures_per_account_address",
            "login_failures_per_account",
            "login_failures_per_address",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: expected 0 (no limit) or more")
        if not 0 <= self.worker_nice <= 19:
            raise ValueError(f"worker_nice={self.worker_nice}: expected 0 to 19 (a nice increment)")
        if self.login_throttle_window_s < 1:
            raise ValueError(
                f"login_throttle_window_s={self.login_throttle_window_s}: expected at least 1"
            )
        check_price_set(self.price_set)

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"
