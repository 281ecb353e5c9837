"""Pulling the GP record's changes since the watermark into the state.

What is asked for is the pull plan's (``daemon/pull_plan.py``): only what the mappings and
measures need. Each page batch is one transaction (entries and quarantine); a search's
watermark is committed only after its whole window is read, so a crash or an outage re-reads
that window from the last committed watermark, and the version check in the store makes
re-reading harmless.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ltcbridge.concepts import REFERRAL
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.pull_plan import (
    IDENTIFIER_PARAMS,
    PATIENT_PARAM,
    REFUSED_FILTER,
    PullPlan,
    Search,
    discover_plan,
)
from ltcbridge.daemon.release_source import store_entry
from ltcbridge.daemon.state import StateStore
from ltcbridge.errors import BadResource
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.fhirclient import Capabilities, FhirClient, FhirHttpError, IncrementalState
from ltcbridge.identifiable.read import CARE_PLANNING_TYPES, NHS_USE_TYPES, Reader, instant_us
from ltcbridge.nhs_number import written_forms
from ltcbridge.uris import NHS_NUMBER

# What the state keeps as entries: the care-planning ones, and the referral cohort's NHS use.
GP_ENTRY_TYPES = CARE_PLANNING_TYPES | NHS_USE_TYPES
GP_ENDPOINT = "gp"

Progress = Callable[[str, int], None]


class Stopping(Exception):
    """Raised between units of work when a shutdown was requested."""


async def _read_in_full(
    gp: FhirClient,
    state: StateStore,
    resource_type: str,
    param: str,
    refusal: FhirHttpError,
    writer: PullWriter,
) -> None:
    """A type whose filtered search the server refused, read in full for this cycle (correct,
    but it transfers more), with a warning naming the parameter refused."""
    event(
        "gp.filter_refused",
        level=30,
        resource_type=resource_type,
        parameter=param,
        status=refusal.status,
        fallback="full read",
    )
    await _pull_search(gp, state, Search(resource_type), writer)


@dataclass
class PullCounts:
    read: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    deleted: int = 0
    deletion_method: str = "none"  # until the deletion pass has run (pull_deletions)


class BatchWriter:
    """Stores resources of one type in batches, one unit of work each, reporting progress and
    stopping between batches when a shutdown was asked for (REST pages and bulk files alike)."""

    def __init__(
        self,
        state: StateStore,
        reader: Reader,
        resource_type: str,
        size: int,
        should_stop: Callable[[], bool],
        progress: Progress | None,
    ) -> None:
        self.state, self.reader, self.resource_type = state, reader, resource_type
        self.size, self.should_stop, self.progress = size, should_stop, progress
        self.batch: list[dict[str, Any]] = []
        self.read = 0
        self.quarantined = 0

    def add(self, resource: dict[str, Any]) -> None:
        self.batch.append(resource)
        if len(self.batch) >= self.size:
            self._store()
            if self.progress:
                self.progress(self.resource_type, self.read)
            if self.should_stop():
                raise Stopping

    def finish(self) -> int:
        """Store what is left; how many resources were read in all."""
        self._store()
        return self.read

    def quarantine_line(self, where: str, message: str, raw: bytes) -> None:
        """Keep aside a line of an export file that is not JSON (it names no resource)."""
        with self.state.unit():
            text = raw.decode("utf-8", "replace").rstrip("\n")
            bad = BadResource("malformed-json", "", message)
            keep_aside(self.state, GP_ENDPOINT, where, bad, text)
        self.quarantined += 1

    def _store(self) -> None:
        self.quarantined += store_batch(self.state, self.reader, self.resource_type, self.batch)
        self.read += len(self.batch)
        self.batch = []


async def pull_gp(
    gp: FhirClient,
    state: StateStore,
    reader: Reader,
    *,
    batch_size: int = 500,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    plan: PullPlan | None = None,
) -> PullCounts:
    """Read what the mappings and measures need from the GP record, changed since each search's
    watermark (``daemon/pull_plan.py``; ``plan`` replaces it, e.g. ``full_plan()``)."""
    capabilities = await gp.capabilities()  # asked once: the plan and deletions both follow it
    if plan is None:
        plan = await discover_plan(gp, reader.mappings, capabilities)
    warn_unfiltered(plan)
    counts = PullCounts()
    writer = PullWriter(state, reader, batch_size, should_stop, progress, counts)
    refused: set[str] = set()  # types whose filtered search the server refused this cycle
    for search in plan.searches:
        if search.resource_type in refused:
            continue
        try:
            await _pull_search(gp, state, search, writer)
        except FhirHttpError as exc:
            if not search.params or exc.status not in REFUSED_FILTER:
                raise
            refused.add(search.resource_type)
            await _read_in_full(gp, state, search.resource_type, search.params[0][0], exc, writer)
    await pull_cohort(gp, state, plan.cohort_types, writer)
    for resource_type, read in counts.read.items():
        if read:
            event("gp.pulled", resource_type=resource_type, count=read)
    counts.deleted, counts.deletion_method = await pull_deletions(gp, state, reader, capabilities)
    return counts


def warn_unfiltered(plan: PullPlan) -> None:
    """Log each type the server cannot filter (read in full), and what the filters may miss
    that the daemon cannot rule out: ``ltcbridge check`` says both too."""
    for why in plan.unfiltered:
        event("gp.filter_unavailable", level=30, detail=why)
    for why in plan.uncertain:
        event("gp.filter_uncertain", level=30, detail=why)


@dataclass
class PullWriter:
    """What every search of one pull stores through: the state, the reader and the counts."""

    state: StateStore
    reader: Reader
    batch_size: int
    should_stop: Callable[[], bool]
    progress: Progress | None
    counts: PullCounts

    def batches(self, resource_type: str) -> BatchWriter:
        """A batch writer for one search or export file."""
        state, size, stop = self.state, self.batch_size, self.should_stop
        return BatchWriter(state, self.reader, resource_type, size, stop, self.progress)

    def finish(self, resource_type: str, batches: BatchWriter) -> None:
        """Store what is left of ``batches`` and add what it read to the counts."""
        read = batches.finish()
        self.counts.quarantined += batches.quarantined
        self.counts.read[resource_type] = self.counts.read.get(resource_type, 0) + read

    async def store(self, resource_type: str, resources: AsyncIterable[dict[str, Any]]) -> None:
        """Store every resource a search yields, batch by batch, and count them."""
        batches = self.batches(resource_type)
        async for resource in resources:
            batches.add(resource)
        self.finish(resource_type, batches)


async def _pull_search(
    gp: FhirClient, state: StateStore, search: Search, writer: PullWriter
) -> None:
    """One search's changes since its own watermark, committed once its window was read whole."""
    saved = state.watermark(GP_ENDPOINT, search.key)
    window_state = IncrementalState.from_json(saved) if saved else IncrementalState()
    params = list(search.params)
    found = gp.incremental(search.resource_type, window_state, params=params, count=100)
    await writer.store(search.resource_type, found)
    with state.unit():
        state.set_watermark(GP_ENDPOINT, search.key, window_state.to_json())
    if writer.should_stop():
        raise Stopping


COHORT = "$cohort"
COHORT_BATCH = 50  # values per patient= (or :identifier=) search: people, or NHS numbers two ways


def referral_cohort(state: StateStore) -> list[str]:
    """Patient ids of the people with a current referral entry the daemon knows of (an entry
    naming its person by NHS number is resolved through the Patients held)."""
    return cohort_members(state)[0]


def cohort_members(state: StateStore) -> tuple[list[str], list[str]]:
    """The referral cohort as Patient ids, and as the NHS numbers its members are known by (their
    Patients' and their referral entries' own): NHS use may name its person either way."""
    ids: set[str] = set()
    numbers: set[str] = set()
    for entry in state.entries_asserting(REFERRAL):
        patient = state.patient(entry.subject_kind, entry.subject_value)
        if patient is not None:
            ids.add(patient["id"])
            if patient["nhs_number"]:
                numbers.add(patient["nhs_number"])
        elif entry.subject_kind == "Patient" and entry.subject_value:
            ids.add(entry.subject_value)
        if entry.subject_kind == "nhs" and entry.subject_value:
            numbers.add(entry.subject_value)
    return sorted(ids), sorted(numbers)


CohortSearch = tuple[str, str, datetime | None]  # parameter, values, since (None: from the start)


def cohort_searches(
    param: str, values: list[str], known: set[str], since: datetime | None
) -> list[CohortSearch]:
    """Searches of ``COHORT_BATCH`` values each: the values new to the cohort from the
    beginning, the others since the watermark."""
    searches: list[CohortSearch] = []
    groups = (
        ([v for v in values if v not in known], None),
        ([v for v in values if v in known], since),
    )
    for group, window_since in groups:
        for start in range(0, len(group), COHORT_BATCH):
            searches.append((param, ",".join(group[start : start + COHORT_BATCH]), window_since))
    return searches


async def pull_cohort(
    gp: FhirClient, state: StateStore, types: tuple[str, ...], writer: PullWriter
) -> None:
    """NHS use (what the outcome measures count) for the referral cohort only: ``patient=``
    searches by Patient id, and ``subject:identifier=`` (Appointment: ``actor:identifier=``)
    searches by NHS number for the entries naming their person by NHS number alone, each of
    ``COHORT_BATCH`` people. A person (or NHS number) new to the cohort is read from the
    beginning, the others since the watermark, which is the server's clock when this pass began.
    A server that refuses one of these searches (HTTP 400: a parameter or the ``:identifier``
    modifier it does not support) has that type read in full for this cycle, with a warning.
    With no type to read (all read in full), the cohort is not recorded: a later pass that can
    filter must read its members from the beginning."""
    if not types:
        return
    ids, numbers = cohort_members(state)
    saved = state.watermark(GP_ENDPOINT, COHORT) or {}
    since = datetime.fromisoformat(saved["since"]) if saved.get("since") else None
    began = gp.server_date or datetime.now(UTC)
    by_id = cohort_searches(
        PATIENT_PARAM,
        [f"Patient/{p}" for p in ids],
        {f"Patient/{p}" for p in saved.get("members", ())},
        since,
    )
    by_number = _nhs_number_tokens(numbers)
    known_numbers = set(_nhs_number_tokens(saved.get("nhs_members", ())))
    for resource_type in types:
        param = f"{IDENTIFIER_PARAMS[resource_type]}:identifier"
        searches = by_id + cohort_searches(param, by_number, known_numbers, since)
        await _pull_cohort_type(gp, state, resource_type, searches, writer)
    with state.unit():
        state.set_watermark(
            GP_ENDPOINT,
            COHORT,
            {"since": began.isoformat(), "members": ids, "nhs_members": numbers},
        )


def _nhs_number_tokens(numbers: Iterable[str]) -> list[str]:
    """The ``system|value`` tokens that find entries naming these NHS numbers: each number
    plain and spaced (``written_forms``)."""
    return [f"{NHS_NUMBER}|{form}" for number in numbers for form in written_forms(number)]


async def _pull_cohort_type(
    gp: FhirClient,
    state: StateStore,
    resource_type: str,
    searches: list[CohortSearch],
    writer: PullWriter,
) -> None:
    """One NHS-use type's cohort searches; the type read in full instead when one is refused."""
    for param, values, window_since in searches:
        window = IncrementalState(window_since)
        found = gp.incremental(resource_type, window, params=[(param, values)], count=100)
        try:
            await writer.store(resource_type, found)
        except FhirHttpError as exc:
            if exc.status not in REFUSED_FILTER:
                raise
            await _read_in_full(gp, state, resource_type, param, exc, writer)
            return
        if writer.should_stop():
            raise Stopping


DELETIONS = "$deletions"
CLOCK_OVERLAP = timedelta(minutes=5)  # the server's clocks may differ a little between nodes
HISTORY, RECONCILE = "history", "reconcile"
RECONCILE_PAGE = 100  # ids asked about in one search
# What a server answers for an interaction it does not have (404/405/501 mostly; 400 from some).
_UNSUPPORTED = frozenset({400, 404, 405, 410, 422, 501})


def deletion_method(capabilities: Capabilities) -> str:
    """How deletions at the GP are found: ``_history`` when the server says it has type-level
    history for every care-planning type (optional in R4), else by reconciling ids."""
    types = sorted(CARE_PLANNING_TYPES)
    return HISTORY if all(capabilities.supports(t, "history-type") for t in types) else RECONCILE


async def pull_deletions(
    gp: FhirClient, state: StateStore, reader: Reader, capabilities: Capabilities
) -> tuple[int, str]:
    """Follow deletions (and changes a filtered search no longer sees) at the GP, so a deleted
    entry neither counts nor is referred.

    Returns (how many entries were found deleted, the method used). The method follows the
    CapabilityStatement; a server that claims history but answers it with "not supported" is
    reconciled instead for this cycle (an optional interaction never fails the cycle). NHS-use
    entries (the referral cohort's, few) are always reconciled: their type's ``_history`` would
    carry the whole practice's. The first pass only sets the starting point: entries read for the
    first time are current by definition. The watermark is the server's clock (its ``Date``),
    never this machine's.
    """
    method = deletion_method(capabilities)
    server_now = gp.server_date or datetime.now(UTC)
    first_pass = state.watermark(GP_ENDPOINT, DELETIONS) is None
    deleted = 0
    reconcile = sorted(NHS_USE_TYPES)
    if first_pass:
        reconcile = []
    elif method == HISTORY:
        try:
            deleted = await _deletions_in_history(gp, state, reader)
        except FhirHttpError as exc:
            if exc.status not in _UNSUPPORTED:
                raise
            event("gp.history_unavailable", level=30, status=exc.status, method=RECONCILE)
            method = RECONCILE
    if method == RECONCILE and not first_pass:
        reconcile = sorted(GP_ENTRY_TYPES)
    deleted += await _deletions_by_reconciling(gp, state, reader, server_now, reconcile)
    with state.unit():
        since = server_now - CLOCK_OVERLAP
        state.set_watermark(GP_ENDPOINT, DELETIONS, {"since": since.isoformat(), "method": method})
    if deleted:
        event("gp.deleted", count=deleted, method=method)
    return deleted, method


async def _deletions_in_history(gp: FhirClient, state: StateStore, reader: Reader) -> int:
    """Deletions in each care-planning type's ``_history`` since the last pass. A newer version
    of an entry held is stored too: a code changed to one the filtered search does not ask for
    must still replace what the entry asserted."""
    saved = state.watermark(GP_ENDPOINT, DELETIONS)
    if not saved:
        return 0
    since, deleted = datetime.fromisoformat(saved["since"]), 0
    with state.unit():
        for resource_type in sorted(CARE_PLANNING_TYPES):
            async for version in gp.history(resource_type, since=since):
                if version.deleted:
                    deleted += state.retract_deleted(
                        version.resource_type, version.id, instant_us(version.last_updated)
                    )
                elif version.resource and state.entry(f"{resource_type}/{version.id}"):
                    store_resource(state, reader, version.resource)
    return deleted


async def _deletions_by_reconciling(
    gp: FhirClient, state: StateStore, reader: Reader, now: datetime, types: list[str]
) -> int:
    """Ask the server which of the current entries the state holds still exist, by ``_id``
    searches of ``RECONCILE_PAGE`` ids (one unit of work each); those it no longer has were
    deleted, and those it has are stored (a newer version replaces the held one, whatever its
    code now). A server that ignored ``_id`` would answer with more, never fewer: safe."""
    deleted_us, deleted = int(now.timestamp() * 1_000_000), 0
    for resource_type in types:
        ids = state.current_ids(resource_type)
        for start in range(0, len(ids), RECONCILE_PAGE):
            page = ids[start : start + RECONCILE_PAGE]
            query = {"_id": ",".join(page), "_count": str(len(page))}
            found = [r async for r in gp.search(resource_type, query)]
            present = {r.get("id") for r in found}
            asked = set(page)
            store_batch(state, reader, resource_type, [r for r in found if r.get("id") in asked])
            with state.unit():
                for rid in page:
                    if rid not in present:
                        deleted += state.retract_deleted(resource_type, rid, deleted_us)
    return deleted


def store_batch(
    state: StateStore, reader: Reader, resource_type: str, batch: list[dict[str, Any]]
) -> int:
    """One unit of work: store each resource's latest version, quarantine the unreadable."""
    if not batch:
        return 0
    quarantined = 0
    with state.unit():
        for resource in batch:
            if not store_resource(state, reader, resource):
                quarantined += 1
        state.audit(
            "read",
            f"{resource_type}?batch",
            recipient=None,
            count=len(batch),
            ids=[r.get("id") if isinstance(r, dict) else None for r in batch],
        )
    return quarantined


def keep_aside(state: StateStore, endpoint: str, key: str, bad: BadResource, raw: str) -> None:
    """Quarantine one resource (or export line) from an endpoint for a person to see, and log
    that it was: its key, reason and path only, never its content."""
    state.quarantine(key, endpoint, bad.reason, bad.path, bad.message, raw)
    source = "gp" if endpoint == GP_ENDPOINT else "provider"
    event(f"{source}.quarantined", resource=key, reason=bad.reason, path=bad.path)


def store_resource(state: StateStore, reader: Reader, resource: dict[str, Any]) -> bool:
    """Store one resource (inside the caller's transaction); False when it was quarantined."""
    is_object = isinstance(resource, dict)
    kind = resource.get("resourceType", "") if is_object else None
    key = f"{kind}/{resource.get('id')}" if is_object else "(not a JSON object)"
    try:
        if not isinstance(kind, str):
            raise BadResource("not-a-resource", "", "is JSON but not a FHIR resource")
        if kind == "Patient":
            rid, updated, version, nhs, *_ = reader.patient_fields(resource)
            state.put_patient(rid, updated, version, nhs, json.dumps(resource))
        elif kind in GP_ENTRY_TYPES:
            store_entry(state, reader, kind, resource)  # the monthly release reads it
        else:
            return True
    except (BadResource, *MALFORMED) as exc:
        bad = exc if isinstance(exc, BadResource) else reader.malformed(resource, exc)
        keep_aside(state, GP_ENDPOINT, key, bad, json.dumps(resource))
        return False
    state.release(key)  # a newer good version supersedes an earlier quarantined one
    return True
