"""Distance travelled: how far a person has moved on a Star between baseline and latest reading.

The baseline is the earliest reading, the review the latest (told apart by date, as in
docs/referral-loop.md). Only areas scored in both count, so a skipped area never looks like
progress. Overall change is the sum of the area changes, and the mean per area is given too
because Stars differ in how many areas they have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ltcbridge.provider.stars import Reading


@dataclass(frozen=True)
class DistanceTravelled:
    """Change per area and overall on one Star, from ``baseline_date`` to ``latest_date``."""

    star: str
    baseline_date: dt.date
    latest_date: dt.date
    readings: int
    change: dict[str, int]  # area -> latest minus baseline, for areas scored in both

    @property
    def overall(self) -> int:
        return sum(self.change.values())

    @property
    def mean_change(self) -> float:
        return self.overall / len(self.change) if self.change else 0.0


def distance_travelled(readings: Iterable[Reading], star: str) -> DistanceTravelled | None:
    """Baseline-to-latest change on ``star``; None until there are two readings on two dates.

    Two readings on the same day are one sitting, not progress: the later one in the list wins.
    """
    by_date: dict[dt.date, Reading] = {}
    for reading in readings:
        if reading.star == star:
            by_date[reading.date] = reading
    if len(by_date) < 2:
        return None
    baseline, latest = by_date[min(by_date)], by_date[max(by_date)]
    change = {
        area: latest.scores[area] - score
        for area, score in baseline.scores.items()
        if area in latest.scores
    }
    return DistanceTravelled(star, baseline.date, latest.date, len(by_date), change)
