"""The commands end to end: seal at the practice, send over MESH, receive at the hub."""

from __future__ import annotations

import argparse
import io
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from ltcbridge.cli import feed as cli_release
from ltcbridge.cli import hub as cli_hub
from ltcbridge.cli.transport import SendSetupError
from ltcbridge.disclosure.cells import DisclosureRules, Release
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.disclosure.secondary import primary_only
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.hub.store import open_store
from sealing.helpers import DEMO_AGREEMENT, HUB, PERIOD, PRACTICE, SYNTHETIC, keys, write_pem

from .conftest import HUB_MAILBOX, PASSWORD, PRACTICE_MAILBOX, SHARED_KEY


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ltcbridge")
    groups = parser.add_subparsers()
    cli_release.register(groups.add_parser("feed").add_subparsers())
    cli_hub.register(groups.add_parser("hub").add_subparsers())
    args = parser.parse_args(argv)
    return int(args.run(args))


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(cli_release, "out", Console(file=buffer, width=300))
    monkeypatch.setattr(cli_release, "err", Console(file=buffer, width=300))
    monkeypatch.setattr(cli_hub, "out", Console(file=buffer, width=300))
    monkeypatch.setenv("MESH_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESH_SHARED_KEY", SHARED_KEY)
    return buffer


def test_seal_send_receive_over_mesh(
    mesh_sandbox: str, tmp_path: Path, output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    practice_key = write_pem(tmp_path / "practice" / "key.pem", keys().practice, private=True)
    hub_public = write_pem(tmp_path / "practice" / "hub.pem", keys().hub, private=False)
    hub_key = write_pem(tmp_path / "hub" / "key.pem", keys().hub, private=True)
    write_pem(tmp_path / "hub" / "keys" / f"{PRACTICE}.pem", keys().practice, private=False)
    data = tmp_path / "practice" / "data"
    receipts = data / "receipts.sqlite"
    workflow = f"LTCB_{uuid.uuid4().hex[:8].upper()}"
    build = [
        "--source",
        str(SYNTHETIC),
        "--mappings",
        str(SYNTHETIC / "mappings"),
        "--agreement",
        str(DEMO_AGREEMENT),
        "--period",
        PERIOD,
        "--workers",
        "1",
    ]
    mesh = ["--mesh-url", mesh_sandbox, "--workflow-id", workflow]

    status = run(
        "feed",
        "seal",
        *build,
        "--key",
        str(practice_key),
        "--recipient-key",
        str(hub_public),
        "--sender",
        PRACTICE,
        "--out",
        str(tmp_path / "out"),
        "--data-dir",
        str(data),
    )
    assert status == cli_release.EXIT_ATTENTION  # sealed; the fixtures have quarantined lines
    (sealed,) = (tmp_path / "out").glob("*.jwe")
    assert list((tmp_path / "out").iterdir()) == [sealed]  # the manifest stays in the practice
    assert (data / "releases" / f"{sealed.stem}.manifest.md").exists()
    assert "Sealed release 1" in output.getvalue()
    (published,) = HistoryStore(data / "history.sqlite").load_all()
    assert published.values  # recorded as it was sealed: it may leave from now on

    send = [
        "feed",
        "send",
        "--release",
        str(sealed),
        "--via",
        "mesh",
        *mesh,
        "--mailbox",
        PRACTICE_MAILBOX,
        "--mesh-to",
        HUB_MAILBOX,
        "--data-dir",
        str(data),
    ]
    assert run(*send) == 0
    assert "sent now by mesh" in output.getvalue()
    with ReceiptStore(receipts) as store:
        assert store.get(sealed.stem).status == "sent"  # type: ignore[union-attr]

    store_path = tmp_path / "hub" / "hub.sqlite"
    status = run(
        "hub",
        "receive",
        "--from",
        "mesh",
        *mesh,
        "--mailbox",
        HUB_MAILBOX,
        "--keys",
        str(tmp_path / "hub" / "keys"),
        "--key",
        str(hub_key),
        "--hub",
        HUB,
        "--store",
        str(store_path),
    )
    assert status == 0, output.getvalue()
    assert f"stored: {PRACTICE} DSA-DEMO-001 {PERIOD} #1" in output.getvalue()
    with open_store(store_path) as hub_store:
        assert hub_store.has_release(sealed.stem)
        assert hub_store.last_sequence(PRACTICE, "DSA-DEMO-001") == 1

    assert run(*send) == 0
    assert "already delivered earlier; not sent again" in output.getvalue()
    assert "acknowledged by the recipient" in output.getvalue()
    assert len(HistoryStore(data / "history.sqlite")) == 1


def test_the_same_release_is_recorded_once(tmp_path: Path) -> None:
    published = primary_only(Release({("c",): 3, ("d",): 12}, []), DisclosureRules(7, 5))
    store = HistoryStore(tmp_path / "h.sqlite")
    assert store.record(HUB, "DSA-DEMO-001", published)
    assert not store.record(HUB, "DSA-DEMO-001", published)  # one build sealed twice
    (recorded,) = store.load_all()
    assert recorded.values == published.values


def test_a_release_sealed_elsewhere_is_not_sent(tmp_path: Path, output: io.StringIO) -> None:
    """A sealed file this practice data directory never recorded is outside the history that
    protects later releases: refused, naming what to do."""
    from ltcbridge.feed.seal import seal_release
    from sealing.helpers import meta_for, public, reports_of

    token = seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))
    sealed = tmp_path / "elsewhere.jwe"
    sealed.write_text(token)
    drop = tmp_path / "drop"
    drop.mkdir()
    with pytest.raises(LtcbridgeError, match="was not sealed with this practice data directory"):
        run("feed", "send", "--release", str(sealed), "--via", "folder", "--to", str(drop),
            "--data-dir", str(tmp_path / "data"))  # fmt: skip
    assert list(drop.iterdir()) == []


def test_missing_mesh_secret_names_the_variable(
    tmp_path: Path, output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ltcbridge.feed.seal import seal_release
    from sealing.helpers import meta_for, public, reports_of

    token = seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))
    (tmp_path / "r.jwe").write_text(token)
    monkeypatch.delenv("MESH_SHARED_KEY")
    with pytest.raises(SendSetupError, match="MESH_SHARED_KEY"):
        run(
            "feed",
            "send",
            "--release",
            str(tmp_path / "r.jwe"),
            "--via",
            "mesh",
            "--mesh-url",
            "http://127.0.0.1:9",
            "--mailbox",
            PRACTICE_MAILBOX,
        )
