"""Reading the small provider's CSV: every row checked, every problem said in plain words.

This module only reads and checks; nothing here touches a server. A row is either a clean
:class:`Row` or one or more :class:`RowProblem` with its spreadsheet row number (the header is
row 1, as Excel shows it) and what to change.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ltcbridge.mapping import Mappings
from ltcbridge.nhs_number import is_valid_nhs_number
from ltcbridge.provider.csv_template import (
    DATE,
    FIXED_COLUMNS,
    NEEDS,
    NHS_NUMBER,
    NOTE,
    PRACTICE,
    ROW_TYPE,
    ROW_TYPES,
    STAR,
    Template,
)
from ltcbridge.provider.domains import known_domains_text, parse_domains
from ltcbridge.provider.stars import score_problem

ODS_PATTERN = re.compile(r"^[A-Z0-9]{3,10}$")


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one row (row 0: the file as a whole), and what to do about it."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}" if self.row else self.message


@dataclass(frozen=True)
class Row:
    """One checked row: a referral, session, star or discharge for one person."""

    number: int
    kind: str
    date: dt.date
    nhs_number: str
    practice: str
    needs: tuple[str, ...] = ()
    note: str = ""
    scores: dict[str, int] = field(default_factory=dict)


@dataclass
class ParsedFile:
    rows: list[Row] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    data_rows: int = 0  # rows that were not blank


def parse_csv(
    data: bytes, template: Template, mappings: Mappings, *, today: dt.date | None = None
) -> ParsedFile:
    """Check the whole file; a file-level problem (encoding, header) stops every row."""
    parsed = ParsedFile()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        parsed.problems.append(
            RowProblem(
                0, "the file is not UTF-8: in Excel use Save As, 'CSV UTF-8 (Comma delimited)'"
            )
        )
        return parsed
    lines = list(csv.reader(io.StringIO(text, newline="")))
    if not lines or not any(cell.strip() for cell in lines[0]):
        parsed.problems.append(
            RowProblem(0, "the file is empty: start from `ltcbridge provider template OUT.csv`")
        )
        return parsed
    columns, header_problems = _columns(lines[0], template)
    if header_problems:
        parsed.problems.extend(header_problems)
        return parsed
    checker = _RowChecker(template, mappings, columns, today or dt.date.today())
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        parsed.data_rows += 1
        row, problems = checker.check(number, cells)
        parsed.problems.extend(problems)
        if row is not None:
            parsed.rows.append(row)
    return parsed


def _columns(header: list[str], template: Template) -> tuple[dict[str, int], list[RowProblem]]:
    wanted = {_key(h): h for h in template.header}
    columns: dict[str, int] = {}
    problems = []
    for index, name in enumerate(header):
        if not name.strip():
            continue  # Excel leaves empty trailing columns
        canonical = wanted.get(_key(name))
        if canonical is None:
            problems.append(
                RowProblem(
                    1,
                    f"column {name.strip()!r} is not in the template; "
                    "remove it or rename it to a template column",
                )
            )
        elif canonical in columns:
            problems.append(RowProblem(1, f"column {canonical!r} appears twice; keep one"))
        else:
            columns[canonical] = index
    missing = [h for h in FIXED_COLUMNS if h not in columns]
    if missing:
        problems.append(
            RowProblem(
                1,
                f"missing column(s) {', '.join(map(repr, missing))}: "
                "copy the header row from the template",
            )
        )
    return columns, problems


def _key(name: str) -> str:
    return " ".join(name.strip().lower().split())


class _RowChecker:
    def __init__(
        self, template: Template, mappings: Mappings, columns: dict[str, int], today: dt.date
    ) -> None:
        self.template = template
        self.star = mappings.stars[STAR]
        self.columns = columns
        self.today = today

    def check(self, number: int, cells: list[str]) -> tuple[Row | None, list[RowProblem]]:
        messages: list[str] = []
        if len(cells) > len(self.template.header) and any(
            c.strip() for c in cells[len(self.template.header) :]
        ):
            messages.append(
                f"has {len(cells)} cells but the template has "
                f"{len(self.template.header)} columns: check for a stray comma"
            )

        def cell(name: str) -> str:
            index = self.columns.get(name)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        kind = cell(ROW_TYPE).lower()
        if kind not in ROW_TYPES:
            messages.append(f"Row type {cell(ROW_TYPE)!r} is not one of {', '.join(ROW_TYPES)}")
        date = self._date(cell(DATE), messages)
        nhs = self._nhs_number(cell(NHS_NUMBER), messages)
        practice = cell(PRACTICE).upper()
        if not ODS_PATTERN.match(practice):
            messages.append(
                f"GP practice code {cell(PRACTICE)!r} is not an ODS code "
                "(letters and digits, like A81001)"
            )
        needs = self._needs(kind, cell(NEEDS), messages)
        scores = self._scores(kind, cell, messages)
        if kind == "discharge" and not cell(NOTE):
            messages.append("a discharge needs 'Outcome or note': a sentence for the GP")
        if messages or date is None or nhs is None:
            return None, [RowProblem(number, m) for m in messages]
        return Row(number, kind, date, nhs, practice, needs, cell(NOTE), scores), []

    def _date(self, text: str, messages: list[str]) -> dt.date | None:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            messages.append(f"Date {text!r} is not written YYYY-MM-DD (for example 2026-10-01)")
            return None
        try:
            date = dt.date.fromisoformat(text)
        except ValueError:
            messages.append(f"Date {text!r} is not a real date")
            return None
        if date > self.today:
            messages.append(f"Date {text} is in the future")
            return None
        return date

    def _nhs_number(self, text: str, messages: list[str]) -> str | None:
        digits = text.replace(" ", "").replace("-", "")
        if not is_valid_nhs_number(digits):
            messages.append(
                f"NHS number {text!r} is not a valid NHS number (10 digits, "
                "the last a check digit): copy it again from the referral"
            )
            return None
        return digits

    def _needs(self, kind: str, text: str, messages: list[str]) -> tuple[str, ...]:
        found, unknown = parse_domains(text)
        if unknown:
            messages.append(
                f"Needs {', '.join(unknown)!r} not understood: use "
                f"{known_domains_text()}, separated by ';'"
            )
        return found

    def _scores(self, kind: str, cell: Callable[[str], str], messages: list[str]) -> dict[str, int]:
        scores: dict[str, int] = {}
        filled = {h: cell(h) for h in self.template.area_columns if cell(h)}
        if kind != "star":
            if filled:
                messages.append(
                    f"Star scores are only for 'star' rows; clear "
                    f"{', '.join(filled)} or set Row type to star"
                )
            return scores
        if not filled:
            messages.append("a star row needs at least one score (one column per Star area)")
        for header, text in filled.items():
            area = self.template.area_columns[header]
            value: object = int(text) if re.fullmatch(r"[+-]?\d+", text) else text
            problems = score_problem(self.star, area, value)
            if problems:
                messages.append(
                    f"{header}: {text!r} is not a whole number from "
                    f"{self.star.min_score} to {self.star.max_score}"
                )
            else:
                scores[area] = value  # type: ignore[assignment]
        return scores
