"""Constants the hub tests share (a module of its own: importing from conftest is ambiguous
when several test folders have one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.rules import ReleaseRules, rules_extension
from ltcbridge.hub.synthetic import measure_report, population

PERIODS = ("2026-09", "2026-10")

HUB_CONFIG = """
[hub]
name = "Demo ICB"
icb = "QHM"
months = ["2026-08", "2026-09", "2026-10"]
[practices]
Y00011 = "U00001"
Y00012 = "U00001"
Y00013 = "U00001"
Y00021 = "U00002"
Y00022 = "U00002"
Y00023 = "U00002"
Y00029 = "U00002"
[pcn_names]
U00001 = "Riverside PCN"
[commissioned]
need-physical-activity = "Walking groups in both PCNs from April 2026"
[tariff]
support-high = 275
"""


def meta(sender: str = "Y00011", period: str = "2026-10", sequence: int = 1,
         release_id: str | None = None) -> ReleaseMeta:  # fmt: skip
    return ReleaseMeta(release_id or f"r-{sender}-{period}-{sequence}", "DSA-1", sender, "QHM",
                       period, sequence, "2026-11-01T00:00:00+00:00",
                       ("https://ltcbridge.github.io/fhir/Measure/unmet-need",))  # fmt: skip


# -- outcome measures, hand-built in the feed's shape (docs/counting-rules.md, further measures) --
FHIR = "https://ltcbridge.github.io/fhir"
REFERRALS = f"{FHIR}/Measure/referrals"
SUPPORT_LEVEL = f"{FHIR}/Measure/support-level"
STAR = f"{FHIR}/Measure/star-distance-travelled"
NHS_USE = f"{FHIR}/Measure/nhs-use"
CONCEPT = f"{FHIR}/CodeSystem/concept"
MEASURE_GROUP = f"{FHIR}/CodeSystem/measure-group"
SCORE_TOTAL = f"{FHIR}/StructureDefinition/score-total"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MASKED = {"url": DATA_ABSENT, "valueCode": "masked"}
_UNITS = {STAR: "points", NHS_USE: "units"}

# A cell: a count (None: masked), or (count, score total) for a group or provider stratum with a
# score. The builder writes measureScore (mean, 1 dp) and the score-total extension beside a
# published count, and neither (but data-absent-reason masked) beside a masked one.
Value = int | None | tuple[int | None, float | None]


def outcome_report(
    measure: str,
    org: str,
    period: str,
    groups: Mapping[str, Value],
    providers: Mapping[str, Mapping[str, Value]] | None = None,
) -> dict[str, Any]:
    """One practice's (or PCN's) MeasureReport for a month: ``groups`` by code, and for outcome
    measures ``providers[group][provider ODS or 'none']`` as the ``provider`` breakdown. Each
    group also gets a ``sex`` breakdown (all its people in one stratum, no score), as the feed's
    usual breakdowns carry no scores."""
    report = measure_report(org, period, {}, measure)
    report["group"] = []
    for code, value in groups.items():
        count, total = value if isinstance(value, tuple) else (value, None)
        element = {"code": {"coding": [{"system": _system(code), "code": code}]}}
        element.update(_cell(count, total, _unit(measure, code)))
        element["stratifier"] = [
            {"code": [{"text": "sex"}],
             "stratum": [{"value": {"coding": [{"code": "female"}]},
                          "population": [population(count)]}]},
        ]  # fmt: skip
        if providers is not None and code in providers:
            strata = []
            for provider, cell in providers[code].items():
                p_count, p_total = cell if isinstance(cell, tuple) else (cell, None)
                stratum = {"value": {"coding": [{"code": provider}]}}
                stratum.update(_cell(p_count, p_total, _unit(measure, code)))
                strata.append(stratum)
            element["stratifier"].append({"code": [{"text": "provider"}], "stratum": strata})
        report["group"].append(element)
    return report


def _cell(count: int | None, total: float | None, unit: str | None) -> dict[str, Any]:
    if count is None:
        return {"population": [population(None)], "extension": [MASKED]}
    cell: dict[str, Any] = {"population": [population(count)]}
    if total is not None:
        if count:
            cell["measureScore"] = {"value": round(total / count, 1), "unit": unit}
        cell["extension"] = [{"url": SCORE_TOTAL, "valueDecimal": total}]
    return cell


def _system(code: str) -> str:
    concept = code.startswith(("need-", "support-", "referral-", "wb-")) or code == "star-wellbeing"
    return CONCEPT if concept else MEASURE_GROUP


def _unit(measure: str, code: str) -> str | None:
    return "GBP" if code.startswith("nhs-cost-") else _UNITS.get(measure)


# The hand-built outcome reports publish small counts unmasked beside masked ones (1..7): what
# an agreement with a recipient inside the practice sends.
INTERNAL_RULES = ReleaseRules("DSA-1", threshold=7, rounding=1, secondary=False,
                              internal_recipient=True)  # fmt: skip


def with_rules(report: dict[str, Any], rules: ReleaseRules) -> dict[str, Any]:
    """The report carrying the disclosure-rules extension, as a release's reports do."""
    return {**report, "extension": [rules_extension(rules)]}


def release(sender: str, period: str, reports: list[dict[str, Any]], sequence: int = 1,
            rules: ReleaseRules | None = INTERNAL_RULES
            ) -> tuple[ReleaseMeta, list[dict[str, Any]]]:  # fmt: skip
    """A release of the reports, as add_release takes it (with ``rules`` on every report)."""
    if rules is not None:
        reports = [with_rules(report, rules) for report in reports]
    measures = tuple(sorted({r["measure"] for r in reports}))
    return ReleaseMeta(f"r-{sender}-{period}-{sequence}", "DSA-1", sender, "QHM", period, sequence,
                       "2026-11-01T00:00:00+00:00", measures), reports  # fmt: skip
