"""The agreement's ``[secure_aggregation]`` section, as a strict pydantic model.

One table of the agreement's strict schema (``ltcbridge.agreement``): absent means no secure
aggregation; every mistake in it is named with its key, with the rest of the agreement's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_PRACTICES_FLOOR = 5  # fewer contributors than this and one practice is too easy to isolate
AreaLevel = Literal["pcn", "icb"]


class SecureAggregation(BaseModel):
    """Who aggregates, how many practices a batch needs, and which area levels are released."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregators: tuple[str, str] = Field(
        description="ODS codes of the two aggregators: the ICB hub first, then an independent "
        "organisation (the local authority's public health team, or the DSCRO)"
    )
    min_practices: int = Field(default=MIN_PRACTICES_FLOOR, ge=MIN_PRACTICES_FLOOR)
    areas: tuple[AreaLevel, ...] = ("pcn", "icb")

    @field_validator("aggregators")
    @classmethod
    def _two_distinct(cls, value: tuple[str, str]) -> tuple[str, str]:
        """One organisation holding both shares would learn every practice's figures."""
        first, second = (code.strip().upper() for code in value)
        if not first or not second:
            raise ValueError("both aggregators need an ODS code")
        if first == second:
            raise ValueError("the two aggregators must be different organisations")
        return first, second

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
