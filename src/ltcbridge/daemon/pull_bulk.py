"""Pulling the GP record by Bulk Data ``$export`` (``[gp] mode = "bulk"``).

For a large first sync this is far cheaper than paging a search (the server writes NDJSON once);
later syncs pass the previous export's ``transactionTime`` as ``_since``. Only what the mappings
need is exported (``_type`` and ``_typeFilter`` from the pull plan, ``daemon/pull_plan.py``).
Deletions (and entries recoded out of the filters) are then followed by search, as in REST mode.
The watermark is committed only after every file was stored, so an interrupted pull simply
exports again from the same point; the version check in the store makes re-reading harmless.
Files are deleted once read: they hold patient data.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from ltcbridge.daemon.logs import event
from ltcbridge.daemon.pull import (
    GP_ENDPOINT,
    Progress,
    PullCounts,
    PullWriter,
    pull_cohort,
    pull_deletions,
    warn_unfiltered,
)
from ltcbridge.daemon.pull_plan import REFUSED_FILTER, PullPlan, discover_plan, full_plan
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import ExportResult, FhirClient, FhirHttpError
from ltcbridge.identifiable.read import Reader

BULK_WATERMARK = "$export"
# Characters of _type and _typeFilter in one kick-off URL: well within the 8 KB request line many
# servers and proxies accept (a longer filter list is split over several exports).
URL_BUDGET = 6000


async def pull_gp_bulk(
    gp: FhirClient,
    state: StateStore,
    reader: Reader,
    work_dir: Path,
    *,
    batch_size: int = 500,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    poll_seconds: float = 5.0,
    plan: PullPlan | None = None,
) -> PullCounts:
    """Export what the mappings need (``_type`` and ``_typeFilter`` from the pull plan), then
    read the referral cohort's NHS use by search and follow deletions at the GP, as the REST
    pull does (``pull_deletions``): an export shows neither a deleted entry nor one recoded to a
    code its filters no longer name, which would otherwise keep counting.

    The watermark remembers the filters it was taken with: when the mappings change, the next
    export starts from the beginning, so entries coded with a newly mapped code are read too.
    A server that refuses ``_typeFilter`` (HTTP 400 at kick-off) is exported in full instead.
    """
    capabilities = await gp.capabilities()  # asked once: the plan and deletions both follow it
    if plan is None:
        plan = await discover_plan(gp, reader.mappings, capabilities)
    warn_unfiltered(plan)
    saved = state.watermark(GP_ENDPOINT, BULK_WATERMARK) or {}
    shutil.rmtree(work_dir, ignore_errors=True)  # a crashed pull's files: export again
    try:
        result = await _export(gp, work_dir, plan, saved, poll_seconds)
    except FhirHttpError as exc:
        if not any(s.params for s in plan.searches) or exc.status not in REFUSED_FILTER:
            raise
        event(
            "gp.filter_refused",
            level=30,
            parameter="_typeFilter",
            status=exc.status,
            fallback="full export",
        )
        plan = full_plan()
        result = await _export(gp, work_dir, plan, saved, poll_seconds)
    counts = PullCounts()
    writer = PullWriter(state, reader, batch_size, should_stop, progress, counts)
    try:
        order = plan.types
        for file in sorted(result.files, key=lambda f: order.index(f.type)):
            _store_file(writer, file.type, file.path)
        with state.unit():
            since = result.transaction_time.isoformat()
            state.set_watermark(
                GP_ENDPOINT, BULK_WATERMARK, {"since": since, "filters": _signature(plan)}
            )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    for resource_type, read in counts.read.items():
        event("gp.pulled", resource_type=resource_type, count=read, mode="bulk")
    await pull_cohort(gp, state, plan.cohort_types, writer)
    counts.deleted, counts.deletion_method = await pull_deletions(gp, state, reader, capabilities)
    return counts


def export_requests(plan: PullPlan) -> list[tuple[tuple[str, ...], list[str]]]:
    """The ``_type`` and ``_typeFilter`` values of each export the plan needs: as few as keep
    each kick-off URL within ``URL_BUDGET`` (a type is exported only in the export whose filters
    name it, since a type listed without a filter is exported whole). Types read in full go
    into the first."""
    filtered = {s.resource_type for s in plan.searches if s.params}
    requests: list[tuple[tuple[str, ...], list[str]]] = []
    types = [t for t in plan.types if t not in filtered]
    filters: list[str] = []
    size = 0
    for search in plan.searches:
        if not search.params:
            continue
        value = search.type_filter()
        cost = len(quote(value, safe="")) + len("&_typeFilter=")
        if filters and size + cost > URL_BUDGET:
            requests.append((tuple(types), filters))
            types, filters, size = [], [], 0
        filters.append(value)
        size += cost
        if search.resource_type not in types:
            types.append(search.resource_type)
    requests.append((tuple(types), filters))
    return requests


async def _export(
    gp: FhirClient, work_dir: Path, plan: PullPlan, saved: dict[str, Any], poll_seconds: float
) -> ExportResult:
    """The plan's exports since the saved point (from the beginning when the filters changed),
    as one result whose transaction time is the earliest of theirs: the next ``_since``."""
    same = saved.get("since") and saved.get("filters") == _signature(plan)
    since = datetime.fromisoformat(saved["since"]) if same else None
    results = []
    for number, (types, filters) in enumerate(export_requests(plan)):
        results.append(
            await gp.bulk_export(
                work_dir / str(number),
                types=types,
                since=since,
                type_filters=filters,
                poll_seconds=poll_seconds,
            )
        )
    return ExportResult(
        transaction_time=min(r.transaction_time for r in results),
        files=[f for r in results for f in r.files],
    )


def _signature(plan: PullPlan) -> str:
    """What the watermark was taken with: the filters of every search."""
    filters = [search.type_filter() for search in plan.searches if search.params]
    return hashlib.sha256("\n".join(filters).encode()).hexdigest()[:16]


def _store_file(writer: PullWriter, resource_type: str, path: Path) -> None:
    """Store one NDJSON file; a line that is not JSON is quarantined naming file and line."""
    batches = writer.batches(resource_type)
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                where = f"$export/{resource_type}.ndjson:{number}"
                batches.quarantine_line(where, f"not JSON ({exc})", line)
                continue
            batches.add(resource)
    writer.finish(resource_type, batches)
