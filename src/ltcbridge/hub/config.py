"""The hub's own configuration (TOML): who is expected to report, tariffs, what was commissioned.

It is the commissioner's knowledge, not the practices': which practices belong to which PCN (for
roll-ups and completeness), the disclosure threshold the agreements use (for masked ranges), the
outcomes-based tariff, and what was commissioned against each need domain ("you said, we did").
Everything has a default so that ``hub report`` works on a bare store; the report says when a
default is in use. The file is read by a strict schema (``ltcbridge.config_schema``): an unknown
key or table is named with the nearest known one, a value of the wrong type (``secondary =
"false"``: text, not a boolean) is refused, and every problem is reported at once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, RootModel

from ltcbridge.concepts import NEED_DOMAINS, SUPPORT_LEVELS
from ltcbridge.config_schema import (
    FileSchema,
    OdsCode,
    StrictTable,
    Text,
    distinct_ods_keys,
    problem_lines,
    table_of_keys,
)
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HubConfigError(f"hub config {path} is not valid TOML: {exc}") from None
    return parse_hub_config(data, str(path))


# -- the schema: one strict model per table -------------------------------------------------------
def _month(value: str) -> str:
    if not (len(value) == 7 and value[4] == "-" and value[:4].isdigit() and value[5:].isdigit()):
        raise ValueError(f"{value!r} is not a month written 'YYYY-MM'")
    if not 1 <= int(value[5:]) <= 12:
        raise ValueError(f"{value!r} has no month {value[5:]}")
    return value


class HubTable(StrictTable):
    name: Text = HubConfig.name
    icb: OdsCode = HubConfig.icb  # the commissioner's ODS code
    months: list[Annotated[str, AfterValidator(_month)]] = Field(default_factory=list)


class DisclosureTable(StrictTable):
    threshold: int = Field(HubConfig.threshold, ge=0)
    rounding: int = Field(HubConfig.rounding, ge=1)
    secondary: bool = HubConfig.secondary


class MeasuresTable(StrictTable):
    star: Text = STAR_MEASURE
    nhs_use: Text = NHS_USE_MEASURE
    referrals: Text = REFERRALS_MEASURE
    support_level: Text = SUPPORT_LEVEL_MEASURE


class PcnOf(RootModel[Annotated[dict[OdsCode, OdsCode], BeforeValidator(distinct_ods_keys)]]):
    """A practice's ODS code = its PCN's ODS code (both read upper-case, as releases carry
    them): a malformed code is refused with its key, never left to match no release."""

    model_config = ConfigDict(strict=True, frozen=True)


class Names(RootModel[Annotated[dict[OdsCode, Text], BeforeValidator(distinct_ods_keys)]]):
    """An organisation's ODS code (a PCN, a provider) = its name, for the report."""

    model_config = ConfigDict(strict=True, frozen=True)


class Prices(RootModel[dict[str, Annotated[float, Field(ge=0)]]]):
    """A table of codes = a price in pounds, 0 or more."""

    model_config = ConfigDict(strict=True, frozen=True)


SCHEMA = FileSchema(
    {
        "hub": HubTable,
        "practices": PcnOf,
        "pcn_names": Names,
        "provider_names": Names,
        "disclosure": DisclosureTable,
        "tariff": table_of_keys("TariffTable", DEFAULT_TARIFF, float, ge=0),
        "commissioned": table_of_keys("CommissionedTable", NEED_DOMAINS, Text),
        "unit_costs": Prices,  # NHS-use group code = £ a unit
        "measures": MeasuresTable,
    },
    expected={"float_type": "must be a number of pounds, without quotes"},
)


def parse_hub_config(data: dict[str, Any], source: str) -> HubConfig:
    """Check every table; raise one HubConfigError listing every problem (each a line naming
    the key), or return the HubConfig (defaults for whatever the file leaves out)."""
    tables, problems = SCHEMA.check(data)
    if problems:
        raise HubConfigError(
            f"{source}: {len(problems)} problem(s) in the hub config:\n{problem_lines(problems)}"
        )
    hub, rules, measures = tables["hub"], tables["disclosure"], tables["measures"]
    return HubConfig(
        name=hub.name,
        icb=hub.icb,
        practices=dict(tables["practices"].root),
        pcn_names=dict(tables["pcn_names"].root),
        provider_names=dict(tables["provider_names"].root),
        months=tuple(sorted(hub.months)),
        threshold=rules.threshold,
        rounding=rules.rounding,
        secondary=rules.secondary,
        tariff={**DEFAULT_TARIFF, **_given(tables["tariff"])},
        commissioned=_given(tables["commissioned"]),
        unit_costs=dict(tables["unit_costs"].root),
        star_measure=measures.star,
        nhs_use_measure=measures.nhs_use,
        referrals_measure=measures.referrals,
        support_level_measure=measures.support_level,
        source=source,
    )


def _given(table: BaseModel) -> dict[str, Any]:
    """The keys a table of fixed keys was given, as written in the file."""
    return table.model_dump(by_alias=True, exclude_none=True)


def is_support_level(code: str) -> bool:
    """Group codes an outcomes tariff can price."""
    return code in SUPPORT_LEVELS
