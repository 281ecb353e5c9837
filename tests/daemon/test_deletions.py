"""A care-planning entry deleted at the GP is followed through _history: it no longer counts,
and a referral it made is not sent even when consent arrives later."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Loop
from .loop_data import CONCEPT, all_of, practice_record, put_all

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
