"""Outcome resources (attendance, discharge) and the report a referring practice may receive.

An outcome carries ``basedOn`` its ServiceRequest, and that ServiceRequest's ``requester`` is the
one practice it goes back to: the report is addressed by construction, never by a parameter a
caller could get wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ltcbridge.provider.distance import DistanceTravelled, distance_travelled
from ltcbridge.provider.identifiers import (
    ACT_CODE,
    OUTCOME_ID,
    identifier,
    ods_reference,
    outcome_value,
)
from ltcbridge.provider.referrals import Referral
from ltcbridge.provider.stars import Reading, star_observation

Resource = dict[str, Any]


@dataclass(frozen=True)
class OutcomeLinks:
    """What ties an outcome to its referral: the person, the ServiceRequest, the provider."""

    subject: Resource
    based_on: Resource
    provider_ods: str

    @classmethod
    def of(cls, referral: Referral, provider_ods: str) -> OutcomeLinks:
        return cls(referral.subject, referral.service_request_reference, provider_ods)

    def identifier(self, resource_type: str, local_id: str) -> list[dict[str, str]]:
        value = outcome_value(self.provider_ods, resource_type, local_id)
        return [identifier(OUTCOME_ID, value)]


def attendance_encounter(links: OutcomeLinks, session_id: str, date: dt.date) -> Resource:
    """The contract's attendance Encounter for one session the person came to."""
    return {
        "resourceType": "Encounter",
        "identifier": links.identifier("Encounter", session_id),
        "status": "finished",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": links.subject,
        "basedOn": [links.based_on],
        "serviceProvider": ods_reference(links.provider_ods),
        "period": {"start": date.isoformat()},
    }


def star_outcome(links: OutcomeLinks, reading: Reading, reading_id: str) -> Resource:
    """A Star reading Observation tied to its referral (check the reading first)."""
    observation = star_observation(reading, subject=links.subject)
    observation["identifier"] = links.identifier("Observation", reading_id)
    observation["basedOn"] = [links.based_on]
    observation["performer"] = [ods_reference(links.provider_ods)]
    return observation


def summary_output(summary: str) -> list[Resource]:
    return [{"type": {"text": "Outcome summary"}, "valueString": summary}]


def discharged(referral: Referral, summary: str, when: str) -> tuple[Resource, Resource]:
    """The Task and ServiceRequest as completed, with the outcome summarised in ``Task.output``."""
    task = {
        **referral.task,
        "status": "completed",
        "lastModified": when,
        "output": summary_output(summary),
    }
    request = {**referral.service_request, "status": "completed"}
    return task, request


@dataclass
class OutcomeReport:
    """What goes back to the referring practice for one referral (the PRSB outcomes group)."""

    addressed_to: str | None  # the ServiceRequest's requester: the only recipient
    referral_id: str
    status: str
    readings: list[Reading] = field(default_factory=list)
    attendances: list[dt.date] = field(default_factory=list)
    summary: str | None = None

    def distance(self, star: str) -> DistanceTravelled | None:
        return distance_travelled(self.readings, star)


def task_summary(task: Resource) -> str | None:
    for output in task.get("output") or ():
        if "valueString" in output:
            return str(output["valueString"])
    return None
