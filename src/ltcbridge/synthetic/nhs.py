"""NHS numbers for invented people: only the 999 000 0000 - 999 999 9999 test range."""

from __future__ import annotations

import random

LOW = 9_990_000_000
HIGH = 9_999_999_999


def check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit of nine digits, or None when they can have no valid number."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid(number: str) -> bool:
    """True when the ten digits pass the modulus-11 check."""
    if len(number) != 10 or not number.isdigit():
        return False
    return check_digit(number[:9]) == int(number[9])


class NhsNumbers:
    """Hands out distinct test-range NHS numbers, valid ones and deliberately invalid ones."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def _fresh_stem(self) -> tuple[str, int]:
        while True:
            stem = str(self._rng.randrange(LOW // 10, HIGH // 10 + 1))
            check = check_digit(stem)
            if check is not None and stem not in self._used:
                self._used.add(stem)
                return stem, check

    def valid(self) -> str:
        """A new number that passes the check digit."""
        stem, check = self._fresh_stem()
        return f"{stem}{check}"

    def invalid(self) -> str:
        """A new number in the test range whose last digit is wrong."""
        stem, check = self._fresh_stem()
        return f"{stem}{(check + 1 + self._rng.randrange(8)) % 10}"
