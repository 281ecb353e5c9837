"""Every release sealed at the practice, kept so that each later one is protected against it.

The store is one SQLite file (WAL, so a sender can record while a build reads) in the practice
data directory (`ltcbridge.private_data`), owner-only. A release is kept whole: what left, why
each mask was put, the relations and the true counts. The true counts are counts, not people, but
they are exactly what disclosure control hides from the recipient: the file stays in the
practice, like the rest of its state.

Every build loads *every* release recorded, whatever its recipient, agreement, level, breakdowns
or month: two recipients may compare notes, and relations between figures of different releases
(a PCN and its practices, a month rebuilt after late entries) are only seen when both are held.
The same release recorded twice (one build sealed once per practice) is kept once.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Hashable
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    LinearConstraint,
    PublishedRelease,
)
from ltcbridge.private_data import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS release (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    body BLOB NOT NULL,
    digest TEXT
);
CREATE INDEX IF NOT EXISTS release_by_agreement ON release (recipient, agreement_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS release_by_digest ON release (digest);
"""


class HistoryStore:
    """Published releases, oldest first."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load_all(self) -> list[PublishedRelease]:
        """Every release recorded, to any recipient under any agreement, in the order recorded."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT body FROM release ORDER BY seq").fetchall()
        return [decode(body) for (body,) in rows]

    def record(self, recipient: str, agreement_id: str, published: PublishedRelease) -> bool:
        """Keep a release that may leave: later releases are protected against it.

        Returns False when the very same release was recorded before (nothing new to keep)."""
        body = encode(published)
        digest = hashlib.sha256(body).hexdigest()
        with closing(self._connect()) as connection, connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO release (recipient, agreement_id, body, digest) "
                "VALUES (?, ?, ?, ?)",
                (recipient, agreement_id, body, digest),
            )
            return cursor.rowcount == 1

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM release").fetchone()[0])

    def _connect(self) -> sqlite3.Connection:
        private_file(self.path)
        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(_SCHEMA)
        return connection


def encode(published: PublishedRelease) -> bytes:
    """A release as JSON: keys as arrays, a masked value as the string "masked"."""
    return orjson.dumps(
        {
            "rules": {"threshold": published.rules.threshold, "rounding": published.rules.rounding},
            "cells": [
                [
                    _plain(key),
                    published.true_values[key],
                    "masked" if value is MASKED else value,
                    published.reasons.get(key),
                ]
                for key, value in published.values.items()
            ],
            "constraints": [
                [[[_plain(key), coef] for key, coef in c.terms], c.op, c.rhs]
                for c in published.constraints
            ],
        }
    )


def decode(body: bytes) -> PublishedRelease:
    data = orjson.loads(body)
    cells = [(_key(key), truth, value, reason) for key, truth, value, reason in data["cells"]]
    return PublishedRelease(
        values={key: MASKED if value == "masked" else value for key, _, value, _ in cells},
        reasons={key: reason for key, _, _, reason in cells if reason is not None},
        constraints=tuple(
            LinearConstraint(tuple((_key(k), coef) for k, coef in terms), op, rhs)
            for terms, op, rhs in data["constraints"]
        ),
        rules=DisclosureRules(**data["rules"]),
        true_values={key: truth for key, truth, _, _ in cells},
    )


def _plain(key: CellKey) -> Any:
    if isinstance(key, tuple):
        return [_plain(part) for part in key]
    return key


def _key(value: Any) -> Hashable:
    """JSON arrays back to tuples, so keys are hashable and equal to the ones recorded."""
    if isinstance(value, list):
        return tuple(_key(part) for part in value)
    return value
