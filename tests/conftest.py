"""Shared fixtures. ``fhir_engine``: the real in-memory FHIR R4 engine (tests/fhir_engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

ENGINE_DIR = Path(__file__).parent / "fhir_engine"
STARTUP_SECONDS = 60
REAL_WORLD_ENV = "LTCBRIDGE_REAL_WORLD"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--real-world",
        metavar="DIR",
        default=os.environ.get(REAL_WORLD_ENV),
        help="a real bulk export for the tests marked real_world, read in place; write it with "
        "'=' (--real-world=../shared/real-world/synthea-10-patients: a separate path argument "
        f"would move pytest's rootdir), or set ${REAL_WORLD_ENV}. Without it they are skipped.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_world: reads a real bulk export given by --real-world DIR"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked real_world run only when --real-world names the export (never copied into
    the project); without it they are skipped, saying how to run them."""
    if config.getoption("--real-world"):
        return
    skip = pytest.mark.skip(reason=f"needs --real-world DIR (or ${REAL_WORLD_ENV})")
    for item in items:
        if "real_world" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_world(request: pytest.FixtureRequest) -> Path:
    """The real bulk export given by --real-world; a missing directory fails (never a skip)."""
    directory = Path(request.config.getoption("--real-world"))
    if not directory.is_dir():
        pytest.fail(f"--real-world {directory} is not a directory")
    return directory


def _engine_command() -> list[str]:
    """``node server.mjs 0``, or a clear failure saying what is missing (never a skip)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not on PATH: the FHIR engine for integration tests needs Node >= 20.19 "
            "(`bash scripts/test-setup` installs it)"
        )
    if not (ENGINE_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(
            "tests/fhir_engine/node_modules is missing: run "
            "`bash scripts/test-setup` (or `npm ci --prefix tests/fhir_engine`)"
        )
    return [node, str(ENGINE_DIR / "server.mjs"), "0"]


def _read_port(process: subprocess.Popen[str], stderr: IO[bytes]) -> int:
    """The port from the engine's first line, ``LISTENING <port>``, within the startup limit."""
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()))
    reader.start()
    reader.join(STARTUP_SECONDS)
    line = first_line[0] if first_line else ""
    if not line.startswith("LISTENING "):
        process.kill()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
        pytest.fail(f"FHIR engine did not start (first line {line!r}):\n{errors}")
    return int(line.split()[1])


@contextmanager
def running_engine(env: dict[str, str] | None = None) -> Iterator[str]:
    """Start one engine; yields its base URL, e.g. ``http://127.0.0.1:40123/fhir``; stops it."""
    # stderr goes to a file, not a pipe, so a chatty engine can never block on it.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            _engine_command(),
            cwd=ENGINE_DIR,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **(env or {})},
        )
        try:
            base_url = f"http://127.0.0.1:{_read_port(process, stderr)}/fhir"
            httpx.get(f"{base_url}/metadata", timeout=10).raise_for_status()
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def fhir_engine() -> Iterator[str]:
    """Base URL of a running engine, e.g. ``http://127.0.0.1:40123/fhir``; stopped at the end."""
    with running_engine() as base_url:
        yield base_url


@pytest.fixture(scope="session")
def fhir_engine_2() -> Iterator[str]:
    """A second, independent engine (e.g. a provider beside a GP); stopped at the end."""
    with running_engine() as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def practice_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's own practice data directory (history, receipts, quarantine), never the
    home directory of whoever runs the tests."""
    folder = tmp_path_factory.mktemp("practice-data")
    monkeypatch.setenv("LTCBRIDGE_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def independent_engine() -> Iterator[str]:
    """The engine behaving like an independent server (``ENGINE_PROFILE=independent``): no
    type- or system-level ``_history`` (optional in R4), its own cursor paging."""
    with running_engine({"ENGINE_PROFILE": "independent"}) as base_url:
        yield base_url
