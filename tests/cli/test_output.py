"""Output for people and scripts (docs/cli.md): help with defaults, one exit-status list, plain
tables when piped, markup never eating text, --json alone on stdout, --quiet, --force."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from ltcbridge.cli import main
from ltcbridge.cli.app import _parser
from ltcbridge.cli.support import OUTPUT_MARK

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
AGREEMENT = ROOT / "src" / "ltcbridge" / "bundled" / "demo-agreement.toml"
LONG_SYSTEM = (
    "https://a-very-long-practice-name.example.org/fhir/CodeSystem/local-care-planning-codes"
)


def _commands(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, Any]]:
    """Every (command path, parser), depth first."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{path} {name}".strip())
    return found


def test_every_option_has_help_and_the_top_level_help_lists_every_exit_status() -> None:
    parser = _parser()
    missing = [
        f"{path} {action.option_strings[0]}"
        for path, command in _commands(parser)
        for action in command._actions
        if action.option_strings and not action.help
    ]
    assert missing == []
    epilog = parser.epilog or ""
    for status in ("0 done", "1 error", "2 wrong usage", "3 done, but", "4 incomplete"):
        assert status in epilog


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["feed", "send", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 5)" in text and "(default: 2.0)" in text  # --attempts, --backoff


def _tiny_export(folder: Path) -> Path:
    """One invented observation coded in a long local system no mapping covers."""
    folder.mkdir()
    observation = {
        "resourceType": "Observation",
        "id": "obs-1",
        "status": "final",
        "code": {"coding": [{"system": LONG_SYSTEM, "code": "LOCAL-CODE-0001"}]},
    }
    (folder / "Observation.ndjson").write_text(json.dumps(observation) + "\n")
    return folder


def test_a_piped_table_is_tab_separated_and_nothing_is_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _tiny_export(tmp_path / "export")
    assert main(["mappings", "coverage", "--source", str(source), "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "count\tsystem\tcode"
    assert f"1\t{LONG_SYSTEM}\tLOCAL-CODE-0001" in lines


def test_json_is_alone_on_stdout_and_quiet_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _tiny_export(tmp_path / "export")
    argv = ["mappings", "coverage", "--source", str(source), "--workers", "1"]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # nothing but the document
    assert document["unmapped"] == [{"system": LONG_SYSTEM, "code": "LOCAL-CODE-0001", "count": 1}]
    assert set(document) == {"unmapped", "unmapped_templates", "notes", "diagnostics"}
    assert main(["--quiet", *argv]) == 0
    assert capsys.readouterr().out == ""


def test_hub_status_keeps_bracketed_words_and_reports_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ltcbridge.hub.store import open_store

    store = tmp_path / "hub.sqlite"
    with open_store(store):
        pass
    assert main(["hub", "status", "--store", str(store)]) == 0
    assert "[practices]" in capsys.readouterr().out  # rich markup used to eat it
    assert main(["hub", "status", "--store", str(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["expected_practices"] == [] and document["missing"] == {}


def test_force_replaces_only_an_earlier_output_and_leaves_nothing_old(tmp_path: Path) -> None:
    out = tmp_path / "definitions"
    assert main(["feed", "measures", "--out", str(out)]) == 0
    assert (out / OUTPUT_MARK).is_file()
    (out / "stale-from-an-old-run.json").write_text("{}")
    folder = out.stat().st_ino  # replaced in place: a shell inside it keeps its folder
    assert main(["feed", "measures", "--out", str(out)]) == 1  # not empty: refused
    assert (out / "stale-from-an-old-run.json").exists()
    assert main(["feed", "measures", "--out", str(out), "--force"]) == 0
    assert not (out / "stale-from-an-old-run.json").exists()
    assert out.stat().st_ino == folder
    assert any(p.name.startswith("Measure-") for p in out.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == ["definitions"]  # no staging left beside it


def test_feed_build_json_names_the_files_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feed"
    argv = ["feed", "build", "--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
            "--agreement", str(AGREEMENT), "--period", "2026-10", "--workers", "1",
            "--out", str(out), "--data-dir", str(tmp_path / "data"), "--json"]  # fmt: skip
    assert main(argv) == 3  # the fixtures hold quarantined lines: set aside for a person
    document = json.loads(capsys.readouterr().out)
    assert document["files"] == sorted(p.name for p in out.iterdir() if p.name != OUTPUT_MARK)
    assert document["quarantined"] > 0 and Path(document["quarantine_file"]).is_file()
    assert document["reports"] == len(list(out.glob("*.json")))


def test_the_summary_says_opted_out_people_are_counted_when_the_agreement_says_so() -> None:
    """Under ``[optouts] exclude = false`` the opted-out are counted; the summary used to say
    they were "counted nowhere"."""
    from dataclasses import replace

    from ltcbridge.agreement import load_agreement
    from ltcbridge.build_summary import summarise
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_feed

    agreement = load_agreement(AGREEMENT)
    mappings = load_mappings([SYNTHETIC / "mappings"])
    for exclude, says in ((True, "(counted nowhere): "), (False, "counted like everyone else")):
        terms = replace(agreement, exclude_optouts=exclude, measures=("unmet-need",))
        build = build_feed(SYNTHETIC, mappings, terms, "2026-10", workers=1)
        (people,) = [line for line in summarise(build) if line.startswith("People:")]
        assert says in people.split("opted out of secondary use", 1)[1].split(";")[0]
