"""The unmet-need measure (contract section 3): the first of the concept measures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ltcbridge.aggregate.cube import Cube
from ltcbridge.aggregate.measures import UNMET_NEED, count_measure, reporting_orgs
from ltcbridge.aggregate.population import Population

UNMET_NEED_MEASURE = UNMET_NEED.canonical
UNMET_NEED_GROUPS: tuple[str, ...] = UNMET_NEED.groups

__all__ = ["UNMET_NEED_GROUPS", "UNMET_NEED_MEASURE", "count_unmet_need", "reporting_orgs"]


def count_unmet_need(
    population: Population,
    month: str,
    *,
    level: str = "practice",
    stratifiers: Sequence[str] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> Cube:
    """Distinct people per need domain and need-any, for one ``YYYY-MM`` month."""
    return count_measure(
        UNMET_NEED, population, month, level=level, stratifiers=stratifiers, pcn_of=pcn_of
    )
