"""HTTPS POST: idempotent on the release id, transient failures retried, others not (respx)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.feed.seal import seal_release
from ltcbridge.feed.transport.base import DeliveryError, RetryPolicy
from ltcbridge.feed.transport.https import HttpsTransport
from ltcbridge.feed.transport.send import send_release
from sealing.helpers import PRACTICE, keys, meta_for, public, reports_of

URL = "https://hub.example.nhs.uk/releases"
FAST = RetryPolicy(attempts=4, initial_wait=0.001, max_wait=0.01)


@pytest.fixture
def token() -> str:
    return seal_release(meta_for(), reports_of(PRACTICE), keys().practice, public(keys().hub))


@pytest.fixture
def receipts(tmp_path: Path) -> ReceiptStore:
    return ReceiptStore(tmp_path / "receipts.sqlite")


@respx.mock
def test_transient_failures_are_retried_then_delivered_once(
    token: str, receipts: ReceiptStore
) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(201, headers={"Location": f"{URL}/abc"}),
        ]
    )
    retries: list[int] = []
    outcome = send_release(
        token, HttpsTransport(URL), receipts, policy=FAST, on_retry=lambda n, _: retries.append(n)
    )
    assert route.call_count == 3 and retries == [1, 2]
    assert outcome.receipt.status == "sent" and outcome.receipt.message_id == f"{URL}/abc"
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == outcome.receipt.release_id
    assert request.headers["Content-Type"] == "application/jose"
    assert request.content.decode() == token
    send_release(token, HttpsTransport(URL), receipts, policy=FAST)
    assert route.call_count == 3  # delivered: never sent again


@respx.mock
def test_refusal_is_not_retried_and_is_recorded(token: str, receipts: ReceiptStore) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(403))
    with pytest.raises(DeliveryError, match="refused the release with 403"):
        send_release(token, HttpsTransport(URL), receipts, policy=FAST)
    assert route.call_count == 1
    (receipt,) = receipts.all()
    assert receipt.status == "failed" and "403" in (receipt.detail or "")


@respx.mock
def test_giving_up_after_the_last_attempt(token: str, receipts: ReceiptStore) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(502))
    with pytest.raises(DeliveryError, match="502"):
        send_release(token, HttpsTransport(URL), receipts, policy=FAST)
    assert route.call_count == FAST.attempts
    respx.post(URL).mock(return_value=httpx.Response(409))  # the hub had it after all
    assert send_release(token, HttpsTransport(URL), receipts, policy=FAST).delivered_now
    assert receipts.all()[0].status == "sent"
