"""The privacy boundary is structural: import rules that fail when the feed reaches person-level
code (the contracts in .importlinter, run by CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(source: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT), str(ROOT / ".importlinter"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=source, check=False,
    )  # fmt: skip


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_feed_module_reaching_the_scan_breaks_the_build(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "ltcbridge", tmp_path / "ltcbridge")
    files = tmp_path / "ltcbridge" / "feed" / "files.py"
    files.write_text(
        files.read_text() + "\nfrom ltcbridge.identifiable.scan import scan_source  # noqa\n"
    )
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "ltcbridge.feed is not allowed to import ltcbridge.identifiable" in result.stdout
    assert "ltcbridge.feed.files -> ltcbridge.identifiable.scan" in result.stdout
