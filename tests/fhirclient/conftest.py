"""Fixtures for the FHIR client tests: a freshly reset engine, and fake time."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest


@pytest.fixture
def engine(fhir_engine: str) -> str:
    """The engine's base URL, emptied first (test-only ``POST /$reset``) so tests are isolated."""
    httpx.post(f"{fhir_engine}/$reset", timeout=10).raise_for_status()
    return fhir_engine


@dataclass
class FakeTime:
    """Injectable sleep/clock: sleeping advances the clock instantly and records the delay."""

    now: float = 1_000.0
    wall: float = 1_700_000_000.0
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def client_kwargs(self) -> dict[str, object]:
        return {"sleep": self.sleep, "clock": self.clock, "now": self.wall_clock}


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
