"""The daemon asks the GP server only for what the mappings and measures need (issue 13 item 5),
and the state it builds is the one a full read builds."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ltcbridge.daemon.check import filtering_row, run_checks
from ltcbridge.daemon.pull import COHORT_BATCH, referral_cohort
from ltcbridge.daemon.pull_bulk import export_requests
from ltcbridge.daemon.pull_plan import (
    MAX_VALUE_CHARS,
    Search,
    full_plan,
    plan_pull,
    split_values,
)
from ltcbridge.daemon.state import StateStore
from ltcbridge.fhirclient import Capabilities, FhirClient
from ltcbridge.identifiable.read import NHS_USE_TYPES
from ltcbridge.mapping import load_mappings

from .conftest import Loop
from .loop_data import CONCEPT, put_all
from .pull_data import ACT_CODE, EVERYDAY, MAPPINGS, Counting, noisy_practice, read_ndjson
from .pull_data import pull_once as _pull

Rows = dict[str, Any]


def _capabilities(without: dict[str, str] | None = None) -> Capabilities:
    """A CapabilityStatement listing every search parameter the plan uses, less ``without``
    (type -> parameter)."""
    params = {"code", "questionnaire", "patient", "subject", "actor", "url", "_lastUpdated", "_id"}
    types = ["Patient", "Observation", "Condition", "Procedure", "ServiceRequest", "Goal",
             "QuestionnaireResponse", "Questionnaire", *sorted(NHS_USE_TYPES)]  # fmt: skip
    resources = [
        {"type": t, "interaction": [{"code": "search-type"}],
         "searchParam": [{"name": p} for p in sorted(params) if (without or {}).get(t) != p]}
        for t in types
    ]  # fmt: skip
    return Capabilities.from_statement({"rest": [{"mode": "server", "resource": resources}]})


# -- the plan (no server) ------------------------------------------------------------------------


def test_the_plan_asks_for_every_asserting_code_and_template_in_short_searches() -> None:
    mappings = load_mappings([MAPPINGS])
    plan = plan_pull(mappings, _capabilities())

    observation = [s for s in plan.searches if s.resource_type == "Observation"]
    asked = {v for s in observation for v in s.params[0][1].split(",")}
    assert asked == {f"{system}|{code}" for system, code in mappings.asserting_codings()}
    assert len(observation) > 1  # the fixture's codes do not fit one short search
    encoded = [str(httpx.QueryParams(s.params)) for s in observation]
    assert all(len(query) <= len("code=") + MAX_VALUE_CHARS for query in encoded)
    templates = [s for s in plan.searches if s.resource_type == "QuestionnaireResponse"]
    assert templates[0].params[0][0] == "questionnaire"
    assert set(templates[0].params[0][1].split(",")) == set(mappings.template_canonicals())
    assert Search("Goal") in plan.searches and Search("Patient") in plan.searches
    assert set(plan.cohort_types) == NHS_USE_TYPES
    assert plan.unfiltered == () and plan.uncertain == ()
    assert len({s.key for s in plan.searches}) == len(plan.searches)  # one watermark each


def test_template_versions_the_gp_server_holds_are_asked_for_too() -> None:
    mappings = load_mappings([MAPPINGS])
    newer = "https://example-icb.nhs.uk/fhir/Questionnaire/care-planning|4"
    plan = plan_pull(mappings, _capabilities(), [newer])

    templates = [s for s in plan.searches if s.resource_type == "QuestionnaireResponse"]
    asked = {v for s in templates for v in s.params[0][1].split(",")}
    assert asked == {*mappings.template_canonicals(), newer}
    before = plan_pull(mappings, _capabilities()).searches
    held = {s.key for s in before if s.resource_type == "QuestionnaireResponse"}
    assert not held & {s.key for s in templates}  # a new version: its search read from the start


def test_a_server_that_cannot_list_template_versions_makes_the_plan_uncertain() -> None:
    plan = plan_pull(load_mappings([MAPPINGS]), _capabilities({"Questionnaire": "url"}))

    assert plan.unfiltered == ()  # responses are still filtered: the note says what may be missed
    assert len(plan.uncertain) == 1 and "version" in plan.uncertain[0]


def test_a_type_the_server_cannot_filter_is_read_in_full_with_a_reason() -> None:
    mappings = load_mappings([MAPPINGS])
    without = {"Condition": "code", "Encounter": "patient", "Appointment": "actor"}
    plan = plan_pull(mappings, _capabilities(without))

    assert [s for s in plan.searches if s.resource_type == "Condition"] == [Search("Condition")]
    assert Search("Encounter") in plan.searches and "Encounter" not in plan.cohort_types
    # without search by NHS number, entries naming their person by it alone would be missed
    assert Search("Appointment") in plan.searches and "Appointment" not in plan.cohort_types
    assert plan.cohort_types == ("MedicationRequest",)
    assert len(plan.unfiltered) == 3
    assert "'code' search parameter" in plan.unfiltered[0]
    assert "Appointment" in plan.unfiltered[1] and "'actor' search parameter" in plan.unfiltered[1]
    assert "'patient' search parameter" in plan.unfiltered[2]


def test_split_values_keeps_every_value_once_and_escapes_commas() -> None:
    values = [f"http://example.invalid/cs|code{n}" for n in range(400)] + ["a|x,y"]
    pieces = split_values(values)

    assert len(pieces) > 1
    back = [v for piece in pieces for v in piece.replace("\\,", "\0").split(",")]
    assert [v.replace("\0", ",") for v in back] == values
    assert split_values([]) == []


def test_a_type_filter_is_url_encoded_once_inside_the_parameter() -> None:
    search = Search("Observation", (("code", "http://snomed.info/sct|1,http://x.invalid|2"),))
    url = httpx.URL("http://gp.invalid/fhir/$export", params={"_typeFilter": search.type_filter()})

    once = parse_qs(urlsplit(str(url)).query)["_typeFilter"][0]
    assert once.startswith("Observation?code=") and "," not in once  # the OR comma is encoded
    assert parse_qs(once.split("?", 1)[1])["code"] == [search.params[0][1]]


def test_long_filters_are_spread_over_several_exports_each_type_only_where_filtered() -> None:
    plan = plan_pull(load_mappings([MAPPINGS]), _capabilities())
    requests = export_requests(plan)

    assert len(requests) > 1
    assert set(requests[0][0]) >= {"Patient", "Goal"}
    for types, filters in requests:
        assert {f.split("?", 1)[0] for f in filters} <= set(types)
        assert set(types) - {f.split("?", 1)[0] for f in filters} <= {"Patient", "Goal"}
    exported = [f for _, filters in requests for f in filters]
    assert exported == [s.type_filter() for s in plan.searches if s.params]


# -- against the real engine ---------------------------------------------------------------------


def _asserting(state: StateStore, cohort: set[str]) -> set[tuple[Any, ...]]:
    """What the state asserts: care-planning entries, and the cohort's NHS use (what a release
    counts; an entry asserting nothing adds no fact)."""
    rows = state.db.execute(
        "SELECT resource_type, id, subject_kind, subject_value, clinical_date, concepts, goals, "
        "stars, retracted FROM entry WHERE concepts != '||'"
    ).fetchall()
    return {tuple(r) for r in rows
            if r[0] not in NHS_USE_TYPES or r[3] in cohort}  # fmt: skip


def _patients(state: StateStore) -> set[tuple[Any, ...]]:
    return {tuple(r) for r in state.db.execute("SELECT id, nhs_number, resource FROM patient")}


@pytest.fixture(scope="module")
def noisy_gp(fhir_engine: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The engine holding a practice of which nine resources in ten are unrelated (module-wide:
    loading it is the slow part; the tests only read it)."""
    httpx.post(f"{fhir_engine}/$reset", timeout=30).raise_for_status()
    path = tmp_path_factory.mktemp("noisy") / "practice.ndjson"
    noisy_practice(path, 400, noise=24)
    put_all(fhir_engine, read_ndjson(path))
    return fhir_engine


pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["rest", "bulk"])
def test_the_filtered_pull_builds_the_state_the_full_pull_builds(
    noisy_gp: str, tmp_path: Path, mode: str
) -> None:
    bulk = (tmp_path / "work") if mode == "bulk" else None
    filtered, full = StateStore(tmp_path / "a.db"), StateStore(tmp_path / "b.db")
    asked, everything = Counting(), Counting()

    got = asyncio.run(_pull(noisy_gp, filtered, bulk=bulk, transport=asked))
    baseline = asyncio.run(_pull(noisy_gp, full, full_plan(), bulk=bulk, transport=everything))

    cohort = set(referral_cohort(full))
    assert cohort and set(referral_cohort(filtered)) == cohort
    assert _patients(filtered) == _patients(full)
    assert _asserting(filtered, cohort) == _asserting(full, cohort)
    nhs_use = {r for r in _asserting(filtered, cohort) if r[0] in NHS_USE_TYPES}
    assert nhs_use  # the cohort's attendances and prescriptions were read
    read, read_all = sum(got.read.values()), sum(baseline.read.values())
    assert read * 3 < read_all  # most of the record is unrelated, and was not asked for


def test_a_refused_filter_falls_back_to_reading_the_type_in_full(
    noisy_gp: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def observation_by_code(request: httpx.Request) -> bool:
        return request.url.path.endswith("/Observation") and "code" in request.url.params

    filtered, refused = StateStore(tmp_path / "a.db"), StateStore(tmp_path / "b.db")
    asyncio.run(_pull(noisy_gp, filtered))
    transport = Counting(refuse=observation_by_code)
    with caplog.at_level(logging.WARNING):
        counts = asyncio.run(_pull(noisy_gp, refused, transport=transport))

    assert transport.refused == 1  # refused once; the type then read in full, not retried
    assert "gp.filter_refused" in caplog.text
    assert counts.read["Observation"] > sum(
        1 for _ in filtered.db.execute("SELECT 1 FROM entry WHERE resource_type = 'Observation'")
    )
    cohort = set(referral_cohort(filtered))
    assert _asserting(refused, cohort) == _asserting(filtered, cohort)


def test_a_bulk_export_refusing_type_filter_is_exported_in_full(
    noisy_gp: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def type_filter(request: httpx.Request) -> bool:
        return request.url.path.endswith("/$export") and "_typeFilter" in request.url.params

    filtered, refused = StateStore(tmp_path / "a.db"), StateStore(tmp_path / "b.db")
    asyncio.run(_pull(noisy_gp, filtered, bulk=tmp_path / "w1"))
    transport = Counting(refuse=type_filter)
    with caplog.at_level(logging.WARNING):
        asyncio.run(_pull(noisy_gp, refused, bulk=tmp_path / "w2", transport=transport))

    assert transport.refused == 1 and "gp.filter_refused" in caplog.text
    cohort = set(referral_cohort(filtered))
    assert _asserting(refused, cohort) == _asserting(filtered, cohort)


def test_the_engine_can_filter_everything_the_plan_asks(noisy_gp: str) -> None:
    async def capabilities() -> Capabilities:
        async with FhirClient(noisy_gp) as client:
            return await client.capabilities()

    plan = plan_pull(load_mappings([MAPPINGS]), asyncio.run(capabilities()))
    assert plan.unfiltered == ()
    assert set(plan.cohort_types) == NHS_USE_TYPES


def test_cohort_searches_hold_at_most_a_batch_of_people(noisy_gp: str, tmp_path: Path) -> None:
    seen: list[int] = []

    def record(request: httpx.Request) -> bool:
        if "patient" in request.url.params:
            seen.append(len(request.url.params["patient"].split(",")))
        return False

    state = StateStore(tmp_path / "a.db")
    asyncio.run(_pull(noisy_gp, state, transport=Counting(refuse=record)))
    assert seen and max(seen) <= COHORT_BATCH


@pytest.mark.parametrize("mode", ["rest", "bulk"])
def test_entries_recoded_or_deleted_at_the_gp_stop_counting_in_either_mode(
    any_loop_engine: str, mode: str, tmp_path: Path
) -> None:
    """A filtered search or export no longer returns an entry recoded to an unmapped code, and
    none returns a deleted one: the deletion pass (type-level _history, or reconciling ids on a
    server without it) must still make both stop counting, the cohort's NHS use included."""
    gp = any_loop_engine
    httpx.post(f"{gp}/$reset", timeout=30).raise_for_status()
    need = {"coding": [{"system": CONCEPT, "code": "need-befriending"}]}
    recoded, deleted = (
        {"resourceType": "Condition", "id": c, "subject": {"reference": "Patient/p1"},
         "code": need, "recordedDate": "2026-10-01"}
        for c in ("c1", "c2")
    )  # fmt: skip
    put_all(gp, [{"resourceType": "Patient", "id": "p1"}, recoded, deleted, _referral("r1", "p1"),
                 _prescription("m1", "p1")])  # fmt: skip
    state = StateStore(tmp_path / "s.db")
    bulk = (tmp_path / "work") if mode == "bulk" else None
    asyncio.run(_pull(gp, state, bulk=bulk))
    asyncio.run(_pull(gp, state, bulk=bulk))  # the point deletions and changes are followed from
    held = {
        source: state.entry(source)
        for source in ("Condition/c1", "Condition/c2", "MedicationRequest/m1")
    }
    assert all(entry is not None and entry.concepts for entry in held.values()), held

    put_all(gp, [{**recoded, "code": {"coding": [{"system": EVERYDAY, "code": "E1"}]}}])
    for source in ("Condition/c2", "MedicationRequest/m1"):
        httpx.delete(f"{gp}/{source}", timeout=10).raise_for_status()
    counts = asyncio.run(_pull(gp, state, bulk=bulk))

    assert state.entry("Condition/c1").concepts == ()
    assert state.entry("Condition/c2").retracted and state.entry("MedicationRequest/m1").retracted
    assert counts.deleted == 2
    assert counts.deletion_method in ("history", "reconcile")


def _referral(rid: str, pid: str) -> dict[str, Any]:
    code = {"coding": [{"system": CONCEPT, "code": "referral-lead-provider"}]}
    return {"resourceType": "ServiceRequest", "id": rid, "status": "active", "intent": "order",
            "code": code, "subject": {"reference": f"Patient/{pid}"},
            "authoredOn": "2026-10-01"}  # fmt: skip


def _attendance(rid: str, pid: str, day: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": rid, "status": "finished",
            "class": {"system": ACT_CODE, "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:10:00Z"}}  # fmt: skip


def _prescription(rid: str, pid: str) -> dict[str, Any]:
    """NHS use whatever its code: an active prescription."""
    return {"resourceType": "MedicationRequest", "id": rid, "status": "active",
            "intent": "order", "medicationCodeableConcept": {"text": "a repeat prescription"},
            "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2026-09-01"}  # fmt: skip


def test_nhs_use_is_read_for_the_referral_cohort_and_for_whoever_joins_it_later(
    fhir_engine_2: str, tmp_path: Path
) -> None:
    gp = fhir_engine_2
    httpx.post(f"{gp}/$reset", timeout=30).raise_for_status()
    people = [{"resourceType": "Patient", "id": p} for p in ("p1", "p2")]
    put_all(gp, [*people, _referral("r1", "p1"), _attendance("e1", "p1", "2026-09-01"),
                 _attendance("e2", "p2", "2026-09-02")])  # fmt: skip
    state = StateStore(tmp_path / "s.db")

    asyncio.run(_pull(gp, state))
    assert state.entry("Encounter/e1") is not None
    assert state.entry("Encounter/e2") is None  # p2 has no referral: not asked for

    put_all(gp, [_referral("r2", "p2"), _attendance("e3", "p1", "2026-10-05")])
    asyncio.run(_pull(gp, state))

    assert state.entry("Encounter/e2") is not None  # joined the cohort: read from the start
    assert state.entry("Encounter/e3") is not None  # a member's new attendance


def test_check_says_whether_the_gp_pull_is_filtered(loop: Loop) -> None:
    rows = {row.thing: row for row in run_checks(loop.config)}
    assert rows["GP pull filtering"].status == "ready", rows["GP pull filtering"].detail

    cannot = filtering_row(loop.config, _capabilities({"Observation": "code"}))
    assert cannot.status == "note"
    assert "Observation" in cannot.detail and "'code'" in cannot.detail and cannot.action

    unsure = filtering_row(loop.config, _capabilities({"Questionnaire": "url"}))
    assert unsure.status == "note" and "version" in unsure.detail and unsure.action


# Two social findings the Synthea export records, mapped for this test only.
SYNTHEA_SOCIAL = {"422650009": "need-befriending", "73595000": "need-other"}
SYNTHEA_TYPES = ("Patient", "Organization", "Practitioner", "Condition", "Procedure",
                 "Encounter", "MedicationRequest")  # fmt: skip  # what the test engine holds


@pytest.mark.real_world
def test_on_the_real_world_export_the_filtered_pull_builds_the_full_reads_state(
    real_world: Path, fhir_engine_2: str, tmp_path: Path
) -> None:
    gp = fhir_engine_2
    httpx.post(f"{gp}/$reset", timeout=30).raise_for_status()
    for kind in SYNTHEA_TYPES:  # read in place, never copied into the project
        for path in sorted(real_world.glob(f"{kind}.*.ndjson")):
            put_all(gp, read_ndjson(path))
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    elements = [{"code": code, "target": [{"code": concept, "equivalence": "equivalent"}]}
                for code, concept in SYNTHEA_SOCIAL.items()]  # fmt: skip
    group = {"source": "http://snomed.info/sct", "target": CONCEPT, "element": elements}
    concept_map = {"resourceType": "ConceptMap", "url": "urn:test:synthea-social",
                   "status": "active", "group": [group]}  # fmt: skip
    (mappings / "social.json").write_text(json.dumps(concept_map), encoding="utf-8")
    filtered, full = StateStore(tmp_path / "a.db"), StateStore(tmp_path / "b.db")

    got = asyncio.run(_pull(gp, filtered, mappings_dir=mappings))
    baseline = asyncio.run(_pull(gp, full, full_plan(), mappings_dir=mappings))

    asserting = _asserting(filtered, set())
    assert {r[5] for r in asserting} == {"|need-befriending|", "|need-other|"}
    assert asserting == _asserting(full, set())
    assert _patients(filtered) == _patients(full)
    assert sum(got.read.values()) * 5 < sum(baseline.read.values())
