"""What the practice's machine does to the daemon: a clock hours off, a full disk, a damaged
state file, a process killed mid-run, logs read by a machine."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ltcbridge.daemon import pull
from ltcbridge.daemon.__main__ import main
from ltcbridge.daemon.lock import single_instance
from ltcbridge.daemon.runner import run_daemon
from ltcbridge.daemon.state import StateError, StateStore

from .conftest import Loop
from .loop_data import practice_record, put_all

pytestmark = pytest.mark.integration


class _FastClock(datetime):
    """This machine's clock two hours ahead of the servers'."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return datetime.now(tz) + timedelta(hours=2)


def test_a_practice_clock_hours_ahead_misses_no_deletion(
    loop: Loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "datetime", _FastClock)
    put_all(loop.gp, practice_record(2, without_consent=frozenset({1, 2})))
    assert loop.sync().status == "ok"
    httpx.delete(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).raise_for_status()

    second = loop.sync()

    assert second.summary["gp_deletion_method"] == "history"
    assert second.summary["gp_deleted"] == 1
    saved = loop.state().watermark("gp", pull.DELETIONS)
    assert saved is not None
    assert datetime.fromisoformat(saved["since"]) < datetime.now(UTC)  # the server's time


def _full_disk_state(loop: Loop) -> StateStore:
    """The state as it is, on a "disk" with room for a few more pages only (SQLite's
    max_page_count gives the real SQLITE_FULL)."""
    state = StateStore(loop.config.state_path)
    pages = state.db.execute("PRAGMA page_count").fetchone()[0]
    state.db.execute(f"PRAGMA max_page_count = {pages + 2}")
    return state


def test_a_full_disk_fails_the_cycle_cleanly_and_the_daemon_goes_on(loop: Loop) -> None:
    assert loop.sync().status == "ok"  # the state file exists, nearly empty
    put_all(loop.gp, practice_record(60))
    state = _full_disk_state(loop)
    results = []
    code = asyncio.run(
        run_daemon(loop.config, state, max_cycles=2, on_cycle=results.append)
    )  # the daemon's own loop: it must not die

    assert code == 0 and [r.status for r in results] == ["failed", "failed"]
    assert "is full" in (results[0].error or "") and "free some space" in (results[0].error or "")
    state.close()
    recovered = loop.sync()  # space freed
    assert recovered.status == "ok", recovered.error
    assert recovered.summary["referrals_sent"] == 60


@pytest.mark.parametrize("damage", ["not-a-database", "damaged-pages"])
def test_a_damaged_state_file_is_refused_with_what_to_do(
    loop: Loop, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    put_all(loop.gp, practice_record(3))
    assert loop.sync().status == "ok"
    path = loop.config.state_path
    data = bytearray(path.read_bytes())
    if damage == "not-a-database":
        data[:16] = b"not sqlite here!"
    else:  # every page after the first two overwritten: tables and indexes unreadable
        page = int.from_bytes(data[16:18], "big")
        data[2 * page :] = b"\xa5" * (len(data) - 2 * page)
    path.write_bytes(bytes(data))

    with pytest.raises(StateError, match="damaged") as refused:
        StateStore(path)
    assert "move it aside" in str(refused.value) and "backup" in str(refused.value)
    assert main(["status", "--config", str(loop.config_path)]) == 1
    output = capsys.readouterr()
    assert "damaged" in output.err and "Traceback" not in output.err + output.out


def test_status_tells_a_dead_run_from_a_running_one(
    loop: Loop, capsys: pytest.CaptureFixture[str]
) -> None:
    state = loop.state()
    state.start_run()  # as a process killed mid-cycle leaves it: recorded "running"
    with single_instance(loop.config.state_path):  # a process holds the state now
        assert main(["status", "--config", str(loop.config_path)]) == 0
        running = capsys.readouterr().out
    assert main(["status", "--config", str(loop.config_path)]) == 0
    dead = " ".join(capsys.readouterr().out.split())
    state.close()

    assert "running since" in running and "interrupted" not in running
    assert "interrupted" in dead and "running since" not in dead


def test_every_log_line_is_json_under_json_logs(loop: Loop) -> None:
    """Including the FHIR client's retries and the final error (the provider unreachable)."""
    put_all(loop.gp, practice_record(1))
    loop.config_path.write_text(
        loop.config_path.read_text().replace(loop.provider, "http://127.0.0.1:9/fhir")
    )
    process = subprocess.run(
        [sys.executable, "-m", "ltcbridge.daemon", "sync", "--once", "--json-logs",
         "--config", str(loop.config_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = process.stderr.splitlines()
    events = [json.loads(line)["event"] for line in lines]  # each line parses
    assert process.returncode == 1
    assert "ltcbridge.fhirclient" in events and "cycle.error" in events
    missing = Path(loop.tmp / "missing.toml")
    bad = subprocess.run(
        [sys.executable, "-m", "ltcbridge.daemon", "sync", "--json-logs", "--config", str(missing)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and json.loads(bad.stderr)["event"] == "command.error"
