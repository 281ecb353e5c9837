"""Load MeasureReport JSON files from a folder straight into the store (no sealing, no MESH).

For analysts who were handed feed files, for tests and for the benchmark. Reports are grouped
into one release per (reporter, period), as a practice would send them. The release id is a hash
of the reports' content, so loading the same folder twice stores nothing new; a changed file for
a month already loaded becomes the next sequence and replaces it in ``latest_figures``.

Each release passes the same checks as a received one (``hub.checks``: month, shape, disclosure
rules, no unmasked count of 1..threshold). A file, report or release that cannot be loaded is
refused with the reason (and recorded among the store's rejections, as ``hub receive`` does); the
rest of the folder is loaded.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import ReportError, malformed_report, report_header
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.hub.checks import LOCAL_AGREEMENT, check_release
from ltcbridge.hub.store import HubStoreDb


class LoadError(LtcbridgeError):
    """A file in the folder is not a MeasureReport (or a Bundle of them)."""


@dataclass(frozen=True)
class Refused:
    """Something in the folder that was not loaded, and why."""

    what: str  # a file, or a release ("Y00011 2026-10")
    reason: str


@dataclass(frozen=True)
class LoadResult:
    stored: list[ReleaseMeta]
    already_stored: int
    files: int
    refused: list[Refused] = field(default_factory=list)


def read_reports(folder: Path | str) -> tuple[list[dict[str, Any]], int]:
    """Every MeasureReport in the folder's ``*.json`` files (Bundles opened), and the file count;
    a LoadError for the first file that holds none."""
    found, files, refused = _read_folder(folder)
    if refused:
        raise LoadError(f"{refused[0].what}: {refused[0].reason}")
    return [report for _, report in found], files


def _read_folder(folder: Path | str) -> tuple[list[tuple[Path, Any]], int, list[Refused]]:
    """(file, report) for every report found, the file count, and the files refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(f"{folder} is not a folder: give the folder that holds the feed's JSON")
    files = sorted(folder.glob("*.json"))
    if not files:
        raise LoadError(f"{folder} holds no .json files: nothing to load")
    found: list[tuple[Path, Any]] = []
    refused: list[Refused] = []
    for file in files:
        try:
            found.extend((file, report) for report in _reports_in(file))
        except LoadError as exc:
            refused.append(Refused(str(file), str(exc)))
    return found, len(files), refused


def _reports_in(file: Path) -> list[Any]:
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"not valid JSON ({exc}); fix or remove it") from None
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            raise LoadError("Bundle.entry is not a list")
        return [entry.get("resource", {}) if isinstance(entry, dict) else entry
                for entry in entries]  # fmt: skip
    if isinstance(data, dict) and data.get("resourceType") == "MeasureReport":
        return [data]
    raise LoadError("neither a MeasureReport nor a Bundle of them")


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
    created = created or _now()
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
    """Store every new release found in the folder; already stored ones are left alone, and what
    cannot be loaded is refused (``LoadResult.refused``, and the store's rejections).
    ``created`` (ISO instant) defaults to now."""
    found, files, refused = _read_folder(folder)
    reports = []
    for file, report in found:
        problem = _header_problem(report)
        if problem is None:
            reports.append(report)
        else:
            refused.append(Refused(str(file), problem))
    releases = releases_from_reports(reports, recipient, store, created)
    stored = []
    for meta, group in releases:
        try:
            check_release(meta, group, store.fallback)  # as ``hub receive`` checks a release
            store.add_release(meta, group)
        except ReportError as exc:
            refused.append(Refused(f"{meta.sender} {meta.period}", str(exc)))
            continue
        stored.append(meta)
    for item in refused:
        store.add_rejection(_now(), None, "load-refused", f"{item.what}: {item.reason}")
    groups = len({report_header(r)[1:] for r in reports})
    return LoadResult(stored, groups - len(releases), files, refused)


def _header_problem(report: Any) -> str | None:
    """Why a report's header (measure, period, reporter) cannot be read, or None."""
    try:
        report_header(report)
    except ReportError as exc:
        return str(exc)
    except MALFORMED as exc:
        return str(malformed_report(report, exc))
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _content_id(reports: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for report in sorted(reports, key=lambda r: orjson.dumps(r, option=orjson.OPT_SORT_KEYS)):
        digest.update(orjson.dumps(report, option=orjson.OPT_SORT_KEYS))
    return f"load-{digest.hexdigest()[:32]}"
