"""What an attacker holding several releases knows, as one system of integer variables.

History decision (see docs/disclosure.md): a cell key that appears in several releases with the
SAME true value is one unknown to the attacker; with a revised true value (late entries) it is a new
unknown. That is conservative: the attacker is assumed to know which figures were revised, so
every unchanged cell ties the releases together exactly, and differences between a republished
total and its parts (OpenSAFELY's N to N+1 warning) are seen. Both the protecting engine and the
auditing attacker build this same system.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    LinearConstraint,
    PublishedValue,
    masked_lower_bound,
    published_interval,
)


@dataclass(frozen=True)
class Row:
    """One constraint over variable indices: sum(coefs * x[vars]) (== | <=) rhs."""

    vars: tuple[int, ...]
    coefs: tuple[int, ...]
    op: str
    rhs: int


@dataclass(frozen=True)
class Snapshot:
    """One release as the system needs it: truth, relations, and (if published) what left."""

    cells: Mapping[CellKey, int]
    constraints: Sequence[LinearConstraint]
    rules: DisclosureRules
    values: Mapping[CellKey, PublishedValue] | None = None


@dataclass(frozen=True)
class SystemArrays:
    """The rows of a system as arrays, for building programmes without Python loops.

    Row `r` holds `var[start[r]:start[r + 1]]` with `coef[...]`; `slack[r]` is what the truth
    leaves, `rhs - sum(coef * truth)` (0 for a relation the truth meets exactly); `equal[r]` says
    whether the row is a sum (==) or an inequality (<=). `rows_of[var_start[v]:var_start[v + 1]]`
    are the rows of variable `v`.
    """

    start: np.ndarray
    var: np.ndarray
    coef: np.ndarray
    slack: np.ndarray
    equal: np.ndarray
    var_start: np.ndarray
    rows_of: np.ndarray


@dataclass
class System:
    """Variables (one per distinct (key, true value)) and the rows binding them."""

    truth: list[int] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    rows_of_var: list[list[int]] = field(default_factory=list)
    var_of: list[dict[CellKey, int]] = field(default_factory=list)  # per snapshot
    _index: dict[tuple[CellKey, int], int] = field(default_factory=dict)
    _row_seen: set[Row] = field(default_factory=set)
    _arrays: SystemArrays | None = field(default=None, repr=False)

    def arrays(self) -> SystemArrays:
        """The rows as arrays (built once; rebuilt if rows or variables were added since)."""
        arrays = self._arrays
        if (
            arrays is None
            or len(arrays.start) != len(self.rows) + 1
            or len(arrays.var_start) != len(self.truth) + 1
        ):
            arrays = self._arrays = _to_arrays(self)
        return arrays

    def variable(self, key: CellKey, value: int) -> int:
        """The variable for this key with this true value, shared across releases."""
        found = self._index.get((key, value))
        if found is None:
            found = len(self.truth)
            self._index[(key, value)] = found
            self.truth.append(value)
            self.rows_of_var.append([])
        return found

    def add_row(self, row: Row) -> None:
        if row in self._row_seen:
            return
        self._row_seen.add(row)
        index = len(self.rows)
        self.rows.append(row)
        for var in row.vars:
            self.rows_of_var[var].append(index)


def _to_arrays(system: System) -> SystemArrays:
    lengths = np.fromiter((len(row.vars) for row in system.rows), np.int64, len(system.rows))
    start = np.zeros(len(system.rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=start[1:])
    var = np.fromiter((v for row in system.rows for v in row.vars), np.int64, int(start[-1]))
    coef = np.fromiter((c for row in system.rows for c in row.coefs), np.float64, int(start[-1]))
    truth = np.asarray(system.truth, dtype=np.float64)
    row_of_entry = np.repeat(np.arange(len(system.rows)), lengths)
    used = np.bincount(row_of_entry, weights=coef * truth[var], minlength=len(system.rows))
    rhs = np.fromiter((row.rhs for row in system.rows), np.float64, len(system.rows))
    equal = np.fromiter((row.op == "==" for row in system.rows), bool, len(system.rows))
    order = np.argsort(var, kind="stable")
    var_start = np.zeros(len(system.truth) + 1, dtype=np.int64)
    np.cumsum(np.bincount(var, minlength=len(system.truth)), out=var_start[1:])
    return SystemArrays(start, var, coef, rhs - used, equal, var_start, row_of_entry[order])


def _to_row(constraint: LinearConstraint, var_of: Mapping[CellKey, int]) -> Row:
    merged: dict[int, int] = {}
    for key, coef in constraint.terms:
        var = var_of.get(key)
        if var is None:
            raise ValueError(f"constraint refers to a cell that is not in the release: {key!r}")
        merged[var] = merged.get(var, 0) + coef
    items = sorted((v, c) for v, c in merged.items() if c != 0)
    return Row(
        tuple(v for v, _ in items), tuple(c for _, c in items), constraint.op, constraint.rhs
    )


def build_system(snapshots: Sequence[Snapshot]) -> System:
    """Merge releases into one attacker system (history first, current release last).

    A relation may name a cell of an earlier release that is not in its own (a practice release
    tying its practices to a PCN figure sent before): the name means that figure as last sent.
    """
    system = System()
    earlier: dict[CellKey, int] = {}
    for snap in snapshots:
        if any(v < 0 for v in snap.cells.values()):
            raise ValueError("true counts must be non-negative")
        var_of = {key: system.variable(key, value) for key, value in snap.cells.items()}
        system.var_of.append(var_of)
        visible = {**earlier, **var_of} if earlier else var_of  # this release's first
        for constraint in snap.constraints:
            system.add_row(_to_row(constraint, visible))
        earlier.update(var_of)
    return system


def attacker_bounds(system: System, snapshots: Sequence[Snapshot]) -> tuple[list[int], list[float]]:
    """Per variable, the bounds an attacker holding every published snapshot knows.

    A variable published anywhere is known to its published interval (intersected over all its
    publications); a variable masked everywhere is only known to be >= its masked lower bound.
    """
    lower = [masked_lower_bound(v) for v in system.truth]
    upper: list[float] = [math.inf] * len(system.truth)
    for snap, var_of in zip(snapshots, system.var_of, strict=True):
        if snap.values is None:
            continue
        for key, published in snap.values.items():
            if published is MASKED:
                continue
            low, high = published_interval(published, snap.rules)
            var = var_of[key]
            lower[var] = max(lower[var], low)
            upper[var] = min(upper[var], high)
    return lower, upper


class Components:
    """Groups of variables linked by relations; figures in different groups never constrain
    each other, so a complement for one is never needed outside its own group (a PCN and its
    practices, for example, share no relation with another PCN).

    With `skip`, the skipped variables link nothing (each is a group of its own): that is how
    the engine finds the layers left when group totals are held still. With `sums_only`, only
    equality rows link (one group's breakdowns, held to the other groups by inequalities).
    """

    def __init__(self, system: System, skip: Collection[int] = (), sums_only: bool = False) -> None:
        parent = list(range(len(system.truth)))

        def find(var: int) -> int:
            while parent[var] != var:
                parent[var] = parent[parent[var]]
                var = parent[var]
            return var

        for row in system.rows:
            if sums_only and row.op != "==":
                continue
            linked = [var for var in row.vars if var not in skip]
            if not linked:
                continue
            first = find(linked[0])
            for other in linked[1:]:
                root = find(other)
                if root != first:
                    parent[root] = first
        self.root = [find(var) for var in range(len(parent))]
        self._members: dict[int, list[int]] = {}
        for var, root in enumerate(self.root):
            self._members.setdefault(root, []).append(var)

    def members(self, var: int) -> list[int]:
        """Every variable in `var`'s group, sorted."""
        return self._members[self.root[var]]
