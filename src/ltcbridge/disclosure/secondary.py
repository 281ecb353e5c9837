"""Secondary (complementary) suppression over a whole release and every past release.

How it works, in short (docs/disclosure.md has the long form):

1. Primary: counts 1..threshold are masked; cells masked in any earlier release stay masked.
2. Every other figure is rounded (a non-zero count is never shown as 0).
3. For each small masked cell (this release's and earlier releases'), the engine looks for two
   ways the figures could have been: one where the cell is 1 and one where it is `threshold`, both
   consistent with everything published. Each is found by a small linear programme over the
   cell's neighbourhood (cells sharing a relation with it, widened until it works); every other
   cell is held at its true value, so a way found locally is a way globally. Published cells may
   move only inside their rounding interval; moving one further means masking it, at a cost that
   grows with its value, so the programme picks few, small complementary cells and prefers cells
   already masked. Masks are only ever added, so a cell protected earlier stays protected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from ltcbridge.disclosure.audit import snapshot_of
from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    PublishedRelease,
    PublishedValue,
    Reason,
    Release,
    masked_lower_bound,
    published_interval,
    round_count,
)
from ltcbridge.disclosure.solver import INF, ModelBuilder, is_optimal
from ltcbridge.disclosure.system import Snapshot, System, attacker_bounds, build_system

NEIGHBOURHOOD_DEPTHS = (2, 3, 5)  # then the whole system
TOLERANCE = 1e-6
FREE_MOVE_COST = 1e-4  # keeps moves small without competing with the cost of masking


class UnprotectableError(RuntimeError):
    """A small cell cannot be protected (an earlier release already gave it away)."""


def protect(
    release: Release, rules: DisclosureRules, history: Sequence[PublishedRelease] = ()
) -> PublishedRelease:
    """Mask, round and complement-suppress `release` so that no small cell can be narrowed.

    Deterministic: the same release, rules and history always give the same output.
    """
    reasons = _initial_masks(release, rules, history)
    if rules.threshold > 1:
        _Protector(release, rules, history, reasons).run()
    return PublishedRelease(
        values=_published_values(release.cells, reasons, rules),
        reasons={key: reasons[key] for key in release.cells if key in reasons},
        constraints=tuple(release.constraints),
        rules=rules,
        true_values=dict(release.cells),
    )


def _initial_masks(
    release: Release, rules: DisclosureRules, history: Sequence[PublishedRelease]
) -> dict[CellKey, Reason]:
    """Primary masks, then cells masked in any earlier release (masked once, masked always)."""
    masked_before = {key for past in history for key, v in past.values.items() if v is MASKED}
    reasons: dict[CellKey, Reason] = {}
    for key, value in release.cells.items():
        if rules.is_primary(value):
            reasons[key] = "primary"
        elif key in masked_before:
            reasons[key] = "history"
    return reasons


def _published_values(
    cells: dict[CellKey, int], reasons: dict[CellKey, Reason], rules: DisclosureRules
) -> dict[CellKey, PublishedValue]:
    return {
        key: MASKED if key in reasons else round_count(value, rules.rounding)
        for key, value in cells.items()
    }


class _Protector:
    """Holds the attacker system while complementary cells are added one decision at a time."""

    def __init__(
        self,
        release: Release,
        rules: DisclosureRules,
        history: Sequence[PublishedRelease],
        reasons: dict[CellKey, Reason],
    ) -> None:
        self.rules = rules
        self.reasons = reasons
        self.release = release
        past = [snapshot_of(h) for h in history]
        current = Snapshot(release.cells, release.constraints, rules, None)
        self.system: System = build_system([*past, current])
        self.lower, self.upper = attacker_bounds(self.system, [*past, current])
        self.pinned = [not math.isinf(u) for u in self.upper]  # published before: known for good
        self.key_of = {var: key for key, var in self.system.var_of[-1].items()}
        self.targets = self._targets(past)
        self.covered: set[int] = set()
        for key, var in self.system.var_of[-1].items():
            self._set_current_bounds(var, key)

    def _targets(self, past: list[Snapshot]) -> list[int]:
        """Small masked variables, earlier releases first; ones already given away are skipped."""
        found: dict[int, None] = {}
        for snap, var_of in zip(past, self.system.var_of, strict=False):
            for key, published in (snap.values or {}).items():
                if published is MASKED and snap.rules.is_primary(snap.cells[key]):
                    found[var_of[key]] = None
        for key, reason in self.reasons.items():
            if reason == "primary":
                found[self.system.var_of[-1][key]] = None
        return [var for var in found if not self.pinned[var]]

    def _set_current_bounds(self, var: int, key: CellKey) -> None:
        """Narrow a variable to what this release tells the attacker about it."""
        if self.pinned[var] or key in self.reasons:
            return
        published = round_count(self.system.truth[var], self.rules.rounding)
        low, high = published_interval(published, self.rules)
        self.lower[var], self.upper[var] = low, high

    def maskable(self, var: int) -> bool:
        """Only figures of this release not yet masked, not zero and not known from before."""
        key = self.key_of.get(var)
        return (
            key is not None
            and key not in self.reasons
            and not self.pinned[var]
            and self.system.truth[var] > 0
        )

    def run(self) -> None:
        """Protect each small cell in turn, skipping those an earlier programme already covers."""
        for var in self.targets:
            if var not in self.covered:
                self._protect(var)

    def _protect(self, target: int) -> None:
        for neighbourhood in self._neighbourhoods(target):
            outcome = _MoveProgramme(self, target, neighbourhood).solve()
            if outcome is not None:
                to_mask, spans = outcome
                for var in to_mask:
                    self._mask(var)
                self._cover(spans)
                return
        key = self.key_of.get(target, f"variable {target} of an earlier release")
        raise UnprotectableError(f"cannot protect masked cell {key!r}")

    def _cover(self, spans: dict[int, float]) -> None:
        """Any variable the two ways already put `threshold - 1` apart is protected too.

        Both ways stay consistent with everything published (masks are only ever added), so
        they witness that variable's range as well as the target's.
        """
        need = self.rules.threshold - 1 - TOLERANCE
        self.covered.update(var for var, span in spans.items() if span >= need)

    def _mask(self, var: int) -> None:
        self.reasons[self.key_of[var]] = "secondary"
        self.lower[var] = masked_lower_bound(self.system.truth[var])
        self.upper[var] = math.inf

    def _neighbourhoods(self, var: int) -> Iterator[list[int]]:
        """Ever wider sets of variables around `var`, ending with the whole system."""
        seen = {var}
        frontier = [var]
        depth = 0
        for wanted in NEIGHBOURHOOD_DEPTHS:
            while depth < wanted and frontier:
                frontier = self._expand(frontier, seen)
                depth += 1
            yield sorted(seen)
            if not frontier:
                return
        yield list(range(len(self.system.truth)))

    def _expand(self, frontier: list[int], seen: set[int]) -> list[int]:
        fresh: list[int] = []
        for var in frontier:
            for row in self.system.rows_of_var[var]:
                for other in self.system.rows[row].vars:
                    if other not in seen:
                        seen.add(other)
                        fresh.append(other)
        return fresh


class _MoveProgramme:
    """One linear programme: two ways the figures could be, the target `threshold - 1` apart.

    Each copy moves the target (one down, one up) with every cell outside the neighbourhood held
    at its true value. A variable's change is a free part (within what the attacker already
    allows) plus, for cells that may still be masked, a paid part beyond it; the paid parts name
    the cells to mask.
    """

    def __init__(self, protector: _Protector, target: int, neighbourhood: list[int]) -> None:
        self.p = protector
        self.target = target
        self.builder = ModelBuilder()
        self.paid: list[tuple[int, int]] = []
        self.copies = [self._copy(neighbourhood, down) for down in (True, False)]
        self._link_targets()

    def _copy(self, neighbourhood: list[int], down: bool) -> dict[int, list[tuple[int, float]]]:
        columns: dict[int, list[tuple[int, float]]] = {}
        for var in neighbourhood:
            cols = self._target_column(down) if var == self.target else self._columns(var)
            if cols:
                columns[var] = cols
        self._add_rows(columns)
        return columns

    def _target_column(self, down: bool) -> list[tuple[int, float]]:
        truth = self.p.system.truth[self.target]
        if down:
            column = self.builder.column(masked_lower_bound(truth) - truth, 0.0)
        else:
            column = self.builder.column(0.0, INF)
        return [(column, 1.0)]

    def _columns(self, var: int) -> list[tuple[int, float]]:
        p, truth = self.p, self.p.system.truth[var]
        low, high = p.lower[var] - truth, p.upper[var] - truth
        maskable = p.maskable(var)
        if low == 0 and high == 0 and not maskable:
            return []
        free = self.builder.column(low, INF if math.isinf(high) else high, FREE_MOVE_COST)
        columns = [(free, 1.0)]
        if maskable:
            cost = 1.0 + truth
            up = self.builder.column(0, INF, cost)
            down = self.builder.column(0, p.lower[var] - masked_lower_bound(truth), cost)
            columns += [(up, 1.0), (down, -1.0)]
            self.paid += [(up, var), (down, var)]
        return columns

    def _add_rows(self, columns: dict[int, list[tuple[int, float]]]) -> None:
        system = self.p.system
        for index in sorted({r for var in columns for r in system.rows_of_var[var]}):
            row = system.rows[index]
            cols: list[int] = []
            coefs: list[float] = []
            for var, coef in zip(row.vars, row.coefs, strict=True):
                for col, sign in columns.get(var, ()):
                    cols.append(col)
                    coefs.append(coef * sign)
            if row.op == "==":
                self.builder.row(cols, coefs, 0.0, 0.0)
            else:
                used = sum(c * system.truth[v] for v, c in zip(row.vars, row.coefs, strict=True))
                self.builder.row(cols, coefs, -INF, float(row.rhs - used))

    def _link_targets(self) -> None:
        """The two ways must put the target at least `threshold - 1` apart."""
        (down, _), (up, _) = (copy[self.target][0] for copy in self.copies)
        self.builder.row([up, down], [1.0, -1.0], float(self.p.rules.threshold - 1), INF)

    def solve(self) -> tuple[list[int], dict[int, float]] | None:
        """The variables to mask and each variable's span between the two ways, or None if this
        neighbourhood is too small."""
        highs = self.builder.solve_with()
        highs.run()
        if not is_optimal(highs):
            return None
        values = highs.getSolution().col_value
        to_mask = sorted({var for col, var in self.paid if values[col] > TOLERANCE})
        down, up = self.copies
        spans = {
            var: abs(_change(up.get(var, ()), values) - _change(down.get(var, ()), values))
            for var in set(down) | set(up)
        }
        return to_mask, spans


def _change(columns: Iterable[tuple[int, float]], values: Sequence[float]) -> float:
    return sum(sign * values[col] for col, sign in columns)
