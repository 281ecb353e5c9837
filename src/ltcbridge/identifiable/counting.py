"""Counting distinct people per organisation, group and stratum into a cube (person-level in)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ltcbridge.concepts import NO_PROVIDER, PROVIDER, STRATIFIERS
from ltcbridge.counts import Cube, GroupRelation
from ltcbridge.errors import AgreementError
from ltcbridge.period import month_end_int

AGE_BANDS = ((0, 17), (18, 39), (40, 59), (60, 74), (75, 10_000))


@dataclass(frozen=True)
class Strata:
    """Each person's stratum index for every stratifier, at the end of one reporting month."""

    by_name: dict[str, np.ndarray]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def with_provider(self, provider: np.ndarray, providers: Sequence[str]) -> Strata:
        """These strata plus each person's provider (index into ``providers``, -1 = none)."""
        index = np.where(provider >= 0, provider, len(providers))
        return Strata(
            {**self.by_name, PROVIDER: index},
            {**self.labels, PROVIDER: (*providers, NO_PROVIDER)},
        )

    @classmethod
    def at_month_end(
        cls, birth: np.ndarray, sex: np.ndarray, ethnicity: np.ndarray, imd: np.ndarray, month: str
    ) -> Strata:
        return cls(
            {
                "age-band": age_bands(birth, month_end_int(month)),
                "sex": sex.astype(np.int64),
                "ethnicity-group": ethnicity.astype(np.int64),
                "imd-quintile": imd.astype(np.int64),
            }
        )


def age_bands(birth: np.ndarray, at: int) -> np.ndarray:
    """Age band index of each birth date (YYYYMMDD) on day ``at``; unknown (0) -> last band."""
    years = (at - birth) // 10000  # whole years: the YYYYMMDD difference trick
    bands = np.full(len(birth), len(AGE_BANDS), dtype=np.int64)  # "unknown"
    known = (birth > 0) & (years >= 0)
    for index, (low, high) in enumerate(AGE_BANDS):
        bands[known & (years >= low) & (years <= high)] = index
    return bands


def count_people(
    *,
    measure: str,
    month: str,
    level: str,
    orgs: Sequence[str],
    groups: Sequence[str],
    person_org: np.ndarray,
    memberships: tuple[np.ndarray, np.ndarray],
    strata: Strata,
    stratifiers: Sequence[str],
    values: np.ndarray | None = None,
    score_units: dict[str, str] | None = None,
    relations: tuple[GroupRelation, ...] = (),
) -> Cube:
    """Count distinct people per (org, group) and per stratum.

    ``memberships`` is (person, group index) pairs, one per person per group they belong to
    (duplicates allowed); ``person_org`` gives each person's organisation index. ``values``, when
    given, is each pair's value for the groups named in ``score_units`` (one pair per person and
    group, then): summed per group total and per provider stratum.
    """
    person, group = memberships
    n_orgs, n_groups = len(orgs), len(groups)
    pairs, first = (
        np.unique(person * n_groups + group, return_index=True)
        if len(person)
        else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    )
    person, group = pairs // n_groups, pairs % n_groups
    org = person_org[person]
    cell = org * n_groups + group
    totals = np.bincount(cell, minlength=n_orgs * n_groups).reshape(n_orgs, n_groups)
    by_stratum: dict[str, np.ndarray] = {}
    labels: dict[str, tuple[str, ...]] = {}
    for name in stratifiers:
        labels[name] = strata.labels.get(name) or STRATIFIERS.get(name, ())
        if name not in strata.by_name:
            raise AgreementError(f"unknown breakdown {name!r}; known: {', '.join(STRATIFIERS)}")
        width = len(labels[name])
        index = cell * width + strata.by_name[name][person]
        by_stratum[name] = np.bincount(index, minlength=n_orgs * n_groups * width).reshape(
            n_orgs, n_groups, width
        )
    cube = Cube(measure, month, level, list(orgs), list(groups), totals, by_stratum, labels)
    cube.relations = relations
    if values is not None and score_units:
        cube.score_units = dict(score_units)
        _sum_scores(cube, cell, values[first], strata, person)
    return cube


def _sum_scores(
    cube: Cube, cell: np.ndarray, values: np.ndarray, strata: Strata, person: np.ndarray
) -> None:
    """Scores on group totals and, when broken down by provider, on provider strata."""
    n_cells = len(cube.orgs) * len(cube.groups)
    sums = np.bincount(cell, weights=values, minlength=n_cells)
    by_provider = None
    if PROVIDER in cube.strata:
        width = len(cube.labels[PROVIDER])
        index = cell * width + strata.by_name[PROVIDER][person]
        by_provider = np.bincount(index, weights=values, minlength=n_cells * width)
    for o, org in enumerate(cube.orgs):
        for g, group in enumerate(cube.groups):
            if group not in cube.score_units:
                continue
            at = o * len(cube.groups) + g
            cube.scores[(org, group, None, None)] = float(sums[at])
            if by_provider is not None:
                for s, stratum in enumerate(cube.labels[PROVIDER]):
                    value = float(by_provider[at * width + s])
                    cube.scores[(org, group, PROVIDER, stratum)] = value
