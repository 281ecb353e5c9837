"""A counting cube as a disclosure release: its cells and every relation a reader knows.

Keys are ``(measure, month, org, group, stratifier, stratum)`` (stratifier and stratum None for a
group total), so figures of different months and measures never meet by accident in history,
while the same figure sent twice (a month rebuilt with late entries) does.

Relations declared (docs/disclosure.md, section 2):
- each stratifier's strata sum to the group total;
- each need domain is at most need-any, and need-any at most the sum of the domains, for the
  total and every stratum of the same organisation;
- the relations a measure declares between its groups (``Cube.relations``: accepted referrals at
  most referrals made, improved Stars at most those reviewed, every NHS-use group the cohort…),
  for the total and every stratum;
- PCN against practice across releases: when history holds the other level of the same month
  (a PCN figure sent before a practice release, or practice figures before a PCN release), the
  PCN figure equals the sum of its practices' figures; the relation is declared only if it holds
  for the true counts, which is the case unless one side was rebuilt since.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ltcbridge.concepts import NEED_ANY
from ltcbridge.counts import CellKey as CubeKey
from ltcbridge.counts import Cube
from ltcbridge.disclosure.cells import (
    MASKED,
    CellKey,
    DisclosureRules,
    LinearConstraint,
    Published,
    PublishedRelease,
    Release,
)
from ltcbridge.disclosure.secondary import primary_only, protect


def release_key(cube: Cube, key: CubeKey) -> CellKey:
    """The disclosure key of one cube cell."""
    return (cube.measure, cube.month, *key)


def release_from_cube(
    cube: Cube,
    history: Sequence[PublishedRelease] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> Release:
    """Cells and relations of `cube`, tied to the other organisation level found in `history`."""
    cells = {release_key(cube, key): value for key, value in cube.cells()}
    constraints = [*_strata_sums(cube), *_need_any_relations(cube), *_group_relations(cube)]
    if pcn_of:
        constraints += _pcn_relations(cube, cells, _last_sent(history), pcn_of)
    return Release(cells=cells, constraints=constraints)


def _breakdowns(cube: Cube) -> list[tuple[str | None, str | None]]:
    return [(None, None)] + [(n, s) for n in cube.strata for s in cube.strata_of(n)]


def _strata_sums(cube: Cube) -> Iterator[LinearConstraint]:
    for org in cube.orgs:
        for group in cube.groups:
            total = release_key(cube, (org, group, None, None))
            for name in cube.strata:
                parts = [release_key(cube, (org, group, name, s)) for s in cube.strata_of(name)]
                yield LinearConstraint(((total, -1), *((p, 1) for p in parts)), "==")


def _group_relations(cube: Cube) -> Iterator[LinearConstraint]:
    for relation in cube.relations:
        for org in cube.orgs:
            for name, stratum in _breakdowns(cube):
                left = release_key(cube, (org, relation.left, name, stratum))
                right = release_key(cube, (org, relation.right, name, stratum))
                yield LinearConstraint(((left, 1), (right, -1)), relation.op)


def _need_any_relations(cube: Cube) -> Iterator[LinearConstraint]:
    domains = [g for g in cube.groups if g != NEED_ANY]
    if NEED_ANY not in cube.groups or not domains:
        return
    for org in cube.orgs:
        for name, stratum in _breakdowns(cube):
            anyone = release_key(cube, (org, NEED_ANY, name, stratum))
            parts = [release_key(cube, (org, d, name, stratum)) for d in domains]
            for part in parts:
                yield LinearConstraint(((part, 1), (anyone, -1)), "<=")
            yield LinearConstraint(((anyone, 1), *((p, -1) for p in parts)), "<=")


def _last_sent(history: Sequence[PublishedRelease]) -> dict[CellKey, int]:
    """Each key's true count as last sent (later releases replace earlier ones)."""
    sent: dict[CellKey, int] = {}
    for past in history:
        sent.update(past.true_values)
    return sent


def _pcn_relations(
    cube: Cube, cells: dict[CellKey, int], sent: dict[CellKey, int], pcn_of: Mapping[str, str]
) -> Iterator[LinearConstraint]:
    """PCN = sum of its practices, between this cube and the other level sent before."""
    members: dict[str, list[str]] = {}
    for practice, pcn in sorted(pcn_of.items()):
        members.setdefault(pcn, []).append(practice)
    if cube.level == "pcn":
        pcns = cube.orgs
    else:
        pcns = sorted({pcn_of[o] for o in cube.orgs if o in pcn_of})
    for pcn in pcns:
        for group in cube.groups:
            for name, stratum in _breakdowns(cube):
                whole = (cube.measure, cube.month, pcn, group, name, stratum)
                parts = [(cube.measure, cube.month, p, group, name, stratum) for p in members[pcn]]
                if _holds(whole, parts, cells, sent, cube.level):
                    yield LinearConstraint(((whole, -1), *((p, 1) for p in parts)), "==")


def _holds(
    whole: CellKey,
    parts: Sequence[CellKey],
    cells: dict[CellKey, int],
    sent: dict[CellKey, int],
    level: str,
) -> bool:
    """Whether every figure is known on its side and the true counts add up."""
    whole_side, parts_side = (cells, sent) if level == "pcn" else (sent, cells)
    if whole not in whole_side or not all(p in parts_side for p in parts):
        return False
    return whole_side[whole] == sum(parts_side[p] for p in parts)


def disclose_cube(
    cube: Cube,
    rules: DisclosureRules,
    *,
    secondary: bool,
    history: Sequence[PublishedRelease] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> tuple[dict[CubeKey, Published[CubeKey]], PublishedRelease]:
    """The feed's disclosure step for one cube: each cell's published value, and the release."""
    per_cube, published = disclose_cubes(
        [cube], rules, secondary=secondary, history=history, pcn_of=pcn_of
    )
    return per_cube[0], published


def disclose_cubes(
    cubes: Sequence[Cube],
    rules: DisclosureRules,
    *,
    secondary: bool,
    history: Sequence[PublishedRelease] = (),
    pcn_of: Mapping[str, str] | None = None,
) -> tuple[list[dict[CubeKey, Published[CubeKey]]], PublishedRelease]:
    """Every measure of a release protected together: each cube's cells, and the whole release.

    With `secondary`, the release is protected against itself and `history`; without, only
    primary masks and rounding are applied. Either way the `PublishedRelease` can be recorded as
    history for the next release to the same recipient.
    """
    parts = [
        release_from_cube(cube, history if secondary else (), pcn_of if secondary else None)
        for cube in cubes
    ]
    release = Release(
        cells={key: value for part in parts for key, value in part.cells.items()},
        constraints=[c for part in parts for c in part.constraints],
    )
    published = protect(release, rules, history) if secondary else primary_only(release, rules)
    per_cube = [
        {key: _published_cell(key, release_key(cube, key), published) for key, _ in cube.cells()}
        for cube in cubes
    ]
    return per_cube, published


def _published_cell(key: CubeKey, rkey: CellKey, published: PublishedRelease) -> Published[CubeKey]:
    value = published.values[rkey]
    if value is MASKED:
        return Published(key, None, published.reasons[rkey])
    return Published(key, value)
