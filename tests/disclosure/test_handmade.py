"""Hand-made releases where a naive release leaks a small cell and `protect` must not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules, Release
from ltcbridge.disclosure.secondary import protect

from .helpers import at_most, at_most_sum, primary_only, total_of

EXACT = DisclosureRules(threshold=7, rounding=1)
ROUNDED = DisclosureRules(threshold=7, rounding=5)


def sex_table(female: int, male: int) -> Release:
    return Release(
        cells={"total": female + male, "female": female, "male": male},
        constraints=[total_of("total", ["female", "male"])],
    )


@pytest.mark.parametrize("rules", [EXACT, ROUNDED])
def test_total_minus_a_published_stratum_is_prevented(rules: DisclosureRules) -> None:
    release = sex_table(female=3, male=17)
    assert [f.key for f in audit(primary_only(release, EXACT), EXACT)] == ["female"]
    published = protect(release, rules)
    assert published.values["female"] is MASKED
    assert published.reasons["female"] == "primary"
    assert audit(published, rules) == []


def test_rounding_alone_can_protect_a_difference() -> None:
    # total in 18..22 and male in 13..17 leave female anywhere in 1..9: no complement needed.
    published = protect(sex_table(female=3, male=17), ROUNDED)
    assert published.values == {"total": 20, "female": MASKED, "male": 15}


def test_exact_figures_need_a_complement() -> None:
    published = protect(sex_table(female=3, male=17), EXACT)
    assert set(published.reasons.values()) == {"primary", "secondary"}


def test_attacker_reports_the_range_it_found() -> None:
    (finding,) = audit(primary_only(sex_table(female=3, male=17), EXACT), EXACT)
    assert (finding.feasible_min, finding.feasible_max, finding.true_value) == (3, 3, 3)


def need_release() -> Release:
    """Cooking and walking by sex, with need-any; the men with need all cook, none walk."""
    cells = {
        ("cooking", "total"): 12, ("cooking", "female"): 3, ("cooking", "male"): 9,
        ("walking", "total"): 20, ("walking", "female"): 20, ("walking", "male"): 0,
        ("any", "total"): 30, ("any", "female"): 21, ("any", "male"): 9,
    }  # fmt: skip
    constraints = []
    for group in ("cooking", "walking", "any"):
        constraints.append(total_of((group, "total"), [(group, "female"), (group, "male")]))
    for stratum in ("total", "female", "male"):
        domains = [("cooking", stratum), ("walking", stratum)]
        constraints += [at_most(d, ("any", stratum)) for d in domains]
        constraints.append(at_most_sum(("any", stratum), domains))
    return Release(cells=cells, constraints=constraints)


def test_need_any_recovers_a_complement_chosen_one_table_at_a_time() -> None:
    release = need_release()
    per_table = primary_only(release, EXACT)
    values = dict(per_table.values)
    values[("cooking", "male")] = MASKED  # the complement tau-Argus would pick in this table
    per_table = replace(per_table, values=values)
    assert [f.key for f in audit(per_table, EXACT)] == [("cooking", "female")]


@pytest.mark.parametrize("rules", [EXACT, ROUNDED])
def test_need_any_against_a_single_domain(rules: DisclosureRules) -> None:
    published = protect(need_release(), rules)
    assert published.values[("cooking", "female")] is MASKED
    assert audit(published, rules) == []


@pytest.mark.parametrize("rules", [EXACT, ROUNDED])
def test_pcn_of_two_practices_with_one_masked(rules: DisclosureRules) -> None:
    release = Release(
        cells={"pcn": 23, "practice-a": 4, "practice-b": 19},
        constraints=[total_of("pcn", ["practice-a", "practice-b"])],
    )
    assert audit(primary_only(release, EXACT), EXACT) != []
    published = protect(release, rules)
    assert published.reasons["practice-a"] == "primary"
    secondary = [k for k, reason in published.reasons.items() if reason == "secondary"]
    assert len(secondary) == (1 if rules is EXACT else 0)  # rounding alone covers 23 - 19
    assert audit(published, rules) == []


def test_zero_is_published_as_zero_and_never_masked() -> None:
    published = protect(sex_table(female=0, male=40), EXACT)
    assert published.values == {"total": 40, "female": 0, "male": 40}
    assert published.reasons == {}


def test_rounding_never_turns_a_count_into_zero() -> None:
    rules = DisclosureRules(threshold=0, rounding=5)
    published = protect(sex_table(female=1, male=12), rules)
    assert published.values == {"total": 15, "female": 5, "male": 10}


def test_two_breakdowns_of_the_same_group() -> None:
    # total = female + male = young + old; masking within one breakdown is not enough alone.
    release = Release(
        cells={"total": 40, "female": 5, "male": 35, "young": 12, "old": 28},
        constraints=[total_of("total", ["female", "male"]), total_of("total", ["young", "old"])],
    )
    for rules in (EXACT, ROUNDED):
        published = protect(release, rules)
        assert audit(published, rules) == []
