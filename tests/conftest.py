"""Fixtures shared by all test modules (keep this file small)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real shared data (``../shared/data`` beside the repository).

    ``CASIP_SHARED_DATA`` overrides the location. Tests that use this fixture are skipped, with
    the reason, when the folder is absent (e.g. on a machine that has only the repository).
    """
    env = os.environ.get("CASIP_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        how = "CASIP_SHARED_DATA" if env else "the folder beside the repository"
        pytest.skip(f"shared data not found at {path} ({how}); set CASIP_SHARED_DATA to run")
    return path
