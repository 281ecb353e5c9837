"""Input in the shapes other tools write (tests/data/real-shapes), read end to end.

The expectations below were written by hand from the fixture files and docs/counting-rules.md
(each with the rule that decides it), not from ltcbridge's output.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from core_data import ROOT, write_agreement

from ltcbridge.cli import main
from ltcbridge.concepts import COUNTED_CONCEPTS, STRATIFIERS
from ltcbridge.identifiable.population import GP_NOT_IN_EXPORT, NO_GP, Population, build_population
from ltcbridge.identifiable.read import (
    NOTE_ETHNICITY_SYSTEM,
    NOTE_NHS_INVALID_BESIDE_VALID,
    NOTE_ONSET_TEXT,
)
from ltcbridge.identifiable.scan import Columns, scan_source
from ltcbridge.identifiable.sources import INCREMENTAL_EXPORT
from ltcbridge.mapping import Mappings, load_mappings

SHAPES = ROOT / "tests" / "data" / "real-shapes"
MAPPINGS, EXPORT = SHAPES / "mappings", SHAPES / "export"

# (person's first NHS number, concept, day) for every fact that counts
EXPECTED_FACTS = {
    ("9990000018", "need-befriending", 20260305),  # c01: onsetDateTime
    ("9990000018", "need-befriending", 20260312),  # c02: merged record pat-d -> pat-a;
    # onsetPeriod.start; 423315002 by map version 2.0.0 (1.0.0 said need-other)
    ("9990000018", "need-volunteering", 20260314),  # c12: via the other-map map
    ("9990000026", "need-befriending", 20260320),  # c03: by pat-b's second NHS number
    ("9990000026", "need-other", 20260311),  # c11: unlisted local code, unmapped mode fixed
    ("9990000026", "need-befriending", 20260318),  # qr-1: boolean item coded 422650009
    ("9990000026", "need-physical-activity", 20260318),  # qr-1: valueCoding answer
    ("9990000042", "need-arts-for-health", 20260309),  # c10: onsetString -> recordedDate
    ("9990000050", "need-befriending", 20260228),  # c04: onsetAge 46 a from 1980-02-29
    ("9990000050", "need-other", 20250228),  # c05: onsetRange low 45 a; dependsOn met
    ("9990000069", "need-befriending", 20260220),  # c07: before the month of death
    ("9990000077", "need-befriending", 20260301),  # c13: pat-g, who has no practice
}
# Not counted: c06 (dependsOn not met: encounter-diagnosis), c08 (after death), c09
# (unmatched), c14 (disjoint), and 73595000 by the retired map.


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return load_mappings([MAPPINGS])


@pytest.fixture(scope="module")
def columns(mappings: Mappings) -> Columns:
    return scan_source(EXPORT, mappings, keep_identity=True)


@pytest.fixture(scope="module")
def population(columns: Columns) -> Population:
    return build_population(columns)


def test_nothing_is_quarantined_and_nothing_is_left_unmapped(columns: Columns) -> None:
    assert [item.describe() for item in columns.quarantine] == []
    assert columns.unmapped == Counter()  # unmatched, disjoint, conditional codes are covered


def test_every_fact_counts_for_the_right_person_on_the_right_day(population: Population) -> None:
    assert population.identity is not None
    got = {
        (population.identity[who], COUNTED_CONCEPTS[concept], int(day))
        for who, concept, day in zip(
            population.fact_patient, population.fact_concept, population.fact_date, strict=True
        )
    }
    assert got == EXPECTED_FACTS


def test_people_merged_records_and_the_reasons_some_are_uncounted(population: Population) -> None:
    report = population.report
    # eight Patients, of which pat-d was replaced by pat-a
    assert population.identity == [
        "9990000018", "9990000026", "9990000042", "9990000050", "9990000069", "9990000077",
        "9990000085",
    ]  # fmt: skip
    assert (report.patients, report.merged_records, report.merged_target_missing) == (7, 1, 0)
    assert report.without_practice_reasons == {NO_GP: 1, GP_NOT_IN_EXPORT: 1}  # pat-g, pat-h
    assert report.entries_after_death == 1  # c08
    practice = [population.practices[i] if i >= 0 else None for i in population.patient_practice]
    # pat-e names Organization/org-gone, not in the export, with ODS Y05678 beside it
    assert practice == ["Y01234", "Y01234", "Y01234", "Y05678", "Y01234", None, None]
    groups = STRATIFIERS["ethnicity-group"]
    ethnicity = [groups[i] for i in population.ethnicity]
    # pat-a UK Core A; pat-b CareConnect H; pat-c a SNOMED code in the UK Core extension
    assert ethnicity[:3] == ["white", "asian", "not-stated"]
    assert any("merged record" in line for line in report.uncounted())


def test_what_was_read_not_as_written_is_noted(columns: Columns) -> None:
    assert columns.notes == Counter(
        {NOTE_ONSET_TEXT: 1, NOTE_NHS_INVALID_BESIDE_VALID: 1, NOTE_ETHNICITY_SYSTEM: 1}
    )


def test_the_export_log_and_error_files_are_diagnostics(columns: Columns) -> None:
    assert columns.diagnostics == Counter(
        {
            "export log: kickoff": 1,
            "export log: status_complete": 1,
            "export log: status_error": 1,
            "export log: export_complete": 1,
            "OperationOutcome issue: error (processing)": 2,
            "OperationOutcome issue: warning (too-costly)": 1,
        }
    )
    assert "OperationOutcome" not in columns.ignored_counts


def test_mappings_check_reports_every_map_left_out_or_read_by_a_fallback(
    mappings: Mappings, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings = "\n".join(str(w) for w in mappings.warnings)
    assert "ConceptMap-retired.json ConceptMap.status: is retired" in warnings
    assert "'1.0.0' of https://terminology.example-icb.nhs.uk/fhir/ConceptMap/social-needs is " \
        "not used: version '2.0.0'" in warnings  # fmt: skip
    assert "group[1].target: is missing: read as" in warnings
    assert "group[1].unmapped: mode fixed" in warnings
    assert main(["mappings", "check", str(MAPPINGS)]) == 0
    out = capsys.readouterr().out
    assert out.count("warning:") == len(mappings.warnings) == 4
    assert "1 code(s) assert a concept only beside another coding (dependsOn)" in out


def test_coverage_prints_notes_and_diagnostics(capsys: pytest.CaptureFixture[str]) -> None:
    main(["mappings", "coverage", "--mappings", str(MAPPINGS), "--source", str(EXPORT)])
    out = capsys.readouterr().out
    assert "2 × OperationOutcome issue: error (processing)" in out
    assert f"1 × {NOTE_ONSET_TEXT}" in out


def test_a_source_that_is_only_an_export_log_reads_as_nothing(tmp_path: Path) -> None:
    log = tmp_path / "log.ndjson"
    log.write_bytes((EXPORT / "log.ndjson").read_bytes())
    columns = scan_source(tmp_path, load_mappings())
    assert columns.quarantine == [] and sum(columns.diagnostics.values()) == 4


# The export's error file, tallied (written from OperationOutcome.000.ndjson)
ERROR_ISSUES = {
    "OperationOutcome issue: error (processing)": 2,
    "OperationOutcome issue: warning (too-costly)": 1,
}


def test_error_files_in_a_folder_of_their_own_are_read_as_diagnostics(tmp_path: Path) -> None:
    """SMART's bulk-data-client writes the manifest's error files into error/ beside the
    resources: they are the export's diagnostics all the same."""
    download = tmp_path / "download"
    shutil.copytree(EXPORT, download)
    (download / "error").mkdir()
    shutil.move(download / "OperationOutcome.000.ndjson", download / "error" / "1.ndjson")
    columns = scan_source(download, load_mappings([MAPPINGS]))
    issues = {k: n for k, n in columns.diagnostics.items() if k.startswith("OperationOutcome")}
    assert issues == ERROR_ISSUES
    assert columns.quarantine == []


def test_the_feed_build_says_the_export_may_be_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agreement = write_agreement(tmp_path / "a.toml", valid_from=date(2025, 4, 1))
    out, data = str(tmp_path / "feed"), str(tmp_path / "data")
    status = main(["feed", "build", "--source", str(EXPORT), "--mappings", str(MAPPINGS),
                   "--agreement", str(agreement), "--period", "2026-03", "--out", out,
                   "--data-dir", data, "--json"])  # fmt: skip
    built = json.loads(capsys.readouterr().out)
    assert status == 0  # diagnostics are not bad input
    assert {k: n for k, n in built["diagnostics"].items() if k.startswith("Operation")} == (
        ERROR_ISSUES
    )
    assert built["diagnostics"]["export log: status_error"] == 1
    summary = "\n".join(built["summary"])
    assert "2 × OperationOutcome issue: error (processing)" in summary
    assert "the export may lack resources" in summary
    notes = next(line for line in built["summary"] if line.startswith("Read, though not as"))
    assert f"1 × {NOTE_ONSET_TEXT}" in notes and f"1 × {NOTE_ETHNICITY_SYSTEM}" in notes
    assert "only what changed" not in summary


def test_an_export_of_changes_only_is_said_to_be_partial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bulk-data-client writes an export's deletions (a _since export's) into deleted/."""
    download = tmp_path / "download"
    shutil.copytree(EXPORT, download)
    (download / "deleted").mkdir()
    deletions = {"resourceType": "Bundle", "type": "transaction",
                 "entry": [{"request": {"method": "DELETE", "url": "Condition/c01"}}]}  # fmt: skip
    (download / "deleted" / "1.Bundle.ndjson").write_text(json.dumps(deletions) + "\n")
    agreement = write_agreement(tmp_path / "a.toml", valid_from=date(2025, 4, 1))
    out, data = str(tmp_path / "feed"), str(tmp_path / "data")
    main(["feed", "build", "--source", str(download), "--mappings", str(MAPPINGS),
          "--agreement", str(agreement), "--period", "2026-03", "--out", out,
          "--data-dir", data, "--json"])  # fmt: skip
    built = json.loads(capsys.readouterr().out)
    assert built["diagnostics"][INCREMENTAL_EXPORT] == 1
    assert "so the counts are partial: build the feed from a whole export" in "\n".join(
        built["summary"]
    )
    assert "Bundle" not in built["summary"][0]  # the deletions are not read as resources


def test_warnings_alone_do_not_say_the_export_is_incomplete(tmp_path: Path) -> None:
    from ltcbridge.agreement import load_agreement
    from ltcbridge.build_summary import summarise
    from ltcbridge.pipeline import ScannedSource, build_release

    source = tmp_path / "export"
    shutil.copytree(EXPORT, source)
    warning = {"resourceType": "OperationOutcome", "id": "w-1",
               "issue": [{"severity": "warning", "code": "too-costly"}]}  # fmt: skip
    (source / "OperationOutcome.000.ndjson").write_text(json.dumps(warning) + "\n")
    mappings = load_mappings([MAPPINGS])
    columns = scan_source(source, mappings)
    agreement_file = write_agreement(tmp_path / "a.toml", valid_from=date(2025, 4, 1))
    build = build_release(
        ScannedSource(columns, build_population(columns)), mappings,
        load_agreement(agreement_file), "2026-03",
    )  # fmt: skip
    summary = "\n".join(summarise(build))
    assert "1 × OperationOutcome issue: warning (too-costly)" in summary
    assert "may lack resources" not in summary
