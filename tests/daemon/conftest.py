"""Daemon fixtures: two real FHIR engines (GP and provider), emptied before each test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ltcbridge.daemon.config import Config, load_config
from ltcbridge.daemon.cycle import CycleResult, Syncer
from ltcbridge.daemon.state import StateStore

from .loop_data import config_text, reset, write_mappings


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
        """One cycle in this process, on a fresh store (as a restarted daemon would open it)."""
        config = self.config
        state = StateStore(config.state_path)
        try:
            return asyncio.run(Syncer(config, state, **kwargs).run_once())  # type: ignore[arg-type]
        finally:
            state.close()

    def state(self) -> StateStore:
        return StateStore(self.config.state_path)


@pytest.fixture
def loop(fhir_engine: str, fhir_engine_2: str, tmp_path: Path) -> Iterator[Loop]:
    reset(fhir_engine, fhir_engine_2)
    mappings = write_mappings(tmp_path / "mappings")
    config_path = tmp_path / "ltcbridge.toml"
    config_path.write_text(config_text(fhir_engine, fhir_engine_2, tmp_path / "state", mappings))
    yield Loop(fhir_engine, fhir_engine_2, config_path, tmp_path)
