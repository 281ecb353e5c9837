"""The analysts' workbook: an About sheet, then one sheet per tidy table (openpyxl, streamed).

Every text cell is inert (``cells_safe``: never a formula). A sheet holds at most Excel's
1,048,576 rows; a longer table is cut there and the About sheet says so and points to the CSV
file, which is always complete.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from ltcbridge.extras import HUB, optional_imports
from ltcbridge.hub.report.cells_safe import sheet_cell, sheet_row
from ltcbridge.hub.report.tables import TidyTable

with optional_imports(HUB):
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

EXCEL_ROWS = 1_048_576


def write_xlsx(tables: list[TidyTable], path: Path, title: str, max_rows: int = EXCEL_ROWS) -> Path:
    """Write the workbook; ``max_rows`` (header included) caps each sheet."""
    book = Workbook(write_only=True)
    about = book.create_sheet("About")
    about.append(sheet_row(about, [title]))
    about.append([])
    about.append(sheet_row(about, ["sheet", "what it holds", "rows"]))
    for table in tables:
        sheet = book.create_sheet(table.name)
        written, cut = _fill(sheet, table, max_rows)
        note = f"{written}" + (f" (cut at the sheet limit: see {table.name}.csv)" if cut else "")
        about.append(sheet_row(about, [table.name, table.about, note]))
    book.save(path)
    return path


def _fill(sheet: WriteOnlyWorksheet, table: TidyTable, max_rows: int) -> tuple[int, bool]:
    sheet.freeze_panes = "A2"
    sheet.append([_bold(sheet, name) for name in table.header])
    rows = table.rows()
    written = 0
    for row in itertools.islice(rows, max_rows - 1):
        sheet.append(sheet_row(sheet, row))
        written += 1
    cut = next(rows, None) is not None
    return written, cut


def _bold(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    cell = sheet_cell(sheet, value)
    cell.font = Font(bold=True)
    return cell
