"""Invented people: what their Patient record says, and the strata that follows from it.

A Person holds the intended demographics (a real date of birth, or None when the record gives no
usable one) next to the raw values written, so the strata come from the decision, not the FHIR.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from . import codes

INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
AGE_BANDS = ((0, 17, "0-17"), (18, 39, "18-39"), (40, 59, "40-59"), (60, 74, "60-74"))


@dataclass
class Person:
    """One invented person and how their Patient resource is written."""

    id: str
    nhs: str
    practice: str | None  # ODS code the person belongs to; None = counted nowhere
    gp: list[dict[str, Any]]  # generalPractitioner references as written
    managing: dict[str, Any] | None = None  # managingOrganization as written (GP Connect)
    birth: date | None = None  # the date age is taken from (None = unknown)
    birth_written: str | None = None
    gender: str | None = None
    ethnic: str | None = None
    postcode: str | None = None  # as written: the home address's
    other_addresses: list[dict[str, Any]] = field(default_factory=list)  # written before it
    imd: str = "unknown"
    valid_nhs: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def ref(self) -> dict[str, str]:
        """A literal reference to this person."""
        return {"reference": f"Patient/{self.id}"}

    def strata(self, month: str) -> dict[str, str]:
        """The person's stratum in each stratifier, for a YYYY-MM reporting month."""
        return {
            "age-band": age_band(self.birth, month_end(month)),
            "sex": self.gender if self.gender in ("male", "female") else "other-unknown",
            "ethnicity-group": codes.ETHNIC_GROUPS.get(self.ethnic or "", "not-stated"),
            "imd-quintile": self.imd,
        }


def month_end(month: str) -> date:
    """The last day of a YYYY-MM month."""
    year, mon = int(month[:4]), int(month[5:7])
    nxt = date(year + mon // 12, mon % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def age_band(birth: date | None, on: date) -> str:
    """Whole years from birth to a day, banded; unknown without a birth date."""
    if birth is None:
        return "unknown"
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    for low, high, band in AGE_BANDS:
        if low <= years <= high:
            return band
    return "75+"


@dataclass(frozen=True)
class Postcodes:
    """A practice's catchment: postcodes in the IMD lookup (with quintile) and some not in it."""

    known: tuple[tuple[str, str], ...]  # (canonical "AB1 2CD", quintile)
    unknown: tuple[str, ...]


def catchment(rng: random.Random, area: str, size: int = 12) -> Postcodes:
    """Invented postcodes for a practice's area, each with an invented IMD quintile."""
    seen: set[str] = set()
    known: list[tuple[str, str]] = []
    while len(known) < size:
        letters = "".join(rng.choice(INWARD_LETTERS) for _ in range(2))
        pc = f"{area}{rng.randint(1, 9)} {rng.randint(1, 9)}{letters}"
        if pc not in seen:
            seen.add(pc)
            known.append((pc, str(rng.randint(1, 5))))
    unknown = tuple(f"{area}{rng.randint(10, 19)} 9ZZ" for _ in range(2))
    return Postcodes(tuple(known), unknown)


def odd_spelling(rng: random.Random, postcode: str) -> str:
    """The same postcode as a receptionist might type it: odd case and spacing."""
    outward, inward = postcode.split(" ")
    forms = (
        f"{outward.lower()} {inward.lower()}",
        f"{outward}{inward}",
        f" {outward}  {inward.lower()} ",
        f"{outward.lower()}{inward}",
    )
    return rng.choice(forms)


def random_birth(rng: random.Random) -> date:
    """A birth date giving a spread of ages at late 2026 (most people with LTCs are older)."""
    age = rng.choice((rng.randint(5, 17), rng.randint(18, 39), *(rng.randint(40, 95),) * 4))
    return date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))


def random_demographics(rng: random.Random, person: Person, area: Postcodes) -> None:
    """Fill a person's demographics with realistic gaps (about 1 in 20 of each is missing)."""
    if rng.random() > 0.04:
        person.birth = random_birth(rng)
        person.birth_written = person.birth.isoformat()
    roll = rng.random()
    person.gender = (
        "female"
        if roll < 0.5
        else "male"
        if roll < 0.95
        else rng.choice((None, "unknown", "other"))
    )
    if rng.random() > 0.06:
        person.ethnic = rng.choice("AAAAAABCDEFGHJKLMNPRSZ") if rng.random() > 0.03 else "99"
    roll = rng.random()
    if roll < 0.05:
        return
    if roll < 0.09:
        person.postcode = rng.choice(area.unknown)
        return
    postcode, quintile = rng.choice(area.known)
    person.postcode = odd_spelling(rng, postcode) if rng.random() < 0.15 else postcode
    person.imd = quintile


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later (or earlier), clamped to the month's end.

    2026-03-31 minus 1 month is 2026-02-28: a window never spills into the next month.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = month_end(f"{year:04d}-{month + 1:02d}")
    return date(year, month + 1, min(day.day, last.day))


def shift_month(month: str, months: int) -> str:
    """A YYYY-MM month moved by whole months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + months
    year, mon = divmod(index, 12)
    return f"{year:04d}-{mon + 1:02d}"
