"""A care-planning entry deleted at the GP is followed through _history: it no longer counts,
and a referral it made is not sent even when consent arrives later."""

from __future__ import annotations

import httpx
import pytest

from ltcbridge.daemon.check import run_checks
from ltcbridge.provider import SyncProviderClient

from .conftest import Loop, quick_client
from .loop_data import CONCEPT, PROVIDER, all_of, practice_record, put_all

pytestmark = pytest.mark.integration


def test_a_deleted_referral_entry_is_not_sent_when_consent_arrives(loop: Loop) -> None:
    put_all(loop.gp, practice_record(1, without_consent=frozenset({1})))
    first = loop.sync()
    assert first.status == "ok", first.error
    assert first.summary["referrals_without_consent"] == 1

    httpx.delete(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).raise_for_status()
    consent = {
        "resourceType": "Observation", "id": "consent1", "status": "final",
        "code": {"coding": [{"system": CONCEPT, "code": "consent-share-provider"}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-10-20",
    }  # fmt: skip
    put_all(loop.gp, [consent])
    second = loop.sync()

    assert second.status == "ok", second.error
    assert second.summary["gp_deleted"] == 1
    assert all_of(loop.provider, "ServiceRequest") == []
    assert loop.state().open_referrals("referral-lead-provider", "queued", "no-consent") == []


def test_a_referral_retracted_after_sending_is_withdrawn_at_the_provider(loop: Loop) -> None:
    put_all(loop.gp, practice_record(2))
    first = loop.sync()
    assert first.status == "ok", first.error
    assert first.summary["referrals_sent"] == 2
    assert {r["status"] for r in all_of(loop.provider, "ServiceRequest")} == {"active"}

    review = httpx.get(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).json()
    put_all(loop.gp, [{**review, "status": "entered-in-error"}])
    second = loop.sync()
    third = loop.sync()  # nothing more to do: withdrawn once

    assert second.status == "ok", second.error
    assert second.summary["referrals_withdrawn"] == 1
    assert third.summary["referrals_withdrawn"] == 0 and third.summary["referrals_sent"] == 0
    requests = all_of(loop.provider, "ServiceRequest")
    assert sorted(r["status"] for r in requests) == ["active", "revoked"]  # one each, no copy
    tasks = {t["status"]: t for t in all_of(loop.provider, "Task")}
    assert set(tasks) == {"requested", "cancelled"}
    assert "recorded in error" in tasks["cancelled"]["statusReason"]["text"]
    with SyncProviderClient(loop.provider, PROVIDER) as provider:
        withdrawn = provider.withdrawn()
    assert [r.task["status"] for r in withdrawn] == ["cancelled"]
    actions = [row["action"] for row in loop.state().audit_records()]
    assert actions.count("referral-withdrawn") == 1
    assert actions.count("referral-withdrawal-sent") == 1


def test_a_referral_retracted_before_it_could_be_sent_never_leaves(loop: Loop) -> None:
    put_all(loop.gp, practice_record(1))
    working = loop.config_path.read_text()
    loop.config_path.write_text(working.replace(loop.provider, "http://127.0.0.1:9"))
    first = loop.sync(
        client_factory=quick_client
    )  # the provider cannot be reached: the referral waits in the outbox
    assert first.summary["referrals_queued"] == 1 and loop.state().backlog() == 1

    review = httpx.get(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).json()
    put_all(loop.gp, [{**review, "status": "entered-in-error"}])
    loop.config_path.write_text(working)
    second = loop.sync()

    assert second.status == "ok", second.error
    assert second.summary["referrals_withdrawn"] == 1
    assert second.summary["referrals_sent"] == 0 and loop.state().backlog() == 0
    assert all_of(loop.provider, "ServiceRequest") == []
    reasons = [row["detail"] for row in loop.state().audit_records()
               if row["action"] == "referral-withdrawn"]  # fmt: skip
    assert len(reasons) == 1 and "before sending" in reasons[0]


def test_a_withdrawn_referral_whose_entry_is_reinstated_is_sent_again_and_can_be_withdrawn_again(
    loop: Loop,
) -> None:
    """Entered in error, then restored at the GP: the provider's request and task become active
    again (the same ones: no copy); retracted once more, they are withdrawn once more."""
    put_all(loop.gp, practice_record(2))
    assert loop.sync().summary["referrals_sent"] == 2
    review = httpx.get(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).json()
    put_all(loop.gp, [{**review, "status": "entered-in-error"}])
    assert loop.sync().summary["referrals_withdrawn"] == 1

    put_all(loop.gp, [{**review, "status": "completed"}])
    restored = loop.sync()
    quiet = loop.sync()

    assert restored.status == "ok", restored.error
    assert restored.summary["referrals_reinstated"] == 1
    assert restored.summary["referrals_sent"] == 1
    assert quiet.summary["referrals_reinstated"] == 0 and quiet.summary["referrals_sent"] == 0
    assert sorted(r["status"] for r in all_of(loop.provider, "ServiceRequest")) == [
        "active", "active"
    ]  # fmt: skip
    assert sorted(t["status"] for t in all_of(loop.provider, "Task")) == ["requested"] * 2

    put_all(loop.gp, [{**review, "status": "entered-in-error"}])
    again = loop.sync()
    assert again.summary["referrals_withdrawn"] == 1 and again.summary["referrals_sent"] == 1
    assert sorted(r["status"] for r in all_of(loop.provider, "ServiceRequest")) == [
        "active", "revoked"
    ]  # fmt: skip
    actions = [row["action"] for row in loop.state().audit_records()]
    assert actions.count("referral-reinstated") == 1
    assert actions.count("referral-withdrawal-sent") == 2


def test_deletions_are_followed_on_a_server_without_type_level_history(any_loop: Loop) -> None:
    """History is optional in R4: without it the state's ids are reconciled with the server's,
    and no cycle fails for it."""
    loop = any_loop
    put_all(loop.gp, practice_record(2, without_consent=frozenset({1, 2})))
    assert loop.sync().status == "ok"

    httpx.delete(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).raise_for_status()
    second = loop.sync()
    third = loop.sync()

    assert second.status == "ok", second.error
    assert second.summary["gp_deleted"] == 1
    assert third.status == "ok", third.error
    assert third.summary["gp_deleted"] == 0
    open_ones = loop.state().open_referrals("referral-lead-provider", "queued", "no-consent")
    assert [e.source for e in open_ones] == []
    retracted = (
        loop.state()
        .db.execute("SELECT resource_type || '/' || id FROM entry WHERE retracted = 1")
        .fetchall()
    )
    assert [r[0] for r in retracted] == ["QuestionnaireResponse/qr1"]
    has_history = "history-type" in httpx.get(f"{loop.gp}/metadata", timeout=10).text
    assert second.summary["gp_deletion_method"] == ("history" if has_history else "reconcile")


def test_check_says_which_way_deletions_are_followed(any_loop: Loop) -> None:
    rows = {row.thing: row for row in run_checks(any_loop.config)}
    has_history = "history-type" in httpx.get(f"{any_loop.gp}/metadata", timeout=10).text
    expected = "type-level _history" if has_history else "which of the entries held still exist"
    assert expected in rows["GP deletions"].detail
    assert all(row.status != "problem" for row in rows.values())
