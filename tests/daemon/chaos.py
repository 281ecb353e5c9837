"""Kill -9 the daemon at random points of its syncs; shared by the test and bench/chaos_daemon.py.

Each run is a real ``python -m ltcbridge.daemon sync --once`` process against the two engines;
it is killed with SIGKILL after a random delay, then restarted, until a run completes.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from ltcbridge.daemon.config import load_config

from .loop_data import OUTCOME, REFERRAL, identifier_counts

COMPLETED = (0, 3)


@dataclass
class ChaosLog:
    kills: int = 0
    runs: int = 0
    kill_delays: list[float] = field(default_factory=list)


def sync_process(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ltcbridge.daemon", "sync", "--once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def timed_clean_run(config: Path) -> float:
    """Seconds one uninterrupted sync process takes (to spread kills over its life)."""
    start = time.monotonic()
    process = sync_process(config)
    assert process.wait(timeout=120) in COMPLETED
    return time.monotonic() - start


def kill_and_restart(
    config: Path, attempts: int, window: tuple[float, float], rng: random.Random, log: ChaosLog
) -> None:
    """``attempts`` syncs, each killed at a random moment of ``window`` seconds after its cycle
    began (its run row appeared in the state: import time does not count) unless it finished
    first; then one run to completion."""
    state_path = load_config(config).state_path
    for _ in range(attempts):
        runs_before = _runs(state_path)
        process = sync_process(config)
        while process.poll() is None and _runs(state_path) == runs_before:
            time.sleep(0.01)
        delay = rng.uniform(*window)
        try:
            process.wait(timeout=delay)  # it may finish first: then that run simply completed
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            log.kills += 1
            log.kill_delays.append(round(delay, 3))
        log.runs += 1
    for _ in range(10):  # an interrupted run leaves work; complete it (and nothing more)
        process = sync_process(config)
        log.runs += 1
        if process.wait(timeout=120) in COMPLETED:
            return
    raise AssertionError("the sync did not complete after the kills")


def _runs(state_path: Path) -> int:
    """How many cycles have started (read beside the daemon: WAL lets both work)."""
    if not state_path.exists():
        return 0
    with closing(sqlite3.connect(state_path, timeout=5)) as db:
        try:
            return db.execute("SELECT count(*) FROM run").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is being created right now
            return 0


def loop_fingerprint(gp: str, provider: str) -> dict[str, dict[str, int]]:
    """Every business identifier on both servers with how many resources carry it."""
    return {
        "provider ServiceRequest": identifier_counts(provider, "ServiceRequest", REFERRAL),
        "provider Task": identifier_counts(provider, "Task", REFERRAL),
        "provider Patient": identifier_counts(
            provider, "Patient", "https://fhir.nhs.uk/Id/nhs-number"
        ),
        "provider Goal": identifier_counts(
            provider, "Goal", "https://ltcbridge.github.io/fhir/Id/goal"
        ),
        "gp Observation": identifier_counts(gp, "Observation", OUTCOME),
        "gp Encounter": identifier_counts(gp, "Encounter", OUTCOME),
        "gp Task": identifier_counts(gp, "Task", REFERRAL),
        "gp Provenance": identifier_counts(gp, "Provenance", OUTCOME),
    }
