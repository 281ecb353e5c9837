"""The single-file HTML report: NHS.UK look, works offline, accessible.

Everything is inline (styles and SVG charts; no script), so the file can be emailed or opened from
a shared drive without a network. Each chart has a text alternative and a table of its figures;
headings are in order; colours meet WCAG AA contrast on their backgrounds. Masked parts are shown
as ranges, and a section without data says so plainly instead of showing an empty chart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from pathlib import Path

from ltcbridge.concepts import NEED_ANY, NEED_DOMAINS
from ltcbridge.hub.collate import TotalRow
from ltcbridge.hub.report import outcomes_html
from ltcbridge.hub.report.area_totals import AREA_SOURCE, RANGE_SOURCE
from ltcbridge.hub.report.data import CostLine, MeasureView, ReportData, label, measure_name
from ltcbridge.hub.report.html_parts import describe as _describe
from ltcbridge.hub.report.html_parts import details as _details
from ltcbridge.hub.report.html_parts import placeholder as _placeholder
from ltcbridge.hub.report.html_parts import section as _section
from ltcbridge.hub.report.html_parts import table as _table
from ltcbridge.hub.report.svg import Bar, Series, bar_chart, legend, line_chart

_CSS = (Path(__file__).parent / "nhs.css").read_text(encoding="utf-8")
MAX_PCN_CHARTS = 40  # an ICB has tens of PCNs; beyond that a chart each stops being readable


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document."""
    sections = [
        _summary(data),
        _you_said_we_did(data),
        _by_pcn(data),
        _trends(data),
        _inequalities(data),
        _measure_section(data, data.config.star_measure, "star", "Star distance travelled"),
        _measure_section(data, data.config.nhs_use_measure, "nhs-use", "NHS use before and after"),
        _other_measures(data),
        _outcomes(data),
        _costs(data),
        _completeness(data),
        _rejections(data),
        _about(data),
    ]
    title = f"Unmet need in long-term condition care: {data.config.name}"
    return (
        '<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to main content</a>'
        f'<header class="banner"><div class="wrap"><p class="org">{escape(data.config.name)}</p>'
        f"<h1>Unmet need in long-term condition care planning</h1>"
        f"<p>Joint Strategic Needs Assessment evidence from GP care-planning reviews. "
        f"Latest month of unmet need: {escape(data.latest or 'none yet')}. "
        f"Produced {escape(data.generated)}."
        "</p></div></header>"
        f'<main id="main" class="wrap">{_contents()}{"".join(sections)}</main>'
        '<footer class="wrap"><p>Made with ltcbridge. Counts are disclosure-controlled at each '
        "practice: small numbers are masked and never shown as zero.</p></footer></body></html>"
    )


def write_html(data: ReportData, path: Path) -> Path:
    path.write_text(render_html(data), encoding="utf-8")
    return path


# -- sections --------------------------------------------------------------------------------------
_SECTIONS = (
    ("summary", "Summary"),
    ("you-said", "You said, we did"),
    ("by-pcn", "Unmet need by domain in each PCN"),
    ("trends", "Trends by month"),
    ("inequalities", "Inequalities"),
    ("star", "Star distance travelled"),
    ("nhs-use", "NHS use before and after"),
    ("outcomes", "Outcomes by provider"),
    ("costs", "Indicative cost by support level"),
    ("completeness", "Completeness"),
    ("rejections", "Rejected releases"),
    ("about", "About these figures"),
)


def _contents() -> str:
    items = "".join(f'<li><a href="#{sid}">{escape(text)}</a></li>' for sid, text in _SECTIONS)
    return f'<nav aria-label="Contents" class="contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def _summary(data: ReportData) -> str:
    any_need = next((r for r in data.icb_domains if r.group == NEED_ANY), None)
    done = data.completeness
    rate = (
        f"{100 * (1 - done.missing_returns / done.expected_returns):.0f}%"
        if done and done.expected_returns
        else "no expected practices configured"
    )
    cards = [
        (
            "People with any unmet need",
            any_need.total.text() if any_need else "no data yet",
            f"in {data.latest}" if data.latest else "",
        ),
        ("Releases received", f"{data.releases:,}", f"{len(data.rejections)} rejected"),
        ("Practice returns received", rate, f"{len(data.periods)} month(s) of data"),
    ]
    html = "".join(
        f'<div class="card"><p class="card-label">{escape(a)}</p><p class="card-value">'
        f'{escape(b)}</p><p class="card-note">{escape(c)}</p></div>'
        for a, b, c in cards
    )
    return _section("summary", "Summary", f'<div class="cards">{html}</div>{_masking_note(data)}')


def _masking_note(data: ReportData) -> str:
    """How to read ranges, and the disclosure rules they come from (each release's own; the hub
    config's where a release carried none, said so)."""
    rules = "; ".join(
        f"{n:,} release(s) under {described}"
        + (" (they carried no rules: the hub configuration's stand in)" if source != "release"
           else "")
        for described, source, n in data.rules
    )  # fmt: skip
    return (
        '<div class="inset"><p><strong>Reading masked and rounded figures.</strong> Practices '
        "mask small counts and round the others before sending them. A masked count is never "
        "treated as zero: under primary masking it is 1 to the agreement's threshold; under "
        "secondary suppression it can be any size, so totals with such parts are shown as 'at "
        "least'. A rounded count stands for the few counts that round to it. So a total is "
        "shown as the range that contains the true count, drawn as a solid bar (lowest "
        "possible) with a hatched extension (highest possible). "
        f"{escape('Rules of the latest releases: ' + rules + '.' if rules else '')}</p></div>"
    )


def _you_said_we_did(data: ReportData) -> str:
    by_domain = {r.group: r.total for r in data.icb_domains}
    rows = [
        [
            label(d),
            by_domain[d].text() if d in by_domain else "no data yet",
            data.config.commissioned.get(d, "Nothing recorded as commissioned yet"),
        ]
        for d in NEED_DOMAINS
    ]
    intro = (
        f"<p>What people told their practices in {escape(data.latest or 'the reporting period')} "
        "(people with an unmet need in each domain, across the ICB) beside what the commissioner "
        "has commissioned in response (from the hub configuration).</p>"
    )
    body = intro + _table(
        "You said, we did", ["Need domain", "People (you said)", "Commissioned (we did)"], rows
    )
    if not data.config.commissioned:
        body += _placeholder(
            "No commissioning decisions are recorded. Add them under [commissioned] in the hub "
            "configuration, one line per need domain."
        )
    return _section("you-said", "You said, we did", body)


def _by_pcn(data: ReportData) -> str:
    if not data.pcn_domains:
        return _section(
            "by-pcn",
            "Unmet need by domain in each PCN",
            _placeholder("No unmet-need figures have arrived yet."),
        )
    by_org: dict[str, list[TotalRow]] = defaultdict(list)
    for row in data.pcn_domains:
        by_org[row.org].append(row)
    shown = sorted(by_org, key=lambda org: -_any_need(by_org[org]))[:MAX_PCN_CHARTS]
    parts = [
        f"<p>People with an unmet need in each domain, {escape(data.latest or '')}, "
        "by primary care network.</p>"
    ]
    if len(by_org) > MAX_PCN_CHARTS:
        parts.append(
            f"<p>Charts for the {MAX_PCN_CHARTS} of {len(by_org):,} PCNs with the most people "
            "with any unmet need; every PCN is in the table below and in totals.csv.</p>"
        )
    for org in sorted(shown):
        rows = by_org[org]
        name = data.config.pcn_names.get(org, org)
        parts.append(f"<h3>{escape(name)}</h3>")
        bars = [_bar(label(r.group), r) for r in rows]
        parts.append(bar_chart(f"Unmet need by domain, {name}", _describe(bars), bars))
    table_rows = [
        [data.config.pcn_names.get(r.org, r.org), label(r.group), *_people(data, r)]
        for r in data.pcn_domains
    ]
    header = ["PCN", "Need domain", *_people_header(data)]
    parts.append(_area_note(data) + _details("Table of these figures", header, table_rows))
    return _section("by-pcn", "Unmet need by domain in each PCN", "".join(parts))


def _people_header(data: ReportData) -> list[str]:
    """The people columns' headings: one range, or with secure aggregation's figures the exact
    area total first and the range beside it, each saying where it comes from."""
    if data.area_totals is None:
        return ["People"]
    return [f"People: {AREA_SOURCE}", f"People: {RANGE_SOURCE}"]


def _people(data: ReportData, row: TotalRow) -> list[str]:
    """A row's people cells, matching ``_people_header`` (a masked area figure says 'masked',
    never why)."""
    if data.area_totals is None:
        return [row.total.text()]
    return [data.area_totals.text(row), row.total.text()]


def _area_note(data: ReportData) -> str:
    """Which number is which, where a table shows both."""
    if data.area_totals is None:
        return ""
    return (
        f"<p>The table shows two figures for each area. The {escape(AREA_SOURCE)} is the "
        "area's count added up from every practice's exact counts without anyone seeing a "
        "practice's own, then protected as a whole ('masked' when too small to show, 'none' "
        f"where no such total was made). The {escape(RANGE_SOURCE)} adds the practices' own "
        "masked and rounded figures, so it is a range that contains the true count. The "
        "charts show the ranges.</p>"
    )


def _any_need(rows: list[TotalRow]) -> float:
    return next((r.total.midpoint for r in rows if r.group == NEED_ANY), 0.0)


def _trends(data: ReportData) -> str:
    if not data.trends:
        return _section(
            "trends", "Trends by month", _placeholder("No unmet-need figures have arrived yet.")
        )
    series: dict[str, list[tuple[str, float, float | None]]] = defaultdict(list)
    for row in data.trends:
        series[label(row.group)].append((row.period, row.total.low, row.total.high))
    lines = [Series(name, tuple(points)) for name, points in series.items()]
    desc = (
        "People with an unmet need by domain across the ICB, each month from "
        f"{data.periods[0]} to {data.periods[-1]}."
    )
    chart = line_chart("Unmet need by month", desc, lines) + legend(lines)
    rows = [[r.period, label(r.group), *_people(data, r)] for r in data.trends]
    body = (
        f"<p>{escape(desc)} Shaded bands show the range where masked parts make a total "
        "uncertain.</p>"
    )
    return _section(
        "trends",
        "Trends by month",
        body
        + chart
        + _area_note(data)
        + _details("Table of these figures", ["Month", "Need domain", *_people_header(data)], rows),
    )


def _inequalities(data: ReportData) -> str:
    if not data.breakdowns:
        return _section(
            "inequalities",
            "Inequalities",
            _placeholder("No breakdowns have arrived yet (the agreements may not allow them)."),
        )
    parts = [
        f"<p>People with any unmet need, {escape(data.latest or '')}, across the ICB, "
        "by each breakdown the agreements allow.</p>"
    ]
    for stratifier, rows in data.breakdowns.items():
        bars = [_bar(label(r.stratum), r) for r in rows]
        parts.append(f"<h3>{escape(label(stratifier))}</h3>")
        parts.append(
            bar_chart(f"Any unmet need by {label(stratifier).lower()}", _describe(bars), bars)
        )
        parts.append(
            _details(
                f"Table: {label(stratifier)}",
                [label(stratifier), *_people_header(data)],
                [[label(r.stratum), *_people(data, r)] for r in rows],
            )
        )
    return _section("inequalities", "Inequalities", "".join(parts))


def _measure_section(data: ReportData, canonical: str, sid: str, heading: str) -> str:
    """Star distance travelled or NHS use: across the ICB from the practices' figures, then any
    reports providers sent themselves (generically)."""
    nhs = canonical == data.config.nhs_use_measure
    costs = data.config.unit_costs if nhs else {}
    note = _unit_cost_note(costs) if costs else ""
    collated = outcomes_html.icb_nhs_use(data.icb_outcomes) if nhs else (
        outcomes_html.icb_star(data.icb_outcomes))  # fmt: skip
    view = data.measures.get(canonical)
    sent = ""
    if view is not None and view.rows:
        sent = (
            "<h3>As providers sent it</h3><p>Reports from providers themselves (senders the hub "
            "configuration does not list as practices), per provider and month.</p>"
            + _measure_table(view, costs)
        )
    if not collated and not sent:
        return _section(sid, heading, note + _placeholder(
            f"No data yet: no release has carried the measure {canonical}. "
            "This section fills in when practices send it."))  # fmt: skip
    return _section(sid, heading, note + collated + sent)


def _unit_cost_note(costs: dict[str, float]) -> str:
    rows = [[label(code), f"£{price:,.2f}"] for code, price in costs.items()]
    return (
        "<p>Unit costs from the hub configuration. Practices' NHS use before and after is costed "
        "as units x unit cost where a practice sent no cost of its own. In a provider's own "
        "report, each group with a unit cost is costed as people x unit cost (a masked or "
        "rounded count as the range of people it can stand for).</p>"
        + _table("Unit costs", ["Use", "Unit cost"], rows)
    )


def _other_measures(data: ReportData) -> str:
    parts = []
    for m in data.other_measures:
        parts.append(f'<h3>{escape(measure_name(m))}</h3><p class="canonical">{escape(m)}</p>')
        rows = data.practice_totals.get(m, [])
        if rows:
            parts.append(_table(
                f"{measure_name(m)}: across the ICB (practices' figures added up)",
                ["Month", "Group", "People"],
                [[r.period, label(r.group), r.total.text()] for r in rows]))  # fmt: skip
        if m in data.measures:
            parts.append(_measure_table(data.measures[m]))
    return "".join(parts) and _section("other-measures", "Other measures", "".join(parts))


def _measure_table(view: MeasureView, costs: dict[str, float] | None = None) -> str:
    """Any measure, generically: its group totals per provider and month (strata in a detail),
    with a cost column when unit costs are given."""
    costs = costs or {}

    def cells(row: Sequence[object]) -> list[str]:
        base = _measure_row(row)
        return [*base, _cost(row, costs)] if costs else base

    extra = ["Cost"] if costs else []
    totals = [r for r in view.rows if r[3] is None]
    strata = [r for r in view.rows if r[3] is not None]
    header = ["Provider", "Month", "Group", "People", "Score", "Score total", *extra]
    body = _table(measure_name(view.measure), header, [cells(r) for r in totals])
    if strata:
        head = ["Provider", "Month", "Group", "Breakdown", "Stratum", "People", "Score",
                "Score total", *extra]  # fmt: skip
        rows = [[*cells(r)[:3], label(r[3]), label(r[4]), *cells(r)[3:]] for r in strata]
        body += _details("Breakdowns", head, rows)
    return body


def _measure_row(row: Sequence[object]) -> list[str]:
    org, period, group, _s, _v, count, masked, score, total = row[:9]
    people = "masked" if masked else ("" if count is None else f"{count:,}")
    score_text = "" if score is None else f"{score:.2f}"
    total_text = "" if total is None else f"{total:,.1f}"
    return [str(org), str(period), label(str(group)), people, score_text, total_text]


def _cost(row: Sequence[object], costs: dict[str, float]) -> str:
    """People x unit cost, a range over the people the published figure can stand for."""
    price, count, low, high = costs.get(str(row[2])), row[5], row[9], row[10]
    if price is None or (count is None and not row[6]):
        return ""
    if high is None:
        return f"at least £{price * int(low):,.0f}"  # type: ignore[call-overload]
    if low == high:
        return f"£{price * int(low):,.0f}"  # type: ignore[call-overload]
    return f"£{price * int(low):,.0f} to £{price * int(high):,.0f}"  # type: ignore[call-overload]


def _outcomes(data: ReportData) -> str:
    if not data.outcomes.providers:
        return _section(
            "outcomes",
            "Outcomes by provider",
            _placeholder(
                "No provider has sent outcomes yet. When practices send referrals, Star distance "
                "travelled and NHS use before and after (each broken down by provider), this "
                "view shows, for each provider, referrals accepted, the share of people whose Star "
                "scores improved, people still improved a year on and the change in NHS use and "
                "its cost: the figures an outcomes-based contract can pay on."
            ),
        )
    return _section(
        "outcomes", "Outcomes by provider", outcomes_html.outcomes_body(data.config, data.outcomes)
    )


def _costs(data: ReportData) -> str:
    tariff = data.config.tariff
    rows = [
        [label(level) if level != "maintenance" else "Long-term maintenance", f"£{price:,.0f}"]
        for level, price in tariff.items()
    ]
    body = (
        "<p>Indicative tariff per person per year (the Year of Care guide's illustration "
        "unless the hub configuration sets its own).</p>"
    )
    body += _table("Tariff by support level", ["Support level", "Per person per year"], rows)
    if data.costs:
        body += _table(
            "Indicative cost: people at each support level across the ICB in the latest month "
            "they were sent x the yearly tariff",
            ["Support level", "Month", "People", "Indicative cost a year"],
            [_cost_row(c) for c in data.costs],
        )
    else:
        body += _placeholder(
            "No counts by support level have arrived yet, so no cost is estimated. Costs "
            "appear when practices send the support-level measure."
        )
    return _section("costs", "Indicative cost by support level", body)


def _cost_row(line: CostLine) -> list[str]:
    high = "" if line.high is None else f" to £{line.high:,.0f}"
    cost = f"£{line.low:,.0f}{high}" if not line.people.exact else f"£{line.low:,.0f}"
    return [label(line.level), line.period, line.people.text(), cost]


def _completeness(data: ReportData) -> str:
    done = data.completeness
    if done is None or not done.expected:
        return _section(
            "completeness",
            "Completeness",
            _placeholder(
                "No expected practices are configured: list them under [practices] in the "
                "hub configuration to see who has not reported."
            ),
        )
    rows = [[p, data.config.practices[p], ", ".join(months)] for p, months in done.missing.items()]
    body = (
        f"<p>{done.expected_returns - done.missing_returns:,} of {done.expected_returns:,} "
        "expected practice returns "
        f"received ({len(done.expected)} practices x {len(done.months)} month(s)).</p>"
    )
    body += (
        _table("Practices that have not reported", ["Practice", "PCN", "Months missing"], rows)
        if rows
        else "<p>Every expected practice has reported for every month.</p>"
    )
    if done.unexpected:
        others = escape(", ".join(done.unexpected))
        body += f"<p>Received from organisations the configuration does not list: {others}.</p>"
    return _section("completeness", "Completeness", body)


def _rejections(data: ReportData) -> str:
    if not data.rejections:
        return _section("rejections", "Rejected releases", "<p>No release has been rejected.</p>")
    rows = [[str(a), str(b or "unknown"), str(c), str(d)] for a, b, c, d in data.rejections[:200]]
    return _section(
        "rejections",
        "Rejected releases",
        _table("Rejected releases", ["Received", "Sender", "Reason", "Detail"], rows),
    )


def _about(data: ReportData) -> str:
    return _section(
        "about",
        "About these figures",
        (
            "<p>Each figure counts distinct people with an unmet need recorded at their "
            "care-planning "
            "review in the month. PCN and ICB figures add up practices' figures; a person is "
            "registered with one practice, so nobody is counted twice within a month, but adding "
            "months would count a person once per month. Published counts may be rounded by the "
            "practice's data-sharing agreement. The tidy CSV files and the workbook beside this "
            f"report hold every figure. Hub configuration: {escape(data.config.source)}.</p>"
        ),
    )


# -- pieces ----------------------------------------------------------------------------------------
def _bar(text: str, row: TotalRow) -> Bar:
    return Bar(text, row.total.low, row.total.high, row.total.text())
