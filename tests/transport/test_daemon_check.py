"""`ltcbridge check` tests the commissioner feed's MESH mailbox with a real handshake."""

from __future__ import annotations

import pytest

from ltcbridge.daemon.check import _feed

from .conftest import PASSWORD, PRACTICE_MAILBOX, SHARED_KEY


def test_a_right_mailbox_shakes_hands(mesh_sandbox: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESH_SHARED_KEY", SHARED_KEY)
    row = _feed({"transport": "mesh", "mesh_url": mesh_sandbox, "mailbox": PRACTICE_MAILBOX})
    assert (row.status, row.detail) == ("ready", f"handshake with {PRACTICE_MAILBOX} succeeded")


def test_a_wrong_shared_key_is_a_problem_with_what_to_do(
    mesh_sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESH_SHARED_KEY", "NotTheKey")
    row = _feed({"transport": "mesh", "mesh_url": mesh_sandbox, "mailbox": PRACTICE_MAILBOX})
    assert row.status == "problem" and "handshake" in row.detail
    assert "MESH administrator" in row.action


def test_missing_mesh_settings_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESH_PASSWORD", raising=False)
    row = _feed({"transport": "mesh"})
    assert row.status == "problem" and "MESH_PASSWORD" in row.action
