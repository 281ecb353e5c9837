"""Practices -> two aggregators' stores -> protected area figures, in one process."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import DisclosureRules, Release, round_count
from ltcbridge.disclosure.secondary import primary_only
from ltcbridge.secagg.contribute import seal_shares
from ltcbridge.secagg.disclose import AreaAttacker, PracticeView
from ltcbridge.secagg.document import counts_of, layout_of
from ltcbridge.secagg.field import PRIME
from ltcbridge.secagg.store import AreaFigure
from ltcbridge.secagg.volume import IcbMonth

from .helpers import AGREEMENT, CONFIG, HELPER, LEADER, RULES, Aggregators, key_of, month, public


def true_sums(data: IcbMonth, practices: set[str]) -> dict[tuple, int]:
    layout = layout_of(data.cube)
    summed = sum(counts_of(data.cube, p) for p in sorted(practices))
    return dict(zip(layout, (int(v) for v in summed), strict=True))


def figures_by_area(figures: list[AreaFigure]) -> dict[str, dict[tuple, AreaFigure]]:
    out: dict[str, dict[tuple, AreaFigure]] = {}
    for f in figures:
        out.setdefault(f.area, {})[(f.group, f.stratifier, f.stratum)] = f
    return out


def test_area_figures_are_the_protected_exact_sums(aggregators: Aggregators) -> None:
    data = month()
    aggregators.contribute(data, data.cube.orgs)
    outcome = aggregators.run(data)
    assert outcome.refused == []
    shown = figures_by_area(aggregators.leader.area_figures())
    assert set(shown) == {*data.pcns, data.icb}
    for area, figures in shown.items():
        truth = true_sums(data, set(data.pcns.get(area, data.cube.orgs)))
        for cell, figure in figures.items():
            if figure.value is None:
                assert figure.reason in ("primary", "secondary")
                continue
            assert figure.value == round_count(truth[cell], RULES.rounding)
            assert abs(figure.value - truth[cell]) <= RULES.rounding // 2
            assert not RULES.is_primary(truth[cell])
    totals = [f for fs in shown.values() for c, f in fs.items() if c[1] is None]
    assert all(f.value is not None for f in totals)  # every area's domain totals are shown


def test_a_batch_below_min_practices_is_refused_and_the_icb_rest_is_protected(
    aggregators: Aggregators,
) -> None:
    data = month()
    first_pcn, members = sorted(data.pcns.items())[0]
    absent = members[-1]
    aggregators.contribute(data, [p for p in data.cube.orgs if p != absent])
    outcome = aggregators.run(data)
    assert len(outcome.refused) == 1
    assert first_pcn in outcome.refused[0] and "fewer than min_practices = 5" in outcome.refused[0]
    areas = {f.area for f in aggregators.leader.area_figures()}
    assert first_pcn not in areas and data.icb in areas
    # the ICB minus the released PCNs is four practices' figures: never shown, yet protected
    hidden, published = aggregators.history.load_all()
    rest = true_sums(data, set(members) - {absent})
    kept = {key[3:]: v for key, v in hidden.true_values.items() if key[2] == f"{data.icb}-rest"}
    assert kept == rest
    assert audit(published, RULES, [hidden]) == []


def test_without_secondary_suppression_an_icb_with_a_refused_pcn_is_held_back(
    aggregators: Aggregators,
) -> None:
    data = month()
    members = sorted(data.pcns.items())[0][1]
    aggregators.contribute(data, [p for p in data.cube.orgs if p != members[0]])
    outcome = aggregators.run(data, secondary=False)
    assert len(outcome.release.held_back) == 1 and data.icb in outcome.release.held_back[0]
    assert {f.level for f in aggregators.leader.area_figures()} == {"pcn"}


def test_the_helper_refuses_a_batch_it_holds_no_shares_for(aggregators: Aggregators) -> None:
    data = month()
    pcn, members = sorted(data.pcns.items())[1]
    lost = members[0]
    aggregators.contribute(data, [p for p in data.cube.orgs if p != lost])
    leader_only = aggregators.seal(data, lost)[0]  # the helper's copy never arrives
    receiver = aggregators.receiver(LEADER, data.cube.orgs)
    assert receiver.receive(leader_only.token, origin="test")
    outcome = aggregators.run(data)
    refused = [r for r in outcome.refused if pcn in r]
    assert len(refused) == 1 and f"no shares here from {lost}" in refused[0]
    assert any(data.icb in r and lost in r for r in outcome.refused)


def test_a_practice_cannot_pose_as_another(aggregators: Aggregators) -> None:
    data = month()
    victim, impostor = data.cube.orgs[:2]
    forged = seal_shares(
        [data.cube],
        victim,
        CONFIG,
        agreement_id=AGREEMENT,
        signing_key=key_of(impostor),
        aggregator_keys={a: public(key_of(a)) for a in CONFIG.aggregators},
        sequences={LEADER: 1, HELPER: 1},
    )[0]
    receiver = aggregators.receiver(LEADER, data.cube.orgs)
    assert not receiver.receive(forged.token, origin="test")
    assert [r.reason for r in receiver.result.rejected] == ["sender-not-key-owner"]
    assert aggregators.leader.holders(data.cube.measure, data.cube.month) == set()


def test_a_second_share_set_for_the_same_month_is_refused(aggregators: Aggregators) -> None:
    data = month()
    practice = data.cube.orgs[0]
    aggregators.contribute(data, [practice])
    again = aggregators.seal(data, practice)[0]
    receiver = aggregators.receiver(LEADER, data.cube.orgs)
    assert not receiver.receive(again.token, origin="test")
    assert receiver.result.rejected[0].reason == "store-refused"
    assert "revisions are refused" in receiver.result.rejected[0].detail


def test_shares_that_do_not_reconstruct_to_counts_are_rejected_with_the_reason(
    aggregators: Aggregators,
) -> None:
    data = month()
    aggregators.contribute(data, data.cube.orgs)
    corrupt = data.pcns[sorted(data.pcns)[2]][0]
    with sqlite3.connect(aggregators.helper.path) as db:
        (blob,) = db.execute("SELECT elements FROM share WHERE practice = ?", (corrupt,)).fetchone()
        elements = orjson.loads(blob)
        elements[0] = str((int(elements[0]) + PRIME - 100) % PRIME)  # "minus 100 people"
        db.execute(
            "UPDATE share SET elements = ? WHERE practice = ?", (orjson.dumps(elements), corrupt)
        )
    outcome = aggregators.run(data)
    pcn_note, icb_note = outcome.refused  # its PCN, then the ICB
    assert "need-physical-activity reconstructs to" in pcn_note  # wrapped round the field
    assert "not a count of people" in pcn_note and "batch is refused" in pcn_note
    # in the ICB the 100 are hidden among more people, but the breakdowns no longer add up
    assert data.icb in icb_note and "adds up to" in icb_note and "batch is refused" in icb_note
    assert sorted(data.pcns)[2] not in {f.area for f in aggregators.leader.area_figures()}


@pytest.fixture
def twelve() -> IcbMonth:
    """Two PCNs of 5 and 7 practices (small enough for the exact attacker to run quickly)."""
    data = month(12, 7)
    assert len(data.pcns[max(data.pcns)]) == 7
    return data


def test_a_late_practice_gives_a_second_version_whose_difference_is_protected(
    aggregators: Aggregators, twelve: IcbMonth
) -> None:
    data = twelve
    last_pcn = max(data.pcns)
    late = data.pcns[last_pcn][-1]
    aggregators.contribute(data, [p for p in data.cube.orgs if p != late])
    first = aggregators.run(data)
    assert first.refused == [] and {p.version for p in first.proposals} == {1}
    aggregators.contribute(data, [late])
    second = aggregators.run(data)
    assert sorted((p.area, p.version) for p in second.proposals) == [
        (data.icb, 2),
        (last_pcn, 2),
    ]
    hidden1, published1, hidden2, published2 = aggregators.history.load_all()
    late_part = {
        key[3:]: v for key, v in hidden2.true_values.items() if key[2] == f"{last_pcn}+late@v2"
    }
    assert late_part == true_sums(data, {late})
    # the exact attacker over both versions and every hidden figure narrows nothing ...
    assert audit(published2, RULES, [hidden1, published1, hidden2]) == []
    # ... while the same second version with primary masks alone gives the late practice away
    naive = primary_only(Release(dict(published2.true_values), list(published2.constraints)), RULES)
    found = audit(naive, RULES, [hidden1, published1, hidden2])
    assert any(str(f.key[2]) == f"{last_pcn}+late@v2" for f in found)
    shown = figures_by_area(aggregators.leader.area_figures())
    assert {f.version for f in shown[last_pcn].values()} == {2}
    assert {f.practices for f in shown[last_pcn].values()} == {7}
    assert aggregators.run(data).proposals == []  # nothing new: nothing released again


def test_without_secondary_suppression_a_late_practice_is_held_back(
    aggregators: Aggregators, twelve: IcbMonth
) -> None:
    data = twelve
    late = data.pcns[max(data.pcns)][-1]
    aggregators.contribute(data, [p for p in data.cube.orgs if p != late])
    aggregators.run(data, secondary=False)
    aggregators.contribute(data, [late])
    outcome = aggregators.run(data, secondary=False)
    assert len(outcome.release.held_back) == 2
    assert all("held back" in note for note in outcome.release.held_back)
    assert {f.version for f in aggregators.leader.area_figures()} == {1}


def test_an_area_figure_that_would_narrow_a_masked_practice_figure_is_masked(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """One practice of a PCN masked, the other four published exactly: the PCN figure, shown
    to the nearest 5, would pin the masked one to 5 values (fewer than the threshold 7)."""
    data = month()
    pcn, members = sorted(data.pcns.items())[0]
    cell = ("need-physical-activity", None, None)
    practice_rules = DisclosureRules(threshold=7, rounding=1)
    counts = {p: true_sums(data, {p})[cell] for p in members}
    view = PracticeView(
        practice_rules,
        {
            p: {cell: None if p == members[0] else counts[p]}
            for p in members  # the first masked, the others published exactly
        },
    )
    plain, checked = (Aggregators(tmp_path_factory.mktemp(n)) for n in ("plain", "checked"))
    for pair, practices in ((plain, None), (checked, view)):
        pair.contribute(data, data.cube.orgs)
        pair.run(data, practices=practices)
    before = figures_by_area(plain.leader.area_figures())[pcn][cell]
    after = figures_by_area(checked.leader.area_figures())[pcn][cell]
    assert before.value is not None  # without the check the PCN total is shown ...
    assert after.value is None and after.reason == "practice"  # ... with it, masked
    # and the masked PCN total cannot be worked out to within the threshold either
    others = sum(counts[p] for p in members[1:])
    _, published = checked.history.load_all()[-2:]
    low, high = AreaAttacker([published]).range((data.cube.measure, data.cube.month, pcn, *cell))
    assert (high - others) - max(1, low - others) + 1 >= 7
    for pair in (plain, checked):
        pair.close()
