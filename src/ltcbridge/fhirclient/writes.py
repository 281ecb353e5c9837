"""Write helpers: conditional URLs from business identifiers, bundle idempotency, results.

A write is safe to retry when repeating it cannot create a second copy: PUT by id, conditional
update or create keyed on a stable business identifier, DELETE. A plain POST is not, so the
client never retries one once it may have reached the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of a write: the stored resource (when returned) and whether it was new."""

    status: int
    resource: Resource | None
    etag: str | None
    location: str | None

    @property
    def created(self) -> bool:
        return self.status == 201


def identifier_query(resource: Mapping[str, Any]) -> str:
    """``identifier=system|value`` from the resource's first identifier with both parts."""
    for identifier in resource.get("identifier") or ():
        if identifier.get("system") and identifier.get("value"):
            return urlencode({"identifier": f"{identifier['system']}|{identifier['value']}"})
    raise ValueError(
        f"{resource.get('resourceType')} has no identifier with system and value: "
        "a stable business identifier is needed for an idempotent write"
    )


def as_query(criteria: str | Mapping[str, str]) -> str:
    return criteria if isinstance(criteria, str) else urlencode(dict(criteria))


def if_match(version: str) -> str:
    """An If-Match value from a versionId or an ETag as the server sent it."""
    return version if version.startswith(('W/"', '"')) else f'W/"{version}"'


def bundle_is_idempotent(bundle: Mapping[str, Any]) -> bool:
    """True when replaying the bundle cannot duplicate anything (no unconditional POST)."""
    for entry in bundle.get("entry") or ():
        request = entry.get("request") or {}
        if request.get("method") == "POST" and not request.get("ifNoneExist"):
            return False
    return True


def make_bundle(bundle_type: str, entries: list[Mapping[str, Any]]) -> Resource:
    """A transaction or batch Bundle from entries (each with ``request`` and maybe ``resource``)."""
    if bundle_type not in ("transaction", "batch"):
        raise ValueError("bundle_type must be 'transaction' or 'batch'")
    return {"resourceType": "Bundle", "type": bundle_type, "entry": [dict(e) for e in entries]}


def upsert_entry(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A bundle entry that creates or updates ``resource`` keyed on its business identifier."""
    return {
        "resource": dict(resource),
        "request": {
            "method": "PUT",
            "url": f"{resource['resourceType']}?{identifier_query(resource)}",
        },
    }
