"""FHIR R4 resources built from decided meanings: Patients, Organizations and entries.

Builders take what to say (codings, a date, a status) and where to say it (which date element),
and return plain dicts; they decide nothing themselves.
"""

from __future__ import annotations

from typing import Any

from . import codes
from .people import Person

# Default clinical-date element per resource type (others are chosen to cover every form).
DATE_FIELD = {
    "Observation": "effectiveDateTime",
    "Condition": "onsetDateTime",
    "Procedure": "performedDateTime",
    "ServiceRequest": "occurrenceDateTime",
    "Goal": "startDate",
    "QuestionnaireResponse": "authored",
}
DEFAULT_STATUS = {
    "Observation": "final",
    "Condition": "confirmed",
    "Procedure": "completed",
    "ServiceRequest": "active",
    "Goal": "active",
    "QuestionnaireResponse": "completed",
}
INSTANT_FIELDS = ("effectiveInstant", "issued")
PERIOD_FIELDS = {
    "effectivePeriod.start": "effectivePeriod",
    "performedPeriod.start": "performedPeriod",
}


def organization(org_id: str, name: str, ods: str | None) -> dict[str, Any]:
    """A practice (or, without an ODS code, an organisation that is not one)."""
    org: dict[str, Any] = {"resourceType": "Organization", "id": org_id}
    if ods:
        org["identifier"] = [{"system": codes.ODS, "value": ods}]
    org["name"] = name
    return org


def literal_gp(org_id: str) -> dict[str, str]:
    """A literal reference to an Organization in the source (generalPractitioner or
    managingOrganization)."""
    return {"reference": f"Organization/{org_id}"}


def logical_gp(ods: str) -> dict[str, Any]:
    """generalPractitioner as a logical reference by ODS code."""
    return {"identifier": {"system": codes.ODS, "value": ods}}


def patient(p: Person, nhs: str | None = None) -> dict[str, Any]:
    """The Patient resource as written (missing pieces simply absent)."""
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "id": p.id,
        "identifier": [{"system": codes.NHS_NUMBER, "value": nhs or p.nhs}],
    }
    if p.ethnic is not None:
        coding = {"system": codes.ETHNIC_SYSTEM, "code": p.ethnic}
        res["extension"] = [{"url": codes.ETHNIC_EXT, "valueCodeableConcept": {"coding": [coding]}}]
    res["name"] = [{"family": "Synthetic", "given": [f"Person{p.id[-4:]}"]}]
    if p.gender is not None:
        res["gender"] = p.gender
    if p.birth_written is not None:
        res["birthDate"] = p.birth_written
    home = [{"use": "home", "postalCode": p.postcode}] if p.postcode is not None else []
    if p.other_addresses or home:
        res["address"] = [*p.other_addresses, *home]
    if p.gp:
        res["generalPractitioner"] = p.gp
    if p.managing is not None:
        res["managingOrganization"] = p.managing
    return res


def by_nhs_number(nhs: str) -> dict[str, Any]:
    """A logical subject reference by NHS number."""
    return {"identifier": {"system": codes.NHS_NUMBER, "value": nhs}}


def _set_date(res: dict[str, Any], field: str, when: str) -> None:
    if field in INSTANT_FIELDS and len(when) == 10:
        when = f"{when}T12:00:00Z"  # an instant needs a time; the month is unchanged
    if field in PERIOD_FIELDS:
        res[PERIOD_FIELDS[field]] = {"start": when}
    else:
        res[field] = when


def _status(res: dict[str, Any], kind: str, status: str) -> None:
    if kind == "Condition":
        res["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        }
        res["verificationStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": status,
                }
            ]
        }
    elif kind == "Goal":
        res["lifecycleStatus"] = status
    else:
        res["status"] = status
    if kind == "ServiceRequest":
        res["intent"] = "order"


def entry(
    kind: str,
    rid: str,
    subject: dict[str, Any] | None,
    when: str | None,
    *,
    codings: list[dict[str, str]] | None = None,
    status: str | None = None,
    date_field: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A coded entry (Observation, Condition, Procedure, ServiceRequest, Goal, QR) as FHIR JSON."""
    res: dict[str, Any] = {"resourceType": kind, "id": rid}
    _status(res, kind, status or DEFAULT_STATUS[kind])
    if codings is not None:
        res["code"] = {"coding": codings}
    if subject is not None:
        res["subject"] = subject
    if when is not None:
        _set_date(res, date_field or DATE_FIELD[kind], when)
    res.update(extra)
    return res


def star_components(scores: tuple[int, ...], area_codings: list[dict[str, str]]) -> list[dict]:
    """Observation.component for a Star reading: one coded integer per area."""
    return [
        {"code": {"coding": [coding]}, "valueInteger": score}
        for coding, score in zip(area_codings, scores, strict=True)
    ]


def with_meta(res: dict[str, Any], last_updated: str | None, version_id: str | None) -> dict:
    """The resource with meta.versionId / meta.lastUpdated set (either may be absent)."""
    meta = {}
    if version_id is not None:
        meta["versionId"] = version_id
    if last_updated is not None:
        meta["lastUpdated"] = last_updated
    out = {"resourceType": res["resourceType"], "id": res["id"]}
    if meta:
        out["meta"] = meta
    out.update((k, v) for k, v in res.items() if k not in out)
    return out


def ods_ref(ods: str) -> dict[str, Any]:
    """A logical reference to an organisation by ODS code (a provider, a practice)."""
    return {"identifier": {"system": codes.ODS, "value": ods}}


def task(
    rid: str,
    patient_id: str,
    request_id: str,
    practice: str,
    owner: str,
    status: str,
    *,
    authored: str | None,
    last_modified: str | None,
) -> dict[str, Any]:
    """A provider's answer to a referral, as the practice daemon writes it back to the GP."""
    value = f"{practice}-ServiceRequest-{request_id}-task"
    res: dict[str, Any] = {
        "resourceType": "Task",
        "id": rid,
        "identifier": [{"system": codes.REFERRAL_ID, "value": value}],
        "status": status,
        "intent": "order",
        "focus": {"reference": f"ServiceRequest/{request_id}"},
        "for": {"reference": f"Patient/{patient_id}"},
        "requester": ods_ref(practice),
        "owner": ods_ref(owner),
    }
    if authored is not None:
        res["authoredOn"] = authored
    if last_modified is not None:
        res["lastModified"] = last_modified
    return res


def appointment(
    rid: str, patient: dict[str, Any], start: str, status: str, *, patient_first: bool
) -> dict[str, Any]:
    """A GP appointment (no serviceType: the practice's own clinic)."""
    people = [
        {"actor": patient, "status": "accepted"},
        {"actor": {"reference": "Practitioner/gp-0001"}, "status": "accepted"},
    ]
    return {
        "resourceType": "Appointment",
        "id": rid,
        "status": status,
        "start": start,
        "minutesDuration": 10,
        "participant": people if patient_first else people[::-1],
    }


def encounter(
    rid: str,
    patient: dict[str, Any],
    start: str,
    encounter_class: tuple[str, str],
    *,
    status: str = "finished",
    snomed_type: tuple[str, str] | None = None,
    based_on: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """An Encounter: class (ActCode, display), optional SNOMED type, optional basedOn referral."""
    code, display = encounter_class
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": rid,
        "status": status,
        "class": {"system": codes.ACT_CODE, "code": code, "display": display},
    }
    if snomed_type is not None:
        res["type"] = [
            {
                "coding": [
                    {"system": codes.SNOMED, "code": snomed_type[0], "display": snomed_type[1]}
                ]
            }
        ]
    res["subject"] = patient
    if based_on is not None:
        res["basedOn"] = [{"reference": f"ServiceRequest/{based_on}"}]
    res["period"] = {"start": start}
    if provider is not None:
        res["serviceProvider"] = ods_ref(provider)
    return res


def medication_request(
    rid: str, patient: dict[str, Any], authored: str, status: str, intent: str, drug: str
) -> dict[str, Any]:
    """A prescription (the medicine as text only: no coding for a map to miss)."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": {"text": drug},
        "subject": patient,
        "authoredOn": authored,
    }
