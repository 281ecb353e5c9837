"""A release cut into parts that share no relation, so each can be protected on its own.

Figures in different parts never constrain each other, in this release or any earlier one (two
PCNs, or two practices when no PCN figure ties them): a complementary mask chosen for one part is
never needed in another, and the attacker learns nothing about one part from another. Protecting
the parts separately (and in parallel) therefore gives a release exactly as safe as protecting it
whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from ltcbridge.disclosure.cells import (
    CellKey,
    LinearConstraint,
    PublishedRelease,
    Release,
)

Part = tuple[Release, list[PublishedRelease]]


def independent_parts(release: Release, history: Sequence[PublishedRelease] = ()) -> list[Part]:
    """The release and its history restricted to each group of linked keys, in a stable order
    (parts in the order of their first cell in the release; everything else in its own order)."""
    groups = _KeyGroups()
    for key in release.cells:
        groups.add(key)
    every = [release.constraints, *(past.constraints for past in history)]
    for constraints in every:
        for constraint in constraints:
            groups.link(key for key, _ in constraint.terms)
    part_of: dict[int, int] = {}  # root -> part
    cells: list[dict[CellKey, int]] = []
    for key, value in release.cells.items():
        root = groups.root(key)
        part = part_of.get(root)
        if part is None:
            part = part_of[root] = len(cells)
            cells.append({})
        cells[part][key] = value
    within = [_within(constraints, groups, part_of, len(cells)) for constraints in every]
    pasts = [
        _restricted(past, groups, part_of, len(cells), mine)
        for past, mine in zip(history, within[1:], strict=True)
    ]
    return [
        (Release(cells=cells[part], constraints=within[0][part]), [past[part] for past in pasts])
        for part in range(len(cells))
    ]


class _KeyGroups:
    """Union-find over cell keys, each key numbered once."""

    def __init__(self) -> None:
        self.number: dict[CellKey, int] = {}
        self.parent: list[int] = []

    def add(self, key: CellKey) -> int:
        found = self.number.get(key)
        if found is None:
            found = self.number[key] = len(self.parent)
            self.parent.append(found)
        return found

    def find(self, var: int) -> int:
        parent = self.parent
        while parent[var] != var:
            parent[var] = parent[parent[var]]
            var = parent[var]
        return var

    def root(self, key: CellKey) -> int:
        return self.find(self.add(key))

    def link(self, keys: Iterable[CellKey]) -> None:
        first: int | None = None
        for key in keys:
            root = self.find(self.add(key))
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


def _within(
    constraints: Iterable[LinearConstraint], groups: _KeyGroups, part_of: dict[int, int], parts: int
) -> list[list[LinearConstraint]]:
    """Each part's constraints (all keys of a constraint are in the same part); constraints of
    no part (about keys the release does not hold) are left out."""
    out: list[list[LinearConstraint]] = [[] for _ in range(parts)]
    for constraint in constraints:
        if constraint.terms:
            part = part_of.get(groups.root(constraint.terms[0][0]))
            if part is not None:
                out[part].append(constraint)
    return out


_V = TypeVar("_V")


def _by_part(
    source: Mapping[CellKey, _V], part_by_key: Mapping[CellKey, int | None], parts: int
) -> list[dict[CellKey, _V]]:
    """One mapping per part, each with the keys of ``source`` in that part (keys in no part
    are left out); generic so each of a release's mappings keeps its own value type."""
    out: list[dict[CellKey, _V]] = [{} for _ in range(parts)]
    for key, value in source.items():
        part = part_by_key.get(key)
        if part is not None:
            out[part][key] = value
    return out


def _restricted(
    past: PublishedRelease,
    groups: _KeyGroups,
    part_of: dict[int, int],
    parts: int,
    constraints: list[list[LinearConstraint]],
) -> list[PublishedRelease]:
    """An earlier release seen through each part: its figures with keys in the part."""
    part_by_key = {key: part_of.get(groups.root(key)) for key in past.values}
    values = _by_part(past.values, part_by_key, parts)
    reasons = _by_part(past.reasons, part_by_key, parts)
    truth = _by_part(past.true_values, part_by_key, parts)
    return [
        PublishedRelease(
            values=values[part],
            reasons=reasons[part],
            constraints=tuple(constraints[part]),
            rules=past.rules,
            true_values=truth[part],
        )
        for part in range(parts)
    ]
