"""Disclosure-controlled counts to FHIR MeasureReports (contract section 3), validated.

This module only ever sees a ``Cube`` of counts and the published values decided by disclosure
control: no person-level data can reach it, so none can reach the feed.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ltcbridge.aggregate.cube import CellKey, Cube
from ltcbridge.aggregate.cube import month_end_int as _month_end_int
from ltcbridge.aggregate.outcomes import MEASURE_GROUP_CODES, STAR_GROUP_SUFFIXES
from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.disclosure.cells import Published, round_count
from ltcbridge.errors import LtcbridgeError
from ltcbridge.uris import (
    DATA_ABSENT_REASON,
    MEASURE_GROUP_SYSTEM,
    MEASURE_POPULATION,
    ODS_CODE,
    SCORE_TOTAL_EXTENSION,
)

_INITIAL_POPULATION = {"coding": [{"system": MEASURE_POPULATION, "code": "initial-population"}]}


def measure_reports(
    cube: Cube, published: Mapping[CellKey, Published[CellKey]], rounding: int = 1
) -> list[dict[str, Any]]:
    """One MeasureReport per reporting organisation, each validated against FHIR R4B.

    Scores (a mean per person, with the cohort total rounded like a count) appear only beside a
    published count: a masked count's score is masked with it.
    """
    scores = _Scores(cube, published, rounding)
    return _validated_all([_report(cube, org, published, scores) for org in cube.orgs])


@dataclass(frozen=True)
class _Scores:
    cube: Cube
    published: Mapping[CellKey, Published[CellKey]]
    rounding: int

    def add(self, element: dict[str, Any], key: CellKey) -> dict[str, Any]:
        """``element`` (a group or stratum) with its score, when the cell has one."""
        total = self.cube.scores.get(key)
        if total is None:
            return element
        count = self.published[key].value
        if count is None:
            element["extension"] = [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]
            return element
        true_count = _true_count(self.cube, key)
        if true_count:
            unit = self.cube.score_units[key[1]]
            mean = round(total / true_count, 1) + 0.0  # + 0.0: never a -0.0 mean
            element["measureScore"] = {"value": mean, "unit": unit}
        rounded = round(total)
        sign = -1 if rounded < 0 else 1
        element["extension"] = [
            {
                "url": SCORE_TOTAL_EXTENSION,
                "valueDecimal": sign * round_count(abs(rounded), self.rounding),
            }
        ]
        return element


def _true_count(cube: Cube, key: CellKey) -> int:
    org, group, name, stratum = key
    o, g = cube.orgs.index(org), cube.groups.index(group)
    if name is None:
        return int(cube.totals[o, g])
    return int(cube.strata[name][o, g, cube.strata_of(name).index(stratum or "")])


def group_system(code: str) -> str:
    """Concept codes are the concept CodeSystem's; the outcome measures' own groups are not."""
    return (
        MEASURE_GROUP_SYSTEM
        if code in MEASURE_GROUP_CODES or code.endswith(STAR_GROUP_SUFFIXES)
        else CONCEPT_SYSTEM
    )


def report_id(cube: Cube, org: str) -> str:
    slug = cube.measure.rstrip("/").rsplit("/", 1)[-1]
    return f"{slug}-{org}-{cube.month}"


def _report(
    cube: Cube, org: str, published: Mapping[CellKey, Published[CellKey]], scores: _Scores
) -> dict:
    end = str(_month_end_int(cube.month))
    return {
        "resourceType": "MeasureReport",
        "id": report_id(cube, org),
        "status": "complete",
        "type": "summary",
        "measure": cube.measure,
        "period": {"start": f"{cube.month}-01", "end": f"{end[:4]}-{end[4:6]}-{end[6:]}"},
        "reporter": {"identifier": {"system": ODS_CODE, "value": org}},
        "group": [_group(cube, org, group, published, scores) for group in cube.groups],
    }


def _group(
    cube: Cube, org: str, group: str, published: Mapping[CellKey, Published], scores: _Scores
) -> dict:
    total = (org, group, None, None)
    element = {
        "code": {"coding": [{"system": group_system(group), "code": group}]},
        "population": [_population(published[total])],
        "stratifier": [
            {
                "code": [{"text": name}],
                "stratum": [
                    _stratum(published, scores, (org, group, name, stratum))
                    for stratum in cube.strata_of(name)
                ],
            }
            for name in cube.strata
        ],
    }
    return scores.add(element, total)


def _stratum(published: Mapping[CellKey, Published], scores: _Scores, key: CellKey) -> dict:
    stratum = {"value": {"coding": [{"code": key[3]}]}, "population": [_population(published[key])]}
    return scores.add(stratum, key)


def _population(cell: Published) -> dict[str, Any]:
    if cell.value is None:
        return {
            "code": _INITIAL_POPULATION,
            "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}],
        }
    return {"code": _INITIAL_POPULATION, "count": cell.value}


# Validating a report with fhir.resources costs about 10 ms (it builds a model per element). With
# this many reports or more, and on Linux, half of them are validated in a forked process while
# this one validates the other half: each report is still validated once, in full.
PARALLEL_VALIDATION_FROM = 8


def _validated_all(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every report validated against FHIR R4B; raises for the first invalid one."""
    if len(reports) < PARALLEL_VALIDATION_FROM or not _can_fork():
        for report in reports:
            _validated(report)
        return reports
    half = len(reports) // 2
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the second half; it reports the first problem, if any, and exits
        status = 0
        try:
            gc.disable()  # a collection would touch (and so copy) every page of the parent's
            os.close(read_end)
            message = memoryview(_first_problem(reports[half:]).encode("utf-8"))
            while message:
                message = message[os.write(write_end, message) :]
        except BaseException:  # never let the child run on into the parent's code
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        for report in reports[:half]:
            _validated(report)
        with os.fdopen(read_end, "rb") as pipe:
            read_end = -1
            problem = pipe.read().decode("utf-8")
    finally:
        if read_end >= 0:
            os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if problem:
        raise LtcbridgeError(problem)
    if status != 0:
        for report in reports[half:]:  # the child failed without saying why: do its half here
            _validated(report)
    return reports


def _can_fork() -> bool:
    return sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1


def _first_problem(reports: list[dict[str, Any]]) -> str:
    """The message for the first report that fails validation, or "" when all pass."""
    for report in reports:
        try:
            _validated(report)
        except LtcbridgeError as exc:
            return str(exc)
    return ""


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
