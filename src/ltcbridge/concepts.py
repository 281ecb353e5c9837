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
REFERRAL_ACCEPTED = "referral-accepted"
REFERRAL_DECLINED = "referral-declined"
REFERRAL_COMPLETED = "referral-completed"  # a completed answer: the end of the intervention
CONSENT = "consent-share-provider"
OPTOUT = "optout-secondary-use"
OPTOUT_WITHDRAWN = "optout-withdrawn"

# NHS use (docs/counting-rules.md): each kind's units, keyed by the stem of its feed groups.
NHS_USE: dict[str, str] = {
    "gp-attendances": "nhs-gp-attendance",
    "ae-attendances": "nhs-ae-attendance",
    "prescriptions": "nhs-prescription",
    "unplanned-admissions": "nhs-unplanned-admission",
}
# Kinds counted at most once per person and day (a consultation in two resources counts once).
NHS_USE_ONCE_A_DAY = frozenset(
    {"nhs-gp-attendance", "nhs-ae-attendance", "nhs-unplanned-admission"}
)

# Concepts an entry can assert and the counter keeps, in a fixed order: the index is the
# compact integer the columnar counter stores instead of the string.
COUNTED_CONCEPTS: tuple[str, ...] = (
    *NEED_DOMAINS,
    *SUPPORT_LEVELS,
    REFERRAL,
    CONSENT,
    OPTOUT,
    OPTOUT_WITHDRAWN,
    REFERRAL_ACCEPTED,
    REFERRAL_DECLINED,
    REFERRAL_COMPLETED,
    *NHS_USE.values(),
)
CONCEPT_INDEX: dict[str, int] = {code: i for i, code in enumerate(COUNTED_CONCEPTS)}

# Breakdowns (contract section 3): every person falls in exactly one stratum of each.
STRATIFIERS: dict[str, tuple[str, ...]] = {
    "age-band": ("0-17", "18-39", "40-59", "60-74", "75+", "unknown"),
    "sex": ("male", "female", "other-unknown"),
    "ethnicity-group": ("white", "mixed", "asian", "black", "other", "not-stated"),
    "imd-quintile": ("1", "2", "3", "4", "5", "unknown"),
}


# -- the outcome measures' own group codes (not concepts: the measure-group CodeSystem) ----------
STAR_GROUP_SUFFIXES = ("-improved", "-reviewed-year-on", "-improved-year-on")
NHS_USE_COHORT = "nhs-use-cohort"
WINDOWS = ("before", "after")


def nhs_use_groups(*, costed: bool) -> tuple[str, ...]:
    """The NHS-use measure's groups: the cohort, each kind of use before and after, and (when
    the agreement gives unit costs) the cost before and after."""
    kinds = [f"{kind}-{window}" for kind in NHS_USE for window in WINDOWS]
    costs = [f"nhs-cost-{window}" for window in WINDOWS] if costed else []
    return (NHS_USE_COHORT, *kinds, *costs)


MEASURE_GROUP_CODES = frozenset(nhs_use_groups(costed=True))

# A stratifier whose strata are not fixed but found in the data: the provider behind an outcome.
PROVIDER = "provider"
NO_PROVIDER = "none"
