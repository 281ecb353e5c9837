"""The MeasureReport shape round-trips: what the gate published is what the hub reads back."""

from __future__ import annotations

from ltcbridge.feed.measure_report import figures, release_reports, report_header
from ltcbridge.hub.rules import rules_of

from .helpers import demo_build


def test_every_published_figure_and_score_reads_back_as_written() -> None:
    build = demo_build()
    protected = build.protected
    read = {
        (f.measure, f.org, f.group, f.stratifier, f.stratum): f
        for report in release_reports(protected)
        for f in figures(report)
    }
    written = {
        (measure.canonical, *key): figure
        for measure in protected.measures
        for key, figure in measure.figures.items()
    }
    assert read.keys() == written.keys() and len(written) > 1000
    for key, figure in written.items():
        back = read[key]
        assert back.count == figure.count and back.masked == (figure.count is None), key
        assert back.score_total == figure.score_total and back.score == figure.mean, key


def test_every_report_names_its_month_org_and_the_rules_it_was_made_under() -> None:
    build = demo_build()
    terms = build.protected.terms
    for report in release_reports(build.protected):
        measure, period, org = report_header(report)
        assert period == terms.period and org in build.protected.orgs and measure
        rules = rules_of(report)
        assert rules is not None
        assert (rules.agreement, rules.threshold, rules.rounding, rules.secondary) == (
            terms.agreement_id, terms.threshold, terms.rounding, terms.secondary,
        )  # fmt: skip
        assert report["date"].endswith("Z")
