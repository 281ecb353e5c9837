"""A command that fails half-way (a full disk, a refused write) leaves nothing partial behind.

Each test makes one write fail part-way through a real command and checks what is on disk (and
in the practice's release history) afterwards, that the user got a plain message and no
traceback, and that running the command again works.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.cli import main
from ltcbridge.daemon.template import CONFIG_NAME
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.receipts import ReceiptStore
from sealing.helpers import DEMO_AGREEMENT, PERIOD, PRACTICE, SYNTHETIC, keys, write_pem


def failing_when(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, except that it fails with a full disk when a path it is given is named
    ``name`` (or, for ``*.SUFFIX``, ends with SUFFIX)."""

    def matches(arg: object) -> bool:
        found = Path(str(arg)).name
        return found.endswith(name[1:]) if name.startswith("*") else found == name

    def fail(*args: Any, **kwargs: Any) -> Any:
        for arg in args:
            if matches(arg):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(arg))
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


# -- ltcbridge feed seal -------------------------------------------------------------------------
def seal(tmp_path: Path) -> int:
    """``feed seal`` of the fixture practices' month into tmp_path/out (data in tmp_path/data)."""
    key = write_pem(tmp_path / "k.pem", keys().practice, private=True)
    hub = write_pem(tmp_path / "hub.pem", keys().hub, private=False)
    return main([
        "feed", "seal", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
        "--agreement", str(DEMO_AGREEMENT), "--period", PERIOD, "--workers", "1",
        "--key", str(key), "--recipient-key", str(hub), "--sender", PRACTICE,
        "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data"),
    ])  # fmt: skip


def receipts_in(data: Path) -> list[tuple[str, int, str]]:
    with ReceiptStore(data / "receipts.sqlite") as receipts:
        return [(r.release_id, r.sequence, r.status) for r in receipts.all()]


def assert_nothing_sealed_and_seals_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No sealed file, no manifest, no receipt; the history may keep the figures (that only
    protects later releases more). Sealing again gives release 1, and one more history entry
    at most."""
    data, out = tmp_path / "data", tmp_path / "out"
    assert not out.exists() or everything_in(out) == []
    assert not (data / "releases").exists() or everything_in(data / "releases") == []
    assert receipts_in(data) == []
    kept = len(HistoryStore(data / "history.sqlite"))
    assert kept <= 1
    monkeypatch.undo()
    assert seal(tmp_path) == 3  # sealed (the fixtures have quarantined lines)
    (sealed,) = out.iterdir()
    assert everything_in(data / "releases") == [f"{sealed.stem}.manifest.md"]
    assert receipts_in(data) == [(sealed.stem, 1, "sealed")]
    assert len(HistoryStore(data / "history.sqlite")) in (max(kept, 1), kept + 1)


def test_seal_whose_receipt_fails_leaves_no_sealed_file_or_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sealed file was written, then the receipt could not be kept (a full disk): the file
    must go (``feed send`` refuses a release the receipts do not know, and a drop folder
    might pass it on), and with it the manifest."""

    def disk_full(*_: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ReceiptStore, "record_sealed", disk_full)

    assert seal(tmp_path) == 1

    assert_plain_error(capsys, "database or disk is full")
    assert_nothing_sealed_and_seals_again(tmp_path, monkeypatch)


def test_seal_whose_sealed_file_cannot_be_written_keeps_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "replace", failing_when("*.jwe", os.replace))

    assert seal(tmp_path) == 1

    assert_plain_error(
        capsys, "nothing was sealed", "No space left on device", "`ltcbridge feed seal` again"
    )
    assert_nothing_sealed_and_seals_again(tmp_path, monkeypatch)


def test_seal_whose_manifest_cannot_be_written_seals_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest (the IG lead's reasons) is written before the release is sealed."""
    monkeypatch.setattr(os, "replace", failing_when("*.manifest.md", os.replace))

    assert seal(tmp_path) == 1

    assert_plain_error(capsys, "nothing was sealed", str(tmp_path / "data" / "releases"))
    assert_nothing_sealed_and_seals_again(tmp_path, monkeypatch)


def test_seal_whose_quarantine_cannot_be_kept_seals_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The input set aside is kept before the release is sealed (as ``feed build`` keeps it
    before its output): a failure there used to come after a release was sealed and recorded."""
    monkeypatch.setattr(os, "replace", failing_when("*.ndjson", os.replace))

    assert seal(tmp_path) == 1

    assert_plain_error(capsys, "No space left on device")
    assert len(HistoryStore(tmp_path / "data" / "history.sqlite")) == 0  # nothing was sealed
    assert_nothing_sealed_and_seals_again(tmp_path, monkeypatch)
