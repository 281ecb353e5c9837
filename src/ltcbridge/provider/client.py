"""ProviderClient: a provider's whole side of the referral loop, on its own FHIR endpoint.

Everything goes through :class:`ltcbridge.fhirclient.FhirClient` (auth, retries, paging). Every
write is keyed on a business identifier from docs/referral-loop.md, or is a PUT by id of a
resource just read, so calling any method twice leaves the server as once. The client never
talks to a GP system: what the provider knows is what the practice sent, as consent allowed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any, Self

from ltcbridge.errors import LtcbridgeError
from ltcbridge.fhirclient import BadRequestError, FhirClient, FhirError, WriteResult
from ltcbridge.mapping import Mappings, load_mappings
from ltcbridge.provider.identifiers import (
    REFERRAL_ID,
    first_value,
    local_reference,
    ods_of,
    task_value,
)
from ltcbridge.provider.outcomes import (
    OutcomeLinks,
    OutcomeReport,
    attendance_encounter,
    discharged,
    star_outcome,
    task_summary,
)
from ltcbridge.provider.referrals import Referral
from ltcbridge.provider.stars import Reading, check_reading, reading_from_observation
from ltcbridge.uris import ODS_CODE

log = logging.getLogger("ltcbridge.provider")

Resource = dict[str, Any]
Params = list[tuple[str, str]]
REFERRAL_TYPES = frozenset({"Patient", "Goal", "ServiceRequest", "Task"})
# R4 Task search: focus is the ServiceRequest, patient the person. No R4 search parameter reaches
# the Goals (ServiceRequest.supportingInfo), so they are read by one _id search instead.
REFERRAL_INCLUDES = ("Task:focus", "Task:patient")
GOALS_PER_SEARCH = 50  # _id values in one Goal search: keeps the URL short


class ReferralError(LtcbridgeError):
    """A referral cannot be found, received or changed as asked."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ProviderClient:
    """One provider (by ODS code) on its own FHIR endpoint.

    ``fhir`` is an open :class:`FhirClient`; ``mappings`` defaults to the bundled ones (the Star
    definitions come from there). ``services``: references to this provider's HealthcareServices,
    for referrals the daemon routed through the directory. ``now`` is injectable for tests.
    """

    def __init__(
        self,
        fhir: FhirClient,
        provider_ods: str,
        mappings: Mappings | None = None,
        *,
        services: tuple[str, ...] = (),
        now: Any = _now,
    ) -> None:
        self.fhir = fhir
        self.provider_ods = provider_ods
        self.mappings = mappings if mappings is not None else load_mappings()
        self.services = frozenset(services)  # e.g. "HealthcareService/abc": also this provider
        self._now = now
        self._by_owner: bool | None = None  # searches Tasks by owner with includes; None: unasked

    # -- receiving -------------------------------------------------------------------------
    async def incoming(self) -> list[Referral]:
        """Referrals waiting for this provider: Tasks ``requested`` whose owner is this provider.

        Searched by owner (``owner:identifier`` for the ODS code, ``owner`` for the services) with
        each Task's ServiceRequest and Patient included, so no other provider's referral is read.
        """
        return await self._owned("requested")

    async def withdrawn(self) -> list[Referral]:
        """Referrals the practice withdrew (recorded in error at the GP): Tasks ``cancelled`` by
        the requester, owned by this provider. Stop work on them; keep or remove what you hold
        as your retention rules say."""
        return await self._owned("cancelled")

    async def referral(self, referral_id: str) -> Referral:
        """One referral by its ``.../referral`` value; ReferralError when there is none."""
        params = [("identifier", f"{REFERRAL_ID}|{task_value(referral_id)}")]
        for found in await self._referrals(params):
            return found
        raise ReferralError(
            f"no referral {referral_id!r} on this endpoint: check the value, or poll incoming()"
        )

    async def receive_bundle(self, bundle: Resource) -> list[Referral]:
        """Store a pushed referral Bundle (as the contract shapes it) and return its referrals.

        Only the contract's types are taken (a Bundle carrying anything else is refused, so no
        more than the referral needs is ever stored), and only idempotent entries.
        """
        entries = _checked_entries(bundle)
        await self.fhir.transaction(entries)
        task_ids = [
            first_value(e["resource"], REFERRAL_ID)
            for e in entries
            if e["resource"]["resourceType"] == "Task"
        ]
        return [await self._by_task_value(value) for value in task_ids if value]

    def _owns(self, referral: Referral) -> bool:
        owner = referral.task.get("owner") or {}
        return referral.owner_ods == self.provider_ods or owner.get("reference") in self.services

    async def _owned(self, status: str) -> list[Referral]:
        """This provider's referrals in ``status``, searched by owner where the server can.

        A server whose CapabilityStatement lists no Task ``owner`` parameter or not both
        includes, or that refuses the search (400: R4 servers reject a modifier they lack), is
        read in full and filtered here, with a warning. Either way only owned ones are returned.
        """
        if await self._includes_supported():
            try:
                found = [
                    referral
                    for owner in self._owner_params()
                    for referral in await self._referrals([("status", status), owner])
                ]
                return [r for r in found if self._owns(r)]
            except BadRequestError as exc:
                self._by_owner = False
                log.warning(
                    "the FHIR server refused the Task search by owner (%s): reading every Task "
                    "and keeping this provider's",
                    str(exc).splitlines()[0],
                )
        return [r for r in await self._referrals([("status", status)]) if self._owns(r)]

    def _owner_params(self) -> list[tuple[str, str]]:
        """The owner criteria: the ODS code (a logical reference), and any services (literal)."""
        owners = [("owner:identifier", f"{ODS_CODE}|{self.provider_ods}")]
        if self.services:
            owners.append(("owner", ",".join(sorted(self.services))))
        return owners

    async def _includes_supported(self) -> bool:
        """Whether the CapabilityStatement lists the Task ``owner`` parameter and both
        includes; asked once per client, and a warning when not."""
        if self._by_owner is None:
            try:
                task = (await self.fhir.capabilities()).resources.get("Task")
            except FhirError:
                task = None
            self._by_owner = bool(
                task
                and "owner" in task.search_params
                and set(REFERRAL_INCLUDES) <= set(task.search_includes)
            )
            if not self._by_owner:
                log.warning(
                    "the FHIR server's CapabilityStatement lists no Task search by owner with "
                    "_include=%s: reading every Task (and what it references) and keeping this "
                    "provider's",
                    " and ".join(REFERRAL_INCLUDES),
                )
        return self._by_owner

    async def _by_task_value(self, value: str) -> Referral:
        for found in await self._referrals([("identifier", f"{REFERRAL_ID}|{value}")]):
            return found
        raise ReferralError(f"the Task {value!r} was not stored: the endpoint lost the write")

    async def _referrals(self, params: Params) -> list[Referral]:
        """The referrals whose Tasks match ``params``, every page, with what they reference:
        included in the search where the server can, then Goals by ``_id``, then read one by
        one only for what is still missing."""
        includes = REFERRAL_INCLUDES if await self._includes_supported() else ()
        tasks: list[Resource] = []
        known: dict[str, Resource] = {}
        query = [*params, *(("_include", include) for include in includes)]
        async for entry in self.fhir.search_entries("Task", query):
            if entry.mode == "match":
                tasks.append(entry.resource)
            elif entry.included:
                known[local_reference(entry.resource)] = entry.resource
        if includes:
            await self._find_goals(_goal_references(tasks, known), known)
        return [await self._assemble(task, known) for task in tasks]

    async def _find_goals(self, references: Iterable[str], known: dict[str, Resource]) -> None:
        """Add the Goals ``references`` name to ``known``, a few searches by ``_id``."""
        ids = sorted({ref.split("/")[1] for ref in references if ref not in known})
        for start in range(0, len(ids), GOALS_PER_SEARCH):
            chunk = ",".join(ids[start : start + GOALS_PER_SEARCH])
            params = {"_id": chunk, "_count": str(GOALS_PER_SEARCH)}
            async for goal in self.fhir.search("Goal", params):
                known[local_reference(goal)] = goal

    async def _assemble(self, task: Resource, known: dict[str, Resource]) -> Referral:
        request = await self._follow(task.get("focus"), known)
        if request is None:
            raise ReferralError(f"Task/{task.get('id')} has no ServiceRequest in focus")
        patient = await self._follow(request.get("subject"), known)
        goals = [await self._follow(ref, known) for ref in request.get("supportingInfo") or ()]
        return Referral(request, task, patient, [g for g in goals if g], self.mappings)

    async def _follow(self, reference: Any, known: dict[str, Resource]) -> Resource | None:
        """The resource a literal reference names: from ``known`` (included), else read."""
        literal = (reference or {}).get("reference", "")
        if literal.count("/") != 1:
            return None
        if literal in known:
            return known[literal]
        kind, rid = literal.split("/")
        return await self.fhir.read(kind, rid)

    # -- accepting and declining -----------------------------------------------------------
    async def accept(self, referral: Referral) -> Referral:
        """The Task becomes ``accepted`` (nothing is written if it already is)."""
        return await self._set_status(referral, "accepted", None)

    async def decline(self, referral: Referral, reason: str) -> Referral:
        """The Task becomes ``rejected`` with ``statusReason.text``; a reason is required."""
        if not reason.strip():
            raise ReferralError("say why the referral is declined: the GP and the person need it")
        return await self._set_status(referral, "rejected", reason)

    async def _set_status(self, referral: Referral, status: str, reason: str | None) -> Referral:
        current = referral.task.get("status")
        if current == status:
            return referral
        if current not in ("requested", "received", "ready"):
            raise ReferralError(
                f"referral {referral.referral_id} is already {current}; it cannot become {status}"
            )
        task = {**referral.task, "status": status, "lastModified": self._now()}
        if reason:
            task["statusReason"] = {"text": reason}
        result = await self.fhir.update(task, version=referral.task["meta"]["versionId"])
        referral.task = result.resource or task
        return referral

    # -- outcomes --------------------------------------------------------------------------
    async def record_star(self, referral: Referral, reading: Reading, reading_id: str) -> Resource:
        """A checked Star reading; ``reading_id`` is the provider's own id for it (stable)."""
        check_reading(self.mappings, reading)
        links = OutcomeLinks.of(referral, self.provider_ods)
        return await self._create_once(star_outcome(links, reading, reading_id))

    async def record_attendance(
        self, referral: Referral, session_id: str, date: dt.date
    ) -> Resource:
        """An attendance Encounter for a session the person came to (``session_id``: stable)."""
        links = OutcomeLinks.of(referral, self.provider_ods)
        encounter = attendance_encounter(links, session_id, date)
        return await self._create_once(encounter)

    async def discharge(self, referral: Referral, summary: str) -> Referral:
        """Task and ServiceRequest ``completed``, the outcome summarised; once only."""
        if referral.status == "completed":
            return referral
        if referral.status != "accepted":
            raise ReferralError(
                f"referral {referral.referral_id} is {referral.status}: accept it before discharge"
            )
        task, request = discharged(referral, summary, self._now())
        await self.fhir.transaction([_put_by_id(task), _put_by_id(request)])
        return await self.referral(referral.referral_id)

    async def outcomes(self, referral: Referral) -> OutcomeReport:
        """The outcome report for one referral, addressed to its referring practice only."""
        based_on = {"based-on": local_reference(referral.service_request)}
        readings = [
            reading
            async for obs in self.fhir.search("Observation", based_on)
            if (reading := reading_from_observation(self.mappings, obs)) is not None
        ]
        attendances = [
            dt.date.fromisoformat(e["period"]["start"][:10])
            async for e in self.fhir.search("Encounter", based_on)
            if e.get("status") == "finished"
        ]
        return OutcomeReport(
            addressed_to=referral.requester_ods,
            referral_id=referral.referral_id,
            status=referral.status,
            readings=sorted(readings, key=lambda r: r.date),
            attendances=sorted(attendances),
            summary=task_summary(referral.task),
        )

    async def outcomes_for_practice(self, practice_ods: str) -> list[OutcomeReport]:
        """Reports for every referral this practice made here, and for no other practice's."""
        reports = []
        async for request in self.fhir.search("ServiceRequest", {"status": "active,completed"}):
            if ods_of(request.get("requester")) != practice_ods:
                continue
            value = first_value(request, REFERRAL_ID)
            if value:
                reports.append(await self.outcomes(await self.referral(value)))
        return reports

    async def _create_once(self, resource: Resource) -> Resource:
        result: WriteResult = await self.fhir.create_once(resource)
        return result.resource or resource


def _goal_references(tasks: Sequence[Resource], known: dict[str, Resource]) -> list[str]:
    """The Goal references of the ServiceRequests the tasks focus on (those already known)."""
    references = []
    for task in tasks:
        request = known.get((task.get("focus") or {}).get("reference", "")) or {}
        for info in request.get("supportingInfo") or ():
            reference = info.get("reference", "")
            if reference.startswith("Goal/") and reference.count("/") == 1:
                references.append(reference)
    return references


def _put_by_id(resource: Resource) -> Resource:
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": local_reference(resource)},
    }


def _checked_entries(bundle: Resource) -> list[Resource]:
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise ReferralError("a pushed referral must be a FHIR Bundle of type transaction")
    entries = list(bundle.get("entry") or ())
    for number, entry in enumerate(entries):
        kind = (entry.get("resource") or {}).get("resourceType")
        method = (entry.get("request") or {}).get("method")
        if kind not in REFERRAL_TYPES:
            raise ReferralError(
                f"entry {number} is a {kind}: a referral carries only Patient, Goal, "
                "ServiceRequest and Task, so it was not stored"
            )
        if method != "PUT" or "?identifier=" not in entry["request"].get("url", ""):
            raise ReferralError(
                f"entry {number} is not a conditional PUT on its identifier: it could duplicate"
            )
    return entries


class SyncProviderClient:
    """Blocking wrapper for scripts: opens its own FhirClient on ``base_url``."""

    def __init__(
        self, base_url: str, provider_ods: str, mappings: Mappings | None = None, **fhir_kwargs: Any
    ) -> None:
        self._runner = asyncio.Runner()
        self._fhir = self._runner.run(_open(base_url, fhir_kwargs))
        self.client = ProviderClient(self._fhir, provider_ods, mappings)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._fhir.aclose())
        self._runner.close()

    def __getattr__(self, name: str) -> Any:
        """Each coroutine method of ProviderClient, run to completion."""
        method = getattr(self.client, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        return blocking


async def _open(base_url: str, kwargs: dict[str, Any]) -> FhirClient:
    return FhirClient(base_url, **kwargs)
