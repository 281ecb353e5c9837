"""Through NHS England's real MESH sandbox: practice mailbox -> commissioner mailbox -> hub."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from mesh_client import MeshClient

from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.feed.seal import seal_release
from ltcbridge.feed.transport.base import RetryPolicy, TransientDeliveryError
from ltcbridge.feed.transport.mesh import MeshSettings, MeshTransport
from ltcbridge.feed.transport.send import send_release
from ltcbridge.hub.receive import Receiver, receive_mesh
from sealing.helpers import (
    HUB,
    PRACTICE,
    MemoryHubStore,
    keys,
    meta_for,
    public,
    registry,
    reports_of,
)

from .conftest import HUB_MAILBOX, PASSWORD, PRACTICE_MAILBOX, SHARED_KEY

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.01)


def settings(url: str, mailbox: str, workflow: str, chunk: int = 20 * 1024 * 1024) -> MeshSettings:
    return MeshSettings(
        url=url,
        mailbox=mailbox,
        password=PASSWORD,
        shared_key=SHARED_KEY,
        workflow_id=workflow,
        max_chunk_size=chunk,
    )


def hub_receiver(store: MemoryHubStore) -> Receiver:
    return Receiver(
        store=store,
        recipient=HUB,
        private_key=keys().hub,
        sender_keys=registry((PRACTICE, keys().practice)),
    )


@pytest.fixture
def workflow() -> str:
    """A workflow of its own per test, so tests sharing the sandbox never see each other's mail."""
    return f"LTCB_{uuid.uuid4().hex[:8].upper()}"


def inbox(url: str, workflow: str) -> list[str]:
    with MeshClient(url, HUB_MAILBOX, PASSWORD, shared_key=SHARED_KEY.encode()) as client:
        return client.list_messages(workflow_filter=workflow)


def test_release_goes_through_mesh_in_chunks_and_arrives_intact(
    mesh_sandbox: str, workflow: str, tmp_path: Path
) -> None:
    meta = meta_for()
    token = seal_release(meta, reports_of(PRACTICE), keys().practice, public(keys().hub))
    chunk = 4096
    assert len(token) > 3 * chunk  # so it really travels in several chunks
    transport = MeshTransport(
        settings(mesh_sandbox, PRACTICE_MAILBOX, workflow, chunk), HUB_MAILBOX
    )
    with ReceiptStore(tmp_path / "receipts.sqlite") as receipts:
        sent = send_release(token, transport, receipts, policy=FAST).receipt
        assert sent.status == "sent" and sent.transport == "mesh"
        tracking = transport.tracking(sent.message_id or "")
        assert tracking and tracking["local_id"] == meta.release_id
        assert tracking["workflow_id"] == workflow

        store = MemoryHubStore()
        with settings(mesh_sandbox, HUB_MAILBOX, workflow).client() as client:
            result = receive_mesh(hub_receiver(store), client, workflow)
        assert [m.release_id for m in result.stored] == [meta.release_id]
        assert store.releases[meta.release_id] == (meta, reports_of(PRACTICE))
        assert inbox(mesh_sandbox, workflow) == []  # acknowledged once stored

        again = send_release(token, transport, receipts, policy=FAST)
        assert again.receipt.status == "acknowledged" and not again.delivered_now
    transport.close()


def test_sending_the_same_release_twice_delivers_once(
    mesh_sandbox: str, workflow: str, tmp_path: Path
) -> None:
    token = seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))
    transport = MeshTransport(settings(mesh_sandbox, PRACTICE_MAILBOX, workflow), HUB_MAILBOX)
    with ReceiptStore(tmp_path / "receipts.sqlite") as receipts:
        assert send_release(token, transport, receipts, policy=FAST).delivered_now
        assert not send_release(token, transport, receipts, policy=FAST).delivered_now
    assert len(inbox(mesh_sandbox, workflow)) == 1
    transport.close()


def test_replayed_mesh_message_is_rejected_and_still_acknowledged(
    mesh_sandbox: str, workflow: str
) -> None:
    """Someone re-posts a captured release: the hub records the replay and clears its inbox."""
    token = seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))
    with settings(mesh_sandbox, PRACTICE_MAILBOX, workflow).client() as client:
        for _ in range(2):
            client.send_message(HUB_MAILBOX, token.encode(), workflow_id=workflow)
    store = MemoryHubStore()
    with settings(mesh_sandbox, HUB_MAILBOX, workflow).client() as client:
        result = receive_mesh(hub_receiver(store), client, workflow)
    assert len(result.stored) == 1 and [r.reason for r in result.rejected] == ["replayed-release"]
    assert inbox(mesh_sandbox, workflow) == []


def test_unreachable_mesh_is_retried_then_reported(workflow: str, tmp_path: Path) -> None:
    token = seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))
    transport = MeshTransport(
        settings("http://127.0.0.1:9", PRACTICE_MAILBOX, workflow), HUB_MAILBOX
    )
    attempts: list[int] = []
    with ReceiptStore(tmp_path / "receipts.sqlite") as receipts:
        with pytest.raises(TransientDeliveryError, match="cannot connect"):
            send_release(
                token, transport, receipts, policy=FAST, on_retry=lambda n, _: attempts.append(n)
            )
        assert attempts == [1, 2] and receipts.all()[0].status == "failed"
    transport.close()
