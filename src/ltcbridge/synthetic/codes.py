"""Identifier systems and ltcbridge concept codes the generator writes.

The generator keeps its own copy of these (it does not import the reader's constants) so that the
truth it writes stays independent of the code it is meant to check.
"""

from __future__ import annotations

CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
READ_V2 = "http://read.info/readv2"
ETHNIC_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
ETHNIC_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"

NEEDS = (
    "need-physical-activity",
    "need-healthy-eating",
    "need-arts-for-health",
    "need-befriending",
    "need-welfare-benefits",
    "need-volunteering",
    "need-other",
)
NEED_ANY = "need-any"
SUPPORT_LEVELS = ("support-self-care", "support-minimal", "support-moderate", "support-high")
GOAL = "goal"
REFERRAL = "referral-lead-provider"
REFERRAL_ACCEPTED = "referral-accepted"
REFERRAL_DECLINED = "referral-declined"
CONSENT = "consent-share-provider"
OPTOUT = "optout-secondary-use"
OPTOUT_WITHDRAWN = "optout-withdrawn"
STAR = "star-wellbeing"
STAR_AREAS = (
    "wb-lifestyle",
    "wb-looking-after-yourself",
    "wb-managing-symptoms",
    "wb-work-volunteering",
    "wb-money",
    "wb-where-you-live",
    "wb-family-friends",
    "wb-feeling-positive",
)

# National codes the bundled default ConceptMap carries (so they assert without a practice map).
SNOMED_REFERRAL = "871731000000106"
SNOMED_OPTOUT = "827241000000103"
READ_OPTOUT = "9Nu0."
SNOMED_DECLINED = "871711000000103"  # Social prescribing declined
SNOMED_ADMISSION = "183452005"  # Emergency hospital admission
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_EMERGENCY = "EMER"  # Encounter.class: an A&E attendance (bundled map)

# The referral loop's business identifiers (as the practice daemon writes them back).
REFERRAL_ID = "https://ltcbridge.github.io/fhir/Id/referral"
OUTCOME_ID = "https://ltcbridge.github.io/fhir/Id/outcome"

# Real-looking clinical codes no care-planning mapping covers: a GP record is full of them.
UNMAPPED_CLINICAL = (
    (SNOMED, "44054006", "Diabetes mellitus type 2"),
    (SNOMED, "38341003", "Hypertensive disorder"),
    (SNOMED, "271649006", "Systolic blood pressure"),
    (SNOMED, "13645005", "Chronic obstructive lung disease"),
)

ETHNIC_GROUPS = {
    **dict.fromkeys("ABC", "white"),
    **dict.fromkeys("DEFG", "mixed"),
    **dict.fromkeys("HJKL", "asian"),
    **dict.fromkeys("MNP", "black"),
    **dict.fromkeys("RS", "other"),
}


def concept_coding(code: str) -> dict[str, str]:
    """An ltcbridge concept coding: asserts itself, whatever mappings are loaded."""
    return {"system": CONCEPT, "code": code}
