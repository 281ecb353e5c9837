"""True counts of one measure for one month: the cube the counting hands to the privacy gate.

A cube holds counts, never people. It is still confidential (true small counts are what
disclosure control hides), so it goes only to ``ltcbridge.disclosure``, which turns it into the
published figures of a protected release.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ltcbridge.concepts import STRATIFIERS

# A cell of a cube: (organisation, group, stratifier or None, stratum or None)
CellKey = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class GroupRelation:
    """What a reader knows between two groups of one measure, in every organisation and stratum:
    ``left <= right`` (a subset of the people) or ``left == right`` (the same people)."""

    left: str
    op: Literal["<=", "=="]
    right: str


@dataclass
class Cube:
    """Distinct-people counts of one measure for one month, at one organisation level.

    ``totals[o, g]`` counts the people of organisation ``o`` in group ``g``;
    ``strata[name][o, g, s]`` splits them by stratum ``s`` of that stratifier (they sum to the
    total, because every person falls in exactly one stratum). A scored group also carries, per
    cell, the sum of its people's values (``scores``): the mean is that over the count.
    """

    measure: str
    month: str
    level: str
    orgs: list[str]
    groups: list[str]
    totals: np.ndarray
    strata: dict[str, np.ndarray]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # strata of each stratifier
    scores: dict[CellKey, float] = field(default_factory=dict)
    score_units: dict[str, str] = field(default_factory=dict)  # scored group -> unit
    # scored group -> (lowest, highest) value one person can add, when known: disclosure
    # control checks a published total against the count it stands beside
    score_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    relations: tuple[GroupRelation, ...] = ()

    def strata_of(self, name: str) -> tuple[str, ...]:
        return self.labels.get(name) or STRATIFIERS[name]

    def cells(self) -> Iterator[tuple[CellKey, int]]:
        """Every cell with its true count, totals first, in a stable order."""
        for o, org in enumerate(self.orgs):
            for g, group in enumerate(self.groups):
                yield (org, group, None, None), int(self.totals[o, g])
                for name, counts in self.strata.items():
                    for s, stratum in enumerate(self.strata_of(name)):
                        yield (org, group, name, stratum), int(counts[o, g, s])
