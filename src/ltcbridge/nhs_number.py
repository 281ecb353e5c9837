"""NHS numbers: ten digits, the last a modulus-11 check digit."""

from __future__ import annotations

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def is_valid_nhs_number(value: str) -> bool:
    """True when ``value`` is ten digits (spaces allowed) whose check digit is right."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    remainder = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False)) % 11
    check = 11 - remainder
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def is_test_nhs_number(value: str) -> bool:
    """True for the range NHS England reserves for testing (999 000 0000 to 999 999 9999)."""
    return value.replace(" ", "").startswith("999")
