"""The FHIR Measure resources behind the feed's canonicals, so that each canonical means something.

A MeasureReport names its Measure by canonical URL; a commissioner's tool can resolve that URL to
one of these definitions: its groups, what each counts, its breakdowns and, for scored groups,
what the score is. They are built from the same group lists the counters use (never typed twice),
with the rule book's words, and validated with fhir.resources R4B.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.measure import Measure

from ltcbridge.concepts import (
    NEED_ANY,
    NHS_USE_COHORT,
    PROVIDER,
    STAR_GROUP_SUFFIXES,
    STRATIFIERS,
    nhs_use_groups,
)
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import group_system
from ltcbridge.mapping import Mappings
from ltcbridge.measure_catalogue import (
    NHS_USE_MEASURE,
    REFERRAL_GROUPS,
    REFERRALS,
    STAR_DISTANCE,
    SUPPORT_LEVEL,
    UNMET_NEED,
)
from ltcbridge.uris import MEASURE_GROUP_SYSTEM, MEASURE_POPULATION

VERSION = "0.1.0"
RULES = "https://github.com/ltcbridge/ltcbridge/blob/main/docs/counting-rules.md"
_SCORED = "continuous-variable"
_WORDS = {
    NEED_ANY: "people with an unmet need in any domain",
    "referral-lead-provider": "people referred to the lead provider in the month",
    "referral-accepted": "of those, people whose referral a provider accepted",
    "referral-declined": "of those, people whose referral was declined (by the provider or them)",
    NHS_USE_COHORT: "people whose six months after a provider's intervention ended in the month",
    "-improved": "of those reviewed, people whose total score rose",
    "-reviewed-year-on": "of those reviewed, people reviewed at least 12 months after baseline",
    "-improved-year-on": "of those reviewed a year on, people whose total score rose",
}


def measure_definitions(mappings: Mappings) -> list[dict[str, Any]]:
    """Every Measure the feed can report, validated."""
    definitions = [
        _measure(UNMET_NEED.canonical, "Unmet need", UNMET_NEED.groups, outcome=False),
        _measure(REFERRALS, "Referrals made, accepted and declined", REFERRAL_GROUPS),
        _measure(SUPPORT_LEVEL.canonical, "Support levels", SUPPORT_LEVEL.groups, outcome=False),
        *(_star(mappings, star, i) for i, star in enumerate(sorted(mappings.stars))),
        _measure(
            NHS_USE_MEASURE,
            "NHS use in the six months before and after a provider's intervention",
            nhs_use_groups(costed=True),
            scored={g: _nhs_words(g) for g in nhs_use_groups(costed=True)[1:]},
            words=dict.fromkeys(nhs_use_groups(costed=True)[1:], "the cohort"),
        ),
    ]
    return [_validated(d) for d in definitions]


def measure_group_codes(definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The CodeSystem of the group codes of ``definitions`` that are not ltcbridge concepts."""
    codes = {
        g["code"]["coding"][0]["code"]: g["description"]
        for measure in definitions
        for g in measure["group"]
        if g["code"]["coding"][0]["system"] == MEASURE_GROUP_SYSTEM
    }
    system = {
        "resourceType": "CodeSystem",
        "id": "ltcbridge-measure-group",
        "url": MEASURE_GROUP_SYSTEM,
        "version": VERSION,
        "name": "LtcbridgeMeasureGroup",
        "title": "Groups of the ltcbridge outcome measures that are not concepts",
        "status": "active",
        "content": "complete",
        "count": len(codes),
        "concept": [{"code": c, "display": d[:1].upper() + d[1:]} for c, d in codes.items()],
    }
    CodeSystem.model_validate(system)
    return system


def write_definitions(mappings: Mappings, directory: Path | str) -> list[dict[str, Any]]:
    """Write every definition as ``Type-id.json`` into ``directory``; returns them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    definitions = measure_definitions(mappings)
    resources = [*definitions, measure_group_codes(definitions)]
    for resource in resources:
        path = directory / f"{resource['resourceType']}-{resource['id']}.json"
        path.write_bytes(orjson.dumps(resource, option=orjson.OPT_INDENT_2) + b"\n")
    return resources


def _star(mappings: Mappings, star: str, index: int) -> dict[str, Any]:
    areas = mappings.stars[star].areas
    groups = (star, *(star + suffix for suffix in STAR_GROUP_SUFFIXES), *areas)
    scored = {star: "change in total score, baseline to review (mean per person)"}
    scored |= {area: f"change in {area}, baseline to review (mean per person)" for area in areas}
    canonical = STAR_DISTANCE if index == 0 else f"{STAR_DISTANCE}-{star}"
    words = {star: "people with a review in the month after an earlier baseline reading"}
    words |= dict.fromkeys(areas, "of those reviewed, people with this area scored both times")
    return _measure(
        canonical, f"Distance travelled on the {star} Star", groups, scored=scored, words=words
    )


def _nhs_words(group: str) -> str:
    kind, _, window = group.rpartition("-")
    unit = "£ at the agreement's unit costs" if kind == "nhs-cost" else "units"
    return f"{kind.replace('-', ' ')} in the six months {window} ({unit}, mean per person)"


def _measure(
    canonical: str,
    title: str,
    groups: tuple[str, ...],
    *,
    outcome: bool = True,
    scored: dict[str, str] | None = None,
    words: dict[str, str] | None = None,
) -> dict[str, Any]:
    name = canonical.rsplit("/", 1)[-1]
    stratifiers = (*STRATIFIERS, PROVIDER) if outcome else tuple(STRATIFIERS)
    return {
        "resourceType": "Measure",
        "id": name,
        "url": canonical,
        "version": VERSION,
        "name": "".join(part.title() for part in name.split("-")),
        "title": title,
        "status": "active",
        "publisher": "ltcbridge",
        "description": f"{title}: distinct people per reporting organisation and month. "
        f"Counting rules: {RULES}",
        "scoring": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/measure-scoring",
                    "code": _SCORED if scored else "cohort",
                }
            ]
        },
        "group": [
            _group(g, stratifiers, (scored or {}).get(g), (words or {}).get(g)) for g in groups
        ],
    }


def _group(
    code: str, stratifiers: tuple[str, ...], score: str | None, words: str | None
) -> dict[str, Any]:
    words = (
        words
        or _WORDS.get(code)
        or next(
            (w for suffix, w in _WORDS.items() if suffix.startswith("-") and code.endswith(suffix)),
            f"people with an entry asserting {code} in the month",
        )
    )
    group: dict[str, Any] = {
        "code": {"coding": [{"system": group_system(code), "code": code}]},
        "description": words + (f"; score: {score}" if score else ""),
        "population": [
            {
                "code": {"coding": [{"system": MEASURE_POPULATION, "code": "initial-population"}]},
                "criteria": {"language": "text/plain", "expression": words},
            }
        ],
        "stratifier": [
            {
                "code": {"text": name},
                "criteria": {"language": "text/plain", "expression": _stratifier_words(name)},
            }
            for name in stratifiers
        ],
    }
    return group


def _stratifier_words(name: str) -> str:
    if name == PROVIDER:
        return "the provider (ODS code) behind the person's answer or reading; 'none' without one"
    return f"one of {', '.join(STRATIFIERS[name])}"


def _validated(definition: dict[str, Any]) -> dict[str, Any]:
    try:
        Measure.model_validate(definition)
    except Exception as exc:  # pydantic's ValidationError
        raise LtcbridgeError(
            f"internal error: Measure {definition['id']} is not valid: {exc}"
        ) from exc
    return definition
