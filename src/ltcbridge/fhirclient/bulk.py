"""Bulk Data ``$export``: kick-off, polling, streaming NDJSON to disk, and clean cancellation.

The manifest's ``transactionTime`` is the server's promise that everything changed before it is
in this export, so it (not this machine's clock) is the next export's ``_since``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from .errors import (
    BulkExportError,
    FhirError,
    FhirHttpError,
    FhirTransportError,
    OutcomeIssue,
    TruncatedFileError,
    parse_outcome,
    safe_url,
)
from .search import format_instant, parse_instant
from .transport import Request, Transport, is_retryable

log = logging.getLogger("ltcbridge.fhirclient")

ProgressCallback = Callable[[str], None]
DEFAULT_POLL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """One NDJSON file written to disk."""

    type: str
    path: Path
    count: int


@dataclass(slots=True)
class ExportResult:
    """What an export produced. Pass ``transaction_time`` as the next export's ``since``."""

    transaction_time: datetime
    files: list[ExportedFile] = field(default_factory=list)
    error_files: list[ExportedFile] = field(default_factory=list)
    errors: list[OutcomeIssue] = field(default_factory=list)


@dataclass(slots=True)
class BulkExport:
    """Runs one export against ``transport``; ``base_url`` is the FHIR base."""

    transport: Transport
    base_url: str
    out_dir: Path
    on_progress: ProgressCallback | None = None
    poll_seconds: float = DEFAULT_POLL_SECONDS

    async def run(
        self,
        types: Sequence[str] = (),
        since: datetime | None = None,
        type_filters: Sequence[str] = (),
    ) -> ExportResult:
        status_url = await self._kick_off(types, since, type_filters)
        try:
            manifest = await self._wait_for_manifest(status_url)
            return await self._download(manifest)
        except BaseException:
            # Cancelled (shutdown, Ctrl-C) or failed: tell the server to stop and free the files.
            await asyncio.shield(self._cancel(status_url))
            raise

    async def _kick_off(
        self, types: Sequence[str], since: datetime | None, type_filters: Sequence[str]
    ) -> str:
        params: list[tuple[str, str]] = []
        if types:
            params.append(("_type", ",".join(types)))
        if since is not None:
            params.append(("_since", format_instant(since)))
        params += [("_typeFilter", f) for f in type_filters]
        response = await self.transport.send(
            Request(
                "GET",
                f"{self.base_url}/$export",
                params=params,
                headers={"Prefer": "respond-async"},
            )
        )
        location = response.headers.get("content-location")
        if response.status != 202 or not location:
            raise BulkExportError(
                f"$export kick-off answered HTTP {response.status} without a Content-Location"
            )
        return location

    async def _wait_for_manifest(self, status_url: str) -> dict[str, Any]:
        while True:
            response = await self.transport.send(Request("GET", status_url))
            if response.status == 200:
                return response.body or {}
            progress = response.headers.get("x-progress", "in progress")
            if self.on_progress:
                self.on_progress(progress)
            retry_after = response.headers.get("retry-after")
            delay = float(retry_after) if retry_after and retry_after.isdigit() else None
            await self.transport.sleep(self.poll_seconds if delay is None else delay)

    async def _download(self, manifest: dict[str, Any]) -> ExportResult:
        if "transactionTime" not in manifest:
            raise BulkExportError("The export manifest has no transactionTime")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        authenticated = bool(manifest.get("requiresAccessToken"))
        result = ExportResult(parse_instant(manifest["transactionTime"]))
        for index, output in enumerate(manifest.get("output") or ()):
            path = self.out_dir / f"{index:03d}-{output['type']}.ndjson"
            count = await self._fetch_file(output["url"], path, authenticated, output.get("count"))
            result.files.append(ExportedFile(output["type"], path, count))
        for index, output in enumerate(manifest.get("error") or ()):
            path = self.out_dir / f"error-{index:03d}.ndjson"
            count = await self._fetch_file(output["url"], path, authenticated)
            result.error_files.append(
                ExportedFile(output.get("type", "OperationOutcome"), path, count)
            )
            result.errors += _issues_in(path)
        for issue in result.errors:
            log.warning("bulk export reported: %s", issue)
        return result

    async def _fetch_file(
        self, url: str, path: Path, authenticated: bool, expected: int | None = None
    ) -> int:
        """Download one file, fetched again whole after a transient failure (429/5xx, a dropped
        connection, a truncated file) as the client's RetryPolicy allows, honouring
        Retry-After. One busy answer must not abandon an export that took the server hours."""
        retry, attempt = self.transport.retry, 1
        while True:
            try:
                return await self._fetch_once(url, path, authenticated, expected)
            except FhirError as exc:
                if attempt >= retry.max_attempts or not is_retryable(exc):
                    raise
                wait = exc.retry_after if isinstance(exc, FhirHttpError) else None
                delay = wait if wait is not None else retry.backoff(attempt, self.transport.rng)
                log.warning(
                    "fetching export file %s again in %.2fs (attempt %d): %s",
                    safe_url(url), delay, attempt, str(exc).splitlines()[0],
                )  # fmt: skip
                await self.transport.sleep(delay)
                attempt += 1

    async def _fetch_once(
        self, url: str, path: Path, authenticated: bool, expected: int | None
    ) -> int:
        """Stream one file to ``path`` (via a temporary name, so a partial file is never left);
        a file cut short (its last line not JSON, or fewer lines than the manifest's ``count``)
        raises :class:`TruncatedFileError`."""
        partial = path.with_suffix(".partial")
        lines, tail = 0, b""
        try:
            async with self.transport.stream(url, authenticated=authenticated) as response:
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        newlines = chunk.count(b"\n")
                        lines += newlines
                        tail = chunk.rsplit(b"\n", 1)[-1] if newlines else tail + chunk
        except httpx.TransportError as exc:  # reset or cut off while streaming
            partial.unlink(missing_ok=True)
            raise FhirTransportError(f"GET {safe_url(url)}: {exc!r}") from exc
        last_line = tail  # what follows the last newline
        count = lines + bool(last_line.strip())  # a last line without its newline still counts
        problem = _truncation(last_line, count, expected)
        if problem:
            partial.unlink(missing_ok=True)
            raise TruncatedFileError(f"export file {safe_url(url)} is cut short: {problem}")
        os.replace(partial, path)
        return count

    async def _cancel(self, status_url: str) -> None:
        try:
            await self.transport.send(Request("DELETE", status_url))
        except Exception as exc:  # best effort: the original error matters more
            log.warning("could not cancel the bulk export: %s", str(exc).splitlines()[0])


def _truncation(last_line: bytes, count: int, expected: int | None) -> str | None:
    """Why a downloaded NDJSON file looks cut short, or None. A last line without its newline
    is accepted only when it is whole JSON (some servers omit the final newline)."""
    if last_line.strip():
        try:
            orjson.loads(last_line)
        except orjson.JSONDecodeError:
            return "its last line is not whole JSON"
    if isinstance(expected, int) and count < expected:
        return f"{count} lines where the manifest announced {expected}"
    return None


def _issues_in(path: Path) -> list[OutcomeIssue]:
    issues: list[OutcomeIssue] = []
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                issues += parse_outcome(orjson.loads(line))
    return issues
