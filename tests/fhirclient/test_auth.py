"""Auth against a local token endpoint that verifies the client assertion like a real one."""

from __future__ import annotations

import time
import urllib.parse

import httpx
import pytest
import respx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from ltcbridge.fhirclient import (
    BasicAuth,
    FhirClient,
    NhsSignedJwtAuth,
    SmartBackendAuth,
)

pytestmark = pytest.mark.anyio
BASE = "https://gp.example.test/fhir"
TOKEN_URL = "https://auth.example.test/oauth2/token"
RSA_KEY = RSAKey.generate_key(2048)
EC_KEY = ECKey.generate_key("P-384")


class TokenEndpoint:
    """Checks signature (public key only), alg, kid and claims; issues short-lived tokens."""

    def __init__(
        self, public_key, alg: str, issuer: str, now=time.time, audience: str = TOKEN_URL
    ) -> None:
        self.audience = audience
        self.public_key, self.alg, self.issuer, self.kid, self.now = (
            public_key,
            alg,
            issuer,
            "key-1",
            now,
        )
        self.jtis: set[str] = set()
        self.issued: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        assert form["grant_type"] == "client_credentials"
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        token = jwt.decode(form["client_assertion"], self.public_key, algorithms=[self.alg])
        claims, header = token.claims, token.header
        assert header["alg"] == self.alg and header["kid"] == self.kid
        assert claims["iss"] == claims["sub"] == self.issuer
        assert claims["aud"] == self.audience  # exact, not a prefix
        assert claims["jti"] not in self.jtis, "jti reused"
        self.jtis.add(claims["jti"])
        assert self.now() < claims["exp"] <= self.now() + 300
        self.issued.append(f"token-{len(self.issued)}")
        return httpx.Response(
            200, json={"access_token": self.issued[-1], "expires_in": "599", "token_type": "bearer"}
        )


def public(key):
    return key.__class__.import_key(key.as_dict(private=False))


@pytest.mark.parametrize(("alg", "key"), [("RS384", RSA_KEY), ("ES384", EC_KEY)])
@respx.mock
async def test_smart_backend_services_discovers_endpoint_and_caches_token(alg, key) -> None:
    endpoint = TokenEndpoint(public(key), alg, issuer="ltcbridge-client")
    discovery = respx.get(f"{BASE}/.well-known/smart-configuration").mock(
        return_value=httpx.Response(200, json={"token_endpoint": TOKEN_URL})
    )
    token_route = respx.post(TOKEN_URL).mock(side_effect=endpoint)
    api = respx.get(f"{BASE}/Patient/x").mock(
        return_value=httpx.Response(200, json={"resourceType": "Patient", "id": "x"})
    )
    pem = key.as_pem(private=True)
    auth = SmartBackendAuth("ltcbridge-client", pem, "key-1", alg=alg)
    async with FhirClient(BASE, auth=auth) as fhir:
        for _ in range(3):
            await fhir.read("Patient", "x")
    assert discovery.call_count == 1 and token_route.call_count == 1
    assert api.calls[-1].request.headers["Authorization"] == "Bearer token-0"
    assert "scope=system" in token_route.calls[0].request.content.decode()


@respx.mock
async def test_nhs_signed_jwt_rs512_and_refresh_on_expiry_and_401() -> None:
    now = [time.time()]
    endpoint = TokenEndpoint(public(RSA_KEY), "RS512", issuer="api-key-123", now=lambda: now[0])
    respx.post(TOKEN_URL).mock(side_effect=endpoint)
    auth = NhsSignedJwtAuth(
        "api-key-123", RSA_KEY.as_pem(private=True), "key-1", TOKEN_URL, now=lambda: now[0]
    )

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer token-1":  # the server revoked token-1
            return httpx.Response(401)
        return httpx.Response(200, json={"resourceType": "Patient", "id": "x"})

    route = respx.get(f"{BASE}/Patient/x").mock(side_effect=api)
    async with FhirClient(BASE, auth=auth) as fhir:
        await fhir.read("Patient", "x")
        now[0] += 600  # past expires_in: fetched again before the request
        await fhir.read("Patient", "x")
    assert endpoint.issued == ["token-0", "token-1", "token-2"]
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        "Bearer token-0",
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_wrong_key_type_is_refused() -> None:
    with pytest.raises(ValueError, match="ES384 needs an EC"):
        SmartBackendAuth("c", RSA_KEY.as_pem(private=True), "k", alg="ES384")
    with pytest.raises(ValueError, match="RS384 or ES384"):
        SmartBackendAuth("c", RSA_KEY.as_pem(private=True), "k", alg="RS256")


@respx.mock
async def test_basic_auth_header() -> None:
    route = respx.get(f"{BASE}/metadata").mock(
        return_value=httpx.Response(200, json={"resourceType": "CapabilityStatement"})
    )
    async with FhirClient(BASE, auth=BasicAuth("dev", "secret")) as fhir:
        caps = await fhir.capabilities()
    assert route.calls[0].request.headers["Authorization"] == "Basic ZGV2OnNlY3JldA=="
    assert caps.resources == {}


@respx.mock
async def test_clients_never_change_the_auth_they_are_given() -> None:
    """One SMART auth object configures clients of two servers: each discovers its own token
    endpoint and keeps its own token, and the caller's object is left as it was made."""
    other_base, other_token_url = "https://other.example/fhir", "https://other.example/token"
    endpoints = {}
    for base, token_url in ((BASE, TOKEN_URL), (other_base, other_token_url)):
        endpoints[base] = TokenEndpoint(
            public(RSA_KEY), "RS384", issuer="ltcbridge-client", audience=token_url
        )
        respx.get(f"{base}/.well-known/smart-configuration").mock(
            return_value=httpx.Response(200, json={"token_endpoint": token_url})
        )
        respx.post(token_url).mock(side_effect=endpoints[base])
        respx.get(f"{base}/Patient/x").mock(
            return_value=httpx.Response(200, json={"resourceType": "Patient", "id": "x"})
        )
    auth = SmartBackendAuth("ltcbridge-client", RSA_KEY.as_pem(private=True), "key-1")
    before = dict(vars(auth))
    async with FhirClient(BASE, auth=auth) as first, FhirClient(other_base, auth=auth) as second:
        await first.read("Patient", "x")
        await second.read("Patient", "x")
        await first.read("Patient", "x")
    assert vars(auth) == before
    assert auth.fhir_base_url is None and auth.token_url is None
    assert [len(e.issued) for e in endpoints.values()] == [1, 1]
