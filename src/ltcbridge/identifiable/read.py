"""Raw FHIR R4 resources (plain dicts) to canonical records, through the mappings.

This is the hot path: it runs once per resource of an export, so it works on the dicts orjson
gives, never builds fhir.resources models, and caches what repeats (dates, codings). Every rule it
applies is written down in docs/counting-rules.md.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ltcbridge.concepts import (
    NHS_USE,
    REFERRAL_ACCEPTED,
    REFERRAL_COMPLETED,
    REFERRAL_DECLINED,
)
from ltcbridge.errors import BadResource
from ltcbridge.fhir_problems import MALFORMED, fhir_problem
from ltcbridge.identifiable.model import (
    EntryFields,
    EntryRecord,
    Link,
    OrganizationRecord,
    PatientFields,
    PatientRecord,
    PracticeRef,
    StarReading,
    SubjectRef,
    Version,
)
from ltcbridge.mapping import Mappings, normalise_postcode
from ltcbridge.nhs_number import is_valid_nhs_number
from ltcbridge.resource_types import FHIR_RESOURCE_TYPES
from ltcbridge.uris import (
    CARECONNECT_ETHNIC_CATEGORY_EXTENSION,
    CARECONNECT_ETHNIC_CATEGORY_SYSTEM,
    ETHNIC_CATEGORY_EXTENSION,
    ETHNIC_CATEGORY_SYSTEM,
    NHS_NUMBER,
    ODS_CODE,
)

Record = EntryRecord | PatientRecord | OrganizationRecord

CODED_ENTRY_TYPES = frozenset({"Observation", "Condition", "Procedure", "ServiceRequest"})
# What the care-planning template records (what the daemon pulls and refers from).
CARE_PLANNING_TYPES = CODED_ENTRY_TYPES | {"QuestionnaireResponse", "Goal"}
# What the outcome measures add: providers' answers to referrals, and NHS use.
RESPONSE_TYPES = frozenset({"Task"})
NHS_USE_TYPES = frozenset({"Appointment", "Encounter", "MedicationRequest"})
ENTRY_TYPES = CARE_PLANNING_TYPES | RESPONSE_TYPES | NHS_USE_TYPES

_RETRACTED_STATUS = frozenset({"entered-in-error", "cancelled", "revoked"})
_STATUS_RETRACTS = frozenset(
    {"Observation", "Procedure", "ServiceRequest", "QuestionnaireResponse"}
    | RESPONSE_TYPES
    | NHS_USE_TYPES
)
_NO_REFERENCE: dict[str, Any] = {}
_NO_PARTS = ("", "", "")
_RETRACTED_GOAL = frozenset({"entered-in-error", "cancelled", "rejected"})
_RETRACTED_VERIFICATION = frozenset({"entered-in-error", "refuted"})

# Clinical date elements, in the order the first present one is taken (docs/counting-rules.md).
_DATE_ELEMENTS: dict[str, tuple[str, ...]] = {
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    "Condition": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "Procedure": ("performedDateTime", "performedPeriod"),
    "ServiceRequest": ("occurrenceDateTime", "authoredOn"),
    "QuestionnaireResponse": ("authored",),
    "Goal": ("startDate", "statusDate"),
    "Task": ("lastModified", "authoredOn"),
    "Appointment": ("start",),
    "Encounter": ("period",),
    "MedicationRequest": ("authoredOn",),
}
_FIRST_DATE = {kind: elements[0] for kind, elements in _DATE_ELEMENTS.items()}
# A provider's answer (Task.status) -> what it asserts about the referral it focuses.
_TASK_ANSWERS: dict[str, tuple[str, ...]] = {
    "accepted": (REFERRAL_ACCEPTED,),
    "in-progress": (REFERRAL_ACCEPTED,),
    "completed": (REFERRAL_ACCEPTED, REFERRAL_COMPLETED),
    "rejected": (REFERRAL_DECLINED,),
}
_PRESCRIBING_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
_NHS_USE_CONCEPTS = frozenset(NHS_USE.values())
_GP_ATTENDANCE = NHS_USE["gp-attendances"]
_PRESCRIPTION = NHS_USE["prescriptions"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_from_iso = datetime.fromisoformat
_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
# the only layout whose pieces are remembered: each piece then means the same whatever the others
_PLAIN_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\Z", re.ASCII)
_MAX_HOURS = 100_000  # eleven years of hours: a table of a few megabytes at most
_MAX_REST_OF_HOUR = 3_600 * 40  # every :mm:ss in forty time zones
_MAX_CACHED = 100_000  # birth dates, postcodes: a table of a few megabytes at most

LOCATED_AT_MOST = 1000  # per reader: locating one costs milliseconds (a full FHIR validation)

# The ethnic category extensions and the code systems their codes must be from: UK Core, and
# the CareConnect ones older GP systems still write (the same letters).
_ETHNICITY_EXTENSIONS = frozenset(
    {ETHNIC_CATEGORY_EXTENSION, CARECONNECT_ETHNIC_CATEGORY_EXTENSION}
)
_ETHNICITY_SYSTEMS = frozenset({ETHNIC_CATEGORY_SYSTEM, CARECONNECT_ETHNIC_CATEGORY_SYSTEM})
_ONSETS = frozenset({"onsetDateTime", "onsetPeriod", "onsetAge", "onsetRange", "onsetString"})
# onsetAge / onsetRange units (UCUM) -> (months, days) in one unit
_AGE_UNITS = {"a": (12, 0), "mo": (1, 0), "wk": (0, 7), "d": (0, 1)}
# An onset given as an age is kept as this negative date code until the person's birth date is
# known (aggregate.population): -(1 + months * AGE_MONTH + days).
AGE_MONTH = 100_000
# Notes: what a person should know about input that was read, though not as it was written.
NOTE_ONSET_TEXT = (
    "Condition onset that gives no date (text, a period without start, a range without low): "
    "recordedDate used"
)
NOTE_ONSET_AGE_UNIT = (
    "Condition onset age or range not usable as a date (a unit other than a, mo, wk or d, or "
    "beyond 200 years): recordedDate used"
)
NOTE_NHS_INVALID_BESIDE_VALID = (
    "Patient with an NHS number failing the modulus-11 check beside a valid one: the valid one used"
)
NOTE_ETHNICITY_SYSTEM = (
    "Patient ethnic category coded outside the UK Core (or CareConnect) system: not stated"
)
# The export's own diagnostics: log lines (no resourceType) and OperationOutcome error files.
EXPORT_LOG = "export log"
OPERATION_OUTCOME_ISSUE = "OperationOutcome issue"
_FAILED = ("error", "fatal")  # issue severities saying the server failed to export something

# Address uses that do not say where a person lives now (see _postcode).
_NOT_LIVED_AT = frozenset({"old", "work", "billing"})
_ETHNIC_GROUPS = {
    **dict.fromkeys("ABC", "white"),
    **dict.fromkeys("DEFG", "mixed"),
    **dict.fromkeys("HJKL", "asian"),
    **dict.fromkeys("MNP", "black"),
    **dict.fromkeys("RS", "other"),
}


class Reader:
    """Reads resources one at a time; keeps the tallies a person needs to see afterwards."""

    def __init__(self, mappings: Mappings) -> None:
        self.mappings = mappings
        self.unmapped: Counter[tuple[str, str]] = Counter()
        self.unmapped_questionnaires: Counter[str] = Counter()
        self._dates: dict[str, int] = {}
        # pieces of lastUpdated seen in valid instants -> microseconds (see _version_fields)
        self._hours: dict[str, int] = {}  # "YYYY-MM-DDThh" -> since the epoch
        # ":mm:ss" and zone ("Z", "+01:00") -> since the hour, less the zone's offset
        self._rest_of_hour: dict[str, int] = {}
        self._births: dict[object, int] = {}  # birthDate (text, unless malformed) -> YYYYMMDD
        self._imd_of: dict[str, str] = {}  # postalCode as written -> IMD quintile or "unknown"
        self._one_concept: dict[str, tuple[str, ...]] = {}
        self._located = 0  # malformed resources located so far (see malformed)
        self.notes: Counter[str] = Counter()  # see the NOTE_ constants
        self.diagnostics: Counter[str] = Counter()  # the export's log and error files, summarised

    def read(self, resource: Any) -> Record | None:
        """The canonical record of one resource; None for a valid type ltcbridge does not use.

        Raises ``BadResource`` (with the FHIR path) for anything a person must look at.
        """
        try:
            return self._read(resource)
        except MALFORMED as exc:
            raise self.malformed(resource, exc) from None

    def _read(self, resource: Any) -> Record | None:
        if not isinstance(resource, dict):
            raise BadResource("not-a-resource", "", "the line is JSON but not a JSON object")
        kind = resource.get("resourceType")
        if kind in ENTRY_TYPES:
            return EntryRecord.from_fields(self.entry_fields(kind, resource))
        if kind == "Patient":
            return PatientRecord.from_fields(self.patient_fields(resource))
        if kind == "Organization":
            version = Version(kind, *self._version_fields(kind, resource))
            return OrganizationRecord(version, _ods_code(resource))
        if not kind:
            if "eventId" in resource and "resourceType" not in resource:
                self._export_log(resource)
                return None
            raise BadResource("missing-resource-type", "resourceType", "is missing")
        if kind == "OperationOutcome":
            self._operation_outcome(resource)
            return None
        if kind not in FHIR_RESOURCE_TYPES:
            raise BadResource(
                "unknown-resource-type", "resourceType", f"{kind!r} is not a FHIR R4 resource type"
            )
        return None

    def _export_log(self, line: dict[str, Any]) -> None:
        """A line of a Bulk Data export's log (``log.ndjson``): counted by event, not read."""
        event = line.get("eventId")
        self.diagnostics[f"{EXPORT_LOG}: {event if isinstance(event, str) else '?'}"] += 1

    def _operation_outcome(self, outcome: dict[str, Any]) -> None:
        """An export's error file holds OperationOutcomes: counted by issue severity and code
        (never their text, which may name a patient)."""
        issues = outcome.get("issue")
        for issue in issues if isinstance(issues, list) else ():
            if isinstance(issue, dict):
                severity, code = issue.get("severity"), issue.get("code")
                self.diagnostics[_issue_key(severity, code)] += 1

    def malformed(self, resource: Any, exc: Exception) -> BadResource:
        """``malformed`` for a resource the rules could not read, located in full for the
        first ``LOCATED_AT_MOST`` this reader meets (each costs milliseconds)."""
        locate = self._located < LOCATED_AT_MOST
        self._located += locate
        return malformed(resource, exc, locate=locate)

    # -- versions -----------------------------------------------------------------------------
    def _version_fields(
        self, kind: str, resource: dict[str, Any]
    ) -> tuple[str, int | None, str | None]:
        """(id, lastUpdated in microseconds, versionId): what decides which version wins.

        lastUpdated is read in two pieces, each looked up in a small table of pieces already
        seen in a valid instant: the hour (``YYYY-MM-DDThh``), and the rest (``:mm:ss`` and the
        time zone, ``Z`` or ``+hh:mm``). Any hour and any rest make a valid instant together, so
        when both are known the sum is exact; anything else (fractions of a second, a new hour,
        a bad instant) is parsed in full by ``instant_us``, which raises for bad ones. This
        halves the cost of the step every resource takes.
        """
        rid = resource.get("id")
        if not rid:
            raise BadResource("missing-id", f"{kind}.id", "is missing")
        meta = resource.get("meta")
        if not meta:
            return rid, None, None
        text = meta.get("lastUpdated")
        updated: int | None
        try:
            updated = self._hours[text[:13]] + self._rest_of_hour[text[13:]]
        except (KeyError, TypeError):  # a piece not seen yet (or not text): parse it in full
            updated = instant_us(text)
            if updated is not None:
                self._learn_instant(text, updated)
        return rid, updated, meta.get("versionId")

    def _learn_instant(self, text: str, updated: int) -> None:
        """Remember the pieces of a valid instant (see ``_version_fields``), tables capped."""
        if not _PLAIN_INSTANT.match(text):
            return  # fractions of a second, or another layout: always parsed in full
        naive = (_from_iso(text[:19]) - _NAIVE_EPOCH) // _MICROSECOND
        clock, zone_offset = naive % _HOUR_US, naive - updated
        if len(self._hours) < _MAX_HOURS:
            self._hours[text[:13]] = naive - clock
        if len(self._rest_of_hour) < _MAX_REST_OF_HOUR:
            self._rest_of_hour[text[13:]] = clock - zone_offset

    # -- entries ------------------------------------------------------------------------------
    def entry_fields(self, kind: str, resource: dict[str, Any]) -> EntryFields:
        """One entry version as a plain tuple (see ``EntryFields``): the scan's hot path.

        It runs once per resource of an export, so the common case of each step is written
        inline (a coded entry, a literal Patient reference, the first clinical-date element) and
        the helpers are called only for the rest. The rules are docs/counting-rules.md.
        """
        resource_id, updated, version_id = self._version_fields(kind, resource)
        if (
            resource.get("status") in _RETRACTED_STATUS
            if kind in _STATUS_RETRACTS
            else _is_retracted(kind, resource)
        ):
            return (kind, resource_id, updated, version_id, None, None, 0, (), (), (), True, None)
        concepts: tuple[str, ...]
        goals: tuple[str, ...] = ()
        stars: tuple[StarReading, ...] = ()
        link: Link | None = None
        if kind in CODED_ENTRY_TYPES:
            code = resource.get("code")
            codings = code.get("coding", ()) if code else ()
            if type(codings) is list and len(codings) == 1:  # the usual case, looked up inline
                coding = codings[0]
                codes = self.mappings.by_system.get(coding.get("system"))
                concept = codes.get(coding.get("code")) if codes is not None else None
                if concept is None:
                    concept = self._unmapped(coding, resource)
                if concept is None:
                    concepts = ()
                elif concept in self.mappings.stars:
                    concepts, stars = self._star_reading(kind, resource, (concept,))
                    link = (None, _performer_ods(resource))
                else:
                    concepts = self._one_concept.get(concept) or self._one(concept)
            else:
                concepts = tuple(self._concepts(code, resource))
                if concepts and not self.mappings.stars.keys().isdisjoint(concepts):
                    concepts, stars = self._star_reading(kind, resource, concepts)
                    link = (None, _performer_ods(resource))
        elif kind == "QuestionnaireResponse":
            concepts, goals, stars = self._answers(resource)
        elif kind == "Goal":
            concepts = ("goal",)
            text = (resource.get("description") or {}).get("text")
            goals = (text,) if text else ()
        elif kind == "Task":
            concepts, link = _answer(resource)
        else:
            concepts = self._nhs_use(kind, resource)
        if not (concepts or stars):  # asserts nothing, yet still replaces older versions
            return (kind, resource_id, updated, version_id, None, None, 0, (), goals, stars, False,
                    None)  # fmt: skip
        reference = (resource.get("subject") or _NO_REFERENCE).get("reference")
        target, slash, rid = reference.partition("/") if type(reference) is str else _NO_PARTS
        if slash and target == "Patient" and "/" not in rid:
            subject: SubjectRef = ("Patient", rid)
        else:
            subject = _subject(kind, resource)
        clinical_date = resource.get(_FIRST_DATE[kind])
        if isinstance(clinical_date, str):
            date_int = self._dates.get(clinical_date[:10]) or self._date_int(
                clinical_date, kind, resource
            )
        else:
            clinical_date, date_int = self._date_elsewhere(kind, resource)
        return (kind, resource_id, updated, version_id, subject, clinical_date, date_int,
                concepts, goals, stars, False, link)  # fmt: skip

    def _star_reading(
        self, kind: str, resource: dict[str, Any], concepts: tuple[str, ...]
    ) -> tuple[tuple[str, ...], tuple[StarReading, ...]]:
        """A coded entry whose code asserts a Star: its other concepts, and the reading."""
        stars = self.mappings.stars
        star = next(c for c in concepts if c in stars)
        reading = self._star_from_components(kind, resource, star)
        return tuple(c for c in concepts if c not in stars), (reading,)

    def _one(self, concept: str) -> tuple[str, ...]:
        """The one-concept tuple of ``concept`` (kept: entries assert one concept, mostly)."""
        one = self._one_concept[concept] = (concept,)
        return one

    def _concepts(self, codeable: dict[str, Any] | None, resource: dict[str, Any]) -> list[str]:
        """Concepts asserted by a CodeableConcept's codings (inlined lookups: hot path); those of
        ``resource`` decide a conditional mapping."""
        found: list[str] = []
        if not codeable:
            return found
        by_system = self.mappings.by_system
        for coding in codeable.get("coding", ()):
            codes = by_system.get(coding.get("system"))
            concept = codes.get(coding.get("code")) if codes is not None else None
            if concept is None:
                concept = self._unmapped(coding, resource)
            if concept is not None and concept not in found:
                found.append(concept)
        return found

    def _nhs_use(self, kind: str, resource: dict[str, Any]) -> tuple[str, ...]:
        """The NHS-use unit an Appointment, Encounter or MedicationRequest records, if any."""
        if kind == "MedicationRequest":
            if resource.get("status") in ("active", "completed") and (
                resource.get("intent") in _PRESCRIBING_INTENTS
            ):
                return (_PRESCRIPTION,)
            return ()
        if kind == "Appointment":
            if resource.get("status") != "fulfilled":
                return ()
            codeables = [*resource.get("serviceType", ()), resource.get("appointmentType")]
            return self._nhs_use_of(codeables, resource) or (_GP_ATTENDANCE,)
        if resource.get("status") != "finished" or resource.get("basedOn"):
            return ()  # an Encounter based on a referral is a provider's session
        encounter_class = resource.get("class")
        codeables = [{"coding": [encounter_class]} if encounter_class else None]
        return self._nhs_use_of([*codeables, *resource.get("type", ())], resource)

    def _nhs_use_of(
        self, codeables: list[dict[str, Any] | None], resource: dict[str, Any]
    ) -> tuple[str, ...]:
        found = [c for codeable in codeables for c in self._concepts(codeable, resource)]
        return tuple(dict.fromkeys(c for c in found if c in _NHS_USE_CONCEPTS))

    def _unmapped(self, coding: dict[str, Any], resource: dict[str, Any]) -> str | None:
        """The concept of a coding no plain mapping names: a conditional (dependsOn) or fixed
        mapping's, when the mappings have any (rare); otherwise the coding is tallied."""
        mappings = self.mappings
        system, code = coding.get("system"), coding.get("code")
        if mappings.conditional or mappings.fixed:
            concept = mappings.concept_beside(system, code, lambda: codings_in(resource))
            if concept is not None:
                return concept
        if not mappings.is_covered(system, code):
            self.unmapped[(system or "", code or "")] += 1
        return None

    def _star_from_components(self, kind: str, resource: dict[str, Any], star: str) -> StarReading:
        definition = self.mappings.stars[star]
        scores: dict[str, int] = {}
        for i, component in enumerate(resource.get("component", ())):
            for area in self._concepts(component.get("code"), resource):
                if area in definition.areas and "valueInteger" in component:
                    path = f"{kind}.component[{i}].valueInteger"
                    scores[area] = self._score(definition.code, component["valueInteger"], path)
        return StarReading(star, scores)

    def _score(self, star: str, value: Any, path: str) -> int:
        definition = self.mappings.stars[star]
        if not isinstance(value, int) or not (
            definition.min_score <= value <= definition.max_score
        ):
            raise BadResource(
                "star-score-out-of-range",
                path,
                f"score {value!r} is outside {definition.min_score}..{definition.max_score} "
                f"for {star}",
            )
        return value

    def _answers(
        self, resource: dict[str, Any]
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[StarReading, ...]]:
        canonical = resource.get("questionnaire") or ""
        template = self.mappings.questionnaire(canonical)
        if template is None:
            self.unmapped_questionnaires[canonical] += 1
            return (), (), ()
        concepts: list[str] = []
        goals: list[str] = []
        scores: dict[str, dict[str, int]] = {}
        self._read_items(
            resource, resource.get("item", ()), template.item_concepts, concepts, goals, scores
        )
        stars = tuple(StarReading(star, s) for star, s in scores.items()) if scores else ()
        return tuple(concepts), tuple(goals), stars

    def _read_items(
        self,
        resource: dict[str, Any],
        items: Any,
        item_concepts: dict[str, str],
        concepts: list[str],
        goals: list[str],
        scores: dict[str, dict[str, int]],
    ) -> None:
        """Every item's answers, however deeply nested: an item's own answers first, then its
        ``item.item``, then the items under its answers (``answer.item``)."""
        by_system = self.mappings.by_system
        for item in items:
            item_concept = item_concepts.get(item.get("linkId", ""))
            answers = item.get("answer", ())
            nested = False
            for answer in answers:
                try:
                    if "valueCoding" in answer:  # asserts what the coding maps to
                        coding = answer["valueCoding"]
                        codes = by_system.get(coding.get("system"))
                        concept = codes.get(coding.get("code")) if codes is not None else None
                        if concept is None:
                            concept = self._unmapped(coding, resource)
                        if concept is not None and concept not in concepts:
                            concepts.append(concept)
                    elif item_concept is None:
                        pass
                    elif answer.get("valueBoolean") is True:  # asserts what the item's code does
                        if item_concept not in concepts:
                            concepts.append(item_concept)
                    elif "valueInteger" in answer:  # a score, on an item whose code is an area
                        star = self.mappings.star_of_area(item_concept)
                        if star is not None:
                            value = self._score(star.code, answer["valueInteger"], ".valueInteger")
                            scores.setdefault(star.code, {})[item_concept] = value
                    elif "valueString" in answer and item_concept == "goal":
                        goals.append(answer["valueString"])
                        if "goal" not in concepts:
                            concepts.append("goal")
                except BadResource as bad:  # rare: only now work out where the answer is
                    bad.path = f"QuestionnaireResponse.{_path_of(resource, answer)}{bad.path}"
                    raise
                if "item" in answer:
                    nested = True
            if "item" in item:
                self._read_items(resource, item["item"], item_concepts, concepts, goals, scores)
            if nested:
                for answer in answers:
                    if "item" in answer:
                        self._read_items(
                            resource, answer["item"], item_concepts, concepts, goals, scores
                        )

    def _date_elsewhere(self, kind: str, resource: dict[str, Any]) -> tuple[str | None, int]:
        """The clinical date when the first element is not a dateTime: a Period's start, a
        Condition's onset as an age (a negative code, see ``AGE_MONTH``), or a later element."""
        if kind == "Condition":
            age = _onset_age(resource)
            if age is not None:
                if age < 0:
                    return None, age
                self.notes[NOTE_ONSET_AGE_UNIT] += 1
            elif not (resource.get("onsetPeriod") or {}).get("start") and not _ONSETS.isdisjoint(
                resource
            ):
                self.notes[NOTE_ONSET_TEXT] += 1
        clinical_date, date_path = _clinical_date(kind, resource)
        if clinical_date is None:
            raise BadResource("missing-date", f"{kind}.{date_path}", "no clinical date")
        date_int = self._dates.get(clinical_date[:10]) or self._date_int(
            clinical_date, kind, resource
        )
        return clinical_date, date_int

    def _date_int(self, text: str, kind: str, resource: dict[str, Any]) -> int:
        """YYYYMMDD of a clinical date (day 00 when only the month is given); cached."""
        day = text[:10]
        try:
            parsed = _parse_day(day)
        except BadResource as bad:
            bad.path = f"{kind}.{_clinical_date(kind, resource)[1]}"
            raise
        self._dates[day] = parsed
        return parsed

    # -- people -------------------------------------------------------------------------------
    def patient_fields(self, resource: dict[str, Any]) -> PatientFields:
        """One patient version as a plain tuple (see ``PatientFields``): the scan's hot path."""
        resource_id, updated, version_id = self._version_fields("Patient", resource)
        postcode = _postcode(resource)
        imd = (self._imd_of.get(postcode) or self._imd_quintile(postcode)) if postcode else None
        gender = resource.get("gender")
        birth = resource.get("birthDate")
        replaced_by, replaces = _merges(resource) if "link" in resource else (None, ())
        numbers, invalid = _nhs_numbers(resource)
        if invalid:
            self.notes[NOTE_NHS_INVALID_BESIDE_VALID] += 1
        return (
            resource_id,
            updated,
            version_id,
            numbers[0] if numbers else None,
            self._births.get(birth) or self._remembered_birth(birth),
            gender if gender in ("male", "female") else "other-unknown",
            _ETHNIC_GROUPS.get(self._ethnic_code(resource) or "", "not-stated"),
            imd or "unknown",
            _practice(resource),
            numbers[1:],
            replaced_by,
            _death_int(resource)
            if "deceasedDateTime" in resource or "deceasedBoolean" in resource
            else 0,
            replaces,
        )

    def _imd_quintile(self, postcode: str) -> str:
        """The IMD quintile of a postcode's area ("unknown" when the lookup has none),
        remembered as the postcode was written."""
        imd = self.mappings.imd_quintile.get(normalise_postcode(postcode)) or "unknown"
        if len(self._imd_of) < _MAX_CACHED:
            self._imd_of[postcode] = imd
        return imd

    def _remembered_birth(self, birth: str | None) -> int:
        """``_birth_int``, remembered (0, unknown, is worked out each time: it is cheap)."""
        value = _birth_int(birth)
        if value and len(self._births) < _MAX_CACHED:
            self._births[birth] = value
        return value

    def _ethnic_code(self, resource: dict[str, Any]) -> str | None:
        """The ethnic category code, only from the UK Core (or CareConnect) extension and with a
        code of the UK Core (or CareConnect) system: a code of another system is noted, not
        guessed at (the letters mean the same in both systems)."""
        for extension in resource.get("extension", ()):
            if extension.get("url") not in _ETHNICITY_EXTENSIONS:
                continue
            for coding in (extension.get("valueCodeableConcept") or {}).get("coding", ()):
                if coding.get("system") in _ETHNICITY_SYSTEMS and coding.get("code"):
                    return coding["code"]
            self.notes[NOTE_ETHNICITY_SYSTEM] += 1
        return None


def _issue_key(severity: object, code: object) -> str:
    """How an error file's issue is tallied among the diagnostics (``export_failed`` reads it)."""
    return f"{OPERATION_OUTCOME_ISSUE}: {severity} ({code})"


def export_failed(diagnostics: Counter[str]) -> bool:
    """Whether the export's error files report an issue of severity error or fatal: the server
    failed to export something."""
    failed = tuple(f"{OPERATION_OUTCOME_ISSUE}: {severity} (" for severity in _FAILED)
    return any(what.startswith(failed) for what in diagnostics)


# -- helpers (pure functions of one resource) ---------------------------------------------------
def instant_us(text: str | None) -> int | None:
    """Microseconds since the epoch of a FHIR instant (time zone required), or None."""
    if not text:
        return None
    if not isinstance(text, str):
        message = f"{text!r} is not a FHIR instant, which is written as text"
        raise BadResource("impossible-date", "meta.lastUpdated", message)
    try:
        return (datetime.fromisoformat(text) - _EPOCH) // _MICROSECOND
    except ValueError as exc:
        raise BadResource("impossible-date", "meta.lastUpdated", f"{text!r}: {exc}") from None
    except TypeError:  # a naive datetime cannot be compared with the epoch
        raise BadResource(
            "impossible-date", "meta.lastUpdated", f"{text!r} has no time zone"
        ) from None


def malformed(resource: Any, exc: Exception, *, locate: bool = True) -> BadResource:
    """What is wrong with a resource that raised one of ``MALFORMED`` while being read, as a
    ``BadResource`` naming the element (``fhir_problem``; not located when ``locate`` is off)."""
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(kind, str) or kind not in FHIR_RESOURCE_TYPES:
        return BadResource("unknown-resource-type", "resourceType", f"{kind!r} is not a FHIR R4 "
                           "resource type")  # fmt: skip
    if not locate:
        message = (
            f"cannot be read ({exc}); not located, as more than {LOCATED_AT_MOST} resources "
            "were like this: fix the first ones, the rest are likely the same"
        )
        return BadResource("malformed", kind, message)
    problem = fhir_problem(resource, _DATE_ELEMENTS.get(kind, ()))
    if problem is None:
        message = (
            f"is valid FHIR, yet ltcbridge could not read it ({type(exc).__name__}: {exc}): "
            "please report this as a bug"
        )
        return BadResource("unreadable", kind, message)
    path, message = problem
    return BadResource("malformed", f"{kind}{path}", message)


def codings_in(resource: Any) -> set[tuple[str, str]]:
    """Every (system, code) coding anywhere in a resource: what a dependsOn may name (only
    walked for codes whose mapping is conditional, so slow is fine)."""
    found: set[tuple[str, str]] = set()
    stack = [resource]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            system, code = value.get("system"), value.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found.add((system, code))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _is_retracted(kind: str, resource: dict[str, Any]) -> bool:
    if kind == "Condition":
        for coding in (resource.get("verificationStatus") or {}).get("coding", ()):
            if coding.get("code") in _RETRACTED_VERIFICATION:
                return True
        return False
    if kind == "Goal":
        return resource.get("lifecycleStatus") in _RETRACTED_GOAL
    return resource.get("status") in _RETRACTED_STATUS


def _subject(kind: str, resource: dict[str, Any]) -> SubjectRef:
    ref, element = _subject_element(kind, resource)
    if not ref:
        raise BadResource("missing-subject", f"{kind}.{element}", "is missing: whose entry is it?")
    literal = ref.get("reference")
    if literal:
        if literal.startswith("Patient/") and "/" not in literal[8:]:
            return ("Patient", literal[8:])  # the common case, without parsing
        _, found, rest = literal.rpartition("Patient/")
        if found and rest:
            return ("Patient", rest.split("/", 1)[0])
        raise BadResource(
            "bad-subject", f"{kind}.{element}.reference", f"{literal!r} is not a Patient reference"
        )
    identifier = ref.get("identifier") or {}
    value = identifier.get("value")
    if identifier.get("system") == NHS_NUMBER and value:
        if not is_valid_nhs_number(value):
            raise BadResource(
                "nhs-number-check-digit",
                f"{kind}.{element}.identifier.value",
                "NHS number fails the modulus-11 check",
            )
        return ("nhs", value.replace(" ", ""))
    raise BadResource(
        "bad-subject", f"{kind}.{element}", "has neither a Patient reference nor an NHS number"
    )


def _subject_element(kind: str, resource: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The reference naming whose entry this is, and its element (for messages)."""
    if kind == "Task":
        return resource.get("for"), "for"
    if kind == "Appointment":
        for i, participant in enumerate(resource.get("participant", ())):
            actor = participant.get("actor") or {}
            if "Patient/" in (actor.get("reference") or "") or (
                (actor.get("identifier") or {}).get("system") == NHS_NUMBER
            ):
                return actor, f"participant[{i}].actor"
        return None, "participant.actor"
    if "subject" in resource:
        return resource["subject"], "subject"
    return resource.get("patient"), "patient"


def _answer(task: dict[str, Any]) -> tuple[tuple[str, ...], Link | None]:
    """What a provider's Task says about the referral it focuses, and who said it."""
    focus = (task.get("focus") or {}).get("reference") or ""
    segments = focus.split("/_history/", 1)[0].split("/")
    # The referral entry: a ServiceRequest, or the template answer (QuestionnaireResponse) or
    # coded entry that made the referral, as the practice daemon's write-back names it.
    kind, rid = segments[-2:] if len(segments) >= 2 else ("", "")
    answer = _TASK_ANSWERS.get(task.get("status") or "", ())
    if not (kind in CARE_PLANNING_TYPES and rid and answer):
        return (), None
    owner = (task.get("owner") or {}).get("identifier") or {}
    provider = owner.get("value") if owner.get("system") == ODS_CODE else None
    return answer, (f"{kind}/{rid}", provider and provider.upper())


def _performer_ods(resource: dict[str, Any]) -> str | None:
    """The ODS code of whoever took a reading, when an organisation is named as performer."""
    for performer in resource.get("performer", ()):
        identifier = performer.get("identifier") or {}
        if identifier.get("system") == ODS_CODE and identifier.get("value"):
            return identifier["value"].upper()
    return None


def _clinical_date(kind: str, resource: dict[str, Any]) -> tuple[str | None, str]:
    elements = _DATE_ELEMENTS[kind]
    for element in elements:
        value = resource.get(element)
        if isinstance(value, dict):  # a Period: its start
            value, element = value.get("start"), f"{element}.start"
        if value:
            return value, element
    return None, elements[0]


def _parse_day(day: str) -> int:
    """YYYYMMDD of a date; the caller fills in the FHIR path of a bad one."""
    path = ""
    if len(day) == 7 and day[4] == "-":
        year, month = day[:4], day[5:7]
        if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
            return int(year) * 10000 + int(month) * 100
    elif len(day) == 10 and day[4] == "-" and day[7] == "-":
        try:
            return _ymd(date(int(day[:4]), int(day[5:7]), int(day[8:10])))
        except ValueError as exc:
            raise BadResource("impossible-date", path, f"{day!r}: {exc}") from None
    if len(day) == 4 and day.isdigit():
        raise BadResource("imprecise-date", path, f"{day!r} has no month, so no reporting month")
    raise BadResource("impossible-date", path, f"{day!r} is not a FHIR date")


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _path_of(resource: dict[str, Any], target: dict[str, Any], path: str = "") -> str:
    """The FHIR path of one answer inside a response (only for error messages: slow is fine)."""

    def walk(items: list[dict[str, Any]], prefix: str) -> str | None:
        for i, item in enumerate(items):
            here = f"{prefix}item[{i}]"
            for a, answer in enumerate(item.get("answer", ())):
                if answer is target:
                    return f"{here}.answer[{a}]"
                found = walk(answer.get("item", []), f"{here}.answer[{a}].")
                if found:
                    return found
            found = walk(item.get("item", []), f"{here}.")
            if found:
                return found
        return None

    return walk(resource.get("item", []), path) or "item"


def _nhs_numbers(resource: dict[str, Any]) -> tuple[tuple[str, ...], int]:
    """Every valid NHS number of a Patient (in order, each once) and how many failed the check.

    A person may carry two valid numbers (a number re-issued, a merge): each identifies them. An
    invalid one beside a valid one is reported, not fatal; only invalid ones quarantine the
    Patient, since entries given by that number could then be anyone's."""
    valid: list[str] = []
    invalid = 0
    first_invalid = -1
    for i, identifier in enumerate(resource.get("identifier", ())):
        if identifier.get("system") == NHS_NUMBER and identifier.get("value"):
            value = identifier["value"]
            if not is_valid_nhs_number(value):
                invalid += 1
                first_invalid = i if first_invalid < 0 else first_invalid
                continue
            number = value.replace(" ", "")
            if number not in valid:
                valid.append(number)
    if invalid and not valid:
        raise BadResource(
            "nhs-number-check-digit",
            f"Patient.identifier[{first_invalid}].value",
            "NHS number fails the modulus-11 check",
        )
    return tuple(valid), invalid


def _merges(resource: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """What a Patient's ``link`` says of merges (literal ``Patient/{id}`` references): the id
    of the Patient this merged record was ``replaced-by`` (the first), and the ids of the
    Patients it ``replaces`` (merged into it). Either side of a merge is enough."""
    replaced_by: str | None = None
    replaces: list[str] = []
    for link in resource.get("link", ()):
        link_type = link.get("type")
        if link_type not in ("replaced-by", "replaces"):
            continue
        literal = (link.get("other") or {}).get("reference") or ""
        _, found, rest = literal.rpartition("Patient/")
        if not (found and rest):
            continue
        other = rest.split("/", 1)[0]
        if link_type == "replaces":
            replaces.append(other)
        elif replaced_by is None:
            replaced_by = other
    return replaced_by, tuple(replaces)


def _death_int(resource: dict[str, Any]) -> int:
    """YYYYMMDD of ``deceasedDateTime`` (day 00 when only the month is given); -1 when the person
    is deceased on an unknown date (``deceasedBoolean`` true, or a year only); 0 when alive."""
    when = resource.get("deceasedDateTime")
    if isinstance(when, str) and when:
        try:
            return _parse_day(when[:10])
        except BadResource:
            return -1
    return -1 if resource.get("deceasedBoolean") is True else 0


def _onset_age(resource: dict[str, Any]) -> int | None:
    """A Condition's onsetAge (or onsetRange low) as the negative code of ``AGE_MONTH``; a
    non-negative value when the age is in a unit ltcbridge does not turn into a date; None
    when the onset is not an age."""
    age = resource.get("onsetAge") or (resource.get("onsetRange") or {}).get("low")
    if not age:
        return None
    unit = _AGE_UNITS.get(age.get("code") or age.get("unit"))
    value = age.get("value")
    if unit is None or type(value) not in (int, float) or not 0 <= value <= 200 * 366:
        return 0
    months, days = round(value * unit[0]), round(value * unit[1])
    if months > 200 * 12 or days > 200 * 366:  # beyond a life: no date (and the code fits)
        return 0
    return -(1 + months * AGE_MONTH + days)


def _birth_int(birth_date: str | None) -> int:
    """YYYYMMDD; a YYYY-MM birth date is read as the first of the month; otherwise 0 (unknown)."""
    if not birth_date or len(birth_date) < 7:
        return 0
    try:
        if len(birth_date) == 7:
            return int(birth_date[:4]) * 10000 + int(birth_date[5:7]) * 100 + 1
        return _ymd(date.fromisoformat(birth_date[:10]))
    except ValueError:
        raise BadResource(
            "impossible-date", "Patient.birthDate", f"{birth_date!r} is not a real date"
        ) from None


def _postcode(resource: dict[str, Any]) -> str | None:
    """The postcode of where the person lives (deprivation is of where they live): the first
    current home address with a ``postalCode`` (``use`` home or none, and no ``period`` end);
    else the first current temporary one; else the first address with a ``postalCode`` at all
    (a former, work or billing one says more than nothing)."""
    first = temporary = None
    for address in resource.get("address", ()):
        postcode = address.get("postalCode")
        if not postcode:
            continue
        use = address.get("use")
        if not (address.get("period") or {}).get("end") and use not in _NOT_LIVED_AT:
            if use != "temp":
                return postcode
            temporary = temporary or postcode
        first = first or postcode
    return temporary or first


def _practice(resource: dict[str, Any]) -> PracticeRef | None:
    """The registered practice: the first ``generalPractitioner`` naming an Organization (UK
    Core), else ``managingOrganization`` (GP Connect's Patient names the usual GP, a
    Practitioner, in ``generalPractitioner``, and the registered practice here).

    ``("Organization", id)``, with ``|ODS`` after the id when the reference also carries an ODS
    identifier (used when that Organization is not in the export), or ``("ods", ODS)`` for a
    logical reference."""
    for ref in resource.get("generalPractitioner", ()):
        practice = _organization_ref(ref)
        if practice is not None:
            return practice
    managing = resource.get("managingOrganization")
    return _organization_ref(managing) if managing else None


def _organization_ref(ref: dict[str, Any]) -> PracticeRef | None:
    """What a Reference says of an Organization (see ``_practice``); None when it names none."""
    literal = ref.get("reference") or ""
    identifier = ref.get("identifier") or {}
    ods = identifier.get("value") if identifier.get("system") == ODS_CODE else None
    _, found, rest = literal.rpartition("Organization/")
    if found and rest:
        org = rest.split("/", 1)[0]
        return ("Organization", f"{org}|{ods.upper()}" if ods else org)
    if ods:
        return ("ods", ods.upper())
    return None


def _ods_code(resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier", ()):
        if identifier.get("system") == ODS_CODE and identifier.get("value"):
            return identifier["value"].upper()
    return None
