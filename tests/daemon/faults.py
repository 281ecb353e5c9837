"""Ordinary faults at a rate, in front of real engines; shared by the tests and
bench/chaos_daemon.py (``--faults``).

``FaultyNetwork`` stands between the daemon's clients and the engines (it wraps httpx's
transport, as a proxy would stand on the wire): each request, with probability ``rate``, meets
one of the faults real servers and networks produce: 503 or 429 (not processed), a connection
dropped before the request left or after the server acted, an answer cut short. ``scenario``
runs the referral loop through it, with consent withdrawn from some people while their
referrals wait in the outbox, and counts what reached each server.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ltcbridge.daemon.clients import make_client
from ltcbridge.daemon.config import EndpointConfig, load_config
from ltcbridge.daemon.cycle import CycleResult, Syncer
from ltcbridge.daemon.effects import Pacing
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import FhirClient, RetryPolicy

from .loop_data import (
    OUTCOME,
    PRACTICE,
    REFERRAL,
    identifier_counts,
    practice_record,
    provider_outcomes,
    put_all,
)

FAULTS = ("503", "429", "drop-before", "drop-after", "truncated")
#: The daemon's own retry schedule, with the pauses shortened so a run takes seconds.
PATIENT_RETRY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=0.01, budget=30)
Override = Callable[[httpx.Request], httpx.Response | None]


async def _no_pause(seconds: float) -> None:
    """Effect retries without waiting (tests and the bench count cycles, not seconds)."""


class FaultyNetwork(httpx.AsyncBaseTransport):
    """The real network with faults at ``rate`` (seeded: a run can be repeated), and an
    optional ``override`` that answers chosen requests itself (a persistent fault)."""

    def __init__(self, rate: float, rng: random.Random, override: Override | None = None) -> None:
        self.real = httpx.AsyncHTTPTransport()
        self.rate, self.rng, self.override = rate, rng, override
        self.injected: Counter[str] = Counter()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.override(request) if self.override else None
        if answer is not None:
            return answer
        fault = self.rng.choice(FAULTS) if self.rng.random() < self.rate else None
        if fault:
            self.injected[fault] += 1
        if fault in ("503", "429"):
            return httpx.Response(int(fault), headers={"Retry-After": "0"}, request=request)
        if fault == "drop-before":
            raise httpx.ReadError("connection reset by peer", request=request)
        response = await self.real.handle_async_request(request)
        body = await response.aread()
        if fault == "drop-after":  # the server acted; its answer is lost
            raise httpx.ReadError("connection reset by peer", request=request)
        if fault == "truncated" and len(body) > 1:
            headers = [(k, v) for k, v in response.headers.items() if k != "content-length"]
            return httpx.Response(response.status_code, headers=headers,
                                  content=body[: len(body) // 2], request=request)  # fmt: skip
        return httpx.Response(response.status_code, headers=response.headers.raw,
                              content=body, request=request)  # fmt: skip

    async def aclose(self) -> None:
        await self.real.aclose()


@dataclass
class Faults:
    """Makes the daemon's clients through one ``FaultyNetwork`` per endpoint."""

    rate: float
    seed: int = 7
    overrides: dict[str, Override] = field(default_factory=dict)
    networks: list[FaultyNetwork] = field(default_factory=list)

    def client(self, endpoint: EndpointConfig, **kwargs: Any) -> FhirClient:
        rng = random.Random(f"{self.seed}-{endpoint.name}-{len(self.networks)}")
        network = FaultyNetwork(self.rate, rng, self.overrides.get(endpoint.name))
        self.networks.append(network)
        kwargs.setdefault("retry", PATIENT_RETRY)
        return make_client(endpoint, transport=network, **kwargs)

    def injected(self) -> Counter[str]:
        return sum((n.injected for n in self.networks), Counter())

    def requests(self) -> int:
        return sum(n.requests for n in self.networks)


def cycle(config_path: Path, factory: Callable[..., FhirClient]) -> CycleResult:
    """One cycle on a freshly opened store, effects retried without pauses."""
    config = load_config(config_path)
    state = StateStore(config.state_path)
    try:
        syncer = Syncer(config, state, client_factory=factory, pacing=Pacing(sleep=_no_pause))
        return asyncio.run(syncer.run_once())
    finally:
        state.close()


def drain(config_path: Path, faults: Faults, done: Callable[[], bool], limit: int) -> int:
    """Cycles through the faults until ``done()``; how many it took (``limit`` + 1: never)."""
    for n in range(1, limit + 1):
        cycle(config_path, faults.client)
        if done():
            return n
    return limit + 1


@dataclass
class Outcome:
    """What a fault run left on the two servers, and how long it took."""

    referral_cycles: int
    writeback_cycles: int
    referrals: dict[str, int]
    writebacks: dict[str, int]
    leaked: list[str]
    expected_referrals: set[str]
    set_aside: int
    injected: Counter[str]
    requests: int

    @property
    def duplicates(self) -> int:
        counts = [*self.referrals.values(), *self.writebacks.values()]
        return sum(1 for c in counts if c > 1)


def _withdraw_consent(gp: str, qid: str) -> None:
    """The template answer amended: the consent item removed, the referral kept."""
    review = httpx.get(f"{gp}/QuestionnaireResponse/{qid}", timeout=30).json()
    put_all(gp, [{**review, "item": [i for i in review["item"] if i["linkId"] != "consent"]}])


def scenario(
    gp: str, provider: str, config_path: Path, people: int, rate: float, seed: int, limit: int
) -> Outcome:
    """Referrals decided while the provider is down; consent withdrawn from every 4th of them
    while they wait; then everything through the faults until the backlog drains; then the
    provider's outcomes written back through the faults."""
    no_consent = frozenset(range(5, people + 1, 5))
    withdrawn = frozenset(n for n in range(4, people + 1, 4) if n not in no_consent)
    put_all(gp, practice_record(people, without_consent=no_consent))
    working = config_path.read_text()
    config_path.write_text(working.replace(provider, "http://127.0.0.1:9"))
    cycle(config_path, Faults(0.0, seed).client)  # the provider unreachable: all wait
    config_path.write_text(working)
    for n in sorted(withdrawn):
        _withdraw_consent(gp, f"qr{n}")
    faults = Faults(rate, seed)
    state_path = load_config(config_path).state_path

    def backlog_empty() -> bool:
        state = StateStore(state_path)
        try:
            return state.backlog() == 0
        finally:
            state.close()

    referral_cycles = drain(config_path, faults, backlog_empty, limit)
    written = provider_outcomes(provider)
    writeback_cycles = drain(config_path, faults, backlog_empty, limit)
    expected = {
        f"{PRACTICE}-QuestionnaireResponse-qr{n}"
        for n in range(1, people + 1)
        if n not in no_consent | withdrawn
    }
    referrals = identifier_counts(provider, "ServiceRequest", REFERRAL)
    systems = {
        "Observation": OUTCOME,
        "Encounter": OUTCOME,
        "Task": REFERRAL,
        "Provenance": OUTCOME,
    }
    writebacks = {
        f"{kind}:{value}": count
        for kind, system in systems.items()
        for value, count in identifier_counts(gp, kind, system).items()
    }
    state = StateStore(state_path)
    set_aside = len(state.set_aside_effects())
    state.close()
    assert written == len(expected)
    return Outcome(
        referral_cycles, writeback_cycles, referrals, writebacks,
        sorted(set(referrals) - expected), expected, set_aside, faults.injected(),
        faults.requests(),
    )  # fmt: skip
