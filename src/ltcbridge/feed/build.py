"""The unmet-need feed, end to end: source -> scan -> population -> cube -> disclosure -> files.

The privacy boundary is the line between ``_count`` and ``_disclose``: before it, person-level
rows inside the practice; after it, only counts. Quarantined lines (which can hold patient data)
are written beside the feed, never inside it.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.aggregate.cube import CellKey, Cube
from ltcbridge.aggregate.measures import UNMET_NEED, count_measure
from ltcbridge.aggregate.population import PopulationReport, build_population
from ltcbridge.agreement import Agreement
from ltcbridge.disclosure.cells import DisclosureRules, Published, PublishedRelease
from ltcbridge.disclosure.from_cube import disclose_cube
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import measure_reports, report_id
from ltcbridge.mapping import Mappings
from ltcbridge.model import QuarantineItem
from ltcbridge.scan import ProgressCallback, scan_source

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass
class FeedBuild:
    """A built (not yet sealed or sent) release, with everything a person needs to check it."""

    agreement: Agreement
    period: str
    cube: Cube
    published: dict[CellKey, Published[CellKey]]
    reports: list[dict[str, Any]]
    quarantine: list[QuarantineItem]
    unmapped: Counter[tuple[str, str]]
    unmapped_questionnaires: Counter[str]
    resource_counts: Counter[str]
    population: PopulationReport
    release: PublishedRelease  # what a sender records as history once the release is sent
    files: list[Path] = field(default_factory=list)

    @property
    def masked(self) -> Counter[str]:
        return Counter(p.reason for p in self.published.values() if p.value is None)


def check_period(period: str) -> str:
    if not PERIOD.match(period):
        raise LtcbridgeError(f"period {period!r} must be a month written YYYY-MM, e.g. 2026-10")
    return period


def build_unmet_need_feed(
    source: Path | str,
    mappings: Mappings,
    agreement: Agreement,
    period: str,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    history: Sequence[PublishedRelease] = (),
) -> FeedBuild:
    """Read a bulk export and build the month's unmet-need release under an agreement.

    `history` is every release sent before to the same recipient under the same agreement
    (`HistoryStore.load`); with secondary suppression the new release is protected against them.
    """
    check_period(period)
    columns = scan_source(source, mappings, workers=workers, progress=progress, months=[period])
    population = build_population(columns)
    if not agreement.exclude_optouts:
        population.opted_out[:] = False
    cube = count_measure(
        UNMET_NEED,
        population,
        period,
        level=agreement.level,
        stratifiers=agreement.breakdowns,
        pcn_of=mappings.pcn_of,
    )
    published, release = disclose_cube(
        cube,
        DisclosureRules(agreement.threshold, agreement.rounding),
        secondary=agreement.secondary,
        history=history,
        pcn_of=mappings.pcn_of,
    )
    return FeedBuild(
        agreement=agreement,
        period=period,
        cube=cube,
        published=published,
        reports=measure_reports(cube, published),
        quarantine=columns.quarantine,
        unmapped=columns.unmapped,
        unmapped_questionnaires=columns.unmapped_questionnaires,
        resource_counts=columns.resource_counts,
        population=population.report,
        release=release,
    )


def write_feed(build: FeedBuild, out_dir: Path | str, quarantine_dir: Path | str) -> list[Path]:
    """Write the MeasureReports (one JSON file each) and the analysts' CSV; quarantine apart."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for report in build.reports:
        path = out / f"{report['id']}.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        files.append(path)
    files.append(_write_csv(build, out / f"unmet-need-{build.period}.csv"))
    if build.quarantine:
        files.append(write_quarantine(build.quarantine, Path(quarantine_dir)))
    build.files = files
    return files


def _write_csv(build: FeedBuild, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["measure", "period", "level", "org", "report", "group", "stratifier", "stratum",
             "count", "status"]
        )  # fmt: skip
        cube = build.cube
        for (org, group, stratifier, stratum), cell in build.published.items():
            writer.writerow(
                [
                    cube.measure, build.period, cube.level, org, report_id(cube, org), group,
                    stratifier or "", stratum or "",
                    "" if cell.value is None else cell.value,
                    f"masked ({cell.reason})" if cell.value is None else "published",
                ]
            )  # fmt: skip
    return path


def write_quarantine(items: list[QuarantineItem], directory: Path) -> Path:
    """Bad input, one JSON object a line, with where it came from and what is wrong."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "quarantine.ndjson"
    with path.open("wb") as handle:
        for item in items:
            handle.write(
                orjson.dumps(
                    {
                        "file": item.file,
                        "line": item.line,
                        "resource": item.resource,
                        "reason": item.reason,
                        "path": item.path,
                        "message": item.message,
                        "raw": item.raw,
                    }
                )
                + b"\n"
            )
    return path
