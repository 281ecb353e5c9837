"""Load MeasureReport JSON files from a folder straight into the store (no sealing, no MESH).

For analysts who were handed feed files, for tests and for the benchmark. Reports are grouped
into one release per (reporter, period), as a practice would send them. The release id is a hash
of the reports' content, so loading the same folder twice stores nothing new; a changed file for
a month already loaded becomes the next sequence and replaces it in ``latest_figures``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.figures import report_header
from ltcbridge.hub.store import HubStoreDb

LOCAL_AGREEMENT = "local-load"


class LoadError(LtcbridgeError):
    """A file in the folder is not a MeasureReport (or a Bundle of them)."""


@dataclass(frozen=True)
class LoadResult:
    stored: list[ReleaseMeta]
    already_stored: int
    files: int


def read_reports(folder: Path | str) -> tuple[list[dict[str, Any]], int]:
    """Every MeasureReport in the folder's ``*.json`` files (Bundles opened), and the file count."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(f"{folder} is not a folder: give the folder that holds the feed's JSON")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LoadError(f"{folder} holds no .json files: nothing to load")
    reports: list[dict[str, Any]] = []
    for file in files:
        reports.extend(_reports_in(file))
    return reports, len(files)


def _reports_in(file: Path) -> list[dict[str, Any]]:
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"{file} is not valid JSON ({exc}); fix or remove it") from None
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return [entry.get("resource", {}) for entry in data.get("entry") or []]
    if isinstance(data, dict) and data.get("resourceType") == "MeasureReport":
        return [data]
    raise LoadError(f"{file} is neither a MeasureReport nor a Bundle of them")


def releases_from_reports(
    reports: list[dict[str, Any]], recipient: str, store: HubStoreDb, created: str | None = None
) -> list[tuple[ReleaseMeta, list[dict[str, Any]]]]:
    """One new release per (reporter, period), numbered after what the store already has;
    groups whose content is already stored are left out."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        _measure, period, org = report_header(report)
        grouped[(org, period)].append(report)
    releases = []
    created = created or datetime.now(UTC).isoformat(timespec="seconds")
    next_sequence: dict[str, int] = {}
    for (org, period), group in sorted(grouped.items()):
        release_id = _content_id(group)
        if store.has_release(release_id):
            continue
        if org not in next_sequence:
            next_sequence[org] = (store.last_sequence(org, LOCAL_AGREEMENT) or 0) + 1
        meta = ReleaseMeta(
            release_id=release_id,
            agreement_id=LOCAL_AGREEMENT,
            sender=org,
            recipient=recipient,
            period=period,
            sequence=next_sequence[org],
            created=created,
            measures=tuple(sorted({str(r["measure"]) for r in group})),
        )
        releases.append((meta, group))
        next_sequence[org] += 1
    return releases


def load_folder(
    folder: Path | str, store: HubStoreDb, recipient: str, created: str | None = None
) -> LoadResult:
    """Store every new release found in the folder; already stored ones are left alone.
    ``created`` (ISO instant) defaults to now."""
    reports, files = read_reports(folder)
    releases = releases_from_reports(reports, recipient, store, created)
    for meta, group in releases:
        store.add_release(meta, group)
    groups = len({report_header(r)[1:] for r in reports})
    return LoadResult([meta for meta, _ in releases], groups - len(releases), files)


def _content_id(reports: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for report in sorted(reports, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS)):
        digest.update(orjson.dumps(report, option=orjson.OPT_SORT_KEYS))
    return f"load-{digest.hexdigest()[:32]}"
