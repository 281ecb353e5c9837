"""The hub's store: SQLite by default, PostgreSQL when given a ``postgresql://`` URL.

Implements ``ltcbridge.hub.protocol.HubStore``. Both databases run the same migrations
(``hub.schema``) and the same SQL, so a BI tool sees the same tables whichever is used. Every
release is written in one transaction: it is wholly stored or not at all.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ltcbridge.errors import LtcbridgeError
from ltcbridge.extras import HUB, install_hint
from ltcbridge.feed.measure_report import Figure, ReportError, figures, report_header
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.checks import release_rules
from ltcbridge.hub.config import SUPPORT_LEVEL_MEASURE, UNMET_NEED, HubConfig
from ltcbridge.hub.rules import FROM_HUB_CONFIG, ReleaseRules, fallback_rules
from ltcbridge.hub.schema import (
    MIGRATIONS,
    POSTGRES,
    SCHEMA_VERSION_TABLE,
    SQLITE,
    TABLES,
    Dialect,
    statements,
)

_FIGURE_COLUMNS = TABLES["figures"]
_RELEASE_COLUMNS = (*TABLES["releases"][:-1], "stored_at", "latest")
_RULES_COLUMNS = TABLES["release_rules"]
_BATCH = 20_000
RULES_MIGRATION = 5  # the migration that adds release_rules and the figures' bounds
_cursor_ids = itertools.count()


class StoreError(LtcbridgeError):
    """The store cannot be opened, or a release cannot be stored (nothing of it was kept)."""


def open_store(target: str | Path) -> HubStoreDb:
    """A ready store (migrated to the latest schema) at a SQLite path or a PostgreSQL URL."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return HubStoreDb(_connect_postgres(text), POSTGRES)
    path = Path(text)
    if not path.parent.is_dir():
        raise StoreError(f"cannot create the store {path}: folder {path.parent} does not exist")
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return HubStoreDb(connection, SQLITE)


def _connect_postgres(url: str) -> Any:
    try:
        import psycopg
    except ImportError:  # not installed, or installed without libpq (plain psycopg needs it)
        raise StoreError(
            f"a PostgreSQL store needs psycopg 3 and libpq: run {install_hint(HUB)} with "
            f"Debian's libpq5, or {install_hint('postgres-binary')}"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise StoreError(
            f"cannot connect to PostgreSQL ({exc}); check the URL, that the server runs and "
            "that the user may connect"
        ) from None


class HubStoreDb:
    """One open store; use as a context manager or call ``close``."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._migrate()
        self._org_levels: dict[str, str] | None = None  # cached; reset by set_practices
        self.fallback = fallback_rules(HubConfig())
        if self.schema_version() >= RULES_MIGRATION:  # bounds for releases stored before it
            self.set_fallback_rules(self.fallback)

    # -- the HubStore protocol -------------------------------------------------------------------
    def has_release(self, release_id: str) -> bool:
        return bool(self.rows("SELECT 1 FROM releases WHERE release_id = ?", (release_id,)))

    def last_sequence(self, sender: str, agreement_id: str) -> int | None:
        rows = self.rows(
            "SELECT MAX(sequence) FROM releases WHERE sender = ? AND agreement_id = ?",
            (sender, agreement_id),
        )
        return rows[0][0]

    def add_release(self, meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None:
        """Store the release, the disclosure rules it was published under (its reports', else
        the fallback) and its figures with their bounds, all or nothing; bad reports refuse
        the release."""
        _check_reports(meta, reports)
        rules = release_rules(reports) or self.fallback
        if self.has_release(meta.release_id):
            raise StoreError(
                f"release {meta.release_id} is already stored; it was not stored again"
            )
        levels = self._levels()
        with self.transaction() as cursor:
            latest = self._mark_latest(cursor, meta)
            cursor.execute(
                self._sql(f"INSERT INTO releases ({', '.join(_RELEASE_COLUMNS)}) "
                          f"VALUES ({', '.join('?' for _ in _RELEASE_COLUMNS)})"),
                (meta.release_id, meta.agreement_id, meta.sender, meta.recipient, meta.period,
                 meta.sequence, meta.created, " ".join(meta.measures), _now(), latest),
            )  # fmt: skip
            self._insert_rules(cursor, [meta.release_id], rules)
            rows = (row for r in reports for row in _figure_rows(meta.release_id, r, levels, rules))
            self._insert_figures(cursor, rows)

    def add_rejection(self, received_at: str, sender: str | None, reason: str, detail: str) -> None:
        with self.transaction() as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO rejections (received_at, sender, reason, detail) "
                    "VALUES (?, ?, ?, ?)"
                ),
                (received_at, sender, reason, detail),
            )

    # -- the commissioner's own knowledge --------------------------------------------------------
    def set_practices(self, practices: Mapping[str, str]) -> None:
        """Replace the practice -> PCN map (from the hub config) used by roll-ups.

        Figures already stored from an organisation the new map names get its level (practice
        or PCN), so a release stored before the map was known is rolled up correctly."""
        self._org_levels = None
        if set(self.rows("SELECT practice, pcn FROM practices")) == set(practices.items()):
            return
        with self.transaction() as cursor:
            cursor.execute("DELETE FROM practices")
            cursor.executemany(
                self._sql("INSERT INTO practices (practice, pcn) VALUES (?, ?)"),
                sorted(practices.items()),
            )
            cursor.execute(
                "UPDATE figures SET level = 'practice' WHERE level <> 'practice' "
                "AND org IN (SELECT practice FROM practices)"
            )
            cursor.execute(
                "UPDATE figures SET level = 'pcn' WHERE level <> 'pcn' "
                "AND org IN (SELECT pcn FROM practices) "
                "AND org NOT IN (SELECT practice FROM practices)"
            )

    def set_fallback_rules(self, rules: ReleaseRules) -> None:
        """The disclosure rules (the hub config's) of releases whose reports carry none.

        Releases stored under other fallback values, and any stored before migration 5, get
        these rules and their figures' bounds again, so a changed hub config never leaves a
        range worked out from the old one. A release's own rules are never replaced."""
        self.fallback = rules
        stale = [row[0] for row in self.rows(
            "SELECT r.release_id FROM releases r "
            "LEFT JOIN release_rules x ON x.release_id = r.release_id "
            "WHERE x.release_id IS NULL OR (x.source = ? AND NOT (x.threshold = ? "
            "AND x.rounding = ? AND x.secondary = ?))",
            (FROM_HUB_CONFIG, rules.threshold, rules.rounding, rules.secondary),
        )]  # fmt: skip
        if not stale:
            return
        with self.transaction() as cursor:
            for chunk in _chunks(stale, 500):
                marks = ", ".join("?" for _ in chunk)
                cursor.execute(
                    self._sql(f"DELETE FROM release_rules WHERE release_id IN ({marks})"), chunk
                )
                self._insert_rules(cursor, chunk, rules)
                self._rebound(cursor, chunk, rules)

    def _rebound(self, cursor: Any, release_ids: list[str], rules: ReleaseRules) -> None:
        """Every figure of the releases bounded again under ``rules``, in one UPDATE: the bounds
        of each distinct published count (few) are worked out here and written as a CASE."""
        marks = ", ".join("?" for _ in release_ids)
        cursor.execute(
            self._sql(
                f"SELECT DISTINCT count FROM figures WHERE release_id IN ({marks}) "
                "AND count IS NOT NULL AND NOT masked"
            ),
            release_ids,
        )
        bounds = {int(row[0]): rules.bounds(int(row[0]), False) for row in cursor.fetchall()}
        masked = rules.bounds(None, True)
        no_count = rules.bounds(None, False)
        columns, params = [], []
        for side in (0, 1):
            by_count, more = _case_by_count({c: b[side] for c, b in bounds.items()})
            columns.append(
                f"{('low', 'high')[side]} = CASE WHEN masked THEN CAST(? AS INTEGER) "
                f"WHEN count IS NULL THEN CAST(? AS INTEGER) ELSE {by_count} END"
            )
            params += [masked[side], no_count[side], *more]
        cursor.execute(
            self._sql(f"UPDATE figures SET {', '.join(columns)} WHERE release_id IN ({marks})"),
            [*params, *release_ids],
        )

    def _insert_rules(self, cursor: Any, release_ids: list[str], rules: ReleaseRules) -> None:
        cursor.executemany(
            self._sql(f"INSERT INTO release_rules ({', '.join(_RULES_COLUMNS)}) "
                      f"VALUES ({', '.join('?' for _ in _RULES_COLUMNS)})"),
            [(release_id, rules.agreement, rules.threshold, rules.rounding, rules.secondary,
              rules.internal_recipient, rules.source) for release_id in release_ids],
        )  # fmt: skip

    # -- reading ---------------------------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query written with ``?`` placeholders (both databases)."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows one batch at a time, so exporting a national store keeps memory flat (on
        PostgreSQL through a server-side cursor, which lives inside a transaction)."""
        if self.dialect is POSTGRES:
            with self.connection.transaction():
                cursor = self.connection.cursor(name=f"hub_stream_{next(_cursor_ids)}")
                yield from self._batches(cursor, sql, params)
            return
        yield from self._batches(self.connection.cursor(), sql, params)

    def order_by(self, *columns: str) -> str:
        """``ORDER BY`` text columns the same on both databases: bytewise (PostgreSQL's "C"
        collation, SQLite's BINARY) with NULLs first, so exports compare equal."""
        collate = ' COLLATE "C"' if self.dialect is POSTGRES else ""
        return "ORDER BY " + ", ".join(f"{c}{collate} NULLS FIRST" for c in columns)

    def _batches(self, cursor: Any, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            cursor.execute(self._sql(sql), tuple(params))
            while batch := cursor.fetchmany(_BATCH):
                yield from (tuple(row) for row in batch)
        finally:
            cursor.close()

    def table(self, name: str) -> list[tuple[Any, ...]]:
        """A table's compared columns, normalised (booleans as bool) and sorted: for checks."""
        columns = TABLES[name]
        rows = self.rows(f"SELECT {', '.join(columns)} FROM {name}")
        flags = [
            i
            for i, c in enumerate(columns)
            if c in ("masked", "latest", "secondary", "internal_recipient")
        ]
        normalised = [
            tuple(bool(v) if i in flags else v for i, v in enumerate(row)) for row in rows
        ]
        return sorted(normalised, key=lambda row: tuple((v is None, str(v)) for v in row))

    def schema_version(self) -> int:
        return int(self.rows("SELECT MAX(version) FROM schema_version")[0][0] or 0)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> HubStoreDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on any error."""
        if self.dialect is POSTGRES:
            with self.connection.transaction(), self.connection.cursor() as cursor:
                yield cursor
            return
        cursor = self.connection.cursor()
        cursor.execute("BEGIN")
        try:
            yield cursor
        except BaseException:
            self.connection.rollback()
            raise
        else:
            self.connection.commit()
        finally:
            cursor.close()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect is POSTGRES else sql

    def _migrate(self) -> None:
        with self.transaction() as cursor:
            cursor.execute(SCHEMA_VERSION_TABLE)
        current = self.schema_version()
        for version, description, migration in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as cursor:
                for statement in statements(self.dialect, migration):
                    cursor.execute(statement)
                cursor.execute(
                    self._sql("INSERT INTO schema_version VALUES (?, ?, ?)"),
                    (version, description, _now()),
                )

    def _mark_latest(self, cursor: Any, meta: ReleaseMeta) -> bool:
        """Whether the new release is the newest of its (sender, period); if so, the older ones
        stop being latest (all inside the caller's transaction)."""
        key = (meta.sender, meta.period, meta.sequence)
        cursor.execute(
            self._sql(
                "SELECT 1 FROM releases WHERE sender = ? AND period = ? AND sequence > ? LIMIT 1"
            ),
            key,
        )
        if cursor.fetchone() is not None:
            return False
        cursor.execute(
            self._sql(
                "UPDATE releases SET latest = FALSE "
                "WHERE sender = ? AND period = ? AND sequence < ? AND latest"
            ),
            key,
        )
        return True

    def _levels(self) -> dict[str, str]:
        """org -> level for the organisations the hub config knows (practices and PCNs)."""
        if self._org_levels is None:
            levels: dict[str, str] = {}
            for practice, pcn in self.rows("SELECT practice, pcn FROM practices"):
                levels[practice] = "practice"
                levels.setdefault(pcn, "pcn")
            self._org_levels = levels
        return self._org_levels

    def _insert_figures(self, cursor: Any, rows: Iterable[tuple[Any, ...]]) -> None:
        if self.dialect is POSTGRES:
            with cursor.copy(f"COPY figures ({', '.join(_FIGURE_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join("?" for _ in _FIGURE_COLUMNS)
        cursor.executemany(
            f"INSERT INTO figures ({', '.join(_FIGURE_COLUMNS)}) VALUES ({placeholders})", rows
        )


def _figure_rows(
    release_id: str, report: dict[str, Any], levels: Mapping[str, str], rules: ReleaseRules
) -> Iterator[tuple[Any, ...]]:
    level = _level(report, levels)
    for f in figures(report):
        yield _figure_row(release_id, f, level, rules)


def _figure_row(
    release_id: str, figure: Figure, level: str, rules: ReleaseRules
) -> tuple[Any, ...]:
    low, high = rules.bounds(figure.count, figure.masked)
    if high is not None and low > high:  # e.g. an unmasked 3 under threshold 7
        raise ReportError(
            f"{figure.org} {figure.period} {figure.group}: a published count the release's "
            f"disclosure rules ({rules.describe()}) could not have produced; the release was "
            "refused"
        )
    return (release_id, figure.measure, figure.period, level, figure.org, figure.group,
            figure.stratifier, figure.stratum, figure.count, figure.masked, figure.score,
            figure.score_total, figure.score_unit, low, high)  # fmt: skip


def _case_by_count(values: Mapping[int, int | None]) -> tuple[str, list[Any]]:
    """``CASE count WHEN ? THEN ? ... END`` and its parameters (NULL when there is none)."""
    if not values:
        return "NULL", []
    whens = " ".join("WHEN ? THEN CAST(? AS INTEGER)" for _ in values)
    return f"CASE count {whens} END", [x for item in sorted(values.items()) for x in item]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


PROVIDER_STRATIFIER = "provider"
# Measures only practices (or PCNs) send and that have no provider breakdown.
PRACTICE_MEASURES = frozenset({UNMET_NEED, SUPPORT_LEVEL_MEASURE})


def _level(report: dict[str, Any], levels: Mapping[str, str]) -> str:
    """The reporter's level. A practice or PCN the hub config lists is that, whatever the
    measure: practices send every measure now. A reporter the config does not list is a practice
    for unmet need and support levels (only practices send them), and for any report broken down
    by provider (only a practice reports on several providers); otherwise it is a provider
    sending its own outcomes, accepted as before."""
    measure, _period, org = report_header(report)
    if org in levels:
        return levels[org]
    if measure in PRACTICE_MEASURES or _has_provider_breakdown(report):
        return "practice"
    return "provider"


def _has_provider_breakdown(report: dict[str, Any]) -> bool:
    for group in report.get("group") or []:
        for stratifier in group.get("stratifier") or []:
            codes = stratifier.get("code") or [{}]
            first = codes[0] if isinstance(codes[0], dict) else {}
            names = [first.get("text"), *(c.get("code") for c in first.get("coding") or [])]
            if PROVIDER_STRATIFIER in names:
                return True
    return False


def _check_reports(meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None:
    """Every report is for the release's period; checked before anything is written."""
    if not reports:
        raise ReportError(f"release {meta.release_id} holds no MeasureReport")
    for report in reports:
        _measure, period, _org = report_header(report)
        if period != meta.period:
            raise ReportError(
                f"release {meta.release_id} is for {meta.period} but report "
                f"{report.get('id', '(no id)')} is for {period}: the release was refused"
            )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
