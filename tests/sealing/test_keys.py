"""Keys from PEM files, and the hub's registry as a directory of ODS.pem or a JWKS file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.seal import key_id, load_key
from ltcbridge.hub.keys import KeyRegistryError, load_key_registry

from .helpers import OTHER_PRACTICE, PRACTICE, keys, write_pem


def test_pem_keys_load_and_private_is_required_where_it_must_be(tmp_path: Path) -> None:
    private = write_pem(tmp_path / "p.pem", keys().practice, private=True)
    public = write_pem(tmp_path / "pub.pem", keys().practice, private=False)
    assert key_id(load_key(private, private=True)) == key_id(load_key(public, private=False))
    with pytest.raises(LtcbridgeError, match="holds a public key"):
        load_key(public, private=True)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(LtcbridgeError, match=r"junk\.pem is not an RSA or EC key"):
        load_key(tmp_path / "junk.pem", private=False)
    with pytest.raises(LtcbridgeError, match="cannot read key file"):
        load_key(tmp_path / "missing.pem", private=False)


def test_registry_directory_maps_thumbprints_to_ods_codes(tmp_path: Path) -> None:
    write_pem(tmp_path / f"{PRACTICE}.pem", keys().practice, private=False)
    write_pem(tmp_path / f"{OTHER_PRACTICE.lower()}.2.pem", keys().other_practice, private=False)
    registry = load_key_registry(tmp_path)
    assert registry.lookup(key_id(keys().practice)).owner == PRACTICE  # type: ignore[union-attr]
    found = registry.lookup(key_id(keys().other_practice))
    assert found is not None and found.owner == OTHER_PRACTICE
    assert registry.lookup("nobody") is None


def test_registry_jwks_and_refusals(tmp_path: Path) -> None:
    entry = keys().practice.as_dict(private=False) | {"kid": f"{PRACTICE}#2026"}
    jwks = tmp_path / "keys.json"
    jwks.write_bytes(orjson.dumps({"keys": [entry]}))
    assert load_key_registry(jwks).lookup(key_id(keys().practice)).owner == PRACTICE  # type: ignore[union-attr]
    write_pem(tmp_path / "dir" / f"{PRACTICE}.pem", keys().practice, private=True)
    with pytest.raises(KeyRegistryError, match="private key"):
        load_key_registry(tmp_path / "dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyRegistryError, match="holds no keys"):
        load_key_registry(tmp_path / "empty")
    with pytest.raises(KeyRegistryError, match="does not exist"):
        load_key_registry(tmp_path / "nowhere")
