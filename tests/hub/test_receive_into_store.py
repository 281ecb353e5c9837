"""The receiver (hub.receive) storing into the real store, on SQLite and PostgreSQL: sealed demo
releases are verified, stored and collated; a tampered and a replayed one are rejected with their
reasons, and nothing of them reaches the figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
from hub_data import meta
from joserfc.jwk import ECKey, RSAKey

from ltcbridge.feed.seal import seal_release
from ltcbridge.hub.collate import TOTAL, Collator, Filter
from ltcbridge.hub.config import UNMET_NEED, HubConfig
from ltcbridge.hub.keys import KeyRegistry
from ltcbridge.hub.load import read_reports
from ltcbridge.hub.receive import Receiver
from ltcbridge.hub.store import HubStoreDb

AGREEMENT_ID = "DSA-DEMO-001"  # the demo feed's reports name the agreement they were made under


def test_sealed_releases_arrive_collate_and_bad_ones_are_rejected(
    store: HubStoreDb, demo_feeds: dict[str, Path]
) -> None:
    hub_key, practice_keys = RSAKey.generate_key(2048), {}
    registry = KeyRegistry()
    reports, _files = read_reports(demo_feeds["root"] / "2026-10" / "feed-practice")
    reports = [r for r in reports if r["measure"] == UNMET_NEED]  # what meta() lists
    tokens = []
    for report in reports[:3]:
        org = report["reporter"]["identifier"]["value"]
        practice_keys[org] = ECKey.generate_key("P-384")
        registry.add(org, ECKey.import_key(practice_keys[org].as_pem(private=False)))
        release = replace(meta(sender=org, release_id=f"rel-{org}"), agreement_id=AGREEMENT_ID)
        tokens.append(seal_release(release, [report], practice_keys[org], hub_key))
    receiver = Receiver(store=store, recipient="QHM", private_key=hub_key, sender_keys=registry)
    assert [receiver.receive(token, origin="test") for token in tokens] == [True] * 3
    tampered = tokens[0][:-12] + ("A" if tokens[0][-12] != "A" else "B") + tokens[0][-11:]
    assert not receiver.receive(tampered, origin="test")
    assert not receiver.receive(tokens[1], origin="test")  # replayed
    senders = {row[2]: row[1] for row in store.table("rejections")}
    # the tampered one never verified: its sender is unknown, whatever its header claims
    first = reports[0]["reporter"]["identifier"]["value"]
    assert senders == {
        "tampered": "unverified",
        "replayed-release": reports[1]["reporter"]["identifier"]["value"],
    }
    assert f"'{first}'" in next(row[3] for row in store.table("rejections") if row[2] == "tampered")
    assert len(store.table("releases")) == 3
    collator = Collator(store, HubConfig(practices={r["reporter"]["identifier"]["value"]: "PCN1"
                                                    for r in reports}))  # fmt: skip
    [icb] = collator.totals("icb", Filter(group="need-any", stratifier=TOTAL))
    expected = sum(
        next(g["population"][0].get("count", 0) for g in r["group"]
             if g["code"]["coding"][0]["code"] == "need-any")
        for r in reports[:3]
    )  # fmt: skip
    assert icb.total.known == expected and icb.total.parts == 3
    assert orjson.dumps(store.table("figures"))  # plain values, serialisable for BI tools


def test_a_release_whose_reports_have_the_wrong_shape_is_refused_not_a_crash(
    store: HubStoreDb, demo_feeds: dict[str, Path]
) -> None:
    """A properly sealed release from a known sender whose MeasureReport holds a value of the
    wrong JSON type is refused with its reason and the element; the next release still lands."""
    hub_key, practice_key = RSAKey.generate_key(2048), ECKey.generate_key("P-384")
    reports, _files = read_reports(demo_feeds["root"] / "2026-10" / "feed-practice")
    reports = [r for r in reports if r["measure"] == UNMET_NEED]
    org = reports[0]["reporter"]["identifier"]["value"]
    registry = KeyRegistry()
    registry.add(org, ECKey.import_key(practice_key.as_pem(private=False)))
    bad_reporter = {**reports[0], "reporter": "Y00000"}
    bad_stratum = orjson.loads(orjson.dumps(reports[0]))
    bad_stratum["group"][0]["stratifier"][0]["stratum"][0] = "masked"
    tokens = [
        seal_release(replace(meta(sender=org, release_id=f"rel-{n}", sequence=n),
                             agreement_id=AGREEMENT_ID), [report], practice_key, hub_key)
        for n, report in enumerate((bad_reporter, bad_stratum, reports[0]), start=1)
    ]  # fmt: skip
    receiver = Receiver(store=store, recipient="QHM", private_key=hub_key, sender_keys=registry)
    assert [receiver.receive(token, origin="test") for token in tokens] == [False, False, True]
    rejections = [(row[2], row[3]) for row in store.table("rejections")]
    assert rejections[0][0] == "malformed" and "reporter" in rejections[0][1]
    assert rejections[1][0] == "malformed"  # hub.checks reads every figure before the store
    assert "MeasureReport.group[0].stratifier[0].stratum[0]" in rejections[1][1]
    assert len(store.table("releases")) == 1
