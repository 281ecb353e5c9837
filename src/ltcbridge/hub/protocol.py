"""The commissioner hub's storage contract, so that receiving and storing can be built apart.

``hub.receive`` verifies and checks releases and then talks to a store only through this
protocol; the SQLite/PostgreSQL store implements it. ``add_release`` must be all-or-nothing:
a release is either wholly stored or not at all, never half.
"""

from __future__ import annotations

from typing import Any, Protocol

from ltcbridge.feed.release import ReleaseMeta


class HubStore(Protocol):
    """Where received releases and rejections are kept."""

    def has_release(self, release_id: str) -> bool: ...

    def last_sequence(self, sender: str, agreement_id: str) -> int | None: ...

    def add_release(self, meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None: ...

    def add_rejection(
        self, received_at: str, sender: str | None, reason: str, detail: str
    ) -> None: ...
