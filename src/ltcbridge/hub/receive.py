"""The commissioner's side of a release: collect, verify, decrypt, check, store, or reject.

Every sealed release that arrives ends in exactly one of two places: stored whole through the
``HubStore`` (all-or-nothing), or recorded as a rejection with its reason. Checks, in order:
it opens (recipient key, known sender key, signature, not tampered); it is for this hub; its
agreement is one the hub accepts; its release id and sequence are new (a replay is rejected); a
sequence that skips numbers is stored and the gap reported, since a lost release must not hold up
the ones after it. A MESH message is acknowledged only once its outcome is recorded, so a crash
in between means it is received again, and then rejected as a replay, never lost.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import ReleaseMeta, utc_now
from ltcbridge.feed.seal import (
    Key,
    SealError,
    SenderKeys,
    bundle_reports,
    open_release,
    peek_headers,
)
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.hub.figures import malformed_report
from ltcbridge.hub.protocol import HubStore
from ltcbridge.period import PERIOD


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

    def receive(self, token: str, origin: str) -> bool:
        """Store or reject one sealed release; True when stored. Store failures propagate."""
        try:
            meta, reports = self._check(token)
        except Rejected as exc:
            self._reject(token, exc.reason, exc.detail, origin)
            return False
        gap = self._gap(meta)
        try:
            self.store.add_release(meta, reports)
        except LtcbridgeError as exc:  # the store refused the content: a rejection, not an outage
            self._reject(token, "store-refused", str(exc), origin)
            return False
        self.result.stored.append(meta)
        if gap is not None:
            self.result.gaps.append(gap)
        return True

    def _check(self, token: str) -> tuple[ReleaseMeta, list[dict[str, Any]]]:
        try:
            meta, bundle = open_release(token, self.private_key, self.sender_keys)
        except SealError as exc:
            raise Rejected(exc.reason, str(exc)) from None
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
        if not PERIOD.match(meta.period):
            raise Rejected("bad-period", f"period {meta.period!r} is not a month YYYY-MM")
        try:
            reports = bundle_reports(bundle)
            _check_reports(meta, reports)
        except MALFORMED as exc:  # a report of the wrong shape: refused, never a crash
            raise Rejected("malformed", str(malformed_report(bundle, exc))) from None
        self._check_new(meta)
        return meta, reports

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

    def _reject(self, token: str, reason: str, detail: str, origin: str) -> None:
        sender = _claimed_sender(token)
        self.store.add_rejection(self.clock(), sender, reason, f"{detail} [from {origin}]")
        self.result.rejected.append(Rejection(sender, reason, detail, origin))


def _check_reports(meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None:
    """Every entry a MeasureReport for the release's period and measures."""
    if not reports:
        raise Rejected("empty-release", "the release carries no MeasureReport")
    for report in reports:
        reporter = report.get("reporter", {}).get("identifier", {}).get("value")
        if reporter != meta.sender:
            raise Rejected(
                "reporter-mismatch",
                f"MeasureReport {report.get('id')} reports for {reporter}, but the release is "
                f"from {meta.sender}: a sender may only send its own figures",
            )
        if report.get("resourceType") != "MeasureReport":
            raise Rejected(
                "malformed", f"bundle holds a {report.get('resourceType')}, not only MeasureReports"
            )
        start = str(report.get("period", {}).get("start", ""))
        if not start.startswith(meta.period):
            raise Rejected(
                "period-mismatch",
                f"MeasureReport {report.get('id')} is for "
                f"{start[:7] or 'no period'}, the release for {meta.period}",
            )
        if meta.measures and report.get("measure") not in meta.measures:
            raise Rejected(
                "measure-mismatch",
                f"MeasureReport {report.get('id')} measures "
                f"{report.get('measure')}, not listed in the release",
            )


def _claimed_sender(token: str) -> str | None:
    """Who the header says sent it: unverified, recorded only to help follow a rejection up."""
    try:
        return str(peek_headers(token).get("ltc_sender")) or None
    except SealError:
        return None


# -- inboxes -------------------------------------------------------------------------------------
def receive_folder(receiver: Receiver, directory: Path | str) -> ReceiveResult:
    """Every ``*.jwe`` in a folder, oldest name first; each moved to processed/ or rejected/."""
    directory = Path(directory)
    for path in sorted(directory.glob("*.jwe")):
        token = path.read_text(encoding="ascii", errors="replace")
        stored = receiver.receive(token, origin=f"folder {path.name}")
        target = directory / ("processed" if stored else "rejected")
        target.mkdir(exist_ok=True)
        shutil.move(path, target / path.name)
    return receiver.result


def receive_mesh(receiver: Receiver, client: Any, workflow_id: str | None) -> ReceiveResult:
    """Every message in the hub's MESH inbox (for the workflow), acknowledged once handled."""
    for message_id in _mesh_ids(client, workflow_id):
        with client.retrieve_message(message_id) as message:
            token = message.read().decode("ascii", errors="replace")
            receiver.receive(token, origin=f"MESH message {message_id}")
            message.acknowledge()
    return receiver.result


def _mesh_ids(client: Any, workflow_id: str | None) -> Iterator[str]:
    yield from client.list_messages(workflow_filter=workflow_id)
