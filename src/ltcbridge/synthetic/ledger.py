"""The ledger: every line the generator writes, next to what each entry was meant to say.

Lines and meanings are recorded together, at the moment of writing, so the truth is computed from
the generator's decisions (the facts) and never by parsing the FHIR it wrote.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from .people import Person

ZONES = (UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)))


@dataclass(frozen=True)
class Fact:
    """What one entry finally means (after its versions and status), for one person."""

    patient: str
    concepts: frozenset[str]
    date: str  # the clinical date as written; its first 7 characters are the month
    updated: datetime | None  # the winning version's meta.lastUpdated, as an instant

    @property
    def month(self) -> str:
        """The entry's month: the clinical date as written, never converted to UTC."""
        return self.date[:7]


@dataclass(frozen=True)
class Referral:
    """A referral ServiceRequest: whose, its clinical date, and whether it finally counts."""

    id: str
    patient: str
    date: str
    counts: bool  # False when its winning version is entered-in-error, revoked, ...


@dataclass(frozen=True)
class Answer:
    """A provider's answer (Task) to a referral, as its winning version finally says it."""

    id: str
    patient: str  # Task.for
    focus: str  # the id of the ServiceRequest it answers
    status: str  # the winning version's status
    date: str  # the winning version's lastModified, else its authoredOn, as written
    owner: str  # the provider's ODS code


@dataclass(frozen=True)
class StarReading:
    """One counting Star reading: its scores per area, its date and who took it."""

    patient: str
    star: str
    date: str
    updated: datetime
    scores: Mapping[str, int]
    provider: str | None  # the first performer with an ODS identifier; None = the practice

    @property
    def month(self) -> str:
        """The reading's month, as written."""
        return self.date[:7]


@dataclass(frozen=True)
class NhsUnit:
    """One counting NHS-use record: the kind of use (e.g. gp-attendances), its date, which one."""

    patient: str
    kind: str
    date: str
    resource: str  # "Type/id": prescriptions count one per resource


@dataclass(frozen=True)
class Quarantined:
    """Why a written line should be quarantined (its line number is known only on writing)."""

    resource: str | None
    reason: str


@dataclass
class Ledger:
    """Collects lines per output file, facts, people and the side counts the truth reports."""

    rng: random.Random
    lines: dict[str, list[tuple[bytes, Quarantined | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    facts: list[Fact] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    unmapped: Counter[str] = field(default_factory=Counter)
    non_asserting: Counter[str] = field(default_factory=Counter)
    held: list[str] = field(default_factory=list)
    unattributed: list[str] = field(default_factory=list)
    mess: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    referrals: dict[str, Referral] = field(default_factory=dict)  # by ServiceRequest id
    answers: list[Answer] = field(default_factory=list)
    stars: list[StarReading] = field(default_factory=list)
    nhs_use: list[NhsUnit] = field(default_factory=list)
    _counters: Counter[str] = field(default_factory=Counter)

    def new_id(self, prefix: str) -> str:
        """A fresh resource id: mostly readable counters, some UUIDs as real exports have."""
        if self.rng.random() < 0.25:
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self._counters[prefix] += 1
        return f"{prefix}-{self._counters[prefix]:05d}"

    def uuid(self) -> str:
        """A deterministic UUID (for versionIds)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def write(
        self,
        res: dict[str, Any],
        *,
        file: str | None = None,
        unmapped: tuple[str, ...] = (),
        non_asserting: tuple[str, ...] = (),
        quarantine: str | None = None,
    ) -> None:
        """Write one resource line; note its unmapped codings and any quarantine reason."""
        kind = res.get("resourceType")
        name = file or f"{kind}.ndjson"
        q = None
        if quarantine:
            rid = f"{kind}/{res['id']}" if kind and "id" in res else None
            q = Quarantined(rid, quarantine)
        self.lines[name].append((orjson.dumps(res), q))
        self.unmapped.update(unmapped)
        self.non_asserting.update(non_asserting)

    def write_raw(self, file: str, text: bytes, reason: str) -> None:
        """Write a line that is not a resource at all (malformed JSON)."""
        self.lines[file].append((text, Quarantined(None, reason)))

    def fact(self, person: Person, concepts: frozenset[str], when: str, updated: datetime | None):
        """Record what a counting entry of this person finally asserts."""
        if concepts:
            self.facts.append(Fact(person.id, concepts, when, updated))

    def stamp(self, when: str, minutes: int | None = None) -> tuple[str, datetime]:
        """A meta.lastUpdated some time after a clinical date, in one of several time zones."""
        day = when[:10] if len(when) >= 10 else f"{when[:7]}-28"  # a month-only date
        base = datetime.fromisoformat(day).replace(tzinfo=UTC)
        later = base + timedelta(
            minutes=minutes if minutes is not None else self.rng.randint(600, 60 * 24 * 20)
        )
        zone = self.rng.choice(ZONES)
        return iso(later.astimezone(zone)), later


def iso(moment: datetime) -> str:
    """An instant as FHIR writes it: `Z` for UTC, else the offset."""
    text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if moment.utcoffset() == timedelta(0) else text
