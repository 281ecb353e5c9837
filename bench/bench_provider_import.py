"""Benchmark: the small-provider CSV import of 1,000 rows with 50 bad ones, end to end.

Uses the same file as tests/provider (250 people: a referral, two sessions and a Star reading
each; 50 non-referral rows spoiled), a fresh local FHIR engine, and reports what was imported,
what was explained, how long it took, and that a second import wrote nothing.

    python bench/bench_provider_import.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "provider"))

from provider_data import history_total  # noqa: E402
from test_csv_import import MAPPINGS, TODAY, big_file  # noqa: E402

from ltcbridge.fhirclient import FhirClient  # noqa: E402
from ltcbridge.provider.csv_import import import_csv  # noqa: E402


async def _import_twice(base: str, path: Path) -> None:
    async with FhirClient(base, timeout=600) as fhir:
        start = time.perf_counter()
        first = await import_csv(path, fhir, "PRV01", MAPPINGS, today=TODAY)
        seconds = time.perf_counter() - start
        versions = history_total(base)
        second = await import_csv(path, fhir, "PRV01", MAPPINGS, today=TODAY)
    print(
        f"rows read: {first.rows_read}; imported: {len(first.imported_rows)}; "
        f"explained: {len({p.row for p in first.problems})}; first import {seconds:.1f} s"
    )
    print(f"second import: imported {len(second.imported_rows)}, new versions on the server: "
          f"{history_total(base) - versions}")  # fmt: skip


def main() -> None:
    engine = subprocess.Popen(
        ["node", str(ROOT / "tests" / "fhir_engine" / "server.mjs"), "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(engine.stdout.readline().split()[1])  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}/fhir"
        httpx.get(f"{base}/metadata", timeout=30).raise_for_status()
        with tempfile.TemporaryDirectory() as tmp:
            path, bad_rows = big_file(Path(tmp))
            print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} file: 1000 rows, {len(bad_rows)} bad")
            asyncio.run(_import_twice(base, path))
    finally:
        engine.terminate()


if __name__ == "__main__":
    main()
