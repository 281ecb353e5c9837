"""The protected release: the only thing that may leave the practice.

Disclosure control (`ltcbridge.disclosure.gate`) is the only code that makes one. It holds the
published figures and nothing else: no true count, no reason a figure was masked, no relation
the engine used. Every score (a mean, a total) in it was computed from published values, so it
tells a reader nothing the published counts do not. The feed (MeasureReport, CSV, preview, seal,
send) accepts nothing else, and the import rules (`.importlinter`) keep the person-level code and
the disclosure engine out of the feed's reach.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# A figure of one measure: (organisation, group, stratifier or None, stratum or None).
FigureKey = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class ReleaseTerms:
    """The agreement a release was made under, as every report and manifest carries it."""

    agreement_id: str
    recipient: str
    purpose: str
    period: str  # YYYY-MM
    level: str  # "practice" or "pcn"
    threshold: int
    rounding: int
    secondary: bool
    internal_recipient: bool


@dataclass(frozen=True)
class PublishedFigure:
    """One figure as it leaves: a count (None = masked) and, for scored groups, a score."""

    count: int | None
    score_total: float | None = None  # rounded like a count; None = none here, or withheld
    mean: float | None = None  # score_total / count, from the published values only

    @property
    def masked(self) -> bool:
        return self.count is None


@dataclass(frozen=True)
class ProtectedMeasure:
    """One measure of a release: its shape and every published figure."""

    canonical: str  # the Measure canonical
    orgs: tuple[str, ...]
    groups: tuple[str, ...]
    stratifiers: tuple[tuple[str, tuple[str, ...]], ...]  # (name, its strata) in order
    score_units: Mapping[str, str]  # scored group -> unit
    figures: Mapping[FigureKey, PublishedFigure]

    @property
    def slug(self) -> str:
        """``.../Measure/unmet-need`` -> ``unmet-need``."""
        return measure_slug(self.canonical)

    def keys(self, org: str) -> Iterator[FigureKey]:
        """The figures of one organisation, group totals first, in the report's order."""
        for group in self.groups:
            yield (org, group, None, None)
            for name, strata in self.stratifiers:
                for stratum in strata:
                    yield (org, group, name, stratum)


@dataclass(frozen=True)
class ProtectedRelease:
    """Every measure of one month's release under one agreement, published figures only."""

    terms: ReleaseTerms
    measures: tuple[ProtectedMeasure, ...]

    @property
    def orgs(self) -> tuple[str, ...]:
        """The reporting organisations (the same for every measure of a release)."""
        return self.measures[0].orgs if self.measures else ()

    def figure_count(self, org: str | None = None) -> int:
        """How many figures leave (for one organisation, or all)."""
        return sum(
            1
            for measure in self.measures
            for key in measure.figures
            if org is None or key[0] == org
        )


def measure_slug(canonical: str) -> str:
    """``.../Measure/unmet-need`` -> ``unmet-need``: one measure's short name."""
    return canonical.rstrip("/").rsplit("/", 1)[-1]
