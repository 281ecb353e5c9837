"""Faults a real engine will not produce on demand: a crash right after an effect reached the
server, and an endpoint that goes down mid-cycle. Injected by wrapping httpx's transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ltcbridge.daemon.clients import make_client
from ltcbridge.daemon.config import EndpointConfig
from ltcbridge.fhirclient import FhirClient

from .conftest import QUICK, Loop
from .loop_data import (
    OUTCOME,
    PRACTICE,
    REFERRAL,
    all_of,
    identifier_counts,
    practice_record,
    provider_outcomes,
    put_all,
)

pytestmark = pytest.mark.integration


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the daemon catches it."""


Rule = Callable[[httpx.Request, httpx.Response | None], None]


class FaultyTransport(httpx.AsyncBaseTransport):
    """The real network, with a rule that may raise before or after each request."""

    def __init__(self, rule: Rule) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.rule = rule

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.rule(request, None)
        response = await self.real.handle_async_request(request)
        await response.aread()
        self.rule(request, response)
        return response

    async def aclose(self) -> None:
        await self.real.aclose()


def factory(faults: dict[str, Rule]) -> Callable[..., FhirClient]:
    """Clients as the daemon makes them, with a faulty transport for the endpoints named."""

    def make(endpoint: EndpointConfig, **kwargs: Any) -> FhirClient:
        rule = faults.get(endpoint.name)
        if rule is None:
            return make_client(endpoint, **kwargs)
        kwargs.setdefault("retry", QUICK)
        return make_client(endpoint, transport=FaultyTransport(rule), **kwargs)

    return make


def crash_after_first(method: str, path_end: str) -> Rule:
    """Let the first matching request reach the server, then 'die' before the daemon sees it."""
    fired: list[bool] = []

    def rule(request: httpx.Request, response: httpx.Response | None) -> None:
        matches = request.method == method and request.url.path.rstrip("/").endswith(path_end)
        if response is not None and matches and not fired:
            fired.append(True)
            raise SimulatedCrash

    return rule


def down_from(n: int) -> Rule:
    """The endpoint answers ``n`` requests, then cannot be reached at all."""
    seen: list[int] = []

    def rule(request: httpx.Request, response: httpx.Response | None) -> None:
        if response is None:
            seen.append(1)
            if len(seen) > n:
                raise httpx.ConnectError("connection refused", request=request)

    return rule


def test_crash_after_referral_reached_provider_resends_without_duplicate(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2))
    with pytest.raises(SimulatedCrash):
        loop.sync(client_factory=factory({"lead": crash_after_first("POST", "/fhir")}))
    state = loop.state()
    assert state.backlog() == 2  # decided and committed, not yet marked done
    assert len(all_of(loop.provider, "ServiceRequest")) == 1  # one did reach the provider

    assert loop.sync().status == "ok"

    assert identifier_counts(loop.provider, "ServiceRequest", REFERRAL) == {
        f"{PRACTICE}-QuestionnaireResponse-qr1": 1,
        f"{PRACTICE}-QuestionnaireResponse-qr2": 1,
    }
    assert len(all_of(loop.provider, "Patient")) == 2
    assert state.backlog() == 0
    sent = [r["entity"] for r in state.audit_records() if r["action"] == "referral-sent"]
    assert sorted(sent) == ["QuestionnaireResponse/qr1", "QuestionnaireResponse/qr2"]
    state.close()


def test_crash_between_write_back_and_provenance_completes_once(loop: Loop) -> None:
    put_all(loop.gp, practice_record(1))
    assert loop.sync().status == "ok"
    provider_outcomes(loop.provider)
    with pytest.raises(SimulatedCrash):
        loop.sync(client_factory=factory({"gp": crash_after_first("POST", "/Observation")}))
    assert len(all_of(loop.gp, "Provenance")) == 0

    assert loop.sync().status == "ok"

    assert list(identifier_counts(loop.gp, "Observation", OUTCOME).values()) == [1]
    provenance = all_of(loop.gp, "Provenance")
    assert len(provenance) == 3
    star = next(o for o in all_of(loop.gp, "Observation") if o.get("identifier"))
    targets = {p["target"][0]["reference"] for p in provenance}
    assert f"Observation/{star['id']}" in targets


def test_gp_outage_mid_cycle_resumes_from_last_committed_point(loop: Loop) -> None:
    put_all(loop.gp, practice_record(6))
    # Patient is read first; the endpoint dies before QuestionnaireResponse (read last).
    failed = loop.sync(client_factory=factory({"gp": down_from(3)}))
    assert failed.status == "failed" and "connection refused" in (failed.error or "")
    state = loop.state()
    assert state.watermark("gp", "Patient") is not None
    assert state.watermark("gp", "QuestionnaireResponse") is None
    assert all_of(loop.provider, "ServiceRequest") == []

    resumed = loop.sync()

    assert resumed.status == "ok"
    assert resumed.summary["gp_read"] == 6  # the QuestionnaireResponses; Patients not re-read
    assert len(identifier_counts(loop.provider, "ServiceRequest", REFERRAL)) == 6
    state.close()


def test_provider_outage_keeps_referrals_in_the_outbox_until_it_is_back(loop: Loop) -> None:
    put_all(loop.gp, practice_record(3))
    failed = loop.sync(client_factory=factory({"lead": down_from(0)}))
    assert failed.status == "failed"
    state = loop.state()
    assert state.backlog() == 3
    assert not any(r["action"] == "referral-sent" for r in state.audit_records())

    assert loop.sync().status == "ok"

    assert state.backlog() == 0
    assert sorted(identifier_counts(loop.provider, "ServiceRequest", REFERRAL).values()) == [1] * 3
    state.close()


def test_crash_after_provenance_reached_gp_does_not_write_a_second(loop: Loop) -> None:
    put_all(loop.gp, practice_record(1))
    assert loop.sync().status == "ok"
    provider_outcomes(loop.provider)
    with pytest.raises(SimulatedCrash):
        loop.sync(client_factory=factory({"gp": crash_after_first("POST", "/Provenance")}))
    assert len(all_of(loop.gp, "Provenance")) == 1

    assert loop.sync().status == "ok"

    assert sorted(identifier_counts(loop.gp, "Provenance", OUTCOME).values()) == [1, 1, 1]


def test_an_unexpected_error_fails_the_cycle_without_its_message_and_the_next_one_runs(
    loop: Loop,
) -> None:
    """A bug or an answer no rule foresaw (here a client that breaks on opening) fails that
    cycle, named by type and place but never by its message, which could quote patient data;
    the daemon goes on, and the next cycle works."""
    put_all(loop.gp, practice_record(1))

    def broken(endpoint):  # type: ignore[no-untyped-def]
        raise RuntimeError("could not read 9990000018")

    failed = loop.sync(client_factory=broken)
    assert failed.status == "failed"
    assert failed.error is not None and "RuntimeError" in failed.error
    assert "9990000018" not in failed.error
    assert loop.sync().status == "ok"
