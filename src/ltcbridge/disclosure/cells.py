"""Shared types for disclosure control: cells, relations between them, rules, published releases.

Nothing here knows about FHIR. A *cell* is any hashable key with a true non-negative count; a
*constraint* is a linear relation between true counts that a reader of the published figures can
know (a total is the sum of its strata, a PCN is the sum of its practices, ...). Rounding and the
attacker's view of one published figure live here too, so that the engine that protects a release
(`secondary.py`) and the attacker that checks it (`audit.py`) read published figures the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

CellKey = Hashable
Reason = Literal["primary", "secondary", "history"]


class Masked(enum.Enum):
    """The published value of a masked cell: never a number, never 0."""

    MASKED = "masked"

    def __repr__(self) -> str:
        return "MASKED"


MASKED = Masked.MASKED
PublishedValue = int | Masked


@dataclass(frozen=True)
class LinearConstraint:
    """`sum(coef * value[cell]) (== | <=) rhs`, over TRUE values, known to any reader."""

    terms: tuple[tuple[CellKey, int], ...]
    op: Literal["==", "<="]
    rhs: int = 0


@dataclass(frozen=True)
class DisclosureRules:
    """The agreement's disclosure section: counts 1..threshold masked, others rounded."""

    threshold: int  # 0 = no primary masking
    rounding: int  # 1 = none

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.rounding < 1:
            raise ValueError(f"invalid disclosure rules: {self}")

    def is_primary(self, value: int) -> bool:
        """A count of 1..threshold people is too small to publish."""
        return 1 <= value <= self.threshold


@dataclass
class Release:
    """One release as the counting code hands it over: true counts and known relations."""

    cells: dict[CellKey, int]
    constraints: list[LinearConstraint]


@dataclass(frozen=True)
class PublishedRelease:
    """A protected release.

    `values` is what leaves the practice. `reasons` says why each masked cell was masked (for the
    practice's information-governance lead; see docs/disclosure.md on why it should not be sent).
    `true_values` and `constraints` are kept at the practice so the release can be passed back as
    history: the next release is protected against everything this one published.
    """

    values: Mapping[CellKey, PublishedValue]
    reasons: Mapping[CellKey, Reason]
    constraints: tuple[LinearConstraint, ...]
    rules: DisclosureRules
    true_values: Mapping[CellKey, int] = field(repr=False)

    def is_masked(self, key: CellKey) -> bool:
        return self.values[key] is MASKED

    def masked_share(self) -> float:
        """Information loss: the share of cells not published as a number."""
        if not self.values:
            return 0.0
        return sum(1 for v in self.values.values() if v is MASKED) / len(self.values)


Key = TypeVar("Key")


@dataclass(frozen=True)
class Published(Generic[Key]):
    """What leaves the practice for one cell (as the feed writes it), and, when masked, why."""

    key: Key
    value: int | None  # None = masked
    reason: str | None = None  # "primary", "secondary" or "history"; never sent


def round_count(value: int, rounding: int) -> int:
    """Round a non-zero count to the nearest multiple of `rounding` (halves up).

    A non-zero count is never published as 0 (it becomes `rounding` instead), so a published 0
    always means exactly nobody. This only matters when threshold < rounding / 2.
    """
    if value == 0 or rounding == 1:
        return value
    return max(rounding, rounding * ((2 * value + rounding) // (2 * rounding)))


def published_interval(published: int, rules: DisclosureRules) -> tuple[int, int]:
    """Every true value an attacker cannot rule out for an unmasked published figure.

    The attacker knows the rounding rule and that an unmasked figure is not 1..threshold, so the
    set is an interval: {0} for 0, else the rounding interval above the threshold.
    """
    if published == 0:
        return (0, 0)
    low = published - rules.rounding // 2
    high = published + (rules.rounding - 1) // 2
    if published == rules.rounding:
        low = 1
    return (max(low, rules.threshold + 1), high)


def masked_lower_bound(true_value: int) -> int:
    """What an attacker knows about a masked cell from below.

    Masks are never put on zeros except to keep a cell masked across releases; the attacker is
    assumed to know which masked cells are zero (a conservative assumption), so the bound is the
    smaller of 1 and the truth.
    """
    return min(1, true_value)
