"""The tidy tables analysts get, defined once and written as CSV files and as workbook sheets.

Each table is a name, a header and a stream of rows, so a national store is exported without
holding it in memory. Masked cells keep ``count`` empty and ``masked`` true; sums carry
``known``, ``masked_parts``, ``low`` and ``high`` (empty when unbounded) so nothing is hidden in
a single made-up number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ltcbridge.hub.collate import Collator, Total, TotalRow, completeness
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.outcomes import (
    ALL_PROVIDERS,
    Money,
    Outcomes,
    ProviderOutcome,
    Scored,
    Share,
    outcomes,
)
from ltcbridge.hub.report.area_totals import AREA_HEADER, RANGE_SOURCE, AreaTotals
from ltcbridge.hub.report.data import provider_name
from ltcbridge.hub.report.outcomes_html import amount, mean, money


@dataclass(frozen=True)
class TidyTable:
    name: str
    about: str
    header: tuple[str, ...]
    rows: Callable[[], Iterator[tuple[Any, ...]]]


RELEASE_HEADER = ("release_id", "agreement_id", "sender", "recipient", "period", "sequence",
                  "created", "measures", "stored_at", "latest")  # fmt: skip
OUTCOME_HEADER = ("provider", "provider_name", "period", "source", "measure", "subject", "figure",
                  "unit", "low", "high", "published_parts_only", "masked_parts", "shown_as",
                  "note")  # fmt: skip
TOTAL_HEADER = ("measure", "period", "level", "org", "group", "stratifier", "stratum", "known",
                "masked_parts", "parts", "low", "high", "shown_as")  # fmt: skip


def tidy_tables(
    collator: Collator,
    found: tuple[Outcomes, Outcomes] | None = None,
    area: AreaTotals | None = None,
) -> list[TidyTable]:
    """Every table the CSV folder and the workbook hold, in order; ``found``: the outcomes
    (ICB-wide, by provider) when already worked out, else they are worked out here; ``area``:
    secure aggregation's exact area totals, added to the totals table as two columns."""
    store = collator.store
    totals_about = ("PCN and ICB sums; low/high bound the true value when parts are masked "
                    "(high empty: no upper bound)")  # fmt: skip
    if area is not None:
        totals_about += (
            f". known..shown_as: {RANGE_SOURCE}; area_total: the area total "
            "from secure aggregation, rounded, where one exists ('masked' when protected)"
        )

    def outcome_rows() -> Iterator[tuple[Any, ...]]:
        icb, by_provider = found or (outcomes(collator, by_provider=False), outcomes(collator))
        yield from _outcome_rows(collator.config, icb)
        yield from _outcome_rows(collator.config, by_provider)

    return [
        TidyTable("totals", totals_about,
                  TOTAL_HEADER if area is None else (*TOTAL_HEADER, *AREA_HEADER),
                  lambda: _totals(collator, area)),
        TidyTable("outcomes_by_provider", "Referrals, Star distance travelled and NHS use per "
                  "provider and month (period 'all': every month added; provider 'all': the "
                  "whole ICB). low/high bound the true value (high empty: no upper bound); "
                  "scores with masked parts have no bounds: published_parts_only is worked out "
                  "from the published parts, masked_parts says how many were left out",
                  OUTCOME_HEADER, outcome_rows),
        TidyTable("figures", "Every figure of the latest release per sender and month, as sent",
                  ("release_id", "measure", "period", "level", "org", "group", "stratifier",
                   "stratum", "count", "masked", "score", "score_total", "score_unit"),
                  lambda: (_flag(row, 9) for row in store.stream(
                      "SELECT release_id, measure, period, level, org, group_code, stratifier, "
                      "stratum, count, masked, score, score_total, score_unit FROM latest_figures "
                      + store.order_by("measure", "period", "org", "group_code", "stratifier",
                                       "stratum")))),
        TidyTable("completeness", "Expected practice returns per month: reported or missing",
                  ("practice", "pcn", "period", "reported"), lambda: _completeness(collator)),
        TidyTable("releases", "Every release stored (re-released months keep all sequences)",
                  RELEASE_HEADER,
                  lambda: (_flag(row, 9) for row in store.stream(
                      f"SELECT {', '.join(RELEASE_HEADER)} FROM releases "
                      + store.order_by("sender", "period", "release_id")))),
        TidyTable("rejections", "Releases refused on receipt, with the reason",
                  ("received_at", "sender", "reason", "detail"),
                  lambda: store.stream("SELECT received_at, sender, reason, detail "
                                       "FROM rejections "
                                       + store.order_by("received_at", "detail"))),
    ]  # fmt: skip


def total_row(row: TotalRow) -> tuple[Any, ...]:
    total = row.total
    return (
        *(row.measure, row.period, row.level, row.org, row.group, row.stratifier, row.stratum),
        *(total.known, total.masked, total.parts, total.low, total.high, total.text()),
    )


def _totals(collator: Collator, area: AreaTotals | None) -> Iterator[tuple[Any, ...]]:
    for level in ("icb", "pcn"):
        for row in collator.totals(level):
            yield total_row(row) if area is None else (*total_row(row), *area.columns(row))


def _completeness(collator: Collator) -> Iterator[tuple[Any, ...]]:
    done = completeness(collator)
    for practice in done.expected:
        gaps = set(done.missing.get(practice, ()))
        for month in done.months:
            yield practice, collator.config.practices[practice], month, month not in gaps


def _flag(row: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    return (*row[:index], bool(row[index]), *row[index + 1 :])


# -- outcomes by provider, one figure a row --------------------------------------------------------
def _outcome_rows(config: HubConfig, found: Outcomes) -> Iterator[tuple[Any, ...]]:
    for row in found.rows:
        if row.provider == ALL_PROVIDERS:
            name = "All providers (ICB)"
        else:
            name = provider_name(config, row.provider)
        for measure, subject, figure, unit, values in _figures(row):
            source = row.sources.get(measure, "")
            yield (row.provider, name, row.period, source, measure, subject, figure, unit,
                   *values)  # fmt: skip


Values = tuple[Any, ...]  # low, high, published_parts_only, masked_parts, shown_as, note


def _figures(row: ProviderOutcome) -> Iterator[tuple[str, str, str, str, Values]]:
    refs = row.referrals
    if refs is not None:
        for figure, total in (("made", refs.made), ("accepted", refs.accepted),
                              ("declined", refs.declined)):  # fmt: skip
            if total is not None:
                yield "referrals", "referrals", figure, "people", _count(total)
        if refs.acceptance is not None and refs.accepted and refs.made:
            values = _share(refs.acceptance, refs.accepted, refs.made)
            yield "referrals", "referrals", "acceptance_rate", "share", values
    for star in row.stars:
        if star.star and star.reviewed is not None:
            subject = star.star
            yield "star", subject, "reviewed", "people", _count(star.reviewed.people)
            for figure, total in (("improved", star.improved),
                                  ("reviewed_year_on", star.reviewed_year_on),
                                  ("improved_year_on", star.improved_year_on)):  # fmt: skip
                if total is not None:
                    yield "star", subject, figure, "people", _count(total)
            if star.improved_share is not None and star.improved:
                values = _share(star.improved_share, star.improved, star.reviewed.people)
                yield "star", subject, "improved_share", "share", values
            if star.year_on_share is not None and star.improved_year_on and star.reviewed_year_on:
                values = _share(star.year_on_share, star.improved_year_on, star.reviewed_year_on)
                yield "star", subject, "improved_year_on_share", "share", values
            yield "star", subject, "change_total", "points", _sum(star.reviewed)
            yield "star", subject, "mean_change", "points per person", _mean(star.reviewed)
        for area, cell in star.areas.items():
            yield "star", area, "people", "people", _count(cell.people)
            yield "star", area, "change_total", "points", _sum(cell)
            yield "star", area, "mean_change", "points per person", _mean(cell)
    nhs = row.nhs_use
    if nhs is not None:
        yield "nhs-use", "nhs-use-cohort", "people", "people", _count(nhs.cohort)
        for kind in nhs.kinds:
            for phase, cell in (("before", kind.before), ("after", kind.after)):
                yield "nhs-use", kind.kind, f"units_{phase}", "units", _sum(cell)
                yield "nhs-use", kind.kind, f"mean_{phase}", "units per person", _mean(cell)
            yield "nhs-use", kind.kind, "mean_change", "units per person", _mean(kind.change)
        for figure, cost in (("cost_before", nhs.cost_before), ("cost_after", nhs.cost_after),
                              ("cost_change", nhs.cost_change)):  # fmt: skip
            yield "nhs-use", "nhs-cost", figure, "GBP", _money(cost)
        change = nhs.cost_change
        if change.people and not change.unpriced:
            per_person = change.known / change.people
            text = f"£{per_person:+,.2f}" + (f" ({change.unknown} masked part(s) left out)"
                                             if change.unknown else "")  # fmt: skip
            values = _scored(per_person, change.unknown, text)
            yield "nhs-use", "nhs-cost", "cost_change_per_person", "GBP per person", values


def _count(total: Total) -> Values:
    return total.low, total.high, total.known, total.masked, total.text(), ""


def _share(value: Share, part: Total, whole: Total) -> Values:
    return (round(value.low, 4), round(value.high, 4), "", part.masked + whole.masked,
            value.text(), "")  # fmt: skip


def _scored(value: float | None, unknown: int, text: str, note: str = "") -> Values:
    if value is None:
        return "", "", "", unknown, text, note
    value = round(value, 2)
    bounds = (value, value) if not unknown else ("", "")
    return *bounds, value, unknown, text, note


def _sum(cell: Scored) -> Values:
    value = cell.score if cell.scored or not cell.unknown else None
    return _scored(value, cell.unknown, amount(cell))


def _mean(cell: Scored) -> Values:
    return _scored(cell.mean, cell.unknown, mean(cell))


def _money(value: Money) -> Values:
    note = f"not costed: no unit cost for {', '.join(value.unpriced)}" if value.unpriced else ""
    known = None if not value.people and value.unknown and not value.known else value.known
    if value.unpriced and known is not None:
        return "", "", round(known, 2), value.unknown, money(value), note
    return _scored(known, value.unknown, money(value), note)
