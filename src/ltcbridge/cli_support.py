"""What every part of the ``ltcbridge`` command shares: one way to declare a subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_command(
    group: argparse._SubParsersAction, name: str, text: str, run: Callable[..., int]
) -> argparse.ArgumentParser:
    """A subcommand whose help and description are the same sentence, and which runs ``run``."""
    command = group.add_parser(name, help=text, description=text)
    command.set_defaults(run=run)
    return command
