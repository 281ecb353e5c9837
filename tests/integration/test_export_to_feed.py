"""From a real FHIR engine to the feed: load a practice's record, $export it, build the feed.

The engine keeps one (current) version of each resource and stamps its own lastUpdated, so it is
loaded with the winning version of each synthetic resource (chosen here by the rule in
docs/counting-rules.md), oldest first; the feed built from its export must then give exactly the
generator's truth.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltcbridge.cli import main
from ltcbridge.concepts import OPTOUT, OPTOUT_WITHDRAWN
from ltcbridge.fhirclient import SyncFhirClient
from ltcbridge.mapping import load_mappings

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
BATCH = 100

pytestmark = pytest.mark.integration


def _winning_versions() -> list[dict[str, Any]]:
    """The latest version of every well-formed resource of the synthetic export."""
    best: dict[tuple[str, str], tuple[tuple[datetime, int, int], dict[str, Any]]] = {}
    order = 0
    for path in sorted(SYNTHETIC.glob("*.ndjson")):
        for line in path.read_text().splitlines():
            order += 1
            try:
                resource = json.loads(line)
                key = (resource["resourceType"], resource["id"])
            except (ValueError, KeyError, TypeError):
                continue  # malformed lines never reach a server
            meta = resource.get("meta", {})
            version = meta.get("versionId", "")
            rank = (
                datetime.fromisoformat(meta["lastUpdated"]) if "lastUpdated" in meta
                else datetime.fromisoformat("0001-01-01T00:00:00+00:00"),
                int(version) if version.isdigit() else -1,
                order,
            )  # fmt: skip
            if key not in best or rank > best[key][0]:
                best[key] = (rank, resource)
    # loaded oldest first, so the engine's own lastUpdated keeps the original order (opt-out
    # entries on the same day are told apart by it)
    return [resource for _, resource in sorted(best.values(), key=lambda pair: pair[0])]


def _load(base_url: str, resources: list[dict[str, Any]]) -> list[str]:
    """PUT every resource by id in batches; returns the ones the engine refused."""
    refused = []
    with SyncFhirClient(base_url) as fhir:
        for start in range(0, len(resources), BATCH):
            entries = [
                {
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in resources[start : start + BATCH]
            ]
            response = fhir.batch(entries)
            for entry, sent in zip(response["entry"], entries, strict=True):
                if not entry["response"]["status"].startswith("2"):
                    refused.append(sent["request"]["url"])
    return refused


def _rewrite_opt_outs_one_by_one(base_url: str, resources: list[dict[str, Any]]) -> None:
    """Entries of one batch may share the engine's millisecond; opt-outs on the same day are
    ordered by lastUpdated, so write them again, one request each, oldest first."""
    mappings = load_mappings([SYNTHETIC / "mappings"])
    opt_outs = [
        r for r in resources if r["resourceType"] == "Observation" and any(
            mappings.concept_of(c.get("system"), c.get("code")) in (OPTOUT, OPTOUT_WITHDRAWN)
            for c in r.get("code", {}).get("coding", [])
        )
    ]  # fmt: skip
    assert len(opt_outs) >= 8
    with SyncFhirClient(base_url) as fhir:
        for resource in opt_outs:
            fhir.update(resource)


def test_a_feed_built_from_the_engines_bulk_export_matches_the_truth(
    fhir_engine: str, tmp_path: Path
) -> None:
    httpx.post(f"{fhir_engine}/$reset", timeout=10).raise_for_status()
    resources = [r for r in _winning_versions() if r["resourceType"] != "Obsrvation"]
    assert _load(fhir_engine, resources) == []
    _rewrite_opt_outs_one_by_one(fhir_engine, resources)
    with SyncFhirClient(fhir_engine) as fhir:
        export = fhir.bulk_export(tmp_path / "export", poll_seconds=0.05)
    assert {f.type for f in export.files} >= {"Patient", "Observation", "QuestionnaireResponse"}

    agreement = tmp_path / "a.toml"
    agreement.write_text(
        '[agreement]\nid = "DSA-IT"\nrecipient = "QHM"\ninternal_recipient = true\n'
        "valid_from = 2026-04-01\nvalid_until = 2027-03-31\n"
        "[disclosure]\nthreshold = 0\nrounding = 1\nsecondary = false\n"
        '[breakdowns]\nallowed = ["age-band", "sex", "ethnicity-group", "imd-quintile", '
        '"provider"]\n'
        'level = "practice"\n[unit_costs]\n'
        "gp-attendances = 42\nae-attendances = 180\nprescriptions = 9\n"
        "unplanned-admissions = 1850\n"
    )
    out = tmp_path / "feed"
    status = main(["feed", "build", "--source", str(tmp_path / "export"),
                   "--mappings", str(SYNTHETIC / "mappings"), "--agreement", str(agreement),
                   "--period", "2026-10", "--out", str(out)])  # fmt: skip
    assert status in (0, 3)
    truth = json.loads((SYNTHETIC / "truth.json").read_text())
    for measure, rows in MEASURE_TRUTH.items():
        expected = {
            (r["org"], r["group"], r["stratifier"], r["stratum"]):
            (r["count"], r.get("score_total"))
            for r in truth[rows] if r["level"] == "practice" and r["month"] == "2026-10"
        }  # fmt: skip
        assert expected, f"the fixtures must exercise {measure} in 2026-10"
        assert _feed_counts(out, measure) == expected, measure


MEASURE_TRUTH = {
    "unmet-need": "unmet_need",
    "referrals": "referrals",
    "star-distance-travelled": "star_distance",
    "nhs-use": "nhs_use",
}


def _feed_counts(out: Path, measure: str) -> dict[tuple[str, str, str | None, str | None], tuple]:
    """(count, score total or None) of every non-zero figure of one measure's reports."""
    counts = {}
    for path in out.glob(f"{measure}-*.json"):
        report = json.loads(path.read_text())
        org = report["reporter"]["identifier"]["value"]
        for group in report["group"]:
            code = group["code"]["coding"][0]["code"]
            counts[(org, code, None, None)] = _figure(group)
            for stratifier in group["stratifier"]:
                for stratum in stratifier["stratum"]:
                    value = stratum["value"]["coding"][0]["code"]
                    name = stratifier["code"][0]["text"]
                    counts[(org, code, name, value)] = _figure(stratum)
    return {k: v for k, v in counts.items() if v[0]}


def _figure(element: dict) -> tuple[int, int | None]:
    totals = [e["valueDecimal"] for e in element.get("extension", ()) if "valueDecimal" in e]
    return element["population"][0]["count"], (int(totals[0]) if totals else None)
