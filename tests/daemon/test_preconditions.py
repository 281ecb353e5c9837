"""Every effect's reason is checked again when it is performed: consent withdrawn while a
referral waits in the outbox (the provider unreachable) means nothing about the person leaves."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Loop, quick_client
from .loop_data import CONCEPT, all_of, practice_record, put_all

pytestmark = pytest.mark.integration

CONSENT_OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation", "id": "consent1", "status": "final",
    "code": {"coding": [{"system": CONCEPT, "code": "consent-share-provider"}]},
    "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-10-14",
}  # fmt: skip


def _provider_down(loop: Loop) -> str:
    """Point the practice at a provider address nobody answers; returns the working config."""
    working = loop.config_path.read_text()
    loop.config_path.write_text(working.replace(loop.provider, "http://127.0.0.1:9"))
    return working


def _withdraw_consent_in_the_answer(loop: Loop) -> None:
    """The template answer is amended: the consent item is removed, the referral stays."""
    review = httpx.get(f"{loop.gp}/QuestionnaireResponse/qr1", timeout=10).json()
    items = [i for i in review["item"] if i["linkId"] != "consent"]
    put_all(loop.gp, [{**review, "item": items}])


def _consent_entered_in_error(loop: Loop) -> None:
    """The separate consent record is marked entered-in-error."""
    put_all(loop.gp, [{**CONSENT_OBSERVATION, "status": "entered-in-error"}])


@pytest.mark.parametrize(
    ("separate_consent", "withdraw"),
    [(False, _withdraw_consent_in_the_answer), (True, _consent_entered_in_error)],
    ids=["template-answer-amended", "consent-entered-in-error"],
)
def test_consent_withdrawn_while_the_referral_waits_stops_it_leaving(
    any_loop: Loop, separate_consent: bool, withdraw: Any
) -> None:
    loop = any_loop
    record = practice_record(1, without_consent=frozenset({1}) if separate_consent else frozenset())
    put_all(loop.gp, record + ([CONSENT_OBSERVATION] if separate_consent else []))
    working = _provider_down(loop)
    first = loop.sync(client_factory=quick_client)
    assert first.summary["referrals_queued"] == 1 and loop.state().backlog() == 1

    withdraw(loop)
    loop.config_path.write_text(working)
    second = loop.sync()

    assert second.status == "ok", second.error
    assert second.summary["referrals_sent"] == 0
    assert second.summary["effects_cancelled"] == 1
    assert loop.state().backlog() == 0
    assert all_of(loop.provider, "ServiceRequest") == []
    assert all_of(loop.provider, "Patient") == []
    cancelled = [r for r in loop.state().audit_records() if r["action"] == "effect-cancelled"]
    assert [r["entity"] for r in cancelled] == ["QuestionnaireResponse/qr1"]
    assert '"reason": "no-consent"' in cancelled[0]["detail"]


def test_a_referral_cancelled_for_consent_is_sent_once_consent_is_given_again(loop: Loop) -> None:
    put_all(loop.gp, practice_record(1))
    working = _provider_down(loop)
    loop.sync(client_factory=quick_client)
    _withdraw_consent_in_the_answer(loop)
    loop.config_path.write_text(working)
    assert loop.sync().summary["effects_cancelled"] == 1

    put_all(loop.gp, [CONSENT_OBSERVATION])
    again = loop.sync()

    assert again.status == "ok", again.error
    assert again.summary["referrals_sent"] == 1
    assert len(all_of(loop.provider, "ServiceRequest")) == 1
