"""The filtered pull reaches everything the reader counts, in the two cases a filter by the
mappings' canonicals and the cohort's Patient ids alone would miss: a QuestionnaireResponse naming
a template version the mappings do not hold (read with the newest version held), and NHS use
recorded against a cohort member's NHS number alone (a logical reference).

Each expectation is written from the record the test loads (what the reader counts: a full read
finds the same, which each test checks too), never from what the pull happened to store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from ltcbridge.daemon.pull_plan import full_plan
from ltcbridge.daemon.state import StateStore
from ltcbridge.identifiable.read import NHS_USE_TYPES

from .loop_data import NHS, nhs_number, patient, put_all, reset, review
from .pull_data import ACT_CODE, OTHER_FORM, Counting, pull_once

pytestmark = pytest.mark.integration

ICB_FORM = "https://example-icb.nhs.uk/fhir/Questionnaire/care-planning"  # the mappings hold |3
MODES = ["rest", "bulk"]


def _work(mode: str, tmp_path: Path, name: str) -> Path | None:
    return tmp_path / name if mode == "bulk" else None


def _gp_template(version: str) -> dict[str, Any]:
    """The GP system's own copy of a version of the ICB's template (no items needed here)."""
    return {"resourceType": "Questionnaire", "id": f"care-planning-{version}", "url": ICB_FORM,
            "version": version, "status": "active"}  # fmt: skip


def _filtered_and_full(
    gp: str, record: list[dict[str, Any]], mode: str, tmp_path: Path
) -> tuple[StateStore, StateStore]:
    """``record`` alone on the GP engine, pulled filtered (as the daemon does) and in full."""
    reset(gp)
    put_all(gp, record)
    filtered, full = StateStore(tmp_path / "a.db"), StateStore(tmp_path / "b.db")
    asyncio.run(pull_once(gp, filtered, bulk=_work(mode, tmp_path, "w1")))
    asyncio.run(pull_once(gp, full, full_plan(), bulk=_work(mode, tmp_path, "w2")))
    return filtered, full


def _concepts(state: StateStore, source: str) -> set[str]:
    entry = state.entry(source)
    return set(entry.concepts) if entry is not None else set()


@pytest.mark.parametrize("mode", MODES)
def test_a_response_naming_a_template_version_the_mappings_lack_is_read(
    any_loop_engine: str, mode: str, tmp_path: Path
) -> None:
    newer = {**review("qr4", "p1", consent=True), "questionnaire": f"{ICB_FORM}|4"}
    other = {**review("qr-other", "p2", consent=True), "questionnaire": OTHER_FORM}
    record = [patient("p1", 1), patient("p2", 2), _gp_template("3"), _gp_template("4"), newer,
              other]  # fmt: skip
    filtered, full = _filtered_and_full(any_loop_engine, record, mode, tmp_path)

    # The mappings hold version 3 only: the reader reads version 4 with it, so the response
    # refers the person, with consent. An unmapped form's response is not asked for.
    expected = {"referral-lead-provider", "consent-share-provider"}
    assert expected <= _concepts(full, "QuestionnaireResponse/qr4")  # what a full read counts
    assert expected <= _concepts(filtered, "QuestionnaireResponse/qr4")
    assert filtered.entry("QuestionnaireResponse/qr4") == full.entry("QuestionnaireResponse/qr4")
    assert filtered.entry("QuestionnaireResponse/qr-other") is None


def _nhs_use_by_number(rid: str, kind: str, number: str) -> dict[str, Any]:
    """NHS use naming its person by NHS number alone (a logical reference), as the reader
    accepts: a prescription, an A&E attendance, or a GP appointment."""
    subject = {"identifier": {"system": NHS, "value": number}}
    if kind == "MedicationRequest":
        return {"resourceType": kind, "id": rid, "status": "active", "intent": "order",
                "subject": subject, "authoredOn": "2026-09-01",
                "medicationCodeableConcept": {"text": "Invented tablets"}}  # fmt: skip
    if kind == "Encounter":
        return {"resourceType": kind, "id": rid, "status": "finished",
                "class": {"system": ACT_CODE, "code": "EMER"}, "subject": subject,
                "period": {"start": "2026-09-02T22:00:00Z",
                           "end": "2026-09-03T01:00:00Z"}}  # fmt: skip
    return {"resourceType": kind, "id": rid, "status": "fulfilled",
            "start": "2026-09-04T09:00:00Z", "end": "2026-09-04T09:10:00Z",
            "participant": [{"actor": subject, "status": "accepted"}]}  # fmt: skip


def _referral_of(rid: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {**review(rid, "x", consent=True), "subject": subject}


def _nhs_use_record(spaced: bool = False) -> list[dict[str, Any]]:
    """p1 is referred (by Patient reference), p3 is referred by NHS number alone, p2 is not:
    each has NHS use recorded against their NHS number alone, of each type (``spaced``: the
    NHS use writes it 3-3-4 with spaces, as people read it)."""
    people = [patient(f"p{n}", n) for n in (1, 2, 3)]
    referrals = [
        _referral_of("qr1", {"reference": "Patient/p1"}),
        _referral_of("qr3", {"identifier": {"system": NHS, "value": nhs_number(3)}}),
    ]
    use = [
        _nhs_use_by_number(f"{kind[0].lower()}{n}", kind, _written(nhs_number(n), spaced))
        for n in (1, 2, 3)
        for kind in sorted(NHS_USE_TYPES)
    ]
    return [*people, *referrals, *use]


def _written(number: str, spaced: bool) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}" if spaced else number


# Written from the record: the referred people's (1 and 3) NHS use, every type; not person 2's.
COHORT_USE = {f"{kind}/{kind[0].lower()}{n}" for n in (1, 3) for kind in NHS_USE_TYPES}


def _held_use(state: StateStore) -> set[str]:
    """The NHS use the state holds and counts (an entry asserting a unit of use)."""
    rows = state.db.execute("SELECT resource_type, id, concepts FROM entry").fetchall()
    return {f"{kind}/{rid}" for kind, rid, concepts in rows
            if kind in NHS_USE_TYPES and concepts != "||"}  # fmt: skip


@pytest.mark.parametrize("spaced", [False, True], ids=["plain", "spaced"])
@pytest.mark.parametrize("mode", MODES)
def test_nhs_use_named_only_by_nhs_number_is_read_for_the_cohort(
    any_loop_engine: str, mode: str, spaced: bool, tmp_path: Path
) -> None:
    record = _nhs_use_record(spaced)
    filtered, full = _filtered_and_full(any_loop_engine, record, mode, tmp_path)

    assert _held_use(full) >= COHORT_USE  # a full read counts each of them
    assert _held_use(filtered) == COHORT_USE  # all of them, and not person 2's (not asked for)
    for source in COHORT_USE:
        assert filtered.entry(source) == full.entry(source), source


def test_a_member_joining_later_has_their_number_searched_from_the_beginning(
    any_loop_engine: str, tmp_path: Path
) -> None:
    gp = any_loop_engine
    reset(gp)
    record = _nhs_use_record()
    later = [r for r in record if r["id"] == "qr3"]
    put_all(gp, [r for r in record if r["id"] != "qr3"])
    state = StateStore(tmp_path / "s.db")

    asyncio.run(pull_once(gp, state))
    assert _held_use(state) == {u for u in COHORT_USE if u.endswith("1")}

    put_all(gp, later)  # person 3 referred now: their earlier use counts too
    asyncio.run(pull_once(gp, state))
    assert _held_use(state) == COHORT_USE


def _by_identifier(request: httpx.Request) -> bool:
    """A search naming its person by identifier (the ``:identifier`` modifier)."""
    return any(key.endswith(":identifier") for key in request.url.params)


@pytest.mark.parametrize("mode", MODES)
def test_a_server_refusing_search_by_nhs_number_is_read_in_full_for_that_type(
    any_loop_engine: str, mode: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gp = any_loop_engine
    reset(gp)
    put_all(gp, _nhs_use_record())
    state = StateStore(tmp_path / "s.db")
    transport = Counting(refuse=_by_identifier)

    with caplog.at_level(logging.WARNING):
        asyncio.run(pull_once(gp, state, bulk=_work(mode, tmp_path, "w"), transport=transport))

    assert transport.refused == len(NHS_USE_TYPES)  # once a type; then read in full
    assert "gp.filter_refused" in caplog.text
    assert _held_use(state) >= COHORT_USE  # counted as a full read counts them


def test_a_server_refusing_the_questionnaire_search_is_still_pulled_with_a_warning(
    any_loop_engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gp = any_loop_engine
    reset(gp)
    put_all(gp, [patient("p1", 1), _gp_template("3"), review("qr3", "p1", consent=True)])
    state = StateStore(tmp_path / "s.db")
    transport = Counting(refuse=lambda request: request.url.path.endswith("/Questionnaire"))

    with caplog.at_level(logging.WARNING):
        asyncio.run(pull_once(gp, state, transport=transport))

    assert transport.refused == 1 and "gp.template_versions_unavailable" in caplog.text
    assert "referral-lead-provider" in _concepts(state, "QuestionnaireResponse/qr3")
