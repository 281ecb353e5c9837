"""``ltcbridge mappings check | coverage``: are a practice's mappings right; what do they miss?"""

from __future__ import annotations

import argparse
from collections import Counter

from rich.markup import escape

from ltcbridge.cli.support import (
    EXIT_OK,
    add_json_option,
    add_mappings_option,
    add_workers_option,
    out,
    print_json,
    print_table,
    progress_bar,
)
from ltcbridge.cli.support import add_command as _command


def run_check(args: argparse.Namespace) -> int:
    from ltcbridge.mapping import load_mappings

    mappings = load_mappings(args.dirs)
    out.print(
        f"OK: {len(mappings.files)} mapping file(s) checked; "
        f"{sum(len(c) for c in mappings.by_system.values())} codes assert ltcbridge concepts; "
        f"{len({q.origin for q in mappings.questionnaires.values()})} template(s); "
        f"{len(mappings.stars)} Star(s); {len(mappings.imd_quintile)} postcodes with a deprivation "
        f"quintile; {len(mappings.pcn_of)} practice(s) in PCNs."
    )
    conditional = sum(len(codes) for codes in mappings.conditional.values())
    if conditional:
        out.print(f"{conditional} code(s) assert a concept only beside another coding (dependsOn).")
    for warning in mappings.warnings:
        out.print(f"[yellow]warning:[/] {escape(str(warning))}")
    return EXIT_OK


def run_coverage(args: argparse.Namespace) -> int:
    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.mapping import load_mappings

    mappings = load_mappings(args.mappings)
    with progress_bar("Scanning") as progress:
        columns = scan_source(args.source, mappings, workers=args.workers, progress=progress)
    if args.json:
        print_json(
            {
                "unmapped": [
                    {"system": system, "code": code, "count": count}
                    for (system, code), count in columns.unmapped.most_common(args.limit or None)
                ],
                "unmapped_templates": dict(columns.unmapped_questionnaires.most_common()),
                "notes": dict(sorted(columns.notes.items())),
                "diagnostics": dict(sorted(columns.diagnostics.items())),
            }
        )
        return EXIT_OK
    _print_coverage(columns.unmapped, columns.unmapped_questionnaires, args.limit)
    tallies = {
        "Read, though not as written": columns.notes,
        "The export's own log and error files": columns.diagnostics,
    }
    for label, tally in tallies.items():
        if tally:
            out.print(f"{label}:")
            for what, count in sorted(tally.items()):
                out.print(f"  {count} × {escape(what)}")
    return EXIT_OK


def _print_coverage(
    unmapped: Counter[tuple[str, str]], questionnaires: Counter[str], limit: int
) -> None:
    if not unmapped and not questionnaires:
        out.print("Every coding and template in the source is covered by a mapping.")
        return
    print_table(
        "Codes no mapping covers (most frequent first)",
        ("count", "system", "code"),
        [
            (count, system or "(no system)", code or "(no code)")
            for (system, code), count in unmapped.most_common(limit or None)
        ],
    )
    for canonical, count in questionnaires.most_common():
        out.print(f"{count} response(s) to a template no mapping defines: {canonical}")
    out.print(
        "Add a ConceptMap (to https://ltcbridge.github.io/fhir/CodeSystem/concept) or a "
        "Questionnaire to your mappings directory for the ones that are care-planning entries."
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check`` and ``coverage`` to the ``mappings`` command group."""
    check = _command(
        sub,
        "check",
        "Check mappings directories (with the bundled ones): every file and element that is "
        "wrong is named; exit status 1 when there is any.",
        run_check,
    )
    check.add_argument("dirs", nargs="+", metavar="DIR", help="a mappings directory")
    coverage = _command(
        sub,
        "coverage",
        "List the codes seen in an export that no mapping covers, most frequent first.",
        run_coverage,
    )
    coverage.add_argument("--source", required=True, help="bulk export directory or file")
    add_mappings_option(coverage)
    coverage.add_argument("--limit", type=int, default=50, help="rows to show (0 = all)")
    add_workers_option(coverage)
    add_json_option(coverage, "the uncovered codes and templates as one JSON object")
