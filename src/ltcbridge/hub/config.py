"""The hub's own configuration (TOML): who is expected to report, tariffs, what was commissioned.

It is the commissioner's knowledge, not the practices': which practices belong to which PCN (for
roll-ups and completeness), the disclosure threshold the agreements use (for masked ranges), the
outcomes-based tariff, and what was commissioned against each need domain ("you said, we did").
Everything has a default so that ``hub report`` works on a bare store; the report says when a
default is in use.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcbridge.concepts import NEED_DOMAINS, SUPPORT_LEVELS
from ltcbridge.errors import LtcbridgeError

UNMET_NEED = "https://ltcbridge.github.io/fhir/Measure/unmet-need"
STAR_MEASURE = "https://ltcbridge.github.io/fhir/Measure/star-distance-travelled"
NHS_USE_MEASURE = "https://ltcbridge.github.io/fhir/Measure/nhs-use"
REFERRALS_MEASURE = "https://ltcbridge.github.io/fhir/Measure/referrals"
SUPPORT_LEVEL_MEASURE = "https://ltcbridge.github.io/fhir/Measure/support-level"

# The Year of Care guide's illustration (about £70, £150, £260 a person a year; £24 maintenance).
DEFAULT_TARIFF: dict[str, float] = {
    "support-self-care": 0.0,
    "support-minimal": 70.0,
    "support-moderate": 150.0,
    "support-high": 260.0,
    "maintenance": 24.0,
}


class HubConfigError(LtcbridgeError):
    """The hub configuration file is missing, malformed or names something unknown."""


@dataclass(frozen=True)
class HubConfig:
    """What the hub knows besides the releases; see docs/hub.md for the file format."""

    name: str = "Integrated care board"
    icb: str = "ICB"
    practices: dict[str, str] = field(default_factory=dict)  # practice ODS code -> PCN ODS code
    pcn_names: dict[str, str] = field(default_factory=dict)
    provider_names: dict[str, str] = field(default_factory=dict)  # provider ODS code -> name
    months: tuple[str, ...] = ()  # months practices are expected to report (empty: those seen)
    # The disclosure rules of releases that carry none of their own (older releases, loaded
    # folders); a release's own rules always win.
    threshold: int = 7  # agreements' masking threshold: a masked cell is 1..threshold
    rounding: int = 1  # published counts are multiples of this (1: exact)
    secondary: bool = False  # secondary suppression can mask any size: ranges get no upper bound
    tariff: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TARIFF))
    commissioned: dict[str, str] = field(default_factory=dict)  # need domain -> what was done
    unit_costs: dict[str, float] = field(default_factory=dict)  # NHS-use group code -> £ a unit
    star_measure: str = STAR_MEASURE
    nhs_use_measure: str = NHS_USE_MEASURE
    referrals_measure: str = REFERRALS_MEASURE
    support_level_measure: str = SUPPORT_LEVEL_MEASURE
    source: str = "defaults"

    @property
    def pcns(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.practices.values())))


def load_hub_config(path: Path | str | None) -> HubConfig:
    """Read the hub config; ``None`` gives the defaults (no expected practices, guide tariff)."""
    if path is None:
        return HubConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubConfigError(f"hub config {path} does not exist: check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise HubConfigError(f"hub config {path} is not valid TOML: {exc}") from None
    return parse_hub_config(data, str(path))


def parse_hub_config(data: dict[str, Any], source: str) -> HubConfig:
    """Check every section; a mistake names the key to fix."""
    hub = _table(data, "hub", source)
    disclosure = _table(data, "disclosure", source)
    measures = _table(data, "measures", source)
    return HubConfig(
        name=str(hub.get("name", HubConfig.name)),
        icb=str(hub.get("icb", HubConfig.icb)),
        practices=_strings(_table(data, "practices", source), "practices", source),
        pcn_names=_strings(_table(data, "pcn_names", source), "pcn_names", source),
        provider_names=_strings(_table(data, "provider_names", source), "provider_names", source),
        months=_months(hub.get("months", []), source),
        threshold=_whole(disclosure.get("threshold", 7), "threshold", 0, source),
        rounding=_whole(disclosure.get("rounding", 1), "rounding", 1, source),
        secondary=bool(disclosure.get("secondary", False)),
        tariff=_tariff(_table(data, "tariff", source), source),
        commissioned=_commissioned(_table(data, "commissioned", source), source),
        unit_costs=_prices(_table(data, "unit_costs", source), "unit_costs", source),
        star_measure=str(measures.get("star", STAR_MEASURE)),
        nhs_use_measure=str(measures.get("nhs_use", NHS_USE_MEASURE)),
        referrals_measure=str(measures.get("referrals", REFERRALS_MEASURE)),
        support_level_measure=str(measures.get("support_level", SUPPORT_LEVEL_MEASURE)),
        source=source,
    )


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise HubConfigError(f"{source}: [{key}] must be a table")
    return value


def _strings(table: dict[str, Any], key: str, source: str) -> dict[str, str]:
    for name, value in table.items():
        if not isinstance(value, str):
            raise HubConfigError(f"{source}: [{key}] {name} must be a string (an ODS code/name)")
    return dict(table)


def _months(value: Any, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(_is_month(m) for m in value):
        raise HubConfigError(f"{source}: [hub] months must be a list of 'YYYY-MM' strings")
    return tuple(sorted(value))


def _is_month(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 7
        and value[4] == "-"
        and value[:4].isdigit()
        and value[5:].isdigit()
        and 1 <= int(value[5:]) <= 12
    )


def _whole(value: Any, key: str, minimum: int, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise HubConfigError(f"{source}: [disclosure] {key} must be a whole number >= {minimum}")
    return value


def _tariff(table: dict[str, Any], source: str) -> dict[str, float]:
    for level in table:
        if level not in DEFAULT_TARIFF:
            known = ", ".join(DEFAULT_TARIFF)
            raise HubConfigError(f"{source}: [tariff] {level} is not one of {known}")
    return {**DEFAULT_TARIFF, **_prices(table, "tariff", source)}


def _prices(table: dict[str, Any], key: str, source: str) -> dict[str, float]:
    for name, price in table.items():
        if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
            raise HubConfigError(f"{source}: [{key}] {name} must be a price in pounds >= 0")
    return {name: float(price) for name, price in table.items()}


def _commissioned(table: dict[str, Any], source: str) -> dict[str, str]:
    for domain in table:
        if domain not in NEED_DOMAINS:
            raise HubConfigError(
                f"{source}: [commissioned] {domain} is not a need domain "
                f"({', '.join(NEED_DOMAINS)})"
            )
    return _strings(table, "commissioned", source)


def is_support_level(code: str) -> bool:
    """Group codes an outcomes tariff can price."""
    return code in SUPPORT_LEVELS
