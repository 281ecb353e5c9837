"""Measures that count distinct people with a concept: unmet need, referrals, support levels.

Each is data: a Measure canonical, its groups (one concept each) and, optionally, an "any" group
counting people in at least one of them. One counting routine serves them all, so every measure
has the same shape, the same breakdowns and the same disclosure control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ltcbridge.aggregate.cube import PROVIDER, Cube, Strata, count_people
from ltcbridge.aggregate.population import Population
from ltcbridge.concepts import (
    CONCEPT_INDEX,
    NEED_ANY,
    NEED_DOMAINS,
    SUPPORT_LEVELS,
)
from ltcbridge.errors import AgreementError

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
# By the short name an agreement uses (the referrals and outcomes are in aggregate.outcomes).
CONCEPT_MEASURES: dict[str, ConceptMeasure] = {
    "unmet-need": UNMET_NEED,
    "support-level": SUPPORT_LEVEL,
}


def reporting_orgs(
    population: Population, level: str, pcn_of: Mapping[str, str]
) -> tuple[list[str], np.ndarray]:
    """The organisations that report at ``level`` and each person's index among them (-1 none)."""
    if level == "practice":
        return population.practices, population.patient_practice
    if level != "pcn":
        raise AgreementError(f"breakdowns.level {level!r} must be 'practice' or 'pcn'")
    missing = [p for p in population.practices if p not in pcn_of]
    if missing:
        raise AgreementError(
            f"level 'pcn' but no PCN is known for practice(s) {', '.join(missing)}: add them to a "
            "'practice,pcn' CSV in a mappings directory"
        )
    pcns = sorted({pcn_of[p] for p in population.practices})
    position = {pcn: i for i, pcn in enumerate(pcns)}
    practice_to_pcn = np.array([position[pcn_of[p]] for p in population.practices] + [-1])
    return pcns, practice_to_pcn[population.patient_practice]


def count_measure(
    measure: ConceptMeasure,
    population: Population,
    month: str,
    *,
    level: str = "practice",
    stratifiers: Sequence[str] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> Cube:
    """Distinct people per group of ``measure``, for one ``YYYY-MM`` month."""
    orgs, person_org = reporting_orgs(population, level, pcn_of or {})
    yyyymm = int(month[:4]) * 100 + int(month[5:7])
    group = measure.group_of_concept()[population.fact_concept.astype(np.int64)]
    person = population.fact_patient
    counted = (
        (group >= 0)
        & (population.fact_date // 100 == yyyymm)
        & ~population.opted_out[person]
        & (person_org[person] >= 0)
    )
    person, group = person[counted], group[counted]
    if measure.any_group:
        any_group = np.full(len(person), len(measure.concepts), dtype=np.int64)
        person, group = np.concatenate([person, person]), np.concatenate([group, any_group])
    strata = Strata.at_month_end(
        population.birth, population.sex, population.ethnicity, population.imd, month
    )
    return count_people(
        measure=measure.canonical,
        month=month,
        level=level,
        orgs=orgs,
        groups=measure.groups,
        person_org=person_org,
        memberships=(person, group),
        strata=strata,
        # Needs and support levels have no provider: that breakdown is for the outcome measures.
        stratifiers=[name for name in stratifiers if name != PROVIDER],
    )
