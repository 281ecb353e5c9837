"""Importing the small provider's CSV: good rows written, bad rows explained, nothing half-done.

The decision (docs/provider.md): every row is checked first (csv_rows), then the good rows are
written **one transaction per person and practice**. A person's rows depend on each other (a
session needs the referral), so they stand or fall together on the server, while one person's
bad row never holds back anybody else. Every entry is a conditional create on a stable
identifier, and a Task is only written when its status must move forward, so importing the same
file again changes nothing on the server.

Identifiers made here never contain the NHS number: sessions and readings are keyed on a hash of
the referral, the kind and the date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcbridge.fhirclient import FhirClient, FhirError
from ltcbridge.mapping import Mappings
from ltcbridge.provider.client import _put_by_id
from ltcbridge.provider.csv_rows import Row, RowProblem, parse_csv
from ltcbridge.provider.csv_template import STAR, template_for
from ltcbridge.provider.identifiers import (
    REFERRAL_ID,
    SNOMED,
    SNOMED_SOCIAL_PRESCRIBING_REFERRAL,
    concept,
    first_value,
    identifier,
    local_reference,
    ods_of,
    ods_reference,
    query,
    task_value,
)
from ltcbridge.provider.outcomes import (
    OutcomeLinks,
    attendance_encounter,
    discharged,
    star_outcome,
    summary_output,
)
from ltcbridge.provider.referrals import Referral
from ltcbridge.provider.stars import Reading
from ltcbridge.uris import NHS_NUMBER

Resource = dict[str, Any]
STATUS_ORDER = {"requested": 0, "received": 0, "ready": 0, "accepted": 1, "completed": 2}


@dataclass
class ImportReport:
    """What an import did: rows taken, rows explained, and what was written."""

    rows_read: int = 0
    imported_rows: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    transactions: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Group:
    nhs_number: str
    practice: str
    rows: list[Row]


async def import_csv(
    path: str | Path,
    fhir: FhirClient,
    provider_ods: str,
    mappings: Mappings,
    *,
    today: dt.date | None = None,
    now: Callable[[], str] | None = None,
) -> ImportReport:
    """Check then write the file at ``path`` to the provider's endpoint (see the module doc)."""
    parsed = parse_csv(Path(path).read_bytes(), template_for(mappings), mappings, today=today)
    report = ImportReport(rows_read=parsed.data_rows, problems=list(parsed.problems))
    stamp = now or (lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    writer = _GroupWriter(fhir, provider_ods, stamp)
    for group in _groups(parsed.rows):
        problems = await writer.write(group)
        if problems:
            report.problems.extend(problems)
        else:
            report.imported_rows.extend(row.number for row in group.rows)
            report.transactions += 1
    report.problems.sort(key=lambda p: p.row)
    report.imported_rows.sort()
    return report


def _groups(rows: list[Row]) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for row in rows:
        key = (row.nhs_number, row.practice)
        groups.setdefault(key, _Group(row.nhs_number, row.practice, [])).rows.append(row)
    return list(groups.values())


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


class _GroupWriter:
    """Builds and sends one person's transaction."""

    def __init__(self, fhir: FhirClient, provider_ods: str, now: Callable[[], str]) -> None:
        self.fhir = fhir
        self.provider_ods = provider_ods
        self.now = now

    async def write(self, group: _Group) -> list[RowProblem]:
        """Send the group's one transaction; the problems that kept it back, else []."""
        try:
            existing = await self._existing_referral(group)
            if existing is None and not any(r.kind == "referral" for r in group.rows):
                return [
                    RowProblem(r.number, _NO_REFERRAL.format(practice=group.practice))
                    for r in group.rows
                ]
            entries = self._entries(group, existing)
            if entries:
                await self.fhir.transaction(entries)
        except FhirError as exc:
            return [
                RowProblem(
                    r.number,
                    f"not imported: the server refused this person's rows "
                    f"({exc}); fix and import again",
                )
                for r in group.rows
            ]
        return []

    # -- building the transaction ---------------------------------------------------------
    def _entries(self, group: _Group, existing: Referral | None) -> list[Resource]:
        discharge = next((r for r in group.rows if r.kind == "discharge"), None)
        target = "completed" if discharge else "accepted"
        if existing is None:
            entries, links, referral_value = self._new_referral(group, target, discharge)
        else:
            entries = self._advance(existing, target, discharge)
            links = OutcomeLinks.of(existing, self.provider_ods)
            referral_value = existing.referral_id
        for row in group.rows:
            local_id = _hash(referral_value, row.kind, row.date.isoformat())
            if row.kind == "session":
                entries.append(_create_once(attendance_encounter(links, local_id, row.date)))
            elif row.kind == "star":
                reading = Reading(STAR, row.date, row.scores)
                entries.append(_create_once(star_outcome(links, reading, local_id)))
        return entries

    def _new_referral(
        self, group: _Group, target: str, discharge: Row | None
    ) -> tuple[list[Resource], OutcomeLinks, str]:
        """Patient, ServiceRequest and Task for a referral that reached the provider by hand."""
        first = min((r for r in group.rows if r.kind == "referral"), key=lambda r: r.date)
        value = f"{group.practice}-csv-{_hash(self.provider_ods, group.nhs_number)}"
        patient_urn, request_urn = _urn("Patient", value), _urn("ServiceRequest", value)
        patient = {
            "resourceType": "Patient",
            "identifier": [identifier(NHS_NUMBER, group.nhs_number)],
        }
        request = _request(value, first, patient_urn, self.provider_ods, target)
        task = {
            "resourceType": "Task",
            "identifier": [identifier(REFERRAL_ID, task_value(value))],
            "status": target,
            "intent": "order",
            "focus": {"reference": request_urn},
            "for": {"reference": patient_urn},
            "requester": ods_reference(group.practice),
            "owner": ods_reference(self.provider_ods),
            "authoredOn": first.date.isoformat(),
            "lastModified": self.now(),
        }
        if discharge:
            task["output"] = summary_output(discharge.note)
        entries = [
            _create_once(patient, patient_urn, NHS_NUMBER, group.nhs_number),
            _create_once(request, request_urn),
            _create_once(task),
        ]
        links = OutcomeLinks(
            {"reference": patient_urn}, {"reference": request_urn}, self.provider_ods
        )
        return entries, links, value

    def _advance(self, referral: Referral, target: str, discharge: Row | None) -> list[Resource]:
        """Move an existing referral's Task forward only: a re-import never moves it back."""
        current = STATUS_ORDER.get(referral.status, 2)
        if current >= STATUS_ORDER[target]:
            return []
        if discharge:
            task, request = discharged(referral, discharge.note, self.now())
            return [_put_by_id(task), _put_by_id(request)]
        task = {**referral.task, "status": target, "lastModified": self.now()}
        return [_put_by_id(task)]

    # -- finding what is already there ----------------------------------------------------
    async def _existing_referral(self, group: _Group) -> Referral | None:
        """The latest referral from this practice for this person, made here or by the daemon."""
        params = {"identifier": f"{NHS_NUMBER}|{group.nhs_number}"}
        patients = [p async for p in self.fhir.search("Patient", params)]
        if not patients:
            return None
        found: list[Referral] = []
        subject = {"subject": local_reference(patients[0])}
        async for request in self.fhir.search("ServiceRequest", subject):
            if ods_of(request.get("requester")) != group.practice:
                continue
            value = first_value(request, REFERRAL_ID)
            task = await self._task(value) if value else None
            if task is not None and task.get("status") != "rejected":
                found.append(Referral(request, task, patients[0]))
        return max(found, key=lambda r: r.authored_on or "", default=None)

    async def _task(self, referral_value: str) -> Resource | None:
        params = {"identifier": f"{REFERRAL_ID}|{task_value(referral_value)}"}
        async for task in self.fhir.search("Task", params):
            return task
        return None


_NO_REFERRAL = (
    "there is no referral for this person from practice {practice} yet: add a 'referral' row "
    "for them, or check the NHS number and the GP practice code"
)


def _urn(kind: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{kind}|{value}')}"


def _request(value: str, row: Row, patient: str, provider_ods: str, target: str) -> Resource:
    code = concept("referral-lead-provider")
    code["coding"].append({"system": SNOMED, "code": SNOMED_SOCIAL_PRESCRIBING_REFERRAL})
    return {
        "resourceType": "ServiceRequest",
        "identifier": [identifier(REFERRAL_ID, value)],
        "status": "completed" if target == "completed" else "active",
        "intent": "order",
        "code": code,
        "subject": {"reference": patient},
        "authoredOn": row.date.isoformat(),
        "requester": ods_reference(row.practice),
        "performer": [ods_reference(provider_ods)],
        "reasonCode": [concept(need) for need in row.needs],
    }


def _create_once(
    resource: Resource,
    full_url: str | None = None,
    system: str | None = None,
    value: str | None = None,
) -> Resource:
    """A conditional create entry keyed on ``system|value`` (default: the first identifier)."""
    ident = resource["identifier"][0]
    criteria = query(system or ident["system"], value or ident["value"])
    entry: Resource = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": criteria},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry
