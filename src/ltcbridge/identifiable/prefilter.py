"""Deciding from a line's raw bytes, before any JSON parsing, that it cannot count.

A real GP record is mostly clinical data no care-planning measure reads (blood pressures, labs,
prescriptions, claims): hundreds of resources a person. Parsing each of them costs more than
everything else a feed build does, so ``LineFilter`` looks at the raw NDJSON line first and says
which lines provably cannot change a count; those are tallied by type (as they would be after
parsing) and never parsed. Every other line is parsed and read exactly as without the filter.

The test is an over-approximation, never a guess. A line is skipped only when all of this holds:

* it starts with ``{"resourceType":"X"`` (the compact form exports write; anything else is parsed),
  X being a FHIR type with a rule below, and it ends with ``}`` (a line cut off elsewhere is
  parsed, and so quarantined as today);
* for a coded type (Observation, Condition, Procedure, ServiceRequest, Encounter), no
  ``"code":"C"`` in the line names a code C that any mapping lists (plain, conditional, Star or
  NHS-use codes alike), wherever in the resource it is; for MedicationRequest, no status is
  ``active`` or ``completed``; for Appointment, none is ``fulfilled``. Types the build never reads
  (Claim, Immunization, DiagnosticReport...) need no test;
* JSON escapes cannot hide a code: the only escapes that can stand for a letter, digit or ``/``
  are ``\\uXXXX`` and ``\\/``, so a coded line with either is parsed; the mappings' codes are
  checked to need no escape at all (``"``, ``\\``, control characters), else the filter is off.

Patients, Organizations, Bundles, Goals, Tasks, QuestionnaireResponses, the export's diagnostics
(OperationOutcome, log lines) and unknown types are always parsed. A skipped entry still matters in
one way: as a later version it would retract an earlier one that counts. So a skipped entry's id is
kept (it must follow resourceType; otherwise the line is parsed) as its identifier, and
``scan_source`` reads the source again without the filter if one is that of an entry version read.

Unmapped codes on skipped lines are not tallied: ``ltcbridge mappings coverage`` reads every line.

The scan hands each chunk's lines to ``LineFilter.lines_to_parse``, which tallies the skipped ones
itself and passes on only the rest: for a typical export, nineteen lines in twenty never reach
the scan's loop. A chunk where testing does not pay (few lines skipped) is passed on untested.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ltcbridge.identifiable.identifiers import SEPARATOR
from ltcbridge.identifiable.read import CODED_ENTRY_TYPES, ENTRY_TYPES
from ltcbridge.mapping import Mappings
from ltcbridge.resource_types import FHIR_RESOURCE_TYPES

_PREFIX = b'{"resourceType":"'
_ENDS = (b"}\n", b"}")  # a line cut off elsewhere is parsed, and so quarantined
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
SKIPPING_AT_LEAST = 10
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


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


def _value_of(key: str, words: Iterable[str]) -> re.Pattern[bytes]:
    """``"key":"word"`` for any of ``words``, with any JSON whitespace around the colon."""
    return re.compile(f'"{key}"\\s*:\\s*"{_trie(words)}"'.encode())


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
        self.rules: dict[bytes, tuple[str, re.Pattern[bytes] | None]] = {}
        for kind in FHIR_RESOURCE_TYPES - ALWAYS_READ:
            if kind in _CODED:
                if code_test is None:
                    continue
                test: re.Pattern[bytes] | None = code_test
            elif kind in _STATUS_WORDS:
                test = _value_of("status", _STATUS_WORDS[kind])
            elif kind in ENTRY_TYPES:
                continue  # an entry type without a rule here: read
            else:
                test = None  # a type the build never reads
            self.rules[kind.encode()] = (kind, test)

    def skip(self, line: bytes) -> tuple[str, bytes | None] | None:
        """``(type, key)`` of a line that cannot count, None when the line must be parsed.

        ``key`` is None for a type the build never reads; for an entry type it is the line's
        bytes ``Type","id":"id``, which ``Identifiers.of_raw`` turns into the entry's identifier
        without decoding anything. (One line at a time, for tests and tools: ``lines_to_parse``
        is the scan's way.)"""
        skipped = Skipped[bytes]()
        if any(self.lines_to_parse([line], skipped, bytes)):
            return None
        kind = next(iter(skipped.entries or skipped.never_read))
        return kind, (skipped.keys[0] if skipped.entries else None)

    def lines_to_parse(
        self, lines: Iterable[bytes], skipped: Skipped[Key], key_of: Callable[[bytes], Key]
    ) -> Iterator[tuple[int, bytes]]:
        """The lines that must be parsed, numbered from 1; the others are tallied in ``skipped``
        (an entry's key made by ``key_of``). Once a batch of ``BATCH_LINES`` ends with fewer
        than one line in ``SKIPPING_AT_LEAST`` skipped, the rest pass untested: a source of
        what counts is parsed more cheaply than tested. One loop for every line of a chunk,
        so the test is written inline."""
        lines = iter(lines)  # after the last batch tested, the rest is enumerated where it is
        rules, key_length = self.rules, len(_KEY)
        entries, never_read, keys = skipped.entries, skipped.never_read, skipped.keys
        line_no, batch_end = 0, BATCH_LINES
        for line in lines:
            line_no += 1
            if line_no > batch_end:
                skipped.lines_seen = line_no - 1
                if skipped.lines * SKIPPING_AT_LEAST < line_no:
                    yield line_no, line
                    yield from enumerate(lines, start=line_no + 1)
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
            kind, test = rule
            if test is None:
                skipped.lines += 1
                never_read[kind] = never_read.get(kind, 0) + 1
                continue
            escaped = b"\\" in line
            if (
                (escaped and (b"\\u" in line or b"\\/" in line))  # could hide a code or status
                or not line.startswith(_KEY, end)
                or test.search(line) is not None
            ):
                yield line_no, line
                continue
            id_end = line.find(b'"', end + key_length)
            key = line[17:id_end]
            # a FHIR id is ASCII letters, digits, - and .: anything else is parsed (and judged)
            if id_end <= end + key_length or not key.isascii() or (escaped and b"\\" in key):
                yield line_no, line
                continue
            skipped.lines += 1
            entries[kind] = entries.get(kind, 0) + 1
            keys.append(key_of(key))
        skipped.lines_seen = line_no


Key = TypeVar("Key")


@dataclass
class Skipped(Generic[Key]):
    """What ``LineFilter.lines_to_parse`` left unparsed, tallied as reading it would have."""

    lines: int = 0
    lines_seen: int = 0  # lines the filter went through (after it stops testing: fewer)
    entries: dict[str, int] = field(default_factory=dict)  # entry type -> lines
    never_read: dict[str, int] = field(default_factory=dict)  # other types -> lines
    keys: list[Key] = field(default_factory=list)  # each skipped entry's, in order
