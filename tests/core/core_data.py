"""Paths and small builders shared by the core tests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
CONTRACT = ROOT / "tests" / "data" / "contract"
# The validity window of the test agreements: it covers every month the fixtures hold.
WINDOW = {"valid_from": date(2026, 4, 1), "valid_until": date(2027, 3, 31)}


def write_agreement(path: Path, **overrides: Any) -> Path:
    """An agreement file like the contract's (at the floor), with some keys changed."""
    values = (
        {
            "threshold": 7,
            "rounding": 5,
            "secondary": "true",
            "allowed": '["age-band", "sex", "ethnicity-group", "imd-quintile"]',
            "level": "practice",
            "internal": "false",
            "status": "active",
        }
        | WINDOW
        | {k: v for k, v in overrides.items()}
    )
    path.write_text(
        f"""[agreement]
id = "DSA-TEST-1"
recipient = "QHM"
purpose = "jsna"
valid_from = {values["valid_from"]}
valid_until = {values["valid_until"]}
status = "{values["status"]}"
internal_recipient = {values["internal"]}

[disclosure]
threshold = {values["threshold"]}
rounding = {values["rounding"]}
secondary = {values["secondary"]}

[breakdowns]
allowed = {values["allowed"]}
level = "{values["level"]}"

[optouts]
exclude = true
"""
    )
    return path
