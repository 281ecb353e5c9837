"""The unsealed feed on disk: one MeasureReport JSON file each, and one CSV of the same figures.

Both are written from the protected release alone. The CSV says of a masked figure only that it
is masked: why (a small count, or a complement protecting one) is for the practice's IG lead,
in the manifest, since knowing which masks are complements tells a reader where the small
numbers are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.disclosure.protected import ProtectedRelease
from ltcbridge.feed.measure_report import report_id

CSV_COLUMNS = ("measure", "period", "level", "org", "report", "group", "stratifier", "stratum",
               "count", "status", "mean", "total", "unit")  # fmt: skip


def write_feed(
    release: ProtectedRelease, reports: list[dict[str, Any]], out_dir: Path | str
) -> list[Path]:
    """Write the MeasureReports (one JSON file each) and the analysts' CSV into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for report in reports:
        path = out / f"{report['id']}.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        files.append(path)
    files.append(write_csv(release, out / f"feed-{release.terms.period}.csv"))
    return files


def write_csv(release: ProtectedRelease, path: Path) -> Path:
    """Every figure of the release, one row each, as the MeasureReports carry them."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in csv_rows(release):
            writer.writerow(["" if value is None else value for value in row.values()])
    return path


def csv_rows(release: ProtectedRelease) -> Iterator[dict[str, Any]]:
    """The CSV's rows as ``CSV_COLUMNS``-keyed dicts (``None`` where the CSV is empty), shared
    by the CSV and ``feed preview --json`` so both always show the same figures."""
    terms = release.terms
    for measure in release.measures:
        for org in measure.orgs:
            report = report_id(measure, org, terms.period)
            for key in measure.keys(org):
                figure = measure.figures[key]
                _, group, stratifier, stratum = key
                scored = figure.score_total is not None
                yield dict(zip(CSV_COLUMNS, (
                    measure.canonical, terms.period, terms.level, org, report, group,
                    stratifier or None, stratum or None,
                    None if figure.masked else figure.count,
                    "masked" if figure.masked else "published",
                    figure.mean,
                    figure.score_total if scored else None,
                    measure.score_units.get(group, "") if scored else None,
                ), strict=True))  # fmt: skip
