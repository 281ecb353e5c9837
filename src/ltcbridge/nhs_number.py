"""NHS numbers: ten digits, the last a modulus-11 check digit."""

from __future__ import annotations

import re

_WEIGHT_SUM_OF_ZEROS = 48 * sum(range(2, 11))  # ord("0") times the weights 10..2


def is_valid_nhs_number(value: str) -> bool:
    """True when ``value`` is ten digits (spaces allowed) whose check digit is right.

    Weights 10..2 on the first nine digits; check = 11 - (sum mod 11); 11 means 0; 10 is never
    valid. Written out on the ASCII bytes because it runs once per patient of an export.
    """
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii():
        return False
    b = digits.encode("ascii")
    total = (
        10 * b[0] + 9 * b[1] + 8 * b[2] + 7 * b[3] + 6 * b[4] + 5 * b[5] + 4 * b[6] + 3 * b[7]
        + 2 * b[8] - _WEIGHT_SUM_OF_ZEROS
    )  # fmt: skip
    check = (11 - total % 11) % 11
    return check != 10 and check == b[9] - 48


def is_test_nhs_number(value: str) -> bool:
    """True for the range NHS England reserves for testing (999 000 0000 to 999 999 9999)."""
    return value.replace(" ", "").startswith("999")


def written_forms(number: str) -> tuple[str, str]:
    """An NHS number (ten digits) as GP systems write it in an identifier: plain (UK Core), and
    spaced 3-3-4 as people read it (which the reader accepts too). A token search matches a value
    exactly, so a search for a person by NHS number asks for both."""
    return number, f"{number[:3]} {number[3:6]} {number[6:]}"


# ten digits, as an NHS number is written (also spaced or hyphenated 3-3-4), standing alone
_WRITTEN_LIKE_ONE = re.compile(r"(?<![0-9])[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}(?![0-9])")


def without_nhs_numbers(text: str) -> str:
    """``text`` with anything written like an NHS number replaced, valid or not: a server's
    diagnostics may echo a search by NHS number, and no patient identifier may reach a log or
    a message."""
    return _WRITTEN_LIKE_ONE.sub("[NHS number removed]", text)
