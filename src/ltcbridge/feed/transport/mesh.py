"""MESH, through NHS England's ``mesh-client``: how NHS organisations send each other files.

Large releases are split into chunks by mesh-client (``max_chunk_size``); the release id travels
as the MESH ``local_id`` and the workflow ID is configurable (agree one with the commissioner).
MESH has no idempotency key, so only failures where the message certainly did not get in are
retried: a refused connection, or the server answering 429/503 before accepting anything. After
an interrupted send, MESH tracking by message id says whether it got in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ltcbridge.extras import HUB, PRACTICE, optional_imports
from ltcbridge.feed.transport.base import (
    DEFAULT_WORKFLOW_ID,
    DeliveryError,
    SealedFile,
    TransientDeliveryError,
)

with optional_imports(PRACTICE, HUB):
    import requests
    from mesh_client import MeshClient, MeshError

BUSY_STATUS = frozenset({429, 503})
ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class MeshSettings:
    """Where and as whom to talk to MESH. The password and shared key come from the environment."""

    url: str
    mailbox: str
    password: str
    shared_key: str
    workflow_id: str = DEFAULT_WORKFLOW_ID
    max_chunk_size: int = 20 * 1024 * 1024
    verify: str | bool | None = None
    cert: tuple[str, str] | None = None

    def client(self) -> MeshClient:
        return MeshClient(
            self.url,
            self.mailbox,
            self.password,
            shared_key=self.shared_key.encode(),
            verify=self.verify,
            cert=self.cert,
            max_chunk_size=self.max_chunk_size,
            max_retries=0,  # ltcbridge retries itself, only where a retry cannot duplicate
            application_name="ltcbridge",
        )


class MeshTransport:
    name = "mesh"

    def __init__(self, settings: MeshSettings, recipient_mailbox: str) -> None:
        self.settings = settings
        self.recipient_mailbox = recipient_mailbox
        self._client = settings.client()

    def deliver(self, release: SealedFile) -> str:
        try:
            return self._client.send_message(
                self.recipient_mailbox,
                release.token.encode("ascii"),
                workflow_id=self.settings.workflow_id,
                local_id=release.release_id,
                filename=release.filename,
                subject=f"ltcbridge release {release.sequence}",
                content_type="application/jose",
            )
        except requests.ConnectionError as exc:
            if _connect_failed(exc):
                raise TransientDeliveryError(
                    f"cannot connect to MESH at {self.settings.url}"
                ) from None
            raise DeliveryError(_interrupted(self.settings.url)) from None
        except requests.HTTPError as exc:
            raise _http_failure(exc.response) from None
        except MeshError as exc:
            raise DeliveryError(f"MESH refused the message: {_mesh_reason(exc)}") from None

    def was_delivered(self, release: SealedFile, message_id: str | None) -> bool:
        if not message_id:
            return False
        status = self.tracking(message_id)
        if not status:
            return False
        return status.get("status_success") is not False

    def acknowledged(self, message_id: str) -> bool | None:
        status = self.tracking(message_id)
        return None if status is None else status.get("status") == ACKNOWLEDGED

    def tracking(self, message_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._client.track_message(message_id))
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            raise _http_failure(exc.response) from None
        except requests.ConnectionError:
            raise TransientDeliveryError(f"cannot connect to MESH at {self.settings.url}") from None

    def close(self) -> None:
        self._client.close()


def _connect_failed(exc: requests.ConnectionError) -> bool:
    """True when the request never left (refused, DNS): then a retry cannot duplicate."""
    text = repr(exc)
    return any(mark in text for mark in ("NewConnectionError", "Connection refused",
                                         "NameResolutionError"))  # fmt: skip


def _interrupted(url: str) -> str:
    return (
        f"the connection to MESH at {url} broke during the send; whether it arrived is unknown. "
        "Run `ltcbridge feed send` again: it checks MESH tracking before sending anything"
    )


def _http_failure(response: requests.Response | None) -> DeliveryError:
    status = None if response is None else response.status_code
    if status in BUSY_STATUS:
        return TransientDeliveryError(f"MESH is busy ({status}); will try again")
    if status in (401, 403):
        return DeliveryError(
            f"MESH refused the mailbox credentials ({status}): check the mailbox id, password "
            "and shared key"
        )
    return DeliveryError(f"MESH answered {status}; the message was not sent")


def _mesh_reason(exc: MeshError) -> str:
    return " ".join(str(arg) for arg in exc.args if isinstance(arg, str)) or repr(exc)
