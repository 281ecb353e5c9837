"""One daemon per state file: a second sync on the same state waits for none, it refuses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ltcbridge.errors import LtcbridgeError


class AlreadyRunning(LtcbridgeError):
    """Another ltcbridge process holds the state file."""


@contextmanager
def single_instance(state_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``STATE.lock`` (fcntl on POSIX, msvcrt on Windows).

    The operating system drops the lock when the process dies, even on kill -9.
    """
    lock_path = state_path.with_name(state_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole block
    try:
        try:
            _lock(handle.fileno())
        except OSError:
            raise AlreadyRunning(
                f"another ltcbridge sync or daemon is using {state_path}: wait for it to finish, "
                "or stop the service (systemctl stop ltcbridge) before running this by hand"
            ) from None
        yield
    finally:
        handle.close()


def in_use(state_path: Path) -> bool:
    """Is some process holding the state file's lock right now (a sync or daemon running)?
    A run recorded as "running" with nobody holding the lock ended without finishing."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    if not lock_path.exists():
        return False
    with open(lock_path, "a+b") as handle:
        try:
            _lock(handle.fileno())
        except OSError:
            return True
    return False  # closing the handle released the lock just taken


def _lock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
