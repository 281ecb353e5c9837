"""The outcome measures on a small record worked out by hand (tests/core/outcome_data.py)."""

from __future__ import annotations

import pytest
from outcome_data import COSTS, MONTH, write_record

from ltcbridge.concepts import PROVIDER
from ltcbridge.counts import Cube
from ltcbridge.identifiable.outcomes import (
    Scope,
    count_nhs_use,
    count_referrals,
    count_star_distance,
)
from ltcbridge.identifiable.population import Population, build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import Mappings, load_mappings


@pytest.fixture(scope="module")
def population_and_mappings(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Population, Mappings]:
    path = write_record(tmp_path_factory.mktemp("outcomes") / "export.ndjson")
    mappings = load_mappings([])
    columns = scan_source(path, mappings, months=[MONTH])
    assert not columns.quarantine, [q.describe() for q in columns.quarantine]
    return build_population(columns), mappings


# The agreement allows the provider breakdown (the counting adds it only then).
BY_PROVIDER = Scope(MONTH, stratifiers=(PROVIDER,))


def _figures(cube: Cube) -> dict[tuple[str, str | None, str | None], int]:
    return {(group, name, stratum): n for (_, group, name, stratum), n in cube.cells() if n}


def test_referrals_made_accepted_and_declined(population_and_mappings) -> None:  # type: ignore[no-untyped-def]
    population, _ = population_and_mappings
    cube = count_referrals(population, BY_PROVIDER)
    figures = _figures(cube)
    totals = {g: n for (g, name, _), n in figures.items() if name is None}
    assert totals == {"referral-lead-provider": 4, "referral-accepted": 1, "referral-declined": 2}
    providers = {s: n for (g, name, s), n in figures.items()
                 if g == "referral-lead-provider" and name == "provider"}  # fmt: skip
    assert providers == {"NTP01": 1, "NTP02": 1, "none": 2}  # p4 and p6 had no provider answer
    assert cube.labels["provider"] == ("NTP01", "NTP02", "none")


def test_star_distance_travelled(population_and_mappings) -> None:  # type: ignore[no-untyped-def]
    population, mappings = population_and_mappings
    areas = mappings.stars["star-wellbeing"].areas
    cube = count_star_distance(population, BY_PROVIDER, "star-wellbeing", areas, 0)
    totals = {g: n for (g, name, _), n in _figures(cube).items() if name is None}
    assert totals == {
        "star-wellbeing": 2, "star-wellbeing-improved": 1, "star-wellbeing-reviewed-year-on": 1,
        "star-wellbeing-improved-year-on": 1, "wb-money": 1,
        **{a: 2 for a in areas if a != "wb-money"},
    }  # fmt: skip
    org = "A81001"
    assert cube.scores[(org, "star-wellbeing", None, None)] == 14 - 8
    assert cube.scores[(org, "wb-lifestyle", None, None)] == 2 - 1
    assert cube.scores[(org, "wb-money", None, None)] == -1
    assert cube.scores[(org, "star-wellbeing", "provider", "NTP01")] == 14
    assert cube.scores[(org, "star-wellbeing", "provider", "none")] == -8


def test_nhs_use_before_and_after(population_and_mappings) -> None:  # type: ignore[no-untyped-def]
    population, _ = population_and_mappings
    cube = count_nhs_use(population, BY_PROVIDER, COSTS)
    totals = {g: n for (g, name, _), n in _figures(cube).items() if name is None}
    assert set(totals.values()) == {1} and "nhs-use-cohort" in totals
    org = "A81001"
    scores = {g: cube.scores[(org, g, None, None)] for g in cube.score_units}
    assert scores == {
        "gp-attendances-before": 1, "gp-attendances-after": 0,
        "ae-attendances-before": 1, "ae-attendances-after": 0,
        "prescriptions-before": 0, "prescriptions-after": 2,
        "unplanned-admissions-before": 0, "unplanned-admissions-after": 1,
        "nhs-cost-before": 42 + 180, "nhs-cost-after": 2 * 9 + 1850,
    }  # fmt: skip
    assert cube.scores[(org, "nhs-cost-after", "provider", "NTP01")] == 2 * 9 + 1850


def test_nhs_use_cohort_is_empty_in_other_months(population_and_mappings) -> None:  # type: ignore[no-untyped-def]
    population, _ = population_and_mappings
    cube = count_nhs_use(population, Scope("2026-09", stratifiers=(PROVIDER,)), COSTS)
    assert not _figures(cube)


def test_no_provider_breakdown_unless_the_scope_has_it(population_and_mappings) -> None:  # type: ignore[no-untyped-def]
    """The provider stratifier (counts and scores) comes only from an agreement that allows it:
    the same population, counted without it, has the same totals and no provider anywhere."""
    population, mappings = population_and_mappings
    areas = mappings.stars["star-wellbeing"].areas
    for count in (
        lambda scope: count_referrals(population, scope),
        lambda scope: count_nhs_use(population, scope, COSTS),
        lambda scope: count_star_distance(population, scope, "star-wellbeing", areas, 0),
    ):
        by_provider, plain = count(BY_PROVIDER), count(Scope(MONTH, stratifiers=("sex",)))
        assert PROVIDER in by_provider.strata and PROVIDER not in plain.strata
        assert not [key for key in plain.scores if key[2] == PROVIDER]
        with_provider = [key for key in by_provider.scores if key[2] == PROVIDER]
        assert bool(with_provider) == bool(by_provider.scores)  # scores by provider only then
        assert (plain.totals == by_provider.totals).all()
