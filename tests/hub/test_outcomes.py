"""Practice-sent outcome measures (referrals, support levels, Star distance travelled, NHS use):
scores stored alike on SQLite and PostgreSQL, levels from the practice map, outcomes per provider
worked out by hand (masked parts as ranges, never zero), and the outputs that show them."""

from __future__ import annotations

import copy
import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
from hub_data import (
    HUB_CONFIG,
    NHS_USE,
    PERIODS,
    REFERRALS,
    STAR,
    SUPPORT_LEVEL,
    outcome_report,
    release,
)
from openpyxl import load_workbook

from ltcbridge.feed.measure_report import ReportError
from ltcbridge.hub.collate import Collator, Total
from ltcbridge.hub.config import HubConfig, load_hub_config
from ltcbridge.hub.load import load_folder
from ltcbridge.hub.outcomes import ALL_MONTHS, ALL_PROVIDERS, outcomes, share
from ltcbridge.hub.report.build import write_report
from ltcbridge.hub.store import HubStoreDb, open_store

PRACTICES = {"P1": "N1", "P2": "N1", "P3": "N2"}
UNIT_COSTS = {"gp-attendances": 42.0, "ae-attendances": 180.0, "prescriptions": 9.0,
              "unplanned-admissions": 1850.0}  # fmt: skip
CONFIG = HubConfig(practices=PRACTICES, threshold=7, unit_costs=UNIT_COSTS,
                   provider_names={"NTP01": "Riverside Wellbeing"})  # fmt: skip
KINDS = ("gp-attendances", "ae-attendances", "prescriptions", "unplanned-admissions")


def _star(groups: dict, by_provider: dict) -> dict:
    return {"groups": groups, "providers": by_provider}


def _nhs(cohort: int | None, units: dict[str, tuple], costs: tuple | None, provider: str) -> tuple:
    """NHS-use groups for one practice whose whole cohort has one provider."""
    groups: dict = {"nhs-use-cohort": cohort}
    for kind, (before, after) in units.items():
        groups[f"{kind}-before"] = (cohort, before) if cohort is not None else None
        groups[f"{kind}-after"] = (cohort, after) if cohort is not None else None
    if costs is not None:
        groups["nhs-cost-before"], groups["nhs-cost-after"] = ((cohort, c) for c in costs)
    return groups, {code: {provider: value} for code, value in groups.items()}


def scenario(store: HubStoreDb) -> Collator:
    """Three practices, a PCN, two providers sending their own reports; see the module tests."""
    collator = Collator(store, CONFIG)
    sent: dict[tuple[str, str], list[dict]] = defaultdict(list)

    def add(measure: str, org: str, period: str, groups: dict, providers: dict | None) -> None:
        sent[(org, period)].append(outcome_report(measure, org, period, groups, providers))

    # referrals, 2026-10: P1 25 made (NTP01 20, none 5); P2 12 made (NTP01 and NTP02 masked)
    add(REFERRALS, "P1", "2026-10",
        {"referral-lead-provider": 25, "referral-accepted": 9, "referral-declined": 3},
        {"referral-lead-provider": {"NTP01": 20, "none": 5},
         "referral-accepted": {"NTP01": 8, "none": 0},
         "referral-declined": {"NTP01": 2, "none": 1}})  # fmt: skip
    add(REFERRALS, "P2", "2026-10",
        {"referral-lead-provider": 12, "referral-accepted": None, "referral-declined": 0},
        {"referral-lead-provider": {"NTP01": None, "NTP02": None, "none": 0},
         "referral-accepted": {"NTP01": None, "NTP02": 0, "none": 0},
         "referral-declined": {"NTP01": 0, "NTP02": 0, "none": 0}})  # fmt: skip
    # the PCN N2 reports 2026-09 itself (P3 sent nothing that month): used
    add(REFERRALS, "N2", "2026-09",
        {"referral-lead-provider": 10, "referral-accepted": 10, "referral-declined": 0},
        {"referral-lead-provider": {"NTP01": 10}, "referral-accepted": {"NTP01": 10},
         "referral-declined": {"NTP01": 0}})  # fmt: skip
    # the PCN N1 reports 2026-10 too, but its practices did: never added
    add(REFERRALS, "N1", "2026-10", {"referral-lead-provider": 500},
        {"referral-lead-provider": {"NTP01": 500}})  # fmt: skip
    # providers' own reports (no provider breakdown): NTP01 for 2026-08 (no practice covers it)
    # and 2026-10 (practices do: left out); NTP09 for 2026-10
    add(REFERRALS, "NTP01", "2026-08", {"referral-lead-provider": 4, "referral-accepted": 2}, None)
    add(REFERRALS, "NTP01", "2026-10", {"referral-lead-provider": 99}, None)
    add(REFERRALS, "NTP09", "2026-10", {"referral-lead-provider": 6, "referral-accepted": 6}, None)

    # Star: P1 and P2 in 2026-10 (P2's money area masked), P1 alone in 2026-09
    star_p1 = {"star-wellbeing": (12, 18), "star-wellbeing-improved": 9,
               "star-wellbeing-reviewed-year-on": 10, "star-wellbeing-improved-year-on": 8,
               "wb-lifestyle": (12, 6), "wb-money": (10, -5)}  # fmt: skip
    star_p2 = {"star-wellbeing": (20, 10), "star-wellbeing-improved": 12,
               "star-wellbeing-reviewed-year-on": 0, "star-wellbeing-improved-year-on": 0,
               "wb-lifestyle": (20, 14), "wb-money": None}  # fmt: skip
    star_sep = {"star-wellbeing": (8, 8), "star-wellbeing-improved": 5,
                "star-wellbeing-reviewed-year-on": 0, "star-wellbeing-improved-year-on": 0,
                "wb-lifestyle": (8, 4), "wb-money": (8, 0)}  # fmt: skip
    for org, period, groups in (("P1", "2026-10", star_p1), ("P2", "2026-10", star_p2),
                                ("P1", "2026-09", star_sep)):  # fmt: skip
        add(STAR, org, period, groups, {code: {"NTP01": v} for code, v in groups.items()})

    # NHS use, 2026-10: P1 sent its own costs; P2 did not (the hub's unit costs); P3 all masked
    p1 = _nhs(10, {"gp-attendances": (30, 20), "ae-attendances": (4, 1),
                   "prescriptions": (50, 40), "unplanned-admissions": (1, 0)},
              (4280, 1380), "NTP01")  # fmt: skip
    p2 = _nhs(8, {"gp-attendances": (16, 8), "ae-attendances": (2, 2),
                  "prescriptions": (40, 30), "unplanned-admissions": (0, 0)},
              None, "NTP01")  # fmt: skip
    p3 = _nhs(None, {kind: (None, None) for kind in KINDS}, None, "NTP01")
    for org, (groups, by_provider) in (("P1", p1), ("P2", p2), ("P3", p3)):
        add(NHS_USE, org, "2026-10", groups, by_provider)

    for (org, period), reports in sent.items():
        store.add_release(*release(org, period, reports))
    return collator


def test_a_share_of_ranges_is_bounded_by_both_sides() -> None:
    assert share(Total(8, 0, 1, 8, 8), Total(10, 0, 1, 10, 10)).text() == "80%"
    assert share(Total(8, 1, 2, 9, 15), Total(20, 1, 2, 21, 27)).text() == "33%–71%"  # 9/27..15/21
    assert share(Total(0, 1, 1, 1, 7), Total(0, 1, 1, 1, 7)).text() == "14%–100%"  # 1/7 .. 1
    unbounded = share(Total(8, 1, 2, 9, None), Total(20, 1, 2, 21, None))
    assert unbounded is not None and unbounded.text() == "0%–100%"
    assert share(Total(0, 0, 1, 0, 0), Total(0, 0, 1, 0, 0)) is None  # nobody to share
    assert share(None, Total(5, 0, 1, 5, 5)) is None


# -- storing ---------------------------------------------------------------------------------------
def test_scores_and_score_totals_are_stored_beside_their_counts(store: HubStoreDb) -> None:
    scenario(store)
    rows = store.rows(
        "SELECT org, group_code, stratifier, stratum, count, masked, score, score_total, "
        "score_unit FROM figures WHERE measure = ? AND period = '2026-10' "
        "AND group_code IN ('star-wellbeing', 'wb-money') AND (stratifier IS NULL "
        "OR stratifier = 'provider') " + store.order_by("org", "group_code", "stratifier"),
        (STAR,),
    )
    assert [(*r[:5], bool(r[5]), *r[6:]) for r in rows] == [
        ("P1", "star-wellbeing", None, None, 12, False, 1.5, 18.0, "points"),
        ("P1", "star-wellbeing", "provider", "NTP01", 12, False, 1.5, 18.0, "points"),
        ("P1", "wb-money", None, None, 10, False, -0.5, -5.0, "points"),
        ("P1", "wb-money", "provider", "NTP01", 10, False, -0.5, -5.0, "points"),
        ("P2", "star-wellbeing", None, None, 20, False, 0.5, 10.0, "points"),
        ("P2", "star-wellbeing", "provider", "NTP01", 20, False, 0.5, 10.0, "points"),
        ("P2", "wb-money", None, None, None, True, None, None, None),  # masked: no score
        ("P2", "wb-money", "provider", "NTP01", None, True, None, None, None),
    ]
    cost = store.rows("SELECT score, score_total, score_unit FROM figures WHERE org = 'P1' "
                      "AND group_code = 'nhs-cost-before' AND stratifier IS NULL")  # fmt: skip
    assert cost == [(428.0, 4280.0, "GBP")]


def test_sqlite_and_postgresql_store_identical_scores_and_outcomes(
    tmp_path: Path, postgres_url: str
) -> None:
    tables, found = [], []
    for target in (str(tmp_path / "hub.sqlite"), postgres_url):
        with open_store(target) as store:
            collator = scenario(store)
            tables.append({name: store.table(name) for name in ("figures", "releases")})
            found.append((outcomes(collator), outcomes(collator, by_provider=False)))
    assert tables[0] == tables[1]
    assert any(row[12] is not None for row in tables[0]["figures"])  # score totals are there
    assert found[0] == found[1]


def test_a_masked_count_carrying_a_score_refuses_the_release(store: HubStoreDb) -> None:
    report = outcome_report(STAR, "P1", "2026-10", {"star-wellbeing": None},
                            {"star-wellbeing": {"NTP01": None}})  # fmt: skip
    leaky = copy.deepcopy(report)
    leaky["group"][0]["stratifier"][1]["stratum"][0]["measureScore"] = {"value": 2.0}
    with pytest.raises(ReportError, match="masked count carries a score"):
        store.add_release(*release("P1", "2026-10", [leaky]))
    assert store.table("releases") == []
    store.add_release(*release("P1", "2026-10", [report]))  # masked without a score: fine


def test_levels_come_from_the_practice_map_for_every_measure(store: HubStoreDb) -> None:
    store.set_practices({"P1": "N1"})
    cells = {"referral-lead-provider": 5}
    by_provider = {"referral-lead-provider": {"NTP01": 5}}
    for org, measure, providers in (
        ("P1", STAR, None),  # a listed practice, whatever it sends
        ("N1", NHS_USE, by_provider),  # a listed PCN
        ("X9", REFERRALS, by_provider),  # unlisted, reports on providers: a practice
        ("X8", "https://ltcbridge.github.io/fhir/Measure/unmet-need", None),  # unlisted practice
        ("NTP05", REFERRALS, None),  # unlisted, its own figures: a provider, as before
        ("X7", SUPPORT_LEVEL, None),  # unlisted: only practices send support levels
    ):
        store.add_release(*release(org, "2026-10", [outcome_report(measure, org, "2026-10",
                                                                   cells, providers)]))  # fmt: skip
    levels = dict(store.rows("SELECT DISTINCT org, level FROM figures"))
    assert levels == {"P1": "practice", "N1": "pcn", "X9": "practice", "X8": "practice",
                      "NTP05": "provider", "X7": "practice"}  # fmt: skip


# -- outcomes by provider, worked out by hand ------------------------------------------------------
def test_referrals_per_provider_add_practices_and_keep_masked_parts_as_ranges(
    store: HubStoreDb,
) -> None:
    collator = scenario(store)
    found = outcomes(collator)
    assert found.providers == ["NTP01", "NTP02", "NTP09", "none"]
    row = {(r.provider, r.period): r for r in found.rows}
    october = row[("NTP01", "2026-10")].referrals
    assert october is not None
    assert october.made.text() == "21–27"  # 20 + a masked part of 1..7; N1's 500 never added
    assert october.accepted.text() == "9–15"
    assert october.declined.text() == "2"
    assert (round(october.acceptance.low, 4), round(october.acceptance.high, 4)) == (
        0.3333, 0.7143)  # fmt: skip  # 9/27 .. 15/21
    assert october.acceptance.text() == "33%–71%"
    assert row[("NTP01", "2026-10")].sources["referrals"] == "practices"
    assert row[("NTP01", "2026-09")].referrals.acceptance.text() == "100%"  # N2's own release
    assert row[("NTP01", "2026-08")].sources["referrals"] == "provider"  # its own report
    assert row[("NTP01", "2026-08")].referrals.made.text() == "4"
    every = row[("NTP01", ALL_MONTHS)]
    assert every.referrals.made.text() == "35–41" and every.referrals.accepted.text() == "21–27"
    assert every.referrals.acceptance.text() == "51%–77%"  # 21/41 .. 27/35
    assert every.sources["referrals"] == "practices and provider"
    assert row[("NTP02", "2026-10")].referrals.made.text() == "masked (1–7)"
    assert row[("NTP02", "2026-10")].referrals.acceptance.text() == "0%"
    assert row[("none", "2026-10")].referrals.acceptance.text() == "0%"
    assert row[("NTP09", "2026-10")].referrals.acceptance.text() == "100%"
    icb = outcomes(collator, by_provider=False)
    icb_october = next(r for r in icb.rows if r.period == "2026-10")
    assert icb_october.provider == ALL_PROVIDERS
    assert icb_october.referrals.made.text() == "37"  # the practices' group totals
    assert icb_october.referrals.acceptance.text() == "27%–43%"  # 10/37 .. 16/37


def test_star_distance_travelled_per_provider(store: HubStoreDb) -> None:
    found = outcomes(scenario(store))
    row = {(r.provider, r.period): r for r in found.rows}
    [star] = row[("NTP01", "2026-10")].stars
    assert star.star == "star-wellbeing"
    assert star.reviewed.people.text() == "32"
    assert star.improved_share.text() == "66%"  # 21 of 32
    assert star.year_on_share.text() == "80%"  # 8 of 10 reviewed a year on
    assert star.reviewed.mean == pytest.approx(28 / 32)
    lifestyle, money = star.areas["wb-lifestyle"], star.areas["wb-money"]
    assert lifestyle.complete and lifestyle.mean == pytest.approx(20 / 32)
    # P2's money area is masked: its change is unknown, left out (never a zero) and said so
    assert money.people.text() == "11–17"
    assert (money.score, money.scored, money.unknown, money.mean) == (-5.0, 10, 1, -0.5)
    [every] = row[("NTP01", ALL_MONTHS)].stars
    assert every.reviewed.people.text() == "40" and every.improved_share.text() == "65%"
    assert every.reviewed.mean == pytest.approx(36 / 40)
    assert every.areas["wb-money"].mean == pytest.approx(-5 / 18)


def test_nhs_use_before_and_after_and_its_cost_per_provider(store: HubStoreDb) -> None:
    found = outcomes(scenario(store))
    nhs = next(r for r in found.rows if r.provider == "NTP01" and r.period == "2026-10").nhs_use
    assert nhs is not None
    assert nhs.cohort.text() == "19–25"  # P3's masked cohort: 1..7 more
    gp = next(k for k in nhs.kinds if k.kind == "gp-attendances")
    assert (gp.before.score, gp.before.scored, gp.before.unknown) == (46.0, 18, 1)
    assert (gp.after.score, gp.after.mean) == (28.0, pytest.approx(28 / 18))
    assert gp.change.mean == pytest.approx(-1.0)
    assert [k.kind for k in nhs.kinds] == list(KINDS)
    # P1 sent its costs (4,280 / 1,380); P2's are units x unit costs: 16x42 + 2x180 + 40x9 = 1,392
    # before and 8x42 + 2x180 + 30x9 = 966 after; P3 is masked: left out and said so
    assert (nhs.cost_before.known, nhs.cost_after.known) == (5672.0, 2346.0)
    assert nhs.cost_change.known == -3326.0 and nhs.cost_change.unknown == 1
    assert not nhs.cost_change.complete and nhs.cost_change.unpriced == ()


def test_nhs_use_without_a_unit_cost_says_what_was_not_costed(store: HubStoreDb) -> None:
    scenario(store)
    config = HubConfig(practices=PRACTICES, unit_costs={"gp-attendances": 42.0,
                                                        "ae-attendances": 180.0})  # fmt: skip
    found = outcomes(Collator(store, config))
    nhs = next(r for r in found.rows if r.provider == "NTP01" and r.period == "2026-10").nhs_use
    assert nhs.cost_before.unpriced == ("prescriptions",)
    assert nhs.cost_before.known == 4280 + 16 * 42 + 2 * 180  # the priced kinds only


def test_outcome_ranges_from_the_demo_feeds_contain_the_generators_truth(
    store: HubStoreDb, demo_feeds: dict[str, Path], hub_config_file: Path
) -> None:
    """Per provider and month, every count range built from the demo's masked, rounded practice
    feeds brackets the true count, and a score summed without masked parts matches the truth."""
    collator = Collator(store, load_hub_config(hub_config_file))
    for period in PERIODS:
        load_folder(demo_feeds["root"] / period / "feed-practice", store, "QHM")
    truth_file = json.loads(demo_feeds["truth"].read_text())
    counts: dict[tuple, int] = defaultdict(int)
    scores: dict[tuple, float] = defaultdict(float)
    for kind, key in (("referrals", "referrals"), ("star", "star_distance"),
                      ("nhs-use", "nhs_use")):  # fmt: skip
        for row in truth_file[key]:
            if row["level"] == "practice" and row["month"] in PERIODS and (
                    row.get("stratifier") == "provider"):  # fmt: skip
                cell = (kind, row["month"], row["stratum"], row["group"])
                counts[cell] += row["count"]
                scores[cell] += row.get("score_total") or 0
    found = outcomes(collator)
    checked = ranged = 0
    for r in found.rows:
        if r.period == ALL_MONTHS:
            continue
        cells = _cells(r)
        for (kind, group), (total, scored) in cells.items():
            truth = counts.get((kind, r.period, r.provider, group), 0)
            slack = 2 * (total.parts - total.masked)  # each published count is rounded to 5
            assert total.low - slack <= truth, (r.provider, r.period, group, total)
            assert total.high is None or truth <= total.high + slack, (r.provider, group, total)
            if scored is not None and scored.complete:
                true_score = scores.get((kind, r.period, r.provider, group), 0.0)
                assert abs(scored.score - true_score) <= slack, (r.provider, group, scored)
            checked += 1
            ranged += not total.exact
    assert checked > 50 and ranged > 0


def _cells(r) -> dict:  # type: ignore[no-untyped-def]
    cells: dict = {}
    if r.referrals:
        for group, total in (("referral-lead-provider", r.referrals.made),
                             ("referral-accepted", r.referrals.accepted),
                             ("referral-declined", r.referrals.declined)):  # fmt: skip
            if total is not None:
                cells[("referrals", group)] = (total, None)
    for star in r.stars:
        if star.reviewed:
            cells[("star", star.star)] = (star.reviewed.people, star.reviewed)
        for group, total in ((f"{star.star}-improved", star.improved),
                             (f"{star.star}-reviewed-year-on", star.reviewed_year_on)):  # fmt: skip
            if total is not None:
                cells[("star", group)] = (total, None)
        for area, cell in star.areas.items():
            cells[("star", area)] = (cell.people, cell)
    if r.nhs_use:
        for kind in r.nhs_use.kinds:
            cells[("nhs-use", f"{kind.kind}-before")] = (kind.before.people, kind.before)
            cells[("nhs-use", f"{kind.kind}-after")] = (kind.after.people, kind.after)
    return cells


# -- outputs ---------------------------------------------------------------------------------------
@pytest.fixture
def scenario_report(tmp_path: Path) -> Path:
    with open_store(tmp_path / "hub.sqlite") as store:
        scenario(store)
        write_report(Collator(store, CONFIG), tmp_path / "out")
    return tmp_path / "out"


def test_the_html_report_shows_outcomes_by_provider(scenario_report: Path) -> None:
    html = (scenario_report / "report.html").read_text()
    section = html[html.index('<section id="outcomes"') :]
    section = section[: section.index("</section>")]
    assert "Provider NTP01 (Riverside Wellbeing)" in section
    assert "No provider recorded" in section  # the 'none' stratum, in words
    assert "<td>21–27</td>" in section and "<td>33%–71%</td>" in section  # referrals
    assert "<td>51%–77%</td>" in section  # all months
    assert "<td>66%</td>" in section and "<td>80%</td>" in section  # Star improved, a year on
    assert "<td>−0.5 (1 masked part left out)</td>" in section  # money area, P2 masked
    # NHS use: units and costs over the published parts, and what was left out beside them
    gp = "<td>GP attendances</td><td>46</td><td>2.6</td><td>28</td><td>1.6</td><td>−1.0</td>"
    assert gp + "<td>1 masked part</td>" in section
    cost = "<td>19–25</td><td>£5,672</td><td>£2,346</td><td>−£3,326</td><td>1 masked part</td>"
    assert cost in section
    assert "<td>2026-09</td><td>8</td><td>5</td><td>63%</td>" in section  # 5 of 8: halves up
    assert section.count("<td>All months</td>") == 4  # referrals, Star, two areas; not NHS use
    assert 'role="img"' in section and "<details>" in section  # chart with its table
    assert "From practices&#x27; breakdowns by provider and the provider&#x27;s own report" in (
        section)  # fmt: skip
    assert "No provider has sent outcomes yet" not in html
    star = html[html.index('<section id="star"') :]
    assert "Star distance travelled, all providers" in star[: star.index("</section>")]


def test_outcomes_csv_and_sheet_are_tidy(scenario_report: Path) -> None:
    path = scenario_report / "csv" / "outcomes_by_provider.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    key = {(r["provider"], r["period"], r["subject"], r["figure"]): r for r in rows}
    rate = key[("NTP01", "2026-10", "referrals", "acceptance_rate")]
    assert (rate["low"], rate["high"], rate["shown_as"]) == ("0.3333", "0.7143", "33%–71%")
    made = key[("NTP01", "2026-10", "referrals", "made")]
    assert (made["low"], made["high"], made["masked_parts"]) == ("21", "27", "1")
    money = key[("NTP01", "2026-10", "wb-money", "mean_change")]  # masked part: no bounds
    assert (money["low"], money["high"], money["published_parts_only"]) == ("", "", "-0.5")
    lifestyle = key[("NTP01", "2026-10", "wb-lifestyle", "mean_change")]
    assert (lifestyle["low"], lifestyle["high"]) == ("0.62", "0.62")  # complete: exact
    change = key[("NTP01", "2026-10", "nhs-cost", "cost_change")]
    assert (change["published_parts_only"], change["masked_parts"]) == ("-3326.0", "1")
    assert key[("all", "2026-10", "referrals", "made")]["shown_as"] == "37"
    sheet = load_workbook(scenario_report / "hub.xlsx", read_only=True)["outcomes_by_provider"]
    assert sum(1 for _ in sheet.iter_rows()) == len(rows) + 1


def test_practice_sent_support_levels_are_priced_as_ranges(tmp_path: Path) -> None:
    with open_store(tmp_path / "hub.sqlite") as store:
        for org, minimal, high in (("P1", 30, None), ("P2", None, 0)):
            cells = {"support-minimal": minimal, "support-high": high}
            store.add_release(*release(org, "2026-10", [outcome_report(
                SUPPORT_LEVEL, org, "2026-10", cells)]))  # fmt: skip
        files = write_report(Collator(store, CONFIG), tmp_path / "out")
    text = files.html.read_text()
    costs = text[text.index('<section id="costs"') :]
    assert "<td>31–37</td><td>£2,170 to £2,590</td>" in costs  # 30 + 1..7 people x £70
    assert "<td>1–7</td><td>£260 to £1,820</td>" in costs  # 0 + a masked part, x £260


def test_the_demo_report_fills_the_outcome_sections(
    tmp_path: Path, demo_feeds: dict[str, Path]
) -> None:
    (tmp_path / "hub.toml").write_text(HUB_CONFIG, encoding="utf-8")
    with open_store(tmp_path / "hub.sqlite") as store:
        for period in PERIODS:
            load_folder(demo_feeds["root"] / period / "feed-practice", store, "QHM")
        files = write_report(Collator(store, load_hub_config(tmp_path / "hub.toml")),
                             tmp_path / "out")  # fmt: skip
    html = files.html.read_text()
    assert "Provider NTP01" in html and "No provider has sent outcomes yet" not in html
    assert "No counts by support level have arrived yet" not in html
