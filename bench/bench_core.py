"""Benchmark: reading, counting and disclosure against merely parsing, and against validating.

For each size it runs, side by side and alternating, in fresh processes:
  parse      read the NDJSON and orjson.loads every line (the baseline: nothing else)
  ltcbridge  the whole unmet-need feed build (an agreement with [measures] include =
             ["unmet-need"], issue 2's feed): scan, versions, people, opt-outs, counting with
             every breakdown, primary disclosure, validated MeasureReports written to disk
  all        the same build under an agreement that names every measure (reported beside it,
             not part of issue 2's ratio)
  validate   fhir.resources R4B model validation of the first --validate-sample resources
and reports the median seconds, the ratio to the baseline and the peak memory (largest process).
With --baseline-src DIR (a copy of an older src/ tree) it also runs the unmet-need build and the
all-measures build on that code, in the same alternation, so that before and after are measured
side by side.

    python bench/bench_core.py --sizes 10000,100000,1000000,2000000

Data is made once by ltcbridge.synthetic.generate_bulk into bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
MAPPINGS = ROOT / "fixtures" / "synthetic" / "mappings"
# Primary masking only (secondary = false is below the floor, so the agreement is declared
# internal): this benchmark times reading and counting, not the secondary suppression.
AGREEMENT = """[agreement]
id = "DSA-BENCH"
recipient = "QHM"
valid_from = 2026-04-01
valid_until = 2027-03-31
internal_recipient = true
[disclosure]
threshold = 7
rounding = 5
secondary = false
[breakdowns]
allowed = ["age-band", "sex", "ethnicity-group", "imd-quintile", "provider"]
level = "practice"
"""
UNMET_NEED = AGREEMENT + '[measures]\ninclude = ["unmet-need"]\n'
# no [measures]: every measure (unmet need, referrals, support level, Star distance, NHS use)
ALL_MEASURES = AGREEMENT


# -- the three workloads, each run in its own process ---------------------------------------------
def parse_only(path: Path, _: int) -> int:
    import orjson

    count = 0
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def _feed(path: Path, agreement_text: str) -> int:
    import tomllib

    from ltcbridge.agreement import parse_agreement
    from ltcbridge.feed.files import write_feed
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import build_feed

    agreement = parse_agreement(tomllib.loads(agreement_text))
    build = build_feed(path, load_mappings([MAPPINGS]), agreement, "2026-10")
    with tempfile.TemporaryDirectory() as out:
        write_feed(build.protected, build.reports, out)
    return sum(build.resource_counts.values())


def ltcbridge_feed(path: Path, _: int) -> int:
    return _feed(path, UNMET_NEED)


def all_measures(path: Path, _: int) -> int:
    return _feed(path, ALL_MEASURES)


def validate(path: Path, sample: int) -> int:
    import orjson
    from fhir.resources.R4B import get_fhir_model_class

    count = 0
    with path.open("rb") as handle:
        for line in handle:
            data = orjson.loads(line)
            get_fhir_model_class(data["resourceType"]).model_validate(data)
            count += 1
            if count >= sample:
                break
    return count


WORKLOADS = {
    "parse": parse_only,
    "ltcbridge": ltcbridge_feed,
    "all": all_measures,
    "before": ltcbridge_feed,  # run with PYTHONPATH=--baseline-src
    "before-all": all_measures,  # likewise
    "validate": validate,
}


def _child_stats(seconds: float, count: int) -> dict[str, float]:
    """What a child reports: its time, the resources read, peak memory and CPU seconds."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return {
        "seconds": seconds,
        "resources": count,
        "peak_mb": max(own.ru_maxrss, children.ru_maxrss) / 1024,
        # CPU seconds (user + system) of this process and of its workers, for reading a run
        # made while other work shared the machine
        "cpu_own": own.ru_utime + own.ru_stime,
        "cpu_workers": children.ru_utime + children.ru_stime,
    }


def _child(mode: str, path: Path, sample: int) -> None:
    start = time.perf_counter()
    count = WORKLOADS[mode](path, sample)
    print(json.dumps(_child_stats(time.perf_counter() - start, count)))


# -- the driver -----------------------------------------------------------------------------------
def _run(mode: str, path: Path, sample: int, baseline: str | None = None) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        str(path),
        "--validate-sample",
        str(sample),
    ]
    env = dict(os.environ)
    if mode.startswith("before"):
        env["PYTHONPATH"] = baseline or ""
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def _data(size: int) -> Path:
    path = DATA / f"bulk-{size}.ndjson"
    if not path.exists():
        from ltcbridge.synthetic import generate_bulk

        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {size} resources into {path} …", file=sys.stderr)
        generate_bulk(path, size)
    return path


def _median(results: list[dict[str, float]]) -> float:
    return statistics.median(r["seconds"] for r in results)


def _ratio(ours: list[dict[str, float]], parse: list[dict[str, float]]) -> str:
    """Median of the pairwise ratios (one pair per round), with their min–max."""
    ratios = [o["seconds"] / p["seconds"] for o, p in zip(ours, parse, strict=True)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def _cpu(results: list[dict[str, float]]) -> str:
    """Median CPU seconds (the process and its workers): how much work, whatever the load."""
    return f"{statistics.median(r['cpu_own'] + r['cpu_workers'] for r in results):.2f}"


def _row(size: int, rounds: int, sample: int, baseline: str | None) -> tuple[str, str, float]:
    """The table rows (time, CPU) for one size, and ltcbridge's median seconds per resource."""
    path = _data(size)
    modes = ["parse", "ltcbridge", "all"] + (["before", "before-all"] if baseline else [])
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for _ in range(rounds):  # alternate, so drift in machine speed hits every side alike
        for mode in modes:
            results[mode].append(_run(mode, path, sample, baseline))
    parse, ours = results["parse"], results["ltcbridge"]
    peak = max(r["peak_mb"] for r in ours)
    cells = [
        f"{size:,}",
        f"{path.stat().st_size / 1e6:,.0f}",
        f"{_median(parse):.2f}",
        f"{_median(ours):.2f}",
        _ratio(ours, parse),
        f"{peak:.0f}",
        f"{_median(results['all']):.2f}",
        _ratio(results["all"], parse),
        f"{max(r['peak_mb'] for r in results['all']):.0f}",
    ]
    cpu = [f"{size:,}", _cpu(parse), _cpu(ours), _cpu(results["all"])]
    if baseline:
        for mode in ("before", "before-all"):
            before = results[mode]
            cells += [f"{_median(before):.2f}", _ratio(before, parse)]
            cpu.append(_cpu(before))
    row = "| " + " | ".join(cells) + " |"
    return row, "| " + " | ".join(cpu) + " |", _median(ours) / size


def _validation_row(size: int, sample: int, ours_per_resource: float) -> str:
    """fhir.resources validation of a sample, per resource, against ltcbridge's whole feed build
    per resource at the largest size measured (where fixed start-up costs weigh least)."""
    validated = _run("validate", _data(size), sample)
    per_validated = validated["seconds"] / validated["resources"]
    return (
        f"| {validated['resources']:,} | {per_validated * 1e6:.1f} | "
        f"{ours_per_resource * 1e6:.2f} | {per_validated / ours_per_resource:.0f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000,2000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--validate-sample", type=int, default=20000)
    parser.add_argument(
        "--baseline-src", help="an older src/ tree: its unmet-need build runs alongside"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.validate_sample)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    head = (
        "| resources | MB | parse only (s) | unmet-need feed (s) | ratio (min–max) | peak MB "
        "| all measures (s) | ratio (min–max) | peak MB |"
    )
    rule = "|---:|---:|---:|---:|---|---:|---:|---|---:|"
    if args.baseline_src:
        head += (
            " before: unmet-need feed (s) | ratio (min–max) | before: all measures (s) "
            "| ratio (min–max) |"
        )
        rule += "---:|---|---:|---|"
    print(head)
    print(rule)
    per_resource = 0.0
    cpu_rows = []
    for size in sizes:
        row, cpu, per_resource = _row(size, args.rounds, args.validate_sample, args.baseline_src)
        print(row, flush=True)
        cpu_rows.append(cpu)
    print()
    print(
        "| resources | parse only, CPU s | unmet-need feed, CPU s | all measures, CPU s |"
        + (" before: unmet-need, CPU s | before: all, CPU s |" if args.baseline_src else "")
    )
    print("|---:|---:|---:|---:|" + ("---:|---:|" if args.baseline_src else ""))
    print("\n".join(cpu_rows))
    print()
    print("| validated sample | fhir.resources µs/resource | ltcbridge µs/resource | faster |")
    print("|---:|---:|---:|---:|")
    print(_validation_row(min(sizes), args.validate_sample, per_resource))


if __name__ == "__main__":
    main()
