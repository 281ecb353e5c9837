"""The outcome measures: referrals and their answers, Star distance travelled, NHS use.

Each turns the population's facts into a cube of the same shape as unmet need (people per
organisation, group and stratum), broken down by provider as well when the agreement allows the
``provider`` breakdown, with scores (sums of a per-person value) where the measure has them. The
rules are docs/counting-rules.md, "The further measures"; the synthetic generator's truth follows
the same page independently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ltcbridge.concepts import (
    CONCEPT_INDEX,
    NHS_USE,
    NHS_USE_COHORT,
    NHS_USE_ONCE_A_DAY,
    REFERRAL,
    REFERRAL_ACCEPTED,
    REFERRAL_COMPLETED,
    REFERRAL_DECLINED,
    STAR_GROUP_SUFFIXES,
    WINDOWS,
    nhs_use_groups,
)
from ltcbridge.counts import Cube, GroupRelation
from ltcbridge.identifiable.counting import Strata, count_people
from ltcbridge.identifiable.measures import reporting_orgs
from ltcbridge.identifiable.population import Population
from ltcbridge.measure_catalogue import NHS_USE_MEASURE, REFERRAL_GROUPS, REFERRALS, STAR_DISTANCE
from ltcbridge.period import month_int

FOLLOW_UP_MONTHS = 6  # NHS use is compared over six months before and six months after
YEAR_ON_MONTHS = 12


@dataclass(frozen=True)
class Scope:
    """Where and how a month is counted: the agreement's level and breakdowns (``provider``
    among them only when the agreement allows it: then outcomes are broken down by provider)."""

    month: str
    level: str = "practice"
    stratifiers: Sequence[str] = ()
    pcn_of: Mapping[str, str] | None = None

    @property
    def yyyymm(self) -> int:
        return month_int(self.month)


# -- referrals -----------------------------------------------------------------------------------


def count_referrals(population: Population, scope: Scope) -> Cube:
    """People referred in the month, and those of them a provider (or they) accepted or declined."""
    referrals = _referrals(population)
    in_month = (referrals.date // 100 == scope.yyyymm) & _countable(population, referrals.patient)
    cohort_keys = referrals.key[in_month]
    person, group = [referrals.patient[in_month]], [np.zeros(in_month.sum(), np.int64)]
    answers = _answers(population, cohort_keys, referrals)
    for g, concept in enumerate(REFERRAL_GROUPS[1:], start=1):
        chosen = answers.concept == CONCEPT_INDEX[concept]
        person.append(answers.patient[chosen])
        group.append(np.full(chosen.sum(), g, np.int64))
    declined_here = _facts_of(population, REFERRAL_DECLINED) & (population.fact_focus == 0)
    declined_here &= population.fact_date // 100 == scope.yyyymm
    cohort = np.zeros(len(population.sex), dtype=bool)
    cohort[referrals.patient[in_month]] = True
    declined_people = population.fact_patient[declined_here]
    declined_people = declined_people[cohort[declined_people]]
    person.append(declined_people)
    group.append(np.full(len(declined_people), 2, np.int64))
    provider = _latest_provider(
        len(population.sex), answers.patient, answers.order, answers.provider
    )
    return _cube(
        population,
        scope,
        REFERRALS,
        REFERRAL_GROUPS,
        (np.concatenate(person), np.concatenate(group)),
        provider,
        relations=(
            GroupRelation(REFERRAL_ACCEPTED, "<=", REFERRAL),
            GroupRelation(REFERRAL_DECLINED, "<=", REFERRAL),
        ),
    )


@dataclass
class _Referrals:
    key: np.ndarray  # key_hash of the ServiceRequest, sorted
    patient: np.ndarray
    date: np.ndarray


def _referrals(population: Population) -> _Referrals:
    rows = np.flatnonzero(_facts_of(population, REFERRAL))
    order = np.argsort(population.fact_key[rows], kind="stable")
    rows = rows[order]
    return _Referrals(
        population.fact_key[rows], population.fact_patient[rows], population.fact_date[rows]
    )


@dataclass
class _Answers:
    patient: np.ndarray  # the referral's person
    concept: np.ndarray
    provider: np.ndarray
    order: np.ndarray  # rank of the answer's date then lastUpdated, for "latest"
    start: np.ndarray  # the referral's date
    end: np.ndarray  # the answer's date


def _answers(population: Population, keys: np.ndarray, referrals: _Referrals) -> _Answers:
    """Providers' answers whose focus is one of ``keys`` (referrals), with the referral's data."""
    is_answer = population.fact_focus != 0
    rows = np.flatnonzero(is_answer & np.isin(population.fact_focus, keys))
    at = np.searchsorted(referrals.key, population.fact_focus[rows])
    at = np.minimum(at, max(len(referrals.key) - 1, 0))
    return _Answers(
        patient=referrals.patient[at],
        concept=population.fact_concept[rows].astype(np.int64),
        provider=population.fact_provider[rows],
        order=_rank(population.fact_date[rows], population.fact_updated[rows]),
        start=referrals.date[at],
        end=population.fact_date[rows],
    )


# -- Star distance travelled ---------------------------------------------------------------------
def count_star_distance(
    population: Population,
    scope: Scope,
    star: str,
    areas: Sequence[str],
    area_base: int,
    score_range: tuple[int, int] | None = None,
) -> Cube:
    """Change between each person's baseline and their review in the month, for one Star.

    ``areas`` are the Star's areas; their indexes in the population's star rows start at
    ``area_base`` (``Mappings.star_areas()`` order). ``score_range`` is the Star's lowest and
    highest score: it bounds how far one person can move (for disclosure control).
    """
    rows = population.stars
    mine = (rows.area >= area_base) & (rows.area < area_base + len(areas))
    readings, first = np.unique(rows.reading[mine], return_index=True)
    patient = rows.patient[mine][first]
    date, updated = rows.date[mine][first], rows.updated[mine][first]
    scores = np.full((len(readings), len(areas)), -1, np.int64)
    scores[np.searchsorted(readings, rows.reading[mine]), rows.area[mine] - area_base] = rows.score[
        mine
    ]
    by_person = np.lexsort((updated, date, patient))
    baseline = _first_of_each(patient[by_person])
    reviewable = date[by_person] // 100 == scope.yyyymm
    review = _last_of_each(patient[by_person], reviewable)
    base_row, review_row = by_person[baseline], by_person[review]
    ok = (review >= 0) & (date[review_row] > date[base_row])
    ok &= _countable(population, patient[base_row])
    base_row, review_row = base_row[ok], review_row[ok]
    person = patient[base_row]
    both = (scores[base_row] >= 0) & (scores[review_row] >= 0)
    change = np.where(both, scores[review_row] - scores[base_row], 0)
    reviewed = both.any(axis=1)
    total = change.sum(axis=1)
    months_apart = _months(date[review_row]) - _months(date[base_row])
    groups = (star, *(star + suffix for suffix in STAR_GROUP_SUFFIXES))
    members = [
        reviewed,
        reviewed & (total > 0),
        reviewed & (months_apart >= YEAR_ON_MONTHS),
        reviewed & (months_apart >= YEAR_ON_MONTHS) & (total > 0),
    ]
    values = [total, total, total, total]
    for a in range(len(areas)):
        members.append(both[:, a])
        values.append(change[:, a])
    person_all = np.concatenate([person[m] for m in members])
    group_all = np.concatenate([np.full(m.sum(), g, np.int64) for g, m in enumerate(members)])
    value_all = np.concatenate([v[m] for v, m in zip(values, members, strict=True)]).astype(float)
    provider = np.full(len(population.sex), -1, np.int64)
    provider[person] = rows.provider[mine][first][review_row]
    cube = _cube(
        population,
        scope,
        STAR_DISTANCE,
        (*groups, *areas),
        (person_all, group_all),
        provider,
        values=value_all,
        score_units={star: "points", **dict.fromkeys(areas, "points")},
        relations=(
            GroupRelation(groups[1], "<=", star),
            GroupRelation(groups[2], "<=", star),
            GroupRelation(groups[3], "<=", groups[1]),
            GroupRelation(groups[3], "<=", groups[2]),
            *(GroupRelation(area, "<=", star) for area in areas),
        ),
    )
    if score_range is not None:
        reach = float(score_range[1] - score_range[0])  # one area's largest change either way
        cube.score_bounds = {
            star: (-reach * len(areas), reach * len(areas)),
            **dict.fromkeys(areas, (-reach, reach)),
        }
    return cube


# -- NHS use before and after --------------------------------------------------------------------
def count_nhs_use(
    population: Population, scope: Scope, unit_costs: Mapping[str, float] | None = None
) -> Cube:
    """NHS use in the six months before a provider's intervention and the six months after."""
    costs = dict(unit_costs or {})
    cohort = nhs_use_cohort(population, scope)
    units = cohort.units(population)
    groups = nhs_use_groups(costed=bool(costs))
    values = [np.zeros(len(cohort.patient))]
    for kind in NHS_USE:
        values += [units[(kind, window)] for window in WINDOWS]
    if costs:
        for window in WINDOWS:
            start = np.zeros(len(cohort.patient))  # typed as an array, not sum()'s int 0
            values.append(
                sum((units[(kind, window)] * price for kind, price in costs.items()), start)
            )
    person = np.tile(cohort.patient, len(groups))
    group = np.repeat(np.arange(len(groups)), len(cohort.patient))
    provider = np.full(len(population.sex), -1, np.int64)
    provider[cohort.patient] = cohort.provider
    cube = _cube(
        population,
        scope,
        NHS_USE_MEASURE,
        groups,
        (person, group),
        provider,
        values=np.concatenate(values).astype(float),
        score_units={g: ("GBP" if g.startswith("nhs-cost") else "units") for g in groups[1:]},
        relations=tuple(GroupRelation(g, "==", NHS_USE_COHORT) for g in groups[1:]),
    )
    cube.score_bounds = dict.fromkeys(groups[1:], (0.0, math.inf))  # use and cost: never negative
    return cube


@dataclass
class NhsUseCohort:
    """The people whose six months after an intervention ended in the month, one row each."""

    patient: np.ndarray
    provider: np.ndarray  # index into Population.providers, -1 = none
    start: np.ndarray  # YYYYMMDD of the referral
    end: np.ndarray  # YYYYMMDD of the completed answer

    def units(self, population: Population) -> dict[tuple[str, str], np.ndarray]:
        """Each cohort member's units of each NHS-use kind in each window."""
        row_of = np.full(len(population.sex), -1, np.int64)
        row_of[self.patient] = np.arange(len(self.patient))
        out = {}
        for kind, concept in NHS_USE.items():
            chosen = np.flatnonzero(_facts_of(population, concept))
            row = row_of[population.fact_patient[chosen]]
            chosen, row = chosen[row >= 0], row[row >= 0]
            day = population.fact_date[chosen]
            if concept in NHS_USE_ONCE_A_DAY:
                _, once = np.unique(row * 100_000_000 + day, return_index=True)
                chosen, row, day = chosen[once], row[once], day[once]
            start, end = self.start[row], self.end[row]
            before = (day >= add_months(start, -FOLLOW_UP_MONTHS)) & (day < start)
            after = (day > end) & (day <= add_months(end, FOLLOW_UP_MONTHS))
            for window, inside in zip(WINDOWS, (before, after), strict=True):
                out[(kind, window)] = np.bincount(row[inside], minlength=len(self.patient))
        return out


def nhs_use_cohort(population: Population, scope: Scope) -> NhsUseCohort:
    """Each person's latest completed intervention, kept when it ended six months before."""
    referrals = _referrals(population)
    completed = _answers(population, referrals.key, referrals)
    done = completed.concept == CONCEPT_INDEX[REFERRAL_COMPLETED]
    patient, order = completed.patient[done], completed.order[done]
    latest = _last_of_each_by(patient, order)
    ended = completed.end[done][latest] // 100 == _add_yyyymm(scope.yyyymm, -FOLLOW_UP_MONTHS)
    keep = latest[ended]
    keep = keep[_countable(population, patient[keep])]
    return NhsUseCohort(
        patient=patient[keep],
        provider=completed.provider[done][keep],
        start=completed.start[done][keep],
        end=completed.end[done][keep],
    )


# -- shared pieces -------------------------------------------------------------------------------
def _cube(
    population: Population,
    scope: Scope,
    measure: str,
    groups: Sequence[str],
    memberships: tuple[np.ndarray, np.ndarray],
    provider: np.ndarray,
    *,
    values: np.ndarray | None = None,
    score_units: dict[str, str] | None = None,
    relations: tuple[GroupRelation, ...] = (),
) -> Cube:
    orgs, person_org = reporting_orgs(population, scope.level, scope.pcn_of or {})
    strata = Strata.at_month_end(
        population.birth, population.sex, population.ethnicity, population.imd, scope.month
    ).with_provider(provider, population.providers)
    return count_people(
        measure=measure,
        month=scope.month,
        level=scope.level,
        orgs=orgs,
        groups=groups,
        person_org=person_org,
        memberships=memberships,
        strata=strata,
        stratifiers=tuple(scope.stratifiers),
        values=values,
        score_units=score_units,
        relations=relations,
    )


def _facts_of(population: Population, concept: str) -> np.ndarray:
    return population.fact_concept == CONCEPT_INDEX[concept]


def _countable(population: Population, patient: np.ndarray) -> np.ndarray:
    """Not opted out, and in a practice (so in some reporting organisation)."""
    return ~population.opted_out[patient] & (population.patient_practice[patient] >= 0)


def _rank(date: np.ndarray, updated: np.ndarray) -> np.ndarray:
    """A sortable key: the date, then lastUpdated (within one array's rows)."""
    order = np.lexsort((updated, date))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _latest_provider(
    n_people: int, patient: np.ndarray, order: np.ndarray, provider: np.ndarray
) -> np.ndarray:
    latest = _last_of_each_by(patient, order)
    out = np.full(n_people, -1, np.int64)
    out[patient[latest]] = provider[latest]
    return out


def _last_of_each_by(patient: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Row index of each person's highest ``order``."""
    ranked = np.lexsort((order, patient))
    last = np.ones(len(ranked), dtype=bool)
    last[:-1] = patient[ranked][1:] != patient[ranked][:-1]
    return ranked[last]


def _first_of_each(sorted_patient: np.ndarray) -> np.ndarray:
    """The position of each person's first row in a person-sorted array."""
    starts = np.ones(len(sorted_patient), dtype=bool)
    starts[1:] = sorted_patient[1:] != sorted_patient[:-1]
    return np.flatnonzero(starts)


def _last_of_each(sorted_patient: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Per person (in the order of ``_first_of_each``), their last eligible row, or -1."""
    starts = np.ones(len(sorted_patient), dtype=bool)
    starts[1:] = sorted_patient[1:] != sorted_patient[:-1]
    person = np.cumsum(starts) - 1
    last = np.full(int(starts.sum()), -1, np.int64)
    rows = np.flatnonzero(eligible)
    last[person[rows]] = rows  # later rows overwrite earlier ones: the last eligible wins
    return last


def _months(yyyymmdd: np.ndarray) -> np.ndarray:
    return (yyyymmdd // 10000) * 12 + (yyyymmdd // 100 % 100)


def _add_yyyymm(yyyymm: int, months: int) -> int:
    total = (yyyymm // 100) * 12 + (yyyymm % 100 - 1) + months
    return (total // 12) * 100 + total % 12 + 1


def add_months(yyyymmdd: np.ndarray, months: int) -> np.ndarray:
    """Dates moved by whole calendar months, the day clamped to the new month's last day."""
    total = (yyyymmdd // 10000) * 12 + (yyyymmdd // 100 % 100 - 1) + months
    year, month = total // 12, total % 12 + 1
    first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(
        np.int64
    )
    return year * 10000 + month * 100 + np.minimum(yyyymmdd % 100, days_in_month)
