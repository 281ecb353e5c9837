"""What stays in the practice: its data directory, and files only their owner can read.

The release history, the receipts, quarantined input (whole patient records), cohort extracts and
pseudonym keys never leave the practice. They live in one *practice data directory*, never in
the working directory and never inside a command's ``--out`` (which may be a drop folder):

1. ``--data-dir DIR`` on the command line, else
2. the environment variable ``LTCBRIDGE_DATA_DIR``, else
3. ``$XDG_DATA_HOME/ltcbridge`` (``~/.local/share/ltcbridge`` by default).

The daemon uses its own state directory the same way. Every folder made here is 0700 and every
file 0600, so other users of the machine read none of it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ltcbridge.errors import LtcbridgeError

DATA_DIR_ENV = "LTCBRIDGE_DATA_DIR"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600

HISTORY_FILE = "history.sqlite"
RECEIPTS_FILE = "receipts.sqlite"
QUARANTINE_DIR = "quarantine"
COHORT_DIR = "cohort"
RELEASES_DIR = "releases"  # manifests: why each figure was masked, for the IG lead
PSEUDONYM_KEY_FILE = "pseudonym.key"


class PrivateDataError(LtcbridgeError):
    """The practice data directory cannot be made or used; the message says which path."""


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The practice data directory (made, owner-only, when missing)."""
    if explicit:
        path = Path(explicit)
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV])
    else:
        base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
        path = Path(base) / "ltcbridge"
    return private_dir(path)


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (made, or tightened if it is ours)."""
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR_MODE:
            path.chmod(PRIVATE_DIR_MODE)
    except OSError as exc:
        raise PrivateDataError(
            f"cannot use {path} for data that stays in the practice ({exc.strerror}); give a "
            f"directory you can write with --data-dir or {DATA_DIR_ENV}"
        ) from None
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and owner-only if missing (before SQLite opens it: its journal files
    take the database file's permissions), or tighten an existing one."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE_MODE)
        os.close(descriptor)
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE_FILE_MODE:
            path.chmod(PRIVATE_FILE_MODE)
    except OSError as exc:
        raise PrivateDataError(f"cannot write {path} ({exc.strerror})") from None
    return path


@contextmanager
def write_private(path: Path, mode: str = "wb", **options: object) -> Iterator[IO]:
    """Write `path` owner-only and whole: into a temporary file beside it, moved into place only
    when the writing finished, so a failure leaves nothing partial behind."""
    private_dir(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, mode, **options) as handle:  # type: ignore[call-overload]
            yield handle
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or below it (both resolved, so links do not hide it)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents
