"""The test engine's search indexes (tests/fhir_engine/indexed.mjs) select what Medplum's own
search selects, in the same order, after updates, deletions and between pages.

The engine runs with ENGINE_CHECK_SEARCH, so it also answers every search without its indexes and
fails the request on any difference; each test states the expected ids too, so a wrong answer
given the same way by both paths would still fail here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_testdata import NHS_NUMBER_SYSTEM, nhs_number
from tests.conftest import running_engine

pytestmark = pytest.mark.integration

S1 = "https://example.org/codes/one"
S2 = "https://example.org/codes/two"


@pytest.fixture(scope="module")
def checked_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An engine comparing every indexed search with Medplum's own; its base URL and log."""
    log = tmp_path_factory.mktemp("engine-check") / "searches.log"
    with running_engine({"ENGINE_CHECK_SEARCH": str(log)}) as base_url:
        yield base_url, log


@pytest.fixture
def engine(checked_engine: tuple[str, Path]) -> Iterator[str]:
    """The checking engine, emptied; afterwards its log must show searches and no mismatch."""
    base_url, log = checked_engine
    httpx.post(f"{base_url}/$reset", timeout=10).raise_for_status()
    log.write_text("")
    yield base_url
    lines = log.read_text().splitlines()
    assert lines, "the engine compared no search"
    assert not [line for line in lines if not line.startswith("ok ")]


def observation(id_: str, *codings: tuple[str | None, str], subject: str = "Patient/p1") -> dict:
    coding = [{"code": code, **({"system": system} if system else {})} for system, code in codings]
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": coding},
        "subject": {"reference": subject},
    }


def put(engine: str, resource: dict[str, Any]) -> None:
    url = f"{engine}/{resource['resourceType']}/{resource['id']}"
    httpx.put(url, json=resource, timeout=10).raise_for_status()


def ids(engine: str, query: str) -> list[str]:
    """Every match's id, page by page (5 a page), as a client pages through them."""
    found: list[str] = []
    url: str | None = f"{engine}/Observation?{query}&_count=5"
    while url:
        response = httpx.get(url, timeout=10)
        response.raise_for_status()
        bundle = response.json()
        found += [e["resource"]["id"] for e in bundle.get("entry", [])]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return found


@pytest.fixture
def coded(engine: str) -> str:
    """Five Observations whose codes differ by system, case and number of codings."""
    put(engine, observation("a", (S1, "ABC")))
    put(engine, observation("b", (S2, "abc")))
    put(engine, observation("c", (None, "ABC")))
    put(engine, observation("d", (S1, "XYZ"), subject="Patient/p2"))
    put(engine, observation("e", (S1, "ABC"), (S2, "XYZ"), subject="Patient/p2"))
    return engine


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"code={S1}|ABC", ["a", "e"]),
        (f"code={S1}|abc", ["a", "e"]),  # token codes compare without case
        ("code=abc", ["a", "b", "c", "e"]),
        ("code=|ABC", ["c"]),  # no system
        (f"code={S2}|", ["b", "e"]),  # a system alone: not an index lookup
        (f"code={S1}|ABC,{S2}|XYZ", ["a", "e"]),
        (f"code:not={S1}|ABC", ["b", "c", "d"]),
        ("code=nothing", []),
        ("patient=Patient/p2", ["d", "e"]),
        (f"patient=Patient/p1&code={S1}|ABC", ["a"]),
        ("_id=c,a", ["a", "c"]),
        ("_sort=-_id", ["e", "d", "c", "b", "a"]),
    ],
)
def test_searches_select_as_medplum_does(coded: str, query: str, expected: list[str]) -> None:
    assert ids(coded, query) == expected


def test_updates_and_deletions_move_resources_between_keys(coded: str) -> None:
    put(coded, observation("a", (S1, "XYZ")))  # recoded: keeps its place in the store
    assert ids(coded, f"code={S1}|ABC") == ["e"]
    assert ids(coded, f"code={S1}|XYZ") == ["a", "d"]
    httpx.delete(f"{coded}/Observation/d", timeout=10).raise_for_status()
    assert ids(coded, f"code={S1}|XYZ") == ["a"]
    httpx.delete(f"{coded}/Observation/b", timeout=10).raise_for_status()
    put(coded, observation("b", (S2, "abc")))  # written again after deletion: now last
    assert ids(coded, "code=abc") == ["c", "e", "b"]


def test_logical_references_by_identifier(engine: str) -> None:
    for serial, id_ in enumerate(["x", "y", "z"], start=1):
        resource = observation(id_, (S1, "ABC"))
        number = {"system": NHS_NUMBER_SYSTEM, "value": nhs_number(serial)}
        resource["subject"] = {"identifier": number}
        put(engine, resource)
    wanted = f"{NHS_NUMBER_SYSTEM}|{nhs_number(3)},{NHS_NUMBER_SYSTEM}|{nhs_number(1)}"
    assert ids(engine, f"subject:identifier={wanted}") == ["x", "z"]


def test_a_write_between_pages_is_seen_by_the_next_page(engine: str) -> None:
    for n in range(12):
        put(engine, observation(f"o{n:02}", (S1, "ABC")))
    first = httpx.get(f"{engine}/Observation?code={S1}|ABC&_count=5", timeout=10).json()
    assert [e["resource"]["id"] for e in first["entry"]] == [f"o{n:02}" for n in range(5)]
    put(engine, observation("o06", (S1, "XYZ")))  # leaves the search before its second page
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = httpx.get(following, timeout=10).json()
    assert second["total"] == 11
    assert [e["resource"]["id"] for e in second["entry"]] == ["o05", "o07", "o08", "o09", "o10"]
