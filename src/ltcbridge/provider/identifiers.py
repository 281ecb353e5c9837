"""The business identifiers and references of the referral loop (docs/referral-loop.md).

Every write the provider side makes is keyed on one of these, so that a retry, a restart or a
second import finds the resource already there instead of making a copy.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.uris import NHS_NUMBER, ODS_CODE

ID_BASE = "https://ltcbridge.github.io/fhir/Id"
REFERRAL_ID = f"{ID_BASE}/referral"
GOAL_ID = f"{ID_BASE}/goal"
OUTCOME_ID = f"{ID_BASE}/outcome"
# Not in the referral-loop table: a directory entry's key (the ODS code, or a slug of the name
# for the many small providers that have none).
PROVIDER_ID = f"{ID_BASE}/provider"

SNOMED = "http://snomed.info/sct"
SNOMED_SOCIAL_PRESCRIBING_REFERRAL = "871731000000106"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

Reference = dict[str, Any]


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def ods_reference(ods_code: str) -> Reference:
    """A logical reference to an organisation by its ODS code (no shared server ids needed)."""
    return {"identifier": identifier(ODS_CODE, ods_code)}


def ods_of(reference: Any) -> str | None:
    """The ODS code a logical reference carries, or None."""
    if not isinstance(reference, dict):
        return None
    ident = reference.get("identifier") or {}
    return ident.get("value") if ident.get("system") == ODS_CODE else None


def task_value(referral_value: str) -> str:
    """The Task's ``.../referral`` value: the ServiceRequest's, with ``-task``."""
    return f"{referral_value}-task"


def outcome_value(provider_ods: str, resource_type: str, local_id: str) -> str:
    """``{provider ODS}-{resourceType}-{provider's id}``: one outcome, the same on every resend."""
    return f"{provider_ods}-{resource_type}-{local_id}"


def concept(code: str) -> dict[str, Any]:
    """A CodeableConcept holding one ltcbridge concept."""
    return {"coding": [{"system": CONCEPT_SYSTEM, "code": code}]}


def first_value(resource: dict[str, Any], system: str) -> str | None:
    """The value of the resource's first identifier in ``system``."""
    for ident in resource.get("identifier") or ():
        if ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return None


def nhs_number_of(patient: dict[str, Any]) -> str | None:
    return first_value(patient, NHS_NUMBER)


def query(system: str, value: str) -> str:
    """The ``identifier=system|value`` criteria of a conditional write."""
    return urlencode({"identifier": f"{system}|{value}"})


def local_reference(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"
