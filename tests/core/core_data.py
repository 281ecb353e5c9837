"""Paths and small builders shared by the core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
CONTRACT = ROOT / "tests" / "data" / "contract"


def write_agreement(path: Path, **overrides: Any) -> Path:
    """An agreement file like the contract's, with some keys changed."""
    values = {
        "threshold": 7,
        "rounding": 5,
        "secondary": "false",
        "allowed": '["age-band", "sex", "ethnicity-group", "imd-quintile"]',
        "level": "practice",
        "internal": "false",
    } | {k: v for k, v in overrides.items()}
    path.write_text(
        f"""[agreement]
id = "DSA-TEST-1"
recipient = "QHM"
purpose = "jsna"
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
