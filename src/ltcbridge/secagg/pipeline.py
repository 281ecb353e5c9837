"""One month's aggregation, both aggregators' steps in order (in one process, or one per side).

Deployed, the leader and the helper run their halves on their own machines and the helper's
partial sums travel sealed (``cli.secagg``); in tests and benchmarks both halves run here with two
stores. Either way the steps are the same: propose, accept, sum on each side, combine at the
leader, protect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ltcbridge.disclosure.cells import DisclosureRules
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.secagg.batch import BatchRefused, Proposal, accept, partial_sum, propose
from ltcbridge.secagg.config import SecureAggregation
from ltcbridge.secagg.disclose import (
    AreaTotals,
    MonthRelease,
    PracticeView,
    combine,
    disclose_month,
)
from ltcbridge.secagg.document import ShareSet
from ltcbridge.secagg.store import ShareStore


@dataclass(frozen=True)
class Area:
    """An area a batch can be made for: its level and its member practices."""

    code: str
    level: str
    members: frozenset[str]
    parent: str | None = None  # the ICB area a PCN area adds up into


def areas_of(pcn_of: Mapping[str, str], icb: str, levels: tuple[str, ...]) -> list[Area]:
    """The PCN and ICB areas of a hub configuration's practice -> PCN map."""
    areas: list[Area] = []
    if "pcn" in levels:
        members: dict[str, set[str]] = {}
        for practice, pcn in pcn_of.items():
            members.setdefault(pcn, set()).add(practice)
        parent = icb if "icb" in levels else None
        areas += [Area(pcn, "pcn", frozenset(m), parent) for pcn, m in sorted(members.items())]
    if "icb" in levels:
        areas.append(Area(icb, "icb", frozenset(pcn_of)))
    return areas


@dataclass
class MonthOutcome:
    """The release of one measure-month, and every batch refused with its reason."""

    release: MonthRelease = field(default_factory=MonthRelease)
    refused: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)


def proposals_for(
    leader: ShareStore,
    areas: list[Area],
    config: SecureAggregation,
    *,
    measure: str,
    month: str,
    outcome: MonthOutcome,
) -> list[Proposal]:
    """The leader's batches of a month; refusals are recorded in ``outcome``, not raised."""
    proposals = []
    for area in areas:
        try:
            proposal = propose(
                leader,
                area=area.code,
                level=area.level,
                members=area.members,
                measure=measure,
                month=month,
                min_practices=config.min_practices,
            )
        except BatchRefused as exc:
            outcome.refused.append(str(exc))
            continue
        if proposal is not None:
            proposals.append(proposal)
    outcome.proposals = proposals
    return proposals


def helper_sums(
    helper: ShareStore, proposals: list[Proposal], config: SecureAggregation
) -> tuple[list[ShareSet], list[str]]:
    """The helper's step: check each proposed batch and sum its shares over it."""
    sums, refused = [], []
    for proposal in proposals:
        try:
            accept(helper, proposal, config.min_practices)
            sums.append(partial_sum(helper, proposal, config.helper))
        except BatchRefused as exc:
            refused.append(str(exc))
    return sums, refused


def leader_totals(
    leader: ShareStore,
    proposals: list[Proposal],
    theirs: Mapping[str, ShareSet],
    config: SecureAggregation,
    outcome: MonthOutcome,
) -> list[AreaTotals]:
    """The leader's step: its own sums, added to the helper's, checked; refusals recorded."""
    totals = []
    for proposal in proposals:
        other = theirs.get(proposal.batch_id)
        if other is None:
            outcome.refused.append(
                f"{proposal.area} {proposal.month}: no partial sum from {config.helper} for "
                f"batch {proposal.batch_id} (refused by the helper, or not yet received)"
            )
            continue
        try:
            mine = partial_sum(leader, proposal, config.leader)
            totals.append(combine(proposal, mine, other))
        except BatchRefused as exc:
            outcome.refused.append(str(exc))
    return totals


def run_month(
    leader: ShareStore,
    helper: ShareStore,
    history: HistoryStore,
    areas: list[Area],
    config: SecureAggregation,
    *,
    measure: str,
    month: str,
    agreement_id: str,
    rules: DisclosureRules,
    secondary: bool = True,
    practices: PracticeView | None = None,
) -> MonthOutcome:
    """Both aggregators' steps for one measure-month, in one process (tests and benchmarks)."""
    outcome = MonthOutcome()
    proposals = proposals_for(leader, areas, config, measure=measure, month=month, outcome=outcome)
    sums, refused = helper_sums(helper, proposals, config)
    outcome.refused += refused
    theirs = {s.batch or "": s for s in sums}
    summed = [p for p in proposals if p.batch_id in theirs]  # the helper said why for the rest
    totals = leader_totals(leader, summed, theirs, config, outcome)
    outcome.release = disclose_month(
        leader,
        history,
        totals,
        agreement_id=agreement_id,
        rules=rules,
        secondary=secondary,
        parent_of={a.code: a.parent for a in areas if a.parent},
        practices=practices,
    )
    return outcome
