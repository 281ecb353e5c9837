"""Every MeasureReport the feed writes resolves to a Measure that defines its groups and strata."""

from __future__ import annotations

import json
from pathlib import Path

from core_data import SYNTHETIC

from ltcbridge.cli import main
from ltcbridge.cli.support import OUTPUT_MARK
from ltcbridge.feed.measure_definitions import measure_definitions, measure_group_codes
from ltcbridge.mapping import Mappings
from ltcbridge.uris import MEASURE_GROUP_SYSTEM


def test_every_reported_group_and_stratifier_is_defined(
    tmp_path: Path, synthetic_mappings: Mappings
) -> None:
    out = tmp_path / "feed"
    main(["feed", "build", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
          "--agreement", "src/ltcbridge/bundled/demo-agreement.toml", "--period", "2026-10",
          "--out", str(out)])  # fmt: skip
    definitions = {m["url"]: m for m in measure_definitions(synthetic_mappings)}
    group_codes = {c["code"] for c in measure_group_codes(list(definitions.values()))["concept"]}
    reports = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert {r["measure"] for r in reports} == set(definitions)
    for report in reports:
        measure = definitions[report["measure"]]
        defined = {g["code"]["coding"][0]["code"]: g for g in measure["group"]}
        for group in report["group"]:
            coding = group["code"]["coding"][0]
            assert coding == defined[coding["code"]]["code"]["coding"][0]
            if coding["system"] == MEASURE_GROUP_SYSTEM:
                assert coding["code"] in group_codes
            names = {s["code"]["text"] for s in defined[coding["code"]]["stratifier"]}
            assert {s["code"][0]["text"] for s in group["stratifier"]} <= names
            if "measureScore" in group:
                assert "score" in defined[coding["code"]]["description"]


def test_the_command_writes_valid_definitions(tmp_path: Path) -> None:
    assert main(["feed", "measures", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != OUTPUT_MARK)
    assert written == [
        "CodeSystem-ltcbridge-measure-group.json", "Measure-nhs-use.json", "Measure-referrals.json",
        "Measure-star-distance-travelled.json", "Measure-support-level.json",
        "Measure-unmet-need.json",
    ]  # fmt: skip
