"""Keys, a real built release, and an in-memory HubStore for the sealing and transport tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from ltcbridge.agreement import load_agreement
from ltcbridge.feed.release import ReleaseMeta, new_release_meta
from ltcbridge.feed.seal import Key
from ltcbridge.hub.keys import KeyRegistry
from ltcbridge.mapping import load_mappings
from ltcbridge.pipeline import FeedBuild, build_feed

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
DEMO_AGREEMENT = ROOT / "src" / "ltcbridge" / "bundled" / "demo-agreement.toml"
PERIOD = "2026-10"
HUB = "QHM"
PRACTICE = "Y00011"
OTHER_PRACTICE = "Y00012"


@dataclass(frozen=True)
class Keys:
    practice: Key  # EC P-384: ES384 signatures
    other_practice: Key  # RSA: PS256 signatures
    hub: Key  # RSA: RSA-OAEP-256 wrapping
    other_hub: Key  # EC P-384: ECDH-ES+A256KW wrapping


@cache
def keys() -> Keys:
    return Keys(
        practice=ECKey.generate_key("P-384"),
        other_practice=RSAKey.generate_key(2048),
        hub=RSAKey.generate_key(2048),
        other_hub=ECKey.generate_key("P-384"),
    )


def public(key: Key) -> Key:
    return type(key).import_key(key.as_pem(private=False))


def registry(*owners: tuple[str, Key]) -> KeyRegistry:
    reg = KeyRegistry()
    for owner, key in owners:
        reg.add(owner, public(key))
    return reg


def write_pem(path: Path, key: Key, *, private: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.as_pem(private=private))
    return path


@cache
def _demo_build() -> FeedBuild:
    return build_feed(
        SYNTHETIC,
        load_mappings([SYNTHETIC / "mappings"]),
        load_agreement(DEMO_AGREEMENT),
        PERIOD,
        workers=1,
    )


def demo_build() -> FeedBuild:
    """The six fixture practices' October release (built once, copied for each caller)."""
    return copy.deepcopy(_demo_build())


def reports_of(org: str) -> list[dict[str, Any]]:
    return [r for r in demo_build().reports if r["reporter"]["identifier"]["value"] == org]


def meta_for(sender: str = PRACTICE, sequence: int = 1, **changes: Any) -> ReleaseMeta:
    values: dict[str, Any] = {
        "agreement_id": "DSA-DEMO-001",
        "sender": sender,
        "recipient": HUB,
        "period": PERIOD,
        "sequence": sequence,
        "measures": tuple(dict.fromkeys(r["measure"] for r in reports_of(sender))),
    } | changes
    return new_release_meta(**values)


@dataclass
class MemoryHubStore:
    """The HubStore protocol in memory; ``fail_next_add`` simulates a store failing mid-way."""

    releases: dict[str, tuple[ReleaseMeta, list[dict[str, Any]]]] = field(default_factory=dict)
    rejections: list[tuple[str, str | None, str, str]] = field(default_factory=list)
    fail_next_add: bool = False

    def has_release(self, release_id: str) -> bool:
        return release_id in self.releases

    def last_sequence(self, sender: str, agreement_id: str) -> int | None:
        seqs = [
            m.sequence
            for m, _ in self.releases.values()
            if m.sender == sender and m.agreement_id == agreement_id
        ]
        return max(seqs, default=None)

    def add_release(self, meta: ReleaseMeta, reports: list[dict[str, Any]]) -> None:
        if self.fail_next_add:
            self.fail_next_add = False
            raise OSError("disk full")
        self.releases[meta.release_id] = (meta, copy.deepcopy(reports))

    def add_rejection(self, received_at: str, sender: str | None, reason: str, detail: str) -> None:
        self.rejections.append((received_at, sender, reason, detail))
