"""Scores (means and totals) say nothing about a count that the published counts do not."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ltcbridge.counts import Cube
from ltcbridge.disclosure.gate import protect_release
from ltcbridge.disclosure.protected import ProtectedMeasure, ReleaseTerms

TERMS = ReleaseTerms("DSA-T", "QHM", "jsna", "2026-10", "practice", 7, 5, True, False)
STAR = "https://ltcbridge.github.io/fhir/Measure/star-distance-travelled"


def _star_cube(
    total_count: int, total_score: float, strata: list[int], scores: list[float]
) -> Cube:
    """One practice, one scored group, broken down by provider (the only scored breakdown)."""
    labels = tuple(f"P{i}" for i in range(len(strata)))
    cube = Cube(
        measure=STAR,
        month="2026-10",
        level="practice",
        orgs=["Y00011"],
        groups=["star-wellbeing"],
        totals=np.array([[total_count]]),
        strata={"provider": np.array([[strata]])},
        labels={"provider": labels},
        score_units={"star-wellbeing": "points"},
        score_bounds={"star-wellbeing": (-9.0, 9.0)},
    )
    cube.scores[("Y00011", "star-wellbeing", None, None)] = total_score
    for label, score in zip(labels, scores, strict=True):
        cube.scores[("Y00011", "star-wellbeing", "provider", label)] = score
    return cube


def _figures(cube: Cube) -> ProtectedMeasure:
    (measure,) = protect_release([cube], TERMS).protected.measures
    return measure


def test_the_mean_is_the_published_total_over_the_published_count() -> None:
    """With the true mean beside a total rounded to 5, the count was exact (total / mean)."""
    measure = _figures(_star_cube(23, 61.0, [12, 11], [30.0, 31.0]))
    whole = measure.figures[("Y00011", "star-wellbeing", None, None)]
    assert whole.count == 25 and whole.score_total == 60
    assert whole.mean == round(60 / 25, 1)  # not 61 / 23 = 2.65...


def test_a_breakdown_with_a_masked_stratum_shows_no_stratum_score() -> None:
    """Else the masked stratum's total is the group's minus the others'."""
    measure = _figures(_star_cube(25, 80.0, [22, 3], [70.0, 10.0]))
    whole = measure.figures[("Y00011", "star-wellbeing", None, None)]
    assert whole.score_total is not None
    for stratum in ("P0", "P1"):
        assert (
            measure.figures[("Y00011", "star-wellbeing", "provider", stratum)].score_total is None
        )


def test_a_total_that_would_narrow_its_count_is_withheld() -> None:
    """Published 10 stands for 8..12 people; a total of 100 points at most 9 a person means
    at least 12: shown, it would pin the count. 60 points fits every count from 8."""
    narrowing = _figures(_star_cube(12, 100.0, [12, 0], [100.0, 0.0]))
    assert narrowing.figures[("Y00011", "star-wellbeing", None, None)].count == 10
    assert narrowing.figures[("Y00011", "star-wellbeing", None, None)].score_total is None
    fitting = _figures(_star_cube(12, 60.0, [12, 0], [60.0, 0.0]))
    assert fitting.figures[("Y00011", "star-wellbeing", None, None)].score_total == 60


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.integers(-9, 9), max_size=30), min_size=1, max_size=4))
def test_every_shown_score_fits_every_count_its_count_stands_for(
    providers: list[list[int]],
) -> None:
    """Random people (each a change of -9..9 points) behind random providers: each shown total
    is consistent with every count its published count stands for, each mean is the published
    total over the published count, and no stratum score sits beside a masked stratum."""
    strata = [len(people) for people in providers]
    scores = [float(sum(people)) for people in providers]
    measure = _figures(_star_cube(sum(strata), sum(scores), strata, scores))
    for key, figure in measure.figures.items():
        if figure.score_total is None:
            continue
        assert figure.count is not None
        if figure.count:
            assert figure.mean == round(figure.score_total / figure.count, 1) + 0.0
            counts = range(max(8, figure.count - 2), figure.count + 3)
        else:
            counts = range(0, 1)
        for count in counts:
            assert max(figure.score_total - 2, -9 * count) <= min(figure.score_total + 2, 9 * count)
        if key[2] is not None:
            siblings = [k for k in measure.figures if k[:3] == key[:3]]
            assert all(measure.figures[k].count is not None for k in siblings)
