"""People as GP systems record them, and every Condition onset form that gives a date.

Expectations are written by hand from docs/counting-rules.md ("People", "Entry forms").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.concepts import COUNTED_CONCEPTS
from ltcbridge.errors import BadResource
from ltcbridge.identifiable import read as read_module
from ltcbridge.identifiable.model import EntryRecord, PatientRecord
from ltcbridge.identifiable.population import Population, build_population
from ltcbridge.identifiable.read import (
    NOTE_ETHNICITY_SYSTEM,
    NOTE_NHS_INVALID_BESIDE_VALID,
    NOTE_ONSET_AGE_UNIT,
    NOTE_ONSET_TEXT,
    Reader,
)
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import load_mappings

NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"
UKCORE_ETHNICITY = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
UKCORE_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
CARECONNECT = "https://fhir.hl7.org.uk/STU3/StructureDefinition/CareConnect-EthnicCategory-1"
CARECONNECT_SYSTEM = "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-EthnicCategory-1"


@pytest.fixture
def reader() -> Reader:
    return Reader(load_mappings())


def _patient(pid: str = "p1", *numbers: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": NHS, "value": n} for n in numbers],
        "generalPractitioner": [{"identifier": {"system": ODS, "value": "Y01234"}}],
    } | fields


def _condition(cid: str = "c1", subject: str = "p1", **onset: Any) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{subject}"},
        "code": {"coding": [{"system": CONCEPT, "code": "need-befriending"}]},
        "recordedDate": "2026-03-15",
    } | onset


def _read_patient(reader: Reader, resource: dict[str, Any]) -> PatientRecord:
    record = reader.read(resource)
    assert isinstance(record, PatientRecord)
    return record


def _read_entry(reader: Reader, resource: dict[str, Any]) -> EntryRecord:
    record = reader.read(resource)
    assert isinstance(record, EntryRecord)
    return record


def _ethnicity(url: str, system: str, code: str) -> list[dict[str, Any]]:
    coding = {"system": system, "code": code}
    return [{"url": url, "valueCodeableConcept": {"coding": [coding]}}]


# -- patients, one at a time ---------------------------------------------------------------------
def test_every_valid_nhs_number_identifies_the_person(reader: Reader) -> None:
    record = _read_patient(reader, _patient("p1", "9990000018", "999 000 0026"))
    assert (record.nhs_number, record.other_nhs_numbers) == ("9990000018", ("9990000026",))


def test_an_invalid_nhs_number_beside_a_valid_one_is_noted_not_fatal(reader: Reader) -> None:
    record = _read_patient(reader, _patient("p1", "9990000019", "9990000018"))
    assert record.nhs_number == "9990000018" and record.other_nhs_numbers == ()
    assert reader.notes[NOTE_NHS_INVALID_BESIDE_VALID] == 1


def test_only_invalid_nhs_numbers_quarantine_the_patient(reader: Reader) -> None:
    with pytest.raises(BadResource) as caught:
        reader.read(_patient("p1", "9990000019"))
    assert caught.value.path == "Patient.identifier[0].value"


def test_general_practitioner_falls_back_to_its_ods_identifier(reader: Reader) -> None:
    both = {"reference": "Organization/gone", "identifier": {"system": ODS, "value": "y05678"}}
    record = _read_patient(reader, _patient(generalPractitioner=[both]))
    assert record.practice == ("Organization", "gone|Y05678")


@pytest.mark.parametrize(
    ("general_practitioner", "managing", "practice"),
    [
        # GP Connect: the usual GP (a Practitioner) here, the registered practice beside it
        (
            [{"reference": "Practitioner/gp1"}],
            {"reference": "Organization/org1"},
            ("Organization", "org1"),
        ),
        ([], {"identifier": {"system": ODS, "value": "y07777"}}, ("ods", "Y07777")),
        # UK Core: generalPractitioner naming an Organization comes first
        (
            [{"reference": "Organization/org2"}],
            {"reference": "Organization/org1"},
            ("Organization", "org2"),
        ),
        ([{"reference": "Practitioner/gp1"}], {"display": "The Surgery"}, None),
        ([{"reference": "Practitioner/gp1"}], None, None),
    ],
)
def test_managing_organization_is_the_practice_when_no_general_practitioner_names_one(
    reader: Reader,
    general_practitioner: list[dict[str, Any]],
    managing: dict[str, Any] | None,
    practice: tuple[str, str] | None,
) -> None:
    fields: dict[str, Any] = {"generalPractitioner": general_practitioner}
    if managing is not None:
        fields["managingOrganization"] = managing
    record = _read_patient(reader, _patient(**fields))
    assert record.practice == practice


def test_a_managing_organization_of_the_wrong_shape_is_quarantined_naming_it(
    reader: Reader,
) -> None:
    listed = [{"reference": "Organization/o"}]  # a single Reference in R4, not a list
    patient = _patient(generalPractitioner=[], managingOrganization=listed)
    with pytest.raises(BadResource) as caught:
        reader.read(patient)
    assert "managingOrganization" in caught.value.path


HOME = {"use": "home", "postalCode": "QX1 1AA"}


@pytest.mark.parametrize(
    ("addresses", "postcode"),
    [
        ([HOME], "QX1 1AA"),
        ([{"use": "old", "postalCode": "QX9 9ZZ"}, HOME], "QX1 1AA"),
        ([{"use": "work", "postalCode": "QX9 9ZZ"}, {"postalCode": "QX2 2BB"}], "QX2 2BB"),
        ([{"postalCode": "QX9 9ZZ", "period": {"end": "2025-03-31"}}, HOME], "QX1 1AA"),
        ([{"use": "temp", "postalCode": "QX3 3CC"}, HOME], "QX1 1AA"),
        (
            [{"use": "old", "postalCode": "QX9 9ZZ"}, {"use": "temp", "postalCode": "QX3 3CC"}],
            "QX3 3CC",
        ),  # lived at, for now
        ([{"use": "home", "line": ["1 No Postcode Row"]}, HOME], "QX1 1AA"),
        ([{"use": "old", "postalCode": "QX9 9ZZ"}], "QX9 9ZZ"),  # nothing better: the first
        ([], None),
    ],
)
def test_deprivation_is_of_the_address_the_person_lives_at(
    addresses: list[dict[str, Any]], postcode: str | None
) -> None:
    assert read_module._postcode({"resourceType": "Patient", "address": addresses}) == postcode


@pytest.mark.parametrize(
    ("extension", "group", "noted"),
    [
        (_ethnicity(UKCORE_ETHNICITY, UKCORE_SYSTEM, "H"), "asian", False),
        (_ethnicity(CARECONNECT, CARECONNECT_SYSTEM, "M"), "black", False),
        (_ethnicity(UKCORE_ETHNICITY, "http://snomed.info/sct", "A"), "not-stated", True),
        (_ethnicity("http://example.org/other-ethnicity", UKCORE_SYSTEM, "A"), "not-stated", False),
    ],
)
def test_ethnicity_only_from_the_uk_core_and_careconnect_systems(
    reader: Reader, extension: list[dict[str, Any]], group: str, noted: bool
) -> None:
    record = _read_patient(reader, _patient(extension=extension))
    assert record.ethnicity_group == group
    assert reader.notes[NOTE_ETHNICITY_SYSTEM] == int(noted)


@pytest.mark.parametrize(
    ("fields", "death"),
    [
        ({"deceasedDateTime": "2026-03-10T07:30:00Z"}, 20260310),
        ({"deceasedDateTime": "2026-03"}, 20260300),
        ({"deceasedDateTime": "2026"}, -1),
        ({"deceasedBoolean": True}, -1),
        ({"deceasedBoolean": False}, 0),
        ({}, 0),
    ],
)
def test_death_is_read(reader: Reader, fields: dict[str, Any], death: int) -> None:
    assert _read_patient(reader, _patient(**fields)).death_int == death


def test_a_merged_record_names_the_record_that_replaced_it(reader: Reader) -> None:
    link = [{"type": "replaced-by", "other": {"reference": "Patient/p9"}}]
    assert _read_patient(reader, _patient(active=False, link=link)).replaced_by == "p9"
    seealso = [{"type": "seealso", "other": {"reference": "Patient/p9"}}]
    assert _read_patient(reader, _patient(link=seealso)).replaced_by is None
    replaces = [{"type": "replaces", "other": {"reference": "https://gp.example/fhir/Patient/p0"}}]
    record = _read_patient(reader, _patient(link=replaces))
    assert (record.replaced_by, record.replaces) == (None, ("p0",))


# -- onset dates ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("onset", "date_int"),
    [
        ({"onsetDateTime": "2026-02-27T23:00:00-05:00"}, 20260227),
        ({"onsetPeriod": {"start": "2026-01-31", "end": "2026-05-01"}}, 20260131),
        ({"onsetPeriod": {"end": "2026-05-01"}}, 20260315),  # no start: recordedDate
        ({"onsetString": "after the move"}, 20260315),
        ({"onsetRange": {"high": {"value": 50, "code": "a"}}}, 20260315),
    ],
)
def test_onset_forms_with_a_date(reader: Reader, onset: dict[str, Any], date_int: int) -> None:
    record = _read_entry(reader, _condition(**onset))
    assert record.date_int == date_int
    assert reader.notes[NOTE_ONSET_TEXT] == (date_int == 20260315)


def test_an_onset_age_is_dated_once_the_birth_date_is_known(reader: Reader) -> None:
    record = _read_entry(reader, _condition(onsetAge={"value": 3, "unit": "mo", "code": "mo"}))
    assert record.date is None and record.date_int < 0  # kept for the population to date


@pytest.mark.parametrize(
    "age",
    [{"value": 5, "code": "h"}, {"value": 201, "code": "a"}, {"value": 1e12, "code": "d"},
     {"value": -3, "code": "a"}, {"value": "40", "code": "a"}],
)  # fmt: skip
def test_an_onset_age_that_is_no_date_falls_to_recorded_date_and_is_noted(
    reader: Reader, age: dict[str, Any]
) -> None:
    record = _read_entry(reader, _condition(onsetAge=age))
    assert record.date_int == 20260315 and reader.notes[NOTE_ONSET_AGE_UNIT] == 1


def test_an_onset_age_in_days_from_a_birth_date(tmp_path: Path) -> None:
    population = _population(
        tmp_path,
        _patient("p1", "9990000018", birthDate="2026-01-01"),
        _condition("c1", onsetAge={"value": 59, "unit": "days", "code": "d"}),
    )
    assert _facts(population) == {("9990000018", "need-befriending", 20260301)}


# -- people in a whole source --------------------------------------------------------------------
def _population(tmp_path: Path, *resources: dict[str, Any]) -> Population:
    lines = "".join(json.dumps(r) + "\n" for r in resources)
    (tmp_path / "export.ndjson").write_text(lines)
    columns = scan_source(tmp_path, load_mappings(), keep_identity=True)
    assert columns.quarantine == []
    return build_population(columns)


def _facts(population: Population) -> set[tuple[str, str, int]]:
    assert population.identity is not None
    return {
        (population.identity[who], COUNTED_CONCEPTS[concept], int(day))
        for who, concept, day in zip(
            population.fact_patient, population.fact_concept, population.fact_date, strict=True
        )
    }


def test_onset_ages_are_dated_from_the_birth_date(tmp_path: Path) -> None:
    population = _population(
        tmp_path,
        _patient("p1", "9990000018", birthDate="2000-01-31"),
        _condition("c1", onsetAge={"value": 1, "code": "mo"}),  # 2000-02-29 (leap year)
        _condition("c2", onsetAge={"value": 2, "code": "wk"}),  # 2000-02-14
        _condition("c3", onsetRange={"low": {"value": 26, "code": "a"}}),  # 2026-01-31
        _patient("p2", "9990000026"),  # no birth date
        _condition("c4", "p2", onsetAge={"value": 40, "code": "a"}),
    )
    assert _facts(population) == {
        ("9990000018", "need-befriending", 20000229),
        ("9990000018", "need-befriending", 20000214),
        ("9990000018", "need-befriending", 20260131),
    }
    assert population.report.entries_onset_age_without_birth == 1


def test_merged_records_follow_replaced_by_along_a_chain(tmp_path: Path) -> None:
    def replaced(pid: str, number: str, by: str) -> dict[str, Any]:
        link = [{"type": "replaced-by", "other": {"reference": f"Patient/{by}"}}]
        return _patient(pid, number, active=False, link=link)

    population = _population(
        tmp_path,
        replaced("old", "9990000018", "middle"),
        replaced("middle", "9990000026", "new"),
        _patient("new", "9990000034"),
        replaced("orphan", "9990000042", "not-in-export"),
        _condition("c1", "old", onsetDateTime="2026-03-01"),
        _condition("c2", "middle", onsetDateTime="2026-03-02"),
        _condition("c3", "orphan", onsetDateTime="2026-03-03"),
        {**_condition("c4", onsetDateTime="2026-03-04"),
         "subject": {"identifier": {"system": NHS, "value": "9990000018"}}},
    )  # fmt: skip
    assert population.identity == ["9990000034", "9990000042"]
    assert _facts(population) == {
        ("9990000034", "need-befriending", 20260301),
        ("9990000034", "need-befriending", 20260302),
        ("9990000042", "need-befriending", 20260303),
        ("9990000034", "need-befriending", 20260304),  # by the old record's NHS number
    }
    report = population.report
    assert (report.merged_records, report.merged_target_missing) == (2, 1)


def test_a_merge_told_only_by_the_record_that_replaces_is_followed_too(tmp_path: Path) -> None:
    survivor = _patient("new", "9990000034")
    survivor["link"] = [{"type": "replaces", "other": {"reference": "Patient/old"}}]
    population = _population(
        tmp_path,
        _patient("old", "9990000018", active=False),
        survivor,
        _condition("c1", "old", onsetDateTime="2026-03-01"),
    )
    assert population.identity == ["9990000034"]
    assert _facts(population) == {("9990000034", "need-befriending", 20260301)}
    assert population.report.merged_records == 1


def test_records_replacing_each_other_are_left_as_they_are(tmp_path: Path) -> None:
    def replaced(pid: str, number: str, by: str) -> dict[str, Any]:
        link = [{"type": "replaced-by", "other": {"reference": f"Patient/{by}"}}]
        return _patient(pid, number, link=link)

    population = _population(
        tmp_path, replaced("a", "9990000018", "b"), replaced("b", "9990000026", "a")
    )
    assert sorted(population.identity or []) == ["9990000018", "9990000026"]
    assert population.report.merged_records == 0


def test_a_second_nhs_number_finds_the_person(tmp_path: Path) -> None:
    by_second = _condition("c1", onsetDateTime="2026-03-01")
    by_second["subject"] = {"identifier": {"system": NHS, "value": "9990000026"}}
    population = _population(tmp_path, _patient("p1", "9990000018", "9990000026"), by_second)
    assert _facts(population) == {("9990000018", "need-befriending", 20260301)}
    assert population.report.entries_unattributed == 0


def test_after_the_month_of_death_only_opt_outs_count(tmp_path: Path) -> None:
    optout = _condition("c4", onsetDateTime="2026-06-01")
    optout["code"] = {"coding": [{"system": CONCEPT, "code": "optout-secondary-use"}]}
    population = _population(
        tmp_path,
        _patient("p1", "9990000018", deceasedDateTime="2026-03-10"),
        _condition("c1", onsetDateTime="2026-03-31"),  # the month of death: counts
        _condition("c2", onsetDateTime="2026-04-01"),  # after it: not
        optout,
        _patient("p2", "9990000026", deceasedBoolean=True),
        _condition("c3", "p2", onsetDateTime="2026-05-01"),  # date of death unknown: counts
    )
    assert _facts(population) == {
        ("9990000018", "need-befriending", 20260331),
        ("9990000018", "optout-secondary-use", 20260601),
        ("9990000026", "need-befriending", 20260501),
    }
    assert population.report.entries_after_death == 1


def test_star_readings_after_the_month_of_death_count_nowhere(tmp_path: Path) -> None:
    def reading(oid: str, day: str) -> dict[str, Any]:
        area = {"coding": [{"system": CONCEPT, "code": "wb-money"}]}
        return {
            "resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": day,
            "code": {"coding": [{"system": CONCEPT, "code": "star-wellbeing"}]},
            "component": [{"code": area, "valueInteger": 4}],
        }  # fmt: skip

    population = _population(
        tmp_path,
        _patient("p1", "9990000018", deceasedDateTime="2026-03-10"),
        reading("o1", "2026-02-01"),
        reading("o2", "2026-04-01"),
    )
    assert population.stars.date.tolist() == [20260201]
    assert population.report.entries_after_death == 1
