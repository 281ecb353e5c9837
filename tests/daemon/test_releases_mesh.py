"""The daemon's monthly release over NHS England's real MESH sandbox, collected by `hub receive`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ltcbridge.cli import main
from ltcbridge.daemon import releases
from ltcbridge.daemon.feed_check import feed_checks
from ltcbridge.daemon.state import StateStore
from ltcbridge.hub.store import open_store
from transport.conftest import (  # the session's sandbox fixture, shared with tests/transport
    HUB_MAILBOX,
    PASSWORD,
    PRACTICE_MAILBOX,
    SHARED_KEY,
    mesh_sandbox,
)

from .release_data import AGREEMENT_ID, HUB, PRACTICE, make_practice, on

__all__ = ["mesh_sandbox"]
pytestmark = pytest.mark.integration


def test_approved_release_goes_over_mesh_once_and_the_hub_stores_it(
    mesh_sandbox: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MESH_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESH_SHARED_KEY", SHARED_KEY)
    monkeypatch.setattr(releases, "today", lambda: on("2026-12-01"))
    workflow = f"LTCB_{uuid.uuid4().hex[:8].upper()}"
    practice = make_practice(tmp_path)
    text = practice.config_path.read_text().replace(
        'transport = "folder"',
        f'transport = "mesh"\nmesh_url = "{mesh_sandbox}"\nmailbox = "{PRACTICE_MAILBOX}"\n'
        f'mesh_to = "{HUB_MAILBOX}"\nworkflow_id = "{workflow}"',
    )
    practice.config_path.write_text(text.replace(f'folder = "{practice.drop}"\n', ""))
    config = practice.config
    rows = {row.thing: row for row in feed_checks(config)}
    assert rows["commissioner feed (MESH)"].status == "ready"  # the handshake

    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    capsys.readouterr()
    assert practice.cli("release", "list", "--json") == 0
    [release] = json.loads(capsys.readouterr().out)
    state = StateStore(config.state_path)
    try:
        assert releases.run_releases(config, state)["releases_sent"] == 0  # not approved
        assert practice.cli("release", "approve", release["release_id"]) == 0
        assert releases.run_releases(config, state)["releases_sent"] == 1
        assert releases.run_releases(config, state)["releases_sent"] == 0  # once
    finally:
        state.close()

    store = tmp_path / "hub" / "mesh-store.sqlite"
    status = main(["hub", "receive", "--from", "mesh", "--mesh-url", mesh_sandbox,
                   "--workflow-id", workflow, "--mailbox", HUB_MAILBOX,
                   "--keys", str(tmp_path / "hub" / "practices"),
                   "--key", str(tmp_path / "hub" / "private.pem"), "--hub", HUB,
                   "--store", str(store)])  # fmt: skip
    assert status == 0
    with open_store(store) as hub:
        assert hub.has_release(release["release_id"])
        assert hub.last_sequence(PRACTICE, AGREEMENT_ID) == 1
    state = StateStore(config.state_path)
    try:
        releases.run_releases(config, state)  # asks MESH whether it was acknowledged
    finally:
        state.close()
    capsys.readouterr()
    assert practice.cli("release", "list", "--json") == 0
    [after] = json.loads(capsys.readouterr().out)
    assert after["state"] == "acknowledged"
