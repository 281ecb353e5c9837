"""Retry policy, Retry-After parsing, a per-endpoint rate limit and a circuit breaker.

Clocks and sleep are injected everywhere so tests can run backoff schedules in microseconds and
assert on the delays that *would* have been slept.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from .errors import CircuitOpenError

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try before giving up on one request.

    ``budget`` bounds the total time one logical request may take, sleeps included, so a caller
    can reason about worst-case latency; a Retry-After longer than what is left ends the retries.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    budget: float = 120.0
    jitter: float = 0.5  # up to this fraction of the delay is randomised, to avoid retry storms

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with jitter for the given 1-based attempt number."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return delay * (1 - self.jitter * rng.random())


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(slots=True)
class RateLimiter:
    """Spaces requests to at most ``per_second`` on one endpoint (a simple leaky bucket).

    Providers publish rate limits; staying under them is cheaper than being answered 429.
    """

    per_second: float
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    _next_slot: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def acquire(self) -> None:
        async with self._lock:
            now = self.clock()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + 1.0 / self.per_second
        if wait > 0:
            await self.sleep(wait)


@dataclass(slots=True)
class CircuitBreaker:
    """Stops hammering an endpoint that keeps failing.

    After ``threshold`` consecutive failed attempts the circuit opens: requests fail at once with
    :class:`CircuitOpenError` for ``cooldown`` seconds. Then one trial request is let through
    (half-open); success closes the circuit, failure opens it again.
    """

    endpoint: str
    threshold: int = 8
    cooldown: float = 60.0
    clock: Clock = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    last_failure: str = ""

    def check(self) -> None:
        """Raise :class:`CircuitOpenError` while the circuit is open."""
        if self.opened_at is None:
            return
        remaining = self.opened_at + self.cooldown - self.clock()
        if remaining <= 0:
            self.opened_at = None  # half-open: let one trial through
            self.failures = self.threshold - 1
            return
        raise CircuitOpenError(
            f"FHIR endpoint {self.endpoint} looks down: {self.failures} consecutive failed "
            f"requests (last: {self.last_failure}). The client is not sending it requests for "
            f"another {remaining:.0f}s. Check the endpoint's status page, your network/VPN and "
            "credentials; the client will try again by itself after that."
        )

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self, reason: str) -> None:
        self.failures += 1
        self.last_failure = reason
        if self.failures >= self.threshold:
            self.opened_at = self.clock()
