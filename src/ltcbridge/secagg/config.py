"""The agreement's ``[secure_aggregation]`` section, as a strict pydantic model.

One table of the agreement's strict schema (``ltcbridge.agreement``): absent means no secure
aggregation; every mistake in it is named with its key, with the rest of the agreement's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ltcbridge.config_schema import OdsCode, StrictTable

MIN_PRACTICES_FLOOR = 5  # fewer contributors than this and one practice is too easy to isolate
AreaLevel = Literal["pcn", "icb"]


class SecureAggregation(StrictTable):
    """Who aggregates, how many practices a batch needs, and which area levels are released.

    As strict as the agreement's other tables (nothing unknown, nothing converted: ``min_practices
    = "5"`` is text, not a number). The one conversion is a TOML list to the tuples below
    (``strict=False`` on them), whose items are still checked strictly."""

    aggregators: tuple[OdsCode, OdsCode] = Field(
        strict=False,
        description="ODS codes of the two aggregators: the ICB hub first, then an independent "
        "organisation (the local authority's public health team, or the DSCRO)",
    )
    min_practices: int = Field(default=MIN_PRACTICES_FLOOR, ge=MIN_PRACTICES_FLOOR)
    areas: tuple[AreaLevel, ...] = Field(default=("pcn", "icb"), strict=False)

    @field_validator("aggregators")
    @classmethod
    def _two_distinct(cls, value: tuple[str, str]) -> tuple[str, str]:
        """One organisation holding both shares would learn every practice's figures."""
        if value[0] == value[1]:
            raise ValueError("the two aggregators must be different organisations")
        return value

    @field_validator("areas")
    @classmethod
    def _some_area(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError('list each area level once, e.g. ["pcn", "icb"]')
        return value

    @property
    def leader(self) -> str:
        """The aggregator that combines both sums and runs the disclosure step (the ICB hub)."""
        return self.aggregators[0]

    @property
    def helper(self) -> str:
        """The independent aggregator: sums its shares and seals the sum to the leader."""
        return self.aggregators[1]
