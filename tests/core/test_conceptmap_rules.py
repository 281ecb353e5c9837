"""ConceptMaps read by the FHIR R4 rules: every construct either honoured or refused by name.

Each test writes a map as a terminology tool might, and states by hand what the R4 rule makes
of it (docs/counting-rules.md, "What asserts a concept").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.cli import main
from ltcbridge.errors import MappingError
from ltcbridge.identifiable.model import EntryRecord
from ltcbridge.identifiable.read import Reader
from ltcbridge.mapping import Mappings, load_mappings

CONCEPT = "https://ltcbridge.github.io/fhir/CodeSystem/concept"
LOCAL = "https://practice.example/codes"
CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"


def _map(*elements: dict[str, Any], url: str = "urn:cm", **fields: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"source": LOCAL, "target": CONCEPT, "element": list(elements)}
    group |= fields.pop("group", {})
    return {"resourceType": "ConceptMap", "url": url, "status": "active", "group": [group]} | (
        fields
    )


def _element(code: str, *targets: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "target": list(targets)}


def _load(tmp_path: Path, *maps: dict[str, Any]) -> Mappings:
    for i, concept_map in enumerate(maps):
        (tmp_path / f"cm{i}.json").write_text(json.dumps(concept_map))
    return load_mappings([tmp_path])


def _refused(tmp_path: Path, *maps: dict[str, Any]) -> str:
    with pytest.raises(MappingError) as caught:
        _load(tmp_path, *maps)
    return str(caught.value)


def _condition(code: str, category: str = "problem-list-item") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2026-03-04",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOCAL, "code": code}]},
    }


def _concepts(mappings: Mappings, resource: dict[str, Any]) -> tuple[str, ...]:
    record = Reader(mappings).read(resource)
    assert isinstance(record, EntryRecord)
    return record.concepts


def test_unmatched_and_disjoint_assert_nothing_and_need_no_code(tmp_path: Path) -> None:
    mappings = _load(tmp_path, _map(
        _element("A", {"equivalence": "unmatched"}),
        _element("B", {"code": "need-befriending", "equivalence": "disjoint"}),
        _element("C", {"equivalence": "disjoint", "comment": "not a social need"}),
    ))  # fmt: skip
    for code in "ABC":
        assert mappings.concept_of(LOCAL, code) is None
        assert mappings.is_covered(LOCAL, code)  # known: coverage does not list it
    assert mappings.warnings == []


def test_a_target_without_equivalence_is_refused_naming_it(tmp_path: Path) -> None:
    message = _refused(tmp_path, _map(_element("A", {"code": "need-befriending"})))
    assert "ConceptMap.group[0].element[0].target[0].equivalence: is missing" in message


def test_an_unknown_equivalence_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _map(_element("A", {"code": "need-other", "equivalence": "same"})))
    assert "target[0].equivalence: 'same' is not a FHIR R4 equivalence" in message


def test_an_asserting_target_without_a_code_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _map(_element("A", {"equivalence": "equivalent"})))
    assert "target[0].code: None is not an ltcbridge concept" in message


def test_a_group_without_target_is_read_when_its_targets_are_concepts(tmp_path: Path) -> None:
    mappings = _load(tmp_path, _map(
        _element("A", {"code": "need-befriending", "equivalence": "equivalent"}),
        group={"target": None},
    ))  # fmt: skip
    assert mappings.concept_of(LOCAL, "A") == "need-befriending"
    assert [w.path for w in mappings.warnings] == ["ConceptMap.group[0].target"]


def test_a_group_without_target_mixing_concepts_and_other_codes_is_refused(
    tmp_path: Path,
) -> None:
    message = _refused(tmp_path, _map(
        _element("A", {"code": "need-befriending", "equivalence": "equivalent"}),
        _element("B", {"code": "12345", "equivalence": "equivalent"}),
        group={"target": None},
    ))  # fmt: skip
    assert "ConceptMap.group[0].target: is missing" in message
    assert "(need-befriending)" in message and "(12345)" in message


def test_a_group_without_target_naming_no_concept_is_some_other_map(tmp_path: Path) -> None:
    mappings = _load(tmp_path, _map(
        _element("A", {"code": "12345", "equivalence": "equivalent"}), group={"target": None}
    ))  # fmt: skip
    assert not mappings.is_covered(LOCAL, "A") and mappings.warnings == []


def test_depends_on_another_coding_of_the_resource_is_evaluated(tmp_path: Path) -> None:
    depends = {"property": "Condition.category", "system": CATEGORY, "value": "problem-list-item"}
    mappings = _load(tmp_path, _map(
        _element("A", {"code": "need-other", "equivalence": "equivalent", "dependsOn": [depends]})
    ))  # fmt: skip
    assert mappings.concept_of(LOCAL, "A") is None  # never unconditionally
    assert _concepts(mappings, _condition("A")) == ("need-other",)
    assert _concepts(mappings, _condition("A", "encounter-diagnosis")) == ()
    reader = Reader(mappings)
    reader.read(_condition("A", "encounter-diagnosis"))
    assert not reader.unmapped  # covered: the map names it, the condition was not met


def test_depends_on_that_names_no_coding_is_refused(tmp_path: Path) -> None:
    depends = {"property": "http://example.org/age", "value": "65"}
    message = _refused(tmp_path, _map(
        _element("A", {"code": "need-other", "equivalence": "equivalent", "dependsOn": [depends]})
    ))  # fmt: skip
    assert "target[0].dependsOn[0]: cannot be evaluated" in message


def test_a_code_mapped_both_plainly_and_conditionally_is_refused(tmp_path: Path) -> None:
    depends = {"property": "Condition.category", "system": CATEGORY, "value": "problem-list-item"}
    message = _refused(tmp_path, _map(
        _element("A", {"code": "need-other", "equivalence": "equivalent", "dependsOn": [depends]}),
        _element("A", {"code": "need-befriending", "equivalence": "equivalent"}),
    ))  # fmt: skip
    assert "a conditional mapping of it would never be used" in message


def test_product_is_refused(tmp_path: Path) -> None:
    product = {"property": "urn:x", "system": CONCEPT, "value": "need-any"}
    message = _refused(tmp_path, _map(
        _element("A", {"code": "need-other", "equivalence": "equivalent", "product": [product]})
    ))  # fmt: skip
    assert "target[0].product: is not supported" in message


def test_unmapped_provided_maps_a_concept_code_to_itself(tmp_path: Path) -> None:
    mappings = _load(tmp_path, _map(
        _element("need-other", {"equivalence": "unmatched"}),
        group={"unmapped": {"mode": "provided"}},
    ))  # fmt: skip
    assert mappings.concept_of(LOCAL, "need-befriending") == "need-befriending"
    assert mappings.concept_of(LOCAL, "need-other") is None  # listed: the element decides
    assert mappings.concept_of(LOCAL, "XYZ") is None


def test_unmapped_fixed_asserts_its_code_for_every_code_no_map_lists(tmp_path: Path) -> None:
    mappings = _load(tmp_path, _map(
        _element("A", {"code": "need-befriending", "equivalence": "narrower", "comment": "part"}),
        group={"unmapped": {"mode": "fixed", "code": "need-other"}},
    ))  # fmt: skip
    assert _concepts(mappings, _condition("ANYTHING")) == ("need-other",)
    assert _concepts(mappings, _condition("A")) == ()  # listed, narrower: asserts nothing
    assert any("mode fixed" in w.message for w in mappings.warnings)


def test_unmapped_fixed_to_something_not_a_concept_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _map(group={"unmapped": {"mode": "fixed", "code": "nope"}}))
    assert "group[0].unmapped.code: 'nope' is not an ltcbridge concept" in message


def test_unmapped_other_map_needs_that_map_in_use(tmp_path: Path) -> None:
    other = _map(_element("B", {"code": "need-other", "equivalence": "equivalent"}), url="urn:b")
    pointing = _map(group={"unmapped": {"mode": "other-map", "url": "urn:b|2"}}, url="urn:a")
    mappings = _load(tmp_path, pointing, other)
    assert mappings.concept_of(LOCAL, "B") == "need-other"
    (tmp_path / "cm1.json").write_text(json.dumps(other | {"status": "retired"}))
    message = _refused(tmp_path, pointing)
    assert "group[0].unmapped.url: 'urn:b|2' names no ConceptMap in use" in message


def test_an_unknown_unmapped_mode_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, _map(group={"unmapped": {"mode": "guess"}}))
    assert "unmapped.mode: 'guess' is not provided, fixed or other-map" in message


def test_versions_of_one_url_resolve_to_the_newest(tmp_path: Path) -> None:
    old = _map(_element("A", {"code": "need-other", "equivalence": "equivalent"}), version="2")
    new = _map(_element("A", {"code": "need-befriending", "equivalence": "equal"}), version="10")
    mappings = _load(tmp_path, new, old)  # read in either order
    assert mappings.concept_of(LOCAL, "A") == "need-befriending"
    assert [(w.where.endswith("cm1.json"), w.path) for w in mappings.warnings] == [
        (True, "ConceptMap.version")
    ]


def test_one_version_loaded_twice_must_agree(tmp_path: Path) -> None:
    first = _map(_element("A", {"code": "need-other", "equivalence": "equivalent"}), version="1")
    second = _map(_element("A", {"code": "need-befriending", "equivalence": "equal"}), version="1")
    assert "one code must mean one thing" in _refused(tmp_path, first, second)


def test_a_retired_map_is_not_used_and_check_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    retired = _map(_element("A", {"code": "need-other", "equivalence": "equivalent"}))
    mappings = _load(tmp_path, retired | {"status": "retired"})
    assert mappings.concept_of(LOCAL, "A") is None
    assert main(["mappings", "check", str(tmp_path)]) == 0
    assert "ConceptMap.status: is retired: the map is not used" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("equivalence", "warned"),
    [("narrower", True), ("inexact", True), ("relatedto", False), ("wider", False)],
)
def test_narrower_or_inexact_without_comment_is_a_cmd1_warning(
    tmp_path: Path, equivalence: str, warned: bool
) -> None:
    target = {"code": "need-other", "equivalence": equivalence}
    bare = _load(tmp_path, _map(_element("A", target)))
    assert [w.path for w in bare.warnings] == (
        ["ConceptMap.group[0].element[0].target[0].comment"] if warned else []
    )
    commented = _load(tmp_path, _map(_element("A", target | {"comment": "only part of it"})))
    assert commented.warnings == []


def test_the_bundled_and_demo_maps_load_without_warnings() -> None:
    from core_data import SYNTHETIC

    assert load_mappings().warnings == []
    assert load_mappings([SYNTHETIC / "mappings"]).warnings == []
