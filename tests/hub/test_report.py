"""Outputs: tidy CSV, the workbook, and the HTML report (offline, accessible, in a real browser)."""

from __future__ import annotations

import csv
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_data import HUB_CONFIG, PERIODS, meta
from openpyxl import load_workbook

from ltcbridge.hub.collate import Collator
from ltcbridge.hub.config import STAR_MEASURE, HubConfig, load_hub_config
from ltcbridge.hub.load import load_folder
from ltcbridge.hub.report import html as html_module
from ltcbridge.hub.report.build import ReportFiles, write_report
from ltcbridge.hub.report.data import gather
from ltcbridge.hub.report.html import render_html
from ltcbridge.hub.report.tables import tidy_tables
from ltcbridge.hub.report.xlsx import write_xlsx
from ltcbridge.hub.store import HubStoreDb, open_store
from ltcbridge.hub.synthetic import measure_report

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
from screenshot_report import screenshot


def _loaded_store(folder: Path, demo_feeds: dict[str, Path]) -> HubStoreDb:
    store = open_store(folder / "hub.sqlite")
    for period in PERIODS:
        load_folder(demo_feeds["root"] / period / "feed-practice", store, "QHM")
    store.add_rejection("2026-11-02T08:00:00+00:00", "Y00012", "bad-signature", "JWS invalid")
    return store


@pytest.fixture
def loaded(tmp_path: Path, demo_feeds: dict[str, Path]) -> Iterator[HubStoreDb]:
    """A store of its own, for tests that add to it."""
    with _loaded_store(tmp_path, demo_feeds) as store:
        yield store


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, demo_feeds: dict[str, Path]) -> ReportFiles:
    """One report of the demo feeds, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("report")
    (folder / "hub.toml").write_text(HUB_CONFIG, encoding="utf-8")
    with _loaded_store(folder, demo_feeds) as store:
        return write_report(Collator(store, load_hub_config(folder / "hub.toml")), folder / "out")


def test_csv_is_tidy_and_keeps_masked_cells_empty(report: ReportFiles) -> None:
    names = {p.name for p in report.csv}
    assert names == {"totals.csv", "outcomes_by_provider.csv", "figures.csv", "completeness.csv",
                     "releases.csv", "rejections.csv"}  # fmt: skip
    figures = list(csv.DictReader((report.csv[0].parent / "figures.csv").open()))
    masked = [r for r in figures if r["masked"] == "True"]
    assert masked and all(r["count"] == "" for r in masked)
    assert all(r["count"] != "" for r in figures if r["masked"] == "False")
    totals = list(csv.DictReader((report.csv[0].parent / "totals.csv").open()))
    ranged = [r for r in totals if r["masked_parts"] != "0"]
    assert ranged and all(int(r["low"]) < int(r["high"]) for r in ranged)
    assert all("–" in r["shown_as"] or "masked" in r["shown_as"] for r in ranged)
    missing = [r for r in csv.DictReader((report.csv[0].parent / "completeness.csv").open())
               if r["reported"] == "False"]  # fmt: skip
    assert {(r["practice"], r["period"]) for r in missing} >= {("Y00029", "2026-10")}


def test_workbook_sheets_hold_the_same_rows_as_the_csv(report: ReportFiles) -> None:
    book = load_workbook(report.xlsx, read_only=True)
    assert book.sheetnames == ["About", "totals", "outcomes_by_provider", "figures",
                               "completeness", "releases", "rejections"]  # fmt: skip
    for path in report.csv:
        with path.open() as handle:
            csv_rows = sum(1 for _ in csv.reader(handle))
        assert sum(1 for _ in book[path.stem].iter_rows()) == csv_rows, path.stem


def test_a_sheet_over_the_limit_is_cut_and_says_so(loaded: HubStoreDb, tmp_path: Path) -> None:
    tables = tidy_tables(Collator(loaded, load_hub_config(None)))
    book = load_workbook(write_xlsx(tables, tmp_path / "small.xlsx", "t", max_rows=50))
    assert book["figures"].max_row == 50
    about = {row[0]: row[2] for row in book["About"].iter_rows(min_row=4, values_only=True)}
    assert "cut at the sheet limit: see figures.csv" in about["figures"]


def test_html_is_one_offline_file(report: ReportFiles) -> None:
    html = report.html.read_text()
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from anywhere
    assert "#005eb8" in html.lower()  # NHS blue


def test_html_is_accessible_every_chart_has_text_and_a_table(report: ReportFiles) -> None:
    html = report.html.read_text()
    charts = re.findall(r"<svg[^>]*>", html)
    assert len(charts) >= 6  # 2 PCNs + trends + 4 breakdowns
    assert all('role="img"' in c and "aria-labelledby" in c for c in charts)
    assert html.count("<title id=") == html.count("<desc id=") == len(charts)
    assert html.count("<details>") >= len(charts) - 1  # the PCN charts share one table
    assert '<html lang="en-GB">' in html and html.count("<h1>") == 1
    assert 'href="#main"' in html  # skip link


def test_html_shows_commissioning_costs_completeness_and_says_what_is_missing(
    report: ReportFiles,
) -> None:
    html = report.html.read_text()
    assert "Walking groups in both PCNs from April 2026" in html  # you said, we did
    assert "Riverside PCN" in html
    assert "£275" in html and "£70" in html and "£24" in html  # configured and default tariff
    assert "Y00029" in html  # a practice that never reported
    assert "bad-signature" in html


def test_html_says_what_is_missing(tmp_path: Path) -> None:
    """Unmet need only (the demo practices send every measure): outcome sections say so."""
    with open_store(tmp_path / "hub.sqlite") as store:
        cells = {("need-any", None, None): 12}
        store.add_release(meta(), [measure_report("Y00011", "2026-10", cells)])
        html = render_html(gather(Collator(store, HubConfig())))
    assert f"No data yet: no release has carried the measure {STAR_MEASURE}" in html
    assert "No provider has sent outcomes yet" in html
    assert "No counts by support level have arrived yet" in html


def test_a_further_measure_renders_generically(loaded: HubStoreDb, hub_config_file: Path,
                                               tmp_path: Path) -> None:  # fmt: skip
    cells = {("improved", None, None): 40, ("not-improved", None, None): None}
    star = measure_report("NTP01", "2026-10", cells, measure=STAR_MEASURE)
    star["group"][0]["measureScore"] = {"value": 2.4}
    loaded.add_release(meta(sender="NTP01"), [star])
    files = write_report(Collator(loaded, load_hub_config(hub_config_file)), tmp_path / "o2")
    html = files.html.read_text()
    assert "No data yet: no release has carried the measure " + STAR_MEASURE not in html
    assert "Provider NTP01" in html and "2.40" in html and ">masked<" in html


def test_the_report_renders_in_a_real_browser(report: ReportFiles, tmp_path: Path) -> None:
    png = screenshot(report.html, tmp_path / "report.png", 1280, 1200)
    width, height, top_row = _png_first_row(png)
    assert (width, height) == (1280, 1200)
    assert top_row.count((0x00, 0x5E, 0xB8)) > 1000  # the NHS blue banner is drawn


def _png_first_row(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and the first row's RGB pixels of an 8-bit RGB(A) PNG (stdlib only)."""
    data = path.read_bytes()
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6)
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    channels = 3 if colour == 2 else 4
    raw = zlib.decompressobj().decompress(idat, 1 + width * channels)
    kind, row = raw[0], bytearray(raw[1 : 1 + width * channels])
    assert kind in (0, 1, 2, 3, 4)  # on the first row "up" is zero: Sub and Paeth add the left
    for i in range(channels, len(row)):
        left = row[i - channels]
        row[i] = (row[i] + {0: 0, 1: left, 2: 0, 3: left // 2, 4: left}[kind]) % 256
    pixels = [tuple(row[i : i + 3]) for i in range(0, len(row), channels)]
    return width, height, pixels  # type: ignore[return-value]


def test_nhs_use_is_costed_with_the_configured_unit_costs(
    loaded: HubStoreDb, tmp_path: Path
) -> None:
    config_file = tmp_path / "costs.toml"
    config_file.write_text("[unit_costs]\ngp-attendances = 42\n[disclosure]\nthreshold = 7\n")
    config = load_hub_config(config_file)
    cells = {
        ("gp-attendances", None, None): 30,
        ("gp-attendances", "phase", "before"): 20,
        ("gp-attendances", "phase", "after"): None,
        ("ae-attendances", None, None): 10,
    }
    report = measure_report("NTP01", "2026-10", cells, measure=config.nhs_use_measure)
    loaded.add_release(meta(sender="NTP01"), [report])
    html = write_report(Collator(loaded, config), tmp_path / "o3").html.read_text()
    assert "£1,260" in html  # 30 x £42
    assert "£840" in html  # the "before" stratum, 20 x £42
    assert "£42 to £294" in html  # masked "after": 1..7 people, never zero


def test_support_levels_from_any_sender_are_priced_by_the_tariff(
    hub_config_file: Path, tmp_path: Path
) -> None:
    """A store of its own: the demo practices send support levels too."""
    cells = {("support-minimal", None, None): 30, ("support-high", None, None): None}
    measure = "https://ltcbridge.github.io/fhir/Measure/support-level"
    with open_store(tmp_path / "hub.sqlite") as store:
        store.add_release(meta(sender="NTP01"), [measure_report("NTP01", "2026-10", cells,
                                                                measure)])  # fmt: skip
        html = write_report(Collator(store, load_hub_config(hub_config_file)), tmp_path / "o4")
    text = html.html.read_text()
    assert "£2,100" in text  # 30 x the default £70
    assert "£275 to £1,925" in text  # masked: 1..7 people x the configured £275
    assert "No counts by support level have arrived yet" not in text


def test_postgresql_and_sqlite_give_identical_collated_csv(
    tmp_path: Path, postgres_url: str, demo_feeds: dict[str, Path], hub_config_file: Path
) -> None:
    config = load_hub_config(hub_config_file)
    outputs = []
    for name, target in (("sqlite", str(tmp_path / "hub.sqlite")), ("pg", postgres_url)):
        with open_store(target) as store:
            for period in PERIODS:
                load_folder(demo_feeds["root"] / period / "feed-practice", store, "QHM")
            outputs.append(write_report(Collator(store, config), tmp_path / name).csv)
    for sqlite_csv, pg_csv in zip(*outputs, strict=True):
        if sqlite_csv.name in (
            "totals.csv",
            "outcomes_by_provider.csv",
            "figures.csv",
            "completeness.csv",
        ):
            assert sqlite_csv.read_text() == pg_csv.read_text(), sqlite_csv.name
    assert len(outputs[0][0].read_text().splitlines()) > 1000  # totals.csv is not trivially empty


def test_many_pcns_get_charts_for_the_largest_and_a_table_for_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_module, "MAX_PCN_CHARTS", 2)
    practices = {f"P{i}": f"N{i}" for i in range(4)}
    with open_store(tmp_path / "hub.sqlite") as store:
        for i, practice in enumerate(practices):
            cells = {("need-any", None, None): 10 * (i + 1)}
            store.add_release(meta(sender=practice), [measure_report(practice, "2026-10", cells)])
        html = render_html(gather(Collator(store, HubConfig(practices=practices))))
    assert "Charts for the 2 of 4 PCNs" in html
    assert "Unmet need by domain, N3" in html and "Unmet need by domain, N2" in html
    assert "Unmet need by domain, N0" not in html
    assert "<td>N0</td>" in html  # still in the table
