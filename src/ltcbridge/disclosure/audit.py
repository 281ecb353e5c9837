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

import highspy

from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    PublishedRelease,
)
from ltcbridge.disclosure.solver import INF, ModelBuilder, is_optimal
from ltcbridge.disclosure.system import Snapshot, System, attacker_bounds, build_system


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
    ranges = _feasible_ranges(system, lower, upper, sorted(targets))
    return [
        Finding(release, key, system.truth[var], *ranges[var])
        for var, appearances in sorted(targets.items())
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
    system: System, lower: list[int], upper: list[float], targets: list[int]
) -> dict[int, tuple[int, int]]:
    """Minimise and maximise each target over the integer points consistent with all releases.

    Unbounded variables get a finite cap far above every true value: capping only makes the
    attacker stronger, so a range found under the cap is never wider than the true one.
    """
    cap = 10 * (max(system.truth, default=0) + 10)
    builder = ModelBuilder()
    for low, high in zip(lower, upper, strict=True):
        builder.column(low, cap if math.isinf(high) else high)
    for row in system.rows:
        row_upper = float(row.rhs)
        row_lower = row_upper if row.op == "==" else -INF
        builder.row(list(row.vars), [float(c) for c in row.coefs], row_lower, row_upper)
    highs = builder.solve_with(integer=True)
    ranges: dict[int, tuple[int, int]] = {}
    for var in targets:
        ranges[var] = (_optimum(highs, var, 1.0), _optimum(highs, var, -1.0))
        highs.changeColCost(var, 0.0)
    return ranges


def _optimum(highs: highspy.Highs, var: int, sign: float) -> int:
    """min (sign=1) or max (sign=-1) of one variable; the truth is feasible, so one exists."""
    highs.changeColCost(var, sign)
    highs.run()
    if not is_optimal(highs):
        raise RuntimeError("the attacker model is infeasible: published figures contradict truth")
    return round(sign * highs.getInfo().objective_function_value)
