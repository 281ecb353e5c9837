"""What ``ltcbridge status`` shows: last run, backlog, quarantine, next run, monthly releases."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from ltcbridge.daemon.config import Config
from ltcbridge.daemon.lock import in_use
from ltcbridge.daemon.releases import release_health
from ltcbridge.daemon.state import StateStore


@dataclass(frozen=True)
class Status:
    last_run: dict[str, Any] | None
    last_success: str | None
    backlog: int
    quarantine: int
    next_run: str | None
    set_aside: list[str]
    running: bool = False  # a process holds the state file now

    @property
    def release_errors(self) -> list[str]:
        """The monthly releases' problems in the last run (a release that could not be
        prepared, sealed or sent, and why): also in the health file's ``errors``."""
        return list((self.last_run or {}).get("summary", {}).get("release_errors", []))

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs for a table a person reads."""
        run = self.last_run
        if run is None:
            last = "never"
        elif run["status"] == "running" and not self.running:
            last = (
                f"interrupted: started at {run['started_at']}, the process ended before it "
                "finished (stopped hard, crashed or a power cut); nothing committed was lost "
                "and the next run resumes"
            )
        elif run["status"] == "running":
            last = f"running since {run['started_at']}"
        else:
            last = f"{run['status']} at {run['finished_at'] or run['started_at']}"
        if run and run["summary"].get("error"):
            last += f" ({run['summary']['error']})"
        return [
            ("last run", last),
            ("last successful run", self.last_success or "never"),
            ("backlog (effects waiting to be sent or written)", str(self.backlog)),
            ("quarantined resources", str(self.quarantine)),
            (
                "effects set aside (kept failing; `ltcbridge replay` tries them again)",
                "; ".join(self.set_aside) or "none",
            ),
            ("next run due", self.next_run or "at the next start of the daemon"),
        ]


def read_status(config: Config, state: StateStore) -> Status:
    run = state.last_run()
    ok = state.last_run("ok")
    next_run = None
    if run is not None:
        started = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
        next_run = (started + timedelta(seconds=config.every_seconds)).isoformat(timespec="seconds")
    return Status(
        last_run=None if run is None else {**dict(run), "summary": json.loads(run["summary"])},
        last_success=ok["finished_at"] if ok else None,
        backlog=state.backlog(),
        quarantine=state.quarantine_count(),
        next_run=next_run,
        running=in_use(config.state_path),
        set_aside=[
            f"{r['key']} ({r['kind']} to {r['target']}: {r['last_error']}, {r['attempts']} tries)"
            for r in state.set_aside_effects()
        ],
    )


def status_document(config: Config, state: StateStore) -> dict[str, Any]:
    """What ``ltcbridge status --json`` prints: the table's facts for a monitoring script, with
    the releases as the health file shows them (waiting for approval, failed) and the last
    run's release problems."""
    status = read_status(config, state)
    releases = {**release_health(config), "last_run_errors": status.release_errors}
    return {**asdict(status), "releases": releases}
