"""What the daemon asks the GP server for: only what the mappings and measures can use.

A practice's record is mostly entries no mapping names (blood pressures, repeat medicines,
letters); reading them all would make the first sync transfer twenty times what is needed. So:

- a coded entry type (Observation, Condition, Procedure, ServiceRequest) is searched with
  ``code=system|code,...`` naming the codings that can assert a concept
  (``Mappings.asserting_codings``), split into several searches so that no URL grows long;
- QuestionnaireResponse with ``questionnaire=canonical,...``: the templates the mappings hold
  (each ``url`` and ``url|version``), and every other version of those templates the GP server
  holds (``template_versions``), since the reader reads a response naming ``url|4`` with the
  newest version of ``url`` held when ``url|4`` is not;
- Goal and Patient in full: every Goal asserts ``goal``, and every Patient may be the person an
  entry names (by id or NHS number), or the survivor of a merge; Patients are about one resource
  in a few hundred of a record, so this costs little;
- NHS use (Encounter, Appointment, MedicationRequest) only for the referral cohort, by
  ``patient=Patient/id`` searches and, for the entries naming their person by NHS number alone
  (a logical reference, which the reader accepts), ``subject:identifier=`` (Appointment:
  ``actor:identifier=``) searches for the members' NHS numbers (``daemon/pull.py``,
  ``pull_cohort``).

Where the server cannot filter (its CapabilityStatement lists no such search parameter for the
type), that type is read in full, as before, and the plan says why: ``ltcbridge check`` shows it
and each pull logs it. A server that refuses a filtered search at run time (HTTP 400) is read in
full for that cycle (``daemon/pull.py``). Where the daemon cannot be sure the filter reaches
everything (template versions it cannot discover), the plan says so too (``PullPlan.uncertain``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from ltcbridge.daemon.logs import event
from ltcbridge.fhirclient import Capabilities, FhirClient, FhirHttpError
from ltcbridge.identifiable.read import CARE_PLANNING_TYPES, CODED_ENTRY_TYPES, NHS_USE_TYPES
from ltcbridge.mapping import Mappings

CODE_PARAM, TEMPLATE_PARAM, PATIENT_PARAM = "code", "questionnaire", "patient"
TEMPLATE_TYPE = "QuestionnaireResponse"
# The Questionnaires the GP server holds, searched by their canonical url for their versions.
DEFINITION_TYPE, DEFINITION_URL_PARAM = "Questionnaire", "url"
# The reference parameter, per NHS-use type, whose element the reader takes the person from
# (``identifiable/read.py``, ``_subject_element``), searched with R4's ``:identifier`` modifier for
# entries naming the person by NHS number alone. Not ``patient``: R4 defines it as
# ``subject.where(resolve() is Patient)``, which a server cannot evaluate for a logical reference
# (no Patient to resolve), so a conforming server may match nothing there.
IDENTIFIER_PARAMS = {"Appointment": "actor", "Encounter": "subject", "MedicationRequest": "subject"}
# The longest value of one filter parameter, URL-encoded. Several searches of this size keep each
# URL (base, parameters, _lastUpdated, paging) far below the 8 KB many servers and proxies accept.
MAX_VALUE_CHARS = 2000


# What the daemon reads from the GP record: these types practice-wide (filtered by the mappings
# where the server can), and NHS use for the referral cohort.
GP_TYPES: tuple[str, ...] = ("Patient", *sorted(CARE_PLANNING_TYPES))
GP_READ_TYPES: tuple[str, ...] = (*GP_TYPES, *sorted(NHS_USE_TYPES))


@dataclass(frozen=True)
class Search:
    """One practice-wide search of the GP record: a type, and its filter (none: every one)."""

    resource_type: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """The name its watermark is kept under: the type alone for a full read (as before
        filtering), else the type, parameter and a digest of the value. A change of mappings
        changes the digest, so the new codes are read from the beginning."""
        if not self.params:
            return self.resource_type
        digest = hashlib.sha256(urlencode(self.params).encode()).hexdigest()[:16]
        return f"{self.resource_type}?{self.params[0][0]}#{digest}"

    def type_filter(self) -> str:
        """The search as a Bulk Data ``_typeFilter`` value: ``Type?`` and the URL-encoded query
        (the client encodes the whole value once more, as the Bulk Data spec asks)."""
        return f"{self.resource_type}?{urlencode(self.params, quote_via=quote, safe='')}"


@dataclass(frozen=True)
class PullPlan:
    """The searches of one pull, the NHS-use types read for the cohort only, why any type is
    read in full (empty when everything is filtered), and what the filters may miss that the
    daemon cannot rule out (``uncertain``: said by ``ltcbridge check`` and each pull's log)."""

    searches: tuple[Search, ...]
    cohort_types: tuple[str, ...]
    unfiltered: tuple[str, ...] = field(default=())
    uncertain: tuple[str, ...] = field(default=())

    @property
    def types(self) -> tuple[str, ...]:
        """Every resource type the plan reads practice-wide, in order."""
        return tuple(dict.fromkeys(s.resource_type for s in self.searches))


def plan_pull(
    mappings: Mappings, capabilities: Capabilities, gp_templates: Sequence[str] = ()
) -> PullPlan:
    """The searches the mappings need, filtered wherever the server says it can filter.

    ``gp_templates``: the versions of the mapped templates the GP server holds
    (``template_versions``), asked for besides the mappings' own canonicals."""
    searches: list[Search] = [Search("Patient")]
    unfiltered: list[str] = []
    uncertain: list[str] = []
    tokens = [f"{system}|{code or ''}" for system, code in mappings.asserting_codings()]
    wanted = {t: (CODE_PARAM, tokens) for t in sorted(CODED_ENTRY_TYPES)}
    canonicals = sorted({*mappings.template_canonicals(), *gp_templates})
    wanted[TEMPLATE_TYPE] = (TEMPLATE_PARAM, canonicals)
    for resource_type, (param, values) in sorted(wanted.items()):
        if capabilities.supports_search_param(resource_type, param):
            searches += [Search(resource_type, ((param, v),)) for v in split_values(values)]
        else:
            searches.append(Search(resource_type))
            unfiltered.append(not_filtered(resource_type, param))
    versions_known = capabilities.supports_search_param(DEFINITION_TYPE, DEFINITION_URL_PARAM)
    if capabilities.supports_search_param(TEMPLATE_TYPE, TEMPLATE_PARAM) and not versions_known:
        uncertain.append(VERSIONS_UNKNOWN)
    searches.append(Search("Goal"))
    cohort: list[str] = []
    for resource_type in sorted(NHS_USE_TYPES):
        missing = [
            param
            for param in (PATIENT_PARAM, IDENTIFIER_PARAMS[resource_type])
            if not capabilities.supports_search_param(resource_type, param)
        ]
        if missing:
            searches.append(Search(resource_type))
            unfiltered.append(not_filtered(resource_type, missing[0]))
        else:
            cohort.append(resource_type)
    return PullPlan(tuple(searches), tuple(cohort), tuple(unfiltered), tuple(uncertain))


async def discover_plan(gp: FhirClient, mappings: Mappings, capabilities: Capabilities) -> PullPlan:
    """The pull plan with the versions of the mapped templates the GP server holds (asked once
    a pull, so a version the GP system adds is read from the next pull on)."""
    versions = await template_versions(gp, mappings, capabilities)
    if versions:
        event("gp.template_versions", count=len(versions))
    return plan_pull(mappings, capabilities, versions)


VERSIONS_UNKNOWN = (
    "QuestionnaireResponse: the GP server's CapabilityStatement lists no 'url' search "
    "parameter for Questionnaire, so the versions of the templates it holds cannot be found: "
    "a response naming a version the mappings do not hold may not be read (add every version "
    "in use to the mappings)"
)
# What a server answers for a search parameter it does not support (strict handling), or for a
# URL longer than it takes: the filtered search is refused.
REFUSED_FILTER = frozenset({400, 414, 422, 501})
# ... and for a type it does not serve at all (``template_versions``: Questionnaire).
UNSUPPORTED_SEARCH = REFUSED_FILTER | {404, 405}


async def template_versions(
    gp: FhirClient, mappings: Mappings, capabilities: Capabilities
) -> list[str]:
    """Every ``url|version`` of a mapped template that the GP server holds as a Questionnaire.

    Why: the reader reads a response naming a version the mappings lack with the newest version
    held, but a ``questionnaire=url`` search need not find it. FHIR's search page (search.html,
    "References and Versions", R4 and later) says a server SHOULD read a ``|[version]`` in a
    canonical search value as a search on that business version, and leaves it to the optional
    ``:below`` modifier to match every version of a url: whether ``questionnaire=url`` matches
    ``url|4`` is the server's choice (the test engine: no; it also ignores ``:below``). Naming
    each version is exact on any conforming server; the versions come from
    ``Questionnaire?url=`` (a search parameter R4 defines for Questionnaire). A server that cannot
    be asked gives none (the plan's ``uncertain`` says so); one that refuses gives none too,
    logged with the same warning.
    """
    if not capabilities.supports_search_param(DEFINITION_TYPE, DEFINITION_URL_PARAM):
        return []
    urls = sorted({c.split("|", 1)[0] for c in mappings.template_canonicals()})
    found: set[str] = set()
    try:
        for value in split_values(urls):
            async for questionnaire in gp.search(DEFINITION_TYPE, {DEFINITION_URL_PARAM: value}):
                url, version = questionnaire.get("url"), questionnaire.get("version")
                if url in urls and isinstance(version, str) and version:
                    found.add(f"{url}|{version}")
    except FhirHttpError as exc:
        if exc.status not in UNSUPPORTED_SEARCH:
            raise
        event(
            "gp.template_versions_unavailable", level=30, status=exc.status, detail=VERSIONS_UNKNOWN
        )
        return []
    return sorted(found - set(mappings.template_canonicals()))


def full_plan() -> PullPlan:
    """Every type read in full: what a server that refuses filters gets (and the baseline the
    tests compare the filtered pull with)."""
    return PullPlan(tuple(Search(t) for t in GP_READ_TYPES), ())


def not_filtered(resource_type: str, param: str) -> str:
    """The warning for a type read in full, naming what the server lacks."""
    return (
        f"{resource_type}: the GP server's CapabilityStatement lists no '{param}' search "
        f"parameter, so every {resource_type} is read (correct, but slower)"
    )


def split_values(values: list[str]) -> list[str]:
    """``values`` joined by commas (FHIR's OR within one parameter) into pieces whose URL-encoded
    length stays within ``MAX_VALUE_CHARS``; none when there are no values (nothing to read)."""
    pieces: list[str] = []
    current: list[str] = []
    length = 0
    for value in values:
        size = len(quote(value, safe="")) + 3  # and the encoded comma
        if current and length + size > MAX_VALUE_CHARS:
            pieces.append(",".join(current))
            current, length = [], 0
        current.append(value.replace(",", "\\,"))  # a comma inside a value is escaped in FHIR
        length += size
    if current:
        pieces.append(",".join(current))
    return pieces
