"""From scanned columns to the population the counts are about: latest versions, people, opt-outs.

Everything here is column-wise numpy over integers, so a million resources de-duplicate and
resolve in well under a second, in memory proportional to the rows, not to the JSON.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from ltcbridge.concepts import CONCEPT_INDEX, OPTOUT, OPTOUT_WITHDRAWN
from ltcbridge.identifiable.read import AGE_MONTH
from ltcbridge.identifiable.scan import Columns

_MERGE_HOPS = 32  # replaced-by chains longer than this are taken as loops
NO_GP = "no generalPractitioner or managingOrganization naming an organisation"
GP_NOT_IN_EXPORT = (
    "the practice named (generalPractitioner or managingOrganization) is an Organization the "
    "export does not hold with an ODS code, and the reference gives no ODS identifier"
)


@dataclass
class PopulationReport:
    """What a person should know about who was counted and who was not, and why."""

    patients: int = 0
    opted_out: int = 0
    without_practice: int = 0
    entry_versions: int = 0
    replaced_versions: int = 0
    entries_held_with_quarantined_patient: int = 0
    entries_unattributed: int = 0  # subject not among the source's patients
    merged_records: int = 0  # Patients replaced by another (link replaced-by): one person
    merged_target_missing: int = 0  # replaced by a Patient not in the source: counted as is
    entries_onset_age_without_birth: int = 0  # onset as an age, no birth date to date it from
    entries_after_death: int = 0  # facts and Star readings after the month of death: not counted
    without_practice_reasons: dict[str, int] = field(default_factory=dict)

    def uncounted(self) -> list[str]:
        """Why people or entries went uncounted, one plain line each (none when nothing was)."""
        lines = [
            f"{_people(n)} without a practice: {reason}"
            for reason, n in self.without_practice_reasons.items()
        ]
        for count, what in (
            (self.merged_records, "merged record(s) counted as the record that replaced them"),
            (self.merged_target_missing, "record(s) replaced by a Patient not in the export: "
             "counted as they are"),
            (self.entries_onset_age_without_birth, "Condition(s) with an onset age for a person "
             "without a birth date: not counted"),
            (self.entries_after_death, "fact(s) or Star reading(s) dated after the person's month "
             "of death: not counted"),
        ):  # fmt: skip
            if count:
                lines.append(f"{count} {what}")
        return lines


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


@dataclass
class Population:
    """People (one row each) and the concepts asserted about them (one row per fact)."""

    practices: list[str]  # ODS codes; patient_practice indexes this list
    patient_practice: np.ndarray  # -1 = no practice
    birth: np.ndarray  # YYYYMMDD, 0 = unknown
    sex: np.ndarray
    ethnicity: np.ndarray
    imd: np.ndarray
    opted_out: np.ndarray  # bool
    fact_patient: np.ndarray  # row in the patient columns
    fact_date: np.ndarray  # YYYYMMDD
    fact_concept: np.ndarray  # index into concepts.COUNTED_CONCEPTS
    fact_key: np.ndarray  # identifier of the entry: a Task's focus names a referral so
    fact_focus: np.ndarray  # identifier of the referral a provider's answer is about, 0 = none
    fact_provider: np.ndarray  # index into providers, -1 = none
    fact_updated: np.ndarray  # the entry's meta.lastUpdated (microseconds), -1 = none
    stars: StarRows
    providers: list[str] = field(default_factory=list)  # provider ODS codes, sorted
    identity: list[str] | None = None  # per person, only when the scan kept it (cohort extract)
    report: PopulationReport = field(default_factory=PopulationReport)


@dataclass
class StarRows:
    """Area scores of the winning versions of Star readings, one row per (reading, area)."""

    reading: np.ndarray  # which reading (the version row it came from)
    patient: np.ndarray
    date: np.ndarray  # YYYYMMDD
    updated: np.ndarray  # the reading's meta.lastUpdated, to order readings of one day
    area: np.ndarray  # index into Mappings.star_areas()
    score: np.ndarray
    provider: np.ndarray  # index into Population.providers, -1 = none


def build_population(columns: Columns) -> Population:
    """Keep the latest version of everything, attach facts to people, and apply opt-outs."""
    report = PopulationReport()
    version_wins = _latest_versions(columns.v_key, columns.v_updated, columns.v_int_version)
    report.entry_versions = len(version_wins)
    report.replaced_versions = int((~version_wins).sum())
    patient_rows = np.flatnonzero(
        _latest_versions(columns.p_key, columns.p_updated, columns.p_int_version)
    )
    people = _PatientIndex(columns, patient_rows)
    patient_rows = people.merge(columns, patient_rows, report)
    facts = np.flatnonzero(version_wins[columns.f_version])
    fact_patient = _resolve_subjects(columns, people, facts, report)
    practices, patient_practice = _practices(columns, patient_rows, report)
    providers, provider_of_ref = _providers(columns)
    fact_date = columns.f_date[facts].astype(np.int64)
    counted = fact_patient >= 0
    counted &= _dated(fact_date, fact_patient, columns.p_birth[patient_rows], report)
    death = columns.p_death[patient_rows].astype(np.int64)
    counted &= _before_death(columns, facts, fact_date, fact_patient, death, report)
    kept = facts[counted]
    fact_versions = columns.f_version[kept]
    population = Population(
        practices=practices,
        patient_practice=patient_practice,
        birth=columns.p_birth[patient_rows].astype(np.int64),
        sex=columns.p_sex[patient_rows],
        ethnicity=columns.p_ethnicity[patient_rows],
        imd=columns.p_imd[patient_rows],
        opted_out=np.zeros(len(patient_rows), dtype=bool),
        fact_patient=fact_patient[counted],
        fact_date=fact_date[counted],
        fact_concept=columns.f_concept[kept],
        fact_key=columns.v_key[fact_versions],
        fact_focus=columns.f_link[kept],
        fact_provider=provider_of_ref[columns.f_provider[kept]],
        fact_updated=columns.v_updated[fact_versions],
        stars=_star_rows(columns, version_wins, people, provider_of_ref, death, report),
        providers=providers,
        identity=[columns.identities[i] for i in patient_rows] if columns.identities else None,
        report=report,
    )
    population.opted_out = _opted_out(population, population.fact_updated)
    report.patients = len(patient_rows)
    report.opted_out = int(population.opted_out.sum())
    report.without_practice = int((patient_practice < 0).sum())
    return population


def _dated(
    dates: np.ndarray, patients: np.ndarray, birth: np.ndarray, report: PopulationReport
) -> np.ndarray:
    """Onsets given as an age (negative codes, see ``read.AGE_MONTH``) dated from the person's
    birth date, in place; a mask of the facts that have a date (unknown birth date: not)."""
    dated = np.ones(len(dates), dtype=bool)
    for i in np.flatnonzero((dates < 0) & (patients >= 0)):
        born = int(birth[patients[i]])
        months, days = divmod(-int(dates[i]) - 1, AGE_MONTH)
        try:
            if born <= 0:
                raise ValueError("no birth date")
            when = _add_months(born, months) + timedelta(days=days)
        except (ValueError, OverflowError):  # no birth date, or past the year 9999
            dated[i] = False
            report.entries_onset_age_without_birth += 1
            continue
        dates[i] = when.year * 10000 + when.month * 100 + when.day
    return dated


def _add_months(yyyymmdd: int, months: int) -> date:
    """The date ``months`` calendar months after a YYYYMMDD, its day clamped to the month."""
    year, rest = divmod(yyyymmdd, 10000)
    month, day = divmod(rest, 100)
    year, month = divmod(year * 12 + month - 1 + months, 12)
    month += 1
    return date(year, month, min(max(day, 1), calendar.monthrange(year, month)[1]))


def _before_death(
    columns: Columns,
    facts: np.ndarray,
    dates: np.ndarray,
    patients: np.ndarray,
    death: np.ndarray,
    report: PopulationReport,
) -> np.ndarray:
    """A mask of the facts not dated in a month after their person's death (opt-outs are kept
    whatever their date: the dissent still governs what leaves)."""
    after = _after_death(dates, patients, death)
    if after.any():
        concept = columns.f_concept[facts]
        after &= (concept != CONCEPT_INDEX[OPTOUT]) & (concept != CONCEPT_INDEX[OPTOUT_WITHDRAWN])
        report.entries_after_death += int(after.sum())
    return ~after


def _after_death(dates: np.ndarray, patients: np.ndarray, death: np.ndarray) -> np.ndarray:
    """A mask of the rows dated in a month after their person's month of death (a person with
    no known date of death: none; ``patients`` -1: not a person, none)."""
    if not (death > 0).any():
        return np.zeros(len(dates), dtype=bool)
    known = patients >= 0
    died = np.zeros(len(dates), dtype=np.int64)
    died[known] = death[patients[known]]
    return (died > 0) & (dates // 100 > died // 100)


def _latest_versions(key: np.ndarray, updated: np.ndarray, int_version: np.ndarray) -> np.ndarray:
    """A mask of the rows that are the winning version of their resource.

    Latest lastUpdated wins; then the higher integer versionId (a non-integer counts as lower);
    then the one read last (rows are in source order).
    """
    wins = np.ones(len(key), dtype=bool)
    if len(key) < 2:
        return wins
    by_key = np.argsort(key)
    sorted_keys = key[by_key]
    repeated = sorted_keys[1:] == sorted_keys[:-1]
    if not repeated.any():
        return wins  # the usual bulk export: one version of everything
    in_group = np.zeros(len(key), dtype=bool)
    in_group[1:] |= repeated
    in_group[:-1] |= repeated
    rows = by_key[in_group]  # only resources with several versions are ranked
    ranked = rows[np.lexsort((rows, int_version[rows], updated[rows], key[rows]))]
    last_of_group = np.ones(len(ranked), dtype=bool)
    last_of_group[:-1] = key[ranked][1:] != key[ranked][:-1]
    wins[rows] = False
    wins[ranked[last_of_group]] = True
    return wins


class _PatientIndex:
    """Both kinds of patient key (``subject_hash`` of an id and of an NHS number) in one sorted
    array, so that every subject finds its person by binary search (vectorised). Built once,
    for the facts and the Star readings alike."""

    def __init__(self, columns: Columns, patient_rows: np.ndarray) -> None:
        ids = columns.p_key[patient_rows]
        nhs = columns.p_nhs[patient_rows]
        has_nhs = np.flatnonzero(nhs != 0)
        keys = np.concatenate([ids, nhs[has_nhs]])
        owners = np.concatenate([np.arange(len(ids)), has_nhs])
        self.position = np.full(len(columns.p_key), -1, dtype=np.int64)
        self.position[patient_rows] = np.arange(len(patient_rows))  # p row -> person, or -1
        if len(columns.a_patient):  # further valid NHS numbers of the winning versions
            alias_owner = self.position[columns.a_patient]
            mine = alias_owner >= 0
            keys = np.concatenate([keys, columns.a_nhs[mine]])
            owners = np.concatenate([owners, alias_owner[mine]])
        self._index(keys, owners)

    def _index(self, keys: np.ndarray, owners: np.ndarray) -> None:
        order = np.argsort(keys)
        if (keys[order][1:] == keys[order][:-1]).any():  # rare (one NHS number, two records):
            order = np.argsort(keys, kind="stable")  # an id, then the earliest record, wins
        self.keys, self.owners = keys[order], owners[order]

    def merge(
        self, columns: Columns, patient_rows: np.ndarray, report: PopulationReport
    ) -> np.ndarray:
        """Follow merges (``replaced-by`` on the merged record, ``replaces`` on the one it merged
        into): a merged record is no person of its own; every key of it finds the record that
        replaced it (along a chain). Returns the people's rows left."""
        merged_into = columns.p_merged[patient_rows]
        survivor = self.position[columns.m_patient]  # winning versions' ``replaces`` only
        if not merged_into.any() and not (survivor >= 0).any():
            return patient_rows
        count = len(patient_rows)
        owner = np.arange(count)
        has_link = np.flatnonzero(merged_into != 0)
        target = self.find(merged_into[has_link])
        report.merged_target_missing = int((target < 0).sum())
        found = target >= 0
        owner[has_link[found]] = target[found]
        merged = self.find(columns.m_replaces[survivor >= 0])
        survivor = survivor[survivor >= 0]
        owner[merged[merged >= 0]] = survivor[merged >= 0]
        for _ in range(_MERGE_HOPS):
            owner = owner[owner]
        looped = owner[owner] != owner  # a loop of replaced-by links: leave those as they are
        owner[looped] = np.arange(count)[looped]
        survivors = np.flatnonzero(owner == np.arange(count))
        report.merged_records = count - len(survivors)
        renumber = np.full(count, -1, dtype=np.int64)
        renumber[survivors] = np.arange(len(survivors))
        self._index(self.keys, renumber[owner[self.owners]])
        return patient_rows[survivors]

    def find(self, subjects: np.ndarray) -> np.ndarray:
        """The patient (index into patient_rows) of each subject, -1 when not known."""
        resolved = np.full(len(subjects), -1, dtype=np.int64)
        if len(self.keys) and len(subjects):
            order = np.argsort(subjects)  # sorted, the binary searches are several times faster
            wanted = subjects[order]
            at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            found = self.keys[at] == wanted
            resolved[order[found]] = self.owners[at[found]]
        return resolved


def _resolve_subjects(
    columns: Columns, people: _PatientIndex, facts: np.ndarray, report: PopulationReport
) -> np.ndarray:
    """The patient (index into patient_rows) of each fact, -1 when the person is not known."""
    subjects = columns.f_subject[facts]
    resolved = people.find(subjects)
    unresolved = resolved < 0
    if unresolved.any():
        held = np.fromiter(columns.held_subjects, dtype=np.int64, count=len(columns.held_subjects))
        held_facts = unresolved & np.isin(subjects, held)
        report.entries_held_with_quarantined_patient = _distinct_versions(
            columns, facts, held_facts
        )
        report.entries_unattributed = _distinct_versions(columns, facts, unresolved & ~held_facts)
    return resolved


def _providers(columns: Columns) -> tuple[list[str], np.ndarray]:
    """Provider ODS codes, sorted, and each provider row's index among them (last: -1)."""
    providers = sorted(set(columns.provider_refs))
    position = {ods: i for i, ods in enumerate(providers)}
    return providers, np.array([position[p] for p in columns.provider_refs] + [-1], np.int64)


def _star_rows(
    columns: Columns,
    version_wins: np.ndarray,
    people: _PatientIndex,
    provider_of_ref: np.ndarray,
    death: np.ndarray,
    report: PopulationReport,
) -> StarRows:
    versions = columns.s_version
    rows = np.flatnonzero(version_wins[versions])
    patient = people.find(columns.s_subject[rows])
    rows, patient = rows[patient >= 0], patient[patient >= 0]
    after = _after_death(columns.s_date[rows].astype(np.int64), patient, death)
    if after.any():  # Star readings dated after the month of death count nowhere either
        report.entries_after_death += len(np.unique(versions[rows[after]]))
        rows, patient = rows[~after], patient[~after]
    return StarRows(
        reading=versions[rows].astype(np.int64),
        patient=patient,
        date=columns.s_date[rows].astype(np.int64),
        updated=columns.v_updated[versions[rows]],
        area=columns.s_area[rows].astype(np.int64),
        score=columns.s_score[rows].astype(np.int64),
        provider=provider_of_ref[columns.s_provider[rows]],
    )


def _distinct_versions(columns: Columns, facts: np.ndarray, mask: np.ndarray) -> int:
    return len(np.unique(columns.f_version[facts][mask]))


def _practices(
    columns: Columns, patient_rows: np.ndarray, report: PopulationReport
) -> tuple[list[str], np.ndarray]:
    """Each patient's practice as an index into a sorted list of ODS codes (-1 = none), and
    why those without one have none (in ``report``)."""
    ods_of_ref = [_ods_of(ref, columns.organizations) for ref in columns.practice_refs]
    practices = sorted({ods for ods in ods_of_ref if ods})
    position = {ods: i for i, ods in enumerate(practices)}
    ref_to_practice = np.array(
        [position[ods] if ods else -1 for ods in ods_of_ref] + [-1], dtype=np.int64
    )
    refs = columns.p_practice[patient_rows]
    patient_practice = ref_to_practice[refs]  # -1 indexes the trailing -1
    reasons = {
        NO_GP: int((refs < 0).sum()),
        GP_NOT_IN_EXPORT: int(((refs >= 0) & (patient_practice < 0)).sum()),
    }
    report.without_practice_reasons = {reason: n for reason, n in reasons.items() if n}
    return practices, patient_practice


def _ods_of(ref: str, organizations: dict[str, str]) -> str | None:
    """The ODS code of a practice reference: the Organization's in the export, else the ODS
    identifier the reference carried beside it (``Organization/id|ODS``)."""
    kind, _, value = ref.partition("/")
    if kind == "ods":
        return value
    org, _, fallback = value.partition("|")
    return organizations.get(org) or fallback or None


def _opted_out(population: Population, updated: np.ndarray) -> np.ndarray:
    """Whose latest opt-out entry (by clinical date, then lastUpdated; a tie dissents) dissents."""
    concept = population.fact_concept
    is_dissent = concept == CONCEPT_INDEX[OPTOUT]
    rows = np.flatnonzero(is_dissent | (concept == CONCEPT_INDEX[OPTOUT_WITHDRAWN]))
    opted_out = np.zeros(len(population.sex), dtype=bool)
    if len(rows) == 0:
        return opted_out
    patients = population.fact_patient[rows]
    ranked = np.lexsort((is_dissent[rows], updated[rows], population.fact_date[rows], patients))
    sorted_patients = patients[ranked]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = sorted_patients[1:] != sorted_patients[:-1]
    deciding = rows[ranked[last]]
    opted_out[population.fact_patient[deciding]] = is_dissent[deciding]
    return opted_out
