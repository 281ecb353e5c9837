"""The attacker: exact integer programming over every published figure of every release.

An information-governance lead can run this on a release before it leaves: for each masked cell
whose true value is 1..threshold, it computes the smallest and largest value the cell could have,
given everything published now and before. If that range spans fewer than `threshold` values the
masked cell has been narrowed, and that is a finding. Slower than `protect` on purpose: it is the
proof, not the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    PublishedRelease,
)
from ltcbridge.disclosure.solver import INF, ModelBuilder, is_optimal
from ltcbridge.disclosure.system import (
    Components,
    Row,
    Snapshot,
    System,
    attacker_bounds,
    build_system,
)
from ltcbridge.extras import HUB, PRACTICE, optional_imports

with optional_imports(PRACTICE, HUB):
    import highspy


@dataclass(frozen=True)
class Finding:
    """A masked small cell whose feasible range an attacker narrowed below `threshold` values."""

    release: int  # 0.. = history in the order given; len(history) = the audited release
    key: CellKey
    true_value: int
    feasible_min: int
    feasible_max: int

    @property
    def span(self) -> int:
        return self.feasible_max - self.feasible_min + 1


def snapshot_of(published: PublishedRelease, rules: DisclosureRules | None = None) -> Snapshot:
    """The attacker's material from one release, read under its own rules unless told otherwise."""
    return Snapshot(
        cells=published.true_values,
        constraints=published.constraints,
        rules=rules or published.rules,
        values=published.values,
    )


def audit(
    published: PublishedRelease,
    rules: DisclosureRules,
    history: Sequence[PublishedRelease] = (),
) -> list[Finding]:
    """Attack `published` together with `history`; return every narrowed small masked cell."""
    snapshots = [snapshot_of(h) for h in history] + [snapshot_of(published, rules)]
    system = build_system(snapshots)
    targets = _small_masked(system, snapshots)
    if not targets or rules.threshold <= 1:
        return []
    lower, upper = attacker_bounds(system, snapshots)
    ranges = _feasible_ranges(system, lower, upper, sorted(targets), rules.threshold)
    return [
        Finding(release, key, system.truth[var], *ranges[var])
        for var, appearances in sorted(targets.items())
        if var in ranges
        for release, key in appearances
        if ranges[var][1] - ranges[var][0] + 1 < rules.threshold
    ]


def _small_masked(
    system: System, snapshots: Sequence[Snapshot]
) -> dict[int, list[tuple[int, CellKey]]]:
    """Variables masked with a true value of 1..threshold somewhere, with where they appear."""
    targets: dict[int, list[tuple[int, CellKey]]] = {}
    for release, (snap, var_of) in enumerate(zip(snapshots, system.var_of, strict=True)):
        assert snap.values is not None
        for key, published in snap.values.items():
            if published is MASKED and snap.rules.is_primary(snap.cells[key]):
                targets.setdefault(var_of[key], []).append((release, key))
    return targets


def _feasible_ranges(
    system: System, lower: list[int], upper: list[float], targets: list[int], threshold: int
) -> dict[int, tuple[int, int]]:
    """Minimise and maximise each target over the integer points consistent with all releases.

    Figures that share no relation cannot tell anything about each other, so each component of
    the system is its own integer programme. Only targets that may be narrow are returned.
    """
    components = Components(system)
    rows_of: dict[int, list[Row]] = {}
    for row in system.rows:
        if row.vars:
            rows_of.setdefault(components.root[row.vars[0]], []).append(row)
    by_component: dict[int, list[int]] = {}
    for var in targets:
        by_component.setdefault(components.root[var], []).append(var)
    ranges: dict[int, tuple[int, int]] = {}
    for root, mine in by_component.items():
        members = components.members(mine[0])
        model = _ComponentModel(system, lower, upper, members, rows_of.get(root, []))
        ranges.update(model.narrow_ranges(mine, threshold))
    return ranges


class _ComponentModel:
    """The exact attacker's integer programme over one component.

    Unbounded variables get a finite cap far above every true value: capping only makes the
    attacker stronger, so a range found under the cap is never wider than the true one.
    """

    def __init__(
        self,
        system: System,
        lower: list[int],
        upper: list[float],
        members: list[int],
        rows: list[Row],
    ) -> None:
        self.local = {var: i for i, var in enumerate(members)}
        self.truth = np.array([system.truth[v] for v in members], dtype=np.int64)
        cap = 10 * (int(self.truth.max(initial=0)) + 10)
        builder = ModelBuilder()
        for var in members:
            builder.column(lower[var], cap if math.isinf(upper[var]) else upper[var])
        for row in rows:
            row_upper = float(row.rhs)
            row_lower = row_upper if row.op == "==" else -INF
            cols = [self.local[v] for v in row.vars]
            builder.row(cols, [float(c) for c in row.coefs], row_lower, row_upper)
        self.relaxed = builder.solve_with()
        self.exact = builder.solve_with(integer=True)

    def narrow_ranges(self, targets: list[int], threshold: int) -> dict[int, tuple[int, int]]:
        """Exact ranges of the targets that may be narrow.

        Every optimum found is an integer point consistent with everything published, and so
        is the truth; a target that two such points already put `threshold` values apart cannot
        be narrow and needs no programme of its own.
        """
        index = np.array([self.local[var] for var in targets], dtype=np.int64)
        seen_low, seen_high = self.truth[index].copy(), self.truth[index].copy()
        ranges: dict[int, tuple[int, int]] = {}
        for position, var in enumerate(targets):
            for sign in (1.0, -1.0):
                if seen_high[position] - seen_low[position] + 1 >= threshold:
                    break
                point = self.optimal_point(self.local[var], sign)[index]
                np.minimum(seen_low, point, out=seen_low)
                np.maximum(seen_high, point, out=seen_high)
            else:
                ranges[var] = (int(seen_low[position]), int(seen_high[position]))
        return ranges

    def optimal_point(self, column: int, sign: float) -> np.ndarray:
        """An integer point minimising (sign=1) or maximising (sign=-1) one variable.

        The linear relaxation is tried first: when its optimum is already whole it is also the
        integer optimum (nothing integral can beat the relaxation), so the integer programme is
        only run when the relaxation ends between whole numbers. The truth is feasible, so an
        optimum always exists.
        """
        point = _optimum(self.relaxed, column, sign)
        if point is None or np.abs(point - np.rint(point)).max(initial=0.0) > INTEGRAL:
            point = _optimum(self.exact, column, sign)
        if point is None:
            raise RuntimeError(
                "the attacker model is infeasible: published figures contradict truth"
            )
        return np.rint(point).astype(np.int64)


INTEGRAL = 1e-6  # how close to whole numbers a relaxed optimum must be to count as integral


def _optimum(highs: highspy.Highs, column: int, sign: float) -> np.ndarray | None:
    """The optimal point of min (sign=1) or max (sign=-1) of one column, or None."""
    highs.changeColCost(column, sign)
    highs.run()
    point = np.asarray(highs.getSolution().col_value) if is_optimal(highs) else None
    highs.changeColCost(column, 0.0)
    return point
