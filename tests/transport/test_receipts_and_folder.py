"""Receipts give each release the next sequence and stop a second delivery; the folder drop."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltcbridge.feed.receipts import ReceiptError, ReceiptStore
from ltcbridge.feed.seal import seal_release
from ltcbridge.feed.transport.folder import FolderTransport
from ltcbridge.feed.transport.send import sealed_from_token, send_release
from sealing.helpers import HUB, PRACTICE, keys, meta_for, public, reports_of


def token_for(sequence: int = 1) -> str:
    meta = meta_for(sequence=sequence)
    return seal_release(meta, reports_of(PRACTICE), keys().practice, public(keys().hub))


def test_sequences_count_up_per_sender_recipient_and_agreement(tmp_path: Path) -> None:
    with ReceiptStore(tmp_path / "r.sqlite") as receipts:
        assert receipts.next_sequence(PRACTICE, HUB, "DSA-DEMO-001") == 1
        receipts.record_sealed(meta_for(sequence=1))
        receipts.record_sealed(meta_for(sequence=2))
        assert receipts.next_sequence(PRACTICE, HUB, "DSA-DEMO-001") == 3
        assert receipts.next_sequence(PRACTICE, HUB, "DSA-OTHER") == 1
        with pytest.raises(ReceiptError, match="not the next one"):
            receipts.record_sealed(meta_for(sequence=2))
    mode = ReceiptStore(tmp_path / "r.sqlite")._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_folder_send_twice_delivers_once(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    token = token_for()
    with ReceiptStore(tmp_path / "r.sqlite") as receipts:
        first = send_release(token, FolderTransport(drop), receipts)
        second = send_release(token, FolderTransport(drop), receipts)
        assert first.delivered_now and not second.delivered_now
        assert [p.read_text() for p in drop.iterdir()] == [token]
        assert receipts.get(first.receipt.release_id).attempts == 1  # type: ignore[union-attr]


def test_interrupted_send_is_checked_before_sending_again(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    token = token_for()
    release, meta = sealed_from_token(token)
    with ReceiptStore(tmp_path / "r.sqlite") as receipts:
        receipts.adopt(meta)
        receipts.mark_sending(meta.release_id, "folder")  # the process died here...
        FolderTransport(drop).deliver(release)  # ...after the file had landed
        (drop / release.filename).write_text("sentinel")  # a rewrite would be visible
        outcome = send_release(token, FolderTransport(drop), receipts)
        assert not outcome.delivered_now and outcome.receipt.status == "sent"
        assert (drop / release.filename).read_text() == "sentinel"


def test_folder_acknowledgement_is_the_hub_taking_the_file(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    token = token_for()
    with ReceiptStore(tmp_path / "r.sqlite") as receipts:
        sent = send_release(token, FolderTransport(drop), receipts).receipt
        (drop / sent.message_id).unlink()  # type: ignore[operator]  # collected by the hub
        again = send_release(token, FolderTransport(drop), receipts)
        assert again.receipt.status == "acknowledged" and not again.delivered_now
        assert list(drop.iterdir()) == []  # and it was not dropped again


def test_a_mistyped_folder_is_refused_and_the_release_can_go_to_the_right_one(
    tmp_path: Path,
) -> None:
    """A drop folder that does not exist is never created (it would report a delivery nobody
    collects, and every later send would say "already delivered"); the right one still works."""
    from ltcbridge.feed.transport.base import DeliveryError

    token, right = token_for(), tmp_path / "drop"
    right.mkdir()
    with ReceiptStore(tmp_path / "r.sqlite") as receipts:
        with pytest.raises(DeliveryError, match="does not exist"):
            send_release(token, FolderTransport(tmp_path / "dorp"), receipts)
        assert not (tmp_path / "dorp").exists()
        outcome = send_release(token, FolderTransport(right), receipts)
        assert outcome.delivered_now and [p.read_text() for p in right.iterdir()] == [token]
