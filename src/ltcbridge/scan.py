"""Scan a whole source into compact columns, in parallel, with flat memory.

Each chunk of the source is read by ``scan_chunk`` (in a worker process when the source is big)
into typed arrays of integers: one row per entry version, per asserted concept, per patient.
Strings become 64-bit hashes (``key_hash``) so a million resources cost tens of megabytes, and
version de-duplication and counting can happen afterwards, column-wise, in numpy.

The hashing is Python's own ``hash`` of str (fast, cached on the string). Its seed differs between
interpreters, so every hash of one scan must be made in one family of processes: forked workers
share the parent's seed, and with ``spawn`` the workers get one fixed PYTHONHASHSEED and the parent
makes none. ``scan_source`` keeps to that rule.
"""

from __future__ import annotations

import multiprocessing
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
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
from ltcbridge.mapping import Mappings
from ltcbridge.model import (
    Link,
    OrganizationRecord,
    PatientFields,
    PracticeRef,
    QuarantineItem,
    StarReading,
)
from ltcbridge.read import ENTRY_TYPES, Reader
from ltcbridge.sources import CHUNK_BYTES, Chunk, plan_chunks, read_lines, source_files

SEX_INDEX = {s: i for i, s in enumerate(STRATIFIERS["sex"])}
ETHNICITY_INDEX = {s: i for i, s in enumerate(STRATIFIERS["ethnicity-group"])}
IMD_INDEX = {s: i for i, s in enumerate(STRATIFIERS["imd-quintile"])}
PARALLEL_ABOVE_BYTES = 48 * 1024 * 1024


def key_hash(text: str) -> int:
    """A 64-bit stand-in for a reference string (see the module docstring about seeds)."""
    return hash(text)


def subject_key(kind: str, value: str) -> str:
    return f"Patient/{value}" if kind == "Patient" else f"nhs:{value}"


@dataclass
class Columns:
    """Everything a scan keeps, as columns. Chunks merge by concatenation."""

    # one row per entry version
    v_key: array = field(default_factory=lambda: array("q"))
    v_updated: array = field(default_factory=lambda: array("q"))  # -1 = no lastUpdated
    v_int_version: array = field(default_factory=lambda: array("q"))  # -1 = not an integer
    v_order: array = field(default_factory=lambda: array("q"))  # position in the source
    # one row per concept an entry version asserts
    f_version: array = field(default_factory=lambda: array("q"))
    f_subject: array = field(default_factory=lambda: array("q"))
    f_date: array = field(default_factory=lambda: array("q"))  # YYYYMMDD
    f_concept: array = field(default_factory=lambda: array("b"))
    f_link: array = field(default_factory=lambda: array("q"))  # key_hash of a focus, 0 = none
    f_provider: array = field(default_factory=lambda: array("l"))  # into provider_refs, -1 none
    # one row per area score of a Star reading
    s_version: array = field(default_factory=lambda: array("q"))
    s_subject: array = field(default_factory=lambda: array("q"))
    s_date: array = field(default_factory=lambda: array("q"))
    s_area: array = field(default_factory=lambda: array("h"))  # into Mappings.star_areas()
    s_score: array = field(default_factory=lambda: array("h"))
    s_provider: array = field(default_factory=lambda: array("l"))
    # one row per patient version
    p_key: array = field(default_factory=lambda: array("q"))
    p_nhs: array = field(default_factory=lambda: array("q"))  # 0 = none
    p_updated: array = field(default_factory=lambda: array("q"))
    p_int_version: array = field(default_factory=lambda: array("q"))
    p_order: array = field(default_factory=lambda: array("q"))
    p_birth: array = field(default_factory=lambda: array("q"))
    p_sex: array = field(default_factory=lambda: array("b"))
    p_ethnicity: array = field(default_factory=lambda: array("b"))
    p_imd: array = field(default_factory=lambda: array("b"))
    p_practice: array = field(default_factory=lambda: array("l"))  # index into practice_refs
    identities: list[str] = field(default_factory=list)  # only with ScanSettings.keep_identity
    practice_refs: list[str] = field(default_factory=list)
    provider_refs: list[str] = field(default_factory=list)  # provider ODS codes
    organizations: dict[str, str] = field(default_factory=dict)  # Organization id -> ODS code
    held_subjects: set[int] = field(default_factory=set)  # hashes of quarantined patients
    quarantine: list[QuarantineItem] = field(default_factory=list)
    quarantine_chunk: array = field(default_factory=lambda: array("l"))  # chunk of each item
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    unmapped_questionnaires: Counter[str] = field(default_factory=Counter)
    resource_counts: Counter[str] = field(default_factory=Counter)
    ignored_counts: Counter[str] = field(default_factory=Counter)
    lines: dict[int, int] = field(default_factory=dict)  # chunk index -> lines in it
    bytes_read: int = 0

    def extend(self, other: Columns) -> None:
        """Append another chunk's columns, re-basing the indexes that point into lists."""
        version_base = len(self.v_key)
        practice_base = len(self.practice_refs)
        provider_base = len(self.provider_refs)
        for name in _ARRAY_FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if name in ("f_version", "s_version"):
                theirs = _shifted(theirs, version_base)
            elif name == "p_practice":
                theirs = _shifted(theirs, practice_base, keep_negative=True)
            elif name in ("f_provider", "s_provider"):
                theirs = _shifted(theirs, provider_base, keep_negative=True)
            mine.frombytes(theirs.tobytes())
        self.practice_refs.extend(other.practice_refs)
        self.identities.extend(other.identities)
        self.provider_refs.extend(other.provider_refs)
        self.organizations.update(other.organizations)
        self.held_subjects |= other.held_subjects
        self.quarantine.extend(other.quarantine)
        self.quarantine_chunk.extend(other.quarantine_chunk)
        for name in ("unmapped", "unmapped_questionnaires", "resource_counts", "ignored_counts"):
            getattr(self, name).update(getattr(other, name))
        self.lines.update(other.lines)
        self.bytes_read += other.bytes_read


def _shifted(values: array, base: int, keep_negative: bool = False) -> array:
    """Indexes re-based by ``base`` (column-wise: chunks hold millions of rows)."""
    shifted = np.frombuffer(values, dtype=values.typecode) + base if len(values) else None
    if shifted is None:
        return values
    if keep_negative:
        shifted[shifted < base] = -1
    result = array(values.typecode)
    result.frombytes(shifted.astype(values.typecode).tobytes())
    return result


_ARRAY_FIELDS = [
    name for name in Columns.__dataclass_fields__ if name.startswith(("v_", "f_", "p_", "s_"))
]


@dataclass(frozen=True)
class ScanSettings:
    """What every chunk's scanner needs: the mappings, and which facts to keep.

    ``months`` (YYYYMM integers) keeps only the facts dated in those months, plus the facts the
    outcome measures look back on whatever their date: opt-outs (the latest one decides),
    referrals and providers' answers, NHS use, and Star readings. Version rows are kept for every
    entry, since a later version of a kept entry may retract it. Pushing the period down this way
    keeps memory flat for a month's feed from a multi-year export.
    """

    mappings: Mappings
    months: frozenset[int] | None = None
    # Keep who each Patient is (NHS number, else "Patient/{id}"): only for the pseudonymised
    # cohort extract, which turns it into a keyed pseudonym before anything is written.
    keep_identity: bool = False


_ALWAYS_KEPT = frozenset(
    CONCEPT_INDEX[c]
    for c in (
        OPTOUT, OPTOUT_WITHDRAWN, REFERRAL, REFERRAL_ACCEPTED, REFERRAL_DECLINED,
        REFERRAL_COMPLETED, *NHS_USE.values(),
    )
)  # fmt: skip


class _ChunkScanner:
    """Reads the lines of one chunk into ``Columns``."""

    def __init__(self, chunk: Chunk, settings: ScanSettings) -> None:
        self.chunk = chunk
        self.months = settings.months
        self.keep_identity = settings.keep_identity
        self.reader = Reader(settings.mappings)
        self.out = Columns()
        self.order_base = chunk.index << 40
        self.practice_index: dict[str, int] = {}
        self.provider_index: dict[str, int] = {}
        self.area_index = {pair: i for i, pair in enumerate(settings.mappings.star_areas())}

    def run(self) -> Columns:
        """Read every line. This loop runs once per resource, so its work is inlined."""
        offset = 0
        lines = read_lines(self.chunk)
        loads, reader, order_base = orjson.loads, self.reader, self.order_base
        entry_fields, patient_fields = reader.entry_fields, reader.patient_fields
        out = self.out
        counts = out.resource_counts
        v_key, v_updated = out.v_key.append, out.v_updated.append
        v_int_version, v_order = out.v_int_version.append, out.v_order.append
        f_version, f_subject = out.f_version.append, out.f_subject.append
        f_date, f_concept = out.f_date.append, out.f_concept.append
        f_link, f_provider = out.f_link.append, out.f_provider.append
        concept_index, months, always_kept = CONCEPT_INDEX, self.months, _ALWAYS_KEPT
        for line_no, line in enumerate(lines, start=1):
            try:
                resource = loads(line)
                kind = resource.get("resourceType") if type(resource) is dict else None
                if kind in ENTRY_TYPES:
                    fields = entry_fields(kind, resource)
                elif kind == "Patient":
                    self._patient(patient_fields(resource), order_base + offset)
                    fields = None
                else:
                    if not self._other(reader.read(resource), resource):
                        kind = None  # a type ltcbridge does not use: tallied apart
                    fields = None
            except orjson.JSONDecodeError as exc:
                if line.strip():
                    self._quarantine(line_no, None, "malformed-json", "", f"not JSON ({exc})", line)
                fields = kind = None
            except BadResource as bad:
                self._bad(resource, bad, line_no, line)
                fields = kind = None
            if fields is not None:  # an entry version: one row, and a fact per counted concept
                _, rid, updated, version_id, subject, _, date_int, concepts, _, stars, _, link = (
                    fields
                )
                version_row = len(out.v_key)
                v_key(hash(f"{kind}/{rid}"))  # key_hash, inlined
                v_updated(-1 if updated is None else updated)
                v_int_version(int(version_id) if version_id and version_id.isdigit() else -1)
                v_order(order_base + offset)
                if subject is not None and (concepts or stars):
                    subject_kind, value = subject
                    who = hash(f"Patient/{value}" if subject_kind == "Patient" else f"nhs:{value}")
                    in_period = months is None or date_int // 100 in months
                    focus, provider = self._link(link)
                    for concept in concepts:
                        index = concept_index.get(concept)
                        if index is not None and (in_period or index in always_kept):
                            f_version(version_row)
                            f_subject(who)
                            f_date(date_int)
                            f_concept(index)
                            f_link(focus)
                            f_provider(provider)
                    if stars:
                        self._stars(stars, version_row, who, date_int, provider)
            if kind is not None:
                counts[kind] = counts.get(kind, 0) + 1
            offset += len(line) + 1
        out.lines[self.chunk.index] = len(lines)
        out.bytes_read = offset
        out.unmapped = self.reader.unmapped
        out.unmapped_questionnaires = self.reader.unmapped_questionnaires
        return out

    def _other(self, record: object, resource: dict[str, Any]) -> bool:
        """Organizations are kept (practices are found through them); other types are tallied.

        Returns whether the resource was one ltcbridge reads."""
        if record is None:
            self.out.ignored_counts[resource["resourceType"]] += 1
            return False
        if isinstance(record, OrganizationRecord) and record.ods_code:
            self.out.organizations[record.version.id] = record.ods_code
        return True

    def _patient(self, fields: PatientFields, order: int) -> None:
        out = self.out
        rid, updated, version_id, nhs_number, birth, sex, ethnicity, imd, practice = fields
        out.p_key.append(key_hash(subject_key("Patient", rid)))
        out.p_nhs.append(key_hash(subject_key("nhs", nhs_number)) if nhs_number else 0)
        out.p_updated.append(-1 if updated is None else updated)
        out.p_int_version.append(int(version_id) if version_id and version_id.isdigit() else -1)
        out.p_order.append(order)
        out.p_birth.append(birth)
        out.p_sex.append(SEX_INDEX[sex])
        out.p_ethnicity.append(ETHNICITY_INDEX[ethnicity])
        out.p_imd.append(IMD_INDEX[imd])
        out.p_practice.append(self._practice_row(practice))
        if self.keep_identity:
            out.identities.append(nhs_number or subject_key("Patient", rid))

    def _link(self, link: Link | None) -> tuple[int, int]:
        """(key_hash of the focused referral or 0, provider row or -1) of one entry."""
        if link is None:
            return 0, -1
        focus, provider = link
        row = -1
        if provider is not None:
            row = self.provider_index.get(provider, -1)
            if row < 0:
                row = self.provider_index[provider] = len(self.out.provider_refs)
                self.out.provider_refs.append(provider)
        return (key_hash(focus) if focus else 0), row

    def _stars(
        self, stars: tuple[StarReading, ...], version_row: int, who: int, date: int, provider: int
    ) -> None:
        out = self.out
        for reading in stars:
            for area, score in reading.scores.items():
                out.s_version.append(version_row)
                out.s_subject.append(who)
                out.s_date.append(date)
                out.s_area.append(self.area_index[(reading.star, area)])
                out.s_score.append(score)
                out.s_provider.append(provider)

    def _practice_row(self, practice: PracticeRef | None) -> int:
        if practice is None:
            return -1
        ref = "/".join(practice)
        row = self.practice_index.get(ref)
        if row is None:
            row = self.practice_index[ref] = len(self.out.practice_refs)
            self.out.practice_refs.append(ref)
        return row

    def _bad(self, resource: object, bad: BadResource, line_no: int, line: bytes) -> None:
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        rid = resource.get("id") if isinstance(resource, dict) else None
        where = f"{kind}/{rid}" if kind and rid else None
        if kind == "Patient" and rid:
            self.out.held_subjects.add(key_hash(subject_key("Patient", rid)))
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


def scan_chunk(chunk: Chunk, settings: ScanSettings) -> Columns:
    """Read one chunk (runs in a worker process for big sources)."""
    return _ChunkScanner(chunk, settings).run()


_WORKER_SETTINGS: ScanSettings | None = None


def _init_worker(settings: ScanSettings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings


def _scan_in_worker(chunk: Chunk) -> Columns:
    assert _WORKER_SETTINGS is not None
    return scan_chunk(chunk, _WORKER_SETTINGS)


ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes in all)


def scan_source(
    source: Path | str,
    mappings: Mappings,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    months: Iterable[str] | None = None,
    keep_identity: bool = False,
) -> Columns:
    """Scan every NDJSON file of a source into one ``Columns``, in source order.

    ``months`` (YYYY-MM) limits the kept facts to those months (see ``ScanSettings``).
    """
    settings = ScanSettings(
        mappings,
        None if months is None else frozenset(int(m.replace("-", "")) for m in months),
        keep_identity,
    )
    chunks = plan_chunks(source_files(source), chunk_bytes)
    total = sum(Path(c.path).stat().st_size if c.end == -1 else c.end - c.start for c in chunks)
    workers = _worker_count(workers, total, len(chunks))
    merged = Columns()
    done = 0
    try:
        for columns in _scan_chunks(chunks, settings, workers):
            merged.extend(columns)
            done += columns.bytes_read
            if progress is not None:
                progress(done, total)
    except (OSError, EOFError) as exc:  # EOFError: a truncated .ndjson.gz
        raise SourceError(f"cannot read the source: {exc}; check the path and permissions") from exc
    _absolute_line_numbers(merged, chunks)
    return merged


def _worker_count(requested: int | None, total_bytes: int, chunk_count: int) -> int:
    if requested is not None:
        return max(1, requested)
    if total_bytes < PARALLEL_ABOVE_BYTES or chunk_count < 2:
        return 1
    return min(os.cpu_count() or 1, chunk_count)


def _scan_chunks(chunks: list[Chunk], settings: ScanSettings, workers: int) -> Iterable[Columns]:
    if workers == 1:
        for chunk in chunks:
            yield scan_chunk(chunk, settings)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    if context.get_start_method() == "spawn":
        # one fixed seed for every worker; the parent hashes nothing of its own during the scan
        os.environ.setdefault("PYTHONHASHSEED", "2026")
    with ProcessPoolExecutor(
        workers, context, initializer=_init_worker, initargs=(settings,)
    ) as pool:
        yield from pool.map(_scan_in_worker, chunks)


def _absolute_line_numbers(columns: Columns, chunks: list[Chunk]) -> None:
    """Chunks count lines from 1; quarantine wants the line number in the file."""
    lines_before: dict[int, int] = {}
    running: dict[str, int] = {}
    for chunk in chunks:
        lines_before[chunk.index] = running.get(chunk.path, 0)
        running[chunk.path] = lines_before[chunk.index] + columns.lines.get(chunk.index, 0)
    for item, chunk_index in zip(columns.quarantine, columns.quarantine_chunk, strict=True):
        item.line += lines_before[chunk_index]
