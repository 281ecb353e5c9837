"""A release cut into parts that share no relation, so each can be protected on its own.

Figures in different parts never constrain each other, in this release or any earlier one (two
PCNs, or two practices when no PCN figure ties them): a complementary mask chosen for one part is
never needed in another, and the attacker learns nothing about one part from another. Protecting
the parts separately (and in parallel) therefore gives a release exactly as safe as protecting it
whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ltcbridge.disclosure.cells import CellKey, LinearConstraint, PublishedRelease, Release

Part = tuple[Release, list[PublishedRelease]]


def independent_parts(release: Release, history: Sequence[PublishedRelease] = ()) -> list[Part]:
    """The release and its history restricted to each group of linked keys, in a stable order."""
    groups = _KeyGroups()
    for constraints in [release.constraints, *(past.constraints for past in history)]:
        for constraint in constraints:
            groups.link(key for key, _ in constraint.terms)
    keys_of: dict[CellKey, set[CellKey]] = {}  # root -> keys, in the release's order
    for key in release.cells:
        keys_of.setdefault(groups.root(key), set()).add(key)
    return [
        (
            Release(
                cells={k: v for k, v in release.cells.items() if k in keys},
                constraints=_within(release.constraints, groups, root),
            ),
            [_restricted(past, groups, root) for past in history],
        )
        for root, keys in keys_of.items()
    ]


class _KeyGroups:
    """Union-find over cell keys."""

    def __init__(self) -> None:
        self.parent: dict[CellKey, CellKey] = {}

    def root(self, key: CellKey) -> CellKey:
        parent = self.parent
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def link(self, keys: Iterable[CellKey]) -> None:
        first: CellKey | None = None
        for key in keys:
            root = self.root(key)
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


def _within(
    constraints: Iterable[LinearConstraint], groups: _KeyGroups, root: CellKey
) -> list[LinearConstraint]:
    """The constraints of one part (all keys of a constraint are in the same part)."""
    return [c for c in constraints if c.terms and groups.root(c.terms[0][0]) == root]


def _restricted(past: PublishedRelease, groups: _KeyGroups, root: CellKey) -> PublishedRelease:
    """An earlier release seen through one part: its figures with keys in the part."""
    mine = {key for key in past.values if groups.root(key) == root}
    return PublishedRelease(
        values={k: v for k, v in past.values.items() if k in mine},
        reasons={k: v for k, v in past.reasons.items() if k in mine},
        constraints=tuple(_within(past.constraints, groups, root)),
        rules=past.rules,
        true_values={k: v for k, v in past.true_values.items() if k in mine},
    )
