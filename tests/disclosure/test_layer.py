"""The layer programmes are the layer's relations exactly, only written smaller and checked first.

`protect` relies on three shortcuts in `layer.py`; each is checked here against the plain
construction on a fixture-sized release, at the start and after some masks were added:
- the columns built all at once hold what `_column` gives one at a time;
- merging relations that become the same, and writing one-figure relations as bounds, changes
  no figure's range (each free move's least and greatest value agree with every relation kept
  as it is);
- the bound-propagation check skips a target only when both ways together really are impossible.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from ltcbridge.disclosure.cells import DisclosureRules, masked_lower_bound
from ltcbridge.disclosure.layer import DOWN, FREE, INF, UP, LayerProgramme
from ltcbridge.disclosure.secondary import _Protector
from ltcbridge.disclosure.solver import ModelBuilder, is_optimal
from ltcbridge.disclosure.split import independent_parts
from ltcbridge.disclosure.synthetic import build_release, icb_shape, random_people


def _protector(rounding: int) -> _Protector:
    shape = icb_shape(pcns=1, practices_per_pcn=3, domains=4, strata=4, stratifiers=2)
    release = build_release(shape, random_people(shape, random.Random(11), 40))
    part, history = independent_parts(release)[0]
    rules = DisclosureRules(threshold=7, rounding=rounding)
    reasons = {k: "primary" for k, v in part.cells.items() if rules.is_primary(v)}
    return _Protector(part, rules, history, dict(reasons))  # type: ignore[arg-type]


def _programmes(protector: _Protector) -> list[LayerProgramme]:
    found: dict[int, LayerProgramme] = {}
    for target in protector.targets:
        for layers in (protector.tables, protector.sums, protector.paired, protector.whole):
            programme = layers.programme(target)
            if programme is not None:
                found[id(programme)] = programme
    return list(found.values())


def _after_some_masks(protector: _Protector) -> None:
    for target in protector.targets[: len(protector.targets) // 2]:
        protector._in_layers(target)


@pytest.mark.parametrize("rounding", [5, 1])
def test_columns_built_at_once_match_one_at_a_time(rounding: int) -> None:
    protector = _protector(rounding)
    for stage in ("start", "masked"):
        if stage == "masked":
            _after_some_masks(protector)
        for programme in _programmes(protector):
            lp = programme._joint_model().getLp()
            for copy in (0, 1):
                for kind, group in ((FREE, programme.members), (UP, programme.maskable),
                                    (DOWN, programme.maskable)):  # fmt: skip
                    for var in group:
                        column = programme.col(copy, kind, var)
                        expected = programme._column(var, kind, copy)
                        held = (lp.col_lower_[column], lp.col_upper_[column], lp.col_cost_[column])
                        assert np.allclose(expected, held), (stage, kind, copy, var)


def _plain_single_copy(programme: LayerProgramme) -> ModelBuilder:
    """One copy of the layer, free moves only, every relation touching it written as it is."""
    engine, system = programme.engine, programme.engine.system
    builder = ModelBuilder()
    for var in programme.members:
        truth = system.truth[var]
        high = engine.upper[var] - truth
        builder.column(engine.lower[var] - truth, INF if math.isinf(high) else high)
    rows = sorted({r for var in programme.members for r in system.rows_of_var[var]})
    for index in rows:
        row = system.rows[index]
        cols, coefs = [], []
        for var, coef in zip(row.vars, row.coefs, strict=True):
            if var in programme.position:
                cols.append(programme.position[var])
                coefs.append(float(coef))
        if row.op == "==":
            builder.row(cols, coefs, 0.0, 0.0)
        else:
            used = sum(c * system.truth[v] for v, c in zip(row.vars, row.coefs, strict=True))
            builder.row(cols, coefs, -INF, float(row.rhs - used))
    return builder


def _reduced_single_copy(programme: LayerProgramme) -> ModelBuilder:
    """The same, from the reduced relations and bounds the programme holds (free moves only)."""
    engine, system = programme.engine, programme.engine.system
    n = len(programme.members)
    builder = ModelBuilder()
    for j, var in enumerate(programme.members):
        truth = system.truth[var]
        low = max(engine.lower[var] - truth, programme.implied_lower[j])
        high = min(engine.upper[var] - truth, programme.implied_upper[j])
        builder.column(low, high)
    for r in range(len(programme.row_bounds)):
        entries = range(programme.row_start[r], programme.row_start[r + 1])
        cols = [int(programme.row_col[e]) for e in entries if programme.row_col[e] < n]
        coefs = [float(programme.row_coef[e]) for e in entries if programme.row_col[e] < n]
        builder.row(cols, coefs, *programme.row_bounds[r])
    return builder


def _ranges(builder: ModelBuilder) -> list[tuple[float, float]]:
    highs = builder.solve_with()
    found = []
    for column in range(len(builder.cost)):
        ends = []
        for sign in (1.0, -1.0):
            highs.changeColCost(column, sign)
            highs.run()
            assert is_optimal(highs) or sign < 0
            ends.append(highs.getSolution().col_value[column] if is_optimal(highs) else INF)
            highs.changeColCost(column, 0.0)
        found.append((round(ends[0], 6), round(ends[1], 6)))
    return found


@pytest.mark.parametrize("rounding", [5, 1])
def test_reduced_relations_leave_every_range_as_it_was(rounding: int) -> None:
    protector = _protector(rounding)
    _after_some_masks(protector)
    programmes = _programmes(protector)
    assert any(p.implied_upper.min() < INF for p in programmes)  # bounds were folded
    for programme in programmes:
        assert _ranges(_reduced_single_copy(programme)) == _ranges(_plain_single_copy(programme))


@pytest.mark.parametrize("rounding", [5, 1])
def test_propagation_skips_only_impossible_targets(rounding: int) -> None:
    protector = _protector(rounding)
    skipped = 0
    for programme in _programmes(protector):
        for target in programme.link:
            j, up = programme.position[target], programme.rising[target]
            truth = protector.system.truth[target]
            lowest = max(float(masked_lower_bound(truth) - truth), programme.implied_lower[j])
            highest = float(programme.implied_upper[j])
            least, most = programme._reach(j, lowest, highest, 1 - up, up)
            if most - least < programme.span:
                skipped += 1
                joint = programme._solve_joint(target, lowest, highest)
                programme.refresh(target)
                assert joint is None, target
    assert skipped
