"""The synthetic generator: deterministic, test-range NHS numbers, a self-consistent truth."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from ltcbridge.synthetic import generate, generate_bulk
from ltcbridge.synthetic.nhs import HIGH, LOW, is_valid

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
    for key in ("unmet_need", "referrals", "support_level"):
        sums: dict[tuple, int] = defaultdict(int)
        cells = _cells(truth[key])
        for (level, org, *rest), n in cells.items():
            if level == "practice":
                sums[("pcn", pcn_of[org], *rest)] += n
        assert sums == {k: v for k, v in cells.items() if k[0] == "pcn"}


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
