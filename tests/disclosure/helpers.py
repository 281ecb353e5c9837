"""Small builders shared by the disclosure tests."""

from __future__ import annotations

from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    LinearConstraint,
    PublishedRelease,
    Release,
    round_count,
)


def total_of(total: CellKey, parts: list[CellKey]) -> LinearConstraint:
    """total == sum(parts)."""
    return LinearConstraint(((total, -1), *((p, 1) for p in parts)), "==")


def at_most(small: CellKey, big: CellKey) -> LinearConstraint:
    """small <= big."""
    return LinearConstraint(((small, 1), (big, -1)), "<=")


def at_most_sum(small: CellKey, parts: list[CellKey]) -> LinearConstraint:
    """small <= sum(parts)."""
    return LinearConstraint(((small, 1), *((p, -1) for p in parts)), "<=")


def primary_only(release: Release, rules: DisclosureRules) -> PublishedRelease:
    """What OpenSAFELY-style control publishes: primary masks and rounding, nothing else."""
    return PublishedRelease(
        values={
            k: MASKED if rules.is_primary(v) else round_count(v, rules.rounding)
            for k, v in release.cells.items()
        },
        reasons={k: "primary" for k, v in release.cells.items() if rules.is_primary(v)},
        constraints=tuple(release.constraints),
        rules=rules,
        true_values=dict(release.cells),
    )
