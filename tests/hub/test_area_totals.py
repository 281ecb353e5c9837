"""Issue 15, item 3: the report shows secure aggregation's area totals beside the ranges.

One month of ten practices goes through the real secure aggregation (the secagg tests' two
aggregators, in process) into the leader's share store, and the same practices' own protected
figures go into a hub store. The report with ``--area-figures`` must show each area figure of the
store as the number, say which figure is which, say 'masked' for a masked one and never why; the
report without it must be as before."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pytest
from hub_data import meta, with_rules
from openpyxl import load_workbook
from test_cli_hub import hub

from ltcbridge.cli.hub import read_area_totals
from ltcbridge.concepts import NEED_ANY
from ltcbridge.disclosure.cells import MASKED, Release
from ltcbridge.disclosure.secondary import primary_only
from ltcbridge.errors import LtcbridgeError
from ltcbridge.hub.collate import Collator, TotalRow
from ltcbridge.hub.config import UNMET_NEED, HubConfig
from ltcbridge.hub.report.area_totals import AREA_SOURCE, RANGE_SOURCE, AreaTotals, area_totals
from ltcbridge.hub.report.build import ReportFiles, write_report
from ltcbridge.hub.report.data import gather, label
from ltcbridge.hub.report.html import render_html
from ltcbridge.hub.report.tables import TOTAL_HEADER
from ltcbridge.hub.rules import ReleaseRules
from ltcbridge.hub.store import HubStoreDb, open_store
from ltcbridge.hub.synthetic import measure_report
from ltcbridge.secagg.document import counts_of, layout_of
from ltcbridge.secagg.store import AreaFigure
from ltcbridge.secagg.volume import IcbMonth
from secagg.helpers import AGREEMENT, RULES, Aggregators, month

REASONS = ("primary", "secondary", "history", "practice")


@dataclass
class Stores:
    data: IcbMonth
    leader: Path  # the leader aggregator's share store
    figures: list[AreaFigure]
    hub: HubStoreDb
    hub_path: Path
    config: HubConfig


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    root = tmp_path_factory.mktemp("area")
    data = month(10)
    aggregators = Aggregators(root / "aggregators")
    aggregators.contribute(data, data.cube.orgs)
    assert aggregators.run(data).refused == []
    figures = aggregators.leader.area_figures()
    aggregators.close()
    rules = ReleaseRules(AGREEMENT, RULES.threshold, RULES.rounding, False)
    layout = layout_of(data.cube)
    hub_path = root / "hub.sqlite"
    with open_store(hub_path) as store:
        for practice in data.cube.orgs:
            cells = dict(zip(layout, (int(n) for n in counts_of(data.cube, practice)), strict=True))
            sent = primary_only(Release(cells, []), RULES).values
            published = {key: None if value is MASKED else value for key, value in sent.items()}
            report = measure_report(practice, data.cube.month, published, UNMET_NEED)
            store.add_release(
                meta(sender=practice, period=data.cube.month), [with_rules(report, rules)]
            )
        config = HubConfig(name="Area ICB", icb=data.icb, practices=dict(data.pcn_of))
        yield Stores(data, aggregators.leader.path, figures, store, hub_path, config)


@pytest.fixture(scope="module")
def reports(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ReportFiles]:
    root = tmp_path_factory.mktemp("reports")
    collator = Collator(stores.hub, stores.config)
    return {
        "with": write_report(collator, root / "with", read_area_totals(stores.leader)),
        "without": write_report(collator, root / "without"),
    }


def _csv(files: ReportFiles, name: str = "totals") -> list[dict[str, str]]:
    path = next(p for p in files.csv if p.stem == name)
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _key(measure: str, period: str, level: str, org: str, group: str, stratifier: str | None,
         stratum: str | None) -> tuple:  # fmt: skip
    return measure, period, level, org, group, stratifier or None, stratum or None


def test_the_store_gives_shown_and_masked_figures_for_both_levels(stores: Stores) -> None:
    """The fixture is worth testing against: numbers and masks, PCNs and the ICB, reasons."""
    assert {f.level for f in stores.figures} == {"pcn", "icb"}
    assert any(f.value is None for f in stores.figures)
    assert any(f.value is not None for f in stores.figures)
    assert {f.reason for f in stores.figures if f.value is None} - {None}


def test_csv_and_workbook_carry_every_area_figure_and_say_which_is_which(
    stores: Stores, reports: dict[str, ReportFiles]
) -> None:
    figures = {
        _key(f.measure, f.month, f.level, f.area, f.group, f.stratifier, f.stratum): f.value
        for f in stores.figures
    }
    rows = _csv(reports["with"])
    assert list(rows[0])[-2:] == ["area_total", "area_total_source"]
    matched = set()
    for row in rows:
        key = _key(*(row[c] for c in TOTAL_HEADER[:7]))
        if key in figures:
            value = figures[key]
            assert row["area_total"] == ("masked" if value is None else str(value)), key
            assert row["area_total_source"] == AREA_SOURCE
            matched.add(key)
        else:
            assert row["area_total"] == row["area_total_source"] == ""
    assert matched == set(figures)  # every area figure found its row (areas and cells agree)
    book = load_workbook(reports["with"].xlsx, read_only=True)
    sheet = [list(r) for r in book["totals"].iter_rows(values_only=True)]
    assert sheet[0][-2:] == ["area_total", "area_total_source"]
    for shown, row in zip(sheet[1:], rows, strict=True):
        assert str(shown[-2] if shown[-2] is not None else "") == row["area_total"]
        assert (shown[-1] or "") == row["area_total_source"]
    about = [list(r) for r in book["About"].iter_rows(values_only=True)]
    assert any(RANGE_SOURCE in str(r[1]) for r in about if r and r[0] == "totals")


def test_html_shows_the_area_number_beside_the_range(
    stores: Stores, reports: dict[str, ReportFiles]
) -> None:
    html = reports["with"].html.read_text(encoding="utf-8")
    assert f"People: {AREA_SOURCE}" in html and f"People: {RANGE_SOURCE}" in html
    month_ = stores.data.cube.month
    shown = 0
    for f in stores.figures:
        if f.stratifier is None and f.level == "pcn":  # the PCN table: domain totals
            cell = f"<td>{f.area}</td><td>{escape(label(f.group))}</td><td>{f.value:,}</td>"
        elif f.stratifier is None:  # the trends table: the ICB's domain totals by month
            cell = f"<td>{month_}</td><td>{escape(label(f.group))}</td><td>{f.value:,}</td>"
        elif f.level == "icb" and f.group == NEED_ANY:  # the inequalities tables
            value = "masked" if f.value is None else f"{f.value:,}"
            cell = f"<td>{escape(label(f.stratum))}</td><td>{value}</td>"
        else:
            continue
        assert cell in html, cell
        shown += 1
    assert shown > 10


def test_a_masked_area_figure_says_masked_in_the_html(stores: Stores) -> None:
    data = gather(Collator(stores.hub, stores.config))
    row: TotalRow = next(iter(data.breakdowns.values()))[0]
    key = (row.measure, row.period, row.level, row.org, row.group, row.stratifier, row.stratum)
    data.area_totals = AreaTotals({key: None})
    html = render_html(data)
    assert f"<td>{escape(label(row.stratum))}</td><td>masked</td><td>" in html
    assert "<td>none</td>" in html  # the other strata have no figure here, and say so


def test_no_reason_appears_anywhere(reports: dict[str, ReportFiles]) -> None:
    """The words of masking reasons occur exactly as often as in the report without area
    figures, once the added labels are taken out (the note and headings name 'practice')."""
    added = re.compile(r"<p>The table shows two figures.*?</p>|People: [^<]*")
    texts = {name: added.sub("", files.html.read_text(encoding="utf-8"))
             for name, files in reports.items()}  # fmt: skip
    for word in REASONS:
        assert texts["with"].count(word) == texts["without"].count(word), word
    for row in _csv(reports["with"]):
        assert row["area_total"] not in REASONS and "reason" not in row
    book = load_workbook(reports["with"].xlsx, read_only=True)
    for sheet_row in book["totals"].iter_rows(values_only=True):
        assert not {str(v) for v in sheet_row[-2:]} & set(REASONS)


def test_without_area_figures_the_report_is_as_before(reports: dict[str, ReportFiles]) -> None:
    without, with_ = reports["without"], reports["with"]
    assert list(_csv(without)[0]) == list(TOTAL_HEADER)
    stripped = [{k: v for k, v in row.items() if not k.startswith("area_total")}
                for row in _csv(with_)]  # fmt: skip
    assert stripped == _csv(without)  # the ranges themselves are unchanged
    for path in without.csv:
        if path.stem != "totals":
            assert path.read_bytes() == (with_.csv[0].parent / path.name).read_bytes()
    html = without.html.read_text(encoding="utf-8")
    assert AREA_SOURCE not in html and RANGE_SOURCE not in html and "<td>none</td>" not in html
    assert without.data.area_totals is None


def test_a_missing_share_store_is_a_clear_error(stores: Stores, tmp_path: Path) -> None:
    missing = tmp_path / "no-such.sqlite"
    with pytest.raises(LtcbridgeError, match=r"--area-figures .*no-such\.sqlite.*share store"):
        read_area_totals(missing)
    assert not missing.exists()
    garbage = tmp_path / "notes.sqlite"
    garbage.write_text("not a database\n" * 100)
    with pytest.raises(LtcbridgeError, match="not a readable share store"):
        read_area_totals(garbage)


def test_the_command_takes_the_share_store(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    config = tmp_path / "hub.toml"
    practices = "\n".join(f'{p} = "{n}"' for p, n in stores.data.pcn_of.items())
    config.write_text(f'[hub]\nname = "Area ICB"\nicb = "{stores.data.icb}"\n'
                      f"[practices]\n{practices}\n")  # fmt: skip
    argv = ["--store", str(stores.hub_path), "--config", str(config), "--out", str(out)]
    assert hub("report", *argv, "--area-figures", str(stores.leader)) == 0
    assert AREA_SOURCE in (out / "report.html").read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert f"Area totals from secure aggregation: {len(stores.figures):,} from" in printed


def test_the_latest_version_of_a_figure_wins_whatever_the_order() -> None:
    """A late practice gives an area a second version: the report shows that one."""
    cell = (UNMET_NEED, "2026-10", "pcn", "U00001", NEED_ANY, None, None)
    first, second = (AreaFigure(*cell, value, None, 5, version)
                     for value, version in ((40, 1), (45, 2)))  # fmt: skip
    row = TotalRow(*cell, total=None)  # type: ignore[arg-type]
    for figures in ([first, second], [second, first]):
        assert area_totals(figures).text(row) == "45"
    masked = AreaFigure(*cell, None, "secondary", 6, 3)
    assert area_totals([first, masked, second]).columns(row) == ("masked", AREA_SOURCE)
