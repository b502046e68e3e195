"""Platform settings, from arguments or the environment (``CASIP_*`` variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("casip-platform")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected an integer") from None


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
    seed_demo : bool
        Seed the demo consortium on first start.
    demo_jobs : bool
        On the first start with the demo, queue fast-charge simulations of a few shared demo
        designs (PyBaMM, in the background) so that the charge-time KPI has data.
    job_workers : int
        Background job threads.
    request_threads : int
        Threads that run request handlers (default 8).
    session_hours : int
        Lifetime of a browser login.
    secure_cookies : bool
        Send the session cookie only over HTTPS (``CASIP_SECURE_COOKIES=1`` behind TLS).
    """

    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CASIP_DATA_DIR", DEFAULT_DATA_DIR))
    )
    database_url: str = ""
    k_anonymity: int = field(default_factory=lambda: _env_int("CASIP_K_ANONYMITY", 3))
    max_upload_bytes: int = field(
        default_factory=lambda: _env_int("CASIP_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
    )
    seed_demo: bool = field(
        default_factory=lambda: os.environ.get("CASIP_SEED_DEMO", "1") not in ("0", "false")
    )
    demo_jobs: bool = field(
        default_factory=lambda: os.environ.get("CASIP_DEMO_JOBS", "1") not in ("0", "false")
    )
    job_workers: int = field(default_factory=lambda: _env_int("CASIP_JOB_WORKERS", 1))
    request_threads: int = field(default_factory=lambda: _env_int("CASIP_REQUEST_THREADS", 8))
    session_hours: int = field(default_factory=lambda: _env_int("CASIP_SESSION_HOURS", 12))
    #: mark the session cookie Secure (set when the platform is served over HTTPS)
    secure_cookies: bool = field(
        default_factory=lambda: os.environ.get("CASIP_SECURE_COOKIES", "0") in ("1", "true")
    )

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = os.environ.get("CASIP_DATABASE_URL", "") or (
                f"sqlite:///{(self.data_dir / 'casip.db').resolve()}"
            )
        if self.k_anonymity < 2:
            raise ValueError(f"k_anonymity={self.k_anonymity}: expected at least 2")

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"
