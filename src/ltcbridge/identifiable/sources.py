"""GP sources as bytes: the NDJSON files of a FHIR Bulk Data export, cut into chunks.

A chunk is a byte range that starts and ends on a line boundary, so several processes can read
one large file at once without holding it in memory. Line numbers for error messages are put back
together afterwards from each chunk's own line count.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ltcbridge.errors import SourceError

CHUNK_BYTES = 8 * 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"
NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl")
# Where SMART's bulk-data-client (the usual way to download an export) writes the manifest's
# error files (OperationOutcomes): beside the resources, in a folder of their own. Its deleted/
# folder is not read: it holds deletions since an earlier export, and a feed is built from a
# whole export, which has none.
ERROR_FOLDER = "error"
DELETED_FOLDER = "deleted"
# the diagnostic a scan records for a deleted/ folder: the export is of changes only
INCREMENTAL_EXPORT = "files of deletions since an earlier export (deleted/), not read"


@dataclass(frozen=True)
class Chunk:
    """A line-aligned byte range of one file; ``index`` orders chunks across the whole source."""

    index: int
    path: str
    start: int
    end: int  # -1 = to the end (gzip files are one chunk)

    @property
    def name(self) -> str:
        return Path(self.path).name


def source_files(source: Path | str) -> list[Path]:
    """The NDJSON files of a source (a directory of them, or one file), or a clear error."""
    path = Path(source)
    if not path.exists():
        raise SourceError(f"source {path} does not exist: give a bulk-export directory or file")
    if path.is_file():
        files = [path]
    else:
        files = _ndjson_in(path)
        if (path / ERROR_FOLDER).is_dir():  # the error files, where a download put them apart
            files += _ndjson_in(path / ERROR_FOLDER)
        if not files:
            raise SourceError(
                f"source {path} has no .ndjson files: is it the directory a FHIR $export wrote?"
            )
    unreadable = [p for p in files if not os.access(p, os.R_OK)]
    if unreadable:
        raise SourceError(f"cannot read {', '.join(map(str, unreadable))}: check the permissions")
    if all(p.stat().st_size == 0 for p in files):
        raise SourceError(f"source {path} is empty: there is nothing to read")
    return files


def deletion_files(source: Path | str) -> list[Path]:
    """The NDJSON files of a download's ``deleted/`` folder (see ``ERROR_FOLDER``): present
    only in an export of what changed since an earlier one, which is not a whole record."""
    folder = Path(source) / DELETED_FOLDER
    return _ndjson_in(folder) if folder.is_dir() else []


def _ndjson_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(NDJSON_SUFFIXES))


def plan_chunks(files: list[Path], chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Cut every file into line-aligned chunks of about ``chunk_bytes``."""
    chunks: list[Chunk] = []
    for path in files:
        if path.name.endswith(".gz"):
            chunks.append(Chunk(len(chunks), str(path), 0, -1))
            continue
        for start, end in _line_aligned_ranges(path, chunk_bytes):
            chunks.append(Chunk(len(chunks), str(path), start, end))
    return chunks


def _line_aligned_ranges(path: Path, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    size = path.stat().st_size
    start = 0
    with path.open("rb") as handle:
        while start < size:
            end = min(start + chunk_bytes, size)
            if end < size:
                handle.seek(end)
                handle.readline()  # run on to the end of the line we landed in
                end = handle.tell()
            yield start, end
            start = end


def read_lines(chunk: Chunk) -> list[bytes]:
    """The raw lines of one chunk, without their newlines (one read: chunks are bounded)."""
    lines = read_chunk(chunk).split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the file's final newline ends the last line; it does not start another
    return lines


def open_lines(chunk: Chunk) -> io.BytesIO:
    """The lines of one chunk to iterate over, each with its newline (the scan's way).

    An in-memory buffer finds the newlines with ``memchr`` (twice as fast as ``bytes.split``)
    and makes each line only as it is reached, so that a line is freed while it is still in
    the processor's cache. The JSON parser ignores the newline."""
    return io.BytesIO(read_chunk(chunk))


def read_chunk(chunk: Chunk) -> bytes:
    """The chunk's bytes; a file's UTF-8 byte order mark (which Windows tools add, and NDJSON
    does not have) is left out, so that the first line parses."""
    data = _read_bytes(chunk)
    if chunk.start == 0 and data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM) :]
    return data


def _read_bytes(chunk: Chunk) -> bytes:
    if chunk.end == -1:
        try:
            with gzip.open(chunk.path, "rb") as handle:
                return handle.read()
        except (OSError, EOFError, zlib.error) as exc:  # a damaged or cut-off file: no line of
            raise SourceError(  # it can be trusted, and a feed without it would undercount
                f"{chunk.path} cannot be decompressed ({exc}): the file is damaged or cut "
                "off; export it again (nothing was written)"
            ) from None
    with open(chunk.path, "rb") as handle:
        handle.seek(chunk.start)
        return handle.read(chunk.end - chunk.start)
