"""Practice to PCN to ICB totals that respect masking and rounding, trends, breakdowns and
completeness.

Every figure is stored with the true counts it can stand for (``figures.low`` and ``high``),
worked out from the disclosure rules of the release it came in (``hub.rules``): a published count
under rounding is a short interval, never below threshold + 1 unless 0; a masked cell is never
zero under primary masking (1..threshold), and under secondary suppression it can be any size
(no upper bound). A sum adds the bounds, so every range contains the true total: ``known`` (the
published counts added) is shown beside it, never as the truth.

The sums run in SQL (the same on SQLite and PostgreSQL) so a national store collates without
loading its figures into memory. PCN totals come from the PCN's practices' figures; a PCN-level
release is used for a PCN and month only when none of its practices sent one, never both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ltcbridge.hub.config import UNMET_NEED, HubConfig
from ltcbridge.hub.rules import ReleaseRules, fallback_rules
from ltcbridge.hub.store import HubStoreDb

NO_PCN = "(no PCN)"


def practice_figures(columns: str = "", where: str = "") -> str:
    """``WITH base AS (...)``: the practice-sent figures a collation adds up, each under its PCN.

    Practice-level figures, and a PCN-level figure only when none of the PCN's practices sent a
    release for that month (so nothing is counted twice). ``columns`` adds ``f.`` columns of
    ``latest_figures``; ``where`` (starting ``AND``) narrows both halves. The (PCN, month) pairs
    its practices covered are worked out once (``covered``), not once per PCN figure, which on a
    national store would scan every release for each figure."""
    extra = "".join(f", f.{c.strip()}" for c in columns.split(",") if c.strip())
    return f"""
WITH covered AS (
    SELECT DISTINCT p.pcn, r.period
    FROM latest_releases r JOIN practices p ON p.practice = r.sender
), base AS (
    SELECT f.measure, f.period, COALESCE(p.pcn, '{NO_PCN}') AS pcn, f.org, f.group_code,
           f.stratifier, f.stratum, f.count, f.masked, f.low, f.high{extra}
    FROM latest_figures f LEFT JOIN practices p ON p.practice = f.org
    WHERE f.level = 'practice' {where}
    UNION ALL
    SELECT f.measure, f.period, f.org AS pcn, f.org, f.group_code,
           f.stratifier, f.stratum, f.count, f.masked, f.low, f.high{extra}
    FROM latest_figures f
    WHERE f.level = 'pcn' {where} AND NOT EXISTS (
        SELECT 1 FROM covered c WHERE c.pcn = f.org AND c.period = f.period)
)"""


_BASE = practice_figures()

# What a Total is made of, in this order: see Collator.total.
SUMS = (
    "SUM(count), SUM(CASE WHEN masked THEN 1 ELSE 0 END), COUNT(*), SUM(low), SUM(high), "
    "SUM(CASE WHEN high IS NULL THEN 1 ELSE 0 END)"
)


@dataclass(frozen=True, slots=True)
class Total:
    """A sum of published counts and masked parts; its true value lies in [low, high].

    ``known`` adds the published counts as published (rounded, masked parts left out): shown
    for reference only. ``low`` and ``high`` (None: no upper bound) add every part's bounds."""

    known: int
    masked: int
    parts: int
    low: int
    high: int | None

    @classmethod
    def exact_count(cls, count: int = 0) -> Total:
        """A count known exactly (no parts masked or rounded), e.g. nothing at all."""
        return cls(count, 0, 0, count, count)

    def __add__(self, other: Total) -> Total:
        high = None if self.high is None or other.high is None else self.high + other.high
        return Total(self.known + other.known, self.masked + other.masked,
                     self.parts + other.parts, self.low + other.low, high)  # fmt: skip

    @property
    def exact(self) -> bool:
        """The true value is known: nothing masked and nothing rounded away."""
        return self.low == self.high

    @property
    def midpoint(self) -> float:
        """For ordering and bar lengths only: never published as a figure."""
        high = self.high if self.high is not None else self.low
        return (self.low + high) / 2

    def text(self) -> str:
        """'120', '121–141' (a range because parts are masked or rounded) or 'at least 121'."""
        if self.exact:
            return f"{self.low:,}"
        if self.parts == self.masked == 1:
            return "masked" if self.high is None else f"masked ({self.low}–{self.high})"
        if self.high is None:
            return f"at least {self.low:,}"
        return f"{self.low:,}–{self.high:,}"


@dataclass(frozen=True, slots=True)
class TotalRow:
    measure: str
    period: str
    level: str  # pcn or icb
    org: str
    group: str
    stratifier: str | None
    stratum: str | None
    total: Total


@dataclass(frozen=True)
class Filter:
    """Which cells to sum; ``None`` leaves a column unfiltered, ``TOTAL`` asks for group totals."""

    measure: str | None = None
    period: str | None = None
    group: str | None = None
    stratifier: str | None = None


TOTAL = "\x00group-total"  # stratifier filter meaning "the group's own count, no stratum"


class Collator:
    """Totals at each level from one store, with the hub config's practice map and the
    disclosure rules of releases that carry none of their own."""

    def __init__(self, store: HubStoreDb, config: HubConfig) -> None:
        self.store = store
        self.config = config
        store.set_practices(config.practices)
        store.set_fallback_rules(fallback_rules(config))

    def totals(self, level: str, where: Filter = Filter()) -> Iterator[TotalRow]:
        """Sums per PCN (``pcn``) or for the whole ICB (``icb``), streamed; practices' own
        figures are the ``latest_figures`` view itself."""
        by_pcn = {"pcn": True, "icb": False}[level]
        keys = "measure, period, pcn, " if by_pcn else "measure, period, "
        keys += "group_code, stratifier, stratum"
        columns = keys if by_pcn else keys.replace("period, ", "period, 'ICB', ")
        clause, params = _where(where)
        sql = (
            f"{_BASE} SELECT {columns}, {SUMS} FROM base {clause} GROUP BY {keys} "
            + self.store.order_by(*keys.split(", "))
        )
        for row in self.store.stream(sql, params):
            name = self.config.icb if level == "icb" else row[2]
            yield TotalRow(row[0], row[1], level, name, row[3], row[4], row[5], self.total(row[6:]))

    def periods(self, measure: str = UNMET_NEED) -> list[str]:
        rows = self.store.rows(
            "SELECT period FROM latest_figures WHERE measure = ? GROUP BY period "
            + self.store.order_by("period"),
            (measure,),
        )
        return [row[0] for row in rows]

    def measures(self) -> list[str]:
        sql = "SELECT measure FROM figures GROUP BY measure " + self.store.order_by("measure")
        return [r[0] for r in self.store.rows(sql)]

    def provider_figures(self, measure: str) -> list[tuple[Any, ...]]:
        """(org, period, group, stratifier, stratum, count, masked, score, score total, low,
        high) of a measure as providers sent it (level ``provider``: reporters not known as
        practices); low and high bound the true count."""
        return self.store.rows(
            "SELECT org, period, group_code, stratifier, stratum, count, masked, score, "
            "score_total, low, high FROM latest_figures WHERE measure = ? AND level = 'provider' "
            + self.store.order_by("org", "period", "group_code", "stratifier", "stratum"),
            (measure,),
        )

    def latest_group_totals(self, groups: tuple[str, ...]) -> dict[str, tuple[str, Total]]:
        """For each group code, its ICB-wide total in the latest month it was sent, whichever
        measure and sender (practice or provider) sent it; PCN-level figures are left out so a
        PCN and its practices are not both counted."""
        marks = ", ".join("?" for _ in groups)
        rows = self.store.rows(
            f"SELECT group_code, period, {SUMS} FROM latest_figures "
            f"WHERE group_code IN ({marks}) AND stratifier IS NULL AND level <> 'pcn' "
            "GROUP BY group_code, period " + self.store.order_by("group_code", "period"),
            groups,
        )
        # ordered by period: the latest wins
        return {row[0]: (row[1], self.total(row[2:])) for row in rows}

    def total(self, sums: tuple[Any, ...]) -> Total:
        """From ``SUMS``: (SUM(count), masked parts, parts, SUM(low), SUM(high), parts with no
        upper bound); SUM(count) is NULL when every part is masked."""
        known, masked, parts, low, high, unbounded = sums
        return Total(int(known or 0), int(masked or 0), int(parts), int(low or 0),
                     None if unbounded else int(high or 0))  # fmt: skip

    def rules_in_use(self) -> list[tuple[str, str, int]]:
        """(rules described, source, releases) of the latest releases: the report says which
        rules its ranges come from, and when the hub config's had to stand in."""
        rows = self.store.rows(
            "SELECT x.threshold, x.rounding, x.secondary, x.internal_recipient, x.source, "
            "COUNT(*) FROM latest_releases r JOIN release_rules x ON x.release_id = r.release_id "
            "GROUP BY x.threshold, x.rounding, x.secondary, x.internal_recipient, x.source "
            + self.store.order_by("x.source")
        )
        return [
            (ReleaseRules(None, t, r, bool(s), bool(i), source).describe(), source, int(n))
            for t, r, s, i, source, n in rows
        ]


def _where(where: Filter) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in (("measure", where.measure), ("period", where.period),
                          ("group_code", where.group)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.stratifier == TOTAL:
        clauses.append("stratifier IS NULL")
    elif where.stratifier is not None:
        clauses.append("stratifier = ?")
        params.append(where.stratifier)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class Completeness:
    """Which expected practices have no unmet-need figures for which months."""

    months: tuple[str, ...]
    expected: tuple[str, ...]
    missing: dict[str, tuple[str, ...]]  # practice -> months without figures
    unexpected: tuple[str, ...]  # reporters the hub config does not list

    @property
    def expected_returns(self) -> int:
        return len(self.months) * len(self.expected)

    @property
    def missing_returns(self) -> int:
        return sum(len(months) for months in self.missing.values())


def completeness(collator: Collator) -> Completeness:
    """Expected practices (hub config) x months (config, else every month seen) not reported.

    A practice counts as reported for a month when it sent unmet-need figures, or when its PCN
    sent a PCN-level release for that month (the practice is inside that PCN's figures)."""
    config = collator.config
    rows = collator.store.rows(
        "SELECT DISTINCT org, level, period FROM latest_figures WHERE measure = ?", (UNMET_NEED,)
    )
    months = config.months or tuple(sorted({period for _org, _level, period in rows}))
    reported = {(org, period) for org, level, period in rows if level == "practice"}
    by_pcn = {(org, period) for org, level, period in rows if level == "pcn"}
    expected = tuple(sorted(config.practices))
    missing: dict[str, tuple[str, ...]] = {}
    for practice in expected:
        pcn = config.practices[practice]
        gaps = tuple(m for m in months if (practice, m) not in reported and (pcn, m) not in by_pcn)
        if gaps:
            missing[practice] = gaps
    known = set(expected) | set(config.pcns)
    unexpected = tuple(sorted({org for org, _level, _period in rows} - known))
    return Completeness(tuple(months), expected, missing, unexpected)
