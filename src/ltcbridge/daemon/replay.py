"""Re-reading quarantined resources after a mapping (or the source) was fixed."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ltcbridge.daemon.pull import store_resource
from ltcbridge.daemon.state import StateStore
from ltcbridge.read import Reader


@dataclass(frozen=True)
class ReplayResult:
    released: int
    still_quarantined: int


def replay_quarantine(state: StateStore, reader: Reader) -> ReplayResult:
    """One transaction: each item that now reads is stored and leaves quarantine.

    Referrals it makes possible are decided by the next cycle, like any other new entry.
    """
    released = 0
    with state.unit():
        for row in state.quarantined():
            if store_resource(state, reader, json.loads(row["raw"])):
                released += 1
                state.audit("replayed", row["resource"], reason=row["reason"])
    return ReplayResult(released, state.quarantine_count())
