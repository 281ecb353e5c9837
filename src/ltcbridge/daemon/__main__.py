"""``python -m ltcbridge.daemon COMMAND``: the daemon's commands without the rest of the CLI.

Service wrappers (systemd, NSSM, sc.exe) can call this entry point directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.markup import escape

from ltcbridge.cli.daemon import EXIT_ERROR, err, register
from ltcbridge.errors import LtcbridgeError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltcbridge.daemon")
    register(parser.add_subparsers(title="commands", metavar="COMMAND"))
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except LtcbridgeError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
