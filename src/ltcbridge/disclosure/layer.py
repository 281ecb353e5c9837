"""The programmes of one *layer*, built once and re-solved for every small cell in it.

A layer is a group of figures linked by relations once the hubs (figures in more than two sums:
group totals) are held still. For a practice-level release with PCN figures that is one
stratifier's strata, every group, in one PCN and its practices: each stratifier's table touches the
others only through the group totals. Holding the hubs at their true values only removes ways the
figures could be, so a way found inside a layer is a way for the whole release.

The engine's two-way question (docs/disclosure.md, section 4) needs a "down" way and an "up" way,
each a set of figures consistent with everything published, whose target cells are
`threshold - 1` apart. Every way found is kept (by the engine, as each figure's lowest and
highest value seen), and masks are only ever added, so every way found stays a way. The down
way is therefore usually one found already (the truth itself, for a count of 1), and only the
up way is sought: one copy of the layer, the target's lower bound raised, no linking row. Only
when that is not known to be the cheapest answer are both copies solved together (`solve`).
Each copy also rewards spreading the other small cells not yet protected, half of them up and
half down (far below the cost of any mask), so one answer usually protects several.

Building is the expensive part in Python, so each programme is built once, from arrays; for each
target only bounds change, so HiGHS keeps its factorisation and starts from the previous basis.
The relations are the layer's exactly, written smaller: relations that become the same once the
figures outside the layer are held at their truth are kept once, at the tightest bounds; a
relation left with a single figure that can never be masked here is written as that figure's
bounds. Before a target is solved, each of its relations is checked on its own against the
current bounds of the others (one round of bound propagation): when they already keep it from
moving `threshold - 1`, no programme could find two ways either, and none is run.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

import numpy as np

from ltcbridge.disclosure.cells import masked_lower_bound
from ltcbridge.disclosure.solver import INF, is_optimal, quiet_highs
from ltcbridge.disclosure.system import System
from ltcbridge.extras import HUB, PRACTICE, optional_imports

with optional_imports(PRACTICE, HUB):
    import highspy

FREE, UP, DOWN = 0, 1, 2  # column kinds: move within what is known, paid moves beyond it
FREE_MOVE_COST = 1e-6  # keeps the choice of moves stable without competing with masking
SPREAD_REWARD = 1e-4  # per unit that another open small cell is spread: far below a mask
TOLERANCE = 1e-6
PROPAGATION_MARGIN = 1e-7  # a target is skipped only when clearly held under `span`


class Engine(Protocol):
    """What a layer programme reads from the engine (secondary._Protector)."""

    system: System
    lower: list[int]
    upper: list[float]
    seen_low: np.ndarray  # per variable, the lowest change from its truth in any way found

    def maskable(self, var: int) -> bool: ...

    def is_open(self, var: int) -> bool: ...

    def witness(self, members: np.ndarray, change: np.ndarray) -> None: ...


Outcome = tuple[list[int], np.ndarray, np.ndarray]  # to mask, members, (ways, members) changes


class LayerProgramme:
    """The programmes over one layer, each kept in its own HiGHS instance: each copy alone
    (`single`) and both copies with their linking rows (`joint`, built only if needed).

    Columns, per copy: a free move for every member, then a paid move up and a paid move down
    for each member that could still be masked when the layer was built (the others never can).
    A column's value is the change from the member's true value. Columns are numbered as in
    the joint programme (copy 1 after copy 0); `col_lower`, `col_upper` and `cost` mirror what
    every instance holds.
    """

    def __init__(
        self, engine: Engine, members: list[int], span: int, *, spread: bool = True
    ) -> None:
        self.engine = engine
        self.spread = spread
        self.span = span
        self.members = [var for var in members if _can_move(engine, var)]
        self.position = {var: i for i, var in enumerate(self.members)}
        self.maskable = [var for var in self.members if engine.maskable(var)]
        self.paid_position = {var: j for j, var in enumerate(self.maskable)}
        n, m = len(self.members), len(self.maskable)
        self.width = n + 2 * m  # columns of one copy
        self.member_index = np.asarray(self.members, dtype=np.int64)
        self._paid_index = np.array([self.position[v] for v in self.maskable], dtype=np.int64)
        self._build_rows()
        self.link: dict[int, int] = {}
        for var in self.members:
            if engine.is_open(var):  # a small cell to protect: its linking row in `joint`
                self.link[var] = len(self.link)
        # each open cell is spread up in copy `rising` and down in the other (half each way);
        # it is protected by finding its up way in that copy
        self.rising = {var: 1 - (i % 2) for i, var in enumerate(self.link)}
        self.cost = self._columns()
        self.single: list[highspy.Highs | None] = [None, None]  # one copy each: see `solve`
        self.joint: highspy.Highs | None = None  # both copies and the linking rows

    # -- building ----------------------------------------------------------------------------

    def _build_rows(self) -> None:
        """The layer's relations in the first copy's columns, merged and reduced (see above).

        Figures outside the layer are held at their truth, so a sum must stay balanced and an
        inequality may use only the slack the truth leaves.
        """
        arrays = self.engine.system.arrays()
        n, m = len(self.members), len(self.maskable)
        members = np.asarray(self.members, dtype=np.int64)
        position = np.full(len(arrays.var_start) - 1, -1, dtype=np.int64)
        position[members] = np.arange(n)
        paid = np.full(max(n, 1), -1, dtype=np.int64)
        paid[self._paid_index] = np.arange(m)
        touching = _gather(
            arrays.rows_of,
            arrays.var_start[members],
            arrays.var_start[members + 1] - arrays.var_start[members],
        )
        rows = np.unique(touching)
        lengths = arrays.start[rows + 1] - arrays.start[rows]
        entries = _gather(np.arange(len(arrays.var)), arrays.start[rows], lengths)
        row = np.repeat(np.arange(len(rows)), lengths)
        col = position[arrays.var[entries]]
        coef = arrays.coef[entries]
        inside = col >= 0
        row, col, coef = row[inside], col[inside], coef[inside]
        has = paid[col] >= 0
        row = np.concatenate([row, row[has], row[has]])
        coef = np.concatenate([coef, coef[has], -coef[has]])
        col = np.concatenate([col, n + paid[col[has]], n + m + paid[col[has]]])
        order = np.lexsort((col, row))
        row, col, coef = row[order], col[order], coef[order]
        equal = arrays.equal[rows]
        upper = np.where(equal, 0.0, arrays.slack[rows])  # a sum stays balanced
        lower = np.where(equal, 0.0, -INF)
        first = np.searchsorted(row, np.arange(len(rows)))
        flip = coef[first] < 0  # one sign per relation, so that x <= a and -x <= b meet
        coef = np.where(flip[row], -coef, coef)
        lower, upper = np.where(flip, -upper, lower), np.where(flip, -lower, upper)
        ends = np.append(first[1:], len(row))

        lengths = ends - first
        free_only = np.zeros(n + 2 * m, dtype=bool)
        free_only[:n] = paid[:n] < 0
        single = (lengths == 1) & free_only[col[first]]  # a bound on one figure
        self.implied_lower = np.full(n, -INF)
        self.implied_upper = np.full(n, INF)
        if single.any():
            j, k = col[first[single]], coef[first[single]]  # k > 0 after the flip
            np.maximum.at(self.implied_lower, j, lower[single] / k)
            np.minimum.at(self.implied_upper, j, upper[single] / k)
        many = np.flatnonzero(~single)
        # relations that are the same once outside figures are held: kept once, tightest bounds
        width = int(lengths[many].max(initial=0))
        table = np.zeros((len(many), 2 * width))
        table[:, :width] = -1.0  # no column
        slot = np.arange(len(row)) - np.repeat(first, lengths)
        take = ~single[row]
        where = np.searchsorted(many, row[take])
        table[where, slot[take]] = col[take]
        table[where, width + slot[take]] = coef[take]
        # each distinct relation (a row's bytes; numpy types them as bytes or tuple), numbered
        # in its first order
        numbers: dict[Hashable, int] = {}
        group = np.zeros(0, dtype=np.int64)
        if len(many):
            keys = table.view(np.dtype((np.void, table.itemsize * table.shape[1]))).ravel()
            group = np.fromiter(
                (numbers.setdefault(key, len(numbers)) for key in keys.tolist()),
                np.int64,
                len(many),
            )
        leader = np.zeros(len(numbers), dtype=np.int64)
        leader[group[::-1]] = np.arange(len(many))[::-1]  # where each relation first appears
        keep = many[leader]
        bounds = np.empty((len(keep), 2))
        bounds[:, 0], bounds[:, 1] = -INF, INF
        np.maximum.at(bounds[:, 0], group, lower[many])
        np.minimum.at(bounds[:, 1], group, upper[many])
        lengths = lengths[keep]
        entries = _gather(np.arange(len(row)), first[keep], lengths)
        self.row_start = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.row_start[1:])
        self.row_col = col[entries]
        self.row_coef = coef[entries]
        self.row_bounds = bounds
        # the relations of each free column, for the propagation check in `solve`
        free = self.row_col < n
        owner = np.repeat(np.arange(len(keep)), lengths)
        order = np.argsort(self.row_col[free], kind="stable")
        self.rows_of = owner[free][order]
        self.rows_of_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.row_col[free], minlength=n), out=self.rows_of_start[1:])

    def _columns(self) -> np.ndarray:
        """Every column's bounds (into `col_lower`, `col_upper`) and cost, as `_column` gives
        them one at a time, for the whole layer at once."""
        engine, n = self.engine, len(self.members)
        truth = np.asarray([engine.system.truth[v] for v in self.members], dtype=np.float64)
        lower = np.asarray([engine.lower[v] for v in self.members], dtype=np.float64)
        upper = np.asarray([engine.upper[v] for v in self.members], dtype=np.float64)
        low = np.maximum(lower - truth, self.implied_lower)
        high = np.minimum(upper - truth, self.implied_upper)
        copies_low, copies_high = [low, low.copy()], [high, high.copy()]
        copies_cost = [np.full(n, FREE_MOVE_COST), np.full(n, FREE_MOVE_COST)]
        if self.spread and self.link:
            opens = np.asarray([self.position[v] for v in self.link], dtype=np.int64)
            rising = np.asarray([self.rising[v] for v in self.link], dtype=np.int64)
            for copy in (0, 1):
                up = opens[rising == copy]
                copies_high[copy][up] = np.minimum(copies_high[copy][up], float(self.span))
                copies_cost[copy][up] = -SPREAD_REWARD
                copies_cost[copy][opens[rising != copy]] = SPREAD_REWARD
        paid = self._paid_index
        price = 1.0 + truth[paid]
        down = lower[paid] - np.minimum(1.0, truth[paid])  # as far as masked_lower_bound
        zeros, infinite = np.zeros(len(paid)), np.full(len(paid), INF)
        self.col_lower = np.concatenate(
            [part for copy in (0, 1) for part in (copies_low[copy], zeros, zeros)]
        )
        self.col_upper = np.concatenate(
            [part for copy in (0, 1) for part in (copies_high[copy], infinite, down)]
        )
        return np.concatenate(
            [part for copy in (0, 1) for part in (copies_cost[copy], price, price)]
        )

    def _single_model(self, copy: int) -> highspy.Highs:
        """One copy of the layer's relations: the way up, or the way down, for one target."""
        if self.single[copy] is None:
            columns = slice(copy * self.width, (copy + 1) * self.width)
            self.single[copy] = _highs(
                self.cost[columns],
                self.col_lower[columns],
                self.col_upper[columns],
                self.row_bounds[:, 0],
                self.row_bounds[:, 1],
                self.row_start,
                self.row_col,
                self.row_coef,
            )
        return self.single[copy]  # type: ignore[return-value]

    def _joint_model(self) -> highspy.Highs:
        """Both copies of the layer's relations, then one idle linking row per open cell:
        `up copy - down copy >= span`, the up copy being the one the cell is spread up in."""
        if self.joint is None:
            rows, length, links = len(self.row_bounds), len(self.row_col), len(self.link)
            link_cols = np.array(
                [[self.col(r, FREE, v), self.col(1 - r, FREE, v)] for v, r in self._ways()],
                dtype=np.int64,
            ).reshape(-1)
            self.joint = _highs(
                self.cost,
                self.col_lower,
                self.col_upper,
                np.concatenate([self.row_bounds[:, 0]] * 2 + [np.full(links, -INF)]),
                np.concatenate([self.row_bounds[:, 1]] * 2 + [np.full(links, INF)]),
                np.concatenate(
                    [
                        self.row_start[:-1],
                        length + self.row_start,
                        2 * length + 2 * np.arange(1, links + 1),
                    ]
                ),
                np.concatenate([self.row_col, self.row_col + self.width, link_cols]),
                np.concatenate([self.row_coef, self.row_coef, np.tile([1.0, -1.0], links)]),
            )
            self._link_row0 = 2 * rows
        return self.joint

    def _ways(self) -> list[tuple[int, int]]:
        return [(var, self.rising[var]) for var in self.link]

    # -- columns -----------------------------------------------------------------------------

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
            j = self.position[var]
            low = max(engine.lower[var] - truth, self.implied_lower[j])
            high = min(engine.upper[var] - truth, self.implied_upper[j])
            if not (self.spread and engine.is_open(var)):
                return low, high, FREE_MOVE_COST
            if copy == self.rising.get(var, 1):
                return low, min(high, float(self.span)), -SPREAD_REWARD  # capped: never unbounded
            return low, high, SPREAD_REWARD
        if not engine.maskable(var):
            return 0.0, 0.0, 0.0
        if kind == UP:
            return 0.0, INF, 1.0 + truth
        return 0.0, float(engine.lower[var] - masked_lower_bound(truth)), 1.0 + truth

    def _kinds(self, var: int) -> tuple[int, ...]:
        return (FREE, UP, DOWN) if var in self.paid_position else (FREE,)

    def _set(self, column: int, low: float, high: float, cost: float | None = None) -> None:
        """Change one column (numbered as in the joint model) in every model built."""
        self.col_lower[column], self.col_upper[column] = low, high
        copy, local = divmod(column, self.width)
        single = self.single[copy]
        for highs, index in ((single, local), (self.joint, column)):
            if highs is not None:
                highs.changeColBounds(index, low, high)
                if cost is not None:
                    highs.changeColCost(index, cost)
        if cost is not None:
            self.cost[column] = cost

    def refresh(self, var: int) -> None:
        """A variable of this layer was masked or protected: update its columns to match."""
        if var not in self.position:
            return
        for copy in (0, 1):
            for kind in self._kinds(var):
                low, high, cost = self._column(var, kind, copy)
                self._set(self.col(copy, kind, var), low, high, cost)

    # -- solving -----------------------------------------------------------------------------

    def solve(self, target: int) -> Outcome | None:
        """Two ways `span` apart on `target`, the up one within the layer, or None if there are
        none here. The outcome holds the ways found (one or two) and the masks they need.

        The down way rarely needs a programme: a way found before (or the truth itself) holds
        the target at its lowest value seen, `seen`, and stays a way whatever masks are added.
        So the up way is first sought alone, over one copy of the layer: the target at least
        `seen + span`, with the fewest masks. When `seen` is already the lowest value the
        target can take, that is also the fewest masks both ways together could need (an up
        way `span` above any down way is at least that high). Otherwise, if the up way needs
        masks or cannot be found, both copies are solved together with a linking row: a down
        way found afresh, higher up, may let the up way need fewer masks, or none.
        """
        if target not in self.link:
            return None  # protected before this layer was built: never asked
        j = self.position[target]
        up = self.rising[target]
        down = 1 - up
        truth = self.engine.system.truth[target]
        lowest = max(float(masked_lower_bound(truth) - truth), float(self.implied_lower[j]))
        highest = float(self.implied_upper[j])
        least, most = self._reach(j, lowest, highest, down, up)
        if most - least < self.span - PROPAGATION_MARGIN:
            return None  # its relations alone hold it: no two ways `span` apart here
        try:
            seen = float(self.engine.seen_low[target])
            at_lowest = seen <= lowest + TOLERANCE
            pushed = self._push(target, up, seen + self.span, highest)
            if pushed is not None and (at_lowest or not pushed[0]):
                return pushed
            if at_lowest:
                return None  # no way up from the lowest value: none from any higher either
            joint = self._solve_joint(target, lowest, highest)
            return joint if joint is not None else pushed
        finally:
            self.refresh(target)

    def _push(self, target: int, copy: int, least: float, highest: float) -> Outcome | None:
        """One way with `target` at least `least` (changes from the truth), and its masks."""
        column = self.col(copy, FREE, target)
        self._set(column, max(self.col_lower[column], least), highest, 0.0)
        highs = self._single_model(copy)
        highs.run()
        return self._outcome(highs, 1) if is_optimal(highs) else None

    def _solve_joint(self, target: int, lowest: float, highest: float) -> Outcome | None:
        """Both ways at once, `span` apart on `target`: the fewest masks over both copies.

        Only bounds change between solves (the target's own columns and its linking row), so
        HiGHS keeps its factorisation and starts from the last basis.
        """
        highs = self._joint_model()
        j, up = self.position[target], self.rising[target]
        self._set(self.col(1 - up, FREE, target), lowest, min(0.0, self.implied_upper[j]))
        self._set(self.col(up, FREE, target), max(0.0, self.implied_lower[j]), highest, 0.0)
        link = self._link_row0 + self.link[target]
        highs.changeRowBounds(link, float(self.span), INF)
        try:
            highs.run()
            return self._outcome(highs, 2) if is_optimal(highs) else None
        finally:
            highs.changeRowBounds(link, -INF, INF)

    def _reach(
        self, j: int, lowest: float, highest: float, down: int, up: int
    ) -> tuple[float, float]:
        """How low member `j` can go in copy `down` and how high in copy `up`, by each of its
        relations alone, every other column within its current bounds in that copy."""
        rows = self.rows_of[self.rows_of_start[j] : self.rows_of_start[j + 1]]
        if not len(rows):
            return lowest, highest
        lengths = self.row_start[rows + 1] - self.row_start[rows]
        entries = _gather(np.arange(len(self.row_col)), self.row_start[rows], lengths)
        cols, coefs = self.row_col[entries], self.row_coef[entries]
        owner = np.repeat(np.arange(len(rows)), lengths)
        mine = cols == j
        own = coefs[mine]  # one entry of `j` per relation, in the relations' order
        cols, coefs, owner = cols[~mine], coefs[~mine], owner[~mine]
        both = np.concatenate([cols + down * self.width, cols + up * self.width])
        low, high = self.col_lower[both], self.col_upper[both]
        coefs = np.concatenate([coefs, coefs])
        owner = np.concatenate([owner, owner + len(rows)])
        rising = coefs > 0
        # row_low <= own * x + rest <= row_high, with rest (per copy) within [least, most]
        size = 2 * len(rows)
        least = np.bincount(owner, np.where(rising, coefs * low, coefs * high), size)
        most = np.bincount(owner, np.where(rising, coefs * high, coefs * low), size)
        least, most = least.reshape(2, -1), most.reshape(2, -1)
        row_low, row_high = self.row_bounds[rows, 0], self.row_bounds[rows, 1]
        positive = own > 0
        floor = np.where(positive, row_low - most[0], row_high - least[0]) / own
        ceiling = np.where(positive, row_high - least[1], row_low - most[1]) / own
        return max(lowest, float(floor.max())), min(highest, float(ceiling.min()))

    def _outcome(self, highs: highspy.Highs, copies: int) -> Outcome:
        """Variables with a paid move (to mask) and each copy's change of every member."""
        n, m = len(self.members), len(self.maskable)
        values = np.asarray(highs.getSolution().col_value)
        ways = values[: copies * self.width].reshape(copies, self.width)
        change = ways[:, :n].copy()
        to_mask: list[int] = []
        if m:
            up, down = ways[:, n : n + m], ways[:, n + m :]
            change[:, self._paid_index] += up - down
            paid = ((up > TOLERANCE) | (down > TOLERANCE)).any(axis=0)
            to_mask = [self.maskable[j] for j in np.flatnonzero(paid).tolist()]
        return to_mask, self.member_index, change


def _highs(
    cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    start: np.ndarray,
    index: np.ndarray,
    value: np.ndarray,
) -> highspy.Highs:
    """A quiet HiGHS instance holding this row-wise model, set up for warm re-solves."""
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lower)
    lp.col_cost_ = np.array(cost, dtype=np.float64)
    lp.col_lower_ = np.array(col_lower, dtype=np.float64)
    lp.col_upper_ = np.array(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=np.float64)
    highs = quiet_highs()
    highs.passModel(lp)
    highs.setOptionValue("presolve", "off")  # each re-solve starts from the last basis
    return highs


def _gather(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """values[starts[0]:starts[0]+lengths[0]], values[starts[1]:...], ... concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return values[:0]
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return values[offsets + np.arange(total)]


def _can_move(engine: Engine, var: int) -> bool:
    """Figures known exactly that can never be masked (zeros, exact figures sent before) are
    left out: they are held at their truth like everything outside the layer."""
    truth = engine.system.truth[var]
    return engine.maskable(var) or engine.lower[var] != truth or engine.upper[var] != truth
