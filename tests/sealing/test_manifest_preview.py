"""The manifest says in plain words what leaves and why; preview shows all and sends nothing."""

from __future__ import annotations

import argparse
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from ltcbridge.cli import feed as cli_release
from ltcbridge.feed.manifest import build_manifest
from ltcbridge.pipeline import manifest_of

from .helpers import DEMO_AGREEMENT, PERIOD, PRACTICE, SYNTHETIC, demo_build, meta_for, reports_of


def test_manifest_counts_match_the_sealed_release_and_name_no_one() -> None:
    build = demo_build()
    text = manifest_of(build, meta_for(sequence=2)).text()  # sent by PRACTICE alone
    masked_in_reports = sum(
        1
        for report in reports_of(PRACTICE)
        for group in report["group"]
        for population in [group["population"][0]]
        + [s["population"][0] for st in group["stratifier"] for s in st["stratum"]]
        if "count" not in population
    )
    figures = sum(
        1 + sum(len(st["stratum"]) for st in group["stratifier"])
        for report in reports_of(PRACTICE)
        for group in report["group"]
    )
    assert figures > 176  # every measure, not only unmet need's 176 figures
    assert (
        f"Figures masked (sent as 'masked', never as 0): {masked_in_reports} of {figures}" in text
    )
    by_reason = Counter(
        reason for (_, (org, *_)), reason in build.gate.reasons.items() if org == PRACTICE
    )
    assert sum(by_reason.values()) == masked_in_reports and by_reason["primary"] > 0
    assert f"{by_reason['primary']} because each counted between 1 and 7 people" in text
    if by_reason["secondary"]:
        assert f"{by_reason['secondary']} to protect other masked figures" in text
    assert f"Organisations reported (practice level): {PRACTICE}." in text
    assert f"{len(reports_of(PRACTICE))} summary report(s)" in text
    assert "Release number 2" in text and "October 2026" in text and "DSA-DEMO-001" in text
    opted_out = json.loads((SYNTHETIC / "truth.json").read_text())["people"]["opted_out_now"]
    assert f"Opt-outs honoured: {opted_out} people" in text
    assert "never sent" in text
    assert not re.search(r"\b999\d{7}\b", text)  # no NHS (test) number, no patient id
    assert "Patient/" not in text


def test_manifest_explains_each_masking_reason_of_a_protected_release() -> None:
    masked = Counter({"primary": 1, "secondary": 1, "history": 1})
    text = build_manifest(demo_build().protected, masked, opted_out=0).text()
    assert "1 to protect other masked figures" in text
    assert "1 because they were masked in an earlier release" in text
    assert "this is a preview" in text


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(cli_release, "out", Console(file=buffer, width=250, highlight=False))
    return buffer


def test_preview_shows_every_figure_and_sends_nothing(
    captured: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(
        source=str(SYNTHETIC),
        mappings=[str(SYNTHETIC / "mappings")],
        agreement=str(DEMO_AGREEMENT),
        period=PERIOD,
        workers=1,
    )
    assert cli_release.run_feed_preview(args) == cli_release.EXIT_ATTENTION  # fixtures quarantine
    text = captured.getvalue()
    build = demo_build()
    unmet_need = [r for r in build.reports if r["measure"].endswith("/unmet-need")]
    assert text.count("unmet-need · ") == len(unmet_need) * 4  # one table per breakdown
    outcomes = [r for r in build.reports if r["measure"].endswith("/nhs-use")]
    assert text.count("nhs-use · ") == len(outcomes) * 5  # the provider breakdown too
    first = build.reports[0]["group"][0]
    shown = first["population"][0].get("count", "masked")
    assert re.search(rf"physical activity\s*│\s*{shown}\s*│", text)
    assert text.count("masked") > 100
    assert "What this release sends" in text and "Nothing was sent" in text
    assert list(tmp_path.iterdir()) == []  # wrote nothing
