"""Referrals and support levels count like unmet need: against the generator's truth."""

from __future__ import annotations

from typing import Any

import pytest

from ltcbridge.aggregate.measures import SUPPORT_LEVEL, ConceptMeasure, count_measure


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
