"""A real bulk export that nobody on this project wrote (``--real-world DIR``, read in place).

Every expectation here is worked out from the export's files with plain ``json``, beside the
reader, never from ltcbridge's own output.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.concepts import COUNTED_CONCEPTS
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import load_mappings

pytestmark = pytest.mark.real_world

SNOMED = "http://snomed.info/sct"
# Social findings Synthea writes (see the export's README), mapped for these tests only.
SOCIAL_FINDINGS = {
    "422650009": "need-befriending",  # Social isolation
    "423315002": "need-befriending",  # Limited social contact
    "706893006": "need-other",  # Victim of intimate partner abuse
    "741062008": "need-welfare-benefits",  # Not in labor force
    "162864005": "need-healthy-eating",  # Body mass index 30+ - obesity
}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _day(text: str) -> int:
    return int(text[:10].replace("-", ""))


@pytest.fixture(scope="module")
def social_mappings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("real-world-mappings")
    elements = [
        {"code": code, "target": [{"code": concept, "equivalence": "equivalent"}]}
        for code, concept in SOCIAL_FINDINGS.items()
    ]
    concept_map = {
        "resourceType": "ConceptMap",
        "url": "urn:test:social-findings",
        "status": "active",
        "group": [
            {
                "source": SNOMED,
                "target": "https://ltcbridge.github.io/fhir/CodeSystem/concept",
                "element": elements,
            }
        ],
    }
    (directory / "social.json").write_text(json.dumps(concept_map))
    return directory


def test_the_whole_export_reads_with_nothing_quarantined(real_world: Path) -> None:
    columns = scan_source(real_world, load_mappings())
    assert [item.describe() for item in columns.quarantine] == []
    resource_files = [p for p in real_world.glob("*.ndjson") if p.name != "log.ndjson"]
    expected = {p.name.split(".", 1)[0]: len(_lines(p)) for p in resource_files}
    read = columns.resource_counts + columns.ignored_counts
    assert dict(read) == expected


def test_the_export_log_is_summarised_as_diagnostics(real_world: Path) -> None:
    events = Counter(line["eventId"] for line in _lines(real_world / "log.ndjson"))
    columns = scan_source(real_world, load_mappings())
    assert columns.diagnostics == Counter({f"export log: {e}": n for e, n in events.items()})


def test_every_patient_is_read_and_counted_once(real_world: Path) -> None:
    patients = _lines(real_world / "Patient.000.ndjson")
    merged = [p for p in patients if any(k.get("type") == "replaced-by" for k in p.get("link", []))]
    population = build_population(scan_source(real_world, load_mappings()))
    assert population.report.patients == len({p["id"] for p in patients}) - len(merged)
    # No registered practice in a US export, and the summary says why.
    assert population.report.without_practice == population.report.patients
    assert population.report.without_practice_reasons == {
        "no generalPractitioner or managingOrganization naming an organisation": (
            population.report.patients
        )
    }


def test_condition_onset_dates_are_those_in_the_file(
    real_world: Path, social_mappings: Path
) -> None:
    """Every social finding counts for its person on its onset day, as the file writes it (the
    local date), except those after the person's month of death (docs/counting-rules.md)."""
    died = {
        p["id"]: _day(p["deceasedDateTime"]) // 100
        for p in _lines(real_world / "Patient.000.ndjson")
        if "deceasedDateTime" in p
    }
    expected = set()
    for condition in _lines(real_world / "Condition.000.ndjson"):
        code = condition["code"]["coding"][0]["code"]
        status = condition.get("verificationStatus", {}).get("coding", [{}])[0].get("code")
        if code not in SOCIAL_FINDINGS or status in ("refuted", "entered-in-error"):
            continue
        person = condition["subject"]["reference"]
        day = _day(condition["onsetDateTime"])
        if day // 100 <= died.get(person.removeprefix("Patient/"), 999999):
            expected.add((person, SOCIAL_FINDINGS[code], day))
    assert len(expected) > 20  # the sample is not empty: the export has these findings
    mappings = load_mappings([social_mappings])
    population = build_population(scan_source(real_world, mappings, keep_identity=True))
    assert population.identity is not None
    got = {
        (population.identity[who], COUNTED_CONCEPTS[concept], int(day))
        for who, concept, day in zip(
            population.fact_patient, population.fact_concept, population.fact_date, strict=True
        )
        if COUNTED_CONCEPTS[concept].startswith("need-")
    }
    assert got == expected
