"""MeasureReports (contract section 3) flattened into tidy figure rows.

One row per population count: the group's own count (stratifier and stratum ``None``) and each
stratum's. A masked count stays masked (``count`` ``None``, ``masked`` true): the hub never turns
it into a number, so nothing downstream can mistake it for zero. A score (``measureScore``: the
mean per person, and the ``score-total`` extension: the cohort's total) is kept beside its count;
a masked count must carry no score, since a score could give the masked count away.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ltcbridge.errors import LtcbridgeError
from ltcbridge.fhir_problems import MALFORMED, problem_of
from ltcbridge.uris import DATA_ABSENT_REASON, ODS_CODE

SCORE_TOTAL = "https://ltcbridge.github.io/fhir/StructureDefinition/score-total"
# Codings in these systems are ltcbridge's own (concepts, groups, stratifiers, strata) or ODS
# codes (provider strata): preferred when a code carries several codings.
OWN_SYSTEMS = ("https://ltcbridge.github.io/fhir/CodeSystem/", ODS_CODE)


class ReportError(LtcbridgeError):
    """A MeasureReport is not in the contract's shape: the whole release is refused."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One published count (or masked cell) of one report."""

    measure: str
    period: str  # YYYY-MM
    org: str
    group: str
    stratifier: str | None
    stratum: str | None
    count: int | None
    masked: bool
    score: float | None  # measureScore.value (mean per person) when the measure reports one
    score_total: float | None = None  # the score-total extension: the cohort's total
    score_unit: str | None = None  # measureScore.unit: points, units, GBP


def report_header(report: dict[str, Any]) -> tuple[str, str, str]:
    """(measure, period YYYY-MM, reporter ODS code), or a ReportError naming what is missing."""
    rid = report.get("id", "(no id)")
    if report.get("resourceType") != "MeasureReport":
        raise ReportError(f"{rid}: not a MeasureReport (resourceType {report.get('resourceType')})")
    try:
        measure = str(report["measure"])
        period = str(report["period"]["start"])[:7]
        org = str(report["reporter"]["identifier"]["value"])
    except (KeyError, TypeError):
        raise ReportError(
            f"{rid}: measure, period.start and reporter.identifier.value are required"
        ) from None
    return measure, period, org


def figures(report: dict[str, Any]) -> Iterator[Figure]:
    """Every figure of one report, group totals first, then its strata; a ReportError naming
    the element when the report is not in the shape the contract gives."""
    try:
        yield from _figures(report)
    except MALFORMED as exc:
        raise malformed_report(report, exc) from None


def malformed_report(resource: Any, exc: Exception) -> ReportError:
    """A ReportError for a report (or the Bundle of a release) whose shape made reading it
    fail, naming the element."""
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return ReportError(f"not a FHIR resource ({type(exc).__name__}: {exc})")
    path, message = problem_of(resource, exc)
    return ReportError(
        f"{resource.get('id', '(no id)')}: {resource['resourceType']}{path} {message}"
    )


def _figures(report: dict[str, Any]) -> Iterator[Figure]:
    measure, period, org = report_header(report)
    for index, group in enumerate(report.get("group") or []):
        code = _code(group.get("code"), f"group[{index}].code")
        count, masked = _population(group, f"group[{index}]")
        yield Figure(measure, period, org, code, None, None, count, masked,
                     *_scores(group, masked, f"{org} {period} {code}"))  # fmt: skip
        for stratifier in group.get("stratifier") or []:
            name = _stratifier_name(stratifier)
            for stratum in stratifier.get("stratum") or []:
                value = _code(stratum.get("value"), f"{code}.{name}.stratum.value")
                where = f"{code}.{name}.{value}"
                count, masked = _population(stratum, where)
                yield Figure(measure, period, org, code, name, value, count, masked,
                             *_scores(stratum, masked, f"{org} {period} {where}"))  # fmt: skip


def _code(concept: Any, where: str) -> str:
    """The code of a CodeableConcept: a coding in one of ltcbridge's systems (current
    releases), else the first coding with a code (releases sent before codings carried a
    system), else its text (stratifiers of older releases carry only a text)."""
    if isinstance(concept, dict):
        codings = [c for c in concept.get("coding") or [] if c.get("code")]
        own = [c for c in codings if str(c.get("system") or "").startswith(OWN_SYSTEMS)]
        for coding in own or codings:
            return str(coding["code"])
        if concept.get("text"):
            return str(concept["text"])
    raise ReportError(f"{where}: needs a coding with a code (or a text)")


def _stratifier_name(stratifier: dict[str, Any]) -> str:
    codes = stratifier.get("code") or [{}]
    return _code(codes[0], "stratifier.code")


def _population(element: dict[str, Any], where: str) -> tuple[int | None, bool]:
    """(count, masked): masked when the data-absent-reason says so; absent otherwise is an error."""
    populations = element.get("population") or []
    if not populations:
        return None, False  # a score-only group (no population count)
    population = populations[0]
    if "count" in population:
        count = population["count"]
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ReportError(f"{where}: count must be a whole number >= 0, not {count!r}")
        return count, False
    for extension in population.get("extension") or []:
        if extension.get("url") == DATA_ABSENT_REASON and extension.get("valueCode") == "masked":
            return None, True
    raise ReportError(f"{where}: a population without a count must carry data-absent-reason masked")


def _scores(
    element: dict[str, Any], masked: bool, where: str
) -> tuple[float | None, float | None, str | None]:
    """(mean, total, unit) of a group or stratum; a masked count with a score is refused."""
    measure_score = element.get("measureScore") or {}
    score = _number(measure_score.get("value"))
    total = None
    for extension in element.get("extension") or []:
        if extension.get("url") == SCORE_TOTAL:
            value = extension.get("valueDecimal", extension.get("valueInteger"))
            total = _number(value)
            if total is None:
                raise ReportError(f"{where}: the score-total extension needs a valueDecimal")
    if masked and (score is not None or total is not None):
        raise ReportError(
            f"{where}: a masked count carries a score; a score beside a masked count could give "
            "the count away, so the release was refused"
        )
    unit = measure_score.get("unit") or measure_score.get("code")
    return score, total, (str(unit) if unit and score is not None else None)


def _number(value: Any) -> float | None:
    """A JSON number as a float; -0.0 (a mean rounded to nothing) becomes 0.0, since SQLite
    stores it as 0 while PostgreSQL keeps the sign, and both stores must export the same."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) + 0.0
    return None
