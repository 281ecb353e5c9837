"""One linear programme per *layer*, built once and re-solved for every small cell in it.

A layer is a group of figures linked by relations once the hubs (figures in more than two sums:
group totals) are held still. For a practice-level release with PCN figures that is one
stratifier's strata, every group, in one PCN and its practices: each stratifier's table touches the
others only through the group totals. Holding the hubs at their true values only removes ways the
figures could be, so a way found inside a layer is a way for the whole release.

The programme is the engine's two-way question (docs/disclosure.md, section 4): two copies of the
layer, a "down" way and an "up" way, whose target cells must be `threshold - 1` apart. Building it
is the expensive part in Python, so it is built once; for each target only the target's own
bounds change and its idle linking row is switched on, so HiGHS keeps its factorisation and starts
from the previous basis. Each programme also rewards spreading the other small cells not yet
protected (far below the cost of any mask), so one answer usually protects several.
"""

from __future__ import annotations

import math
from typing import Protocol

import highspy
import numpy as np

from ltcbridge.disclosure.cells import masked_lower_bound
from ltcbridge.disclosure.solver import INF, ModelBuilder, is_optimal
from ltcbridge.disclosure.system import System

FREE, UP, DOWN = 0, 1, 2  # column kinds: move within what is known, paid moves beyond it
FREE_MOVE_COST = 1e-6  # keeps the choice of moves stable without competing with masking
SPREAD_REWARD = 1e-4  # per unit that another open small cell is spread: far below a mask
TOLERANCE = 1e-6


class Engine(Protocol):
    """What a layer programme reads from the engine (secondary._Protector)."""

    system: System
    lower: list[int]
    upper: list[float]

    def maskable(self, var: int) -> bool: ...

    def is_open(self, var: int) -> bool: ...


Outcome = tuple[list[int], dict[int, float]]  # variables to mask, each variable's span


class LayerProgramme:
    """The two-copy programme over one layer, kept in one HiGHS instance.

    Columns, per copy: a free move for every member, then a paid move up and a paid move down
    for each member that could still be masked when the layer was built (the others never can).
    """

    def __init__(
        self, engine: Engine, members: list[int], span: int, *, spread: bool = True
    ) -> None:
        self.engine = engine
        self.spread = spread
        self.members = [var for var in members if _can_move(engine, var)]
        self.position = {var: i for i, var in enumerate(self.members)}
        self.maskable = [var for var in self.members if engine.maskable(var)]
        self.paid_position = {var: j for j, var in enumerate(self.maskable)}
        self.width = len(self.members) + 2 * len(self.maskable)  # columns of one copy
        self.span = span
        self._row_cache: list[tuple[list[int], list[float], float, float]] | None = None
        builder = self._base()
        self.link: dict[int, int] = {}
        for var in self.members:
            if engine.is_open(var):  # one idle linking row per small cell: see `solve`
                self.link[var] = len(builder.row_lower)
                up, down = self.col(1, FREE, var), self.col(0, FREE, var)
                builder.row([up, down], [1.0, -1.0], -INF, INF)
        self.highs = builder.solve_with()
        self.highs.setOptionValue("presolve", "off")  # each re-solve starts from the last basis

    def _base(self) -> ModelBuilder:
        """Both copies of the layer under the engine's current knowledge, with no target yet."""
        builder = ModelBuilder()
        for copy in (0, 1):
            for kind, group in ((FREE, self.members), (UP, self.maskable), (DOWN, self.maskable)):
                for var in group:
                    builder.column(*self._column(var, kind, copy))
        for copy in (0, 1):
            self._add_rows(builder, copy)
        return builder

    def col(self, copy: int, kind: int, var: int) -> int:
        base = copy * self.width
        if kind == FREE:
            return base + self.position[var]
        offset = len(self.members) + (len(self.maskable) if kind == DOWN else 0)
        return base + offset + self.paid_position[var]

    def _column(self, var: int, kind: int, copy: int) -> tuple[float, float, float]:
        """Bounds and cost of one column of `var` under the engine's current knowledge.

        A small cell not yet protected is rewarded (a little) for being spread between the two
        ways, up to `span` apart, so that one programme protects many cells at no extra mask.
        The cap on its "up" way narrows the programme slightly; `spread=False` removes both.
        """
        engine = self.engine
        truth = engine.system.truth[var]
        if kind == FREE:
            low, high = engine.lower[var] - truth, engine.upper[var] - truth
            if not (self.spread and engine.is_open(var)):
                return low, INF if math.isinf(high) else high, FREE_MOVE_COST
            if copy == 0:
                return low, INF if math.isinf(high) else high, SPREAD_REWARD
            return low, min(high, float(self.span)), -SPREAD_REWARD  # capped: never unbounded
        if not engine.maskable(var):
            return 0.0, 0.0, 0.0
        if kind == UP:
            return 0.0, INF, 1.0 + truth
        return 0.0, float(engine.lower[var] - masked_lower_bound(truth)), 1.0 + truth

    def _kinds(self, var: int) -> tuple[int, ...]:
        return (FREE, UP, DOWN) if var in self.paid_position else (FREE,)

    def _add_rows(self, builder: ModelBuilder, copy: int) -> None:
        """Every relation touching the layer, in one copy's columns."""
        shift = copy * self.width
        for cols, coefs, lower, upper in self._rows():
            builder.row([col + shift for col in cols], coefs, lower, upper)

    def _rows(self) -> list[tuple[list[int], list[float], float, float]]:
        """The layer's rows in the first copy's columns, worked out once.

        Figures outside the layer are held at their truth, so a sum must stay balanced and an
        inequality may use only the slack the truth leaves.
        """
        if self._row_cache is not None:
            return self._row_cache
        system = self.engine.system
        sign = {FREE: 1.0, UP: 1.0, DOWN: -1.0}
        rows = []
        for index in sorted({r for var in self.members for r in system.rows_of_var[var]}):
            row = system.rows[index]
            cols: list[int] = []
            coefs: list[float] = []
            for var, coef in zip(row.vars, row.coefs, strict=True):
                if var in self.position:
                    for kind in self._kinds(var):
                        cols.append(self.col(0, kind, var))
                        coefs.append(coef * sign[kind])
            if row.op == "==":
                rows.append((cols, coefs, 0.0, 0.0))
            else:
                used = sum(c * system.truth[v] for v, c in zip(row.vars, row.coefs, strict=True))
                rows.append((cols, coefs, -INF, float(row.rhs - used)))
        self._row_cache = rows
        return rows

    def refresh(self, var: int) -> None:
        """A variable of this layer was masked or protected: update its columns to match."""
        if var not in self.position:
            return
        for copy in (0, 1):
            for kind in self._kinds(var):
                low, high, cost = self._column(var, kind, copy)
                column = self.col(copy, kind, var)
                self.highs.changeColBounds(column, low, high)
                self.highs.changeColCost(column, cost)

    def solve(self, target: int) -> Outcome | None:
        """Two ways `span` apart on `target` within the layer, or None if there are none here.

        Only bounds change between solves (the target's own columns and its linking row), so
        HiGHS keeps its factorisation and starts from the last basis.
        """
        if target not in self.link:
            return None  # protected before this layer was built: never asked
        down, up = self.col(0, FREE, target), self.col(1, FREE, target)
        truth = self.engine.system.truth[target]
        highs = self.highs
        highs.changeColBounds(down, float(masked_lower_bound(truth) - truth), 0.0)
        highs.changeColBounds(up, 0.0, INF)
        highs.changeColCost(up, 0.0)  # no reward for the target itself: it is unbounded here
        highs.changeRowBounds(self.link[target], float(self.span), INF)
        try:
            highs.run()
            return self._outcome(highs) if is_optimal(highs) else None
        finally:
            highs.changeRowBounds(self.link[target], -INF, INF)
            self.refresh(target)

    def _outcome(self, highs: highspy.Highs) -> Outcome:
        """Variables with a paid move (to mask) and every member's span between the two ways."""
        n, m = len(self.members), len(self.maskable)
        values = np.asarray(highs.getSolution().col_value[: 2 * self.width])
        copies = values.reshape(2, self.width)
        change = copies[:, :n].copy()
        paid = np.zeros(m, dtype=bool)
        if m:
            index = np.array([self.position[v] for v in self.maskable])
            up, down = copies[:, n : n + m], copies[:, n + m :]
            change[:, index] += up - down
            paid = ((up > TOLERANCE) | (down > TOLERANCE)).any(axis=0)
        spans = np.abs(change[1] - change[0])
        to_mask = [self.maskable[j] for j in np.flatnonzero(paid)]
        return to_mask, dict(zip(self.members, spans.tolist(), strict=True))


def _can_move(engine: Engine, var: int) -> bool:
    """Figures known exactly that can never be masked (zeros, exact figures sent before) are
    left out: they are held at their truth like everything outside the layer."""
    truth = engine.system.truth[var]
    return engine.maskable(var) or engine.lower[var] != truth or engine.upper[var] != truth
