"""`ltcbridge feed build` end to end: files, masking, privacy and refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from core_data import CONTRACT, SYNTHETIC, WINDOW, write_agreement
from fhir.resources.R4B.measurereport import MeasureReport

from ltcbridge.cli import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINED, main

MASKED_EXTENSION = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "masked"}  # fmt: skip


def _build(tmp_path: Path, agreement: Path, period: str = "2026-10", source: Path = SYNTHETIC,
           mappings: Path = SYNTHETIC / "mappings") -> tuple[int, Path]:  # fmt: skip
    out = tmp_path / "feed"
    status = main(
        [
            "feed",
            "build",
            "--source",
            str(source),
            "--mappings",
            str(mappings),
            "--agreement",
            str(agreement),
            "--period",
            period,
            "--out",
            str(out),
        ]
    )
    return status, out


def _published(
    out: Path, measure: str = "unmet-need"
) -> dict[tuple[str, str, str | None, str | None], Any]:
    """Every figure of the measure's MeasureReports: an int, or 'masked'."""
    figures: dict[tuple[str, str, str | None, str | None], Any] = {}
    for path in sorted(out.glob(f"{measure}-*.json")):
        report = json.loads(path.read_text())
        MeasureReport.model_validate(report)
        org = report["reporter"]["identifier"]["value"]
        for group in report["group"]:
            code = group["code"]["coding"][0]["code"]
            figures[(org, code, None, None)] = _figure(group["population"][0])
            for stratifier in group.get("stratifier", []):
                name = stratifier["code"][0]["text"]
                for stratum in stratifier["stratum"]:
                    value = stratum["value"]["coding"][0]["code"]
                    figures[(org, code, name, value)] = _figure(stratum["population"][0])
    return figures


def _figure(population: dict[str, Any]) -> Any:
    if "count" in population:
        assert "extension" not in population
        return population["count"]
    assert population["extension"] == [MASKED_EXTENSION]
    return "masked"


def _truth_for(truth: dict[str, Any], level: str, month: str) -> dict[tuple, int]:
    return {
        (r["org"], r["group"], r["stratifier"], r["stratum"]): r["count"]
        for r in truth["unmet_need"]
        if r["level"] == level and r["month"] == month
    }


def test_unmasked_feed_gives_exactly_the_true_counts(tmp_path: Path, truth) -> None:
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true")
    status, out = _build(tmp_path, agreement)
    assert status == EXIT_QUARANTINED  # the fixtures carry bad lines on purpose
    figures = _published(out)
    expected = _truth_for(truth, "practice", "2026-10")
    assert {k: v for k, v in figures.items() if v} == expected
    assert len(figures) == 6 * 8 * (1 + 6 + 3 + 6 + 6)  # practices x groups x cells


def test_masked_feed_masks_1_to_threshold_and_rounds_the_rest(tmp_path: Path, truth) -> None:
    # primary masks only (secondary = false is below the floor: an internal recipient's rules)
    agreement = write_agreement(tmp_path / "a.toml", secondary="false", internal="true")
    status, out = _build(tmp_path, agreement)
    assert status == EXIT_QUARANTINED
    figures = _published(out)
    expected = _truth_for(truth, "practice", "2026-10")
    masked = 0
    for key, published in figures.items():
        true = expected.get(key, 0)
        if 1 <= true <= 7:
            assert published == "masked", key
            masked += 1
        else:
            assert published == 5 * ((2 * true + 5) // 10), key  # nearest 5, halves up
    assert masked > 0
    assert 0 not in [v for k, v in figures.items() if expected.get(k, 0) > 0]  # masked is never 0


def test_pcn_level_feed_matches_the_truth(tmp_path: Path, truth) -> None:
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true",
                                level="pcn", allowed='["sex"]')  # fmt: skip
    status, out = _build(tmp_path, agreement, period="2026-11")
    assert status == EXIT_QUARANTINED
    expected = {k: v for k, v in _truth_for(truth, "pcn", "2026-11").items()
                if k[2] in (None, "sex")}  # fmt: skip
    assert {k: v for k, v in _published(out).items() if v} == expected
    assert sorted(p.stem for p in out.glob("*.json")) == [
        f"{measure}-{pcn}-2026-11"
        for measure in ("nhs-use", "referrals", "star-distance-travelled", "support-level",
                        "unmet-need")
        for pcn in ("U00001", "U00002")
    ]  # fmt: skip


def test_no_patient_identifier_reaches_the_feed(tmp_path: Path, practice_data: Path) -> None:
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true")
    _, out = _build(tmp_path, agreement)
    identifiers = set()
    for line in (SYNTHETIC / "Patient.ndjson").read_text().splitlines():
        if line.strip().startswith("{"):
            patient = json.loads(line)
            identifiers.add(patient["id"])
            identifiers |= {i["value"] for i in patient.get("identifier", [])}
    assert len(identifiers) > 300
    feed_text = "".join(p.read_text() for p in out.iterdir())
    assert not [i for i in identifiers if i in feed_text]
    assert not list(out.glob("*quarantine*"))
    (quarantine,) = (practice_data / "quarantine").glob("quarantine-*.ndjson")
    items = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert {i["reason"] for i in items} >= {"malformed-json", "nhs-number-check-digit"}


def test_csv_carries_the_same_figures(tmp_path: Path) -> None:
    agreement = write_agreement(tmp_path / "a.toml", secondary="false", internal="true")
    _, out = _build(tmp_path, agreement)  # the CSV says masked, never why
    figures = _published(out)
    with (out / "feed-2026-10.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["measure"].endswith("/unmet-need")]
    assert len(rows) == len(figures)
    for row in rows:
        key = (row["org"], row["group"], row["stratifier"] or None, row["stratum"] or None)
        expected = figures[key]
        assert (row["count"] or "masked") == str(expected)
        assert row["status"] == ("masked" if expected == "masked" else "published")


@pytest.mark.parametrize("rounding", [5, 1])
def test_secondary_suppression_is_built_and_the_exact_attacker_learns_nothing(
    tmp_path: Path, truth, rounding: int
) -> None:
    from ltcbridge.agreement import load_agreement
    from ltcbridge.disclosure.audit import audit
    from ltcbridge.disclosure.cells import MASKED, DisclosureRules
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_feed

    agreement = write_agreement(  # rounding 1 is below the floor: an internal recipient's rules
        tmp_path / "a.toml", rounding=rounding, internal="true" if rounding == 1 else "false"
    )
    status, out = _build(tmp_path, agreement)
    assert status == EXIT_QUARANTINED
    figures = _published(out)
    build = build_feed(
        SYNTHETIC, load_mappings([SYNTHETIC / "mappings"]), load_agreement(agreement), "2026-10"
    )
    release = build.release
    expected = _truth_for(truth, "practice", "2026-10")
    unmet_need = build.cubes[0].measure
    written = {tuple(key[2:]): v for key, v in release.values.items() if key[0] == unmet_need}
    assert figures == {k: "masked" if v is MASKED else v for k, v in written.items()}
    for key, value in release.true_values.items():
        if key[0] == unmet_need:
            assert value == expected.get(tuple(key[2:]), 0), key  # the independent truth
        if 1 <= value <= 7:
            assert release.values[key] is MASKED, key
    assert len({key[0] for key in release.values}) == 5  # every measure, protected together
    assert audit(release, DisclosureRules(threshold=7, rounding=rounding)) == []
    statuses = {row["status"] for row in csv.DictReader(next(out.glob("*.csv")).open())}
    assert statuses == {"published", "masked"}
    for path in out.glob("*.json"):  # the recipient cannot tell a secondary mask from a primary
        text = path.read_text()
        assert "primary" not in text and "history" not in text
        assert text.count("secondary") == 1  # only the agreement's rule, named in the report


def test_contract_example_counts_nobody_because_the_person_opted_out(
    tmp_path: Path, contract_mappings_dir: Path
) -> None:
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true")
    status, out = _build(tmp_path, agreement, source=CONTRACT / "example-entries.ndjson",
                         mappings=contract_mappings_dir)  # fmt: skip
    assert status == EXIT_OK
    assert set(_published(out).values()) == {0}


def test_contract_example_without_the_opt_out_counts_each_need_once(
    tmp_path: Path, contract_mappings_dir: Path
) -> None:
    lines = (CONTRACT / "example-entries.ndjson").read_text().splitlines()
    source = tmp_path / "export.ndjson"
    source.write_text("\n".join(line for line in lines if '"id": "oo1"' not in line) + "\n")
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true")
    status, out = _build(tmp_path, agreement, source=source, mappings=contract_mappings_dir)
    assert status == EXIT_OK
    totals = {k[1]: v for k, v in _published(out).items() if k[2] is None}
    assert totals == {
        "need-physical-activity": 1, "need-healthy-eating": 0, "need-arts-for-health": 0,
        "need-befriending": 1, "need-welfare-benefits": 1, "need-volunteering": 0,
        "need-other": 0, "need-any": 1,
    }  # fmt: skip
    figures = _published(out)
    assert figures[("Y00001", "need-any", "age-band", "75+")] == 1  # born 1951-03-02
    assert figures[("Y00001", "need-any", "ethnicity-group", "asian")] == 1  # category H


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "no .ndjson files"),
        (lambda d: ((d / "e.ndjson").write_text("") and None) or d / "e.ndjson", "is empty"),
    ],
)
def test_an_empty_or_missing_source_is_an_error_not_an_empty_feed(
    tmp_path: Path, capsys, make, message: str
) -> None:
    status, out = _build(tmp_path, write_agreement(tmp_path / "a.toml"), source=make(tmp_path))
    assert status == EXIT_ERROR and message in capsys.readouterr().err
    assert not out.exists()


def test_period_must_be_a_month(tmp_path: Path, capsys) -> None:
    status, _ = _build(tmp_path, write_agreement(tmp_path / "a.toml"), period="2026-13")
    assert status == EXIT_ERROR and "YYYY-MM" in capsys.readouterr().err


def test_a_scan_for_concept_measures_keeps_no_older_outcome_facts_and_counts_the_same(
    synthetic_mappings,
) -> None:  # type: ignore[no-untyped-def]
    """Pushing the measures down into the scan keeps fewer facts (memory) and changes no figure;
    a release that needs the dropped facts refuses to be built from that scan."""
    from ltcbridge.agreement import parse_agreement
    from ltcbridge.errors import LtcbridgeError
    from ltcbridge.identifiable.population import build_population
    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.pipeline import ScannedSource, build_release, scan_for_feed

    def agreement(measures: list[str] | None) -> Any:
        return parse_agreement(
            {
                "agreement": {"id": "T", "recipient": "QHM", "internal_recipient": True} | WINDOW,
                "disclosure": {"threshold": 0, "rounding": 1},
                "breakdowns": {"allowed": ["age-band", "sex"], "level": "practice"},
            }
            | ({"measures": {"include": measures}} if measures else {})
        )

    concept_only = ["unmet-need", "support-level"]
    narrow = scan_for_feed(SYNTHETIC, synthetic_mappings, "2026-10", concept_only)
    wide = scan_for_feed(SYNTHETIC, synthetic_mappings, "2026-10")
    everything = scan_source(SYNTHETIC, synthetic_mappings)  # every fact of every month
    assert not narrow.columns.look_back and wide.columns.look_back
    assert len(narrow.population.fact_date) < len(wide.population.fact_date)
    assert len(narrow.population.stars.reading) < len(wide.population.stars.reading)
    # every version still seen
    assert narrow.population.report.entry_versions == wide.population.report.entry_versions
    assert len(wide.columns.v_key) == 0  # the rows are dropped once the population is built
    built = [
        build_release(scanned, synthetic_mappings, agreement(concept_only), "2026-10").protected
        for scanned in (narrow, ScannedSource(everything, build_population(everything)))
    ]
    assert built[0] == built[1] and built[0]
    with pytest.raises(LtcbridgeError, match="cannot build the outcome measures"):
        build_release(narrow, synthetic_mappings, agreement(None), "2026-10")


def test_resources_of_the_wrong_shape_are_quarantined_with_their_path_and_counted_apart(
    tmp_path: Path, truth, practice_data: Path
) -> None:
    """Lines that are JSON but hold a value of the wrong type where the rules look (a number
    for meta, text for code.coding, null for a subject, a list for a status) are quarantined
    naming the element; the rest of the export counts exactly as before."""
    import shutil

    source = tmp_path / "export"
    shutil.copytree(SYNTHETIC, source, ignore=shutil.ignore_patterns("mappings"))
    coding = {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}
    broken = [
        {"resourceType": "Observation", "id": "w1", "meta": 5, "status": "final", "code": coding},
        {"resourceType": "Condition", "id": "w2", "code": {"coding": "UN-PA"}},
        {"resourceType": "Observation", "id": "w3", "status": "final", "subject": None,
         "code": {"coding": [{"system": "https://ltcbridge.github.io/fhir/CodeSystem/concept",
                              "code": "need-befriending"}]}, "effectiveDateTime": "2026-10-02"},
        {"resourceType": "ServiceRequest", "id": "w4", "status": ["active"], "code": coding},
        {"resourceType": "Patient", "id": "w5", "identifier": [5]},
    ]  # fmt: skip
    (source / "Wrong.ndjson").write_text("".join(json.dumps(r) + "\n" for r in broken))
    agreement = write_agreement(tmp_path / "a.toml", threshold=0, rounding=1, internal="true")
    status, out = _build(tmp_path, agreement, source=source)
    assert status == EXIT_QUARANTINED
    figures = _published(out)
    assert {k: v for k, v in figures.items() if v} == _truth_for(truth, "practice", "2026-10")
    quarantined = [
        json.loads(line)
        for line in next((practice_data / "quarantine").glob("*.ndjson")).read_text().splitlines()
    ]
    wrong = {q["resource"]: (q["reason"], q["path"], q["line"]) for q in quarantined
             if q["file"] == "Wrong.ndjson"}  # fmt: skip
    assert wrong == {
        "Observation/w1": ("malformed", "Observation.meta", 1),
        "Condition/w2": ("malformed", "Condition.code.coding", 2),
        "Observation/w3": ("missing-subject", "Observation.subject", 3),  # null: absent
        "ServiceRequest/w4": ("malformed", "ServiceRequest.status", 4),
        "Patient/w5": ("malformed", "Patient.identifier[0]", 5),
    }


@pytest.mark.parametrize("damage", ["cut off", "corrupted"])
def test_a_damaged_gzip_export_is_a_clear_error_and_no_feed(
    tmp_path: Path, capsys, damage: str
) -> None:  # type: ignore[no-untyped-def]
    """A .ndjson.gz cut off in transfer, or with damaged bytes, cannot be trusted in any line:
    the build stops naming the file and what to do, and writes nothing (a feed without it would
    undercount)."""
    import gzip

    source = tmp_path / "export"
    source.mkdir()
    packed = bytearray(gzip.compress((SYNTHETIC / "Observation.ndjson").read_bytes()))
    if damage == "cut off":
        packed = packed[: len(packed) // 2]
    else:
        for at in range(len(packed) // 3, len(packed) // 3 + 64):
            packed[at] ^= 0x5A
    (source / "Observation.ndjson.gz").write_bytes(bytes(packed))
    status, out = _build(tmp_path, write_agreement(tmp_path / "a.toml"), source=source)
    message = capsys.readouterr().err
    assert status == EXIT_ERROR and "Observation.ndjson.gz cannot be decompressed" in message
    assert "export it again" in message and not out.exists()


def test_a_byte_order_mark_at_the_start_of_an_export_file_is_read_past(tmp_path: Path) -> None:
    """Windows tools often start a UTF-8 file with a byte order mark; the first line still
    counts (it used to be quarantined as not JSON)."""
    import gzip

    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.mapping import load_mappings

    plain, marked = tmp_path / "plain", tmp_path / "marked"
    for folder, prefix in ((plain, b""), (marked, b"\xef\xbb\xbf")):
        folder.mkdir()
        data = (SYNTHETIC / "Patient.ndjson").read_bytes()
        (folder / "Patient.ndjson").write_bytes(prefix + data)
        (folder / "Patient.ndjson.gz").write_bytes(gzip.compress(prefix + data))
    mappings = load_mappings([SYNTHETIC / "mappings"])
    scans = [scan_source(folder, mappings) for folder in (plain, marked)]
    assert scans[0].resource_counts == scans[1].resource_counts
    assert [(q.file, q.line, q.reason) for q in scans[0].quarantine] == [
        (q.file, q.line, q.reason) for q in scans[1].quarantine
    ]


def test_a_bundle_in_the_export_is_read_as_its_resources(
    tmp_path: Path, synthetic_mappings
) -> None:  # type: ignore[no-untyped-def]
    """A saved search page or a collection Bundle counts exactly as its resources written one a
    line; a bad entry is quarantined alone, at the Bundle's line; a DELETE entry is skipped."""
    import numpy as np
    import orjson

    from ltcbridge.identifiable.population import build_population
    from ltcbridge.identifiable.scan import scan_source

    resources = []
    for name in ("Patient.ndjson", "Observation.ndjson"):
        for line in (SYNTHETIC / name).read_bytes().splitlines():
            try:
                resources.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    plain, bundled = tmp_path / "plain", tmp_path / "bundled"
    plain.mkdir(), bundled.mkdir()
    (plain / "all.ndjson").write_bytes(b"\n".join(orjson.dumps(r) for r in resources) + b"\n")
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            *({"resource": r} for r in resources),
            {"request": {"method": "DELETE", "url": "x"}},
            7,
        ],
    }
    (bundled / "page.ndjson").write_bytes(b'{"resourceType": "Goal"}\n' + orjson.dumps(page))
    scans = [scan_source(folder, synthetic_mappings) for folder in (plain, bundled)]

    populations = [build_population(scan) for scan in scans]
    assert len(populations[0].fact_patient) > 0
    for column in ("fact_patient", "fact_date", "fact_concept", "birth", "sex"):
        assert np.array_equal(getattr(populations[0], column), getattr(populations[1], column))
    counts = scans[1].resource_counts
    assert counts.pop("Bundle") == 1 and counts == scans[0].resource_counts
    reasons = sorted(q.reason for q in scans[0].quarantine)
    assert sorted(q.reason for q in scans[1].quarantine) == sorted(
        [*reasons, "missing-id", "not-a-resource"]
    )
    assert {q.line for q in scans[1].quarantine} == {1, 2}  # the Goal's line, the Bundle's line


def test_a_period_the_export_has_nothing_for_is_pointed_out(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A month with no entry builds a feed of zeros, and the summary says to check --period;
    a month with entries does not say so."""
    agreement = write_agreement(tmp_path / "a.toml")
    _build(tmp_path / "empty", agreement, period="2027-05")
    assert "Nothing read is dated 2027-05" in capsys.readouterr().out
    _build(tmp_path / "full", agreement, period="2026-10")
    assert "Nothing read is dated" not in capsys.readouterr().out
