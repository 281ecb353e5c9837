"""The counter against the fixture generator's truth, which was computed independently of it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from core_data import SYNTHETIC

from ltcbridge.concepts import STRATIFIERS
from ltcbridge.identifiable.measures import count_measure
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.scan import Columns, scan_source
from ltcbridge.mapping import Mappings
from ltcbridge.measure_catalogue import UNMET_NEED

Cell = tuple[str, str, str, str, str | None, str | None]


def _expected(truth: dict[str, Any]) -> dict[Cell, int]:
    return {
        (r["level"], r["org"], r["month"], r["group"], r["stratifier"], r["stratum"]): r["count"]
        for r in truth["unmet_need"]
    }


def _counted(population, months: list[str], mappings: Mappings) -> dict[Cell, int]:  # type: ignore[no-untyped-def]
    counted: dict[Cell, int] = {}
    for level in ("practice", "pcn"):
        for month in months:
            cube = count_measure(
                UNMET_NEED, population, month, level=level, stratifiers=list(STRATIFIERS),
                pcn_of=mappings.pcn_of,
            )  # fmt: skip
            for (org, group, stratifier, stratum), count in cube.cells():
                if count:
                    counted[(level, org, month, group, stratifier, stratum)] = count
    return counted


def test_every_cell_of_every_month_and_level_matches_the_truth(
    truth, synthetic_population, synthetic_mappings
) -> None:
    expected = _expected(truth)
    months = sorted({cell[2] for cell in expected})
    assert len(months) >= 3 and len(expected) > 1000
    counted = _counted(synthetic_population, months, synthetic_mappings)
    wrong = {k: (expected.get(k), counted.get(k)) for k in expected.keys() | counted.keys()
             if expected.get(k) != counted.get(k)}  # fmt: skip
    assert wrong == {}


def test_both_practice_templates_are_read_through_mappings_alone(truth) -> None:
    """PCN U00002's template (own codes, url, nested items) counts people like PCN U00001's."""
    pcn_totals = {
        r["org"]: r["count"]
        for r in truth["unmet_need"]
        if r["level"] == "pcn" and r["group"] == "need-any" and r["stratifier"] is None
    }
    assert pcn_totals.get("U00001", 0) > 0 and pcn_totals.get("U00002", 0) > 0


def test_people_opt_outs_and_practices_match_the_truth(truth, synthetic_population) -> None:
    report = synthetic_population.report
    people = truth["people"]
    assert report.patients == people["patients"] - people["invalid_nhs"]
    assert report.opted_out == people["opted_out_now"]
    assert report.without_practice == people["no_practice"]


def test_quarantine_names_every_bad_line_and_nothing_else(truth, synthetic_columns) -> None:
    expected = {(q["file"], q["line"], q["reason"], q["resource"]) for q in truth["quarantine"]}
    found = {(q.file, q.line, q.reason, q.resource) for q in synthetic_columns.quarantine}
    assert found == expected
    for item in synthetic_columns.quarantine:
        assert item.message and item.raw, item
        if item.reason not in ("malformed-json", "missing-resource-type"):
            assert item.path, item


def test_unmapped_codes_are_counted_like_the_truth(truth, synthetic_columns) -> None:
    found = {f"{system}|{code}": n for (system, code), n in synthetic_columns.unmapped.items()}
    assert found == truth["unmapped"]


@pytest.mark.parametrize("workers", [1, 2])
def test_chunked_and_parallel_scans_count_exactly_like_one_pass(
    workers: int, synthetic_mappings: Mappings, synthetic_columns: Columns, truth
) -> None:
    """Cutting files into many chunks (and reading them in two processes) changes nothing."""
    meanwhile: list[int] = []
    chunked = scan_source(
        SYNTHETIC,
        synthetic_mappings,
        workers=workers,
        chunk_bytes=4096,
        meanwhile=lambda: meanwhile.append(os.getpid()),
    )
    assert len(chunked.lines) > 20  # really cut into many chunks
    # work given to do while workers scan is done once, here, and only when there are workers
    assert meanwhile == ([os.getpid()] if workers > 1 else [])
    expected = _expected(truth)
    months = sorted({cell[2] for cell in expected})
    assert _counted(build_population(chunked), months, synthetic_mappings) == expected
    assert sorted((q.file, q.line) for q in chunked.quarantine) == sorted(
        (q.file, q.line) for q in synthetic_columns.quarantine
    )
