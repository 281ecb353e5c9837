"""MeasureReports are validated in the caller's process: a library call never forks."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed import measure_report


def _report(n: int, count: Any = 10) -> dict[str, Any]:
    return {
        "resourceType": "MeasureReport",
        "id": f"report-{n}",
        "status": "complete",
        "type": "summary",
        "measure": "https://example.org/Measure/unmet-need",
        "period": {"start": "2026-10-01", "end": "2026-10-31"},
        "group": [{"population": [{"count": count}]}],
    }


@pytest.fixture
def no_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> int:
        raise AssertionError("a library call forked")

    monkeypatch.setattr(os, "fork", refuse)


@pytest.mark.usefixtures("no_fork")
def test_many_reports_are_validated_without_forking() -> None:
    reports = [_report(n) for n in range(24)]
    assert measure_report._validated_all(reports) is reports


@pytest.mark.usefixtures("no_fork")
def test_an_invalid_report_among_many_is_named() -> None:
    reports = [_report(n) for n in range(23)] + [_report(23, count="many")]
    with pytest.raises(LtcbridgeError, match="MeasureReport report-23 is not valid FHIR R4B"):
        measure_report._validated_all(reports)
