"""The reader: one resource at a time, every entry form, versions and bad input."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltcbridge.errors import BadResource
from ltcbridge.identifiable.model import EntryRecord, PatientRecord
from ltcbridge.identifiable.read import Reader, instant_us
from ltcbridge.mapping import load_mappings
from ltcbridge.nhs_number import is_valid_nhs_number

CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"


def _check_digit(nine: str) -> int | None:
    check = 11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
    return None if check == 10 else check % 11


@given(st.integers(min_value=0, max_value=999_999))
def test_nhs_numbers_with_a_right_check_digit_pass_and_a_changed_digit_fails(n: int) -> None:
    nine = f"999{n:06d}"
    check = _check_digit(nine)
    if check is None:
        assert not any(is_valid_nhs_number(f"{nine}{d}") for d in range(10))
        return
    assert is_valid_nhs_number(f"{nine}{check}")
    assert is_valid_nhs_number(f"{nine[:3]} {nine[3:6]} {nine[6:]}{check}")
    assert not is_valid_nhs_number(f"{nine}{(check + 1) % 10}")


@pytest.fixture(scope="module")
def reader(tmp_path_factory) -> Reader:  # type: ignore[no-untyped-def]
    return Reader(load_mappings())


def _obs(**fields) -> dict:  # type: ignore[no-untyped-def]
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-10-31T23:30:00-05:00",
        "code": {"coding": [{"system": CONCEPT, "code": "need-befriending"}]},
    } | fields


def test_month_is_the_date_as_written_not_converted_to_utc(reader: Reader) -> None:
    record = reader.read(_obs())
    assert isinstance(record, EntryRecord)
    assert record.month == "2026-10" and record.concepts == ("need-befriending",)


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_retracted_entries_assert_nothing(reader: Reader, status: str) -> None:
    record = reader.read(_obs(status=status))
    assert isinstance(record, EntryRecord) and record.retracted and record.concepts == ()


@pytest.mark.parametrize(
    ("fields", "reason", "path"),
    [
        ({"effectiveDateTime": "2026-02-30"}, "impossible-date", "Observation.effectiveDateTime"),
        ({"effectiveDateTime": "2026"}, "imprecise-date", "Observation.effectiveDateTime"),
        ({"subject": None}, "missing-subject", "Observation.subject"),
        ({"subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                     "value": "9990000019"}}},
         "nhs-number-check-digit", "Observation.subject.identifier.value"),
    ],
)  # fmt: skip
def test_bad_entries_name_the_reason_and_the_path(reader, fields, reason, path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadResource) as caught:
        reader.read(_obs(**fields))
    assert (caught.value.reason, caught.value.path) == (reason, path)


def test_star_reading_scores_are_checked_against_the_star_definition(reader: Reader) -> None:
    def star(score: int) -> dict:
        component = {"code": {"coding": [{"system": CONCEPT, "code": "wb-money"}]},
                     "valueInteger": score}  # fmt: skip
        return _obs(code={"coding": [{"system": CONCEPT, "code": "star-wellbeing"}]},
                    component=[component])  # fmt: skip

    record = reader.read(star(7))
    assert isinstance(record, EntryRecord)
    assert record.stars[0].star == "star-wellbeing" and record.stars[0].scores == {"wb-money": 7}
    with pytest.raises(BadResource, match=r"outside 1\.\.10") as caught:
        reader.read(star(11))
    assert caught.value.path == "Observation.component[0].valueInteger"


def test_nested_template_answers_are_read(reader: Reader) -> None:
    response = {
        "resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
        "questionnaire": "https://ltcbridge.github.io/fhir/Questionnaire/star-wellbeing",
        "subject": {"reference": "Patient/p1"}, "authored": "2026-10-02",
        "item": [{"linkId": "group", "item": [{"linkId": "wb-lifestyle",
                                                 "answer": [{"valueInteger": 4}]}]}],
    }  # fmt: skip
    record = reader.read(response)
    assert isinstance(record, EntryRecord)
    assert record.stars[0].scores == {"wb-lifestyle": 4}


def test_patient_demographics_and_practice(reader: Reader) -> None:
    patient = {
        "resourceType": "Patient", "id": "p1", "gender": "unknown", "birthDate": "1960-07",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "999 000 0018"}],
        "generalPractitioner": [{"reference": "Practitioner/x"},
                                {"reference": "https://gp.example/fhir/Organization/org1"}],
    }  # fmt: skip
    record = reader.read(patient)
    assert isinstance(record, PatientRecord)
    assert record.nhs_number == "9990000018" and record.birth_int == 19600701
    assert (record.sex, record.ethnicity_group, record.imd_quintile) == (
        "other-unknown",
        "not-stated",
        "unknown",
    )
    assert record.practice == ("Organization", "org1")


def test_unknown_and_unused_resource_types(reader: Reader) -> None:
    assert reader.read({"resourceType": "Medication", "id": "m"}) is None
    with pytest.raises(BadResource) as caught:
        reader.read({"resourceType": "Obsrvation", "id": "x"})
    assert caught.value.reason == "unknown-resource-type"


def test_a_bad_nested_answer_is_located_by_its_full_path(reader: Reader) -> None:
    response = {
        "resourceType": "QuestionnaireResponse", "id": "qr", "status": "completed",
        "questionnaire": "https://ltcbridge.github.io/fhir/Questionnaire/star-wellbeing|1",
        "subject": {"reference": "Patient/p1"}, "authored": "2026-10-02",
        "item": [
            {"linkId": "intro"},
            {"linkId": "group", "item": [{"linkId": "wb-money", "answer": [{"valueInteger": 0}]}]},
        ],
    }  # fmt: skip
    with pytest.raises(BadResource) as caught:
        reader.read(response)
    assert caught.value.path == "QuestionnaireResponse.item[1].item[0].answer[0].valueInteger"


_DIGITS = st.text("0123456789", min_size=2, max_size=2)
_INSTANTS = st.one_of(
    # well formed, from any real moment and zone (also the pieces the reader remembers)
    st.builds(
        lambda moment, zone: moment.isoformat(timespec="seconds") + zone,
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)),
        st.sampled_from(["Z", "+00:00", "+01:00", "-05:00", "+05:30", "+14:00", "-12:00"]),
    ),
    # the same layout with impossible or odd pieces, fractions of a second, other layouts
    st.builds(
        lambda *p: "{}-{}-{}T{}:{}:{}{}".format(*p),
        st.sampled_from(["2026", "1969", "0001"]),
        _DIGITS,
        _DIGITS,
        _DIGITS,
        _DIGITS,
        _DIGITS,
        st.sampled_from(["Z", "+01:00", "-25:00", ".5Z", ".123456+01:00", "", "+0100", "z"]),
    ),
    # layouts Python's parser also takes, which FHIR does not write
    st.sampled_from(
        [
            "2026-10-16T081300Z",
            "2026-10-16T081300.5+01:00",
            "2026-10-16T08:13+01:00",
            "2026-W42-5T08:13:00Z",
            "2026-10-16 08:13:00+01:00",
            "2026-10-16T08:13:00.5Z",
        ]
    ),
    st.text(max_size=30),
)


def _full_parse(text: str) -> int | str | None:
    try:
        return instant_us(text)
    except BadResource as bad:
        return bad.reason


@given(st.lists(_INSTANTS, min_size=1, max_size=40))
def test_last_updated_is_what_the_full_parse_gives_whatever_was_read_before(texts) -> None:  # type: ignore[no-untyped-def]
    """The reader remembers pieces of instants it has read (hours; minutes, seconds and zones);
    any mix of remembered pieces must give exactly what parsing the instant in full gives,
    and a bad instant must still be refused."""
    reader = Reader(load_mappings())
    for text in texts + texts[::-1]:
        patient = {"resourceType": "Patient", "id": "p1", "meta": {"lastUpdated": text}}
        try:
            got: int | str | None = reader.patient_fields(patient)[1]
        except BadResource as bad:
            got = bad.reason
        assert got == _full_parse(text), text


def _first_of_each_type() -> list[dict]:  # type: ignore[type-arg]
    import orjson
    from core_data import SYNTHETIC

    found: dict[str, dict] = {}  # type: ignore[type-arg]
    for path in sorted(SYNTHETIC.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            try:
                resource = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if isinstance(kind, str) and kind not in found:
                found[kind] = resource
    return list(found.values())


# A Patient as GP Connect writes it (the usual GP, the practice beside it), with a former address
GP_CONNECT_PATIENT = {
    "resourceType": "Patient",
    "id": "gpc-1",
    "meta": {"versionId": "3", "lastUpdated": "2026-03-01T10:00:00+00:00"},
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}],
    "address": [
        {"use": "old", "postalCode": "QX9 9ZZ", "period": {"end": "2025-03-31"}},
        {"use": "home", "postalCode": "QX1 1AA"},
    ],
    "generalPractitioner": [{"reference": "Practitioner/gp-1"}],
    "managingOrganization": {"reference": "Organization/org-1"},
}


def _real_shapes() -> list[dict]:  # type: ignore[type-arg]
    """Every resource of the hand-written real-shapes export (UK Core Patients, every onset)."""
    import orjson
    from core_data import ROOT

    export = ROOT / "tests" / "data" / "real-shapes" / "export"
    resources = []
    for path in sorted(export.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            resource = orjson.loads(line)
            if "resourceType" in resource:  # the log's lines have none
                resources.append(resource)
    return resources


def _element_paths(value: object, path: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    found = [path] if path else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()  # fmt: skip
    for key, item in items:
        found += _element_paths(item, (*path, key))
    return found


def _replaced(resource: dict, path: tuple, value: object) -> dict:  # type: ignore[type-arg]
    import copy

    changed = copy.deepcopy(resource)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_a_value_of_the_wrong_json_type_anywhere_is_bad_input_with_its_path() -> None:
    """Every element of one resource of each type, replaced by a value of another JSON type (or
    null): the reader either reads it or refuses it as ``BadResource`` naming the element. It
    never raises anything else (which would stop a scan or a sync cycle), and it never calls a
    malformed resource valid FHIR."""
    mappings = load_mappings()
    resources = _first_of_each_type() + _real_shapes() + [GP_CONNECT_PATIENT]
    assert len(resources) >= 20
    tried = refused = 0
    for resource in resources:
        kind = resource["resourceType"]
        reader = Reader(mappings)  # each locates its first malformed resources in full
        for path in _element_paths(resource):
            for value in (5, "x", None, [], {"a": 1}):
                tried += 1
                try:
                    reader.read(_replaced(resource, path, value))
                except BadResource as bad:
                    refused += 1
                    assert bad.reason != "unreadable", (kind, path, value, bad.message)
                    if bad.reason == "malformed":
                        assert bad.path.startswith(kind), (kind, path, bad.path)
    assert tried > 1000 and refused > tried // 4, (tried, refused)
