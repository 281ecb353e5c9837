"""A real daemon cycle (two real FHIR engines) across a month boundary, with the practice's clock
injected: the month's release is prepared from what the cycle pulled, waits for a person's
approval, then leaves through the drop folder and is stored by `hub receive`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltcbridge.daemon import releases
from ltcbridge.daemon.health import read_health
from ltcbridge.hub.store import open_store
from sealing.helpers import keys, write_pem

from .conftest import Loop
from .loop_data import PRACTICE, practice_record, put_all
from .release_data import AGREEMENT_ID, HUB, agreement_text, on

pytestmark = pytest.mark.integration


def add_feed(loop: Loop) -> Path:
    """The loop's practice with an agreement in force from October and a folder drop."""
    tmp = loop.tmp
    drop = tmp / "drop"
    drop.mkdir()
    (tmp / "agreement.toml").write_text(agreement_text(valid_from="2026-10-01"))
    write_pem(tmp / "keys" / "private-key.pem", keys().practice, private=True)
    write_pem(tmp / "hub" / "QHM.pem", keys().hub, private=False)
    write_pem(tmp / "hub" / "private.pem", keys().hub, private=True)
    write_pem(tmp / "hub" / "practices" / f"{PRACTICE}.pem", keys().practice, private=False)
    with loop.config_path.open("a") as config:
        config.write(
            f'[agreements]\nfiles = ["agreement.toml"]\n[feed]\ntransport = "folder"\n'
            f'folder = "{drop}"\nrecipient_keys = {{{HUB} = "hub/QHM.pem"}}\n'
        )
    return drop


def test_daemon_prepares_after_the_month_and_sends_only_once_approved(
    loop: Loop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = add_feed(loop)
    put_all(loop.gp, practice_record(12))  # reviews on 2026-10-14
    monkeypatch.setattr(releases, "today", lambda: on("2026-10-31"))
    first = loop.sync()
    assert first.status == "ok", first.error
    assert first.summary["releases_prepared"] == 0  # October has not closed
    monkeypatch.setattr(releases, "today", lambda: on("2026-11-05"))
    assert loop.sync().summary["releases_prepared"] == 0  # its grace period has not passed
    monkeypatch.setattr(releases, "today", lambda: on("2026-11-06"))
    due = loop.sync()
    assert (due.summary["releases_prepared"], due.summary["releases_sent"]) == (1, 0)
    health = read_health(loop.config.health_path)
    assert health is not None
    [waiting] = health["releases"]["waiting_for_approval"]
    assert list(drop.iterdir()) == []  # nothing leaves unapproved

    config = ["--config", str(loop.config_path)]
    assert main_ok("release", "approve", *config, waiting)
    sent = loop.sync()
    assert sent.summary["releases_sent"] == 1 and sent.summary["release_errors"] == []
    assert loop.sync().summary["releases_sent"] == 0
    assert [p.name for p in drop.iterdir()] == [f"{waiting}.jwe"]

    store = loop.tmp / "hub" / "store.sqlite"
    assert main_ok("hub", "receive", "--from", "folder", "--dir", str(drop),
                   "--keys", str(loop.tmp / "hub" / "practices"),
                   "--key", str(loop.tmp / "hub" / "private.pem"), "--hub", HUB,
                   "--store", str(store))  # fmt: skip
    with open_store(store) as hub:
        assert hub.last_sequence(PRACTICE, AGREEMENT_ID) == 1
        figures = hub.rows(
            "SELECT count FROM figures WHERE release_id = ? AND stratifier IS NULL", (waiting,)
        )
    assert 10 in {count for (count,) in figures}  # 12 people with these needs, rounded to 5
    capsys.readouterr()
    assert main_ok("release", "list", *config, "--json")
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["period"], listed["state"]) == ("2026-10", "sent")


def main_ok(*argv: str) -> bool:
    from ltcbridge.cli import main

    return main(list(argv)) == 0
