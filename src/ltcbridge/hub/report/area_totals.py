"""Exact area totals from secure aggregation, shown beside the ranges collated from practices.

The leader aggregator's share store holds protected PCN and ICB figures
(docs/secure-aggregation.md). ``hub report --area-figures`` reads them (``cli.hub``: the hub
itself imports nothing of secure aggregation, whose store reaches practice-side counting code)
and hands them here once; the HTML, CSV and workbook writers ask this module for a row's figure,
so every output says the same thing. Only the value is kept: why a figure is masked stays in the
leader's store (the reason can narrow what a practice masked).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ltcbridge.hub.collate import TotalRow

AREA_SOURCE = "area total by secure aggregation (rounded)"
RANGE_SOURCE = "sum of practice figures (range)"
MASKED = "masked"
NONE = "none"  # no secure-aggregation figure for this area and cell
AREA_HEADER = ("area_total", "area_total_source")

# measure, month, level, area, group, stratifier, stratum
Key = tuple[str, str, str, str, str, str | None, str | None]


class AreaFigure(Protocol):
    """What is read of ``ltcbridge.secagg.store.AreaFigure`` (its ``reason`` never is)."""

    @property
    def measure(self) -> str: ...

    @property
    def month(self) -> str: ...

    @property
    def level(self) -> str: ...

    @property
    def area(self) -> str: ...

    @property
    def group(self) -> str: ...

    @property
    def stratifier(self) -> str | None: ...

    @property
    def stratum(self) -> str | None: ...

    @property
    def value(self) -> int | None: ...

    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class AreaTotals:
    """The latest version of each protected area figure: its value, or None when masked."""

    values: dict[Key, int | None]

    def lookup(self, row: TotalRow) -> tuple[bool, int | None]:
        """(a figure exists, its value or None when masked) for the row's area and cell."""
        key = (row.measure, row.period, row.level, row.org, row.group, row.stratifier, row.stratum)
        return key in self.values, self.values.get(key)

    def text(self, row: TotalRow) -> str:
        """What a reader sees: the number, 'masked', or 'none' when no figure was aggregated."""
        found, value = self.lookup(row)
        if not found:
            return NONE
        return MASKED if value is None else f"{value:,}"

    def columns(self, row: TotalRow) -> tuple[Any, ...]:
        """The tidy tables' ``area_total`` (number, 'masked' or empty) and ``area_total_source``."""
        found, value = self.lookup(row)
        if not found:
            return "", ""
        return (MASKED if value is None else value), AREA_SOURCE


def area_totals(figures: Iterable[AreaFigure]) -> AreaTotals:
    """Each cell's figure of its highest version (a late practice gives a second version)."""
    chosen: dict[Key, AreaFigure] = {}
    for figure in figures:
        key = (figure.measure, figure.month, figure.level, figure.area, figure.group,
               figure.stratifier, figure.stratum)  # fmt: skip
        if key not in chosen or figure.version > chosen[key].version:
            chosen[key] = figure
    return AreaTotals({key: figure.value for key, figure in chosen.items()})
