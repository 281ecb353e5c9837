"""Property-based: random releases of realistic shape; the exact attacker must find nothing."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules
from ltcbridge.disclosure.secondary import UnprotectableError, protect
from ltcbridge.disclosure.synthetic import (
    Person,
    Shape,
    build_release,
    icb_shape,
    random_people,
)

SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@st.composite
def populations(draw: st.DrawFn) -> tuple[Shape, list[Person], random.Random]:
    """Small ICB-like shapes (PCNs of practices, need domains plus need-any, stratifiers)."""
    shape = icb_shape(
        pcns=draw(st.integers(1, 2)),
        practices_per_pcn=draw(st.integers(1, 3)),
        domains=draw(st.integers(1, 3)),
        strata=draw(st.integers(2, 3)),
        stratifiers=draw(st.integers(1, 2)),
    )
    rng = random.Random(draw(st.integers(0, 2**32)))
    mean = draw(st.sampled_from([4, 12, 30]))
    return shape, random_people(shape, rng, mean), rng


rules_strategy = st.builds(
    DisclosureRules, threshold=st.sampled_from([3, 7]), rounding=st.sampled_from([1, 5])
)


@SETTINGS
@given(populations(), rules_strategy)
def test_attacker_finds_nothing(
    drawn: tuple[Shape, list[Person], random.Random], rules: DisclosureRules
) -> None:
    shape, people, _ = drawn
    release = build_release(shape, people)
    published = protect(release, rules)
    assert audit(published, rules) == []
    for key, value in release.cells.items():
        assert (published.values[key] is MASKED) == (key in published.reasons)
        if rules.is_primary(value):
            assert published.reasons[key] == "primary"
        if value == 0:
            assert published.values[key] == 0


@SETTINGS
@given(populations(), rules_strategy)
def test_attacker_finds_nothing_across_a_revised_month(
    drawn: tuple[Shape, list[Person], random.Random], rules: DisclosureRules
) -> None:
    """The same month sent twice, the second time with a few late entries added."""
    shape, people, rng = drawn
    first = protect(build_release(shape, people), rules)
    late = random_people(shape, rng, mean_per_practice=1.5)
    published = protect(build_release(shape, people + late), rules, history=[first])
    assert audit(published, rules, history=[first]) == []
    for key, value in first.values.items():
        if value is MASKED:
            assert published.values[key] is MASKED


@SETTINGS
@given(populations(), st.lists(st.tuples(st.sampled_from(["late", "retract", "same"]),
                                         st.sampled_from([(7, 5), (5, 5), (10, 5), (7, 10)])),
                               min_size=2, max_size=4))  # fmt: skip
def test_attacker_finds_nothing_across_random_sequences_of_releases(
    drawn: tuple[Shape, list[Person], random.Random], steps: list[tuple[str, tuple[int, int]]]
) -> None:
    """A random sequence of releases of the same month: entries added late or retracted, each
    release under its own rules (recipients compare notes, so every release is history for the
    next). Each is either refused as unprotectable, or narrows nothing of anything sent."""
    shape, people, rng = drawn
    history: list = []
    for change, (threshold, rounding) in steps:
        if change == "late":
            people = people + random_people(shape, rng, mean_per_practice=1.5)
        elif change == "retract" and people:
            people = rng.sample(people, k=max(0, len(people) - rng.randint(1, 3)))
        rules = DisclosureRules(threshold=threshold, rounding=rounding)
        try:
            published = protect(build_release(shape, people), rules, history=history)
        except UnprotectableError:
            continue  # refused with the reason: nothing left, nothing recorded
        assert audit(published, rules, history=history) == []
        masked_before = {k for past in history for k, v in past.values.items() if v is MASKED}
        assert all(published.values[k] is MASKED for k in masked_before if k in published.values)
        history.append(published)
