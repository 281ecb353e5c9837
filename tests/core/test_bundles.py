"""Bundles whose entries name each other by ``urn:uuid:`` fullUrl (FHIR R4 Bundle reference
resolution), as transactions and documents are written: counted exactly as the same resources
written one a line with literal references."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from core_data import SYNTHETIC

from ltcbridge.identifiable.bundles import bundle_resources
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import Mappings

KINDS = (
    "Organization",
    "Patient",
    "Observation",
    "QuestionnaireResponse",
    "ServiceRequest",
    "Task",
)


def _urn(kind: str, rid: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{kind}/{rid}')}"


def _by_urn(value: Any, urns: dict[str, str]) -> Any:
    """``value`` with every literal ``Type/id`` reference to a resource in ``urns`` written as
    that resource's urn instead (as a transaction Bundle writes it)."""
    if isinstance(value, dict):
        return {
            key: urns.get(item, item) if key == "reference" else _by_urn(item, urns)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_by_urn(item, urns) for item in value]
    return value


def _synthetic_resources() -> list[dict[str, Any]]:
    resources = []
    for kind in KINDS:
        for line in (SYNTHETIC / f"{kind}.ndjson").read_bytes().splitlines():
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                resources.append(resource)
    return resources


def test_a_transaction_naming_its_entries_by_urn_counts_as_its_resources(
    tmp_path: Path, synthetic_mappings: Mappings
) -> None:
    resources = _synthetic_resources()
    urns = {f"{r['resourceType']}/{r['id']}": _urn(r["resourceType"], r["id"]) for r in resources}
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urns[f"{r['resourceType']}/{r['id']}"],
                "resource": _by_urn(r, urns),
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in resources
        ],
    }
    rewritten = sum(orjson.dumps(e["resource"]).count(b'"urn:uuid:') for e in transaction["entry"])
    assert rewritten > len(resources) // 2  # most entries name another by urn only
    plain, bundled = tmp_path / "plain", tmp_path / "bundled"
    plain.mkdir(), bundled.mkdir()
    (plain / "all.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    (bundled / "transaction.ndjson").write_bytes(orjson.dumps(transaction) + b"\n")

    scans = [scan_source(folder, synthetic_mappings) for folder in (plain, bundled)]
    populations = [build_population(scan) for scan in scans]

    assert len(populations[0].fact_patient) > 100
    columns = ("fact_patient", "fact_date", "fact_concept", "patient_practice")
    for column in columns:
        assert np.array_equal(getattr(populations[0], column), getattr(populations[1], column))
    # identifiers are keyed afresh each scan: compare which answers name a referral read
    focused = [np.isin(p.fact_focus, p.fact_key) for p in populations]
    assert focused[0].sum() > 0 and np.array_equal(focused[0], focused[1])
    assert [q.reason for q in scans[1].quarantine] == [q.reason for q in scans[0].quarantine]


def test_an_entry_without_an_id_takes_its_urn_and_is_found_by_it() -> None:
    person, need = "urn:uuid:0b6c3a52-8f1e-4b43-9c55-2f4f1d1a0001", "urn:oid:1.2.826.0.1.99"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": person, "resource": {"resourceType": "Patient"}},
            {
                "fullUrl": need,
                "resource": {
                    "resourceType": "Observation",
                    "subject": {"reference": person},
                    "focus": [{"reference": "urn:uuid:not-in-this-bundle"}],
                    "derivedFrom": [{"reference": need}],
                },
            },
            {"request": {"method": "DELETE", "url": "Observation/old"}},
            "not an entry",
        ],
    }
    patient, observation, odd = bundle_resources(bundle)

    assert patient == {"resourceType": "Patient", "id": "0b6c3a52-8f1e-4b43-9c55-2f4f1d1a0001"}
    assert observation["id"] == "1.2.826.0.1.99"
    assert observation["subject"] == {"reference": "Patient/0b6c3a52-8f1e-4b43-9c55-2f4f1d1a0001"}
    assert observation["derivedFrom"] == [{"reference": "Observation/1.2.826.0.1.99"}]
    assert observation["focus"] == [{"reference": "urn:uuid:not-in-this-bundle"}]  # left as is
    assert odd == "not an entry"  # the scan quarantines it
