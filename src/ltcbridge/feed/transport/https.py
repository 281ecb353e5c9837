"""HTTPS POST of a sealed release to the commissioner's receiving endpoint.

The endpoint must be idempotent on the release id (sent as ``Idempotency-Key`` and
``X-Ltcbridge-Release``): it stores a release once and answers 2xx (or 409) to a repeat. That is
what makes every transport error safe to retry here, even one where the request may have arrived.
"""

from __future__ import annotations

import httpx

from ltcbridge.feed.transport.base import DeliveryError, SealedFile, TransientDeliveryError

CONTENT_TYPE = "application/jose"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpsTransport:
    name = "https"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        client: httpx.Client | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.url = url
        self.headers = headers or {}
        self._client = client or httpx.Client(timeout=timeout)

    def deliver(self, release: SealedFile) -> str:
        try:
            response = self._client.post(
                self.url,
                content=release.token.encode("ascii"),
                headers={
                    **self.headers,
                    "Content-Type": CONTENT_TYPE,
                    "Idempotency-Key": release.release_id,
                    "X-Ltcbridge-Release": release.release_id,
                    "X-Ltcbridge-Sequence": str(release.sequence),
                },
            )
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        return self._message_id(response, release)

    def _message_id(self, response: httpx.Response, release: SealedFile) -> str:
        status = response.status_code
        if status in RETRYABLE_STATUS:
            raise TransientDeliveryError(f"{self.url} answered {status}; will try again")
        if status == 409 or response.is_success:
            return response.headers.get("Location") or release.release_id
        raise DeliveryError(
            f"{self.url} refused the release with {status} {response.reason_phrase}: check the "
            "URL and the credentials with the commissioner; it will not be retried"
        )

    def was_delivered(self, release: SealedFile, message_id: str | None) -> bool:
        """Unknown, and need not be known: the endpoint is idempotent, so a resend is safe."""
        return False

    def acknowledged(self, message_id: str) -> bool | None:
        return None

    def close(self) -> None:
        self._client.close()
