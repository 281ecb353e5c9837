"""Deciding referrals and building the referral Bundle (docs/referral-loop.md section 1).

A referral leaves the practice only when the person's current entries include consent to share
with the provider. The decision and the effect are made in one transaction: the Bundle goes into
the outbox (sent after commit), or the audit log records that nothing was sent and why.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM, CONSENT, GOAL, NEED_DOMAINS, REFERRAL, SUPPORT_LEVELS
from ltcbridge.daemon.config import EndpointConfig
from ltcbridge.daemon.effects import Guard
from ltcbridge.daemon.identifiers import (
    GOAL_SYSTEM,
    REFERRAL_SYSTEM,
    SNOMED,
    SOCIAL_PRESCRIBING_REFERRAL,
    TASK_SUFFIX,
    goal_value,
    identifier,
    referral_value,
    stable_urn,
)
from ltcbridge.daemon.routing import Router
from ltcbridge.daemon.state import Effect, StateStore, StoredEntry
from ltcbridge.fhirclient import upsert_entry
from ltcbridge.uris import NHS_NUMBER, ODS_CODE

SENT, NO_CONSENT, NO_PATIENT, NO_PROVIDER = "queued", "no-consent", "no-patient", "no-provider"
WITHDRAWN = "withdrawn"
NOT_REFERRED = "not-referred"  # the entry no longer asks for a referral (answer amended)
DECISION_CHANGED = "decision-changed"
WITHDRAWAL_SUFFIX = "-withdrawal"
AGAIN_SUFFIX = "-again-"  # outbox keys of a referral sent again after a reinstatement
WITHDRAWN_REASON = "Withdrawn by the practice: the referral was recorded in error at the GP"
_PATIENT_FIELDS = ("name", "birthDate", "gender", "telecom", "address")


@dataclass(frozen=True, slots=True)
class Decisions:
    """What one planning pass decided (counts only: safe to log)."""

    queued: int = 0
    no_consent: int = 0
    no_patient: int = 0
    no_provider: int = 0


def plan_referrals(
    state: StateStore, practice_ods: str, router: Router, batch: int = 200
) -> Decisions:
    """Decide every referral entry not yet queued; one transaction per ``batch`` referrals."""
    referrals = state.open_referrals(REFERRAL, SENT, NO_CONSENT)
    counts = {SENT: 0, NO_CONSENT: 0, NO_PATIENT: 0, NO_PROVIDER: 0}
    for start in range(0, len(referrals), batch):
        with state.unit():
            for entry in referrals[start : start + batch]:
                counts[_decide(state, practice_ods, router, entry)] += 1
    return Decisions(counts[SENT], counts[NO_CONSENT], counts[NO_PATIENT], counts[NO_PROVIDER])


def _blocked(state: StateStore, entry: StoredEntry) -> str | None:
    """Why nothing about this person may leave now (None: it may): no Patient with an NHS
    number, or no current entry asserting consent. Asked when deciding and again when sending."""
    patient = state.patient(entry.subject_kind, entry.subject_value)
    if patient is None or not patient["nhs_number"]:
        return NO_PATIENT
    if not any(CONSENT in e.concepts for e in state.entries_of(patient)):
        return NO_CONSENT
    return None


def recheck_referral(state: StateStore, effect: Effect) -> str | None:
    """Why a referral waiting in the outbox may no longer leave, from the state as it is now
    (None: it may). Withdrawals always may: they carry no more than the provider has."""
    if effect.kind != "referral":
        return None
    source = effect.payload["source"]
    entry = state.entry(source)
    if entry is None or entry.retracted:
        return WITHDRAWN
    if REFERRAL not in entry.concepts:
        return NOT_REFERRED
    if state.decision(source) != SENT:
        return DECISION_CHANGED
    return _blocked(state, entry)


def cancel_referral(state: StateStore, effect: Effect, reason: str) -> None:
    """Record a referral cancelled at send time: decided again as the reason says (no consent:
    re-decided when consent is recorded; withdrawn: reinstated if the entry comes back)."""
    source = effect.payload["source"]
    if reason != DECISION_CHANGED:
        state.decide(source, reason)
    state.audit(
        "effect-cancelled", source, recipient=effect.target, referral=effect.key, reason=reason
    )


REFERRAL_GUARD = Guard(recheck_referral, cancel_referral)


def _decide(state: StateStore, practice_ods: str, router: Router, entry: StoredEntry) -> str:
    decision = _blocked(state, entry) or _queue(state, practice_ods, router, entry)
    if decision == SENT:
        return SENT
    provider = router.providers[0]
    previous = state.decision(entry.source)
    state.decide(entry.source, decision)
    if previous != decision:  # audit a non-send once, not every cycle
        state.audit(
            "referral-not-sent",
            entry.source,
            recipient=provider.ods,
            agreement=provider.agreement,
            reason=decision,
        )
    return decision


def _queue(state: StateStore, practice_ods: str, router: Router, entry: StoredEntry) -> str:
    """Put the referral in the outbox for the provider the router picks (SENT), or say that
    nobody offers these needs here (NO_PROVIDER). Only for a person who may be referred."""
    patient = state.patient(entry.subject_kind, entry.subject_value)
    if patient is None:  # _blocked said NO_PATIENT already; kept for the type checker
        return NO_PATIENT
    needs = [c for c in NEED_DOMAINS if c in _review_concepts(state, entry, patient)]
    routed = router.provider_for(needs)
    if routed is None:
        return NO_PROVIDER  # the directory has nobody offering these needs here
    bundle = referral_entries(state, practice_ods, routed, entry, patient)
    key = next_key(state, referral_value(practice_ods, entry.source))
    state.enqueue(key, "referral", routed.name, {"source": entry.source, "entries": bundle})
    state.decide(entry.source, SENT)
    return SENT


def plan_withdrawals(state: StateStore, practice_ods: str) -> int:
    """Referrals whose GP entry was retracted after the decision to send: never send one still
    waiting; withdraw one already sent (the provider's ServiceRequest revoked, Task cancelled).

    Returns how many were withdrawn. The audit log says which, and whether it had left.
    """
    withdrawn = 0
    with state.unit():
        for entry in state.retracted_referrals(SENT):
            value = referral_value(practice_ods, entry.source)
            key = latest_key(state, value)
            found = state.effect(key) if key else None
            if found is None or key is None:  # no effect without a key
                continue
            effect, status = found
            if status == "pending":
                state.cancel(key)  # never leaves
            sent = status == "done"
            if sent:
                entries = withdrawal_entries(effect.payload["entries"])
                state.enqueue(
                    next_key(state, value + WITHDRAWAL_SUFFIX),
                    "withdrawal",
                    effect.target,
                    {"source": entry.source, "entries": entries},
                )
            state.decide(entry.source, WITHDRAWN)
            state.audit(
                "referral-withdrawn",
                entry.source,
                recipient=effect.target,
                referral=value,
                reason="retracted at the GP " + ("after sending" if sent else "before sending"),
            )
            withdrawn += 1
    return withdrawn


def plan_reinstatements(state: StateStore, practice_ods: str) -> int:
    """Withdrawn referrals whose GP entry is current again (the retraction was itself undone).

    A withdrawal still waiting is cancelled: the provider never knew, and the referral stands.
    Otherwise the referral is decided again with the others (``plan_referrals``) and, if it may
    still go, sent again under the same identifiers: the provider's request and task become
    active again. Returns how many were reinstated; the audit log says which and how.
    """
    reinstated = 0
    with state.unit():
        for entry in state.current_referrals(WITHDRAWN):
            value = referral_value(practice_ods, entry.source)
            withdrawal = latest_key(state, value + WITHDRAWAL_SUFFIX)
            found = state.effect(withdrawal) if withdrawal else None
            if found is not None and found[1] == "pending":
                state.cancel(found[0].key)
                state.decide(entry.source, SENT)
                how = "before the withdrawal was sent: the referral stands"
            else:
                how = "decided again, and sent again if it still may be"
            state.audit("referral-reinstated", entry.source, referral=value, reason=how)
            reinstated += 1
    return reinstated


def latest_key(state: StateStore, base: str) -> str | None:
    """The newest outbox key of a referral (or of its withdrawal): ``base``, then
    ``base-again-1``, ``-again-2``... as it is sent again after a reinstatement."""
    used = _used_keys(state, base)
    return _key(base, used - 1) if used else None


def next_key(state: StateStore, base: str) -> str:
    """The first outbox key of ``base`` not used yet (see ``latest_key``)."""
    return _key(base, _used_keys(state, base))


def _used_keys(state: StateStore, base: str) -> int:
    """How many of ``base``'s keys the outbox holds (they are used in order)."""
    used = 0
    while state.effect(_key(base, used)) is not None:
        used += 1
    return used


def _key(base: str, n: int) -> str:
    return f"{base}{AGAIN_SUFFIX}{n}" if n else base


def withdrawal_entries(referral: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The referral's own conditional PUTs, saying it is withdrawn: the ServiceRequest revoked,
    the Task cancelled with the reason, the Goals cancelled; the Patient unchanged (the others
    refer to it within the transaction)."""
    changes: dict[str, dict[str, Any]] = {
        "ServiceRequest": {"status": "revoked"},
        "Task": {"status": "cancelled", "statusReason": {"text": WITHDRAWN_REASON}},
        "Goal": {"lifecycleStatus": "cancelled"},
    }
    return [
        {**e, "resource": {**e["resource"], **changes.get(e["resource"]["resourceType"], {})}}
        for e in referral
    ]


def _review_entries(
    state: StateStore, entry: StoredEntry, patient: sqlite3.Row
) -> list[StoredEntry]:
    """The referral entry and the person's other entries of the same clinical day: the
    care-planning review that made the referral, where its needs and support level were said."""
    day = (entry.clinical_date or "")[:10]
    same_day = [e for e in state.entries_of(patient) if (e.clinical_date or "")[:10] == day]
    return [entry, *(e for e in same_day if e.source != entry.source)]


def _review_concepts(state: StateStore, entry: StoredEntry, patient: sqlite3.Row) -> set[str]:
    return {c for e in _review_entries(state, entry, patient) for c in e.concepts}


def referral_entries(
    state: StateStore,
    practice_ods: str,
    provider: EndpointConfig,
    entry: StoredEntry,
    patient: sqlite3.Row,
) -> list[dict[str, Any]]:
    """The transaction entries: Patient, Goals, ServiceRequest, Task, each a conditional PUT.

    Needs, support level and goals come from the referral entry and the person's other entries
    of the same clinical day (the care-planning review that made the referral).
    """
    value = referral_value(practice_ods, entry.source)
    related = _review_entries(state, entry, patient)
    concepts = {c for e in related for c in e.concepts}
    patient_urn = stable_urn(value, "Patient")
    patient_ref = {"reference": patient_urn}
    practice = {"identifier": identifier(ODS_CODE, practice_ods)}
    performer = {"identifier": identifier(ODS_CODE, provider.ods or "")}
    goals = _goals(practice_ods, related, patient_ref)
    request_urn = stable_urn(value, "ServiceRequest")
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [identifier(REFERRAL_SYSTEM, value)],
        "status": "active",
        "intent": "order",
        "code": {
            "coding": [
                {"system": CONCEPT_SYSTEM, "code": REFERRAL},
                {"system": SNOMED, "code": SOCIAL_PRESCRIBING_REFERRAL},
            ]
        },
        "subject": patient_ref,
        "authoredOn": entry.clinical_date,
        "requester": practice,
        "performer": [performer],
        "reasonCode": [_concept(c) for c in NEED_DOMAINS if c in concepts],
        "orderDetail": [_concept(c) for c in SUPPORT_LEVELS if c in concepts],
        "supportingInfo": [{"reference": urn} for urn, _ in goals],
    }
    request = {k: v for k, v in request.items() if v not in ([], None)}
    task = {
        "resourceType": "Task",
        "identifier": [identifier(REFERRAL_SYSTEM, value + TASK_SUFFIX)],
        "status": "requested",
        "intent": "order",
        "focus": {"reference": request_urn},
        "for": patient_ref,
        "requester": practice,
        "owner": performer,
        "authoredOn": entry.clinical_date,
    }
    return [
        _put(patient_urn, _provider_patient(patient)),
        *(_put(urn, goal) for urn, goal in goals),
        _put(request_urn, request),
        _put(stable_urn(value, "Task"), task),
    ]


def _goals(
    practice_ods: str, related: list[StoredEntry], patient_ref: dict[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    goals = []
    for entry in related:
        if GOAL not in entry.concepts and not entry.goals:
            continue
        numbered = entry.resource_type != "Goal"
        for n, text in enumerate(entry.goals, start=1):
            value = goal_value(practice_ods, entry.source, n if numbered else None)
            goal = {
                "resourceType": "Goal",
                "identifier": [identifier(GOAL_SYSTEM, value)],
                "lifecycleStatus": "active",
                "description": {"text": text},
                "subject": patient_ref,
            }
            goals.append((stable_urn(value, "Goal"), goal))
    return goals


def _provider_patient(patient: sqlite3.Row) -> dict[str, Any]:
    """The minimum the provider needs to make contact: NHS number, name, birth date, contact."""
    raw = json.loads(patient["resource"])
    result: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [identifier(NHS_NUMBER, patient["nhs_number"])],
    }
    result.update({k: raw[k] for k in _PATIENT_FIELDS if k in raw})
    return result


def _put(urn: str, resource: dict[str, Any]) -> dict[str, Any]:
    """A conditional PUT on the resource's one business identifier, with a stable fullUrl."""
    return {"fullUrl": urn, **upsert_entry(resource)}


def _concept(code: str) -> dict[str, Any]:
    return {"coding": [{"system": CONCEPT_SYSTEM, "code": code}]}
