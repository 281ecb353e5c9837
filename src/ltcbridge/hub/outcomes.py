"""Outcomes by provider: referrals, Star distance travelled and NHS use before and after.

Practices send these measures with a ``provider`` breakdown (docs/counting-rules.md, "The further
measures"); each stratum counts the practice's people whose outcome belongs to that provider
(``none``: no provider). The hub adds the strata of every practice (a PCN-level release only where
its practices sent none, as for every collation), per provider and month, and over all months.
A provider's own report (a reporter the hub does not know as a practice) is used for a provider
and month only when no practice's breakdown covers them, so nobody is counted twice.

Masked parts are never zero:

- counts add up to a :class:`~ltcbridge.hub.collate.Total` (a range when parts are masked);
- shares (improved / reviewed, accepted / made) are bounded from the ranges of both sides;
- scores (Star change, NHS units, costs) have no bounds: a masked part's score is not sent and
  could be anything. They are summed over the published parts only and marked with how many parts
  were left out (:class:`Scored`), never filled in.

The sums run in SQL (the same on SQLite and PostgreSQL); only the per-group sums reach Python.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ltcbridge.concepts import NHS_USE
from ltcbridge.hub.collate import SUMS, Collator, Total, practice_figures

PROVIDER = "provider"  # the stratifier practices break outcomes down by
NO_PROVIDER = "none"  # its stratum for people without a provider
ALL_PROVIDERS = "all"  # the ICB-wide view (practices' group totals)
ALL_MONTHS = "all"  # the sum over every month

STAR_SUFFIXES = ("-improved", "-reviewed-year-on", "-improved-year-on")
COHORT = "nhs-use-cohort"
COST_BEFORE, COST_AFTER = "nhs-cost-before", "nhs-cost-after"
MADE, ACCEPTED, DECLINED = "referral-lead-provider", "referral-accepted", "referral-declined"


# -- sums ------------------------------------------------------------------------------------------
def add_totals(a: Total, b: Total) -> Total:
    return a + b


@dataclass(frozen=True, slots=True)
class Scored:
    """One group's people and score summed over parts (practices), masked parts kept apart.

    ``score`` is the sum of the score totals of the parts whose score is known, ``scored`` the
    people in those parts, ``unknown`` the parts with people but no known score (masked, or sent
    without a score): those are left out of ``score`` and ``mean``, never counted as zero."""

    people: Total
    score: float = 0.0
    scored: int = 0
    unknown: int = 0

    def __add__(self, other: Scored) -> Scored:
        return Scored(add_totals(self.people, other.people), self.score + other.score,
                      self.scored + other.scored, self.unknown + other.unknown)  # fmt: skip

    @property
    def complete(self) -> bool:
        return self.unknown == 0

    @property
    def mean(self) -> float | None:
        """Mean per person over the published parts (all of them when ``complete``)."""
        return self.score / self.scored if self.scored else None


@dataclass(frozen=True, slots=True)
class Share:
    """part / whole, both possibly ranges: the true share lies in [low, high] (fractions)."""

    low: float
    high: float

    @property
    def exact(self) -> bool:
        return self.low == self.high

    def text(self) -> str:
        if self.exact:
            return percent(self.low)
        return f"{percent(self.low)}–{percent(self.high)}"


def percent(fraction: float) -> str:
    """A whole percentage, halves rounded up (62.5% is '63%', as a reader expects)."""
    return f"{math.floor(100 * fraction + 0.5 + 1e-9)}%"


def share(part: Total | None, whole: Total | None) -> Share | None:
    """Bounds of part / whole, knowing part <= whole; None when nobody is in ``whole``."""
    if part is None or whole is None or (whole.high == 0):
        return None
    if whole.exact and part.exact:
        return Share(part.low / whole.low, part.low / whole.low) if whole.low else None
    low = 0.0 if whole.high is None else part.low / whole.high
    high = 1.0 if part.high is None or whole.low == 0 else min(1.0, part.high / whole.low)
    return Share(min(low, 1.0), high)


@dataclass(frozen=True, slots=True)
class Money:
    """A cost summed over parts: ``known`` over the parts it could be worked out for."""

    known: float = 0.0
    people: int = 0  # people in the parts costed
    unknown: int = 0  # parts not costed: masked
    unpriced: tuple[str, ...] = ()  # NHS-use kinds with units but no unit cost in the hub config

    @property
    def complete(self) -> bool:
        return self.unknown == 0 and not self.unpriced

    def __add__(self, other: Money) -> Money:
        return Money(self.known + other.known, self.people + other.people,
                     self.unknown + other.unknown,
                     tuple(sorted(set(self.unpriced) | set(other.unpriced))))  # fmt: skip


# -- what one provider achieved in one month (or all months) ---------------------------------------
@dataclass(frozen=True)
class StarOutcome:
    star: str  # the Star concept ("" for groups no Star claims)
    reviewed: Scored | None  # score: change in total score
    improved: Total | None
    reviewed_year_on: Total | None
    improved_year_on: Total | None
    areas: dict[str, Scored] = field(default_factory=dict)  # score: change in the area

    @property
    def improved_share(self) -> Share | None:
        return share(self.improved, self.reviewed.people if self.reviewed else None)

    @property
    def year_on_share(self) -> Share | None:
        return share(self.improved_year_on, self.reviewed_year_on)


@dataclass(frozen=True)
class NhsKind:
    kind: str  # gp-attendances, ae-attendances, ...
    before: Scored  # score: units in the six months before
    after: Scored  # ... and after

    @property
    def change(self) -> Scored:
        """After minus before (units), over the parts where both are published."""
        return Scored(self.after.people, self.after.score - self.before.score,
                      self.after.scored, max(self.before.unknown, self.after.unknown))  # fmt: skip


@dataclass(frozen=True)
class NhsOutcome:
    cohort: Total
    kinds: list[NhsKind]
    cost_before: Money
    cost_after: Money

    @property
    def cost_change(self) -> Money:
        a, b = self.cost_after, self.cost_before
        return Money(a.known - b.known, a.people, max(a.unknown, b.unknown),
                     tuple(sorted(set(a.unpriced) | set(b.unpriced))))  # fmt: skip


@dataclass(frozen=True)
class ReferralOutcome:
    made: Total | None
    accepted: Total | None
    declined: Total | None

    @property
    def acceptance(self) -> Share | None:
        return share(self.accepted, self.made)


@dataclass(frozen=True)
class ProviderOutcome:
    provider: str  # ODS code, NO_PROVIDER, or ALL_PROVIDERS
    period: str  # YYYY-MM or ALL_MONTHS
    sources: dict[str, str]  # measure kind (referrals, star, nhs-use) -> practices / provider
    referrals: ReferralOutcome | None = None
    stars: list[StarOutcome] = field(default_factory=list)
    nhs_use: NhsOutcome | None = None


@dataclass
class Outcomes:
    """Every provider's outcomes, by month and over all months (``ALL_MONTHS``)."""

    rows: list[ProviderOutcome]

    @property
    def providers(self) -> list[str]:
        found = {r.provider for r in self.rows}
        return sorted(found - {NO_PROVIDER}) + ([NO_PROVIDER] if NO_PROVIDER in found else [])

    def of(self, provider: str) -> list[ProviderOutcome]:
        """One provider's months in order, then all months."""
        rows = [r for r in self.rows if r.provider == provider]
        return [r for r in rows if r.period != ALL_MONTHS] + [
            r for r in rows if r.period == ALL_MONTHS
        ]

    def overall(self, provider: str) -> ProviderOutcome | None:
        return next(
            (r for r in self.rows if r.provider == provider and r.period == ALL_MONTHS), None
        )


# -- from the store --------------------------------------------------------------------------------
Key = tuple[str, str, str, str, bool]  # measure kind, period, provider, group, costed


def outcomes(collator: Collator, by_provider: bool = True) -> Outcomes:
    """Per provider (``by_provider``), or ICB-wide from the practices' group totals (one
    provider, ``ALL_PROVIDERS``)."""
    config = collator.config
    kinds = {config.referrals_measure: "referrals", config.star_measure: "star",
             config.nhs_use_measure: "nhs-use"}  # fmt: skip
    cells: dict[Key, Scored] = {}
    sources: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for row in _sums(collator, tuple(kinds), by_provider):
        measure, period, provider, group, costed, source, *sums = row
        kind = kinds[measure]
        people = collator.total(tuple(sums[:6]))
        scored = Scored(people, float(sums[6] or 0), int(sums[7] or 0), int(sums[8] or 0))
        for month in (period, ALL_MONTHS):
            key = (kind, month, provider, group, bool(costed))
            cells[key] = cells[key] + scored if key in cells else scored
            sources[(month, provider, kind)].add(source)
    return Outcomes(list(_build(cells, sources, config.unit_costs)))


def _sums(
    collator: Collator, measures: tuple[str, ...], by_provider: bool
) -> list[tuple[Any, ...]]:
    """(measure, period, provider, group, costed, source, the six ``SUMS`` of a Total,
    SUM(score total), people scored, parts with an unknown score) per group."""
    store, marks = collator.store, ", ".join("?" for _ in measures)
    # the stratifier written out, not a parameter, so a partial index on it can be used
    stratum = f"AND f.stratifier = '{PROVIDER}'" if by_provider else "AND f.stratifier IS NULL"
    where = f"AND f.measure IN ({marks}) {stratum}"
    where_params = [*measures]
    provider = "b.stratum" if by_provider else f"'{ALL_PROVIDERS}'"
    sent = (
        f""", sent AS (
            SELECT f.release_id, f.measure, f.period, f.org, f.org AS stratum, f.group_code,
                   f.count, f.masked, f.low, f.high, f.score, f.score_total,
                   'provider' AS source
            FROM latest_figures f
            WHERE f.level = 'provider' AND f.stratifier IS NULL AND f.measure IN ({marks})
              AND NOT EXISTS (SELECT 1 FROM base b WHERE b.measure = f.measure
                              AND b.period = f.period AND b.stratum = f.org))"""
        if by_provider
        else ""
    )
    parts = (
        "SELECT release_id, measure, period, org, stratum, group_code, count, masked, low, "
        "high, score, score_total, 'practices' AS source FROM base"
        + (" UNION ALL SELECT * FROM sent" if by_provider else "")
    )
    sql = (
        practice_figures("release_id, score, score_total", where)
        + sent
        + f""", parts AS ({parts}),
        scored AS (
            SELECT b.measure, b.period, {provider} AS provider, b.group_code,
                   CASE WHEN b.measure = ? AND EXISTS (
                       SELECT 1 FROM figures c
                       WHERE c.measure = b.measure AND c.period = b.period
                         AND c.group_code = '{COST_BEFORE}' AND c.org = b.org
                         AND c.release_id = b.release_id AND c.stratifier IS NULL)
                   THEN 1 ELSE 0 END AS costed,
                   b.source, b.count, b.masked, b.low, b.high,
                   COALESCE(b.score_total, b.score * b.count,
                            CASE WHEN b.count = 0 THEN 0.0 END) AS total
            FROM parts b)
        SELECT measure, period, provider, group_code, costed, source,
               {SUMS},
               SUM(total), SUM(CASE WHEN total IS NOT NULL THEN count END),
               SUM(CASE WHEN total IS NULL AND (masked OR count > 0) THEN 1 ELSE 0 END)
        FROM scored
        GROUP BY measure, period, provider, group_code, costed, source """
        + store.order_by("measure", "period", "provider", "group_code", "source")
    )
    params = [*where_params, *where_params] + ([*measures] if by_provider else [])
    return store.rows(sql, [*params, collator.config.nhs_use_measure])


def _build(
    cells: dict[Key, Scored],
    sources: dict[tuple[str, str, str], set[str]],
    unit_costs: dict[str, float],
) -> Iterator[ProviderOutcome]:
    by_row: dict[tuple[str, str], dict[tuple[str, str, bool], Scored]] = defaultdict(dict)
    for (kind, month, provider, group, costed), cell in cells.items():
        by_row[(provider, month)][(kind, group, costed)] = cell
    star_groups = sorted({g for k, g, _c in (key for row in by_row.values() for key in row)
                          if k == "star"})  # fmt: skip
    stars, areas = star_layout(star_groups)
    for (provider, month), groups in sorted(by_row.items()):
        found = {
            kind: " and ".join(sorted(sources[(month, provider, kind)]))
            for kind in ("referrals", "star", "nhs-use")
            if sources.get((month, provider, kind))
        }
        yield ProviderOutcome(
            provider,
            month,
            found,
            _referrals(groups) if "referrals" in found else None,
            _stars(groups, stars, areas) if "star" in found else [],
            _nhs_use(groups, unit_costs) if "nhs-use" in found else None,
        )


def _merged(groups: dict[tuple[str, str, bool], Scored], kind: str, group: str) -> Scored | None:
    """A group's sum over costed and not-costed parts."""
    found = [groups[(kind, group, c)] for c in (False, True) if (kind, group, c) in groups]
    if not found:
        return None
    total = found[0]
    for more in found[1:]:
        total = total + more
    return total


def _people(groups: dict[tuple[str, str, bool], Scored], kind: str, group: str) -> Total | None:
    cell = _merged(groups, kind, group)
    return cell.people if cell else None


def _referrals(groups: dict[tuple[str, str, bool], Scored]) -> ReferralOutcome:
    return ReferralOutcome(*(_people(groups, "referrals", g) for g in (MADE, ACCEPTED, DECLINED)))


def _stars(
    groups: dict[tuple[str, str, bool], Scored], stars: list[str], areas: dict[str, list[str]]
) -> list[StarOutcome]:
    found = []
    for star in [*stars, ""]:
        area_cells = {
            area: cell for area in areas.get(star, []) if (cell := _merged(groups, "star", area))
        }
        reviewed = _merged(groups, "star", star) if star else None
        if reviewed is None and not area_cells:
            continue
        improved, reviewed_year_on, improved_year_on = (
            _people(groups, "star", star + suffix) for suffix in STAR_SUFFIXES
        )
        found.append(
            StarOutcome(
                star,
                reviewed,
                improved,
                reviewed_year_on,
                improved_year_on,
                areas=area_cells,
            )
        )
    return found


def _nhs_use(
    groups: dict[tuple[str, str, bool], Scored], unit_costs: dict[str, float]
) -> NhsOutcome:
    kinds = nhs_kinds({g for k, g, _c in groups if k == "nhs-use"})
    rows = []
    for kind in kinds:
        before = _merged(groups, "nhs-use", f"{kind}-before")
        after = _merged(groups, "nhs-use", f"{kind}-after")
        if before and after:
            rows.append(NhsKind(kind, before, after))
    cohort = _people(groups, "nhs-use", COHORT)
    if cohort is None:
        cohort = rows[0].before.people if rows else Total.exact_count()
    costs = [_cost(groups, phase, kinds, unit_costs) for phase in ("before", "after")]
    return NhsOutcome(cohort, rows, *costs)


def _cost(
    groups: dict[tuple[str, str, bool], Scored],
    phase: str,
    kinds: list[str],
    unit_costs: dict[str, float],
) -> Money:
    """Parts that sent nhs-cost groups: their cost total. Other parts: each kind's units x the
    hub's unit cost; units of a kind without one leave the cost incomplete (named)."""
    money = Money()
    sent = groups.get(("nhs-use", f"nhs-cost-{phase}", True))
    if sent is not None:
        money = money + Money(sent.score, sent.scored, sent.unknown)
    costed, people, unknown, unpriced = 0.0, 0, 0, []
    for kind in kinds:
        units = groups.get(("nhs-use", f"{kind}-{phase}", False))
        if units is None:
            continue
        people, unknown = max(people, units.scored), max(unknown, units.unknown)
        if kind in unit_costs:
            costed += units.score * unit_costs[kind]
        elif units.score:
            unpriced.append(kind)
    return money + Money(costed, people, unknown, tuple(unpriced))


# -- Stars, their areas and names, from the bundled CodeSystem -------------------------------------
@lru_cache(maxsize=1)
def concept_info() -> dict[str, dict[str, Any]]:
    """code -> {display, kind, star} from the bundled ltcbridge CodeSystem (names and which Star
    an area belongs to); empty if it cannot be read: the hub then falls back on the codes."""
    try:
        from ltcbridge.mapping import bundled_mappings_dir

        path = bundled_mappings_dir() / "codesystem-ltcbridge-concept.json"
        concepts = json.loads(path.read_text(encoding="utf-8")).get("concept", [])
    except (OSError, ValueError, ImportError):
        return {}
    info = {}
    for concept in concepts:
        props = {p.get("code"): p.get("valueCode") for p in concept.get("property", [])}
        info[concept.get("code")] = {"display": concept.get("display"), "kind": props.get("kind"),
                                     "star": props.get("star")}  # fmt: skip
    return info


def star_layout(groups: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The Stars among a Star measure's group codes, and each Star's areas.

    A Star is a group with ``-improved`` (or ``-reviewed-year-on``...) groups beside it, or a
    Star concept; an area belongs to the Star the CodeSystem names, else to the only Star
    present, else to none (key ``""``)."""
    codes = set(groups)
    info = concept_info()
    stars = {c for c in codes if info.get(c, {}).get("kind") == "star"}
    stars |= {c for c in codes if any(c + suffix in codes for suffix in STAR_SUFFIXES)}
    derived = {s + suffix for s in stars for suffix in STAR_SUFFIXES}
    order = list(info)
    areas: dict[str, list[str]] = defaultdict(list)
    for area in sorted(codes - stars - derived, key=lambda c: (_rank(order, c), c)):
        named = info.get(area, {}).get("star")
        star = named if named in stars else (next(iter(stars)) if len(stars) == 1 else "")
        areas[star].append(area)
    return sorted(stars), dict(areas)


def nhs_kinds(groups: Iterable[str]) -> list[str]:
    """The NHS-use kinds (stems of ``K-before`` / ``K-after``) in the usual order."""
    kinds = {g.rsplit("-", 1)[0] for g in groups if g.endswith(("-before", "-after"))}
    kinds -= {"nhs-cost"}
    return sorted(kinds, key=lambda k: (_rank(list(NHS_USE), k), k))


def _rank(order: list[str], code: str) -> int:
    return order.index(code) if code in order else len(order)
