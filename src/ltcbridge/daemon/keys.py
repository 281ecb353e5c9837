"""The practice's signing key pair (SMART Backend Services / NHS signed JWT, sealing the feed).

The private key is written with mode 0600 from the start (never world-readable, not even for a
moment); the public key is written as PEM and as a JWKS to register with the servers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

KEY_TYPES = ("rsa", "ec")


def generate_key_pair(directory: Path, key_type: str = "rsa", kid: str = "ltcbridge-1") -> Path:
    """Write ``private-key.pem`` (0600), ``public-key.pem`` and ``jwks.json``; returns the
    private key's path. RSA is 3072-bit (RS384/RS512); EC is P-384 (ES384)."""
    directory.mkdir(parents=True, exist_ok=True)
    if key_type == "ec":
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = ec.generate_private_key(
            ec.SECP384R1()
        )
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path = directory / "private-key.pem"
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    (directory / "public-key.pem").write_bytes(public)
    jwk_class = ECKey if key_type == "ec" else RSAKey
    jwk = jwk_class.import_key(public).as_dict(private=False)
    jwk.update(kid=kid, use="sig", alg="ES384" if key_type == "ec" else "RS384")
    (directory / "jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    return private_path
