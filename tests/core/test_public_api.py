"""The names a provider developer imports from ``ltcbridge`` all resolve."""

from __future__ import annotations

import pytest

import ltcbridge


@pytest.mark.parametrize("name", ltcbridge.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(ltcbridge, name) is not None


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        ltcbridge.NoSuchThing  # noqa: B018


def test_reader_through_the_public_api() -> None:
    mappings = ltcbridge.load_mappings()
    record = ltcbridge.Reader(mappings).read(
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-10-02",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "871731000000106"}]},
        }
    )
    assert isinstance(record, ltcbridge.EntryRecord)
    assert record.concepts == ("referral-lead-provider",) and record.month == "2026-10"
