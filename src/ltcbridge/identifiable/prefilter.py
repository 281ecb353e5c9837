"""Deciding from a line's raw bytes, before any JSON parsing, that it cannot count.

A real GP record is mostly clinical data no care-planning measure reads (blood pressures, labs,
prescriptions, claims): hundreds of resources a person. Parsing each of them costs more than
everything else a feed build does, so ``LineFilter`` looks at the raw NDJSON line first and says
which lines provably cannot change a count; those are tallied by type (as they would be after
parsing) and never parsed. Every other line is parsed and read exactly as without the filter.

The test is an over-approximation, never a guess. A line is skipped only when all of this holds:

* it starts with ``{"resourceType":"X"`` (the compact form exports write; anything else is parsed),
  X being a FHIR type with a rule below, and it ends with ``}`` (then ``\\n`` or ``\\r\\n``, as
  NDJSON allows: a line cut off elsewhere is parsed, and so quarantined as today);
* for a coded type (Observation, Condition, Procedure, ServiceRequest, Encounter), no
  ``"code":"C"`` in the line names a code C that any mapping lists (plain, conditional, Star or
  NHS-use codes alike), wherever in the resource it is; for MedicationRequest, no status is
  ``active`` or ``completed``; for Appointment, none is ``fulfilled``. Types the build never reads
  (Claim, Immunization, DiagnosticReport...) need no test;
* JSON escapes cannot hide a code: the only escapes that can stand for a letter, digit or ``/``
  are ``\\uXXXX`` and ``\\/``, so a coded line with either is parsed; the mappings' codes are
  checked to need no escape at all (``"``, ``\\``, control characters), else the filter is off.

The tests of a line's text run in Hyperscan (the ``"key":"value"`` test and the escapes in one
compiled database), which finds a match in a kilobyte line in half the time of ``re``; a line is
tested only after its type has been read from its first bytes.

Patients, Organizations, Bundles, Goals, Tasks, QuestionnaireResponses, the export's diagnostics
(OperationOutcome, log lines) and unknown types are always parsed. A skipped entry still matters in
one way: as a later version it would retract an earlier one that counts. So a skipped entry's id is
kept (it must follow resourceType; otherwise the line is parsed) as its identifier, and
``scan_source`` reads the source again without the filter if one is that of an entry version read.

Unmapped codes on skipped lines are not tallied: ``ltcbridge mappings coverage`` reads every line.

The scan hands each chunk to ``LineFilter.lines_to_parse``, which tallies the skipped lines itself
and passes on only the rest: for a typical export, nineteen lines in twenty never reach the
scan's loop. A chunk where testing does not pay (few lines skipped in its first 256) is passed
on untested; the rest of a chunk of one tested type, as a Bulk Data export writes (a file a
type), is tested at once, in a few passes over its bytes in C rather than a loop over its lines.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import hyperscan
import numpy as np

from ltcbridge.identifiable.identifiers import SEPARATOR
from ltcbridge.identifiable.read import CODED_ENTRY_TYPES, ENTRY_TYPES
from ltcbridge.mapping import Mappings
from ltcbridge.resource_types import FHIR_RESOURCE_TYPES

_PREFIX = b'{"resourceType":"'
_NEWLINE = ord("\n")
# how a whole line ends (NDJSON allows \r\n); a line cut off elsewhere is parsed, so quarantined
_ENDS = (b"}\n", b"}\r\n", b"}")
_KEY = SEPARATOR.encode()  # between a line's type and its id, as identifiers hash them
# Read whenever present: people, practices, Bundles (their entries), the export's diagnostics, and
# entries whose every line may count (Goals, providers' answers, template answers).
ALWAYS_READ = frozenset(
    {"Patient", "Organization", "Bundle", "OperationOutcome"}
    | {"Goal", "Task", "QuestionnaireResponse"}
)
_CODED = CODED_ENTRY_TYPES | {"Encounter"}  # an Encounter counts through its class and type codes
_STATUS_WORDS = {  # an NHS-use entry counts only with one of these statuses
    "MedicationRequest": ("active", "completed"),
    "Appointment": ("fulfilled",),
}
# Lines a batch: the filter stops testing a chunk where a batch skipped fewer than one in
# SKIPPING_AT_LEAST (the share of its cost the test adds to a line that is then parsed anyway).
BATCH_LINES = 2048
SAMPLE_LINES = 256  # lines tested one by one before the rest of a chunk is tested at once, or not
SKIPPING_AT_LEAST = 10
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
# the only JSON escapes that can stand for a letter, digit or "/" (so could hide a code or status)
_HIDING_ESCAPE = rb"\\[u/]"
_ID = rb'[A-Za-z0-9\-.]{1,64})"'  # a FHIR id (its closing quote outside the group)


def _trie(words: Iterable[str]) -> str:
    """A regular expression matching exactly ``words``, as a trie: one pass, whatever their
    number (an alternation of hundreds of codes would try each at every place)."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        children = sorted(node.items())
        branches = [re.escape(char) + pattern(child) for char, child in children if char]
        if not branches:
            return ""
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if "" in node else group

    return pattern(root)


def _value_of(key: str, words: Iterable[str]) -> bytes:
    """``"key":"word"`` for any of ``words``, with any JSON whitespace around the colon."""
    return f'"{key}"\\s*:\\s*"{_trie(words)}"'.encode()


LineTest = Callable[..., None]  # Hyperscan's ``Database.scan``: raises ScanTerminated on a match
# which of a chunk test's expressions matched: the rule's test, an escape, a line not ending in "}"
_TEST, _ESCAPE, _BAD_END = 0, 1, 2
_BAD_LINE_END = rb"[^}\r]\n|[^}]\r\n"  # a line ending in neither "}\n" nor "}\r\n"


@dataclass(frozen=True)
class _Rule:
    """How lines of one type are tested: not at all (a type the build never reads), or by
    their text, one line at a time (``line``) or a run of lines at once (``lines``)."""

    kind: str
    line: LineTest | None = None
    lines: hyperscan.Database | None = None
    key: re.Pattern[bytes] | None = None  # a line's key, where the line follows a newline


def _tested(kind: str, pattern: bytes) -> _Rule:
    """The rule for lines of ``kind`` that may count when they match ``pattern`` or hold an
    escape that could hide a match."""
    line, lines = _compiled(pattern)
    key = re.compile(b"\\n" + re.escape(_PREFIX) + b"(" + re.escape(kind.encode() + _KEY) + _ID)
    return _Rule(kind, line.scan, lines, key)


@functools.cache
def _compiled(pattern: bytes) -> tuple[hyperscan.Database, hyperscan.Database]:
    """Hyperscan's databases for a text test, for one line and for many (compiled once a
    process: tens of milliseconds each)."""
    line = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    line.compile(  # for one line: the first match is enough
        expressions=[pattern, _HIDING_ESCAPE],
        ids=[_TEST, _ESCAPE],
        elements=2,
        flags=[hyperscan.HS_FLAG_SINGLEMATCH] * 2,
    )
    lines = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    lines.compile(  # for many: every match, and any line not ending in "}" (then not at once)
        expressions=[pattern, _HIDING_ESCAPE, _BAD_LINE_END],
        ids=[_TEST, _ESCAPE, _BAD_END],
        elements=3,
        flags=[0, 0, 0],
    )
    return line, lines


def _stop(*_: Any) -> bool:
    """Hyperscan's match handler: stop at the first match (the line must be parsed)."""
    return True


def mapped_codes(mappings: Mappings) -> set[str]:
    """Every code a mapping lists, in any system: what a coded entry must carry to count."""
    codes: set[str] = set()
    for table in (mappings.by_system, mappings.conditional):
        for by_code in table.values():
            codes.update(by_code)
    return codes


class LineFilter:
    """Says which raw lines cannot count (see the module docstring)."""

    def __init__(self, mappings: Mappings) -> None:
        codes = mapped_codes(mappings)
        # a code that JSON must escape could hide from the test; a fixed mapping makes every
        # code of its system count: then coded lines are all parsed
        coded_filter = bool(codes) and not mappings.fixed
        coded_filter = coded_filter and not any(_NEEDS_ESCAPE.search(c) for c in codes)
        code_test = _value_of("code", codes) if coded_filter else None
        self.rules: dict[bytes, _Rule] = {}
        for kind in FHIR_RESOURCE_TYPES - ALWAYS_READ:
            if kind in _CODED:
                if code_test is None:
                    continue
                rule = _tested(kind, code_test)
            elif kind in _STATUS_WORDS:
                rule = _tested(kind, _value_of("status", _STATUS_WORDS[kind]))
            elif kind in ENTRY_TYPES:
                continue  # an entry type without a rule here: read
            else:
                rule = _Rule(kind)  # a type the build never reads
            self.rules[kind.encode()] = rule

    def skip(self, line: bytes) -> tuple[str, bytes | None] | None:
        """``(type, key)`` of a line that cannot count, None when the line must be parsed.

        ``key`` is None for a type the build never reads; for an entry type it is the line's
        bytes ``Type","id":"id``, which ``Identifiers.of_raw`` turns into the entry's identifier
        without decoding anything. (One line at a time, for tests and tools: ``lines_to_parse``
        is the scan's way.)"""
        skipped = Skipped[bytes]()
        if any(self.lines_to_parse(line, skipped, bytes)):
            return None
        kind = next(iter(skipped.entries or skipped.never_read))
        return kind, (skipped.keys[0] if skipped.entries else None)

    def lines_to_parse(
        self, data: bytes, skipped: Skipped[Key], key_of: Callable[[bytes], Key]
    ) -> Iterator[tuple[int, bytes]]:
        """The lines of ``data`` (a chunk of NDJSON) that must be parsed, numbered from 1; the
        others are tallied in ``skipped`` (an entry's key made by ``key_of``).

        Lines are tested one by one, in a loop written inline. Once the first ``SAMPLE_LINES``,
        or a later batch of ``BATCH_LINES``, ends with fewer than one line in
        ``SKIPPING_AT_LEAST`` skipped so far, the rest pass untested: a source of what counts is
        parsed more cheaply than tested. Otherwise, after the sample, the rest of a chunk whose
        lines are all of one tested type (as a Bulk Data export writes them: a file a type) is
        tested at once (``_rest_at_once``)."""
        lines = io.BytesIO(data)
        rules, key_length = self.rules, len(_KEY)
        stop, terminated = _stop, hyperscan.ScanTerminated
        entries, never_read, keys = skipped.entries, skipped.never_read, skipped.keys
        line_no, batch_end = 0, SAMPLE_LINES  # the first batch: the sample
        for line in lines:
            line_no += 1
            if line_no > batch_end:
                skipped.lines_seen = line_no - 1
                if skipped.lines * SKIPPING_AT_LEAST < line_no:
                    yield line_no, line
                    yield from enumerate(lines, start=line_no + 1)
                    return
                if batch_end == SAMPLE_LINES:
                    start = lines.tell() - len(line)
                    rest = self._rest_at_once(data, start, line_no, skipped, key_of)
                    if rest is not None:
                        yield from rest
                        return
                batch_end += BATCH_LINES
            if not line.startswith(_PREFIX):
                yield line_no, line
                continue
            end = line.find(b'"', 17)
            rule = rules.get(line[17:end])
            if rule is None or not line.endswith(_ENDS):
                yield line_no, line
                continue
            test = rule.line
            if test is None:
                skipped.lines += 1
                never_read[rule.kind] = never_read.get(rule.kind, 0) + 1
                continue
            try:
                test(line, match_event_handler=stop)  # a code or status that may count
            except terminated:
                yield line_no, line
                continue
            id_end = line.find(b'"', end + key_length)
            key = line[17:id_end]
            # a FHIR id is ASCII letters, digits, - and .: anything else is parsed (and judged)
            if (
                id_end <= end + key_length
                or not line.startswith(_KEY, end)
                or not key.isascii()
                or b"\\" in key
            ):
                yield line_no, line
                continue
            skipped.lines += 1
            entries[rule.kind] = entries.get(rule.kind, 0) + 1
            keys.append(key_of(key))
        skipped.lines_seen = line_no

    def _rest_at_once(
        self,
        data: bytes,
        start: int,
        line_no: int,
        skipped: Skipped[Key],
        key_of: Callable[[bytes], Key],
    ) -> list[tuple[int, bytes]] | None:
        """The lines to parse from byte ``start`` (line ``line_no``) to the end of ``data``,
        the others tallied, when every one of them is a compact entry of one tested type
        with a FHIR id, and ends in "}"; None otherwise (nothing tallied).

        The same test as line by line, in three passes over the bytes, each in C: a count of
        the lines; Hyperscan, which finds where the rule's test and the escapes match (and any
        line not ending in "}"), stopping as soon as testing at once cannot pay; and, last as
        the costliest, a regular expression that finds every line's key, which checks that
        every line has one. About half the cost of the loop, which makes an object of each
        line."""
        end = data.find(b'"', start + 17)
        rule = self.rules.get(data[start + 17 : end]) if data.startswith(_PREFIX, start) else None
        if rule is None or rule.lines is None or rule.key is None or not data.endswith(_ENDS):
            return None
        lines = _lines_in(data, start)
        ends = _match_ends(rule.lines, memoryview(data)[start:], most=lines // SKIPPING_AT_LEAST)
        if ends is None:
            return None
        found = rule.key.findall(data, start - 1)  # each line's key; the first follows a newline
        if len(found) != lines:
            return None  # a line of another type or layout, or an id that is not FHIR's
        to_parse, parsed = _lines_at(data, start, ends)
        keys = [key for index, key in enumerate(found) if index not in parsed] if parsed else found
        skipped.lines += len(keys)
        skipped.entries[rule.kind] = skipped.entries.get(rule.kind, 0) + len(keys)
        skipped.keys.extend(map(key_of, keys))
        skipped.lines_seen = line_no + len(found) - 1
        return [(line_no + index, line) for index, line in to_parse]


def _lines_in(data: bytes, start: int) -> int:
    """The lines of ``data`` from byte ``start`` (counted in numpy: ``bytes.count`` of one byte
    goes a byte at a time)."""
    newlines = np.count_nonzero(np.frombuffer(data, np.uint8, offset=start) == _NEWLINE)
    return int(newlines) + (not data.endswith(b"\n"))


def _match_ends(database: hyperscan.Database, view: memoryview, most: int) -> list[int] | None:
    """Where in ``view`` a test or an escape matches (the end of each match), or None when a
    line does not end in "}" or more than ``most`` match (then testing at once does not pay)."""
    ends: list[int] = []

    def found(expression: int, _start: int, end: int, _flags: int, _context: object) -> bool:
        ends.append(end)
        return expression == _BAD_END or len(ends) > most  # True stops the scan

    try:
        database.scan(view, match_event_handler=found)  # type: ignore[type-var]  # any buffer
    except hyperscan.ScanTerminated:
        return None
    return ends


def _lines_at(data: bytes, start: int, ends: list[int]) -> tuple[list[tuple[int, bytes]], set[int]]:
    """The lines (index from ``start``, bytes with their newline) holding the match ends
    ``ends`` (offsets from ``start``), and their indexes."""
    lines: list[tuple[int, bytes]] = []
    index, counted_to, line_end = 0, start, start
    for end in sorted(ends):
        at = start + end - 1  # the match's last byte
        if at < line_end:
            continue  # another match in the line just taken
        line_start = data.rfind(b"\n", start, at) + 1 or start
        index += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        line_end = data.find(b"\n", at) + 1 or len(data)
        lines.append((index, data[line_start:line_end]))
    return lines, {index for index, _ in lines}


Key = TypeVar("Key")


@dataclass
class Skipped(Generic[Key]):
    """What ``LineFilter.lines_to_parse`` left unparsed, tallied as reading it would have."""

    lines: int = 0
    lines_seen: int = 0  # lines the filter went through (after it stops testing: fewer)
    entries: dict[str, int] = field(default_factory=dict)  # entry type -> lines
    never_read: dict[str, int] = field(default_factory=dict)  # other types -> lines
    keys: list[Key] = field(default_factory=list)  # each skipped entry's, in order
