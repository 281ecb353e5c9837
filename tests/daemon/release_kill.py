"""Run the daemon's release step in a process that kills itself (SIGKILL) at one named point.

``python release_kill.py CONFIG DAY POINT``: the practice's clock reads DAY; POINT is where the
process dies, exactly as a power cut there would stop it (nothing after runs, no cleanup). Used by
tests/daemon/test_releases_crash.py, which then runs the step again and counts what left.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import date
from typing import Any

from ltcbridge.daemon import releases
from ltcbridge.daemon.config import load_config
from ltcbridge.daemon.state import StateStore
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.feed.transport.folder import FolderTransport

# point -> (object, method, kill before (True) or after (False) the real call)
POINTS: dict[str, tuple[Any, str, bool]] = {
    "history-recorded": (HistoryStore, "record", False),
    "before-receipt": (ReceiptStore, "record_sealed", True),
    "sealed": (ReceiptStore, "mark_sending", True),
    "delivered": (FolderTransport, "deliver", False),
    "sent-before-index": (releases.ReleaseIndex, "update", True),
}


def die_at(owner: Any, name: str, before: bool) -> None:
    real: Callable[..., Any] = getattr(owner, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        if before:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, dying)


def main(config_path: str, day: str, point: str) -> int:
    config = load_config(config_path)
    releases.today = lambda: date.fromisoformat(day)  # type: ignore[assignment]
    if point != "none":
        die_at(*POINTS[point])
    state = StateStore(config.state_path)
    summary = releases.run_releases(config, state)
    state.close()
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
