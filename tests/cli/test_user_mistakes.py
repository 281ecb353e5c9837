"""Ordinary user mistakes, run through the real ``ltcbridge`` command line (issue 17).

For each: the documented exit status (docs/cli.md), a message naming the thing that is wrong,
no traceback, and nothing partial left behind (no output folder, no empty database, no staging
folder). The cases that fail before any work are grouped into one parametrised test; the few that
need a build use the small synthetic fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "fixtures" / "synthetic"
AGREEMENT = ROOT / "src" / "ltcbridge" / "bundled" / "demo-agreement.toml"
PERIOD = "2026-10"
UNREACHABLE = "http://127.0.0.1:9/fhir"  # the discard port: nothing listens there


@dataclass(frozen=True)
class Mistake:
    """One mistake: the command (``{t}`` is the test's folder), what it must say, and what must
    not exist afterwards."""

    argv: tuple[str, ...]
    status: int
    says: tuple[str, ...]
    leaves_nothing_at: tuple[str, ...] = field(default=())


def ltcbridge(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it (``python -m ltcbridge.cli``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "ltcbridge.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def assert_handled(result: subprocess.CompletedProcess[str], status: int, *says: str) -> None:
    """The documented status, a message naming what is wrong, and no traceback."""
    both = result.stdout + result.stderr
    assert "Traceback" not in both, both
    assert result.returncode == status, both
    text = " ".join(result.stderr.split())  # messages wrap on narrow terminals
    for fragment in says:
        assert fragment in text, (fragment, result.stderr)


def assert_no_staging(folder: Path) -> None:
    """Nothing half-written stays behind under a hidden staging name."""
    leftovers = [p.name for p in folder.rglob(".*") if ".partial-" in p.name]
    assert not leftovers, leftovers


BUILD = ("feed", "build", "--source", str(SYNTHETIC), "--agreement", str(AGREEMENT),
         "--period", PERIOD, "--workers", "1")  # fmt: skip

MISTAKES = {
    "endpoint without a scheme (find)": Mistake(
        ("provider", "find", "--endpoint", "localhost:8080/fhir", "--domain", "befriending"),
        2, ("--endpoint", "'localhost:8080/fhir' is not an http(s) URL"),
    ),
    "endpoint without a scheme (register)": Mistake(
        ("provider", "register", "--endpoint", "fhir.example.org", "--name", "Walk On",
         "--contact", "01632 960000", "--domains", "befriending"),
        2, ("'fhir.example.org' is not an http(s) URL",),
    ),
    "unreachable endpoint": Mistake(
        ("provider", "find", "--endpoint", UNREACHABLE, "--domain", "befriending"),
        1, (f"--endpoint {UNREACHABLE} cannot be reached", "check the URL"),
    ),
    "import of a missing file": Mistake(
        ("provider", "import", "{t}/nope.csv", "--endpoint", UNREACHABLE, "--provider", "X1"),
        1, ("{t}/nope.csv: no such file",),
    ),
    "import of a folder": Mistake(
        ("provider", "import", "{t}", "--endpoint", UNREACHABLE, "--provider", "X1"),
        1, ("FILE {t}: no such file (or it is a folder)",),
    ),
    "template over an existing file": Mistake(
        ("provider", "template", "{t}/filled.csv"), 1, ("{t}/filled.csv already exists", "--force"),
    ),
    "template into a file's place": Mistake(
        ("provider", "template", "{t}/a-file/t.csv"), 1, ("{t}/a-file is not an existing folder",),
        ("a-file/t.csv",),
    ),
    "agreement naming a folder": Mistake(
        (*BUILD, "--agreement", "{t}", "--out", "{t}/out", "--data-dir", "{t}/data"),
        1, ("--agreement {t} is a folder",), ("out",),
    ),
    "feed build --out where nothing can be written": Mistake(
        (*BUILD, "--out", "{t}/a-file/out", "--data-dir", "{t}/data"),
        1, ("--out {t}/a-file/out: cannot write in",), ("a-file/out",),
    ),
    "feed build into a folder of other files": Mistake(
        (*BUILD, "--out", "{t}/mine", "--data-dir", "{t}/data"),
        1, ("--out {t}/mine already holds files", "--force"),
    ),
    "feed build --force on a folder it did not write": Mistake(
        (*BUILD, "--out", "{t}/mine", "--data-dir", "{t}/data", "--force"),
        1, ("holds files ltcbridge did not write",),
    ),
    "feed seal --out where nothing can be written (before the build)": Mistake(
        ("feed", "seal", "--source", str(SYNTHETIC), "--agreement", str(AGREEMENT), "--period",
         PERIOD, "--key", "{t}/no-key.pem", "--recipient-key", "{t}/no-key.pem", "--out",
         "{t}/a-file/outgoing", "--data-dir", "{t}/data"),
        1, ("--out {t}/a-file/outgoing: cannot write in",), ("a-file/outgoing",),
    ),
    "demo into a file's place": Mistake(
        ("demo", "--out", "{t}/a-file/demo"), 1, ("--out {t}/a-file/demo: cannot write in",),
        ("a-file/demo",),
    ),
    "init into a file's place": Mistake(
        ("init", "{t}/a-file/practice"), 1, ("{t}/a-file",), ("a-file/practice",),
    ),
    "hub load with a store in a file's place": Mistake(
        ("hub", "load", "{t}/inbox", "--store", "{t}/a-file/hub.sqlite"),
        1, ("--store", "{t}/a-file/hub.sqlite"),
    ),
    "hub load into something that is not a store": Mistake(
        ("hub", "load", "{t}/inbox", "--store", "{t}/a-file"),
        1, ("--store {t}/a-file: cannot use it as a hub store",),
    ),
    "hub report from a mistyped store": Mistake(
        ("hub", "report", "--store", "{t}/hbu.sqlite", "--out", "{t}/report"),
        1, ("--store {t}/hbu.sqlite: no such hub store",), ("hbu.sqlite", "report"),
    ),
    "hub status of a mistyped store": Mistake(
        ("hub", "status", "--store", "{t}/hbu.sqlite"),
        1, ("--store {t}/hbu.sqlite: no such hub store",), ("hbu.sqlite",),
    ),
    "hub receive from a folder that does not exist": Mistake(
        ("hub", "receive", "--from", "folder", "--dir", "{t}/inbxo", "--keys", "{t}",
         "--key", "{t}/key.pem", "--hub", "QHM", "--store", "{t}/hub.sqlite"),
        1, ("--dir {t}/inbxo is not a folder",), ("hub.sqlite",),
    ),
}  # fmt: skip


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with what the mistakes trip over: a file where a folder is expected, a folder of
    someone else's files, a filled-in spreadsheet, a delivery folder with one report."""
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my own notes\n")
    (tmp_path / "filled.csv").write_text("row,1\n")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "report.json").write_text("{}\n")
    return tmp_path


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_user_mistake_is_named_with_the_documented_status(name: str, workspace: Path) -> None:
    mistake = MISTAKES[name]
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}

    def here(text: str) -> str:
        return text.replace("{t}", str(workspace))

    result = ltcbridge(*map(here, mistake.argv), cwd=workspace)

    assert_handled(result, mistake.status, *map(here, mistake.says))
    for gone in mistake.leaves_nothing_at:
        assert not (workspace / gone).exists(), gone
    assert_no_staging(workspace)
    assert {p: p.read_bytes() for p in before} == before  # nothing of the user's was changed


def test_an_unwritable_quarantine_leaves_no_feed(tmp_path: Path) -> None:
    """The quarantine is written before the feed is moved into place: a failure there leaves
    no feed behind (there used to be one, and a traceback)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "quarantine").write_text("a file where the quarantine folder goes\n")

    result = ltcbridge(*BUILD, "--mappings", str(SYNTHETIC / "mappings"), "--out",
                       str(tmp_path / "out"), "--data-dir", str(data), cwd=tmp_path)  # fmt: skip

    assert_handled(result, 1, f"{data / 'quarantine'}")
    assert not (tmp_path / "out").exists()
    assert_no_staging(tmp_path)


def test_a_forgotten_mappings_option_is_refused_when_nothing_is_counted(tmp_path: Path) -> None:
    """Only the patients and their template answers, without the practice's mappings: every
    measure would be 0. That is refused (exit 1), nothing written."""
    source = tmp_path / "export"
    source.mkdir()
    for name in ("Patient.ndjson", "QuestionnaireResponse.ndjson"):
        (source / name).write_bytes((SYNTHETIC / name).read_bytes())
    argv = ("feed", "build", "--source", str(source), "--agreement", str(AGREEMENT),
            "--period", PERIOD, "--workers", "1", "--data-dir", str(tmp_path / "data"))  # fmt: skip

    result = ltcbridge(*argv, "--out", str(tmp_path / "out"), cwd=tmp_path)

    assert_handled(result, 1, f"nothing in --source {source} was counted", "--mappings DIR")
    assert not (tmp_path / "out").exists()


def test_a_forgotten_mappings_option_is_a_warning_and_an_error_under_warn_error(
    tmp_path: Path,
) -> None:
    """Some measures counted, but the unmet-need templates went unread: a warning on standard
    error naming the measures (dbt's way), and with --warn-error an error with nothing written."""
    result = ltcbridge(*BUILD, "--out", str(tmp_path / "out"), "--data-dir",
                       str(tmp_path / "data"), "--warn-error", cwd=tmp_path)  # fmt: skip

    assert_handled(result, 1, "unmet-need", "templates no mapping defines", "--warn-error")
    assert not (tmp_path / "out").exists()
    assert_no_staging(tmp_path)


def test_audit_export_into_a_bad_place_or_over_an_earlier_export(workspace: Path) -> None:
    """A fresh practice (``init``): the export into a file's place, and over an existing
    export without --force, are refused and change nothing."""
    practice = workspace / "practice"
    assert_handled(ltcbridge("init", str(practice), "--key-type", "ec", cwd=workspace), 0)
    (practice / "secrets").mkdir()
    (practice / "secrets" / "provider-token").write_text("invented-token\n")
    export = ("audit", "export", "--config", str(practice / "ltcbridge.toml"), "--out")

    unwritable = ltcbridge(*export, str(workspace / "a-file" / "audit.json"), cwd=workspace)
    assert_handled(unwritable, 1, f"{workspace / 'a-file'} is not an existing folder")
    earlier = workspace / "filled.csv"  # any existing file: it is not replaced
    assert_handled(ltcbridge(*export, str(earlier), cwd=workspace), 1, "already exists", "--force")
    assert earlier.read_text() == "row,1\n"
    assert_no_staging(workspace)
