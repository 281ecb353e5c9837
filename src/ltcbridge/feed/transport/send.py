"""Send one sealed release at most once, whatever happens in between.

Order of work: read the ids from the sealed file's header; look up its receipt; if it was
delivered, only refresh its acknowledgement; if an earlier attempt was interrupted, ask the
transport whether it arrived after all; only then claim it, deliver with retries, and write the
receipt. The disclosure history is not touched here: a release is recorded in it when it is
sealed (``ltcbridge feed seal``), before it can leave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.receipts import FAILED, SENDING, Receipt, ReceiptStore
from ltcbridge.feed.release import ReleaseMeta, utc_now
from ltcbridge.feed.seal import peek_headers
from ltcbridge.feed.transport.base import DeliveryError, RetryPolicy, SealedFile, Transport

OnRetry = Callable[[int, str], None]


@dataclass(frozen=True)
class SendOutcome:
    receipt: Receipt
    delivered_now: bool  # False: it had already been delivered, nothing was sent this time

    def describe(self) -> str:
        r = self.receipt
        when = "sent now" if self.delivered_now else "already delivered earlier; not sent again"
        ack = " and acknowledged by the recipient" if r.status == "acknowledged" else ""
        return (
            f"Release {r.sequence} ({r.release_id}) for {r.period} to {r.recipient}: {when} by "
            f"{r.transport} (message {r.message_id}){ack}."
        )


def read_sealed(path: Path | str) -> tuple[SealedFile, ReleaseMeta]:
    """A sealed release file and the (unverified) ids its header carries."""
    path = Path(path)
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise LtcbridgeError(f"cannot read sealed release {path}: {exc}") from None
    return sealed_from_token(token)


def sealed_from_token(token: str) -> tuple[SealedFile, ReleaseMeta]:
    header = peek_headers(token)
    meta = ReleaseMeta(
        release_id=header["ltc_release"],
        agreement_id=header["ltc_agreement"],
        sender=header["ltc_sender"],
        recipient=header["ltc_recipient"],
        period=header["ltc_period"],
        sequence=int(header["ltc_sequence"]),
        created=utc_now(),
        measures=(),
    )
    return SealedFile(meta.release_id, meta.sequence, token), meta


def send_release(
    token: str,
    transport: Transport,
    receipts: ReceiptStore,
    *,
    policy: RetryPolicy | None = None,
    on_retry: OnRetry | None = None,
) -> SendOutcome:
    """Deliver a sealed release unless its receipts show it was delivered already."""
    release, meta = sealed_from_token(token)
    receipt = receipts.adopt(meta)
    if not receipt.delivered and _arrived_earlier(receipt, release, transport):
        receipt = receipts.mark_sent(release.release_id, transport.name, receipt.message_id or "")
    if receipt.delivered:
        receipt = _refresh_acknowledgement(receipt, transport, receipts)
        return SendOutcome(receipt, delivered_now=False)
    receipts.mark_sending(release.release_id, transport.name)
    try:
        message_id = (policy or RetryPolicy()).run(lambda: transport.deliver(release), on_retry)
    except DeliveryError as exc:
        receipts.mark_failed(release.release_id, str(exc))
        raise
    receipt = receipts.mark_sent(release.release_id, transport.name, message_id)
    return SendOutcome(receipt, delivered_now=True)


def _arrived_earlier(receipt: Receipt, release: SealedFile, transport: Transport) -> bool:
    """An interrupted or failed earlier attempt by this transport may still have got through."""
    if receipt.status not in (SENDING, FAILED) or receipt.transport != transport.name:
        return False
    return transport.was_delivered(release, receipt.message_id)


def _refresh_acknowledgement(
    receipt: Receipt, transport: Transport, receipts: ReceiptStore
) -> Receipt:
    if receipt.status == "acknowledged" or receipt.transport != transport.name:
        return receipt
    if receipt.message_id and transport.acknowledged(receipt.message_id):
        return receipts.mark_acknowledged(receipt.release_id)
    return receipt
