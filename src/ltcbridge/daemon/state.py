"""The daemon's state: one SQLite file in WAL mode, versioned schema, one transaction per unit.

What it holds and why:
- ``watermark``: per endpoint and resource type, where the last committed pull ended;
- ``entry`` / ``patient``: the latest version of each GP resource (by ``meta.lastUpdated``), so
  consent and referrals are decided on current facts; ``entry_resource`` keeps each entry whole
  for the monthly releases, providers' answers (their Tasks) included (daemon/release_source.py);
- ``outbox``: effects on other systems (referrals, write-backs) decided in a committed
  transaction and performed after it, each with an idempotency key, marked done later;
- ``quarantine``: resources that could not be read, kept for ``replay``;
- ``audit``: append-only (triggers refuse UPDATE and DELETE) record of what was read, sent,
  written back, and deliberately not sent.
The file holds patient data: it is created readable by its owner only.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ltcbridge.concepts import CONSENT
from ltcbridge.errors import LtcbridgeError

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE watermark (
        endpoint TEXT NOT NULL, resource_type TEXT NOT NULL, state TEXT NOT NULL,
        updated_at TEXT NOT NULL, PRIMARY KEY (endpoint, resource_type));
    CREATE TABLE patient (
        id TEXT PRIMARY KEY, last_updated_us INTEGER, version_id TEXT, nhs_number TEXT,
        resource TEXT NOT NULL);
    CREATE INDEX patient_nhs ON patient (nhs_number);
    CREATE TABLE entry (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, last_updated_us INTEGER,
        version_id TEXT, subject_kind TEXT, subject_value TEXT, clinical_date TEXT,
        concepts TEXT NOT NULL, goals TEXT NOT NULL, stars TEXT NOT NULL,
        retracted INTEGER NOT NULL, PRIMARY KEY (resource_type, id));
    CREATE INDEX entry_subject ON entry (subject_kind, subject_value);
    CREATE TABLE outbox (
        key TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT, created_at TEXT NOT NULL, done_at TEXT);
    CREATE INDEX outbox_status ON outbox (status);
    CREATE TABLE referral (
        source TEXT PRIMARY KEY, decision TEXT NOT NULL, decided_at TEXT NOT NULL);
    CREATE TABLE provider_ref (
        provider TEXT NOT NULL, reference TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (provider, reference));
    CREATE TABLE quarantine (
        resource TEXT PRIMARY KEY, endpoint TEXT NOT NULL, reason TEXT NOT NULL,
        path TEXT NOT NULL, message TEXT NOT NULL, raw TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL,
        entity TEXT NOT NULL, recipient TEXT, agreement TEXT, detail TEXT NOT NULL);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE run (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
        status TEXT NOT NULL, summary TEXT NOT NULL DEFAULT '{}');
    """,
    # 2: re-decide a "no consent" referral only after new consent was recorded for anyone
    """
    CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counter VALUES ('consent', 0);
    ALTER TABLE referral ADD COLUMN consent_seq INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: each current GP entry kept whole, so the monthly release is built from the state
    # (daemon/release_source.py); the GP record is read once more to fill it
    """
    CREATE TABLE entry_resource (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, resource TEXT NOT NULL,
        PRIMARY KEY (resource_type, id));
    DELETE FROM watermark WHERE endpoint = 'gp' AND resource_type != '$deletions';
    """,
    # 4: providers' answers (Tasks) kept as entries for the releases' outcome measures: each
    # provider's Tasks are read once more to fill them in (their write-backs are keyed: no repeat)
    """
    DELETE FROM watermark WHERE endpoint LIKE 'provider:%' AND resource_type = 'Task';
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StateError(LtcbridgeError):
    """The state file cannot be used (newer schema, unreadable, locked)."""


def damaged(path: Path, why: str) -> StateError:
    """The error for a state file SQLite finds damaged, saying what to do about it."""
    return StateError(
        f"the state file {path} is damaged ({why}). Stop every ltcbridge process using it, "
        "move it aside (keep it: it holds patient data and the audit log; store it like the "
        "file itself), then restore it from your latest backup, or let ltcbridge start an "
        "empty one: the next sync reads the GP record again, and referrals and outcomes "
        "already sent are found again by their identifiers, not duplicated"
    )


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full", or the operating system's ENOSPC/EDQUOT."""
    if isinstance(exc, sqlite3.OperationalError):
        return "full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry as the state holds it (latest version only)."""

    resource_type: str
    id: str
    subject_kind: str | None
    subject_value: str | None
    clinical_date: str | None
    concepts: tuple[str, ...]
    goals: tuple[str, ...]
    stars: list[dict[str, Any]]
    retracted: bool
    last_updated_us: int | None

    @property
    def source(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True, slots=True)
class Effect:
    """A pending effect in the outbox."""

    key: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int


class StateStore:
    """The SQLite store. Use ``unit()`` for each unit of work: it is one transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the state file {self.path}: {exc}") from None
        self.db.row_factory = sqlite3.Row
        try:
            self._check_intact()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise damaged(self.path, str(exc)) from None
        self._migrate()

    def _check_intact(self) -> None:
        """``PRAGMA quick_check`` before anything is read or written: a damaged file is refused
        with what to do, never used (decisions on damaged data could send what must not go)."""
        problems = [row[0] for row in self.db.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems))

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state file {self.path} has schema {version}, newer than this ltcbridge "
                f"knows ({SCHEMA_VERSION}): upgrade ltcbridge, or point [state] path elsewhere"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.unit():
                for statement in _statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def unit(self) -> Iterator[sqlite3.Connection]:
        """One unit of work: committed whole, or rolled back whole (also on KeyboardInterrupt)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (a full disk)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- watermarks ----------------------------------------------------------------------------
    def watermark(self, endpoint: str, resource_type: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT state FROM watermark WHERE endpoint = ? AND resource_type = ?",
            (endpoint, resource_type),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def set_watermark(self, endpoint: str, resource_type: str, state: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO watermark VALUES (?, ?, ?, ?) ON CONFLICT (endpoint, resource_type) "
            "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (endpoint, resource_type, json.dumps(state), now_iso()),
        )

    # -- GP resources --------------------------------------------------------------------------
    def put_patient(
        self, pid: str, updated: int | None, version: str | None, nhs: str | None, raw: str
    ) -> bool:
        """Keep this version if it is at least as new as the stored one; True when kept."""
        cursor = self.db.execute(
            "INSERT INTO patient VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "last_updated_us = excluded.last_updated_us, version_id = excluded.version_id, "
            "nhs_number = excluded.nhs_number, resource = excluded.resource "
            "WHERE coalesce(excluded.last_updated_us, -1) >= coalesce(patient.last_updated_us, -1)",
            (pid, updated, version, nhs, raw),
        )
        return cursor.rowcount > 0

    def retract_deleted(self, resource_type: str, rid: str, deleted_us: int | None) -> bool:
        """A resource deleted at the GP asserts nothing any more (like entered-in-error); a
        version older than the deletion can no longer bring it back."""
        cursor = self.db.execute(
            "UPDATE entry SET retracted = 1, last_updated_us = max(coalesce(last_updated_us, -1), "
            "coalesce(?, -1)) WHERE resource_type = ? AND id = ? AND retracted = 0",
            (deleted_us, resource_type, rid),
        )
        return cursor.rowcount > 0

    def current_ids(self, resource_type: str) -> list[str]:
        """Ids of the entries of a type that still assert something (for reconciling)."""
        rows = self.db.execute(
            "SELECT id FROM entry WHERE resource_type = ? AND retracted = 0 ORDER BY id",
            (resource_type,),
        ).fetchall()
        return [row[0] for row in rows]

    def put_entry(self, fields: tuple[Any, ...]) -> bool:
        """Store an entry version (the reader's ``EntryFields``) if it is the latest."""
        kind, rid, updated, version, subject, date, _, concepts, goals, stars, retracted, _ = fields
        cursor = self.db.execute(
            "INSERT INTO entry VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (resource_type, id) DO UPDATE SET "
            "last_updated_us = excluded.last_updated_us, version_id = excluded.version_id, "
            "subject_kind = excluded.subject_kind, subject_value = excluded.subject_value, "
            "clinical_date = excluded.clinical_date, concepts = excluded.concepts, "
            "goals = excluded.goals, stars = excluded.stars, retracted = excluded.retracted "
            "WHERE coalesce(excluded.last_updated_us, -1) >= coalesce(entry.last_updated_us, -1)",
            (
                kind, rid, updated, version,
                subject[0] if subject else None, subject[1] if subject else None, date,
                "|" + "|".join(concepts) + "|", json.dumps(list(goals)),
                json.dumps([{"star": s.star, "scores": s.scores} for s in stars]),
                int(retracted),
            ),
        )  # fmt: skip
        if cursor.rowcount and CONSENT in concepts:
            self.db.execute("UPDATE counter SET value = value + 1 WHERE name = 'consent'")
        return cursor.rowcount > 0

    def patient(self, subject_kind: str | None, value: str | None) -> sqlite3.Row | None:
        """The Patient an entry's subject names (by id, or by NHS number)."""
        if subject_kind == "Patient":
            return self.db.execute("SELECT * FROM patient WHERE id = ?", (value,)).fetchone()
        if subject_kind == "nhs":
            return self.db.execute(
                "SELECT * FROM patient WHERE nhs_number = ? ORDER BY last_updated_us DESC",
                (value,),
            ).fetchone()
        return None

    def entry(self, source: str) -> StoredEntry | None:
        """The latest stored version of an entry, by ``Type/id``."""
        kind, _, rid = source.partition("/")
        rows = self._entries("SELECT * FROM entry WHERE resource_type = ? AND id = ?", (kind, rid))
        return rows[0] if rows else None

    def patient_by_nhs(self, nhs: str) -> sqlite3.Row | None:
        return self.patient("nhs", nhs)

    def entries_asserting(self, concept: str) -> list[StoredEntry]:
        """Current entries asserting ``concept``."""
        return self._entries("SELECT * FROM entry WHERE retracted = 0 AND concepts LIKE ?",
                             (f"%|{concept}|%",))  # fmt: skip

    def open_referrals(self, concept: str, sent: str, no_consent: str) -> list[StoredEntry]:
        """Referral entries to decide: not yet sent, and not refused for lack of consent unless
        some consent was recorded since (so a quiet cycle does not re-check every refusal)."""
        sql = (
            "SELECT * FROM entry WHERE retracted = 0 AND concepts LIKE ? AND NOT EXISTS ("
            "SELECT 1 FROM referral WHERE referral.source = entry.resource_type || '/' || entry.id"
            " AND (referral.decision = ? OR (referral.decision = ? AND referral.consent_seq = "
            "(SELECT value FROM counter WHERE name = 'consent'))))"
        )
        return self._entries(sql, (f"%|{concept}|%", sent, no_consent))

    def _entries(self, sql: str, params: tuple[object, ...]) -> list[StoredEntry]:
        rows = self.db.execute(sql + " ORDER BY resource_type, id", params).fetchall()
        return [_entry(row) for row in rows]

    def entries_of(self, patient: sqlite3.Row) -> list[StoredEntry]:
        """Every current entry of a person, whichever way the entry names them."""
        rows = self.db.execute(
            "SELECT * FROM entry WHERE retracted = 0 AND ((subject_kind = 'Patient' AND "
            "subject_value = ?) OR (subject_kind = 'nhs' AND subject_value = ?))",
            (patient["id"], patient["nhs_number"]),
        ).fetchall()
        return [_entry(row) for row in rows]

    # -- referral decisions --------------------------------------------------------------------
    def decision(self, source: str) -> str | None:
        row = self.db.execute(
            "SELECT decision FROM referral WHERE source = ?", (source,)
        ).fetchone()
        return row[0] if row else None

    def decide(self, source: str, decision: str) -> None:
        """Record a referral decision with the consent counter it was made under."""
        self.db.execute(
            "INSERT INTO referral VALUES (?, ?, ?, (SELECT value FROM counter WHERE name = "
            "'consent')) ON CONFLICT (source) DO UPDATE SET decision = excluded.decision, "
            "decided_at = excluded.decided_at, consent_seq = excluded.consent_seq",
            (source, decision, now_iso()),
        )

    def current_referrals(self, decision: str) -> list[StoredEntry]:
        """Referral entries with this decision whose GP entry asserts something again."""
        return self._decided(decision, retracted=False)

    def retracted_referrals(self, decision: str) -> list[StoredEntry]:
        """Referral entries with this decision whose GP entry now asserts nothing (entered in
        error, cancelled or deleted at the GP)."""
        return self._decided(decision, retracted=True)

    def _decided(self, decision: str, *, retracted: bool) -> list[StoredEntry]:
        return self._entries(
            "SELECT entry.* FROM entry JOIN referral ON referral.source = "
            "entry.resource_type || '/' || entry.id WHERE entry.retracted = ? AND "
            "referral.decision = ?",
            (int(retracted), decision),
        )

    # -- provider references -------------------------------------------------------------------
    def provider_ref(self, provider: str, reference: str) -> str | None:
        row = self.db.execute(
            "SELECT value FROM provider_ref WHERE provider = ? AND reference = ?",
            (provider, reference),
        ).fetchone()
        return row[0] if row else None

    def remember_provider_ref(self, provider: str, reference: str, value: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO provider_ref VALUES (?, ?, ?)", (provider, reference, value)
        )

    # -- outbox --------------------------------------------------------------------------------
    def enqueue(self, key: str, kind: str, target: str, payload: dict[str, Any]) -> bool:
        """Add an effect once: a second enqueue of the same key is ignored (False)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO outbox (key, kind, target, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, kind, target, json.dumps(payload), now_iso()),
        )
        return cursor.rowcount > 0

    def pending(self, kind: str | None = None) -> list[Effect]:
        sql = "SELECT * FROM outbox WHERE status = 'pending'"
        rows = self.db.execute(
            sql + (" AND kind = ?" if kind else "") + " ORDER BY created_at, key",
            (kind,) if kind else (),
        ).fetchall()
        return [
            Effect(r["key"], r["kind"], r["target"], json.loads(r["payload"]), r["attempts"])
            for r in rows
        ]

    def effect(self, key: str) -> tuple[Effect, str] | None:
        """An effect by key, with its status (pending, done or cancelled)."""
        r = self.db.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone()
        if r is None:
            return None
        effect = Effect(r["key"], r["kind"], r["target"], json.loads(r["payload"]), r["attempts"])
        return effect, r["status"]

    def cancel(self, key: str) -> bool:
        """Stop a pending effect from ever being performed (True if it was still pending)."""
        cursor = self.db.execute(
            "UPDATE outbox SET status = 'cancelled', done_at = ? WHERE key = ? AND "
            "status = 'pending'",
            (now_iso(), key),
        )
        return cursor.rowcount > 0

    def mark_done(self, key: str) -> None:
        self.db.execute(
            "UPDATE outbox SET status = 'done', done_at = ? WHERE key = ?", (now_iso(), key)
        )

    def mark_failed_attempt(self, key: str, error: str) -> int:
        """Count one failed cycle of an effect, with why; returns its attempts so far."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE key = ?", (error, key)
        )
        row = self.db.execute("SELECT attempts FROM outbox WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def set_aside(self, key: str) -> None:
        """Stop retrying an effect that kept failing: a person looks at it (``status``), and
        ``replay`` puts it back."""
        self.db.execute("UPDATE outbox SET status = 'set-aside' WHERE key = ? AND status = "
                        "'pending'", (key,))  # fmt: skip

    def set_aside_effects(self) -> list[sqlite3.Row]:
        """Effects set aside: key, kind, target, attempts and the last reason."""
        return self.db.execute(
            "SELECT key, kind, target, attempts, last_error FROM outbox WHERE status = "
            "'set-aside' ORDER BY key"
        ).fetchall()

    def resume_set_aside(self) -> int:
        """Put every set-aside effect back in the outbox with a fresh count of attempts."""
        return self.db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0 WHERE status = 'set-aside'"
        ).rowcount

    def backlog(self) -> int:
        return self.db.execute("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0]

    # -- quarantine ----------------------------------------------------------------------------
    def quarantine(
        self, resource: str, endpoint: str, reason: str, path: str, message: str, raw: str
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
            (resource, endpoint, reason, path, message, raw, now_iso()),
        )

    def release(self, resource: str) -> None:
        self.db.execute("DELETE FROM quarantine WHERE resource = ?", (resource,))

    def quarantine_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM quarantine").fetchone()[0]

    def quarantined(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM quarantine ORDER BY resource").fetchall()

    # -- audit and runs ------------------------------------------------------------------------
    def audit(
        self,
        action: str,
        entity: str,
        *,
        recipient: str | None = None,
        agreement: str | None = None,
        **detail: Any,
    ) -> None:
        """Append one audit record (never a patient identifier: resource references only)."""
        self.db.execute(
            "INSERT INTO audit (at, action, entity, recipient, agreement, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (now_iso(), action, entity, recipient, agreement, json.dumps(detail, sort_keys=True)),
        )

    def audit_records(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM audit ORDER BY seq").fetchall()

    def start_run(self) -> int:
        with self.unit():
            cursor = self.db.execute(
                "INSERT INTO run (started_at, status) VALUES (?, 'running')", (now_iso(),)
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self.unit():
            self.db.execute(
                "UPDATE run SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now_iso(), status, json.dumps(summary, sort_keys=True), run_id),
            )

    def last_run(self, status: str | None = None) -> sqlite3.Row | None:
        sql = "SELECT * FROM run" + (" WHERE status = ?" if status else "")
        return self.db.execute(
            sql + " ORDER BY id DESC LIMIT 1", (status,) if status else ()
        ).fetchone()


def _entry(row: sqlite3.Row) -> StoredEntry:
    return StoredEntry(
        row["resource_type"],
        row["id"],
        row["subject_kind"],
        row["subject_value"],
        row["clinical_date"],
        tuple(c for c in row["concepts"].split("|") if c),
        tuple(json.loads(row["goals"])),
        json.loads(row["stars"]),
        bool(row["retracted"]),
        row["last_updated_us"],
    )


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (triggers keep their inner ``;``)."""
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
