"""ltcbridge: unmet need from GP care planning, to providers and commissioners, over FHIR R4."""

__version__ = "0.1.0"
