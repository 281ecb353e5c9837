"""Synthetic releases with the shape the counting code produces, for tests and benchmarks.

Counts come from simulated people, so every relation the counter declares really holds: strata
add up to their group, a PCN is the sum of its practices, each need domain is at most need-any and
need-any is at most the sum of the domains.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ltcbridge.disclosure.cells import CellKey, LinearConstraint, Release

ANY = "need-any"
TOTAL = ("total", "")


@dataclass(frozen=True)
class Shape:
    """Which organisations, groups and breakdowns a release has."""

    pcns: tuple[tuple[str, tuple[str, ...]], ...]  # (pcn, its practices)
    domains: tuple[str, ...]
    stratifiers: tuple[tuple[str, tuple[str, ...]], ...]  # (stratifier, its strata)
    month: str = "2026-10"

    @property
    def groups(self) -> tuple[str, ...]:
        return (*self.domains, ANY)

    @property
    def practices(self) -> list[str]:
        return [p for _, practices in self.pcns for p in practices]


@dataclass(frozen=True)
class Person:
    """One person with unmet need recorded in the month: where, which needs, which strata."""

    practice: str
    domains: frozenset[str]
    strata: tuple[str, ...]  # one per stratifier, in Shape order


def icb_shape(
    pcns: int = 10,
    practices_per_pcn: int = 10,
    domains: int = 7,
    strata: int = 6,
    stratifiers: int = 4,
) -> Shape:
    """An ICB-like shape: every practice in one PCN, every breakdown allowed."""
    return Shape(
        pcns=tuple(
            (f"PCN{i:02d}", tuple(f"P{i:02d}{j:02d}" for j in range(practices_per_pcn)))
            for i in range(pcns)
        ),
        domains=tuple(f"domain-{d}" for d in range(domains)),
        stratifiers=tuple(
            (f"strat-{s}", tuple(f"s{v}" for v in range(strata))) for s in range(stratifiers)
        ),
    )


def random_people(shape: Shape, rng: random.Random, mean_per_practice: float) -> list[Person]:
    """People with skewed sizes: practices differ, popular domains and strata dominate."""
    people: list[Person] = []
    domain_weights = [1.0 / (1 + d) for d in range(len(shape.domains))]
    for practice in shape.practices:
        size = max(0, round(rng.gauss(mean_per_practice, mean_per_practice / 2)))
        for _ in range(size):
            how_many = min(len(shape.domains), 1 + int(rng.expovariate(1.5)))
            chosen = set(rng.choices(shape.domains, domain_weights, k=how_many))
            strata = tuple(
                rng.choices(values, [1.0 / (1 + v) for v in range(len(values))])[0]
                for _, values in shape.stratifiers
            )
            people.append(Person(practice, frozenset(chosen), strata))
    return people


def build_release(shape: Shape, people: Sequence[Person]) -> Release:
    """Count people into every cell and declare every relation a reader knows."""
    cells = {key: 0 for key in _all_keys(shape)}
    pcn_of = {p: pcn for pcn, practices in shape.pcns for p in practices}
    for person in people:
        for org in (person.practice, pcn_of[person.practice]):
            for group in (*sorted(person.domains), ANY):
                cells[(org, shape.month, group, *TOTAL)] += 1
                for (name, _), value in zip(shape.stratifiers, person.strata, strict=True):
                    cells[(org, shape.month, group, name, value)] += 1
    return Release(cells=cells, constraints=list(_constraints(shape)))


def _breakdowns(shape: Shape) -> list[tuple[str, str]]:
    return [TOTAL] + [(name, value) for name, values in shape.stratifiers for value in values]


def _orgs(shape: Shape) -> list[str]:
    return [org for pcn, practices in shape.pcns for org in (pcn, *practices)]


def _all_keys(shape: Shape) -> list[CellKey]:
    return [
        (org, shape.month, group, *breakdown)
        for org in _orgs(shape)
        for group in shape.groups
        for breakdown in _breakdowns(shape)
    ]


def _constraints(shape: Shape) -> list[LinearConstraint]:
    return [*_strata_sums(shape), *_pcn_sums(shape), *_need_any_relations(shape)]


def _strata_sums(shape: Shape) -> list[LinearConstraint]:
    out = []
    for org in _orgs(shape):
        for group in shape.groups:
            for name, values in shape.stratifiers:
                terms = [((org, shape.month, group, *TOTAL), -1)]
                terms += [((org, shape.month, group, name, v), 1) for v in values]
                out.append(LinearConstraint(tuple(terms), "=="))
    return out


def _pcn_sums(shape: Shape) -> list[LinearConstraint]:
    out = []
    for pcn, practices in shape.pcns:
        for group in shape.groups:
            for breakdown in _breakdowns(shape):
                terms = [((pcn, shape.month, group, *breakdown), -1)]
                terms += [((p, shape.month, group, *breakdown), 1) for p in practices]
                out.append(LinearConstraint(tuple(terms), "=="))
    return out


def _need_any_relations(shape: Shape) -> list[LinearConstraint]:
    out = []
    for org in _orgs(shape):
        for breakdown in _breakdowns(shape):
            anyone = (org, shape.month, ANY, *breakdown)
            domains = [(org, shape.month, d, *breakdown) for d in shape.domains]
            out += [LinearConstraint(((d, 1), (anyone, -1)), "<=") for d in domains]
            out.append(LinearConstraint(((anyone, 1), *((d, -1) for d in domains)), "<="))
    return out
