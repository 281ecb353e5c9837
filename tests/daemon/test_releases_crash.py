"""kill -9 while a release is sealed and sent: after a restart it has left exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.receipts import ReceiptStore

from .release_data import make_practice
from .release_kill import POINTS

KILLER = Path(__file__).with_name("release_kill.py")


def step(config: Path, point: str) -> subprocess.CompletedProcess[str]:
    """The release step in its own process, killed at ``point`` ("none": runs to the end)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(KILLER), str(config), "2026-12-01", point],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("point", sorted(POINTS))
def test_killed_while_sealing_or_sending_the_release_leaves_once(
    point: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    practice = make_practice(tmp_path)
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    capsys.readouterr()
    assert practice.cli("release", "list", "--json") == 0
    [release] = json.loads(capsys.readouterr().out)
    assert practice.cli("release", "approve", release["release_id"]) == 0
    killed = step(practice.config_path, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = step(practice.config_path, "none")
    assert finished.returncode == 0, finished.stderr
    state_dir = practice.config.state_path.parent
    sealed = (state_dir / "releases" / release["release_id"] / "sealed.jwe").read_text()
    dropped = list(practice.drop.glob("*.jwe"))
    assert [p.name for p in dropped] == [f"{release['release_id']}.jwe"]
    assert dropped[0].read_text() == sealed.strip()  # what left is the release sealed last
    assert len(HistoryStore(state_dir / "history.sqlite")) == 1
    with ReceiptStore(state_dir / "receipts.sqlite") as receipts:
        [receipt] = receipts.all()
    assert (receipt.release_id, receipt.sequence, receipt.status) == (
        release["release_id"], 1, "sent")  # fmt: skip
    assert practice.hub_receive() == [(release["release_id"], "2026-10", 1)]
    capsys.readouterr()
    assert practice.cli("release", "list", "--json") == 0
    [after] = json.loads(capsys.readouterr().out)
    assert after["state"] == "sent"
