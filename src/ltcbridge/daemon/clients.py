"""FhirClient instances from endpoint settings (auth classes from ltcbridge.fhirclient)."""

from __future__ import annotations

from typing import Any

from ltcbridge.daemon.config import AuthConfig, EndpointConfig
from ltcbridge.fhirclient import (
    BasicAuth,
    BearerAuth,
    FhirClient,
    NhsSignedJwtAuth,
    RetryPolicy,
    SmartBackendAuth,
)
from ltcbridge.fhirclient.auth import Auth


def make_auth(config: AuthConfig) -> Auth | None:
    """The auth object for one endpoint; secrets are revealed only here, to the auth class."""
    if config.kind == "bearer" and config.token:
        return BearerAuth(config.token.reveal())
    if config.kind == "basic" and config.username and config.password:
        return BasicAuth(config.username, config.password.reveal())
    if config.kind == "smart" and config.private_key and config.client_id and config.kid:
        return SmartBackendAuth(
            client_id=config.client_id,
            private_key=config.private_key.reveal(),
            kid=config.kid,
            alg=config.alg,
            scope=config.scope,
            token_url=config.token_url,
        )
    if config.kind == "nhs-signed-jwt" and config.api_key and config.private_key:
        return NhsSignedJwtAuth(
            api_key=config.api_key.reveal(),
            private_key=config.private_key.reveal(),
            kid=config.kid or "",
            token_url=config.token_url or "",
        )
    return None


def make_client(
    endpoint: EndpointConfig, retry: RetryPolicy | None = None, **kwargs: Any
) -> FhirClient:
    """A client for one endpoint; ``retry`` and ``kwargs`` let tests make failures quick."""
    return FhirClient(
        endpoint.base_url,
        auth=make_auth(endpoint.auth),
        verify=endpoint.verify,
        ca_bundle=endpoint.ca_bundle,
        retry=retry,
        **kwargs,
    )
