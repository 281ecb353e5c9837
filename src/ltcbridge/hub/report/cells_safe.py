"""Every CSV field and workbook cell the hub writes from received text is inert.

Org codes, stratum codes, agreement ids, rejection details and the like come from releases, and
the hub is a target: a spreadsheet opens a text cell that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return, which some tools strip first) as a formula, which can run commands
or send data away. So such text is written with a leading single quote (shown, never evaluated),
and in the workbook every text cell is written with the string data type, never as a formula.
Numbers and booleans are written as they are: they come from the hub's own arithmetic.

Every CSV and XLSX writer of the hub goes through this module, so no writer can forget it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ltcbridge.extras import HUB, optional_imports

with optional_imports(HUB):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would read as a formula; that text
    gets a leading single quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_row(row: Iterable[Any]) -> list[Any]:
    """A CSV row with every field made inert."""
    return [inert(value) for value in row]


def sheet_cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    """A workbook cell for ``value``: text as an inert string cell (data type ``s``, never a
    formula, whatever it starts with); anything else as it is."""
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=inert(value))
    cell.data_type = "s"  # openpyxl makes text starting with "=" a formula unless told otherwise
    return cell


def sheet_row(sheet: WriteOnlyWorksheet, row: Iterable[Any]) -> list[Any]:
    """A workbook row of inert cells."""
    return [sheet_cell(sheet, value) for value in row]
