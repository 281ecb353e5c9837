"""The measures a release can carry: their canonicals and groups. Vocabulary only, no counting.

The counting code (``ltcbridge.identifiable``) counts people into these groups; the feed and the
Measure definitions name them. Both read them here, so the feed needs nothing of the counting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltcbridge.concepts import (
    CONCEPT_INDEX,
    NEED_ANY,
    NEED_DOMAINS,
    REFERRAL,
    REFERRAL_ACCEPTED,
    REFERRAL_DECLINED,
    SUPPORT_LEVELS,
)

MEASURE_BASE = "https://ltcbridge.github.io/fhir/Measure/"


@dataclass(frozen=True)
class ConceptMeasure:
    """People per organisation and month with at least one counting entry of each concept."""

    canonical: str
    concepts: tuple[str, ...]  # one group each, in this order
    any_group: str | None = None  # a further group: people with any of the concepts

    @property
    def groups(self) -> tuple[str, ...]:
        return (*self.concepts, self.any_group) if self.any_group else self.concepts

    def group_of_concept(self) -> np.ndarray:
        """Concept index -> group index (-1 = not counted by this measure), for numpy lookups."""
        table = np.full(256, -1, dtype=np.int64)
        for group, concept in enumerate(self.concepts):
            table[CONCEPT_INDEX[concept]] = group
        return table


UNMET_NEED = ConceptMeasure(MEASURE_BASE + "unmet-need", NEED_DOMAINS, NEED_ANY)
SUPPORT_LEVEL = ConceptMeasure(MEASURE_BASE + "support-level", SUPPORT_LEVELS)
# By the short name an agreement uses (referrals, outcomes: identifiable.outcomes).
CONCEPT_MEASURES: dict[str, ConceptMeasure] = {
    "unmet-need": UNMET_NEED,
    "support-level": SUPPORT_LEVEL,
}


REFERRALS = MEASURE_BASE + "referrals"
STAR_DISTANCE = MEASURE_BASE + "star-distance-travelled"
NHS_USE_MEASURE = MEASURE_BASE + "nhs-use"
REFERRAL_GROUPS = (REFERRAL, REFERRAL_ACCEPTED, REFERRAL_DECLINED)
