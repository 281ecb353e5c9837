"""Performing the outbox: each effect after the commit that decided it, marked done after.

A crash between the effect and its "done" mark replays the effect on the next cycle; every
effect is a conditional write keyed on a business identifier, so the replay finds the earlier
copy instead of making a second one.

Effects are independent of each other. Before each one its reason is checked again against the
state as it is now (``Recheck``): an effect whose reason is gone is cancelled, with an audit
record, and never performed. A transient failure (5xx, 429, a dropped connection, a truncated
answer) is retried with backoff within the cycle, then in later cycles; after ``MAX_ATTEMPTS``
failed cycles the effect is set aside with its reason (status, health file, log) and the others
go on. An endpoint that cannot be reached at all stops only the effects bound for it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ltcbridge.daemon.config import EndpointConfig
from ltcbridge.daemon.identifiers import OUTCOME_SYSTEM, first_value
from ltcbridge.daemon.logs import event
from ltcbridge.daemon.pull import Stopping
from ltcbridge.daemon.state import Effect, StateStore
from ltcbridge.fhirclient import (
    CircuitOpenError,
    FhirClient,
    FhirError,
    FhirHttpError,
    FhirTransportError,
    InvalidResponseError,
    RetryableHttpError,
    RetryPolicy,
    ServerError,
    UnreachableError,
    WriteResult,
)

MAX_ATTEMPTS = 5  # failed cycles before an effect is set aside for a person
#: Tries of one effect within a cycle, and the pauses between them.
EFFECT_RETRY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0, jitter=0.5)
Sleep = Callable[[float], Awaitable[None]]
#: Why an effect may no longer be performed (None: it still may), from the state as it is now.
Recheck = Callable[[StateStore, Effect], str | None]
#: Records that an effect was cancelled (inside the caller's unit of work).
Cancel = Callable[[StateStore, Effect, str], None]


@dataclass
class EffectCounts:
    """What one pass over the outbox did (counts and endpoint names only: safe to log)."""

    done: int = 0
    refused: int = 0
    failed: int = 0
    cancelled: int = 0
    set_aside: int = 0
    unreachable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Performed:
    """The audit record of one effect performed, written in the same unit as its "done" mark."""

    action: str
    entity: str
    recipient: str | None
    agreement: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Pacing:
    """How effects are retried within a cycle (tests make the pauses instant)."""

    retry: RetryPolicy = EFFECT_RETRY
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class Guard:
    """An effect kind's precondition, and what cancelling it records."""

    recheck: Recheck
    cancel: Cancel


async def send_referrals(
    state: StateStore,
    clients: Mapping[str, FhirClient],
    providers: Mapping[str, EndpointConfig],
    should_stop: Callable[[], bool] = lambda: False,
    *,
    guard: Guard | None = None,
    pacing: Pacing | None = None,
) -> EffectCounts:
    """POST each pending referral Bundle (a transaction of conditional PUTs) to its provider,
    and each withdrawal of a referral sent before; ``guard`` re-checks each one first."""

    async def send(effect: Effect) -> Performed:
        provider = providers[effect.target]
        await clients[effect.target].transaction(effect.payload["entries"])
        return Performed(
            "referral-sent" if effect.kind == "referral" else "referral-withdrawal-sent",
            effect.payload["source"],
            provider.ods,
            provider.agreement,
            {"referral": effect.key},
        )

    effects = [*state.pending("referral"), *state.pending("withdrawal")]
    return await _perform_each(
        state, effects, send, should_stop, "referrals.sent", guard, pacing or Pacing()
    )


async def write_back(
    state: StateStore,
    gp: FhirClient,
    providers: Mapping[str, EndpointConfig],
    should_stop: Callable[[], bool] = lambda: False,
    *,
    pacing: Pacing | None = None,
) -> EffectCounts:
    """Write each pending outcome into the GP record, then its Provenance (both conditional)."""

    async def write(effect: Effect) -> Performed:
        payload = effect.payload
        written = await _write(gp, payload["mode"], payload["resource"])
        target = _reference(written, payload["resource"]["resourceType"])
        await ensure_provenance(gp, {**payload["provenance"], "target": [{"reference": target}]})
        provider = providers.get(payload["provider"])
        return Performed(
            "written-back",
            target,
            "gp",
            provider.agreement if provider else None,
            {"source": payload["source"], "outcome": effect.key},
        )

    return await _perform_each(
        state,
        state.pending("writeback"),
        write,
        should_stop,
        "gp.written_back",
        None,
        pacing or Pacing(),
    )


async def _perform_each(
    state: StateStore,
    effects: Iterable[Effect],
    perform: Callable[[Effect], Awaitable[Performed]],
    should_stop: Callable[[], bool],
    done_event: str,
    guard: Guard | None,
    pacing: Pacing,
) -> EffectCounts:
    """Perform effects one by one, each marked done and audited in one unit right after it.

    One effect's failure never holds back the others; a stop request is honoured between
    effects, never between an effect and its mark."""
    counts = EffectCounts()
    for effect in effects:
        if effect.target in counts.unreachable:
            continue  # its endpoint did not answer at all this cycle: try again next cycle
        if guard is not None and _cancelled(state, effect, guard):
            counts.cancelled += 1
            continue
        try:
            performed = await _tries(perform, effect, pacing)
        except (UnreachableError, CircuitOpenError) as exc:
            counts.unreachable[effect.target] = str(exc).splitlines()[0]  # URL, no query
            event("effect.endpoint_unreachable", level=30, target=effect.target, kind=effect.kind)
            continue
        except FhirError as exc:
            _failed(state, effect, exc, counts)
            continue
        with state.unit():
            state.mark_done(effect.key)
            state.audit(
                performed.action,
                performed.entity,
                recipient=performed.recipient,
                agreement=performed.agreement,
                **performed.detail,
            )
        counts.done += 1
        if should_stop():
            raise Stopping
    if counts.done:
        event(done_event, count=counts.done)
    return counts


def _cancelled(state: StateStore, effect: Effect, guard: Guard) -> bool:
    """Check the effect's reason against the current state; cancel it (audited) if gone."""
    with state.unit():
        reason = guard.recheck(state, effect)
        if reason is None:
            return False
        state.cancel(effect.key)
        guard.cancel(state, effect, reason)
    event("effect.cancelled", key=effect.key, kind=effect.kind, reason=reason)
    return True


async def _tries(
    perform: Callable[[Effect], Awaitable[Performed]], effect: Effect, pacing: Pacing
) -> Performed:
    """Perform one effect, again after a pause when it failed transiently. Safe because every
    effect is idempotent as a whole (conditional writes, Provenance looked for first)."""
    attempt = 1
    while True:
        try:
            return await perform(effect)
        except FhirError as exc:
            if not is_transient(exc) or attempt >= pacing.retry.max_attempts:
                raise
        await pacing.sleep(pacing.retry.backoff(attempt, pacing.rng))
        attempt += 1


def is_transient(exc: FhirError) -> bool:
    """A failure that trying again later may get past: the server busy or failing (5xx, 429),
    the connection dropped, the answer cut short. Not a refusal (4xx), not an endpoint that
    cannot be reached at all (that one is skipped for the cycle instead)."""
    if isinstance(exc, UnreachableError | CircuitOpenError):
        return False
    return isinstance(
        exc, RetryableHttpError | ServerError | FhirTransportError | InvalidResponseError
    )


async def ensure_provenance(gp: FhirClient, provenance: dict) -> None:
    """Create the Provenance unless the target already has ours (same identifier).

    R4 defines no ``identifier`` search parameter on Provenance, so a conditional create keyed
    on it is ignored by standard servers (the test engine creates a second copy). ``target`` is
    searchable; checking its Provenances for our identifier, then creating, is idempotent because
    only one ltcbridge process works on a state at a time (lock.py).
    """
    target = provenance["target"][0]["reference"]
    wanted = first_value(provenance, OUTCOME_SYSTEM)
    async for existing in gp.search("Provenance", {"target": target}):
        if first_value(existing, OUTCOME_SYSTEM) == wanted:
            return
    await gp.create(provenance)


async def _write(gp: FhirClient, mode: str, resource: dict) -> WriteResult:
    return await (gp.upsert(resource) if mode == "upsert" else gp.create_once(resource))


def _reference(result: WriteResult, resource_type: str) -> str:
    if result.resource and result.resource.get("id"):
        return f"{resource_type}/{result.resource['id']}"
    location = (result.location or "").split("/_history")[0]
    return f"{resource_type}/{location.rstrip('/').rsplit('/', 1)[-1]}"


def _reason(exc: FhirError) -> str:
    """What went wrong, without the server's words (they may quote what was sent)."""
    if isinstance(exc, FhirHttpError):
        return f"HTTP {exc.status} ({type(exc).__name__})"
    public = next(c for c in type(exc).__mro__ if not c.__name__.startswith("_"))
    return public.__name__


def _failed(state: StateStore, effect: Effect, exc: FhirError, counts: EffectCounts) -> None:
    """Count a failed cycle against this effect; set it aside after ``MAX_ATTEMPTS``."""
    reason = _reason(exc)
    with state.unit():
        attempts = state.mark_failed_attempt(effect.key, reason)
        set_aside = attempts >= MAX_ATTEMPTS
        if set_aside:
            state.set_aside(effect.key)
    refused = isinstance(exc, FhirHttpError) and 400 <= exc.status < 500
    counts.refused += refused
    counts.failed += not refused
    fields = {"key": effect.key, "kind": effect.kind, "reason": reason, "attempts": attempts}
    if set_aside:
        counts.set_aside += 1
        event("effect.set_aside", level=40, **fields)
    else:
        event("effect.refused" if refused else "effect.failed", level=30, **fields)
