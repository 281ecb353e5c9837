"""The SQLite state: WAL, versioned schema, private file, append-only audit, atomic units."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from ltcbridge.daemon.state import SCHEMA_VERSION, StateError, StateStore


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "s.db")


def entry(rid: str, updated: int | None, concepts: tuple[str, ...]) -> tuple:
    return ("Observation", rid, updated, None, ("Patient", "p1"), "2026-10-01", 20261001,
            concepts, (), (), False, None)  # fmt: skip


def test_new_store_is_wal_private_and_at_the_current_schema(store: StateStore) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="upgrade ltcbridge"):
        StateStore(path)


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = StateStore(path)
    with first.unit():
        first.set_watermark("gp", "Patient", {"since": "2026-10-01T00:00:00Z"})
    first.close()
    again = StateStore(path)
    assert again.watermark("gp", "Patient") == {"since": "2026-10-01T00:00:00Z"}


def test_audit_log_is_append_only(store: StateStore) -> None:
    with store.unit():
        store.audit("referral-sent", "QuestionnaireResponse/q1", recipient="NTP001")
    for statement in ("UPDATE audit SET action = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), store.unit():
            store.db.execute(statement)
    assert [r["action"] for r in store.audit_records()] == ["referral-sent"]


def test_latest_version_wins_whatever_the_order(store: StateStore) -> None:
    with store.unit():
        assert store.put_entry(entry("o1", 200, ("need-other",)))
        assert not store.put_entry(entry("o1", 100, ("need-befriending",)))  # older: ignored
    assert [e.concepts for e in store.entries_asserting("need-other")] == [("need-other",)]
    assert store.entries_asserting("need-befriending") == []


def test_a_unit_of_work_rolls_back_whole(store: StateStore) -> None:
    with pytest.raises(KeyboardInterrupt), store.unit():
        store.put_entry(entry("o1", 1, ("need-other",)))
        store.enqueue("k1", "referral", "lead", {"x": 1})
        raise KeyboardInterrupt
    assert store.entries_asserting("need-other") == [] and store.backlog() == 0


def test_outbox_keys_are_idempotent(store: StateStore) -> None:
    with store.unit():
        assert store.enqueue("k1", "referral", "lead", {"n": 1})
        assert not store.enqueue("k1", "referral", "lead", {"n": 2})
    assert [e.payload for e in store.pending()] == [{"n": 1}]
    with store.unit():
        store.mark_done("k1")
    assert store.backlog() == 0


def test_an_older_state_file_is_migrated_in_place(tmp_path: Path) -> None:
    from ltcbridge.daemon.state import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a state file written by the first release
        db.executescript(MIGRATIONS[0])
        db.execute("INSERT INTO referral VALUES ('QuestionnaireResponse/q1', 'queued', 'then')")
        db.execute("PRAGMA user_version = 1")
    store = StateStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert store.decision("QuestionnaireResponse/q1") == "queued"
    row = store.db.execute("SELECT consent_seq FROM referral").fetchone()
    assert row[0] == 0


def test_a_malformed_gp_resource_is_quarantined_with_its_path_and_the_batch_goes_on(
    store: StateStore,
) -> None:
    """A value of the wrong JSON type from the GP server (here a number for ``meta``) is kept
    aside naming the element; it does not stop the cycle (it would, every cycle, otherwise)."""
    from ltcbridge.daemon.pull import store_resource
    from ltcbridge.identifiable.read import Reader
    from ltcbridge.mapping import load_mappings

    reader = Reader(load_mappings())
    bad = {"resourceType": "Observation", "id": "o1", "meta": 5, "status": "final",
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}}  # fmt: skip
    good = {"resourceType": "Patient", "id": "p1", "meta": {"lastUpdated": "2026-10-01T09:00:00Z"}}
    with store.unit():
        assert store_resource(store, reader, bad) is False
        assert store_resource(store, reader, good) is True
    rows = store.db.execute("SELECT resource, reason, path FROM quarantine").fetchall()
    assert [tuple(r) for r in rows] == [("Observation/o1", "malformed", "Observation.meta")]


def test_a_malformed_provider_outcome_is_quarantined_and_the_watermark_moves_on(
    store: StateStore,
) -> None:
    """A provider resource that cannot be read (``basedOn`` a number) is kept aside naming the
    element; the others of the window are still taken, and the watermark still advances, so
    the same resource cannot stop every later cycle."""
    import asyncio

    from ltcbridge.daemon.config import AuthConfig, EndpointConfig
    from ltcbridge.daemon.outcomes import OutcomePuller
    from ltcbridge.mapping import load_mappings

    served = {"Observation": [{"resourceType": "Observation", "id": "x1", "status": "final",
                               "code": {"text": "walk"}, "basedOn": 5}],
              "Task": [{"resourceType": "Task", "id": "t1", "status": "accepted",
                        "intent": "order"}]}  # fmt: skip

    class Provider:
        async def incremental(self, resource_type, window, count):  # type: ignore[no-untyped-def]
            window.seen[f"{resource_type}/seen"] = ("1", "2026-10-01T00:00:00Z")
            for resource in served.get(resource_type, []):
                yield resource

    endpoint = EndpointConfig("p", "https://provider.example", AuthConfig("none"))
    puller = OutcomePuller(endpoint, Provider(), store, load_mappings(), "Y00001")  # type: ignore[arg-type]
    assert asyncio.run(puller.pull()) == 0
    rows = store.db.execute("SELECT resource, endpoint, reason, path FROM quarantine").fetchall()
    assert [tuple(r) for r in rows] == [
        ("Observation/x1", "provider:p", "malformed", "Observation.basedOn")
    ]
    assert store.watermark("provider:p", "Observation") is not None


def test_a_bulk_export_file_with_bad_lines_is_stored_with_them_kept_aside(
    store: StateStore, tmp_path: Path
) -> None:
    """A line that is not JSON, one that is JSON but not a resource, and one of the wrong shape:
    each quarantined with where it was; the good lines are stored; nothing stops the pull."""
    from ltcbridge.daemon.pull import PullCounts, PullWriter
    from ltcbridge.daemon.pull_bulk import _store_file
    from ltcbridge.identifiable.read import Reader
    from ltcbridge.mapping import load_mappings

    lines = [
        '{"resourceType": "Patient", "id": "p1"}',
        '{"resourceType": "Patient", "id": ',
        "[1, 2]",
        '{"resourceType": "Patient", "id": "p2", "identifier": 5}',
        '{"resourceType": "Patient", "id": "p3"}',
    ]
    export = tmp_path / "Patient.ndjson"
    export.write_text("\n".join(lines) + "\n")
    counts = PullCounts()
    reader = Reader(load_mappings())
    _store_file(PullWriter(store, reader, 2, lambda: False, None, counts), "Patient", export)
    assert counts.read == {"Patient": 4} and counts.quarantined == 3
    rows = store.db.execute("SELECT resource, reason, path FROM quarantine").fetchall()
    assert sorted(tuple(r) for r in rows) == [
        ("$export/Patient.ndjson:2", "malformed-json", ""),
        ("(not a JSON object)", "not-a-resource", ""),
        ("Patient/p2", "malformed", "Patient.identifier"),
    ]
    stored = {r[0] for r in store.db.execute("SELECT id FROM patient").fetchall()}
    assert stored == {"p1", "p3"}
