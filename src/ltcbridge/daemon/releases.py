"""The daemon's monthly releases: prepared from its state, approved by a person, sent once.

Life of a release (``releases.sqlite`` in the state directory keeps its state):

- **prepared**: once a month has closed and ``[feed] grace_days`` have passed (or by hand with
  ``ltcbridge release prepare``), each agreement's release is built from the state
  (`release_source`) through the privacy gate, protected against the release history
  (``history.sqlite``). Its reports, metadata, history entry and the IG lead's manifest are kept
  owner-only in ``releases/RELEASE_ID/``. A new release of the same month supersedes one not yet
  sealed.
- **approved**: a person ran ``ltcbridge release approve`` (who and when: the audit log). Nothing
  is sealed or sent before.
- the next cycle **seals** it (recorded in the history and the receipts at that moment) and
  **sends** it through ``[feed] transport``; the receipts (``receipts.sqlite``) make a repeat
  after a crash harmless (`ltcbridge.feed.transport.send.send_release`).
- **sent**, then **acknowledged** when the transport confirms it; **failed** when delivery
  failed (``release resend`` tries again); **superseded** when a later release of the same month
  and agreement was sent (the hub keeps the newest sequence).
"""

from __future__ import annotations

import getpass
import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.agreement import Agreement, load_agreement
from ltcbridge.daemon.config import Config
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.release_source import state_export
from ltcbridge.daemon.state import StateStore, now_iso
from ltcbridge.disclosure.cells import PublishedRelease
from ltcbridge.disclosure.history import HistoryStore, decode, encode
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.manifest import release_measures, reports_of_org
from ltcbridge.feed.preview import preview_text
from ltcbridge.feed.receipts import ACKNOWLEDGED, ReceiptStore
from ltcbridge.feed.release import ReleaseMeta, new_release_meta
from ltcbridge.feed.seal import load_key
from ltcbridge.feed.transport.base import DeliveryError, RetryPolicy, Transport
from ltcbridge.feed.transport.send import SendOutcome, send_release
from ltcbridge.mapping import Mappings, load_mappings
from ltcbridge.period import check_period
from ltcbridge.pipeline import FeedBuild, build_release, manifest_of, scan_for_feed
from ltcbridge.private_data import (
    HISTORY_FILE,
    RECEIPTS_FILE,
    RELEASES_DIR,
    private_file,
    write_private,
)
from ltcbridge.sealing import seal_and_record

PREPARED, APPROVED, SENT, FAILED, SUPERSEDED = (
    "prepared", "approved", "sent", "failed", "superseded"
)  # fmt: skip
STATES = (PREPARED, APPROVED, SENT, ACKNOWLEDGED, FAILED, SUPERSEDED)
INDEX_FILE = "releases.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS release (
    release_id TEXT PRIMARY KEY, agreement_id TEXT NOT NULL, recipient TEXT NOT NULL,
    sender TEXT NOT NULL, period TEXT NOT NULL, state TEXT NOT NULL,
    prepared_at TEXT NOT NULL, prepared_by TEXT NOT NULL, protected_against INTEGER NOT NULL,
    approved_by TEXT, approved_at TEXT, sequence INTEGER, sent_at TEXT, detail TEXT,
    updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS release_month ON release (agreement_id, period);
CREATE TABLE IF NOT EXISTS agreement_start (
    agreement_id TEXT PRIMARY KEY, first_period TEXT NOT NULL);
"""


class ReleaseError(LtcbridgeError):
    """A release command cannot be done; the message says why and what to do."""


def today() -> date:
    """The practice's date (tests replace it to cross a month boundary)."""
    return date.today()


@dataclass(frozen=True)
class Release:
    """One row of ``release list``."""

    release_id: str
    agreement_id: str
    recipient: str
    sender: str
    period: str
    state: str
    prepared_at: str
    prepared_by: str
    protected_against: int
    approved_by: str | None
    approved_at: str | None
    sequence: int | None
    sent_at: str | None
    detail: str | None
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- the index -----------------------------------------------------------------------------------
class ReleaseIndex:
    """Every release the daemon prepared and its state; owner-only SQLite beside the state."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir
        self.path = private_file(state_dir / INDEX_FILE)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def all(self) -> list[Release]:
        rows = self.db.execute("SELECT * FROM release ORDER BY period, agreement_id, prepared_at")
        return [Release(**dict(row)) for row in rows]

    def get(self, release_id: str) -> Release:
        row = self.db.execute("SELECT * FROM release WHERE release_id = ?", (release_id,))
        found = row.fetchone()
        if found is None:
            raise ReleaseError(
                f"no release {release_id} in {self.path}: `ltcbridge release list` shows them"
            )
        return Release(**dict(found))

    def of_month(self, agreement_id: str, period: str) -> list[Release]:
        rows = self.db.execute(
            "SELECT * FROM release WHERE agreement_id = ? AND period = ? ORDER BY prepared_at",
            (agreement_id, period),
        )
        return [Release(**dict(row)) for row in rows]

    def in_state(self, *states: str) -> list[Release]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(
            f"SELECT * FROM release WHERE state IN ({marks}) ORDER BY prepared_at", states
        )
        return [Release(**dict(row)) for row in rows]

    def add(self, meta: ReleaseMeta, protected_against: int, by: str) -> None:
        now = now_iso()
        self.db.execute(
            "INSERT INTO release (release_id, agreement_id, recipient, sender, period, state, "
            "prepared_at, prepared_by, protected_against, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (meta.release_id, meta.agreement_id, meta.recipient, meta.sender, meta.period,
             PREPARED, now, by, protected_against, now),
        )  # fmt: skip

    def update(self, release_id: str, **values: Any) -> None:
        values["updated_at"] = now_iso()
        columns = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(
            f"UPDATE release SET {columns} WHERE release_id = ?", (*values.values(), release_id)
        )

    def folder_of(self, release_id: str) -> Path:
        return self.folder / RELEASES_DIR / release_id

    def first_period(self, agreement_id: str, due: str) -> str:
        """The first month the daemon prepares by itself under an agreement: the month due when
        it first met the agreement (or an earlier month it already has a release of), so a
        daemon that was off catches up, but a new one does not prepare the agreement's past."""
        self.db.execute(
            "INSERT OR IGNORE INTO agreement_start SELECT ?, min(coalesce(min(period), ?), ?) "
            "FROM release WHERE agreement_id = ?",
            (agreement_id, due, due, agreement_id),
        )
        row = self.db.execute(
            "SELECT first_period FROM agreement_start WHERE agreement_id = ?", (agreement_id,)
        )
        return str(row.fetchone()[0])


@contextmanager
def open_index(config: Config) -> Iterator[ReleaseIndex]:
    index = ReleaseIndex(config.state_path.parent)
    try:
        yield index
    finally:
        index.close()


# -- preparing -----------------------------------------------------------------------------------
def due_period(on: date, grace_days: int) -> str:
    """The latest month whose release is due on ``on``: closed, and its grace period over."""
    closed = on - timedelta(days=grace_days)
    last_month = closed.replace(day=1) - timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def months(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` month from ``first`` to ``last``, both included, oldest first."""
    year, month = int(first[:4]), int(first[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def agreements_of(config: Config, only: str | None = None) -> list[Agreement]:
    """The daemon's agreements (one, when ``only`` names it)."""
    if only is not None and only not in config.agreements:
        raise ReleaseError(
            f"no agreement {only!r} in [agreements] files of {config.path} "
            f"(ids: {', '.join(sorted(config.agreements)) or 'none'})"
        )
    ids = [only] if only else sorted(config.agreements)
    return [load_agreement(config.agreements[i]) for i in ids]


def prepare_releases(
    config: Config,
    state: StateStore,
    period: str,
    agreements: list[Agreement],
    *,
    by: str,
    mappings: Mappings | None = None,
) -> list[Release]:
    """Build and keep one release per agreement for ``period`` from the state (nothing sent)."""
    check_period(period)
    for agreement in agreements:
        _check_releasable(agreement, period)
    mappings = mappings or load_mappings(config.mappings_dirs)
    history = HistoryStore(config.state_path.parent / HISTORY_FILE)
    measures = sorted({m for a in agreements for m in a.measures})
    with state_export(state, config.practice_ods) as source:
        scanned = scan_for_feed(source, mappings, period, measures, workers=1)
    made = []
    with open_index(config) as index:
        for agreement in agreements:
            against = [*history.load_all(), *_pending_entries(config, index, agreement, period)]
            build = build_release(scanned, mappings, agreement, period, history=against)
            made.append(_keep(config, index, state, build, against, by))
    return made


def _pending_entries(
    config: Config, index: ReleaseIndex, agreement: Agreement, period: str
) -> list[PublishedRelease]:
    """Releases prepared or approved but not sealed yet, of other agreements or months: not in
    the history until sealed, but they may leave, so a new release is protected against them
    too (then sealing one does not force the others to be prepared and approved again)."""
    pending = []
    for release in index.in_state(PREPARED, APPROVED):
        same_month = (release.agreement_id, release.period) == (agreement.id, period)
        if not same_month and not _sealed(config, release.release_id):
            pending.append(_entry_of(index, release.release_id))
    return pending


def _entry_of(index: ReleaseIndex, release_id: str) -> PublishedRelease:
    return decode((index.folder_of(release_id) / "history-entry.json").read_bytes())


def _digests(entries: list[PublishedRelease]) -> list[str]:
    """What identifies each entry (as the history keeps them: one per distinct body)."""
    return sorted({hashlib.sha256(encode(entry)).hexdigest() for entry in entries})


def _check_releasable(agreement: Agreement, period: str) -> None:
    """Refused before any work: an agreement not in force, or a month outside it."""
    agreement.check_in_force(today())
    if not agreement.covers_period(period):
        raise ReleaseError(
            f"agreement {agreement.id} runs from {agreement.valid_from} to "
            f"{agreement.valid_until}; {period} is outside it, so no release of that month is "
            "prepared under it"
        )


def _keep(
    config: Config,
    index: ReleaseIndex,
    state: StateStore,
    build: FeedBuild,
    against: list[PublishedRelease],
    by: str,
) -> Release:
    """Keep a built release (owner-only) and supersede any not-yet-sealed one of its month."""
    sender = config.practice_ods
    if sender not in build.orgs:
        raise ReleaseError(
            f"the state holds no one registered at {sender} ([practice] ods) for "
            f"{build.period} (it holds {', '.join(build.orgs) or 'no one'}): check [practice] ods"
        )
    reports = reports_of_org(build.reports, sender)
    meta = new_release_meta(
        agreement_id=build.agreement.id,
        sender=sender,
        recipient=build.agreement.recipient,
        period=build.period,
        sequence=1,
        measures=release_measures(reports),
    )  # fmt: skip  (the sequence is given when it is sealed)
    folder = index.folder_of(meta.release_id)
    _write(folder / "reports.json", orjson.dumps(reports))
    _write(folder / "meta.json", meta.to_json().encode())
    _write(folder / "history-entry.json", encode(build.release))
    _write(folder / "protected-against.json", orjson.dumps(_digests(against)))
    _write(folder / "manifest.md", _manifest_text(build, meta).encode())
    _write(folder / "preview.txt", preview_text(build.protected, sender).encode())
    with sqlite_unit(index.db):
        for earlier in index.of_month(meta.agreement_id, meta.period):
            if earlier.state in (PREPARED, APPROVED) and not _sealed(config, earlier.release_id):
                index.update(earlier.release_id, state=SUPERSEDED, detail=meta.release_id)
        index.add(meta, len(_digests(against)), by)
    with state.unit():
        state.audit("release-prepared", f"release/{meta.release_id}", recipient=meta.recipient,
                    agreement=meta.agreement_id, period=meta.period, by=by)  # fmt: skip
    event("release.prepared", release=meta.release_id, agreement=meta.agreement_id,
          period=meta.period)  # fmt: skip
    return index.get(meta.release_id)


def _manifest_text(build: FeedBuild, meta: ReleaseMeta) -> str:
    if build.agreement.approval_required:
        approval = (
            "Approval: this release is sent only after a person approves it "
            f"(`ltcbridge release approve --config FILE {meta.release_id}`).\n"
        )
    else:
        approval = (
            f"Approval: NOT REQUIRED. Agreement {build.agreement.id} says [agreement] "
            "approval_required = false, so the daemon seals and sends this release after "
            "preparing it, with no one approving it.\n"
        )
    return manifest_of(build).text() + (
        "\n\nWhat would leave, figure by figure: preview.txt beside this file.\n" + approval
    )


def _write(path: Path, data: bytes) -> None:
    with write_private(path) as handle:
        handle.write(data)


@contextmanager
def sqlite_unit(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _sealed(config: Config, release_id: str) -> bool:
    with closing_receipts(config) as receipts:
        return receipts.get(release_id) is not None


@contextmanager
def closing_receipts(config: Config) -> Iterator[ReceiptStore]:
    with closing(ReceiptStore(config.state_path.parent / RECEIPTS_FILE)) as receipts:
        yield receipts


# -- approving and resending ---------------------------------------------------------------------
def approve(config: Config, state: StateStore, release_id: str, by: str | None = None) -> Release:
    """A person approves a prepared release; recorded in the audit log with who and when."""
    who = by or getpass.getuser()
    with open_index(config) as index:
        release = index.get(release_id)
        if release.state != PREPARED:
            raise ReleaseError(
                f"release {release_id} is {release.state}, not prepared: only a prepared "
                "release is approved (`ltcbridge release list` shows each one's state)"
            )
        _mark_approved(index, state, release, who)
        return index.get(release_id)


def _mark_approved(index: ReleaseIndex, state: StateStore, release: Release, who: str) -> None:
    """The release is approved by ``who`` (a person, or the agreement that needs none): in the
    index, and in the audit log with who and when; the next cycle seals and sends it."""
    index.update(release.release_id, state=APPROVED, approved_by=who, approved_at=now_iso())
    with state.unit():
        state.audit("release-approved", f"release/{release.release_id}",
                    recipient=release.recipient, agreement=release.agreement_id,
                    period=release.period, by=who)  # fmt: skip


def resend(config: Config, state: StateStore, release_id: str, by: str | None = None) -> Release:
    """Send again a release whose delivery failed or was never confirmed (next cycle)."""
    who = by or getpass.getuser()
    with open_index(config) as index, closing_receipts(config) as receipts:
        release = index.get(release_id)
        receipt = receipts.get(release_id)
        if release.state not in (FAILED, SENT) or receipt is None:
            raise ReleaseError(
                f"release {release_id} is {release.state}: only a failed release, or one sent "
                "but not acknowledged, is sent again"
            )
        if receipt.delivered:
            receipts.mark_failed(release_id, f"resend asked for by {who}")
        index.update(release_id, state=APPROVED, detail=f"resend asked for by {who}")
        with state.unit():
            state.audit("release-resend", f"release/{release_id}", recipient=release.recipient,
                        agreement=release.agreement_id, period=release.period, by=who)  # fmt: skip
        return index.get(release_id)


# -- the cycle's part ----------------------------------------------------------------------------
def run_releases(
    config: Config, state: StateStore, transport: Transport | None = None
) -> dict[str, Any]:
    """Prepare what is due, then seal and send what was approved; counts for the summary.

    A release problem (an agreement expired, a key missing, delivery failed) is reported in the
    summary and the log; it never stops the sync."""
    summary: dict[str, Any] = {"releases_prepared": 0, "releases_sent": 0, "release_errors": []}
    if not config.feed.configured:
        return summary
    summary["releases_prepared"] = _prepare_due(config, state, summary["release_errors"])
    with open_index(config) as index:
        _approve_where_not_required(config, state, index)
        if not index.in_state(APPROVED, SENT):
            return summary
        made = transport is None
        try:
            transport = transport or make_transport(config)
            summary["releases_sent"] = _deliver(config, state, index, transport, summary)
        except LtcbridgeError as exc:  # the transport cannot be set up
            summary["release_errors"].append(str(exc))
        finally:
            close = getattr(transport, "close", None)
            if made and callable(close):
                close()
    return summary


def _prepare_due(config: Config, state: StateStore, errors: list[str]) -> int:
    """Every closed month (grace over) of each agreement with no release yet, oldest first (a
    daemon that was off catches up): one read of the state per month for all its agreements;
    an agreement that cannot release is reported, the others go on. A month with a release is
    prepared again only by hand (``release prepare``)."""
    prepared = 0
    for period, agreements in _waiting_months(config, errors):
        ready = []
        for agreement in agreements:
            try:
                _check_releasable(agreement, period)
                ready.append(agreement)
            except LtcbridgeError as exc:
                _prepare_failed(errors, agreement.id, period, exc)
        if not ready:
            continue
        try:
            prepared += len(prepare_releases(config, state, period, ready, by="daemon"))
        except LtcbridgeError as exc:
            _prepare_failed(errors, ", ".join(a.id for a in ready), period, exc)
    return prepared


def _waiting_months(config: Config, errors: list[str]) -> list[tuple[str, list[Agreement]]]:
    """(month, the agreements covering it with no release of it yet), oldest month first."""
    due = due_period(today(), config.feed.grace_days)
    waiting: dict[str, list[Agreement]] = {}
    with open_index(config) as index:
        for agreement_id in sorted(config.agreements):
            first = index.first_period(agreement_id, due)
            try:
                agreement = load_agreement(config.agreements[agreement_id])
            except LtcbridgeError as exc:
                _prepare_failed(errors, agreement_id, due, exc)
                continue
            for period in months(first, due):
                if agreement.covers_period(period) and not index.of_month(agreement_id, period):
                    waiting.setdefault(period, []).append(agreement)
    return sorted(waiting.items())


def _approve_where_not_required(config: Config, state: StateStore, index: ReleaseIndex) -> None:
    """Each prepared release whose agreement says ``approval_required = false`` is approved by
    the agreement, so this cycle seals and sends it. Done here rather than when it is prepared,
    so that one prepared by hand, or left prepared by a crash, is approved the same way."""
    for release in index.in_state(PREPARED):
        path = config.agreements.get(release.agreement_id)
        try:
            agreement = load_agreement(path) if path else None
        except LtcbridgeError:  # reported when its months are prepared; a person may approve
            continue
        if agreement is not None and not agreement.approval_required:
            _mark_approved(index, state, release, no_approval_needed(agreement))


def no_approval_needed(agreement: Agreement) -> str:
    """Who approved a release under an agreement that needs no person's approval."""
    return f"agreement {agreement.id} ([agreement] approval_required = false)"


def _prepare_failed(errors: list[str], what: str, period: str, exc: LtcbridgeError) -> None:
    errors.append(f"preparing {what} {period}: {exc}")
    event("release.error", level=40, agreement=what, period=period, error=str(exc))


def _deliver(
    config: Config,
    state: StateStore,
    index: ReleaseIndex,
    transport: Transport,
    summary: dict[str, Any],
) -> int:
    """Send each approved release; ask about each sent one whether it was acknowledged."""
    sent = 0
    with closing_receipts(config) as receipts:
        for release in index.in_state(APPROVED):
            try:
                sent += _send_one(config, state, index, receipts, release, transport)
            except LtcbridgeError as exc:
                summary["release_errors"].append(f"release {release.release_id}: {exc}")
                _failed(state, index, receipts, release, str(exc))
        for release in index.in_state(SENT):
            try:
                _record(state, index, release, _send(index, receipts, release, transport))
            except LtcbridgeError as exc:  # cannot ask now: it stays sent, asked next cycle
                event("release.unconfirmed", release=release.release_id, error=str(exc))
    return sent


def _failed(
    state: StateStore, index: ReleaseIndex, receipts: ReceiptStore, release: Release, why: str
) -> None:
    """A sealed release whose delivery failed waits for `release resend`; one not yet sealed is
    tried again next cycle, once the cause (a key, the agreement's dates) is fixed."""
    event("release.failed", level=40, release=release.release_id, error=why)
    if receipts.get(release.release_id) is None:  # still approved; `release list` says why
        index.update(release.release_id, detail=f"not sealed yet: {why}")
        return
    index.update(release.release_id, state=FAILED, detail=why)
    with state.unit():
        state.audit("release-failed", f"release/{release.release_id}",
                    recipient=release.recipient, agreement=release.agreement_id,
                    reason=why)  # fmt: skip


def _send_one(
    config: Config,
    state: StateStore,
    index: ReleaseIndex,
    receipts: ReceiptStore,
    release: Release,
    transport: Transport,
) -> int:
    """Seal (once) and send (once) one approved release."""
    agreement = load_agreement(config.agreements[release.agreement_id])
    agreement.check_in_force(today())
    if receipts.get(release.release_id) is None:
        if _history_changed(config, index, release):
            _prepare_again(config, state, release, agreement)
            return 0
        _seal(config, index, receipts, release)
    receipt = receipts.get(release.release_id)
    if receipt is not None and not receipt.delivered:
        _check_folder(config)
    outcome = _send(index, receipts, release, transport)
    _record(state, index, release, outcome)
    return int(outcome.delivered_now)


def _send(
    index: ReleaseIndex, receipts: ReceiptStore, release: Release, transport: Transport
) -> SendOutcome:
    """The sealed file through `send_release`: delivered unless the receipts show it was (then
    only its acknowledgement is asked for)."""
    token = _token_path(index, release.release_id).read_text(encoding="ascii").strip()
    return send_release(token, transport, receipts, policy=RetryPolicy(attempts=3))


def _record(state: StateStore, index: ReleaseIndex, release: Release, outcome: SendOutcome) -> None:
    """The release's new state (sent, acknowledged) in the index and the audit log."""
    receipt = outcome.receipt
    new_state = ACKNOWLEDGED if receipt.status == ACKNOWLEDGED else SENT
    if new_state == release.state and not outcome.delivered_now:
        return
    index.update(release.release_id, state=new_state, sequence=receipt.sequence,
                 sent_at=receipt.sent_at, detail=receipt.message_id)  # fmt: skip
    with state.unit():
        state.audit(f"release-{new_state}", f"release/{release.release_id}",
                    recipient=release.recipient, agreement=release.agreement_id,
                    transport=receipt.transport, message=receipt.message_id)  # fmt: skip
    _supersede_earlier(index, release)


def _history_changed(config: Config, index: ReleaseIndex, release: Release) -> bool:
    """Whether a release this one was not protected against was recorded since it was prepared
    (its own entry may be there already when a crash stopped its sealing half-way)."""
    folder = index.folder_of(release.release_id)
    known = set(orjson.loads((folder / "protected-against.json").read_bytes()))
    known.update(_digests([_entry_of(index, release.release_id)]))
    recorded = HistoryStore(config.state_path.parent / HISTORY_FILE).load_all()
    return not set(_digests(recorded)) <= known


def _token_path(index: ReleaseIndex, release_id: str) -> Path:
    return index.folder_of(release_id) / "sealed.jwe"


def _seal(
    config: Config,
    index: ReleaseIndex,
    receipts: ReceiptStore,
    release: Release,
) -> None:
    """Seal with the next sequence; history, then the sealed file, then the receipt. A crash
    before the receipt leaves it unsealed (the history keeps the same entry once)."""
    folder = index.folder_of(release.release_id)
    meta = ReleaseMeta.from_json((folder / "meta.json").read_bytes())
    meta = replace(meta, sequence=receipts.next_sequence(meta.sender, meta.recipient,
                                                         meta.agreement_id))  # fmt: skip
    reports = orjson.loads((folder / "reports.json").read_bytes())
    recipient_key = config.feed.recipient_keys.get(meta.recipient)
    if recipient_key is None:
        raise ReleaseError(
            f"[feed] recipient_keys has no public key for {meta.recipient}, the recipient of "
            f'agreement {meta.agreement_id}: add {meta.recipient} = "PATH.pem"'
        )
    assert config.feed.signing_key is not None  # parse_feed always sets it
    seal_and_record(
        meta,
        reports,
        decode((folder / "history-entry.json").read_bytes()),
        keys=(
            load_key(config.feed.signing_key, private=True),
            load_key(recipient_key, private=False),
        ),
        history=HistoryStore(config.state_path.parent / HISTORY_FILE),
        receipts=receipts,
        sealed_path=_token_path(index, release.release_id),
    )
    event("release.sealed", release=meta.release_id, sequence=meta.sequence)


def _prepare_again(
    config: Config, state: StateStore, release: Release, agreement: Agreement
) -> None:
    """Another release was sealed since this one was prepared: its figures were protected
    against an older history, so it is prepared again (and needs approving again)."""
    prepare_releases(config, state, release.period, [agreement], by="daemon")
    event("release.prepared_again", release=release.release_id, period=release.period)


def _supersede_earlier(index: ReleaseIndex, release: Release) -> None:
    for earlier in index.of_month(release.agreement_id, release.period):
        older = earlier.prepared_at <= release.prepared_at
        other = earlier.release_id != release.release_id
        if other and older and earlier.state in (SENT, ACKNOWLEDGED):
            index.update(earlier.release_id, state=SUPERSEDED, detail=release.release_id)


def _check_folder(config: Config) -> None:
    """A drop folder that vanished (or was never there) is refused, never created."""
    folder = config.feed.folder
    if config.feed.transport == "folder" and (folder is None or not folder.is_dir()):
        raise DeliveryError(
            f"[feed] folder {folder} does not exist: nothing was sent; fix the folder (ltcbridge "
            "never creates it), then `ltcbridge release resend`"
        )


def make_transport(config: Config) -> Transport:
    """The transport ``[feed]`` names (MESH secrets from the service's environment)."""
    import os

    feed = config.feed
    if feed.transport == "folder":
        from ltcbridge.feed.transport.folder import FolderTransport

        return FolderTransport(feed.folder or Path())
    if feed.transport == "https":
        from ltcbridge.feed.transport.https import HttpsTransport

        headers = {"Authorization": f"Bearer {feed.token.reveal()}"} if feed.token else {}
        return HttpsTransport(str(feed.url), headers=headers)
    from ltcbridge.feed.transport.mesh import DEFAULT_WORKFLOW_ID, MeshSettings, MeshTransport

    password, shared_key = os.environ.get("MESH_PASSWORD"), os.environ.get("MESH_SHARED_KEY")
    if not (password and shared_key):
        raise ReleaseError("set MESH_PASSWORD and MESH_SHARED_KEY in the service's environment")
    cert = (str(feed.mesh_cert), str(feed.mesh_cert_key)) if feed.mesh_cert else None
    settings = MeshSettings(
        url=str(feed.mesh_url), mailbox=str(feed.mailbox), password=password,
        shared_key=shared_key, workflow_id=feed.workflow_id or DEFAULT_WORKFLOW_ID,
        verify=str(feed.mesh_ca) if feed.mesh_ca else None, cert=cert,
    )  # fmt: skip
    return MeshTransport(settings, str(feed.mesh_to))


# -- status --------------------------------------------------------------------------------------
def release_health(config: Config) -> dict[str, Any]:
    """What the health file and ``status`` show: waiting for approval, failed, by state."""
    if not config.feed.configured:
        return {"configured": False}
    with open_index(config) as index:
        releases = index.all()
    return {
        "configured": True,
        "waiting_for_approval": [r.release_id for r in releases if r.state == PREPARED],
        "failed": [r.release_id for r in releases if r.state == FAILED],
        "by_state": {s: sum(r.state == s for r in releases) for s in STATES},
    }


def release_status_rows(config: Config, last_run_errors: list[str]) -> list[tuple[str, str]]:
    """``ltcbridge status`` lines: what waits for approval, what failed (delivery, or in the
    last run: preparing or sealing), how many were sent."""
    health = release_health(config)
    if not health["configured"]:
        return [("monthly releases", "no [feed] section: none prepared or sent")]
    counts = health["by_state"]
    waiting, failed = health["waiting_for_approval"], health["failed"]
    return [
        ("releases waiting for approval", ", ".join(waiting) or "none"),
        ("releases whose delivery failed (release resend)", ", ".join(failed) or "none"),
        ("release problems in the last run", "; ".join(last_run_errors) or "none"),
        ("releases sent / acknowledged", f"{counts[SENT]} / {counts[ACKNOWLEDGED]}"),
    ]
