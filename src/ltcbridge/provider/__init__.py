"""The provider side of the referral loop: referrals in, outcomes out, CSV path, directory.

Provider developers start with :class:`ProviderClient` (async) or :class:`SyncProviderClient`;
see docs/provider.md for an example that runs end to end against a local FHIR engine.
"""

from ltcbridge.provider.client import ProviderClient, ReferralError, SyncProviderClient
from ltcbridge.provider.distance import DistanceTravelled, distance_travelled
from ltcbridge.provider.outcomes import OutcomeReport
from ltcbridge.provider.referral_bundle import ReferralDetails, referral_bundle
from ltcbridge.provider.referrals import Referral
from ltcbridge.provider.stars import (
    Reading,
    StarReadingError,
    check_reading,
    star_problems,
)

__all__ = [
    "DistanceTravelled",
    "OutcomeReport",
    "ProviderClient",
    "Reading",
    "Referral",
    "ReferralDetails",
    "ReferralError",
    "StarReadingError",
    "SyncProviderClient",
    "check_reading",
    "distance_travelled",
    "referral_bundle",
    "star_problems",
]
