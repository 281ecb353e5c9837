"""Practices -> two aggregators over NHS England's real MESH sandbox -> exact area figures.

Every practice sends one sealed share release to each aggregator's mailbox; each aggregator
receives with the hub's Receiver into its own share store; the helper's partial sums travel back
to the leader over MESH, sealed and signed; the leader combines and protects.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ltcbridge.disclosure.cells import round_count
from ltcbridge.feed.receipts import ReceiptStore
from ltcbridge.feed.transport.base import RetryPolicy
from ltcbridge.feed.transport.mesh import MeshSettings, MeshTransport
from ltcbridge.feed.transport.send import send_release
from ltcbridge.hub.receive import receive_mesh
from ltcbridge.secagg.batch import seal_partial_sums
from ltcbridge.secagg.contribute import secagg_agreement_id
from ltcbridge.secagg.disclose import disclose_month
from ltcbridge.secagg.pipeline import (
    MonthOutcome,
    areas_of,
    helper_sums,
    leader_totals,
    proposals_for,
)
from transport.conftest import (  # the session's MESH sandbox, shared with tests/transport
    HUB_MAILBOX,
    OTHER_MAILBOX,
    PASSWORD,
    PRACTICE_MAILBOX,
    SHARED_KEY,
    mesh_sandbox,
)

from .helpers import AGREEMENT, CONFIG, HELPER, LEADER, RULES, Aggregators, key_of, month, public
from .test_aggregation import figures_by_area, true_sums

pytestmark = pytest.mark.integration
__all__ = ["mesh_sandbox"]  # the fixture, imported so that pytest finds it here

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.01)
MAILBOX = {LEADER: HUB_MAILBOX, HELPER: OTHER_MAILBOX}


def settings(url: str, mailbox: str, workflow: str) -> MeshSettings:
    return MeshSettings(
        url=url, mailbox=mailbox, password=PASSWORD, shared_key=SHARED_KEY, workflow_id=workflow
    )


def test_practices_to_two_aggregators_over_mesh_give_the_exact_area_totals(
    mesh_sandbox: str, tmp_path: Path
) -> None:
    workflow = f"LTCB_{uuid.uuid4().hex[:8].upper()}"
    data = month(12, 7)
    pair = Aggregators(tmp_path)
    # each practice: two sealed share releases, one to each aggregator's mailbox, with receipts
    with ReceiptStore(tmp_path / "practice-receipts.sqlite") as receipts:
        transports = {
            a: MeshTransport(settings(mesh_sandbox, PRACTICE_MAILBOX, workflow), MAILBOX[a])
            for a in CONFIG.aggregators
        }
        for practice in data.cube.orgs:
            for sealed in pair.seal(data, practice):
                outcome = send_release(
                    sealed.token, transports[sealed.aggregator], receipts, policy=FAST
                )
                assert outcome.receipt.status == "sent"
        for transport in transports.values():
            transport.close()
    # each aggregator empties its own mailbox into its own store
    for aggregator in CONFIG.aggregators:
        receiver = pair.receiver(aggregator, data.cube.orgs)
        with settings(mesh_sandbox, MAILBOX[aggregator], workflow).client() as client:
            result = receive_mesh(receiver, client, workflow)
        assert len(result.stored) == len(data.cube.orgs) and result.rejected == []
    # the leader proposes; the helper sums and seals its sums back to the leader over MESH
    outcome = MonthOutcome()
    measure, period = data.cube.measure, data.cube.month
    areas = areas_of(data.pcn_of, data.icb, CONFIG.areas)
    proposals = proposals_for(
        pair.leader, areas, CONFIG, measure=measure, month=period, outcome=outcome
    )
    sums, refused = helper_sums(pair.helper, proposals, CONFIG)
    assert refused == [] and len(sums) == 3  # two PCNs and the ICB
    token = seal_partial_sums(
        sums,
        agreement_id=secagg_agreement_id(AGREEMENT),
        helper=HELPER,
        leader=LEADER,
        signing_key=key_of(HELPER),
        leader_key=public(key_of(LEADER)),
        sequence=1,
    )
    with ReceiptStore(tmp_path / "helper-receipts.sqlite") as receipts:
        back = MeshTransport(settings(mesh_sandbox, OTHER_MAILBOX, workflow), HUB_MAILBOX)
        assert send_release(token, back, receipts, policy=FAST).receipt.status == "sent"
        back.close()
    receiver = pair.receiver(LEADER, [HELPER])
    with settings(mesh_sandbox, HUB_MAILBOX, workflow).client() as client:
        assert len(receive_mesh(receiver, client, workflow).stored) == 1
    theirs = {p.batch_id: pair.leader.partial_sum(p.batch_id) for p in proposals}
    totals = leader_totals(pair.leader, proposals, theirs, CONFIG, outcome)  # type: ignore[arg-type]
    assert outcome.refused == []
    disclose_month(
        pair.leader,
        pair.history,
        totals,
        agreement_id=AGREEMENT,
        rules=RULES,
        secondary=True,
        parent_of={a.code: a.parent for a in areas if a.parent},
    )
    # the exact totals are right: every shown figure is the true sum, rounded
    exact = {t.proposal.area: t.counts for t in totals}
    shown = figures_by_area(pair.leader.area_figures())
    for area, figures in shown.items():
        truth = true_sums(data, set(data.pcns.get(area, data.cube.orgs)))
        assert [int(v) for v in exact[area]] == list(truth.values())
        for cell, figure in figures.items():
            expected = None if figure.value is None else round_count(truth[cell], RULES.rounding)
            assert figure.value == expected
            assert figure.value is not None or figure.reason in ("primary", "secondary")
    pair.close()
