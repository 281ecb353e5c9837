"""The reporting month, written YYYY-MM everywhere a person or a release names one."""

from __future__ import annotations

import re

import numpy as np

from ltcbridge.errors import LtcbridgeError

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_period(period: str) -> str:
    """`period` itself, or a clear error when it is not a month written YYYY-MM."""
    if not PERIOD.match(period):
        raise LtcbridgeError(f"period {period!r} must be a month written YYYY-MM, e.g. 2026-10")
    return period


def month_int(month: str) -> int:
    """YYYYMM of a YYYY-MM month."""
    return int(month[:4]) * 100 + int(month[5:7])


def month_end_int(month: str) -> int:
    """YYYYMMDD of the last day of a YYYY-MM month."""
    year, mon = int(month[:4]), int(month[5:7])
    next_first = np.datetime64(f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}-01")
    last = (next_first - np.timedelta64(1, "D")).astype(object)
    return last.year * 10000 + last.month * 100 + last.day
