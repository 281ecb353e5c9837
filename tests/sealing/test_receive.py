"""The hub stores a release whole or rejects it with a recorded reason; replays never get in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed import seal
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.receive import Receiver, receive_folder

from .helpers import (
    HUB,
    OTHER_PRACTICE,
    PRACTICE,
    MemoryHubStore,
    keys,
    meta_for,
    public,
    registry,
    reports_of,
)


def sealed(meta: ReleaseMeta, to: object = None) -> str:
    return seal.seal_release(
        meta, reports_of(meta.sender), keys().practice, public(to or keys().hub)
    )


def receiver(store: MemoryHubStore, **options: object) -> Receiver:
    return Receiver(
        store=store,
        recipient=HUB,
        private_key=keys().hub,
        sender_keys=registry((PRACTICE, keys().practice)),
        clock=lambda: "2026-11-02T09:00:00Z",
        **options,  # type: ignore[arg-type]
    )


def reasons(store: MemoryHubStore) -> list[str]:
    return [reason for _, _, reason, _ in store.rejections]


def test_good_release_is_stored_whole() -> None:
    store = MemoryHubStore()
    meta = meta_for()
    assert receiver(store).receive(sealed(meta), "test")
    stored_meta, reports = store.releases[meta.release_id]
    assert stored_meta == meta and reports == reports_of(PRACTICE)
    assert store.rejections == []


def test_replayed_release_is_rejected_and_stored_once() -> None:
    store = MemoryHubStore()
    token = sealed(meta_for())
    hub = receiver(store)
    assert hub.receive(token, "first") and not hub.receive(token, "again")
    assert len(store.releases) == 1
    assert reasons(store) == ["replayed-release"]
    assert store.rejections[0][1] == PRACTICE  # the (claimed) sender, to follow it up


def test_replayed_sequence_under_a_new_id_is_rejected() -> None:
    store = MemoryHubStore()
    hub = receiver(store)
    hub.receive(sealed(meta_for(sequence=1)), "a")
    hub.receive(sealed(meta_for(sequence=2)), "b")
    assert not hub.receive(sealed(meta_for(sequence=2)), "c")
    assert not hub.receive(sealed(meta_for(sequence=1)), "d")
    assert reasons(store) == ["replayed-sequence", "replayed-sequence"]
    assert len(store.releases) == 2


def test_gap_in_sequence_is_stored_and_reported() -> None:
    store = MemoryHubStore()
    hub = receiver(store)
    hub.receive(sealed(meta_for(sequence=1)), "a")
    assert hub.receive(sealed(meta_for(sequence=4)), "b")
    assert [(g.sender, g.missing) for g in hub.result.gaps] == [(PRACTICE, (2, 3))]


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda: sealed(meta_for(), to=keys().other_hub), "wrong-recipient-key"),
        (lambda: sealed(meta_for(recipient="QXX")), "wrong-recipient"),
        (lambda: sealed(meta_for(sender=OTHER_PRACTICE)), "sender-not-key-owner"),
        (lambda: "not a release", "malformed"),
        (lambda: sealed(meta_for(period="2026-9")), "bad-period"),
        (lambda: sealed(meta_for(period="2026-09")), "period-mismatch"),
    ],
)
def test_each_bad_release_is_rejected_with_its_reason(make: object, reason: str) -> None:
    store = MemoryHubStore()
    assert not receiver(store).receive(make(), "test")  # type: ignore[operator]
    assert reasons(store) == [reason] and store.releases == {}


def test_unknown_agreement_is_rejected_when_the_hub_lists_its_agreements() -> None:
    store = MemoryHubStore()
    hub = receiver(store, agreements=frozenset({"DSA-OTHER"}))
    assert not hub.receive(sealed(meta_for()), "test")
    assert reasons(store) == ["unknown-agreement"]


def test_tampered_release_is_rejected_as_tampered() -> None:
    token = sealed(meta_for())
    head, key, iv, ciphertext, tag = token.split(".")
    tampered = ".".join(
        [
            head,
            key,
            iv,
            ("B" if ciphertext[5] == "A" else "A").join([ciphertext[:5], ciphertext[6:]]),
            tag,
        ]
    )
    store = MemoryHubStore()
    assert not receiver(store).receive(tampered, "test")
    assert reasons(store) == ["tampered"]


def test_store_failure_leaves_nothing_half_done_and_the_file_in_place(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    meta = meta_for()
    (inbox / f"{meta.release_id}.jwe").write_text(sealed(meta))
    store = MemoryHubStore(fail_next_add=True)
    with pytest.raises(OSError):
        receive_folder(receiver(store), inbox)
    assert store.releases == {} and store.rejections == []
    assert (inbox / f"{meta.release_id}.jwe").exists()  # still there to receive next time
    result = receive_folder(receiver(store), inbox)
    assert [m.release_id for m in result.stored] == [meta.release_id]
    assert (inbox / "processed" / f"{meta.release_id}.jwe").exists()


def test_folder_inbox_sorts_stored_and_rejected(tmp_path: Path) -> None:
    good, bad = meta_for(sequence=1), meta_for(sequence=2)
    (tmp_path / "a.jwe").write_text(sealed(good))
    (tmp_path / "b.jwe").write_text(sealed(bad, to=keys().other_hub))
    store = MemoryHubStore()
    result = receive_folder(receiver(store), tmp_path)
    assert len(result.stored) == 1 and [r.reason for r in result.rejected] == [
        "wrong-recipient-key"
    ]
    assert (tmp_path / "processed" / "a.jwe").exists()
    assert (tmp_path / "rejected" / "b.jwe").exists()
    assert "folder b.jwe" in store.rejections[0][3]


def test_a_practice_cannot_send_another_practices_figures() -> None:
    meta = meta_for()
    token = seal.seal_release(meta, reports_of(OTHER_PRACTICE), keys().practice, public(keys().hub))
    store = MemoryHubStore()
    assert not receiver(store).receive(token, "test")
    assert reasons(store) == ["reporter-mismatch"]


def test_store_refusing_the_content_is_a_recorded_rejection_without_a_gap() -> None:
    class RefusingStore(MemoryHubStore):
        def add_release(self, meta: ReleaseMeta, reports: list) -> None:  # type: ignore[type-arg]
            raise LtcbridgeError("report X has no period")

    store = RefusingStore()
    hub = receiver(store)
    assert not hub.receive(sealed(meta_for(sequence=3)), "test")
    assert reasons(store) == ["store-refused"] and hub.result.gaps == []
