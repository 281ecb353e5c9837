"""Disclosure-controlled counts to FHIR MeasureReports (contract section 3), validated.

This module only ever sees a ``Cube`` of counts and the published values decided by disclosure
control: no person-level data can reach it, so none can reach the feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.measurereport import MeasureReport

from ltcbridge.aggregate.cube import CellKey, Cube
from ltcbridge.aggregate.cube import month_end_int as _month_end_int
from ltcbridge.concepts import CONCEPT_SYSTEM, STRATIFIERS
from ltcbridge.disclosure.cells import Published
from ltcbridge.errors import LtcbridgeError
from ltcbridge.uris import DATA_ABSENT_REASON, MEASURE_POPULATION, ODS_CODE

_INITIAL_POPULATION = {"coding": [{"system": MEASURE_POPULATION, "code": "initial-population"}]}


def measure_reports(
    cube: Cube, published: Mapping[CellKey, Published[CellKey]]
) -> list[dict[str, Any]]:
    """One MeasureReport per reporting organisation, each validated against FHIR R4B."""
    return [_validated(_report(cube, org, published)) for org in cube.orgs]


def report_id(cube: Cube, org: str) -> str:
    slug = cube.measure.rstrip("/").rsplit("/", 1)[-1]
    return f"{slug}-{org}-{cube.month}"


def _report(cube: Cube, org: str, published: Mapping[CellKey, Published[CellKey]]) -> dict:
    end = str(_month_end_int(cube.month))
    return {
        "resourceType": "MeasureReport",
        "id": report_id(cube, org),
        "status": "complete",
        "type": "summary",
        "measure": cube.measure,
        "period": {"start": f"{cube.month}-01", "end": f"{end[:4]}-{end[4:6]}-{end[6:]}"},
        "reporter": {"identifier": {"system": ODS_CODE, "value": org}},
        "group": [_group(cube, org, group, published) for group in cube.groups],
    }


def _group(cube: Cube, org: str, group: str, published: Mapping[CellKey, Published]) -> dict:
    return {
        "code": {"coding": [{"system": CONCEPT_SYSTEM, "code": group}]},
        "population": [_population(published[(org, group, None, None)])],
        "stratifier": [
            {
                "code": [{"text": name}],
                "stratum": [
                    {
                        "value": {"coding": [{"code": stratum}]},
                        "population": [_population(published[(org, group, name, stratum)])],
                    }
                    for stratum in STRATIFIERS[name]
                ],
            }
            for name in cube.strata
        ],
    }


def _population(cell: Published) -> dict[str, Any]:
    if cell.value is None:
        return {
            "code": _INITIAL_POPULATION,
            "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}],
        }
    return {"code": _INITIAL_POPULATION, "count": cell.value}


def _validated(report: dict[str, Any]) -> dict[str, Any]:
    try:
        MeasureReport.model_validate(report)
    except Exception as exc:  # pydantic's ValidationError, whatever its version calls it
        raise LtcbridgeError(
            f"internal error: MeasureReport {report['id']} is not valid FHIR R4B ({exc}); "
            "please report this as a bug"
        ) from exc
    return report
