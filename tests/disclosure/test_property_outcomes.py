"""Property-based: releases shaped like the outcome measures (subset groups, groups of the same
people, a provider breakdown), several measures protected together; the exact attacker must find
nothing."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcbridge.counts import Cube, GroupRelation
from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules
from ltcbridge.disclosure.from_cube import disclose_cubes
from ltcbridge.identifiable.counting import Strata, count_people

SETTINGS = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
MONTH = "2026-10"


def _referrals(rng: np.random.Generator, people: int, orgs: list[str], strata: Strata) -> Cube:
    """made; accepted and declined, each a random subset of made (a person may be in both)."""
    person = np.arange(people)
    accepted = person[rng.random(people) < 0.5]
    declined = person[rng.random(people) < 0.3]
    return _cube("referrals", orgs, strata, people, rng,
                 ("made", "accepted", "declined"),
                 [person, accepted, declined],
                 (GroupRelation("accepted", "<=", "made"),
                  GroupRelation("declined", "<=", "made")))  # fmt: skip


def _cohort(rng: np.random.Generator, people: int, orgs: list[str], strata: Strata) -> Cube:
    """A cohort and two groups of exactly the same people (like NHS use before and after)."""
    person = np.arange(people)[rng.random(people) < 0.6]
    return _cube("nhs-use", orgs, strata, people, rng,
                 ("cohort", "before", "after"), [person, person, person],
                 (GroupRelation("before", "==", "cohort"),
                  GroupRelation("after", "==", "cohort")))  # fmt: skip


def _cube(measure, orgs, strata, people, rng, groups, members, relations) -> Cube:  # type: ignore[no-untyped-def]
    person_org = rng.integers(0, len(orgs), people)
    who = np.concatenate(members)
    group = np.concatenate([np.full(len(m), g) for g, m in enumerate(members)])
    return count_people(
        measure=measure, month=MONTH, level="practice", orgs=orgs, groups=groups,
        person_org=person_org, memberships=(who, group), strata=strata,
        stratifiers=("sex", "provider"), relations=relations,
    )  # fmt: skip


@st.composite
def releases(draw: st.DrawFn) -> list[Cube]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    people = draw(st.sampled_from([6, 15, 40]))
    orgs = [f"P{i}" for i in range(draw(st.integers(1, 2)))]
    providers = [f"NTP{i}" for i in range(draw(st.integers(1, 3)))]
    sex = rng.integers(0, 3, people)
    provider = rng.integers(-1, len(providers), people)
    strata = Strata({"sex": sex}).with_provider(provider, providers)
    # the same rng draws people per cube, but the strata are fixed per person
    return [_referrals(rng, people, orgs, strata), _cohort(rng, people, orgs, strata)]


rules_strategy = st.builds(
    DisclosureRules, threshold=st.sampled_from([3, 7]), rounding=st.sampled_from([1, 5])
)


@SETTINGS
@given(releases(), rules_strategy)
def test_attacker_finds_nothing_in_outcome_shaped_releases(
    cubes: list[Cube], rules: DisclosureRules
) -> None:
    per_cube, published = disclose_cubes(cubes, rules, secondary=True)
    assert audit(published, rules) == []
    for cube, cells in zip(cubes, per_cube, strict=True):
        for key, true in cube.cells():
            if rules.is_primary(true):
                assert cells[key].value is None
            if true == 0:
                assert published.values[(cube.measure, MONTH, *key)] == 0
    masked = [k for k, v in published.values.items() if v is MASKED]
    for key in masked:  # groups of the same people are masked together
        if key[3] == "before":
            assert published.values[(key[0], key[1], key[2], "cohort", key[4], key[5])] is MASKED
