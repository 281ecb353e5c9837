"""Sealing a release: signed by the practice (JWS), then encrypted to the recipient (JWE).

Sign-then-encrypt means only the recipient can read the figures, and the recipient can prove who
sent them and that nothing was changed on the way. Both layers are compact JOSE (joserfc, never
hand-rolled). The key id (``kid``) of every key is its RFC 7638 thumbprint, computed from the key
itself, so nobody has to configure or can mistype one; the hub's key registry maps thumbprints to
the ODS code that owns each key.

The agreement id, period, sequence, release id and sender are also written in both layers'
protected headers: the hub can route and reject on them before decrypting, and ``open_release``
checks they match the signed metadata, so changing them in transit is caught.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import orjson
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.registry import HeaderParameter

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import ReleaseMeta

Key: TypeAlias = RSAKey | ECKey

SIGNING_ALGORITHMS = {"RSA": "PS256", "EC": "ES384"}
KEY_WRAPPING = {"RSA": "RSA-OAEP-256", "EC": "ECDH-ES+A256KW"}
CONTENT_ENCRYPTION = "A256GCM"
PAYLOAD_TYPE = "application/ltcbridge-release+json"

# meta field -> protected header name, in both layers
HEADER_FIELDS = {
    "release_id": "ltc_release",
    "agreement_id": "ltc_agreement",
    "period": "ltc_period",
    "sequence": "ltc_sequence",
    "sender": "ltc_sender",
    "recipient": "ltc_recipient",
}
_HEADERS = {
    name: HeaderParameter(f"ltcbridge {field}", "int" if field == "sequence" else "str", True)
    for field, name in HEADER_FIELDS.items()
}
_JWS_REGISTRY = jws.JWSRegistry(
    header_registry=_HEADERS, algorithms=list(SIGNING_ALGORITHMS.values())
)
_JWE_REGISTRY = jwe.JWERegistry(
    header_registry=_HEADERS, algorithms=[*KEY_WRAPPING.values(), CONTENT_ENCRYPTION]
)
# joserfc's defaults (64 KB ciphertext, 128 KB payload) suit tokens, not a month of figures for a
# PCN. Raised to a bound that still stops a hostile sender exhausting the hub's memory.
MAX_RELEASE_BYTES = 64 * 1024 * 1024
_JWE_REGISTRY.max_ciphertext_length = 2 * MAX_RELEASE_BYTES  # base64url text of the JWS
_JWE_REGISTRY.max_protected_header_length = 4096
_JWS_REGISTRY.max_payload_length = MAX_RELEASE_BYTES
_JWS_REGISTRY.max_header_length = 4096


class SealError(LtcbridgeError):
    """A release cannot be opened; ``reason`` is the short code the hub records."""

    reason = "unreadable"


class MalformedRelease(SealError):
    reason = "malformed"


class WrongRecipientKey(SealError):
    reason = "wrong-recipient-key"


class UnknownSenderKey(SealError):
    reason = "unknown-sender-key"


class BadSignature(SealError):
    reason = "bad-signature"


class TamperedRelease(BadSignature):
    """The encryption layer or the headers were changed after sealing."""

    reason = "tampered"


class SenderMismatch(SealError):
    reason = "sender-not-key-owner"


@dataclass(frozen=True)
class SenderKey:
    """A practice's public key and the ODS code it belongs to."""

    owner: str
    key: Key


class SenderKeys(Protocol):
    """Anything that finds a sender's public key by its kid (see ``hub.keys.KeyRegistry``)."""

    def lookup(self, kid: str) -> SenderKey | None: ...


# -- keys ----------------------------------------------------------------------------------------
def load_key(path: Path | str, *, private: bool) -> Key:
    """Read an RSA or EC key from a PEM file, saying which file is wrong when it is."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LtcbridgeError(f"cannot read key file {path}: {exc.strerror}") from None
    key = _import_pem(data, str(path))
    if private and not key.is_private:
        raise LtcbridgeError(
            f"{path} holds a public key, but a private key is needed here (the practice signs "
            "with its own private key; the hub decrypts with its own private key)"
        )
    return key


def _import_pem(data: bytes, origin: str) -> Key:
    for kind in (RSAKey, ECKey):
        try:
            return kind.import_key(data)
        except (JoseError, ValueError, TypeError):
            continue
    raise LtcbridgeError(f"{origin} is not an RSA or EC key in PEM form")


def key_id(key: Key) -> str:
    """The kid of a key: its RFC 7638 thumbprint (the same for the private and public halves)."""
    return key.thumbprint()


def public_pem(key: Key) -> bytes:
    """The public half, to give to whoever must verify or encrypt to this key."""
    return key.as_pem(private=False)


def _family(key: Key) -> str:
    if isinstance(key, ECKey):
        if key.curve_name != "P-384":
            raise LtcbridgeError(f"EC keys must use curve P-384 (ES384), not {key.curve_name}")
        return "EC"
    return "RSA"


# -- sealing -------------------------------------------------------------------------------------
def seal_release(
    meta: ReleaseMeta, reports: list[dict[str, Any]], signing_key: Key, recipient_key: Key
) -> str:
    """The release as one JWE compact string (a JWS compact inside), ready for any transport."""
    headers = release_headers(meta)
    payload = orjson.dumps({"meta": meta.to_dict(), "bundle": as_bundle(meta, reports)})
    signed = jws.serialize_compact(
        {
            "alg": SIGNING_ALGORITHMS[_family(signing_key)],
            "kid": key_id(signing_key),
            "cty": PAYLOAD_TYPE,
            **headers,
        },
        payload,
        signing_key,
        registry=_JWS_REGISTRY,
    )
    return jwe.encrypt_compact(
        {
            "alg": KEY_WRAPPING[_family(recipient_key)],
            "enc": CONTENT_ENCRYPTION,
            "kid": key_id(recipient_key),
            "cty": "JOSE",
            **headers,
        },
        signed.encode(),
        recipient_key,
        registry=_JWE_REGISTRY,
    )


def release_headers(meta: ReleaseMeta) -> dict[str, Any]:
    return {name: getattr(meta, field) for field, name in HEADER_FIELDS.items()}


def as_bundle(meta: ReleaseMeta, reports: list[dict[str, Any]]) -> dict[str, Any]:
    """FHIR Bundle (type collection) of the release's MeasureReports (contract section 3)."""
    return {
        "resourceType": "Bundle",
        "id": meta.release_id,
        "type": "collection",
        "timestamp": meta.created,
        "entry": [{"resource": report} for report in reports],
    }


# -- opening -------------------------------------------------------------------------------------
def peek_headers(token: str) -> dict[str, Any]:
    """The outer protected header, readable without any key (for routing and receipts only).

    Nothing here is trusted: ``open_release`` checks it against the signed metadata.
    """
    try:
        first = token.strip().split(".")[0]
        header = orjson.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except (ValueError, orjson.JSONDecodeError, IndexError) as exc:
        raise MalformedRelease(
            f"not a sealed ltcbridge release (no readable header: {exc})"
        ) from None
    if not isinstance(header, dict) or token.count(".") != 4:
        raise MalformedRelease("not a sealed ltcbridge release (not a JWE compact token)")
    missing = [name for name in HEADER_FIELDS.values() if name not in header]
    if missing:
        raise MalformedRelease(f"sealed release header lacks {', '.join(missing)}")
    return header


def open_release(
    token: str, recipient_private_key: Key, sender_keys: SenderKeys
) -> tuple[ReleaseMeta, dict[str, Any]]:
    """Decrypt, verify the practice's signature, and return the metadata and the FHIR Bundle."""
    token = token.strip()
    outer = peek_headers(token)
    signed = _decrypt(token, outer, recipient_private_key)
    inner, sender = _verify(signed, sender_keys)
    meta, bundle = _parse_payload(inner.payload)
    if meta.sender != sender.owner:
        raise SenderMismatch(
            f"release claims to come from {meta.sender} but is signed with a key registered to "
            f"{sender.owner}"
        )
    expected = release_headers(meta)
    for header in (inner.protected, outer):
        changed = [name for name, value in expected.items() if header.get(name) != value]
        if changed:
            raise TamperedRelease(
                f"headers {', '.join(changed)} do not match the signed release: altered in transit"
            )
    return meta, bundle


def _decrypt(token: str, outer: dict[str, Any], key: Key) -> bytes:
    if outer.get("kid") != key_id(key):
        raise WrongRecipientKey(
            f"release was encrypted to key {outer.get('kid')}, not to this key ({key_id(key)}): "
            "it was sealed for another recipient, or with an old key of yours"
        )
    try:
        return jwe.decrypt_compact(token, key, registry=_JWE_REGISTRY).plaintext or b""
    except JoseError as exc:
        raise TamperedRelease(
            f"release cannot be decrypted although it names this key ({exc.error}): its "
            "encrypted content or headers were altered"
        ) from None
    except (ValueError, TypeError) as exc:
        raise MalformedRelease(f"release is not a well-formed JWE: {exc}") from None


def _verify(signed: bytes, sender_keys: SenderKeys) -> tuple[Any, SenderKey]:
    try:
        first = signed.split(b".")[0]
        header = orjson.loads(base64.urlsafe_b64decode(first + b"=" * (-len(first) % 4)))
        kid = str(header["kid"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise MalformedRelease("decrypted content is not a signed JWS with a kid") from None
    sender = sender_keys.lookup(kid)
    if sender is None:
        raise UnknownSenderKey(
            f"signed with key {kid}, which is not in the key registry: add the practice's "
            "public key (ODS.pem) if it is a new or renewed key"
        )
    try:
        return jws.deserialize_compact(signed, sender.key, registry=_JWS_REGISTRY), sender
    except JoseError as exc:
        raise BadSignature(
            f"signature by {sender.owner}'s key does not verify ({exc.error}): the release was "
            "altered after signing"
        ) from None
    except (ValueError, TypeError) as exc:
        raise MalformedRelease(f"signed content is not a well-formed JWS: {exc}") from None


def _parse_payload(payload: bytes) -> tuple[ReleaseMeta, dict[str, Any]]:
    try:
        data = orjson.loads(payload)
        meta = ReleaseMeta.from_dict(data["meta"])
        bundle = data["bundle"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedRelease(f"signed payload is not an ltcbridge release: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MalformedRelease("signed payload carries no FHIR Bundle")
    return meta, bundle


def bundle_reports(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The MeasureReports of a release's Bundle."""
    return [entry["resource"] for entry in bundle.get("entry", []) if "resource" in entry]
