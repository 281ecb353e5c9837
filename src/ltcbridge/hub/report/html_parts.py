"""Pieces every section of the HTML report is built from: sections, tables, placeholders."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from ltcbridge.hub.report.svg import Bar


def section(sid: str, heading: str, body: str) -> str:
    heading_html = f'<h2 id="{sid}-h">{escape(heading)}</h2>'
    return f'<section id="{sid}" aria-labelledby="{sid}-h">{heading_html}{body}</section>'


def describe(bars: Iterable[Bar]) -> str:
    return "; ".join(f"{b.label}: {b.text}" for b in bars) + "."


def table(caption: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="table-wrap"><table><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def details(summary: str, header: list[str], rows: list[list[str]]) -> str:
    return f"<details><summary>{escape(summary)}</summary>{table(summary, header, rows)}</details>"


def placeholder(text: str) -> str:
    return f'<div class="placeholder"><p>{escape(text)}</p></div>'
