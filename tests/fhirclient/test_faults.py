"""Faults a real server will not produce on demand, injected with respx."""

from __future__ import annotations

from datetime import timedelta
from email.utils import formatdate

import httpx
import pytest
import respx
from fhir_testdata import patient

from ltcbridge.fhirclient import (
    BearerAuth,
    CircuitOpenError,
    FhirClient,
    FhirError,
    IncrementalState,
    InvalidEndpointError,
    RetryableHttpError,
    RetryPolicy,
)

pytestmark = pytest.mark.anyio
BASE = "https://gp.example.test/fhir"


def bundle(ids: list[str], next_url: str | None = None, stamp: str = "2025-01-01T10:00:00.000Z"):
    link = [{"relation": "next", "url": next_url}] if next_url else []
    entry = [
        {
            "resource": {
                "resourceType": "Patient",
                "id": i,
                "meta": {"versionId": "1", "lastUpdated": stamp},
            },
            "search": {"mode": "match"},
        }
        for i in ids
    ]
    return {"resourceType": "Bundle", "type": "searchset", "link": link, "entry": entry}


def client(fake_time, **kwargs) -> FhirClient:
    return FhirClient(BASE, **fake_time.client_kwargs(), **kwargs)


@respx.mock
async def test_429_retry_after_seconds_and_http_date(fake_time) -> None:
    later = formatdate(fake_time.wall + 10, usegmt=True)  # 7s after the first 3s wait
    respx.get(f"{BASE}/Patient").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": later}),
            httpx.Response(200, json=bundle(["a", "b"])),
        ]
    )
    async with client(fake_time) as fhir:
        ids = [p["id"] async for p in fhir.search("Patient")]
    assert ids == ["a", "b"]
    assert fake_time.sleeps[0] == 3.0
    assert 6.0 <= fake_time.sleeps[1] <= 7.0


@respx.mock
async def test_burst_of_503_then_relative_next_link(fake_time) -> None:
    respx.get(f"{BASE}/Patient", params={"_count": "2"}).mock(
        side_effect=[httpx.Response(503)] * 3
        + [httpx.Response(200, json=bundle(["a", "b"], "Patient?page=2"))]
    )
    respx.get(f"{BASE}/Patient", params={"page": "2"}).mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json=bundle(["c"]))]
    )
    async with client(fake_time) as fhir:
        ids = [p["id"] async for p in fhir.search("Patient", {"_count": 2})]
    assert ids == ["a", "b", "c"]
    # Exponential backoff with jitter: 0.5s, 1s, 2s bases, each cut by up to half.
    bases = [0.5, 1.0, 2.0, 0.5]
    assert all(
        base / 2 <= slept <= base for slept, base in zip(fake_time.sleeps, bases, strict=True)
    )


@respx.mock
async def test_connection_reset_mid_page_and_truncated_json(fake_time) -> None:
    page2 = f"{BASE}/Patient?page=2"
    respx.get(page2).mock(
        side_effect=[
            httpx.ReadError("connection reset by peer"),
            httpx.Response(200, content=b'{"resourceType": "Bundle", "entry": [{"reso'),
            httpx.Response(200, json=bundle(["b"])),
        ]
    )
    respx.get(f"{BASE}/Patient").mock(return_value=httpx.Response(200, json=bundle(["a"], page2)))
    async with client(fake_time) as fhir:
        ids = [p["id"] async for p in fhir.search("Patient")]
    assert ids == ["a", "b"]
    assert len(fake_time.sleeps) == 2


@respx.mock
async def test_plain_create_is_not_retried_but_conditional_create_is(fake_time) -> None:
    route = respx.post(f"{BASE}/Patient").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(503),
            httpx.Response(201, json={**patient(1), "id": "p1"}),
        ]
    )
    async with client(fake_time) as fhir:
        with pytest.raises(RetryableHttpError):
            await fhir.create(patient(1))
        assert route.call_count == 1
        result = await fhir.create_once(patient(1))
    assert result.created and route.call_count == 3
    assert route.calls[-1].request.headers["If-None-Exist"].startswith("identifier=")


@respx.mock
async def test_lost_response_on_conditional_create_does_not_duplicate(fake_time) -> None:
    """The first attempt is processed but its answer is lost; the retry finds the existing one."""
    stored: list[dict] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Exist") and stored:
            return httpx.Response(200, json=stored[0])
        stored.append({**patient(1), "id": f"p{len(stored)}"})
        if len(stored) == 1:
            raise httpx.ReadError("connection dropped after the write")
        return httpx.Response(201, json=stored[-1])

    respx.post(f"{BASE}/Patient").mock(side_effect=server)
    async with client(fake_time) as fhir:
        result = await fhir.create_once(patient(1))
    assert len(stored) == 1 and result.resource["id"] == "p0" and not result.created


@respx.mock
async def test_bearer_401_is_reported_after_one_retry(fake_time) -> None:
    route = respx.get(f"{BASE}/Patient/x").mock(return_value=httpx.Response(401))
    async with client(fake_time, auth=BearerAuth("dev")) as fhir:
        with pytest.raises(Exception, match="401"):
            await fhir.read("Patient", "x")
    assert route.call_count == 2


@respx.mock
async def test_clock_skew_on_last_updated_windows(fake_time) -> None:
    """A node with a slow clock commits a resource stamped *before* the watermark: the overlap
    catches it, and the overlap's re-deliveries are dropped, so each version arrives once."""
    calls: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params.get("_lastUpdated", ""))
        if len(calls) == 1:
            return httpx.Response(200, json=bundle(["a", "b"], stamp="2025-01-01T10:00:00.000Z"))
        late = bundle(["c"], stamp="2025-01-01T09:58:30.000Z")["entry"]  # skewed node, 90s slow
        again = bundle(["a", "b"], stamp="2025-01-01T10:00:00.000Z")["entry"]
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": again + late})

    respx.get(f"{BASE}/Patient").mock(side_effect=server)
    state = IncrementalState()
    async with client(fake_time) as fhir:
        first = [p["id"] async for p in fhir.incremental("Patient", state)]
        second = [
            p["id"] async for p in fhir.incremental("Patient", state, overlap=timedelta(minutes=2))
        ]
    assert first == ["a", "b"] and second == ["c"]
    assert calls[1] == "ge2025-01-01T09:58:00.000Z"
    restored = IncrementalState.from_json(state.to_json())
    assert restored.since == state.since and restored.seen == state.seen


@respx.mock
async def test_circuit_breaker_opens_and_says_so(fake_time) -> None:
    route = respx.get(f"{BASE}/Patient/x").mock(side_effect=httpx.ConnectError("refused"))
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    async with client(fake_time, retry=policy, breaker_threshold=5, breaker_cooldown=30) as fhir:
        for _ in range(2):
            with pytest.raises(FhirError, match=r"refused|looks down"):
                await fhir.read("Patient", "x")
        assert route.call_count == 5
        with pytest.raises(CircuitOpenError) as raised:
            await fhir.read("Patient", "x")
        assert route.call_count == 5, "an open circuit sends nothing"
        message = str(raised.value)
        assert "looks down" in message and "5 consecutive" in message and "network" in message
        fake_time.now += 31
        route.side_effect = None
        route.return_value = httpx.Response(200, json={"resourceType": "Patient", "id": "x"})
        assert (await fhir.read("Patient", "x"))["id"] == "x"


@respx.mock
async def test_retry_budget_bounds_total_time(fake_time) -> None:
    route = respx.get(f"{BASE}/Patient/x").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "100"})
    )
    async with client(fake_time, retry=RetryPolicy(budget=60)) as fhir:
        with pytest.raises(RetryableHttpError):
            await fhir.read("Patient", "x")
    assert route.call_count == 1 and fake_time.sleeps == []


@respx.mock
async def test_rate_limit_spaces_requests(fake_time) -> None:
    respx.get(f"{BASE}/Patient/x").mock(
        return_value=httpx.Response(200, json={"resourceType": "Patient", "id": "x"})
    )
    async with client(fake_time, requests_per_second=4) as fhir:
        for _ in range(3):
            await fhir.read("Patient", "x")
    assert fake_time.sleeps == [0.25, 0.25]


@pytest.mark.parametrize("base_url", ["fhir.example.org/R4", "ftp://fhir.example.org", "https://"])
def test_a_base_url_that_cannot_be_an_endpoint_is_refused_before_any_request(
    base_url: str,
) -> None:
    """No scheme, another scheme or no host: refused at once, not sent and retried as if the
    network were at fault."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    with pytest.raises(InvalidEndpointError, match="is not an http\\(s\\) URL"):
        FhirClient(base_url, transport=httpx.MockTransport(record))
    assert sent == []


@respx.mock
async def test_a_refused_search_by_nhs_number_is_reported_without_the_number(fake_time) -> None:
    """A server may echo the search it refused; the error (and so any log line) keeps what it
    objected to but no NHS number, however the server wrote it."""
    echo = (
        "Unknown modifier in subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9990000018,"
        "https://fhir.nhs.uk/Id/nhs-number|999 000 0026 (also 999-000-0034)"
    )
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "not-supported", "diagnostics": echo},
            {"severity": "error", "code": "invalid", "details": {"text": "bad 9990000042"}},
        ],
    }
    respx.get(f"{BASE}/Encounter").mock(return_value=httpx.Response(400, json=outcome))
    query = {"subject:identifier": "https://fhir.nhs.uk/Id/nhs-number|9990000018"}
    async with client(fake_time) as fhir:
        with pytest.raises(FhirError) as raised:
            async for _ in fhir.search("Encounter", query):
                pass
    message = str(raised.value)
    assert "Unknown modifier in subject:identifier" in message and "not-supported" in message
    for written in ("9990000018", "999 000 0026", "999-000-0034", "9990000042"):
        assert written not in message
    assert message.count("[NHS number removed]") == 4
