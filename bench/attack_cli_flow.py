"""How many masked figures an exact attacker narrows across a practice's releases, history off
and on: the command-line flow of tests/disclosure/test_cli_release_attacker.py (a generated PCN
of three practices; practice and PCN level, a rebuilt month, a second agreement and recipient,
the next month; all five measures with their scores), run twice.

    python bench/attack_cli_flow.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from disclosure import test_cli_release_attacker as flow_test  # noqa: E402
from disclosure.received_attacker import narrowed, score_totals  # noqa: E402
from ltcbridge.disclosure.history import HistoryStore  # noqa: E402
from ltcbridge.synthetic import generate  # noqa: E402


def run(history_on: bool) -> str:
    root = Path(tempfile.mkdtemp())
    export = root / "export"
    export.mkdir()
    generate(export, seed=7, practices=3, per_pcn=3, patients=(250, 320))
    (root / "flow").mkdir()
    load_all = HistoryStore.load_all
    if not history_on:
        HistoryStore.load_all = lambda self: []  # type: ignore[method-assign]
    try:
        flow = flow_test._run_flow(root / "flow", whole=True, export=export)
    finally:
        HistoryStore.load_all = load_all  # type: ignore[method-assign]
    received = flow_test._received(flow)
    scores = sum(1 for r in received for report in r.reports for _ in score_totals(report))
    found = narrowed(received, flow["pcn_of"])
    return (
        f"| {'on' if history_on else 'off'} | {len(received)} | "
        f"{flow_test._small_masked(received)} | {scores} | {len(found)} |"
    )


if __name__ == "__main__":
    rows = [run(history_on) for history_on in (False, True)]
    print("| history | releases | small masked figures | score totals | narrowed |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
