"""The client against the real in-memory FHIR engine (tests/fhir_engine)."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from fhir_testdata import CARE_PLAN_SYSTEM, NHS_NUMBER_SYSTEM, nhs_number, patient

from ltcbridge.fhirclient import (
    BadRequestError,
    ConflictError,
    FhirClient,
    IncrementalState,
    NotFoundError,
    SyncFhirClient,
    upsert_entry,
)
from ltcbridge.fhirclient.search import parse_instant

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


def client(engine: str, **kwargs: object) -> FhirClient:
    return FhirClient(engine, **kwargs)


async def load_patients(fhir: FhirClient, count: int, start: int = 0) -> None:
    """Load test data with batch bundles (the engine caps updates per transaction)."""
    entries = [upsert_entry(patient(n)) for n in range(start, start + count)]
    for offset in range(0, len(entries), 40):
        response = await fhir.batch(entries[offset : offset + 40])
        assert {e["response"]["status"][:3] for e in response["entry"]} == {"201"}


async def test_paging_through_several_pages(engine: str) -> None:
    async with client(engine) as fhir:
        await load_patients(fhir, 23)
        seen_pages: list[int] = []
        fetch = fhir._fetch_page

        async def counting_fetch(url: str, params: object) -> dict:
            bundle = await fetch(url, params)
            seen_pages.append(len(bundle.get("entry") or ()))
            return bundle

        fhir._fetch_page = counting_fetch  # type: ignore[method-assign]
        ids = [p["id"] async for p in fhir.search("Patient", {"_count": 5})]
    assert len(ids) == 23 and len(set(ids)) == 23
    assert seen_pages == [5, 5, 5, 5, 3]


async def test_read_by_id_and_not_found(engine: str) -> None:
    async with client(engine) as fhir:
        created = await fhir.create_once(patient(1))
        stored = await fhir.read("Patient", created.resource["id"])
        assert stored["identifier"][0]["value"] == nhs_number(1)
        with pytest.raises(NotFoundError) as raised:
            await fhir.read("Patient", "00000000-0000-0000-0000-000000000000")
    assert raised.value.status == 404
    assert "not-found" in str(raised.value)


async def test_conditional_create_does_not_duplicate_on_retry(engine: str) -> None:
    async with client(engine) as fhir:
        first = await fhir.create_once(patient(2))
        again = await fhir.create_once(patient(2))
        matches = [
            p
            async for p in fhir.search(
                "Patient", {"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs_number(2)}"}
            )
        ]
    assert first.created and not again.created
    assert again.resource["id"] == first.resource["id"]
    assert len(matches) == 1


async def test_conditional_update_creates_then_updates_in_place(engine: str) -> None:
    async with client(engine) as fhir:
        created = await fhir.upsert(patient(3))
        updated = await fhir.upsert(patient(3, gender="female"))
        matches = [
            p
            async for p in fhir.search(
                "Patient", {"identifier": f"{NHS_NUMBER_SYSTEM}|{nhs_number(3)}"}
            )
        ]
    assert created.created and not updated.created
    assert updated.resource["id"] == created.resource["id"]
    assert [m["gender"] for m in matches] == ["female"]


async def test_if_match_conflict_is_a_clear_error(engine: str) -> None:
    async with client(engine) as fhir:
        original = (await fhir.create_once(patient(4))).resource
        stale_version = original["meta"]["versionId"]
        first_edit = await fhir.update({**original, "gender": "male"}, version=stale_version)
        assert first_edit.etag == f'W/"{first_edit.resource["meta"]["versionId"]}"'
        with pytest.raises(ConflictError) as raised:
            await fhir.update({**original, "gender": "other"}, version=stale_version)
        current = await fhir.read("Patient", original["id"])
    assert raised.value.status == 412
    assert "PUT" in str(raised.value) and "412" in str(raised.value)
    assert nhs_number(4) not in str(raised.value)
    assert current["gender"] == "male"


async def test_if_match_retry_of_own_write_is_not_a_conflict(engine: str) -> None:
    """A retried PUT whose first attempt succeeded sees 412, but the content is ours: success."""
    async with client(engine) as fhir:
        original = (await fhir.create_once(patient(5))).resource
        edited = {**original, "gender": "female"}
        await fhir.update(edited, version=original["meta"]["versionId"])
        replay = await fhir.update(edited, version=original["meta"]["versionId"])
    assert replay.status == 200 and replay.resource["gender"] == "female"


async def test_validation_error_carries_operation_outcome(engine: str) -> None:
    async with client(engine) as fhir:
        with pytest.raises(BadRequestError) as raised:
            await fhir._send("POST", "Patient", json={"resourceType": "Observation"})
    issue = raised.value.issues[0]
    assert (issue.severity, issue.code) == ("error", "invalid")
    assert "does not match the URL" in issue.diagnostics


async def test_transaction_and_batch(engine: str) -> None:
    plan = {
        "resourceType": "CarePlan",
        "identifier": [{"system": CARE_PLAN_SYSTEM, "value": "plan-1"}],
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "urn:uuid:11111111-1111-4111-8111-111111111111"},
    }
    entries = [
        {
            "fullUrl": "urn:uuid:11111111-1111-4111-8111-111111111111",
            **upsert_entry(patient(6)),
        },
        upsert_entry(plan),
    ]
    async with client(engine) as fhir:
        first = await fhir.transaction(entries)
        replay = await fhir.transaction(entries)
        plans = [
            p async for p in fhir.search("CarePlan", {"identifier": f"{CARE_PLAN_SYSTEM}|plan-1"})
        ]
        patients = [p async for p in fhir.search("Patient", {})]
        batch = await fhir.batch(
            [
                {"request": {"method": "GET", "url": f"Patient/{patients[0]['id']}"}},
                {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
            ]
        )
    assert first["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in first["entry"]] == ["201", "201"]
    assert [e["response"]["status"][:3] for e in replay["entry"]] == ["200", "200"]
    assert len(plans) == 1 and len(patients) == 1
    assert plans[0]["subject"]["reference"] == f"Patient/{patients[0]['id']}"
    assert [e["response"]["status"][:3] for e in batch["entry"]] == ["200", "404"]


async def test_include_returns_referenced_resources_distinguishably(engine: str) -> None:
    async with client(engine) as fhir:
        owner = (await fhir.create_once(patient(7))).resource
        for n in range(3):
            plan = {
                "resourceType": "CarePlan",
                "identifier": [{"system": CARE_PLAN_SYSTEM, "value": f"inc-{n}"}],
                "status": "active",
                "intent": "plan",
                "subject": {"reference": f"Patient/{owner['id']}"},
            }
            await fhir.create_once(plan)
        entries = [
            e async for e in fhir.search_entries("CarePlan", {"_include": "CarePlan:subject"})
        ]
        matches_only = [r async for r in fhir.search("CarePlan", {"_include": "CarePlan:subject"})]
    included = [e.resource["id"] for e in entries if e.included]
    assert included == [owner["id"]]
    assert sum(1 for e in entries if e.mode == "match") == 3
    assert {r["resourceType"] for r in matches_only} == {"CarePlan"}


async def test_incremental_windows_deliver_changes_exactly_once(engine: str) -> None:
    state = IncrementalState()
    async with client(engine) as fhir:
        await load_patients(fhir, 12)
        first = [p async for p in fhir.incremental("Patient", state, count=5)]
        assert len(first) == 12 and state.since is not None

        # Change two resources *during* the next window: right after its first page is read.
        fetch_page = fhir._fetch_page
        pages_read = 0

        async def fetch_then_change(url: str, params: object) -> dict:
            nonlocal pages_read
            bundle = await fetch_page(url, params)
            pages_read += 1
            if pages_read == 1:
                await fhir.upsert(patient(0, gender="female"))
                await fhir.upsert(patient(11, gender="male"))
            return bundle

        fhir._fetch_page = fetch_then_change  # type: ignore[method-assign]
        second = [p async for p in fhir.incremental("Patient", state, count=2)]
        fhir._fetch_page = fetch_page  # type: ignore[method-assign]
        third = [p async for p in fhir.incremental("Patient", state, count=5)]
        fourth = [p async for p in fhir.incremental("Patient", state, count=5)]
    versions = [(p["id"], p["meta"]["versionId"]) for p in first + second + third + fourth]
    assert len(versions) == len(set(versions)), "a version was delivered twice"
    changed = sorted(p["identifier"][0]["value"] for p in second + third)
    assert changed == [nhs_number(0), nhs_number(11)]
    assert fourth == []


async def test_history_since_watermark_shows_entered_in_error_and_deletion(engine: str) -> None:
    async with client(engine) as fhir:
        await fhir.create_once(patient(8))
        before = [e async for e in fhir.history("Observation")]
        assert before == []
        observation = {
            "resourceType": "Observation",
            "identifier": [{"system": CARE_PLAN_SYSTEM, "value": "obs-1"}],
            "status": "final",
            "code": {"text": "Well-being Star score"},
        }
        created = (await fhir.create_once(observation)).resource
        since = parse_instant(created["meta"]["lastUpdated"])
        await asyncio.sleep(0.01)
        await fhir.update({**created, "status": "entered-in-error"})
        other_id = {"system": CARE_PLAN_SYSTEM, "value": "obs-2"}
        other = (await fhir.create_once({**observation, "identifier": [other_id]})).resource
        await fhir.delete("Observation", other["id"])
        entries = [e async for e in fhir.history("Observation", since=since, count=2)]
    methods = [(e.method, e.entered_in_error, e.deleted) for e in entries]
    assert methods == [
        ("POST", False, False),
        ("PUT", True, False),
        ("POST", False, False),
        ("DELETE", False, True),
    ]
    assert entries[3].id == other["id"]


async def test_capabilities_describe(engine: str) -> None:
    async with client(engine) as fhir:
        caps = await fhir.capabilities()
    assert caps.fhir_version == "4.0.1"
    assert caps.supports("Patient", "search-type") and caps.supports("Patient", "update")
    assert not caps.supports("Basic", "read")
    assert caps.supports_search_param("Patient", "identifier")
    text = caps.describe()
    assert "Patient: " in text and "conditional create" in text and "export" in text


async def test_bulk_export_end_to_end(engine: str, tmp_path, fake_time) -> None:
    progress: list[str] = []
    async with client(engine, **fake_time.client_kwargs()) as fhir:
        await load_patients(fhir, 7)
        await fhir.create_once(
            {
                "resourceType": "Observation",
                "identifier": [{"system": CARE_PLAN_SYSTEM, "value": "bulk-1"}],
                "status": "final",
                "code": {"text": "score"},
            }
        )
        result = await fhir.bulk_export(
            tmp_path / "first",
            types=["Patient", "Observation", "NotAType"],
            on_progress=progress.append,
        )
        await fhir.upsert(patient(2, gender="female"))
        second = await fhir.bulk_export(
            tmp_path / "second", types=["Patient"], since=result.transaction_time
        )
    counts = {f.type: f.count for f in result.files}
    assert counts == {"Patient": 7, "Observation": 1}
    lines = result.files[0].path.read_bytes().splitlines()
    assert len(lines) == 7 and all(
        orjson.loads(line)["resourceType"] == "Patient" for line in lines
    )
    assert progress == ["in progress: poll 1 of 2", "in progress: poll 2 of 2"]
    assert fake_time.sleeps[:2] == [1.0, 1.0]  # Retry-After honoured
    assert len(result.error_files) == 1 and "NotAType" in result.errors[0].diagnostics
    assert second.transaction_time > result.transaction_time
    assert [(f.type, f.count) for f in second.files] == [("Patient", 1)]
    assert not list((tmp_path / "first").glob("*.partial"))


async def test_bulk_export_cancellation_deletes_the_job(engine: str, tmp_path) -> None:
    polling = asyncio.Event()
    deleted: list[str] = []

    async def slow_sleep(seconds: float) -> None:
        polling.set()
        await asyncio.sleep(10)

    async def record(request: httpx.Request) -> None:
        if request.method == "DELETE":
            deleted.append(str(request.url))

    async with client(engine, sleep=slow_sleep) as fhir:
        fhir._http.event_hooks["request"].append(record)
        task = asyncio.create_task(fhir.bulk_export(tmp_path, types=["Patient"]))
        await polling.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(deleted) == 1 and "/fhir/$export-status/" in deleted[0]
        status = await fhir._http.get(deleted[0])
    assert status.status_code == 404


def test_sync_wrapper(engine: str) -> None:
    with SyncFhirClient(engine) as fhir:
        created = fhir.create_once(patient(9))
        assert created.created
        found = list(fhir.search("Patient", {"_count": 1}))
        assert [p["id"] for p in found] == [created.resource["id"]]
        assert "Patient" in fhir.capabilities().describe()
