"""Codings the hub writes carry their system and the hub reads them with or without one (older
releases); reports it writes are dated; the definitions beside the report resolve every code."""

from __future__ import annotations

from pathlib import Path

import orjson
from hub_data import meta

from ltcbridge.concepts import CONCEPT_SYSTEM, NEED_ANY
from ltcbridge.feed.measure_report import figures
from ltcbridge.hub.collate import Collator
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.report.build import write_report
from ltcbridge.hub.store import open_store
from ltcbridge.hub.synthetic import measure_report
from ltcbridge.uris import MEASURE_GROUP_SYSTEM, STRATIFIER_SYSTEM

CELLS = {(NEED_ANY, None, None): 20, (NEED_ANY, "sex", "female"): 20}


def _as_read(report: dict) -> list[tuple]:
    return [(f.group, f.stratifier, f.stratum, f.count) for f in figures(report)]


def test_written_codings_carry_a_system_and_the_report_its_date() -> None:
    report = measure_report("Y00011", "2026-10", CELLS)
    assert report["date"][:4].isdigit() and "T" in report["date"]
    [stratifier] = report["group"][0]["stratifier"]
    assert stratifier["code"][0]["coding"] == [{"system": STRATIFIER_SYSTEM, "code": "sex"}]
    assert all(c.get("system") for s in stratifier["stratum"] for c in s["value"]["coding"])
    assert _as_read(report) == [(NEED_ANY, None, None, 20), (NEED_ANY, "sex", "female", 20)]


def test_older_codings_without_a_system_read_the_same() -> None:
    report = measure_report("Y00011", "2026-10", CELLS)
    [stratifier] = report["group"][0]["stratifier"]
    stratifier["code"] = [{"text": "sex"}]  # as releases before systems were written
    stratifier["stratum"][0]["value"] = {"coding": [{"code": "female"}]}
    report["group"][0]["code"] = {"coding": [{"code": NEED_ANY}]}
    assert _as_read(report) == [(NEED_ANY, None, None, 20), (NEED_ANY, "sex", "female", 20)]


def test_ltcbridges_own_coding_wins_over_another_systems() -> None:
    report = measure_report("Y00011", "2026-10", CELLS)
    group = report["group"][0]
    group["code"]["coding"].insert(0, {"system": "http://snomed.info/sct", "code": "1234"})
    stratifier = group["stratifier"][0]
    stratifier["code"][0]["text"] = "Sex (as recorded)"  # a display text, not the code
    assert _as_read(report)[1] == (NEED_ANY, "sex", "female", 20)
    assert _as_read(report)[0][0] == NEED_ANY


def test_the_report_folder_holds_the_definitions_its_codes_refer_to(tmp_path: Path) -> None:
    with open_store(tmp_path / "hub.sqlite") as store:
        store.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
        files = write_report(Collator(store, HubConfig()), tmp_path / "out")
    resources = [orjson.loads(path.read_bytes()) for path in files.definitions]
    systems = {r["url"] for r in resources if r["resourceType"] == "CodeSystem"}
    assert {CONCEPT_SYSTEM, MEASURE_GROUP_SYSTEM} <= systems
    concept = next(r for r in resources if r.get("url") == CONCEPT_SYSTEM)
    assert NEED_ANY in {c["code"] for c in concept["concept"]}
    assert any(r["resourceType"] == "Measure" and r["url"].endswith("/unmet-need")
               for r in resources)  # fmt: skip
