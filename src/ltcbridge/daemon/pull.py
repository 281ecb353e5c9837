"""Pulling the GP record's changes since the watermark into the state.

Each page batch is one transaction (entries and quarantine); a resource type's watermark is
committed only after its whole window is read, so a crash or an outage re-reads that window from
the last committed watermark, and the version check in the store makes re-reading harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ltcbridge.daemon.logs import event
from ltcbridge.daemon.release_source import store_entry
from ltcbridge.daemon.state import StateStore
from ltcbridge.errors import BadResource
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.fhirclient import Capabilities, FhirClient, FhirHttpError, IncrementalState
from ltcbridge.identifiable.read import (
    CARE_PLANNING_TYPES,
    ENTRY_TYPES,
    NHS_USE_TYPES,
    Reader,
    instant_us,
)

# NHS use is read for the monthly releases' nhs-use measure (daemon/release_source.py).
GP_TYPES: tuple[str, ...] = ("Patient", *sorted(CARE_PLANNING_TYPES | NHS_USE_TYPES))
GP_ENDPOINT = "gp"

Progress = Callable[[str, int], None]


class Stopping(Exception):
    """Raised between units of work when a shutdown was requested."""


@dataclass
class PullCounts:
    read: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    deleted: int = 0
    deletion_method: str = "none"  # bulk exports cannot see deletions


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
) -> PullCounts:
    """Read every GP resource type ltcbridge uses, changed since its watermark."""
    counts = PullCounts()
    for resource_type in GP_TYPES:
        saved = state.watermark(GP_ENDPOINT, resource_type)
        window_state = IncrementalState.from_json(saved) if saved else IncrementalState()
        batches = BatchWriter(state, reader, resource_type, batch_size, should_stop, progress)
        async for resource in gp.incremental(resource_type, window_state, count=100):
            batches.add(resource)
        read = batches.finish()
        counts.quarantined += batches.quarantined
        with state.unit():
            state.set_watermark(GP_ENDPOINT, resource_type, window_state.to_json())
        counts.read[resource_type] = read
        if read:
            event("gp.pulled", resource_type=resource_type, count=read)
        if should_stop():
            raise Stopping
    counts.deleted, counts.deletion_method = await pull_deletions(gp, state)
    return counts


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


async def pull_deletions(gp: FhirClient, state: StateStore) -> tuple[int, str]:
    """Follow deletions at the GP, so a deleted entry neither counts nor is referred.

    Returns (how many entries were found deleted, the method used). The method follows the
    CapabilityStatement; a server that claims history but answers it with "not supported" is
    reconciled instead for this cycle (an optional interaction never fails the cycle). The
    watermark is the server's clock (its ``Date``), never this machine's.
    """
    method = deletion_method(await gp.capabilities())
    server_now = gp.server_date or datetime.now(UTC)
    deleted = 0
    if method == HISTORY:
        try:
            deleted = await _deletions_in_history(gp, state)
        except FhirHttpError as exc:
            if exc.status not in _UNSUPPORTED:
                raise
            event("gp.history_unavailable", level=30, status=exc.status, method=RECONCILE)
            method = RECONCILE
    if method == RECONCILE:
        deleted = await _deletions_by_reconciling(gp, state, server_now)
    with state.unit():
        since = server_now - CLOCK_OVERLAP
        state.set_watermark(GP_ENDPOINT, DELETIONS, {"since": since.isoformat(), "method": method})
    if deleted:
        event("gp.deleted", count=deleted, method=method)
    return deleted, method


async def _deletions_in_history(gp: FhirClient, state: StateStore) -> int:
    """Deletions in each type's ``_history`` since the last pass. The first pass only sets the
    starting point: entries read for the first time are current by definition."""
    saved = state.watermark(GP_ENDPOINT, DELETIONS)
    if not saved:
        return 0
    since, deleted = datetime.fromisoformat(saved["since"]), 0
    with state.unit():
        for resource_type in sorted(CARE_PLANNING_TYPES):
            async for version in gp.history(resource_type, since=since):
                if version.deleted and state.retract_deleted(
                    version.resource_type, version.id, instant_us(version.last_updated)
                ):
                    deleted += 1
    return deleted


async def _deletions_by_reconciling(gp: FhirClient, state: StateStore, now: datetime) -> int:
    """Ask the server which of the current entries the state holds still exist, by ``_id``
    searches of ``RECONCILE_PAGE`` ids (one unit of work each); those it no longer has were
    deleted. A server that ignored ``_id`` would answer with more, never fewer: safe."""
    deleted_us, deleted = int(now.timestamp() * 1_000_000), 0
    for resource_type in sorted(CARE_PLANNING_TYPES):
        ids = state.current_ids(resource_type)
        for start in range(0, len(ids), RECONCILE_PAGE):
            page = ids[start : start + RECONCILE_PAGE]
            query = {"_id": ",".join(page), "_count": str(len(page))}
            present = {r.get("id") async for r in gp.search(resource_type, query)}
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
        elif kind in ENTRY_TYPES:
            store_entry(state, reader, kind, resource)  # the monthly release reads it
        else:
            return True
    except (BadResource, *MALFORMED) as exc:
        bad = exc if isinstance(exc, BadResource) else reader.malformed(resource, exc)
        keep_aside(state, GP_ENDPOINT, key, bad, json.dumps(resource))
        return False
    state.release(key)  # a newer good version supersedes an earlier quarantined one
    return True
