"""The commissioner feed, end to end: source -> scan -> population -> cubes -> disclosure -> files.

The privacy boundary is ``count_measures``: before it, person-level rows inside the practice;
after it, only counts (and sums beside them), which disclosure control then protects.
Quarantined lines (which can hold patient data) are written beside the feed, never inside it.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltcbridge.aggregate.cube import CellKey, Cube, month_int
from ltcbridge.aggregate.measures import CONCEPT_MEASURES, count_measure
from ltcbridge.aggregate.outcomes import (
    Scope,
    count_nhs_use,
    count_referrals,
    count_star_distance,
)
from ltcbridge.aggregate.population import Population, PopulationReport, build_population
from ltcbridge.agreement import Agreement
from ltcbridge.disclosure.cells import DisclosureRules, Published, PublishedRelease
from ltcbridge.disclosure.from_cube import disclose_cubes
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import measure_reports, prepare_validation, report_id
from ltcbridge.mapping import Mappings
from ltcbridge.model import QuarantineItem
from ltcbridge.scan import Columns, ProgressCallback, scan_source
from ltcbridge.uris import SCORE_TOTAL_EXTENSION

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# A figure of a release: (organisation, group, stratifier, stratum, measure). The organisation
# comes first so that one organisation's figures are those whose key starts with it.
FigureKey = tuple[str, str, str | None, str | None, str]


@dataclass
class FeedBuild:
    """A built (not yet sealed or sent) release, with everything a person needs to check it."""

    agreement: Agreement
    period: str
    cubes: list[Cube]  # one per measure, in the agreement's order
    published: dict[FigureKey, Published[CellKey]]
    reports: list[dict[str, Any]]
    quarantine: list[QuarantineItem]
    unmapped: Counter[tuple[str, str]]
    unmapped_questionnaires: Counter[str]
    resource_counts: Counter[str]
    population: PopulationReport
    release: PublishedRelease  # what a sender records as history once the release is sent
    facts_in_period: int = 0  # what the period's entries assert (0: is the period right?)
    files: list[Path] = field(default_factory=list)

    @property
    def masked(self) -> Counter[str]:
        return Counter(p.reason for p in self.published.values() if p.value is None)

    @property
    def orgs(self) -> list[str]:
        """The reporting organisations (the same for every measure of a release)."""
        return self.cubes[0].orgs if self.cubes else []


def check_period(period: str) -> str:
    if not PERIOD.match(period):
        raise LtcbridgeError(f"period {period!r} must be a month written YYYY-MM, e.g. 2026-10")
    return period


def build_feed(
    source: Path | str,
    mappings: Mappings,
    agreement: Agreement,
    period: str,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    history: Sequence[PublishedRelease] = (),
) -> FeedBuild:
    """Read a bulk export and build the month's release of every measure the agreement names.

    `history` is every release sent before to the same recipient under the same agreement
    (`HistoryStore.load`); with secondary suppression the new release is protected against them,
    all measures together.
    """
    scanned = scan_for_feed(
        source, mappings, period, agreement.measures, workers=workers, progress=progress
    )
    return build_release(scanned, mappings, agreement, period, history=history)


@dataclass(frozen=True)
class ScannedSource:
    """One scan of an export for one month: every release of that month can be built from it."""

    columns: Columns
    population: Population


def scan_for_feed(
    source: Path | str,
    mappings: Mappings,
    period: str,
    measures: Iterable[str] | None = None,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ScannedSource:
    """One read of an export for the month's releases of ``measures`` (by default every measure).

    Facts from other months are kept only as far as the measures look back on them."""
    check_period(period)
    columns = scan_source(
        source,
        mappings,
        workers=workers,
        progress=progress,
        months=[period],
        look_back=measures is None or not set(measures) <= CONCEPT_MEASURES.keys(),
        meanwhile=prepare_validation,  # needed once the scan is done
    )
    return ScannedSource(columns, build_population(columns))


def build_release(
    scanned: ScannedSource,
    mappings: Mappings,
    agreement: Agreement,
    period: str,
    *,
    history: Sequence[PublishedRelease] = (),
) -> FeedBuild:
    """The month's release under one agreement, from a scan (several agreements may share one)."""
    columns, population = scanned.columns, scanned.population
    if not (columns.look_back or set(agreement.measures) <= CONCEPT_MEASURES.keys()):
        raise LtcbridgeError(
            "internal error: this scan kept no earlier facts, so it cannot build the outcome "
            f"measures of {agreement.id}; scan with those measures named (scan_for_feed)"
        )
    if not agreement.exclude_optouts:
        population = replace(population, opted_out=np.zeros_like(population.opted_out))
    cubes = count_measures(population, mappings, agreement, period)
    per_cube, release = disclose_cubes(
        cubes,
        DisclosureRules(agreement.threshold, agreement.rounding),
        secondary=agreement.secondary,
        history=history,
        pcn_of=mappings.pcn_of,
    )
    reports = [
        report
        for cube, published in zip(cubes, per_cube, strict=True)
        for report in measure_reports(cube, published, agreement.rounding)
    ]
    return FeedBuild(
        agreement=agreement,
        period=period,
        cubes=cubes,
        published={
            (*key, measure_slug(cube.measure)): cell
            for cube, published in zip(cubes, per_cube, strict=True)
            for key, cell in published.items()
        },
        reports=reports,
        quarantine=columns.quarantine,
        unmapped=columns.unmapped,
        unmapped_questionnaires=columns.unmapped_questionnaires,
        resource_counts=columns.resource_counts,
        population=population.report,
        release=release,
        facts_in_period=int(np.count_nonzero(population.fact_date // 100 == month_int(period))),
    )


def count_measures(
    population: Population, mappings: Mappings, agreement: Agreement, period: str
) -> list[Cube]:
    """Every measure the agreement names, counted for one month (person-level data stops here)."""
    scope = Scope(period, agreement.level, agreement.breakdowns, mappings.pcn_of)
    cubes: list[Cube] = []
    for name in agreement.measures:
        if name in CONCEPT_MEASURES:
            cubes.append(
                count_measure(
                    CONCEPT_MEASURES[name],
                    population,
                    period,
                    level=agreement.level,
                    stratifiers=agreement.breakdowns,
                    pcn_of=mappings.pcn_of,
                )
            )
        elif name == "referrals":
            cubes.append(count_referrals(population, scope))
        elif name == "nhs-use":
            cubes.append(count_nhs_use(population, scope, agreement.unit_costs))
        else:
            cubes.extend(_star_cubes(population, mappings, scope))
    return cubes


def _star_cubes(population: Population, mappings: Mappings, scope: Scope) -> list[Cube]:
    """One cube per Star the mappings define; the first keeps the plain canonical."""
    cubes, base = [], 0
    for index, star in enumerate(sorted(mappings.stars)):
        areas = mappings.stars[star].areas
        cube = count_star_distance(population, scope, star, areas, base)
        if index:
            cube.measure = f"{cube.measure}-{star}"
        cubes.append(cube)
        base += len(areas)
    return cubes


def measure_slug(canonical: str) -> str:
    """``.../Measure/unmet-need`` -> ``unmet-need``."""
    return canonical.rstrip("/").rsplit("/", 1)[-1]


def write_feed(build: FeedBuild, out_dir: Path | str, quarantine_dir: Path | str) -> list[Path]:
    """Write the MeasureReports (one JSON file each) and the analysts' CSV; quarantine apart."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for report in build.reports:
        path = out / f"{report['id']}.json"
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        files.append(path)
    files.append(_write_csv(build, out / f"feed-{build.period}.csv"))
    if build.quarantine:
        files.append(write_quarantine(build.quarantine, Path(quarantine_dir)))
    build.files = files
    return files


def _write_csv(build: FeedBuild, path: Path) -> Path:
    """Every figure of the release, one row each, as the MeasureReports carry them."""
    scores = {
        (measure_slug(r["measure"]), r["reporter"]["identifier"]["value"], code, name, stratum):
        score
        for r in build.reports
        for code, name, stratum, score in _scores_of(r)
    }  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["measure", "period", "level", "org", "report", "group", "stratifier", "stratum",
             "count", "status", "mean", "total", "unit"]
        )  # fmt: skip
        for cube in build.cubes:
            slug = measure_slug(cube.measure)
            for key, _ in cube.cells():
                org, group, stratifier, stratum = key
                cell = build.published[(*key, slug)]
                mean, total, unit = scores.get(
                    (slug, org, group, stratifier, stratum), ("", "", "")
                )
                writer.writerow(
                    [
                        cube.measure, build.period, cube.level, org, report_id(cube, org), group,
                        stratifier or "", stratum or "",
                        "" if cell.value is None else cell.value,
                        f"masked ({cell.reason})" if cell.value is None else "published",
                        mean, total, unit,
                    ]
                )  # fmt: skip
    return path


def _scores_of(report: dict[str, Any]) -> list[tuple[str, str | None, str | None, tuple]]:
    """(group, stratifier, stratum, (mean, total, unit)) of every scored element of a report."""
    found = []
    for group in report["group"]:
        code = group["code"]["coding"][0]["code"]
        elements = [(None, None, group)] + [
            (st["code"][0]["text"], s["value"]["coding"][0]["code"], s)
            for st in group.get("stratifier", ())
            for s in st["stratum"]
        ]
        for name, stratum, element in elements:
            if "measureScore" in element:
                score = element["measureScore"]
                total = next(e["valueDecimal"] for e in element["extension"]
                             if e["url"] == SCORE_TOTAL_EXTENSION)  # fmt: skip
                found.append((code, name, stratum, (score["value"], total, score["unit"])))
    return found


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
