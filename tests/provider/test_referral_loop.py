"""The provider library against the real FHIR engine: referrals in, outcomes out, idempotently."""

from __future__ import annotations

import datetime as dt

import pytest
from provider_data import count, history_total

from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider import (
    ProviderClient,
    Reading,
    ReferralDetails,
    ReferralError,
    StarReadingError,
    SyncProviderClient,
    referral_bundle,
)
from ltcbridge.provider.identifiers import ods_reference

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

PROVIDER = "PRV01"


def details(n: int = 17, practice: str = "A81001", nhs: str = "9990000018") -> ReferralDetails:
    return ReferralDetails(
        referral_id=f"{practice}-Observation-{n}",
        practice_ods=practice,
        provider=ods_reference(PROVIDER),
        nhs_number=nhs,
        authored_on="2026-10-03",
        needs=["need-physical-activity", "need-befriending"],
        support_level="support-high",
        goals=[(f"{practice}-Goal-{n}", "Walk to the shops")],
        demographics={"name": [{"family": "Invented", "given": ["Ann"]}], "gender": "female"},
    )


def fixed_now() -> str:
    return "2026-10-05T09:00:00+00:00"


async def test_pushed_referral_is_stored_once_with_the_prsb_groups(engine: str) -> None:
    async with FhirClient(engine) as fhir:
        provider = ProviderClient(fhir, PROVIDER, now=fixed_now)
        bundle = referral_bundle(details())
        first = await provider.receive_bundle(bundle)
        versions = history_total(engine)
        again = await provider.receive_bundle(bundle)
    assert [r.referral_id for r in first] == [r.referral_id for r in again]
    assert count(engine, "ServiceRequest") == 1 and count(engine, "Patient") == 1
    assert count(engine, "Task") == 1 and count(engine, "Goal") == 1
    assert history_total(engine) - versions <= 4  # a resend updates in place, never adds
    referral = first[0]
    assert referral.needs == ("need-physical-activity", "need-befriending")
    assert referral.support_level == "support-high"
    assert referral.goals == ("Walk to the shops",)
    assert referral.demographics["name"][0]["family"] == "Invented"
    assert referral.requester_ods == "A81001" and referral.nhs_number == "9990000018"


async def test_a_bundle_carrying_more_than_a_referral_is_refused(engine: str) -> None:
    bundle = referral_bundle(details())
    bundle["entry"].append(
        {
            "resource": {"resourceType": "Condition", "code": {"text": "extra"}},
            "request": {"method": "POST", "url": "Condition"},
        }
    )
    async with FhirClient(engine) as fhir:
        with pytest.raises(ReferralError, match="Condition"):
            await ProviderClient(fhir, PROVIDER).receive_bundle(bundle)
    assert count(engine, "Patient") == 0


async def test_incoming_lists_only_this_providers_requested_referrals(engine: str) -> None:
    other = details(18)
    other = ReferralDetails(**{**other.__dict__, "provider": ods_reference("OTHER")})
    async with FhirClient(engine) as fhir:
        await fhir.transaction(referral_bundle(details())["entry"])
        await fhir.transaction(referral_bundle(other)["entry"])
        provider = ProviderClient(fhir, PROVIDER, now=fixed_now)
        incoming = await provider.incoming()
        assert [r.referral_id for r in incoming] == ["A81001-Observation-17"]
        accepted = await provider.accept(incoming[0])
        assert await provider.incoming() == []
    assert accepted.status == "accepted"
    assert accepted.task["lastModified"] == fixed_now()


async def test_decline_needs_a_reason_and_records_it(engine: str) -> None:
    async with FhirClient(engine) as fhir:
        await fhir.transaction(referral_bundle(details())["entry"])
        provider = ProviderClient(fhir, PROVIDER, now=fixed_now)
        referral = (await provider.incoming())[0]
        with pytest.raises(ReferralError, match="say why"):
            await provider.decline(referral, "  ")
        declined = await provider.decline(referral, "Group is full until spring")
        stored = await provider.referral(referral.referral_id)
        with pytest.raises(ReferralError, match="already rejected"):
            await provider.accept(stored)
    assert declined.status == stored.status == "rejected"
    assert stored.task["statusReason"]["text"] == "Group is full until spring"


async def test_outcomes_recorded_once_and_reported_to_the_referring_practice_only(
    engine: str,
) -> None:
    async with FhirClient(engine) as fhir:
        await fhir.transaction(referral_bundle(details())["entry"])
        provider = ProviderClient(fhir, PROVIDER, now=fixed_now)
        referral = await provider.accept((await provider.incoming())[0])
        baseline = Reading(
            "star-wellbeing", dt.date(2026, 10, 10), {"wb-lifestyle": 3, "wb-money": 5}
        )
        review = Reading("star-wellbeing", dt.date(2027, 1, 10), {"wb-lifestyle": 7, "wb-money": 4})
        for _ in range(2):  # a retry writes nothing new
            await provider.record_star(referral, review, "reading-2")
            await provider.record_star(referral, baseline, "reading-1")
            await provider.record_attendance(referral, "session-1", dt.date(2026, 10, 12))
        with pytest.raises(StarReadingError, match="outside 1 to 10"):
            bad = Reading("star-wellbeing", dt.date(2026, 11, 1), {"wb-money": 11})
            await provider.record_star(referral, bad, "reading-3")
        done = await provider.discharge(referral, "Walks twice a week")
        again = await provider.discharge(done, "ignored: already discharged")
        report = await provider.outcomes(again)
        mine = await provider.outcomes_for_practice("A81001")
        theirs = await provider.outcomes_for_practice("B82002")
        request = await fhir.read("ServiceRequest", referral.service_request["id"])
    assert count(engine, "Observation") == 2 and count(engine, "Encounter") == 1
    assert report.addressed_to == "A81001" and report.status == "completed"
    assert report.summary == "Walks twice a week" and request["status"] == "completed"
    assert [r.date for r in report.readings] == [baseline.date, review.date]
    assert report.attendances == [dt.date(2026, 10, 12)]
    distance = report.distance("star-wellbeing")
    assert distance is not None and distance.change == {"wb-lifestyle": 4, "wb-money": -1}
    assert distance.overall == 3
    assert [r.referral_id for r in mine] == ["A81001-Observation-17"] and theirs == []


def test_sync_wrapper_runs_the_same_calls(engine: str) -> None:
    with SyncProviderClient(engine, PROVIDER) as provider:
        stored = provider.receive_bundle(referral_bundle(details()))
        assert provider.incoming()[0].referral_id == stored[0].referral_id
