"""What every part of the ``ltcbridge`` command shares: one way to declare a subcommand."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from ltcbridge.agreement import Agreement
    from ltcbridge.identifiable.scan import ProgressCallback
    from ltcbridge.pipeline import FeedBuild

# One console for what a command says (standard output) and one for errors, warnings and progress
# (standard error), shared by every command so that --quiet and --json silence them in one place.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, when it has one worth saying (not None,
    False or an empty list), so ``--help`` shows what happens when an option is left out."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, [], argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_command(
    group: argparse._SubParsersAction, name: str, text: str, run: Callable[..., int]
) -> argparse.ArgumentParser:
    """A subcommand whose help and description are the same sentence, and which runs ``run``."""
    command = group.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)
    command.set_defaults(run=run)
    return command


def add_group(
    commands: argparse._SubParsersAction, name: str, text: str
) -> argparse._SubParsersAction:
    """A command group (``ltcbridge feed``, ``ltcbridge hub`` ...): named alone, it shows its own
    commands (exit status 2, wrong usage) rather than the top-level help."""
    group = commands.add_parser(name, help=text, description=text, formatter_class=HelpFormatter)

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


def load_agreement(path: str | Path) -> Agreement:
    """The ``--agreement`` file, with a message naming the option when it is a folder (the
    library's own message would only say "Is a directory")."""
    from ltcbridge.agreement import load_agreement as load
    from ltcbridge.errors import LtcbridgeError

    if Path(path).is_dir():
        raise LtcbridgeError(
            f"--agreement {path} is a folder: give the data-sharing agreement's TOML file"
        )
    return load(path)


def check_writable(out: str | Path, option: str) -> None:
    """Before a long build: the folder ``out`` is (or will be made) somewhere that can be
    written, so that a mistyped or forbidden place fails at once."""
    from ltcbridge.errors import LtcbridgeError

    target = Path(out)
    if target.exists() and not target.is_dir():
        raise LtcbridgeError(f"{option} {out} is a file, not a folder: give a folder")
    base = target if target.is_dir() else _nearest_existing(target)
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise LtcbridgeError(f"{option} {out}: cannot write in {base}: give a folder you can write")


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


def showing_progress() -> bool:
    """Progress is drawn on standard error, only when it is a terminal and not under --quiet or
    --json: a log file or a pipe gets no control characters."""
    return err.is_terminal and not out.quiet


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback | None]:
    """A bar (bytes read of the total) for a stage that reports its progress."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    if not showing_progress():
        yield None
        return
    with Progress(
        f"{label}", BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def stage(label: str) -> Iterator[None]:
    """A spinner for a long stage that cannot count its progress (the disclosure rules)."""
    if not showing_progress():
        yield
        return
    with err.status(label):
        yield


# -- output for scripts and for people -----------------------------------------------------------
def add_json_option(command: argparse.ArgumentParser, what: str) -> None:
    """``--json``: standard output holds one JSON document and nothing else (docs/cli.md)."""
    command.add_argument("--json", action="store_true", help=f"print {what} (keys: docs/cli.md)")


def print_json(document: object) -> None:
    """One JSON document on standard output, keys sorted so that output is stable."""
    import sys

    import orjson

    data = orjson.dumps(
        document,
        default=str,
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A table for a person on a terminal; tab-separated lines (a header, then one line a row,
    nothing cut at 80 columns, no markup) when standard output is a pipe or a file."""
    from rich.table import Table

    if not out.is_terminal:
        if out.quiet:
            return
        import sys

        for line in (columns, *rows):
            sys.stdout.write("\t".join(_plain(cell) for cell in line) + "\n")
        return
    table = Table(title=escape(title))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_plain(cell)) for cell in row))
    out.print(table)


def _plain(cell: object) -> str:
    return " ".join(str(cell).split())  # no tab or newline inside a cell


# -- exit status: one meaning each, the same for every command (docs/cli.md) ---------------------
EXIT_OK = 0  # done
EXIT_ERROR = 1  # error: nothing (more) was done; the message says what to do
EXIT_USAGE = 2  # wrong usage: an option missing or malformed (argparse's own status)
EXIT_SET_ASIDE = 3  # done, but some input was set aside for a person to look at
EXIT_INCOMPLETE = 4  # done, but what was expected is incomplete (hub status --strict)

EXIT_STATUS_TEXT = (
    "Exit status: 0 done; 1 error, nothing done (the message says what to do); 2 wrong usage; "
    "3 done, but some input was set aside for a person (quarantined lines, refused files, "
    "rejected releases, rows left out); 4 incomplete (hub status --strict: returns missing)."
)


def set_aside(flag: object) -> int:
    """Exit status 3 when anything was set aside for a person, else 0."""
    return EXIT_SET_ASIDE if flag else EXIT_OK


# -- URLs given on the command line --------------------------------------------------------------
def http_url(value: str) -> str:
    """An argparse ``type``: an http(s) URL with a host, refused at once (exit status 2, wrong
    usage) by the FHIR client's own check."""
    from ltcbridge.fhirclient.errors import InvalidEndpointError, check_base_url

    try:
        return check_base_url(value)
    except InvalidEndpointError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- output written whole or not at all ----------------------------------------------------------
OUTPUT_MARK = ".ltcbridge-output"  # in every output folder we write: --force may replace it


def add_force_option(command: argparse.ArgumentParser, what: str = "--out") -> None:
    """``--force``: replace a previous output of ltcbridge (never a folder of other files)."""
    command.add_argument(
        "--force",
        action="store_true",
        help=f"replace {what} when it holds a previous ltcbridge output (a folder of other "
        "files, your home folder or / are never replaced)",
    )


def _refuse_existing_dir(out: Path, option: str, force: bool) -> None:
    """An existing ``out`` must be empty, or (with --force) a previous output of ours."""
    from ltcbridge.errors import LtcbridgeError

    if not out.exists():
        return
    if not out.is_dir():
        raise LtcbridgeError(f"{option} {out} is a file, not a folder: give a folder")
    if not any(out.iterdir()):
        return
    if not force:
        raise LtcbridgeError(
            f"{option} {out} already holds files: give an empty or new folder, or --force to "
            "replace a previous output of ltcbridge (old reports are never left beside new ones)"
        )
    resolved = out.resolve()
    never = (Path.home().resolve(), Path(resolved.anchor))
    if resolved in never or not (out / OUTPUT_MARK).is_file():
        raise LtcbridgeError(
            f"{option} {out} holds files ltcbridge did not write (it has no {OUTPUT_MARK}), so "
            "--force does not replace it: give an empty or new folder"
        )


def _nearest_existing(path: Path) -> Path:
    """The closest folder that exists on the way to ``path`` (where a staging copy can live)."""
    for candidate in path.absolute().parents:
        if candidate.exists():
            return candidate
    return Path(path.absolute().anchor)


def _staging_name(out: Path, kind: str) -> str:
    return f".{out.name or 'out'}.{kind}-{os.getpid()}"


@contextmanager
def staged_dir(out: str | Path, *, option: str = "--out", force: bool = False) -> Iterator[Path]:
    """Write an output folder whole or not at all.

    Checked and created before any work (an unwritable place fails at once, not after a long
    build); filled under a hidden name (beside ``out``, or inside it when it exists, so that
    an existing folder stays the same folder: a shell's working directory, its permissions);
    moved into place only when the block ends without error, replacing a previous output of
    ours (``force``). On any error the staging folder is removed and ``out`` is as it was.
    """
    from ltcbridge.errors import LtcbridgeError

    out = Path(out).absolute()  # "." has no name or parent to stage beside
    _refuse_existing_dir(out, option, force)
    base = out if out.is_dir() else _nearest_existing(out)
    staging = base / _staging_name(out, "partial")
    try:
        staging.mkdir()
        (staging / OUTPUT_MARK).write_text(
            "Written by ltcbridge. `--force` may replace this folder and everything in it.\n",
            encoding="utf-8",
        )
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise LtcbridgeError(
            f"{option} {out}: cannot write in {base} ({exc.strerror}): give a folder you can write"
        ) from None
    try:
        yield staging
        _move_into_place(staging, out, option)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, out: Path, option: str) -> None:
    """Put the finished output at ``out``: a new folder is one rename; into an existing one,
    the previous output's files are moved aside first and removed once the new ones are in."""
    from ltcbridge.errors import LtcbridgeError

    try:
        if not out.is_dir():
            out.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(out)
            return
        previous = out / _staging_name(out, "previous")
        previous.mkdir()
        _move_entries(out, previous, keep={staging.name, previous.name})
        _move_entries(staging, out)
    except OSError as exc:
        raise LtcbridgeError(
            f"{option} {out}: cannot move the output into place ({exc.strerror}); any earlier "
            "output is in a hidden .previous folder inside it"
        ) from None
    shutil.rmtree(previous, ignore_errors=True)


def _move_entries(source: Path, target: Path, keep: Collection[str] = ()) -> None:
    """Rename every entry of ``source`` (but those in ``keep``) into ``target``."""
    for entry in list(source.iterdir()):
        if entry.name not in keep:
            entry.rename(target / entry.name)


@contextmanager
def staged_file(target: str | Path, *, option: str, force: bool = False) -> Iterator[Path]:
    """Write one output file whole or not at all: its folder is checked first, it is written
    under a hidden name beside it and renamed over ``target`` only on success. An existing
    file is replaced only with ``force`` (it may be a filled-in spreadsheet or an earlier
    export)."""
    from ltcbridge.errors import LtcbridgeError

    target = Path(target)
    if target.is_dir():
        raise LtcbridgeError(f"{option} {target} is a folder: give a file name")
    if target.exists() and not force:
        raise LtcbridgeError(
            f"{option} {target} already exists: give a new file name, or --force to replace it"
        )
    if not target.parent.is_dir():
        raise LtcbridgeError(
            f"{option} {target}: {target.parent} is not an existing folder: create it or give "
            "another path"
        )
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        yield partial
        os.replace(partial, target)
    except OSError as exc:
        raise LtcbridgeError(
            f"{option} {target}: cannot write ({exc.strerror}): give a path you can write"
        ) from None
    finally:
        partial.unlink(missing_ok=True)


def sender_of(build: FeedBuild, given: str | None) -> str:
    """The reporting organisation whose figures this release carries (one per release): the
    one ``--sender`` names, or the build's only one (``feed seal`` and ``secagg contribute``)."""
    from ltcbridge.errors import LtcbridgeError

    orgs = build.orgs
    if given and given.upper() in orgs:
        return given.upper()
    if not given and len(orgs) == 1:
        return orgs[0]
    listed = ", ".join(orgs) or "none"
    if given:
        raise LtcbridgeError(
            f"{given} reports nothing in this build (it reports {listed}): give "
            "--sender one of those"
        )
    raise LtcbridgeError(
        f"the export holds {len(orgs)} reporting organisations ({listed}); a "
        "release carries one: say which with --sender"
    )
