"""Tidy CSV files, one per table, for analysts and BI tools (UTF-8, header row, empty = null)."""

from __future__ import annotations

import csv
from pathlib import Path

from ltcbridge.hub.report.cells_safe import inert_row
from ltcbridge.hub.report.tables import TidyTable


def write_csv(tables: list[TidyTable], folder: Path) -> list[Path]:
    """``folder/<table>.csv`` for every table, streamed row by row; text that a spreadsheet would
    run as a formula is made inert (``cells_safe``)."""
    written = []
    for table in tables:
        path = folder / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(inert_row(table.header))
            writer.writerows(inert_row(row) for row in table.rows())
        written.append(path)
    return written
