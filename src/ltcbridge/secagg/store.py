"""One aggregator's share store (SQLite): received shares, partial sums, batches, area figures.

It implements the hub's storage contract (``hub.protocol.HubStore``), so the hub's own
``Receiver`` opens, authenticates and checks every sealed share document (signature, sender is
the reporter, period, measure, replays) before anything is kept here. Each aggregator keeps its
own file beside its hub database, with its own keys; neither file alone says anything about any
practice (each share is uniform in the field). Only the leader's file also holds the protected
area figures, which are the one thing meant to be read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import ReleaseMeta, utc_now
from ltcbridge.secagg.document import Layout, ShareDocumentError, ShareSet, read_share_document
from ltcbridge.secagg.field import as_elements, as_texts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS share_release (
    release_id TEXT PRIMARY KEY, sender TEXT NOT NULL, agreement_id TEXT NOT NULL,
    sequence INTEGER NOT NULL, period TEXT NOT NULL, received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS share (
    practice TEXT NOT NULL, measure TEXT NOT NULL, month TEXT NOT NULL, idx INTEGER NOT NULL,
    release_id TEXT NOT NULL, layout BLOB NOT NULL, elements BLOB NOT NULL,
    PRIMARY KEY (practice, measure, month)
);
CREATE TABLE IF NOT EXISTS partial_sum (
    batch TEXT PRIMARY KEY, sender TEXT NOT NULL, area TEXT NOT NULL, measure TEXT NOT NULL,
    month TEXT NOT NULL, practices BLOB NOT NULL, layout BLOB NOT NULL, elements BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rejection (
    received_at TEXT NOT NULL, sender TEXT, reason TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch (
    area TEXT NOT NULL, level TEXT NOT NULL, measure TEXT NOT NULL, month TEXT NOT NULL,
    version INTEGER NOT NULL, practices BLOB NOT NULL, released_at TEXT NOT NULL,
    PRIMARY KEY (area, measure, month, version)
);
CREATE TABLE IF NOT EXISTS area_figure (
    measure TEXT NOT NULL, month TEXT NOT NULL, level TEXT NOT NULL, area TEXT NOT NULL,
    grp TEXT NOT NULL, stratifier TEXT NOT NULL, stratum TEXT NOT NULL, version INTEGER NOT NULL,
    value INTEGER, reason TEXT, practices INTEGER NOT NULL,
    PRIMARY KEY (measure, month, area, grp, stratifier, stratum)
);
"""


class ShareStoreError(LtcbridgeError):
    """The share store refused something; the message says what and what to do."""


@dataclass(frozen=True)
class AreaFigure:
    """One protected area figure as the hub and its report show it (``value`` None = masked).

    ``reason`` says why a figure is masked ("primary", "secondary", "history", "practice":
    it would narrow a practice's masked figure); ``practices`` is how many contributed.
    """

    measure: str
    month: str
    level: str
    area: str
    group: str
    stratifier: str | None
    stratum: str | None
    value: int | None
    reason: str | None
    practices: int
    version: int = 1


@dataclass(frozen=True)
class Batch:
    """A released batch: the exact set of practices an area's figures of a month are over."""

    area: str
    level: str
    measure: str
    month: str
    version: int
    practices: frozenset[str]


class ShareStore:
    """The SQLite file of one aggregator (``HubStore`` for the hub's ``Receiver``)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ShareStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # -- HubStore ---------------------------------------------------------------------------
    def has_release(self, release_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM share_release WHERE release_id = ?", (release_id,))
        return row.fetchone() is not None

    def last_sequence(self, sender: str, agreement_id: str) -> int | None:
        row = self._db.execute(
            "SELECT MAX(sequence) FROM share_release WHERE sender = ? AND agreement_id = ?",
            (sender, agreement_id),
        ).fetchone()
        return row[0]

    def add_release(self, meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None:
        """Keep every share set of a release, or none (a problem is a store refusal)."""
        try:
            sets = [read_share_document(report) for report in reports]
        except ShareDocumentError as exc:
            raise ShareStoreError(str(exc)) from None
        with self._transaction() as db:
            db.execute(
                "INSERT INTO share_release VALUES (?, ?, ?, ?, ?, ?)",
                (
                    meta.release_id,
                    meta.sender,
                    meta.agreement_id,
                    meta.sequence,
                    meta.period,
                    utc_now(),
                ),
            )
            for shares in sets:
                self._keep(db, meta, shares)

    def _keep(self, db: sqlite3.Connection, meta: ReleaseMeta, shares: ShareSet) -> None:
        layout, elements = orjson.dumps(shares.layout), orjson.dumps(as_texts(shares.elements))
        if shares.kind == "partial-sum":
            db.execute(
                "INSERT OR REPLACE INTO partial_sum VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    shares.batch,
                    meta.sender,
                    shares.area,
                    shares.measure,
                    shares.month,
                    orjson.dumps(list(shares.practices)),
                    layout,
                    elements,
                ),
            )
            return
        if shares.kind != "share":
            raise ShareStoreError(f"unknown share document kind {shares.kind!r}")
        try:
            db.execute(
                "INSERT INTO share VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    shares.sender,
                    shares.measure,
                    shares.month,
                    shares.index,
                    meta.release_id,
                    layout,
                    elements,
                ),
            )
        except sqlite3.IntegrityError:
            raise ShareStoreError(
                f"{shares.sender} already sent shares of {shares.measure} for {shares.month}: "
                "a second set would let the two releases be differenced, so revisions are refused"
            ) from None

    def add_rejection(self, received_at: str, sender: str | None, reason: str, detail: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO rejection VALUES (?, ?, ?, ?)", (received_at, sender, reason, detail)
            )

    def rejections(self) -> list[tuple[str | None, str, str]]:
        """(sender, reason, detail) of every rejected release, oldest first."""
        rows = self._db.execute("SELECT sender, reason, detail FROM rejection ORDER BY rowid")
        return [tuple(row) for row in rows]

    # -- shares -----------------------------------------------------------------------------
    def holders(self, measure: str, month: str, among: Collection[str] | None = None) -> set[str]:
        """The practices (of ``among``, when given) whose shares of this measure-month are here."""
        if among is None:
            rows = self._db.execute(
                "SELECT practice FROM share WHERE measure = ? AND month = ?", (measure, month)
            )
            return {practice for (practice,) in rows}
        wanted = sorted(among)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            "SELECT practice FROM share WHERE measure = ? AND month = ? "
            f"AND practice IN ({marks})",  # only placeholders are formatted
            (measure, month, *wanted),
        )
        return {practice for (practice,) in rows}

    def measures(self, month: str) -> list[str]:
        """The measures any practice sent shares of for this month."""
        rows = self._db.execute("SELECT DISTINCT measure FROM share WHERE month = ?", (month,))
        return sorted(measure for (measure,) in rows)

    def shares(self, measure: str, month: str, practices: set[str]) -> list[ShareSet]:
        """The share sets of these practices (sorted by practice)."""
        wanted = sorted(practices)
        marks = ", ".join("?" * len(wanted))
        rows = self._db.execute(
            "SELECT practice, idx, layout, elements FROM share WHERE measure = ? AND month = ? "
            f"AND practice IN ({marks}) ORDER BY practice",  # only placeholders are formatted
            (measure, month, *wanted),
        )
        layouts: dict[bytes, Layout] = {}  # practices of one measure share one layout
        sets = []
        for practice, idx, blob, elements in rows:
            if blob not in layouts:
                layouts[blob] = _layout(blob)
            sets.append(
                ShareSet("share", practice, measure, month, idx, layouts[blob], _elements(elements))
            )
        return sets

    def partial_sum(self, batch: str) -> ShareSet | None:
        row = self._db.execute(
            "SELECT sender, area, measure, month, practices, layout, elements FROM partial_sum "
            "WHERE batch = ?",
            (batch,),
        ).fetchone()
        if row is None:
            return None
        sender, area, measure, month, practices, layout, elements = row
        return ShareSet(
            "partial-sum",
            sender,
            measure,
            month,
            2,
            _layout(layout),
            _elements(elements),
            batch=batch,
            area=area,
            practices=tuple(orjson.loads(practices)),
        )

    # -- batches and area figures (the leader) ----------------------------------------------
    def batches(self, area: str, measure: str, month: str) -> list[Batch]:
        """Every released batch of an area-month, oldest version first."""
        rows = self._db.execute(
            "SELECT level, version, practices FROM batch WHERE area = ? AND measure = ? "
            "AND month = ? ORDER BY version",
            (area, measure, month),
        )
        return [
            Batch(area, level, measure, month, version, frozenset(orjson.loads(practices)))
            for level, version, practices in rows
        ]

    def record_release(self, batches: list[Batch], figures: list[AreaFigure]) -> None:
        """Keep released batches and their protected figures together (all or nothing)."""
        with self._transaction() as db:
            for batch in batches:
                db.execute(
                    "INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        batch.area,
                        batch.level,
                        batch.measure,
                        batch.month,
                        batch.version,
                        orjson.dumps(sorted(batch.practices)),
                        utc_now(),
                    ),
                )
            db.executemany(
                "INSERT OR REPLACE INTO area_figure VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.measure,
                        f.month,
                        f.level,
                        f.area,
                        f.group,
                        f.stratifier or "",
                        f.stratum or "",
                        f.version,
                        f.value,
                        f.reason,
                        f.practices,
                    )
                    for f in figures
                ],
            )

    def area_figures(
        self, measure: str | None = None, month: str | None = None
    ) -> list[AreaFigure]:
        """The protected area figures (latest version of each), for the hub and its report."""
        rows = self._db.execute(
            "SELECT measure, month, level, area, grp, stratifier, stratum, value, reason, "
            "practices, version FROM area_figure WHERE (? IS NULL OR measure = ?) "
            "AND (? IS NULL OR month = ?) ORDER BY measure, month, level, area, rowid",
            (measure, measure, month, month),
        )
        return [
            AreaFigure(m, mo, lv, a, g, s or None, st or None, v, r, n, ver)
            for m, mo, lv, a, g, s, st, v, r, n, ver in rows
        ]


def _layout(blob: bytes) -> Layout:
    return tuple(tuple(cell) for cell in orjson.loads(blob))


def _elements(blob: bytes) -> Any:
    return as_elements(orjson.loads(blob))
