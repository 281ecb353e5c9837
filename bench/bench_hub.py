"""National-scale hub: synthetic practice releases loaded, collated and reported on one machine.

    python bench/bench_hub.py --practices 6500 --months 12            # SQLite (the default)
    python bench/bench_hub.py --practices 500 --months 12 --postgres   # a throwaway PostgreSQL

Each practice sends one release per month holding one unmet-need MeasureReport in the contract's
shape (8 groups x (1 + 21 strata) = 176 figures, small counts masked, others rounded), through
``HubStoreDb.add_release`` exactly as the receiver calls it. Then the collation the report uses
runs over everything (every PCN and ICB total, streamed), the report data is gathered and the
HTML written, and the tidy CSV files are exported. Prints a Markdown table row per phase: wall
time, and the process's peak resident memory so far.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ltcbridge.feed.release import ReleaseMeta
from ltcbridge.hub.collate import Collator
from ltcbridge.hub.config import UNMET_NEED, HubConfig
from ltcbridge.hub.report.csv_out import write_csv
from ltcbridge.hub.report.data import gather
from ltcbridge.hub.report.html import write_html
from ltcbridge.hub.report.tables import tidy_tables
from ltcbridge.hub.store import HubStoreDb, open_store
from ltcbridge.hub.synthetic import measure_report, random_cells

PRACTICES_PER_PCN = 5
CELL_POOL = 64  # distinct random practice-months reused round robin (generation is not measured)


def months(count: int, first_year: int = 2026) -> list[str]:
    return [f"{first_year + m // 12}-{m % 12 + 1:02d}" for m in range(count)]


def practice_map(practices: int) -> dict[str, str]:
    return {f"P{i:05d}": f"N{i // PRACTICES_PER_PCN:04d}" for i in range(practices)}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    @contextlib.contextmanager
    def phase(self, name: str, note: str = "") -> Iterator[None]:
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.rows.append((name, elapsed, peak_mb(), note))
        print(f"| {name} | {elapsed:,.1f} s | {peak_mb():,.0f} MB | {note} |", flush=True)


def load(store: HubStoreDb, practices: dict[str, str], periods: list[str]) -> int:
    """One release per practice and month; returns the number of figure rows stored."""
    rng = random.Random(2026)
    pool = [random_cells(rng) for _ in range(CELL_POOL)]
    figures = 0
    for m, period in enumerate(periods):
        for i, practice in enumerate(practices):
            cells = pool[(i * 7 + m) % CELL_POOL]
            meta = ReleaseMeta(f"{practice}-{period}", "DSA-BENCH", practice, "QHM", period, m + 1,
                               f"{period}-28T00:00:00+00:00", (UNMET_NEED,))  # fmt: skip
            store.add_release(meta, [measure_report(practice, period, cells)])
            figures += len(cells)
    return figures


def collate_all(collator: Collator) -> int:
    """Every PCN and ICB total, streamed (what the CSV totals table holds)."""
    return sum(1 for level in ("icb", "pcn") for _ in collator.totals(level))


def run(args: argparse.Namespace, target: str, work: Path) -> None:
    practices, periods = practice_map(args.practices), months(args.months)
    config = HubConfig(name="Bench ICB", icb="QHM", practices=practices, months=tuple(periods))
    timer = Timer()
    print(f"\n{args.practices} practices x {args.months} months on {target.split(':')[0]}\n")
    print("| phase | time | peak RSS | note |\n|---|---|---|---|")
    with timer.phase("open store (runs pending migrations)"):
        store = open_store(target)
    with store:
        store.set_practices(practices)
        releases = args.practices * args.months
        if args.skip_load:
            print(f"| (load skipped) | | | reusing {target} at schema {store.schema_version()} |")
        else:
            with timer.phase("load", f"{releases:,} releases"):
                figures = load(store, practices, periods)
            rate = figures / timer.rows[-1][1]
            print(f"| (load rate) | | | {figures:,} figures, {rate:,.0f} figures/s, "
                  f"{releases / timer.rows[-1][1]:,.0f} releases/s |")  # fmt: skip
        collator = Collator(store, config)
        with timer.phase("collate: every PCN and ICB total"):
            totals = collate_all(collator)
        print(f"| (totals) | | | {totals:,} rows |")
        with timer.phase("report data + HTML"):
            write_html(gather(collator), work / "report.html")
        if not args.skip_csv:
            with timer.phase("tidy CSV export (all tables)"):
                write_csv(tidy_tables(collator), work)
        if target.endswith(".sqlite"):
            size = Path(target).stat().st_size / 1e9
            print(f"| (store size) | | | {size:.2f} GB SQLite |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--practices", type=int, default=6500)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server")
    parser.add_argument("--skip-csv", action="store_true", help="skip the CSV export phase")
    parser.add_argument(
        "--skip-load",
        action="store_true",
        help="reuse the SQLite store a previous run left in --work (migrated on open)",
    )
    parser.add_argument(
        "--work", type=Path, help="folder for the store and outputs (default: temp)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        if args.postgres:
            sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "hub"))
            from postgres_server import running_postgres

            with running_postgres() as url:
                run(args, url, work)
        else:
            run(args, str(work / "hub.sqlite"), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
