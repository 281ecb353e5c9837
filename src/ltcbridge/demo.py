"""``ltcbridge demo``: the whole journey available today, on synthetic practices, in one command.

It generates a small bulk export of invented people (NHS test numbers only) from six practices in
two PCNs, each practice coding its template its own way, with the mess of real records; then
builds the month's feed at practice and at PCN level under the bundled demo agreement, and says
what happened in plain words.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ltcbridge.agreement import Agreement, load_agreement
from ltcbridge.build_summary import summarise
from ltcbridge.disclosure.cells import PublishedRelease
from ltcbridge.feed.files import write_feed
from ltcbridge.feed.measure_definitions import write_definitions
from ltcbridge.mapping import load_mappings
from ltcbridge.pipeline import build_release, scan_for_feed, write_quarantine
from ltcbridge.private_data import QUARANTINE_DIR, private_dir
from ltcbridge.synthetic import generate


def demo_agreement_path() -> Path:
    return Path(str(resources.files("ltcbridge") / "bundled" / "demo-agreement.toml"))


def run_demo(
    out: Path,
    period: str,
    console: Console,
    agreement: Agreement | None = None,
    *,
    shown_as: Path | None = None,
) -> int:
    """Run the demo into ``out``; ``agreement`` replaces the bundled demo agreement.

    ``shown_as``: the folder the user named, when ``out`` is a staging folder that will be moved
    there once the demo is complete (the messages name where the files will be, not where they
    are being written)."""

    def shown(path: Path) -> str:
        return escape(str(shown_as / path.relative_to(out) if shown_as else path))

    source = out / "gp-export"
    console.print(f"[bold]1. A GP bulk export[/] of synthetic practices -> {shown(source)}")
    generate(source)
    mappings = load_mappings([source / "mappings"])
    own = shown(source / "mappings")
    console.print(f"[bold]2. Mappings[/]: the bundled ones plus the practices' own ({own})")
    agreement = agreement or load_agreement(demo_agreement_path())
    practice_data = private_dir(out / "practice-data")  # in a real practice: its data directory
    scanned = scan_for_feed(source, mappings, period)  # one read serves both levels
    history: list[PublishedRelease] = []  # the PCN release is protected against the practices'
    for level in ("practice", "pcn"):
        feed_dir = out / f"feed-{level}"
        console.print(f"\n[bold]3. The {period} feed at {level} level[/] -> {shown(feed_dir)}")
        build = build_release(
            scanned, mappings, replace(agreement, level=level), period, history=history
        )
        history.append(build.release)
        write_feed(build.protected, build.reports, feed_dir)
        for line in summarise(build):
            console.print(f"   {escape(line)}")
    quarantine = write_quarantine(build.quarantine, practice_data / QUARANTINE_DIR, period)
    definitions = write_definitions(mappings, out / "definitions")
    console.print(
        f"\n[bold]4. What the measures mean[/]: {len(definitions)} FHIR definitions (Measure, "
        f"CodeSystem) the reports refer to -> {shown(out / 'definitions')}"
        "\n\nQuarantined input (patient data, stays in the practice, owner-only): "
        f"{shown(quarantine)}"
        f"\nThe feed is unsealed here for inspection; nothing was sent anywhere."
    )
    return 0
