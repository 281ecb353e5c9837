"""The MeasureReport shape (contract section 3): the one module that writes and reads it.

This module only ever sees a `ProtectedRelease`: published figures, scores computed from them,
and the agreement's terms. No true count and no person-level data can reach it, so none can
reach the feed. Each report is validated against FHIR R4B and carries the agreement it was made
under (the `disclosure-rules` extension), so a recipient can read every range right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ltcbridge.concepts import (
    CONCEPT_SYSTEM,
    MEASURE_GROUP_CODES,
    NO_PROVIDER,
    PROVIDER,
    STAR_GROUP_SUFFIXES,
)
from ltcbridge.disclosure.protected import (
    FigureKey,
    ProtectedMeasure,
    ProtectedRelease,
    PublishedFigure,
    ReleaseTerms,
)
from ltcbridge.errors import LtcbridgeError
from ltcbridge.fhir_problems import MALFORMED, problem_of
from ltcbridge.uris import (
    DATA_ABSENT_REASON,
    DISCLOSURE_RULES_EXTENSION,
    MEASURE_GROUP_SYSTEM,
    MEASURE_POPULATION,
    ODS_CODE,
    SCORE_TOTAL_EXTENSION,
    STRATIFIER_SYSTEM,
    STRATUM_SYSTEM,
)

_INITIAL_POPULATION = {"coding": [{"system": MEASURE_POPULATION, "code": "initial-population"}]}


def release_reports(release: ProtectedRelease) -> list[dict[str, Any]]:
    """Every MeasureReport of a release: one per measure and reporting organisation."""
    return _validated_all(
        [
            _report(measure, org, release.terms)
            for measure in release.measures
            for org in measure.orgs
        ]
    )


def group_system(code: str) -> str:
    """Concept codes are the concept CodeSystem's; the outcome measures' own groups are not."""
    return (
        MEASURE_GROUP_SYSTEM
        if code in MEASURE_GROUP_CODES or code.endswith(STAR_GROUP_SUFFIXES)
        else CONCEPT_SYSTEM
    )


def stratum_system(stratifier: str, value: str) -> str:
    """Each breakdown's strata are codes of their own system; a provider is its ODS code."""
    if stratifier == PROVIDER and value != NO_PROVIDER:
        return ODS_CODE
    return f"{STRATUM_SYSTEM}-{stratifier}"


def report_id(measure: ProtectedMeasure, org: str, period: str) -> str:
    return f"{measure.slug}-{org}-{period}"


def _report(measure: ProtectedMeasure, org: str, terms: ReleaseTerms) -> dict[str, Any]:
    end = _month_end(terms.period)
    return {
        "resourceType": "MeasureReport",
        "id": report_id(measure, org, terms.period),
        "extension": [disclosure_rules(terms)],
        "status": "complete",
        "type": "summary",
        "measure": measure.canonical,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "period": {"start": f"{terms.period}-01", "end": end},
        "reporter": {"identifier": {"system": ODS_CODE, "value": org}},
        "group": [_group(measure, org, group) for group in measure.groups],
    }


def disclosure_rules(terms: ReleaseTerms) -> dict[str, Any]:
    """The agreement a report was made under, so a reader knows what each masked or rounded
    figure can stand for."""
    return {
        "url": DISCLOSURE_RULES_EXTENSION,
        "extension": [
            {"url": "agreement", "valueString": terms.agreement_id},
            {"url": "threshold", "valueInteger": terms.threshold},
            {"url": "rounding", "valueInteger": terms.rounding},
            {"url": "secondary", "valueBoolean": terms.secondary},
            {"url": "internalRecipient", "valueBoolean": terms.internal_recipient},
        ],
    }


def _month_end(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    days = (31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31)[month - 1]  # fmt: skip
    return f"{period}-{days:02d}"


def _group(measure: ProtectedMeasure, org: str, group: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "code": {"coding": [{"system": group_system(group), "code": group}]},
        "population": [_population(measure.figures[(org, group, None, None)])],
        "stratifier": [
            {
                "code": [{"coding": [{"system": STRATIFIER_SYSTEM, "code": name}], "text": name}],
                "stratum": [_stratum(measure, (org, group, name, s), name) for s in strata],
            }
            for name, strata in measure.stratifiers
        ],
    }
    return _with_score(element, measure, (org, group, None, None))


def _stratum(measure: ProtectedMeasure, key: FigureKey, name: str) -> dict[str, Any]:
    stratum = {
        "value": {"coding": [{"system": stratum_system(name, str(key[3])), "code": key[3]}]},
        "population": [_population(measure.figures[key])],
    }
    return _with_score(stratum, measure, key)


def _with_score(element: dict[str, Any], measure: ProtectedMeasure, key: FigureKey) -> dict:
    """A scored group's mean and total, both from published values; withheld when masked or
    when they could narrow a count (the gate decides: `score_total` is then None)."""
    if key[1] not in measure.score_units:
        return element
    figure = measure.figures[key]
    if figure.score_total is None:
        element["extension"] = [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]
        return element
    if figure.mean is not None:
        element["measureScore"] = {"value": figure.mean, "unit": measure.score_units[key[1]]}
    element["extension"] = [{"url": SCORE_TOTAL_EXTENSION, "valueDecimal": figure.score_total}]
    return element


def _population(figure: PublishedFigure) -> dict[str, Any]:
    if figure.count is None:
        return {
            "code": _INITIAL_POPULATION,
            "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}],
        }
    return {"code": _INITIAL_POPULATION, "count": figure.count}


# -- reading: MeasureReports back into figures (the hub's side of the same shape) ---------------
# MeasureReports (contract section 3) flattened into tidy figure rows.
#
# MeasureReports (contract section 3) flattened into tidy figure rows.
#
# One row per population count: the group's own count (stratifier and stratum ``None``) and each
# stratum's. A masked count stays masked (``count`` ``None``, ``masked`` true): the hub never turns
# it into a number, so nothing downstream can mistake it for zero. A score (``measureScore``: the
# mean per person, and the ``score-total`` extension: the cohort's total) is kept beside its count;
# a masked count must carry no score, since a score could give the masked count away.

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
        code = _read_code(group.get("code"), f"group[{index}].code")
        count, masked = _read_population(group, f"group[{index}]")
        yield Figure(measure, period, org, code, None, None, count, masked,
                     *_read_scores(group, masked, f"{org} {period} {code}"))  # fmt: skip
        for stratifier in group.get("stratifier") or []:
            name = _stratifier_name(stratifier)
            for stratum in stratifier.get("stratum") or []:
                value = _read_code(stratum.get("value"), f"{code}.{name}.stratum.value")
                where = f"{code}.{name}.{value}"
                count, masked = _read_population(stratum, where)
                yield Figure(measure, period, org, code, name, value, count, masked,
                             *_read_scores(stratum, masked, f"{org} {period} {where}"))  # fmt: skip


def _read_code(concept: Any, where: str) -> str:
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
    return _read_code(codes[0], "stratifier.code")


def _read_population(element: dict[str, Any], where: str) -> tuple[int | None, bool]:
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


def _read_scores(
    element: dict[str, Any], masked: bool, where: str
) -> tuple[float | None, float | None, str | None]:
    """(mean, total, unit) of a group or stratum; a masked count with a score is refused."""
    measure_score = element.get("measureScore") or {}
    score = _number(measure_score.get("value"))
    total = None
    for extension in element.get("extension") or []:
        if extension.get("url") == SCORE_TOTAL_EXTENSION:
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


_INT32 = range(-(2**31), 2**31)  # FHIR integer


def _validated_all(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every report validated against FHIR R4B, in this process; raises for the first invalid one.

    A report costs about 8 ms (fhir.resources builds a model per element), so each report's top
    level, each distinct group and each distinct stratum are validated once (``_parts``). This
    runs in the caller's process: a library call must not fork (the caller's threads and locks
    would be copied mid-use).
    """
    for part in _parts(reports):
        _validated(part)
    return reports


def _parts(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What validating every report takes: each report without its groups, and each group with
    only the strata not met before, in a report of its own, each distinct such group once (a
    release's reports mostly repeat their groups and strata, but for the numbers).

    A MeasureReport is valid when its top-level elements are, each of its groups is, and each
    stratum of a group is: the model validates each element on its own, and no R4 invariant
    relates one stratum to another. A number's validity depends only on its type, its sign and,
    for an integer, whether FHIR's 32-bit range holds it: so strata and groups are compared with
    their numbers reduced to that (``_number_class``). Each part is still validated in full, and
    a part names the report the stratum or group was first met in."""
    parts: list[dict[str, Any]] = []
    seen_groups: set[str] = set()
    seen_strata = _Seen()
    for report in reports:
        top = {key: value for key, value in report.items() if key != "group"}
        parts.append(top)
        for group in report.get("group") or ():
            reduced = _new_strata_only(group, seen_strata)
            shape = repr(_number_class(reduced))
            if shape not in seen_groups:
                seen_groups.add(shape)
                parts.append({**top, "group": [reduced]})
    return parts


class _Seen:
    """Strata met so far: exactly first (their JSON: cheap), then by ``_number_class``. JSON
    writes NaN and infinities (invalid in FHIR) as null (valid), so JSON holding a null is not
    taken as exact."""

    def __init__(self) -> None:
        self.exact: set[bytes] = set()
        self.shapes: set[str] = set()

    def add(self, stratum: Any) -> bool:
        """Adds a stratum; returns whether it was new."""
        exact = orjson.dumps(stratum)
        if b"null" not in exact:
            if exact in self.exact:
                return False
            self.exact.add(exact)
        shape = repr(_number_class(stratum))
        if shape in self.shapes:
            return False
        self.shapes.add(shape)
        return True


def _new_strata_only(group: dict[str, Any], seen: _Seen) -> dict[str, Any]:
    """``group`` with each stratifier's strata cut to those ``seen`` had not met (the first
    one kept when it had met them all, as a JSON array is never empty)."""
    stratifiers = group.get("stratifier")
    if not isinstance(stratifiers, list):
        return group
    reduced = []
    for stratifier in stratifiers:
        strata = stratifier.get("stratum") if isinstance(stratifier, dict) else None
        if not isinstance(strata, list) or not strata:
            reduced.append(stratifier)
            continue
        new = [stratum for stratum in strata if seen.add(stratum)]
        reduced.append({**stratifier, "stratum": new or strata[:1]})
    return {**group, "stratifier": reduced}


def _number_class(value: Any) -> Any:
    """``value`` with each number replaced by what decides its validity: its type and sign
    (and an integer beyond 32 bits kept as it is)."""
    if isinstance(value, dict):
        return {key: _number_class(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_number_class(item) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and value not in _INT32:
        return value
    sign = (value > 0) - (value < 0) if value == value else value  # NaN stays NaN
    return type(value)(sign)


def load_validator() -> type[Any]:
    """fhir.resources' MeasureReport model. Importing it and its element models costs a few
    tenths of a second, so it happens on first use, or earlier through ``prepare_validation``."""
    from fhir.resources.R4B.measurereport import MeasureReport

    return MeasureReport


def prepare_validation() -> None:
    """Import the model and the element models a report uses (fhir.resources imports those on
    first use), by validating a small report: ``build_feed`` calls this while its workers scan."""
    coded = _INITIAL_POPULATION
    population = {"code": coded, "count": 8}
    stratum = {"value": coded, "population": [population], "measureScore": {"value": 1.0}}
    _validated(
        {
            "resourceType": "MeasureReport",
            "id": "warm-up",
            "status": "complete",
            "type": "summary",
            "measure": "https://example.org/Measure/warm-up",
            "period": {"start": "2026-10-01", "end": "2026-10-31"},
            "group": [
                {
                    "code": coded,
                    "population": [population],
                    "stratifier": [{"code": [{"text": "sex"}], "stratum": [stratum]}],
                    "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}],
                }
            ],
        }
    )


def _validated(report: dict[str, Any]) -> dict[str, Any]:
    try:
        load_validator().model_validate(report)
    except Exception as exc:  # pydantic's ValidationError, whatever its version calls it
        raise LtcbridgeError(
            f"internal error: MeasureReport {report['id']} is not valid FHIR R4B ({exc}); "
            "please report this as a bug"
        ) from exc
    return report
