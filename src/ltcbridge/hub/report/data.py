"""What the report shows, gathered once from the collator: the HTML, CSV and XLSX outputs only
format it, so every output tells the same story."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ltcbridge.concepts import NEED_ANY, NEED_DOMAINS, STRATIFIERS, SUPPORT_LEVELS
from ltcbridge.hub.collate import (
    TOTAL,
    Collator,
    Completeness,
    Filter,
    Total,
    TotalRow,
    completeness,
)
from ltcbridge.hub.config import UNMET_NEED, HubConfig
from ltcbridge.hub.outcomes import NO_PROVIDER, Outcomes, concept_info, outcomes
from ltcbridge.hub.report.area_totals import AreaTotals

OUTCOME_SECTIONS = ("star", "nhs_use")


@dataclass(frozen=True)
class CostLine:
    """Indicative cost of one support level: people (a range if masked) x tariff."""

    level: str
    people: Total
    price: float
    period: str = ""  # the month the people were counted in

    @property
    def low(self) -> float:
        return self.people.low * self.price

    @property
    def high(self) -> float | None:
        high = self.people.high
        return None if high is None else high * self.price


@dataclass(frozen=True)
class MeasureView:
    """A further measure as providers sent it (reporters the hub does not know as practices):
    per provider, generic. Practices' figures are collated instead (outcomes, totals)."""

    measure: str
    rows: list[tuple[Any, ...]]  # org, period, group, stratifier, stratum, count, masked, score,
    # score total, low, high (bounds of the true count)

    @property
    def providers(self) -> list[str]:
        return sorted({row[0] for row in self.rows})


@dataclass
class ReportData:
    config: HubConfig
    generated: str
    periods: list[str]
    latest: str | None
    icb_domains: list[TotalRow] = field(default_factory=list)
    pcn_domains: list[TotalRow] = field(default_factory=list)
    trends: list[TotalRow] = field(default_factory=list)
    breakdowns: dict[str, list[TotalRow]] = field(default_factory=dict)
    completeness: Completeness | None = None
    costs: list[CostLine] = field(default_factory=list)
    measures: dict[str, MeasureView] = field(default_factory=dict)  # by canonical
    practice_totals: dict[str, list[TotalRow]] = field(default_factory=dict)  # other measures
    outcomes: Outcomes = field(default_factory=lambda: Outcomes([]))  # per provider
    icb_outcomes: Outcomes = field(default_factory=lambda: Outcomes([]))  # all providers
    releases: int = 0
    rejections: list[tuple[Any, ...]] = field(default_factory=list)
    rules: list[tuple[str, str, int]] = field(default_factory=list)  # (rules, source, releases)
    area_totals: AreaTotals | None = None  # secure aggregation's figures (--area-figures)

    @property
    def other_measures(self) -> list[str]:
        """Measures without a section of their own (referrals are in the outcomes by provider,
        support levels in the indicative cost)."""
        config = self.config
        named = {UNMET_NEED, config.star_measure, config.nhs_use_measure,
                 config.referrals_measure, config.support_level_measure}  # fmt: skip
        found = [*self.measures, *self.practice_totals]
        return sorted({m for m in found if m not in named})


def gather(collator: Collator) -> ReportData:
    """Everything the report needs, in a few grouped queries."""
    store, config = collator.store, collator.config
    periods = collator.periods()
    latest = periods[-1] if periods else None
    data = ReportData(config, datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"), periods, latest)
    data.completeness = completeness(collator)
    data.rules = collator.rules_in_use()
    data.releases = int(store.rows("SELECT COUNT(*) FROM releases")[0][0])
    data.rejections = store.rows(
        "SELECT received_at, sender, reason, detail FROM rejections ORDER BY received_at DESC"
    )
    if latest is not None:
        _gather_unmet_need(collator, data, latest)
    named = {UNMET_NEED, config.star_measure, config.nhs_use_measure, config.referrals_measure,
             config.support_level_measure}  # fmt: skip
    for measure in collator.measures():
        if measure == UNMET_NEED:
            continue
        sent = collator.provider_figures(measure)
        if sent:
            data.measures[measure] = MeasureView(measure, sent)
        if measure not in named:
            rows = _ordered(collator.totals("icb", Filter(measure=measure, stratifier=TOTAL)))
            if rows:
                data.practice_totals[measure] = rows
    data.outcomes = outcomes(collator)
    data.icb_outcomes = outcomes(collator, by_provider=False)
    data.costs = _costs(collator, config)
    return data


def _gather_unmet_need(collator: Collator, data: ReportData, latest: str) -> None:
    groups = Filter(measure=UNMET_NEED, stratifier=TOTAL)
    data.trends = _ordered(collator.totals("icb", groups))
    data.icb_domains = [row for row in data.trends if row.period == latest]
    latest_groups = Filter(measure=UNMET_NEED, period=latest, stratifier=TOTAL)
    data.pcn_domains = _ordered(collator.totals("pcn", latest_groups))
    for stratifier in STRATIFIERS:
        where = Filter(measure=UNMET_NEED, period=latest, group=NEED_ANY, stratifier=stratifier)
        rows = list(collator.totals("icb", where))
        if rows:
            order = STRATIFIERS[stratifier]
            data.breakdowns[stratifier] = sorted(rows, key=lambda r: _index(order, r.stratum))


def _costs(collator: Collator, config: HubConfig) -> list[CostLine]:
    """People at each support level, priced by the tariff: the practices' support-level measure
    collated across the ICB (masked parts as ranges) in the latest month each level was sent;
    failing that, support-level groups of any measure and sender, as before."""
    where = Filter(measure=config.support_level_measure, stratifier=TOTAL)
    latest: dict[str, tuple[str, Total]] = {}
    for row in collator.totals("icb", where):  # ordered by period: the latest wins
        if row.group in SUPPORT_LEVELS:
            latest[row.group] = (row.period, row.total)
    if not latest:
        latest = collator.latest_group_totals(SUPPORT_LEVELS)
    return [
        CostLine(level, latest[level][1], config.tariff[level], latest[level][0])
        for level in SUPPORT_LEVELS
        if level in latest
    ]


def _ordered(rows: Any) -> list[TotalRow]:
    domains = (NEED_ANY, *NEED_DOMAINS)
    return sorted(rows, key=lambda r: (r.period, r.org, _index(domains, r.group)))


def _index(order: tuple[str, ...], value: str | None) -> int:
    return order.index(value) if value in order else len(order)


_STRATUM_LABELS = {"1": "1 (most deprived)", "5": "5 (least deprived)"}


def label(code: str | None) -> str:
    """'need-physical-activity' -> 'Physical activity'; strata and others made readable."""
    if code is None:
        return "Total"
    if code in _STRATUM_LABELS:
        return _STRATUM_LABELS[code]
    known = concept_info().get(code, {})
    if known.get("display") and known.get("kind") in ("star", "star-area"):
        # 'Well-being Star reading' -> 'Well-being Star'; 'Well-being Star: Money' -> 'Money'
        return str(known["display"]).removesuffix(" reading").split(": ", 1)[-1]
    if code[:1].isdigit():
        return code  # age bands and the like read best as sent
    text = code.removeprefix("need-").removeprefix("support-").replace("-", " ")
    special = {"any": "Any unmet need", "imd quintile": "Deprivation (IMD quintile)",
               "ethnicity group": "Ethnicity", "age band": "Age band",
               "other unknown": "Other or unknown", "not stated": "Not stated"}  # fmt: skip
    return special.get(text) or _sentence(text)


def measure_name(canonical: str) -> str:
    """The last part of a Measure canonical, readable ('nhs-use' -> 'NHS use')."""
    return _sentence(canonical.rstrip("/").rsplit("/", 1)[-1].replace("-", " "))


_ACRONYMS = {"nhs": "NHS", "gp": "GP", "ae": "A&E", "imd": "IMD", "pcn": "PCN", "icb": "ICB"}


def _sentence(text: str) -> str:
    words = [_ACRONYMS.get(word.lower(), word) for word in text.split(" ")]
    first = words[0] if words[0] in _ACRONYMS.values() else words[0][:1].upper() + words[0][1:]
    return " ".join([first, *words[1:]])


def provider_name(config: HubConfig, code: str) -> str:
    """'NTP01' or 'NTP01 (Name)' with [provider_names]; the ``none`` stratum in words."""
    if code == NO_PROVIDER:
        return "No provider recorded"
    name = config.provider_names.get(code)
    return f"{code} ({name})" if name else code
