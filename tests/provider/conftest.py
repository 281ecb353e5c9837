"""Fixtures for the provider tests: a freshly emptied FHIR engine, and NHS test numbers."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def engine(fhir_engine: str) -> str:
    """The engine's base URL, emptied first (test-only ``POST /$reset``) so tests are isolated."""
    httpx.post(f"{fhir_engine}/$reset", timeout=10).raise_for_status()
    return fhir_engine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
