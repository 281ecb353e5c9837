"""Writing the generated set to disk: NDJSON per resource type, mappings/, truth.json.

Everything is written in a fixed order with fixed formatting so the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .ledger import Ledger
from .practices import Practice
from .questionnaires import questionnaire
from .templates import TEMPLATES, conceptmap


def dump_json(path: Path, data: Any) -> None:
    """FHIR JSON in its natural key order (resourceType first), indented like the contract."""
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_ndjson(out: Path, ledger: Ledger) -> list[dict[str, Any]]:
    """Write each file's lines; return the quarantine rows with their 1-based line numbers."""
    quarantine = []
    for name in sorted(ledger.lines):
        lines = ledger.lines[name]
        (out / name).write_bytes(b"".join(text + b"\n" for text, _ in lines))
        for number, (_, q) in enumerate(lines, start=1):
            if q is not None:
                quarantine.append(
                    {"file": name, "line": number, "resource": q.resource, "reason": q.reason}
                )
    return quarantine


def write_mappings(out: Path, practices: list[Practice]) -> None:
    """The practices' ConceptMaps and Questionnaires, the IMD lookup and PCN membership."""
    mappings = out / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    for template in TEMPLATES:
        for spec in template.maps:
            dump_json(mappings / f"conceptmap-{spec.id}.json", conceptmap(template, spec))
        dump_json(mappings / f"questionnaire-{template.key}.json", questionnaire(template))
    rows = sorted({(pc.replace(" ", ""), q) for p in practices for pc, q in p.area.known})
    csv = "postcode,imd_quintile\n" + "".join(f"{pc},{q}\n" for pc, q in rows)
    (mappings / "postcode-imd.csv").write_text(csv, encoding="utf-8")
    pcns = "practice,pcn\n" + "".join(f"{p.ods},{p.pcn}\n" for p in practices)
    (mappings / "pcn-membership.csv").write_text(pcns, encoding="utf-8")


def write_truth(out: Path, truth: dict[str, Any]) -> None:
    """truth.json: sorted keys, indent 1."""
    text = json.dumps(truth, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    (out / "truth.json").write_text(text, encoding="utf-8")
