"""Pulling the GP record by Bulk Data ``$export`` (``[gp] mode = "bulk"``).

For a large first sync this is far cheaper than paging a search (the server writes NDJSON once);
later syncs pass the previous export's ``transactionTime`` as ``_since``. The watermark is
committed only after every file was stored, so an interrupted pull simply exports again from the
same point; the version check in the store makes re-reading harmless. Files are deleted once
read: they hold patient data.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orjson

from ltcbridge.daemon.logs import event
from ltcbridge.daemon.pull import GP_ENDPOINT, GP_TYPES, BatchWriter, Progress, PullCounts
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import FhirClient
from ltcbridge.identifiable.read import Reader

BULK_WATERMARK = "$export"


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
) -> PullCounts:
    saved = state.watermark(GP_ENDPOINT, BULK_WATERMARK) or {}
    since = datetime.fromisoformat(saved["since"]) if saved.get("since") else None
    shutil.rmtree(work_dir, ignore_errors=True)  # a crashed pull's files: export again
    result = await gp.bulk_export(work_dir, types=GP_TYPES, since=since, poll_seconds=poll_seconds)
    counts = PullCounts()
    try:
        for file in sorted(result.files, key=lambda f: GP_TYPES.index(f.type)):
            counts.read[file.type] = counts.read.get(file.type, 0) + _store_file(
                state, reader, file.type, file.path, batch_size, should_stop, progress, counts
            )
        with state.unit():
            state.set_watermark(
                GP_ENDPOINT, BULK_WATERMARK, {"since": result.transaction_time.isoformat()}
            )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    for resource_type, read in counts.read.items():
        event("gp.pulled", resource_type=resource_type, count=read, mode="bulk")
    return counts


def _store_file(
    state: StateStore,
    reader: Reader,
    resource_type: str,
    path: Path,
    batch_size: int,
    should_stop: Callable[[], bool],
    progress: Progress | None,
    counts: PullCounts,
) -> int:
    batches = BatchWriter(state, reader, resource_type, batch_size, should_stop, progress)
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
    read = batches.finish()
    counts.quarantined += batches.quarantined
    return read
