"""People who opted out are in no figure of any measure: a release built with them equals one
built from a record from which they were removed altogether."""

from __future__ import annotations

from pathlib import Path

import orjson
from core_data import SYNTHETIC, WINDOW

from ltcbridge.agreement import MEASURES, parse_agreement
from ltcbridge.errors import BadResource
from ltcbridge.identifiable.model import EntryRecord, PatientRecord
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.read import Reader
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import Mappings
from ltcbridge.pipeline import count_measures

MONTHS = ("2026-09", "2026-10", "2026-11")
AGREEMENT = parse_agreement({
    "agreement": {"id": "DSA-T", "recipient": "QHM", "internal_recipient": True} | WINDOW,
    "disclosure": {"threshold": 0, "rounding": 1, "secondary": False},
    "breakdowns": {"allowed": ["age-band", "sex", "ethnicity-group", "imd-quintile", "provider"]},
    "unit_costs": {"gp-attendances": 42, "ae-attendances": 180, "prescriptions": 9,
                   "unplanned-admissions": 1850},
})  # fmt: skip


def _figures(source: Path, mappings: Mappings, exclude: bool = True) -> dict[tuple, float]:
    """Every non-zero count and score of every measure, over the months."""
    population = build_population(scan_source(source, mappings))
    if not exclude:
        population.opted_out[:] = False
    figures: dict[tuple, float] = {}
    for month in MONTHS:
        for cube in count_measures(population, mappings, AGREEMENT, month):
            figures |= {(cube.measure, month, *k): n for k, n in cube.cells() if n}
            figures |= {(cube.measure, month, "score", *k): v for k, v in cube.scores.items() if v}
    return figures


def _opted_out(mappings: Mappings) -> set[str]:
    """Who opted out (NHS number, else Patient/id), as the population decided it."""
    population = build_population(scan_source(SYNTHETIC, mappings, keep_identity=True))
    assert population.identity is not None
    return {population.identity[i] for i in population.opted_out.nonzero()[0]}


def _without(people: set[str], mappings: Mappings, out: Path) -> Path:
    """The fixtures with every line of those people (their Patient and their entries) left out."""
    reader = Reader(mappings)
    ids = {p.removeprefix("Patient/") for p in people} | {p for p in people if p.isdigit()}
    out.mkdir()
    for path in SYNTHETIC.glob("*.ndjson"):
        kept = []
        for line in path.read_bytes().splitlines():
            try:
                record = reader.read(orjson.loads(line))
            except (orjson.JSONDecodeError, BadResource):
                record = None
            if isinstance(record, PatientRecord) and (
                record.version.id in ids or record.nhs_number in ids
            ):
                continue
            if isinstance(record, EntryRecord) and record.subject and record.subject[1] in ids:
                continue
            kept.append(line)
        (out / path.name).write_bytes(b"\n".join(kept) + b"\n")
    return out


def test_opted_out_people_are_in_no_figure_of_any_measure(
    tmp_path: Path, synthetic_mappings: Mappings
) -> None:
    people = _opted_out(synthetic_mappings)
    assert len(people) >= 3
    with_them = _figures(SYNTHETIC, synthetic_mappings)
    without_them = _figures(
        _without(people, synthetic_mappings, tmp_path / "x"), synthetic_mappings
    )
    assert with_them == without_them
    counted_anyway = _figures(SYNTHETIC, synthetic_mappings, exclude=False)
    differs = {key[0].rsplit("/", 1)[-1] for key in counted_anyway.keys() ^ with_them.keys()}
    differs |= {k[0].rsplit("/", 1)[-1] for k in with_them if with_them[k] != counted_anyway.get(k)}
    # they do have entries, in unmet need and in outcome measures: the test is not vacuous
    assert "unmet-need" in differs and differs & {"referrals", "star-distance-travelled", "nhs-use"}
    assert AGREEMENT.measures == MEASURES  # every measure was compared
