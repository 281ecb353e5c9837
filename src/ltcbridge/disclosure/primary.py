"""Primary suppression and rounding: the per-cell rules of the agreement.

A count of 1..threshold is masked (published without a number, never as 0); every other count is
rounded to the nearest multiple of ``rounding`` (halves round up). Whether a masked cell can be
worked out from the figures around it is the job of secondary suppression, not of this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key")

MASKED = None  # a published value of None means "masked"


@dataclass(frozen=True)
class Published(Generic[Key]):
    """What leaves the practice for one cell, and, when masked, why."""

    key: Key
    value: int | None  # None = masked
    reason: str | None = None  # "primary" (1..threshold) or "secondary" (protects another cell)


def round_to(value: int, rounding: int) -> int:
    """Nearest multiple of ``rounding``, halves up (so 2.5 steps of 5 publish as 5, not 0)."""
    return ((2 * value + rounding) // (2 * rounding)) * rounding


def is_primary_masked(value: int, threshold: int) -> bool:
    return 1 <= value <= threshold


def apply_primary(
    cells: Iterable[tuple[Key, int]], threshold: int, rounding: int
) -> dict[Key, Published[Key]]:
    """Mask small counts and round the rest."""
    published: dict[Key, Published[Key]] = {}
    for key, value in cells:
        if is_primary_masked(value, threshold):
            published[key] = Published(key, MASKED, "primary")
        else:
            published[key] = Published(key, round_to(value, rounding))
    return published
