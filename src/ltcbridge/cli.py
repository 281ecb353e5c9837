"""The ``ltcbridge`` command: a thin shell over the library.

Exit status: 0 done; 1 error (the message says what to do); 2 wrong usage; 3 done, but some input
was quarantined and needs a person to look at it.

Every command imports what it uses when it runs: building the parser imports no more than rich
and the command modules' argument definitions, so ``--help`` and each command start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ltcbridge import (
    __version__,
    cli_daemon,
    cli_hub,
    cli_monthly,
    cli_provider,
    cli_release,
    cli_secagg,
)
from ltcbridge.cli_support import add_command as _command
from ltcbridge.cli_support import add_data_dir_option, add_group
from ltcbridge.errors import LtcbridgeError, MappingError

if TYPE_CHECKING:
    from ltcbridge.identifiable.scan import ProgressCallback

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except MappingError as exc:
        err.print(
            f"[red]error:[/] {escape(str(exc))}\nFix the mappings named above, then run again."
        )
        return EXIT_ERROR
    except LtcbridgeError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted: nothing was sent; files already written are complete ones")
        return EXIT_ERROR
    except OSError as exc:  # a folder that cannot be written, a full disk, a file that went away
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(
            f"[red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}: check the path "
            "and its permissions (and free space), then run again"
        )
        return EXIT_ERROR


# -- commands ------------------------------------------------------------------------------------
def _feed_build(args: argparse.Namespace) -> int:
    """Build the month's feed for inspection, protected against the practice's release history."""
    from ltcbridge.build_summary import summarise
    from ltcbridge.cli_release import build_protected, keep_quarantine
    from ltcbridge.cli_support import practice_data, refuse_inside
    from ltcbridge.feed.files import write_feed

    refuse_inside(practice_data(args), args.out, "the practice data directory")
    with _progress("Reading") as progress:
        build = build_protected(args, progress)
    files = write_feed(build.protected, build.reports, args.out)
    quarantined = keep_quarantine(args, build)
    for line in summarise(build):
        out.print(escape(line))
    note = f"; quarantined input (patient data, stays here): {quarantined}" if quarantined else ""
    out.print(f"Wrote {len(files)} file(s) to {args.out}{note}.")
    return EXIT_QUARANTINED if build.quarantine else EXIT_OK


def _mappings_check(args: argparse.Namespace) -> int:
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


def _mappings_coverage(args: argparse.Namespace) -> int:
    from ltcbridge.identifiable.scan import scan_source
    from ltcbridge.mapping import load_mappings

    mappings = load_mappings(args.mappings)
    with _progress("Scanning") as progress:
        columns = scan_source(args.source, mappings, workers=args.workers, progress=progress)
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
    from rich.table import Table

    if not unmapped and not questionnaires:
        out.print("Every coding and template in the source is covered by a mapping.")
        return
    table = Table(title="Codes no mapping covers (most frequent first)")
    for column in ("count", "system", "code"):
        table.add_column(column, overflow="fold")
    for (system, code), count in unmapped.most_common(limit or None):
        table.add_row(str(count), system or "(no system)", code or "(no code)")
    out.print(table)
    for canonical, count in questionnaires.most_common():
        out.print(f"{count} response(s) to a template no mapping defines: {canonical}")
    out.print(
        "Add a ConceptMap (to https://ltcbridge.github.io/fhir/CodeSystem/concept) or a "
        "Questionnaire to your mappings directory for the ones that are care-planning entries."
    )


def _demo(args: argparse.Namespace) -> int:
    from ltcbridge.demo import run_demo

    return run_demo(Path(args.out), args.period, out)


# -- plumbing ------------------------------------------------------------------------------------
@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback | None]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    if not err.is_terminal:
        yield None
        return
    with Progress(
        f"{label}", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltcbridge",
        description="Unmet need from GP care planning, to providers and commissioners (FHIR R4).",
        epilog="Exit status: 0 done; 1 error; 2 wrong usage; 3 done with quarantined input.",
    )
    parser.add_argument("--version", action="version", version=f"ltcbridge {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(commands)
    _add_feed(commands)
    _add_mappings(commands)
    cli_daemon.register(commands)
    cli_provider.register(commands)
    cli_monthly.register(commands)
    _add_hub(commands)
    cli_secagg.register(commands)  # secure aggregation (issue 15)
    return parser


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = _command(
        commands,
        "demo",
        "Run the whole journey on bundled synthetic practices with embedded defaults: read, "
        "count, disclose, write the feed (JSON and CSV), and explain what happened.",
        _demo,
    )
    demo.add_argument("--out", required=True, help="directory to write the demo into")
    demo.add_argument("--period", default="2026-10", help="reporting month YYYY-MM (2026-10)")


def _add_feed(commands: argparse._SubParsersAction) -> None:
    sub = add_group(commands, "feed", "build the commissioner feed")
    build = _command(
        sub,
        "build",
        "From a FHIR R4 bulk export, write one month's feed: every measure the agreement names "
        "(unmet need, referrals, support levels, Star distance travelled, NHS use before and "
        "after), as MeasureReport JSON and one CSV, unsealed, for inspection. Exit status 3 means "
        "the feed was written but some input was quarantined for a person to look at.",
        _feed_build,
    )
    build.add_argument("--source", required=True, help="bulk export: a directory of .ndjson "
                       "files (or .ndjson.gz), or one file")  # fmt: skip
    _add_mappings_option(build)
    build.add_argument("--agreement", required=True, help="data-sharing agreement TOML file")
    build.add_argument("--period", required=True, help="reporting month YYYY-MM")
    build.add_argument("--out", required=True, help="directory for the feed files")
    _add_workers_option(build)
    add_data_dir_option(build)
    cli_release.register_feed(sub)


def _add_hub(commands: argparse._SubParsersAction) -> None:
    sub = add_group(commands, "hub", "the commissioner's hub: receive, store, report")
    cli_release.register_hub(sub)
    cli_hub.register(sub)


def _add_mappings(commands: argparse._SubParsersAction) -> None:
    sub = add_group(commands, "mappings", "check mappings and what they cover")
    check = _command(
        sub,
        "check",
        "Check mappings directories (with the bundled ones): every file and element that is "
        "wrong is named; exit status 1 when there is any.",
        _mappings_check,
    )
    check.add_argument("dirs", nargs="+", metavar="DIR", help="a mappings directory")
    coverage = _command(
        sub,
        "coverage",
        "List the codes seen in an export that no mapping covers, most frequent first.",
        _mappings_coverage,
    )
    coverage.add_argument("--source", required=True, help="bulk export directory or file")
    _add_mappings_option(coverage)
    coverage.add_argument("--limit", type=int, default=50, help="rows to show (0 = all)")
    _add_workers_option(coverage)


def _add_mappings_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--mappings",
        action="append",
        default=[],
        metavar="DIR",
        help="a mappings directory (ConceptMaps, Questionnaires, lookup CSVs) added to the "
        "bundled mappings; may repeat",
    )


def _add_workers_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--workers", type=int, help="processes to read with (default: all cores for big sources)"
    )


if __name__ == "__main__":
    sys.exit(main())
