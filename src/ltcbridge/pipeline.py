"""A month's release, end to end: source -> scan -> population -> cubes -> the privacy gate.

Everything before `protect_release` is inside the practice: person-level rows, true counts. The
gate turns the counts into a `ProtectedRelease`, the only thing the feed writes, seals or sends;
`FeedBuild` keeps it beside what stays in the practice (the history entry, the reasons for each
mask, the quarantine, the diagnostics) for the practice's own summary and manifest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltcbridge.agreement import Agreement
from ltcbridge.counts import Cube
from ltcbridge.disclosure.cells import PublishedRelease
from ltcbridge.disclosure.gate import GateResult, protect_release
from ltcbridge.disclosure.protected import ProtectedRelease, ReleaseTerms
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.manifest import Manifest, build_manifest
from ltcbridge.feed.measure_report import prepare_validation, release_reports
from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.identifiable.measures import count_measure
from ltcbridge.identifiable.model import QuarantineItem
from ltcbridge.identifiable.outcomes import (
    Scope,
    count_nhs_use,
    count_referrals,
    count_star_distance,
)
from ltcbridge.identifiable.population import Population, PopulationReport, build_population
from ltcbridge.identifiable.scan import Columns, ProgressCallback, scan_source
from ltcbridge.mapping import Mappings
from ltcbridge.measure_catalogue import CONCEPT_MEASURES
from ltcbridge.period import check_period, month_int
from ltcbridge.private_data import write_private


@dataclass
class FeedBuild:
    """A built (not yet sealed or sent) release, with everything a person needs to check it.

    Only `protected` (and the `reports` written from it) may leave the practice.
    """

    agreement: Agreement
    period: str
    cubes: list[Cube]  # true counts, one cube per measure: the practice's own summary only
    gate: GateResult
    reports: list[dict[str, Any]]
    quarantine: list[QuarantineItem]
    unmapped: Counter[tuple[str, str]]
    unmapped_questionnaires: Counter[str]
    resource_counts: Counter[str]
    population: PopulationReport
    diagnostics: Counter[str] = field(default_factory=Counter)  # the export's log, error files
    notes: Counter[str] = field(default_factory=Counter)  # read, though not as written
    facts_in_period: int = 0  # what the period's entries assert (0: is the period right?)
    files: list[Path] = field(default_factory=list)

    @property
    def protected(self) -> ProtectedRelease:
        """What may leave: published figures only."""
        return self.gate.protected

    @property
    def release(self) -> PublishedRelease:
        """The history entry recorded when the release is sealed (true counts: stays here)."""
        return self.gate.history_entry

    @property
    def masked(self) -> Counter[str]:
        """How many figures were masked, by reason (for the practice's summary)."""
        return self.gate.masked_by_reason()

    @property
    def orgs(self) -> tuple[str, ...]:
        """The reporting organisations (the same for every measure of a release)."""
        return self.protected.orgs


def manifest_of(build: FeedBuild, meta: ReleaseMeta | None = None) -> Manifest:
    """The IG lead's manifest of a build (of the sender's figures once sealed)."""
    org = meta.sender if meta is not None else None
    agreement = build.agreement
    return build_manifest(
        build.protected,
        build.gate.masked_by_reason(org),
        opted_out=build.population.opted_out,
        optouts_excluded=agreement.exclude_optouts,
        warnings=tuple(agreement.warnings()),
        breakdowns=tuple(agreement.breakdowns),
        meta=meta,
    )


def release_terms(agreement: Agreement, period: str) -> ReleaseTerms:
    """The agreement's rules as the release carries them."""
    return ReleaseTerms(
        agreement_id=agreement.id,
        recipient=agreement.recipient,
        purpose=agreement.purpose,
        period=period,
        level=agreement.level,
        threshold=agreement.threshold,
        rounding=agreement.rounding,
        secondary=agreement.secondary,
        internal_recipient=agreement.internal_recipient,
    )


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

    `history` is every release recorded before (`HistoryStore.load_all`: any recipient, any
    agreement); the new release is protected against them, all measures together.
    """
    scanned = scan_for_feed(
        source, mappings, period, agreement.measures, workers=workers, progress=progress
    )
    return build_release(scanned, mappings, agreement, period, history=history)


@dataclass(frozen=True)
class ScannedSource:
    """One scan of an export for one month: every release of that month can be built from it.

    After ``scan_for_feed`` the columns keep their tallies and quarantine, not their rows."""

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
        prefilter=True,  # lines that cannot count are left unparsed
    )
    population = build_population(columns)
    columns.drop_rows()  # the population holds what counts; the release needs only the tallies
    return ScannedSource(columns, population)


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
    gate = protect_release(
        cubes, release_terms(agreement, period), history=history, pcn_of=mappings.pcn_of
    )
    return FeedBuild(
        agreement=agreement,
        period=period,
        cubes=cubes,
        gate=gate,
        reports=release_reports(gate.protected),
        quarantine=columns.quarantine,
        unmapped=columns.unmapped,
        unmapped_questionnaires=columns.unmapped_questionnaires,
        resource_counts=columns.resource_counts,
        population=population.report,
        diagnostics=columns.diagnostics,
        notes=columns.notes,
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
        definition = mappings.stars[star]
        score_range = (definition.min_score, definition.max_score)
        cube = count_star_distance(population, scope, star, areas, base, score_range)
        if index:
            cube.measure = f"{cube.measure}-{star}"
        cubes.append(cube)
        base += len(areas)
    return cubes


def write_quarantine(items: list[QuarantineItem], directory: Path, period: str) -> Path:
    """Bad input, one JSON object a line, with where it came from and what is wrong.

    It holds whole patient resources, so it is written owner-only (0600 in a 0700 folder), one
    file per build (``PERIOD-TIME.ndjson``), never overwritten by a later build."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = directory / f"quarantine-{period}-{stamp}.ndjson"
    with write_private(path) as handle:
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
