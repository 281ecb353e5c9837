"""The leader's disclosure step: the only place exact area totals exist.

The two partial sums of a batch are added (``combine``); the exact totals are checked to be
plausible counts, turned into area cubes (an area is an organisation of a Cube at level "pcn" or
"icb") and protected together, against every earlier area release, by the same engine that
protects a practice's release (``disclosure.secondary.protect``). Only the protected figures
are kept (``ShareStore.record_release``); the exact totals are dropped with this step.

What a reader of the area figures knows, and the engine is told (docs/secure-aggregation.md):
- within an area, what a cube declares (strata sum to their total, need domains and need-any);
- an ICB area is the sum of its PCN areas plus the practices of no released PCN batch (the
  "rest"): the rest is a figure nobody sees, but the engine protects its small cells too;
- a late practice: a second version of an area-month differs from the first by exactly the
  late practices' counts, a figure nobody sees that the engine protects like the rest;
- the practices' own published (masked and rounded) figures: after protection, each masked
  practice figure must still span ``threshold`` values given the area figure (``_PracticeCheck``);
  where it would not, the area figure is masked (reason "practice") and the release protected
  again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ltcbridge.counts import Cube
from ltcbridge.disclosure.audit import snapshot_of
from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    LinearConstraint,
    PublishedRelease,
    Release,
    published_interval,
)
from ltcbridge.disclosure.from_cube import release_from_cube
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.disclosure.secondary import primary_only, protect
from ltcbridge.disclosure.solver import INF, ModelBuilder, is_optimal
from ltcbridge.disclosure.system import Components, attacker_bounds, build_system
from ltcbridge.extras import HUB, PRACTICE, optional_imports
from ltcbridge.secagg.batch import BatchRefused, Proposal, check_partner_sum
from ltcbridge.secagg.document import Cell, Layout, ShareSet
from ltcbridge.secagg.field import PLAUSIBLE_MAX, reconstruct
from ltcbridge.secagg.store import AreaFigure, ShareStore

with optional_imports(PRACTICE, HUB):
    import highspy

AREA_RECIPIENT = "area-figures"  # the history store's recipient name for area releases
MAX_ROUNDS = 6  # practice-check rounds: see _escalate


class ImplausibleSum(BatchRefused):
    """The two partial sums do not add up to counts: a corrupted or dishonest share."""


@dataclass(frozen=True)
class AreaTotals:
    """An area's exact counts for one batch: held only inside the disclosure step."""

    proposal: Proposal
    layout: Layout
    counts: np.ndarray


def combine(proposal: Proposal, mine: ShareSet, theirs: ShareSet) -> AreaTotals:
    """Add the two partial sums of a batch and check the result is a set of plausible counts."""
    counts = reconstruct(mine.elements, check_partner_sum(mine, theirs, proposal))
    _check_plausible(proposal, mine.layout, counts)
    return AreaTotals(proposal, mine.layout, counts)


def _check_plausible(proposal: Proposal, layout: Layout, counts: np.ndarray) -> None:
    """Counts are whole numbers of people from 0 up, and every breakdown adds up to its total.

    A share that does not come from a count (a practice's software fault, or a practice trying
    to bias the area) almost surely breaks both: the reconstructed value wraps around the field.
    """
    where = f"batch {proposal.batch_id} ({proposal.area} {proposal.month})"
    for position, (group, name, stratum) in enumerate(layout):
        value = int(counts[position])
        if value < 0 or value > PLAUSIBLE_MAX:
            cell = group if name is None else f"{group} {name}={stratum}"
            raise ImplausibleSum(
                f"{where}: {cell} reconstructs to {value}, not a count of people; a share set "
                "is corrupt: the batch is refused, ask its practices to resend their shares"
            )
    totals = {group: int(counts[i]) for i, (group, name, _) in enumerate(layout) if name is None}
    sums: dict[tuple[str, str], int] = {}
    for i, (group, name, _) in enumerate(layout):
        if name is not None:
            sums[(group, name)] = sums.get((group, name), 0) + int(counts[i])
    for (group, name), value in sums.items():
        if value != totals[group]:
            raise ImplausibleSum(
                f"{where}: the {name} breakdown of {group} adds up to {value}, its total is "
                f"{totals[group]}; a share set is corrupt: the batch is refused"
            )


def area_cube(measure: str, month: str, level: str, totals: Sequence[AreaTotals]) -> Cube:
    """The exact totals of one level's areas as a Cube (orgs are the areas)."""
    layout = totals[0].layout
    groups = list(dict.fromkeys(g for g, _, _ in layout))
    labels: dict[str, tuple[str, ...]] = {}
    for _, name, stratum in layout:
        if name is not None and stratum not in labels.get(name, ()):
            labels[name] = (*labels.get(name, ()), str(stratum))
    cube = Cube(
        measure,
        month,
        level,
        [t.proposal.area for t in totals],
        groups,
        np.zeros((len(totals), len(groups)), dtype=np.int64),
        {n: np.zeros((len(totals), len(groups), len(s)), np.int64) for n, s in labels.items()},
        labels,
    )
    for o, area in enumerate(totals):
        for (group, name, stratum), value in zip(layout, area.counts, strict=True):
            g = groups.index(group)
            if name is None:
                cube.totals[o, g] = value
            else:
                cube.strata[name][o, g, labels[name].index(str(stratum))] = value
    return cube


@dataclass(frozen=True)
class PracticeView:
    """The practices' own published figures of the same records (masked = None), and the rules
    they were published under: what a reader of both levels holds."""

    rules: DisclosureRules
    figures: Mapping[str, Mapping[Cell, int | None]]


@dataclass
class MonthRelease:
    """What one disclosure step released, and what it held back and why."""

    figures: list[AreaFigure] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


def disclose_month(
    store: ShareStore,
    history: HistoryStore,
    totals: Sequence[AreaTotals],
    *,
    agreement_id: str,
    rules: DisclosureRules,
    secondary: bool,
    parent_of: Mapping[str, str],
    practices: PracticeView | None = None,
) -> MonthRelease:
    """Protect and keep the area figures of one measure and month (all its batches at once).

    ``parent_of`` maps each PCN area to its ICB area. Without secondary suppression a second
    version of an area-month (a late practice) is held back: only history could protect the
    difference, and primary masking has none.
    """
    result = MonthRelease()
    earlier = history.load_all()
    if not secondary:
        late = [t for t in totals if t.proposal.version > 1]
        result.held_back += [
            f"{t.proposal.area}: late practice(s) held back (a second version would be "
            "differenced against the first; the agreement has no secondary suppression)"
            for t in late
        ]
        totals = [t for t in totals if t.proposal.version == 1]
        rests = _ReleaseBuilder(store, totals, earlier, parent_of).with_rest() if totals else []
        result.held_back += [
            f"{area}: held back: it includes practices of no released PCN, which it would give "
            "away as the ICB less the other PCNs (the agreement has no secondary suppression)"
            for area in rests
        ]
        totals = [t for t in totals if t.proposal.area not in rests]
    if not totals:
        return result
    builder = _ReleaseBuilder(store, totals, earlier, parent_of)
    release, hidden = builder.release(), builder.hidden(rules)
    members = {t.proposal.area: t.proposal.practices for t in totals}
    if secondary:
        published, forced = _protect_with_practices(
            release, rules, [*earlier, hidden], practices, members, parent_of
        )
    else:
        published, forced = primary_only(release, rules), set()
    result.figures = _figures(totals, published, forced)
    store.record_release([t.proposal for t in totals], result.figures)
    if secondary:
        history.record(AREA_RECIPIENT, agreement_id, hidden)
    history.record(AREA_RECIPIENT, agreement_id, published)
    return result


def cell_key(measure: str, month: str, area: str, cell: Cell) -> CellKey:
    """The disclosure key of an area figure (as ``from_cube.release_key`` writes it)."""
    return (measure, month, area, *cell)


def _fields(key: CellKey) -> tuple[Any, ...]:
    """The fields of an area figure's key: always a tuple here (``cell_key``), though the shared
    disclosure code types a key only as hashable."""
    assert isinstance(key, tuple)
    return key


class _ReleaseBuilder:
    """The area release with every relation a reader knows, and the hidden figures it implies."""

    def __init__(
        self,
        store: ShareStore,
        totals: Sequence[AreaTotals],
        earlier: Sequence[PublishedRelease],
        parent_of: Mapping[str, str],
    ) -> None:
        self.store = store
        self.totals = list(totals)
        self.measure = totals[0].proposal.measure
        self.month = totals[0].proposal.month
        self.layout = totals[0].layout
        self.sent: dict[CellKey, int] = {}
        for past in earlier:
            self.sent.update(past.true_values)
        self.parent_of = parent_of
        self.hidden_cells: dict[CellKey, int] = {}
        self.hidden_constraints: list[LinearConstraint] = []
        self.constraints: list[LinearConstraint] = []

    def with_rest(self) -> list[str]:
        """The areas whose figures would include practices of no released child area."""
        self.release()
        return sorted(
            {
                _fields(key)[2].removesuffix("-rest")
                for key in self.hidden_cells
                if _fields(key)[2].endswith("-rest")
            }
        )

    def key(self, area: str, cell: Cell) -> CellKey:
        return cell_key(self.measure, self.month, area, cell)

    def release(self) -> Release:
        cells: dict[CellKey, int] = {}
        by_level: dict[str, list[AreaTotals]] = {}
        for area in self.totals:
            by_level.setdefault(area.proposal.level, []).append(area)
        for level, areas in by_level.items():
            part = release_from_cube(area_cube(self.measure, self.month, level, areas))
            cells.update(part.cells)
            self.constraints += part.constraints
        for area in self.totals:
            if area.proposal.version > 1:
                self._late(area)
        for area in self.totals:
            children = [a for a, parent in self.parent_of.items() if parent == area.proposal.area]
            if children:
                self._sum_of_children(area, children, cells)
        return Release(cells=cells, constraints=self.constraints)

    def hidden(self, rules: DisclosureRules) -> PublishedRelease:
        """The figures nobody sees but a reader could work out (late parts, an ICB's rest), as a
        release whose every figure is masked: the engine then protects their small cells."""
        return PublishedRelease(
            values=dict.fromkeys(self.hidden_cells, MASKED),
            reasons=dict.fromkeys(self.hidden_cells, "history"),
            constraints=tuple(self.hidden_constraints),
            rules=rules,
            true_values=dict(self.hidden_cells),
        )

    def _hide(self, org: str, counts: Mapping[Cell, int]) -> dict[Cell, CellKey]:
        """Hidden figures of a pseudo-organisation, with their strata sums."""
        keys = {cell: self.key(org, cell) for cell in self.layout}
        for cell, key in keys.items():
            self.hidden_cells[key] = counts[cell]
        totals = {c[0]: keys[c] for c in self.layout if c[1] is None}
        names: dict[tuple[str, str], list[CellKey]] = {}
        for cell in self.layout:
            if cell[1] is not None:
                names.setdefault((cell[0], cell[1]), []).append(keys[cell])
        for (group, _), parts in names.items():
            terms = ((totals[group], -1), *((p, 1) for p in parts))
            self.hidden_constraints.append(LinearConstraint(terms, "=="))
        return keys

    def _late(self, area: AreaTotals) -> None:
        """New version = previous version + the late practices' counts (hidden)."""
        name, version = area.proposal.area, area.proposal.version
        before = {cell: self.sent[self.key(name, cell)] for cell in self.layout}
        now = dict(zip(self.layout, (int(v) for v in area.counts), strict=True))
        late = {cell: now[cell] - before[cell] for cell in self.layout}
        if min(late.values()) < 0:
            raise BatchRefused(
                f"{name} {self.month}: version {version} has fewer people than version "
                f"{version - 1} in some cell; earlier shares changed, so nothing is released"
            )
        previous = self._hide(f"{name}@v{version - 1}", before)
        added = self._hide(f"{name}+late@v{version}", late)
        for cell in self.layout:
            key = self.key(name, cell)
            self.hidden_constraints.append(
                LinearConstraint(((previous[cell], 1), (key, -1)), "==")  # key: the earlier one
            )
            terms = ((key, 1), (previous[cell], -1), (added[cell], -1))
            self.constraints.append(LinearConstraint(terms, "=="))

    def _sum_of_children(
        self, area: AreaTotals, children: list[str], cells: dict[CellKey, int]
    ) -> None:
        """ICB = sum of its released PCN areas + the rest (hidden when there is a rest)."""
        current = {t.proposal.area: t.proposal.practices for t in self.totals}
        covered: set[str] = set()
        released: list[str] = []
        for child in sorted(children):
            batches = self.store.batches(child, self.measure, self.month)
            practices = current.get(child) or (batches[-1].practices if batches else None)
            if practices is not None:
                covered |= practices
                released.append(child)
        rest_practices = area.proposal.practices - covered
        now = dict(zip(self.layout, (int(v) for v in area.counts), strict=True))
        rest = {
            cell: now[cell] - sum(self._value(child, cell, cells) for child in released)
            for cell in self.layout
        }
        rest_keys = self._hide(f"{area.proposal.area}-rest", rest) if rest_practices else {}
        for cell in self.layout:
            terms = [(self.key(area.proposal.area, cell), -1)]
            terms += [(self.key(child, cell), 1) for child in released]
            if rest_keys:
                terms.append((rest_keys[cell], 1))
            self.constraints.append(LinearConstraint(tuple(terms), "=="))

    def _value(self, area: str, cell: Cell, cells: dict[CellKey, int]) -> int:
        key = self.key(area, cell)
        return cells[key] if key in cells else self.sent[key]


def _protect_with_practices(
    release: Release,
    rules: DisclosureRules,
    history: list[PublishedRelease],
    practices: PracticeView | None,
    members: Mapping[str, frozenset[str]],
    parent_of: Mapping[str, str],
) -> tuple[PublishedRelease, set[CellKey]]:
    """Protect, then check the practices' masked figures; mask and protect again as needed."""
    forced: set[CellKey] = set()
    steps: dict[CellKey, int] = {}
    for _ in range(MAX_ROUNDS):
        published = protect(release, rules, [*history, _forced(release, rules, forced)])
        if practices is None:
            return published, forced
        flagged = _PracticeCheck(published, history, practices, members).narrowed()
        if not flagged:
            return published, forced
        for key in flagged:
            steps[key] = steps.get(key, 0) + 1
            forced |= _escalate(release, key, steps[key], parent_of)
    raise BatchRefused(
        f"cannot release: a practice's masked figure ({flagged[0]!r}) can be narrowed from the "
        "area figures whatever is masked; nothing was released"
    )


def _forced(release: Release, rules: DisclosureRules, keys: set[CellKey]) -> PublishedRelease:
    """Keys the practice check masks, as an earlier release that masked them (masked stays).

    In the release's own order, so the engine sees the same input whatever the set's order.
    """
    cells = {key: value for key, value in release.cells.items() if key in keys}
    return PublishedRelease(
        values=dict.fromkeys(cells, MASKED),
        reasons=dict.fromkeys(cells, "history"),
        constraints=(),
        rules=rules,
        true_values=cells,
    )


def _escalate(
    release: Release, key: CellKey, step: int, parent_of: Mapping[str, str]
) -> set[CellKey]:
    """What to mask after the ``step``-th finding on ``key``, widening each time.

    The cell itself; then its group in its area (a masked total is otherwise worked out from its
    published breakdowns); then the same cell and then its group in the parent area (an ICB
    figure less its other PCNs bounds a PCN figure); then the whole area.
    """
    fields = _fields(key)
    measure, month, area, group = fields[:4]
    parent = parent_of.get(str(area))
    if step == 1:
        return {key}
    if step == 2 or (parent is None and step < 5):
        return {k for k in release.cells if _fields(k)[:4] == (measure, month, area, group)}
    if step == 3:
        moved = (measure, month, parent, *fields[3:])
        return {moved} if moved in release.cells else set()
    if step == 4:
        return {k for k in release.cells if _fields(k)[:4] == (measure, month, parent, group)}
    return {k for k in release.cells if _fields(k)[:3] == (measure, month, area)}


class _PracticeCheck:
    """Does any masked practice figure span fewer than ``threshold`` values given an area figure?

    Per area and cell, the relation is area = sum of the batch's practices. Every practice
    figure is known to an interval (published: its rounding interval; masked: 1 and up, the
    conservative view that the reader knows it is not zero; not published: 0 and up) and the
    area figure to the range an attacker finds over every area release (published: its rounding
    interval; masked: the exact programme over everything published). With one sum over
    intervals, the linear programme's answer is exact and has a closed form: a masked figure
    lies between the area's lowest value less the others' highest and the area's highest less
    the others' lowest.
    """

    def __init__(
        self,
        published: PublishedRelease,
        history: list[PublishedRelease],
        practices: PracticeView,
        members: Mapping[str, frozenset[str]],
    ) -> None:
        self.published = published
        self.members = members
        self.view = practices
        self.threshold = practices.rules.threshold
        self.attacker = AreaAttacker([*history, published])

    def narrowed(self) -> list[CellKey]:
        """Area figures that narrow some practice's masked figure, in release order."""
        flagged = []
        for key in self.published.values:
            practices = self.members.get(str(_fields(key)[2]), frozenset())
            masked = [p for p in practices if self._interval(p, key)[0] == 1]
            if not masked:
                continue
            low, high = self._area_range(key)
            intervals = {p: self._interval(p, key) for p in practices}
            for practice in masked:
                others = [i for p, i in intervals.items() if p != practice]
                mine_low, mine_high = intervals[practice]
                lowest = max(mine_low, low - sum(i[1] for i in others))
                highest = min(mine_high, high - sum(i[0] for i in others))
                if highest - lowest + 1 < self.threshold:
                    flagged.append(key)
                    break
        return flagged

    def _interval(self, practice: str, key: CellKey) -> tuple[float, float]:
        figures = self.view.figures.get(practice)
        cell = tuple(_fields(key)[3:])
        if figures is None or cell not in figures:
            return (0, math.inf)
        value = figures[cell]
        if value is None:
            return (1, math.inf)
        return published_interval(value, self.view.rules)

    def _area_range(self, key: CellKey) -> tuple[float, float]:
        value = self.published.values[key]
        if value is not MASKED:
            return published_interval(int(value), self.published.rules)
        return self.attacker.range(key)


class AreaAttacker:
    """Exact bounds of area figures over every area release (HiGHS; LP first, MILP if needed)."""

    def __init__(self, releases: list[PublishedRelease]) -> None:
        snapshots = [snapshot_of(r) for r in releases]
        self.system = build_system(snapshots)
        self.lower, self.upper = attacker_bounds(self.system, snapshots)
        self.components = Components(self.system)
        self.models: dict[int, tuple[dict[int, int], highspy.Highs, highspy.Highs]] = {}

    def range(self, key: CellKey) -> tuple[float, float]:
        var = self.system.var_of[-1][key]
        local, relaxed, exact = self._model(var)
        return (
            self._optimum(relaxed, exact, local[var], 1.0),
            self._optimum(relaxed, exact, local[var], -1.0),
        )

    def _model(self, var: int) -> tuple[dict[int, int], highspy.Highs, highspy.Highs]:
        root = self.components.root[var]
        if root not in self.models:
            members = self.components.members(var)
            local = {v: i for i, v in enumerate(members)}
            cap = 10 * (max(self.system.truth[v] for v in members) + 10)
            builder = ModelBuilder()
            for v in members:
                upper = self.upper[v]
                builder.column(self.lower[v], cap if math.isinf(upper) else upper)
            for row in self.system.rows:
                if row.vars and row.vars[0] in local:
                    low = float(row.rhs) if row.op == "==" else -INF
                    cols = [local[v] for v in row.vars]
                    builder.row(cols, [float(c) for c in row.coefs], low, float(row.rhs))
            self.models[root] = (local, builder.solve_with(), builder.solve_with(integer=True))
        return self.models[root]

    @staticmethod
    def _optimum(relaxed: highspy.Highs, exact: highspy.Highs, column: int, sign: float) -> float:
        """Min (sign 1) or max (sign -1) of one column; the integer programme only when the
        relaxation ends between whole numbers (a whole relaxed optimum is the integer one)."""
        for highs in (relaxed, exact):
            highs.changeColCost(column, sign)
            highs.run()
            value = highs.getSolution().col_value[column] if is_optimal(highs) else None
            highs.changeColCost(column, 0.0)
            if value is not None and abs(value - round(value)) < 1e-6:
                return float(round(value))
        raise RuntimeError("the area attacker model has no optimum: figures contradict truth")


def _figures(
    totals: Sequence[AreaTotals], published: PublishedRelease, forced: set[CellKey]
) -> list[AreaFigure]:
    figures = []
    for area in totals:
        p = area.proposal
        for cell in area.layout:
            key = cell_key(p.measure, p.month, p.area, cell)
            value = published.values[key]
            reason = "practice" if key in forced else published.reasons.get(key)
            figures.append(
                AreaFigure(
                    p.measure,
                    p.month,
                    p.level,
                    p.area,
                    cell[0],
                    cell[1],
                    cell[2],
                    None if value is MASKED else int(value),
                    reason,
                    len(p.practices),
                    p.version,
                )
            )
    return figures
