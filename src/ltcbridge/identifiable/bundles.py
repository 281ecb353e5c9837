"""A Bundle's entries as resources of their own, their references to each other resolved.

An export may hold Bundles: a saved search page, a GP Connect structured record (a collection),
a FHIR document, or a transaction as generators such as Synthea write them. The scan reads each
entry's resource as if it were a line of its own. Inside a Bundle one entry may name another by
its ``fullUrl`` alone, a ``urn:uuid:`` or ``urn:oid:`` that means nothing outside the Bundle
(FHIR R4, Bundle "Resolving references in Bundles"); a transaction's POST entries may even carry
no ``id``, the ``fullUrl`` being their only identity. So before the entries are read:

* an entry whose resource has no ``id`` and whose ``fullUrl`` is a ``urn:uuid:`` or ``urn:oid:``
  that is a valid FHIR id takes that as its id;
* every ``reference`` equal to another entry's ``urn:`` ``fullUrl`` becomes that entry's
  ``Type/id``, which the reader understands like any literal reference.

Absolute ``fullUrl`` references (``https://server/fhir/Patient/1``) and relative ones
(``Patient/1``) need nothing: the reader takes the type and id from their end. A ``urn:``
reference to no entry of the Bundle is left as it is, and the reader says what is wrong with it.
"""

from __future__ import annotations

import re
from typing import Any

_URN_PREFIXES = ("urn:uuid:", "urn:oid:")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")


def bundle_resources(bundle: dict[str, Any]) -> list[Any]:
    """Each entry's resource, references between entries resolved (see the module docstring).

    An entry that is not a JSON object is passed on as it is (the scan quarantines it); an
    entry with no ``resource`` (a transaction's DELETE) is left out."""
    entries = [
        entry
        for entry in bundle.get("entry") or []
        if not isinstance(entry, dict) or "resource" in entry
    ]
    targets: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict):
            _identify(entry, targets)
    resources = [entry.get("resource") if isinstance(entry, dict) else entry for entry in entries]
    if targets:
        for resource in resources:
            _resolve(resource, targets)
    return resources


def _identify(entry: dict[str, Any], targets: dict[str, str]) -> None:
    """Record what an entry's ``urn:`` fullUrl stands for (``Type/id``), giving the resource
    the fullUrl's id when it has none."""
    full_url, resource = entry.get("fullUrl"), entry.get("resource")
    if not (isinstance(full_url, str) and full_url.startswith(_URN_PREFIXES)):
        return
    if not (isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)):
        return
    if "id" not in resource:
        own_id = full_url.split(":", 2)[2]
        if _FHIR_ID.match(own_id):
            resource["id"] = own_id
    if isinstance(resource.get("id"), str):
        targets[full_url] = f"{resource['resourceType']}/{resource['id']}"


def _resolve(value: Any, targets: dict[str, str]) -> None:
    """Replace, anywhere in ``value``, each ``reference`` naming a known ``urn:`` fullUrl."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            reference = item.get("reference")
            if isinstance(reference, str) and reference in targets:
                item["reference"] = targets[reference]
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
