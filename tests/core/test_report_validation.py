"""Validating a release's MeasureReports part by part still finds any fault in any report, in
the caller's process: a library call never forks."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import _parts, _validated_all

POPULATION = {"coding": [{"system": "http://example.org/pop", "code": "initial-population"}]}


def _report(number: int, count: Any = 8, score: Any = 1.5) -> dict[str, Any]:
    """A summary report of one practice; its numbers vary, its shape does not."""
    stratum = {
        "value": {"text": "female"},
        "population": [{"code": POPULATION, "count": count}],
        "measureScore": {"value": score},
    }
    return {
        "resourceType": "MeasureReport",
        "id": f"report-{number}",
        "status": "complete",
        "type": "summary",
        "measure": "https://example.org/Measure/unmet-need",
        "period": {"start": "2026-10-01", "end": "2026-10-31"},
        "group": [
            {
                "code": {"text": "need-any"},
                "population": [{"code": POPULATION, "count": number + 10}],
                "stratifier": [{"code": [{"text": "sex"}], "stratum": [stratum]}],
            }
        ],
    }


def test_reports_that_differ_only_in_their_numbers_share_their_group_part() -> None:
    reports = [_report(n, count=n + 1, score=(n + 1) / 3) for n in range(12)]
    assert len(_parts(reports)) == 12 + 1  # each report's top level, and the one group shape
    assert _validated_all(reports) == reports
    reports[5] = _report(5, count=0, score=0.0)  # zero may be valid where a positive is not
    assert len(_parts(reports)) == 12 + 2


def test_strata_met_before_are_validated_once_and_a_new_one_in_full() -> None:
    reports = [_report(n) for n in range(12)]
    for report in reports:  # every report: the same three strata, but for the numbers
        stratifier = report["group"][0]["stratifier"][0]
        stratum = stratifier["stratum"][0]
        stratifier["stratum"] = [{**stratum, "value": {"text": t}} for t in ("a", "b", "c")]
    parts = _parts(reports)
    strata = [s for p in parts for g in p.get("group", ()) for s in g["stratifier"][0]["stratum"]]
    # the three strata in the first report's group; the others' groups, once, with the first
    assert len(strata) == 3 + 1
    reports[11]["group"][0]["stratifier"][0]["stratum"][2]["measureScore"] = {"value": None}
    assert _validated_all(reports) is reports  # a score may be absent
    reports[7]["group"][0]["stratifier"][0]["stratum"][1]["measureScore"] = {"value": float("nan")}
    with pytest.raises(LtcbridgeError, match="report-7 is not valid FHIR R4B"):
        _validated_all(reports)  # NaN, which JSON would write as null, is still caught


@pytest.mark.parametrize(
    "fault",
    [
        {"count": "eight"},  # text where FHIR wants an integer
        {"count": 2**40},  # an integer beyond FHIR's 32 bits
        {"score": "high"},
    ],
)
def test_a_fault_in_any_report_is_found(fault: dict[str, Any]) -> None:
    reports = [_report(n) for n in range(12)]
    reports[9] = _report(9, **fault)
    with pytest.raises(LtcbridgeError, match="report-9 is not valid FHIR R4B"):
        _validated_all(reports)


def test_a_fault_in_a_report_s_own_elements_is_found() -> None:
    reports = [_report(n) for n in range(12)]
    reports[10]["id"] = "report 10 has spaces"
    with pytest.raises(LtcbridgeError, match="not valid FHIR R4B"):
        _validated_all(reports)


def test_many_reports_are_validated_without_forking(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> int:
        raise AssertionError("a library call forked")

    monkeypatch.setattr(os, "fork", refuse)
    reports = [_report(n) for n in range(24)]
    assert _validated_all(reports) is reports
    reports[23] = _report(23, count="many")
    with pytest.raises(LtcbridgeError, match="MeasureReport report-23 is not valid FHIR R4B"):
        _validated_all(reports)
