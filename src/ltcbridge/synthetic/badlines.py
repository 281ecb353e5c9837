"""Bad input lines, each of a known kind, so the reader's quarantine can be checked line by line.

Most go to Mixed.ndjson; an impossible date also sits inside Observation.ndjson and the bad NHS
number inside Patient.ndjson (see mess.invalid_nhs), because real exports mix bad lines in.
Bad lines carry only mapped codes, so they never change truth.unmapped however a reader counts.
"""

from __future__ import annotations

import orjson

from . import records
from .ledger import Ledger
from .people import Person
from .practices import Practice

MIXED = "Mixed.ndjson"


def write_bad_lines(ledger: Ledger, practice: Practice, person: Person, month: str) -> None:
    """One of every bad-line kind (two impossible dates), about a real person where one applies."""
    need = practice.template.coding_for("need-physical-activity")
    good = records.entry("Observation", "bad-template", person.ref, f"{month}-05", codings=[need])
    text = orjson.dumps(good)
    ledger.write_raw(MIXED, text[: len(text) // 2], "malformed-json")
    ledger.write(
        dict(good, resourceType="Obsrvation", id="bad-unknown-type"),
        file=MIXED,
        quarantine="unknown-resource-type",
    )
    nameless = {k: v for k, v in good.items() if k != "resourceType"}
    ledger.write(dict(nameless, id="bad-no-type"), file=MIXED, quarantine="missing-resource-type")
    orphan = {k: v for k, v in good.items() if k != "subject"}
    ledger.write(dict(orphan, id="bad-no-subject"), file=MIXED, quarantine="missing-subject")
    year_only = records.entry("Condition", "bad-year-only", person.ref, "2026", codings=[need])
    ledger.write(year_only, file=MIXED, quarantine="imprecise-date")
    feb = records.entry("Procedure", "bad-feb-30", person.ref, "2026-02-30", codings=[need])
    ledger.write(feb, file=MIXED, quarantine="impossible-date")
    inline = records.entry(
        "Observation", "bad-date-inline", person.ref, "2026-11-31T10:00:00Z", codings=[need]
    )
    ledger.write(inline, quarantine="impossible-date")
