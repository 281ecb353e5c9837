"""A small record for the outcome measures, worked out by hand (docs/counting-rules.md).

Month 2026-10 at practice A81001. Each person exercises one rule; the expected figures are in
the tests, written beside the rule they check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ltcbridge.nhs_number import is_valid_nhs_number

SCT = "http://snomed.info/sct"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
AREAS = (
    "wb-lifestyle", "wb-looking-after-yourself", "wb-managing-symptoms", "wb-work-volunteering",
    "wb-money", "wb-where-you-live", "wb-family-friends", "wb-feeling-positive",
)  # fmt: skip
MONTH = "2026-10"
COSTS = {"gp-attendances": 42, "ae-attendances": 180, "prescriptions": 9,
         "unplanned-admissions": 1850}  # fmt: skip


def nhs_numbers() -> list[str]:
    found = []
    for n in range(9_990_000_000, 9_990_001_000):
        if is_valid_nhs_number(str(n)):
            found.append(str(n))
    return found


def _patient(pid: str, nhs: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1960-05-01",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
        "generalPractitioner": [{"identifier": {"system": ODS, "value": "A81001"}}],
    }  # fmt: skip


def _referral(rid: str, pid: str, day: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest", "id": rid, "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{pid}"}, "authoredOn": day,
        "code": {"coding": [{"system": SCT, "code": "871731000000106"}]},
    }  # fmt: skip


def _task(tid: str, pid: str, focus: str, status: str, day: str, owner: str | None,
          updated: str = "2026-11-01T00:00:00Z") -> dict[str, Any]:  # fmt: skip
    task = {
        "resourceType": "Task", "id": tid, "status": status, "intent": "order",
        "meta": {"lastUpdated": updated}, "focus": {"reference": f"ServiceRequest/{focus}"},
        "for": {"reference": f"Patient/{pid}"}, "lastModified": f"{day}T10:00:00+00:00",
    }  # fmt: skip
    if owner:
        task["owner"] = {"identifier": {"system": ODS, "value": owner}}
    return task


def _star(oid: str, pid: str, day: str, scores: dict[str, int], performer: str | None = None):  # type: ignore[no-untyped-def]
    reading = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": day,
        "code": {"coding": [{"system": CONCEPT, "code": "star-wellbeing"}]},
        "component": [
            {"code": {"coding": [{"system": CONCEPT, "code": area}]}, "valueInteger": score}
            for area, score in scores.items()
        ],
    }  # fmt: skip
    if performer:
        reading["performer"] = [{"identifier": {"system": ODS, "value": performer}}]
    return reading


def _appointment(aid: str, pid: str, day: str, status: str = "fulfilled") -> dict[str, Any]:
    return {
        "resourceType": "Appointment", "id": aid, "status": status, "start": f"{day}T09:00:00Z",
        "participant": [{"actor": {"reference": "Practitioner/gp1"}, "status": "accepted"},
                        {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }  # fmt: skip


def _encounter(eid: str, pid: str, day: str, *, emergency: bool = False,
               admission: bool = False, based_on: bool = False) -> dict[str, Any]:  # fmt: skip
    encounter: dict[str, Any] = {
        "resourceType": "Encounter", "id": eid, "status": "finished",
        "class": {"system": ACT, "code": "EMER" if emergency else "IMP"},
        "subject": {"reference": f"Patient/{pid}"}, "period": {"start": day},
    }  # fmt: skip
    if admission:
        encounter["type"] = [{"coding": [{"system": SCT, "code": "183452005"}]}]
    if based_on:
        encounter["basedOn"] = [{"reference": "ServiceRequest/sr5"}]
    return encounter


def _prescription(mid: str, pid: str, day: str, intent: str = "order") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest", "id": mid, "status": "active", "intent": intent,
        "subject": {"reference": f"Patient/{pid}"}, "authoredOn": day,
        "medicationCodeableConcept": {"text": "a medicine"},
    }  # fmt: skip


def _record() -> list[dict[str, Any]]:
    nhs = nhs_numbers()
    all3, all5, all6 = (dict.fromkeys(AREAS, v) for v in (3, 5, 6))
    no_money = {a: 5 for a in AREAS if a != "wb-money"}
    return [
        *(_patient(f"p{i}", nhs[i]) for i in range(1, 7)),
        # p1: referred in October, accepted then completed by NTP01 (the later version wins).
        _referral("sr1", "p1", "2026-10-05"),
        _task("t1", "p1", "sr1", "accepted", "2026-10-07", "NTP01", "2026-10-07T10:00:00Z"),
        _task("t1", "p1", "sr1", "completed", "2026-10-20", "NTP01", "2026-10-20T10:00:00Z"),
        # p2: referred in October, declined by NTP02.
        _referral("sr2", "p2", "2026-10-10"),
        _task("t2", "p2", "sr2", "rejected", "2026-10-12", "NTP02"),
        # p3: referred in September: an October answer does not bring them into October.
        _referral("sr3", "p3", "2026-09-10"),
        _task("t3", "p3", "sr3", "accepted", "2026-10-02", "NTP01"),
        # p4: referred in October, and declined social prescribing themselves.
        _referral("sr4", "p4", "2026-10-15"),
        {
            "resourceType": "Observation",
            "id": "dec4",
            "status": "final",
            "subject": {"reference": "Patient/p4"},
            "effectiveDateTime": "2026-10-16",
            "code": {"coding": [{"system": SCT, "code": "871711000000103"}]},
        },
        # p6: an answer entered in error asserts nothing.
        _referral("sr6", "p6", "2026-10-01"),
        _task("t6", "p6", "sr6", "entered-in-error", "2026-10-03", "NTP02"),
        # Stars. p1: 13 months from baseline, +2 on the 7 areas scored twice (total +14).
        _star("s1a", "p1", "2025-09-01", all3),
        _star("s1b", "p1", "2026-10-21", no_money, performer="NTP01"),
        # p2: baseline and "review" on the same day: not a review.
        _star("s2a", "p2", "2026-10-01", all3),
        _star("s2b", "p2", "2026-10-01", all5),
        # p3: four months apart, -1 on every area (total -8); an older reading is the baseline.
        _star("s3a", "p3", "2026-06-01", all6),
        _star("s3b", "p3", "2026-08-01", all3),
        _star("s3c", "p3", "2026-10-02", all5),
        # p5: referred 2026-01-15, discharged 2026-04-10 by NTP01: the October NHS-use cohort.
        _referral("sr5", "p5", "2026-01-15"),
        _task("t5", "p5", "sr5", "completed", "2026-04-10", "NTP01"),
        _appointment("a1", "p5", "2025-08-01"),  # GP before
        _appointment("a2", "p5", "2025-08-01"),  # the same day: still one attendance
        _appointment("a3", "p5", "2025-07-14"),  # before the six months before
        _appointment("a4", "p5", "2025-09-01", status="cancelled"),
        _encounter("e1", "p5", "2025-12-01", emergency=True),  # A&E before
        _encounter("e2", "p5", "2026-10-10", admission=True),  # admission after (last day)
        _encounter("e3", "p5", "2026-10-11", emergency=True),  # after the six months after
        _encounter("e4", "p5", "2026-05-01", emergency=True, based_on=True),  # a provider session
        _prescription("m1", "p5", "2026-05-01"),  # two prescriptions after
        _prescription("m2", "p5", "2026-05-01"),
        _prescription("m3", "p5", "2026-05-02", intent="plan"),  # a plan is not a prescription
    ]


def write_record(path: Path, extra: list[dict[str, Any]] = ()) -> Path:  # type: ignore[assignment]
    """The record as one NDJSON file (with ``extra`` resources appended)."""
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [*_record(), *extra]))
    return path
