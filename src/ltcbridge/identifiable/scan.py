"""Scan a whole source into compact columns, in parallel, with flat memory.

Each chunk of the source is read by ``scan_chunk`` (in a worker process when the source is big)
into typed arrays of integers: one row per entry version, per asserted concept, per patient.
Resources and people become 64-bit identifiers (``identifiers.Identifiers``: a keyed hash, the key
drawn once per scan, with a collision check) so a million resources cost tens of megabytes, and
version de-duplication and counting can happen afterwards, column-wise, in numpy. Rows are gathered
in flat lists (one ``list.extend`` per row) and turned into numpy blocks every ``BATCH_LINES``
lines parsed; workers send each chunk's columns back, and the parent appends them to the
source's as they arrive (``_Merger``). Each worker keeps one ``Reader`` for all its chunks.

The identifiers depend only on the scan's key, which every worker is given, so workers may be
forked or spawned alike. With ``prefilter`` (feed builds), lines that provably cannot count are
tallied from their raw bytes and never parsed (``prefilter.LineFilter``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltcbridge.concepts import (
    CONCEPT_INDEX,
    NHS_USE,
    OPTOUT,
    OPTOUT_WITHDRAWN,
    REFERRAL,
    REFERRAL_ACCEPTED,
    REFERRAL_COMPLETED,
    REFERRAL_DECLINED,
    STRATIFIERS,
)
from ltcbridge.errors import BadResource, SourceError
from ltcbridge.fhir_problems import MALFORMED
from ltcbridge.identifiable.bundles import bundle_resources
from ltcbridge.identifiable.identifiers import ID_BYTES, Identifiers, find_collision, new_key
from ltcbridge.identifiable.model import (
    Link,
    OrganizationRecord,
    PatientFields,
    PracticeRef,
    QuarantineItem,
    StarReading,
)
from ltcbridge.identifiable.prefilter import BATCH_LINES, LineFilter, Skipped
from ltcbridge.identifiable.read import ENTRY_TYPES, Reader
from ltcbridge.identifiable.sources import (
    CHUNK_BYTES,
    INCREMENTAL_EXPORT,
    Chunk,
    deletion_files,
    open_lines,
    plan_chunks,
    read_chunk,
    source_files,
)
from ltcbridge.mapping import Mappings

SEX_INDEX = {s: i for i, s in enumerate(STRATIFIERS["sex"])}
ETHNICITY_INDEX = {s: i for i, s in enumerate(STRATIFIERS["ethnicity-group"])}
IMD_INDEX = {s: i for i, s in enumerate(STRATIFIERS["imd-quintile"])}
PARALLEL_ABOVE_BYTES = 48 * 1024 * 1024
START_METHOD = "fork" if os.name == "posix" else "spawn"


_I64, _I32 = np.int64, np.int32
# Each column's numpy type. Rows are in source order, so a row's index is its position in the
# source ("the one read last wins" compares these).
COLUMN_TYPES: dict[str, type] = {
    # one row per entry version
    "v_key": _I64,  # identifier of (type, id)
    "v_updated": _I64,  # meta.lastUpdated in microseconds, -1 = none
    "v_int_version": _I64,  # meta.versionId when an integer, else -1
    # one row per concept an entry version asserts
    "f_version": _I32,  # row in the v_ columns
    "f_subject": _I64,  # identifier of the subject (("Patient", id) or ("nhs", number))
    "f_date": _I32,  # YYYYMMDD
    "f_concept": np.int8,  # index into concepts.COUNTED_CONCEPTS
    "f_link": _I64,  # identifier of a focused referral, 0 = none
    "f_provider": _I32,  # index into provider_refs, -1 = none
    # one row per area score of a Star reading
    "s_version": _I32,
    "s_subject": _I64,
    "s_date": _I32,
    "s_area": np.int16,  # index into Mappings.star_areas()
    "s_score": np.int16,
    "s_provider": _I32,
    # one row per patient version
    "p_key": _I64,
    "p_nhs": _I64,  # 0 = none
    "p_updated": _I64,
    "p_int_version": _I64,
    "p_birth": _I32,
    "p_sex": np.int8,
    "p_ethnicity": np.int8,
    "p_imd": np.int8,
    "p_practice": _I32,  # index into practice_refs, -1 = none
    "p_merged": _I64,  # identifier ("Patient", id) of the Patient it was replaced by, 0 = none
    "p_death": _I32,  # YYYYMMDD of death (day 00: month only), -1 = date unknown, 0 = alive
    # one row per further valid NHS number of a patient version
    "a_patient": _I32,  # row in the p_ columns
    "a_nhs": _I64,
    # one row per Patient a patient version says it replaces (merged into it)
    "m_patient": _I32,  # row in the p_ columns
    "m_replaces": _I64,  # identifier ("Patient", id) of the merged record
}
_TALLIES = (
    "unmapped", "unmapped_questionnaires", "resource_counts", "ignored_counts", "notes",
    "diagnostics",
)  # fmt: skip
_GROUPS = {prefix: [n for n in COLUMN_TYPES if n.startswith(prefix)] for prefix in "vfspam"}


def _empty(name: str) -> np.ndarray:
    return np.zeros(0, COLUMN_TYPES[name])


@dataclass
class Columns:
    """Everything a scan keeps, as numpy columns (see ``COLUMN_TYPES``) and a few small lists."""

    v_key: np.ndarray = field(default_factory=lambda: _empty("v_key"))
    v_updated: np.ndarray = field(default_factory=lambda: _empty("v_updated"))
    v_int_version: np.ndarray = field(default_factory=lambda: _empty("v_int_version"))
    f_version: np.ndarray = field(default_factory=lambda: _empty("f_version"))
    f_subject: np.ndarray = field(default_factory=lambda: _empty("f_subject"))
    f_date: np.ndarray = field(default_factory=lambda: _empty("f_date"))
    f_concept: np.ndarray = field(default_factory=lambda: _empty("f_concept"))
    f_link: np.ndarray = field(default_factory=lambda: _empty("f_link"))
    f_provider: np.ndarray = field(default_factory=lambda: _empty("f_provider"))
    s_version: np.ndarray = field(default_factory=lambda: _empty("s_version"))
    s_subject: np.ndarray = field(default_factory=lambda: _empty("s_subject"))
    s_date: np.ndarray = field(default_factory=lambda: _empty("s_date"))
    s_area: np.ndarray = field(default_factory=lambda: _empty("s_area"))
    s_score: np.ndarray = field(default_factory=lambda: _empty("s_score"))
    s_provider: np.ndarray = field(default_factory=lambda: _empty("s_provider"))
    p_key: np.ndarray = field(default_factory=lambda: _empty("p_key"))
    p_nhs: np.ndarray = field(default_factory=lambda: _empty("p_nhs"))
    p_updated: np.ndarray = field(default_factory=lambda: _empty("p_updated"))
    p_int_version: np.ndarray = field(default_factory=lambda: _empty("p_int_version"))
    p_birth: np.ndarray = field(default_factory=lambda: _empty("p_birth"))
    p_sex: np.ndarray = field(default_factory=lambda: _empty("p_sex"))
    p_ethnicity: np.ndarray = field(default_factory=lambda: _empty("p_ethnicity"))
    p_imd: np.ndarray = field(default_factory=lambda: _empty("p_imd"))
    p_practice: np.ndarray = field(default_factory=lambda: _empty("p_practice"))
    p_merged: np.ndarray = field(default_factory=lambda: _empty("p_merged"))
    p_death: np.ndarray = field(default_factory=lambda: _empty("p_death"))
    a_patient: np.ndarray = field(default_factory=lambda: _empty("a_patient"))
    a_nhs: np.ndarray = field(default_factory=lambda: _empty("a_nhs"))
    m_patient: np.ndarray = field(default_factory=lambda: _empty("m_patient"))
    m_replaces: np.ndarray = field(default_factory=lambda: _empty("m_replaces"))
    identities: list[str] = field(default_factory=list)  # only with ScanSettings.keep_identity
    practice_refs: list[str] = field(default_factory=list)
    provider_refs: list[str] = field(default_factory=list)  # provider ODS codes
    organizations: dict[str, str] = field(default_factory=dict)  # Organization id -> ODS code
    held_subjects: set[int] = field(default_factory=set)  # identifiers of quarantined patients
    quarantine: list[QuarantineItem] = field(default_factory=list)
    quarantine_chunk: list[int] = field(default_factory=list)  # chunk of each item
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    unmapped_questionnaires: Counter[str] = field(default_factory=Counter)
    resource_counts: Counter[str] = field(default_factory=Counter)
    ignored_counts: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)  # input read, though not as written
    diagnostics: Counter[str] = field(default_factory=Counter)  # the export's log, error files
    lines: dict[int, int] = field(default_factory=dict)  # chunk index -> lines in it
    # (identifier, check) pairs made, for the collision check (dropped once the scan is checked)
    id_pairs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # prefilter only: the identifiers of the entry versions skipped unparsed
    skipped_keys: list[np.ndarray] = field(default_factory=list)
    lines_skipped: int = 0  # lines the prefilter tallied without parsing
    bytes_read: int = 0
    look_back: bool = True  # whether the facts the outcome measures look back on were kept

    def drop_rows(self) -> None:
        """Empty the row columns once the population is built from them (it keeps what counts):
        a release needs only the tallies and the quarantine left, and the rows are most of a
        scan's memory (about 120 MB at two million resources), freed before counting starts."""
        for name in COLUMN_TYPES:
            setattr(self, name, _empty(name))

    def set_rows(self, prefix: str, pieces: list[np.ndarray]) -> None:
        """Fill one group of columns from blocks of rows (see ``_rows``)."""
        names = _GROUPS[prefix]
        rows = np.concatenate(pieces) if pieces else np.zeros((0, len(names)), _I64)
        for i, name in enumerate(names):
            setattr(self, name, rows[:, i].astype(COLUMN_TYPES[name]))


def _rows(flat: list[int], width: int) -> np.ndarray:
    """Rows laid end to end in a flat list of integers (one ``list.extend`` per row on the hot
    path), as a block of ``width`` columns."""
    return np.fromiter(flat, _I64, len(flat)).reshape(-1, width)


class _Merger:
    """Chunks' columns appended, in order, into one ``Columns`` as they arrive.

    Each column is a buffer with room to spare, sized from the rows per byte seen so far (its
    untouched tail costs no memory) and grown when a chunk overflows it; the chunk's own arrays
    are dropped as soon as they are copied. Indexes into lists are re-based on the way.
    """

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.bytes_seen = 0
        self.merged = Columns()
        self.buffers: dict[str, np.ndarray] = {name: _empty(name) for name in COLUMN_TYPES}
        self.rows = dict.fromkeys(_GROUPS, 0)
        self.practices: dict[str, int] = {}
        self.providers: dict[str, int] = {}

    def add(self, part: Columns, size: int) -> None:
        merged = self.merged
        self.bytes_seen += size
        practice_of = _index_map(part.practice_refs, self.practices, merged.practice_refs)
        provider_of = _index_map(part.provider_refs, self.providers, merged.provider_refs)
        version_base, patient_base = self.rows["v"], self.rows["p"]
        for prefix, names in _GROUPS.items():
            start = self.rows[prefix]
            end = start + len(getattr(part, names[0]))
            for name in names:
                piece = getattr(part, name)
                if name in ("f_version", "s_version"):
                    piece = piece + version_base
                elif name in ("a_patient", "m_patient"):
                    piece = piece + patient_base
                elif name == "p_practice":
                    piece = practice_of[piece]
                elif name in ("f_provider", "s_provider"):
                    piece = provider_of[piece]
                self._room(name, end)[start:end] = piece
                setattr(part, name, None)
            self.rows[prefix] = end
        merged.identities.extend(part.identities)
        merged.organizations.update(part.organizations)
        merged.held_subjects |= part.held_subjects
        merged.quarantine.extend(part.quarantine)
        merged.quarantine_chunk.extend(part.quarantine_chunk)
        for name in _TALLIES:
            getattr(merged, name).update(getattr(part, name))
        merged.lines.update(part.lines)
        merged.bytes_read += part.bytes_read
        merged.id_pairs.extend(part.id_pairs)
        merged.skipped_keys.extend(part.skipped_keys)
        merged.lines_skipped += part.lines_skipped

    def _room(self, name: str, rows: int) -> np.ndarray:
        """The buffer of a column, with room for at least ``rows`` rows."""
        buffer = self.buffers[name]
        if rows > len(buffer):
            expected = int(rows * self.total_bytes / max(self.bytes_seen, 1) * 1.05) + 1024
            size = max(rows, expected, len(buffer) * 3 // 2)
            grown: np.ndarray = np.empty(size, COLUMN_TYPES[name])
            grown[: len(buffer)] = buffer
            buffer = self.buffers[name] = grown
        return buffer

    def finish(self) -> Columns:
        for prefix, names in _GROUPS.items():
            for name in names:
                setattr(self.merged, name, self.buffers[name][: self.rows[prefix]])
        return self.merged


def _index_map(refs: list[str], position: dict[str, int], merged: list[str]) -> np.ndarray:
    """An array taking a chunk's index into its own list (or -1, its last element) to the index
    into ``merged``, the lists of every chunk so far with repeats dropped."""
    rows = []
    for ref in refs:
        row = position.get(ref)
        if row is None:
            row = position[ref] = len(merged)
            merged.append(ref)
        rows.append(row)
    return np.array([*rows, -1], dtype=_I64)


@dataclass(frozen=True)
class ScanSettings:
    """What every chunk's scanner needs: the mappings, and which facts to keep.

    ``months`` (YYYYMM integers) keeps only the facts dated in those months, plus opt-outs
    whatever their date (the latest one decides) and, with ``look_back``, the facts the outcome
    measures look back on: referrals and providers' answers, NHS use, and Star readings. Version
    rows are kept for every entry, since a later version of a kept entry may retract it. Pushing
    the period (and what the measures need) down this way keeps memory flat for a month's feed
    from a multi-year export.
    """

    mappings: Mappings
    months: frozenset[int] | None = None
    look_back: bool = True
    # Keep who each Patient is (NHS number, else "Patient/{id}"): only for the pseudonymised
    # cohort extract, which turns it into a keyed pseudonym before anything is written.
    keep_identity: bool = False
    key: bytes = b""  # the scan's identifier key (identifiers.new_key)
    id_bytes: int = ID_BYTES  # below 8 only in tests, to make collisions
    prefilter: bool = False  # skip unparsed the lines that cannot count (prefilter.LineFilter)


# Concepts kept whatever their month: always, and when the outcome measures look back.
_OPT_OUTS = frozenset(CONCEPT_INDEX[c] for c in (OPTOUT, OPTOUT_WITHDRAWN))
_LOOKED_BACK_ON = _OPT_OUTS | frozenset(
    CONCEPT_INDEX[c]
    for c in (
        REFERRAL, REFERRAL_ACCEPTED, REFERRAL_DECLINED, REFERRAL_COMPLETED, *NHS_USE.values()
    )
)  # fmt: skip

# look_back -> (concept indexes, their codes) kept whatever their month
_KEPT_WHATEVER_MONTH = {
    kept_back: (kept, frozenset(c for c, i in CONCEPT_INDEX.items() if i in kept))
    for kept_back, kept in ((False, _OPT_OUTS), (True, _LOOKED_BACK_ON))
}


class _ChunkScanner:
    """Reads the lines of one chunk into ``Columns``."""

    def __init__(self, chunk: Chunk, settings: ScanSettings, tools: _Tools | None = None) -> None:
        self.chunk = chunk
        self.months = settings.months
        self.look_back = settings.look_back
        self.keep_identity = settings.keep_identity
        # A reader may serve many chunks (its caches warm); the tallies are each chunk's own.
        tools = tools if tools is not None else _Tools(settings)
        self.reader, self.ids, self.line_filter = tools.reader, tools.ids, tools.line_filter
        self.skipped = Skipped[int]()  # prefilter only: what it left unparsed
        self.reader.unmapped = Counter()
        self.reader.unmapped_questionnaires = Counter()
        self.reader.notes = Counter()
        self.reader.diagnostics = Counter()
        self.out = Columns()
        self.practice_index: dict[PracticeRef, int] = {}
        self.provider_index: dict[str, int] = {}
        self.area_index = {pair: i for i, pair in enumerate(settings.mappings.star_areas())}
        self.int_versions: dict[str | None, int] = {None: -1}
        # rows laid end to end, one list.extend per row, turned into numpy blocks every
        # BATCH_LINES lines, while their integers are still in the processor's cache
        self.versions: list[int] = []
        self.facts: list[int] = []
        self.stars: list[int] = []
        self.patients: list[int] = []
        self.patient_count = 0  # rows in the p_ columns so far
        self.aliases: list[int] = []
        self.merges: list[int] = []
        self.blocks: dict[str, list[np.ndarray]] = {prefix: [] for prefix in _GROUPS}
        self.kinds: dict[str | None, int] = {}  # resource type -> resources (None: not counted)
        self.last_row = -1  # the last row in the v_ columns

    def run(self) -> Columns:
        """Read every line of the chunk into ``Columns`` (with the prefilter, those it leaves)."""
        if self.line_filter is None:
            line_no = self._scan(enumerate(open_lines(self.chunk), start=1))
        else:
            data = read_chunk(self.chunk)
            to_parse = self.line_filter.lines_to_parse(data, self.skipped, self.ids.of_raw)
            line_no = max(self._scan(to_parse), self.skipped.lines_seen)
        out = self.out
        self._flush()
        for prefix, blocks in self.blocks.items():
            out.set_rows(prefix, blocks)
        self.kinds.pop(None, None)
        out.resource_counts = Counter(self.kinds)  # type: ignore[arg-type]
        out.resource_counts.update(self.skipped.entries)
        out.ignored_counts.update(self.skipped.never_read)
        out.lines_skipped = self.skipped.lines
        out.lines[self.chunk.index] = line_no
        out.bytes_read = _chunk_size(self.chunk)
        out.unmapped = self.reader.unmapped
        out.unmapped_questionnaires = self.reader.unmapped_questionnaires
        out.notes = self.reader.notes
        out.diagnostics = self.reader.diagnostics
        out.id_pairs = [self.ids.take_pairs()]
        return out

    def _scan(self, numbered: Iterable[tuple[int, bytes]]) -> int:
        """Read numbered lines; returns the last line number. This loop runs once per
        resource, so its work is inlined."""
        loads, reader, entry_types = orjson.loads, self.reader, ENTRY_TYPES
        entry_fields, patient_fields = reader.entry_fields, reader.patient_fields
        version_row, fact_row = self.versions.extend, self.facts.extend
        kinds = self.kinds  # resource type -> lines (None: not counted)
        kind_count = kinds.get
        int_versions, concept_index = self.int_versions, CONCEPT_INDEX
        months, every_month = self.months or frozenset(), self.months is None
        always_kept, always_kept_codes = _KEPT_WHATEVER_MONTH[self.look_back]
        stars_always = self.look_back
        ident, person = self.ids.of, self.ids.person
        row = self.last_row
        line_no = parsed = 0
        for line_no, line in numbered:  # after the loop: the last line read
            parsed += 1
            if not parsed % BATCH_LINES:
                self._flush()
            try:
                resource = loads(line)
                kind = resource.get("resourceType") if type(resource) is dict else None
                if kind in entry_types:
                    fields = entry_fields(kind, resource)
                else:
                    if kind == "Patient":
                        self._patient(patient_fields(resource))
                    elif kind == "Bundle":
                        self.last_row = row
                        self._bundle(resource, line_no)
                        row = self.last_row
                    elif not self._other(reader.read(resource), resource):
                        kind = None  # a type ltcbridge does not use: tallied apart
                    fields = None
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    self._quarantine(line_no, None, "malformed-json", "", f"not JSON ({exc})", line)
                fields = kind = None
            except BadResource as bad:
                self._bad(resource, bad, line_no, line)
                fields = kind = None
            except MALFORMED as exc:  # an element of the wrong JSON type: locate it
                self._bad(resource, reader.malformed(resource, exc), line_no, line)
                fields = kind = None
            kinds[kind] = kind_count(kind, 0) + 1
            if fields is None or kind is None:
                continue
            # an entry version: one row, and a fact per counted concept
            _, rid, updated, version_id, subject, _, date_int, concepts, _, stars, _, link = fields
            int_version = int_versions.get(version_id)
            if int_version is None:
                int_version = self._int_version(version_id)
            version_row((ident(kind, rid), -1 if updated is None else updated, int_version))
            row += 1
            if subject is None:  # retracted, or asserts nothing
                continue
            in_period = every_month or date_int // 100 in months
            if (
                not (in_period or (stars and stars_always))
                and always_kept_codes.isdisjoint(concepts)
                and date_int >= 0  # an onset age: dated only once the birth date is known
            ):
                continue  # outside the period, and nothing that is kept whatever its date
            who = person(subject)
            focus, provider = (0, -1) if link is None else self._link(link)
            for concept in concepts:
                index = concept_index.get(concept)
                if index is not None and (in_period or index in always_kept or date_int < 0):
                    fact_row((row, who, date_int, index, focus, provider))
            if stars and (in_period or stars_always):
                self._stars(stars, row, who, date_int, provider)
        self.last_row = row
        return line_no

    def _bundle(self, bundle: dict[str, Any], line_no: int) -> None:
        """A Bundle's resources (a search page, a collection, a document, a transaction), each
        read as if it were a line of its own, references between them resolved (``bundles``);
        where they are, for quarantine, is the Bundle's line."""
        resources = bundle_resources(bundle)  # references between entries resolved
        self._scan((line_no, orjson.dumps(resource)) for resource in resources)

    def _flush(self) -> None:
        """The rows gathered so far, as numpy blocks."""
        for prefix, flat in (
            ("v", self.versions),
            ("f", self.facts),
            ("s", self.stars),
            ("p", self.patients),
            ("a", self.aliases),
            ("m", self.merges),
        ):
            if flat:
                self.blocks[prefix].append(_rows(flat, len(_GROUPS[prefix])))
                flat.clear()
        if self.skipped.keys:
            self.out.skipped_keys.append(np.array(self.skipped.keys, _I64))
            self.skipped.keys.clear()

    def _int_version(self, version_id: str | None) -> int:
        """versionId is opaque in FHIR; it may break a tie only when it is an integer."""
        value = int(version_id) if version_id and version_id.isdigit() else -1
        if len(self.int_versions) < 10_000:
            self.int_versions[version_id] = value
        return value

    def _other(self, record: object, resource: dict[str, Any]) -> bool:
        """Organizations are kept (practices are found through them); other types are tallied.

        Returns whether the resource was one ltcbridge reads."""
        if record is None:
            kind = resource.get("resourceType")
            if kind and kind != "OperationOutcome":  # the export's diagnostics: tallied apart
                self.out.ignored_counts[kind] += 1
            return False
        if isinstance(record, OrganizationRecord) and record.ods_code:
            self.out.organizations[record.version.id] = record.ods_code
        return True

    def _patient(self, fields: PatientFields) -> None:
        (rid, updated, version_id, nhs_number, birth, sex, ethnicity, imd, practice, others,
         replaced_by, death, replaces) = fields  # fmt: skip
        int_version = self.int_versions.get(version_id)
        if int_version is None:
            int_version = self._int_version(version_id)
        practice_row = -1 if practice is None else self.practice_index.get(practice)
        if practice_row is None:
            practice_row = self._practice_row(practice)  # type: ignore[arg-type]
        person = self.ids.person
        self.patients.extend(
            (
                person(("Patient", rid)),
                person(("nhs", nhs_number)) if nhs_number else 0,
                -1 if updated is None else updated,
                int_version,
                birth,
                SEX_INDEX[sex],
                ETHNICITY_INDEX[ethnicity],
                IMD_INDEX[imd],
                practice_row,
                person(("Patient", replaced_by)) if replaced_by else 0,
                death,
            )
        )
        for number in others:
            self.aliases.extend((self.patient_count, person(("nhs", number))))
        for merged in replaces:
            self.merges.extend((self.patient_count, person(("Patient", merged))))
        self.patient_count += 1
        if self.keep_identity:
            self.out.identities.append(nhs_number or f"Patient/{rid}")

    def _link(self, link: Link) -> tuple[int, int]:
        """(identifier of the focused referral or 0, provider row or -1) of one entry."""
        focus, provider = link
        row = -1
        if provider is not None:
            row = self.provider_index.get(provider, -1)
            if row < 0:
                row = self.provider_index[provider] = len(self.out.provider_refs)
                self.out.provider_refs.append(provider)
        return (self.ids.of(*focus.split("/", 1)) if focus else 0), row

    def _stars(
        self, stars: tuple[StarReading, ...], version_row: int, who: int, date: int, provider: int
    ) -> None:
        for reading in stars:
            for area, score in reading.scores.items():
                area_row = self.area_index[(reading.star, area)]
                self.stars.extend((version_row, who, date, area_row, score, provider))

    def _practice_row(self, practice: PracticeRef) -> int:
        row = self.practice_index[practice] = len(self.out.practice_refs)
        self.out.practice_refs.append("/".join(practice))
        return row

    def _bad(self, resource: object, bad: BadResource, line_no: int, line: bytes) -> None:
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        rid = resource.get("id") if isinstance(resource, dict) else None
        where = f"{kind}/{rid}" if kind and rid else None
        if kind == "Patient" and rid:
            self.out.held_subjects.add(self.ids.person(("Patient", rid)))
        self._quarantine(line_no, where, bad.reason, bad.path, bad.message, line)

    def _quarantine(
        self, line_no: int, resource: str | None, reason: str, path: str, message: str, raw: bytes
    ) -> None:
        item = QuarantineItem(
            file=self.chunk.name,
            line=line_no,  # within the chunk; made absolute by scan_source
            resource=resource,
            reason=reason,
            path=path,
            message=message,
            raw=raw.decode("utf-8", "replace").rstrip("\n"),
        )
        self.out.quarantine.append(item)
        self.out.quarantine_chunk.append(self.chunk.index)


class _Tools:
    """What one process keeps for all the chunks it scans: a reader (its caches warm), the
    identifier maker and the line filter (its trie of codes is built once)."""

    def __init__(self, settings: ScanSettings) -> None:
        self.reader = Reader(settings.mappings)
        self.ids = Identifiers(settings.key, settings.id_bytes)
        self.line_filter = LineFilter(settings.mappings) if settings.prefilter else None


def scan_chunk(chunk: Chunk, settings: ScanSettings, tools: _Tools | None = None) -> Columns:
    """Read one chunk (runs in a worker process for big sources)."""
    return _ChunkScanner(chunk, settings, tools).run()


_WORKER_SETTINGS: ScanSettings | None = None
_WORKER_TOOLS: _Tools | None = None


def _init_worker(settings: ScanSettings) -> None:
    global _WORKER_SETTINGS, _WORKER_TOOLS
    _WORKER_SETTINGS = settings
    _WORKER_TOOLS = _Tools(settings)  # one per worker: its caches serve every chunk


def _scan_in_worker(chunk: Chunk) -> Columns:
    assert _WORKER_SETTINGS is not None
    return scan_chunk(chunk, _WORKER_SETTINGS, _WORKER_TOOLS)


ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in all)
KEY_ATTEMPTS = 3  # scans with fresh keys before a collision is reported (each: ~1e-7 at 2M)


def scan_source(
    source: Path | str,
    mappings: Mappings,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    chunk_bytes: int | None = None,
    months: Iterable[str] | None = None,
    keep_identity: bool = False,
    look_back: bool = True,
    meanwhile: Callable[[], object] | None = None,
    prefilter: bool = False,
    id_bytes: int = ID_BYTES,
) -> Columns:
    """Scan every NDJSON file of a source into one ``Columns``, in source order.

    ``months`` (YYYY-MM) limits the kept facts to those months; ``look_back=False`` also drops
    the older facts only the outcome measures need (see ``ScanSettings``).
    ``chunk_bytes`` is the size of the pieces files are cut into (by default ``CHUNK_BYTES``,
    or less when that would leave each worker fewer than eight).
    ``meanwhile`` is run in this process while worker processes scan (only when there are
    workers): work for later, such as slow imports, costs half as much time there.
    ``prefilter`` leaves unparsed the lines that cannot count (feed builds; not for a coverage
    report, which needs every code): the result counts the same. Should a skipped entry share
    its id with an entry version that was read (it might retract it), the source is read again
    without the filter. Should two keys get one identifier, it is read again with a new key.
    """
    settings = ScanSettings(
        mappings,
        None if months is None else frozenset(int(m.replace("-", "")) for m in months),
        look_back,
        keep_identity,
        id_bytes=id_bytes,
        prefilter=prefilter,
    )
    for _ in range(KEY_ATTEMPTS):
        settings = replace(settings, key=new_key())
        merged = _scan_once(source, settings, workers, progress, chunk_bytes, meanwhile)
        meanwhile = None  # done once
        if settings.prefilter and _skipped_one_read(merged):
            settings = replace(settings, prefilter=False)
            merged = _scan_once(source, settings, workers, progress, chunk_bytes, None)
        pairs, merged.id_pairs = merged.id_pairs, []
        if not find_collision(pairs):
            merged.look_back = look_back or months is None
            deleted = deletion_files(source)  # beside the export: said once, not read
            if deleted:
                merged.diagnostics[INCREMENTAL_EXPORT] = len(deleted)
            return merged
    raise SourceError(
        f"two different resources or people got one identifier in {KEY_ATTEMPTS} scans with "
        "fresh keys, which should never happen: please report this as a bug (nothing was written)"
    )


def _skipped_one_read(columns: Columns) -> bool:
    """Whether an entry the prefilter skipped is another version of an entry version read."""
    skipped, columns.skipped_keys = columns.skipped_keys, []
    return bool(skipped) and bool(np.isin(np.concatenate(skipped), columns.v_key).any())


def _scan_once(
    source: Path | str,
    settings: ScanSettings,
    workers: int | None,
    progress: ProgressCallback | None,
    chunk_bytes: int | None,
    meanwhile: Callable[[], object] | None,
) -> Columns:
    """One read of the whole source with these settings (see ``scan_source``)."""
    files = source_files(source)
    chunks = plan_chunks(files, chunk_bytes or CHUNK_BYTES)
    sizes = [_chunk_size(c) for c in chunks]
    total = sum(sizes)
    workers = _worker_count(workers, total, len(chunks))
    if chunk_bytes is None and workers > 1 and total // (workers * 8) < CHUNK_BYTES:
        # at least eight chunks a worker, so that they finish together
        chunks = plan_chunks(files, max(total // (workers * 8), 1 << 20))
        sizes = [_chunk_size(c) for c in chunks]
    merger = _Merger(total)
    done = 0
    try:
        scanned = _scan_chunks(chunks, settings, workers, meanwhile)
        for size, columns in zip(sizes, scanned, strict=True):
            merger.add(columns, size)
            done += size
            if progress is not None:
                progress(done, total)
    except (OSError, EOFError) as exc:  # EOFError: a truncated .ndjson.gz
        raise SourceError(f"cannot read the source: {exc}; check the path and permissions") from exc
    merged = merger.finish()
    _absolute_line_numbers(merged, chunks)
    return merged


def _chunk_size(chunk: Chunk) -> int:
    return Path(chunk.path).stat().st_size if chunk.end == -1 else chunk.end - chunk.start


def _worker_count(requested: int | None, total_bytes: int, chunk_count: int) -> int:
    if requested is not None:
        return max(1, requested)
    if total_bytes < PARALLEL_ABOVE_BYTES or chunk_count < 2:
        return 1
    return min(os.cpu_count() or 1, chunk_count)


def _scan_chunks(
    chunks: list[Chunk],
    settings: ScanSettings,
    workers: int,
    meanwhile: Callable[[], object] | None = None,
) -> Iterable[Columns]:
    if workers == 1:
        tools = _Tools(settings)
        for chunk in chunks:
            yield scan_chunk(chunk, settings, tools)
        return
    # fork starts workers fastest and shares the loaded mappings; the identifiers do not depend
    # on it (spawn gives the same columns)
    context = multiprocessing.get_context(START_METHOD)
    with ProcessPoolExecutor(
        workers, context, initializer=_init_worker, initargs=(settings,)
    ) as pool:
        scanned = pool.map(_scan_in_worker, chunks)  # the workers start (fork) here
        if meanwhile is not None:
            meanwhile()  # chunks scanned meanwhile wait in the pool's queue
        yield from scanned


def _absolute_line_numbers(columns: Columns, chunks: list[Chunk]) -> None:
    """Chunks count lines from 1; quarantine wants the line number in the file."""
    lines_before: dict[int, int] = {}
    running: dict[str, int] = {}
    for chunk in chunks:
        lines_before[chunk.index] = running.get(chunk.path, 0)
        running[chunk.path] = lines_before[chunk.index] + columns.lines.get(chunk.index, 0)
    for item, chunk_index in zip(columns.quarantine, columns.quarantine_chunk, strict=True):
        item.line += lines_before[chunk_index]
