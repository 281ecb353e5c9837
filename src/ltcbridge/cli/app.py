"""The ``ltcbridge`` command: a thin shell over the library.

Exit status: 0 done; 1 error (the message says what to do); 2 wrong usage; 3 done, but some input
was quarantined and needs a person to look at it.

Every command imports what it uses when it runs: building the parser imports no more than rich
and the command modules' argument definitions, so ``--help`` and each command start fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from ltcbridge import __version__
from ltcbridge.cli import daemon, feed, hub, mappings, provider, release, secagg
from ltcbridge.cli.support import add_command as _command
from ltcbridge.cli.support import add_group
from ltcbridge.errors import LtcbridgeError, MappingError

if TYPE_CHECKING:
    pass

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
def _demo(args: argparse.Namespace) -> int:
    from ltcbridge.demo import run_demo

    return run_demo(Path(args.out), args.period, out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltcbridge",
        description="Unmet need from GP care planning, to providers and commissioners (FHIR R4).",
        epilog="Exit status: 0 done; 1 error; 2 wrong usage; 3 done with quarantined input.",
    )
    parser.add_argument("--version", action="version", version=f"ltcbridge {__version__}")
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
    demo.add_argument("--out", required=True, help="directory to write the demo into")
    demo.add_argument("--period", default="2026-10", help="reporting month YYYY-MM (2026-10)")
