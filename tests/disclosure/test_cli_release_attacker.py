"""Every release a practice makes, the way a practice makes them, against an exact attacker.

The flow of the sealing guide, through the real command line: `feed seal` at practice level for
each practice, then at PCN level for each PCN, then the month rebuilt after late entries and sealed
again, then the same records under a second agreement (another threshold, other breakdowns) to a
second recipient, then the next month (whose outcome windows overlap this one's); `feed send`
through a folder; `hub receive` at the commissioner. The attacker holds everything both
recipients received and solves for every masked small figure.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from ltcbridge.cli import main
from ltcbridge.disclosure.cells import MASKED, PublishedRelease
from ltcbridge.disclosure.history import HistoryStore
from ltcbridge.feed.seal import bundle_reports, open_release
from ltcbridge.hub.store import open_store
from ltcbridge.mapping import load_mappings
from ltcbridge.synthetic import generate
from sealing.helpers import SYNTHETIC, keys, registry, write_pem

from .received_attacker import Received, figures, narrowed, score_totals

PERIOD, NEXT = "2026-10", "2026-11"
FIRST, SECOND = "QHM", "QHX"


def _agreement(
    folder: Path, name: str, recipient: str, level: str, rules: str, by: str, measures: str = ""
) -> Path:
    """An agreement file; `measures` limits the release to some measures (default: all five,
    with their scores)."""
    path = folder / f"{name}.toml"
    path.write_text(
        f"""[agreement]
id = "{name}"
recipient = "{recipient}"
valid_from = 2026-04-01
valid_until = 2031-03-31

[disclosure]
{rules}
secondary = true

[breakdowns]
allowed = [{by}]
level = "{level}"
{f"[measures]{chr(10)}include = [{measures}]" if measures else ""}
"""
    )
    return path


def _run_flow(root: Path, *, whole: bool, export: Path = SYNTHETIC) -> dict:
    """Seal and send, through the command line, every release of the plan for one PCN and its
    practices (PCNs share no figure, so one stands for all): `whole` is the full plan (the
    practices, the PCN, the month rebuilt, a second agreement and recipient), else the practices
    and then the PCN."""
    data = root / "practice-data"
    rebuilt = root / "rebuilt-export"  # the same records after late October entries
    shutil.copytree(export, rebuilt)
    observations = rebuilt / "Observation.ndjson"
    late = '"effectiveDateTime":"2026-09-2'
    assert observations.read_text().count(late) > 5
    observations.write_text(
        observations.read_text().replace(late, '"effectiveDateTime":"2026-10-2')
    )

    hub_pem = write_pem(root / "keys" / "hub.pem", keys().hub, private=False)
    all_four = '"age-band", "sex", "ethnicity-group", "imd-quintile", "provider"'
    practice = _agreement(root, "DSA-P", FIRST, "practice", "threshold = 7\nrounding = 5", all_four)
    pcn = _agreement(root, "DSA-PCN", FIRST, "pcn", "threshold = 7\nrounding = 5", all_four)
    other = _agreement(
        root,
        "DSA-X",
        SECOND,
        "practice",
        "threshold = 5\nrounding = 5",
        '"sex", "age-band"',
        measures='"unmet-need"',
    )
    pcn_of = load_mappings([export / "mappings"]).pcn_of
    pcns = sorted(set(pcn_of.values()))[:1]
    practices = sorted(p for p in pcn_of if pcn_of[p] in pcns)
    plan = [(export, practice, p, "v1", PERIOD) for p in practices]
    plan += [(export, pcn, p, "v1", PERIOD) for p in pcns]
    if whole:
        plan += [(rebuilt, practice, p, "v2", PERIOD) for p in practices]
        plan += [(rebuilt, other, p, "v2", PERIOD) for p in practices]
        plan += [(rebuilt, practice, p, "v2", NEXT) for p in practices]  # windows overlap
    sealed: list[tuple[Path, str]] = []
    for source, agreement, sender, state, period in plan:
        out = root / "sealed" / f"{agreement.stem}-{sender}-{state}-{period}"
        status = main(
            ["feed", "seal", "--source", str(source), "--mappings", str(export / "mappings"),
             "--agreement", str(agreement), "--period", period, "--workers", "1",
             "--key", str(_key_file(root, sender)), "--recipient-key", str(hub_pem),
             "--sender", sender,
             "--out", str(out), "--data-dir", str(data)]
        )  # fmt: skip
        assert status in (0, 3), f"seal {agreement.stem} {sender} {state}"
        (token_file,) = out.glob("*.jwe")
        drop = root / "drop" / ("second" if agreement == other else "first")
        drop.mkdir(parents=True, exist_ok=True)
        assert main(["feed", "send", "--release", str(token_file), "--via", "folder",
                     "--to", str(drop), "--agreement", str(agreement),
                     "--data-dir", str(data)]) == 0  # fmt: skip
        sealed.append((drop / token_file.name, state))
    return {"root": root, "data": data, "sealed": sealed, "pcn_of": pcn_of}


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One PCN of three larger practices, so that outcome measures publish scores too."""
    export = tmp_path_factory.mktemp("export")
    generate(export, seed=7, practices=3, per_pcn=3, patients=(250, 320))
    return _run_flow(tmp_path_factory.mktemp("flow"), whole=True, export=export)


@functools.cache
def _sender_key(code: str) -> ECKey:
    """Each practice and PCN signs with a key of its own (the hub maps keys to senders)."""
    return ECKey.generate_key("P-384")


def _key_file(root: Path, code: str) -> Path:
    return write_pem(root / "keys" / f"{code}.pem", _sender_key(code), private=True)


def _senders(pcn_of: dict[str, str]) -> list[str]:
    return [*pcn_of, *sorted(set(pcn_of.values()))]


def _received(flow: dict) -> list[Received]:
    """Every release as opened by its recipient, with the practice's true counts beside it."""
    history = HistoryStore(flow["data"] / "history.sqlite").load_all()
    senders = registry(*((code, _sender_key(code)) for code in _senders(flow["pcn_of"])))
    received = []
    for path, state in flow["sealed"]:
        _, bundle = open_release(path.read_text(), keys().hub, senders)
        reports = bundle_reports(bundle)
        release = next(past for past in history if _published_in(past, reports))
        rules = release.rules
        received.append(
            Received(reports, rules.threshold, rules.rounding, release.true_values, state)
        )
    return received


def _published_in(past: PublishedRelease, reports: list[dict]) -> bool:
    """Whether a recorded release holds exactly what these reports published."""
    for report in reports:
        for key, value in figures(report):
            sent = past.values.get(key, "absent")
            if sent == "absent" or (None if sent is MASKED else sent) != value:
                return False
    return True


def _small_masked(received: list[Received]) -> int:
    return sum(
        1
        for release in received
        for report in release.reports
        for key, value in figures(report)
        if value is None and 1 <= release.truth[key] <= release.threshold
    )


def test_the_commissioner_receives_every_release(flow: dict, tmp_path: Path) -> None:
    """`hub receive` stores every release sent to it, collected in the order they were sent."""
    for code in _senders(flow["pcn_of"]):
        write_pem(tmp_path / "keys" / f"{code}.pem", _sender_key(code), private=False)
    hub_key = write_pem(tmp_path / "hub.pem", keys().hub, private=True)
    mine = [path for path, _ in flow["sealed"] if path.parent.name == "first"]
    for index, path in enumerate(mine):
        collect = tmp_path / f"collect-{index}"
        collect.mkdir()
        shutil.copy(path, collect)
        status = main(
            ["hub", "receive", "--from", "folder", "--dir", str(collect),
             "--keys", str(tmp_path / "keys"), "--key", str(hub_key), "--hub", FIRST,
             "--store", str(tmp_path / "hub.sqlite")]
        )  # fmt: skip
        assert status == 0
    with open_store(str(tmp_path / "hub.sqlite")) as store:
        assert store.rows("SELECT COUNT(*) FROM releases")[0][0] == len(mine)


def test_no_masked_figure_is_narrowed_by_everything_ever_received(flow: dict) -> None:
    received = _received(flow)
    small = _small_masked(received)
    assert small > 500  # the attack has plenty to work on
    scores = [t for r in received for report in r.reports for t in score_totals(report)]
    assert len(scores) >= 5  # published means and totals are in the attack too
    found = narrowed(received, flow["pcn_of"])
    assert found == [], f"{len(found)} of {small} masked figures narrowed, e.g. {found[:3]}"


def test_without_the_history_the_same_flow_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: with the history switched off, the same attacker narrows masked figures
    (the PCN release against its practices' releases), so the test above could fail."""
    monkeypatch.setattr(HistoryStore, "load_all", lambda self: [])
    flow = _run_flow(tmp_path, whole=False)
    monkeypatch.undo()
    assert narrowed(_received(flow), flow["pcn_of"])


def test_stronger_rules_after_weaker_ones_are_refused_with_the_reason(
    flow: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Threshold 10 promised after the same records left under threshold 7: the earlier releases
    already give away more than 10 allows, so nothing is sealed, and nothing is recorded."""
    data = tmp_path / "data"
    shutil.copytree(flow["data"], data)
    before = len(HistoryStore(data / "history.sqlite"))
    stronger = _agreement(
        tmp_path, "DSA-S", SECOND, "practice", "threshold = 10\nrounding = 5", '"age-band"'
    )
    status = main(
        ["feed", "seal", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
         "--agreement", str(stronger), "--period", PERIOD, "--workers", "1",
         "--key", str(_key_file(tmp_path, "Y00011")),
         "--recipient-key", str(flow["root"] / "keys" / "hub.pem"), "--sender", "Y00011",
         "--out", str(tmp_path / "out"), "--data-dir", str(data)]
    )  # fmt: skip
    assert status == 1
    message = capsys.readouterr().err
    assert "cannot release" in message and "earlier releases" in message
    assert "Traceback" not in message
    assert not list((tmp_path / "out").glob("*.jwe"))
    assert len(HistoryStore(data / "history.sqlite")) == before
