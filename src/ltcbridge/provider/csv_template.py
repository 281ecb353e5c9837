"""The small provider's spreadsheet: one header row in plain words, that Excel opens cleanly.

UTF-8 with a byte-order mark (without it Excel mangles any accent), commas, dates as YYYY-MM-DD.
One row is one thing that happened: a referral received, a session attended, a Star reading
(one column per area), or a discharge. The Star columns come from the Star's definition in the
mappings, with the names people know from the paper Star.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import orjson

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.mapping import Mappings, bundled_mappings_dir

STAR = "star-wellbeing"
ROW_TYPES = ("referral", "session", "star", "discharge")

ROW_TYPE = "Row type"
DATE = "Date"
NHS_NUMBER = "NHS number"
PRACTICE = "GP practice code"
NEEDS = "Needs"
NOTE = "Outcome or note"
FIXED_COLUMNS = (ROW_TYPE, DATE, NHS_NUMBER, PRACTICE, NEEDS, NOTE)

# The example rows, each dated this many days before the day the template is written: a date in
# the future is refused on import, so fixed dates would stop the example importing one day.
EXAMPLE_ROWS = (
    ("referral", 112, "999 000 0018", "A81001", "physical activity; befriending", ""),
    ("session", 105, "999 000 0018", "A81001", "", ""),
    ("star", 105, "999 000 0018", "A81001", "", "first reading"),
    ("discharge", 7, "999 000 0018", "A81001", "", "Walks twice a week with the group"),
)


@dataclass(frozen=True)
class Template:
    """The columns of the spreadsheet: the fixed ones, then one per area of the Star."""

    area_columns: dict[str, str]  # header -> area concept

    @property
    def header(self) -> list[str]:
        return [*FIXED_COLUMNS, *self.area_columns]


def template_for(mappings: Mappings, star: str = STAR) -> Template:
    """The template of ``star``: its areas as columns, named from the concept CodeSystem."""
    names = _display_names()
    areas = mappings.stars[star].areas
    return Template({_area_header(names.get(area, area)): area for area in areas})


def _area_header(display: str) -> str:
    """'Well-being Star: Money' -> 'Money' (the Star is implied by the sheet)."""
    return display.split(": ", 1)[-1]


def _display_names() -> dict[str, str]:
    path = bundled_mappings_dir() / "codesystem-ltcbridge-concept.json"
    system = orjson.loads(path.read_bytes())
    if system.get("url") != CONCEPT_SYSTEM:
        return {}
    return {c["code"]: c.get("display", c["code"]) for c in system.get("concept", [])}


def template_text(
    template: Template, *, example: bool = False, today: dt.date | None = None
) -> str:
    """The CSV text (without BOM): the header row, and the example rows when asked, dated back
    from ``today`` (default: the real today) so that they always import."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(template.header)
    if example:
        day = today or dt.date.today()
        star_scores = ["4", "6", "3", "5", "2", "7", "5", "3"]
        for kind, days_ago, *rest in EXAMPLE_ROWS:
            scores = star_scores if kind == "star" else []
            date = (day - dt.timedelta(days=days_ago)).isoformat()
            writer.writerow([kind, date, *rest, *scores[: len(template.area_columns)]])
    return buffer.getvalue()


def write_template(
    path: str | Path, template: Template, *, example: bool = False, today: dt.date | None = None
) -> Path:
    """Write the template as UTF-8 with BOM, the encoding Excel recognises without asking."""
    target = Path(path)
    text = template_text(template, example=example, today=today)
    target.write_text(text, encoding="utf-8-sig", newline="")
    return target
