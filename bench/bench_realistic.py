"""Benchmark: the full default release over a realistic GP export, against merely parsing it.

A real GP record is mostly clinical data no care-planning measure reads. This export is the
synthetic care-planning bulk data (ltcbridge.synthetic.generate_bulk) padded with everyday
clinical resources (ltcbridge.synthetic.clinical_noise: vital signs and labs, prescriptions,
encounters, procedures, reports, immunisations, claims and explanations of benefit, shaped after a
real Synthea export), so that at least 95% of the resources are unrelated to care planning.

For each size it runs, side by side and alternating, in fresh processes:
  parse       read every NDJSON file and orjson.loads every line (the baseline)
  all         the full default release (every measure, every breakdown; the agreement of
              bench_core.py), validated MeasureReports written: the feed build as shipped
  unfiltered  the same release with the raw-line prefilter off (every line parsed)
  before      the full default release on an older src/ tree (--baseline-src), if given

    python bench/bench_realistic.py --sizes 100000,1000000 [--baseline-src DIR] [--crlf]

--crlf runs the same export with every line ended by \r\n (as NDJSON allows and Windows tools
write), made once beside the plain one.

Data is made once into bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ALL_MEASURES, DATA, MAPPINGS, _child_stats
from bench_core import _feed as feed

MONTH = "2026-10"
RELEVANT_SHARE = 0.05  # at most 5% of the resources are care planning
ACTIVE_PRESCRIPTIONS = 0.2  # of the noise's prescriptions: these count as NHS use, as in life


def parse_only(folder: Path) -> int:
    import orjson

    count = 0
    for path in sorted(folder.glob("*.ndjson")):
        with path.open("rb") as handle:
            for line in handle:
                orjson.loads(line)
                count += 1
    return count


def unfiltered(folder: Path) -> int:
    """The full default release with the prefilter off: every line parsed."""
    import tomllib

    from ltcbridge.agreement import parse_agreement
    from ltcbridge.feed.files import write_feed
    from ltcbridge.identifiable.population import build_population
    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.mapping import load_mappings
    from ltcbridge.pipeline import ScannedSource, build_release

    agreement = parse_agreement(tomllib.loads(ALL_MEASURES))
    mappings = load_mappings([MAPPINGS])
    columns = scan_source(folder, mappings, months=[MONTH])
    scanned = ScannedSource(columns, build_population(columns))
    build = build_release(scanned, mappings, agreement, MONTH)
    with tempfile.TemporaryDirectory() as out:
        write_feed(build.protected, build.reports, out)
    return sum(build.resource_counts.values())


WORKLOADS = {
    "parse": parse_only,
    "all": lambda folder: feed(folder, ALL_MEASURES),  # the build as shipped (bench_core's)
    "unfiltered": unfiltered,
    "before": lambda folder: feed(folder, ALL_MEASURES),  # run with PYTHONPATH=--baseline-src
}


def _data(size: int) -> Path:
    """The padded export of about ``size`` resources (made once)."""
    folder = DATA / f"realistic-{size}"
    if not (folder / "done").exists():
        from ltcbridge.synthetic import generate_bulk
        from ltcbridge.synthetic.clinical_noise import write_noise

        print(f"generating {size} realistic resources into {folder} …", file=sys.stderr)
        folder.mkdir(parents=True, exist_ok=True)
        relevant = int(size * RELEVANT_SHARE)
        generate_bulk(folder, relevant)
        patients = sum(1 for _ in (folder / "Patient.ndjson").open("rb"))
        ids = [f"p{i}" for i in range(1, patients + 1)]
        write_noise(folder, size - relevant, ids, active_share=ACTIVE_PRESCRIPTIONS)
        (folder / "done").write_text("")
    return folder


def _crlf_copy(folder: Path) -> Path:
    """The export with every line ended by \r\n (made once)."""
    crlf = folder.with_name(f"{folder.name}-crlf")
    if not (crlf / "done").exists():
        crlf.mkdir(exist_ok=True)
        for path in folder.glob("*.ndjson"):
            with path.open("rb") as source, (crlf / path.name).open("wb") as target:
                target.writelines(line.rstrip(b"\r\n") + b"\r\n" for line in source)
        (crlf / "done").write_text("")
    return crlf


def _run(mode: str, folder: Path, baseline: str | None) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, str(folder)]
    env = dict(os.environ)
    if mode == "before":
        env["PYTHONPATH"] = baseline or ""
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def _ratio(ours: list[dict[str, float]], parse: list[dict[str, float]]) -> str:
    ratios = [o["seconds"] / p["seconds"] for o, p in zip(ours, parse, strict=True)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-src", help="an older src/ tree: its release runs alongside")
    parser.add_argument("--crlf", action="store_true", help="lines ended by \\r\\n")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        start = time.perf_counter()
        count = WORKLOADS[args.child[0]](Path(args.child[1]))
        print(json.dumps(_child_stats(time.perf_counter() - start, count)))
        return
    modes = ["parse", "all", "unfiltered"] + (["before"] if args.baseline_src else [])
    print(
        "| resources | MB | parse only (s) | all measures (s) | ratio (min–max) | peak MB "
        "| prefilter off (s) | ratio (min–max) | peak MB |"
        + (" before (s) | ratio (min–max) |" if args.baseline_src else "")
    )
    rule = "|---:|---:|---:|---:|---|---:|---:|---|---:|"
    print(rule + ("---:|---|" if args.baseline_src else ""))
    cpu_rows: list[str] = []  # CPU seconds (process and workers): the work, whatever the load
    for size in (int(s) for s in args.sizes.split(",")):
        folder = _crlf_copy(_data(size)) if args.crlf else _data(size)
        results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
        for _ in range(args.rounds):  # alternate, so drift in machine speed hits every side alike
            for mode in modes:
                results[mode].append(_run(mode, folder, args.baseline_src))
        megabytes = sum(p.stat().st_size for p in folder.glob("*.ndjson")) / 1e6
        parse = results["parse"]
        cells = [f"{results['parse'][0]['resources']:,}", f"{megabytes:,.0f}"]
        cells.append(f"{statistics.median(r['seconds'] for r in parse):.2f}")
        for mode in modes[1:]:
            ours = results[mode]
            cells += [f"{statistics.median(r['seconds'] for r in ours):.2f}", _ratio(ours, parse)]
            if mode != "before":
                cells.append(f"{max(r['peak_mb'] for r in ours):.0f}")
        print("| " + " | ".join(cells) + " |", flush=True)
        cpu_rows.append(
            f"| {cells[0]} | "
            + " | ".join(
                f"{statistics.median(r['cpu_own'] + r['cpu_workers'] for r in results[m]):.2f}"
                for m in modes
            )
            + " |"
        )
    print()
    print("| resources | " + " | ".join(f"{m}, CPU s" for m in modes) + " |")
    print("|---:|" + "---:|" * len(modes))
    print("\n".join(cpu_rows))


if __name__ == "__main__":
    main()
