"""Benchmark: an ICB month shown both ways, and secure aggregation of 6,500 practices.

Run from the repository root:

    .venv/bin/python bench/bench_secagg.py [--practices 30] [--seed 15] [--national 6500]

Part 1 builds one ICB month at realistic volume (``secagg.volume``: practices of about 8,000
people, 0.6% recording an unmet need in the month, a skewed domain mix) and shows its area
totals both ways under a 7/5 agreement with secondary suppression:

- today: each practice protects its own release; the hub can show an area total as a single
  number only when none of its practices' figures is masked (otherwise it shows a range);
- secure aggregation: the practices' exact counts are shared between two aggregators, summed per
  PCN and ICB, and the area figures protected in the disclosure step. Run twice: with no
  practice-level release beside it, and with the practices' own release of the same records
  published too (the practice check then applies).

For each, the share of area figures shown as a number: ICB and PCN need-domain totals, and
their breakdowns (domain x age band, sex, ethnicity, IMD quintile), with the largest gap between
a shown figure and the truth. Part 2 times the whole aggregation of ``--national`` practices
(42 ICBs' worth) for one month in this one process: sharing, receiving into two SQLite stores,
the two sums per batch, combining, and the disclosure step.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ltcbridge.concepts import NEED_DOMAINS
from ltcbridge.disclosure.cells import DisclosureRules
from ltcbridge.disclosure.from_cube import disclose_cubes
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.release import new_release_meta
from ltcbridge.secagg.config import SecureAggregation
from ltcbridge.secagg.contribute import split_practice
from ltcbridge.secagg.disclose import PracticeView, disclose_month
from ltcbridge.secagg.document import counts_of, layout_of, share_document
from ltcbridge.secagg.pipeline import (
    MonthOutcome,
    areas_of,
    helper_sums,
    leader_totals,
    proposals_for,
    run_month,
)
from ltcbridge.secagg.store import ShareStore
from ltcbridge.secagg.volume import IcbMonth, icb_month

RULES = DisclosureRules(threshold=7, rounding=5)
CONFIG = SecureAggregation(aggregators=("QXX", "X9L1A"))
KINDS = ("ICB domains", "ICB breakdowns", "PCN domains", "PCN breakdowns")


@dataclass
class Shown:
    """Per kind of area figure: how many, how many shown as a number, the largest error."""

    total: dict[str, int]
    shown: dict[str, int]
    worst: dict[str, int]

    @classmethod
    def empty(cls) -> Shown:
        return cls(dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0))

    def add(self, kind: str, value: int | None, truth: int) -> None:
        self.total[kind] += 1
        if value is not None:
            self.shown[kind] += 1
            self.worst[kind] = max(self.worst[kind], abs(value - truth))

    def share(self, kind: str) -> float:
        return self.shown[kind] / max(1, self.total[kind])


def kind_of(level: str, stratifier: str | None) -> str:
    return f"{level.upper()} {'domains' if stratifier is None else 'breakdowns'}"


def main() -> None:
    args = _arguments()
    if args.practices:
        one_icb(args)
    if args.national:
        national(args.national, args.per_icb)


def one_icb(args: argparse.Namespace) -> None:
    """Part 1: one ICB month shown both ways."""
    data = icb_month(args.practices, seed=args.seed)
    print(
        f"ICB of {args.practices} practices in {len(data.pcns)} PCNs, "
        f"{sum(data.list_sizes.values()):,} people, "
        f"{int(data.cube.totals[:, -1].sum()):,} with an unmet need this month; "
        f"{os.cpu_count()} CPU(s)"
    )
    truth = area_truth(data)
    started = time.perf_counter()
    today, practice_view, masked_share = practice_level(data, truth)
    print(
        f"today: practice figures masked {masked_share:.0%} ({time.perf_counter() - started:.1f} s)"
    )
    report("exact sums not 1..7", primary_allowed(truth))
    report("today (practice figures added up)", today)
    for name, view in (("secure aggregation", None), ("+ practice release", practice_view)):
        started = time.perf_counter()
        shown = secure(data, truth, view)
        report(f"{name} ({time.perf_counter() - started:.1f} s)", shown)


def area_truth(data: IcbMonth) -> dict[tuple[str, str, tuple], int]:
    """(level, area, cell) -> exact count, for need-domain cells of every PCN and the ICB."""
    layout = layout_of(data.cube)
    truth: dict[tuple[str, str, tuple], int] = {}
    areas = [("pcn", pcn, members) for pcn, members in data.pcns.items()]
    areas.append(("icb", data.icb, list(data.cube.orgs)))
    for level, area, members in areas:
        summed = sum(counts_of(data.cube, p) for p in members)
        for cell, value in zip(layout, summed, strict=True):
            if cell[0] in NEED_DOMAINS:
                truth[(level, area, cell)] = int(value)
    return truth


def primary_allowed(truth: dict[tuple[str, str, tuple], int]) -> Shown:
    """The most any protection could show: every exact area sum that is not 1..threshold."""
    shown = Shown.empty()
    for (level, _, cell), value in truth.items():
        shown.add(kind_of(level, cell[1]), None if RULES.is_primary(value) else value, value)
    return shown


def practice_level(
    data: IcbMonth, truth: dict[tuple[str, str, tuple], int]
) -> tuple[Shown, PracticeView, float]:
    """Each practice protects its own release; the hub adds up what it can."""
    (published,), release = disclose_cubes([data.cube], RULES, secondary=True)
    figures: dict[str, dict[tuple, int | None]] = {}
    for (org, group, name, stratum), cell in published.items():
        figures.setdefault(org, {})[(group, name, stratum)] = cell.value
    shown = Shown.empty()
    for (level, area, cell), value in truth.items():
        members = data.pcns[area] if level == "pcn" else data.cube.orgs
        pieces = [figures[p][cell] for p in members]
        total = None if any(v is None for v in pieces) else sum(pieces)  # type: ignore[arg-type]
        shown.add(kind_of(level, cell[1]), total, value)
    return shown, PracticeView(RULES, figures), release.masked_share()


def secure(
    data: IcbMonth, truth: dict[tuple[str, str, tuple], int], view: PracticeView | None
) -> Shown:
    with tempfile.TemporaryDirectory() as tmp:
        leader, helper = contribute(Path(tmp), [data])
        outcome = run_month(
            leader,
            helper,
            HistoryStore(Path(tmp) / "history.sqlite"),
            areas_of(data.pcn_of, data.icb, CONFIG.areas),
            CONFIG,
            measure=data.cube.measure,
            month=data.cube.month,
            agreement_id="DSA-BENCH",
            rules=RULES,
            practices=view,
        )
        assert not outcome.refused, outcome.refused
        shown = Shown.empty()
        for f in leader.area_figures():
            cell = (f.group, f.stratifier, f.stratum)
            if f.group in NEED_DOMAINS:
                shown.add(kind_of(f.level, f.stratifier), f.value, truth[(f.level, f.area, cell)])
        leader.close()
        helper.close()
    return shown


def contribute(root: Path, months: Iterable[IcbMonth]) -> tuple[ShareStore, ShareStore]:
    """Every practice's two share documents, received into the two aggregators' stores."""
    leader, helper = ShareStore(root / "leader.sqlite"), ShareStore(root / "helper.sqlite")
    for data in months:
        for practice in data.cube.orgs:
            pair = split_practice(data.cube, practice)
            for store, shares in zip((leader, helper), pair, strict=True):
                meta = new_release_meta(
                    agreement_id="DSA-BENCH#secagg",
                    sender=practice,
                    recipient=CONFIG.aggregators[shares.index - 1],
                    period=data.cube.month,
                    sequence=1,
                    measures=(data.cube.measure,),
                )
                store.add_release(meta, [share_document(shares)])
    return leader, helper


def national(practices: int, per_icb: int) -> None:
    """Time the aggregation of ``practices`` practices (ICBs of ``per_icb``) for one month."""
    icbs = []
    for number in range(-(-practices // per_icb)):
        size = min(per_icb, practices - number * per_icb)
        icbs.append(icb_month(size, seed=number, icb=f"Q{number:02d}", start=1 + number * per_icb))
    print(f"\n{practices:,} practices in {len(icbs)} ICBs, {sum(len(m.pcns) for m in icbs)} PCNs")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        leader, helper = contribute(Path(tmp), icbs)
        shared = time.perf_counter() - started
        history = HistoryStore(Path(tmp) / "history.sqlite")
        summing = disclosing = 0.0
        figures = refused = 0
        for data in icbs:
            started = time.perf_counter()
            outcome = MonthOutcome()
            proposals = proposals_for(
                leader,
                areas_of(data.pcn_of, data.icb, CONFIG.areas),
                CONFIG,
                measure=data.cube.measure,
                month=data.cube.month,
                outcome=outcome,
            )
            sums, _ = helper_sums(helper, proposals, CONFIG)
            theirs = {s.batch or "": s for s in sums}
            totals = leader_totals(leader, proposals, theirs, CONFIG, outcome)
            middle = time.perf_counter()
            release = disclose_month(
                leader,
                history,
                totals,
                agreement_id=f"DSA-{data.icb}",  # each ICB: its own agreement and history
                rules=RULES,
                secondary=True,
                parent_of=dict.fromkeys(data.pcns, data.icb),
            )
            summing += middle - started
            disclosing += time.perf_counter() - middle
            figures += len(release.figures)
            refused += len(outcome.refused)
    print(
        f"share and receive into two stores: {shared:.1f} s; propose, accept, sum on both sides "
        f"and combine: {summing:.1f} s; disclosure of the area figures: {disclosing:.1f} s; "
        f"{figures:,} area figures, {refused} batches refused"
    )
    print(f"whole month: {shared + summing + disclosing:.1f} s")


def report(name: str, shown: Shown) -> None:
    parts = [
        f"{kind} {shown.share(kind):.0%} (of {shown.total[kind]}, max error {shown.worst[kind]})"
        for kind in KINDS
    ]
    print(f"{name}: " + "; ".join(parts))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practices", type=int, default=30, help="0 to skip part 1")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--national", type=int, default=6500, help="0 to skip part 2")
    parser.add_argument("--per-icb", type=int, default=155)
    return parser.parse_args()


if __name__ == "__main__":
    main()
