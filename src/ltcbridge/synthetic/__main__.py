"""python -m ltcbridge.synthetic OUT_DIR [--seed N] | --bulk N OUT (file.ndjson or directory)."""

from __future__ import annotations

import argparse
import sys
import time

from .bulk import generate_bulk
from .generate import generate


def main(argv: list[str] | None = None) -> int:
    """Generate the small set with its truth, or a bulk set for benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m ltcbridge.synthetic", description=__doc__)
    parser.add_argument("out", help="output directory (bulk: a .ndjson file or a directory)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--bulk", type=int, metavar="N", help="stream about N resources instead")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.bulk is not None:
        n = generate_bulk(args.out, args.bulk, seed=args.seed)
        print(f"wrote {n} resources to {args.out} in {time.perf_counter() - start:.1f}s")
        return 0
    truth = generate(args.out, seed=args.seed)
    people = truth.people
    print(
        f"wrote {people['patients']} patients, {len(truth.quarantine)} bad lines and truth.json "
        f"to {args.out} in {time.perf_counter() - start:.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
