"""Provider outcomes back into the GP record (docs/referral-loop.md section 3).

The provider's Star readings, attendances and Task status changes since the provider watermark
become write-back effects in the outbox, in the same transaction as the batch that found them.
Only outcomes of this practice's referrals come back: the ServiceRequest they are based on must
carry this practice's referral identifier and name it as requester. Each provider's answer (its
Task) is also kept in the state as the GP-side copy, in the same transaction, so the monthly
releases count the referrals answered (daemon/release_source.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.daemon.config import EndpointConfig
from ltcbridge.daemon.identifiers import (
    OUTCOME_SYSTEM,
    REFERRAL_SYSTEM,
    TASK_SUFFIX,
    first_value,
    identifier,
    outcome_value,
    source_of_referral,
)
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.pull import Stopping, keep_aside
from ltcbridge.daemon.referral import WITHDRAWAL_SUFFIX, WITHDRAWN_REASON, latest_key
from ltcbridge.daemon.release_source import keep_answer
from ltcbridge.daemon.state import StateStore, now_iso
from ltcbridge.errors import BadResource
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.fhirclient import FhirClient, IncrementalState, NotFoundError
from ltcbridge.identifiable.read import Reader, malformed
from ltcbridge.mapping import Mappings
from ltcbridge.uris import ODS_CODE

OUTCOME_TYPES = ("Observation", "Encounter", "Task")
REPORTED_TASK_STATUS = frozenset({"accepted", "rejected", "in-progress", "completed", "cancelled"})
Resource = dict[str, Any]


class OutcomePuller:
    """Turns one provider's changed resources into GP write-back effects."""

    def __init__(
        self,
        provider: EndpointConfig,
        client: FhirClient,
        state: StateStore,
        mappings: Mappings,
        practice_ods: str,
    ) -> None:
        self.provider = provider
        self.client = client
        self.state = state
        self.star_codes = set(mappings.stars)
        self.reader = Reader(mappings)  # reads the answers kept for the monthly releases
        self.practice_ods = practice_ods
        self.endpoint = f"provider:{provider.name}"

    async def pull(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Enqueue write-backs for every outcome since the watermark; returns how many."""
        queued = 0
        for resource_type in OUTCOME_TYPES:
            saved = self.state.watermark(self.endpoint, resource_type)
            window = IncrementalState.from_json(saved) if saved else IncrementalState()
            batch: list[tuple[str, Resource, str | None]] = []
            bad: list[tuple[Resource, BadResource]] = []
            async for resource in self.client.incremental(resource_type, window, count=100):
                try:
                    effect = await self._effect(resource)
                except MALFORMED as exc:  # kept aside, or it would stop every cycle
                    bad.append((resource, malformed(resource, exc)))
                    continue
                if effect is not None:
                    batch.append((*effect, (resource.get("meta") or {}).get("lastUpdated")))
            with self.state.unit():  # effects and the watermark that found them, together
                for key, payload, version in batch:
                    queued += self.state.enqueue(key, "writeback", "gp", payload)
                    if payload["resource"]["resourceType"] == "Task":
                        keep_answer(self.state, self.reader, payload["resource"], version)
                for resource, problem in bad:
                    self._quarantine(resource, problem)
                self.state.set_watermark(self.endpoint, resource_type, window.to_json())
            if batch:
                event(
                    "provider.outcomes",
                    provider=self.provider.name,
                    resource_type=resource_type,
                    count=len(batch),
                )
            if should_stop():
                raise Stopping
        return queued

    async def _effect(self, resource: Resource) -> tuple[str, Resource] | None:
        kind = resource.get("resourceType")
        if kind == "Task":
            return self._task(resource)
        source = await self._referral_source(resource)
        if source is None:
            return None
        if kind == "Observation" and self._is_star(resource):
            return self._copy(resource, source, _star_fields(resource))
        if kind == "Encounter" and resource.get("status") == "finished":
            return self._copy(resource, source, _encounter_fields(resource))
        return None

    def _quarantine(self, resource: Resource, problem: BadResource) -> None:
        key = f"{resource.get('resourceType')}/{resource.get('id')}"
        keep_aside(self.state, self.endpoint, key, problem, json.dumps(resource))

    # -- which referral an outcome belongs to -------------------------------------------------
    async def _referral_source(self, resource: Resource) -> str | None:
        """The GP entry behind the ServiceRequest the outcome is based on, if it is ours."""
        for based_on in resource.get("basedOn") or ():
            reference = based_on.get("reference") or ""
            if reference.startswith("ServiceRequest/"):
                value = await self._referral_value(reference)
                if value:
                    return source_of_referral(self.practice_ods, value)
        return None

    async def _referral_value(self, reference: str) -> str:
        known = self.state.provider_ref(self.provider.name, reference)
        if known is not None:
            return known
        try:
            request = await self.client.read("ServiceRequest", reference.split("/", 1)[1])
        except NotFoundError:
            return ""
        value = first_value(request, REFERRAL_SYSTEM) or ""
        requester = ((request.get("requester") or {}).get("identifier") or {}).get("value")
        ours = (
            value
            if requester == self.practice_ods and source_of_referral(self.practice_ods, value)
            else ""
        )
        with self.state.unit():
            self.state.remember_provider_ref(self.provider.name, reference, ours)
        return ours

    def _is_star(self, resource: Resource) -> bool:
        codings = (resource.get("code") or {}).get("coding") or ()
        return any(
            c.get("system") == CONCEPT_SYSTEM and c.get("code") in self.star_codes for c in codings
        )

    # -- the GP-side copies -------------------------------------------------------------------
    def _gp_patient(self, source: str) -> str | None:
        kind, _, rid = source.partition("/")
        row = self.state.db.execute(
            "SELECT subject_kind, subject_value FROM entry WHERE resource_type = ? AND id = ?",
            (kind, rid),
        ).fetchone()
        patient = self.state.patient(row[0], row[1]) if row else None
        return patient["id"] if patient else None

    def _copy(
        self, resource: Resource, source: str, fields: Resource
    ) -> tuple[str, Resource] | None:
        patient_id = self._gp_patient(source)
        if patient_id is None:
            return None
        kind = resource["resourceType"]
        value = first_value(resource, OUTCOME_SYSTEM) or outcome_value(
            self.provider.ods or "", kind, resource["id"]
        )
        copy = {
            "resourceType": kind,
            "identifier": [identifier(OUTCOME_SYSTEM, value)],
            **fields,
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        if kind == "Observation":
            copy["performer"] = [self._provider_ref()]
        else:
            copy["serviceProvider"] = self._provider_ref()
        return value, self._payload("create", copy, f"{value}-provenance", source)

    def _task(self, task: Resource) -> tuple[str, Resource] | None:
        value = first_value(task, REFERRAL_SYSTEM) or ""
        status = task.get("status")
        source = source_of_referral(self.practice_ods, value)
        requester = ((task.get("requester") or {}).get("identifier") or {}).get("value")
        if not (value.endswith(TASK_SUFFIX) and source and requester == self.practice_ods):
            return None
        if status not in REPORTED_TASK_STATUS:
            return None
        patient_id = self._gp_patient(source)
        if patient_id is None:
            return None
        copy: dict[str, Any] = {
            "resourceType": "Task",
            "identifier": [identifier(REFERRAL_SYSTEM, value)],
            "status": status,
            "intent": "order",
            "focus": {"reference": source},
            "for": {"reference": f"Patient/{patient_id}"},
            "requester": {"identifier": identifier(ODS_CODE, self.practice_ods)},
            "owner": self._provider_ref(),
            **{
                k: task[k]
                for k in ("statusReason", "output", "authoredOn", "lastModified")
                if k in task
            },
        }
        key = f"{value}-{status}"
        author = self._practice_ref() if self._withdrawn_here(task, value) else None
        return key, self._payload("upsert", copy, f"{key}-provenance", source, author)

    def _withdrawn_here(self, task: Resource, value: str) -> bool:
        """Is this cancelled Task the practice's own withdrawal coming back (the practice sent
        it, with its reason), not the provider's decision? Then the practice is its author."""
        if task.get("status") != "cancelled":
            return False
        referral = value.removesuffix(TASK_SUFFIX)
        key = latest_key(self.state, referral + WITHDRAWAL_SUFFIX)
        found = self.state.effect(key) if key else None
        said = ((task.get("statusReason") or {}).get("text") or "") == WITHDRAWN_REASON
        return found is not None and found[1] == "done" and said

    def _payload(
        self,
        mode: str,
        resource: Resource,
        provenance_value: str,
        source: str,
        author: Resource | None = None,
    ) -> Resource:
        """The write-back effect: the resource, and a Provenance naming its author (the
        provider, unless ``author`` says otherwise)."""
        provenance = {
            "resourceType": "Provenance",
            "identifier": [identifier(OUTCOME_SYSTEM, provenance_value)],
            "recorded": now_iso(),
            "agent": [{"who": author or self._provider_ref()}],
        }
        return {
            "mode": mode,
            "resource": resource,
            "provenance": provenance,
            "source": source,
            "provider": self.provider.name,
        }

    def _practice_ref(self) -> Resource:
        return {"identifier": identifier(ODS_CODE, self.practice_ods)}

    def _provider_ref(self) -> Resource:
        return {"identifier": identifier(ODS_CODE, self.provider.ods or "")}


def _star_fields(resource: Resource) -> Resource:
    keep = ("status", "code", "component", "effectiveDateTime")
    return {k: resource[k] for k in keep if k in resource}


def _encounter_fields(resource: Resource) -> Resource:
    keep = ("status", "class", "period")
    return {k: resource[k] for k in keep if k in resource}
