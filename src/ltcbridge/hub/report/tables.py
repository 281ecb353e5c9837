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

from ltcbridge.hub.collate import Collator, TotalRow, completeness


@dataclass(frozen=True)
class TidyTable:
    name: str
    about: str
    header: tuple[str, ...]
    rows: Callable[[], Iterator[tuple[Any, ...]]]


RELEASE_HEADER = ("release_id", "agreement_id", "sender", "recipient", "period", "sequence",
                  "created", "measures", "stored_at", "latest")  # fmt: skip
TOTAL_HEADER = ("measure", "period", "level", "org", "group", "stratifier", "stratum", "known",
                "masked_parts", "parts", "low", "high", "shown_as")  # fmt: skip


def tidy_tables(collator: Collator) -> list[TidyTable]:
    """Every table the CSV folder and the workbook hold, in order."""
    store = collator.store
    return [
        TidyTable("totals", "PCN and ICB sums; low/high bound the true value when parts are "
                  "masked (high empty: no upper bound)", TOTAL_HEADER,
                  lambda: _totals(collator)),
        TidyTable("figures", "Every figure of the latest release per sender and month, as sent",
                  ("release_id", "measure", "period", "level", "org", "group", "stratifier",
                   "stratum", "count", "masked", "score"),
                  lambda: (_flag(row, 9) for row in store.stream(
                      "SELECT release_id, measure, period, level, org, group_code, stratifier, "
                      "stratum, count, masked, score FROM latest_figures "
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


def _totals(collator: Collator) -> Iterator[tuple[Any, ...]]:
    for level in ("icb", "pcn"):
        yield from (total_row(row) for row in collator.totals(level))


def _completeness(collator: Collator) -> Iterator[tuple[Any, ...]]:
    done = completeness(collator)
    for practice in done.expected:
        gaps = set(done.missing.get(practice, ()))
        for month in done.months:
            yield practice, collator.config.practices[practice], month, month not in gaps


def _flag(row: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    return (*row[:index], bool(row[index]), *row[index + 1 :])
