"""The ltcbridge concept codes the code itself reasons about (contract section 1).

Practice codes never appear in Python: they reach these concepts only through mappings (data).
Stars and their areas are data too (the bundled CodeSystem); only the fixed codes live here.
"""

from __future__ import annotations

CONCEPT_SYSTEM = "https://ltcbridge.github.io/fhir/CodeSystem/concept"

NEED_DOMAINS: tuple[str, ...] = (
    "need-physical-activity",
    "need-healthy-eating",
    "need-arts-for-health",
    "need-befriending",
    "need-welfare-benefits",
    "need-volunteering",
    "need-other",
)
NEED_ANY = "need-any"

SUPPORT_LEVELS: tuple[str, ...] = (
    "support-self-care",
    "support-minimal",
    "support-moderate",
    "support-high",
)

GOAL = "goal"
REFERRAL = "referral-lead-provider"
CONSENT = "consent-share-provider"
OPTOUT = "optout-secondary-use"
OPTOUT_WITHDRAWN = "optout-withdrawn"

# Concepts an entry can assert and the counter keeps, in a fixed order: the index is the
# compact integer the columnar counter stores instead of the string.
COUNTED_CONCEPTS: tuple[str, ...] = (
    *NEED_DOMAINS,
    *SUPPORT_LEVELS,
    REFERRAL,
    CONSENT,
    OPTOUT,
    OPTOUT_WITHDRAWN,
)
CONCEPT_INDEX: dict[str, int] = {code: i for i, code in enumerate(COUNTED_CONCEPTS)}

# Breakdowns (contract section 3): every person falls in exactly one stratum of each.
STRATIFIERS: dict[str, tuple[str, ...]] = {
    "age-band": ("0-17", "18-39", "40-59", "60-74", "75+", "unknown"),
    "sex": ("male", "female", "other-unknown"),
    "ethnicity-group": ("white", "mixed", "asian", "black", "other", "not-stated"),
    "imd-quintile": ("1", "2", "3", "4", "5", "unknown"),
}
