"""Hub fixtures: a real PostgreSQL server for the session, a fresh database per test, and
MeasureReports in the contract's shape."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_data import HUB_CONFIG, PERIODS
from postgres_server import PostgresUnavailable, running_postgres

from ltcbridge.hub.store import HubStoreDb, open_store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> str:
    """One migrated database for the session (creating one per test is slow on a busy box)."""
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute("CREATE DATABASE hub")
    url = postgres_server.rsplit("/", 1)[0] + "/hub"
    open_store(url).close()
    return url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's database, emptied: every test starts from no releases at all."""
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE releases, rejections, figures, practices RESTART IDENTITY CASCADE"
        )
    return postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubStoreDb]:
    """The same tests against both databases."""
    if request.param == "sqlite":
        target = str(tmp_path / "hub.sqlite")
    else:
        target = request.getfixturevalue("postgres_url")
    with open_store(target) as opened:
        yield opened


@pytest.fixture(scope="session")
def demo_feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``ltcbridge demo`` for two months: practice and PCN feeds, and the generator's truth.

    Built with primary suppression only (as the hub config here says), so every masked figure
    is known to be 1..7 and the hub's ranges have upper bounds to check."""
    from dataclasses import replace

    from rich.console import Console

    from ltcbridge.agreement import load_agreement
    from ltcbridge.demo import demo_agreement_path, run_demo

    root = tmp_path_factory.mktemp("demo")
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - lives for the session
    primary_only = replace(load_agreement(demo_agreement_path()), secondary=False)
    for period in PERIODS:
        run_demo(root / period, period, quiet, primary_only)
    return {"root": root, "truth": root / PERIODS[-1] / "gp-export" / "truth.json"}


@pytest.fixture
def hub_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(HUB_CONFIG, encoding="utf-8")
    return path
