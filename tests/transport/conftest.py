"""NHS England's real MESH sandbox, started for the session on a free port (never skipped)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

SHARED_KEY = "TestKey"
PASSWORD = "password"
PRACTICE_MAILBOX, HUB_MAILBOX, OTHER_MAILBOX = "X26ABC1", "X26ABC2", "X26ABC3"
STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mesh_sandbox() -> Iterator[str]:
    """Base URL of a running mesh-sandbox (in-memory store, full auth); stopped at the end."""
    port = _free_port()
    env = os.environ | {
        "ENV": "local",
        "AUTH_MODE": "full",
        "STORE_MODE": "memory",
        "SHARED_KEY": SHARED_KEY,
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "mesh_sandbox.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: object) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    log.seek(0)  # type: ignore[attr-defined]
    pytest.fail(
        f"mesh-sandbox did not start (is mesh-sandbox installed?):\n"
        f"{log.read().decode(errors='replace')}"
    )  # type: ignore[attr-defined]
