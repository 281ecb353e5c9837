"""The true counts, computed from the generator's own facts by the rules of counting-rules.md.

Nothing here reads the generated FHIR: it works on Person objects and Facts (and the ledger's
referrals, answers, Star readings and NHS-use units), which are what the generator decided each
record means. That independence is what makes it a test oracle.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import codes
from .ledger import Fact, Ledger, StarReading
from .people import Person, add_months, shift_month

STRATIFIERS = ("age-band", "sex", "ethnicity-group", "imd-quintile")
OPTOUT_CONCEPTS = (codes.OPTOUT, codes.OPTOUT_WITHDRAWN)
Cells = dict[tuple[str, str, str, str | None, str | None], int]

# NHS use: GBP per unit of each kind (the agreement's [unit_costs] the nhs-cost groups assume).
UNIT_COSTS = {
    "gp-attendances": 42,
    "ae-attendances": 180,
    "prescriptions": 9,
    "unplanned-admissions": 1850,
}
ONE_A_DAY = frozenset({"gp-attendances", "ae-attendances", "unplanned-admissions"})
ACCEPTED = frozenset({"accepted", "in-progress", "completed"})
DECLINED = frozenset({"rejected"})
NO_PROVIDER = "none"
# One person's result for one month: (person id, month, provider or None, {group: score or None}).
Result = tuple[str, str, str | None, dict[str, int | None]]


@dataclass(frozen=True)
class Truth:
    """What a correct reader and counter must find in the generated set.

    Row lists hold only nonzero cells (as `unmet_need` always has), at `practice` and `pcn` level,
    for every month with a nonzero cell; `stratifier`/`stratum` are null on a group's total row.
    - `referrals`: {level, org, month, group, stratifier, stratum, count}; groups
      referral-lead-provider, referral-accepted, referral-declined; stratifiers the four
      breakdowns and `provider` (an ODS code, or "none").
    - `star_distance`, `nhs_use`: the same plus `score_total` (an int: the summed change, or the
      summed units / GBP) on the total and `provider` rows of groups with a score; null elsewhere.
    - `unit_costs`: GBP per unit of each NHS-use kind, as used for nhs-cost-before/after.
    """

    unmet_need: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    support_level: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    unmapped: dict[str, int]
    non_asserting: dict[str, int]
    people: dict[str, int]
    held: list[str]
    unattributed: list[str]
    mess: dict[str, list[str]]
    star_distance: list[dict[str, Any]]
    nhs_use: list[dict[str, Any]]
    unit_costs: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The truth.json content."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def opted_out(facts: Iterable[Fact]) -> bool:
    """Latest clinical date decides; then the later lastUpdated; a remaining tie is dissent."""
    ranked = [f for f in facts if f.concepts & set(OPTOUT_CONCEPTS)]
    if not ranked:
        return False

    def key(f: Fact) -> tuple[str, float]:
        return f.date[:10], f.updated.timestamp() if f.updated else float("-inf")

    top = max(key(f) for f in ranked)
    return any(codes.OPTOUT in f.concepts for f in ranked if key(f) == top)


def countable(ledger: Ledger) -> tuple[dict[str, Person], set[str]]:
    """People who can appear in a figure, and the ids of those excluded by their opt-out."""
    by_person: dict[str, list[Fact]] = defaultdict(list)
    for f in ledger.facts:
        by_person[f.patient].append(f)
    out = {}
    excluded = set()
    for pid, p in ledger.people.items():
        if not p.valid_nhs:
            continue
        if opted_out(by_person.get(pid, ())):
            excluded.add(pid)
        elif p.practice is not None:
            out[pid] = p
    return out, excluded


def _cells(people: dict[str, Person], facts: list[Fact], groups_of: Any, pcn_of: dict[str, str]):
    """Distinct people per (level, org, month, group), then split by each stratifier."""
    members: dict[tuple[str, str, str, str], set[str]] = defaultdict(set)
    for f in facts:
        p = people.get(f.patient)
        if p is None or p.practice is None:
            continue
        for group in groups_of(f.concepts):
            for level, org in (("practice", p.practice), ("pcn", pcn_of[p.practice])):
                members[(level, org, f.month, group)].add(p.id)
    cells: Counter = Counter()
    for (level, org, month, group), ids in members.items():
        cells[(level, org, month, group, None, None)] = len(ids)
        for pid in ids:
            for stratifier, stratum in people[pid].strata(month).items():
                cells[(level, org, month, group, stratifier, stratum)] += 1
    return cells


def _need_groups(concepts: frozenset[str]) -> list[str]:
    needs = sorted(c for c in concepts if c in codes.NEEDS)
    return [*needs, codes.NEED_ANY] if needs else []


def _support_groups(concepts: frozenset[str]) -> list[str]:
    return sorted(c for c in concepts if c in codes.SUPPORT_LEVELS)


def _sorted_cells(cells: dict) -> list:
    return sorted(cells.items(), key=lambda kv: tuple("" if x is None else x for x in kv[0]))


def _outcome_rows(
    people: dict[str, Person], results: list[Result], pcn_of: dict[str, str], *, scored: bool
) -> list[dict[str, Any]]:
    """Rows of an outcome measure: people per group, split by the breakdowns and `provider`.

    A score is summed on the group total and the `provider` strata only.
    """
    cells: dict[tuple, list] = defaultdict(lambda: [0, None])
    for pid, month, provider, groups in results:
        p = people[pid]
        if p.practice is None:  # never: counted people all have a practice (see countable)
            continue
        strata = [(None, None), *p.strata(month).items(), ("provider", provider or NO_PROVIDER)]
        for level, org in (("practice", p.practice), ("pcn", pcn_of[p.practice])):
            for group, score in groups.items():
                for stratifier, stratum in strata:
                    cell = cells[(level, org, month, group, stratifier, stratum)]
                    cell[0] += 1
                    if score is not None and stratifier in (None, "provider"):
                        cell[1] = (cell[1] or 0) + score
    rows = []
    for (level, org, month, group, stratifier, stratum), (n, total) in _sorted_cells(cells):
        row: dict[str, Any] = {"level": level, "org": org, "month": month, "group": group}
        row["stratifier"], row["stratum"], row["count"] = stratifier, stratum, n
        if scored:
            row["score_total"] = total
        rows.append(row)
    return rows


def _referral_results(people: dict[str, Person], ledger: Ledger) -> list[Result]:
    """Per person and month with a referral: made, accepted, declined; the latest answer's owner.

    Only answers that assert something (accepted, in-progress, completed, rejected) name the
    provider: a cancelled or entered-in-error Task asserts nothing, so it names no one either.
    """
    groups: dict[tuple[str, str], dict[str, int | None]] = {}
    for f in ledger.facts:
        if codes.REFERRAL in f.concepts and f.patient in people:
            groups[(f.patient, f.month)] = {codes.REFERRAL: None}
    counted = {r.id: r for r in ledger.referrals.values() if r.counts}
    latest: dict[tuple[str, str], tuple[tuple[str, str], str]] = {}
    for a in ledger.answers:
        request = counted.get(a.focus)
        if request is None or request.patient != a.patient:
            continue
        key = (a.patient, request.date[:7])
        if key not in groups:
            continue
        if a.status in ACCEPTED:
            groups[key][codes.REFERRAL_ACCEPTED] = None
        elif a.status in DECLINED:
            groups[key][codes.REFERRAL_DECLINED] = None
        else:
            continue
        rank = (a.date[:10], a.id)  # latest by date (the day as written), then id
        if key not in latest or rank > latest[key][0]:
            latest[key] = (rank, a.owner)
    for f in ledger.facts:
        if codes.REFERRAL_DECLINED in f.concepts and (f.patient, f.month) in groups:
            groups[(f.patient, f.month)][codes.REFERRAL_DECLINED] = None
    return [
        (pid, month, latest[(pid, month)][1] if (pid, month) in latest else None, g)
        for (pid, month), g in groups.items()
    ]


def _month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7])


def _star_results(people: dict[str, Person], ledger: Ledger) -> list[Result]:
    """Per person and month with a Star review: the change from the baseline, by area."""
    readings: dict[tuple[str, str], list[StarReading]] = defaultdict(list)
    for r in ledger.stars:
        if r.patient in people:
            readings[(r.patient, r.star)].append(r)
    results: list[Result] = []
    for (pid, star), rs in readings.items():
        rs.sort(key=lambda r: (r.date[:10], r.updated))  # by day; ties: later lastUpdated last
        order = [(r.date[:10], r.updated) for r in rs]
        assert len(set(order)) == len(order), f"{pid}: two Star readings tie on day and update"
        base = rs[0]
        for month in sorted({r.month for r in rs}):
            review = [r for r in rs if r.month == month][-1]
            if review.date[:10] <= base.date[:10]:
                continue  # no later day than the baseline: not a review
            shared = [a for a in codes.STAR_AREAS if a in base.scores and a in review.scores]
            change = {a: review.scores[a] - base.scores[a] for a in shared}
            total = sum(change.values())
            groups: dict[str, int | None] = {star: total}
            year_on = _month_index(review.month) - _month_index(base.month) >= 12
            if total > 0:
                groups[f"{star}-improved"] = None
            if year_on:
                groups[f"{star}-reviewed-year-on"] = None
                if total > 0:
                    groups[f"{star}-improved-year-on"] = None
            groups.update(change)
            results.append((pid, month, review.provider, groups))
    return results


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])


def _nhs_results(people: dict[str, Person], ledger: Ledger) -> list[Result]:
    """Per person with an intervention, in the month six after its end: units before and after.

    The intervention is the latest completed answer (by day, then id) on a counting referral of
    the person. Windows are by day as written: before = [start - 6 months, start), after =
    (end, end + 6 months], calendar months clamped to the month's last day (people.add_months).
    """
    counted = {r.id: r for r in ledger.referrals.values() if r.counts}
    best: dict[str, tuple[tuple[str, str], Any, Any]] = {}
    for a in ledger.answers:
        request = counted.get(a.focus)
        if a.status != "completed" or a.patient not in people or request is None:
            continue
        if request.patient != a.patient:
            continue
        rank = (a.date[:10], a.id)
        if a.patient not in best or rank > best[a.patient][0]:
            best[a.patient] = (rank, a, request)
    uses = defaultdict(list)
    for u in ledger.nhs_use:
        uses[u.patient].append(u)
    results: list[Result] = []
    for pid, (_, a, request) in sorted(best.items()):
        start, end = _day(request.date), _day(a.date)
        windows = {
            "before": lambda d, s=start: add_months(s, -6) <= d < s,
            "after": lambda d, e=end: e < d <= add_months(e, 6),
        }
        groups: dict[str, int | None] = {"nhs-use-cohort": None}
        costs = dict.fromkeys(windows, 0)
        for kind, cost in UNIT_COSTS.items():
            for window, inside in windows.items():
                found = [u for u in uses[pid] if u.kind == kind and inside(_day(u.date))]
                n = len({u.date[:10] if kind in ONE_A_DAY else u.resource for u in found})
                groups[f"{kind}-{window}"] = n
                costs[window] += n * cost
        groups["nhs-cost-before"], groups["nhs-cost-after"] = costs["before"], costs["after"]
        results.append((pid, shift_month(a.date[:7], 6), a.owner, groups))
    return results


def _rows(cells: Counter, *, with_group: bool = True, with_strata: bool = True) -> list[dict]:
    rows = []
    for (level, org, month, group, stratifier, stratum), n in _sorted_cells(cells):
        if not with_strata and stratifier is not None:
            continue
        row: dict[str, Any] = {"level": level, "org": org, "month": month}
        if with_group:
            row["group"] = group
        if with_strata:
            row["stratifier"], row["stratum"] = stratifier, stratum
        row["count"] = n
        rows.append(row)
    return rows


def compute(ledger: Ledger, pcn_of: dict[str, str], quarantine: list[dict[str, Any]]) -> Truth:
    """All truth figures from the ledger (facts, people, side counts) and the written quarantine."""
    people, excluded = countable(ledger)
    facts = ledger.facts
    valid = [p for p in ledger.people.values() if p.valid_nhs]
    return Truth(
        unmet_need=_rows(_cells(people, facts, _need_groups, pcn_of)),
        referrals=_outcome_rows(people, _referral_results(people, ledger), pcn_of, scored=False),
        support_level=_rows(_cells(people, facts, _support_groups, pcn_of), with_strata=False),
        quarantine=quarantine,
        unmapped=dict(sorted(ledger.unmapped.items())),
        non_asserting=dict(sorted(ledger.non_asserting.items())),
        people={
            "patients": len(ledger.people),
            "opted_out_now": len(excluded),
            "no_practice": sum(1 for p in valid if p.practice is None),
            "invalid_nhs": len(ledger.people) - len(valid),
            "counted_population": len(people),
        },
        held=sorted(ledger.held),
        unattributed=sorted(ledger.unattributed),
        mess={k: list(v) for k, v in sorted(ledger.mess.items())},
        star_distance=_outcome_rows(people, _star_results(people, ledger), pcn_of, scored=True),
        nhs_use=_outcome_rows(people, _nhs_results(people, ledger), pcn_of, scored=True),
        unit_costs=dict(UNIT_COSTS),
    )
