"""The long-running service: a cycle on the schedule until SIGTERM or SIGINT.

A signal sets a flag that the cycle checks between units of work: the unit in hand commits (or,
if the process is killed instead, rolls back with SQLite's journal), then the daemon exits 0. The
service manager (systemd, or a Windows service wrapper) restarts it if it ever dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from ltcbridge.daemon.config import Config
from ltcbridge.daemon.cycle import STOPPED, CycleResult, Syncer
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.state import StateStore


class Shutdown:
    """Set once by a signal; read by the cycle between units of work."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def request(self, signum: int | None = None) -> None:
        if not self.event.is_set():
            event("daemon.stopping", signal=signal.Signals(signum).name if signum else "request")
        self.event.set()

    def __call__(self) -> bool:
        return self.event.is_set()

    def install(self) -> None:
        """SIGTERM and SIGINT request a clean stop (the loop's handlers on POSIX)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, self.request, signum)
            except (NotImplementedError, RuntimeError):  # Windows: fall back to signal.signal
                signal.signal(signum, lambda s, _f: loop.call_soon_threadsafe(self.request, s))


async def run_daemon(
    config: Config,
    state: StateStore,
    *,
    shutdown: Shutdown | None = None,
    max_cycles: int | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
) -> int:
    """Cycles every ``[schedule] every`` until asked to stop; returns the exit status (0)."""
    shutdown = shutdown or Shutdown()
    shutdown.install()
    syncer = Syncer(config, state, should_stop=shutdown)
    event("daemon.started", every_seconds=config.every_seconds)
    cycles = 0
    while not shutdown():
        result = await syncer.run_once()
        cycles += 1
        if on_cycle:
            on_cycle(result)
        if result.status == STOPPED or (max_cycles is not None and cycles >= max_cycles):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.event.wait(), timeout=config.every_seconds)
    event("daemon.stopped", cycles=cycles)
    return 0
