"""One HTTP request, done well: auth, rate limit, circuit breaker, retries, JSON parsing.

Everything that talks to the network goes through :meth:`Transport.send`, so retry rules live in
one place. A request is retried only when repeating it cannot duplicate an effect: it is
idempotent (GET, PUT, DELETE, a conditional POST) or it never reached the server (connect
errors) or the server said it did not process it (429).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .auth import Auth
from .errors import (
    FhirError,
    FhirHttpError,
    FhirTransportError,
    InvalidResponseError,
    RetryableHttpError,
    UnreachableError,
    error_for_status,
    safe_url,
)
from .resilience import CircuitBreaker, Clock, RateLimiter, RetryPolicy, Sleep, parse_retry_after

log = logging.getLogger("ltcbridge.fhirclient")

FHIR_JSON = "application/fhir+json"
# Errors raised before the request left this machine: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(slots=True)
class FhirResponse:
    """A parsed answer: status, headers and the JSON body (None when there was none)."""

    status: int
    headers: httpx.Headers
    body: Any

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")


@dataclass(slots=True)
class Request:
    """What to send; ``idempotent`` says whether repeating it is harmless."""

    method: str
    url: str
    params: Any = None
    json: Any = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = True
    authenticated: bool = True


class _NotSentError(UnreachableError):
    """A connection error before any byte was sent."""


class Transport:
    """Sends requests to one endpoint through one pooled httpx client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        endpoint: str,
        auth: Auth | None,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        rate_limiter: RateLimiter | None,
        sleep: Sleep,
        clock: Clock,
        now: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.http = http
        self.endpoint = endpoint
        self.auth = auth
        self.retry = retry
        self.breaker = breaker
        self.rate_limiter = rate_limiter
        self.sleep = sleep
        self.clock = clock
        self.now = now
        self.rng = rng or random.Random()
        self.server_date: datetime | None = None  # the Date header of the latest answer

    # ---- the public entry points ----

    async def send(self, request: Request) -> FhirResponse:
        """Send with retries; raise the most specific :class:`FhirError` on failure."""
        started = self.clock()
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: self._may_retry(exc, request)),
            wait=self._wait,
            stop=lambda state: self._should_stop(state, started),
            sleep=self.sleep,
            before_sleep=lambda state: self._log_retry(state, request),
            reraise=True,
        )
        return await retrying(self._attempt, request)

    @asynccontextmanager
    async def stream(
        self, url: str, *, authenticated: bool = True
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET (for large NDJSON files); the caller retries as a whole if needed."""
        self.breaker.check()
        headers = await self._auth_headers() if authenticated else {}
        async with self.http.stream("GET", url, headers=headers) as response:
            if response.status_code >= 400:
                await response.aread()
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.now())
                raise error_for_status(
                    response.status_code, "GET", url, _parse_or_none(response.content), retry_after
                )
            yield response

    async def post_form(self, url: str, data: Mapping[str, str]) -> dict[str, Any]:
        """For token endpoints: a token request has no side effect worth protecting, so retry."""
        response = await self.send(
            Request("POST", url, data=data, idempotent=True, authenticated=False)
        )
        return response.body or {}

    async def get_json(self, url: str) -> dict[str, Any]:
        response = await self.send(Request("GET", url, authenticated=False))
        return response.body or {}

    # ---- one attempt ----

    async def _attempt(self, request: Request) -> FhirResponse:
        self.breaker.check()
        if self.rate_limiter:
            await self.rate_limiter.acquire()
        try:
            response = await self._exchange(request)
            self._note_date(response)
            if response.status_code == 401 and request.authenticated and self.auth:
                # The token may have expired early or been revoked: refresh once, then give up.
                self.auth.invalidate()
                response = await self._exchange(request)
            result = self._interpret(request, response)
        except FhirError as exc:
            self._record(exc)
            raise
        self.breaker.record_success()
        return result

    async def _exchange(self, request: Request) -> httpx.Response:
        headers = {"Accept": FHIR_JSON, **request.headers}
        if request.authenticated:
            headers.update(await self._auth_headers())
        content = None
        if request.json is not None:
            content = orjson.dumps(request.json)
            headers.setdefault("Content-Type", FHIR_JSON)
        try:
            return await self.http.request(
                request.method,
                request.url,
                params=request.params,
                content=content,
                data=request.data,
                headers=headers,
            )
        except _NOT_SENT as exc:
            raise _NotSentError(f"{request.method} {safe_url(request.url)}: {exc!r}") from exc
        except httpx.TransportError as exc:  # reset, read timeout, incomplete body, TLS
            raise FhirTransportError(f"{request.method} {safe_url(request.url)}: {exc!r}") from exc

    def _note_date(self, response: httpx.Response) -> None:
        """Remember the server's clock (its ``Date`` header): watermarks are taken from the
        server's time, never this machine's, which may be minutes or hours off."""
        with suppress(TypeError, ValueError):
            self.server_date = parsedate_to_datetime(response.headers.get("date", ""))

    async def _auth_headers(self) -> dict[str, str]:
        return await self.auth.headers(self) if self.auth else {}

    def _interpret(self, request: Request, response: httpx.Response) -> FhirResponse:
        body = self._parse_body(request, response)
        if response.status_code >= 400:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.now())
            raise error_for_status(
                response.status_code, request.method, response.url, body, retry_after
            )
        return FhirResponse(response.status_code, response.headers, body)

    @staticmethod
    def _parse_body(request: Request, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            if response.status_code >= 400:
                return None  # an HTML error page from a proxy: the status says enough
            raise InvalidResponseError(
                f"{request.method} {safe_url(response.url)} -> HTTP {response.status_code} "
                f"with an unparsable body ({len(response.content)} bytes): {exc}"
            ) from exc

    # ---- retry decisions ----

    def _record(self, exc: FhirError) -> None:
        """Only failures that say 'the endpoint is unwell' count towards opening the circuit."""
        unwell = isinstance(exc, FhirTransportError | InvalidResponseError) or (
            isinstance(exc, FhirHttpError) and exc.status >= 500
        )
        if unwell:
            self.breaker.record_failure(str(exc).splitlines()[0])

    @staticmethod
    def _may_retry(exc: BaseException, request: Request) -> bool:
        if isinstance(exc, _NotSentError):
            return True
        if isinstance(exc, RetryableHttpError) and exc.status == 429:
            return True  # 429 means "not processed": safe even for a plain POST
        return request.idempotent and is_retryable(exc)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, FhirHttpError) else None
        if retry_after is not None:
            return retry_after
        return self.retry.backoff(state.attempt_number, self.rng)

    def _should_stop(self, state: RetryCallState, started: float) -> bool:
        if state.attempt_number >= self.retry.max_attempts:
            return True
        return self.clock() - started + state.upcoming_sleep > self.retry.budget

    @staticmethod
    def _log_retry(state: RetryCallState, request: Request) -> None:
        exc = state.outcome.exception() if state.outcome else None
        first_line = str(exc).splitlines()[0] if exc else ""
        log.warning(
            "retrying %s %s in %.2fs (attempt %d): %s",
            request.method,
            safe_url(request.url),
            state.upcoming_sleep,
            state.attempt_number,
            first_line,
        )


def is_retryable(exc: BaseException) -> bool:
    """Would an idempotent request that failed so be worth sending again? Connection trouble,
    a truncated or unparsable answer, 429/502/503/504."""
    return isinstance(exc, FhirTransportError | InvalidResponseError | RetryableHttpError)


def _parse_or_none(content: bytes) -> Any:
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None
