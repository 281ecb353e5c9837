"""The synthetic generator: deterministic, test-range NHS numbers, a self-consistent truth."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from ltcbridge.synthetic import generate, generate_bulk
from ltcbridge.synthetic.nhs import HIGH, LOW, is_valid
from ltcbridge.synthetic.outcomes import PROVIDERS
from ltcbridge.synthetic.people import add_months
from ltcbridge.synthetic.truth import UNIT_COSTS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "fixtures" / "synthetic"
CONTRACT = Path(__file__).parent / "data" / "contract"
BAD_KINDS = {
    "malformed-json",
    "unknown-resource-type",
    "missing-resource-type",
    "missing-subject",
    "impossible-date",
    "imprecise-date",
    "nhs-number-check-digit",
}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic")
    generate(path)
    return path


@pytest.fixture(scope="module")
def truth(out: Path) -> dict:
    return json.loads((out / "truth.json").read_text())


def test_same_seed_same_bytes(out: Path, tmp_path: Path) -> None:
    generate(tmp_path)
    assert _files(tmp_path) == _files(out)


def test_other_seed_differs(out: Path, tmp_path: Path) -> None:
    generate(tmp_path, seed=7)
    assert (tmp_path / "Patient.ndjson").read_bytes() != (out / "Patient.ndjson").read_bytes()


def test_committed_fixtures_match_the_generator(out: Path) -> None:
    if not COMMITTED.exists():
        pytest.skip("fixtures/synthetic not generated")
    assert _files(COMMITTED) == _files(out), (
        "regenerate: python -m ltcbridge.synthetic fixtures/synthetic"
    )


def test_shipped_icb_mappings_are_the_contract_examples(out: Path) -> None:
    for ours, theirs in (
        ("conceptmap-example-icb-template.json", "example-conceptmap.json"),
        ("questionnaire-icb.json", "example-questionnaire.json"),
    ):
        if not (CONTRACT / theirs).exists():
            pytest.skip("contract examples not present")
        mine = json.loads((out / "mappings" / ours).read_text())
        assert mine == json.loads((CONTRACT / theirs).read_text())


def _patients(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "Patient.ndjson").read_text().splitlines()]


def test_nhs_numbers_in_test_range_and_valid_unless_deliberate(out: Path, truth: dict) -> None:
    deliberate = {
        q["resource"] for q in truth["quarantine"] if q["reason"] == "nhs-number-check-digit"
    }
    seen = set()
    for patient in _patients(out):
        (number,) = [i["value"] for i in patient["identifier"] if "nhs-number" in i["system"]]
        assert LOW <= int(number) <= HIGH
        assert is_valid(number) != (f"Patient/{patient['id']}" in deliberate)
        seen.add(patient["id"])
    assert len(seen) == truth["people"]["patients"]
    assert truth["people"]["invalid_nhs"] == len(deliberate) >= 1


def test_every_bad_line_kind_appears_where_truth_says(out: Path, truth: dict) -> None:
    assert {q["reason"] for q in truth["quarantine"]} >= BAD_KINDS
    for q in truth["quarantine"]:
        line = (out / q["file"]).read_bytes().splitlines()[q["line"] - 1]
        if q["resource"]:
            kind, rid = q["resource"].split("/")
            assert f'"id":"{rid}"'.encode() in line and kind.encode() in line


def _cells(rows: list[dict]) -> dict[tuple, int]:
    return {
        (
            r["level"],
            r["org"],
            r["month"],
            r.get("group"),
            r.get("stratifier"),
            r.get("stratum"),
        ): r["count"]
        for r in rows
    }


def test_strata_add_up_to_their_group(truth: dict) -> None:
    cells = _cells(truth["unmet_need"])
    sums: dict[tuple, int] = defaultdict(int)
    for (level, org, month, group, stratifier, _), n in cells.items():
        if stratifier is not None:
            sums[(level, org, month, group, stratifier)] += n
    assert sums
    for (level, org, month, group, _), total in sums.items():
        assert total == cells[(level, org, month, group, None, None)]


def test_pcn_rows_are_the_sum_of_their_practices(out: Path, truth: dict) -> None:
    pcn_of = dict(
        line.split(",")
        for line in (out / "mappings" / "pcn-membership.csv").read_text().split()[1:]
    )
    for key in ("unmet_need", "referrals", "support_level", "star_distance", "nhs_use"):
        sums: dict[tuple, int] = defaultdict(int)
        cells = _cells(truth[key])
        for (level, org, *rest), n in cells.items():
            if level == "practice":
                sums[("pcn", pcn_of[org], *rest)] += n
        assert sums == {k: v for k, v in cells.items() if k[0] == "pcn"}
    for key in ("star_distance", "nhs_use"):
        scores: dict[tuple, int | None] = {}
        for r in truth[key]:
            if r["level"] == "practice" and r["score_total"] is not None:
                cell = ("pcn", pcn_of[r["org"]], r["month"], r["group"], r["stratifier"])
                scores[(*cell, r["stratum"])] = (
                    scores.get((*cell, r["stratum"]), 0) + r["score_total"]
                )
        pcn = {
            (r["level"], r["org"], r["month"], r["group"], r["stratifier"], r["stratum"]): r[
                "score_total"
            ]
            for r in truth[key]
            if r["level"] == "pcn" and r["score_total"] is not None
        }
        assert scores == pcn


def test_need_any_covers_each_domain(truth: dict) -> None:
    cells = _cells(truth["unmet_need"])
    for (level, org, month, group, stratifier, stratum), n in cells.items():
        assert n > 0
        if group != "need-any":
            assert cells[(level, org, month, "need-any", stratifier, stratum)] >= n


def test_truth_covers_both_levels_and_main_months(truth: dict) -> None:
    levels = {(r["level"], r["month"]) for r in truth["unmet_need"]}
    for month in ("2026-09", "2026-10", "2026-11"):
        assert ("practice", month) in levels and ("pcn", month) in levels
    assert truth["referrals"] and truth["support_level"] and truth["unmapped"]
    assert truth["people"]["opted_out_now"] >= 5 and truth["people"]["no_practice"] >= 3


def test_bulk_streams_about_n_resources(tmp_path: Path) -> None:
    one = tmp_path / "bulk.ndjson"
    assert generate_bulk(one, 3000, seed=1) == 3000
    lines = one.read_bytes().splitlines()
    assert len(lines) == 3000
    kinds = defaultdict(int)
    for line in lines:
        doc = json.loads(line)
        kinds[doc["resourceType"]] += 1
        if doc["resourceType"] == "Patient":
            assert is_valid(doc["identifier"][0]["value"])
    assert 350 < kinds["Patient"] < 650
    assert generate_bulk(tmp_path / "dir", 500, seed=1) == 500
    assert (tmp_path / "dir" / "Patient.ndjson").exists()


# -- outcomes: providers' answers, Star readings over time, NHS use ------------------------------
def _resources(out: Path, kind: str) -> list[dict]:
    path = out / f"{kind}.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_task_answers_a_referral_in_the_output_as_the_daemon_writes_it(out: Path) -> None:
    requests = {r["id"]: r for r in _resources(out, "ServiceRequest")}
    practices = {
        o["identifier"][0]["value"] for o in _resources(out, "Organization") if "identifier" in o
    }
    assert not set(PROVIDERS) & practices
    tasks = _resources(out, "Task")
    assert len(tasks) > 50
    for task in tasks:
        assert task["intent"] == "order" and task["meta"]["lastUpdated"]
        assert task["status"] in {
            "accepted", "in-progress", "completed", "rejected", "cancelled", "entered-in-error"
        }  # fmt: skip
        kind, rid = task["focus"]["reference"].split("/")
        assert kind == "ServiceRequest" and rid in requests
        assert requests[rid]["subject"] == task["for"]
        owner = task["owner"]["identifier"]
        assert owner["system"] == "https://fhir.nhs.uk/Id/ods-organization-code"
        assert owner["value"] in PROVIDERS
        if "lastModified" in task:
            assert date.fromisoformat(task["lastModified"][:10])
            assert task["lastModified"].endswith("+00:00")
    versions = defaultdict(list)
    for task in tasks:
        versions[task["id"]].append(task["status"])
    assert any(sorted(v) == ["accepted", "completed"] for v in versions.values())
    assert any("entered-in-error" in v for v in versions.values())
    assert any("cancelled" in v for v in versions.values())
    assert any("lastModified" not in t for t in tasks)


def test_nhs_use_records_and_declines_are_present_and_well_formed(out: Path) -> None:
    patients = {p["id"] for p in _patients(out)}
    appointments = _resources(out, "Appointment")
    assert {"fulfilled", "noshow", "cancelled", "booked"} <= {a["status"] for a in appointments}
    for a in appointments:
        (actor,) = [p["actor"]["reference"] for p in a["participant"] if "Patient/" in str(p)]
        assert actor.removeprefix("Patient/") in patients and "serviceType" not in a
        assert date.fromisoformat(a["start"][:10])
    encounters = _resources(out, "Encounter")
    classes = {e["class"]["code"] for e in encounters}
    assert {"EMER", "AMB", "IMP"} <= classes
    assert any(e.get("basedOn") for e in encounters)
    assert any(
        c["code"] == "183452005" for e in encounters for t in e.get("type", []) for c in t["coding"]
    )
    requests = _resources(out, "MedicationRequest")
    assert {"active", "completed", "stopped", "entered-in-error"} <= {r["status"] for r in requests}
    assert {"order", "plan"} <= {r["intent"] for r in requests}
    declined = [
        r
        for kind in ("Observation", "Procedure")
        for r in _resources(out, kind)
        if any(c.get("code") == "871711000000103" for c in r.get("code", {}).get("coding", []))
    ]
    assert len(declined) >= 3
    performers = [
        o["performer"]
        for o in _resources(out, "Observation")
        if "component" in o and "performer" in o
    ]
    assert performers and all(
        any(p.get("identifier", {}).get("value") in PROVIDERS for p in ps) for ps in performers
    )


def test_every_nhs_number_anywhere_is_in_the_test_range(out: Path) -> None:
    numbers = set()
    for path in out.glob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            text = line.decode("utf-8", "replace")
            start = 0
            while (at := text.find('nhs-number","value":"', start)) >= 0:
                numbers.add(text[at + 21 : at + 31])
                start = at + 1
    assert len(numbers) > 300
    assert all(n.isdigit() and LOW <= int(n) <= HIGH for n in numbers)


def test_outcome_rows_add_up(truth: dict) -> None:
    assert truth["unit_costs"] == UNIT_COSTS
    for key in ("referrals", "star_distance", "nhs_use"):
        rows = truth[key]
        totals = {
            (r["level"], r["org"], r["month"], r["group"]): r
            for r in rows
            if r["stratifier"] is None
        }
        counts: dict[tuple, int] = defaultdict(int)
        scores: dict[tuple, int] = defaultdict(int)
        for r in rows:
            assert r["count"] > 0
            if r["stratifier"] is None:
                continue
            cell = (r["level"], r["org"], r["month"], r["group"], r["stratifier"])
            counts[cell] += r["count"]
            if r["stratifier"] == "provider":
                assert r["stratum"] in (*PROVIDERS, "none")
                if key != "referrals" and r["score_total"] is not None:
                    scores[cell] += r["score_total"]
            elif key != "referrals":
                assert r["score_total"] is None
        assert {c[4] for c in counts} == {
            "age-band", "sex", "ethnicity-group", "imd-quintile", "provider"
        }  # fmt: skip
        for cell, n in counts.items():
            assert n == totals[cell[:4]]["count"], (key, cell)
        for cell, total in scores.items():
            assert total == totals[cell[:4]]["score_total"], (key, cell)


def test_referral_groups_nest(truth: dict) -> None:
    cells = _cells(truth["referrals"])
    assert {k[3] for k in cells} == {
        "referral-lead-provider", "referral-accepted", "referral-declined"
    }  # fmt: skip
    for (level, org, month, _, stratifier, stratum), n in cells.items():
        made = cells[(level, org, month, "referral-lead-provider", stratifier, stratum)]
        assert n <= made
    main = [r for r in truth["referrals"] if r["month"] == "2026-10" and r["stratifier"] is None]
    assert {r["group"] for r in main} == {
        "referral-lead-provider", "referral-accepted", "referral-declined"
    }  # fmt: skip


def test_star_distance_and_nhs_use_cover_the_reporting_months(truth: dict) -> None:
    areas = {
        "wb-lifestyle", "wb-looking-after-yourself", "wb-managing-symptoms", "wb-work-volunteering",
        "wb-money", "wb-where-you-live", "wb-family-friends", "wb-feeling-positive",
    }  # fmt: skip
    star_groups = {"star-wellbeing", "star-wellbeing-improved", "star-wellbeing-reviewed-year-on",
                   "star-wellbeing-improved-year-on"} | areas  # fmt: skip
    nhs_groups = {"nhs-use-cohort", "nhs-cost-before", "nhs-cost-after"} | {
        f"{k}-{w}" for k in UNIT_COSTS for w in ("before", "after")
    }
    for month in ("2026-09", "2026-10", "2026-11"):
        for level in ("practice", "pcn"):
            star = [r for r in truth["star_distance"] if (r["month"], r["level"]) == (month, level)]
            nhs = [r for r in truth["nhs_use"] if (r["month"], r["level"]) == (month, level)]
            assert star and nhs
            assert {r["group"] for r in nhs} == nhs_groups
        assert {r["group"] for r in truth["star_distance"] if r["month"] == month} <= star_groups
    assert {r["group"] for r in truth["star_distance"]} == star_groups
    by_cell = defaultdict(set)
    for r in truth["nhs_use"]:
        by_cell[(r["level"], r["org"], r["month"], r["stratifier"], r["stratum"])].add(r["count"])
    assert all(len(counts) == 1 for counts in by_cell.values())  # every group counts the cohort
    totals = {
        (r["level"], r["org"], r["month"], r["group"]): r["score_total"]
        for r in truth["nhs_use"]
        if r["stratifier"] is None
    }
    for (level, org, month, group), total in totals.items():
        if group.startswith("nhs-cost-"):
            window = group.removeprefix("nhs-cost-")
            units = sum(
                totals[(level, org, month, f"{k}-{window}")] * cost
                for k, cost in UNIT_COSTS.items()
            )
            assert total == units
        elif group == "nhs-use-cohort":
            assert total is None


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 3, 31), -6) == date(2025, 9, 30)
    assert add_months(date(2025, 12, 31), -6) == date(2025, 6, 30)
    assert add_months(date(2026, 8, 31), -6) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), 6) == date(2026, 9, 30)
    assert add_months(date(2026, 1, 15), 12) == date(2027, 1, 15)
