"""A counting cube as a release: relations declared, history stored, PCN tied to practices."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from ltcbridge.counts import Cube
from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import MASKED, DisclosureRules
from ltcbridge.disclosure.from_cube import disclose_cube, release_from_cube
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.disclosure.secondary import primary_only, protect

EXACT = DisclosureRules(threshold=7, rounding=1)
MEASURE = "https://ltcbridge.github.io/fhir/Measure/unmet-need"
PCN_OF = {"A1": "U1", "B1": "U1"}


def cube(level: str, orgs: list[str], by_sex: list[list[int]], month: str = "2026-10") -> Cube:
    """One group (need-any) split by sex (male, female, other-unknown) per organisation."""
    strata = np.array([[row] for row in by_sex], dtype=np.int64)
    totals = strata.sum(axis=2)
    return Cube(MEASURE, month, level, orgs, ["need-any"], totals, {"sex": strata})


def test_pcn_figures_sent_before_tie_the_practices_together() -> None:
    pcn = protect(release_from_cube(cube("pcn", ["U1"], [[12, 11, 0]])), EXACT)
    assert pcn.masked_share() == 0.0  # 23 = 12 + 11 + 0, nothing small
    practices = cube("practice", ["A1", "B1"], [[2, 2, 0], [10, 9, 0]])
    release = release_from_cube(practices, [pcn], PCN_OF)
    naive = primary_only(release, EXACT)
    # practice A's total is the PCN's 23 minus practice B's 19
    assert {f.key[2:] for f in audit(naive, EXACT, [pcn])} >= {("A1", "need-any", None, None)}
    published = protect(release, EXACT, [pcn])
    assert audit(published, EXACT, [pcn]) == []
    assert published.values[(MEASURE, "2026-10", "B1", "need-any", None, None)] is MASKED


def test_relations_are_declared_only_when_they_hold() -> None:
    pcn = protect(release_from_cube(cube("pcn", ["U1"], [[12, 11, 0]])), EXACT)
    rebuilt = cube("practice", ["A1", "B1"], [[2, 3, 0], [10, 9, 0]])  # late entry since
    tied = [c for c in release_from_cube(rebuilt, [pcn], PCN_OF).constraints if len(c.terms) == 3]
    assert sorted(c.terms[0][0][5] or "total" for c in tied) == ["male", "other-unknown"]
    other_month = cube("practice", ["A1", "B1"], [[2, 2, 0], [10, 9, 0]], month="2026-11")
    assert len(release_from_cube(other_month, [pcn], PCN_OF).constraints) == 2


def test_a_practice_release_ties_a_later_pcn_release() -> None:
    practices = cube("practice", ["A1", "B1"], [[2, 2, 0], [10, 9, 0]])
    sent, _ = disclose_cube(practices, EXACT, secondary=True, pcn_of=PCN_OF)
    _, first = disclose_cube(practices, EXACT, secondary=True, pcn_of=PCN_OF)
    assert sent[("A1", "need-any", None, None)].reason == "primary"
    per_cell, published = disclose_cube(
        cube("pcn", ["U1"], [[12, 11, 0]]), EXACT, secondary=True, history=[first], pcn_of=PCN_OF
    )
    assert len(published.constraints) == 1 + 4  # its strata sum, and PCN = A1 + B1 four times
    assert audit(published, EXACT, [first]) == []
    masked = {key[3] or "total" for key, cell in per_cell.items() if cell.value is None}
    assert masked == {"total", "male", "female"}  # else 23 - 19 would give A1's 4 away


def test_without_secondary_only_primary_masks_and_rounding() -> None:
    per_cell, published = disclose_cube(
        cube("practice", ["A1"], [[20, 3, 0]]), DisclosureRules(7, 5), secondary=False
    )
    assert {k[3]: c.value for k, c in per_cell.items()} == {None: 25, "male": 20, "female": None,
                                                            "other-unknown": 0}  # fmt: skip
    assert published.reasons == {(MEASURE, "2026-10", "A1", "need-any", "sex", "female"): "primary"}


def test_history_store_round_trip(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.sqlite")
    assert store.load_all() == [] and len(store) == 0
    _, first = disclose_cube(cube("practice", ["A1", "B1"], [[2, 2, 0], [10, 9, 0]]), EXACT,
                             secondary=True, pcn_of=PCN_OF)  # fmt: skip
    _, second = disclose_cube(cube("pcn", ["U1"], [[12, 11, 0]]), EXACT, secondary=True,
                              history=[first], pcn_of=PCN_OF)  # fmt: skip
    assert store.record("QHM", "DSA-1", first)
    assert store.record("QHX", "DSA-2", second)
    assert not store.record("QHM", "DSA-2", second)  # the same release, kept once
    assert store.load_all() == [first, second]  # every recipient's: recipients compare notes
    with sqlite3.connect(tmp_path / "history.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
