"""Property-based: random releases of realistic shape; the exact attacker must find nothing."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules
from ltcbridge.disclosure.secondary import protect
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
