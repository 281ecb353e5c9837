"""Star validation against the Star definition in the mappings, on malformed input."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ltcbridge.mapping import load_mappings
from ltcbridge.provider.distance import distance_travelled
from ltcbridge.provider.stars import Reading, star_problems

MAPPINGS = load_mappings()
STAR = MAPPINGS.stars["star-wellbeing"]

any_value = st.one_of(
    st.integers(-20, 30), st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.booleans()
)
area = st.one_of(st.sampled_from(STAR.areas), st.text(min_size=1, max_size=12))


def _sound(name: str, value: Any) -> bool:
    return (
        name in STAR.areas
        and isinstance(value, int)
        and not isinstance(value, bool)
        and STAR.min_score <= value <= STAR.max_score
    )


@given(st.dictionaries(area, any_value, max_size=10))
def test_a_reading_is_accepted_exactly_when_every_score_is_sound(scores: dict[str, Any]) -> None:
    problems = star_problems(MAPPINGS, "star-wellbeing", scores)
    sound = bool(scores) and all(_sound(name, value) for name, value in scores.items())
    assert (problems == []) == sound, (scores, problems)
    for name, value in scores.items():
        if not _sound(name, value):
            assert any(name in p or repr(name) in p for p in problems), (name, problems)


def test_an_unknown_star_is_named() -> None:
    assert "not a Star" in star_problems(MAPPINGS, "star-unknown", {"x": 1})[0]


@given(
    st.lists(
        st.tuples(
            st.dates(), st.dictionaries(st.sampled_from(STAR.areas), st.integers(1, 10), min_size=1)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_distance_travelled_is_latest_minus_baseline_for_areas_scored_in_both(
    readings: list[tuple[Any, dict[str, int]]],
) -> None:
    by_date = dict(readings)  # one sitting a day: the later reading in the list wins
    distance = distance_travelled(
        [Reading("star-wellbeing", day, scores) for day, scores in readings], "star-wellbeing"
    )
    if len(by_date) < 2:
        assert distance is None  # no progress without two sittings
        return
    baseline, latest = by_date[min(by_date)], by_date[max(by_date)]
    assert distance is not None
    assert distance.change == {
        name: latest[name] - score for name, score in baseline.items() if name in latest
    }
    assert distance.overall == sum(distance.change.values())
