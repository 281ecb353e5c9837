"""Daemon fixtures: two real FHIR engines (GP and provider), emptied before each test.

``any_loop`` runs a test twice: with the project's engine as the GP, and with the engine in its
``independent`` profile (no type-level ``_history``, its own cursor paging), as a GP supplier's
server may be.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from ltcbridge.daemon.clients import make_client
from ltcbridge.daemon.config import Config, EndpointConfig, load_config
from ltcbridge.daemon.cycle import CycleResult, Syncer
from ltcbridge.daemon.effects import Pacing
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import FhirClient, RetryPolicy

from .loop_data import config_text, reset, write_mappings

QUICK = RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001, budget=1, jitter=0)


async def _no_pause(seconds: float) -> None:
    """Effects retried within a cycle without waiting (the backoff is the policy's business)."""


INSTANT = Pacing(sleep=_no_pause)


def quick_client(endpoint: EndpointConfig, **kwargs: object) -> FhirClient:
    """A client as the daemon makes it, giving up on an unreachable endpoint at once."""
    kwargs.setdefault("retry", QUICK)
    return make_client(endpoint, **kwargs)  # type: ignore[arg-type]


@dataclass
class Loop:
    """A practice configured against a GP engine and a provider engine."""

    gp: str
    provider: str
    config_path: Path
    tmp: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def sync(self, **kwargs: object) -> CycleResult:
        """One cycle in this process, on a fresh store (as a restarted daemon would open it);
        effects retried within the cycle without pauses."""
        kwargs.setdefault("pacing", INSTANT)
        config = self.config
        state = StateStore(config.state_path)
        try:
            return asyncio.run(Syncer(config, state, **kwargs).run_once())  # type: ignore[arg-type]
        finally:
            state.close()

    def state(self) -> StateStore:
        return StateStore(self.config.state_path)


def make_loop(gp: str, provider: str, tmp_path: Path) -> Loop:
    """Both engines emptied; a practice configured against them in ``tmp_path``."""
    reset(gp, provider)
    mappings = write_mappings(tmp_path / "mappings")
    config_path = tmp_path / "ltcbridge.toml"
    config_path.write_text(config_text(gp, provider, tmp_path / "state", mappings))
    return Loop(gp, provider, config_path, tmp_path)


@pytest.fixture
def loop(fhir_engine: str, fhir_engine_2: str, tmp_path: Path) -> Loop:
    return make_loop(fhir_engine, fhir_engine_2, tmp_path)


@pytest.fixture(params=["project-engine", "independent-engine"])
def any_loop(request: pytest.FixtureRequest, fhir_engine_2: str, tmp_path: Path) -> Loop:
    """The loop with each kind of GP server (the provider is the project's engine)."""
    name = "fhir_engine" if request.param == "project-engine" else "independent_engine"
    return make_loop(request.getfixturevalue(name), fhir_engine_2, tmp_path)


@pytest.fixture(params=["project-engine", "independent-engine"])
def any_loop_engine(request: pytest.FixtureRequest) -> str:
    """A GP engine of each kind, emptied by the test: the project's (type-level _history) and the
    independent profile (none, cursor paging); not ``fhir_engine``, which module-wide loaded
    data (``noisy_gp``) may occupy."""
    name = "fhir_engine_2" if request.param == "project-engine" else "independent_engine"
    return str(request.getfixturevalue(name))
