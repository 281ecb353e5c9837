"""``ltcbridge hub load | report | status`` through a parser, as cli.py will wire them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ltcbridge.cli.hub import EXIT_INCOMPLETE, EXIT_OK, EXIT_REFUSED, register
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


def test_errors_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "hub.sqlite")
    with pytest.raises(LtcbridgeError, match="is not a folder"):
        hub("load", str(tmp_path / "missing"), "--store", store)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.json").write_text("{not json")
    assert hub("load", str(tmp_path / "junk"), "--store", store) == EXIT_REFUSED
    assert "x.json: not valid JSON" in capsys.readouterr().out
    with pytest.raises(LtcbridgeError, match="does not exist: check the path"):
        hub("status", "--store", store, "--config", str(tmp_path / "none.toml"))


def test_bad_files_and_reports_are_refused_and_the_rest_of_the_folder_is_loaded(
    tmp_path: Path, demo_feeds: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Not JSON, a report without a reporter, a report of the wrong shape: each refused with
    what is wrong and recorded among the rejections; the good file is loaded."""
    folder = tmp_path / "feed"
    folder.mkdir()
    source = demo_feeds["root"] / "2026-10" / "feed-practice" / "unmet-need-Y00011-2026-10.json"
    (folder / "a-good.json").write_text(source.read_text())
    (folder / "b-not-json.json").write_text("{not json")
    report = json.loads(source.read_text())
    (folder / "c-no-reporter.json").write_text(json.dumps({**report, "reporter": None}))
    shape = {**report, "group": "x", "reporter": {"identifier": {"value": "Y00012"}}}
    (folder / "d-shape.json").write_text(json.dumps(shape))
    store = str(tmp_path / "hub.sqlite")

    assert hub("load", str(folder), "--store", store, "--recipient", "QHM") == EXIT_REFUSED

    printed = capsys.readouterr().out
    assert "Loaded 1 release(s) from 4 file(s)" in printed and "3 refused" in printed
    with open_store(store) as opened:
        assert [r[2] for r in opened.table("releases")] == ["Y00011"]
        details = [row[3] for row in opened.table("rejections")]
    assert len(details) == 3
    assert "b-not-json.json: not valid JSON" in details[0]
    assert "c-no-reporter.json" in details[1] and "reporter" in details[1]
    assert "Y00012 2026-10" in details[2] and "MeasureReport.group" in details[2]
