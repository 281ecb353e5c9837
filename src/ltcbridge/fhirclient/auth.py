"""Authentication modes: SMART Backend Services, NHS England signed JWT, bearer and basic.

Both signed-JWT flows are OAuth 2.0 client credentials with a private-key JWT client assertion
(RFC 7523); they differ in algorithm, in who the issuer is and in how the token endpoint is found.
JWS signing is done by joserfc; nothing here builds a signature by hand.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, get_args

from joserfc import jwt
from joserfc.errors import InvalidKeyTypeError
from joserfc.jwk import ECKey, RSAKey

from .errors import TokenError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds; SMART and NHS England both cap exp at now + 5 minutes
# The algorithms SMART Backend Services requires servers to support, and all it signs with here
# (NHS England's signed JWT is always RS512).
SmartAlg = Literal["RS384", "ES384"]
SMART_ALGS: tuple[str, ...] = get_args(SmartAlg)


class TokenHttp(Protocol):
    """What an auth mode needs from the transport: form POSTs and JSON GETs, with retries."""

    async def post_form(self, url: str, data: Mapping[str, str]) -> dict[str, Any]: ...

    async def get_json(self, url: str) -> dict[str, Any]: ...


class Auth(Protocol):
    """Supplies the Authorization header; ``invalidate`` drops a token the server rejected."""

    async def headers(self, http: TokenHttp) -> dict[str, str]: ...

    def invalidate(self) -> None: ...


@dataclass(slots=True)
class BearerAuth:
    """A fixed bearer token: for development servers and tokens obtained elsewhere."""

    token: str

    async def headers(self, http: TokenHttp) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> None:
        """A fixed token cannot be refreshed; the next 401 is reported as it is."""


@dataclass(slots=True)
class BasicAuth:
    """HTTP basic authentication: for development servers only."""

    username: str
    password: str

    async def headers(self, http: TokenHttp) -> dict[str, str]:
        pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}

    def invalidate(self) -> None:
        """Basic credentials are not refreshable."""


def load_private_key(key: str | bytes | RSAKey | ECKey, alg: str) -> RSAKey | ECKey:
    """A joserfc key from PEM text, checked against the algorithm (RSA; EC P-384 for ES384)."""
    key_class = ECKey if alg.startswith("ES") else RSAKey
    try:
        loaded = key if isinstance(key, RSAKey | ECKey) else key_class.import_key(key)
    except InvalidKeyTypeError as exc:
        raise ValueError(f"{alg} needs an {key_class.key_type} private key ({exc})") from exc
    if alg.startswith("RS") and not isinstance(loaded, RSAKey):
        raise ValueError(f"{alg} needs an RSA private key")
    if alg == "ES384" and (not isinstance(loaded, ECKey) or loaded.curve_name != "P-384"):
        raise ValueError("ES384 needs an EC private key on curve P-384")
    return loaded


class SignedJwtAuth:
    """Client credentials with a signed JWT assertion; caches the token until shortly before expiry.

    The cache matters: token endpoints rate-limit harder than FHIR endpoints, and a fresh token per
    request would double the request count.
    """

    #: Refresh this many seconds before the token's stated expiry, so a request never races it.
    refresh_margin = 30.0

    def __init__(
        self,
        *,
        issuer: str,
        private_key: str | bytes | RSAKey | ECKey,
        kid: str,
        alg: str,
        token_url: str | None,
        scope: str | None = None,
        now: Any = time.time,
    ) -> None:
        self.issuer = issuer
        self.kid = kid
        self.alg = alg
        self.token_url = token_url
        self.scope = scope
        self._key = load_private_key(private_key, alg)
        self._now = now
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def for_client(self, fhir_base_url: str) -> Self:
        """The copy one FhirClient uses: its own token cache and lock. The caller's object is
        never changed, so one can configure clients of several servers without a token (or a
        discovered endpoint) of one leaking to another."""
        own = copy.copy(self)
        own._token, own._expires_at, own._lock = None, 0.0, asyncio.Lock()
        return own

    def assertion(self, audience: str) -> str:
        """A fresh signed client assertion: unique ``jti``, ``exp`` five minutes ahead at most."""
        now = int(self._now())
        claims = {
            "iss": self.issuer,
            "sub": self.issuer,
            "aud": audience,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + MAX_ASSERTION_LIFETIME,
        }
        header = {"alg": self.alg, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    async def token_endpoint(self, http: TokenHttp) -> str:
        """The token URL: configured, or discovered by subclasses."""
        if not self.token_url:
            raise TokenError("No token endpoint configured")
        return self.token_url

    async def headers(self, http: TokenHttp) -> dict[str, str]:
        async with self._lock:
            if self._token is None or self._now() >= self._expires_at:
                await self._fetch_token(http)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        self._token = None

    async def _fetch_token(self, http: TokenHttp) -> None:
        url = await self.token_endpoint(http)
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(url),
        }
        if self.scope:
            form["scope"] = self.scope
        body = await http.post_form(url, form)
        token = body.get("access_token")
        if not token:
            raise TokenError(f"Token endpoint {url} answered without an access_token")
        # NHS England sends expires_in as a string ("599"); SMART servers send a number.
        lifetime = float(body.get("expires_in") or 300)
        self._token = str(token)
        self._expires_at = self._now() + max(0.0, lifetime - self.refresh_margin)


class SmartBackendAuth(SignedJwtAuth):
    """SMART Backend Services (RS384 or ES384); the token endpoint comes from the server's
    ``.well-known/smart-configuration`` unless given."""

    def __init__(
        self,
        client_id: str,
        private_key: str | bytes | RSAKey | ECKey,
        kid: str,
        *,
        alg: str = "RS384",
        scope: str = "system/*.read",
        token_url: str | None = None,
        now: Any = time.time,
    ) -> None:
        if alg not in SMART_ALGS:
            raise ValueError(f"SMART Backend Services signs with {' or '.join(SMART_ALGS)}")
        super().__init__(
            issuer=client_id,
            private_key=private_key,
            kid=kid,
            alg=alg,
            token_url=token_url,
            scope=scope,
            now=now,
        )
        self.fhir_base_url: str | None = None  # set on FhirClient's copy, for discovery

    def for_client(self, fhir_base_url: str) -> Self:
        """As for every signed JWT, and the copy discovers its token endpoint at this client's
        base URL."""
        own = super().for_client(fhir_base_url)
        own.fhir_base_url = fhir_base_url
        return own

    async def token_endpoint(self, http: TokenHttp) -> str:
        if self.token_url:
            return self.token_url
        if not self.fhir_base_url:
            raise TokenError("SMART discovery needs the FHIR base URL")
        config = await http.get_json(f"{self.fhir_base_url}/.well-known/smart-configuration")
        endpoint = config.get("token_endpoint")
        if not endpoint:
            raise TokenError("smart-configuration has no token_endpoint")
        self.token_url = str(endpoint)
        return self.token_url


class NhsSignedJwtAuth(SignedJwtAuth):
    """NHS England's signed-JWT application-restricted flow (RS512, API key as ``iss``/``sub``).

    ``token_url`` is also the exact ``aud``, e.g.
    ``https://int.api.service.nhs.uk/oauth2/token`` for the integration environment.
    """

    def __init__(
        self,
        api_key: str,
        private_key: str | bytes | RSAKey,
        kid: str,
        token_url: str,
        *,
        now: Any = time.time,
    ) -> None:
        super().__init__(
            issuer=api_key,
            private_key=private_key,
            kid=kid,
            alg="RS512",
            token_url=token_url,
            now=now,
        )
