"""Canonical records: what one FHIR resource means to ltcbridge, whatever the practice's codes.

These are slotted dataclasses rather than pydantic models on purpose: the reader builds one per
resource on the hot path (millions per export), where pydantic validation would dominate the run.
Everything in them has already been checked by the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A reference to a person as an entry gives it: ("Patient", id) or ("nhs", NHS number).
SubjectRef = tuple[str, str]
# A reference to a practice as a Patient gives it: ("Organization", id), ("Organization",
# "id|ODS") when the reference also carries an ODS identifier, or ("ods", ODS code).
PracticeRef = tuple[str, str]


@dataclass(slots=True)
class Version:
    """Which version of a resource this is: the latest ``meta.lastUpdated`` wins."""

    resource_type: str
    id: str
    last_updated_us: int | None  # microseconds since the epoch, time zone honoured
    version_id: str | None

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.id}"

    @property
    def integer_version(self) -> int:
        """versionId is opaque in FHIR; it may break a tie only when it is an integer."""
        return int(self.version_id) if self.version_id and self.version_id.isdigit() else -1


@dataclass(slots=True)
class StarReading:
    """A person's self-reported scores on one Star, area by area."""

    star: str
    scores: dict[str, int]


# The reader's hot path hands these as plain tuples (cheaper than objects, a million times over):
# What ties an entry to the referral loop: (the ServiceRequest a provider's answer is about, as
# "ServiceRequest/{id}"; the provider's ODS code). None for most entries.
Link = tuple[str | None, str | None]
# (resource_type, id, last_updated_us, version_id, subject, date, date_int, concepts, goals,
#  stars, retracted, link)
EntryFields = tuple[
    str, str, int | None, str | None, SubjectRef | None, str | None, int,
    tuple[str, ...], tuple[str, ...], tuple["StarReading", ...], bool, Link | None,
]  # fmt: skip
# (id, last_updated_us, version_id, nhs_number, birth_int, sex, ethnicity_group, imd_quintile,
#  practice, other_nhs_numbers, replaced_by, death_int, replaces)
PatientFields = tuple[
    str, int | None, str | None, str | None, int, str, str, str, PracticeRef | None,
    tuple[str, ...], str | None, int, tuple[str, ...],
]  # fmt: skip


@dataclass(slots=True)
class EntryRecord:
    """A care-planning entry: who, when, and which concepts it asserts."""

    version: Version
    subject: SubjectRef | None
    date: str | None  # the clinical date as written; its first seven characters are the month
    date_int: int = 0  # YYYYMMDD (day 00 when only the month is known)
    concepts: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    stars: tuple[StarReading, ...] = ()
    retracted: bool = (
        False  # entered-in-error, cancelled…: replaces older versions, asserts nothing
    )
    focus: str | None = None  # a provider's answer: "ServiceRequest/{id}" of the referral
    provider: str | None = None  # ODS code of the provider who answered or took a Star reading

    @property
    def month(self) -> str | None:
        return self.date[:7] if self.date else None

    @classmethod
    def from_fields(cls, fields: EntryFields) -> EntryRecord:
        (
            kind,
            rid,
            updated,
            version_id,
            subject,
            date,
            date_int,
            concepts,
            goals,
            stars,
            retracted,
            link,
        ) = fields
        version = Version(kind, rid, updated, version_id)
        focus, provider = link or (None, None)
        return cls(
            version, subject, date, date_int, concepts, goals, stars, retracted, focus, provider
        )


@dataclass(slots=True)
class PatientRecord:
    """A person, with the demographics the breakdowns need (no name, no address beyond postcode)."""

    version: Version
    nhs_number: str | None
    birth_int: int  # YYYYMMDD, 0 when unknown
    sex: str
    ethnicity_group: str
    imd_quintile: str
    practice: PracticeRef | None
    other_nhs_numbers: tuple[str, ...] = ()  # further valid NHS numbers of the same person
    replaced_by: str | None = None  # id of the Patient a merged record was replaced by
    death_int: int = 0  # YYYYMMDD of death (day 00: month only), -1 date unknown, 0 alive
    replaces: tuple[str, ...] = ()  # ids of the Patients merged into this one

    @classmethod
    def from_fields(cls, fields: PatientFields) -> PatientRecord:
        rid, updated, version_id, *demographics = fields
        return cls(Version("Patient", rid, updated, version_id), *demographics)  # type: ignore[arg-type]


@dataclass(slots=True)
class OrganizationRecord:
    """An organisation in the source; practices are found through their ODS code."""

    version: Version
    ods_code: str | None


@dataclass(slots=True)
class QuarantineItem:
    """One piece of bad input, kept aside for a person to see, with where it came from."""

    file: str
    line: int
    resource: str | None  # "Type/id" when known
    reason: str
    path: str
    message: str
    raw: str = field(default="", repr=False)

    def describe(self) -> str:
        what = self.resource or "(no resource id)"
        return f"{self.file}:{self.line} {what} {self.path}: {self.message}"
