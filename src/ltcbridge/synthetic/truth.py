"""The true counts, computed from the generator's own facts by the rules of counting-rules.md.

Nothing here reads the generated FHIR: it works on Person objects and Facts, which are what the
generator decided each record means. That independence is what makes it a test oracle.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import codes
from .ledger import Fact, Ledger
from .people import Person

STRATIFIERS = ("age-band", "sex", "ethnicity-group", "imd-quintile")
OPTOUT_CONCEPTS = (codes.OPTOUT, codes.OPTOUT_WITHDRAWN)
Cells = dict[tuple[str, str, str, str | None, str | None], int]


@dataclass(frozen=True)
class Truth:
    """What a correct reader and counter must find in the generated set."""

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
        if p is None:
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


def _referral_groups(concepts: frozenset[str]) -> list[str]:
    return [codes.REFERRAL] if codes.REFERRAL in concepts else []


def _rows(cells: Counter, *, with_group: bool = True, with_strata: bool = True) -> list[dict]:
    rows = []
    for (level, org, month, group, stratifier, stratum), n in sorted(
        cells.items(), key=lambda kv: tuple("" if x is None else x for x in kv[0])
    ):
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
        referrals=_rows(
            _cells(people, facts, _referral_groups, pcn_of), with_group=False, with_strata=False
        ),
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
    )
