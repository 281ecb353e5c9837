"""The data-sharing agreement (TOML, contract section 4): the rules every release obeys.

The agreement is law: every table is read by a strict schema (one pydantic model per table, no
unknown key, no value of the wrong type, no guessing), and every problem in the file is reported at
once, one plain line each naming the key, so a person fixes the file in one go. Rules weaker than
the floor are refused unless the recipient is declared to be inside the practice's own
organisation, and are then stated loudly on every build.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, field_validator

from ltcbridge.concepts import NHS_USE, PROVIDER, STRATIFIERS
from ltcbridge.config_schema import (
    FileSchema,
    OdsCode,
    StrictTable,
    Text,
    check_names,
    problem_lines,
    table_of_keys,
)
from ltcbridge.errors import AgreementError
from ltcbridge.period import month_end_int, month_int
from ltcbridge.secagg.config import SecureAggregation

Level = Literal["practice", "pcn"]
Status = Literal["active", "suspended", "revoked"]
LEVELS: tuple[str, ...] = get_args(Level)
STATUSES: tuple[str, ...] = get_args(Status)
# The measures a release may carry, by short name (the last part of the Measure canonical).
MEASURES = ("unmet-need", "referrals", "support-level", "star-distance-travelled", "nhs-use")
# What [breakdowns] allowed may name: the demographic stratifiers (every measure) and the provider
# behind a referral or outcome (the outcome measures only).
BREAKDOWNS = (*STRATIFIERS, PROVIDER)
# The floor (contract section 4): anything weaker needs [agreement] internal_recipient = true.
FLOOR_THRESHOLD = 5
FLOOR_ROUNDING = 5
FLOOR = f"threshold >= {FLOOR_THRESHOLD}, rounding >= {FLOOR_ROUNDING}, secondary = true"


@dataclass(frozen=True)
class Agreement:
    """A checked agreement: what parse_agreement returns, and what every release is built under."""

    id: str
    recipient: str
    purpose: str
    threshold: int
    rounding: int
    secondary: bool
    breakdowns: tuple[str, ...]  # in BREAKDOWNS order; may include PROVIDER
    level: str
    exclude_optouts: bool
    valid_from: date
    valid_until: date
    status: str = "active"
    internal_recipient: bool = False
    # false: the practice daemon seals and sends each release without a person's approval
    approval_required: bool = True
    measures: tuple[str, ...] = MEASURES  # which measures a release carries (short names)
    unit_costs: dict[str, float] = field(default_factory=dict)  # NHS-use kind -> £ per unit
    cohort_extract: bool = False  # a pseudonymised cohort extract is allowed (docs/feed.md)
    # area totals by secret shares to two aggregators (docs/secure-aggregation.md)
    secure_aggregation: SecureAggregation | None = None
    origin: str = field(default="agreement", compare=False)  # the file, for messages

    @property
    def unmasked(self) -> bool:
        """Threshold 0 with rounding 1: exact figures, only for a recipient inside the practice."""
        return self.threshold == 0 and self.rounding == 1

    @property
    def allows_provider(self) -> bool:
        """Whether outcome measures may be broken down by the provider behind each person."""
        return PROVIDER in self.breakdowns

    def below_floor(self) -> list[str]:
        """Each rule weaker than the floor, as key = value (empty when the agreement meets it)."""
        weak = _weak_rules(self.threshold, self.rounding, self.secondary)
        return [f"{key} = {value} (floor: {floor})" for key, value, floor in weak]

    def warnings(self) -> list[str]:
        """Things a person must be told loudly whenever a release is built under this agreement."""
        notes = []
        weak = self.below_floor()
        if weak:
            notes.append(
                f"BELOW THE FLOOR: agreement {self.id} sends figures to {self.recipient} under "
                f"rules weaker than the floor ({FLOOR}): {'; '.join(weak)}. Allowed only because "
                "[agreement] internal_recipient = true declares the recipient inside the "
                "practice's own organisation"
            )
        if self.status != "active":
            notes.append(
                f"{self.status.upper()}: agreement {self.id} has [agreement] status = "
                f"{self.status!r}: nothing may be sealed or sent under it"
            )
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

    def check_in_force(self, on: date) -> None:
        """Refuse, naming the key and what to do, unless the agreement is active on ``on``:
        nothing is sealed or sent under a suspended, revoked, expired or future agreement."""
        where = f"{self.origin}: agreement {self.id}"
        if self.status == "suspended":
            raise AgreementError(
                f'{where} has [agreement] status = "suspended": nothing may be sealed or sent '
                "under it. Once the agreement is reinstated with the recipient, set status = "
                '"active"'
            )
        if self.status == "revoked":
            raise AgreementError(
                f'{where} has [agreement] status = "revoked": it has ended for good and '
                "nothing may be sealed or sent under it. Agree a new agreement with the "
                "recipient and use its file"
            )
        if on < self.valid_from:
            raise AgreementError(
                f"{where} is not in force until [agreement] valid_from = {self.valid_from} "
                f"(today is {on}): wait until then, or use the agreement in force now"
            )
        if on > self.valid_until:
            raise AgreementError(
                f"{where} expired on [agreement] valid_until = {self.valid_until} (today is "
                f"{on}): renew it with the recipient and set the new valid_until"
            )

    def covers_period(self, period: str) -> bool:
        """Whether any day of the ``YYYY-MM`` month lies inside valid_from..valid_until."""
        start, end = month_int(period) * 100 + 1, month_end_int(period)
        return _day_int(self.valid_from) <= end and start <= _day_int(self.valid_until)


def _day_int(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _weak_rules(threshold: int, rounding: int, secondary: bool) -> list[tuple[str, str, str]]:
    """The rules below the floor as (key, value, floor), shared by refusals and warnings."""
    weak = []
    if threshold < FLOOR_THRESHOLD:
        shown = f"{threshold}{' (no masking)' if threshold == 0 else ''}"
        weak.append(("[disclosure] threshold", shown, f"at least {FLOOR_THRESHOLD}"))
    if rounding < FLOOR_ROUNDING:
        shown = f"{rounding}{' (no rounding)' if rounding == 1 else ''}"
        weak.append(("[disclosure] rounding", shown, f"at least {FLOOR_ROUNDING}"))
    if not secondary:
        weak.append(("[disclosure] secondary", "false", "true"))
    return weak


# -- the schema: one strict model per table -------------------------------------------------------
# The descriptions of required keys finish the "is required" message.
class AgreementTable(StrictTable):
    id: Text = Field(description='the agreement\'s identifier in quotes, e.g. "DSA-2026-014"')
    recipient: OdsCode = Field(description='the commissioner\'s ODS code in quotes, e.g. "QHM"')
    purpose: Text = "jsna"
    valid_from: date = Field(description="the first day in force, a TOML date such as 2026-04-01")
    valid_until: date = Field(description="the last day in force, a TOML date such as 2027-03-31")
    status: Status = "active"
    internal_recipient: bool = False
    approval_required: bool = True


class DisclosureTable(StrictTable):
    threshold: int = Field(ge=0, description="counts 1..threshold are masked, e.g. 7")
    rounding: int = Field(ge=1, description="counts are rounded to a multiple of it, e.g. 5")
    secondary: bool = True


class BreakdownsTable(StrictTable):
    allowed: list[str] = Field(default_factory=list)
    level: Level = "practice"

    @field_validator("allowed")
    @classmethod
    def _known_breakdowns(cls, value: list[str]) -> list[str]:
        return check_names(value, BREAKDOWNS)


class OptoutsTable(StrictTable):
    exclude: bool = True


class MeasuresTable(StrictTable):
    include: list[str] = Field(default=list(MEASURES), min_length=1)

    @field_validator("include")
    @classmethod
    def _known_measures(cls, value: list[str]) -> list[str]:
        return check_names(value, MEASURES)


class CohortExtractTable(StrictTable):
    allowed: bool = False


# One optional £ >= 0 per NHS-use kind, keyed by the kind's name as written in the file.
UnitCostsTable = table_of_keys("UnitCostsTable", NHS_USE, float, ge=0)

TABLES: dict[str, type[BaseModel]] = {
    "agreement": AgreementTable,
    "disclosure": DisclosureTable,
    "breakdowns": BreakdownsTable,
    "optouts": OptoutsTable,
    "measures": MeasuresTable,
    "unit_costs": UnitCostsTable,
    "cohort_extract": CohortExtractTable,
    "secure_aggregation": SecureAggregation,  # optional: absent means no secure aggregation
}
OPTIONAL_TABLES = frozenset({"secure_aggregation"})


SCHEMA = FileSchema(
    TABLES,
    optional=OPTIONAL_TABLES,
    expected={"float_type": "must be a number of pounds, without quotes"},
)


# -- reading --------------------------------------------------------------------------------------
def load_agreement(path: Path | str) -> Agreement:
    """Read and check an agreement file; every mistake is named with the key to fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AgreementError(f"agreement file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AgreementError(f"agreement file {path} is not valid TOML: {exc}") from None
    return parse_agreement(data, str(path))


def parse_agreement(data: dict[str, Any], origin: str = "agreement") -> Agreement:
    """Check the parsed TOML against the schema and the floor; raise one AgreementError listing
    every problem (each a line naming the key), or return the Agreement."""
    tables, problems = SCHEMA.check(data)
    problems += _cross_checks(tables) + _floor_problems(tables, data)
    if problems:
        raise AgreementError(
            f"{origin}: {len(problems)} problem(s) in the agreement:\n{problem_lines(problems)}"
        )
    return _agreement(tables, origin)


def _cross_checks(tables: dict[str, Any]) -> list[str]:
    """Rules between keys of one table: the window's order, unit costs all or none."""
    problems = []
    terms = tables.get("agreement")
    if terms and terms.valid_until < terms.valid_from:
        problems.append(
            f"[agreement] valid_until: {terms.valid_until} is before valid_from "
            f"{terms.valid_from}; the window must end after it starts"
        )
    costs = tables.get("unit_costs")
    if costs:
        given = costs.model_dump(by_alias=True, exclude_none=True)
        missing = [kind for kind in NHS_USE if kind not in given]
        if given and missing:
            problems.append(
                f"[unit_costs]: needs a price for every NHS-use kind or none; missing "
                f"{', '.join(missing)}"
            )
    return problems


def _floor_problems(tables: dict[str, Any], data: dict[str, Any]) -> list[str]:
    """The rules below the floor when the recipient is not declared internal. Checked even when
    [agreement] or [disclosure] has other problems (from the floor's keys, when those are of the
    right type), so that every problem is reported at once."""
    terms, rules = tables.get("agreement"), tables.get("disclosure")
    if terms:
        internal = terms.internal_recipient
    else:
        internal = _raw(data, "agreement", "internal_recipient", bool, False)
    if rules:
        values = (rules.threshold, rules.rounding, rules.secondary)
    else:
        values = (
            _raw(data, "disclosure", "threshold", int, None),
            _raw(data, "disclosure", "rounding", int, None),
            _raw(data, "disclosure", "secondary", bool, True),
        )
    threshold, rounding, secondary = values
    if internal is not False or None in values or threshold < 0 or rounding < 1:
        return []  # internal, or a key whose own problem is reported already
    return [
        f"{key}: {value} is below the floor ({floor}); raise it, or, only if the recipient "
        "is inside the practice's own organisation, set [agreement] internal_recipient = true"
        for key, value, floor in _weak_rules(threshold, rounding, secondary)
    ]


def _raw(data: dict[str, Any], table: str, key: str, kind: type, default: Any) -> Any:
    """A key's value straight from the file when it is exactly of ``kind``, else None."""
    raw = data.get(table)
    value = raw.get(key, default) if isinstance(raw, dict) else default
    return value if type(value) is kind else None


def _agreement(tables: dict[str, Any], origin: str) -> Agreement:
    """The Agreement the checked tables describe (lists in their canonical order)."""
    terms, rules = tables["agreement"], tables["disclosure"]
    breakdowns, measures = tables["breakdowns"], tables["measures"]
    costs = tables["unit_costs"].model_dump(by_alias=True, exclude_none=True)
    return Agreement(
        id=terms.id,
        recipient=terms.recipient,
        purpose=terms.purpose,
        threshold=rules.threshold,
        rounding=rules.rounding,
        secondary=rules.secondary,
        breakdowns=tuple(name for name in BREAKDOWNS if name in breakdowns.allowed),
        level=breakdowns.level,
        exclude_optouts=tables["optouts"].exclude,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        status=terms.status,
        internal_recipient=terms.internal_recipient,
        approval_required=terms.approval_required,
        measures=tuple(name for name in MEASURES if name in measures.include),
        unit_costs={kind: float(price) for kind, price in costs.items()},
        cohort_extract=tables["cohort_extract"].allowed,
        secure_aggregation=tables.get("secure_aggregation"),
        origin=origin,
    )
