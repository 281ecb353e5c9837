"""Collation: masked parts give ranges (never zero), roll-ups match the generator's truth,
PCN-level releases are never added twice, completeness finds the gaps."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from hub_data import PERIODS, meta

from ltcbridge.concepts import NEED_ANY, NEED_DOMAINS
from ltcbridge.hub.collate import TOTAL, Collator, Filter, Total, completeness
from ltcbridge.hub.config import UNMET_NEED, HubConfig, load_hub_config
from ltcbridge.hub.load import load_folder
from ltcbridge.hub.store import HubStoreDb
from ltcbridge.hub.synthetic import measure_report


def test_a_total_with_masked_parts_is_a_range() -> None:
    total = Total(known=30, masked=2, parts=5, low=32, high=44)
    assert (total.low, total.high, total.exact) == (32, 44, False)
    assert total.text() == "32–44"
    assert Total(30, 0, 5, 30, 30).text() == "30"
    assert Total(30, 0, 5, 26, 34).text() == "26–34"  # rounded, nothing masked: still a range
    assert Total(0, 1, 1, 1, 7).text() == "masked (1–7)"
    assert Total(30, 2, 5, 32, None).text() == "at least 32"  # secondary suppression: unbounded
    assert (total + Total(30, 2, 5, 32, None)).high is None


def _loaded(store: HubStoreDb, config: HubConfig, cells_by_org: dict) -> Collator:
    collator = Collator(store, config)
    for org, cells in cells_by_org.items():
        store.add_release(meta(sender=org), [measure_report(org, "2026-10", cells)])
    return collator


def test_masked_practices_never_count_as_zero(store: HubStoreDb) -> None:
    config = HubConfig(practices={"P1": "N1", "P2": "N1", "P3": "N2"}, threshold=7)
    collator = _loaded(store, config, {
        "P1": {(NEED_ANY, None, None): 10}, "P2": {(NEED_ANY, None, None): None},
        "P3": {(NEED_ANY, None, None): None}})  # fmt: skip
    pcns = {r.org: r.total for r in collator.totals("pcn", Filter(stratifier=TOTAL))}
    assert (pcns["N1"].low, pcns["N1"].high) == (11, 17)
    assert (pcns["N2"].low, pcns["N2"].high, pcns["N2"].known) == (1, 7, 0)
    [icb] = collator.totals("icb", Filter(stratifier=TOTAL))
    assert (icb.total.known, icb.total.masked, icb.total.parts) == (10, 2, 3)
    assert (icb.total.low, icb.total.high) == (12, 24)


def test_secondary_suppression_leaves_no_upper_bound(store: HubStoreDb) -> None:
    config = HubConfig(practices={"P1": "N1", "P2": "N1"}, secondary=True)
    collator = _loaded(store, config, {"P1": {(NEED_ANY, None, None): 40},
                                       "P2": {(NEED_ANY, None, None): None}})  # fmt: skip
    [icb] = collator.totals("icb", Filter(stratifier=TOTAL))
    # a cell masked in an earlier release stays masked even at 0, so the masked part adds 0..
    assert icb.total.high is None and icb.total.text() == "at least 40"


def test_a_pcn_release_is_used_only_where_its_practices_sent_none(store: HubStoreDb) -> None:
    config = HubConfig(practices={"P1": "N1", "P2": "N2"})
    collator = _loaded(store, config, {
        "P1": {(NEED_ANY, None, None): 10}, "N1": {(NEED_ANY, None, None): 500},
        "N2": {(NEED_ANY, None, None): 20}})  # fmt: skip
    pcns = {r.org: r.total.known for r in collator.totals("pcn", Filter(stratifier=TOTAL))}
    assert pcns == {"N1": 10, "N2": 20}
    [icb] = collator.totals("icb", Filter(stratifier=TOTAL))
    assert icb.total.known == 30


def test_icb_and_pcn_ranges_contain_the_generators_truth(
    store: HubStoreDb, demo_feeds: dict[str, Path], hub_config_file: Path
) -> None:
    """Every ICB and PCN total built from the demo's masked, rounded practice feeds brackets
    the true count the generator computed independently (the feeds carry no rules extension
    here, so the hub config's rounding, the demo agreement's 5, stands in)."""
    collator = Collator(store, replace(load_hub_config(hub_config_file), rounding=5))
    for period in PERIODS:
        load_folder(demo_feeds["root"] / period / "feed-practice", store, "QHM")
    truth: dict[tuple, int] = defaultdict(int)
    pcn_of = collator.config.practices
    for row in json.loads(demo_feeds["truth"].read_text())["unmet_need"]:
        if row["level"] == "practice" and row["month"] in PERIODS:
            for org in (pcn_of[row["org"]], "QHM"):
                key = (row["month"], org, row["group"], row["stratifier"], row["stratum"])
                truth[key] += row["count"]
    checked = masked_ranges = 0
    for level in ("pcn", "icb"):
        for r in collator.totals(level, Filter(measure=UNMET_NEED)):
            total = r.total
            true = truth.get((r.period, r.org, r.group, r.stratifier, r.stratum), 0)
            assert total.high is not None and total.low <= true <= total.high, r
            checked += 1
            masked_ranges += not total.exact
    assert checked > 1000 and masked_ranges > 300


def test_completeness_names_missing_practices_and_months(
    store: HubStoreDb, demo_feeds: dict[str, Path], hub_config_file: Path
) -> None:
    collator = Collator(store, load_hub_config(hub_config_file))
    load_folder(demo_feeds["root"] / "2026-10" / "feed-practice", store, "QHM")
    done = completeness(collator)
    assert done.months == ("2026-08", "2026-09", "2026-10")
    assert done.missing["Y00029"] == ("2026-08", "2026-09", "2026-10")  # never reported
    assert done.missing["Y00011"] == ("2026-08", "2026-09")
    assert done.expected_returns == 21 and done.missing_returns == 15
    assert done.unexpected == ()


def test_a_pcn_release_covers_its_practices_for_completeness(store: HubStoreDb) -> None:
    config = HubConfig(practices={"P1": "N1", "P2": "N1", "P3": "N2"})
    collator = _loaded(store, config, {"N1": {(NEED_ANY, None, None): 30},
                                       "X9": {(NEED_ANY, None, None): 30}})  # fmt: skip
    done = completeness(collator)
    assert done.missing == {"P3": ("2026-10",)} and done.unexpected == ("X9",)


@pytest.mark.parametrize("domain", NEED_DOMAINS[:2])
def test_breakdowns_sum_per_stratum(store: HubStoreDb, domain: str) -> None:
    config = HubConfig(practices={"P1": "N1", "P2": "N1"})
    collator = _loaded(store, config, {
        "P1": {(domain, "sex", "male"): 10, (domain, "sex", "female"): None},
        "P2": {(domain, "sex", "male"): 15, (domain, "sex", "female"): 20}})  # fmt: skip
    rows = {r.stratum: r.total.text() for r in collator.totals("icb", Filter(stratifier="sex"))}
    assert rows == {"male": "25", "female": "21–27"}
