"""A whole ICB month with every measure: counting, then disclosure control over the release.

Generates synthetic practices (the fixture generator: every entry form, providers' answers, Star
courses, NHS use) for an ICB of PCNS x PRACTICES practices, then times, in one run:
- scan + population + counting of every measure (the practice side before disclosure);
- disclosure control of the whole release (all measures together, secondary suppression);
and states the table sizes and the share of figures masked per measure (information loss).

    python bench/bench_release.py --pcns 10 --practices 10 --patients 300,600
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from ltcbridge.agreement import FLOOR_ROUNDING, parse_agreement
from ltcbridge.disclosure.cells import DisclosureRules
from ltcbridge.disclosure.from_cube import disclose_cubes
from ltcbridge.disclosure.protected import measure_slug
from ltcbridge.identifiable.population import build_population
from ltcbridge.identifiable.scan import scan_source
from ltcbridge.mapping import load_mappings
from ltcbridge.pipeline import count_measures
from ltcbridge.synthetic.generate import generate

MONTH = "2026-10"


def main() -> None:
    args = _arguments()
    low, high = (int(n) for n in args.patients.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "icb"
        # generated in a child process, so that the generator's memory is not counted below
        child = multiprocessing.Process(
            target=generate,
            args=(source,),
            kwargs={"practices": args.pcns * args.practices, "per_pcn": args.practices,
                    "patients": (low, high), "months": ("2026-09", MONTH, "2026-11")},
        )  # fmt: skip
        child.start()
        child.join()
        mappings = load_mappings([source / "mappings"])
        agreement = parse_agreement({
            "agreement": {"id": "DSA-BENCH", "recipient": "QHM", "valid_from": date(2026, 4, 1),
                          "valid_until": date(2027, 3, 31),
                          # --rounding below 5 is below the floor: an internal recipient's rules
                          "internal_recipient": args.rounding < FLOOR_ROUNDING},
            "disclosure": {"threshold": 7, "rounding": args.rounding, "secondary": True},
            "breakdowns": {"allowed": ["age-band", "sex", "ethnicity-group", "imd-quintile",
                                       "provider"], "level": args.level},
            "unit_costs": {"gp-attendances": 42, "ae-attendances": 180, "prescriptions": 9,
                           "unplanned-admissions": 1850},
        })  # fmt: skip
        resources = sum(1 for p in source.glob("*.ndjson") for _ in p.open())
        start = time.perf_counter()
        population = build_population(scan_source(source, mappings, months=[MONTH]))
        cubes = count_measures(population, mappings, agreement, MONTH)
        counted = time.perf_counter() - start
        rules = DisclosureRules(agreement.threshold, agreement.rounding)
        timings = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            _, published = disclose_cubes(cubes, rules, secondary=True, pcn_of=mappings.pcn_of)
            timings.append(time.perf_counter() - start)
    cells = Counter(key[0] for key in published.values)
    masked = Counter(key[0] for key in published.values if published.is_masked(key))
    print(f"ICB month {MONTH}: {args.pcns} PCNs x {args.practices} practices, level "
          f"{args.level}, {resources} resources, {len(population.sex)} people; rounding "
          f"{args.rounding}")  # fmt: skip
    print(f"count every measure (scan, population, cubes): {counted:.2f} s")
    print(f"disclosure of the whole release, {args.rounds} round(s): best "
          f"{min(timings):.2f} s, median {sorted(timings)[len(timings) // 2]:.2f} s; "
          f"{len(published.values)} figures, {len(published.constraints)} relations")  # fmt: skip
    print("| measure | figures | masked | share masked |\n|---|---|---|---|")
    for measure, n in cells.items():
        print(f"| {measure_slug(measure)} | {n} | {masked[measure]} | {masked[measure] / n:.1%} |")
    print(f"| all | {sum(cells.values())} | {sum(masked.values())} | "
          f"{published.masked_share():.1%} |")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS, generator apart): {peak:.0f} MB")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pcns", type=int, default=10)
    parser.add_argument("--practices", type=int, default=10, help="practices per PCN")
    parser.add_argument("--patients", default="300,600", help="people per practice: LOW,HIGH")
    parser.add_argument("--level", default="practice", choices=("practice", "pcn"))
    parser.add_argument("--rounding", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


if __name__ == "__main__":
    main()
