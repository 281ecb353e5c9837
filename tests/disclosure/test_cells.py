"""Rounding and what a published figure tells an attacker."""

from __future__ import annotations

import pytest

from ltcbridge.disclosure.cells import DisclosureRules, published_interval, round_count


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [(0, 5, 0), (1, 5, 5), (2, 5, 5), (7, 5, 5), (8, 5, 10), (12, 5, 10), (13, 5, 15), (9, 1, 9)],
)
def test_round_count(value: int, rounding: int, expected: int) -> None:
    assert round_count(value, rounding) == expected


@pytest.mark.parametrize("threshold", [0, 2, 7])
@pytest.mark.parametrize("rounding", [1, 2, 5, 10])
def test_published_interval_is_exactly_the_values_that_publish_so(
    threshold: int, rounding: int
) -> None:
    rules = DisclosureRules(threshold=threshold, rounding=rounding)
    shown: dict[int, list[int]] = {}
    for value in range(200):
        if not rules.is_primary(value):
            shown.setdefault(round_count(value, rounding), []).append(value)
    for published, values in shown.items():
        if max(values) < 190:
            low, high = published_interval(published, rules)
            assert list(range(low, high + 1)) == values


def test_rules_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        DisclosureRules(threshold=-1, rounding=5)
