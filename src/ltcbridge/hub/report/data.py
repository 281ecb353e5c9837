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

OUTCOME_SECTIONS = ("star", "nhs_use")


@dataclass(frozen=True)
class CostLine:
    """Indicative cost of one support level: people (a range if masked) x tariff."""

    level: str
    people: Total
    price: float

    @property
    def low(self) -> float:
        return self.people.low * self.price

    @property
    def high(self) -> float | None:
        high = self.people.high
        return None if high is None else high * self.price


@dataclass(frozen=True)
class MeasureView:
    """A further measure (Star, NHS use, any other) as it arrived: per provider, generic."""

    measure: str
    rows: list[tuple[Any, ...]]  # org, period, group, stratifier, stratum, count, masked, score

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
    releases: int = 0
    rejections: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def other_measures(self) -> list[str]:
        named = {UNMET_NEED, self.config.star_measure, self.config.nhs_use_measure}
        return [m for m in self.measures if m not in named]


def gather(collator: Collator) -> ReportData:
    """Everything the report needs, in a few grouped queries."""
    store, config = collator.store, collator.config
    periods = collator.periods()
    latest = periods[-1] if periods else None
    data = ReportData(config, datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"), periods, latest)
    data.completeness = completeness(collator)
    data.releases = int(store.rows("SELECT COUNT(*) FROM releases")[0][0])
    data.rejections = store.rows(
        "SELECT received_at, sender, reason, detail FROM rejections ORDER BY received_at DESC"
    )
    if latest is not None:
        _gather_unmet_need(collator, data, latest)
    for measure in collator.measures():
        if measure != UNMET_NEED:
            data.measures[measure] = MeasureView(measure, collator.provider_figures(measure))
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
    """Support-level groups of any measure and sender, latest month, priced by the tariff."""
    latest = collator.latest_group_totals(SUPPORT_LEVELS)
    return [
        CostLine(level, latest[level], config.tariff[level])
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
