"""What every part of the ``ltcbridge`` command shares: one way to declare a subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from ltcbridge.identifiable.scan import ProgressCallback


def add_command(
    group: argparse._SubParsersAction, name: str, text: str, run: Callable[..., int]
) -> argparse.ArgumentParser:
    """A subcommand whose help and description are the same sentence, and which runs ``run``."""
    command = group.add_parser(name, help=text, description=text)
    command.set_defaults(run=run)
    return command


def add_group(
    commands: argparse._SubParsersAction, name: str, text: str
) -> argparse._SubParsersAction:
    """A command group (``ltcbridge feed``, ``ltcbridge hub`` ...): named alone, it shows its own
    commands (exit status 2, wrong usage) rather than the top-level help."""
    group = commands.add_parser(name, help=text, description=text)

    def show_help(_: argparse.Namespace) -> int:
        group.print_help()
        return 2

    group.set_defaults(run=show_help)
    return group.add_subparsers(title=f"{name} commands", metavar="COMMAND")


def add_data_dir_option(command: argparse.ArgumentParser) -> None:
    """``--data-dir``: where what stays in the practice is kept (history, receipts, quarantine)."""
    from ltcbridge.private_data import DATA_DIR_ENV

    command.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the practice data directory, kept owner-only: the release history every build is "
        "protected against, receipts, quarantined input, cohort extracts (default: "
        f"${DATA_DIR_ENV}, else ~/.local/share/ltcbridge); never inside --out",
    )


def practice_data(args: argparse.Namespace) -> Path:
    """The practice data directory the command was given (made owner-only when missing)."""
    from ltcbridge.private_data import data_dir

    return data_dir(getattr(args, "data_dir", None))


def refuse_inside(private: Path, out: str | Path | None, what: str) -> None:
    """What stays in the practice is never written inside an output folder (a drop folder)."""
    from ltcbridge.errors import LtcbridgeError
    from ltcbridge.private_data import is_inside

    if out is not None and is_inside(private, Path(out)):
        raise LtcbridgeError(
            f"{what} ({private}) would be inside --out {out}, which may be sent or shared: "
            "choose another --data-dir or --out"
        )


def add_mappings_option(command: argparse.ArgumentParser) -> None:
    """``--mappings DIR`` (repeatable), added to the bundled mappings."""
    command.add_argument(
        "--mappings",
        action="append",
        default=[],
        metavar="DIR",
        help="a mappings directory (ConceptMaps, Questionnaires, lookup CSVs) added to the "
        "bundled mappings; may repeat",
    )


def add_workers_option(command: argparse.ArgumentParser) -> None:
    """``--workers N``: processes to read a big source with."""
    command.add_argument(
        "--workers", type=int, help="processes to read with (default: all cores for big sources)"
    )


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback | None]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    err = Console(stderr=True)
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
