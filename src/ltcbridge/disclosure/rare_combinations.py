"""A person-level extract with no rare combination of the columns that could single someone out.

The cohort extract has one row per person, keyed by a pseudonym that differs per recipient. What
could still link a row to a person, or two recipients' rows to each other, is the combination of
practice, age band, sex, ethnic group and deprivation quintile. Every combination that appears
must be shared by at least `threshold` rows (k-anonymity with k = the agreement's threshold).

How: columns are generalised for every row alike (global recoding), in a fixed order, least
useful to a cost analysis first (ethnic group, then deprivation, then age band coarsened, then
age band and sex), until no combination is rarer than the threshold; rows still in a rare
combination after that (a practice with too few rows) are suppressed. The order and the result
depend only on the rows, so the same month always gives the same extract.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ANY = "any"
QUASI_IDENTIFIERS = ("practice", "age_band", "sex", "ethnicity_group", "imd_quintile")
BROAD_AGE = {"0-17": "0-39", "18-39": "0-39", "40-59": "40-74", "60-74": "40-74", "75+": "75+"}

Row = Mapping[str, str | int | float]


@dataclass(frozen=True)
class Step:
    """One generalisation: a column and how each of its values is recoded."""

    column: str
    name: str

    def recode(self, value: str) -> str:
        if self.column == "age_band" and self.name == "broad age band":
            return BROAD_AGE.get(value, value)
        return ANY


STEPS = (
    Step("ethnicity_group", "ethnic group withheld"),
    Step("imd_quintile", "deprivation quintile withheld"),
    Step("age_band", "broad age band"),
    Step("age_band", "age band withheld"),
    Step("sex", "sex withheld"),
)


@dataclass(frozen=True)
class ProtectedExtract:
    """The rows that may leave, and what was done to them (said in the manifest and output)."""

    rows: tuple[dict[str, str | int | float], ...]
    generalised: tuple[str, ...]  # the steps applied, in order
    suppressed: int  # rows left out because their combination stayed rarer than the threshold
    threshold: int


def protect_extract(
    rows: Sequence[Row], threshold: int, withheld: Sequence[str] = ()
) -> ProtectedExtract:
    """`rows` generalised and suppressed until every combination of the quasi-identifiers is
    shared by at least `threshold` rows. `withheld` columns (breakdowns the agreement does not
    allow) are recoded to "any" before anything else."""
    current = [dict(row) for row in rows]
    for column in withheld:
        for row in current:
            row[column] = ANY
    applied: list[str] = []
    for step in STEPS:
        if _rarest(current) >= threshold:
            break
        for row in current:
            row[step.column] = step.recode(str(row[step.column]))
        applied.append(step.name)
    sizes = Counter(_combination(row) for row in current)
    kept = tuple(row for row in current if sizes[_combination(row)] >= threshold)
    return ProtectedExtract(kept, tuple(applied), len(current) - len(kept), threshold)


def _combination(row: Row) -> tuple[str, ...]:
    return tuple(str(row[column]) for column in QUASI_IDENTIFIERS)


def _rarest(rows: Sequence[Row]) -> int:
    """The size of the rarest combination (no rows: nothing is rare)."""
    sizes = Counter(_combination(row) for row in rows)
    return min(sizes.values(), default=1 << 30)
