"""What every transport shares: the interface, the two kinds of failure, and the retry policy.

A failure is *transient* only when the release certainly did not arrive (the connection was
refused, the server said "busy, try later") or when the far end is idempotent on the release id;
only those are retried. Anything else stops at once with a message saying what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from ltcbridge.errors import LtcbridgeError

T = TypeVar("T")

# The MESH workflow ID unless agreed otherwise; here, not in mesh.py, so that the command line
# can show it without importing mesh-client (an extra).
DEFAULT_WORKFLOW_ID = "LTCBRIDGE_FEED"


class DeliveryError(LtcbridgeError):
    """The release was not delivered and retrying will not help."""


class TransientDeliveryError(DeliveryError):
    """The release was not delivered this time; the same attempt may succeed later."""


@dataclass(frozen=True)
class SealedFile:
    """A sealed release as it travels: the token and the ids readable from its header."""

    release_id: str
    sequence: int
    token: str

    @property
    def filename(self) -> str:
        return f"{self.release_id}.jwe"


class Transport(Protocol):
    """One way of handing a sealed release to the recipient."""

    name: str

    def deliver(self, release: SealedFile) -> str:
        """Hand the release over; return the transport's message id. Raise DeliveryError."""
        ...

    def was_delivered(self, release: SealedFile, message_id: str | None) -> bool:
        """After an interrupted attempt: did the recipient get it after all?"""
        ...

    def acknowledged(self, message_id: str) -> bool | None:
        """Has the recipient acknowledged it? None when the transport cannot tell."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures; tests pass tiny waits so they stay fast."""

    attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 60.0

    def run(self, action: Callable[[], T], on_retry: Callable[[int, str], None] | None = None) -> T:
        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                on_retry(state.attempt_number, str(state.outcome.exception()))

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.initial_wait, max=self.max_wait),
            retry=retry_if_exception_type(TransientDeliveryError),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(action)
