"""Async FHIR R4 client: authenticated, incremental, resumable and idempotent.

See docs/fhir-client.md for how to connect with each authentication mode.
"""

from .auth import BasicAuth, BearerAuth, NhsSignedJwtAuth, SmartBackendAuth
from .bulk import ExportedFile, ExportResult
from .capabilities import Capabilities, ResourceSupport
from .client import FhirClient, SyncFhirClient
from .errors import (
    AuthenticationError,
    BadRequestError,
    BulkExportError,
    CircuitOpenError,
    ConflictError,
    FhirError,
    FhirHttpError,
    FhirTransportError,
    InvalidEndpointError,
    InvalidResponseError,
    NotFoundError,
    OutcomeIssue,
    RetryableHttpError,
    ServerError,
    TokenError,
    TruncatedFileError,
    UnreachableError,
)
from .resilience import RetryPolicy
from .search import HistoryEntry, IncrementalState, SearchEntry
from .writes import WriteResult, make_bundle, upsert_entry

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BasicAuth",
    "BearerAuth",
    "BulkExportError",
    "Capabilities",
    "CircuitOpenError",
    "ConflictError",
    "ExportResult",
    "ExportedFile",
    "FhirClient",
    "FhirError",
    "FhirHttpError",
    "FhirTransportError",
    "HistoryEntry",
    "IncrementalState",
    "InvalidEndpointError",
    "InvalidResponseError",
    "NhsSignedJwtAuth",
    "NotFoundError",
    "OutcomeIssue",
    "ResourceSupport",
    "RetryPolicy",
    "RetryableHttpError",
    "SearchEntry",
    "ServerError",
    "SmartBackendAuth",
    "SyncFhirClient",
    "TokenError",
    "TruncatedFileError",
    "UnreachableError",
    "WriteResult",
    "make_bundle",
    "upsert_entry",
]
