"""Mappings: how a practice's own codes and templates turn into ltcbridge concepts.

Mappings are FHIR R4 data (ConceptMap, Questionnaire, CodeSystem) plus two CSV lookups, kept in
directories. The bundled directory is always loaded first; a practice or ICB adds its own. Loading
checks everything and refuses to go on when any mapping is wrong, because a wrong mapping counts
people wrongly (or, for an opt-out, leaks them) without anyone noticing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from ltcbridge.concepts import CONCEPT_SYSTEM
from ltcbridge.errors import MappingError, Problem
from ltcbridge.fhir_problems import MALFORMED, problem_of

# R4 ConceptMap.equivalence and R5 ConceptMap.relationship values under which the source code
# implies the target concept. "narrower" means the target is narrower than the source: knowing
# the source does not tell us the target, so it asserts nothing.
ASSERTING_EQUIVALENCES = frozenset(
    {"equal", "equivalent", "wider", "subsumes", "source-is-narrower-than-target"}
)
# Every other R4 equivalence and R5 relationship: known, and asserting nothing.
NON_ASSERTING_EQUIVALENCES = frozenset(
    {"relatedto", "narrower", "specializes", "inexact", "unmatched", "disjoint"}
    | {"related-to", "source-is-broader-than-target", "not-related-to"}
)
# "The source has no target": a target element that may carry no code at all.
NOTHING_MAPS = frozenset({"unmatched", "disjoint", "not-related-to"})
# R4 invariant cmd-1: these need a comment saying what the map leaves out.
NEEDS_COMMENT = frozenset({"narrower", "inexact"})

MAPPING_RESOURCE_TYPES = frozenset({"ConceptMap", "Questionnaire", "CodeSystem", "Bundle"})


def bundled_mappings_dir() -> Path:
    """The mappings shipped inside the package (concepts, national defaults, Star forms)."""
    return Path(str(resources.files("ltcbridge") / "bundled" / "mappings"))


@dataclass(frozen=True)
class StarDefinition:
    """A Star (or other scored measure): its areas and valid score range, all from data."""

    code: str
    areas: tuple[str, ...]
    min_score: int
    max_score: int


@dataclass(frozen=True)
class QuestionnaireMap:
    """What each item of one template asserts, found through the item's ``code``."""

    url: str
    version: str | None
    origin: str
    item_concepts: dict[str, str]  # linkId -> concept asserted by the item's code


@dataclass(frozen=True)
class Conditional:
    """A mapping that holds only when the same resource also carries other codings (dependsOn)."""

    concept: str
    needs: frozenset[tuple[str, str]]  # (system, code) pairs, every one required
    origin: str


@dataclass
class Mappings:
    """Every loaded mapping, shaped for fast lookups on the hot path."""

    by_system: dict[str, dict[str, str]] = field(default_factory=dict)
    covered: dict[str, set[str]] = field(default_factory=dict)  # codes any ConceptMap names
    concept_kinds: dict[str, str] = field(default_factory=dict)
    stars: dict[str, StarDefinition] = field(default_factory=dict)
    questionnaires: dict[str, QuestionnaireMap] = field(default_factory=dict)
    imd_quintile: dict[str, str] = field(default_factory=dict)
    pcn_of: dict[str, str] = field(default_factory=dict)
    origins: dict[tuple[str, str], str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # source system -> code -> the mappings that hold only beside other codings (dependsOn)
    conditional: dict[str, dict[str, tuple[Conditional, ...]]] = field(default_factory=dict)
    # source system -> the concept every code no map lists asserts (group.unmapped mode fixed)
    fixed: dict[str, str] = field(default_factory=dict)
    # what a person should know, though the mappings load: unused maps, cmd-1, fixed modes...
    warnings: list[Problem] = field(default_factory=list)

    def concept_of(self, system: str | None, code: str | None) -> str | None:
        """The concept a coding asserts, or None."""
        codes = self.by_system.get(system)  # type: ignore[arg-type]
        return codes.get(code) if codes is not None else None  # type: ignore[arg-type]

    def is_covered(self, system: str | None, code: str | None) -> bool:
        """True when some mapping names this coding, even one that deliberately asserts nothing."""
        if system == CONCEPT_SYSTEM:
            return code in self.concept_kinds
        return code in self.covered.get(system, ())  # type: ignore[arg-type]

    def concept_beside(
        self,
        system: str | None,
        code: str | None,
        codings: Callable[[], set[tuple[str, str]]],
    ) -> str | None:
        """The concept a coding asserts when no plain mapping names it: a conditional mapping
        whose other codings are all among ``codings()`` (the resource's, worked out only when
        needed), or the fixed concept of its system for codes no map lists. None otherwise."""
        rules = self.conditional.get(system, {}).get(code, ()) if self.conditional else ()  # type: ignore[arg-type]
        if rules:
            present = codings()
            for rule in rules:
                if rule.needs <= present:
                    return rule.concept
        fixed = self.fixed.get(system) if self.fixed else None  # type: ignore[arg-type]
        if fixed is not None and code not in self.covered.get(system, ()):  # type: ignore[arg-type]
            return fixed
        return None

    def asserting_codings(self) -> list[tuple[str, str | None]]:
        """Every (system, code) a coded entry must carry to assert a concept, sorted: plainly
        mapped codes and the codes of conditional mappings; ``(system, None)`` for a system
        whose every code asserts something (group.unmapped mode fixed). The daemon asks the GP
        server for these codes only (daemon/pull_plan.py), so a coding outside this list must
        assert nothing whatever else the resource carries."""
        found: set[tuple[str, str | None]] = {(system, None) for system in self.fixed}
        for rules in (self.by_system, self.conditional):
            for system, codes in rules.items():
                if system not in self.fixed:
                    found.update((system, code) for code in codes)
        return sorted(found, key=lambda pair: (pair[0], pair[1] or ""))

    def template_canonicals(self) -> list[str]:
        """Every canonical a QuestionnaireResponse may name to be read (``url`` and each
        ``url|version`` loaded), sorted."""
        return sorted(self.questionnaires)

    def questionnaire(self, canonical: str) -> QuestionnaireMap | None:
        """The template a QuestionnaireResponse names: exact ``url|version``, else newest of url."""
        return self.questionnaires.get(canonical) or self.questionnaires.get(
            canonical.split("|", 1)[0]
        )

    def star_areas(self) -> list[tuple[str, str]]:
        """Every (Star, area) pair in a fixed order: the index a scan stores for an area."""
        return [(code, area) for code in sorted(self.stars) for area in self.stars[code].areas]

    def star_of_area(self, area: str) -> StarDefinition | None:
        for star in self.stars.values():
            if area in star.areas:
                return star
        return None


def load_mappings(dirs: Sequence[Path | str] = (), *, include_bundled: bool = True) -> Mappings:
    """Load and check mappings; raise ``MappingError`` listing every problem found."""
    paths = ([bundled_mappings_dir()] if include_bundled else []) + [Path(d) for d in dirs]
    loader = _Loader()
    for directory in paths:
        loader.load_directory(directory)
    return loader.finish()


@dataclass
class _Located:
    resource: dict[str, Any]
    origin: str  # file name, with the Bundle entry when the resource came from a Bundle


class _Loader:
    """Collects resources from every directory, then builds lookups in dependency order."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.code_systems: list[_Located] = []
        self.concept_maps: list[_Located] = []
        self.questionnaire_resources: list[_Located] = []
        self.mappings = Mappings()
        self.concept_properties: dict[str, dict[str, Any]] = {}
        self.map_urls: set[str] = set()  # urls of the ConceptMaps in use
        self.other_maps: list[tuple[str, str, Any]] = []  # (origin, path, url) of other-map

    # -- collecting -------------------------------------------------------------------------
    def load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            self.problems.append(Problem(str(directory), "", "is not a directory"))
            return
        for path in sorted(directory.iterdir()):
            if path.suffix == ".json":
                self._load_json(path)
            elif path.suffix == ".csv":
                self._load_csv(path)

    def _load_json(self, path: Path) -> None:
        self.mappings.files.append(str(path))
        try:
            resource = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            self.problems.append(Problem(str(path), "", f"is not valid JSON ({exc})"))
            return
        for located in _unbundle(resource, str(path), self.problems):
            self._sort(located)

    def _sort(self, located: _Located) -> None:
        kind = located.resource.get("resourceType")
        if kind == "CodeSystem":
            self.code_systems.append(located)
        elif kind == "ConceptMap":
            self.concept_maps.append(located)
        elif kind == "Questionnaire":
            self.questionnaire_resources.append(located)
        else:
            self.problems.append(
                Problem(
                    located.origin,
                    "resourceType",
                    f"{kind!r} is not a mapping resource (expected ConceptMap, Questionnaire, "
                    "CodeSystem or a Bundle of them)",
                )
            )

    def _load_csv(self, path: Path) -> None:
        self.mappings.files.append(str(path))
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            self.problems.append(Problem(str(path), "", "is empty"))
            return
        header = [h.strip().lower() for h in rows[0]]
        if header[:2] == ["postcode", "imd_quintile"]:
            self._read_imd(path, rows[1:])
        elif header[:2] == ["practice", "pcn"]:
            for row in rows[1:]:
                if len(row) >= 2 and row[0].strip():
                    self.mappings.pcn_of[row[0].strip().upper()] = row[1].strip().upper()
        else:
            self.problems.append(
                Problem(
                    str(path),
                    "header",
                    f"unrecognised columns {rows[0]!r}: expected 'postcode,imd_quintile' "
                    "or 'practice,pcn'",
                )
            )

    def _read_imd(self, path: Path, rows: list[list[str]]) -> None:
        for number, row in enumerate(rows, start=2):
            if not row or not row[0].strip():
                continue
            quintile = row[1].strip() if len(row) > 1 else ""
            if quintile not in {"1", "2", "3", "4", "5"}:
                self.problems.append(
                    Problem(f"{path}:{number}", "imd_quintile", f"{quintile!r} is not 1..5")
                )
                continue
            self.mappings.imd_quintile[normalise_postcode(row[0])] = quintile

    # -- building ---------------------------------------------------------------------------
    def finish(self) -> Mappings:
        self._each(self.code_systems, self._add_code_system)
        self._build_stars()
        self._each(self._concept_maps_in_use(), self._add_concept_map)
        self._check_other_maps()
        self._check_conditional()
        self._each(self.questionnaire_resources, self._add_questionnaire)
        self._index_newest_questionnaires()
        # An ltcbridge concept coding asserts itself: one lookup path for every coding.
        self.mappings.by_system[CONCEPT_SYSTEM] = {c: c for c in self.mappings.concept_kinds}
        if self.problems:
            raise MappingError(self.problems)
        return self.mappings

    def _each(self, resources: list[_Located], add: Callable[[_Located], None]) -> None:
        """``add`` each resource; one whose elements have the wrong JSON type (``MALFORMED``) is a
        problem naming its file and the first element that is not valid FHIR."""
        for found in resources:
            try:
                add(found)
            except MALFORMED as exc:
                kind = found.resource.get("resourceType")
                path, message = problem_of(found.resource, exc)
                self.problems.append(Problem(found.origin, f"{kind}{path}", message))

    def _add_code_system(self, located: _Located) -> None:
        resource = located.resource
        if resource.get("url") != CONCEPT_SYSTEM:
            return  # a practice's own code system, kept for documentation: nothing to load
        for index, concept in enumerate(_walk_concepts(resource.get("concept", []))):
            code = concept.get("code")
            properties = {p.get("code"): _property_value(p) for p in concept.get("property", [])}
            kind = properties.get("kind")
            if not code or not kind:
                self.problems.append(
                    Problem(located.origin, f"CodeSystem.concept[{index}]", "needs code and kind")
                )
                continue
            known = self.mappings.concept_kinds.get(code)
            if known is not None and known != kind:
                self.problems.append(
                    Problem(
                        located.origin,
                        f"CodeSystem.concept[{index}]",
                        f"concept {code!r} is already defined with kind {known!r}",
                    )
                )
            self.mappings.concept_kinds[code] = kind
            self.concept_properties[code] = properties

    def _build_stars(self) -> None:
        props = self.concept_properties
        for code, kind in self.mappings.concept_kinds.items():
            if kind != "star":
                continue
            areas = tuple(
                area
                for area, area_kind in self.mappings.concept_kinds.items()
                if area_kind == "star-area" and props[area].get("star") == code
            )
            self.mappings.stars[code] = StarDefinition(
                code=code,
                areas=areas,
                min_score=int(props[code].get("min-score", 0)),
                max_score=int(props[code].get("max-score", 10)),
            )

    def _concept_maps_in_use(self) -> list[_Located]:
        """The ConceptMaps to read: not retired, and of each url only the newest version (as
        for Questionnaires). Every map left out is a warning saying why."""
        newest: dict[str, _Located] = {}
        in_use: list[_Located] = []
        for located in self.concept_maps:
            resource = located.resource
            if resource.get("status") == "retired":
                self._warn(located.origin, "ConceptMap.status", "is retired: the map is not used")
                continue
            url = resource.get("url")
            if not isinstance(url, str) or not url:
                in_use.append(located)
                continue
            best = newest.get(url)
            if best is None or _version(best) == _version(located):
                if best is not None:  # the same version twice: both read, so they must agree
                    in_use.append(located)
                else:
                    newest[url] = located
                continue
            older, newer = sorted((best, located), key=lambda m: _version_key(_version(m)))
            newest[url] = newer
            self._warn(
                older.origin,
                "ConceptMap.version",
                f"{_version(older)!r} of {url} is not used: version {_version(newer)!r} "
                f"({newer.origin}) is newer",
            )
        self.map_urls = set(newest)
        return in_use + list(newest.values())

    def _refuse(self, origin: str, path: str, message: str) -> None:
        self.problems.append(Problem(origin, path, message))

    def _warn(self, origin: str, path: str, message: str) -> None:
        self.mappings.warnings.append(Problem(origin, path, message))

    def _add_concept_map(self, located: _Located) -> None:
        for g, group in enumerate(located.resource.get("group", [])):
            path = f"ConceptMap.group[{g}]"
            if not self._is_ours(located.origin, path, group):
                continue  # maps into some other code system: not ltcbridge's business
            source = group.get("source")
            if not source:
                self._refuse(located.origin, f"{path}.source", "is missing")
                continue
            listed = {e.get("code") for e in group.get("element", [])}
            for e, element in enumerate(group.get("element", [])):
                self._add_element(located.origin, f"{path}.element[{e}]", source, element)
            if "unmapped" in group:
                self._add_unmapped(located.origin, f"{path}.unmapped", source, group, listed)

    def _is_ours(self, origin: str, path: str, group: dict[str, Any]) -> bool:
        """Whether a group maps into ltcbridge concepts. ``group.target`` is optional in R4: a
        group without it is ours when every target code it names is an ltcbridge concept, and
        a problem when only some are (which were meant?)."""
        target = group.get("target")
        if target is not None:
            return bool(target == CONCEPT_SYSTEM)
        codes = {
            t.get("code")
            for element in group.get("element", [])
            for t in element.get("target", [])
            if t.get("code")
        }
        ours = codes & self.mappings.concept_kinds.keys()
        if ours and ours != codes:
            self._refuse(
                origin,
                f"{path}.target",
                f"is missing, and the group's targets are partly ltcbridge concepts "
                f"({', '.join(sorted(ours))}) and partly not ({', '.join(sorted(codes - ours))}): "
                f"set target to {CONCEPT_SYSTEM} or to the other code system",
            )
            return False
        if ours:
            self._warn(
                origin,
                f"{path}.target",
                f"is missing: read as {CONCEPT_SYSTEM}, since every target code is an "
                "ltcbridge concept",
            )
        return bool(ours)

    def _add_element(self, origin: str, path: str, system: str, element: dict[str, Any]) -> None:
        code = element.get("code")
        if not code:
            self._refuse(origin, f"{path}.code", "is missing")
            return
        self.mappings.covered.setdefault(system, set()).add(code)
        for t, target in enumerate(element.get("target", [])):
            self._add_target(origin, f"{path}.target[{t}]", system, code, target)

    def _add_target(
        self, origin: str, path: str, system: str, code: str, target: dict[str, Any]
    ) -> None:
        """One target, by the R4 rules: the equivalence is required; unmatched and disjoint
        name no concept; dependsOn makes the mapping conditional; product is refused."""
        relation = target.get("equivalence") or target.get("relationship")
        if relation is None:
            self._refuse(
                origin,
                f"{path}.equivalence",
                "is missing (FHIR R4 requires it): say how the code relates to the concept, "
                "e.g. equivalent, wider, narrower or unmatched",
            )
            return
        if relation not in ASSERTING_EQUIVALENCES | NON_ASSERTING_EQUIVALENCES:
            self._refuse(
                origin, f"{path}.equivalence", f"{relation!r} is not a FHIR R4 equivalence"
            )
            return
        if relation in NEEDS_COMMENT and not target.get("comment"):
            self._warn(
                origin,
                f"{path}.comment",
                f"is missing: a {relation!r} mapping needs a comment saying what it leaves out "
                "(FHIR R4 invariant cmd-1)",
            )
        concept = target.get("code")
        if concept is None and relation in NOTHING_MAPS:
            return  # "this code maps to nothing": covered, asserting nothing
        if concept not in self.mappings.concept_kinds:
            self._refuse(
                origin,
                f"{path}.code",
                f"{concept!r} is not an ltcbridge concept (see the bundled CodeSystem "
                f"{CONCEPT_SYSTEM})",
            )
            return
        if target.get("product"):
            self._refuse(
                origin,
                f"{path}.product",
                "is not supported: ltcbridge cannot assert further outputs of a mapping; map "
                "the code to each concept in a target of its own",
            )
            return
        needs = self._depends_on(origin, path, target.get("dependsOn") or [])
        if needs is None or relation not in ASSERTING_EQUIVALENCES:
            return
        if needs:
            rule = Conditional(concept, needs, f"{origin} {path}")
            rules = self.mappings.conditional.setdefault(system, {})
            rules[code] = (*rules.get(code, ()), rule)
        else:
            self._assert(origin, path, system, code, concept)

    def _depends_on(
        self, origin: str, path: str, depends_on: list[dict[str, Any]]
    ) -> frozenset[tuple[str, str]] | None:
        """The codings a conditional mapping needs beside the code (None: refused). ltcbridge
        can evaluate a dependsOn that names another coding (system and value) of the same
        resource; one without a system (a free value of some element) it cannot."""
        needs: set[tuple[str, str]] = set()
        for d, depends in enumerate(depends_on):
            system, value = depends.get("system"), depends.get("value")
            if not (isinstance(system, str) and system and isinstance(value, str) and value):
                self._refuse(
                    origin,
                    f"{path}.dependsOn[{d}]",
                    "cannot be evaluated: ltcbridge reads a dependsOn only as another coding "
                    "(system and value) the same resource must carry",
                )
                return None
            needs.add((system, value))
        return frozenset(needs)

    def _add_unmapped(
        self,
        origin: str,
        path: str,
        system: str,
        group: dict[str, Any],
        listed: set[str | None],
    ) -> None:
        """group.unmapped: what the codes the group does not list map to (R4 modes)."""
        unmapped = group["unmapped"]
        mode = unmapped.get("mode")
        if mode == "provided":  # the code is itself the concept: only concept codes can be
            for concept in self.mappings.concept_kinds:
                if concept not in listed:
                    self._assert(origin, path, system, concept, concept)
            self.mappings.covered.setdefault(system, set()).update(self.mappings.concept_kinds)
        elif mode == "fixed":
            concept = unmapped.get("code")
            if concept not in self.mappings.concept_kinds:
                self._refuse(origin, f"{path}.code", f"{concept!r} is not an ltcbridge concept")
                return
            earlier = self.mappings.fixed.get(system)
            if earlier not in (None, concept):
                self._refuse(
                    origin,
                    f"{path}.code",
                    f"every unlisted {system} code is mapped to {concept!r} here but to "
                    f"{earlier!r} by another map",
                )
                return
            self.mappings.fixed[system] = concept
            self._warn(
                origin, path, f"mode fixed: every {system} code no map lists asserts {concept!r}"
            )
        elif mode == "other-map":
            url = unmapped.get("url")
            self.other_maps.append((origin, f"{path}.url", url))
        else:
            self._refuse(origin, f"{path}.mode", f"{mode!r} is not provided, fixed or other-map")

    def _check_other_maps(self) -> None:
        """other-map: the codes a group does not list are looked up in the named map, which
        ltcbridge does anyway (every map in use is one lookup), so that map must be in use."""
        for origin, path, url in self.other_maps:
            canonical = url.split("|", 1)[0] if isinstance(url, str) else None
            if canonical not in self.map_urls:
                self._refuse(
                    origin,
                    path,
                    f"{url!r} names no ConceptMap in use (not loaded, or retired): load it, or "
                    "drop group.unmapped",
                )

    def _check_conditional(self) -> None:
        """A code both mapped plainly and conditionally would be read plainly only: refused."""
        for system, rules in self.mappings.conditional.items():
            plain = self.mappings.by_system.get(system, {})
            for code, conditionals in rules.items():
                if code in plain:
                    self._refuse(
                        conditionals[0].origin,
                        "dependsOn",
                        f"{system}|{code} is also mapped without dependsOn in "
                        f"{self.mappings.origins[(system, code)]}: a conditional mapping of it "
                        "would never be used",
                    )

    def _assert(self, origin: str, path: str, system: str, code: str, concept: str) -> None:
        codes = self.mappings.by_system.setdefault(system, {})
        earlier = codes.get(code)
        if earlier is not None and earlier != concept:
            self.problems.append(
                Problem(
                    origin,
                    path,
                    f"{system}|{code} is mapped to {concept!r} here but to {earlier!r} in "
                    f"{self.mappings.origins[(system, code)]}: one code must mean one thing",
                )
            )
            return
        codes[code] = concept
        self.mappings.origins.setdefault((system, code), f"{origin} {path}")

    def _add_questionnaire(self, located: _Located) -> None:
        resource = located.resource
        url = resource.get("url")
        if not url or not isinstance(url, str):
            problem = "is missing" if not url else "must be text (the template's canonical URL)"
            self._refuse(located.origin, "Questionnaire.url", problem)
            return
        item_concepts: dict[str, str] = {}
        seen: set[str] = set()
        for path, item in _walk_items(resource.get("item", []), "Questionnaire.item"):
            link_id = item.get("linkId")
            if not link_id:
                self._refuse(located.origin, f"{path}.linkId", "is missing")
                continue
            if link_id in seen:
                self.problems.append(
                    Problem(located.origin, f"{path}.linkId", f"{link_id!r} is used twice")
                )
            seen.add(link_id)
            concept = self._first_concept(item.get("code", []))
            if concept is not None:
                item_concepts[link_id] = concept
        version = resource.get("version")
        key = f"{url}|{version}" if version else url
        self.mappings.questionnaires[key] = QuestionnaireMap(
            url=url, version=version, origin=located.origin, item_concepts=item_concepts
        )

    def _first_concept(self, codings: Iterable[dict[str, Any]]) -> str | None:
        for coding in codings:
            system, code = coding.get("system"), coding.get("code")
            if system == CONCEPT_SYSTEM and code in self.mappings.concept_kinds:
                return code
            concept = self.mappings.concept_of(system, code)
            if concept is not None:
                return concept
        return None

    def _index_newest_questionnaires(self) -> None:
        """Let a response that names only the url (or an unknown version) find the newest."""
        newest: dict[str, QuestionnaireMap] = {}
        for q in self.mappings.questionnaires.values():
            best = newest.get(q.url)
            if best is None or _version_key(q.version) > _version_key(best.version):
                newest[q.url] = q
        self.mappings.questionnaires.update(newest)


def normalise_postcode(postcode: str) -> str:
    """Postcodes are written in many ways ("ex1 1aa", "EX11AA"): compare them without spaces."""
    return postcode.replace(" ", "").upper()


def _unbundle(resource: Any, origin: str, problems: list[Problem]) -> Iterator[_Located]:
    if not isinstance(resource, dict):
        problems.append(Problem(origin, "", "is not a FHIR resource (a JSON object)"))
        return
    if resource.get("resourceType") != "Bundle":
        yield _Located(resource, origin)
        return
    for i, entry in enumerate(resource.get("entry", [])):
        inner = entry.get("resource")
        if isinstance(inner, dict):
            yield _Located(inner, f"{origin}#Bundle.entry[{i}]")


def _walk_concepts(concepts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for concept in concepts:
        yield concept
        yield from _walk_concepts(concept.get("concept", []))


def _walk_items(items: list[dict[str, Any]], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        yield here, item
        yield from _walk_items(item.get("item", []), f"{here}.item")


def _property_value(prop: dict[str, Any]) -> Any:
    for key, value in prop.items():
        if key.startswith("value"):
            return value
    return None


def _version(located: _Located) -> str | None:
    version = located.resource.get("version")
    return version if isinstance(version, str) else None


def _version_key(version: str | None) -> tuple[int, tuple[int, ...], str]:
    """Order versions: none < numeric (3 < 3.1 < 10) < anything else (by text)."""
    if version is None:
        return (0, (), "")
    parts = version.split(".")
    if all(p.isdigit() for p in parts):
        return (1, tuple(int(p) for p in parts), "")
    return (2, (), version)
