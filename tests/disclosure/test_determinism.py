"""Same input, same output: a release can be rebuilt and checked bit for bit."""

from __future__ import annotations

import random

from ltcbridge.disclosure.cells import DisclosureRules, Release
from ltcbridge.disclosure.secondary import protect
from ltcbridge.disclosure.synthetic import build_release, icb_shape, random_people


def _release(seed: int) -> Release:
    shape = icb_shape(pcns=2, practices_per_pcn=3, domains=3, strata=3, stratifiers=2)
    return build_release(shape, random_people(shape, random.Random(seed), 20))


def test_same_input_same_output() -> None:
    for rounding in (1, 5):
        rules = DisclosureRules(threshold=7, rounding=rounding)
        first, second = protect(_release(3), rules), protect(_release(3), rules)
        assert first.values == second.values
        assert list(first.reasons.items()) == list(second.reasons.items())


def test_history_is_honoured_deterministically() -> None:
    rules = DisclosureRules(threshold=7, rounding=5)
    history = [protect(_release(4), rules)]
    first = protect(_release(5), rules, history)
    second = protect(_release(5), rules, history)
    assert first.values == second.values
    assert first.reasons == second.reasons
