"""Helpers the provider tests share (a module of its own: `conftest` is ambiguous when
several test folders have one)."""

from __future__ import annotations

import httpx

from ltcbridge.nhs_number import is_valid_nhs_number


def nhs_test_numbers(count: int, start: int = 9990000000) -> list[str]:
    """Valid NHS numbers in the range reserved for testing."""
    found: list[str] = []
    n = start
    while len(found) < count:
        if is_valid_nhs_number(str(n)):
            found.append(str(n))
        n += 1
    return found


def history_total(base: str) -> int:
    """Every version of every resource on the server: unchanged means nothing was written."""
    return httpx.get(f"{base}/_history", params={"_count": 1}, timeout=10).json()["total"]


def count(base: str, resource_type: str) -> int:
    return httpx.get(f"{base}/{resource_type}", params={"_count": 1}, timeout=10).json()["total"]
