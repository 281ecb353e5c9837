"""ltcbridge: unmet need from GP care planning, to providers and commissioners, over FHIR R4.

The public API, re-exported here so that a provider developer needs one import::

    import ltcbridge

    mappings = ltcbridge.load_mappings(["my-practice-mappings/"])
    record = ltcbridge.Reader(mappings).read(resource_dict)

    async with ltcbridge.FhirClient("https://gp.example/fhir", auth=...) as client:
        async for resource in client.search("Observation", {"_count": "100"}):
            ...

Names are loaded on first use, so ``ltcbridge`` stays quick to import for the command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # mappings and reading
    "Mappings": "ltcbridge.mapping",
    "StarDefinition": "ltcbridge.mapping",
    "load_mappings": "ltcbridge.mapping",
    "Reader": "ltcbridge.identifiable.read",
    "EntryRecord": "ltcbridge.identifiable.model",
    "PatientRecord": "ltcbridge.identifiable.model",
    "OrganizationRecord": "ltcbridge.identifiable.model",
    "StarReading": "ltcbridge.identifiable.model",
    "Version": "ltcbridge.identifiable.model",
    "QuarantineItem": "ltcbridge.identifiable.model",
    "is_valid_nhs_number": "ltcbridge.nhs_number",
    # agreements and the feed
    "Agreement": "ltcbridge.agreement",
    "load_agreement": "ltcbridge.agreement",
    "FeedBuild": "ltcbridge.pipeline",
    "build_feed": "ltcbridge.pipeline",
    "write_feed": "ltcbridge.feed.files",
    "ProtectedRelease": "ltcbridge.disclosure.protected",
    "scan_source": "ltcbridge.identifiable.scan",
    # errors
    "LtcbridgeError": "ltcbridge.errors",
    "MappingError": "ltcbridge.errors",
    "AgreementError": "ltcbridge.errors",
    "SourceError": "ltcbridge.errors",
    "BadResource": "ltcbridge.errors",
    # the FHIR client
    "FhirClient": "ltcbridge.fhirclient",
    "SyncFhirClient": "ltcbridge.fhirclient",
    "SmartBackendAuth": "ltcbridge.fhirclient",
    "NhsSignedJwtAuth": "ltcbridge.fhirclient",
    "BearerAuth": "ltcbridge.fhirclient",
    "BasicAuth": "ltcbridge.fhirclient",
    "RetryPolicy": "ltcbridge.fhirclient",
    "FhirError": "ltcbridge.fhirclient",
    # the provider side
    "ProviderClient": "ltcbridge.provider",
    "SyncProviderClient": "ltcbridge.provider",
    "Referral": "ltcbridge.provider",
    "Reading": "ltcbridge.provider",
    "OutcomeReport": "ltcbridge.provider",
    "DistanceTravelled": "ltcbridge.provider",
    "distance_travelled": "ltcbridge.provider",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ltcbridge' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # what type checkers and editors see: the same names, eagerly
    from ltcbridge.agreement import Agreement, load_agreement
    from ltcbridge.disclosure.protected import ProtectedRelease
    from ltcbridge.errors import (
        AgreementError,
        BadResource,
        LtcbridgeError,
        MappingError,
        SourceError,
    )
    from ltcbridge.feed.files import write_feed
    from ltcbridge.fhirclient import (
        BasicAuth,
        BearerAuth,
        FhirClient,
        FhirError,
        NhsSignedJwtAuth,
        RetryPolicy,
        SmartBackendAuth,
        SyncFhirClient,
    )
    from ltcbridge.identifiable.model import (
        EntryRecord,
        OrganizationRecord,
        PatientRecord,
        QuarantineItem,
        StarReading,
        Version,
    )
    from ltcbridge.identifiable.read import Reader
    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.mapping import Mappings, StarDefinition, load_mappings
    from ltcbridge.nhs_number import is_valid_nhs_number
    from ltcbridge.pipeline import FeedBuild, build_feed
    from ltcbridge.provider import (
        DistanceTravelled,
        OutcomeReport,
        ProviderClient,
        Reading,
        Referral,
        SyncProviderClient,
        distance_travelled,
    )
