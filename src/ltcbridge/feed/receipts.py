"""The practice's record of every release it sealed and where each one went.

It is what makes sending safe to repeat: a release id that already has a ``sent`` or
``acknowledged`` receipt is never delivered again, and the next release's sequence number comes
from here. SQLite in WAL mode, one small file beside the practice's other state; it holds no
patient data (ids, codes, counts of attempts, times).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import ReleaseMeta, utc_now
from ltcbridge.private_data import private_file

SEALED, SENDING, SENT, ACKNOWLEDGED, FAILED = "sealed", "sending", "sent", "acknowledged", "failed"
DELIVERED = (SENT, ACKNOWLEDGED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    release_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    period TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    transport TEXT,
    message_id TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    sealed_at TEXT NOT NULL,
    sent_at TEXT,
    acknowledged_at TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (sender, recipient, agreement_id, sequence)
);
"""


class ReceiptError(LtcbridgeError):
    """The receipts store refuses something that would break 'once, in order'."""


@dataclass(frozen=True)
class Receipt:
    """One release's delivery state."""

    release_id: str
    sender: str
    recipient: str
    agreement_id: str
    period: str
    sequence: int
    transport: str | None
    message_id: str | None
    status: str
    attempts: int
    detail: str | None
    sealed_at: str
    sent_at: str | None
    acknowledged_at: str | None
    updated_at: str

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED


class ReceiptStore:
    """Receipts in one SQLite file (WAL, so a status check never waits on a send in progress)."""

    def __init__(self, path: Path | str) -> None:
        self.path = private_file(Path(path))
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ReceiptStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- sequences and sealing ------------------------------------------------------------------
    def next_sequence(self, sender: str, recipient: str, agreement_id: str) -> int:
        """1 for the first release under an agreement, then one more than the last sealed."""
        row = self._db.execute(
            "SELECT MAX(sequence) FROM receipts WHERE sender=? AND recipient=? AND agreement_id=?",
            (sender, recipient, agreement_id),
        ).fetchone()
        return (row[0] or 0) + 1

    def record_sealed(self, meta: ReleaseMeta) -> None:
        """Keep a new release; its sequence must be the next one (refused otherwise)."""
        with self._transaction() as db:
            expected = self.next_sequence(meta.sender, meta.recipient, meta.agreement_id)
            if meta.sequence != expected:
                raise ReceiptError(
                    f"release sequence {meta.sequence} is not the next one ({expected}) for "
                    f"{meta.sender} -> {meta.recipient} under {meta.agreement_id}: seal it again"
                )
            self._insert(db, meta)

    def adopt(self, meta: ReleaseMeta) -> Receipt:
        """The receipt of a release sealed elsewhere (or earlier), created if it is new here."""
        receipt = self.get(meta.release_id)
        if receipt is not None:
            return receipt
        with self._transaction() as db:
            self._insert(db, meta)
        return self._require(meta.release_id)

    def _insert(self, db: sqlite3.Connection, meta: ReleaseMeta) -> None:
        now = utc_now()
        try:
            db.execute(
                "INSERT INTO receipts (release_id, sender, recipient, agreement_id, period, "
                "sequence, status, sealed_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    meta.release_id,
                    meta.sender,
                    meta.recipient,
                    meta.agreement_id,
                    meta.period,
                    meta.sequence,
                    SEALED,
                    now,
                    now,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise ReceiptError(
                f"release {meta.release_id} (sequence {meta.sequence}) clashes with one already "
                f"recorded in {self.path}: {exc}"
            ) from None

    # -- delivery -------------------------------------------------------------------------------
    def get(self, release_id: str) -> Receipt | None:
        row = self._db.execute(
            "SELECT * FROM receipts WHERE release_id=?", (release_id,)
        ).fetchone()
        return None if row is None else _receipt(row)

    def _require(self, release_id: str) -> Receipt:
        receipt = self.get(release_id)
        if receipt is None:
            raise ReceiptError(f"no receipt for release {release_id} in {self.path}")
        return receipt

    def mark_sending(self, release_id: str, transport: str) -> Receipt:
        """Claim the release for one send attempt; refused when it is already delivered."""
        with self._transaction() as db:
            receipt = self._require(release_id)
            if receipt.delivered:
                raise ReceiptError(
                    f"release {release_id} was already delivered by "
                    f"{receipt.transport} ({receipt.message_id})"
                )
            db.execute(
                "UPDATE receipts SET status=?, transport=?, attempts=attempts+1, updated_at=? "
                "WHERE release_id=?",
                (SENDING, transport, utc_now(), release_id),
            )
        return self._require(release_id)

    def mark_sent(self, release_id: str, transport: str, message_id: str) -> Receipt:
        now = utc_now()
        self._db.execute(
            "UPDATE receipts SET status=?, transport=?, message_id=?, sent_at=?, detail=NULL, "
            "updated_at=? WHERE release_id=?",
            (SENT, transport, message_id, now, now, release_id),
        )
        return self._require(release_id)

    def mark_failed(self, release_id: str, detail: str) -> Receipt:
        self._db.execute(
            "UPDATE receipts SET status=?, detail=?, updated_at=? WHERE release_id=?",
            (FAILED, detail, utc_now(), release_id),
        )
        return self._require(release_id)

    def mark_acknowledged(self, release_id: str) -> Receipt:
        now = utc_now()
        self._db.execute(
            "UPDATE receipts SET status=?, acknowledged_at=?, updated_at=? WHERE release_id=?",
            (ACKNOWLEDGED, now, now, release_id),
        )
        return self._require(release_id)

    def all(self) -> list[Receipt]:
        rows = self._db.execute("SELECT * FROM receipts ORDER BY sealed_at, sequence").fetchall()
        return [_receipt(row) for row in rows]


def _receipt(row: sqlite3.Row) -> Receipt:
    return Receipt(**{k: row[k] for k in row.keys()})  # noqa: SIM118
