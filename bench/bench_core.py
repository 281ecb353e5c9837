"""Benchmark: reading, counting and disclosure against merely parsing, and against validating.

For each size it runs, side by side and alternating, in fresh processes:
  parse      read the NDJSON and orjson.loads every line (the baseline: nothing else)
  ltcbridge  the whole unmet-need feed build: scan, versions, people, opt-outs, counting with
             every breakdown, primary disclosure, validated MeasureReports written to disk
  validate   fhir.resources R4B model validation of the first --validate-sample resources
and reports the median seconds, the ratio to the baseline and the peak memory (largest process).

    python bench/bench_core.py --sizes 10000,100000,1000000,2000000

Data is made once by ltcbridge.synthetic.generate_bulk into bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
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
AGREEMENT = """[agreement]
id = "DSA-BENCH"
recipient = "QHM"
[disclosure]
threshold = 7
rounding = 5
secondary = false
[breakdowns]
allowed = ["age-band", "sex", "ethnicity-group", "imd-quintile"]
level = "practice"
"""


# -- the three workloads, each run in its own process ---------------------------------------------
def parse_only(path: Path, _: int) -> int:
    import orjson

    count = 0
    with path.open("rb") as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def ltcbridge_feed(path: Path, _: int) -> int:
    import tomllib

    from ltcbridge.agreement import parse_agreement
    from ltcbridge.feed.build import build_feed, write_feed
    from ltcbridge.mapping import load_mappings

    agreement = parse_agreement(tomllib.loads(AGREEMENT))
    build = build_feed(path, load_mappings([MAPPINGS]), agreement, "2026-10")
    with tempfile.TemporaryDirectory() as out:
        write_feed(build, out, Path(out) / "quarantine")
    return sum(build.resource_counts.values())


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


WORKLOADS = {"parse": parse_only, "ltcbridge": ltcbridge_feed, "validate": validate}


def _child(mode: str, path: Path, sample: int) -> None:
    start = time.perf_counter()
    count = WORKLOADS[mode](path, sample)
    seconds = time.perf_counter() - start
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(json.dumps({"seconds": seconds, "resources": count, "peak_mb": peak / 1024}))


# -- the driver -----------------------------------------------------------------------------------
def _run(mode: str, path: Path, sample: int) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        str(path),
        "--validate-sample",
        str(sample),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _data(size: int) -> Path:
    path = DATA / f"bulk-{size}.ndjson"
    if not path.exists():
        from ltcbridge.synthetic import generate_bulk

        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {size} resources into {path} …", file=sys.stderr)
        generate_bulk(path, size)
    return path


def _row(size: int, rounds: int, sample: int) -> tuple[str, float]:
    """The table row for one size, and ltcbridge's median seconds per resource at that size."""
    path = _data(size)
    results: dict[str, list[dict[str, float]]] = {"parse": [], "ltcbridge": []}
    for _ in range(rounds):  # alternate, so drift in machine speed hits both alike
        for mode in results:
            results[mode].append(_run(mode, path, sample))
    parse = statistics.median(r["seconds"] for r in results["parse"])
    ours = statistics.median(r["seconds"] for r in results["ltcbridge"])
    ratios = [
        o["seconds"] / p["seconds"]
        for o, p in zip(results["ltcbridge"], results["parse"], strict=True)
    ]
    peak = max(r["peak_mb"] for r in results["ltcbridge"])
    mb = path.stat().st_size / 1e6
    row = (
        f"| {size:,} | {mb:,.0f} | {parse:.2f} | {ours:.2f} | {statistics.median(ratios):.2f} "
        f"({min(ratios):.2f}–{max(ratios):.2f}) | {peak:.0f} |"
    )
    return row, ours / size


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
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.validate_sample)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| resources | MB | parse only (s) | ltcbridge feed (s) | ratio (min–max) | peak MB |")
    print("|---:|---:|---:|---:|---|---:|")
    per_resource = 0.0
    for size in sizes:
        row, per_resource = _row(size, args.rounds, args.validate_sample)
        print(row, flush=True)
    print()
    print("| validated sample | fhir.resources µs/resource | ltcbridge µs/resource | faster |")
    print("|---:|---:|---:|---:|")
    print(_validation_row(min(sizes), args.validate_sample, per_resource))


if __name__ == "__main__":
    main()
