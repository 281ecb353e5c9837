"""The practice's side: split every exact count of a release into two shares and seal them.

The counts are the practice's own cubes (``pipeline.count_measures``), before any disclosure:
shares of exact counts hide them completely, and the area totals they add up to are protected
later, in the leader's disclosure step. Each aggregator gets one share set per measure, sealed
to its own key and signed with the practice's key (``feed.seal.seal_release``, unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ltcbridge.counts import Cube
from ltcbridge.feed.release import ReleaseMeta, new_release_meta
from ltcbridge.feed.seal import Key, seal_release
from ltcbridge.secagg.config import SecureAggregation
from ltcbridge.secagg.document import ShareSet, counts_of, layout_of, share_document
from ltcbridge.secagg.field import split

AGREEMENT_SUFFIX = "#secagg"  # share releases keep their own sequence beside the normal feed


def secagg_agreement_id(agreement_id: str) -> str:
    """The agreement id share releases travel under: the agreement's, marked as shares.

    A practice sends its normal feed and its shares to the same hub; a separate id keeps each
    stream's sequence numbers unbroken, so neither shows the other as a gap.
    """
    return agreement_id + AGREEMENT_SUFFIX


def split_practice(cube: Cube, practice: str) -> tuple[ShareSet, ShareSet]:
    """One practice's exact counts of one measure as the leader's and the helper's share sets."""
    layout = layout_of(cube)
    first, second = split(counts_of(cube, practice))
    return (
        ShareSet("share", practice, cube.measure, cube.month, 1, layout, first),
        ShareSet("share", practice, cube.measure, cube.month, 2, layout, second),
    )


@dataclass(frozen=True)
class SealedShares:
    """One sealed release of shares for one aggregator."""

    aggregator: str
    meta: ReleaseMeta
    token: str


def seal_shares(
    cubes: Sequence[Cube],
    practice: str,
    config: SecureAggregation,
    *,
    agreement_id: str,
    signing_key: Key,
    aggregator_keys: dict[str, Key],
    sequences: dict[str, int],
) -> list[SealedShares]:
    """Two sealed releases (leader's, helper's) carrying the practice's shares of every cube.

    ``aggregator_keys`` and ``sequences`` are per aggregator ODS code: its public key, and the
    next sequence number of share releases to it (``ReceiptStore.next_sequence``).
    """
    per_aggregator: list[list[ShareSet]] = [[], []]
    for cube in cubes:
        for index, shares in enumerate(split_practice(cube, practice)):
            per_aggregator[index].append(shares)
    sealed = []
    for aggregator, sets in zip(config.aggregators, per_aggregator, strict=True):
        meta = new_release_meta(
            agreement_id=secagg_agreement_id(agreement_id),
            sender=practice,
            recipient=aggregator,
            period=cubes[0].month,
            sequence=sequences[aggregator],
            measures=tuple(dict.fromkeys(cube.measure for cube in cubes)),
        )
        documents = [share_document(shares) for shares in sets]
        token = seal_release(meta, documents, signing_key, aggregator_keys[aggregator])
        sealed.append(SealedShares(aggregator, meta, token))
    return sealed
