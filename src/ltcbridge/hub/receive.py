"""The commissioner's side of a release: collect, verify, decrypt, check, store, or reject.

Every sealed release that arrives ends in exactly one of two places: stored whole through the
``HubStore`` (all-or-nothing), or recorded as a rejection with its reason. Checks, in order:
it opens (recipient key, known sender key, signature, not tampered); it is for this hub; its
agreement is one the hub accepts; its release id and sequence are new (a replay is rejected); a
sequence that skips numbers is stored and the gap reported, since a lost release must not hold up
the ones after it. A MESH message is acknowledged only once its outcome is recorded, so a crash
in between means it is received again, and then rejected as a replay, never lost.

The hub is a target, so: a file or MESH message over ``MAX_SEALED_BYTES`` is refused as
``too-large`` without being read into memory (its size, or bounded chunks); the content checks
are ``hub.checks``, shared with ``hub load``; and a rejection names as sender only what a verified
signature says, else ``unverified`` (the header's claim is kept, quoted, in the detail only).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import malformed_report
from ltcbridge.feed.release import ReleaseMeta, utc_now
from ltcbridge.feed.seal import (
    MAX_RELEASE_BYTES,
    Key,
    SealError,
    SenderKeys,
    bundle_reports,
    open_release,
    peek_headers,
)
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.hub.checks import ReleaseProblem, check_release
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.protocol import HubStore
from ltcbridge.hub.rules import ReleaseRules, fallback_rules

# Who sent a release that failed before its signature verified: nobody knows, and the header's
# claim is not evidence, so it is never recorded as the sender.
UNVERIFIED = "unverified"
TOO_LARGE = "too-large"
CLAIM_CHARS = 64  # of the unverified sender claim kept (quoted) in a rejection's detail
# The largest sealed file the hub reads: a release of MAX_RELEASE_BYTES of figures is signed
# (base64url: x 4/3) and encrypted and written as base64url text (x 4/3 again: 16/9 < 2 in all),
# plus the headers, the wrapped key, the iv and the tag.
MAX_SEALED_BYTES = 2 * MAX_RELEASE_BYTES + 64 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    sender: str | None
    reason: str
    detail: str
    origin: str


@dataclass(frozen=True)
class Gap:
    sender: str
    agreement_id: str
    missing: tuple[int, int]  # first and last missing sequence numbers


@dataclass
class ReceiveResult:
    stored: list[ReleaseMeta] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class Rejected(Exception):
    """Internal: a check failed; carries the reason code and detail recorded for it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Receiver:
    """Checks and stores releases addressed to one commissioner."""

    store: HubStore
    recipient: str  # this hub's ODS code
    private_key: Key
    sender_keys: SenderKeys
    agreements: frozenset[str] | None = None  # None: accept any agreement id
    clock: Callable[[], str] = utc_now
    result: ReceiveResult = field(default_factory=ReceiveResult)
    # the rules of releases whose reports carry none (the hub config's [disclosure])
    fallback: ReleaseRules = field(default_factory=lambda: fallback_rules(HubConfig()))

    def receive(self, token: str, origin: str) -> bool:
        """Store or reject one sealed release; True when stored. Store failures propagate."""
        try:
            meta, bundle = self._open(token)
        except Rejected as exc:
            self.reject(UNVERIFIED, exc.reason, exc.detail, origin)
            return False
        try:
            reports = self._check(meta, bundle)
        except Rejected as exc:  # the signature verified: the sender is known
            self.reject(meta.sender, exc.reason, exc.detail, origin)
            return False
        gap = self._gap(meta)
        try:
            self.store.add_release(meta, reports)
        except LtcbridgeError as exc:  # the store refused the content: a rejection, not an outage
            self.reject(meta.sender, "store-refused", str(exc), origin)
            return False
        self.result.stored.append(meta)
        if gap is not None:
            self.result.gaps.append(gap)
        return True

    def _open(self, token: str) -> tuple[ReleaseMeta, dict[str, Any]]:
        """Decrypted and verified, or Rejected; the header's unverified claim of who sent it is
        kept only in the detail, quoted, to help follow the rejection up."""
        try:
            return open_release(token, self.private_key, self.sender_keys)
        except SealError as exc:
            raise Rejected(exc.reason, f"{exc}{_claim(token)}") from None

    def _check(self, meta: ReleaseMeta, bundle: dict[str, Any]) -> list[dict[str, Any]]:
        if meta.recipient != self.recipient:
            raise Rejected(
                "wrong-recipient", f"addressed to {meta.recipient}, not this hub ({self.recipient})"
            )
        if self.agreements is not None and meta.agreement_id not in self.agreements:
            raise Rejected(
                "unknown-agreement",
                f"agreement {meta.agreement_id} is not one this "
                "hub receives under; add it to the hub's agreements if it is new",
            )
        try:
            reports = bundle_reports(bundle)
            check_release(meta, reports, self.fallback)
        except ReleaseProblem as exc:
            raise Rejected(exc.reason, exc.detail) from None
        except MALFORMED as exc:  # a report of the wrong shape: refused, never a crash
            raise Rejected("malformed", str(malformed_report(bundle, exc))) from None
        self._check_new(meta)
        return reports

    def _check_new(self, meta: ReleaseMeta) -> None:
        if self.store.has_release(meta.release_id):
            raise Rejected(
                "replayed-release",
                f"release {meta.release_id} (sequence {meta.sequence}) was already received",
            )
        last = self.store.last_sequence(meta.sender, meta.agreement_id)
        if last is not None and meta.sequence <= last:
            raise Rejected(
                "replayed-sequence",
                f"sequence {meta.sequence} from {meta.sender} "
                f"under {meta.agreement_id} is not after the last received ({last})",
            )

    def _gap(self, meta: ReleaseMeta) -> Gap | None:
        last = self.store.last_sequence(meta.sender, meta.agreement_id) or 0
        if meta.sequence <= last + 1:
            return None
        return Gap(meta.sender, meta.agreement_id, (last + 1, meta.sequence - 1))

    def reject(self, sender: str, reason: str, detail: str, origin: str) -> None:
        """Record a rejection; ``sender`` is a verified signer's ODS code or UNVERIFIED."""
        self.store.add_rejection(self.clock(), sender, reason, f"{detail} [from {origin}]")
        self.result.rejected.append(Rejection(sender, reason, detail, origin))


def _claim(token: str) -> str:
    """The unverified header's sender claim, quoted and cut short, for a rejection's detail."""
    try:
        claimed = peek_headers(token).get("ltc_sender")
    except SealError:
        return ""
    if claimed is None:
        return ""
    return f" (the unverified header claims sender {str(claimed)[:CLAIM_CHARS]!r})"


def read_bounded(source: BinaryIO, limit: int) -> str | None:
    """A sealed release's text, read in chunks of at most 1 MiB; None as soon as it passes
    ``limit`` bytes, so an oversized file or message never sits in memory whole."""
    chunks, size = [], 0
    while chunk := source.read(min(_CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks).decode("ascii", errors="replace")


def _too_large(size: str) -> str:
    return (
        f"the sealed release is {size}, over the hub's limit of {MAX_SEALED_BYTES:,} bytes "
        f"(a release of {MAX_RELEASE_BYTES:,} bytes of figures, sealed); it was not read. Ask "
        "the sender to split it (one release per practice and month)"
    )


# -- inboxes -------------------------------------------------------------------------------------
def receive_folder(receiver: Receiver, directory: Path | str) -> ReceiveResult:
    """Every ``*.jwe`` in a folder, oldest name first; each moved to processed/ or rejected/.
    A file over the size limit is refused from its size alone, never read."""
    directory = Path(directory)
    for path in sorted(directory.glob("*.jwe")):
        stored = _receive_file(receiver, path)
        target = directory / ("processed" if stored else "rejected")
        target.mkdir(exist_ok=True)
        shutil.move(path, target / path.name)
    return receiver.result


def receive_mesh(receiver: Receiver, client: Any, workflow_id: str | None) -> ReceiveResult:
    """Every message in the hub's MESH inbox (for the workflow), acknowledged once handled."""
    for message_id in _mesh_ids(client, workflow_id):
        with client.retrieve_message(message_id) as message:
            origin = f"MESH message {message_id}"
            token = read_bounded(message, MAX_SEALED_BYTES)
            if token is None:  # refused and acknowledged, so it does not block the inbox
                receiver.reject(UNVERIFIED, TOO_LARGE, _too_large("larger"), origin)
            else:
                receiver.receive(token, origin=origin)
            message.acknowledge()
    return receiver.result


def _receive_file(receiver: Receiver, path: Path) -> bool:
    origin = f"folder {path.name}"
    size = path.stat().st_size
    token = None
    if size <= MAX_SEALED_BYTES:
        with path.open("rb") as handle:
            token = read_bounded(handle, MAX_SEALED_BYTES)  # None: it grew past the limit
    if token is None:
        receiver.reject(UNVERIFIED, TOO_LARGE, _too_large(f"{size:,} bytes"), origin)
        return False
    return receiver.receive(token, origin=origin)


def _mesh_ids(client: Any, workflow_id: str | None) -> Iterator[str]:
    yield from client.list_messages(workflow_filter=workflow_id)
