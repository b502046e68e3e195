"""Helpers for the tests that start real server processes (importable by name: pytest puts
this folder on ``sys.path``)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc: subprocess.Popen, seconds: float, what: str = "server"
                 ) -> None:
    """Poll ``base``/api/health until it answers 200; fail with the output if ``proc`` exits
    first or ``seconds`` pass."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {proc.stdout.read()}")
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up in {seconds:g} s")
