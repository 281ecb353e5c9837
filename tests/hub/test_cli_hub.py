"""``ltcbridge hub load | report | status`` through a parser, as cli.py will wire them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ltcbridge.cli_hub import EXIT_INCOMPLETE, EXIT_OK, register
from ltcbridge.errors import LtcbridgeError
from ltcbridge.hub.store import open_store


def hub(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ltcbridge")
    commands = parser.add_subparsers()
    register(commands.add_parser("hub").add_subparsers())
    args = parser.parse_args(["hub", *argv])
    return args.run(args)


def test_load_report_and_status(
    tmp_path: Path, demo_feeds: dict[str, Path], hub_config_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    store, config = str(tmp_path / "hub.sqlite"), str(hub_config_file)
    feed = str(demo_feeds["root"] / "2026-10" / "feed-practice")
    files = len(list(Path(feed).glob("*.json")))  # one per practice and measure
    assert hub("load", feed, "--store", store, "--config", config) == EXIT_OK
    assert f"Loaded 6 release(s) from {files} file(s)" in capsys.readouterr().out
    assert hub("load", feed, "--store", store) == EXIT_OK
    assert f"Loaded 0 release(s) from {files} file(s)" in capsys.readouterr().out
    assert hub("report", "--store", store, "--config", config, "--out", str(tmp_path / "r")) == 0
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "hub.xlsx").is_file()
    assert hub("status", "--store", store, "--config", config) == EXIT_OK
    printed = capsys.readouterr().out
    assert "6 of 21 expected returns received" in printed and "Y00029" in printed
    assert hub("status", "--store", store, "--config", config, "--strict") == EXIT_INCOMPLETE
    with open_store(store) as opened:
        assert len(opened.table("releases")) == 6


def test_a_changed_month_is_loaded_as_the_next_sequence(
    tmp_path: Path, demo_feeds: dict[str, Path]
) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    source = demo_feeds["root"] / "2026-10" / "feed-practice" / "unmet-need-Y00011-2026-10.json"
    target = folder / source.name
    target.write_text(source.read_text())
    store = str(tmp_path / "hub.sqlite")
    hub("load", str(folder), "--store", store, "--recipient", "QHM")
    target.write_text(source.read_text().replace('"count": 10', '"count": 15', 1))
    hub("load", str(folder), "--store", store, "--recipient", "QHM")
    with open_store(store) as opened:
        assert opened.rows("SELECT sender, sequence FROM releases ORDER BY sequence") == [
            ("Y00011", 1), ("Y00011", 2)]  # fmt: skip
        assert opened.rows(
            "SELECT count FROM latest_figures WHERE group_code = 'need-physical-activity' "
            "AND stratifier IS NULL"
        ) == [(15,)]


def test_errors_say_what_to_do(tmp_path: Path) -> None:
    store = str(tmp_path / "hub.sqlite")
    with pytest.raises(LtcbridgeError, match="is not a folder"):
        hub("load", str(tmp_path / "missing"), "--store", store)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.json").write_text("{not json")
    with pytest.raises(LtcbridgeError, match=r"x\.json is not valid JSON"):
        hub("load", str(tmp_path / "junk"), "--store", store)
    with pytest.raises(LtcbridgeError, match="does not exist: check the path"):
        hub("status", "--store", store, "--config", str(tmp_path / "none.toml"))
