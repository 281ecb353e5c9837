"""Share documents: what a practice sends each aggregator, and what the helper sends the leader.

A document is shaped like the feed's MeasureReport (same measure, reporter, period, group and
stratifier codes), so it travels through the unchanged seal/send/receive path with its checks
(the sender signs it, the reporter must be the sender, the period and measure must match). Where
the feed writes ``population.count`` a share document writes the share as a decimal string in an
extension: a share is an element of a 61-bit field, and FHIR integers are 32-bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ltcbridge.counts import Cube
from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_report import group_system
from ltcbridge.period import month_end_int
from ltcbridge.secagg.field import PRIME, as_elements, as_texts
from ltcbridge.uris import ODS_CODE

BASE = "https://ltcbridge.github.io/fhir/StructureDefinition/secagg-"
SHARE = BASE + "share"  # valueString: the share of this cell, decimal
KIND = BASE + "kind"  # valueCode: "share" (practice) or "partial-sum" (helper to leader)
INDEX = BASE + "index"  # valueInteger: 1 = the leader's share, 2 = the helper's
FIELD = BASE + "field"  # valueString: the prime, so a change of field is caught, not mis-summed
BATCH = BASE + "batch"  # valueString: the batch id a partial sum is over
AREA = BASE + "area"  # valueString: the area a partial sum is for
PRACTICE = BASE + "practice"  # valueString, repeated: the practices a partial sum covers

# One cell of a measure: (group, stratifier or None, stratum or None), in Cube.cells() order.
Cell = tuple[str, str | None, str | None]
Layout = tuple[Cell, ...]


class ShareDocumentError(LtcbridgeError):
    """A share document is not one ltcbridge wrote; nothing of it is kept."""


@dataclass(frozen=True)
class ShareSet:
    """One sender's shares of one measure and month, cell by cell (``layout`` order)."""

    kind: str  # "share" or "partial-sum"
    sender: str  # the practice (a share) or the helper aggregator (a partial sum)
    measure: str
    month: str
    index: int  # which share: 1 (leader's) or 2 (helper's)
    layout: Layout
    elements: np.ndarray  # uint64 field elements, one per cell
    batch: str | None = None
    area: str | None = None
    practices: tuple[str, ...] = ()


def layout_of(cube: Cube) -> Layout:
    """The cells of one organisation of ``cube``, in the order ``Cube.cells`` yields them."""
    return tuple(
        cell
        for group in cube.groups
        for cell in (
            (group, None, None),
            *((group, name, s) for name in cube.strata for s in cube.strata_of(name)),
        )
    )


def counts_of(cube: Cube, org: str) -> np.ndarray:
    """One organisation's exact counts, in ``layout_of`` order (read from the arrays directly:
    going through ``Cube.cells`` would walk every organisation for each one)."""
    o = cube.orgs.index(org)
    parts: list[np.ndarray] = []
    for g in range(len(cube.groups)):
        parts.append(cube.totals[o, g : g + 1])
        parts.extend(cube.strata[name][o, g] for name in cube.strata)
    return np.concatenate(parts).astype(np.int64)


def share_document(shares: ShareSet) -> dict[str, Any]:
    """The MeasureReport-shaped document carrying ``shares``."""
    end = str(month_end_int(shares.month))
    extension: list[dict[str, Any]] = [
        {"url": KIND, "valueCode": shares.kind},
        {"url": INDEX, "valueInteger": shares.index},
        {"url": FIELD, "valueString": str(PRIME)},
    ]
    if shares.batch is not None:
        extension += [
            {"url": BATCH, "valueString": shares.batch},
            {"url": AREA, "valueString": shares.area or ""},
            *({"url": PRACTICE, "valueString": p} for p in shares.practices),
        ]
    slug = shares.measure.rstrip("/").rsplit("/", 1)[-1]
    return {
        "resourceType": "MeasureReport",
        "id": f"{slug}-{shares.sender}-{shares.month}-share{shares.index}",
        "status": "complete",
        "type": "summary",
        "measure": shares.measure,
        "period": {"start": f"{shares.month}-01", "end": f"{end[:4]}-{end[4:6]}-{end[6:]}"},
        "reporter": {"identifier": {"system": ODS_CODE, "value": shares.sender}},
        "extension": extension,
        "group": _groups(shares.layout, as_texts(shares.elements)),
    }


def _groups(layout: Layout, texts: Sequence[str]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    by_name: dict[tuple[str, str], dict[str, Any]] = {}
    for (group, name, stratum), text in zip(layout, texts, strict=True):
        share = [{"url": SHARE, "valueString": text}]
        if name is None:
            groups.append(
                {
                    "code": {"coding": [{"system": group_system(group), "code": group}]},
                    "extension": share,
                    "stratifier": [],
                }
            )
            continue
        stratifier = by_name.get((group, name))
        if stratifier is None:
            stratifier = by_name[(group, name)] = {"code": [{"text": name}], "stratum": []}
            groups[-1]["stratifier"].append(stratifier)
        stratifier["stratum"].append({"value": {"coding": [{"code": stratum}]}, "extension": share})
    return groups


def read_share_document(report: dict[str, Any]) -> ShareSet:
    """Parse a share document back; every problem is a ``ShareDocumentError`` naming the report."""
    name = str(report.get("id", "?"))
    try:
        ext = _extensions(report.get("extension", []))
        if ext.get(FIELD, [None])[0] != str(PRIME):
            raise ShareDocumentError(f"{name}: shares are not in the field p = 2**61 - 1")
        layout, texts = _cells(report.get("group", []))
        return ShareSet(
            kind=str(ext[KIND][0]),
            sender=str(report["reporter"]["identifier"]["value"]),
            measure=str(report["measure"]),
            month=str(report["period"]["start"])[:7],
            index=int(ext[INDEX][0]),
            layout=layout,
            elements=as_elements(texts),
            batch=ext.get(BATCH, [None])[0],
            area=ext.get(AREA, [None])[0],
            practices=tuple(ext.get(PRACTICE, [])),
        )
    except ShareDocumentError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise ShareDocumentError(
            f"{name} is not an ltcbridge share document ({exc!r}): ask the sender to resend it "
            "with a current ltcbridge"
        ) from None


def _extensions(items: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for item in items:
        value = next(v for k, v in item.items() if k.startswith("value"))
        found.setdefault(item["url"], []).append(value)
    return found


def _cells(groups: list[dict[str, Any]]) -> tuple[Layout, list[str]]:
    layout: list[Cell] = []
    texts: list[str] = []
    for group in groups:
        code = str(group["code"]["coding"][0]["code"])
        layout.append((code, None, None))
        texts.append(_share(group))
        for stratifier in group.get("stratifier", []):
            name = str(stratifier["code"][0]["text"])
            for stratum in stratifier["stratum"]:
                layout.append((code, name, str(stratum["value"]["coding"][0]["code"])))
                texts.append(_share(stratum))
    return tuple(layout), texts


def _share(element: dict[str, Any]) -> str:
    return str(_extensions(element["extension"])[SHARE][0])
