"""The public async FHIR R4 client, and a small synchronous wrapper for scripts."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from .auth import Auth, SignedJwtAuth
from .bulk import BulkExport, ExportResult, ProgressCallback
from .capabilities import Capabilities
from .errors import ConflictError, check_base_url
from .resilience import CircuitBreaker, Clock, RateLimiter, RetryPolicy, Sleep
from .search import (
    HistoryEntry,
    IncrementalState,
    IncrementalWindow,
    Params,
    Resource,
    SearchEntry,
    history,
    search_entries,
)
from .transport import FhirResponse, Request, Transport
from .writes import (
    WriteResult,
    as_query,
    bundle_is_idempotent,
    identifier_query,
    if_match,
    make_bundle,
)


def ssl_context(
    ca_bundle: str | Path | None, client_cert: tuple[str, str] | None
) -> ssl.SSLContext:
    """TLS verification on, against the system store or ``ca_bundle``; optional client cert."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    if client_cert:
        context.load_cert_chain(*client_cert)
    return context


class FhirClient:
    """An async FHIR R4 client for one endpoint; use as ``async with FhirClient(url) as fhir:``.

    ``transport`` replaces httpx's network transport (as in httpx); ``sleep``, ``clock`` and
    ``now`` replace time so tests can run retry schedules instantly.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float | httpx.Timeout = 30.0,
        ca_bundle: str | Path | None = None,
        client_cert: tuple[str, str] | None = None,
        verify: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        requests_per_second: float | None = None,
        breaker_threshold: int = 8,
        breaker_cooldown: float = 60.0,
        max_connections: int = 10,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        now: Clock = time.time,
    ) -> None:
        self.base_url = check_base_url(base_url).rstrip("/")
        if isinstance(auth, SignedJwtAuth):  # a copy: the caller's object is never changed
            auth = auth.for_client(self.base_url)
        verify_arg: ssl.SSLContext | bool = ssl_context(ca_bundle, client_cert) if verify else False
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=timeout,
            verify=verify_arg,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"User-Agent": "ltcbridge-fhirclient"},
        )
        self._transport = Transport(
            self._http,
            endpoint=self.base_url,
            auth=auth,
            retry=retry or RetryPolicy(),
            breaker=CircuitBreaker(
                self.base_url, threshold=breaker_threshold, cooldown=breaker_cooldown, clock=clock
            ),
            rate_limiter=(
                RateLimiter(requests_per_second, clock=clock, sleep=sleep)
                if requests_per_second
                else None
            ),
            sleep=sleep,
            clock=clock,
            now=now,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> FhirResponse:
        return await self._transport.send(Request(method, url, **kwargs))

    async def _fetch_page(self, url: str, params: Params) -> dict[str, Any]:
        """Relative URLs resolve against the base URL (httpx's base_url), absolute ones as is."""
        return (await self._send("GET", url, params=params)).body or {}

    # ---- capabilities and reading ----

    async def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement, summarised."""
        return Capabilities.from_statement((await self._send("GET", "metadata")).body or {})

    @property
    def server_date(self) -> datetime | None:
        """The server's clock as its latest answer's ``Date`` header gave it (None before any
        answer, or when it sends none). Use it, not this machine's clock, for a watermark the
        server will compare with its own timestamps."""
        return self._transport.server_date

    async def read(self, resource_type: str, resource_id: str) -> Resource:
        """One resource by id; raises NotFoundError (404, or 410 when deleted)."""
        return (await self._send("GET", f"{resource_type}/{resource_id}")).body

    async def search(
        self, resource_type: str, params: Params = None
    ) -> AsyncGenerator[Resource, None]:
        """Matching resources, page by page (``_include``-d ones are left out: see
        :meth:`search_entries`)."""
        async for entry in search_entries(self._fetch_page, resource_type, params):
            if entry.mode == "match":
                yield entry.resource

    def search_entries(
        self, resource_type: str, params: Params = None
    ) -> AsyncIterator[SearchEntry]:
        """Matches and included resources, each with its search mode."""
        return search_entries(self._fetch_page, resource_type, params)

    def incremental(
        self,
        resource_type: str,
        state: IncrementalState,
        *,
        params: Params = None,
        overlap: timedelta = timedelta(minutes=5),
        count: int = 100,
    ) -> IncrementalWindow:
        """Resources changed since ``state.since``, each version once; advances ``state``."""
        return IncrementalWindow(
            self._fetch_page, resource_type, state, params=params, overlap=overlap, count=count
        )

    def history(
        self, resource_type: str | None = None, *, since: datetime | None = None, count: int = 100
    ) -> AsyncIterator[HistoryEntry]:
        """Every version (deletions included) since a watermark, type- or system-level."""
        return history(self._fetch_page, resource_type, since, count)

    # ---- writing ----

    async def create(
        self, resource: Resource, *, if_none_exist: str | Mapping[str, str] | None = None
    ) -> WriteResult:
        """POST a resource. Retried only when conditional (``if_none_exist``): a plain create is
        not idempotent, so prefer :meth:`create_once` or :meth:`upsert`."""
        headers = {"If-None-Exist": as_query(if_none_exist)} if if_none_exist else {}
        response = await self._send(
            "POST",
            resource["resourceType"],
            json=resource,
            headers=headers,
            idempotent=bool(if_none_exist),
        )
        return _write_result(response)

    async def create_once(self, resource: Resource) -> WriteResult:
        """Conditional create keyed on the resource's business identifier: never a duplicate."""
        return await self.create(resource, if_none_exist=identifier_query(resource))

    async def update(self, resource: Resource, *, version: str | None = None) -> WriteResult:
        """PUT by id. With ``version`` (a versionId or ETag), fails with ConflictError if the
        server's copy changed since; a retry that hits its own earlier success is recognised."""
        url = f"{resource['resourceType']}/{resource['id']}"
        headers = {"If-Match": if_match(version)} if version else {}
        try:
            return _write_result(await self._send("PUT", url, json=resource, headers=headers))
        except ConflictError:
            if version and await self._already_written(resource):
                current = await self._send("GET", url)
                return WriteResult(200, current.body, current.etag, None)
            raise

    async def conditional_update(
        self, resource: Resource, criteria: str | Mapping[str, str]
    ) -> WriteResult:
        """PUT ``Type?criteria``: updates the one match, or creates when there is none."""
        url = f"{resource['resourceType']}?{as_query(criteria)}"
        return _write_result(await self._send("PUT", url, json=resource))

    async def upsert(self, resource: Resource) -> WriteResult:
        """Create or update keyed on the resource's business identifier (conditional update)."""
        return await self.conditional_update(resource, identifier_query(resource))

    async def delete(self, resource_type: str, resource_id: str) -> None:
        await self._send("DELETE", f"{resource_type}/{resource_id}")

    async def transaction(self, entries: Sequence[Mapping[str, Any]]) -> Resource:
        """All-or-nothing bundle; retried only if every entry is idempotent."""
        return await self._post_bundle(make_bundle("transaction", list(entries)))

    async def batch(self, entries: Sequence[Mapping[str, Any]]) -> Resource:
        """Independent entries in one round trip; check each ``entry.response.status``."""
        return await self._post_bundle(make_bundle("batch", list(entries)))

    async def _post_bundle(self, bundle: Resource) -> Resource:
        idempotent = bundle_is_idempotent(bundle)
        response = await self._send("POST", "", json=bundle, idempotent=idempotent)
        return response.body

    async def _already_written(self, resource: Resource) -> bool:
        """Does the server's current copy equal ``resource`` (ignoring meta)?"""
        current = await self.read(resource["resourceType"], resource["id"])
        return _without_meta(current) == _without_meta(resource)

    # ---- bulk ----

    async def bulk_export(
        self,
        out_dir: str | Path,
        *,
        types: Sequence[str] = (),
        since: datetime | None = None,
        type_filters: Sequence[str] = (),
        on_progress: ProgressCallback | None = None,
        poll_seconds: float = 5.0,
    ) -> ExportResult:
        """System-level ``$export`` to NDJSON files in ``out_dir``; cancelled on the server if
        this coroutine is cancelled or fails."""
        export = BulkExport(
            self._transport, self.base_url, Path(out_dir), on_progress, poll_seconds
        )
        return await export.run(types, since, type_filters)


def _write_result(response: FhirResponse) -> WriteResult:
    return WriteResult(
        response.status, response.body, response.etag, response.headers.get("location")
    )


def _without_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


class SyncFhirClient:
    """Blocking wrapper for scripts and notebooks: same arguments as :class:`FhirClient`."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self._client = self._runner.run(_make_client(base_url, kwargs))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    def capabilities(self) -> Capabilities:
        return self._runner.run(self._client.capabilities())

    def read(self, resource_type: str, resource_id: str) -> Resource:
        return self._runner.run(self._client.read(resource_type, resource_id))

    def search(self, resource_type: str, params: Params = None) -> Iterator[Resource]:
        iterator = self._client.search(resource_type, params)
        while True:
            try:
                yield self._runner.run(anext(iterator))
            except StopAsyncIteration:
                return

    def create_once(self, resource: Resource) -> WriteResult:
        return self._runner.run(self._client.create_once(resource))

    def upsert(self, resource: Resource) -> WriteResult:
        return self._runner.run(self._client.upsert(resource))

    def update(self, resource: Resource, *, version: str | None = None) -> WriteResult:
        return self._runner.run(self._client.update(resource, version=version))

    def transaction(self, entries: Sequence[Mapping[str, Any]]) -> Resource:
        return self._runner.run(self._client.transaction(entries))

    def batch(self, entries: Sequence[Mapping[str, Any]]) -> Resource:
        return self._runner.run(self._client.batch(entries))

    def bulk_export(self, out_dir: str | Path, **kwargs: Any) -> ExportResult:
        return self._runner.run(self._client.bulk_export(out_dir, **kwargs))


async def _make_client(base_url: str, kwargs: dict[str, Any]) -> FhirClient:
    """Built inside the runner's loop, so the client's locks belong to that loop."""
    return FhirClient(base_url, **kwargs)
