"""MeasureReports in the contract's shape from plain numbers, for tests and the scale benchmark.

``None`` as a count makes a masked population (no ``count``, data-absent-reason ``masked``), just
as a practice's feed writes it; the hub must never read it as zero. Every coding carries its
system (stratifiers and strata too; the hub still reads older reports' text-only stratifiers)
and every report its ``date``.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ltcbridge.concepts import CONCEPT_SYSTEM, NEED_ANY, NEED_DOMAINS, STRATIFIERS
from ltcbridge.feed.measure_report import stratum_system
from ltcbridge.hub.config import UNMET_NEED
from ltcbridge.uris import DATA_ABSENT_REASON, MEASURE_POPULATION, ODS_CODE, STRATIFIER_SYSTEM

Cell = tuple[str, str | None, str | None]  # (group, stratifier, stratum)


def stratifier_code(name: str) -> list[dict[str, Any]]:
    """A stratifier's ``code``: a coding with its system, and the name as text."""
    return [{"coding": [{"system": STRATIFIER_SYSTEM, "code": name}], "text": name}]


def stratum_value(stratifier: str, value: str) -> dict[str, Any]:
    """A stratum's ``value``: an ODS code for a provider, else the stratifier's own values."""
    return {"coding": [{"system": stratum_system(stratifier, value), "code": value}]}


_CODE = {"coding": [{"system": MEASURE_POPULATION, "code": "initial-population"}]}


def population(count: int | None) -> dict[str, Any]:
    if count is None:
        return {"code": _CODE, "extension": [{"url": DATA_ABSENT_REASON, "valueCode": "masked"}]}
    return {"code": _CODE, "count": count}


def measure_report(
    org: str,
    period: str,
    cells: Mapping[Cell, int | None],
    measure: str = UNMET_NEED,
    date: str | None = None,
) -> dict[str, Any]:
    """A summary MeasureReport with a group per distinct group code in ``cells``; ``date``
    (when it was made, ISO 8601) defaults to now."""
    year, month = int(period[:4]), int(period[5:])
    last = calendar.monthrange(year, month)[1]
    groups: dict[str, dict[str, Any]] = {}
    for (group, stratifier, stratum), count in cells.items():
        entry = groups.setdefault(group, {"code": {"coding": [{"system": CONCEPT_SYSTEM,
                                                               "code": group}]},
                                          "population": [], "stratifier": []})  # fmt: skip
        if stratifier is None:
            entry["population"] = [population(count)]
            continue
        strat = next((s for s in entry["stratifier"] if s["code"][0]["text"] == stratifier), None)
        if strat is None:
            strat = {"code": stratifier_code(stratifier), "stratum": []}
            entry["stratifier"].append(strat)
        strat["stratum"].append({"value": stratum_value(stratifier, str(stratum)),
                                 "population": [population(count)]})  # fmt: skip
    slug = measure.rstrip("/").rsplit("/", 1)[-1]
    return {
        "resourceType": "MeasureReport",
        "id": f"{slug}-{org}-{period}",
        "status": "complete",
        "type": "summary",
        "measure": measure,
        "date": date or datetime.now(UTC).isoformat(timespec="seconds"),
        "period": {"start": f"{period}-01", "end": f"{period}-{last:02d}"},
        "reporter": {"identifier": {"system": ODS_CODE, "value": org}},
        "group": list(groups.values()),
    }


def random_cells(
    rng: random.Random, threshold: int = 7, rounding: int = 5
) -> dict[Cell, int | None]:
    """A plausible practice month: every need group and stratum, small counts masked, others
    rounded, as a practice's disclosure control would publish them."""
    cells: dict[Cell, int | None] = {}
    for group in (NEED_ANY, *NEED_DOMAINS):
        people = rng.randint(0, 60)
        cells[(group, None, None)] = _published(people, threshold, rounding)
        for stratifier, strata in STRATIFIERS.items():
            for stratum, share in zip(strata, _split(rng, people, len(strata)), strict=True):
                cells[(group, stratifier, stratum)] = _published(share, threshold, rounding)
    return cells


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _published(count: int, threshold: int, rounding: int) -> int | None:
    if 1 <= count <= threshold:
        return None
    return rounding * round(count / rounding)
