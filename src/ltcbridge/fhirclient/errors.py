"""Exceptions the FHIR client raises, each carrying what a person needs to act on it.

Servers explain failures in an OperationOutcome; we keep its issues (severity, code, diagnostics,
expression) and render them readably in ``str(error)``, so a log line or a CLI message says what
the server objected to rather than just a status code. URLs in messages never carry the query
string: conditional URLs and searches hold business identifiers (an NHS number, for instance).
A server's own text may repeat the query it refused, so NHS numbers are taken out of it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ltcbridge.errors import LtcbridgeError
from ltcbridge.nhs_number import without_nhs_numbers


@dataclass(frozen=True, slots=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue``: what went wrong, how badly, and where."""

    severity: str
    code: str
    diagnostics: str = ""
    expression: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" at {', '.join(self.expression)}" if self.expression else ""
        text = f": {self.diagnostics}" if self.diagnostics else ""
        return f"{self.severity} {self.code}{where}{text}"


def parse_outcome(body: Any) -> tuple[OutcomeIssue, ...]:
    """Issues of an OperationOutcome body; empty for anything else (HTML error pages, etc.)."""
    if not isinstance(body, Mapping) or body.get("resourceType") != "OperationOutcome":
        return ()
    issues = []
    for issue in body.get("issue") or ():
        diagnostics = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        expression = tuple(issue.get("expression") or issue.get("location") or ())
        issues.append(
            OutcomeIssue(
                severity=str(issue.get("severity", "error")),
                code=str(issue.get("code", "unknown")),
                diagnostics=without_nhs_numbers(str(diagnostics)),
                expression=tuple(without_nhs_numbers(str(e)) for e in expression),
            )
        )
    return tuple(issues)


def safe_url(url: httpx.URL | str) -> str:
    """The URL without its query string, safe to show in logs and messages."""
    return str(httpx.URL(str(url)).copy_with(query=None, fragment=None))


class FhirError(LtcbridgeError):
    """Base of every error this client raises (an ``LtcbridgeError``: one root for the library)."""


class InvalidEndpointError(FhirError):
    """The base URL cannot be an endpoint (no http(s) scheme or no host): nothing was sent, and
    sending it again would not help."""


def check_base_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host; else :class:`InvalidEndpointError` at
    once, rather than requests that fail and are retried as if the network were at fault."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidEndpointError(
            f"{url!r} is not an http(s) URL: give it whole, e.g. https://fhir.example.org/R4"
        )
    return url


class FhirTransportError(FhirError):
    """The request did not get an HTTP answer: connection refused or reset, timeout, TLS."""


class UnreachableError(FhirTransportError):
    """The endpoint could not be reached at all (refused, no route, pool exhausted): nothing of
    the request left this machine, so it had no effect anywhere."""


class InvalidResponseError(FhirError):
    """The server answered with a body we cannot parse (truncated or not JSON)."""


class TruncatedFileError(InvalidResponseError):
    """A downloaded file (a Bulk Data NDJSON output) ended before its last line did."""


class FhirHttpError(FhirError):
    """The server answered with an error status; ``issues`` holds its OperationOutcome."""

    def __init__(
        self,
        status: int,
        method: str,
        url: httpx.URL | str,
        issues: tuple[OutcomeIssue, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = safe_url(url)
        self.issues = issues
        self.retry_after = retry_after
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.method} {self.url} -> HTTP {self.status}"
        if not self.issues:
            return head
        return head + "\n" + "\n".join(f"  - {issue}" for issue in self.issues)


class BadRequestError(FhirHttpError):
    """400/422: the server rejected what we sent; retrying the same request cannot help."""


class AuthenticationError(FhirHttpError):
    """401/403: credentials missing, expired or insufficient (after one token refresh)."""


class NotFoundError(FhirHttpError):
    """404/410: no such resource (410: it was deleted)."""


class ConflictError(FhirHttpError):
    """409/412: a version conflict (If-Match did not match) or multiple conditional matches."""


class RetryableHttpError(FhirHttpError):
    """429/502/503/504: the server is busy or a gateway failed; the request may be retried."""


class ServerError(FhirHttpError):
    """Any other 5xx: the server failed in a way that retrying is not known to fix."""


class TokenError(FhirError):
    """The authorization server refused to issue an access token."""


class CircuitOpenError(FhirError):
    """The endpoint failed repeatedly, so the client stopped sending it requests for a while."""


class BulkExportError(FhirError):
    """A Bulk Data export failed on the server side or returned an unusable manifest."""


_STATUS_ERRORS: dict[int, type[FhirHttpError]] = {
    400: BadRequestError,
    422: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    410: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    429: RetryableHttpError,
    502: RetryableHttpError,
    503: RetryableHttpError,
    504: RetryableHttpError,
}


def error_for_status(
    status: int,
    method: str,
    url: httpx.URL | str,
    body: Any,
    retry_after: float | None = None,
) -> FhirHttpError:
    """The most specific exception for an HTTP error status."""
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else FhirHttpError)
    return cls(status, method, url, parse_outcome(body), retry_after)
