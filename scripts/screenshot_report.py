"""Render an HTML report in headless Chromium and save a PNG, to check it in a real browser.

    python scripts/screenshot_report.py REPORT.html OUT.png [--width 1280] [--height 3000]

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Exit status 0 when the PNG was
written, 1 otherwise (with Chromium's output). Runs offline: background networking is off, and the
report itself loads nothing from the network.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str:
    """The first Chromium on PATH, or a clear error saying how to install it."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no Chromium found: apt-get install -y chromium (as root)")


def screenshot(report: Path, out: Path, width: int = 1280, height: int = 3000) -> Path:
    """Write a PNG of ``report`` as Chromium draws it; raise with its output if none appears."""
    out = out.resolve()
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="ltcbridge-chromium-") as profile:
        command = [
            find_browser(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", "--hide-scrollbars",
            f"--screenshot={out}", f"--window-size={width},{height}",
            report.resolve().as_uri(),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot:\n{result.stdout}\n{result.stderr}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    try:
        path = screenshot(args.report, args.out, args.width, args.height)
    except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
