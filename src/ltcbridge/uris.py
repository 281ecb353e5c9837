"""National and HL7 identifiers ltcbridge reads or writes (UK Core, FHIR R4)."""

NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
ETHNIC_CATEGORY_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
)
ETHNIC_CATEGORY_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
# the legacy CareConnect (STU3) extension and code system older GP systems still write
CARECONNECT_ETHNIC_CATEGORY_EXTENSION = (
    "https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-EthnicCategory-1"
)
CARECONNECT_ETHNIC_CATEGORY_SYSTEM = (
    "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-EthnicCategory-1"
)
MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
# ltcbridge's own: group codes of the outcome measures that are not concepts, and the cohort
# total beside a group's mean score.
MEASURE_GROUP_SYSTEM = "https://ltcbridge.github.io/fhir/CodeSystem/measure-group"
SCORE_TOTAL_EXTENSION = "https://ltcbridge.github.io/fhir/StructureDefinition/score-total"
# The agreement a MeasureReport was made under (agreement id, threshold, rounding, secondary,
# internalRecipient), on every report the feed writes.
DISCLOSURE_RULES_EXTENSION = "https://ltcbridge.github.io/fhir/StructureDefinition/disclosure-rules"
# Breakdown names, and each breakdown's strata: the system ``STRATUM_SYSTEM-<breakdown>``
# (``.../stratum-sex``: male, female, ...); a provider stratum is the provider's ODS code.
STRATIFIER_SYSTEM = "https://ltcbridge.github.io/fhir/CodeSystem/stratifier"
STRATUM_SYSTEM = "https://ltcbridge.github.io/fhir/CodeSystem/stratum"
