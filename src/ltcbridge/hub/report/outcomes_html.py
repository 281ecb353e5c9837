"""The outcome parts of the HTML report: outcomes by provider, and the ICB-wide Star distance
travelled and NHS use before and after, from :mod:`ltcbridge.hub.outcomes`.

Counts with masked parts are ranges; shares are ranges bounded from both sides' ranges; scores
(Star change, NHS units, costs) are over the published parts only and say how many parts were left
out: a masked part's score is never taken as zero.
"""

from __future__ import annotations

from html import escape

from ltcbridge.hub.collate import Total
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.outcomes import (
    ALL_MONTHS,
    Money,
    NhsOutcome,
    Outcomes,
    ProviderOutcome,
    Scored,
    Share,
    StarOutcome,
)
from ltcbridge.hub.report.data import label, provider_name
from ltcbridge.hub.report.html_parts import describe, details, placeholder, table
from ltcbridge.hub.report.svg import Bar, bar_chart

NOT_SENT = "not sent"


# -- figures as text -------------------------------------------------------------------------------
def month(period: str) -> str:
    return "All months" if period == ALL_MONTHS else period


def count(total: Total | None) -> str:
    return NOT_SENT if total is None else total.text()


def ratio(value: Share | None, whole: Total | None = None) -> str:
    if value is not None:
        return value.text()
    return "no one" if whole is not None else NOT_SENT


def parts_text(parts: int) -> str:
    return f"{parts} masked part{'s' if parts != 1 else ''}"


def left_out(parts: int) -> str:
    return f" ({parts_text(parts)} left out)" if parts else ""


def signed_number(value: float, places: int = 1) -> str:
    """'+0.9', '−0.5' (a true minus sign, read as "minus"), '0.0'."""
    text = f"{value:+.{places}f}"
    return text.replace("-", "−") if value < 0 else text


def mean(cell: Scored | None, signed: bool = True, marked: bool = True) -> str:
    """The mean per person over the published parts, marked when parts were left out (unless
    the table says so in a column of its own)."""
    if cell is None:
        return NOT_SENT
    if cell.mean is None:
        return "masked" if cell.unknown else "no one"
    text = signed_number(cell.mean) if signed else f"{cell.mean:.1f}"
    return text + (left_out(cell.unknown) if marked else "")


def amount(cell: Scored | None, marked: bool = True) -> str:
    """A score total (units) over the published parts, marked when parts were left out."""
    if cell is None:
        return NOT_SENT
    if not cell.scored and cell.unknown:
        return "masked"
    return f"{cell.score:,.0f}" + (left_out(cell.unknown) if marked else "")


def money(value: Money, signed: bool = False, marked: bool = True) -> str:
    if not value.people and value.unknown and not value.known:
        return "masked"
    sign = "+" if signed and value.known > 0 else ("−" if value.known < 0 else "")
    text = f"{sign}£{abs(value.known):,.0f}"
    return text + (left_out(value.unknown) + unpriced(value) if marked else "")


def unpriced(value: Money) -> str:
    if not value.unpriced:
        return ""
    return f" (not costed: no unit cost for {', '.join(label(k) for k in value.unpriced)})"


def monthly(rows: list[ProviderOutcome], has: str) -> list[ProviderOutcome]:
    """The rows with ``has`` (a ProviderOutcome attribute), the all-months sum only when there
    are several months to add."""
    found = [r for r in rows if getattr(r, has)]
    months = [r for r in found if r.period != ALL_MONTHS]
    return months + ([r for r in found if r.period == ALL_MONTHS] if len(months) > 1 else [])


def share_bar(name: str, value: Share | None) -> Bar | None:
    if value is None:
        return None
    return Bar(name, 100 * value.low, 100 * value.high, value.text())


# -- tables ----------------------------------------------------------------------------------------
def referral_table(rows: list[ProviderOutcome], caption: str) -> str:
    body = [
        [month(r.period), count(r.referrals.made), count(r.referrals.accepted),
         count(r.referrals.declined), ratio(r.referrals.acceptance, r.referrals.made)]
        for r in monthly(rows, "referrals")
        if r.referrals is not None
    ]  # fmt: skip
    header = ["Month", "Referrals made", "Accepted", "Declined", "Acceptance rate"]
    return table(caption, header, body) if body else ""


def star_tables(rows: list[ProviderOutcome], caption: str) -> str:
    stars = sorted({s.star for r in rows for s in r.stars}, key=lambda s: (s == "", s))
    rows = monthly(rows, "stars")
    parts = []
    for star in stars:
        found = [(r.period, s) for r in rows for s in r.stars if s.star == star]
        name = label(star) if star else "Star groups"
        if star:
            body = [_star_row(period, s) for period, s in found]
            header = ["Month", "People reviewed", "Improved", "Share improved",
                      "Reviewed a year on", "Still improved a year on",
                      "Mean change in total score"]  # fmt: skip
            parts.append(table(f"{caption}: {name}", header, body))
        areas = [
            [label(area), month(period), count(cell.people), mean(cell)]
            for period, s in found
            for area, cell in s.areas.items()
        ]
        if areas:
            title = f"Mean change in each area, {name}" if star else f"{caption}: other groups"
            parts.append(details(title, ["Area", "Month", "People", "Mean change"], areas))
    return "".join(parts)


def _star_row(period: str, s: StarOutcome) -> list[str]:
    reviewed = s.reviewed.people if s.reviewed else None
    return [month(period), count(reviewed), count(s.improved), ratio(s.improved_share, reviewed),
            count(s.reviewed_year_on), ratio(s.year_on_share, s.reviewed_year_on),
            mean(s.reviewed)]  # fmt: skip


def nhs_tables(rows: list[ProviderOutcome], caption: str) -> str:
    found = [(r.period, r.nhs_use) for r in monthly(rows, "nhs_use") if r.nhs_use is not None]
    if not found:
        return ""
    use = [
        [month(period), label(k.kind), amount(k.before, False), mean(k.before, False, False),
         amount(k.after, False), mean(k.after, False, False), mean(k.change, True, False),
         parts_text(k.change.unknown) if k.change.unknown else "none"]
        for period, nhs in found
        for k in nhs.kinds
    ]  # fmt: skip
    header = ["Month", "Use", "Before: total", "Before: per person", "After: total",
              "After: per person", "Change per person", "Masked parts left out"]  # fmt: skip
    cost = [_cost_row(period, nhs) for period, nhs in found]
    cost_header = ["Month", "People", "Cost before", "Cost after", "Change in cost",
                   "Left out"]  # fmt: skip
    return table(f"{caption}: NHS use in the six months before and after", header, use) + table(
        f"{caption}: cost of NHS use", cost_header, cost
    )


def _cost_row(period: str, nhs: NhsOutcome) -> list[str]:
    change = nhs.cost_change
    missing = [parts_text(change.unknown)] if change.unknown else []
    if change.unpriced:
        missing.append("not costed: no unit cost for "
                       + ", ".join(label(k) for k in change.unpriced))  # fmt: skip
    return [month(period), count(nhs.cohort), money(nhs.cost_before, marked=False),
            money(nhs.cost_after, marked=False), money(change, signed=True, marked=False),
            "; ".join(missing) or "none"]  # fmt: skip


# -- sections --------------------------------------------------------------------------------------
def reading_note() -> str:
    return (
        '<div class="inset"><p><strong>Reading these figures.</strong> A masked count stands for '
        "1 to the agreement's threshold people (any number under secondary suppression), and a "
        "rounded count for the counts that round to it, so sums are ranges (each release under "
        "its own agreement's rules), and so are the shares worked out from "
        "them. A masked count's score (Star change, NHS use, cost) is not sent, so scores are "
        "worked out from the published parts only and say how many masked parts were left out; "
        "they are never counted as zero. Counts and score totals may be rounded by the "
        "practices' agreement, so means are approximate. Adding months counts a person once per "
        "month they appear in (for example, reviewed in two months).</p></div>"
    )


def outcomes_body(config: HubConfig, found: Outcomes) -> str:
    """The "Outcomes by provider" section's content (the caller adds the heading)."""
    providers = found.providers
    parts = [
        "<p>What each lead provider achieved, collated across every practice's breakdown by "
        "provider (a provider's own report is used only where no practice's covers it): "
        "referrals and acceptance, Star distance travelled, and NHS use in the six months before "
        "and after the intervention. These are the figures an outcomes-based contract can pay "
        "on.</p>",
        reading_note(),
    ]
    parts.append(_overview_charts(config, found, providers))
    for provider in providers:
        rows = found.of(provider)
        name = provider_name(config, provider)
        heading = name if provider == "none" else f"Provider {name}"
        sources = sorted({s for r in rows for v in r.sources.values() for s in v.split(" and ")})
        parts.append(
            f"<h3>{escape(heading)}</h3>"
            f'<p class="canonical">From {escape(" and ".join(_source(s) for s in sources))}.</p>'
        )
        body = referral_table(rows, f"Referrals: {name}")
        body += star_tables(rows, f"Star distance travelled: {name}")
        body += nhs_tables(rows, name)
        parts.append(body or placeholder(f"No outcome figures for {name} yet."))
    return "".join(parts)


def _source(source: str) -> str:
    return {"practices": "practices' breakdowns by provider",
            "provider": "the provider's own report"}.get(source, source)  # fmt: skip


def _overview_charts(config: HubConfig, found: Outcomes, providers: list[str]) -> str:
    charts = []
    for title, pick in (
        ("Share of people reviewed whose Star improved", _improved),
        ("Share of referrals accepted", _accepted),
    ):
        bars = [
            bar
            for p in providers
            if (overall := found.overall(p)) is not None
            and (bar := share_bar(provider_name(config, p), pick(overall))) is not None
        ]
        if not bars:
            continue
        chart_title = f"{title}, by provider, all months (%)"
        charts.append(f"<h3>{escape(title)}</h3>")
        charts.append(bar_chart(chart_title, describe(bars), bars))
        charts.append(details(f"Table: {title}", ["Provider", title],
                              [[b.label, b.text] for b in bars]))  # fmt: skip
    return "".join(charts)


def _improved(row: ProviderOutcome) -> Share | None:
    stars = [s for s in row.stars if s.star]
    return stars[0].improved_share if stars else None


def _accepted(row: ProviderOutcome) -> Share | None:
    return row.referrals.acceptance if row.referrals else None


def icb_star(found: Outcomes) -> str:
    """The ICB-wide Star distance travelled (all practices' group totals), or ''."""
    rows = found.of(found.providers[0]) if found.providers else []
    tables = star_tables([r for r in rows if r.stars], "Star distance travelled, all providers")
    if not tables:
        return ""
    return (
        "<p>People reviewed across the ICB (every practice's figures added up), the share whose "
        "Star improved, and the mean change in each area.</p>" + tables
    )


def icb_nhs_use(found: Outcomes) -> str:
    """The ICB-wide NHS use before and after, or ''."""
    rows = found.of(found.providers[0]) if found.providers else []
    tables = nhs_tables(rows, "All providers")
    if not tables:
        return ""
    return (
        "<p>NHS use of the people whose intervention ended six months before each month, in the "
        "six months before it started and the six months after it ended, across the ICB.</p>"
        + tables
    )
