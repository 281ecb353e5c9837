"""The store, on SQLite and on a real PostgreSQL server: the HubStore protocol, all-or-nothing
releases, re-releases, migrations, and identical tables on both databases."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hub_data import PERIODS, meta

from ltcbridge.feed.measure_report import ReportError
from ltcbridge.hub import store as store_module
from ltcbridge.hub.load import load_folder
from ltcbridge.hub.protocol import HubStore
from ltcbridge.hub.schema import MIGRATIONS
from ltcbridge.hub.store import HubStoreDb, StoreError, open_store
from ltcbridge.hub.synthetic import measure_report

CELLS = {("need-any", None, None): 20, ("need-any", "sex", "male"): None,
         ("need-any", "sex", "female"): 15, ("need-befriending", None, None): None}  # fmt: skip


def test_implements_the_protocol(store: HubStoreDb) -> None:
    typed: HubStore = store  # checked by the type checker; the calls below by the test
    assert not typed.has_release("r-Y00011-2026-10-1")
    assert typed.last_sequence("Y00011", "DSA-1") is None
    typed.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    typed.add_release(
        meta(sequence=2, period="2026-11"), [measure_report("Y00011", "2026-11", CELLS)]
    )
    assert typed.has_release("r-Y00011-2026-10-1")
    assert typed.last_sequence("Y00011", "DSA-1") == 2
    assert typed.last_sequence("Y00011", "other-agreement") is None


def test_masked_cells_are_stored_as_masked_never_zero(store: HubStoreDb) -> None:
    store.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    rows = {(g, s, v): (c, m) for g, s, v, c, m in [r[5:10] for r in store.table("figures")]}
    assert rows[("need-any", None, None)] == (20, False)
    assert rows[("need-any", "sex", "male")] == (None, True)
    assert rows[("need-befriending", None, None)] == (None, True)
    assert rows[("need-any", "sex", "female")] == (15, False)


def test_a_bad_report_stores_nothing_of_the_release(store: HubStoreDb) -> None:
    good = measure_report("Y00011", "2026-10", CELLS)
    bad = copy.deepcopy(good)
    bad["reporter"]["identifier"]["value"] = "Y00012"
    del bad["group"][1]["population"][0]["extension"]  # neither count nor masked
    with pytest.raises(ReportError, match="data-absent-reason"):
        store.add_release(meta(), [good, bad])
    assert not store.has_release("r-Y00011-2026-10-1")
    assert store.table("figures") == [] and store.table("releases") == []


def _element_paths(value: object, path: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _element_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:1]):
            found += _element_paths(item, (*path, index))
    return found


def test_a_report_of_the_wrong_shape_anywhere_is_a_report_error_never_a_crash() -> None:
    """Every element of a report replaced by a value of another JSON type (or null): reading
    its figures either works or raises ReportError (a rejection for the hub), nothing else."""
    from ltcbridge.feed.measure_report import figures

    report = measure_report("Y00011", "2026-10", CELLS)
    tried = refused = 0
    for path in _element_paths(report):
        for value in (5, "x", None, []):
            broken = copy.deepcopy(report)
            target = broken
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            tried += 1
            try:
                list(figures(broken))
            except ReportError:
                refused += 1
    assert tried > 100 and refused > tried // 3, (tried, refused)


def test_a_report_for_another_month_refuses_the_release(store: HubStoreDb) -> None:
    with pytest.raises(ReportError, match="is for 2026-10 but report"):
        store.add_release(meta(), [measure_report("Y00011", "2026-09", CELLS)])
    assert store.table("releases") == []


def test_the_same_release_twice_is_refused(store: HubStoreDb) -> None:
    store.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    with pytest.raises(StoreError, match="already stored"):
        store.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    assert len(store.table("figures")) == len(CELLS)


def test_rejections_are_recorded(store: HubStoreDb) -> None:
    store.add_rejection("2026-11-01T10:00:00+00:00", None, "bad-signature", "JWS did not verify")
    store.add_rejection("2026-11-01T10:05:00+00:00", "Y00011", "replay", "sequence 3 seen")
    assert store.table("rejections") == [
        ("2026-11-01T10:00:00+00:00", None, "bad-signature", "JWS did not verify"),
        ("2026-11-01T10:05:00+00:00", "Y00011", "replay", "sequence 3 seen"),
    ]


def test_a_re_released_month_replaces_the_earlier_figures(store: HubStoreDb) -> None:
    store.add_release(
        meta(sequence=1), [measure_report("Y00011", "2026-10", {("need-any", None, None): 20})]
    )
    store.add_release(
        meta(sequence=2), [measure_report("Y00011", "2026-10", {("need-any", None, None): 25})]
    )
    store.add_release(
        meta(sender="Y00012"), [measure_report("Y00012", "2026-10", {("need-any", None, None): 10})]
    )
    latest = store.rows("SELECT org, count FROM latest_figures ORDER BY org")
    assert latest == [("Y00011", 25), ("Y00012", 10)]
    assert len(store.table("figures")) == 3  # the earlier release is kept, only not "latest"


def test_migrations_run_once_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    target = tmp_path / "hub.sqlite"
    with open_store(target) as first:
        first.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    with open_store(target) as again:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.rows("SELECT COUNT(*) FROM schema_version") == [(len(MIGRATIONS),)]
        assert again.has_release("r-Y00011-2026-10-1")


def test_a_store_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "nope" / "hub.sqlite")


def test_an_unreachable_postgres_says_what_to_check() -> None:
    with pytest.raises(StoreError, match="check the URL"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_sqlite_and_postgresql_give_identical_tables(
    tmp_path: Path, postgres_url: str, demo_feeds: dict[str, Path]
) -> None:
    stores = [open_store(tmp_path / "hub.sqlite"), open_store(postgres_url)]
    try:
        for store in stores:
            store.set_practices({"Y00011": "U00001", "Y00021": "U00002"})
            for period in PERIODS:
                for level in ("practice", "pcn"):
                    folder = demo_feeds["root"] / period / f"feed-{level}"
                    load_folder(folder, store, "QHM", created="2026-11-01T09:00:00+00:00")
            store.add_rejection("2026-11-01T10:00:00+00:00", "Y00011", "replay", "seen")
        sqlite, postgres = stores
        for table in ("releases", "rejections", "figures", "practices"):
            assert sqlite.table(table) == postgres.table(table), table
        assert len(sqlite.table("figures")) > 2000
        assert {row[3] for row in sqlite.table("figures")} == {"practice", "pcn"}
    finally:
        for store in stores:
            store.close()


def test_a_negative_zero_score_is_stored_as_zero_on_both_databases(store: HubStoreDb) -> None:
    """A feed rounds a small negative mean to -0.0; SQLite would read it back as 0.0 and
    PostgreSQL as -0.0, so their exports would differ: the hub stores 0.0."""
    report = measure_report("Y00011", "2026-10", {("need-any", None, None): 20})
    report["group"][0]["measureScore"] = {"value": -0.0, "unit": "points"}
    store.add_release(meta(), [report])
    [(score,)] = store.rows("SELECT score FROM figures")
    assert score == 0.0 and math.copysign(1.0, score) == 1.0


def test_a_practice_map_given_later_re_levels_stored_figures(store: HubStoreDb) -> None:
    cells = {("need-any", None, None): 20}
    store.add_release(meta(sender="U00001"), [measure_report("U00001", "2026-10", cells)])
    star = measure_report("NTP01", "2026-10", cells, measure="https://x/Measure/star")
    store.add_release(meta(sender="NTP01"), [star])
    assert store.rows("SELECT org, level FROM figures ORDER BY org") == [
        ("NTP01", "provider"), ("U00001", "practice")]  # fmt: skip
    store.set_practices({"Y00011": "U00001"})
    assert store.rows("SELECT org, level FROM figures ORDER BY org") == [
        ("NTP01", "provider"), ("U00001", "pcn")]  # fmt: skip
    assert store.table("practices") == [("Y00011", "U00001")]


def test_load_reads_bundles_too(tmp_path: Path) -> None:
    reports = [measure_report(org, "2026-10", CELLS) for org in ("Y00011", "Y00012")]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in reports]}  # fmt: skip
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "bundle.json").write_text(json.dumps(bundle))
    with open_store(tmp_path / "hub.sqlite") as store:
        result = load_folder(tmp_path / "feed", store, "QHM")
        assert sorted(m.sender for m in result.stored) == ["Y00011", "Y00012"]
        assert len(store.table("figures")) == 2 * len(CELLS)


def test_an_older_release_arriving_late_does_not_replace_the_newer(store: HubStoreDb) -> None:
    store.add_release(
        meta(sequence=2), [measure_report("Y00011", "2026-10", {("need-any", None, None): 25})]
    )
    store.add_release(
        meta(sequence=1), [measure_report("Y00011", "2026-10", {("need-any", None, None): 20})]
    )
    assert store.rows("SELECT count FROM latest_figures") == [(25,)]
    assert [(r[5], r[8]) for r in store.table("releases")] == [(1, False), (2, True)]


def test_migration_2_marks_the_latest_of_a_version_1_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "hub.sqlite"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    with open_store(target) as old:
        assert old.schema_version() == 1
        for sequence in (1, 2):
            old.connection.execute(
                "INSERT INTO releases VALUES (?, 'DSA-1', 'Y00011', 'QHM', '2026-10', ?, "
                "'2026-11-01', 'm', '2026-11-01')",
                (f"r{sequence}", sequence),
            )
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with open_store(target) as upgraded:
        assert upgraded.schema_version() == len(MIGRATIONS)
        assert upgraded.rows("SELECT release_id FROM latest_releases") == [("r2",)]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_3_adds_score_columns_to_a_version_2_store(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    """Figures stored before scores were kept stay, and latest_figures shows the new columns
    (PostgreSQL fixes a view's columns when it is made, so the view must be made again)."""
    if database == "sqlite":
        target = str(tmp_path / "hub.sqlite")
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS hub_migration_3")
            connection.execute("CREATE DATABASE hub_migration_3")
        target = server.rsplit("/", 1)[0] + "/hub_migration_3"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:2])
    monkeypatch.setattr(store_module, "_FIGURE_COLUMNS", store_module._FIGURE_COLUMNS[:11])
    monkeypatch.setattr(store_module, "_figure_row", lambda r, f, level, rules: (
        r, f.measure, f.period, level, f.org, f.group, f.stratifier, f.stratum, f.count,
        f.masked, f.score))  # fmt: skip
    monkeypatch.setattr(store_module.HubStoreDb, "_insert_rules", lambda *args: None)
    with open_store(target) as old:
        assert old.schema_version() == 2
        old.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    monkeypatch.undo()
    with open_store(target) as upgraded:
        assert upgraded.schema_version() == len(MIGRATIONS)
        rows = upgraded.rows("SELECT count, score_total, score_unit, low, high FROM latest_figures "
                             "WHERE group_code = 'need-any' AND stratifier IS NULL")  # fmt: skip
        # migration 5: the release gets the hub config's rules, its figures their bounds
        assert rows == [(20, None, None, 20, 20)]
        assert len(upgraded.table("figures")) == len(CELLS)
        [rules] = upgraded.table("release_rules")
        assert rules[2:] == (7, 1, False, False, "hub config")
        masked = upgraded.rows("SELECT DISTINCT low, high FROM figures WHERE masked")
        assert masked == [(1, 7)]


def test_migration_4_indexes_what_national_collations_scan(store: HubStoreDb) -> None:
    """Partial indexes over PCN-sent and provider-sent figures and over provider strata, on both
    databases; on SQLite the collation and the outcomes view read through them (without them a
    national store was scanned whole once per level)."""
    if store.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'figures'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'figures'"
    names = {row[0] for row in store.rows(sql)}
    assert {"figures_from_pcns", "figures_from_providers", "figures_by_provider_stratum"} <= names
    if store.dialect.name != "sqlite":
        return
    from ltcbridge.hub.collate import Collator
    from ltcbridge.hub.config import HubConfig
    from ltcbridge.hub.outcomes import outcomes

    queries: list[tuple[str, tuple]] = []
    rows = store.rows

    def recorded(sql: str, params: tuple = ()) -> list[tuple]:
        queries.append((sql, tuple(params)))
        return rows(sql, params)

    store.rows = recorded  # type: ignore[method-assign]
    outcomes(Collator(store, HubConfig(practices={"Y00011": "U00001"})))
    explain = store.connection.execute
    plan = [str(step[3]) for sql, params in queries if "base AS" in sql
            for step in explain("EXPLAIN QUERY PLAN " + sql, params)]  # fmt: skip
    assert any("figures_by_provider_stratum" in step for step in plan)
    assert any("figures_from_providers" in step for step in plan)


def test_a_changed_hub_config_re_bounds_only_releases_without_rules_of_their_own(
    store: HubStoreDb,
) -> None:
    """Releases that carry no rules are bounded by the hub config's; when it changes their
    figures are bounded again. A release's own rules are never replaced."""
    from hub_data import with_rules

    from ltcbridge.hub.collate import Collator
    from ltcbridge.hub.config import HubConfig
    from ltcbridge.hub.rules import ReleaseRules

    own = ReleaseRules("DSA-1", threshold=7, rounding=5, secondary=True)
    store.add_release(meta(), [measure_report("Y00011", "2026-10", CELLS)])
    store.add_release(meta(sender="Y00012"),
                      [with_rules(measure_report("Y00012", "2026-10", CELLS), own)])  # fmt: skip

    def bounds(sender: str) -> dict[tuple, tuple]:
        return {(count, bool(masked)): (low, high) for count, masked, low, high in store.rows(
            "SELECT DISTINCT f.count, f.masked, f.low, f.high FROM figures f JOIN releases r "
            "ON r.release_id = f.release_id WHERE r.sender = ?", (sender,))}  # fmt: skip

    Collator(store, HubConfig())
    assert bounds("Y00011") == {(20, False): (20, 20), (15, False): (15, 15), (None, True): (1, 7)}
    ours = {(20, False): (18, 22), (15, False): (13, 17), (None, True): (0, None)}
    assert bounds("Y00012") == ours
    Collator(store, HubConfig(threshold=5, rounding=5, secondary=False))
    assert bounds("Y00011") == {(20, False): (18, 22), (15, False): (13, 17), (None, True): (1, 5)}
    assert bounds("Y00012") == ours
    sources = store.rows("SELECT source, threshold, rounding FROM release_rules ORDER BY source")
    assert sources == [("hub config", 5, 5), ("release", 7, 5)]
