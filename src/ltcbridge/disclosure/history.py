"""Every release sent to a recipient, kept at the practice so the next one is protected against it.

The store is one SQLite file (WAL, so a sender can record while a build reads). A release is kept
whole: what left, why each mask was put, the relations and the true counts. The true counts are
counts, not people, but they are exactly what disclosure control hides from the recipient: the
file stays in the practice, like the rest of its state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS release (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS release_by_agreement ON release (recipient, agreement_id, seq);
"""


class HistoryStore:
    """Published releases per (recipient, agreement), oldest first."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self, recipient: str, agreement_id: str) -> list[PublishedRelease]:
        """Every release recorded for this recipient and agreement, in the order recorded."""
        if not self.path.exists():
            return []
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT body FROM release WHERE recipient = ? AND agreement_id = ? ORDER BY seq",
                (recipient, agreement_id),
            ).fetchall()
        return [decode(body) for (body,) in rows]

    def load_recipient(self, recipient: str) -> list[PublishedRelease]:
        """Every release recorded for this recipient under any agreement, in the order recorded.

        A PCN-level and a practice-level release usually go under different agreements, yet the
        recipient holds both: protecting against all of them is the safe choice.
        """
        if not self.path.exists():
            return []
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT body FROM release WHERE recipient = ? ORDER BY seq", (recipient,)
            ).fetchall()
        return [decode(body) for (body,) in rows]

    def record(self, recipient: str, agreement_id: str, published: PublishedRelease) -> None:
        """Keep a release that has been sent: later releases are protected against it."""
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO release (recipient, agreement_id, body) VALUES (?, ?, ?)",
                (recipient, agreement_id, encode(published)),
            )

    def _connect(self) -> sqlite3.Connection:
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
