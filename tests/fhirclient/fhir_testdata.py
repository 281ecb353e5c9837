"""Invented test data. NHS numbers are in the 999 test range with a valid modulus-11 check digit."""

from __future__ import annotations

from typing import Any

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
CARE_PLAN_SYSTEM = "https://ltcbridge.example/Id/care-plan"


def _check_digit(nine: str) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def nhs_number(serial: int) -> str:
    """The ``serial``-th (from 0) valid test NHS number from 9990000000 upwards."""
    found = -1
    candidate = 999_000_000
    while True:
        check = _check_digit(str(candidate))
        if check is not None:
            found += 1
            if found == serial:
                return f"{candidate}{check}"
        candidate += 1


def patient(serial: int, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number(serial)}],
        "name": [{"family": f"Testpatient{serial}", "given": ["Alex"]}],
        **extra,
    }
