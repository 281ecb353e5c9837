"""What would leave, as tables a person reads before a release is sealed (`feed preview`, and the
daemon's preview beside each monthly release's manifest). Drawn from the protected release
itself, so the tables are exactly what would leave: masked figures read "masked".
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from ltcbridge.disclosure.protected import FigureKey, ProtectedMeasure, ProtectedRelease

MASKED_TEXT = "masked"


def release_tables(release: ProtectedRelease, org: str | None = None) -> list[Table]:
    """Every table of a release (of one organisation's figures, or all)."""
    return [
        table
        for measure in release.measures
        for each in measure.orgs
        if org is None or each == org
        for table in measure_tables(measure, each, release.terms.period)
    ]


def preview_text(release: ProtectedRelease, org: str | None = None) -> str:
    """The tables as plain text, for a file beside the manifest."""
    console = Console(file=io.StringIO(), record=True, width=120)
    for table in release_tables(release, org):
        console.print(table)
    return console.export_text()


def measure_tables(measure: ProtectedMeasure, org: str, period: str) -> list[Table]:
    """One table per breakdown of one organisation's figures (rows: groups; columns: all, then
    each stratum), from the protected release itself: exactly what would leave."""
    title = f"{measure.slug} · {org} · {period}"
    if not measure.stratifiers:
        return [_table(title, measure, org, None, ())]
    return [
        _table(f"{title} · by {name}", measure, org, name, strata)
        for name, strata in measure.stratifiers
    ]


def _table(
    title: str, measure: ProtectedMeasure, org: str, name: str | None, strata: tuple[str, ...]
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("group", no_wrap=True)
    for column in ("all", *strata):
        table.add_column(column, justify="right")
    for group in measure.groups:
        row = [_group_words(group), _figure(measure, (org, group, None, None))]
        row += [_figure(measure, (org, group, name, stratum)) for stratum in strata]
        table.add_row(*row)
    return table


def _group_words(code: str) -> str:
    """``need-physical-activity`` -> ``physical activity``; ``need-any`` -> ``any of these``."""
    return "any of these" if code == "need-any" else code.removeprefix("need-").replace("-", " ")


def _figure(measure: ProtectedMeasure, key: FigureKey) -> str:
    """A group's or stratum's count (or masked), with its mean score when it has one."""
    figure = measure.figures[key]
    if figure.count is None:
        return MASKED_TEXT
    unit = measure.score_units.get(key[1], "")
    mean = f" (mean {figure.mean:+g} {unit})" if figure.mean is not None else ""
    return f"{figure.count}{mean}"
