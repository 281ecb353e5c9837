"""Sign-then-encrypt round trips, and each way a release can fail to open has its own reason."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from joserfc import jwe

from ltcbridge.feed import seal
from ltcbridge.feed.release import ReleaseMeta

from .helpers import HUB, OTHER_PRACTICE, PRACTICE, keys, meta_for, public, registry, reports_of


def sealed(meta: ReleaseMeta | None = None, signer: Any = None, to: Any = None) -> str:
    meta = meta or meta_for()
    return seal.seal_release(
        meta, reports_of(meta.sender), signer or keys().practice, public(to or keys().hub)
    )


def known_senders() -> seal.SenderKeys:
    return registry((PRACTICE, keys().practice), (OTHER_PRACTICE, keys().other_practice))


@pytest.mark.parametrize("signer,hub", [("practice", "hub"), ("other_practice", "other_hub")])
def test_round_trip_gives_back_exactly_what_was_sealed(signer: str, hub: str) -> None:
    sender = PRACTICE if signer == "practice" else OTHER_PRACTICE
    meta = meta_for(sender=sender, sequence=4)
    token = sealed(meta, getattr(keys(), signer), getattr(keys(), hub))
    opened, bundle = seal.open_release(token, getattr(keys(), hub), known_senders())
    assert opened == meta
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert seal.bundle_reports(bundle) == reports_of(sender)


def test_headers_carry_agreement_period_and_sequence_and_hide_the_figures() -> None:
    meta = meta_for(sequence=7)
    token = sealed(meta)
    header = seal.peek_headers(token)
    assert (header["ltc_agreement"], header["ltc_period"], header["ltc_sequence"]) == (
        "DSA-DEMO-001",
        "2026-10",
        7,
    )
    assert header["enc"] == "A256GCM" and header["alg"] == "RSA-OAEP-256"
    assert header["kid"] == seal.key_id(keys().hub)
    assert "MeasureReport" not in token and "initial-population" not in str(_b64_parts(token))


def _b64_parts(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in token.split(".")]


def test_wrongly_keyed_release_is_rejected_as_such() -> None:
    token = sealed(to=keys().other_hub)  # sealed for another commissioner
    with pytest.raises(seal.WrongRecipientKey, match="encrypted to key"):
        seal.open_release(token, keys().hub, known_senders())


def test_unknown_sender_key_is_rejected_as_such() -> None:
    token = sealed()
    with pytest.raises(seal.UnknownSenderKey, match="not in the key registry"):
        seal.open_release(token, keys().hub, registry((OTHER_PRACTICE, keys().other_practice)))


def test_tampered_ciphertext_is_rejected_as_tampered() -> None:
    parts = sealed().split(".")
    ciphertext = bytearray(base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)))
    ciphertext[10] ^= 1
    parts[3] = base64.urlsafe_b64encode(bytes(ciphertext)).rstrip(b"=").decode()
    with pytest.raises(seal.TamperedRelease) as caught:
        seal.open_release(".".join(parts), keys().hub, known_senders())
    assert caught.value.reason == "tampered"


def _reencrypted(token: str, change_payload: Any = None, **header_changes: Any) -> str:
    """What someone holding the hub's *public* key could do: decrypt is impossible for them, so
    this simulates the strongest attacker (one who got the signed layer) re-encrypting it."""
    inner = jwe.decrypt_compact(token, keys().hub, registry=seal._JWE_REGISTRY).plaintext
    assert inner is not None
    if change_payload is not None:
        head, payload, signature = inner.split(b".")
        data = orjson.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        change_payload(data)
        payload = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=")
        inner = b".".join([head, payload, signature])
    header = {k: v for k, v in seal.peek_headers(token).items()} | header_changes
    return jwe.encrypt_compact(header, inner, public(keys().hub), registry=seal._JWE_REGISTRY)


def test_changed_figure_breaks_the_signature() -> None:
    def raise_a_count(data: dict[str, Any]) -> None:
        report = data["bundle"]["entry"][0]["resource"]
        report["group"][0]["population"][0]["count"] = 999

    token = _reencrypted(sealed(), raise_a_count)
    with pytest.raises(seal.BadSignature, match="does not verify") as caught:
        seal.open_release(token, keys().hub, known_senders())
    assert caught.value.reason == "bad-signature"


def test_changed_outer_header_is_caught() -> None:
    token = _reencrypted(sealed(), ltc_sequence=99)
    with pytest.raises(seal.TamperedRelease, match="ltc_sequence"):
        seal.open_release(token, keys().hub, known_senders())


def test_practice_cannot_send_in_another_practices_name() -> None:
    token = sealed(meta_for(sender=PRACTICE), signer=keys().other_practice)
    with pytest.raises(seal.SenderMismatch, match=f"registered to\\s+{OTHER_PRACTICE}"):
        seal.open_release(token, keys().hub, known_senders())


@pytest.mark.parametrize("token", ["", "hello", "a.b.c.d.e", "eyJhbGciOiJub25lIn0.e30.", "x" * 50])
def test_malformed_tokens_are_rejected_as_malformed(token: str) -> None:
    with pytest.raises(seal.MalformedRelease):
        seal.open_release(token, keys().hub, known_senders())


def test_meta_json_round_trip_and_refusals() -> None:
    meta = meta_for(sequence=3)
    assert ReleaseMeta.from_json(meta.to_json()) == meta
    with pytest.raises(ValueError, match="sequence"):
        ReleaseMeta.from_dict(meta.to_dict() | {"sequence": 0})
    with pytest.raises(ValueError, match="incomplete"):
        ReleaseMeta.from_dict({"release_id": "x"})


def test_hub_recipient_code_is_in_every_sealed_header() -> None:
    assert seal.peek_headers(sealed())["ltc_recipient"] == HUB
