"""The batch protocol between the two aggregators: one exact set of practices, two sums.

The leader proposes a batch (an area, a measure, a month and the practices whose shares it
holds); the helper accepts it only if it holds shares from exactly those practices, sums its
shares over the set and seals the sum (a partial sum, itself uniform in the field) to the leader.
A batch of fewer than ``min_practices`` practices is refused, and so is one that drops a practice
of an area-month already released (that would let the two releases be differenced).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.release import new_release_meta
from ltcbridge.feed.seal import Key, seal_release
from ltcbridge.secagg.document import Layout, ShareSet, share_document
from ltcbridge.secagg.field import total
from ltcbridge.secagg.store import Batch, ShareStore


class BatchRefused(LtcbridgeError):
    """A batch cannot be aggregated; the message says why and what would make it possible."""


@dataclass(frozen=True)
class Proposal(Batch):
    """A batch as the leader proposes it; ``batch_id`` names exactly this set of practices."""

    @property
    def batch_id(self) -> str:
        text = "|".join([self.area, self.measure, self.month, str(self.version), *self.sorted])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def sorted(self) -> list[str]:
        return sorted(self.practices)

    def to_dict(self) -> dict[str, Any]:
        """The proposal as the leader hands it to the helper (codes only: nothing secret)."""
        return {
            "batch": self.batch_id,
            "area": self.area,
            "level": self.level,
            "measure": self.measure,
            "month": self.month,
            "version": self.version,
            "practices": self.sorted,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proposal:
        """Read a proposal back; its batch id must match its contents."""
        try:
            proposal = cls(
                str(data["area"]),
                str(data["level"]),
                str(data["measure"]),
                str(data["month"]),
                int(data["version"]),
                frozenset(str(p) for p in data["practices"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BatchRefused(f"not a batch proposal: {exc!r}") from None
        if data.get("batch") != proposal.batch_id:
            raise BatchRefused(
                f"batch proposal for {proposal.area}: its id does not match its practices "
                "(altered after the leader wrote it?)"
            )
        return proposal


def propose(
    store: ShareStore,
    *,
    area: str,
    level: str,
    members: Collection[str],
    measure: str,
    month: str,
    min_practices: int,
) -> Proposal | None:
    """The next batch of an area-month, or None when nothing new arrived since the last one.

    Members are the area's practices (from the hub configuration); the batch is those of them
    whose shares are here. A later batch of the same area-month (a late practice) must hold
    every practice of the one released before.
    """
    have = store.holders(measure, month, among=members)
    released = store.batches(area, measure, month)
    last = released[-1] if released else None
    if last is not None:
        if have == last.practices:
            return None
        lost = sorted(last.practices - have)
        if lost:
            raise BatchRefused(
                f"{area} {month}: shares of {', '.join(lost)} were in the released batch but are "
                "no longer held; a smaller batch would difference them out"
            )
    if len(have) < min_practices:
        raise BatchRefused(
            f"{area} {month}: only {len(have)} practice(s) contributed to {measure}, fewer than "
            f"min_practices = {min_practices}; nothing is aggregated until more contribute"
        )
    version = last.version + 1 if last else 1
    return Proposal(area, level, measure, month, version, frozenset(have))


def accept(store: ShareStore, proposal: Proposal, min_practices: int) -> None:
    """The helper's check: shares from exactly the proposed practices, and enough of them."""
    if len(proposal.practices) < min_practices:
        raise BatchRefused(
            f"batch {proposal.batch_id} for {proposal.area} has {len(proposal.practices)} "
            f"practice(s), fewer than min_practices = {min_practices}: refused"
        )
    held = store.holders(proposal.measure, proposal.month, among=proposal.practices)
    missing = sorted(proposal.practices - held)
    if missing:
        raise BatchRefused(
            f"batch {proposal.batch_id} for {proposal.area}: no shares here from "
            f"{', '.join(missing)}; propose it again without them, or wait for their shares"
        )


def partial_sum(store: ShareStore, proposal: Proposal, sender: str) -> ShareSet:
    """This aggregator's sum of its shares over the batch (one field element per cell)."""
    sets = store.shares(proposal.measure, proposal.month, set(proposal.practices))
    layout = _one_layout(sets, proposal)
    elements = total([s.elements for s in sets], len(layout))
    return ShareSet(
        "partial-sum",
        sender,
        proposal.measure,
        proposal.month,
        sets[0].index,
        layout,
        elements,
        batch=proposal.batch_id,
        area=proposal.area,
        practices=tuple(proposal.sorted),
    )


def _one_layout(sets: list[ShareSet], proposal: Proposal) -> Layout:
    """Every practice's cells must be the same (same measure definition and breakdowns)."""
    if len(sets) != len(proposal.practices):
        raise BatchRefused(f"batch {proposal.batch_id}: shares missing for some practices")
    layout = sets[0].layout
    odd = [s.sender for s in sets if s.layout != layout]
    if odd:
        raise BatchRefused(
            f"batch {proposal.batch_id} for {proposal.area}: {', '.join(odd)} sent other cells "
            f"than {sets[0].sender} (a different agreement's breakdowns?); propose the batch "
            "without them"
        )
    return layout


def check_partner_sum(mine: ShareSet, theirs: ShareSet, proposal: Proposal) -> np.ndarray:
    """The helper's partial sum, once it is known to cover the same batch and cells as mine."""
    if theirs.batch != proposal.batch_id or tuple(theirs.practices) != tuple(proposal.sorted):
        raise BatchRefused(
            f"the helper's sum is for batch {theirs.batch} ({len(theirs.practices)} practices), "
            f"not {proposal.batch_id}: the two aggregators disagree on the practices"
        )
    if theirs.layout != mine.layout:
        raise BatchRefused(f"batch {proposal.batch_id}: the two sums have different cells")
    return theirs.elements


def seal_partial_sums(
    sums: list[ShareSet],
    *,
    agreement_id: str,
    helper: str,
    leader: str,
    signing_key: Key,
    leader_key: Key,
    sequence: int,
) -> str:
    """The helper's partial sums of one month, signed by the helper and sealed to the leader.

    ``agreement_id`` is the share releases' (``contribute.secagg_agreement_id``); the sums of
    one month travel as one release, like a practice's figures.
    """
    meta = new_release_meta(
        agreement_id=agreement_id,
        sender=helper,
        recipient=leader,
        period=sums[0].month,
        sequence=sequence,
        measures=tuple(dict.fromkeys(s.measure for s in sums)),
    )
    return seal_release(meta, [share_document(s) for s in sums], signing_key, leader_key)
