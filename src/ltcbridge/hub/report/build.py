"""All outputs at once: tidy CSV, the workbook and the HTML report, from one collation, and the
FHIR definitions their codes refer to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ltcbridge.errors import LtcbridgeError
from ltcbridge.hub.collate import Collator
from ltcbridge.hub.definitions import write_hub_definitions
from ltcbridge.hub.report.area_totals import AreaTotals
from ltcbridge.hub.report.csv_out import write_csv
from ltcbridge.hub.report.data import ReportData, gather
from ltcbridge.hub.report.html import write_html
from ltcbridge.hub.report.tables import tidy_tables
from ltcbridge.hub.report.xlsx import write_xlsx


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    xlsx: Path
    csv: list[Path]
    data: ReportData
    definitions: list[Path]

    def moved(self, old: Path, new: Path) -> ReportFiles:
        """The same files once their folder ``old`` was moved to ``new`` (the command line
        writes a report into a staging folder and moves it into place whole)."""

        def at(path: Path) -> Path:
            return new / path.relative_to(old)

        return ReportFiles(
            html=at(self.html),
            xlsx=at(self.xlsx),
            csv=[at(p) for p in self.csv],
            data=self.data,
            definitions=[at(p) for p in self.definitions],
        )


def write_report(
    collator: Collator, out: Path | str, area: AreaTotals | None = None
) -> ReportFiles:
    """``out/report.html``, ``out/hub.xlsx``, ``out/csv/*.csv`` and ``out/definitions/``;
    ``area``: secure aggregation's area totals, shown beside the ranges."""
    out = Path(out)
    try:
        (out / "csv").mkdir(parents=True, exist_ok=True)
        (out / "definitions").mkdir(exist_ok=True)
    except OSError as exc:
        raise LtcbridgeError(f"cannot create the report folder {out}: {exc}") from None
    data = gather(collator)
    data.area_totals = area
    tables = tidy_tables(collator, (data.icb_outcomes, data.outcomes), area)
    csv_files = write_csv(tables, out / "csv")
    title = f"ltcbridge hub: {collator.config.name}, produced {data.generated}"
    xlsx = write_xlsx(tables, out / "hub.xlsx", title)
    html = write_html(data, out / "report.html")
    definitions = write_hub_definitions(out / "definitions")
    return ReportFiles(html, xlsx, csv_files, data, definitions)
