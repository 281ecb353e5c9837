"""The referral transaction Bundle of docs/referral-loop.md section 1, built from plain values.

The practice daemon sends this; providers use it to try their system without a practice (the
quickstart, the tests). Every entry is a conditional PUT on its business identifier, so sending
it twice changes nothing, and entries refer to each other by ``urn:uuid`` full URLs that the
server resolves inside the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ltcbridge.provider.identifiers import (
    GOAL_ID,
    REFERRAL_ID,
    SNOMED,
    SNOMED_SOCIAL_PRESCRIBING_REFERRAL,
    concept,
    identifier,
    ods_reference,
    query,
    task_value,
)
from ltcbridge.uris import NHS_NUMBER

Resource = dict[str, Any]


@dataclass(frozen=True)
class ReferralDetails:
    """What a referral carries; ``demographics`` holds only what consent lets the GP send."""

    referral_id: str  # {practice ODS}-{source resourceType}-{source id}
    practice_ods: str
    provider: Resource  # performer/owner: an ODS logical reference or a HealthcareService one
    nhs_number: str
    authored_on: str
    needs: Sequence[str]
    support_level: str | None = None
    goals: Sequence[tuple[str, str]] = ()  # (goal identifier value, text)
    demographics: Resource = field(default_factory=dict)  # name, birthDate, gender, ...
    note: str | None = None


def _urn(kind: str, value: str) -> str:
    """A stable urn:uuid per identifier, so the same referral always builds the same bundle."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{kind}|{value}')}"


def _entry(resource: Resource, full_url: str, system: str, value: str) -> Resource:
    url = f"{resource['resourceType']}?{query(system, value)}"
    return {"fullUrl": full_url, "resource": resource, "request": {"method": "PUT", "url": url}}


def referral_bundle(details: ReferralDetails) -> Resource:
    """The transaction Bundle: Patient, Goals, ServiceRequest, Task."""
    patient_urn = _urn("Patient", details.nhs_number)
    patient = {
        "resourceType": "Patient",
        "identifier": [identifier(NHS_NUMBER, details.nhs_number)],
        **details.demographics,
    }
    entries = [_entry(patient, patient_urn, NHS_NUMBER, details.nhs_number)]
    goal_urns = []
    for value, text in details.goals:
        goal = {
            "resourceType": "Goal",
            "identifier": [identifier(GOAL_ID, value)],
            "lifecycleStatus": "active",
            "description": {"text": text},
            "subject": {"reference": patient_urn},
        }
        goal_urns.append(_urn("Goal", value))
        entries.append(_entry(goal, goal_urns[-1], GOAL_ID, value))
    request_urn = _urn("ServiceRequest", details.referral_id)
    entries.append(
        _entry(
            _service_request(details, patient_urn, goal_urns),
            request_urn,
            REFERRAL_ID,
            details.referral_id,
        )
    )
    task = {
        "resourceType": "Task",
        "identifier": [identifier(REFERRAL_ID, task_value(details.referral_id))],
        "status": "requested",
        "intent": "order",
        "focus": {"reference": request_urn},
        "for": {"reference": patient_urn},
        "requester": ods_reference(details.practice_ods),
        "owner": details.provider,
        "authoredOn": details.authored_on,
    }
    task_id = task_value(details.referral_id)
    entries.append(_entry(task, _urn("Task", task_id), REFERRAL_ID, task_id))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _service_request(details: ReferralDetails, patient: str, goals: list[str]) -> Resource:
    code = concept("referral-lead-provider")
    code["coding"].append({"system": SNOMED, "code": SNOMED_SOCIAL_PRESCRIBING_REFERRAL})
    request: Resource = {
        "resourceType": "ServiceRequest",
        "identifier": [identifier(REFERRAL_ID, details.referral_id)],
        "status": "active",
        "intent": "order",
        "code": code,
        "subject": {"reference": patient},
        "authoredOn": details.authored_on,
        "requester": ods_reference(details.practice_ods),
        "performer": [details.provider],
        "reasonCode": [concept(need) for need in details.needs],
        "supportingInfo": [{"reference": urn} for urn in goals],
    }
    if details.support_level:
        request["orderDetail"] = [concept(details.support_level)]
    if details.note:
        request["note"] = [{"text": details.note}]
    return request
