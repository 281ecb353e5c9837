"""The checks every release passes before the store sees it, whether received or loaded.

``hub receive`` (sealed releases) and ``hub load`` (folders of MeasureReports) run the same
checks, so a folder is no back door: the release holds MeasureReports only, for a month
``YYYY-MM``, each from the release's sender, for that month, of a listed measure, in the
contract's shape; all carry the same disclosure rules (``hub.rules``), naming the release's
agreement; and no unmasked count is one those rules could not have sent: a count of
1..threshold (unless rounding made it of a larger one, or the agreement is for a recipient
inside the practice, ``internalRecipient``), or a count off the rounding.
"""

from __future__ import annotations

from typing import Any

from ltcbridge.feed.measure_report import ReportError, figures
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.rules import ReleaseRules, RulesError, rules_of
from ltcbridge.period import PERIOD

LOCAL_AGREEMENT = "local-load"  # the agreement id of releases made by ``hub load``


class ReleaseProblem(ReportError):
    """A release fails a check; ``reason`` is the short code recorded with the rejection."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def check_release(meta: ReleaseMeta, reports: list[Any], fallback: ReleaseRules) -> ReleaseRules:
    """The rules the release was published under (its own, else ``fallback``), or a
    ReleaseProblem naming the first thing wrong."""
    if not reports:
        raise ReleaseProblem("empty-release", "the release carries no MeasureReport")
    if not PERIOD.match(meta.period):
        raise ReleaseProblem("bad-period", f"period {meta.period!r} is not a month YYYY-MM")
    for report in reports:
        _check_header(meta, report)
    rules = release_rules(reports)
    if rules is None:
        rules = fallback
    elif meta.agreement_id != LOCAL_AGREEMENT and rules.agreement not in (None, meta.agreement_id):
        raise ReleaseProblem(
            "agreement-mismatch",
            f"the reports' disclosure rules are agreement {rules.agreement!r}, the signed "
            f"release's agreement is {meta.agreement_id!r}",
        )
    for report in reports:
        _check_counts(report, rules)
    return rules


def release_rules(reports: list[Any]) -> ReleaseRules | None:
    """The one set of rules the release's reports carry (None: they carry none); a
    ReleaseProblem when they disagree or the extension is malformed."""
    found = set()
    for report in reports:
        try:
            found.add(rules_of(report))
        except RulesError as exc:
            raise ReleaseProblem("malformed", f"MeasureReport {report.get('id')}: {exc}") from None
    if len(found) > 1:
        raise ReleaseProblem(
            "rules-mismatch",
            "the release's MeasureReports carry different disclosure rules (some none): one "
            "release is published under one agreement",
        )
    return found.pop() if found else None


def _check_header(meta: ReleaseMeta, report: Any) -> None:
    if not isinstance(report, dict) or report.get("resourceType") != "MeasureReport":
        kind = report.get("resourceType") if isinstance(report, dict) else type(report).__name__
        raise ReleaseProblem("malformed", f"bundle holds a {kind}, not only MeasureReports")
    reporter = _path(report, "reporter", "identifier", "value")
    if not isinstance(reporter, str):
        raise ReleaseProblem(
            "malformed",
            f"MeasureReport {report.get('id')}: reporter.identifier.value (the sender's ODS "
            "code) is missing or not a string",
        )
    if reporter != meta.sender:
        raise ReleaseProblem(
            "reporter-mismatch",
            f"MeasureReport {report.get('id')} reports for {reporter}, but the release is "
            f"from {meta.sender}: a sender may only send its own figures",
        )
    start = str(_path(report, "period", "start") or "")
    if not start.startswith(meta.period):
        raise ReleaseProblem(
            "period-mismatch",
            f"MeasureReport {report.get('id')} is for {start[:7] or 'no period'}, the release "
            f"for {meta.period}",
        )
    if meta.measures and report.get("measure") not in meta.measures:
        raise ReleaseProblem(
            "measure-mismatch",
            f"MeasureReport {report.get('id')} measures {report.get('measure')}, not listed in "
            "the release",
        )


def _check_counts(report: dict[str, Any], rules: ReleaseRules) -> None:
    """Every unmasked count is one the rules could send: else the practice's disclosure
    control was bypassed (a small count in the clear) or the rules are not the ones used."""
    try:
        for figure in figures(report):
            if figure.count is None or rules.could_publish(figure.count):
                continue
            where = ".".join(p for p in (figure.group, figure.stratifier, figure.stratum) if p)
            if rules.is_small(figure.count) and not rules.internal_recipient:
                raise ReleaseProblem(
                    "unmasked-small-count",
                    f"MeasureReport {report.get('id')}: {where} is an unmasked count of 1 to "
                    f"{rules.threshold}, which the agreement says must be masked (the count "
                    "is not repeated here); only an agreement with an internal recipient may "
                    "send such counts",
                )
            raise ReleaseProblem(
                "unrounded-count",
                f"MeasureReport {report.get('id')}: {where} is not a count its disclosure "
                f"rules ({rules.describe()}) can send (not a multiple of the rounding)",
            )
    except ReleaseProblem:
        raise
    except ReportError as exc:
        raise ReleaseProblem("malformed", str(exc)) from None


def _path(data: Any, *keys: str) -> Any:
    """data[k1][k2]... or None where an element is missing or not an object."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
