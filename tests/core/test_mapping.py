"""Mappings are data, and loading refuses anything that would count people wrongly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltcbridge.cli import main
from ltcbridge.concepts import COUNTED_CONCEPTS, NEED_ANY, STRATIFIERS
from ltcbridge.errors import MappingError
from ltcbridge.mapping import load_mappings

PRACTICE_SYSTEM = "https://practice.example/codes"


def _concept_map(*elements: tuple[str, str, str], url: str = "urn:cm") -> dict:
    return {
        "resourceType": "ConceptMap",
        "url": url,
        "status": "active",
        "group": [
            {
                "source": PRACTICE_SYSTEM,
                "target": "https://ltcbridge.github.io/fhir/CodeSystem/concept",
                "element": [
                    {"code": code, "target": [{"code": concept, "equivalence": equivalence}]}
                    for code, concept, equivalence in elements
                ],
            }
        ],
    }


def _write(directory: Path, name: str, resource: object) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(resource if isinstance(resource, str) else json.dumps(resource))
    return path


def test_bundled_mappings_define_every_contract_concept_and_the_wellbeing_star() -> None:
    mappings = load_mappings()
    for concept in (*COUNTED_CONCEPTS, NEED_ANY, "goal"):
        assert concept in mappings.concept_kinds
    star = mappings.stars["star-wellbeing"]
    assert len(star.areas) == 8 and (star.min_score, star.max_score) == (1, 10)
    assert (
        mappings.concept_of("http://snomed.info/sct", "827241000000103") == "optout-secondary-use"
    )
    assert mappings.concept_of("http://snomed.info/sct", "871731000000106") == (
        "referral-lead-provider"
    )
    assert set(STRATIFIERS) == {"age-band", "sex", "ethnicity-group", "imd-quintile"}


def test_only_implying_equivalences_assert(tmp_path: Path) -> None:
    _write(tmp_path, "cm.json", _concept_map(
        ("A", "need-befriending", "wider"),
        ("B", "need-befriending", "narrower"),
        ("C", "need-volunteering", "equivalent"),
    ))  # fmt: skip
    mappings = load_mappings([tmp_path])
    assert mappings.concept_of(PRACTICE_SYSTEM, "A") == "need-befriending"
    assert mappings.concept_of(PRACTICE_SYSTEM, "B") is None
    assert mappings.is_covered(PRACTICE_SYSTEM, "B")  # known, deliberately asserting nothing
    assert mappings.concept_of(PRACTICE_SYSTEM, "C") == "need-volunteering"


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    bad = _write(tmp_path, "broken.json", '{"resourceType": "ConceptMap", ')
    with pytest.raises(MappingError) as caught:
        load_mappings([tmp_path])
    assert str(bad) in str(caught.value) and "not valid JSON" in str(caught.value)


def test_unknown_target_concept_names_file_and_element(tmp_path: Path) -> None:
    bad = _write(tmp_path, "cm.json", _concept_map(("A", "need-befriend", "equivalent")))
    with pytest.raises(MappingError) as caught:
        load_mappings([tmp_path])
    message = str(caught.value)
    assert str(bad) in message
    assert "ConceptMap.group[0].element[0].target[0].code" in message
    assert "'need-befriend' is not an ltcbridge concept" in message


def test_questionnaire_item_without_link_id_names_the_item(tmp_path: Path) -> None:
    _write(tmp_path, "q.json", {
        "resourceType": "Questionnaire", "url": "urn:q", "status": "active",
        "item": [{"linkId": "g", "type": "group", "item": [{"type": "boolean"}]}],
    })  # fmt: skip
    with pytest.raises(MappingError, match=r"Questionnaire\.item\[0\]\.item\[0\]\.linkId"):
        load_mappings([tmp_path])


@pytest.mark.parametrize(
    ("name", "resource", "element"),
    [
        ("cm.json", {**_concept_map(("A", "need-befriending", "equivalent")), "group": "x"},
         "ConceptMap.group"),
        ("cm.json", _concept_map(("A", "need-befriending", "equivalent")) | {"group": [
            {"source": PRACTICE_SYSTEM, "target": "https://ltcbridge.github.io/fhir/CodeSystem/concept",
             "element": [{"code": "A", "target": 5}]}]},
         "ConceptMap.group[0].element[0].target"),
        ("q.json", {"resourceType": "Questionnaire", "url": "urn:q", "status": "active",
                    "item": ["needs"]}, "Questionnaire.item[0]"),
        ("q.json", {"resourceType": "Questionnaire", "url": {"a": 1}, "status": "active"},
         "Questionnaire.url"),
    ],
)  # fmt: skip
def test_a_mapping_of_the_wrong_shape_names_file_and_element(
    tmp_path: Path, name: str, resource: dict, element: str
) -> None:  # type: ignore[type-arg]
    """A value of the wrong JSON type in a mapping file is a problem naming the file and the
    element, like every other mapping problem, never a traceback."""
    bad = _write(tmp_path, name, resource)
    with pytest.raises(MappingError) as caught:
        load_mappings([tmp_path])
    assert str(bad) in str(caught.value) and element in str(caught.value)


def test_one_code_sent_to_two_concepts_names_both_places(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.json", _concept_map(("X", "need-befriending", "equivalent")))
    second = _write(tmp_path, "b.json", _concept_map(("X", "need-other", "equivalent")))
    with pytest.raises(MappingError) as caught:
        load_mappings([tmp_path])
    message = str(caught.value)
    assert (
        str(first) in message
        and str(second) in message
        and "one code must mean one thing" in message
    )


def test_a_practice_map_may_repeat_a_bundled_mapping_but_not_contradict_it(tmp_path: Path) -> None:
    snomed = {
        "source": "http://snomed.info/sct",
        "target": "https://ltcbridge.github.io/fhir/CodeSystem/concept",
    }
    same = {
        **snomed,
        "element": [
            {
                "code": "827241000000103",
                "target": [{"code": "optout-secondary-use", "equivalence": "equal"}],
            }
        ],
    }
    _write(tmp_path, "same.json", {"resourceType": "ConceptMap", "url": "urn:a", "group": [same]})
    assert load_mappings([tmp_path]).concept_of("http://snomed.info/sct", "827241000000103")
    other = {
        **snomed,
        "element": [
            {
                "code": "827241000000103",
                "target": [{"code": "optout-withdrawn", "equivalence": "equal"}],
            }
        ],
    }
    _write(tmp_path, "other.json", {"resourceType": "ConceptMap", "url": "urn:b", "group": [other]})
    with pytest.raises(MappingError, match=r"conceptmap-national-defaults\.json"):
        load_mappings([tmp_path])


def test_lookups_are_recognised_by_their_header(tmp_path: Path) -> None:
    _write(tmp_path, "imd.csv", "postcode,imd_quintile\nex1 1aa,2\nEX2 2BB,5\n")
    _write(tmp_path, "pcn.csv", "practice,pcn\nY00001,U00001\n")
    mappings = load_mappings([tmp_path])
    assert mappings.imd_quintile == {"EX11AA": "2", "EX22BB": "5"}
    assert mappings.pcn_of == {"Y00001": "U00001"}
    _write(tmp_path, "odd.csv", "postcode,imd\nEX1,9\n")
    with pytest.raises(MappingError, match="unrecognised columns"):
        load_mappings([tmp_path])


def test_mappings_check_command_reports_ok_and_problems(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good"
    _write(good, "cm.json", _concept_map(("A", "need-befriending", "equivalent")))
    assert main(["mappings", "check", str(good)]) == 0
    assert "OK:" in capsys.readouterr().out
    bad = tmp_path / "bad"
    _write(bad, "cm.json", _concept_map(("A", "nope", "equivalent")))
    assert main(["mappings", "check", str(bad)]) == 1
    assert "target[0].code" in capsys.readouterr().err
