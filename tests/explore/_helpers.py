"""Picklable task functions for the executor tests (importable by worker processes).

The tests put this folder on the workers' path: spawned processes inherit ``sys.path`` from
pytest, and the Dask workers started as subprocesses get it through ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def headline(design) -> tuple[float, float, float]:
    """Wh/kg, Wh/L and $/kWh of a design, through the public API."""
    from casip.design.api import evaluate

    m = evaluate(design)
    return m.specific_energy_Wh_kg, m.energy_density_Wh_L, m.cost_usd_kWh


def double_or_fail(x: float) -> float:
    if x < 0:
        raise ValueError(f"negative input {x}")
    return 2 * x


class UnpicklableError(Exception):
    """An exception that holds a lock, so it cannot be pickled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_unpicklable(x) -> None:
    raise UnpicklableError(f"holds a lock, item {x}")


def sleep_and_mark(arg: tuple[str, int, float]) -> int:
    """Mark the task as started (a file in ``folder``), then sleep."""
    folder, i, seconds = arg
    Path(folder, f"{i}.started").touch()
    time.sleep(seconds)
    return i


def telemetry_env(_) -> str | None:
    return os.environ.get("PYBAMM_DISABLE_TELEMETRY")


def worker_pid(_) -> int:
    time.sleep(0.2)
    return os.getpid()


def die_on_zero(x: int) -> int:
    """Kill the worker process on item 0 (a crash in native code looks like this)."""
    if x == 0:
        time.sleep(0.2)
        os._exit(3)
    time.sleep(0.05)
    return x
