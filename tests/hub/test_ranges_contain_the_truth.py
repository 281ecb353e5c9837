"""Issue 15, item 3: every range the hub shows contains the true count.

True counts are generated, published through the real disclosure code (primary masking and
rounding, or secondary suppression: ``ltcbridge.disclosure.secondary``) under rules drawn at
random, sent as MeasureReports carrying those rules, checked and stored as the hub stores a
release, and collated: every PCN and ICB total, group and stratum, must bracket the true sum.
Before the rules travelled with each release the hub read a masked cell as 1..threshold and a
rounded count as exact, so a headline such as "people with any unmet need 68-86" could stand
for a true 109 (secondary suppression masks large cells, rounding moves each count)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

from hub_data import meta, with_rules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcbridge.concepts import NEED_ANY, STRATIFIERS
from ltcbridge.disclosure.cells import MASKED, DisclosureRules, LinearConstraint, Release
from ltcbridge.disclosure.secondary import primary_only, protect
from ltcbridge.hub.checks import check_release
from ltcbridge.hub.collate import Collator, Filter
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.rules import ReleaseRules
from ltcbridge.hub.store import open_store
from ltcbridge.hub.synthetic import measure_report

GROUPS = (NEED_ANY, "need-befriending")
SEX = STRATIFIERS["sex"]
PRACTICES = {"P1": "N1", "P2": "N1", "P3": "N2", "P4": "N2"}

Cell = tuple[str, str | None, str | None]


def _true_counts() -> st.SearchStrategy[dict[Cell, int]]:
    """One practice's month: each group's people split over the sex strata (small counts
    common, so masking happens)."""
    strata = st.lists(st.integers(0, 30), min_size=len(SEX), max_size=len(SEX))

    def build(splits: list[list[int]]) -> dict[Cell, int]:
        cells: dict[Cell, int] = {}
        for group, split in zip(GROUPS, splits, strict=True):
            cells[(group, None, None)] = sum(split)
            cells.update({(group, "sex", s): n for s, n in zip(SEX, split, strict=True)})
        return cells

    return st.lists(strata, min_size=len(GROUPS), max_size=len(GROUPS)).map(build)


def _published(cells: dict[Cell, int], rules: ReleaseRules) -> dict[Cell, int | None]:
    """What the practice sends under the rules: the disclosure code's own output."""
    constraints = [
        LinearConstraint(((((g, None, None)), 1), *(((g, "sex", s), -1) for s in SEX)), "==", 0)
        for g in GROUPS
    ]
    release = Release(dict(cells), constraints)
    disclosure = DisclosureRules(rules.threshold, rules.rounding)
    out = protect(release, disclosure) if rules.secondary else primary_only(release, disclosure)
    return {key: None if value is MASKED else value for key, value in out.values.items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    practices=st.lists(_true_counts(), min_size=len(PRACTICES), max_size=len(PRACTICES)),
    threshold=st.integers(1, 7),
    rounding=st.sampled_from([1, 3, 5, 10]),
    secondary=st.booleans(),
)
def test_every_collated_range_contains_the_true_sum(
    practices: list[dict[Cell, int]], threshold: int, rounding: int, secondary: bool
) -> None:
    rules = ReleaseRules("DSA-1", threshold, rounding, secondary)
    truth: dict[tuple[str, str, str | None, str | None], int] = defaultdict(int)
    # the hub config says something else on purpose: each release's own rules must win
    config = HubConfig(practices=PRACTICES, threshold=7, rounding=1, secondary=False)
    with tempfile.TemporaryDirectory() as folder, open_store(Path(folder) / "h.sqlite") as store:
        collator = Collator(store, config)
        for org, cells in zip(PRACTICES, practices, strict=True):
            report = with_rules(measure_report(org, "2026-10", _published(cells, rules)), rules)
            release = meta(sender=org)
            assert check_release(release, [report], store.fallback) == rules
            store.add_release(release, [report])
            for (group, stratifier, stratum), count in cells.items():
                for where in (PRACTICES[org], "ICB"):
                    truth[(where, group, stratifier, stratum)] += count
        checked = 0
        for level in ("pcn", "icb"):
            for row in collator.totals(level, Filter()):
                where = "ICB" if level == "icb" else row.org
                true = truth[(where, row.group, row.stratifier, row.stratum)]
                total = row.total
                assert total.low <= true, (row, true, rules)
                assert total.high is None or true <= total.high, (row, true, rules)
                assert secondary or total.high is not None  # bounded without secondary masks
                checked += 1
    assert checked == 3 * len(GROUPS) * (1 + len(SEX))  # two PCNs and the ICB, every cell
