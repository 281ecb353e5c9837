"""What stays in the practice stays private: owner-only, never inside --out, never in the feed."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from ltcbridge.cli import main
from ltcbridge.cli.support import OUTPUT_MARK
from sealing.helpers import DEMO_AGREEMENT, PERIOD, PRACTICE, SYNTHETIC, keys, write_pem

BUILD = ["--source", str(SYNTHETIC), "--mappings", str(SYNTHETIC / "mappings"),
         "--agreement", str(DEMO_AGREEMENT), "--period", PERIOD, "--workers", "1"]  # fmt: skip


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_feed_build_keeps_the_quarantine_owner_only_outside_out(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    assert main(["feed", "build", *BUILD, "--out", str(out), "--data-dir", str(data)]) == 3
    (quarantine,) = (data / "quarantine").glob("*.ndjson")
    assert _mode(data) == 0o700 and _mode(data / "quarantine") == 0o700
    assert _mode(quarantine) == 0o600
    assert '"resourceType"' in quarantine.read_text()  # whole resources: patient data
    feed = [p for p in out.iterdir() if p.name != OUTPUT_MARK]  # the mark --force looks for
    assert {p.suffix for p in feed} == {".json", ".csv"}  # nothing else beside the feed
    assert not list(tmp_path.glob("*quarantine*"))


def test_the_csv_says_masked_and_never_why(tmp_path: Path) -> None:
    """Which masks are complements tells a reader where the small numbers are."""
    out = tmp_path / "out"
    main(["feed", "build", *BUILD, "--out", str(out), "--data-dir", str(tmp_path / "data")])
    (table,) = out.glob("*.csv")
    statuses = {row["status"] for row in csv.DictReader(table.open())}
    assert statuses == {"masked", "published"}
    text = table.read_text()
    assert "secondary" not in text and "primary" not in text and "history" not in text


def test_seal_writes_history_receipts_and_manifest_owner_only(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    key = write_pem(tmp_path / "k.pem", keys().practice, private=True)
    hub = write_pem(tmp_path / "hub.pem", keys().hub, private=False)
    status = main(["feed", "seal", *BUILD, "--key", str(key), "--recipient-key", str(hub),
                   "--sender", PRACTICE, "--out", str(out), "--data-dir", str(data)])  # fmt: skip
    assert status == 3
    (manifest,) = (data / "releases").glob("*.manifest.md")
    for path in (data / "history.sqlite", data / "receipts.sqlite", manifest):
        assert _mode(path) == 0o600, path
    assert "to protect other masked figures" in manifest.read_text()  # the reasons live here
    assert [p.suffix for p in out.iterdir()] == [".jwe"]


@pytest.mark.parametrize("command", ["build", "seal"])
def test_a_data_dir_inside_out_is_refused(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "drop"
    extra = []
    if command == "seal":
        key = write_pem(tmp_path / "k.pem", keys().practice, private=True)
        hub = write_pem(tmp_path / "hub.pem", keys().hub, private=False)
        extra = ["--key", str(key), "--recipient-key", str(hub), "--sender", PRACTICE]
    status = main(["feed", command, *BUILD, *extra, "--out", str(out),
                   "--data-dir", str(out / "data")])  # fmt: skip
    assert status == 1
    assert "would be inside --out" in capsys.readouterr().err
    assert not list(out.rglob("*.json")) and not list(out.rglob("*.jwe"))


def test_an_existing_loose_data_dir_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    main(["feed", "build", *BUILD, "--out", str(tmp_path / "out"), "--data-dir", str(data)])
    assert _mode(data) == 0o700


def test_the_solver_prints_nothing_on_the_commands_output(tmp_path: Path) -> None:
    """HiGHS prints a banner from C when an instance is made; a command's output is its own."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ltcbridge.cli", "feed", "build", *BUILD, "--out",
         str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "Disclosure:" in result.stdout  # the secondary suppression ran
    assert "HiGHS" not in result.stdout + result.stderr
