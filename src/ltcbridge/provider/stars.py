"""Star readings: checked against the Star's definition in the mappings, written in contract form.

A Star's areas and score range are data (the concept CodeSystem in mappings/), never code, so a
new Star or a licence-holder's correction needs no release. A reading is checked before it is
written: a score out of range or an unknown area would mislead the GP and the commissioner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.errors import LtcbridgeError
from ltcbridge.mapping import Mappings, StarDefinition


class StarReadingError(LtcbridgeError):
    """A Star reading does not fit its Star's definition; ``problems`` says each thing to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Reading:
    """One person's scores on one Star on one day (``scores``: area concept -> score)."""

    star: str
    date: dt.date
    scores: Mapping[str, int]


def star_problems(mappings: Mappings, star: str, scores: Mapping[str, Any]) -> list[str]:
    """Every way ``scores`` breaks the definition of ``star``, in plain words ([] when sound)."""
    definition = mappings.stars.get(star)
    if definition is None:
        known = ", ".join(sorted(mappings.stars)) or "none"
        return [f"{star!r} is not a Star the mappings define (known: {known})"]
    problems = [_unknown_area(definition, area) for area in scores if area not in definition.areas]
    for area in definition.areas:
        if area in scores:
            problems.extend(score_problem(definition, area, scores[area]))
    if not scores:
        problems.append(f"no scores given: a {star} reading needs at least one area scored")
    return problems


def check_reading(mappings: Mappings, reading: Reading) -> Reading:
    """``reading`` unchanged when it fits its Star; raises ``StarReadingError`` otherwise."""
    problems = star_problems(mappings, reading.star, reading.scores)
    if problems:
        raise StarReadingError(problems)
    return reading


def _unknown_area(definition: StarDefinition, area: str) -> str:
    return f"{area!r} is not an area of {definition.code} (areas: {', '.join(definition.areas)})"


def score_problem(definition: StarDefinition, area: str, score: Any) -> list[str]:
    """What is wrong with one area's score ([] when it is a whole number in range)."""
    low, high = definition.min_score, definition.max_score
    if isinstance(score, bool) or not isinstance(score, int):
        return [f"{area}: {score!r} is not a whole number from {low} to {high}"]
    if not low <= score <= high:
        return [f"{area}: {score} is outside {low} to {high}"]
    return []


def star_observation(reading: Reading, *, subject: dict[str, Any]) -> dict[str, Any]:
    """The contract's Star form: code the Star, one component per area with ``valueInteger``.

    Identifier, ``basedOn`` and ``performer`` are the caller's (they tie it to a referral).
    """
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": CONCEPT_SYSTEM, "code": reading.star}]},
        "subject": subject,
        "effectiveDateTime": reading.date.isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": CONCEPT_SYSTEM, "code": area}]},
                "valueInteger": score,
            }
            for area, score in reading.scores.items()
        ],
    }


def reading_from_observation(mappings: Mappings, observation: dict[str, Any]) -> Reading | None:
    """The Reading an Observation in Star form holds; None when it is not one (or retracted)."""
    from ltcbridge.identifiable.read import (
        Reader,  # the one place that knows every coded form of a Star
    )

    record = Reader(mappings).read(observation)
    stars = getattr(record, "stars", ())
    if not stars or record.retracted or not record.date:  # type: ignore[union-attr]
        return None
    date = dt.date.fromisoformat(record.date[:10])  # type: ignore[union-attr]
    return Reading(stars[0].star, date, dict(stars[0].scores))
