"""Benchmark: disclosure control for one month of an ICB, every breakdown, rounding 5 and 1.

Run from the repository root:

    .venv/bin/python bench/bench_disclosure.py [--pcns 10] [--practices 10] [--workers N] [--audit]
        [--repeat N]

Counts come from simulated people (seeded), so every relation the counter declares holds. Each
protect is timed by the wall clock and by the processor time it used (its own and its worker
processes'); with `--repeat`, the median of the runs is reported. Peak memory is the largest
resident size of this process and of any worker.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import statistics
import time
from collections import Counter

from ltcbridge.disclosure.audit import audit
from ltcbridge.disclosure.cells import DisclosureRules, PublishedRelease, Release
from ltcbridge.disclosure.secondary import protect
from ltcbridge.disclosure.split import independent_parts
from ltcbridge.disclosure.synthetic import build_release, icb_shape, random_people


def main() -> None:
    args = _arguments()
    shape = icb_shape(pcns=args.pcns, practices_per_pcn=args.practices)
    people = random_people(shape, random.Random(args.seed), args.mean)
    release = build_release(shape, people)
    print(
        f"ICB: {args.pcns} PCNs x {args.practices} practices, {len(shape.groups)} groups, "
        f"{len(shape.stratifiers)} stratifiers x {len(shape.stratifiers[0][1])} strata; "
        f"{len(people)} people; {len(release.cells)} cells, {len(release.constraints)} relations; "
        f"{len(independent_parts(release))} independent parts; {os.cpu_count()} CPU(s)"
    )
    for rounding in (5, 1):
        rules = DisclosureRules(threshold=args.threshold, rounding=rounding)
        walls, cpus = [], []
        for _ in range(args.repeat):
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            published = protect(release, rules, workers=args.workers)
            walls.append(time.perf_counter() - started)
            cpus.append(_cpu_seconds() - cpu_started)
        _report(release, published, rules, walls, cpus)
        if args.audit:
            started = time.perf_counter()
            findings = audit(published, rules)
            print(f"  audit: {len(findings)} findings in {time.perf_counter() - started:.1f} s")


def _cpu_seconds() -> float:
    """Processor time of this process and of its finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _peak_mb() -> float:
    """The largest resident size of this process or any of its workers, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers) / 1024


def _report(
    release: Release,
    published: PublishedRelease,
    rules: DisclosureRules,
    walls: list[float],
    cpus: list[float],
) -> None:
    reasons = Counter(published.reasons.values())
    cells = len(release.cells)
    zeros = sum(1 for v in release.cells.values() if v == 0)
    runs = (
        f" (median of {len(walls)}: {', '.join(f'{w:.1f}' for w in walls)})"
        if len(walls) > 1
        else ""
    )
    print(
        f"threshold {rules.threshold}, rounding {rules.rounding}: "
        f"protect {statistics.median(walls):.1f} s{runs}, "
        f"processor {statistics.median(cpus):.1f} s; peak {_peak_mb():.0f} MB; "
        f"masked {published.masked_share():.1%} of cells "
        f"(primary {reasons['primary'] / cells:.1%}, secondary {reasons['secondary'] / cells:.1%}, "
        f"{reasons['secondary']} cells); zeros {zeros / cells:.1%}; digest {_digest(published)}"
    )


def _digest(published: PublishedRelease) -> str:
    """A short fingerprint of what is published and why: equal runs give equal digests."""
    text = repr(
        [(key, published.values[key], published.reasons.get(key)) for key in published.values]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pcns", type=int, default=10)
    parser.add_argument("--practices", type=int, default=10, help="practices per PCN")
    parser.add_argument("--mean", type=float, default=60, help="people with need per practice")
    parser.add_argument("--threshold", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--audit", action="store_true", help="also run the exact attacker")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes for protect (default: one per CPU)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per rounding (median)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
