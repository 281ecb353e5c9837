"""The ``ltcbridge`` command: a thin shell over the library.

Exit status, the same for every command (``cli.support``, docs/cli.md): 0 done; 1 error, nothing
done (the message says what to do); 2 wrong usage; 3 done, but some input was set aside for a
person; 4 incomplete (``hub status --strict``).

Every command imports what it uses when it runs: building the parser imports no more than rich
and the command modules' argument definitions, so ``--help`` and each command start fast.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from ltcbridge import __version__
from ltcbridge.cli import daemon, feed, hub, mappings, provider, release, secagg
from ltcbridge.cli.support import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SET_ASIDE,
    EXIT_STATUS_TEXT,
    EXIT_USAGE,
    HelpFormatter,
    add_force_option,
    add_group,
    err,
    out,
)
from ltcbridge.cli.support import add_command as _command
from ltcbridge.errors import LtcbridgeError, MappingError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINED", "EXIT_SET_ASIDE", "EXIT_USAGE", "main"]

EXIT_QUARANTINED = EXIT_SET_ASIDE  # the name earlier callers import
PIPED_WIDTH = 1000  # wider than any table: a table is as wide as its content needs


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one command, and turn every error a user can cause into a message and an exit
    status: this is the only place a command's errors are caught."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    out.quiet = bool(args.quiet or getattr(args, "json", False))  # JSON goes to stdout alone
    if not out.is_terminal:
        out.width = PIPED_WIDTH  # rich would cut every table at 80 columns in a pipe or a file
    try:
        return args.run(args)
    except MappingError as exc:
        return _error(f"{exc}\nFix the mappings named above, then run again.")
    except LtcbridgeError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        err.print("interrupted: nothing was sent; files already written are complete ones")
        return EXIT_ERROR
    except OSError as exc:  # a folder that cannot be written, a full disk, a file that went away
        where = f" ({exc.filename})" if exc.filename else ""
        return _error(
            f"{exc.strerror or exc}{where}: check the path and its permissions (and free "
            "space), then run again"
        )
    except sqlite3.Error as exc:  # a database file the commands below did not name themselves
        return _error(
            f"a database could not be used ({exc}): check the --store, --config or --data-dir "
            "path, that it is a file you can write, and that no other program holds it"
        )
    finally:
        out.quiet = False


def _error(message: str) -> int:
    """``error: ...`` on standard error, markup-free (a ``[practices]`` in it stays as written)."""
    err.print(f"[red]error:[/] {escape(message)}")
    return EXIT_ERROR


# -- commands ------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from ltcbridge.cli.support import staged_dir
    from ltcbridge.demo import run_demo

    with staged_dir(args.out, force=args.force) as staging:
        status = run_demo(staging, args.period, out, shown_as=Path(args.out))
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltcbridge",
        description="Unmet need from GP care planning, to providers and commissioners (FHIR R4).",
        epilog=f"{EXIT_STATUS_TEXT} --json: stdout holds one JSON document. See docs/cli.md.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ltcbridge {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print errors only (and warnings)"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_demo(commands)
    feed.register(add_group(commands, "feed", "build the commissioner feed"))
    mappings.register(add_group(commands, "mappings", "check mappings and what they cover"))
    daemon.register(commands)
    provider.register(commands)
    release.register(commands)
    hub.register(add_group(commands, "hub", "the commissioner's hub: receive, store, report"))
    secagg.register(commands)  # secure aggregation
    return parser


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = _command(
        commands,
        "demo",
        "Run the whole journey on bundled synthetic practices with embedded defaults: read, "
        "count, disclose, write the feed (JSON and CSV), and explain what happened.",
        _demo,
    )
    demo.add_argument("--out", required=True, help="new or empty folder to write the demo into")
    demo.add_argument("--period", default="2026-10", help="reporting month YYYY-MM")
    add_force_option(demo)
