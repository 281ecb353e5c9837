"""Secondary (complementary) suppression over a whole release and every past release.

How it works, in short (docs/disclosure.md has the long form):

1. Primary: counts 1..threshold are masked; cells masked in any earlier release stay masked.
2. Every other figure is rounded (a non-zero count is never shown as 0).
3. For each small masked cell (this release's and earlier releases'), the engine looks for two
   ways the figures could have been: one where the cell is low and one `threshold - 1` higher,
   both consistent with everything published. Each is found by a linear programme over a layer
   of the release (`layer.py`: the cell's stratifier table, its group's sums, those with
   need-any's, its whole independent part), every other cell held at its true value, so a way
   found locally is a way globally. Published cells may move only inside their rounding
   interval; moving one further means masking it, at a cost that grows with its value, so the
   programme picks few, small complementary cells and prefers cells already masked. Masks are
   only ever added, so a cell protected earlier stays protected, and every way found stays a
   way: the engine keeps each figure's lowest and highest value in any way found, and a small
   cell those already put `threshold - 1` apart needs no programme of its own.
4. Parts of the release that share no relation (`split.py`) are protected separately.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

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
from ltcbridge.disclosure.layer import LayerProgramme, Outcome
from ltcbridge.disclosure.split import independent_parts
from ltcbridge.disclosure.system import (
    Components,
    Snapshot,
    System,
    attacker_bounds,
    build_system,
)
from ltcbridge.errors import LtcbridgeError

PARALLEL_MIN_CELLS = 5000  # below this, starting processes costs more than it saves
HUB_SUMS = 2  # a figure in more sums than this (a group total) is held still at first
TOLERANCE = 1e-6


class UnprotectableError(LtcbridgeError):
    """A small cell cannot be protected: earlier releases already narrow it, whatever this one
    masks (for example a PCN figure of 2 sent before, when this release shows that two practices
    each have at least one such person). Nothing is published."""


def protect(
    release: Release,
    rules: DisclosureRules,
    history: Sequence[PublishedRelease] = (),
    *,
    workers: int | None = None,
) -> PublishedRelease:
    """Mask, round and complement-suppress `release` so that no small cell can be narrowed.

    The release is cut into parts that share no relation (`split.py`), protected one by one, or
    in `workers` processes (default: one per CPU for releases of `PARALLEL_MIN_CELLS` cells or
    more). Deterministic: the same release, rules and history always give the same output,
    however many workers.
    """
    reasons = _initial_masks(release, rules, history)
    if rules.threshold > 1:
        jobs = [
            (part, part_history, rules, {k: reasons[k] for k in part.cells if k in reasons})
            for part, part_history in independent_parts(release, history)
        ]
        for part_reasons in _run(jobs, _workers(workers, release, len(jobs))):
            reasons.update(part_reasons)
    return _published(release, rules, reasons)


_Job = tuple[Release, list[PublishedRelease], DisclosureRules, dict[CellKey, Reason]]


def _protect_part(job: _Job) -> dict[CellKey, Reason]:
    """Protect one independent part; its masks and their reasons."""
    release, history, rules, reasons = job
    _Protector(release, rules, history, reasons).run()
    return reasons


def _run(jobs: list[_Job], workers: int) -> Iterator[dict[CellKey, Reason]]:
    if workers <= 1:
        yield from map(_protect_part, jobs)
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(_protect_part, jobs)


def _workers(asked: int | None, release: Release, parts: int) -> int:
    if asked is not None:
        return max(1, min(asked, parts))
    if len(release.cells) < PARALLEL_MIN_CELLS:
        return 1
    return max(1, min(os.cpu_count() or 1, parts))


def primary_only(release: Release, rules: DisclosureRules) -> PublishedRelease:
    """Primary masks and rounding alone, for agreements that ask for no secondary suppression."""
    reasons: dict[CellKey, Reason] = {
        key: "primary" for key, value in release.cells.items() if rules.is_primary(value)
    }
    return _published(release, rules, reasons)


def _published(
    release: Release, rules: DisclosureRules, reasons: dict[CellKey, Reason]
) -> PublishedRelease:
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


def _hubs(system: System) -> set[int]:
    """Figures in more than `HUB_SUMS` sums (group totals): held still in the first layers."""
    sums = [sum(1 for row in rows if system.rows[row].op == "==") for rows in system.rows_of_var]
    return {var for var, count in enumerate(sums) if count > HUB_SUMS}


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
        # every figure's lowest and highest change from its truth in any way found so far
        self.seen_low = np.zeros(len(self.system.truth))
        self.seen_high = np.zeros(len(self.system.truth))
        hubs = _hubs(self.system)
        self.tables = _Layers(self, Components(self.system, skip=hubs), hubs)
        self.sums = _Layers(self, Components(self.system, sums_only=True), set())
        self.paired = _PairedLayers(self, self.sums.components)
        self.whole = _Layers(self, Components(self.system), set())
        self.all_layers = (self.tables, self.sums, self.paired, self.whole)
        self.open_targets = set(self.targets)
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
        """Protect every small cell, cheapest programmes first.

        First pass: each small cell not yet protected gets a programme in its stratifier's table
        (group totals held still), else in its group's sums, else in those with the need-any
        group's sums (the order changes when the cell's total is masked: see
        `_total_is_masked`). Cells that need more wait for the second pass, when the masks of
        the first may already protect them; there the programme is their whole component.
        """
        try:
            waiting = [var for var in self.targets if not self._in_layers(var)]
            for var in waiting:
                if (
                    var in self.open_targets
                    and not self._solve(self.whole, var)
                    and not self._plain(var)
                ):
                    raise UnprotectableError(
                        f"cannot release: the masked figure {self._name(var)} could be narrowed "
                        "by combining this release with earlier releases of the same records "
                        "(to any recipient: recipients may compare notes), whatever else is "
                        "masked. This happens when earlier releases were made under weaker "
                        f"rules than threshold {self.rules.threshold}, or when a small figure "
                        "was published before; nothing was sealed or recorded. Release under "
                        "rules no stronger than those used before for these records"
                    )
        finally:
            # free the HiGHS instances now, not at some later garbage collection (they point
            # back to this protector): a process protecting many parts holds one part's at a time
            for layers in self.all_layers:
                layers.programmes.clear()

    def _plain(self, var: int) -> bool:
        """The last word: the whole part, with no spreading reward and so no cap on other small
        cells. Built afresh, rarely needed."""
        members = self.whole.components.members(var)
        programme = LayerProgramme(self, members, self.rules.threshold - 1, spread=False)
        outcome = programme.solve(var)
        if outcome is not None:
            self._apply(outcome)
        return outcome is not None

    def _name(self, var: int) -> str:
        """A figure's key, from this release or the latest earlier one holding it (counts only)."""
        for var_of in reversed(self.system.var_of):
            for key, other in var_of.items():
                if other == var:
                    return repr(key)
        return f"variable {var}"

    def _in_layers(self, var: int) -> bool:
        """Protect `var` within its table, its group's sums, or those with need-any's sums;
        False if it needs more."""
        order: tuple[_Layers | _PairedLayers, ...] = (self.tables, self.sums, self.paired)
        if self._total_is_masked(var):
            order = (self.sums, self.paired, self.tables)
        return any(var not in self.open_targets or self._solve(layers, var) for layers in order)

    def _total_is_masked(self, var: int) -> bool:
        """Whether a total `var` adds up to is masked: then holding totals still (the table
        layer) mostly fails and the group's sums are the better first try."""
        system = self.system
        return any(
            other in self.tables.skip and math.isinf(self.upper[other])
            for row in system.rows_of_var[var]
            if system.rows[row].op == "=="
            for other in system.rows[row].vars
        )

    def _solve(self, layers: _Layers | _PairedLayers, target: int) -> bool:
        programme = layers.programme(target)
        outcome = None if programme is None else programme.solve(target)
        if outcome is not None:
            self._apply(outcome)
        return outcome is not None

    def _apply(self, outcome: Outcome) -> None:
        to_mask, members, change = outcome
        for var in to_mask:
            self._mask(var)
        self.witness(members, change)

    def witness(self, members: np.ndarray, change: np.ndarray) -> None:
        """Any small cell that the ways found so far put `threshold - 1` apart is protected.

        Every way found is a set of figures consistent with everything published when it was
        found (the layer's figures as the programme set them, every other figure at its truth),
        and masks are only ever added, so it stays consistent: the lowest and the highest
        value a cell takes in any of them (or in the truth) witness its range.
        """
        low = np.minimum(self.seen_low[members], change.min(axis=0))
        high = np.maximum(self.seen_high[members], change.max(axis=0))
        self.seen_low[members], self.seen_high[members] = low, high
        wide = members[high - low >= self.rules.threshold - 1 - TOLERANCE].tolist()
        for var in wide:
            if var in self.open_targets:
                self.open_targets.discard(var)
                for layers in self.all_layers:
                    layers.refresh(var)

    def is_open(self, var: int) -> bool:
        """A small masked cell not yet protected: programmes try to spread it too."""
        return var in self.open_targets

    def _mask(self, var: int) -> None:
        self.reasons[self.key_of[var]] = "secondary"
        self.lower[var] = masked_lower_bound(self.system.truth[var])
        self.upper[var] = math.inf
        for layers in self.all_layers:
            layers.refresh(var)


class _Layers:
    """The reusable programmes of one way of cutting the system into layers."""

    def __init__(self, protector: _Protector, components: Components, skip: set[int]) -> None:
        self.protector = protector
        self.components = components
        self.skip = skip
        self.programmes: dict[int, LayerProgramme] = {}

    def key(self, var: int) -> Hashable | None:
        """Which layer `var` is in (None: it is held still in these layers)."""
        return None if var in self.skip else self.components.root[var]

    def programme(self, target: int) -> LayerProgramme | None:
        """The target's layer programme (built on first use), if the layer is worth one."""
        members = self.components.members(target)
        if target in self.skip or len(members) < 2:
            return None
        root = self.components.root[target]
        if root not in self.programmes:
            span = self.protector.rules.threshold - 1
            self.programmes[root] = LayerProgramme(self.protector, members, span)
        return self.programmes[root]

    def refresh(self, var: int) -> None:
        """A variable was masked: widen it in the programme of its layer, if built."""
        programme = self.programmes.get(self.components.root[var])
        if programme is not None:
            programme.refresh(var)


class _PairedLayers:
    """A group's sums together with the sums of the group bounding it (a need domain with
    need-any): a small domain total often cannot move without need-any moving too."""

    def __init__(self, protector: _Protector, sums: Components) -> None:
        self.protector = protector
        self.sums = sums
        self.twin = _twins(protector.system)
        self.programmes: dict[tuple[int, int], LayerProgramme] = {}

    def key(self, var: int) -> tuple[int, int] | None:
        """The pair of sums layers `var` and its bound are in (None: no bound of its own)."""
        twin = self.twin[var]
        if twin is None or self.sums.root[var] == self.sums.root[twin]:
            return None
        return (self.sums.root[var], self.sums.root[twin])

    def programme(self, target: int) -> LayerProgramme | None:
        pair = self.key(target)
        if pair is None:
            return None
        twin = self.twin[target]
        assert twin is not None
        if pair not in self.programmes:
            members = sorted({*self.sums.members(target), *self.sums.members(twin)})
            span = self.protector.rules.threshold - 1
            self.programmes[pair] = LayerProgramme(self.protector, members, span)
        return self.programmes[pair]

    def refresh(self, var: int) -> None:
        for programme in self.programmes.values():
            if var in programme.position:
                programme.refresh(var)


def _twins(system: System) -> list[int | None]:
    """Each variable's bound: the other cell of its only two-cell `x - y <= 0` relation."""
    twins: list[int | None] = [None] * len(system.truth)
    found = [0] * len(system.truth)
    for row in system.rows:
        if row.op == "<=" and row.rhs == 0 and len(row.vars) == 2 and sorted(row.coefs) == [-1, 1]:
            small, large = row.vars if row.coefs[0] == 1 else row.vars[::-1]
            twins[small] = large
            found[small] += 1
    return [twin if count == 1 else None for twin, count in zip(twins, found, strict=True)]
