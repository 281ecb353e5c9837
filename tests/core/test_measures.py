"""Referrals and support levels count like unmet need: against the generator's truth."""

from __future__ import annotations

from typing import Any

import pytest

from ltcbridge.identifiable.measures import count_measure
from ltcbridge.measure_catalogue import SUPPORT_LEVEL, ConceptMeasure


def _counted(measure: ConceptMeasure, population, mappings, months) -> dict[tuple, int]:  # type: ignore[no-untyped-def]
    found = {}
    for level in ("practice", "pcn"):
        for month in months:
            cube = count_measure(measure, population, month, level=level, pcn_of=mappings.pcn_of)
            for (org, group, _, _), count in cube.cells():
                if count:
                    found[(level, org, month, group)] = count
    return found


@pytest.mark.parametrize(
    ("measure", "rows", "group_of"),
    [
        (SUPPORT_LEVEL, "support_level", lambda row: row["group"]),
    ],
)
def test_concept_measures_match_the_truth(
    measure: ConceptMeasure, rows: str, group_of: Any, truth, synthetic_population,
    synthetic_mappings,
) -> None:  # fmt: skip
    expected = {(r["level"], r["org"], r["month"], group_of(r)): r["count"] for r in truth[rows]}
    assert expected, "the fixtures must exercise this measure"
    months = sorted({key[2] for key in expected})
    assert _counted(measure, synthetic_population, synthetic_mappings, months) == expected


OUTCOME_TRUTH = {
    "referrals": ("https://ltcbridge.github.io/fhir/Measure/referrals", "referrals"),
    "star": ("https://ltcbridge.github.io/fhir/Measure/star-distance-travelled", "star_distance"),
    "nhs-use": ("https://ltcbridge.github.io/fhir/Measure/nhs-use", "nhs_use"),
}


@pytest.mark.parametrize("name", sorted(OUTCOME_TRUTH))
def test_outcome_measures_match_the_truth_every_month_level_and_stratum(
    name: str, truth, synthetic_population, synthetic_mappings
) -> None:  # type: ignore[no-untyped-def]
    from core_data import WINDOW

    from ltcbridge.agreement import parse_agreement
    from ltcbridge.pipeline import count_measures

    canonical, rows = OUTCOME_TRUTH[name]
    expected = {
        (r["level"], r["org"], r["month"], r["group"], r["stratifier"], r["stratum"]):
        (r["count"], r.get("score_total"))
        for r in truth[rows]
    }  # fmt: skip
    months = sorted({key[2] for key in expected})
    assert len(months) >= 3, "the fixtures must exercise this measure in several months"
    found = {}
    for level in ("practice", "pcn"):
        agreement = parse_agreement({
            "agreement": {"id": "T", "recipient": "QHM", "internal_recipient": True} | WINDOW,
            "disclosure": {"threshold": 0, "rounding": 1},
            "breakdowns": {"allowed": ["age-band", "sex", "ethnicity-group", "imd-quintile",
                                       "provider"], "level": level},
            "unit_costs": truth["unit_costs"],
        })  # fmt: skip
        for month in months:
            for cube in count_measures(synthetic_population, synthetic_mappings, agreement, month):
                if cube.measure != canonical:
                    continue
                for key, count in cube.cells():
                    if count:
                        score = cube.scores.get(key)
                        found[(level, key[0], month, *key[1:])] = (
                            count, None if score is None else int(score)
                        )  # fmt: skip
    assert found == expected
