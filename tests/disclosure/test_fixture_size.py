"""A release the size of the fixtures (two PCNs of three practices, every breakdown), whole."""

from __future__ import annotations

import random

import pytest

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules, Release
from ltcbridge.disclosure.secondary import protect
from ltcbridge.disclosure.split import independent_parts
from ltcbridge.disclosure.synthetic import build_release, icb_shape, random_people


def fixture_sized(pcns: int = 2) -> Release:
    """8 groups x (total + 4 stratifiers x 6 strata) for each PCN and practice: 1,600 cells."""
    shape = icb_shape(pcns=pcns, practices_per_pcn=3)
    return build_release(shape, random_people(shape, random.Random(7), 60))


@pytest.mark.parametrize("rounding", [5, 1])
def test_fixture_sized_release_is_protected_and_audits_clean(rounding: int) -> None:
    release = fixture_sized()
    rules = DisclosureRules(threshold=7, rounding=rounding)
    published = protect(release, rules)
    assert len(release.cells) == 1600
    assert audit(published, rules) == []
    primary = [k for k, v in release.cells.items() if rules.is_primary(v)]
    assert primary and all(published.values[k] is MASKED for k in primary)
    secondary = [k for k, reason in published.reasons.items() if reason == "secondary"]
    assert 0 < len(secondary) < 0.1 * len(release.cells)  # complements are few


def test_parts_share_no_relation_and_workers_change_nothing() -> None:
    release = fixture_sized()
    parts = independent_parts(release)
    assert len(parts) == 2  # one per PCN with its practices
    assert sum(len(part.cells) for part, _ in parts) == len(release.cells)
    assert sum(len(part.constraints) for part, _ in parts) == len(release.constraints)
    rules = DisclosureRules(threshold=7, rounding=5)
    alone, together = protect(release, rules, workers=1), protect(release, rules, workers=2)
    assert alone.values == together.values
    assert alone.reasons == together.reasons
