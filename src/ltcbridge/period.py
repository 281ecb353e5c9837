"""The reporting month, written YYYY-MM everywhere a person or a release names one."""

from __future__ import annotations

import re

from ltcbridge.errors import LtcbridgeError

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_period(period: str) -> str:
    """`period` itself, or a clear error when it is not a month written YYYY-MM."""
    if not PERIOD.match(period):
        raise LtcbridgeError(f"period {period!r} must be a month written YYYY-MM, e.g. 2026-10")
    return period
