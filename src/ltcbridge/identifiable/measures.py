"""Measures that count distinct people with a concept: unmet need, referrals, support levels.

Each is data: a Measure canonical, its groups (one concept each) and, optionally, an "any" group
counting people in at least one of them. One counting routine serves them all, so every measure
has the same shape, the same breakdowns and the same disclosure control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ltcbridge.concepts import PROVIDER
from ltcbridge.counts import Cube
from ltcbridge.errors import AgreementError
from ltcbridge.identifiable.counting import Strata, count_people
from ltcbridge.identifiable.population import Population
from ltcbridge.measure_catalogue import (
    ConceptMeasure,
)


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
