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
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
        without decoding anything."""
        if not line.startswith(_PREFIX):
            return None
        end = line.find(b'"', 17)
        rule = self.rules.get(line[17:end])
        if rule is None or not line.endswith(_ENDS):
            return None
        kind, test = rule
        if test is None:
            return kind, None
        escaped = b"\\" in line
        if escaped and (b"\\u" in line or b"\\/" in line):
            return None  # an escape could hide a code or a status
        if not line.startswith(_KEY, end) or test.search(line) is not None:
            return None
        id_start = end + len(_KEY)
        id_end = line.find(b'"', id_start)
        if id_end <= id_start:
            return None
        key = line[17:id_end]
        # a FHIR id is ASCII letters, digits, - and .: anything else is parsed (and judged)
        if not key.isascii() or (escaped and b"\\" in key):
            return None
        return kind, key
