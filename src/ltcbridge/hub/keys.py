"""The hub's registry of practices' public keys: who may send, and how to check it was them.

Two forms, whichever the ICB finds easier to keep: a directory of ``{ODS}.pem`` public keys (one
file per practice or PCN; a practice with a renewed key keeps both as ``{ODS}.pem`` and
``{ODS}.2.pem`` while releases signed with the old one are still arriving), or a JWKS file whose
keys each carry the owner's ODS code in ``ods`` (or as the part of ``kid`` before ``#``).
Releases name their signing key by RFC 7638 thumbprint, so lookup is by thumbprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.seal import Key, SenderKey, key_id, load_key


class KeyRegistryError(LtcbridgeError):
    """The key registry cannot be read; nothing is received until it can."""


@dataclass
class KeyRegistry:
    """Public keys by kid (thumbprint), each with the ODS code that owns it."""

    keys: dict[str, SenderKey] = field(default_factory=dict)

    def add(self, owner: str, key: Key) -> None:
        if key.is_private:
            raise KeyRegistryError(
                f"the key registered for {owner} is a private key; the hub must hold only "
                "practices' public keys: ask the practice for its public key"
            )
        self.keys[key_id(key)] = SenderKey(owner=owner, key=key)

    def lookup(self, kid: str) -> SenderKey | None:
        return self.keys.get(kid)

    def owners(self) -> set[str]:
        return {sender.owner for sender in self.keys.values()}


def load_key_registry(path: Path | str) -> KeyRegistry:
    """Read a directory of ``{ODS}.pem`` files or a JWKS file."""
    path = Path(path)
    if path.is_dir():
        registry = _from_directory(path)
    elif path.is_file():
        registry = _from_jwks(path)
    else:
        raise KeyRegistryError(
            f"key registry {path} does not exist: give a directory of ODS.pem "
            "public keys or a JWKS file"
        )
    if not registry.keys:
        raise KeyRegistryError(f"key registry {path} holds no keys: add the practices' public keys")
    return registry


def _from_directory(directory: Path) -> KeyRegistry:
    registry = KeyRegistry()
    for pem in sorted(directory.glob("*.pem")):
        owner = pem.name.split(".")[0].upper()
        registry.add(owner, load_key(pem, private=False))
    return registry


def _from_jwks(path: Path) -> KeyRegistry:
    try:
        data = orjson.loads(path.read_bytes())
        entries: list[dict[str, Any]] = data["keys"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise KeyRegistryError(f'{path} is not a JWKS file ({{"keys": [...]}}): {exc}') from None
    registry = KeyRegistry()
    for number, entry in enumerate(entries, start=1):
        owner = str(entry.get("ods") or str(entry.get("kid", "")).split("#")[0]).upper()
        if not owner:
            raise KeyRegistryError(
                f"{path}: key {number} has neither 'ods' nor a 'kid' naming the practice's ODS code"
            )
        registry.add(owner, _import_jwk(entry, f"{path}: key {number}"))
    return registry


def _import_jwk(entry: dict[str, Any], origin: str) -> Key:
    public = {
        k: v for k, v in entry.items() if k not in ("ods", "kid", "d", "p", "q", "dp", "dq", "qi")
    }
    kinds: dict[str, type[RSAKey] | type[ECKey]] = {"RSA": RSAKey, "EC": ECKey}
    kind = kinds.get(str(entry.get("kty")))
    if kind is None:
        raise KeyRegistryError(f"{origin}: kty must be RSA or EC")
    try:
        return kind.import_key(public)
    except (JoseError, ValueError, TypeError) as exc:
        raise KeyRegistryError(f"{origin} is not a valid public key: {exc}") from None
