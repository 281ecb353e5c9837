"""Two aggregators' stores fed through the real seal/receive path, for the secagg tests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from joserfc.jwk import ECKey

from ltcbridge.disclosure.cells import DisclosureRules
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.seal import Key
from ltcbridge.hub.keys import KeyRegistry
from ltcbridge.hub.receive import Receiver
from ltcbridge.secagg.config import SecureAggregation
from ltcbridge.secagg.contribute import SealedShares, seal_shares
from ltcbridge.secagg.pipeline import MonthOutcome, areas_of, run_month
from ltcbridge.secagg.store import ShareStore
from ltcbridge.secagg.volume import IcbMonth, icb_month

LEADER, HELPER = "QXX", "X9L1A"  # the ICB hub and the local authority's public health team
AGREEMENT = "DSA-SECAGG-TEST"
RULES = DisclosureRules(threshold=7, rounding=5)
CONFIG = SecureAggregation(aggregators=(LEADER, HELPER), min_practices=5)


@cache
def key_of(owner: str) -> Key:
    """Each organisation's own EC P-384 key (generated once per test session)."""
    return ECKey.generate_key("P-384")


def public(key: Key) -> Key:
    return type(key).import_key(key.as_pem(private=False))


@cache
def month(practices: int = 30, seed: int = 15) -> IcbMonth:
    return icb_month(practices, seed=seed)


@dataclass
class Aggregators:
    """The leader's and the helper's stores, and the leader's area-release history."""

    root: Path
    sent: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.leader = ShareStore(self.root / "leader" / "shares.sqlite")
        self.helper = ShareStore(self.root / "helper" / "shares.sqlite")
        self.history = HistoryStore(self.root / "leader" / "area-history.sqlite")

    def store_of(self, aggregator: str) -> ShareStore:
        return self.leader if aggregator == LEADER else self.helper

    def receiver(self, aggregator: str, practices: Iterable[str]) -> Receiver:
        registry = KeyRegistry()
        for practice in practices:
            registry.add(practice, public(key_of(practice)))
        return Receiver(
            store=self.store_of(aggregator),
            recipient=aggregator,
            private_key=key_of(aggregator),
            sender_keys=registry,
        )

    def seal(self, data: IcbMonth, practice: str) -> list[SealedShares]:
        sequences = {a: self.sent.get((practice, a), 0) + 1 for a in CONFIG.aggregators}
        sealed = seal_shares(
            [data.cube],
            practice,
            CONFIG,
            agreement_id=AGREEMENT,
            signing_key=key_of(practice),
            aggregator_keys={a: public(key_of(a)) for a in CONFIG.aggregators},
            sequences=sequences,
        )
        for item in sealed:
            self.sent[(practice, item.aggregator)] = item.meta.sequence
        return sealed

    def contribute(self, data: IcbMonth, practices: Iterable[str]) -> None:
        """Each practice seals its shares; each aggregator's Receiver checks and stores them."""
        everyone = list(data.cube.orgs)
        for practice in practices:
            for item in self.seal(data, practice):
                receiver = self.receiver(item.aggregator, everyone)
                assert receiver.receive(item.token, origin="test"), receiver.result.rejected

    def run(self, data: IcbMonth, **options: object) -> MonthOutcome:
        return run_month(
            self.leader,
            self.helper,
            self.history,
            areas_of(data.pcn_of, data.icb, CONFIG.areas),
            CONFIG,
            measure=data.cube.measure,
            month=data.cube.month,
            agreement_id=AGREEMENT,
            rules=RULES,
            **options,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        self.leader.close()
        self.helper.close()
