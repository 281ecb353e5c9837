"""A command that fails half-way (a full disk, a refused write) leaves nothing partial behind.

Each test makes one write fail part-way through a real command and checks what is on disk (and
in the practice's release history) afterwards, that the user got a plain message and no
traceback, and that running the command again works.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.cli import main
from ltcbridge.daemon.template import CONFIG_NAME

DISK_FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def failing_when(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that it fails with a full disk when its target is named ``name``."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        if any(Path(str(arg)).name == name for arg in args):
            raise DISK_FULL
        return real(*args, **kwargs)

    return fail


def everything_in(folder: Path) -> list[str]:
    """Every file and folder below ``folder`` (hidden ones too), relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def assert_plain_error(captured: pytest.CaptureFixture[str], *says: str) -> None:
    both = captured.readouterr()
    text = " ".join(both.err.split())
    assert "Traceback" not in both.out + both.err
    for fragment in says:
        assert fragment in text, (fragment, both.err)


# -- ltcbridge init ------------------------------------------------------------------------------
def test_init_that_fails_writing_the_config_leaves_no_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The keys are written before the configuration: a full disk at the configuration must
    not leave a private key behind (the next ``init`` would refuse to run)."""
    practice = tmp_path / "practice"
    monkeypatch.setattr(Path, "write_text", failing_when(CONFIG_NAME, Path.write_text))

    assert main(["init", str(practice)]) == 1

    assert not practice.exists()  # it was made by init, and nothing is left in it
    assert_plain_error(capsys, str(practice), "No space left on device", "nothing was written")
    monkeypatch.undo()
    assert main(["init", str(practice)]) == 0  # and init works once there is room
    assert everything_in(practice) == [
        "keys", "keys/jwks.json", "keys/private-key.pem", "keys/public-key.pem", CONFIG_NAME,
    ]  # fmt: skip


def test_init_that_fails_moving_the_config_into_place_takes_the_keys_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing folder (with a file of the practice's own) keeps exactly what it had."""
    practice = tmp_path / "practice"
    practice.mkdir()
    (practice / "notes.txt").write_text("the practice's own file\n")
    monkeypatch.setattr(os, "replace", failing_when(CONFIG_NAME, os.replace))

    assert main(["init", str(practice), "--key-type", "ec"]) == 1

    assert everything_in(practice) == ["notes.txt"]
    assert_plain_error(capsys, str(practice), "nothing was written")


def test_init_keeps_the_private_key_owner_only(tmp_path: Path) -> None:
    practice = tmp_path / "practice"
    assert main(["init", str(practice), "--key-type", "ec"]) == 0
    private = practice / "keys" / "private-key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # moved into place, still private
