"""Re-reading quarantined resources after a mapping (or the source) was fixed."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ltcbridge.daemon.pull import store_resource
from ltcbridge.daemon.state import StateStore
from ltcbridge.identifiable.read import Reader


@dataclass(frozen=True)
class ReplayResult:
    released: int
    still_quarantined: int
    resumed: int = 0


def replay_quarantine(state: StateStore, reader: Reader) -> ReplayResult:
    """One transaction: each item that now reads is stored and leaves quarantine, and each
    effect set aside goes back in the outbox.

    Referrals it makes possible are decided by the next cycle, like any other new entry.
    """
    released = 0
    with state.unit():
        for row in state.quarantined():
            if store_resource(state, reader, json.loads(row["raw"])):
                released += 1
                state.audit("replayed", row["resource"], reason=row["reason"])
        resumed = _resume_set_aside(state)
    return ReplayResult(released, state.quarantine_count(), resumed)


def _resume_set_aside(state: StateStore) -> int:
    """Effects set aside after failing again and again go back in the outbox (after the
    endpoint or the data was fixed); each is checked again before it is performed."""
    rows = state.set_aside_effects()
    for row in rows:
        state.audit("effect-resumed", row["key"], recipient=row["target"], reason=row["last_error"])
    state.resume_set_aside()
    return len(rows)
