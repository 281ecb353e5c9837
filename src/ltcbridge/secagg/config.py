"""The agreement's ``[secure_aggregation]`` section, as a strict pydantic model.

Parsed from the agreement's raw TOML mapping by ``parse_secure_aggregation`` until the agreement
schema carries the section itself (then the model is hooked in as a field of the agreement).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ltcbridge.errors import AgreementError

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


def parse_secure_aggregation(raw: dict[str, Any], origin: str) -> SecureAggregation | None:
    """The section of a raw agreement mapping, or None when the agreement has none.

    Every mistake is named with its key, as ``load_agreement`` does for the other sections.
    """
    section = raw.get("secure_aggregation")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise AgreementError(f"{origin}: [secure_aggregation] must be a table")
    try:
        return SecureAggregation.model_validate(section)
    except ValidationError as exc:
        problems = "; ".join(
            f"[secure_aggregation] {'.'.join(str(p) for p in error['loc']) or 'section'}: "
            f"{error['msg']}"
            for error in exc.errors()
        )
        raise AgreementError(f"{origin}: {problems}") from None
