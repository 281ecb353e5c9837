"""Counting distinct people per organisation, group and stratum: the cube a measure publishes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ltcbridge.concepts import STRATIFIERS
from ltcbridge.errors import AgreementError

AGE_BANDS = ((0, 17), (18, 39), (40, 59), (60, 74), (75, 10_000))

# A cell of a cube: (organisation, group, stratifier or None, stratum or None)
CellKey = tuple[str, str, str | None, str | None]


@dataclass
class Cube:
    """Distinct-people counts of one measure for one month, at one organisation level.

    ``totals[o, g]`` counts the people of organisation ``o`` in group ``g``;
    ``strata[name][o, g, s]`` splits them by stratum ``s`` of that stratifier (they sum to the
    total, because every person falls in exactly one stratum).
    """

    measure: str
    month: str
    level: str
    orgs: list[str]
    groups: list[str]
    totals: np.ndarray
    strata: dict[str, np.ndarray]

    def cells(self) -> Iterator[tuple[CellKey, int]]:
        """Every cell with its true count, totals first, in a stable order."""
        for o, org in enumerate(self.orgs):
            for g, group in enumerate(self.groups):
                yield (org, group, None, None), int(self.totals[o, g])
                for name, counts in self.strata.items():
                    for s, stratum in enumerate(STRATIFIERS[name]):
                        yield (org, group, name, stratum), int(counts[o, g, s])


@dataclass(frozen=True)
class Strata:
    """Each person's stratum index for every stratifier, at the end of one reporting month."""

    by_name: dict[str, np.ndarray]

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


def month_end_int(month: str) -> int:
    """YYYYMMDD of the last day of a YYYY-MM month."""
    year, mon = int(month[:4]), int(month[5:7])
    next_first = np.datetime64(f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}-01")
    last = (next_first - np.timedelta64(1, "D")).astype(object)
    return last.year * 10000 + last.month * 100 + last.day


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
) -> Cube:
    """Count distinct people per (org, group) and per stratum.

    ``memberships`` is (person, group index) pairs, one per person per group they belong to
    (duplicates allowed); ``person_org`` gives each person's organisation index.
    """
    person, group = memberships
    n_orgs, n_groups = len(orgs), len(groups)
    pairs = np.unique(person * n_groups + group) if len(person) else np.zeros(0, np.int64)
    person, group = pairs // n_groups, pairs % n_groups
    org = person_org[person]
    cell = org * n_groups + group
    totals = np.bincount(cell, minlength=n_orgs * n_groups).reshape(n_orgs, n_groups)
    by_stratum: dict[str, np.ndarray] = {}
    for name in stratifiers:
        if name not in STRATIFIERS:
            raise AgreementError(f"unknown breakdown {name!r}; known: {', '.join(STRATIFIERS)}")
        width = len(STRATIFIERS[name])
        index = cell * width + strata.by_name[name][person]
        by_stratum[name] = np.bincount(index, minlength=n_orgs * n_groups * width).reshape(
            n_orgs, n_groups, width
        )
    return Cube(measure, month, level, list(orgs), list(groups), totals, by_stratum)
