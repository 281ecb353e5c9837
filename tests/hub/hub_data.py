"""Constants the hub tests share (a module of its own: importing from conftest is ambiguous
when several test folders have one)."""

from __future__ import annotations

from ltcbridge.feed.release import ReleaseMeta

PERIODS = ("2026-09", "2026-10")

HUB_CONFIG = """
[hub]
name = "Demo ICB"
icb = "QHM"
months = ["2026-08", "2026-09", "2026-10"]
[practices]
Y00011 = "U00001"
Y00012 = "U00001"
Y00013 = "U00001"
Y00021 = "U00002"
Y00022 = "U00002"
Y00023 = "U00002"
Y00029 = "U00002"
[pcn_names]
U00001 = "Riverside PCN"
[commissioned]
need-physical-activity = "Walking groups in both PCNs from April 2026"
[tariff]
support-high = 275
"""


def meta(sender: str = "Y00011", period: str = "2026-10", sequence: int = 1,
         release_id: str | None = None) -> ReleaseMeta:  # fmt: skip
    return ReleaseMeta(release_id or f"r-{sender}-{period}-{sequence}", "DSA-1", sender, "QHM",
                       period, sequence, "2026-11-01T00:00:00+00:00",
                       ("https://ltcbridge.github.io/fhir/Measure/unmet-need",))  # fmt: skip
