"""A provider's whole loop against a local FHIR engine (node tests/fhir_engine/server.mjs 8080).

Run: python examples/provider_quickstart.py [http://127.0.0.1:8080/fhir]
Invented person, NHS test number only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

from ltcbridge.fhirclient import FhirClient
from ltcbridge.provider import ProviderClient, Reading, ReferralDetails, referral_bundle
from ltcbridge.provider.directory import Directory, make_listing

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/fhir"


async def main() -> None:
    async with FhirClient(BASE) as fhir:
        directory = Directory(fhir)
        await directory.register(
            make_listing(
                "Paws Dog Walks", "paws@example.org", "physical activity", "Exeter", ods="PRV01"
            )
        )
        performer = await directory.route_referral(["need-physical-activity"], "Exeter")
        # What the practice daemon pushes (docs/referral-loop.md section 1):
        bundle = referral_bundle(
            ReferralDetails(
                referral_id="A81001-Observation-17",
                practice_ods="A81001",
                provider=performer,
                nhs_number="9990000018",
                authored_on="2026-10-03",
                needs=["need-physical-activity"],
                support_level="support-high",
                goals=[("A81001-Goal-5", "Walk to the shops")],
            )
        )
        provider = ProviderClient(fhir, "PRV01")
        await provider.receive_bundle(bundle)
        referral = (await provider.incoming())[0]
        print("needs:", referral.needs, "goals:", referral.goals)
        referral = await provider.accept(referral)
        await provider.record_star(
            referral, Reading("star-wellbeing", dt.date(2026, 10, 10), {"wb-lifestyle": 3}), "r1"
        )
        await provider.record_attendance(referral, "session-1", dt.date(2026, 10, 17))
        await provider.record_star(
            referral, Reading("star-wellbeing", dt.date(2027, 1, 9), {"wb-lifestyle": 7}), "r2"
        )
        referral = await provider.discharge(referral, "Walks twice a week with the group")
        report = await provider.outcomes(referral)
        distance = report.distance("star-wellbeing")
        print("to practice", report.addressed_to, "status", report.status)
        print("distance travelled:", distance.change if distance else None)


if __name__ == "__main__":
    asyncio.run(main())
