"""The field, the sharing, the share documents and the agreement section."""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson
import pytest

from ltcbridge.agreement import parse_agreement
from ltcbridge.errors import AgreementError
from ltcbridge.secagg.batch import BatchRefused, Proposal
from ltcbridge.secagg.contribute import split_practice
from ltcbridge.secagg.document import (
    ShareDocumentError,
    counts_of,
    layout_of,
    read_share_document,
    share_document,
)
from ltcbridge.secagg.field import PRIME, add, reconstruct, split, total
from ltcbridge.secagg.pipeline import areas_of

from .helpers import month


def test_two_shares_add_up_to_the_counts_and_sums_of_shares_to_the_sum() -> None:
    counts = np.array([[0, 1, 7, 8], [1234, 0, 3, 999_999]])
    first, second = split(counts)
    assert (reconstruct(first, second) == counts).all()
    assert first.max() < PRIME and second.max() < PRIME
    both = [split(row) for row in counts]
    summed = reconstruct(total([f for f, _ in both], 4), total([s for _, s in both], 4))
    assert summed.tolist() == counts.sum(axis=0).tolist()


def test_a_share_is_not_the_count() -> None:
    first, second = split(np.zeros(1000, dtype=np.int64))
    assert (first != 0).mean() > 0.99 and (add(first, second) == 0).all()


def test_negative_counts_cannot_be_shared() -> None:
    with pytest.raises(ValueError, match="only counts"):
        split(np.array([-1]))


def test_share_document_round_trip_keeps_every_cell_as_a_decimal_string() -> None:
    data = month()
    practice = data.cube.orgs[0]
    leader_set, helper_set = split_practice(data.cube, practice)
    document = share_document(leader_set)
    assert document["resourceType"] == "MeasureReport"
    assert document["reporter"]["identifier"]["value"] == practice
    assert isinstance(document["group"][0]["extension"][0]["valueString"], str)
    back = read_share_document(document)
    assert back.layout == leader_set.layout and back.sender == practice
    again = read_share_document(share_document(helper_set))
    assert reconstruct(back.elements, again.elements).tolist() == (
        counts_of(data.cube, practice).tolist()
    )


def test_a_share_outside_the_field_is_refused_with_the_report_named() -> None:
    document = share_document(split_practice(month().cube, month().cube.orgs[0])[0])
    document["group"][0]["extension"][0]["valueString"] = str(PRIME + 5)
    with pytest.raises(ShareDocumentError, match="not an ltcbridge share document"):
        read_share_document(document)


BASE = {
    "agreement": {"id": "DSA-S", "recipient": "QXX", "valid_from": date(2026, 4, 1),
                  "valid_until": date(2031, 3, 31)},
    "disclosure": {"threshold": 7, "rounding": 5},
}  # fmt: skip


def test_agreement_section_is_parsed_and_checked() -> None:
    assert parse_agreement(BASE, "a.toml").secure_aggregation is None
    section = {"secure_aggregation": {"aggregators": ["qxx", "X9L1A"], "min_practices": 6}}
    config = parse_agreement({**BASE, **section}, "a.toml").secure_aggregation
    assert config is not None
    assert (config.leader, config.helper, config.min_practices) == ("QXX", "X9L1A", 6)
    assert config.areas == ("pcn", "icb")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"aggregators": ["QXX", "qxx"]}, "different organisations"),
        ({"aggregators": ["QXX"]}, "aggregators"),
        ({"aggregators": ["QXX", "A", "B"]}, "aggregators"),
        ({"aggregators": ["QXX", "LA1"], "min_practices": 4}, "min_practices"),
        ({"aggregators": ["QXX", "LA1"], "areas": ["region"]}, "areas"),
        ({"aggregators": ["QXX", "LA1"], "aggregator": "typo"}, "aggregator"),
        # as strict as the agreement's other tables: nothing converted, ODS codes checked
        ({"aggregators": ["QXX", "LA1"], "min_practices": "6"},
         r"min_practices: must be a whole number, without quotes \(found '6'\)"),
        ({"aggregators": ["QXX", "LA1"], "min_practices": 6.0}, "min_practices: must be a whole"),
        ({"aggregators": ["QXX", "X 1"]}, r"aggregators\[1\]: 'X 1' is not an ODS code"),
        ({"aggregators": ["QXX", ""]}, r"aggregators\[1\]: '' is not an ODS code"),
        ({"aggregators": "QXX"}, "aggregators: must be a list in square brackets"),
        ({"aggregators": ["QXX", "LA1"], "areas": "pcn"}, "areas: must be a list"),
    ],
)  # fmt: skip
def test_agreement_section_mistakes_name_the_key(section: dict, message: str) -> None:
    with pytest.raises(AgreementError, match=rf"(?s)a\.toml: .*\[secure_aggregation\].*{message}"):
        parse_agreement({**BASE, "secure_aggregation": section}, "a.toml")


def test_a_batch_proposal_survives_json_and_an_altered_one_is_refused() -> None:
    proposal = Proposal("U00001", "pcn", "m", "2026-10", 1, frozenset({"Y1", "Y2", "Y3"}))
    data = orjson.loads(orjson.dumps(proposal.to_dict()))
    assert Proposal.from_dict(data) == proposal
    data["practices"] = ["Y1", "Y2"]  # someone drops a practice on the way to the helper
    with pytest.raises(BatchRefused, match="does not match its practices"):
        Proposal.from_dict(data)


def test_areas_are_the_pcns_and_the_icb_of_the_practice_map() -> None:
    pcn_of = {"Y1": "U1", "Y2": "U1", "Y3": "U2"}
    areas = {a.code: a for a in areas_of(pcn_of, "QXX", ("pcn", "icb"))}
    assert areas["U1"].members == {"Y1", "Y2"} and areas["U1"].parent == "QXX"
    assert areas["QXX"].members == {"Y1", "Y2", "Y3"} and areas["QXX"].level == "icb"
    assert set(a.code for a in areas_of(pcn_of, "QXX", ("icb",))) == {"QXX"}


def test_a_practices_counts_are_its_cells_in_cube_order() -> None:
    cube = month().cube
    for org in cube.orgs[:5]:
        cells = [(key[1:], value) for key, value in cube.cells() if key[0] == org]
        assert list(layout_of(cube)) == [cell for cell, _ in cells]
        assert counts_of(cube, org).tolist() == [value for _, value in cells]
