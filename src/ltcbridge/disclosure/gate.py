"""The privacy gate: true counts in, a protected release out, and the history entry to keep.

`protect_release` is the one way from counting to anything that may leave. It applies the
agreement's rules to every measure together (primary masks, rounding, complementary masks
against this release and every release in the history) and then computes the scores a reader
sees from the published values alone:

- a group's score total is shown only beside a published count, rounded like a count, and its
  mean is that published total over that published count (so mean and total together say
  nothing the count does not: a mean of the true total over the true count, beside a total
  rounded to 5, would give the count exactly);
- the scores of a breakdown's strata are shown only when every stratum's count in it is
  published, so no masked stratum's total can be found by subtracting the others from the
  group's;
- where each person's value is bounded (a Star's change), a score total is shown only when it
  is consistent with every count its published count could stand for: otherwise the total
  would narrow the count (a total of 63 points of at most 9 each means at least 7 people).

Everything else the gate knows (true counts, why each figure was masked, the relations) goes
into the `GateResult` beside the protected release: the history entry stays in the practice,
the reasons go only to the manifest for the IG lead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ltcbridge.counts import CellKey, Cube
from ltcbridge.disclosure.cells import (
    DisclosureRules,
    Published,
    PublishedRelease,
    published_interval,
    round_count,
)
from ltcbridge.disclosure.from_cube import disclose_cubes
from ltcbridge.disclosure.protected import (
    FigureKey,
    ProtectedMeasure,
    ProtectedRelease,
    PublishedFigure,
    ReleaseTerms,
)


@dataclass(frozen=True)
class GateResult:
    """What the gate hands on: `protected` may leave; the rest stays in the practice."""

    protected: ProtectedRelease
    history_entry: PublishedRelease  # recorded when the release is sealed
    reasons: Mapping[tuple[str, FigureKey], str]  # (measure canonical, figure) -> why masked

    def masked_by_reason(self, org: str | None = None) -> Counter[str]:
        """How many figures were masked for each reason (one organisation's, or all)."""
        return Counter(
            reason for (_, key), reason in self.reasons.items() if org is None or key[0] == org
        )


def protect_release(
    cubes: Sequence[Cube],
    terms: ReleaseTerms,
    *,
    history: Sequence[PublishedRelease] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> GateResult:
    """Every measure of one release protected together, against the whole history."""
    rules = DisclosureRules(terms.threshold, terms.rounding)
    per_cube, entry = disclose_cubes(
        cubes, rules, secondary=terms.secondary, history=history, pcn_of=pcn_of
    )
    measures, reasons = [], {}
    for cube, published in zip(cubes, per_cube, strict=True):
        measures.append(_protected_measure(cube, published, terms.rounding))
        for key, cell in published.items():
            if cell.value is None:
                reasons[(cube.measure, key)] = cell.reason or "primary"
    return GateResult(ProtectedRelease(terms, tuple(measures)), entry, reasons)


def _protected_measure(
    cube: Cube, published: Mapping[CellKey, Published[CellKey]], rounding: int
) -> ProtectedMeasure:
    scores = _Scores(cube, published, rounding)
    figures = {key: scores.figure(key) for key, _ in cube.cells()}
    return ProtectedMeasure(
        canonical=cube.measure,
        orgs=tuple(cube.orgs),
        groups=tuple(cube.groups),
        stratifiers=tuple((name, tuple(cube.strata_of(name))) for name in cube.strata),
        score_units=dict(cube.score_units),
        figures=figures,
    )


@dataclass(frozen=True)
class _Scores:
    """Each figure's published count and, where the rules above allow, its score."""

    cube: Cube
    published: Mapping[CellKey, Published[CellKey]]
    rounding: int

    def figure(self, key: CellKey) -> PublishedFigure:
        count = self.published[key].value
        if count is None or key not in self.cube.scores or not self._shown(key):
            return PublishedFigure(count)
        total = self._rounded_total(key)
        mean = round(total / count, 1) + 0.0 if count else None  # + 0.0: never a -0.0 mean
        return PublishedFigure(count, total, mean)

    def _shown(self, key: CellKey) -> bool:
        org, group, name, _ = key
        whole = (org, group, None, None)
        if not self._sound(whole):
            return False
        if name is None:
            return True
        return all(self._sound((org, group, name, s)) for s in self.cube.strata_of(name))

    def _sound(self, key: CellKey) -> bool:
        """Count published, score present, and the rounded total consistent with every count
        the published count could stand for (each person's value within its bounds)."""
        count = self.published[key].value
        if count is None or key not in self.cube.scores:
            return False
        low, high = self.cube.score_bounds.get(key[1], (-math.inf, math.inf))
        rules = DisclosureRules(0, self.rounding)
        least, most = published_interval(count, rules) if count else (0, 0)
        total = self._rounded_total(key)
        spread = (self.rounding - 1) // 2 if total else 0
        first, last = total - self.rounding // 2 if total else 0, total + spread
        return all(_meets(first, last, _times(low, c), _times(high, c)) for c in (least, most))

    def _rounded_total(self, key: CellKey) -> float:
        """The cohort total rounded like a count (its sign kept; never rounded to 0)."""
        rounded = round(self.cube.scores[key])
        return math.copysign(round_count(abs(rounded), self.rounding), rounded) + 0.0


def _times(bound: float, count: int) -> float:
    """A per-person bound times a number of people (no one: exactly 0, even for infinity)."""
    return bound * count if count else 0.0


def _meets(first: float, last: float, low: float, high: float) -> bool:
    """Whether [first, last] and [low, high] share a value (infinite bounds allowed)."""
    return max(first, low) <= min(last, high)
