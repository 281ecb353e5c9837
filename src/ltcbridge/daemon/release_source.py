"""The daemon's state as a bulk export: what its monthly releases are built from (no second pull).

The state keeps the latest version of every Patient and entry the reader accepts whole (the
``patient`` and ``entry_resource`` tables): the GP record's care-planning entries and NHS use
(Encounter, Appointment, MedicationRequest: whatever the pull requests), and the providers'
answers to this practice's referrals (each provider Task as the daemon writes it back to the GP
record, kept when the daemon reads it: `keep_answer`). For a release they are written as NDJSON,
one file per resource type, into a private temporary folder inside the state directory, read by
the same pipeline as ``ltcbridge feed build``, and the folder is removed. Entries retracted (entered
in error, cancelled, deleted at the GP) are left out, as the state itself no longer counts them.

Patients name their practice by ODS identifier or by an ``Organization/`` reference; the daemon
does not read Organization resources, so each referenced Organization is written as the
practice's own (``[practice] ods``): the GP record the daemon reads is the practice's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ltcbridge.daemon.state import StateStore
from ltcbridge.identifiable.read import Reader
from ltcbridge.private_data import private_dir, write_private

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
WORK_DIR = "release-work"


def store_entry(state: StateStore, reader: Reader, kind: str, resource: dict[str, Any]) -> bool:
    """Store an entry of any type the reader accepts (inside the caller's transaction): its
    fields for the daemon's decisions and, when it is the latest version, the whole resource for
    the monthly release. True when it was the latest. Raises what the reader raises."""
    if not state.put_entry(reader.entry_fields(kind, resource)):
        return False
    keep_entry_resource(state, kind, resource)
    return True


def keep_entry_resource(state: StateStore, kind: str, resource: dict[str, Any]) -> None:
    """Keep the entry version just stored (inside the caller's transaction)."""
    state.db.execute(
        "INSERT OR REPLACE INTO entry_resource VALUES (?, ?, ?)",
        (kind, str(resource.get("id")), json.dumps(resource)),
    )


def keep_answer(
    state: StateStore, reader: Reader, copy: dict[str, Any], last_updated: str | None
) -> bool:
    """Keep a provider's answer (the Task copy the daemon writes back to the GP record) as an
    entry, so the referrals and NHS-use measures count it as ``feed build`` counts the GP's copy.

    Its id is made from its business identifier (one Task per referral, whatever its status),
    and its version is the provider Task's ``meta.lastUpdated``, so a later answer replaces an
    earlier one and a cancelled Task retracts it. Inside the caller's transaction."""
    value = "|".join(f"{i.get('system')}|{i.get('value')}" for i in copy.get("identifier", ()))
    rid = "ltcb-" + hashlib.sha256(value.encode()).hexdigest()[:32]
    kept = {**copy, "id": rid, **({"meta": {"lastUpdated": last_updated}} if last_updated else {})}
    return store_entry(state, reader, "Task", kept)


@contextmanager
def state_export(state: StateStore, practice_ods: str) -> Iterator[Path]:
    """A private folder holding the state as NDJSON, removed afterwards (also on failure)."""
    work = private_dir(state.path.parent / WORK_DIR) / uuid.uuid4().hex
    private_dir(work)
    try:
        state.db.execute("BEGIN")  # one snapshot: a sync writing meanwhile is seen whole or not
        try:
            _write_export(state, work, practice_ods)
        finally:
            state.db.execute("COMMIT")
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_export(state: StateStore, folder: Path, practice_ods: str) -> None:
    organizations: set[str] = set()
    with write_private(folder / "Patient.ndjson") as handle:
        for (raw,) in state.db.execute("SELECT resource FROM patient ORDER BY id"):
            organizations.update(_organization_refs(json.loads(raw)))
            handle.write(raw.encode() + b"\n")
    rows = state.db.execute(
        "SELECT r.resource_type, r.resource FROM entry_resource r JOIN entry e ON "
        "e.resource_type = r.resource_type AND e.id = r.id WHERE e.retracted = 0 "
        "ORDER BY r.resource_type, r.id"
    )
    handles: dict[str, Any] = {}
    try:
        for kind, raw in rows:
            if kind not in handles:
                handles[kind] = open(folder / f"{kind}.ndjson", "wb", opener=_owner_only)  # noqa: SIM115
            handles[kind].write(raw.encode() + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
    with write_private(folder / "Organization.ndjson") as handle:
        for org_id in sorted(organizations):
            stub = {
                "resourceType": "Organization",
                "id": org_id,
                "identifier": [{"system": ODS_SYSTEM, "value": practice_ods}],
            }
            handle.write(json.dumps(stub).encode() + b"\n")


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _organization_refs(patient: dict[str, Any]) -> list[str]:
    found = []
    for ref in patient.get("generalPractitioner", ()):
        _, marker, rest = str(ref.get("reference") or "").rpartition("Organization/")
        if marker and rest:
            found.append(rest.split("/", 1)[0])
    return found
