"""The unmet-need measure: distinct people with each need (and any need) per org and month."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ltcbridge.aggregate.cube import Cube, Strata, count_people
from ltcbridge.aggregate.population import Population
from ltcbridge.concepts import CONCEPT_INDEX, NEED_ANY, NEED_DOMAINS
from ltcbridge.errors import AgreementError

UNMET_NEED_MEASURE = "https://ltcbridge.github.io/fhir/Measure/unmet-need"
UNMET_NEED_GROUPS: tuple[str, ...] = (*NEED_DOMAINS, NEED_ANY)

_NEED_OF_CONCEPT = np.full(256, -1, dtype=np.int64)
for _domain_index, _domain in enumerate(NEED_DOMAINS):
    _NEED_OF_CONCEPT[CONCEPT_INDEX[_domain]] = _domain_index


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


def count_unmet_need(
    population: Population,
    month: str,
    *,
    level: str = "practice",
    stratifiers: Sequence[str] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> Cube:
    """Distinct people per need domain and need-any, for one ``YYYY-MM`` month."""
    orgs, person_org = reporting_orgs(population, level, pcn_of or {})
    yyyymm = int(month[:4]) * 100 + int(month[5:7])
    domain = _NEED_OF_CONCEPT[population.fact_concept.astype(np.int64)]
    person = population.fact_patient
    counted = (
        (domain >= 0)
        & (population.fact_date // 100 == yyyymm)
        & ~population.opted_out[person]
        & (person_org[person] >= 0)
    )
    person, domain = person[counted], domain[counted]
    need_any = np.full(len(person), len(NEED_DOMAINS), dtype=np.int64)
    strata = Strata.at_month_end(
        population.birth, population.sex, population.ethnicity, population.imd, month
    )
    return count_people(
        measure=UNMET_NEED_MEASURE,
        month=month,
        level=level,
        orgs=orgs,
        groups=UNMET_NEED_GROUPS,
        person_org=person_org,
        memberships=(np.concatenate([person, person]), np.concatenate([domain, need_any])),
        strata=strata,
        stratifiers=stratifiers,
    )
