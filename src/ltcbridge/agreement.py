"""The data-sharing agreement (TOML, contract section 4): the rules every release obeys."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ltcbridge.concepts import NHS_USE, STRATIFIERS
from ltcbridge.errors import AgreementError

LEVELS = ("practice", "pcn")
# The measures a release may carry, by short name (the last part of the Measure canonical).
MEASURES = ("unmet-need", "referrals", "support-level", "star-distance-travelled", "nhs-use")


@dataclass(frozen=True)
class Agreement:
    id: str
    recipient: str
    purpose: str
    threshold: int
    rounding: int
    secondary: bool
    breakdowns: tuple[str, ...]
    level: str
    exclude_optouts: bool
    internal_recipient: bool = False
    measures: tuple[str, ...] = MEASURES  # which measures a release carries (short names)
    unit_costs: dict[str, float] = field(default_factory=dict)  # NHS-use kind -> £ per unit
    cohort_extract: bool = False  # a pseudonymised cohort extract is allowed (docs/feed.md)

    @property
    def unmasked(self) -> bool:
        """Threshold 0 with rounding 1: exact figures, only for a recipient inside the practice."""
        return self.threshold == 0 and self.rounding == 1

    def check_in_force(self, on: date) -> None:
        """Nothing is sealed or sent under an agreement that is not in force (placeholder until the
        agreement's validity window and status are read)."""
        del on

    def warnings(self) -> list[str]:
        """Things a person must be told loudly whenever a release is built under this agreement."""
        notes = []
        if self.unmasked:
            notes.append(
                f"UNMASKED: agreement {self.id} publishes exact counts (threshold 0, rounding 1) "
                f"to {self.recipient}, declared to be inside the practice's own organisation"
            )
        if not self.exclude_optouts:
            notes.append(
                f"OPT-OUTS NOT EXCLUDED: agreement {self.id} counts people who dissented from "
                "secondary use"
            )
        return notes


def load_agreement(path: Path | str) -> Agreement:
    """Read and check an agreement file; every mistake is named with the key to fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AgreementError(f"agreement file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise AgreementError(f"agreement file {path} is not valid TOML: {exc}") from None
    return parse_agreement(data, str(path))


def parse_agreement(data: dict[str, Any], origin: str = "agreement") -> Agreement:
    section = _Section(data, origin)
    agreement = Agreement(
        id=section.text("agreement", "id"),
        recipient=section.text("agreement", "recipient"),
        purpose=section.text("agreement", "purpose", default="jsna"),
        threshold=section.integer("disclosure", "threshold", minimum=0),
        rounding=section.integer("disclosure", "rounding", minimum=1),
        secondary=section.boolean("disclosure", "secondary", default=True),
        breakdowns=section.breakdowns(),
        level=section.choice("breakdowns", "level", LEVELS, default="practice"),
        exclude_optouts=section.boolean("optouts", "exclude", default=True),
        internal_recipient=section.boolean("agreement", "internal_recipient", default=False),
        measures=section.measures(),
        unit_costs=section.unit_costs(),
        cohort_extract=section.boolean("cohort_extract", "allowed", default=False),
    )
    if agreement.unmasked and not agreement.internal_recipient:
        raise AgreementError(
            f"{origin}: threshold 0 with rounding 1 publishes exact counts; that is allowed only "
            "for a recipient inside the practice's own organisation: set "
            "[agreement] internal_recipient = true if that is so, or raise the threshold"
        )
    return agreement


class _Section:
    """Typed access to the TOML tables with messages that name the key."""

    def __init__(self, data: dict[str, Any], origin: str) -> None:
        self.data = data
        self.origin = origin

    def table(self, name: str) -> dict[str, Any]:
        """One ``[name]`` table (empty when absent); anything else there is an error."""
        table = self.data.get(name, {})
        if not isinstance(table, dict):
            raise AgreementError(f"{self.origin}: {name} must be a table, written [{name}]")
        return table

    def _get(self, table: str, key: str, default: Any) -> Any:
        value = self.table(table).get(key, default)
        if value is None:
            raise AgreementError(f"{self.origin}: [{table}] {key} is required")
        return value

    def text(self, table: str, key: str, default: str | None = None) -> str:
        value = self._get(table, key, default)
        if not isinstance(value, str) or not value.strip():
            raise AgreementError(f"{self.origin}: [{table}] {key} must be a non-empty string")
        return value.strip()

    def integer(self, table: str, key: str, minimum: int) -> int:
        value = self._get(table, key, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise AgreementError(
                f"{self.origin}: [{table}] {key} must be a whole number >= {minimum}"
            )
        return value

    def boolean(self, table: str, key: str, default: bool) -> bool:
        value = self._get(table, key, default)
        if not isinstance(value, bool):
            raise AgreementError(f"{self.origin}: [{table}] {key} must be true or false")
        return value

    def choice(self, table: str, key: str, options: tuple[str, ...], default: str) -> str:
        value = self._get(table, key, default)
        if value not in options:
            raise AgreementError(
                f"{self.origin}: [{table}] {key} = {value!r}; expected one of {', '.join(options)}"
            )
        return value

    def breakdowns(self) -> tuple[str, ...]:
        return self._subset("breakdowns", "allowed", STRATIFIERS, default=[], empty_ok=True)

    def measures(self) -> tuple[str, ...]:
        return self._subset("measures", "include", MEASURES, default=list(MEASURES))

    def _subset(
        self, table: str, key: str, known: Iterable[str], default: list[str], empty_ok: bool = False
    ) -> tuple[str, ...]:
        """A list of known names, returned in the order of ``known`` (the contract's order)."""
        chosen = self._get(table, key, default)
        if not isinstance(chosen, list) or not (chosen or empty_ok):
            what = "a list" if empty_ok else "a non-empty list"
            raise AgreementError(f"{self.origin}: [{table}] {key} must be {what}")
        unknown = [name for name in chosen if not isinstance(name, str) or name not in known]
        if unknown:
            raise AgreementError(
                f"{self.origin}: [{table}] {key} has unknown {unknown}; known: {', '.join(known)}"
            )
        return tuple(name for name in known if name in chosen)

    def unit_costs(self) -> dict[str, float]:
        table = self.table("unit_costs")
        costs = {}
        for key, value in table.items():
            if key not in NHS_USE:
                raise AgreementError(
                    f"{self.origin}: [unit_costs] {key} is not an NHS-use kind; known: "
                    f"{', '.join(NHS_USE)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise AgreementError(f"{self.origin}: [unit_costs] {key} must be £ >= 0")
            costs[key] = float(value)
        if costs and set(costs) != set(NHS_USE):
            missing = ", ".join(k for k in NHS_USE if k not in costs)
            raise AgreementError(
                f"{self.origin}: [unit_costs] needs a price for every kind; missing {missing}"
            )
        return costs
