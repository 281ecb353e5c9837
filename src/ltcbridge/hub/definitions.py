"""The FHIR definitions every code in the hub's outputs refers to, written beside the report.

The Measure definitions and the measure-group CodeSystem come from the feed's own writer (the
same lists the counters use); the concept CodeSystem (need domains, support levels, Stars and
their areas: the codes of most groups) is the bundled one. With all of them in
``DIR/definitions/`` an analyst can resolve every canonical and coding offline.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ltcbridge.errors import LtcbridgeError
from ltcbridge.feed.measure_definitions import write_definitions
from ltcbridge.mapping import bundled_mappings_dir, load_mappings

CONCEPT_CODESYSTEM = "codesystem-ltcbridge-concept.json"


def write_hub_definitions(folder: Path) -> list[Path]:
    """``folder/<Type>-<id>.json`` for every Measure and both CodeSystems; the paths written."""
    write_definitions(load_mappings(), folder)
    try:
        concept = orjson.loads((bundled_mappings_dir() / CONCEPT_CODESYSTEM).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise LtcbridgeError(
            f"the bundled {CONCEPT_CODESYSTEM} cannot be read ({exc}): reinstall ltcbridge"
        ) from None
    path = folder / f"CodeSystem-{concept['id']}.json"
    path.write_bytes(orjson.dumps(concept, option=orjson.OPT_INDENT_2) + b"\n")
    return sorted(folder.glob("*.json"))
