"""The daemon's monthly releases: prepared after the month and its grace, sent only once approved,
sent once, received by the hub; a mistyped folder refused; a failed delivery sent again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ltcbridge.daemon import releases
from ltcbridge.daemon.config import Config, ConfigError
from ltcbridge.daemon.releases import due_period, run_releases
from ltcbridge.daemon.state import StateStore
from ltcbridge.disclosure.history import HistoryStore
from sealing.helpers import demo_build

from .release_data import AGREEMENT_ID, Practice, config_text, make_practice, on


@pytest.fixture
def practice(tmp_path: Path) -> Practice:
    return make_practice(tmp_path)


def cycle(
    practice: Practice, day: str, monkeypatch: pytest.MonkeyPatch, config: Config | None = None
) -> dict:
    """The cycle's release step on a given day (the practice's clock); ``config`` as a running
    daemon loaded it earlier."""
    monkeypatch.setattr(releases, "today", lambda: on(day))
    config = config or practice.config
    state = StateStore(config.state_path)
    try:
        return run_releases(config, state)
    finally:
        state.close()


def listed(practice: Practice, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert practice.cli("release", "list", "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_due_period_waits_for_the_grace_days() -> None:
    assert due_period(on("2026-11-05"), 5) == "2026-09"
    assert due_period(on("2026-11-06"), 5) == "2026-10"
    assert due_period(on("2026-11-01"), 0) == "2026-10"
    assert due_period(on("2027-01-06"), 5) == "2026-12"


def test_month_boundary_prepares_once_and_sends_nothing_unapproved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    practice = make_practice(tmp_path, valid_from="2026-10-01")  # September is outside it
    assert cycle(practice, "2026-10-31", monkeypatch)["releases_prepared"] == 0
    assert cycle(practice, "2026-11-05", monkeypatch)["releases_prepared"] == 0  # grace
    summary = cycle(practice, "2026-11-06", monkeypatch)
    assert summary["releases_prepared"] == 1 and summary["release_errors"] == []
    assert cycle(practice, "2026-11-07", monkeypatch)["releases_prepared"] == 0  # once a month
    [release] = listed(practice, capsys)
    assert (release["period"], release["state"], release["agreement_id"]) == (
        "2026-10", "prepared", AGREEMENT_ID)  # fmt: skip
    folder = practice.config.state_path.parent / "releases" / release["release_id"]
    manifest = (folder / "manifest.md").read_text()
    assert "approve" in manifest and release["release_id"] in manifest
    assert (folder / "manifest.md").stat().st_mode & 0o077 == 0
    preview = (folder / "preview.txt").read_text()
    assert "unmet-need · Y00011 · 2026-10" in preview and "physical activity" in preview
    # the approval gate: nothing leaves, nothing is sealed
    assert cycle(practice, "2026-11-08", monkeypatch)["releases_sent"] == 0
    assert list(practice.drop.iterdir()) == []
    assert not (folder / "sealed.jwe").exists()


def test_a_daemon_that_was_off_prepares_each_missed_month_oldest_first_once(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = cycle(practice, "2026-08-10", monkeypatch)  # the agreement runs from April
    assert (first["releases_prepared"], first["release_errors"]) == (1, [])  # July: not its past
    back = cycle(practice, "2026-11-06", monkeypatch)  # off through August, September, October
    assert (back["releases_prepared"], back["release_errors"]) == (3, [])
    assert cycle(practice, "2026-11-07", monkeypatch)["releases_prepared"] == 0
    made = sorted(listed(practice, capsys), key=lambda r: r["prepared_at"])
    assert [r["period"] for r in made] == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert {r["state"] for r in made} == {"prepared"}
    # by hand, a month is prepared again: a revision superseding the earlier one
    assert practice.cli("release", "prepare", "--period", "2026-08") == 0
    august = [r for r in listed(practice, capsys) if r["period"] == "2026-08"]
    earlier, revision = sorted(august, key=lambda r: r["prepared_at"])
    assert (earlier["state"], earlier["detail"]) == ("superseded", revision["release_id"])
    assert revision["state"] == "prepared" and revision["prepared_by"] != "daemon"
    assert cycle(practice, "2026-11-08", monkeypatch)["releases_prepared"] == 0


def test_an_agreement_needing_no_approval_is_sealed_and_sent_after_preparation(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terms = practice.tmp / "agreement.toml"
    terms.write_text(terms.read_text().replace("[disclosure]", "approval_required = false\n"
                                               "[disclosure]"))  # fmt: skip
    summary = cycle(practice, "2026-11-06", monkeypatch)
    assert (summary["releases_prepared"], summary["releases_sent"]) == (1, 1)
    assert summary["release_errors"] == []
    [release] = listed(practice, capsys)
    assert release["state"] == "sent"
    assert (
        release["approved_by"]
        == f"agreement {AGREEMENT_ID} ([agreement] approval_required = false)"
    )
    assert [p.name for p in practice.drop.iterdir()] == [f"{release['release_id']}.jwe"]
    folder = practice.config.state_path.parent / "releases" / release["release_id"]
    assert "Approval: NOT REQUIRED" in (folder / "manifest.md").read_text()
    state = practice.state()
    try:
        actions = [(r["action"], json.loads(r["detail"]).get("by")) for r in state.audit_records()]
    finally:
        state.close()
    assert ("release-approved", release["approved_by"]) in actions
    assert practice.hub_receive() == [(release["release_id"], "2026-10", 1)]
    # one prepared by hand (a revision of October) waits for no one either: the next cycle sends it
    capsys.readouterr()
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    assert "needs no approval" in capsys.readouterr().out
    assert cycle(practice, "2026-11-07", monkeypatch)["releases_sent"] == 1
    revision = max(listed(practice, capsys), key=lambda r: r["prepared_at"])
    assert (revision["state"], revision["approved_by"]) == ("sent", release["approved_by"])
    assert practice.hub_receive()[-1] == (revision["release_id"], "2026-10", 2)


def test_approval_required_must_be_true_or_false(practice: Practice) -> None:
    from ltcbridge.agreement import load_agreement
    from ltcbridge.errors import AgreementError

    terms = practice.tmp / "agreement.toml"
    assert load_agreement(terms).approval_required  # absent: a person approves every release
    terms.write_text(terms.read_text().replace("[disclosure]", 'approval_required = "no"\n'
                                               "[disclosure]"))  # fmt: skip
    with pytest.raises(AgreementError, match=r"\[agreement\] approval_required: must be true or"):
        load_agreement(terms)


def test_approved_release_is_sealed_sent_once_and_received_by_the_hub(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [release] = listed(practice, capsys)
    assert practice.cli("release", "approve", release["release_id"], "--by", "IG Lead") == 0
    [approved] = listed(practice, capsys)
    assert (approved["state"], approved["approved_by"]) == ("approved", "IG Lead")
    state = practice.state()
    audit = [(r["action"], json.loads(r["detail"])) for r in state.audit_records()]
    state.close()
    assert ("release-approved", {"by": "IG Lead", "period": "2026-10"}) in audit
    assert cycle(practice, "2026-12-01", monkeypatch)["releases_sent"] == 1
    assert cycle(practice, "2026-12-01", monkeypatch)["releases_sent"] == 0  # never twice
    assert [p.name for p in practice.drop.iterdir()] == [f"{release['release_id']}.jwe"]
    assert practice.hub_receive() == [(release["release_id"], "2026-10", 1)]
    cycle(practice, "2026-12-02", monkeypatch)  # the file was collected: acknowledged
    [done] = listed(practice, capsys)
    assert (done["state"], done["sequence"]) == ("acknowledged", 1)


def test_mistyped_folder_is_refused_and_never_created(practice: Practice) -> None:
    mistyped = practice.tmp / "dorp"
    practice.config_path.write_text(config_text(str(mistyped)))
    with pytest.raises(ConfigError, match=r"\[feed\] folder: .*dorp does not exist"):
        practice.config  # noqa: B018
    assert not mistyped.exists()


def test_feed_keys_are_checked_strictly(practice: Practice) -> None:
    practice.config_path.write_text(
        config_text(str(practice.drop), extra_feed='grace_dayz = 3\ntransport_x = "mesh"').replace(
            'transport = "folder"', 'transport = "pigeon"'
        )
    )
    with pytest.raises(ConfigError) as error:
        practice.config  # noqa: B018
    text = str(error.value)
    assert "[feed] grace_dayz: unknown key (did you mean 'grace_days'?)" in text
    assert "[feed] transport: must be 'mesh', 'https' or 'folder' (found 'pigeon')" in text


def test_failed_delivery_is_kept_and_sent_again_on_resend(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [release] = listed(practice, capsys)
    assert practice.cli("release", "approve", release["release_id"]) == 0
    moved, running = practice.tmp / "drop-away", practice.config
    shutil.move(practice.drop, moved)  # the share went away after the daemon started
    summary = cycle(practice, "2026-12-01", monkeypatch, running)
    assert summary["releases_sent"] == 0 and "does not exist" in summary["release_errors"][0]
    assert not practice.drop.exists()  # refused, not created
    shutil.move(moved, practice.drop)
    [failed] = listed(practice, capsys)
    assert failed["state"] == "failed" and "does not exist" in failed["detail"]
    assert cycle(practice, "2026-12-02", monkeypatch)["releases_sent"] == 0  # waits for a person
    assert practice.cli("release", "resend", release["release_id"], "--by", "Practice IT") == 0
    assert cycle(practice, "2026-12-02", monkeypatch)["releases_sent"] == 1
    assert practice.hub_receive() == [(release["release_id"], "2026-10", 1)]
    state = practice.state()
    actions = [r["action"] for r in state.audit_records() if r["action"].startswith("release-")]
    state.close()
    assert actions == ["release-prepared", "release-approved", "release-failed",
                       "release-resend", "release-sent"]  # fmt: skip


def test_revised_month_supersedes_the_earlier_release_at_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    practice = make_practice(tmp_path)
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [first] = listed(practice, capsys)
    assert practice.cli("release", "approve", first["release_id"]) == 0
    cycle(practice, "2026-12-01", monkeypatch)
    practice.hub_receive()
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0  # after a correction
    second = next(r for r in listed(practice, capsys) if r["release_id"] != first["release_id"])
    assert second["protected_against"] == 1  # the first, recorded in the history when sealed
    assert practice.cli("release", "approve", second["release_id"]) == 0
    assert cycle(practice, "2026-12-02", monkeypatch)["releases_sent"] == 1
    received = practice.hub_receive()
    assert [(r[0], r[2]) for r in received] == [(first["release_id"], 1), (second["release_id"], 2)]
    assert practice.hub_latest() == [(second["release_id"],)]
    states = {r["release_id"]: r["state"] for r in listed(practice, capsys)}
    assert states == {first["release_id"]: "superseded", second["release_id"]: "sent"}


def test_a_prepared_release_is_superseded_by_a_new_one_and_cannot_be_approved(
    practice: Practice, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    old, new = listed(practice, capsys)
    assert (old["state"], old["detail"], new["state"]) == ("superseded", new["release_id"],
                                                           "prepared")  # fmt: skip
    assert practice.cli("release", "approve", old["release_id"]) == 1
    assert "is superseded, not prepared" in capsys.readouterr().err


def test_releases_prepared_together_are_protected_against_each_other(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "prepare", "--period", "2026-09") == 0
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    september, october = listed(practice, capsys)
    assert (september["protected_against"], october["protected_against"]) == (0, 1)
    for release in (september, october):
        assert practice.cli("release", "approve", release["release_id"]) == 0
    summary = cycle(practice, "2026-12-01", monkeypatch)
    assert (summary["releases_sent"], summary["releases_prepared"]) == (2, 0)
    assert {(r["period"], r["state"]) for r in listed(practice, capsys)} == {
        ("2026-09", "sent"), ("2026-10", "sent")}  # fmt: skip


def test_release_sealed_after_an_unknown_one_was_recorded_is_prepared_again(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [october] = listed(practice, capsys)
    assert practice.cli("release", "approve", october["release_id"]) == 0
    # meanwhile a release is sealed by hand into the same history (`feed seal --data-dir`)
    history = HistoryStore(practice.config.state_path.parent / "history.sqlite")
    assert history.record("QHM", "DSA-OTHER", demo_build().release)
    summary = cycle(practice, "2026-12-01", monkeypatch)
    # its figures were protected against an older history: prepared again, to approve again
    assert summary["releases_sent"] == 0 and list(practice.drop.iterdir()) == []
    states = {(r["release_id"] == october["release_id"], r["state"], r["protected_against"])
              for r in listed(practice, capsys)}  # fmt: skip
    assert states == {(True, "superseded", 0), (False, "prepared", 1)}


def test_unknown_release_and_agreement_are_named(
    practice: Practice, capsys: pytest.CaptureFixture[str]
) -> None:
    assert practice.cli("release", "approve", "no-such-release") == 1
    assert "no release no-such-release" in capsys.readouterr().err
    assert practice.cli("release", "prepare", "--period", "2026-10", "--agreement", "DSA-X") == 1
    assert "no agreement 'DSA-X'" in capsys.readouterr().err


def test_upgrading_the_state_reads_the_gp_record_once_more_to_keep_entries_whole(
    tmp_path: Path,
) -> None:
    import sqlite3

    from ltcbridge.daemon.state import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # a state file of the release before
        for script in MIGRATIONS[:2]:
            db.executescript(script)
        for kind in ("Patient", "Goal", "$deletions"):
            db.execute("INSERT INTO watermark VALUES ('gp', ?, '{}', 'then')", (kind,))
        db.execute("PRAGMA user_version = 2")
    store = StateStore(path)
    kept = store.db.execute("SELECT resource_type FROM watermark").fetchall()
    assert [row[0] for row in kept] == ["$deletions"]
    assert store.db.execute("SELECT count(*) FROM entry_resource").fetchone()[0] == 0
    store.close()


def test_status_and_health_show_what_waits_for_approval_and_what_failed(
    practice: Practice, capsys: pytest.CaptureFixture[str]
) -> None:
    from ltcbridge.daemon.releases import release_health

    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [release] = listed(practice, capsys)
    health = release_health(practice.config)
    assert health["waiting_for_approval"] == [release["release_id"]]
    assert health["failed"] == [] and health["by_state"]["prepared"] == 1
    assert practice.cli("status") == 3  # the fixture holds one unreadable resource
    text = capsys.readouterr().out
    assert "releases waiting for approval" in text and release["release_id"] in text


def test_status_json_shows_waiting_failed_and_the_last_runs_release_problems(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for period in ("2026-09", "2026-10"):
        assert practice.cli("release", "prepare", "--period", period) == 0
    september, october = sorted(listed(practice, capsys), key=lambda r: r["period"])
    assert practice.cli("release", "approve", october["release_id"]) == 0
    config = practice.config  # as the running daemon loaded it
    practice.drop.rmdir()  # then the drop folder went away: the delivery fails
    state = StateStore(config.state_path)
    try:
        run = state.start_run()
        monkeypatch.setattr(releases, "today", lambda: on("2026-11-07"))
        summary = run_releases(config, state)
        state.finish_run(run, "ok", summary)  # as the cycle records it
    finally:
        state.close()
    practice.drop.mkdir()  # back, so that `status` can read the configuration
    capsys.readouterr()
    assert practice.cli("status", "--json") == 3  # the fixture holds one unreadable resource
    shown = json.loads(capsys.readouterr().out)["releases"]
    assert shown["waiting_for_approval"] == [september["release_id"]]
    assert shown["failed"] == [october["release_id"]]
    [problem] = shown["last_run_errors"]
    assert october["release_id"] in problem and "does not exist" in problem
    assert practice.cli("status") == 3
    assert "release problems in the last run" in capsys.readouterr().out


def test_check_tries_the_folder_and_names_agreements_and_missing_keys(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ltcbridge.daemon.feed_check import feed_checks

    monkeypatch.setattr(releases, "today", lambda: on("2026-12-01"))
    rows = {row.thing: row for row in feed_checks(practice.config)}
    assert rows["commissioner feed (folder)"].status == "ready"
    assert rows["release keys"].status == "ready"
    assert rows[f"agreement {AGREEMENT_ID}"].status == "ready"
    assert "threshold 7" in rows[f"agreement {AGREEMENT_ID}"].detail
    monkeypatch.setattr(releases, "today", lambda: on("2031-04-01"))  # after valid_until
    (practice.tmp / "agreement.toml").write_text(
        (practice.tmp / "agreement.toml").read_text().replace('recipient = "QHM"',
                                                              'recipient = "QHX"')
    )  # fmt: skip
    rows = {row.thing: row for row in feed_checks(practice.config)}
    assert rows[f"agreement {AGREEMENT_ID}"].status == "problem"
    assert "expired" in rows[f"agreement {AGREEMENT_ID}"].detail
    assert "no public key for QHX" in rows["release keys"].detail


def test_a_state_of_schema_3_reads_each_providers_tasks_again(tmp_path: Path) -> None:
    """Answers read before the state kept them are read again (their write-backs are keyed)."""
    import sqlite3

    from ltcbridge.daemon.state import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:3]:
            db.executescript(script)
        for endpoint, kind in (("provider:lead", "Task"), ("provider:lead", "Observation"),
                               ("gp", "Patient")):  # fmt: skip
            db.execute("INSERT INTO watermark VALUES (?, ?, '{}', 'then')", (endpoint, kind))
        db.execute("PRAGMA user_version = 3")
    store = StateStore(path)
    kept = store.db.execute("SELECT endpoint, resource_type FROM watermark ORDER BY 1, 2")
    assert [tuple(row) for row in kept] == [("gp", "Patient"), ("provider:lead", "Observation")]
    store.close()


def test_feed_without_transport_or_mesh_settings_names_each_key(practice: Practice) -> None:
    base = config_text(str(practice.drop))
    practice.config_path.write_text(base.replace('transport = "folder"\n', ""))
    with pytest.raises(ConfigError, match=r"\[feed\] transport: is required"):
        practice.config  # noqa: B018
    practice.config_path.write_text(base.replace('transport = "folder"', 'transport = "mesh"'))
    with pytest.raises(ConfigError) as error:
        practice.config  # noqa: B018
    for key in ("mesh_url", "mailbox", "mesh_to"):
        assert f"[feed] {key}: transport 'mesh' needs it" in str(error.value)


def test_https_release_is_posted_once_and_a_refusal_is_resent_by_hand(
    practice: Practice, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    from ltcbridge.feed.transport.https import HttpsTransport

    text = config_text(str(practice.drop)).replace(
        'transport = "folder"', 'transport = "https"\nurl = "https://hub.invalid/releases"'
    )
    practice.config_path.write_text(text.replace(f'folder = "{practice.drop}"\n', ""))
    answers, posted = [403, 201], []

    def hub(request: httpx.Request) -> httpx.Response:
        posted.append(request.headers["Idempotency-Key"])
        return httpx.Response(answers.pop(0))

    https = HttpsTransport(
        "https://hub.invalid/releases", client=httpx.Client(transport=httpx.MockTransport(hub))
    )
    monkeypatch.setattr(releases, "today", lambda: on("2026-12-01"))
    assert practice.cli("release", "prepare", "--period", "2026-10") == 0
    [release] = listed(practice, capsys)
    assert practice.cli("release", "approve", release["release_id"]) == 0
    state = StateStore(practice.config.state_path)
    try:
        refused = run_releases(practice.config, state, https)
        assert "refused the release with 403" in refused["release_errors"][0]
        assert run_releases(practice.config, state, https)["releases_sent"] == 0  # waits
        assert practice.cli("release", "resend", release["release_id"]) == 0
        assert run_releases(practice.config, state, https)["releases_sent"] == 1
        assert run_releases(practice.config, state, https)["releases_sent"] == 0
    finally:
        state.close()
    assert posted == [release["release_id"]] * 2  # refused once, delivered once, never again
    [sent] = listed(practice, capsys)
    assert sent["state"] == "sent"


def test_an_https_feed_must_use_https(practice: Practice) -> None:
    text = config_text(str(practice.drop)).replace(
        'transport = "folder"', 'transport = "https"\nurl = "http://hub.invalid/releases"'
    )
    practice.config_path.write_text(text)
    with pytest.raises(ConfigError, match=r"\[feed\] url: give an https:// address"):
        practice.config  # noqa: B018
