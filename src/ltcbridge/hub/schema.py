"""The hub's tables, as numbered migrations that run the same on SQLite and PostgreSQL.

Tidy tables an analyst's BI tool can read directly: ``releases``, ``rejections``, ``figures``
(one row per published or masked count), ``practices`` (the hub config's practice -> PCN map),
and the view ``latest_figures`` (for each sender and period, the release with the highest
sequence wins, so a re-released month replaces the earlier one). A migration is never edited once
shipped: a change is a new, higher-numbered one. ``schema_version`` records what has run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """The few type names that differ between the two databases."""

    name: str
    boolean: str
    identity: str  # an auto-numbered integer primary key


SQLITE = Dialect("sqlite", "INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT")
POSTGRES = Dialect("postgresql", "BOOLEAN", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")

# (version, what it does, statements); {boolean} and {identity} come from the dialect.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "releases, rejections, figures, practices and the latest_figures view",
        (
            """CREATE TABLE releases (
                release_id TEXT PRIMARY KEY,
                agreement_id TEXT NOT NULL,
                sender TEXT NOT NULL,
                recipient TEXT NOT NULL,
                period TEXT NOT NULL,
                sequence INTEGER NOT NULL,
                created TEXT NOT NULL,
                measures TEXT NOT NULL,
                stored_at TEXT NOT NULL)""",
            "CREATE INDEX releases_by_sender ON releases (sender, period, sequence)",
            """CREATE TABLE rejections (
                rejection_id {identity},
                received_at TEXT NOT NULL,
                sender TEXT,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL)""",
            """CREATE TABLE figures (
                release_id TEXT NOT NULL REFERENCES releases (release_id),
                measure TEXT NOT NULL,
                period TEXT NOT NULL,
                level TEXT NOT NULL,
                org TEXT NOT NULL,
                group_code TEXT NOT NULL,
                stratifier TEXT,
                stratum TEXT,
                count INTEGER,
                masked {boolean} NOT NULL,
                score DOUBLE PRECISION)""",
            "CREATE INDEX figures_by_release ON figures (release_id)",
            "CREATE INDEX figures_by_cell ON figures (measure, period, group_code, org)",
            """CREATE TABLE practices (
                practice TEXT PRIMARY KEY,
                pcn TEXT NOT NULL)""",
            """CREATE VIEW latest_releases AS
                SELECT r.* FROM releases r
                WHERE NOT EXISTS (
                    SELECT 1 FROM releases n
                    WHERE n.sender = r.sender AND n.period = r.period
                      AND n.sequence > r.sequence)""",
            """CREATE VIEW latest_figures AS
                SELECT f.* FROM figures f
                JOIN latest_releases r ON r.release_id = f.release_id""",
        ),
    ),
)

# The view of the newest release's figures since migration 2 (migration 3 makes it again).
LATEST_FIGURES_VIEW = """CREATE VIEW latest_figures AS
    SELECT f.* FROM figures f
    JOIN releases r ON r.release_id = f.release_id
    WHERE r.latest"""

MIGRATIONS += (
    (
        2,
        "releases.latest: the newest sequence per (sender, period), kept on insert, so that "
        "latest_figures is a plain join (no per-row subquery) on a national store",
        (
            "ALTER TABLE releases ADD COLUMN latest {boolean} NOT NULL DEFAULT FALSE",
            """UPDATE releases SET latest = NOT EXISTS (
                SELECT 1 FROM releases n
                WHERE n.sender = releases.sender AND n.period = releases.period
                  AND n.sequence > releases.sequence)""",
            "DROP VIEW latest_figures",
            "DROP VIEW latest_releases",
            "CREATE VIEW latest_releases AS SELECT * FROM releases WHERE latest",
            LATEST_FIGURES_VIEW,
        ),
    ),
)

MIGRATIONS += (
    (
        3,
        "figures.score_total (the score-total extension: the cohort's total beside the mean in "
        "score) and figures.score_unit (measureScore.unit); latest_figures re-made so that "
        "PostgreSQL, which expands * when a view is made, shows the new columns too",
        (
            "ALTER TABLE figures ADD COLUMN score_total DOUBLE PRECISION",
            "ALTER TABLE figures ADD COLUMN score_unit TEXT",
            "DROP VIEW latest_figures",
            LATEST_FIGURES_VIEW,
        ),
    ),
)

MIGRATIONS += (
    (
        4,
        "partial indexes for what a national store scans most: the figures sent by PCNs and by "
        "providers (few: without them every collation scanned the whole table once per level) "
        "and the provider strata the outcomes view adds up",
        (
            "CREATE INDEX figures_from_pcns ON figures (measure, period, org) WHERE level = 'pcn'",
            "CREATE INDEX figures_from_providers ON figures (measure, period, org) "
            "WHERE level = 'provider'",
            "CREATE INDEX figures_by_provider_stratum ON figures (measure, period, group_code) "
            "WHERE stratifier = 'provider'",
        ),
    ),
)

MIGRATIONS += (
    (
        5,
        "release_rules: the disclosure rules each release was published under (from its "
        "reports' disclosure-rules extension, else the hub config's, which source says), and "
        "figures.low / figures.high: the true count each figure can stand for under those rules "
        "(high empty: no upper bound), which every collated range adds up; latest_figures "
        "re-made for PostgreSQL",
        (
            """CREATE TABLE release_rules (
                release_id TEXT PRIMARY KEY REFERENCES releases (release_id),
                agreement TEXT,
                threshold INTEGER NOT NULL,
                rounding INTEGER NOT NULL,
                secondary {boolean} NOT NULL,
                internal_recipient {boolean} NOT NULL,
                source TEXT NOT NULL)""",
            "ALTER TABLE figures ADD COLUMN low INTEGER",
            "ALTER TABLE figures ADD COLUMN high INTEGER",
            "DROP VIEW latest_figures",
            LATEST_FIGURES_VIEW,
        ),
    ),
)

SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL)"""

# Tables compared when checking that two stores hold the same thing (and exported for analysts).
TABLES: dict[str, tuple[str, ...]] = {
    "releases": ("release_id", "agreement_id", "sender", "recipient", "period", "sequence",
                 "created", "measures", "latest"),
    "rejections": ("received_at", "sender", "reason", "detail"),
    "figures": ("release_id", "measure", "period", "level", "org", "group_code", "stratifier",
                "stratum", "count", "masked", "score", "score_total", "score_unit", "low",
                "high"),
    "practices": ("practice", "pcn"),
    "release_rules": ("release_id", "agreement", "threshold", "rounding", "secondary",
                      "internal_recipient", "source"),
}  # fmt: skip


def statements(dialect: Dialect, migration: tuple[str, ...]) -> list[str]:
    """A migration's statements with the dialect's type names filled in."""
    return [s.format(boolean=dialect.boolean, identity=dialect.identity) for s in migration]
