"""incoming() reads only this provider's referrals: a Task search by owner with _include, counted
at the transport against the real FHIR engine, and the fallbacks when a server cannot do that."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from provider_data import nhs_test_numbers

from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider import ProviderClient, ReferralDetails, referral_bundle
from ltcbridge.provider.identifiers import ods_reference

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

MINE, THEIRS = "PRV01", "PRV02"
ENGINE_PAGE = 20  # the engine's default _count (tests/fhir_engine/server.mjs)
OWN_REFERRALS = ENGINE_PAGE + 5  # two pages of Tasks
SERVICE = "HealthcareService/walking-group"
Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


class CountingTransport(httpx.AsyncBaseTransport):
    """The network transport, recording each request and every resource each answer carried;
    ``rewrite`` may change an answer (to play a server that cannot search by owner)."""

    def __init__(self, rewrite: Rewrite | None = None) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rewrite = rewrite
        self.requests: list[httpx.Request] = []
        self.resources: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        response = httpx.Response(response.status_code, headers=response.headers, content=body)
        if self.rewrite:
            response = self.rewrite(request, response)
        self.requests.append(request)
        if response.content:
            data = orjson.loads(response.content)
            entries = data.get("entry") or [] if data.get("resourceType") == "Bundle" else []
            self.resources += [e["resource"] for e in entries if "resource" in e] or [data]
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def reads(self) -> list[str]:
        """Requests that read one resource by id (``GET Type/id``)."""
        paths = [r.url.path for r in self.requests]
        return [path for path in paths if re.search(r"/fhir/[A-Za-z]+/[^/$]+$", path)]


def _details(n: int, provider: dict[str, Any], nhs: str) -> ReferralDetails:
    return ReferralDetails(
        referral_id=f"A81001-Observation-{n}",
        practice_ods="A81001",
        provider=provider,
        nhs_number=nhs,
        authored_on="2026-10-03",
        needs=["need-befriending"],
        goals=[(f"A81001-Goal-{n}", "Meet people")],
        demographics={"name": [{"family": f"Invented{n}"}]},
    )


async def _store_referrals(engine: str, services: int = 0) -> tuple[set[str], set[str]]:
    """OWN_REFERRALS for MINE (``services`` of them through SERVICE), five for THEIRS: the
    referral ids of MINE, and every identifier value in THEIRS' (Patient, Goal, ServiceRequest,
    Task)."""
    numbers = nhs_test_numbers(OWN_REFERRALS + 5)
    mine, theirs = set(), set()
    async with FhirClient(engine) as fhir:
        for n, nhs in enumerate(numbers):
            if n < OWN_REFERRALS:
                owner = {"reference": SERVICE} if n < services else ods_reference(MINE)
                mine.add(f"A81001-Observation-{n}")
            else:
                owner = ods_reference(THEIRS)
            entries = referral_bundle(_details(n, owner, nhs))["entry"]
            if n >= OWN_REFERRALS:
                theirs |= {i["value"] for e in entries for i in e["resource"]["identifier"]}
            await fhir.transaction(entries)
    return mine, theirs


def _nothing_of_theirs(transport: CountingTransport, theirs: set[str]) -> None:
    """No answer carried any resource of THEIRS' referrals."""
    assert transport.resources
    for resource in transport.resources:
        assert resource.get("owner", {}).get("identifier", {}).get("value") != THEIRS
        assert not {i.get("value") for i in resource.get("identifier") or ()} & theirs


async def test_incoming_reads_only_its_own_referrals(engine: str) -> None:
    mine, theirs = await _store_referrals(engine, services=3)
    transport = CountingTransport()
    async with FhirClient(engine, transport=transport) as fhir:
        provider = ProviderClient(fhir, MINE, services=(SERVICE,))
        incoming = await provider.incoming()
    assert {r.referral_id for r in incoming} == mine
    assert all(r.goals == ("Meet people",) and r.nhs_number for r in incoming)
    _nothing_of_theirs(transport, theirs)
    assert transport.reads() == []  # every ServiceRequest, Patient and Goal came with a search
    by_ods = math.ceil((OWN_REFERRALS - 3) / ENGINE_PAGE)
    expected = 1 + by_ods + 1 + 1 + 1  # metadata, Task pages by ODS, their Goals, by service, Goals
    assert len(transport.requests) == expected
    task_searches = [r.url for r in transport.requests if r.url.path.endswith("/Task")]
    assert all("owner" in str(url) for url in task_searches)


def _without_task_owner(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    if not request.url.path.endswith("/metadata"):
        return response
    statement = orjson.loads(response.content)
    for resource in statement["rest"][0]["resource"]:
        if resource["type"] == "Task":
            resource["searchParam"] = [p for p in resource["searchParam"] if p["name"] != "owner"]
    return httpx.Response(200, headers=response.headers, content=orjson.dumps(statement))


def _refusing_modifiers(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    if "owner%3Aidentifier" not in str(request.url) and "owner:identifier" not in str(request.url):
        return response
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "modifier"}],
    }
    return httpx.Response(400, json=outcome)


@pytest.mark.parametrize(
    ("rewrite", "warning"),
    [(_without_task_owner, "CapabilityStatement"), (_refusing_modifiers, "refused")],
)
async def test_a_server_that_cannot_search_by_owner_is_read_in_full_with_a_warning(
    engine: str, caplog: pytest.LogCaptureFixture, rewrite: Rewrite, warning: str
) -> None:
    mine, _ = await _store_referrals(engine)
    transport = CountingTransport(rewrite)
    with caplog.at_level(logging.WARNING, logger="ltcbridge.provider"):
        async with FhirClient(engine, transport=transport) as fhir:
            incoming = await ProviderClient(fhir, MINE).incoming()
    assert {r.referral_id for r in incoming} == mine
    assert any(warning in message for message in caplog.messages)
    assert any(
        r.url.params.get("status") == "requested" and "owner" not in str(r.url)
        for r in transport.requests
    )
