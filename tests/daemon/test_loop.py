"""The whole referral loop between two real FHIR engines: GP -> provider -> GP."""

from __future__ import annotations

import json

import pytest

from .conftest import Loop
from .loop_data import (
    NHS,
    OUTCOME,
    PRACTICE,
    REFERRAL,
    TEMPLATE,
    all_of,
    identifier_counts,
    nhs_number,
    practice_record,
    provider_outcomes,
    put_all,
)

pytestmark = pytest.mark.integration
GOAL = "https://ltcbridge.github.io/fhir/Id/goal"


def test_referral_goes_out_with_consent_and_outcomes_come_back(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2, without_consent=frozenset({2})))

    first = loop.sync()

    assert first.status == "ok", first.error
    assert identifier_counts(loop.provider, "ServiceRequest", REFERRAL) == {
        f"{PRACTICE}-QuestionnaireResponse-qr1": 1
    }
    request = all_of(loop.provider, "ServiceRequest")[0]
    assert request["status"] == "active" and request["intent"] == "order"
    reasons = {c["coding"][0]["code"] for c in request["reasonCode"]}
    assert reasons == {"need-physical-activity", "need-befriending"}
    assert request["orderDetail"][0]["coding"][0]["code"] == "support-moderate"
    assert request["requester"]["identifier"]["value"] == PRACTICE
    patients = all_of(loop.provider, "Patient")
    assert [p["identifier"][0]["value"] for p in patients] == [nhs_number(1)]
    assert request["subject"]["reference"] == f"Patient/{patients[0]['id']}"
    assert identifier_counts(loop.provider, "Task", REFERRAL) == {
        f"{PRACTICE}-QuestionnaireResponse-qr1-task": 1
    }
    goals = all_of(loop.provider, "Goal")
    assert [g["description"]["text"] for g in goals] == ["Walk to the shops twice a week"]
    assert goals[0]["identifier"][0] == {
        "system": GOAL, "value": f"{PRACTICE}-QuestionnaireResponse-qr1-1"
    }  # fmt: skip
    assert request["supportingInfo"] == [{"reference": f"Goal/{goals[0]['id']}"}]

    state = loop.state()
    not_sent = [r for r in state.audit_records() if r["action"] == "referral-not-sent"]
    assert [(r["entity"], json.loads(r["detail"])["reason"]) for r in not_sent] == [
        ("QuestionnaireResponse/qr2", "no-consent")
    ]
    sent = [r["entity"] for r in state.audit_records() if r["action"] == "referral-sent"]
    assert sent == ["QuestionnaireResponse/qr1"]
    state.close()

    assert provider_outcomes(loop.provider) == 1
    second = loop.sync()
    assert second.status == "ok", second.error
    assert second.summary["written_back"] == 3  # Star reading, attendance, accepted Task

    stars = [o for o in all_of(loop.gp, "Observation") if o.get("identifier")]
    assert len(stars) == 1
    star = stars[0]
    assert star["subject"] == {"reference": "Patient/p1"}
    assert [c["valueInteger"] for c in star["component"]] == [4] * 8
    assert star["code"]["coding"][0]["code"] == "star-wellbeing"
    assert star["identifier"][0]["system"] == OUTCOME
    visits = all_of(loop.gp, "Encounter")
    assert [v["subject"] for v in visits] == [{"reference": "Patient/p1"}]
    tasks = all_of(loop.gp, "Task")
    assert [(t["status"], t["focus"]["reference"]) for t in tasks] == [
        ("accepted", "QuestionnaireResponse/qr1")
    ]
    provenance_targets = sorted(
        p["target"][0]["reference"].split("/")[0] for p in all_of(loop.gp, "Provenance")
    )
    assert provenance_targets == ["Encounter", "Observation", "Task"]
    for provenance in all_of(loop.gp, "Provenance"):
        assert provenance["agent"][0]["who"]["identifier"]["value"] == "NTP001"

    third = loop.sync()  # nothing new: nothing written twice
    assert third.summary["written_back"] == 0 and third.summary["referrals_sent"] == 0
    assert len(all_of(loop.gp, "Provenance")) == 3
    assert len(all_of(loop.provider, "ServiceRequest")) == 1


def test_without_consent_nothing_about_the_person_reaches_the_provider(loop: Loop) -> None:
    put_all(loop.gp, practice_record(3, without_consent=frozenset({1, 2, 3})))

    result = loop.sync()

    assert result.status == "ok", result.error
    for resource_type in ("Patient", "ServiceRequest", "Task", "Goal"):
        assert all_of(loop.provider, resource_type) == []
    state = loop.state()
    reasons = [r["entity"] for r in state.audit_records() if r["action"] == "referral-not-sent"]
    assert reasons == [f"QuestionnaireResponse/qr{n}" for n in (1, 2, 3)]
    quiet = loop.sync()  # no new consent anywhere: refusals are not even re-checked
    assert quiet.summary["referrals_without_consent"] == 0
    again = [r for r in state.audit_records() if r["action"] == "referral-not-sent"]
    assert len(again) == 3
    for row in state.audit_records():  # the audit names resources, never NHS numbers
        assert not any(nhs_number(n) in json.dumps(dict(row)) for n in (1, 2, 3))
    state.close()
    assert NHS  # the provider never saw the identifier system either: no Patient at all


def test_consent_recorded_later_releases_the_referral_on_the_next_cycle(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2, without_consent=frozenset({1, 2})))
    assert loop.sync().summary["referrals_without_consent"] == 2
    consent = {
        "resourceType": "Observation", "id": "consent1", "status": "final",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-10-21",
        "code": {"coding": [{"system": TEMPLATE, "code": "CONSENT-NTP"}]},
    }  # fmt: skip
    put_all(loop.gp, [consent])

    later = loop.sync()

    assert later.summary["referrals_sent"] == 1
    assert later.summary["referrals_without_consent"] == 1  # p2 re-checked, still no consent
    assert list(identifier_counts(loop.provider, "ServiceRequest", REFERRAL)) == [
        f"{PRACTICE}-QuestionnaireResponse-qr1"
    ]
